# -*- test-case-name: sockplug.endpoints.test.test_streamtypes -*-
"""
C{stdio:}: the process's standard input and output as one connection, as
inetd, systemd's C{Accept=yes} or C{socat EXEC:} run a server.

Standard output is then the peer's stream, and nothing else may write to
it: twistd logs there with C{-n}, and a stray C{print} or a library's
warning would go there too. So, before the log starts,
L{StandardStreams.separate} keeps a copy of descriptor 1 for the
connection and points descriptor 1 at standard error (the classic inetd
trick), or at C{/dev/null} when standard error is the connection too (as
inetd and systemd's default make it).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from attrs import define, field
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IListeningPort,
    IProtocolFactory,
    IStreamServerEndpoint,
)
from twisted.internet.stdio import PipeAddress, StandardIO
from twisted.python.failure import Failure
from zope.interface import implementer

__all__ = [
    "STANDARD_STREAMS",
    "StandardIOEndpoint",
    "StandardIOPort",
    "StandardStreams",
]


def _sameFile(first: int, second: int) -> bool:
    """
    Whether two descriptors are open on the same file (or socket); a
    closed one is taken to be the same, as nothing can be written to it.
    """
    try:
        a, b = os.fstat(first), os.fstat(second)
    except OSError:
        return True
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


@define
class StandardStreams:
    """
    The descriptors of the process's standard input and output, as the
    C{stdio:} connection uses them.

    @ivar input: the descriptor the connection reads.
    @ivar output: the descriptor the connection writes: 1 until
        L{separate}, a copy of it after.
    @ivar moved: whether L{separate} has been done.
    """

    input: int = 0
    output: int = 1
    moved: bool = False
    _dup: Callable[[int], int] = field(default=os.dup, repr=False)
    _dup2: Callable[[int, int], object] = field(default=os.dup2, repr=False)
    _same: Callable[[int, int], bool] = field(default=_sameFile, repr=False)
    _null: Callable[[], int] = field(
        default=lambda: os.open(os.devnull, os.O_WRONLY), repr=False
    )
    _close: Callable[[int], object] = field(default=os.close, repr=False)

    def separate(self) -> None:
        """
        Keep standard output for the connection alone: the connection
        writes a copy of descriptor 1, and descriptor 1 becomes standard
        error, so that twistd's log and any other write to standard output
        goes there. If standard error is the connection too, descriptors 1
        and 2 both go to C{/dev/null} (give C{--logfile} or C{--syslog} to
        keep the log then). Done once; later calls do nothing.
        """
        if self.moved:
            return
        self.output = self._dup(1)
        if self._same(2, self.output):
            null = self._null()
            self._dup2(null, 2)
            self._dup2(null, 1)
            self._close(null)
        else:
            self._dup2(2, 1)
        self.moved = True


# The process's own: descriptors 0, 1 and 2 are one per process.
STANDARD_STREAMS = StandardStreams()


class _Connection(StandardIO):
    """
    Twisted's L{StandardIO}, saying when it is closed.

    (mypy reads C{twisted.internet.stdio} as on Windows, whose
    C{StandardIO} is untyped and has no C{connectionLost}: hence the
    ignores.)
    """

    def __init__(self, closed: Deferred[None], *args: Any, **kwargs: Any) -> None:
        self._closed = closed
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]

    def connectionLost(self, reason: Failure) -> None:
        super().connectionLost(reason)  # type: ignore[misc]
        if not self._closed.called:
            self._closed.callback(None)


@implementer(IListeningPort)
class StandardIOPort:
    """
    What a C{stdio:} listener listens with: its one connection is made at
    once, and there is nothing else to stop.

    @ivar closed: fires once the connection has closed.
    """

    def __init__(self) -> None:
        self.closed: Deferred[None] = Deferred()

    def startListening(self) -> None:
        """
        The connection is made when the endpoint listens: nothing to do.
        """

    def stopListening(self) -> Deferred[None]:
        """
        No more connections can come: the one open goes on (the service
        closes it, gently, when it stops).
        """
        return defer.succeed(None)

    def getHost(self) -> PipeAddress:
        return PipeAddress()


@implementer(IStreamServerEndpoint)
class StandardIOEndpoint:
    """
    C{stdio:}: one connection, on the process's standard input and output
    (see L{StandardStreams}).
    """

    def __init__(self, reactor: object, streams: StandardStreams = STANDARD_STREAMS):
        self._reactor = reactor
        self.streams = streams

    def listen(self, factory: IProtocolFactory) -> Deferred[IListeningPort]:
        """
        Make the connection, on the output L{StandardStreams.separate}
        kept.
        """
        port = StandardIOPort()

        def connect() -> IListeningPort:
            protocol = factory.buildProtocol(PipeAddress())
            if protocol is None:
                port.closed.callback(None)
                return port
            _Connection(
                port.closed,
                protocol,
                stdin=self.streams.input,
                stdout=self.streams.output,
                reactor=self._reactor,
            )
            return port

        return defer.execute(connect)
