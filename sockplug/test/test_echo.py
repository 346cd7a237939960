"""
Tests for L{sockplug.protocols.echo}.
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address, UNIXAddress
from twisted.internet.interfaces import IProtocol
from twisted.internet.protocol import Protocol
from twisted.test.iosim import FakeTransport, connectedServerAndClient
from twisted.trial.unittest import SynchronousTestCase

from sockplug.plugin import TransportKind
from sockplug.plugins.sockplug_builtins import echoProtocol
from sockplug.protocols.echo import Echo, EchoDatagram
from sockplug.testing import connectDatagram, connectStream, listenerInfo


class _Client(Protocol):
    """
    Sends its message on connecting, and collects what comes back.
    """

    def __init__(self, message: bytes) -> None:
        self.message = message
        self.received = b""

    def connectionMade(self) -> None:
        self.transport.write(self.message)  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        self.received += data


class EchoStreamTests(SynchronousTestCase):
    """
    Tests for L{Echo}, built through the C{echo} plugin.
    """

    def test_builds(self) -> None:
        """
        The plugin's stream factory builds L{Echo} protocols.
        """
        protocol, _ = connectStream(echoProtocol)
        self.assertIsInstance(protocol, Echo)

    def test_noGreeting(self) -> None:
        """
        Nothing is sent before the peer sends.
        """
        _, transport = connectStream(echoProtocol)
        self.assertEqual(transport.value(), b"")

    def test_echo(self) -> None:
        """
        What is received is sent back.
        """
        protocol, transport = connectStream(echoProtocol)
        protocol.dataReceived(b"hello\n")
        self.assertEqual(transport.value(), b"hello\n")

    def test_everyByte(self) -> None:
        """
        Every byte value comes back unchanged: no line handling, no
        decoding.
        """
        protocol, transport = connectStream(echoProtocol)
        data = bytes(range(256))
        protocol.dataReceived(data)
        self.assertEqual(transport.value(), data)

    def test_chunksInOrder(self) -> None:
        """
        Data received over several reads comes back whole and in order.
        """
        protocol, transport = connectStream(echoProtocol)
        data = bytes(range(256)) * 4
        for start in range(0, len(data), 100):
            protocol.dataReceived(data[start : start + 100])
        self.assertEqual(transport.value(), data)

    def test_echoedAtOnce(self) -> None:
        """
        Each read is sent back as it arrives, not held for a line end.
        """
        protocol, transport = connectStream(echoProtocol)
        protocol.dataReceived(b"no line end")
        self.assertEqual(transport.value(), b"no line end")

    def test_stayOpen(self) -> None:
        """
        Echoing does not close the connection.
        """
        protocol, transport = connectStream(echoProtocol)
        protocol.dataReceived(b"\x00\xff\n" * 10)
        self.assertTrue(transport.connected)

    def test_unixPeer(self) -> None:
        """
        An unbound UNIX peer is echoed to like any other.
        """
        protocol, transport = connectStream(
            echoProtocol, "unix:/tmp/echo.sock", peer=UNIXAddress(None)
        )
        protocol.dataReceived(b"hi")
        self.assertEqual(transport.value(), b"hi")

    def test_roundTrip(self) -> None:
        """
        A client connected to the echo server gets back what it sent.
        """
        factory = echoProtocol.buildStreamFactory(listenerInfo())
        peer = IPv4Address("TCP", "127.0.0.1", 53422)
        message = bytes(range(256)) * 3

        def server() -> IProtocol:
            protocol = factory.buildProtocol(peer)
            assert protocol is not None
            return protocol

        client, _, pump = connectedServerAndClient(
            server,
            lambda: _Client(message),
            serverTransportFactory=lambda p: FakeTransport(
                p, isServer=True, peerAddress=peer
            ),
        )
        pump.flush()
        self.assertEqual(client.received, message)


class EchoDatagramTests(SynchronousTestCase):
    """
    Tests for L{EchoDatagram}, built through the C{echo} plugin.
    """

    def setUp(self) -> None:
        protocol = echoProtocol.buildDatagramProtocol(
            listenerInfo("udp:7", TransportKind.DATAGRAM)
        )
        assert isinstance(protocol, EchoDatagram)
        self.protocol = protocol
        self.transport = connectDatagram(self.protocol)

    def test_echo(self) -> None:
        """
        A datagram is sent back, unchanged, to its sender.
        """
        self.protocol.datagramReceived(bytes(range(256)), ("127.0.0.1", 5000))
        self.assertEqual(
            self.transport.written, [(bytes(range(256)), ("127.0.0.1", 5000))]
        )

    def test_eachSender(self) -> None:
        """
        Each datagram goes back to its own sender, in order.
        """
        self.protocol.datagramReceived(b"one", ("127.0.0.1", 5000))
        self.protocol.datagramReceived(b"two", ("::1", 5001, 0, 0))
        self.protocol.datagramReceived(b"three", "/tmp/client.sock")
        self.assertEqual(
            self.transport.written,
            [
                (b"one", ("127.0.0.1", 5000)),
                (b"two", ("::1", 5001, 0, 0)),
                (b"three", "/tmp/client.sock"),
            ],
        )

    def test_emptyDatagram(self) -> None:
        """
        An empty datagram is echoed as an empty datagram.
        """
        self.protocol.datagramReceived(b"", ("127.0.0.1", 5000))
        self.assertEqual(self.transport.written, [(b"", ("127.0.0.1", 5000))])

    def test_counted(self) -> None:
        """
        Datagrams in and out are counted.
        """
        self.protocol.datagramReceived(b"abc", ("127.0.0.1", 5000))
        self.assertEqual(
            (
                self.protocol.datagramsIn,
                self.protocol.bytesIn,
                self.protocol.datagramsOut,
                self.protocol.bytesOut,
            ),
            (1, 3, 1, 3),
        )

    def test_unboundUNIXSender(self) -> None:
        """
        A datagram from an unbound UNIX sender is not echoed: there is no
        address to send it to.
        """
        self.protocol.datagramReceived(b"hi", None)
        self.protocol.datagramReceived(b"hi", "")
        self.assertEqual(self.transport.written, [])

    def test_unboundUNIXSenderCounted(self) -> None:
        """
        A datagram from an unbound UNIX sender is still counted as received.
        """
        self.protocol.datagramReceived(b"hi", None)
        self.assertEqual(
            (self.protocol.datagramsIn, self.protocol.datagramsOut), (1, 0)
        )
