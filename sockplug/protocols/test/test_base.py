"""
Tests for L{sockplug.protocols.base}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.error import ConnectionDone, ConnectionLost, MessageLengthError
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.testing import (
    EventLoggingObserver,
    MemoryReactorClock,
    StringTransport,
)
from twisted.logger import LogEvent, formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from sockplug.plugin import ListenerLimits, TransportKind
from sockplug.plugins.sockplug_builtins import echoProtocol, helloProtocol
from sockplug.protocols.base import (
    CountingDatagramProtocol,
    CountingProtocol,
    ListenerFactory,
)
from sockplug.protocols.echo import Echo
from sockplug.testing import (
    MemoryDatagramReactor,
    MemoryDatagramTransport,
    connectDatagram,
    connectStream,
    listenerInfo,
)


def _logged(events: EventLoggingObserver, source: object) -> list[LogEvent]:
    """
    The events logged by C{source}.
    """
    return [event for event in events if event.get("log_source") is source]


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
        return [formatEvent(event) for event in _logged(self.events, protocol)]

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
        [event] = _logged(self.events, protocol)
        self.assertEqual(
            (event["listener"], event["peer"]), ("tcp:7777", "127.0.0.1:53422")
        )

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
        event = _logged(self.events, protocol)[-1]
        self.assertEqual((event["bytesIn"], event["bytesOut"]), (5, 6))

    def test_disconnectReason(self) -> None:
        """
        The disconnect line ends with why the connection closed.
        """
        protocol, _ = self._connect()
        protocol.connectionLost(Failure(ConnectionLost("reset by peer")))
        self.assertEqual(
            _logged(self.events, protocol)[-1]["why"],
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
        event = _logged(self.events, protocol)[-1]
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
        self.assertEqual(_logged(self.events, protocol)[-1]["seconds"], 1.25)

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


class CountingDatagramProtocolTests(SynchronousTestCase):
    """
    Tests for L{CountingDatagramProtocol}.
    """

    def setUp(self) -> None:
        self.events = EventLoggingObserver.createWithCleanup(
            self,  # type: ignore[arg-type]
            globalLogPublisher,
        )
        self.protocol = CountingDatagramProtocol(
            listenerInfo("udp:9999", TransportKind.DATAGRAM)
        )
        self.transport = connectDatagram(self.protocol, MemoryDatagramTransport())

    def _texts(self) -> list[str]:
        return [formatEvent(event) for event in _logged(self.events, self.protocol)]

    def test_quiet(self) -> None:
        """
        The protocol does not log Twisted's own start and stop lines.
        """
        self.assertFalse(self.protocol.noisy)

    def test_count(self) -> None:
        """
        L{CountingDatagramProtocol.count} adds up datagrams and their bytes.
        """
        self.protocol.count(b"abc")
        self.protocol.count(b"")
        self.assertEqual((self.protocol.datagramsIn, self.protocol.bytesIn), (2, 3))

    def test_reply(self) -> None:
        """
        L{CountingDatagramProtocol.reply} sends the datagram to the address.
        """
        self.protocol.reply(b"pong", ("127.0.0.1", 5000))
        self.assertEqual(self.transport.written, [(b"pong", ("127.0.0.1", 5000))])

    def test_replyCounted(self) -> None:
        """
        Replies are counted, datagrams and bytes.
        """
        self.protocol.reply(b"pong", ("127.0.0.1", 5000))
        self.protocol.reply(b"!", ("127.0.0.1", 5001))
        self.assertEqual((self.protocol.datagramsOut, self.protocol.bytesOut), (2, 5))

    def test_replyToUNIXPath(self) -> None:
        """
        A bound UNIX datagram sender, a path, is replied to.
        """
        self.protocol.reply(b"pong", "/tmp/client.sock")
        self.assertEqual(self.transport.written, [(b"pong", "/tmp/client.sock")])

    def test_noReplyToNone(self) -> None:
        """
        No reply goes to an unbound UNIX datagram sender given as L{None},
        and none is counted.
        """
        self.protocol.reply(b"pong", None)
        self.assertEqual(self.transport.written, [])
        self.assertEqual((self.protocol.datagramsOut, self.protocol.bytesOut), (0, 0))

    def test_noReplyToEmpty(self) -> None:
        """
        No reply goes to an unbound UNIX datagram sender given as C{''}.
        """
        self.protocol.reply(b"pong", "")
        self.assertEqual(self.transport.written, [])

    def test_noReplyToUnboundLogged(self) -> None:
        """
        Not replying to an unbound sender is logged.
        """
        self.protocol.reply(b"pong", None)
        self.assertEqual(
            self._texts(),
            ["udp:9999: not replying to an unbound UNIX datagram sender"],
        )

    def test_noReplyToUnboundRateLimited(self) -> None:
        """
        A flood of unbound senders logs no more lines than the listener's
        C{loglines} allow in a window, then one line summing up the rest.
        """
        reactor = MemoryDatagramReactor()
        protocol = CountingDatagramProtocol(
            listenerInfo(
                "udp:9999",
                TransportKind.DATAGRAM,
                reactor=reactor,
                limits=ListenerLimits(logLines=5),
            )
        )
        connectDatagram(protocol, MemoryDatagramTransport())
        for _ in range(50):
            protocol.reply(b"pong", None)
        reactor.advance(10)
        texts = [formatEvent(e) for e in _logged(self.events, protocol)]
        self.assertEqual(
            (len(texts), texts[-1]),
            (
                6,
                "udp:9999: 45 log lines about unanswerable datagrams held back"
                " in the last 10s (rate limit)",
            ),
        )

    def test_replyToPathNamedLikeUnbound(self) -> None:
        """
        A sender bound to the relative path C{(unbound)} has an address, and
        is replied to: the decision goes by the address, not by how it is
        shown.
        """
        self.protocol.reply(b"pong", "(unbound)")
        self.assertEqual(self.transport.written, [(b"pong", "(unbound)")])

    def test_replyRefused(self) -> None:
        """
        A reply the system refuses (a UNIX sender whose socket is gone) is
        dropped without an exception, and not counted.
        """
        self.transport.failWith = ConnectionRefusedError(111, "Connection refused")
        self.protocol.reply(b"pong", "/tmp/gone.sock")
        self.assertEqual((self.protocol.datagramsOut, self.protocol.bytesOut), (0, 0))

    def test_replyRefusedLogged(self) -> None:
        """
        A refused reply is logged with its address and the error.
        """
        self.transport.failWith = ConnectionRefusedError(111, "Connection refused")
        self.protocol.reply(b"pong", "/tmp/gone.sock")
        self.assertEqual(
            self._texts(),
            [
                "udp:9999: reply to /tmp/gone.sock failed:"
                " [Errno 111] Connection refused"
            ],
        )

    def test_replyOSError(self) -> None:
        """
        Any L{OSError} from the transport drops the reply without an
        exception.
        """
        self.transport.failWith = OSError(105, "No buffer space available")
        self.protocol.reply(b"pong", ("127.0.0.1", 5000))
        self.assertEqual(self.protocol.datagramsOut, 0)

    def test_replyTooLong(self) -> None:
        """
        A reply too long for the transport (L{MessageLengthError}) is dropped
        without an exception, and not counted.
        """
        self.transport.failWith = MessageLengthError("message too long")
        self.protocol.reply(b"x" * 70000, ("127.0.0.1", 5000))
        self.assertEqual((self.protocol.datagramsOut, self.protocol.bytesOut), (0, 0))

    def test_replyTooLongLogged(self) -> None:
        """
        A reply too long for the transport is logged with its address and the
        error.
        """
        self.transport.failWith = MessageLengthError("message too long")
        self.protocol.reply(b"x" * 70000, ("127.0.0.1", 5000))
        self.assertEqual(
            self._texts(),
            [
                "udp:9999: reply to 127.0.0.1:5000 failed:"
                " Message is too long to send: message too long."
            ],
        )

    def test_replyAfterFailure(self) -> None:
        """
        A failed reply does not stop later replies.
        """
        self.transport.failWith = ConnectionRefusedError()
        self.protocol.reply(b"lost", "/tmp/gone.sock")
        self.transport.failWith = None
        self.protocol.reply(b"pong", ("127.0.0.1", 5000))
        self.assertEqual(self.transport.written, [(b"pong", ("127.0.0.1", 5000))])

    def test_stopLogged(self) -> None:
        """
        Stopping logs the listener and the counts each way.
        """
        self.protocol.count(b"abc")
        self.protocol.count(b"de")
        self.protocol.reply(b"xyz", ("127.0.0.1", 5000))
        self.transport.stopListening()
        self.assertEqual(
            self._texts()[-1],
            "udp:9999 stopped: 2 datagrams (5 bytes) in, 1 datagrams (3 bytes) out",
        )
