"""
Tests for L{sockplug.endpoints.proxy._wrapper}: the C{haproxy:} endpoint type.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

import twisted.test
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ConnectionLost
from twisted.internet.interfaces import (
    IAddress,
    IHalfCloseableProtocol,
    IHandshakeListener,
    IListeningPort,
    IProtocolFactory,
    IStreamServerEndpoint,
)
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.internet.ssl import CertificateOptions, PrivateCertificate
from twisted.internet.task import Clock
from twisted.internet.testing import (
    EventLoggingObserver,
    MemoryReactorClock,
    StringTransport,
    StringTransportWithDisconnection,
)
from twisted.logger import formatEvent, globalLogPublisher
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from twisted.python.filepath import FilePath
from twisted.test.iosim import FakeTransport, IOPump, connect
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from sockplug.compat import clockOf
from sockplug.defences._guardedfactory import GuardedFactory
from sockplug.defences._streamguard import ConnectionGuard
from sockplug.endpoints._parser import EndpointParser
from sockplug.endpoints.proxy._wrapper import (
    HEADER_TIMEOUT,
    ProxiedEndpoint,
    ProxyHeaderFactory,
    ProxyHeaderProtocol,
)
from sockplug.errors import EndpointSyntaxError
from sockplug.options._access import AccessList
from sockplug.options._limits import ListenerLimits
from sockplug.plugin import ListenerInfo, TransportKind
from sockplug.protocols.echo import buildStreamFactory

_BALANCER = IPv4Address("TCP", "10.9.9.9", 4000)
_LISTENER = IPv4Address("TCP", "10.0.0.1", 8888)
_CLIENT = IPv4Address("TCP", "192.0.2.7", 56324)
_SERVER = IPv4Address("TCP", "198.51.100.1", 443)

_V1 = b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n"
_V1_IPV6 = b"PROXY TCP6 2001:db8::7 2001:db8::1 56324 443\r\n"

# The 12 bytes every PROXY v2 header starts with.
_V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_V2_PROXY = 0x21  # version 2, command PROXY
_V2_LOCAL = 0x20  # version 2, command LOCAL
_V2_TCP4 = 0x11  # AF_INET, SOCK_STREAM
_V2_TCP6 = 0x21  # AF_INET6, SOCK_STREAM
_V2_UNSPEC = 0x00


def _v2(command: int, family: int, body: bytes) -> bytes:
    """
    A PROXY v2 header: signature, version and command, family and
    protocol, the length of what follows, then that.
    """
    return (
        _V2_SIGNATURE + bytes([command, family]) + struct.pack("!H", len(body)) + body
    )


def _v2Addresses(family: int, source: str, destination: str) -> bytes:
    """
    The address block of a PROXY v2 header: source and destination
    addresses, then source and destination ports.
    """
    return (
        socket.inet_pton(family, source)
        + socket.inet_pton(family, destination)
        + struct.pack("!HH", 56324, 443)
    )


_V2 = _v2(
    _V2_PROXY, _V2_TCP4, _v2Addresses(socket.AF_INET, "192.0.2.7", "198.51.100.1")
)
_V2_IPV6 = _v2(
    _V2_PROXY, _V2_TCP6, _v2Addresses(socket.AF_INET6, "2001:db8::7", "2001:db8::1")
)
# What HAProxy's health checks on a send-proxy-v2 server send.
_LOCAL = _v2(_V2_LOCAL, _V2_UNSPEC, b"")


def _connectFromBalancer(
    factory: ProxyHeaderFactory,
) -> tuple[ProxyHeaderProtocol, StringTransportWithDisconnection]:
    """
    A connection from the balancer to C{factory}, before its header.
    """
    protocol = factory.buildProtocol(_BALANCER)
    assert protocol is not None
    transport = StringTransportWithDisconnection(_LISTENER, _BALANCER)
    transport.protocol = protocol
    protocol.makeConnection(transport)
    return protocol, transport


class _Recorder(Protocol):
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
class _HalfCloseable(_Recorder):
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


class _Aborting(_Recorder):
    """
    A protocol that aborts its connection as soon as it is made, as a
    refused connection's does.
    """

    def connectionMade(self) -> None:
        super().connectionMade()
        assert self.transport is not None
        self.transport.abortConnection()  # type: ignore[attr-defined]


class _Factory(Factory[Protocol]):
    """
    Builds a protocol of a chosen class, or none, and records the addresses
    it is asked for.
    """

    def __init__(self, protocol: type[_Recorder] | None = _Recorder) -> None:
        self.protocolClass = protocol
        self.addresses: list[IAddress | None] = []
        self.built: list[_Recorder] = []

    def buildProtocol(self, addr: IAddress | None) -> Protocol | None:
        self.addresses.append(addr)
        if self.protocolClass is None:
            return None
        protocol = self.protocolClass()
        self.built.append(protocol)
        return protocol


class ProxyHeaderProtocolTests(SynchronousTestCase):
    """
    Tests for L{ProxyHeaderProtocol}, built by L{ProxyHeaderFactory}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.factory = _Factory()

    def _connect(
        self, transport: StringTransport | None = None
    ) -> tuple[ProxyHeaderProtocol, StringTransport]:
        """
        A connection from the balancer, accepted by a L{ProxyHeaderFactory}
        in front of C{self.factory}.
        """
        if transport is None:
            transport = StringTransportWithDisconnection(_LISTENER, _BALANCER)
        protocol = ProxyHeaderFactory(self.factory, self.clock).buildProtocol(_BALANCER)
        assert protocol is not None
        transport.protocol = protocol  # type: ignore[attr-defined]
        protocol.makeConnection(transport)
        return protocol, transport

    def _built(self) -> _Recorder:
        [protocol] = self.factory.built
        return protocol

    def test_notBuiltOnConnect(self) -> None:
        """
        The wrapped factory is not asked for a protocol when the connection
        is made.
        """
        self._connect()
        self.assertEqual(self.factory.addresses, [])

    def test_notBuiltOnPartialHeader(self) -> None:
        """
        The wrapped factory is not asked for a protocol before the whole
        header has arrived.
        """
        protocol, _ = self._connect()
        protocol.dataReceived(_V1[:-3])
        self.assertEqual(self.factory.addresses, [])

    def test_v1(self) -> None:
        """
        After a v1 header, the wrapped factory is asked for a protocol for
        the client it names.
        """
        protocol, _ = self._connect()
        protocol.dataReceived(_V1)
        self.assertEqual(self.factory.addresses, [_CLIENT])

    def test_v1InPieces(self) -> None:
        """
        A v1 header may arrive in pieces; the protocol is built once, when
        it is whole.
        """
        protocol, _ = self._connect()
        for piece in (_V1[:10], _V1[10:30], _V1[30:]):
            protocol.dataReceived(piece)
        self.assertEqual(self.factory.addresses, [_CLIENT])

    def test_v1ByteByByte(self) -> None:
        """
        A v1 header fed one byte per read (shorter than Twisted's
        signature check) is put together, and the bytes after it arrive.
        """
        protocol, transport = self._connect()
        for byte in _V1 + b"hi":
            protocol.dataReceived(bytes([byte]))
        self.assertTrue(transport.connected)
        self.assertEqual(self.factory.addresses, [_CLIENT])
        self.assertEqual(b"".join(self._built().received), b"hi")

    def test_v2ByteByByte(self) -> None:
        """
        A v2 header fed one byte per read is put together.
        """
        protocol, transport = self._connect()
        for byte in _V2:
            protocol.dataReceived(bytes([byte]))
        self.assertTrue(transport.connected)
        self.assertEqual(len(self.factory.addresses), 1)

    def test_v1HostNotAnAddressCloses(self) -> None:
        """
        A v1 header whose source is not an IP address closes the connection
        before any protocol is built.
        """
        protocol, transport = self._connect()
        protocol.dataReceived(b"PROXY TCP4 evil\x1b[31m 127.0.0.1 5555 80\r\n")
        self.assertEqual((transport.connected, self.factory.addresses), (False, []))

    def test_v1WrongFamilyCloses(self) -> None:
        """
        A v1 C{TCP4} header naming an IPv6 source closes the connection.
        """
        protocol, transport = self._connect()
        protocol.dataReceived(b"PROXY TCP4 2001:db8::7 127.0.0.1 5555 80\r\n")
        self.assertEqual((transport.connected, self.factory.addresses), (False, []))

    def test_v1LeadingZerosClose(self) -> None:
        """
        A v1 source with leading zeros (which some parsers read as octal)
        is not an address: the connection closes.
        """
        protocol, transport = self._connect()
        protocol.dataReceived(b"PROXY TCP4 010.1.2.3 127.0.0.1 5555 80\r\n")
        self.assertEqual((transport.connected, self.factory.addresses), (False, []))

    def test_shortNonHeaderCloses(self) -> None:
        """
        A first read too short to hold a signature, that no header starts
        with, closes the connection at once.
        """
        protocol, transport = self._connect()
        protocol.dataReceived(b"GET")
        self.assertEqual((transport.connected, self.factory.addresses), (False, []))

    def test_v1IPv6(self) -> None:
        """
        A v1 C{TCP6} header names an IPv6 client.
        """
        protocol, _ = self._connect()
        protocol.dataReceived(_V1_IPV6)
        self.assertEqual(
            self.factory.addresses, [IPv6Address("TCP", "2001:db8::7", 56324)]
        )

    def test_v1Unknown(self) -> None:
        """
        The short v1 C{UNKNOWN} header, C{PROXY UNKNOWN\\r\\n}, names no
        client: the protocol is built for the balancer's address.
        """
        protocol, _ = self._connect()
        protocol.dataReceived(b"PROXY UNKNOWN\r\n")
        self.assertEqual(self.factory.addresses, [_BALANCER])

    def test_v1UnknownWithAddresses(self) -> None:
        """
        A v1 C{UNKNOWN} header with addresses after it names no client
        either: the addresses are ignored.
        """
        protocol, _ = self._connect()
        protocol.dataReceived(b"PROXY UNKNOWN ffff::1 ffff::2 65535 65535\r\n")
        self.assertEqual(self.factory.addresses, [_BALANCER])

    def test_v2(self) -> None:
        """
        After a v2 header, the wrapped factory is asked for a protocol for
        the client it names.
        """
        protocol, _ = self._connect()
        protocol.dataReceived(_V2)
        self.assertEqual(self.factory.addresses, [_CLIENT])

    def test_v2InPieces(self) -> None:
        """
        A v2 header may arrive in pieces after its first 16 bytes.
        """
        protocol, _ = self._connect()
        for piece in (_V2[:16], _V2[16:20], _V2[20:]):
            protocol.dataReceived(piece)
        self.assertEqual(self.factory.addresses, [_CLIENT])

    def test_v2IPv6(self) -> None:
        """
        A v2 header of family C{AF_INET6} names an IPv6 client.
        """
        protocol, _ = self._connect()
        protocol.dataReceived(_V2_IPV6)
        [address] = self.factory.addresses
        assert isinstance(address, IPv6Address)
        self.assertEqual((address.host, address.port), ("2001:db8::7", 56324))

    def test_v2LocalNotBuilt(self) -> None:
        """
        A v2 C{LOCAL} header alone (the balancer's own health check) builds
        no protocol.
        """
        protocol, _ = self._connect()
        protocol.dataReceived(_LOCAL)
        self.assertEqual(self.factory.addresses, [])

    def test_v2LocalThenData(self) -> None:
        """
        Data after a v2 C{LOCAL} header builds the protocol, for the
        balancer's address (the header names no client), and reaches it.
        """
        protocol, _ = self._connect()
        protocol.dataReceived(_LOCAL)
        protocol.dataReceived(b"ping")
        self.assertEqual(
            (self.factory.addresses, self._built().received),
            ([_BALANCER], [b"ping"]),
        )

    def test_v2LocalWithData(self) -> None:
        """
        Data that comes with a v2 C{LOCAL} header builds the protocol at
        once, and reaches it.
        """
        protocol, _ = self._connect()
        protocol.dataReceived(_LOCAL + b"ping")
        self.assertEqual(
            (self.factory.addresses, self._built().received),
            ([_BALANCER], [b"ping"]),
        )

    def test_v2LocalInPiecesThenData(self) -> None:
        """
        A v2 C{LOCAL} header fed one byte per read waits for data too.
        """
        protocol, _ = self._connect()
        for byte in _LOCAL:
            protocol.dataReceived(bytes([byte]))
        self.assertEqual(self.factory.addresses, [])
        protocol.dataReceived(b"ping")
        self.assertEqual(self._built().received, [b"ping"])

    def test_v2LocalNoHeaderTimeout(self) -> None:
        """
        A connection waiting for data after its v2 C{LOCAL} header is not
        closed by the header timeout (its header came; the listener's idle
        timeout applies).
        """
        protocol, transport = self._connect()
        protocol.dataReceived(_LOCAL)
        self.clock.advance(HEADER_TIMEOUT * 2)
        self.assertEqual(
            (transport.connected, self.clock.getDelayedCalls()), (True, [])
        )

    def test_v2LocalClosedBeforeData(self) -> None:
        """
        A connection that closes after its v2 C{LOCAL} header, before any
        data, builds no protocol.
        """
        protocol, transport = self._connect()
        protocol.dataReceived(_LOCAL)
        transport.loseConnection()
        self.assertEqual((transport.connected, self.factory.addresses), (False, []))

    def test_v2LocalHalfClosedBeforeData(self) -> None:
        """
        The peer's half-close after a v2 C{LOCAL} header, before any data,
        closes the connection without building a protocol.
        """
        self.factory = _Factory(_HalfCloseable)
        protocol, transport = self._connect()
        protocol.dataReceived(_LOCAL)
        protocol.readConnectionLost()
        self.assertEqual((transport.connected, self.factory.addresses), (False, []))

    def test_v2UnspecBuiltAtOnce(self) -> None:
        """
        A v2 C{PROXY} header of family C{AF_UNSPEC} (no client named, but
        not the balancer's own connection) builds the protocol at once.
        """
        protocol, _ = self._connect()
        protocol.dataReceived(_v2(_V2_PROXY, _V2_UNSPEC, b""))
        self.assertEqual(self.factory.addresses, [_BALANCER])

    def test_v2ExtensionsSkipped(self) -> None:
        """
        The extensions (TLVs) counted in a v2 header's length are not
        delivered; the bytes after them are.
        """
        tlv = b"\x04" + struct.pack("!H", 3) + b"abc"  # PP2_TYPE_NOOP
        header = _v2(
            _V2_PROXY,
            _V2_TCP4,
            _v2Addresses(socket.AF_INET, "192.0.2.7", "198.51.100.1") + tlv,
        )
        protocol, _ = self._connect()
        protocol.dataReceived(header + b"hello")
        self.assertEqual(
            (self.factory.addresses, self._built().received), ([_CLIENT], [b"hello"])
        )

    def test_connectionMadeSeesClient(self) -> None:
        """
        The protocol's C{connectionMade} sees the client as its peer, not
        the balancer.
        """
        protocol, _ = self._connect()
        protocol.dataReceived(_V1)
        self.assertEqual(self._built().peers, [_CLIENT])

    def test_hostIsDestination(self) -> None:
        """
        The protocol's transport gives the address the client connected to,
        as the header names it.
        """
        protocol, _ = self._connect()
        protocol.dataReceived(_V1)
        transport = self._built().transport
        assert transport is not None
        self.assertEqual(transport.getHost(), _SERVER)

    def test_bytesWithHeader(self) -> None:
        """
        Bytes that arrive with the header are delivered to the protocol.
        """
        protocol, _ = self._connect()
        protocol.dataReceived(_V1 + b"hello")
        self.assertEqual(self._built().received, [b"hello"])

    def test_bytesWithV2Header(self) -> None:
        """
        Bytes that arrive with a v2 header are delivered to the protocol.
        """
        protocol, _ = self._connect()
        protocol.dataReceived(_V2 + b"hello")
        self.assertEqual(self._built().received, [b"hello"])

    def test_bytesAfterHeader(self) -> None:
        """
        Bytes that arrive after the header are delivered, in order.
        """
        protocol, _ = self._connect()
        protocol.dataReceived(_V1 + b"one")
        protocol.dataReceived(b"two")
        self.assertEqual(self._built().received, [b"one", b"two"])

    def test_bytesAfterPiecesOfHeader(self) -> None:
        """
        Bytes that arrive with the last piece of a header are delivered.
        """
        protocol, _ = self._connect()
        protocol.dataReceived(_V1[:20])
        protocol.dataReceived(_V1[20:] + b"hello")
        self.assertEqual(self._built().received, [b"hello"])

    def test_headerOnlyDeliversNothing(self) -> None:
        """
        A header alone delivers no bytes to the protocol.
        """
        protocol, _ = self._connect()
        protocol.dataReceived(_V1)
        self.assertEqual(self._built().received, [])

    def test_writesReachTransport(self) -> None:
        """
        What the protocol writes reaches the connection.
        """
        protocol, transport = self._connect()
        protocol.dataReceived(_V1)
        built = self._built().transport
        assert built is not None
        built.write(b"reply")
        self.assertEqual(transport.value(), b"reply")

    def test_connectionLostReachesProtocol(self) -> None:
        """
        The protocol learns that the connection is lost.
        """
        protocol, transport = self._connect()
        protocol.dataReceived(_V1)
        transport.loseConnection()
        self.assertEqual(len(self._built().lost), 1)

    def test_refusedAborts(self) -> None:
        """
        A wrapped factory that builds no protocol has the connection
        aborted.
        """
        self.factory = _Factory(None)
        protocol, transport = self._connect()
        protocol.dataReceived(_V1 + b"hello")
        self.assertIs(transport.disconnected, True)

    def test_refusedAskedOnce(self) -> None:
        """
        A wrapped factory that builds no protocol is asked once, for the
        client.
        """
        self.factory = _Factory(None)
        protocol, _ = self._connect()
        protocol.dataReceived(_V1 + b"hello")
        self.assertEqual(self.factory.addresses, [_CLIENT])

    def test_abortingProtocolGetsNoBytes(self) -> None:
        """
        A protocol that aborts its connection in C{connectionMade} (as a
        refused connection's does) is not given the bytes that came with the
        header.
        """
        self.factory = _Factory(_Aborting)
        protocol, _ = self._connect(StringTransport(_LISTENER, _BALANCER))
        protocol.dataReceived(_V1 + b"hello")
        self.assertEqual(self._built().received, [])

    def test_badHeaderCloses(self) -> None:
        """
        A connection that does not start with a PROXY header is closed.
        """
        protocol, transport = self._connect()
        protocol.dataReceived(b"GET / HTTP/1.0\r\n\r\n")
        self.assertIs(transport.connected, False)

    def test_badHeaderNotBuilt(self) -> None:
        """
        No protocol is built for a connection without a PROXY header.
        """
        protocol, _ = self._connect()
        protocol.dataReceived(b"GET / HTTP/1.0\r\n\r\n")
        self.assertEqual(self.factory.addresses, [])

    def test_badV1Closes(self) -> None:
        """
        A v1 header with an unknown protocol closes the connection.
        """
        protocol, transport = self._connect()
        protocol.dataReceived(b"PROXY TCP9 192.0.2.7 198.51.100.1 1 2\r\n")
        self.assertEqual((transport.connected, self.factory.addresses), (False, []))

    def test_v1MissingAddressCloses(self) -> None:
        """
        A v1 header without its addresses closes the connection.
        """
        protocol, transport = self._connect()
        protocol.dataReceived(b"PROXY TCP4 192.0.2.7\r\n")
        self.assertEqual((transport.connected, self.factory.addresses), (False, []))

    def test_v1TooLongCloses(self) -> None:
        """
        A v1 header longer than the protocol allows closes the connection.
        """
        protocol, transport = self._connect()
        protocol.dataReceived(b"PROXY TCP4 " + b"1" * 200)
        self.assertEqual((transport.connected, self.factory.addresses), (False, []))

    def test_badV2Closes(self) -> None:
        """
        A v2 header with an unknown command closes the connection.
        """
        protocol, transport = self._connect()
        protocol.dataReceived(_v2(0x2F, _V2_TCP4, _V2[16:]))
        self.assertEqual((transport.connected, self.factory.addresses), (False, []))

    def test_badHeaderCancelsTimer(self) -> None:
        """
        A connection closed for a bad header leaves no timer behind.
        """
        protocol, _ = self._connect()
        protocol.dataReceived(b"GET / HTTP/1.0\r\n\r\n")
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_timeout(self) -> None:
        """
        A connection without a header after L{HEADER_TIMEOUT} seconds is
        aborted.
        """
        _, transport = self._connect()
        self.clock.advance(HEADER_TIMEOUT)
        self.assertIs(transport.disconnected, True)

    def test_timeoutLogged(self) -> None:
        """
        The header timeout is logged, naming the balancer's address.
        """
        events = EventLoggingObserver.createWithCleanup(
            self,  # type: ignore[arg-type]
            globalLogPublisher,
        )
        self._connect()
        self.clock.advance(HEADER_TIMEOUT)
        self.assertEqual(
            [
                formatEvent(e)
                for e in events
                if e["log_namespace"] == "sockplug.endpoints.proxy._wrapper"
            ],
            ["10.9.9.9:4000: no PROXY header within 10s; closing"],
        )

    def test_timeoutIsTenSeconds(self) -> None:
        """
        The header timeout is 10 seconds.
        """
        self.assertEqual(HEADER_TIMEOUT, 10.0)

    def test_noTimeoutEarly(self) -> None:
        """
        A connection is not aborted before L{HEADER_TIMEOUT} seconds.
        """
        _, transport = self._connect()
        self.clock.advance(HEADER_TIMEOUT - 0.001)
        self.assertEqual((transport.connected, transport.disconnected), (True, False))

    def test_partialHeaderTimesOut(self) -> None:
        """
        Part of a header does not stop the timeout.
        """
        protocol, transport = self._connect()
        protocol.dataReceived(_V1[:20])
        self.clock.advance(HEADER_TIMEOUT)
        self.assertIs(transport.disconnected, True)

    def test_headerCancelsTimer(self) -> None:
        """
        Once the header is read, no timer is left.
        """
        protocol, _ = self._connect()
        protocol.dataReceived(_V1)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_noTimeoutAfterHeader(self) -> None:
        """
        A connection whose header was read is not aborted by the header
        timeout.
        """
        protocol, transport = self._connect()
        protocol.dataReceived(_V1)
        self.clock.advance(HEADER_TIMEOUT * 2)
        self.assertEqual((transport.connected, transport.disconnected), (True, False))

    def test_closeCancelsTimer(self) -> None:
        """
        A connection lost before its header leaves no timer behind.
        """
        _, transport = self._connect()
        transport.loseConnection()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_halfCloseable(self) -> None:
        """
        The connection's protocol accepts half-closes, so the transport
        tells it of them.
        """
        protocol, _ = self._connect()
        self.assertTrue(IHalfCloseableProtocol.providedBy(protocol))

    def test_readConnectionLostForwarded(self) -> None:
        """
        The peer's half-close is passed on to a protocol that takes
        half-closes, and the connection stays open.
        """
        self.factory = _Factory(_HalfCloseable)
        protocol, transport = self._connect()
        protocol.dataReceived(_V1)
        protocol.readConnectionLost()
        built = self._built()
        assert isinstance(built, _HalfCloseable)
        self.assertEqual((built.halfClosed, transport.connected), (["read"], True))

    def test_writeConnectionLostForwarded(self) -> None:
        """
        The end of writing is passed on to a protocol that takes
        half-closes.
        """
        self.factory = _Factory(_HalfCloseable)
        protocol, transport = self._connect()
        protocol.dataReceived(_V1)
        protocol.writeConnectionLost()
        built = self._built()
        assert isinstance(built, _HalfCloseable)
        self.assertEqual((built.halfClosed, transport.connected), (["write"], True))

    def test_readConnectionLostCloses(self) -> None:
        """
        The peer's half-close closes the connection of a protocol that does
        not take half-closes.
        """
        protocol, transport = self._connect()
        protocol.dataReceived(_V1)
        protocol.readConnectionLost()
        self.assertEqual((transport.connected, len(self._built().lost)), (False, 1))

    def test_writeConnectionLostCloses(self) -> None:
        """
        The end of writing closes the connection of a protocol that does not
        take half-closes.
        """
        protocol, transport = self._connect()
        protocol.dataReceived(_V1)
        protocol.writeConnectionLost()
        self.assertEqual((transport.connected, len(self._built().lost)), (False, 1))

    def test_readConnectionLostBeforeHeader(self) -> None:
        """
        A half-close before the header closes the connection.
        """
        self.factory = _Factory(_HalfCloseable)
        protocol, transport = self._connect()
        protocol.readConnectionLost()
        self.assertEqual((transport.connected, self.factory.addresses), (False, []))

    def test_loseConnectionUnconnected(self) -> None:
        """
        C{loseConnection} on a protocol never connected does nothing.
        """
        protocol = ProxyHeaderFactory(self.factory, self.clock).buildProtocol(_BALANCER)
        assert protocol is not None
        protocol.loseConnection()
        self.assertEqual(protocol.disconnecting, 0)


@implementer(IStreamServerEndpoint)
class _Endpoint:
    """
    A stream endpoint that records the factory it listens with.
    """

    def __init__(self, port: IListeningPort) -> None:
        self.port = port
        self.factories: list[IProtocolFactory] = []

    def listen(self, protocolFactory: IProtocolFactory) -> Deferred[IListeningPort]:
        self.factories.append(protocolFactory)
        return succeed(self.port)


@implementer(IListeningPort)
class _Port:
    def startListening(self) -> None:
        pass

    def stopListening(self) -> Deferred[None]:
        return succeed(None)

    def getHost(self) -> IAddress:
        return _LISTENER


class ProxiedEndpointTests(SynchronousTestCase):
    """
    Tests for L{ProxiedEndpoint} and L{ProxyHeaderFactory}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.port = _Port()
        self.inner = _Endpoint(self.port)
        self.factory = _Factory()

    def _listen(self) -> ProxyHeaderFactory:
        ProxiedEndpoint(self.clock, self.inner).listen(self.factory)
        [factory] = self.inner.factories
        assert isinstance(factory, ProxyHeaderFactory)
        return factory

    def test_provides(self) -> None:
        """
        L{ProxiedEndpoint} is a stream server endpoint.
        """
        self.assertTrue(
            verifyObject(IStreamServerEndpoint, ProxiedEndpoint(self.clock, self.inner))
        )

    def test_listenWraps(self) -> None:
        """
        Listening listens on the wrapped endpoint with a
        L{ProxyHeaderFactory} in front of the factory given.
        """
        ProxiedEndpoint(self.clock, self.inner).listen(self.factory)
        [factory] = self.inner.factories
        self.assertIsInstance(factory, ProxyHeaderFactory)
        assert isinstance(factory, ProxyHeaderFactory)
        self.assertIs(factory.wrappedFactory, self.factory)

    def test_listenReactor(self) -> None:
        """
        The factory's header timeouts run on the endpoint's reactor.
        """
        self.assertIs(self._listen().reactor, self.clock)

    def test_listenResult(self) -> None:
        """
        Listening gives the wrapped endpoint's port.
        """
        result = ProxiedEndpoint(self.clock, self.inner).listen(self.factory)
        self.assertIs(self.successResultOf(result), self.port)

    def test_buildsHeaderProtocol(self) -> None:
        """
        The factory builds a L{ProxyHeaderProtocol} without asking the
        wrapped factory.
        """
        protocol = self._listen().buildProtocol(_BALANCER)
        self.assertEqual(
            (type(protocol), self.factory.addresses), (ProxyHeaderProtocol, [])
        )

    def test_quiet(self) -> None:
        """
        The factory does not log its own start and stop.
        """
        self.assertFalse(self._listen().noisy)

    def test_noTLS(self) -> None:
        """
        Without TLS settings, the factory starts no TLS.
        """
        self.assertIsNone(self._listen().tls)

    def test_listenTLS(self) -> None:
        """
        With TLS settings, the factory starts TLS after the header, with
        those settings, on the endpoint's reactor.
        """
        options = _serverTLS()
        ProxiedEndpoint(self.clock, self.inner, options).listen(self.factory)
        [factory] = self.inner.factories
        assert isinstance(factory, ProxyHeaderFactory)
        assert factory.tls is not None
        self.assertEqual(
            (factory.tls.wrappedFactory, clockOf(factory.tls)),
            (self.factory, self.clock),
        )


class ParseHaproxyTests(SynchronousTestCase):
    """
    Tests for C{haproxy:} endpoint strings with defence options.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.parsed = EndpointParser(self.reactor, []).parse(
            "haproxy:tcp:0:allow=10.0.0.0/8"
        )

    def test_nestedRefused(self) -> None:
        """
        C{haproxy:} inside C{haproxy:} is refused, naming the whole string
        (and a thousand of them do not exhaust the stack).
        """
        description = "haproxy:" * 1000 + "tcp:0"
        e = self.assertRaises(
            EndpointSyntaxError, EndpointParser(self.reactor, []).parse, description
        )
        self.assertEqual(e.description, description)
        self.assertIn("inside a PROXY header", e.reason)

    def test_endpoint(self) -> None:
        """
        A C{haproxy:} string is a L{ProxiedEndpoint}.
        """
        self.assertIsInstance(self.parsed.endpoint, ProxiedEndpoint)

    def test_limits(self) -> None:
        """
        The defence options of a C{haproxy:} string are its limits.
        """
        self.assertEqual(
            self.parsed.limits,
            ListenerLimits(access=AccessList.parse("10.0.0.0/8", None)),
        )

    def test_listensOnInner(self) -> None:
        """
        The endpoint listens on the inner TCP endpoint, port 0 on every
        interface, with a L{ProxyHeaderFactory} in front of the factory
        given.
        """
        factory = _Factory()
        endpoint = self.parsed.endpoint
        assert isinstance(endpoint, ProxiedEndpoint)
        endpoint.listen(factory)
        [(port, listening, _, interface)] = self.reactor.tcpServers
        self.assertIsInstance(listening, ProxyHeaderFactory)
        assert isinstance(listening, ProxyHeaderFactory)
        self.assertEqual(
            (port, interface, listening.wrappedFactory, listening.reactor),
            (0, "", factory, self.reactor),
        )


class GuardedProxyTests(SynchronousTestCase):
    """
    L{ProxyHeaderFactory} in front of a listener's L{GuardedFactory}: what
    waits for its header counts against the limits, as the balancer's.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()

    def _factory(self, **limits: Any) -> ProxyHeaderFactory:
        info = ListenerInfo(
            "haproxy:tcp:8888",
            TransportKind.STREAM,
            "echo",
            self.clock,
            ListenerLimits(**limits),
        )
        guard = ConnectionGuard(self.clock, "haproxy:tcp:8888", info.limits)
        return ProxyHeaderFactory(
            GuardedFactory(buildStreamFactory(info), guard, True), self.clock
        )

    def _connect(
        self, factory: ProxyHeaderFactory
    ) -> tuple[ProxyHeaderProtocol, StringTransportWithDisconnection]:
        return _connectFromBalancer(factory)

    def test_waitingCounted(self) -> None:
        """
        A connection waiting for its header is counted as open.
        """
        factory = self._factory()
        self._connect(factory)
        assert factory.guard is not None
        self.assertEqual(factory.guard.openConnections, 1)

    def test_waitingRefusedPastLimit(self) -> None:
        """
        Past C{maxconn}, a connection gets no protocol at all, so the port
        closes its socket at once.
        """
        factory = self._factory(maxConnections=2)
        self._connect(factory)
        self._connect(factory)
        self.assertIsNone(factory.buildProtocol(_BALANCER))

    def test_waitingNotCheckedAgainstAccess(self) -> None:
        """
        The access lists are not checked against the balancer's address.
        """
        factory = self._factory(access=AccessList.parse("192.0.2.0/24", None))
        self.assertIsNotNone(factory.buildProtocol(_BALANCER))

    def test_headerHandsOver(self) -> None:
        """
        Once the header is read, the waiting connection is released and the
        client's is counted instead, from the client's address: one
        connection open, let in once.
        """
        factory = self._factory()
        protocol, _ = self._connect(factory)
        protocol.dataReceived(_V1)
        assert factory.guard is not None
        self.assertEqual(
            (factory.guard.openConnections, factory.guard.accepted), (1, 1)
        )

    def test_closedWhileWaitingReleased(self) -> None:
        """
        A connection that closes before its header is released.
        """
        factory = self._factory()
        _, transport = self._connect(factory)
        transport.loseConnection()
        assert factory.guard is not None
        self.assertEqual(factory.guard.openConnections, 0)

    def test_badPortClosesQuietly(self) -> None:
        """
        A v1 header with a port that is not a number (which Twisted's parser
        lets out as a ValueError) closes the connection with one log line.
        """
        events = EventLoggingObserver.createWithCleanup(
            self,  # type: ignore[arg-type]
            globalLogPublisher,
        )
        factory = self._factory()
        protocol, transport = self._connect(factory)
        protocol.dataReceived(b"PROXY TCP4 1.2.3.4 5.6.7.8 abc 80\r\n")
        self.assertFalse(transport.connected)
        self.assertEqual(
            [formatEvent(e) for e in events if "bad PROXY header" in formatEvent(e)],
            [
                "10.9.9.9:4000: bad PROXY header (invalid literal for int() with"
                " base 10: b'abc'); closing"
            ],
        )

    def test_badHeaderCounted(self) -> None:
        """
        A header that is bad is counted as a refusal for C{"proxy"}, and
        not as a connection let in.
        """
        factory = self._factory()
        protocol, _ = self._connect(factory)
        protocol.dataReceived(b"PROXY TCP4 1.2.3.4 5.6.7.8 abc 80\r\n")
        assert factory.guard is not None
        self.assertEqual(
            (factory.guard.refused["proxy"], factory.guard.accepted), (1, 0)
        )

    def test_noHeaderLoggedAndCounted(self) -> None:
        """
        Bytes that are no PROXY header at all (which Twisted's wrapper
        closes on without a word) close the connection with one log line,
        and are counted as a refusal for C{"proxy"}.
        """
        events = EventLoggingObserver.createWithCleanup(
            self,  # type: ignore[arg-type]
            globalLogPublisher,
        )
        factory = self._factory()
        protocol, transport = self._connect(factory)
        protocol.dataReceived(b"GET / HTTP/1.0\r\n\r\n")
        self.assertFalse(transport.connected)
        self.assertEqual(
            [formatEvent(e) for e in events if "bad PROXY header" in formatEvent(e)],
            ["10.9.9.9:4000: bad PROXY header (not a PROXY header); closing"],
        )
        assert factory.guard is not None
        self.assertEqual(factory.guard.refused["proxy"], 1)

    def test_headerTimeoutCounted(self) -> None:
        """
        A connection whose header does not come in time is counted as a
        refusal for C{"proxy"}.
        """
        factory = self._factory()
        self._connect(factory)
        self.clock.advance(HEADER_TIMEOUT)
        assert factory.guard is not None
        self.assertEqual(factory.guard.refused["proxy"], 1)

    def test_scopeIdCloses(self) -> None:
        """
        An IPv6 source with a scope id (free text) closes the connection.
        """
        factory = self._factory()
        protocol, transport = self._connect(factory)
        protocol.dataReceived(b"PROXY TCP6 2001:db8::1%evil ::1 1234 80\r\n")
        self.assertFalse(transport.connected)

    def test_unixSourceUsesConnection(self) -> None:
        """
        A v2 header naming a UNIX-socket client leaves the connection's own
        address as the peer, so the access lists still apply to it.
        """
        factory = self._factory(access=AccessList.parse(None, "10.0.0.0/8"))
        protocol, transport = self._connect(factory)
        body = b"/tmp/client".ljust(108, b"\0") + b"/tmp/server".ljust(108, b"\0")
        protocol.dataReceived(_v2(_V2_PROXY, 0x31, body))
        self.assertFalse(transport.connected)


class LocalHeaderTests(SynchronousTestCase):
    """
    A listener behind L{ProxyHeaderFactory} and a v2 C{LOCAL} header
    (HAProxy's health checks send one, then reset or close): nothing is
    logged or counted unless data follows.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.events = EventLoggingObserver.createWithCleanup(
            self,  # type: ignore[arg-type]
            globalLogPublisher,
        )

    def connect(self, **limits: Any) -> tuple[ProxyHeaderProtocol, StringTransport]:
        """
        A connection from the balancer to a guarded echo listener, its
        C{LOCAL} header read.
        """
        info = ListenerInfo(
            "haproxy:tcp:8888",
            TransportKind.STREAM,
            "echo",
            self.clock,
            ListenerLimits(**limits),
        )
        self.guard = ConnectionGuard(self.clock, "haproxy:tcp:8888", info.limits)
        factory = ProxyHeaderFactory(
            GuardedFactory(buildStreamFactory(info), self.guard, True), self.clock
        )
        protocol = factory.buildProtocol(_BALANCER)
        assert protocol is not None
        transport = StringTransportWithDisconnection(_LISTENER, _BALANCER)
        transport.protocol = protocol
        protocol.makeConnection(transport)
        protocol.dataReceived(_LOCAL)
        return protocol, transport

    def logged(self) -> list[str]:
        return [formatEvent(e) for e in self.events]

    def counts(self) -> tuple[int, dict[str, int], dict[str, int]]:
        counters = self.guard.counters
        return counters.accepted, counters.refused, counters.errors

    def test_waitingTracked(self) -> None:
        """
        A connection waiting for data after its header is still tracked,
        as the balancer's, and not let in.
        """
        self.connect()
        self.assertEqual((self.guard.openConnections, self.guard.accepted), (1, 0))

    def test_resetQuiet(self) -> None:
        """
        A reset after the header logs nothing.
        """
        protocol, _ = self.connect()
        protocol.connectionLost(Failure(ConnectionLost("reset")))
        self.assertEqual(self.logged(), [])

    def test_resetNotCounted(self) -> None:
        """
        A reset after the header releases the connection, and counts it as
        neither let in, nor refused, nor an error.
        """
        protocol, _ = self.connect()
        protocol.connectionLost(Failure(ConnectionLost("reset")))
        self.assertEqual(
            (self.guard.openConnections, self.counts()),
            (
                0,
                (
                    0,
                    dict.fromkeys(self.guard.refused, 0),
                    {"lost": 0, "tls": 0, "protocol": 0},
                ),
            ),
        )

    def test_closeQuiet(self) -> None:
        """
        A clean close after the header logs nothing and is released.
        """
        _, transport = self.connect()
        transport.loseConnection()
        self.assertEqual((self.logged(), self.guard.openConnections), ([], 0))

    def test_refusedListQuiet(self) -> None:
        """
        An access list that leaves out the balancer logs and counts nothing
        for a check that closes after its header.
        """
        _, transport = self.connect(access=AccessList.parse("192.0.2.0/24", None))
        transport.loseConnection()
        self.assertEqual((self.logged(), self.guard.refused["access"]), ([], 0))

    def test_dataLetIn(self) -> None:
        """
        Data after the header lets the connection in, as the balancer's:
        counted once, and logged as connected.
        """
        protocol, _ = self.connect()
        protocol.dataReceived(b"ping\n")
        self.assertEqual((self.guard.accepted, self.guard.openConnections), (1, 1))
        self.assertIn("haproxy:tcp:8888 10.9.9.9:4000 connected", self.logged())

    def test_dataChecksAccess(self) -> None:
        """
        Data after the header is refused if the access lists leave out the
        balancer, counted as refused for access.
        """
        protocol, transport = self.connect(
            access=AccessList.parse("192.0.2.0/24", None)
        )
        protocol.dataReceived(b"ping\n")
        self.assertEqual(
            (transport.connected, self.guard.refused["access"]), (False, 1)
        )


class ProxyHandshakeTests(SynchronousTestCase):
    """
    A TLS layer outside the header (a third-party TLS type inside
    C{haproxy:}, which sockplug cannot start after the header) tells the
    protocol of its handshake.
    """

    def test_handshakeBeforeHeader(self) -> None:
        """
        A handshake done before the header is passed to the protocol once it
        is built.
        """
        factory = _Factory(_Handshaking)
        protocol = ProxyHeaderFactory(factory, Clock()).buildProtocol(_BALANCER)
        assert protocol is not None
        protocol.makeConnection(StringTransportWithDisconnection(_LISTENER, _BALANCER))
        protocol.handshakeCompleted()
        protocol.dataReceived(_V1)
        [built] = factory.built
        assert isinstance(built, _Handshaking)
        self.assertEqual(built.handshakes, 1)

    def test_handshakeAfterHeader(self) -> None:
        """
        A handshake done after the protocol is built is passed on.
        """
        factory = _Factory(_Handshaking)
        protocol = ProxyHeaderFactory(factory, Clock()).buildProtocol(_BALANCER)
        assert protocol is not None
        protocol.makeConnection(StringTransportWithDisconnection(_LISTENER, _BALANCER))
        protocol.dataReceived(_V1)
        protocol.handshakeCompleted()
        [built] = factory.built
        assert isinstance(built, _Handshaking)
        self.assertEqual(built.handshakes, 1)


@implementer(IHandshakeListener)
class _Handshaking(_Recorder):
    """
    Counts the handshakes it is told of.
    """

    handshakes = 0

    def handshakeCompleted(self) -> None:
        self.handshakes += 1


def _serverTLS() -> CertificateOptions:
    """
    TLS settings with Twisted's test key and certificate.
    """
    pem = FilePath(twisted.test.__file__).sibling("server.pem").getContent()
    options: CertificateOptions = PrivateCertificate.loadPEM(pem).options()
    return options


class ProxiedTLSTests(SynchronousTestCase):
    """
    TLS started after the header (C{haproxy:ssl:}, C{haproxy:tls:}): the
    header comes first, in the clear, then the TLS handshake, as HAProxy
    sends them.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.factory = _Factory(_Handshaking)
        self.clients = _Factory(_Recorder)

    def server(self, factory: IProtocolFactory | None = None) -> None:
        """
        A connection from the balancer to a L{ProxyHeaderFactory} with TLS
        in front of C{factory} (C{self.factory} unless given).
        """
        headers = ProxyHeaderFactory(
            self.factory if factory is None else factory, self.clock, _serverTLS()
        )
        protocol = headers.buildProtocol(_BALANCER)
        assert protocol is not None
        self.protocol = protocol
        self.transport = FakeTransport(protocol, True, _LISTENER, _BALANCER)

    def connect(
        self, first: bytes = _V1, factory: IProtocolFactory | None = None
    ) -> IOPump:
        """
        A TLS client that sends C{first} in the clear, then its handshake,
        connected to L{server}; pumped until both are quiet.
        """
        self.server(factory)
        tls = TLSMemoryBIOFactory(CertificateOptions(), True, self.clients, self.clock)
        client = tls.buildProtocol(_BALANCER)
        clientTransport = FakeTransport(client, False, _BALANCER, _LISTENER)
        clientTransport.write(first)
        pump: IOPump = connect(
            self.protocol,
            self.transport,
            client,
            clientTransport,
            greet=False,
            clock=self.clock,
        )
        pump.flush()
        return pump

    def built(self) -> _Handshaking:
        [built] = self.factory.built
        assert isinstance(built, _Handshaking)
        return built

    def client(self) -> _Recorder:
        [client] = self.clients.built
        return client

    def test_handshakeCompleted(self) -> None:
        """
        The handshake after the header completes, and the protocol is told
        of it once.
        """
        self.connect()
        self.assertEqual(self.built().handshakes, 1)

    def test_clientNamed(self) -> None:
        """
        The protocol under TLS sees the client the header names.
        """
        self.connect()
        self.assertEqual(self.built().peers, [_CLIENT])

    def test_dataDecrypted(self) -> None:
        """
        What the client sends over TLS reaches the protocol decrypted.
        """
        pump = self.connect()
        transport = self.client().transport
        assert transport is not None
        transport.write(b"hello")
        pump.flush()
        self.assertEqual(b"".join(self.built().received), b"hello")

    def test_replyEncrypted(self) -> None:
        """
        What the protocol writes reaches the client over TLS.
        """
        pump = self.connect()
        transport = self.built().transport
        assert transport is not None
        transport.write(b"reply")
        pump.flush()
        self.assertEqual(b"".join(self.client().received), b"reply")

    def test_localThenTLS(self) -> None:
        """
        After a v2 C{LOCAL} header, the handshake builds the protocol (for
        the balancer), and completes.
        """
        self.connect(_LOCAL)
        self.assertEqual(
            (self.built().peers, self.built().handshakes), ([_BALANCER], 1)
        )

    def test_headerInsideTLSCloses(self) -> None:
        """
        A client whose handshake comes first (a header inside TLS, as
        Twisted's C{haproxy:ssl:} expected) is closed, and no protocol is
        built.
        """
        self.connect(b"")
        self.assertEqual(
            (self.transport.disconnected, self.factory.addresses), (True, [])
        )

    def test_refusedAborts(self) -> None:
        """
        A client the wrapped factory refuses (no protocol) is aborted
        without a handshake.
        """
        self.connect(factory=_Factory(None))
        self.assertEqual(
            (self.transport.disconnected, self.clients.built[0].lost != []),
            (True, True),
        )

    def test_halfCloseCloses(self) -> None:
        """
        The peer's half-close under TLS closes the connection (as on an
        C{ssl:} listener), even for a protocol that takes half-closes.
        """
        factory = _Factory(_HalfCloseable)
        pump = self.connect(factory=factory)
        self.protocol.readConnectionLost()
        pump.flush()
        [built] = factory.built
        assert isinstance(built, _HalfCloseable)
        self.assertEqual((built.halfClosed, len(built.lost)), ([], 1))

    def test_backpressureAfterHandshake(self) -> None:
        """
        A counting protocol (echo) registers for backpressure on the
        socket's transport once the handshake is done.
        """
        self.connect(factory=self.echo())
        self.assertIsNotNone(self.transport.producer)

    def test_noBackpressureBeforeHandshake(self) -> None:
        """
        Before the handshake, a counting protocol (echo) has not registered
        for backpressure, which would stall the handshake.
        """
        self.server(self.echo())
        self.protocol.makeConnection(self.transport)
        self.protocol.dataReceived(_V1)
        self.assertIsNone(self.transport.producer)

    def test_echoLetIn(self) -> None:
        """
        A guarded listener lets the client in once, and echoes under TLS.
        """
        pump = self.connect(factory=self.echo())
        transport = self.client().transport
        assert transport is not None
        transport.write(b"ping\n")
        pump.flush()
        self.assertEqual(
            (b"".join(self.client().received), self.guard.accepted),
            (b"ping\n", 1),
        )

    def echo(self) -> GuardedFactory:
        """
        A guarded echo listener's factory.
        """
        info = ListenerInfo(
            "haproxy:ssl:8443",
            TransportKind.STREAM,
            "echo",
            self.clock,
            ListenerLimits(),
        )
        self.guard = ConnectionGuard(self.clock, "haproxy:ssl:8443", info.limits)
        return GuardedFactory(buildStreamFactory(info), self.guard, True)


class ProxyCountersTests(SynchronousTestCase):
    """
    What a listener behind L{ProxyHeaderFactory} counts: the client's
    connection and its bytes, not the balancer's framing.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()

    def factory(self, **limits: Any) -> ProxyHeaderFactory:
        info = ListenerInfo(
            "haproxy:tcp:8888",
            TransportKind.STREAM,
            "echo",
            self.clock,
            ListenerLimits(**limits),
        )
        self.guard = ConnectionGuard(self.clock, "haproxy:tcp:8888", info.limits)
        return ProxyHeaderFactory(
            GuardedFactory(buildStreamFactory(info), self.guard, True), self.clock
        )

    def connect(
        self, factory: ProxyHeaderFactory
    ) -> tuple[ProxyHeaderProtocol, StringTransportWithDisconnection]:
        return _connectFromBalancer(factory)

    def test_headerNotCounted(self) -> None:
        """
        The header's bytes are not counted as the client's; what comes
        with it and after it is.
        """
        protocol, transport = self.connect(self.factory())
        protocol.dataReceived(_V1 + b"ping")
        protocol.dataReceived(b"hello")
        transport.loseConnection()
        counters = self.guard.counters
        self.assertEqual((counters.bytesIn, counters.bytesOut), (9, 9))

    def test_openTraffic(self) -> None:
        """
        A connection open after its header counts the client's bytes so
        far.
        """
        protocol, _ = self.connect(self.factory())
        protocol.dataReceived(_V1 + b"ping")
        self.assertEqual(self.guard.openTraffic(), (4, 4))

    def test_waitingNoTraffic(self) -> None:
        """
        A connection waiting for its header has moved no bytes of its own.
        """
        protocol, _ = self.connect(self.factory())
        protocol.dataReceived(_V1[:10])
        self.assertEqual(self.guard.openTraffic(), (0, 0))

    def test_closedOnce(self) -> None:
        """
        A client's connection that closes is let in once, and counted
        closed once.
        """
        protocol, transport = self.connect(self.factory())
        protocol.dataReceived(_V1 + b"ping")
        transport.loseConnection()
        counters = self.guard.counters
        self.assertEqual(
            (counters.accepted, self.guard.openConnections, counters.bytesIn),
            (1, 0, 4),
        )

    def test_clientRefusedForAccess(self) -> None:
        """
        A client the access lists refuse, named by its header, is counted
        as refused for access, not for its header, and not let in.
        """
        protocol, _ = self.connect(
            self.factory(access=AccessList.parse("10.0.0.0/8", None))
        )
        protocol.dataReceived(_V1)
        counters = self.guard.counters
        self.assertEqual(
            (counters.refused["access"], counters.refused["proxy"], counters.accepted),
            (1, 0, 0),
        )

    def test_lostWhileWaiting(self) -> None:
        """
        A connection lost uncleanly while waiting for its header is counted
        as lost.
        """
        protocol, _ = self.connect(self.factory())
        protocol.connectionLost(Failure(ConnectionLost("reset")))
        self.assertEqual(
            self.guard.counters.errors, {"lost": 1, "tls": 0, "protocol": 0}
        )

    def test_badHeaderNoError(self) -> None:
        """
        A connection closed for its bad header is a refusal, not an error.
        """
        protocol, _ = self.connect(self.factory())
        protocol.dataReceived(b"PROXY TCP4 1.2.3.4 5.6.7.8 abc 80\r\n")
        self.assertEqual(
            (self.guard.counters.errors, self.guard.openConnections),
            ({"lost": 0, "tls": 0, "protocol": 0}, 0),
        )

    def test_refusedWaitingNotCounted(self) -> None:
        """
        A balancer's connection refused past C{maxconn} is counted as
        refused for C{maxconn}, not let in.
        """
        factory = self.factory(maxConnections=1)
        self.connect(factory)
        self.assertIsNone(factory.buildProtocol(_BALANCER))
        counters = self.guard.counters
        self.assertEqual((counters.refused["maxconn"], counters.accepted), (1, 0))
