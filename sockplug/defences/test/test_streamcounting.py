"""
Tests for L{sockplug.defences._streamguard}: what a L{ConnectionGuard}
counts in its L{sockplug.defences._counters.StreamCounters}.
"""

from __future__ import annotations

from typing import Any

from OpenSSL import SSL
from twisted.internet.error import ConnectionAborted, ConnectionDone, ConnectionLost
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import (
    MemoryReactorClock,
    StringTransportWithDisconnection,
)
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from sockplug.defences._counters import StreamCounters
from sockplug.defences._guardedfactory import GuardedFactory
from sockplug.defences._streamguard import ConnectionBudget, ConnectionGuard
from sockplug.options._limits import ListenerLimits
from sockplug.plugin import ListenerInfo, TransportKind
from sockplug.protocols.echo import buildStreamFactory
from sockplug.testing._guard import TrackedConnection as _Connection
from sockplug.testing._logs import peer as _peer


class _Plain(Protocol):
    """
    A protocol that does not report to the guard itself: it echoes, unless
    told to fail.
    """

    def dataReceived(self, data: bytes) -> None:
        if data == b"boom":
            raise ValueError("boom")
        assert self.transport is not None
        self.transport.write(data)


class CountersTests(SynchronousTestCase):
    """
    What L{ConnectionGuard} counts in its L{StreamCounters}.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.budget = ConnectionBudget()
        self.guard = ConnectionGuard(
            self.clock, "tcp:8888", ListenerLimits(), self.budget
        )

    def connection(self, bytesIn: int = 0, bytesOut: int = 0) -> _Connection:
        connection = _Connection()
        connection.bytesIn, connection.bytesOut = bytesIn, bytesOut
        return connection

    def factory(self, wrapped: Any) -> GuardedFactory:
        return GuardedFactory(wrapped, self.guard)

    def connect(self, factory: GuardedFactory) -> StringTransportWithDisconnection:
        transport = StringTransportWithDisconnection(peerAddress=_peer())
        protocol = factory.buildProtocol(transport.getPeer())
        assert protocol is not None
        transport.protocol = protocol
        protocol.makeConnection(transport)
        return transport

    def test_ownCountersByDefault(self) -> None:
        """
        A guard has counters of its own unless given some.
        """
        other = ConnectionGuard(self.clock, "tcp:8888", ListenerLimits())
        self.assertIsInstance(self.guard.counters, StreamCounters)
        self.assertIsNot(self.guard.counters, other.counters)

    def test_sharedCounters(self) -> None:
        """
        Guards given the same counters count in them together.
        """
        counters = StreamCounters()
        first = ConnectionGuard(
            self.clock, "tcp:8888", ListenerLimits(), counters=counters
        )
        second = ConnectionGuard(
            self.clock, "tcp:8889", ListenerLimits(), counters=counters
        )
        first.track(_Connection(), _peer("192.0.2.1"))
        second.track(_Connection(), _peer("192.0.2.2"))
        self.assertEqual(
            (first.counters, counters.accepted, first.accepted), (counters, 2, 2)
        )

    def test_viewsOfCounters(self) -> None:
        """
        C{refused}, C{accepted} and C{idleClosed} read the counters.
        """
        counters = self.guard.counters
        counters.accepted, counters.idleClosed = 3, 4
        self.assertIs(self.guard.refused, counters.refused)
        self.assertEqual((self.guard.accepted, self.guard.idleClosed), (3, 4))

    def test_refusalCounted(self) -> None:
        """
        A refusal is counted for its reason in the counters.
        """
        guard = ConnectionGuard(self.clock, "tcp:8888", ListenerLimits(maxPerSource=1))
        guard.track(_Connection(), _peer())
        guard.admit(_peer())
        self.assertEqual(
            guard.counters.refused,
            {"access": 0, "maxconn": 0, "global": 0, "maxpersource": 1, "proxy": 0},
        )

    def test_notCounted(self) -> None:
        """
        A connection tracked without being counted (a balancer's, waiting
        for its PROXY header) is open and in the budget, but not let in.
        """
        self.guard.track(_Connection(), _peer(), counted=False)
        self.assertEqual(
            (self.guard.openConnections, self.budget.open, self.guard.accepted),
            (1, 1, 0),
        )

    def test_releaseAddsBytes(self) -> None:
        """
        A released connection's bytes are added to the totals.
        """
        self.guard.track(self.connection(10, 20), _peer("192.0.2.1"))
        released = self.connection(1, 2)
        self.guard.track(released, _peer("192.0.2.2"))
        self.guard.release(released)
        counters = self.guard.counters
        self.assertEqual((counters.bytesIn, counters.bytesOut), (1, 2))

    def test_releaseTwiceAddsOnce(self) -> None:
        """
        A connection released twice adds its bytes once.
        """
        connection = self.connection(5, 7)
        self.guard.track(connection, _peer())
        self.guard.release(connection)
        self.guard.release(connection)
        counters = self.guard.counters
        self.assertEqual((counters.bytesIn, counters.bytesOut), (5, 7))

    def test_releaseUntrackedAddsNothing(self) -> None:
        """
        Releasing a connection never tracked adds neither bytes nor errors.
        """
        self.guard.release(self.connection(5, 7), Failure(ConnectionLost()))
        counters = self.guard.counters
        self.assertEqual(
            (counters.bytesIn, counters.bytesOut, counters.errors["lost"]), (0, 0, 0)
        )

    def test_openTraffic(self) -> None:
        """
        C{openTraffic} adds up the bytes of the connections open now only.
        """
        self.guard.track(self.connection(10, 20), _peer("192.0.2.1"))
        self.guard.track(self.connection(100, 200), _peer("192.0.2.2"))
        closed = self.connection(1000, 2000)
        self.guard.track(closed, _peer("192.0.2.3"))
        self.guard.release(closed)
        self.assertEqual(self.guard.openTraffic(), (110, 220))

    def test_openTrafficNone(self) -> None:
        """
        With no connection open, there is no open traffic.
        """
        self.assertEqual(self.guard.openTraffic(), (0, 0))

    def test_openTrafficSeesProgress(self) -> None:
        """
        C{openTraffic} reads the connections' counts as they are now.
        """
        connection = self.connection()
        self.guard.track(connection, _peer())
        connection.bytesIn, connection.bytesOut = 3, 4
        self.assertEqual(self.guard.openTraffic(), (3, 4))

    def test_errorsByKind(self) -> None:
        """
        A connection that ends in an error is counted for its kind; a clean
        close, an abort and no reason at all are no error.
        """
        reasons: list[Failure | None] = [
            Failure(ConnectionLost()),
            Failure(ConnectionLost()),
            Failure(SSL.Error([])),
            Failure(RuntimeError()),
            Failure(ConnectionDone()),
            Failure(ConnectionAborted()),
            None,
        ]
        for n, reason in enumerate(reasons):
            connection = self.connection()
            self.guard.track(connection, _peer(port=n))
            self.guard.release(connection, reason)
        self.assertEqual(
            self.guard.counters.errors, {"lost": 2, "tls": 1, "protocol": 1}
        )

    def test_idleClosedCounted(self) -> None:
        """
        A connection closed for idling is counted in the counters.
        """
        guard = ConnectionGuard(self.clock, "tcp:8888", ListenerLimits(idleTimeout=10))
        guard.start()
        self.addCleanup(guard.stop)
        guard.track(_Connection(), _peer())
        self.clock.advance(10)
        self.clock.advance(1)
        self.assertEqual(guard.counters.idleClosed, 1)

    def test_countingProtocolBytes(self) -> None:
        """
        The bytes of a protocol that counts them itself (echo) are added to
        the totals when it closes, and it is no error.
        """
        info = ListenerInfo("tcp:8888", TransportKind.STREAM, "echo", self.clock)
        transport = self.connect(self.factory(buildStreamFactory(info)))
        transport.protocol.dataReceived(b"hello")
        self.assertEqual(self.guard.openTraffic(), (5, 5))
        transport.loseConnection()
        counters = self.guard.counters
        self.assertEqual(
            (counters.bytesIn, counters.bytesOut, counters.errors),
            (5, 5, {"lost": 0, "tls": 0, "protocol": 0}),
        )

    def test_countingProtocolError(self) -> None:
        """
        A protocol that counts its bytes itself reports why it closed: a
        connection lost is counted as such.
        """
        info = ListenerInfo("tcp:8888", TransportKind.STREAM, "echo", self.clock)
        transport = self.connect(self.factory(buildStreamFactory(info)))
        transport.protocol.connectionLost(Failure(ConnectionLost()))
        self.assertEqual(self.guard.counters.errors["lost"], 1)

    def test_wrappedProtocolBytes(self) -> None:
        """
        The bytes of a protocol the guard wraps are added to the totals
        when it closes.
        """
        transport = self.connect(self.factory(Factory.forProtocol(_Plain)))
        transport.protocol.dataReceived(b"hi")
        transport.loseConnection()
        counters = self.guard.counters
        self.assertEqual((counters.bytesIn, counters.bytesOut), (2, 2))

    def test_wrappedProtocolError(self) -> None:
        """
        A wrapped protocol that raised (and so was closed with its
        exception) is counted as a protocol error.
        """
        transport = self.connect(self.factory(Factory.forProtocol(_Plain)))
        protocol = transport.protocol
        try:
            protocol.dataReceived(b"boom")
        except ValueError as e:
            protocol.connectionLost(Failure(e))
        self.assertEqual(
            self.guard.counters.errors, {"lost": 0, "tls": 0, "protocol": 1}
        )
