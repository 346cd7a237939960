"""
Tests for L{sockplug.testing}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address, UNIXAddress
from twisted.internet.interfaces import (
    IListeningPort,
    IReactorTime,
    IReactorUDP,
    IUDPTransport,
)
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from sockplug.interfaces import IListenerInfo
from sockplug.plugin import ListenerInfo, ProtocolPlugin, TransportKind
from sockplug.plugins.sockplug_builtins import echoProtocol
from sockplug.testing import (
    MemoryDatagramReactor,
    MemoryDatagramTransport,
    connectDatagram,
    connectStream,
    listenerInfo,
)


class _Recorder(DatagramProtocol):
    """
    Records when it starts and stops, and what it receives.
    """

    def __init__(self) -> None:
        self.starts = 0
        self.stops = 0

    def startProtocol(self) -> None:
        self.starts += 1

    def stopProtocol(self) -> None:
        self.stops += 1


class _Upper(Protocol):
    """
    Sends back what it receives, upper-cased.
    """

    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data.upper())  # type: ignore[union-attr]


class MemoryDatagramTransportTests(SynchronousTestCase):
    """
    Tests for L{MemoryDatagramTransport}.
    """

    def test_interfaces(self) -> None:
        """
        The transport provides L{IUDPTransport} and L{IListeningPort}.
        """
        transport = MemoryDatagramTransport()
        self.assertTrue(verifyObject(IUDPTransport, transport))
        self.assertTrue(verifyObject(IListeningPort, transport))

    def test_defaultHost(self) -> None:
        """
        By default the transport is bound to UDP 127.0.0.1:9999.
        """
        self.assertEqual(
            MemoryDatagramTransport().getHost(),
            IPv4Address("UDP", "127.0.0.1", 9999),
        )

    def test_host(self) -> None:
        """
        L{MemoryDatagramTransport.getHost} is the address it was made with.
        """
        transport = MemoryDatagramTransport(host=UNIXAddress("/tmp/d.sock"))
        self.assertEqual(transport.getHost(), UNIXAddress("/tmp/d.sock"))

    def test_recordsWrites(self) -> None:
        """
        Each write is recorded with its address, in order.
        """
        transport = MemoryDatagramTransport()
        transport.write(b"one", ("127.0.0.1", 5000))
        transport.write(b"two", "/tmp/client.sock")
        self.assertEqual(
            transport.written,
            [(b"one", ("127.0.0.1", 5000)), (b"two", "/tmp/client.sock")],
        )

    def test_writesNotShared(self) -> None:
        """
        Each transport has its own record of writes.
        """
        first = MemoryDatagramTransport()
        first.write(b"one", ("127.0.0.1", 5000))
        self.assertEqual(MemoryDatagramTransport().written, [])

    def test_failWith(self) -> None:
        """
        With C{failWith} set, a write raises it and records nothing.
        """
        error = ConnectionRefusedError(111, "Connection refused")
        transport = MemoryDatagramTransport(failWith=error)
        raised = self.assertRaises(
            ConnectionRefusedError, transport.write, b"one", "/tmp/gone.sock"
        )
        self.assertIs(raised, error)
        self.assertEqual(transport.written, [])

    def test_writeWithoutAddressUnconnected(self) -> None:
        """
        A write without an address on an unconnected transport is dropped,
        as a sockplug listener drops it: L{False}, recorded as dropped, not
        as written.
        """
        transport = MemoryDatagramTransport()
        self.assertIs(transport.write(b"one"), False)
        self.assertEqual(transport.written, [])
        self.assertEqual(transport.dropped, [(b"one", None, "unaddressed")])

    def test_writeToUnboundSender(self) -> None:
        """
        A reply to an unbound UNIX datagram sender (its address is L{None},
        or an empty path) is dropped even on a connected transport, and no
        C{failWith} is raised for it.
        """
        transport = MemoryDatagramTransport(
            host=UNIXAddress("/tmp/server.sock"), failWith=ConnectionRefusedError()
        )
        self.assertIs(transport.write(b"one", ""), False)
        transport.failWith = None
        transport.connect("127.0.0.1", 5000)
        self.assertIs(transport.write(b"two", b""), False)
        self.assertEqual(
            transport.dropped,
            [(b"one", "", "unaddressed"), (b"two", b"", "unaddressed")],
        )
        self.assertEqual(transport.written, [])

    def test_writeReturnsNone(self) -> None:
        """
        A datagram sent is recorded, and C{write} returns L{None}, as
        Twisted's.
        """
        transport = MemoryDatagramTransport()
        self.assertIsNone(transport.write(b"one", ("127.0.0.1", 5000)))

    def test_connectThenWrite(self) -> None:
        """
        After C{connect}, a write without an address goes to the connected
        address.
        """
        transport = MemoryDatagramTransport()
        transport.connect("127.0.0.1", 5000)
        transport.write(b"one")
        self.assertEqual(transport.written, [(b"one", ("127.0.0.1", 5000))])

    def test_listening(self) -> None:
        """
        A new transport is listening.
        """
        self.assertTrue(MemoryDatagramTransport().listening)

    def test_stopListening(self) -> None:
        """
        L{MemoryDatagramTransport.stopListening} stops it, and tells the
        protocol.
        """
        protocol = _Recorder()
        transport = connectDatagram(protocol)
        transport.stopListening()
        self.assertFalse(transport.listening)
        self.assertEqual(protocol.stops, 1)

    def test_stopListeningTwice(self) -> None:
        """
        Stopping twice tells the protocol once.
        """
        protocol = _Recorder()
        transport = connectDatagram(protocol)
        transport.stopListening()
        transport.stopListening()
        self.assertEqual(protocol.stops, 1)

    def test_stopListeningFires(self) -> None:
        """
        L{MemoryDatagramTransport.stopListening} returns a L{Deferred} that
        has fired.
        """
        self.assertIsNone(
            self.successResultOf(MemoryDatagramTransport().stopListening())
        )

    def test_stopListeningWithoutProtocol(self) -> None:
        """
        A transport with no protocol can be stopped.
        """
        transport = MemoryDatagramTransport()
        transport.stopListening()
        self.assertFalse(transport.listening)

    def test_loseConnection(self) -> None:
        """
        L{MemoryDatagramTransport.loseConnection} stops it like
        C{stopListening}.
        """
        protocol = _Recorder()
        transport = connectDatagram(protocol)
        transport.loseConnection()
        self.assertEqual((transport.listening, protocol.stops), (False, 1))

    def test_broadcast(self) -> None:
        """
        Broadcast is off by default, and can be turned on.
        """
        transport = MemoryDatagramTransport()
        self.assertFalse(transport.getBroadcastAllowed())
        transport.setBroadcastAllowed(True)
        self.assertTrue(transport.getBroadcastAllowed())


class ConnectDatagramTests(SynchronousTestCase):
    """
    Tests for L{connectDatagram}.
    """

    def test_starts(self) -> None:
        """
        The protocol is started, once, on the transport.
        """
        protocol = _Recorder()
        transport = connectDatagram(protocol)
        self.assertIs(protocol.transport, transport)
        self.assertEqual(protocol.starts, 1)

    def test_transportKnowsProtocol(self) -> None:
        """
        The transport knows its protocol, to stop it.
        """
        protocol = _Recorder()
        self.assertIs(connectDatagram(protocol).protocol, protocol)

    def test_givenTransport(self) -> None:
        """
        A given transport is used.
        """
        transport = MemoryDatagramTransport(host=UNIXAddress("/tmp/d.sock"))
        self.assertIs(connectDatagram(_Recorder(), transport), transport)


class MemoryDatagramReactorTests(SynchronousTestCase):
    """
    Tests for L{MemoryDatagramReactor}.
    """

    def test_interfaces(self) -> None:
        """
        The reactor provides L{IReactorUDP} and L{IReactorTime}.
        """
        reactor = MemoryDatagramReactor()
        self.assertTrue(verifyObject(IReactorUDP, reactor))
        self.assertTrue(verifyObject(IReactorTime, reactor))

    def test_listenUDPRecorded(self) -> None:
        """
        L{MemoryDatagramReactor.listenUDP} records its arguments and the
        transport it returns.
        """
        reactor = MemoryDatagramReactor()
        protocol = _Recorder()
        transport = reactor.listenUDP(5353, protocol, "127.0.0.1", 1500)
        self.assertEqual(
            reactor.udpPorts, [(5353, protocol, "127.0.0.1", 1500, transport)]
        )

    def test_listenUDPStarts(self) -> None:
        """
        L{MemoryDatagramReactor.listenUDP} starts the protocol on the
        transport it returns.
        """
        protocol = _Recorder()
        transport = MemoryDatagramReactor().listenUDP(5353, protocol)
        self.assertIs(protocol.transport, transport)
        self.assertEqual(protocol.starts, 1)

    def test_listenUDPHost(self) -> None:
        """
        The UDP transport is bound to the interface and port asked for.
        """
        transport = MemoryDatagramReactor().listenUDP(5353, _Recorder(), "10.0.0.1")
        self.assertEqual(transport.getHost(), IPv4Address("UDP", "10.0.0.1", 5353))

    def test_listenUDPDefaults(self) -> None:
        """
        With no interface and port 0, the UDP transport is bound to
        C{0.0.0.0} and a port picked for it.
        """
        reactor = MemoryDatagramReactor()
        transport = reactor.listenUDP(0, _Recorder())
        host = transport.getHost()
        self.assertEqual(host.host, "0.0.0.0")
        self.assertNotEqual(host.port, 0)
        self.assertEqual(reactor.udpPorts[0][2:4], ("", 8192))

    def test_listenUNIXDatagramRecorded(self) -> None:
        """
        L{MemoryDatagramReactor.listenUNIXDatagram} records its arguments and
        the transport it returns.
        """
        reactor = MemoryDatagramReactor()
        protocol = _Recorder()
        transport = reactor.listenUNIXDatagram("/tmp/d.sock", protocol, 4096, 0o600)
        self.assertEqual(
            reactor.unixDatagramPorts,
            [("/tmp/d.sock", protocol, 4096, 0o600, transport)],
        )

    def test_listenUNIXDatagramDefaults(self) -> None:
        """
        L{MemoryDatagramReactor.listenUNIXDatagram} records the default
        packet size and mode when none are given.
        """
        reactor = MemoryDatagramReactor()
        reactor.listenUNIXDatagram("/tmp/d.sock", _Recorder())
        self.assertEqual(reactor.unixDatagramPorts[0][2:4], (8192, 0o666))

    def test_listenUNIXDatagramStarts(self) -> None:
        """
        L{MemoryDatagramReactor.listenUNIXDatagram} starts the protocol on a
        transport bound to the path.
        """
        protocol = _Recorder()
        transport = MemoryDatagramReactor().listenUNIXDatagram("/tmp/d.sock", protocol)
        self.assertIs(protocol.transport, transport)
        self.assertEqual(protocol.starts, 1)
        self.assertEqual(transport.getHost(), UNIXAddress("/tmp/d.sock"))

    def test_stopStopsProtocol(self) -> None:
        """
        Stopping a port the reactor made stops its protocol.
        """
        protocol = _Recorder()
        transport = MemoryDatagramReactor().listenUDP(5353, protocol)
        transport.stopListening()
        self.assertEqual(protocol.stops, 1)

    def test_clock(self) -> None:
        """
        The reactor's time is a fake clock, moved by C{advance}.
        """
        reactor = MemoryDatagramReactor()
        reactor.advance(3)
        self.assertEqual(reactor.seconds(), 3)


class ListenerInfoTests(SynchronousTestCase):
    """
    Tests for L{listenerInfo}.
    """

    def test_defaults(self) -> None:
        """
        By default the listener is a stream one on C{tcp:8888}, for a
        protocol called C{test}, with a L{MemoryDatagramReactor}.
        """
        info = listenerInfo()
        self.assertEqual(
            (info.description, info.kind, info.protocolName),
            ("tcp:8888", TransportKind.STREAM, "test"),
        )
        self.assertIsInstance(info.reactor, MemoryDatagramReactor)

    def test_given(self) -> None:
        """
        The given description, kind, protocol name and reactor are used.
        """
        reactor = MemoryReactorClock()
        info = listenerInfo("udp:53", TransportKind.DATAGRAM, "dns", reactor)
        self.assertEqual(
            info, ListenerInfo("udp:53", TransportKind.DATAGRAM, "dns", reactor)
        )
        self.assertIs(info.reactor, reactor)

    def test_reactorsNotShared(self) -> None:
        """
        Each listener gets its own reactor, so tests cannot see each other's
        time or ports.
        """
        self.assertIsNot(listenerInfo().reactor, listenerInfo().reactor)


class ConnectStreamTests(SynchronousTestCase):
    """
    Tests for L{connectStream}.
    """

    def _plugin(self, seen: list[IListenerInfo]) -> ProtocolPlugin:
        def build(listener: IListenerInfo) -> Factory:
            seen.append(listener)
            return Factory.forProtocol(_Upper)

        return ProtocolPlugin(name="upper", description="Upper-cases.", stream=build)

    def test_connected(self) -> None:
        """
        The protocol is connected to the transport returned, which is open.
        """
        protocol, transport = connectStream(self._plugin([]))
        self.assertIs(protocol.transport, transport)
        self.assertTrue(transport.connected)

    def test_output(self) -> None:
        """
        What the protocol sends is in C{transport.value()}.
        """
        protocol, transport = connectStream(self._plugin([]))
        protocol.dataReceived(b"hello")
        protocol.dataReceived(b" world")
        self.assertEqual(transport.value(), b"HELLO WORLD")

    def test_listener(self) -> None:
        """
        The plugin's factory is built for a stream listener with the given
        description, the plugin's name and the given reactor.
        """
        seen: list[IListenerInfo] = []
        reactor = MemoryReactorClock()
        connectStream(self._plugin(seen), "tcp:2000", reactor=reactor)
        self.assertEqual(
            seen, [ListenerInfo("tcp:2000", TransportKind.STREAM, "upper", reactor)]
        )
        self.assertIs(seen[0].reactor, reactor)

    def test_defaultPeer(self) -> None:
        """
        By default the peer is 127.0.0.1:53422.
        """
        _, transport = connectStream(self._plugin([]))
        self.assertEqual(transport.getPeer(), IPv4Address("TCP", "127.0.0.1", 53422))

    def test_peer(self) -> None:
        """
        The given peer is the transport's peer, as the protocol sees it.
        """
        protocol, _ = connectStream(echoProtocol, peer=UNIXAddress(None))
        self.assertEqual(protocol.peer, "(unbound)")

    def test_loseConnection(self) -> None:
        """
        Closing the transport tells the protocol the connection is lost.
        """
        reasons: list[Any] = []
        protocol, transport = connectStream(self._plugin([]))
        protocol.connectionLost = reasons.append
        transport.loseConnection()
        self.assertFalse(transport.connected)
        self.assertEqual(len(reasons), 1)

    def test_refused(self) -> None:
        """
        A factory that refuses the connection is reported with the plugin's
        name.
        """

        class Refusing(Factory):
            def buildProtocol(self, addr: Any) -> None:
                return None

        plugin = ProtocolPlugin(
            name="refuse", description="Refuses.", stream=lambda info: Refusing()
        )
        error = self.assertRaises(AssertionError, connectStream, plugin)
        self.assertIn("refuse", str(error))
