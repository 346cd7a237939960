# -*- test-case-name: sockplug.test.test_proxy -*-
"""
The C{haproxy:} endpoint type: the PROXY protocol (v1 or v2) in front of
any stream endpoint, as Twisted's, with two differences that matter behind
a load balancer:

  - The protocol is built, and the listener's access lists and
    per-source limits are checked, only once the PROXY header has named
    the real client: Twisted builds the protocol with the balancer's
    address and connects it before the header arrives, so its
    C{connectionMade} sees the balancer, not the client.
  - The peer's half-close is passed on, so replies still queued are
    delivered; a header that does not arrive within
    L{HEADER_TIMEOUT} seconds closes the connection.
  - The addresses in the header must be IP addresses of the family it
    says (Twisted's v1 parser takes any text between spaces, which would
    reach log lines and line-print's output raw), and are written the
    standard short way (Twisted's v2 parser writes IPv6 uncompressed).
  - A header split over several reads is put together (Twisted closes the
    connection if the first read is shorter than the signature it looks
    for), and the short v1 form C{PROXY UNKNOWN}, which the specification
    allows, is taken (the connection's own addresses are used).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IAddress,
    IHalfCloseableProtocol,
    IHandshakeListener,
    IListeningPort,
    IProtocolFactory,
    IStreamServerEndpoint,
)
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.protocols.haproxy import _info
from twisted.protocols.haproxy._v1parser import V1Parser
from twisted.protocols.haproxy._v2parser import V2Parser
from twisted.protocols.haproxy._wrapper import (
    HAProxyProtocolWrapper,
    HAProxyWrappingFactory,
)
from twisted.python.failure import Failure
from zope.interface import implementer

from sockplug._access import sourceOf
from sockplug._address import formatAddress
from sockplug._guard import ConnectionGuard

__all__ = ["HEADER_TIMEOUT", "ProxiedEndpoint"]

HEADER_TIMEOUT = 10.0

_log = Logger()


class _V1Parser(V1Parser):
    """
    Twisted's v1 parser, taking the short form C{PROXY UNKNOWN}.
    """

    @classmethod
    def parse(cls, line: bytes) -> _info.ProxyInfo:
        if line.rstrip(b"\r\n") == b"PROXY UNKNOWN":
            return _info.ProxyInfo(line, None, None)
        return super().parse(line)


# What a header starts with, and how many bytes tell which one it is.
_SIGNATURES = ((V2Parser.PREFIX, 16), (V1Parser.PROXYSTR + b" ", 8))


def _couldStart(data: bytes) -> bool:
    """
    Whether C{data} could be the start of a header that is still coming.
    """
    return any(
        len(data) < needed and signature.startswith(data[: len(signature)])
        for signature, needed in _SIGNATURES
    )


def _address(address: IAddress | None) -> IAddress | None:
    """
    An address from a header, checked: an IP address of its family (so a
    peer cannot pass text of its choice to log lines and output), written
    the standard short way, and a port.
    """
    if not isinstance(address, (IPv4Address, IPv6Address)):
        # None (UNKNOWN, LOCAL), or a UNIX path (a balancer's UNIX-socket
        # frontend): the connection's own address is used.
        return None
    if "%" in address.host:  # a scope id is free text
        raise ValueError(f"names {address.host!r}, with a scope id")
    try:
        ip = ipaddress.ip_address(address.host)
    except ValueError:
        raise ValueError(f"names {address.host!r}, not an IP address") from None
    if ip.version != (4 if isinstance(address, IPv4Address) else 6):
        raise ValueError(f"names {address.host!r} in the wrong address family")
    if not 0 <= address.port <= 65535:
        raise ValueError(f"names port {address.port}")
    return type(address)(address.type, ip.compressed, address.port)


def _checked(info: _info.ProxyInfo) -> _info.ProxyInfo:
    return _info.ProxyInfo(
        info.header, _address(info.source), _address(info.destination)
    )


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
class ProxyHeaderProtocol(HAProxyProtocolWrapper):
    """
    Reads the PROXY header, then builds the protocol for the client it
    names.

    Until the header is read, the connection counts against the listener's
    connection limits as the balancer's (see L{ProxyHeaderFactory}).
    """

    factory: ProxyHeaderFactory
    _connected = False
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
        The TLS handshake under the header is done: tell the protocol, once
        there is one.
        """
        self._handshakeDone = True
        if self._connected and IHandshakeListener.providedBy(self.wrappedProtocol):
            self.wrappedProtocol.handshakeCompleted()

    def dataReceived(self, data: bytes) -> None:
        if self._connected:
            self.wrappedProtocol.dataReceived(data)
            return
        self._received += len(data)
        if self._parser is None:
            data = self._start + data
            if _couldStart(data):
                self._start = data  # too short yet to tell
                return
            self._start = b""
            if data.startswith(V1Parser.PROXYSTR + b" "):
                self._parser = _V1Parser()
        closing = self.disconnecting
        try:
            # Twisted's v1 parser lets ValueError and UnicodeError out of a
            # header such as "PROXY TCP4 1.2.3.4 5.6.7.8 abc 80".
            super().dataReceived(data)
            if self.disconnecting and not closing:
                # Twisted closes, silently, on what is no PROXY header.
                raise ValueError("not a PROXY header")
            if self._proxyInfo is None or self.disconnecting:
                return
            self._proxyInfo = _checked(self._proxyInfo)
        except (ValueError, UnicodeError) as e:
            self._refuse(
                "bad PROXY headers",
                "{peer}: bad PROXY header ({why}); closing",
                why=" ".join(str(e).split()) or type(e).__name__,
            )
            return
        self._cancelTimer()
        if self.factory.guard is not None:
            self.factory.guard.release(self)  # now the client's, if let in
        pending = self.wrappedProtocol
        assert isinstance(pending, _Pending)
        protocol = self.factory.wrappedFactory.buildProtocol(self.getPeer())
        if protocol is None:
            self.abortConnection()
            return
        self.wrappedProtocol = protocol
        self._connected = True
        protocol.makeConnection(self)
        if self._handshakeDone and IHandshakeListener.providedBy(protocol):
            protocol.handshakeCompleted()
        if pending.received and not self.disconnecting:
            protocol.dataReceived(b"".join(pending.received))

    def loseConnection(self) -> None:
        if self.transport is not None:
            super().loseConnection()  # type: ignore[no-untyped-call]

    def abortConnection(self) -> None:
        """
        Close now (the protocol built for the client may ask for this).
        """
        self.disconnecting = 1
        self.transport.abortConnection()  # type: ignore[union-attr]

    def _cancelTimer(self) -> None:
        if self._timer is not None:
            if self._timer.active():
                self._timer.cancel()
            self._timer = None

    def readConnectionLost(self) -> None:
        if self._connected and IHalfCloseableProtocol.providedBy(self.wrappedProtocol):
            self.wrappedProtocol.readConnectionLost()
        else:
            self.loseConnection()

    def writeConnectionLost(self) -> None:
        if self._connected and IHalfCloseableProtocol.providedBy(self.wrappedProtocol):
            self.wrappedProtocol.writeConnectionLost()
        else:
            self.loseConnection()

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        self._cancelTimer()
        if self.factory.guard is not None:
            self.factory.guard.release(self, reason)
        super().connectionLost(reason)  # type: ignore[no-untyped-call]


class ProxyHeaderFactory(HAProxyWrappingFactory):
    """
    Builds a L{ProxyHeaderProtocol} for each connection; the wrapped
    factory is asked for a protocol only once the header is read.
    """

    protocol = ProxyHeaderProtocol  # type: ignore[assignment]
    noisy = False

    def __init__(self, wrappedFactory: IProtocolFactory, reactor: Any) -> None:
        super().__init__(wrappedFactory)  # type: ignore[no-untyped-call]
        self.reactor = reactor
        # The listener's guard, when the wrapped factory is sockplug's.
        self.guard: ConnectionGuard | None = getattr(wrappedFactory, "guard", None)

    def buildProtocol(self, addr: Any) -> ProxyHeaderProtocol | None:  # type: ignore[override]
        """
        A protocol that waits for the header; or none (the port closes the
        socket at once) if the connection limits are reached: a connection
        waiting for its header counts as the balancer's, so that peers
        that never send one cannot hold descriptors past the limits.
        """
        protocol = ProxyHeaderProtocol(self, _Pending())  # type: ignore[arg-type]
        if self.guard is not None:
            if self.guard.admit(addr, checkAccess=False) is not None:
                return None
            self.guard.track(protocol, addr, counted=False)
        return protocol


@implementer(IStreamServerEndpoint)
class ProxiedEndpoint:
    """
    A stream endpoint whose connections start with a PROXY header.
    """

    def __init__(self, reactor: Any, wrapped: IStreamServerEndpoint) -> None:
        self._reactor = reactor
        self._wrapped = wrapped

    def listen(self, protocolFactory: IProtocolFactory) -> Deferred[IListeningPort]:
        return self._wrapped.listen(ProxyHeaderFactory(protocolFactory, self._reactor))
