# -*- test-case-name: sockplug.server.test.test_shutdown,sockplug.server.test.test_drainoutputs -*-  # noqa: E501
"""
The end of a graceful shutdown: open connections get a while to finish,
then are closed, then aborted; the protocols' outputs get what is left of
that while to write what waits, then drop it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from sockplug.defences import ConnectionGuard
from sockplug.interfaces import IProtocolOutput

__all__ = ["closeAll", "describeConnections", "drain", "flushOutputs"]

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
        "stopping: waiting up to {timeout:g}s for {open}",
        timeout=timeout,
        open=describeConnections(open, "open"),
    )
    drained = defer.gatherResults([g.whenEmpty() for g in guards], consumeErrors=True)
    timers = [
        reactor.callLater(timeout, closeAll, guards, True),
        reactor.callLater(timeout + 1.0, closeAll, guards, False),
        # Whatever happens, do not hold the shutdown up for long.
        reactor.callLater(timeout + 2.0, drained.cancel),
    ]

    def done(result: object) -> None:
        for timer in timers:
            if timer.active():
                timer.cancel()

    return drained.addBoth(done)


def describeConnections(count: int, adjective: str = "") -> str:
    """
    C{count} connections, in words: C{"1 open connection"}, C{"2 open
    connections"}.
    """
    noun = "connection" if count == 1 else "connections"
    return " ".join(part for part in (str(count), adjective, noun) if part)


def closeAll(
    guards: Sequence[ConnectionGuard], gently: bool, hurried: bool = False
) -> None:
    """
    Close (or abort, unless C{gently}) the open connections of C{guards},
    saying how many: at the end of the timeout, or at once when the stop
    was C{hurried} (see L{sockplug.server._stopsignals}).
    """
    open = sum(g.openConnections for g in guards)
    if open:
        _log.info(
            "stopping: {how} {open}",
            how="closing" if gently else "aborting",
            open=(
                f"{describeConnections(open, 'open')} at once"
                if hurried
                else f"{describeConnections(open)} still open"
            ),
        )
    for guard in guards:
        guard.closeAll(gently)


def flushOutputs(
    reactor: Any, served: Iterable[object], deadline: float
) -> Deferred[list[None]]:
    """
    Let the outputs of the protocols that serve the listeners (C{served},
    those that provide L{IProtocolOutput}: line-print's) write what waits,
    the lines of the connections just closed too, until C{deadline}; then
    they drop it, so that a stalled output never holds the stop up.
    """
    outputs: list[IProtocolOutput] = []
    for built in served:
        output = IProtocolOutput(built, None)
        if output is not None and output not in outputs:
            outputs.append(output)
    timeout = max(0.0, deadline - reactor.seconds())
    return defer.gatherResults(
        [defer.maybeDeferred(output.flushOutput, timeout) for output in outputs],
        consumeErrors=True,
    )
