# -*- test-case-name: sockplug.protocols.test.test_base -*-
"""
What every built-in protocol shares, and what a plugin may reuse: a stream
protocol and a datagram protocol that count bytes and log the peer when a
connection opens and closes (or a datagram listener starts and stops).

The stream protocol (L{CountingProtocol}) and the factory of its listener
are here; the datagram one (L{CountingDatagramProtocol}) is in
L{sockplug.protocols._datagram}, and offered here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, cast

from twisted.internet.interfaces import (
    IHalfCloseableProtocol,
    IHandshakeListener,
    IPushProducer,
    ISSLTransport,
    ITransport,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger, LogLevel
from twisted.protocols.policies import ProtocolWrapper
from twisted.python.failure import Failure
from zope.interface import implementer

from sockplug.interfaces import IListenerInfo
from sockplug.logs import ALREADY_LIMITED, formatAddress
from sockplug.options import sourceOf
from sockplug.protocols._datagram import CountingDatagramProtocol

if TYPE_CHECKING:
    from sockplug.defences import ConnectionGuard

__all__ = ["CountingDatagramProtocol", "CountingProtocol", "ListenerFactory"]


class ListenerFactory(Factory["CountingProtocol"]):
    """
    A factory that serves one listener: its protocols find the listener as
    C{self.factory.listener}.
    """

    noisy = False

    def __init__(
        self, protocol: type[CountingProtocol], listener: IListenerInfo
    ) -> None:
        self.protocol = protocol
        self.listener = listener


@implementer(IHalfCloseableProtocol, IHandshakeListener, IPushProducer)
class CountingProtocol(Protocol):
    """
    A stream protocol that counts the bytes it receives and sends, logs its
    peer when the connection opens and closes, and applies its listener's
    defences at no cost per read.

    When the peer ends its side of the connection (C{shutdown(SHUT_WR)}, as
    C{nc} does at the end of its input), what is still being sent to it is
    delivered before the connection closes: without this, Twisted closes at
    once and drops the replies not yet written.

    Backpressure: unless the listener says C{backpressure=no}, the protocol
    registers itself as its transport's producer, so that while more than
    C{sendbuffer} bytes wait to be sent to the peer, reading from the peer
    pauses; it resumes as the peer reads. (A subclass that streams data of
    its own must not register another producer.) Under TLS this starts once
    the handshake is done: before, Twisted's TLS layer pauses its producer
    for every write, and pausing reads then would stall the handshake.

    Subclasses call L{send} to write (so that the bytes are counted) and
    count what they receive in C{bytesIn}; they close with L{closeGently}.

    @ivar peer: the peer's address, as shown in log lines.
    @ivar bytesIn: bytes received so far.
    @ivar bytesOut: bytes sent so far.
    """

    log: ClassVar[Logger] = Logger()
    factory: ListenerFactory
    transport: ITransport
    peer = ""
    _host = ""
    bytesIn = 0
    bytesOut = 0
    _openedAt = 0.0
    _guard: ConnectionGuard | None = None
    _producing = False
    _closing = False
    paused = False

    def __init__(self) -> None:
        # Every attribute a connection sets, set at once, in one order: the
        # instances then share one table of attribute names. An attribute
        # first set later, in an order that differs between connections,
        # gives each its own table (about 450 bytes per idle connection).
        self.factory = cast(ListenerFactory, None)  # set by buildProtocol
        self._guard = None
        self.connected = 0
        self.transport = cast(ITransport, None)
        self.peer = ""
        self._host = ""
        self._openedAt = 0.0
        self.bytesIn = 0
        self.bytesOut = 0
        self._producing = False
        self._closing = False
        self.paused = False

    @property
    def listener(self) -> IListenerInfo:
        """
        The listener this connection came in on.
        """
        return self.factory.listener

    def guardedBy(self, guard: ConnectionGuard) -> None:
        """
        Report to C{guard}: it tracks this connection, and is told when it
        closes.
        """
        self._guard = guard

    def connectionMade(self) -> None:
        address = self.transport.getPeer()
        peer = formatAddress(address)
        known = None if self._guard is None else self._guard.peerOf(self)
        self.peer = known if known == peer else peer  # one string for both
        self._host = sourceOf(getattr(address, "host", ""))
        self._openedAt = self.listener.reactor.seconds()
        if not ISSLTransport.providedBy(self.transport):
            self._startProducing()
        if self._mayLog("connections"):
            self.log.info(
                "{listener} {peer} connected",
                listener=self.listener.description,
                peer=self.peer,
                **self._limited(),
            )

    def _limited(self) -> Mapping[str, object]:
        """
        What marks a line L{_mayLog} admitted as counted already (see
        L{sockplug.logs.ALREADY_LIMITED}), if the listener's limit counted
        it.
        """
        return {} if self._guard is None else ALREADY_LIMITED

    def _mayLog(self, event: str) -> bool:
        """
        Whether a line about this peer's C{event} may be logged now (the
        listener's rate limit), counted as L{logPeer} counts it.
        """
        return self._guard is None or self._guard.log.admit(event, self._host)

    def logPeer(
        self, event: str, format: str, level: LogLevel = LogLevel.info, **kwargs: object
    ) -> None:
        """
        Log a line about this peer, rate-limited with the listener's other
        lines of the same C{event}.
        """
        if self._mayLog(event):
            self.log.emit(level, format, peer=self.peer, **kwargs, **self._limited())

    def send(self, data: bytes) -> None:
        """
        Write C{data} to the peer, counting it.
        """
        self.bytesOut += len(data)
        self.transport.write(data)

    def activity(self) -> int:
        """
        Bytes moved either way so far: the guard's sign of life.
        """
        return self.bytesIn + self.bytesOut

    def closeGently(self) -> None:
        """
        Close once what is queued is sent.
        """
        self._closing = True
        self._stopProducing()
        self.transport.loseConnection()

    def abort(self) -> None:
        """
        Close now, dropping what is queued.
        """
        self._closing = True
        self._stopProducing()
        abort = getattr(self.transport, "abortConnection", None)
        if abort is not None:
            abort()
        else:
            self.transport.loseConnection()

    def handshakeCompleted(self) -> None:
        """
        The TLS handshake is done: backpressure may start.
        """
        self._startProducing()

    def _startProducing(self) -> None:
        limits = self.listener.limits
        if limits.backpressure and not self._producing and not self._closing:
            # The bound is the socket transport's, under any wrapper (TLS,
            # PROXY), whose attributes only read through to it.
            transport = self._socketTransport()
            if hasattr(transport, "bufferSize"):
                transport.bufferSize = limits.sendBuffer
            self._producing = True  # before: a closed transport stops it at once
            self.transport.registerProducer(self, True)  # type: ignore[attr-defined]

    def _stopProducing(self) -> None:
        # A paused producer would keep Twisted from closing the connection
        # once its queue drains (it resumes the producer instead).
        if self._producing:
            self._producing = False
            self.transport.unregisterProducer()  # type: ignore[attr-defined]

    def _socketTransport(self) -> Any:
        """
        The transport of the socket itself, under any wrapper (TLS, PROXY).
        """
        transport: Any = self.transport
        while isinstance(transport, ProtocolWrapper) and transport.transport:
            transport = transport.transport
        return transport

    # IPushProducer: the transport pauses us when its queue is full.

    def pauseProducing(self) -> None:
        self.paused = True
        self.transport.pauseProducing()  # type: ignore[attr-defined]

    def resumeProducing(self) -> None:
        if getattr(self._socketTransport(), "disconnecting", False):
            # The socket is closing under us (a TLS close_notify, say): a
            # producer still registered would keep it from ever closing.
            self._stopProducing()
            return
        self.paused = False
        self.resumed()
        if not self.paused:
            self.transport.resumeProducing()  # type: ignore[attr-defined]

    def resumed(self) -> None:
        """
        The peer has read what was queued for it: a subclass that held back
        work while paused does it now (it may be paused again meanwhile).
        """

    def stopProducing(self) -> None:
        self._producing = False

    def readConnectionLost(self) -> None:
        """
        The peer will send nothing more: close once the replies are out.
        """
        self.closeGently()

    def writeConnectionLost(self) -> None:
        """
        Nothing more can be sent; the peer may still send, and be read.
        """

    def connectionLost(self, reason: Failure = Failure(Exception())) -> None:  # noqa: B008
        self._producing = False
        if self._guard is not None:
            self._guard.release(self, reason)
        if not self._mayLog("connections"):
            return
        self.log.info(
            "{listener} {peer} disconnected after {seconds:.3f}s:"
            " {bytesIn} bytes in, {bytesOut} bytes out ({why})",
            listener=self.listener.description,
            peer=self.peer,
            seconds=self.listener.reactor.seconds() - self._openedAt,
            bytesIn=self.bytesIn,
            bytesOut=self.bytesOut,
            why=reason.getErrorMessage(),
            **self._limited(),
        )
