# -*- test-case-name: sockplug.client.test.test_session -*-
"""
The protocols of the C{sockplug} client, and what they report to it: the
replies printed (L{Output}), the stream connection (L{StreamClient}), the
datagram replies (L{DatagramReplies}), and L{Signal}, for waiting on them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from typing import Protocol as TypingProtocol

from attrs import define, field
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.interfaces import (
    IHalfCloseableProtocol,
    ISSLTransport,
    ITransport,
)
from twisted.internet.protocol import DatagramProtocol, Protocol
from twisted.python.failure import Failure
from zope.interface import implementer

from sockplug.client._tlsfailures import tlsConnectionOf
from sockplug.logs import OutputEscaper

if TYPE_CHECKING:
    from OpenSSL import SSL

__all__ = [
    "DatagramReplies",
    "Nowhere",
    "Output",
    "Signal",
    "StreamClient",
    "Writable",
]


class Signal:
    """
    Something that happens once, that any number of waiters can wait for.

    L{defer.race} cancels the Deferreds that lose; each waiter gets a
    Deferred of its own, so that cancelling it loses nothing.
    """

    def __init__(self) -> None:
        self.fired = False
        self._waiters: list[Deferred[None]] = []

    def wait(self) -> Deferred[None]:
        """
        A new Deferred that fires when this happens (at once if it has).
        """
        if self.fired:
            return defer.succeed(None)
        waiter: Deferred[None] = Deferred()
        self._waiters.append(waiter)
        return waiter

    def fire(self) -> None:
        """
        It happened: fire every waiter, once.
        """
        if self.fired:
            return
        self.fired = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(None)


class Writable(TypingProtocol):
    """
    Where L{Output} writes: a binary file, or standard output's transport.
    """

    def write(self, data: bytes, /) -> object:
        """Write C{data}."""

    def flush(self) -> object:
        """Send on what was written."""


class Nowhere:
    """
    Output that goes nowhere: replies a one-way send does not print.
    """

    def write(self, data: bytes, /) -> None:
        pass

    def flush(self) -> None:
        pass


@define
class Output:
    """
    Where replies go: escaped for a terminal unless raw.

    @ivar gone: fires when the output has gone away (the reader of a pipe
        has ended, as C{head -1} does) or cannot be written (a full disk);
        what is written after that is dropped.
    @ivar failure: why the output could not be written, if not because
        its reader has gone (C{ENOSPC}, C{EIO}): that is worth a line.
    """

    out: Writable
    raw: bool = False
    received: int = 0
    gone: Signal = field(factory=Signal)
    failure: OSError | None = None
    _escaper: OutputEscaper = field(factory=OutputEscaper)

    def _put(self, data: bytes) -> None:
        if self.gone.fired:
            return
        try:
            self.out.write(data)
            self.out.flush()
        except BrokenPipeError:
            self.gone.fire()
        except OSError as e:
            self.failure = e
            self.gone.fire()

    def write(self, data: bytes) -> None:
        self.received += len(data)
        self._put(data if self.raw else self._escaper.feed(data))

    def end(self) -> None:
        if not self.raw:
            self._put(self._escaper.flush())


@implementer(IHalfCloseableProtocol)
class StreamClient(Protocol):
    """
    Prints what the server sends; C{closed} fires when the connection ends.

    @ivar tlsConnection: the TLS connection, kept when the connection ends
        (Twisted lets go of it then), for the reason a certificate was
        refused; L{None} without TLS.
    """

    transport: ITransport

    def __init__(self, output: Output) -> None:
        self.output = output
        self.closed = Signal()
        self.reason: Failure | None = None
        self.closingOurselves = False
        self.tlsConnection: SSL.Connection | None = None

    def dataReceived(self, data: bytes) -> None:
        self.output.write(data)

    def readConnectionLost(self) -> None:
        self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        pass

    def connectionLost(self, reason: Failure = Failure(Exception())) -> None:  # noqa: B008
        self.tlsConnection = tlsConnectionOf(self.transport)
        self.reason = reason
        self.closed.fire()

    def endInput(self) -> bool:
        """
        Tell the server nothing more is coming, by half-closing, so that
        replies still in flight arrive. A transport that cannot half-close
        (TLS) is left open, for the caller to close once the replies had
        their time.

        @return: whether the connection was half-closed.
        """
        lose = getattr(self.transport, "loseWriteConnection", None)
        if lose is None or ISSLTransport.providedBy(self.transport):
            # Twisted's TLS wrapper hands unknown attributes on to the TCP
            # connection under it: its loseWriteConnection would end TCP
            # under TLS's feet, and the server would see a broken TLS.
            return False
        lose()
        return True

    def failure(self) -> str | None:
        """
        Why the connection failed, if it did not end cleanly: a TLS
        handshake or certificate check that failed, a reset.
        """
        if self.reason is None or self.reason.check(ConnectionDone):
            return None
        if self.closingOurselves and self.reason.check(ConnectionLost):
            # We closed it; TLS calls that unclean when the server does
            # not answer our close_notify.
            return None
        return (
            " ".join(str(self.reason.value).split()) or type(self.reason.value).__name__
        )


class DatagramReplies(DatagramProtocol):
    """
    Prints each reply datagram; a refused connected UDP port is noted.
    """

    def __init__(self, output: Output) -> None:
        self.output = output
        self.replies = 0
        self.refused = False
        self.stopping = False
        self.changed: Callable[[], None] = lambda: None

    def datagramReceived(self, datagram: bytes, addr: Any = None) -> None:
        self.replies += 1
        self.output.write(datagram)
        self.changed()

    def connectionRefused(self) -> None:
        self.refused = True
        self.changed()

    def stopProtocol(self) -> None:
        # A connected UDP port whose datagram drew an ICMP "port
        # unreachable" reads as an error; the epoll reactor then drops the
        # port instead of calling connectionRefused. Stopping before we
        # stopped it means just that.
        if not self.stopping:
            self.connectionRefused()
