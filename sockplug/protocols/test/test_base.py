"""
Tests for L{sockplug.protocols.base}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.testing import (
    EventLoggingObserver,
    MemoryReactorClock,
    StringTransport,
)
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from sockplug.defences import ConnectionGuard
from sockplug.logs import RATE_LIMITED
from sockplug.options import ListenerLimits
from sockplug.plugins.sockplug_builtins import echoProtocol, helloProtocol
from sockplug.protocols.base import (
    CountingProtocol,
    ListenerFactory,
)
from sockplug.protocols.echo import Echo
from sockplug.testing import (
    connectStream,
    listenerInfo,
)
from sockplug.testing._logs import loggedBy


class ListenerFactoryTests(SynchronousTestCase):
    """
    Tests for L{ListenerFactory}.
    """

    def test_buildsProtocolWithListener(self) -> None:
        """
        The factory builds its protocol class, which finds the listener it
        was built for as C{listener}.
        """
        info = listenerInfo("tcp:1234")
        protocol = ListenerFactory(Echo, info).buildProtocol(
            IPv4Address("TCP", "127.0.0.1", 1)
        )
        self.assertIsInstance(protocol, Echo)
        assert isinstance(protocol, Echo)
        self.assertIs(protocol.listener, info)

    def test_quiet(self) -> None:
        """
        The factory does not log its own start and stop: the service logs
        each listener already.
        """
        self.assertFalse(ListenerFactory(Echo, listenerInfo()).noisy)


class CountingProtocolTests(SynchronousTestCase):
    """
    Tests for L{CountingProtocol}, through the echo protocol.
    """

    def setUp(self) -> None:
        self.events = EventLoggingObserver.createWithCleanup(
            self,  # type: ignore[arg-type]
            globalLogPublisher,
        )
        self.clock = MemoryReactorClock()

    def _connect(self, **kwargs: Any) -> tuple[Any, Any]:
        return connectStream(echoProtocol, reactor=self.clock, **kwargs)

    def _texts(self, protocol: object) -> list[str]:
        return [formatEvent(event) for event in loggedBy(self.events, protocol)]

    def test_attributesSetAtConstruction(self) -> None:
        """
        Every attribute a connection sets in its life (connecting, reading,
        writing, pausing, closing) is set when the protocol is made, so
        that connections share one table of attribute names.
        """
        protocol, _ = self._connect()
        names = set(vars(Echo()))
        protocol.dataReceived(b"abc")
        protocol.pauseProducing()
        protocol.resumeProducing()
        protocol.closeGently()
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(set(vars(protocol)) - names, set())

    def test_countsBytesIn(self) -> None:
        """
        C{bytesIn} adds up the bytes of every read.
        """
        protocol, _ = self._connect()
        protocol.dataReceived(b"abc")
        protocol.dataReceived(b"de")
        self.assertEqual(protocol.bytesIn, 5)

    def test_sendWritesAndCounts(self) -> None:
        """
        L{CountingProtocol.send} writes to the transport and adds to
        C{bytesOut}.
        """
        protocol, transport = self._connect()
        protocol.send(b"abc")
        protocol.send(b"de")
        self.assertEqual((transport.value(), protocol.bytesOut), (b"abcde", 5))

    def test_countsGreeting(self) -> None:
        """
        What a protocol sends on connecting (hello's greeting) is counted.
        """
        protocol, transport = connectStream(helloProtocol)
        self.assertEqual(protocol.bytesOut, len(transport.value()))
        self.assertNotEqual(protocol.bytesOut, 0)

    def test_countsStartAtZero(self) -> None:
        """
        A new connection has counted nothing, even after another one has.
        """
        first, _ = self._connect()
        first.dataReceived(b"abc")
        second, _ = self._connect()
        self.assertEqual((second.bytesIn, second.bytesOut), (0, 0))

    def test_peer(self) -> None:
        """
        C{peer} is the peer's address, formatted.
        """
        protocol, _ = self._connect(peer=IPv6Address("TCP", "::1", 4000))
        self.assertEqual(protocol.peer, "[::1]:4000")

    def test_unboundUNIXPeer(self) -> None:
        """
        An unbound UNIX peer is C{(unbound)}.
        """
        protocol, _ = self._connect(peer=UNIXAddress(None))
        self.assertEqual(protocol.peer, "(unbound)")

    def test_connectLogged(self) -> None:
        """
        Connecting logs the listener and the peer.
        """
        protocol, _ = self._connect(description="tcp:7777")
        self.assertEqual(self._texts(protocol), ["tcp:7777 127.0.0.1:53422 connected"])

    def test_connectLogFields(self) -> None:
        """
        The connect event carries the listener and peer as fields, for
        observers that filter on them.
        """
        protocol, _ = self._connect(description="tcp:7777")
        [event] = loggedBy(self.events, protocol)
        self.assertEqual(
            (event["listener"], event["peer"]), ("tcp:7777", "127.0.0.1:53422")
        )

    def test_connectLineCounted(self) -> None:
        """
        A line the listener's rate limit admitted is marked as counted
        already, so that the process's limit does not count it again.
        """
        info = listenerInfo("tcp:7777", reactor=self.clock)
        protocol = ListenerFactory(Echo, info).buildProtocol(None)
        assert isinstance(protocol, Echo)
        guard = ConnectionGuard(self.clock, "tcp:7777", ListenerLimits())
        self.addCleanup(guard.stop)
        protocol.guardedBy(guard)
        protocol.makeConnection(
            StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 1))
        )
        [event] = loggedBy(self.events, protocol)
        self.assertIs(event[RATE_LIMITED], True)

    def test_unguardedLineNotCounted(self) -> None:
        """
        A line no listener's limit counted is not marked: the process's
        limit counts it.
        """
        protocol, _ = self._connect()
        [event] = loggedBy(self.events, protocol)
        self.assertNotIn(RATE_LIMITED, event)

    def test_disconnectLogged(self) -> None:
        """
        Disconnecting logs the listener, the peer, the time connected, the
        counts and the reason.
        """
        protocol, transport = self._connect(description="tcp:7777")
        protocol.dataReceived(b"hello")
        transport.loseConnection()
        self.assertEqual(
            self._texts(protocol)[1:],
            [
                "tcp:7777 127.0.0.1:53422 disconnected after 0.000s: 5 bytes in,"
                " 5 bytes out (Connection was closed cleanly: Bye..)"
            ],
        )

    def test_disconnectLogFields(self) -> None:
        """
        The disconnect event carries the counts as fields.
        """
        protocol, transport = self._connect()
        protocol.dataReceived(b"hello")
        protocol.send(b"!")
        transport.loseConnection()
        event = loggedBy(self.events, protocol)[-1]
        self.assertEqual((event["bytesIn"], event["bytesOut"]), (5, 6))

    def test_disconnectReason(self) -> None:
        """
        The disconnect line ends with why the connection closed.
        """
        protocol, _ = self._connect()
        protocol.connectionLost(Failure(ConnectionLost("reset by peer")))
        self.assertEqual(
            loggedBy(self.events, protocol)[-1]["why"],
            "Connection to the other side was lost in a non-clean fashion:"
            " reset by peer.",
        )

    def test_duration(self) -> None:
        """
        The disconnect line gives the time since connecting, by the
        listener's reactor's clock.
        """
        protocol, transport = self._connect()
        self.clock.advance(2.5)
        transport.loseConnection()
        event = loggedBy(self.events, protocol)[-1]
        self.assertEqual(event["seconds"], 2.5)
        self.assertIn(" disconnected after 2.500s: ", formatEvent(event))

    def test_durationFromConnect(self) -> None:
        """
        The time connected starts at the connection, not at the reactor's
        start.
        """
        self.clock.advance(100)
        protocol, transport = self._connect()
        self.clock.advance(1.25)
        transport.loseConnection()
        self.assertEqual(loggedBy(self.events, protocol)[-1]["seconds"], 1.25)

    def test_halfCloseable(self) -> None:
        """
        The protocol is told when the peer ends its side of the connection.
        """
        protocol, _ = self._connect()
        self.assertTrue(IHalfCloseableProtocol.providedBy(protocol))

    def test_readConnectionLostCloses(self) -> None:
        """
        When the peer ends its side, the connection is closed.
        """
        protocol = ListenerFactory(Echo, listenerInfo()).buildProtocol(
            IPv4Address("TCP", "127.0.0.1", 1)
        )
        assert isinstance(protocol, CountingProtocol)
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.readConnectionLost()
        self.assertTrue(transport.disconnecting)

    def test_readConnectionLostKeepsPendingData(self) -> None:
        """
        What was sent before the peer ended its side is still delivered: the
        close is a clean one, after the writes.
        """
        protocol = ListenerFactory(Echo, listenerInfo()).buildProtocol(
            IPv4Address("TCP", "127.0.0.1", 1)
        )
        assert isinstance(protocol, CountingProtocol)
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(b"last words")
        protocol.readConnectionLost()
        self.assertEqual(transport.value(), b"last words")

    def test_writeConnectionLostKeepsOpen(self) -> None:
        """
        When nothing more can be sent, the connection is left open for what
        the peer still sends.
        """
        protocol = ListenerFactory(Echo, listenerInfo()).buildProtocol(
            IPv4Address("TCP", "127.0.0.1", 1)
        )
        assert isinstance(protocol, CountingProtocol)
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.writeConnectionLost()
        self.assertFalse(transport.disconnecting)
