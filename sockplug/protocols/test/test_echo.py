"""
Tests for L{sockplug.protocols.echo}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address, UNIXAddress
from twisted.internet.interfaces import IProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock
from twisted.logger import formatEvent, globalLogPublisher
from twisted.test.iosim import FakeTransport, connectedServerAndClient
from twisted.trial.unittest import SynchronousTestCase

from sockplug.defences._datagramguard import DatagramGuard
from sockplug.options._limits import ListenerLimits
from sockplug.plugin import TransportKind
from sockplug.plugins.sockplug_builtins import echoProtocol
from sockplug.protocols.echo import Echo, EchoDatagram
from sockplug.testing import (
    MemoryDatagramTransport,
    connectDatagram,
    connectStream,
    listenerInfo,
)


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


class _Failing(MemoryDatagramTransport):
    """
    A port's transport that fails to send to some addresses: with an
    C{OSError} to C{"192.0.2.9"}, and a C{TypeError} to C{"bad"}.
    """

    def write(self, packet: bytes, addr: Any = None) -> None:
        if addr[0] == "192.0.2.9":
            raise OSError(101, "Network is unreachable")
        if addr[0] == "bad":
            raise TypeError("not an address")
        MemoryDatagramTransport.write(self, packet, addr)


class EchoDatagramBatchTests(SynchronousTestCase):
    """
    Tests for L{EchoDatagram.datagramsReceived}: datagrams a port read in
    one go, echoed in one go (with L{CountingDatagramProtocol.replyTo}).
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.events = EventLoggingObserver.createWithCleanup(
            self,  # type: ignore[arg-type]
            globalLogPublisher,
        )

    def echo(
        self, guarded: bool = True, transport: MemoryDatagramTransport | None = None
    ) -> tuple[EchoDatagram, MemoryDatagramTransport, DatagramGuard | None]:
        """
        An echo protocol, behind a guard unless told otherwise, on an
        in-memory port.
        """
        limits = ListenerLimits(replyBurst=3, replyRate=1.0)
        info = listenerInfo("udp:7", TransportKind.DATAGRAM, reactor=self.clock)
        protocol = EchoDatagram(info)
        port = transport or MemoryDatagramTransport()
        if not guarded:
            connectDatagram(protocol, port)
            return protocol, port, None
        guard = DatagramGuard(self.clock, "udp:7", limits, protocol)
        connectDatagram(guard, port)
        return protocol, port, guard

    def counts(self, protocol: EchoDatagram) -> tuple[int, int, int, int]:
        return (
            protocol.datagramsIn,
            protocol.bytesIn,
            protocol.datagramsOut,
            protocol.bytesOut,
        )

    def test_echoed(self) -> None:
        """
        Each datagram goes back to its sender, in order, and is counted.
        """
        protocol, port, guard = self.echo()
        assert guard is not None
        batch = [(b"a", ("192.0.2.1", 5)), (b"bb", ("192.0.2.2", 6))]
        guard.datagramsReceived(batch)
        self.assertEqual(port.written, batch)
        self.assertEqual(self.counts(protocol), (2, 3, 2, 3))

    def test_withoutGuard(self) -> None:
        """
        On a transport without C{writeReplies}, each is echoed as
        C{datagramReceived} echoes it.
        """
        protocol, port, _ = self.echo(guarded=False)
        batch = [(b"a", ("192.0.2.1", 5)), (b"bb", ("192.0.2.2", 6)), (b"c", None)]
        protocol.datagramsReceived(batch)
        self.assertEqual(port.written, batch[:2])
        self.assertEqual(self.counts(protocol), (3, 4, 2, 3))

    def test_unbound(self) -> None:
        """
        A datagram from an unbound UNIX sender is counted, not echoed, and
        logged.
        """
        protocol, port, guard = self.echo()
        assert guard is not None
        guard.datagramsReceived([(b"a", None), (b"b", "/tmp/c")])
        self.assertEqual(port.written, [(b"b", "/tmp/c")])
        self.assertEqual(self.counts(protocol), (2, 2, 1, 1))
        self.assertEqual(len(self.texts("not replying to an unbound")), 1)

    def test_dropped(self) -> None:
        """
        Replies the guard drops are not counted as sent.
        """
        protocol, port, guard = self.echo()
        assert guard is not None
        guard.datagramsReceived([(b"x", ("192.0.2.1", 5))] * 5)
        self.assertEqual(len(port.written), 3)
        self.assertEqual(self.counts(protocol), (5, 5, 3, 3))

    def test_failed(self) -> None:
        """
        A reply that fails to go is logged, and not counted as sent; the
        others go.
        """
        protocol, port, guard = self.echo(transport=_Failing())
        assert guard is not None
        guard.datagramsReceived(
            [
                (b"a", ("192.0.2.1", 5)),
                (b"b", ("192.0.2.9", 5)),
                (b"c", ("192.0.2.1", 5)),
            ]
        )
        self.assertEqual([d for d, _ in port.written], [b"a", b"c"])
        self.assertEqual(self.counts(protocol), (3, 3, 2, 2))
        self.assertEqual(len(self.texts("reply to 192.0.2.9:5 failed")), 1)

    def test_unexpectedRaised(self) -> None:
        """
        An error L{CountingDatagramProtocol.reply} would raise is raised once
        the other replies are sent and counted.
        """
        protocol, port, guard = self.echo(transport=_Failing())
        assert guard is not None
        self.assertRaises(
            TypeError,
            guard.datagramsReceived,
            [(b"a", ("bad", 5)), (b"b", ("192.0.2.1", 5))],
        )
        self.assertEqual(port.written, [(b"b", ("192.0.2.1", 5))])
        self.assertEqual(self.counts(protocol), (2, 2, 1, 1))

    def test_sameAsOneByOne(self) -> None:
        """
        A batch leaves the same replies, counts and drops as the same
        datagrams handed over one at a time.
        """
        batch = [
            (b"a", ("192.0.2.1", 5)),
            (b"bb", ("192.0.2.1", 7)),
            (b"c", ("192.0.2.9", 5)),
            (b"d", None),
            (b"ee", ("2001:db8::1", 5)),
        ] * 3
        results = []
        for batched in (True, False):
            protocol, port, guard = self.echo(transport=_Failing())
            assert guard is not None
            if batched:
                guard.datagramsReceived(batch)
            else:
                for datagram, addr in batch:
                    guard.datagramReceived(datagram, addr)
            results.append(
                (
                    port.written,
                    self.counts(protocol),
                    guard.counters.datagramsOut,
                    guard.counters.bytesOut,
                    dict(guard.counters.dropped),
                    dict(guard.counters.errors),
                )
            )
        self.assertEqual(results[0], results[1])

    def texts(self, containing: str) -> list[str]:
        return [
            text
            for text in (formatEvent(event) for event in self.events)
            if containing in text
        ]
