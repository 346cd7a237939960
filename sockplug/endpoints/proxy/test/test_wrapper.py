"""
Tests for L{sockplug.endpoints.proxy._wrapper}: how a L{ProxyHeaderProtocol}
reads the PROXY header, builds the protocol for the client it names, and
waits for the header no longer than L{HEADER_TIMEOUT}.
"""

from __future__ import annotations

import socket
import struct

from twisted.internet.address import IPv6Address
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.task import Clock
from twisted.internet.testing import (
    EventLoggingObserver,
    StringTransport,
    StringTransportWithDisconnection,
)
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from sockplug.endpoints.proxy._wrapper import (
    HEADER_TIMEOUT,
    ProxyHeaderFactory,
    ProxyHeaderProtocol,
)
from sockplug.testing._proxy import BALANCER as _BALANCER
from sockplug.testing._proxy import CLIENT as _CLIENT
from sockplug.testing._proxy import LISTENER as _LISTENER
from sockplug.testing._proxy import LOCAL as _LOCAL
from sockplug.testing._proxy import SERVER as _SERVER
from sockplug.testing._proxy import V1 as _V1
from sockplug.testing._proxy import V1_IPV6 as _V1_IPV6
from sockplug.testing._proxy import V2 as _V2
from sockplug.testing._proxy import V2_IPV6 as _V2_IPV6
from sockplug.testing._proxy import V2_PROXY as _V2_PROXY
from sockplug.testing._proxy import V2_TCP4 as _V2_TCP4
from sockplug.testing._proxy import V2_UNSPEC as _V2_UNSPEC
from sockplug.testing._proxy import Aborting as _Aborting
from sockplug.testing._proxy import HalfCloseable as _HalfCloseable
from sockplug.testing._proxy import Recorder as _Recorder
from sockplug.testing._proxy import RecordingFactory as _Factory
from sockplug.testing._proxy import v2 as _v2
from sockplug.testing._proxy import v2Addresses as _v2Addresses


class _CannotAbort(StringTransportWithDisconnection):
    """
    A transport without C{abortConnection}, as Twisted's StandardIO.
    """

    @property
    def abortConnection(self) -> None:  # type: ignore[override]
        raise AttributeError("abortConnection")


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

    def test_nonHeaderClosesWithoutAbort(self) -> None:
        """
        A transport that cannot abort (StandardIO, under C{haproxy:stdio:})
        is closed as it can when what comes is no header.
        """
        protocol, transport = self._connect(_CannotAbort(_LISTENER, _BALANCER))
        protocol.dataReceived(b"garbage\n")
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
