# -*- test-case-name: sockplug.endpoints.proxy.test -*-
"""
PROXY headers, a balancer's connections and the protocols they reach, for
sockplug's own tests of L{sockplug.endpoints.proxy} (not API: see
L{sockplug.testing}).
"""

from __future__ import annotations

import socket
import struct
from typing import Any

import twisted.test
from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import (
    IAddress,
    IHalfCloseableProtocol,
)
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.internet.ssl import CertificateOptions, PrivateCertificate
from twisted.internet.testing import StringTransportWithDisconnection
from twisted.python.failure import Failure
from twisted.python.filepath import FilePath
from zope.interface import implementer

from sockplug.defences import ConnectionGuard, GuardedFactory
from sockplug.endpoints.proxy._wrapper import ProxyHeaderFactory, ProxyHeaderProtocol
from sockplug.options import ListenerLimits
from sockplug.plugin import ListenerInfo, TransportKind
from sockplug.protocols.echo import buildStreamFactory

__all__ = [
    "BALANCER",
    "CLIENT",
    "LISTENER",
    "LOCAL",
    "SERVER",
    "V1",
    "V1_IPV6",
    "V2",
    "V2_IPV6",
    "V2_LOCAL",
    "V2_PROXY",
    "V2_SIGNATURE",
    "V2_TCP4",
    "V2_TCP6",
    "V2_UNSPEC",
    "Aborting",
    "HalfCloseable",
    "Recorder",
    "RecordingFactory",
    "connectFromBalancer",
    "guardedEcho",
    "serverTLS",
    "v2",
    "v2Addresses",
]

BALANCER = IPv4Address("TCP", "10.9.9.9", 4000)
LISTENER = IPv4Address("TCP", "10.0.0.1", 8888)
CLIENT = IPv4Address("TCP", "192.0.2.7", 56324)
SERVER = IPv4Address("TCP", "198.51.100.1", 443)

V1 = b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n"
V1_IPV6 = b"PROXY TCP6 2001:db8::7 2001:db8::1 56324 443\r\n"

# The 12 bytes every PROXY v2 header starts with.
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_PROXY = 0x21  # version 2, command PROXY
V2_LOCAL = 0x20  # version 2, command LOCAL
V2_TCP4 = 0x11  # AF_INET, SOCK_STREAM
V2_TCP6 = 0x21  # AF_INET6, SOCK_STREAM
V2_UNSPEC = 0x00


def v2(command: int, family: int, body: bytes) -> bytes:
    """
    A PROXY v2 header: signature, version and command, family and
    protocol, the length of what follows, then that.
    """
    return V2_SIGNATURE + bytes([command, family]) + struct.pack("!H", len(body)) + body


def v2Addresses(family: int, source: str, destination: str) -> bytes:
    """
    The address block of a PROXY v2 header: source and destination
    addresses, then source and destination ports.
    """
    return (
        socket.inet_pton(family, source)
        + socket.inet_pton(family, destination)
        + struct.pack("!HH", 56324, 443)
    )


V2 = v2(V2_PROXY, V2_TCP4, v2Addresses(socket.AF_INET, "192.0.2.7", "198.51.100.1"))
V2_IPV6 = v2(
    V2_PROXY, V2_TCP6, v2Addresses(socket.AF_INET6, "2001:db8::7", "2001:db8::1")
)
# What HAProxy's health checks on a send-proxy-v2 server send.
LOCAL = v2(V2_LOCAL, V2_UNSPEC, b"")


def connectFromBalancer(
    factory: ProxyHeaderFactory,
) -> tuple[ProxyHeaderProtocol, StringTransportWithDisconnection]:
    """
    A connection from the balancer to C{factory}, before its header.
    """
    protocol = factory.buildProtocol(BALANCER)
    assert protocol is not None
    transport = StringTransportWithDisconnection(LISTENER, BALANCER)
    transport.protocol = protocol
    protocol.makeConnection(transport)
    return protocol, transport


def guardedEcho(
    clock: Any, **limits: Any
) -> tuple[ProxyHeaderFactory, ConnectionGuard]:
    """
    A guarded echo listener on C{haproxy:tcp:8888} with C{limits}: the
    factory its connections come to, and its guard.
    """
    info = ListenerInfo(
        "haproxy:tcp:8888",
        TransportKind.STREAM,
        "echo",
        clock,
        ListenerLimits(**limits),
    )
    guard = ConnectionGuard(clock, "haproxy:tcp:8888", info.limits)
    factory = ProxyHeaderFactory(
        GuardedFactory(buildStreamFactory(info), guard, True), clock
    )
    return factory, guard


class Recorder(Protocol):
    """
    A protocol that records what happens to it.
    """

    def __init__(self) -> None:
        self.peers: list[IAddress] = []
        self.received: list[bytes] = []
        self.lost: list[Failure] = []

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.peers.append(self.transport.getPeer())

    def dataReceived(self, data: bytes) -> None:
        self.received.append(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.lost.append(reason)


@implementer(IHalfCloseableProtocol)
class HalfCloseable(Recorder):
    """
    A protocol that records half-closes too.
    """

    def __init__(self) -> None:
        super().__init__()
        self.halfClosed: list[str] = []

    def readConnectionLost(self) -> None:
        self.halfClosed.append("read")

    def writeConnectionLost(self) -> None:
        self.halfClosed.append("write")


class Aborting(Recorder):
    """
    A protocol that aborts its connection as soon as it is made, as a
    refused connection's does.
    """

    def connectionMade(self) -> None:
        super().connectionMade()
        assert self.transport is not None
        self.transport.abortConnection()  # type: ignore[attr-defined]


class RecordingFactory(Factory[Protocol]):
    """
    Builds a protocol of a chosen class, or none, and records the addresses
    it is asked for.
    """

    def __init__(self, protocol: type[Recorder] | None = Recorder) -> None:
        self.protocolClass = protocol
        self.addresses: list[IAddress | None] = []
        self.built: list[Recorder] = []

    def buildProtocol(self, addr: IAddress | None) -> Protocol | None:
        self.addresses.append(addr)
        if self.protocolClass is None:
            return None
        protocol = self.protocolClass()
        self.built.append(protocol)
        return protocol


def serverTLS() -> CertificateOptions:
    """
    TLS settings with Twisted's test key and certificate.
    """
    pem = FilePath(twisted.test.__file__).sibling("server.pem").getContent()
    options: CertificateOptions = PrivateCertificate.loadPEM(pem).options()
    return options
