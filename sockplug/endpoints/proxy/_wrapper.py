# -*- test-case-name: sockplug.endpoints.proxy.test.test_wrapper,sockplug.endpoints.proxy.test.test_proxiedendpoint,sockplug.endpoints.proxy.test.test_guardedproxy,sockplug.endpoints.proxy.test.test_proxiedtls,sockplug.endpoints.proxy.test.test_headerbounds,sockplug.endpoints.proxy.test.test_pending -*-  # noqa: E501
"""
The C{haproxy:} endpoint type: the PROXY protocol (v1 or v2) in front of
any stream endpoint, as Twisted's, with differences that matter behind a
load balancer (the header's checks are in L{sockplug.endpoints.proxy._header}):

  - The protocol is built, and the listener's access lists and
    per-source limits are checked, only once the PROXY header has named
    the real client: Twisted builds the protocol with the balancer's
    address and connects it before the header arrives, so its
    C{connectionMade} sees the balancer, not the client.
  - The peer's half-close is passed on, so replies still queued are
    delivered; a header that does not arrive within
    L{HEADER_TIMEOUT} seconds closes the connection.
  - A v1 header longer than the specification's 107 bytes, or a v2 one
    longer than 4 KiB, closes the connection (Twisted takes a v1 line of
    any length that arrives whole, and waits for a v2 header of up to
    64 KiB).
  - The addresses in the header must be IP addresses of the family it
    says (Twisted's v1 parser takes any text between spaces, which would
    reach log lines and line-print's output raw), and are written the
    standard short way (Twisted's v2 parser writes IPv6 uncompressed).
  - A header split over several reads is put together (Twisted closes the
    connection if the first read is shorter than the signature it looks
    for), and the short v1 form C{PROXY UNKNOWN}, which the specification
    allows, is taken (the connection's own addresses are used).
  - After a v2 LOCAL header (the balancer's own connection: HAProxy's
    health checks send one, then close), the protocol is built only once
    data comes; a connection that closes first ends without a word.
  - Under C{haproxy:ssl:} and C{haproxy:tls:}, TLS starts after the
    header, which comes first, in the clear, as the specification says
    and HAProxy sends it (Twisted expects it inside TLS, twisted#9041).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IAddress,
    IHalfCloseableProtocol,
    IHandshakeListener,
    IListeningPort,
    IProtocol,
    IProtocolFactory,
    IStreamServerEndpoint,
)
from twisted.internet.protocol import Protocol
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure
from zope.interface import implementer

from sockplug.compat import HAProxyWrappingFactory, ProxyHeaderWrapper
from sockplug.defences import ConnectionGuard
from sockplug.endpoints.proxy._header import (
    checked,
    couldStart,
    isLocal,
    parserFor,
)
from sockplug.logs import formatAddress
from sockplug.options import sourceOf

if TYPE_CHECKING:
    from twisted.protocols.tls import TLSMemoryBIOFactory

__all__ = ["HEADER_TIMEOUT", "ProxiedEndpoint"]

HEADER_TIMEOUT = 10.0

_log = Logger()


class _Pending(Protocol):
    """
    Stands in for the protocol until the header has been read: keeps the
    bytes that came with the header.
    """

    def __init__(self) -> None:
        self.received: list[bytes] = []

    def dataReceived(self, data: bytes) -> None:
        self.received.append(data)


@implementer(IHalfCloseableProtocol, IHandshakeListener)
class ProxyHeaderProtocol(ProxyHeaderWrapper):
    """
    Reads the PROXY header, then builds the protocol for the client it
    names.

    Until the header is read (after a LOCAL header, until data comes), the
    connection waits: it counts against the listener's C{maxpending}, its
    C{maxconn} and the process's bound, but not against the balancer's
    address (see L{ProxyHeaderFactory}).
    """

    factory: ProxyHeaderFactory
    _connected = False
    # Counted in the factory's waiting connections.
    _waiting = False
    # A LOCAL header was read; no data has come after it yet.
    _local = False
    _handshakeDone = False
    _timer: Any = None
    _start = b""
    _received = 0
    # Until the header is read, the traffic is the balancer's framing; the
    # protocol built for the client counts its own.
    bytesIn = bytesOut = 0

    def makeConnection(self, transport: Any) -> None:
        super().makeConnection(transport)  # type: ignore[no-untyped-call]
        self._timer = self.factory.reactor.callLater(HEADER_TIMEOUT, self._timedOut)

    # What the guard needs of a connection it tracks (before the header).

    def activity(self) -> int:
        return self._received

    def closeGently(self) -> None:
        self.loseConnection()

    def abort(self) -> None:
        self.abortConnection()

    def _refuse(self, event: str, format: str, **kwargs: object) -> None:
        """
        Log (rate-limited, where the listener has a guard) and close.
        """
        peer = self.transport.getPeer()  # type: ignore[union-attr]
        kwargs["peer"] = formatAddress(peer)
        guard = self.factory.guard
        if guard is None:
            _log.info(format, **kwargs)
        else:
            guard.counters.refused["proxy"] += 1
            guard.log.emit(event, sourceOf(getattr(peer, "host", "")), format, **kwargs)
        self.abortConnection()

    def _timedOut(self) -> None:
        self._timer = None
        self._refuse(
            "missing PROXY headers",
            "{peer}: no PROXY header within {seconds:g}s; closing",
            seconds=HEADER_TIMEOUT,
        )

    def handshakeCompleted(self) -> None:
        """
        The TLS handshake under the header (a third-party TLS type inside
        C{haproxy:}) is done: tell the protocol, once there is one.
        """
        self._handshakeDone = True
        if self._connected and IHandshakeListener.providedBy(self.wrappedProtocol):
            self.wrappedProtocol.handshakeCompleted()

    def dataReceived(self, data: bytes) -> None:
        if self._connected:
            self.wrappedProtocol.dataReceived(data)
            return
        self._received += len(data)
        if self._local:
            self._build([data])
            return
        if self.headerParser is None:
            data = self._start + data
            if couldStart(data):
                self._start = data  # too short yet to tell
                return
            self._start = b""
            # None for no header sockplug reads: Twisted's wrapper closes.
            self.headerParser = parserFor(data)
        closing = self.disconnecting
        try:
            # Twisted's v1 parser lets ValueError and UnicodeError out of a
            # header such as "PROXY TCP4 1.2.3.4 5.6.7.8 abc 80".
            super().dataReceived(data)
            if self.disconnecting and not closing:
                # Twisted closes, silently, on what is no PROXY header.
                raise ValueError("not a PROXY header")
            if self.proxyInfo is None or self.disconnecting:
                return
            self.proxyInfo = checked(self.proxyInfo)
        except (ValueError, UnicodeError) as e:
            self._refuse(
                "bad PROXY headers",
                "{peer}: bad PROXY header ({why}); closing",
                why=" ".join(str(e).split()) or type(e).__name__,
            )
            return
        self._cancelTimer()
        pending = self.wrappedProtocol
        assert isinstance(pending, _Pending)
        if not pending.received and isLocal(self.proxyInfo):
            # A health check, most likely: HAProxy closes right after the
            # header. Until data comes, the connection stays the balancer's,
            # and nothing is built, logged or counted for it.
            self._local = True
            return
        self._build(pending.received)

    def _build(self, received: list[bytes]) -> None:
        """
        Build the protocol for the client the header names (or for the
        connection's own peer, if it names none), and give it C{received}.
        """
        self._local = False
        self._stopWaiting()
        if self.factory.guard is not None:
            self.factory.guard.release(self)  # now the client's, if let in
        protocol = self.factory.clientProtocol(self.getPeer())
        if protocol is None:
            self.abortConnection()
            return
        self.wrappedProtocol = protocol
        self._connected = True
        protocol.makeConnection(self)
        if self._handshakeDone and IHandshakeListener.providedBy(protocol):
            protocol.handshakeCompleted()
        if received and not self.disconnecting:
            protocol.dataReceived(b"".join(received))

    def loseConnection(self) -> None:
        if self.transport is not None:
            super().loseConnection()  # type: ignore[no-untyped-call]

    def abortConnection(self) -> None:
        """
        Close now (the protocol built for the client may ask for this); a
        transport that cannot abort (StandardIO: C{haproxy:stdio:}) is
        closed as it can.
        """
        self.disconnecting = 1
        abort = getattr(self.transport, "abortConnection", None)
        if abort is None:
            self.transport.loseConnection()  # type: ignore[union-attr]
        else:
            abort()

    def _stopWaiting(self) -> None:
        if self._waiting:
            self._waiting = False
            self.factory.waiting -= 1

    def _cancelTimer(self) -> None:
        if self._timer is not None:
            if self._timer.active():
                self._timer.cancel()
            self._timer = None

    def _halfCloseable(self) -> IHalfCloseableProtocol | None:
        """
        The protocol, if the peer's half-close goes to it: not to a TLS
        layer started after the header (it takes on this transport's
        interfaces, and would hand it back here); that closes, as C{ssl:}.
        """
        protocol = self.wrappedProtocol
        if not self._connected or self.factory.tls is not None:
            return None
        return protocol if IHalfCloseableProtocol.providedBy(protocol) else None

    def readConnectionLost(self) -> None:
        protocol = self._halfCloseable()
        if protocol is None:
            self.loseConnection()
        else:
            protocol.readConnectionLost()

    def writeConnectionLost(self) -> None:
        protocol = self._halfCloseable()
        if protocol is None:
            self.loseConnection()
        else:
            protocol.writeConnectionLost()

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        self._cancelTimer()
        self._stopWaiting()
        if self.factory.guard is not None:
            # A balancer's connection closed after its LOCAL header is no
            # error, however it closed (HAProxy resets its health checks).
            self.factory.guard.release(self, None if self._local else reason)
        super().connectionLost(reason)  # type: ignore[no-untyped-call]


class ProxyHeaderFactory(HAProxyWrappingFactory):
    """
    Builds a L{ProxyHeaderProtocol} for each connection; the wrapped
    factory is asked for a protocol only once the header is read.

    @ivar tls: what starts TLS after the header, or L{None} for none.
    @ivar waiting: how many connections wait for their header (or, after
        a LOCAL one, for data), bounded by the guard's C{maxPending}.
    """

    protocol = ProxyHeaderProtocol  # type: ignore[assignment]
    noisy = False

    def __init__(
        self, wrappedFactory: IProtocolFactory, reactor: Any, tls: Any = None
    ) -> None:
        """
        @param tls: the TLS settings (an C{IOpenSSLServerConnectionCreator}
            or a context factory) with which TLS starts after the header,
            or L{None} for none.
        """
        super().__init__(wrappedFactory)  # type: ignore[no-untyped-call]
        self.reactor = reactor
        # The listener's guard, when the wrapped factory is sockplug's.
        self.guard: ConnectionGuard | None = getattr(wrappedFactory, "guard", None)
        self.waiting = 0
        self.tls: TLSMemoryBIOFactory | None = None
        if tls is not None:
            from sockplug.endpoints import TLSFactory  # needs OpenSSL

            self.tls = TLSFactory(tls, False, wrappedFactory, reactor)

    def clientProtocol(self, addr: IAddress) -> Any:
        """
        The wrapped factory's protocol for C{addr} (L{None} if it refuses
        it), under TLS if the factory has it.
        """
        protocol: IProtocol | None = self.wrappedFactory.buildProtocol(addr)
        if protocol is None or self.tls is None:
            return protocol
        return self.tls.protocol(self.tls, protocol)

    def buildProtocol(self, addr: Any) -> ProxyHeaderProtocol | None:  # type: ignore[override]
        """
        A protocol that waits for the header; or none (the port closes the
        socket at once) if the limits are reached. A connection waiting for
        its header counts against C{maxpending}, so that peers that never
        send one cannot hold descriptors past it, and against C{maxconn}
        and the process's bound; not against the balancer's address, which
        all clients share until their headers name them (then their own
        C{maxpersource} applies).
        """
        guard = self.guard
        protocol = ProxyHeaderProtocol(self, _Pending())  # type: ignore[arg-type]
        if guard is None:
            return protocol
        if self.waiting >= guard.limits.maxPending:
            guard.counters.refused["proxy"] += 1
            guard.log.emit(
                "refused connections",
                sourceOf(getattr(addr, "host", "")),
                "{listener} refused {peer}: maxpending={bound} reached"
                " (connections waiting for their PROXY header)",
                LogLevel.warn,
                listener=guard.description,
                peer=formatAddress(addr),
                bound=guard.limits.maxPending,
            )
            return None
        if guard.admit(addr, checkAccess=False, perSource=False) is not None:
            return None
        guard.track(protocol, addr, counted=False, perSource=False)
        protocol._waiting = True
        self.waiting += 1
        return protocol


@implementer(IStreamServerEndpoint)
class ProxiedEndpoint:
    """
    A stream endpoint whose connections start with a PROXY header.
    """

    def __init__(
        self, reactor: Any, wrapped: IStreamServerEndpoint, tls: Any = None
    ) -> None:
        """
        @param wrapped: the stream endpoint the connections come in on.
        @param tls: TLS settings (see L{ProxyHeaderFactory}), if TLS starts
            after the header.
        """
        self.reactor = reactor
        self.wrapped = wrapped
        self.tls = tls

    def listen(self, protocolFactory: IProtocolFactory) -> Deferred[IListeningPort]:
        factory = ProxyHeaderFactory(protocolFactory, self.reactor, self.tls)
        return self.wrapped.listen(factory)
