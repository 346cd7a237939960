"""
Tests for L{sockplug.defences._streamguard}: how a L{ConnectionGuard}
tells when its last connection has gone, and closes them all, as the
server's drain asks when it stops.
"""

from __future__ import annotations

from twisted.internet.testing import (
    MemoryReactorClock,
    StringTransportWithDisconnection,
)
from twisted.trial.unittest import SynchronousTestCase

from sockplug.defences._guardedfactory import GuardedFactory
from sockplug.defences._streamguard import ConnectionGuard
from sockplug.options._limits import ListenerLimits
from sockplug.plugin import ListenerInfo, TransportKind
from sockplug.protocols.echo import buildStreamFactory
from sockplug.testing._guard import TrackedConnection as _Connection
from sockplug.testing._logs import peer as _peer


class WhenEmptyTests(SynchronousTestCase):
    """
    Tests for L{ConnectionGuard.whenEmpty}.
    """

    def setUp(self) -> None:
        self.guard = ConnectionGuard(MemoryReactorClock(), "tcp:8888", ListenerLimits())

    def test_alreadyEmpty(self) -> None:
        """
        With no connection open, it has fired already.
        """
        self.assertIsNone(self.successResultOf(self.guard.whenEmpty()))

    def test_waitsForLast(self) -> None:
        """
        It fires when the last open connection is released, not before.
        """
        first, second = _Connection(), _Connection()
        self.guard.track(first, _peer("192.0.2.1"))
        self.guard.track(second, _peer("192.0.2.2"))
        d = self.guard.whenEmpty()
        self.guard.release(first)
        self.assertNoResult(d)
        self.guard.release(second)
        self.assertIsNone(self.successResultOf(d))

    def test_everyWaiter(self) -> None:
        """
        Every waiter is told.
        """
        connection = _Connection()
        self.guard.track(connection, _peer())
        waiting = [self.guard.whenEmpty(), self.guard.whenEmpty()]
        self.guard.release(connection)
        self.assertEqual([self.successResultOf(d) for d in waiting], [None, None])

    def test_waitsAgain(self) -> None:
        """
        Once fired, a later call with connections open waits again.
        """
        connection = _Connection()
        self.guard.track(connection, _peer())
        self.guard.release(connection)
        self.guard.track(_Connection(), _peer())
        self.assertNoResult(self.guard.whenEmpty())


class CloseAllTests(SynchronousTestCase):
    """
    Tests for L{ConnectionGuard.closeAll}.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.guard = ConnectionGuard(self.clock, "tcp:8888", ListenerLimits())
        self.connections = [_Connection(), _Connection()]
        for n, connection in enumerate(self.connections):
            self.guard.track(connection, _peer(f"192.0.2.{n + 1}"))

    def test_gently(self) -> None:
        """
        Closing gently asks every connection to close once its queue is
        sent.
        """
        self.guard.closeAll(gently=True)
        self.assertEqual(
            [(c.closedGently, c.aborted) for c in self.connections], [(1, 0), (1, 0)]
        )

    def test_abort(self) -> None:
        """
        Closing at once aborts every connection.
        """
        self.guard.closeAll(gently=False)
        self.assertEqual(
            [(c.closedGently, c.aborted) for c in self.connections], [(0, 1), (0, 1)]
        )

    def test_closingReleases(self) -> None:
        """
        Connections that close at once while being closed (releasing
        themselves) are all closed.
        """
        guard = ConnectionGuard(self.clock, "tcp:8888", ListenerLimits())
        info = ListenerInfo("tcp:8888", TransportKind.STREAM, "echo", self.clock)
        factory = GuardedFactory(buildStreamFactory(info), guard)
        transports = []
        for n in (1, 2, 3):
            transport = StringTransportWithDisconnection(peerAddress=_peer(port=n))
            protocol = factory.buildProtocol(transport.getPeer())
            assert protocol is not None
            transport.protocol = protocol
            protocol.makeConnection(transport)
            transports.append(transport)
        guard.closeAll(gently=True)
        self.assertEqual([t.connected for t in transports], [False, False, False])
        self.assertEqual(guard.openConnections, 0)

    def test_empty(self) -> None:
        """
        Closing when nothing is open does nothing.
        """
        guard = ConnectionGuard(self.clock, "tcp:8888", ListenerLimits())
        guard.closeAll(gently=False)
        self.assertEqual(guard.openConnections, 0)
