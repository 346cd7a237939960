"""
Tests for L{sockplug.defences._streamguard}: how a L{ConnectionGuard}
finds the connections idle for C{idle=} seconds and closes them.
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
from sockplug.testing._logs import LogTexts as _Texts
from sockplug.testing._logs import peer as _peer


class _Broken(_Connection):
    """
    A connection whose transport cannot be closed.
    """

    def closeGently(self) -> None:
        raise RuntimeError("no way to close")


class IdleSweepTests(SynchronousTestCase):
    """
    Tests for the idle sweep of L{ConnectionGuard}.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.texts = _Texts(self)

    def guard(self, idle: float = 10.0) -> ConnectionGuard:
        guard = ConnectionGuard(
            self.clock, "tcp:8888", ListenerLimits(idleTimeout=idle)
        )
        guard.start()
        self.addCleanup(guard.stop)
        return guard

    def advance(self, seconds: int) -> None:
        """
        Move the clock on a second at a time, so that every sweep runs.
        """
        for _ in range(seconds):
            self.clock.advance(1)

    def test_failingCloseLoggedSweepGoesOn(self) -> None:
        """
        A connection whose close raises is logged; the other connections
        are still closed, and the sweep keeps running.
        """
        guard = self.guard(idle=10)
        broken, fine = _Broken(), _Connection()
        guard.track(broken, _peer("192.0.2.1"))
        guard.track(fine, _peer("192.0.2.2"))
        self.advance(12)
        self.assertEqual(
            (fine.closedGently, len(self.flushLoggedErrors(RuntimeError))), (1, 1)
        )
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)

    def test_sweepInterval(self) -> None:
        """
        The sweep runs every tenth of the idle timeout, at least every 30 s
        and at most every 0.05 s.
        """
        intervals = [
            ConnectionGuard(
                self.clock, "x", ListenerLimits(idleTimeout=idle)
            ).sweepInterval
            for idle in (10, 300, 3600, 0.1)
        ]
        self.assertEqual(intervals, [1.0, 30.0, 30.0, 0.05])

    def test_startSchedules(self) -> None:
        """
        Starting schedules the first sweep one interval later.
        """
        self.guard(idle=10)
        [call] = self.clock.getDelayedCalls()
        self.assertEqual(call.getTime(), 1.0)

    def test_startTwice(self) -> None:
        """
        Starting twice schedules one sweep.
        """
        self.guard().start()
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)

    def test_noSweepWithoutTimeout(self) -> None:
        """
        With C{idle=0} no sweep is scheduled.
        """
        self.guard(idle=0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_neverClosedWithoutTimeout(self) -> None:
        """
        With C{idle=0} an idle connection stays open.
        """
        guard = self.guard(idle=0)
        connection = _Connection()
        guard.track(connection, _peer())
        self.advance(100)
        self.assertEqual((connection.closedGently, connection.aborted), (0, 0))

    def test_stopCancels(self) -> None:
        """
        Stopping cancels the next sweep.
        """
        self.guard().stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_restart(self) -> None:
        """
        A stopped guard can be started again.
        """
        guard = self.guard()
        guard.stop()
        guard.start()
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)

    def test_sweepReschedules(self) -> None:
        """
        Each sweep schedules the next.
        """
        self.guard()
        self.advance(5)
        [call] = self.clock.getDelayedCalls()
        self.assertEqual(call.getTime(), 6.0)

    def test_notClosedBeforeTimeout(self) -> None:
        """
        A connection idle for less than the timeout is left open.
        """
        guard = self.guard(idle=10)
        connection = _Connection()
        guard.track(connection, _peer())
        self.advance(9)
        self.assertEqual((connection.closedGently, guard.idleClosed), (0, 0))

    def test_closedAtTimeout(self) -> None:
        """
        A connection idle for the whole timeout is closed gently, and
        counted.
        """
        guard = self.guard(idle=10)
        connection = _Connection()
        guard.track(connection, _peer())
        self.advance(10)
        self.assertEqual((connection.closedGently, connection.aborted), (1, 0))
        self.assertEqual(guard.idleClosed, 1)

    def test_idleFromTrack(self) -> None:
        """
        The idle time counts from when the connection was let in, not from
        the guard's start.
        """
        guard = self.guard(idle=10)
        self.advance(5)
        connection = _Connection()
        guard.track(connection, _peer())
        self.advance(9)
        self.assertEqual(connection.closedGently, 0)
        self.advance(1)
        self.assertEqual(connection.closedGently, 1)

    def test_activityResets(self) -> None:
        """
        Bytes moving restart the idle time, from the sweep that sees them.
        """
        guard = self.guard(idle=10)
        connection = _Connection()
        guard.track(connection, _peer())
        self.advance(5)
        connection.bytes += 1
        self.advance(10)
        self.assertEqual(connection.closedGently, 0)
        self.advance(1)
        self.assertEqual(connection.closedGently, 1)

    def test_busyNeverClosed(self) -> None:
        """
        A connection whose bytes move between every sweep stays open.
        """
        guard = self.guard(idle=10)
        connection = _Connection()
        guard.track(connection, _peer())
        for _ in range(50):
            connection.bytes += 1
            self.clock.advance(1)
        self.assertEqual((connection.closedGently, connection.aborted), (0, 0))

    def test_abortedAtNextSweep(self) -> None:
        """
        A connection asked to close that is still open at the next sweep is
        aborted, and not asked to close again.
        """
        guard = self.guard(idle=10)
        connection = _Connection()
        guard.track(connection, _peer())
        self.advance(10)
        self.assertEqual(connection.aborted, 0)
        self.advance(1)
        self.assertEqual((connection.closedGently, connection.aborted), (1, 1))
        self.assertEqual(guard.idleClosed, 1)

    def test_releasedNotAborted(self) -> None:
        """
        A connection that closes after being asked to is not aborted.
        """
        guard = self.guard(idle=10)
        connection = _Connection()
        guard.track(connection, _peer())
        self.advance(10)
        guard.release(connection)
        self.advance(5)
        self.assertEqual(connection.aborted, 0)

    def test_onlyIdleClosed(self) -> None:
        """
        Only the idle connection is closed; a busy one beside it stays.
        """
        guard = self.guard(idle=10)
        idle, busy = _Connection(), _Connection()
        guard.track(idle, _peer("192.0.2.1"))
        guard.track(busy, _peer("192.0.2.2"))
        for _ in range(10):
            busy.bytes += 1
            self.clock.advance(1)
        self.assertEqual((idle.closedGently, busy.closedGently), (1, 0))

    def test_idleLogged(self) -> None:
        """
        Closing an idle connection is logged with the listener, the peer and
        the idle time.
        """
        guard = self.guard(idle=10)
        guard.track(_Connection(), _peer("192.0.2.1", 5000))
        self.advance(10)
        self.assertEqual(
            self.texts("idle"), ["tcp:8888 192.0.2.1:5000 idle for 10s; closing"]
        )

    def test_idleEchoClosed(self) -> None:
        """
        An echo connection that sees no traffic for the timeout is closed
        through the guarded factory, and released.
        """
        guard = ConnectionGuard(self.clock, "tcp:8888", ListenerLimits(idleTimeout=10))
        info = ListenerInfo(
            "tcp:8888", TransportKind.STREAM, "echo", self.clock, guard.limits
        )
        factory = GuardedFactory(buildStreamFactory(info), guard)
        factory.doStart()
        self.addCleanup(guard.stop)
        transport = StringTransportWithDisconnection(peerAddress=_peer())
        protocol = factory.buildProtocol(transport.getPeer())
        assert protocol is not None
        transport.protocol = protocol
        protocol.makeConnection(transport)
        self.advance(9)
        self.assertTrue(transport.connected)
        self.advance(1)
        self.assertFalse(transport.connected)
        self.assertEqual(guard.openConnections, 0)
