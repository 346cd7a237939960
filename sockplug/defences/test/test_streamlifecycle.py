"""
Tests for L{sockplug.defences._streamguard} over a listener's life: how a
L{ConnectionGuard} takes new limits on a reload, tells when its last
connection has gone, and closes them all, as the server's drain asks when
it stops.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.testing import (
    MemoryReactorClock,
    StringTransportWithDisconnection,
)
from twisted.trial.unittest import SynchronousTestCase

from sockplug.defences._guardedfactory import GuardedFactory
from sockplug.defences._streamguard import ConnectionGuard
from sockplug.options._access import AccessList
from sockplug.options._limits import ListenerLimits
from sockplug.plugin import ListenerInfo, TransportKind
from sockplug.protocols.echo import buildStreamFactory
from sockplug.testing._guard import TrackedConnection as _Connection
from sockplug.testing._logs import LogTexts as _Texts
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


class ReconfigureTests(SynchronousTestCase):
    """
    Tests for L{ConnectionGuard.reconfigure}.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.texts = _Texts(self)

    def guard(self, **limits: Any) -> ConnectionGuard:
        guard = ConnectionGuard(self.clock, "tcp:8888", ListenerLimits(**limits))
        self.addCleanup(guard.stop)
        return guard

    def advance(self, seconds: int) -> None:
        for _ in range(seconds):
            self.clock.advance(1)

    def test_raisedLimitAdmits(self) -> None:
        """
        Once C{maxconn} is raised, a connection it refused is let in.
        """
        guard = self.guard(maxConnections=1)
        guard.track(_Connection(), _peer("192.0.2.1"))
        guard.reconfigure("tcp:8888", ListenerLimits(maxConnections=2))
        self.assertIsNone(guard.admit(_peer("192.0.2.2")))

    def test_loweredLimitCountsOpen(self) -> None:
        """
        Connections open before the change count against the new limits.
        """
        guard = self.guard(maxPerSource=2)
        guard.track(_Connection(), _peer("192.0.2.1", 1))
        guard.reconfigure("tcp:8888", ListenerLimits(maxPerSource=1))
        self.assertEqual(guard.admit(_peer("192.0.2.1", 2)), "maxpersource")

    def test_newAccess(self) -> None:
        """
        New access lists apply to the next connection.
        """
        guard = self.guard()
        guard.reconfigure(
            "tcp:8888", ListenerLimits(access=AccessList.parse(None, "192.0.2.1"))
        )
        self.assertEqual(guard.admit(_peer("192.0.2.1")), "access")

    def test_countsCarryOver(self) -> None:
        """
        The connections open, accepted and refused are still counted.
        """
        guard = self.guard(maxConnections=1)
        guard.track(_Connection(), _peer("192.0.2.1"))
        guard.admit(_peer("192.0.2.2"))
        guard.reconfigure("tcp:8888", ListenerLimits())
        self.assertEqual(
            (guard.openConnections, guard.accepted, guard.refused["maxconn"]),
            (1, 1, 1),
        )

    def test_description(self) -> None:
        """
        Log lines name the listener by its new description.
        """
        guard = self.guard()
        guard.reconfigure("tcp:8888:maxconn=1", ListenerLimits(maxConnections=1))
        guard.track(_Connection(), _peer("192.0.2.1"))
        guard.admit(_peer("192.0.2.2"))
        self.assertEqual(
            self.texts("refused"),
            ["tcp:8888:maxconn=1 refused 192.0.2.2:5000: maxconn=1 reached"],
        )

    def test_logLines(self) -> None:
        """
        The new bound on log lines applies.
        """
        guard = self.guard()
        guard.reconfigure("tcp:8888", ListenerLimits(logLines=5, maxConnections=1))
        guard.track(_Connection(), _peer("192.0.2.1"))
        for port in (1, 2, 3):
            guard.admit(_peer("192.0.2.2", port))
        self.assertEqual(len(self.texts("refused")), 1)

    def test_idleFromNothing(self) -> None:
        """
        A started guard without an idle timeout starts sweeping when a
        reload gives it one.
        """
        guard = self.guard(idleTimeout=0)
        guard.start()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        guard.reconfigure("tcp:8888", ListenerLimits(idleTimeout=10))
        [call] = self.clock.getDelayedCalls()
        self.assertEqual(call.getTime(), 1.0)

    def test_idleToNothing(self) -> None:
        """
        A reload that takes the idle timeout away stops the sweep.
        """
        guard = self.guard(idleTimeout=10)
        guard.start()
        guard.reconfigure("tcp:8888", ListenerLimits(idleTimeout=0))
        self.assertEqual(list(self.clock.getDelayedCalls()), [])

    def test_notStartedStaysStill(self) -> None:
        """
        A guard not started (or stopped) does not start sweeping when it is
        reconfigured.
        """
        guard = self.guard(idleTimeout=0)
        guard.reconfigure("tcp:8888", ListenerLimits(idleTimeout=10))
        self.assertEqual(list(self.clock.getDelayedCalls()), [])

    def test_stoppedDuringSweep(self) -> None:
        """
        A guard stopped while it sweeps (a connection's close emptied a
        retired listener) does not sweep again.
        """
        guard = self.guard(idleTimeout=10)
        guard.start()

        class Stopper(_Connection):
            def activity(self) -> int:
                guard.stop()
                return 1

        guard.track(Stopper(), _peer("192.0.2.1"))
        self.clock.advance(1)
        self.assertEqual(list(self.clock.getDelayedCalls()), [])

    def test_sweepRestarted(self) -> None:
        """
        A running idle sweep is rescheduled for the new timeout's interval.
        """
        guard = self.guard(idleTimeout=10)
        guard.start()
        self.clock.advance(0.5)
        guard.reconfigure("tcp:8888", ListenerLimits(idleTimeout=100))
        [call] = self.clock.getDelayedCalls()
        self.assertEqual(call.getTime(), 10.5)

    def test_sweepStopped(self) -> None:
        """
        With C{idle=0}, a running idle sweep stops.
        """
        guard = self.guard(idleTimeout=10)
        guard.start()
        guard.reconfigure("tcp:8888", ListenerLimits(idleTimeout=0))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_notStarted(self) -> None:
        """
        A guard that was not started is not started by new limits.
        """
        guard = self.guard()
        guard.reconfigure("tcp:8888", ListenerLimits(idleTimeout=10))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_shorterTimeoutCloses(self) -> None:
        """
        An open connection idle for the new, shorter timeout is closed.
        """
        guard = self.guard(idleTimeout=100)
        guard.start()
        connection = _Connection()
        guard.track(connection, _peer())
        guard.reconfigure("tcp:8888", ListenerLimits(idleTimeout=10))
        self.advance(12)
        self.assertEqual(connection.closedGently, 1)
