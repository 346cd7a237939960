# -*- test-case-name: sockplug.server.test.test_shutdown -*-
"""
The end of a graceful shutdown: open connections get a while to finish,
then are closed, then aborted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from sockplug.defences import ConnectionGuard

__all__ = ["drain"]

_log = Logger()


def drain(
    reactor: Any, guards: Sequence[ConnectionGuard], timeout: float
) -> Deferred[None]:
    """
    Let the connections of C{guards} finish for up to C{timeout} seconds;
    close those still open then (at once, a second later, those that do
    not close when asked).

    @return: fires once none is open, or at most C{timeout} + 2 seconds
        later, whatever happens.
    """
    open = sum(g.openConnections for g in guards)
    if not open:
        return defer.succeed(None)
    _log.info(
        "stopping: waiting up to {timeout:g}s for {open} open connections",
        timeout=timeout,
        open=open,
    )
    drained = defer.gatherResults([g.whenEmpty() for g in guards], consumeErrors=True)
    timers = [
        reactor.callLater(timeout, _closeAll, guards, True),
        reactor.callLater(timeout + 1.0, _closeAll, guards, False),
        # Whatever happens, do not hold the shutdown up for long.
        reactor.callLater(timeout + 2.0, drained.cancel),
    ]

    def done(result: object) -> None:
        for timer in timers:
            if timer.active():
                timer.cancel()

    return drained.addBoth(done)


def _closeAll(guards: Sequence[ConnectionGuard], gently: bool) -> None:
    open = sum(g.openConnections for g in guards)
    if open:
        _log.info(
            "stopping: {how} {open} connections still open",
            how="closing" if gently else "aborting",
            open=open,
        )
    for guard in guards:
        guard.closeAll(gently)
