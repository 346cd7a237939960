# -*- test-case-name: sockplug.server.test.test_stopsignals -*-
"""
SIGINT or SIGTERM again while the server stops: hurry, do not crash.

The first SIGINT or SIGTERM makes Twisted's reactor stop, and open
connections get C{--shutdown-timeout} to finish. Twisted's handler of a
second one calls the reactor's C{stop()} again, which raises
C{ReactorNotRunning}, logged as a critical traceback, and does nothing
else. Here, once the server stops, a second signal is what it means to the
one who sends it (a second Ctrl-C, as uvicorn and hypercorn read it): stop
waiting. The open connections are closed at once (aborted a second later
if they do not close when asked); a third is ignored, saying that SIGKILL
ends the process at once.

The handlers are replaced only where they are the reactor's own (twistd
runs it with its signal handlers): a process that ignores SIGINT (a
background job, a worker) goes on ignoring it.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Sequence
from typing import Any

from twisted.logger import Logger

from sockplug.defences import ConnectionGuard
from sockplug.server._drain import closeAll

__all__ = ["StopSignals", "closeConnectionsNow"]

_log = Logger()

# Seconds between closing the open connections and aborting those that
# did not close (as at the end of the shutdown timeout).
ABORT_AFTER = 1.0


class StopSignals:
    """
    Once installed (when the server begins to stop: see
    L{sockplug.server.ServerRoot}), takes SIGINT and SIGTERM from the
    reactor, and calls C{hurry} on the first that comes.

    @ivar hurried: whether C{hurry} was called.
    """

    def __init__(
        self,
        reactor: Any,
        hurry: Callable[[], object],
        signals: Sequence[int] = (signal.SIGINT, signal.SIGTERM),
    ) -> None:
        """
        @param hurry: makes the stop under way end sooner.
        @param signals: the signals to take (the reactor's handlers of).
        """
        self._reactor = reactor
        self._hurry = hurry
        self._signals = tuple(signals)
        self.hurried = False

    def install(self) -> None:
        """
        Take the signals from the reactor's handlers (not from any other).
        """
        for number in self._signals:
            if getattr(signal.getsignal(number), "__self__", None) is self._reactor:
                signal.signal(number, self._caught)

    def _caught(self, number: int, frame: object) -> None:
        # In a signal handler: only hand the work to the reactor.
        self._reactor.callFromThread(self.again, number)

    def again(self, number: int) -> None:
        """
        The signal C{number} came while stopping.
        """
        name = signal.Signals(number).name
        if self.hurried:
            _log.info(
                "stopping: {signal} ignored, already closing connections;"
                " SIGKILL ends the process at once",
                signal=name,
            )
            return
        self.hurried = True
        _log.info("stopping: {signal} again: no more waiting", signal=name)
        self._hurry()


def closeConnectionsNow(
    reactor: Any, guards: Callable[[], Sequence[object]]
) -> Callable[[], None]:
    """
    What hurries a process's stop: close its open connections now, and
    abort those still open a second later.

    @param guards: the guards of the listeners (and of listeners removed
        whose connections are still open), when asked.
    """

    def closeNow(gently: bool) -> None:
        streams = [g for g in guards() if isinstance(g, ConnectionGuard)]
        closeAll(streams, gently, hurried=True)

    def hurry() -> None:
        closeNow(True)
        reactor.callLater(ABORT_AFTER, closeNow, False)

    return hurry
