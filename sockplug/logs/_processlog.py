# -*- test-case-name: sockplug.logs.test.test_processlog -*-
"""
The process's rate limit on log lines: every line the process logs,
Twisted's own and a plugin's included, reaches the log (twistd's
C{--logfile}, C{--syslog}, standard output; in a worker, the pipe to the
supervisor) through L{ProcessLogLimit}.

Each kind of line (L{sockplug.logs._kinds.kindOf}) may log L{PER_KIND}
lines per L{WINDOW} seconds; what is held back is counted, and summed up
in one line per kind when the window closes (and at once when the process
stops). A failure is a kind of its own, by its type, so that each kind of
error reaches the log at least once per window. Lines a listener's own
limit (C{loglines=}) let through are not counted again. Twisted's lines
about ports and factories starting and stopping are dropped (see
L{sockplug.logs._kinds.isTwistedNoise}).

twistd chooses the log's observer in C{AppLogger.start}, after the plugin's
C{makeService}, and hands it to C{globalLogBeginner.beginLoggingTo}:
L{limitTwistdLog}, called from C{makeService}, puts the limit in front of
whatever it hands over.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, Final

from twisted.logger import (
    ILogObserver,
    LogBeginner,
    LogEvent,
    Logger,
    LogPublisher,
    globalLogBeginner,
)
from zope.interface import implementer

from sockplug.logs._kinds import isTwistedNoise, kindOf
from sockplug.logs._ratelog import RATE_LIMITED, RateLimitedLog

__all__ = ["PER_KIND", "WINDOW", "ProcessLogLimit", "limitTwistdLog"]

# Lines of one kind per window, and the window, in seconds.
PER_KIND: Final = 100
WINDOW: Final = 10.0

# Kinds told apart in one window; past this, new kinds share one count (a
# line whose text varies cannot grow the table).
MAX_KINDS: Final = 1000

_SUMMARY: Final = (
    "{count} log {lines} like {event} held back in the last {window:g}s (rate limit)"
)


class _NoCall:
    """A timer set from another thread: it cannot be cancelled."""

    def cancel(self) -> None:
        """Nothing to do: the summary it makes finds nothing held back."""


class _AnyThreadClock:
    """
    The reactor's clock, whose timers may be set from any thread: a line
    may be logged from one (a thread pool's, say). The thread that makes
    it is taken as the reactor's (twistd's main thread, which runs
    C{makeService} and then the reactor).
    """

    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor
        self._thread = threading.get_ident()

    def seconds(self) -> float:
        seconds: float = self._reactor.seconds()
        return seconds

    def callLater(self, delay: float, f: Callable[[], object]) -> Any:
        if threading.get_ident() == self._thread:
            return self._reactor.callLater(delay, f)
        self._reactor.callFromThread(self._reactor.callLater, delay, f)
        return _NoCall()


@implementer(ILogObserver)
class ProcessLogLimit:
    """
    Passes log events on to C{observers}, within the process's bounds.
    """

    def __init__(
        self,
        reactor: Any,
        observers: Iterable[ILogObserver],
        perKind: int = PER_KIND,
        window: float = WINDOW,
    ) -> None:
        """
        @param reactor: its clock times the windows.
        @param observers: where the lines go: twistd's log.
        """
        given = list(observers)
        self._forward: ILogObserver = (
            given[0] if len(given) == 1 else LogPublisher(*given)
        )
        self._lock = threading.RLock()
        self._limit = RateLimitedLog(
            _AnyThreadClock(reactor),
            Logger(namespace=__name__, observer=self._forward),
            "",
            perEvent=perKind,
            perPeer=perKind,
            window=window,
            maxEvents=MAX_KINDS,
            others="other kinds",
            summary=_SUMMARY,
        )

    def __call__(self, event: LogEvent) -> None:
        if event.get(RATE_LIMITED) is not True:
            if isTwistedNoise(event):
                return
            kind = kindOf(event)
            with self._lock:
                if not self._limit.admit(kind, ""):
                    return
        self._forward(event)

    def stop(self) -> None:
        """
        Log at once what is held back (the process stops).
        """
        with self._lock:
            self._limit.stop()


def limitTwistdLog(reactor: Any, beginner: LogBeginner = globalLogBeginner) -> None:
    """
    Put a L{ProcessLogLimit} in front of the observers C{beginner} is told
    to begin logging to from now on (twistd's, after C{makeService}, and
    any other's); each sums up what it holds back when the reactor stops.
    """
    begin = beginner.beginLoggingTo

    def beginLimited(
        observers: Iterable[ILogObserver],
        discardBuffer: bool = False,
        redirectStandardIO: bool = True,
    ) -> None:
        limit = ProcessLogLimit(reactor, observers)
        reactor.addSystemEventTrigger("after", "shutdown", limit.stop)
        begin([limit], discardBuffer, redirectStandardIO)

    setattr(beginner, "beginLoggingTo", beginLimited)  # noqa: B010 (mypy: a method)
