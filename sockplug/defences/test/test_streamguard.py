"""
Tests for L{sockplug.defences._streamguard}.
"""

from __future__ import annotations

from typing import Any

from OpenSSL import SSL
from twisted.internet.address import IPv6Address, UNIXAddress
from twisted.internet.error import ConnectionAborted, ConnectionDone, ConnectionLost
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import (
    MemoryReactorClock,
    StringTransportWithDisconnection,
)
from twisted.logger import LogLevel, formatEvent
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from sockplug.defences._counters import StreamCounters
from sockplug.defences._guardedfactory import GuardedFactory
from sockplug.defences._streamguard import ConnectionBudget, ConnectionGuard, hostOf
from sockplug.options._access import AccessList
from sockplug.options._limits import ListenerLimits
from sockplug.plugin import ListenerInfo, TransportKind
from sockplug.protocols.echo import buildStreamFactory
from sockplug.testing._addresses import peer as _peer
from sockplug.testing._logs import LogTexts as _Texts


class _Connection:
    """
    A connection as the guard sees it: a byte count that the test moves,
    and a record of the guard's requests to close.
    """

    def __init__(self) -> None:
        self.bytes = 0
        self.bytesIn = self.bytesOut = 0
        self.closedGently = 0
        self.aborted = 0

    def activity(self) -> int:
        return self.bytes

    def closeGently(self) -> None:
        self.closedGently += 1

    def abort(self) -> None:
        self.aborted += 1


class _Broken(_Connection):
    """
    A connection whose transport cannot be closed.
    """

    def closeGently(self) -> None:
        raise RuntimeError("no way to close")


class HostOfTests(SynchronousTestCase):
    """
    Tests for L{hostOf}.
    """

    def test_ipv4(self) -> None:
        """
        An IPv4 peer's host is its address.
        """
        self.assertEqual(hostOf(_peer("192.0.2.7")), "192.0.2.7")

    def test_ipv6(self) -> None:
        """
        An IPv6 peer's host is its address.
        """
        self.assertEqual(hostOf(IPv6Address("TCP", "::1", 1)), "::1")

    def test_unix(self) -> None:
        """
        A UNIX peer has no host.
        """
        self.assertIsNone(hostOf(UNIXAddress(b"/tmp/x.sock")))

    def test_none(self) -> None:
        """
        No address at all has no host.
        """
        self.assertIsNone(hostOf(None))


class ConnectionBudgetTests(SynchronousTestCase):
    """
    Tests for L{ConnectionBudget}.
    """

    def test_defaults(self) -> None:
        """
        By default the process allows 10000 connections, and none is open.
        """
        budget = ConnectionBudget()
        self.assertEqual((budget.limit, budget.open), (10_000, 0))


class AdmitTests(SynchronousTestCase):
    """
    Tests for L{ConnectionGuard.admit}.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.texts = _Texts(self)

    def guard(
        self, budget: ConnectionBudget | None = None, **limits: Any
    ) -> ConnectionGuard:
        return ConnectionGuard(self.clock, "tcp:8888", ListenerLimits(**limits), budget)

    def test_ipv6NetworkIsOneSource(self) -> None:
        """
        Two addresses of one IPv6 /64 share one C{maxpersource} share; an
        address of another /64 has its own.
        """
        guard = self.guard(maxPerSource=1)
        guard.track(_Connection(), IPv6Address("TCP", "2001:db8::1", 1))
        self.assertEqual(
            (
                guard.admit(IPv6Address("TCP", "2001:db8::2", 1)),
                guard.admit(IPv6Address("TCP", "2001:db8:0:1::2", 1)),
            ),
            ("maxpersource", None),
        )

    def test_admitsByDefault(self) -> None:
        """
        With the default limits, a connection is let in and nothing is
        counted as refused.
        """
        guard = self.guard()
        self.assertIsNone(guard.admit(_peer()))
        self.assertEqual(
            guard.refused,
            {"access": 0, "global": 0, "maxconn": 0, "maxpersource": 0, "proxy": 0},
        )

    def test_ownBudgetByDefault(self) -> None:
        """
        A guard given no budget has one of its own, of the default size.
        """
        self.assertEqual(self.guard().budget.limit, 10_000)

    def test_accessRefused(self) -> None:
        """
        A peer outside C{allow=} is refused for C{"access"}, and counted.
        """
        guard = self.guard(access=AccessList.parse("10.0.0.0/8", None))
        self.assertEqual(guard.admit(_peer("192.0.2.1")), "access")
        self.assertEqual(guard.refused["access"], 1)

    def test_accessAdmitted(self) -> None:
        """
        A peer inside C{allow=} is let in.
        """
        guard = self.guard(access=AccessList.parse("10.0.0.0/8", None))
        self.assertIsNone(guard.admit(_peer("10.1.2.3")))

    def test_denyRefused(self) -> None:
        """
        A peer in C{deny=} is refused for C{"access"}.
        """
        guard = self.guard(access=AccessList.parse(None, "192.0.2.0/24"))
        self.assertEqual(guard.admit(_peer("192.0.2.9")), "access")

    def test_unixPeerRefusedByAllow(self) -> None:
        """
        A UNIX peer, which has no IP address, is refused by a non-empty
        C{allow=}.
        """
        guard = self.guard(access=AccessList.parse("127.0.0.1", None))
        self.assertEqual(guard.admit(UNIXAddress(b"/tmp/x.sock")), "access")

    def test_unixPeerNotRefusedByDeny(self) -> None:
        """
        A UNIX peer is not refused by C{deny=} alone, even C{deny=any}.
        """
        guard = self.guard(access=AccessList.parse(None, "any"))
        self.assertIsNone(guard.admit(UNIXAddress(b"/tmp/x.sock")))

    def test_globalBudgetShared(self) -> None:
        """
        Two guards sharing a budget refuse for C{"global"} once their
        connections together reach its limit.
        """
        budget = ConnectionBudget(2)
        first, second = self.guard(budget), self.guard(budget)
        first.track(_Connection(), _peer("192.0.2.1"))
        second.track(_Connection(), _peer("192.0.2.2"))
        self.assertEqual(
            (first.admit(_peer("192.0.2.3")), second.admit(_peer("192.0.2.4"))),
            ("global", "global"),
        )
        self.assertEqual((first.refused["global"], second.refused["global"]), (1, 1))

    def test_globalBudgetBelowLimit(self) -> None:
        """
        Below the shared limit, each guard lets connections in.
        """
        budget = ConnectionBudget(2)
        first, second = self.guard(budget), self.guard(budget)
        first.track(_Connection(), _peer("192.0.2.1"))
        self.assertIsNone(second.admit(_peer("192.0.2.2")))

    def test_globalBudgetFreedOnRelease(self) -> None:
        """
        A connection released in one guard makes room in the other.
        """
        budget = ConnectionBudget(1)
        first, second = self.guard(budget), self.guard(budget)
        connection = _Connection()
        first.track(connection, _peer("192.0.2.1"))
        first.release(connection)
        self.assertIsNone(second.admit(_peer("192.0.2.2")))

    def test_maxconn(self) -> None:
        """
        C{maxconn=} refuses for C{"maxconn"} once that many connections are
        open on the listener, whatever their sources.
        """
        guard = self.guard(maxConnections=2)
        guard.track(_Connection(), _peer("192.0.2.1"))
        guard.track(_Connection(), _peer("192.0.2.2"))
        self.assertEqual(guard.admit(_peer("192.0.2.3")), "maxconn")
        self.assertEqual(guard.refused["maxconn"], 1)

    def test_maxconnPerListener(self) -> None:
        """
        C{maxconn=} counts the connections of its own listener only.
        """
        budget = ConnectionBudget()
        full, other = self.guard(budget, maxConnections=1), self.guard(budget)
        full.track(_Connection(), _peer("192.0.2.1"))
        self.assertIsNone(other.admit(_peer("192.0.2.2")))

    def test_maxPerSource(self) -> None:
        """
        C{maxpersource=} refuses for C{"maxpersource"} a source IP with that
        many connections open, whatever their ports.
        """
        guard = self.guard(maxPerSource=2)
        guard.track(_Connection(), _peer("192.0.2.1", 1000))
        guard.track(_Connection(), _peer("192.0.2.1", 1001))
        self.assertEqual(guard.admit(_peer("192.0.2.1", 1002)), "maxpersource")
        self.assertEqual(guard.refused["maxpersource"], 1)

    def test_maxPerSourceOtherSource(self) -> None:
        """
        A source at its C{maxpersource=} does not stop another source.
        """
        guard = self.guard(maxPerSource=1)
        guard.track(_Connection(), _peer("192.0.2.1"))
        self.assertIsNone(guard.admit(_peer("192.0.2.2")))

    def test_maxPerSourceFreedOnRelease(self) -> None:
        """
        A source's closed connection no longer counts against it.
        """
        guard = self.guard(maxPerSource=1)
        connection = _Connection()
        guard.track(connection, _peer("192.0.2.1"))
        guard.release(connection)
        self.assertIsNone(guard.admit(_peer("192.0.2.1")))

    def test_unixPeersNotCountedPerSource(self) -> None:
        """
        UNIX peers have no source address, so C{maxpersource=} does not
        limit them.
        """
        guard = self.guard(maxPerSource=1)
        guard.track(_Connection(), UNIXAddress(None))
        guard.track(_Connection(), UNIXAddress(None))
        self.assertIsNone(guard.admit(UNIXAddress(None)))

    def test_accessBeforeLimits(self) -> None:
        """
        A peer both refused by the access lists and over a limit is counted
        as refused for C{"access"}.
        """
        guard = self.guard(
            ConnectionBudget(1), access=AccessList.parse(None, "192.0.2.0/24")
        )
        guard.track(_Connection(), _peer("198.51.100.1"))
        self.assertEqual(guard.admit(_peer("192.0.2.1")), "access")

    def test_globalBeforeMaxconn(self) -> None:
        """
        The process's bound is checked before the listener's.
        """
        guard = self.guard(ConnectionBudget(1), maxConnections=1)
        guard.track(_Connection(), _peer("192.0.2.1"))
        self.assertEqual(guard.admit(_peer("192.0.2.2")), "global")

    def test_maxconnBeforeMaxPerSource(self) -> None:
        """
        The listener's bound is checked before the per-source one.
        """
        guard = self.guard(maxConnections=1, maxPerSource=1)
        guard.track(_Connection(), _peer("192.0.2.1"))
        self.assertEqual(guard.admit(_peer("192.0.2.1")), "maxconn")

    def test_refusalLoggedAccess(self) -> None:
        """
        An access refusal is logged as a warning naming the listener, the
        peer and the access lists.
        """
        guard = self.guard(access=AccessList.parse("10.0.0.0/8", None))
        guard.admit(_peer("192.0.2.1", 5000))
        [event] = [e for e in self.texts.events if "refused" in formatEvent(e)]
        self.assertEqual(
            formatEvent(event),
            "tcp:8888 refused 192.0.2.1:5000: not allowed by allow=/deny=",
        )
        self.assertEqual(event["log_level"], LogLevel.warn)

    def test_refusalLoggedGlobal(self) -> None:
        """
        A refusal for the process's bound names C{--max-connections}.
        """
        guard = self.guard(ConnectionBudget(1))
        guard.track(_Connection(), _peer("192.0.2.1"))
        guard.admit(_peer("192.0.2.2", 5000))
        self.assertEqual(
            self.texts("refused"),
            ["tcp:8888 refused 192.0.2.2:5000: --max-connections 1 reached"],
        )

    def test_refusalLoggedMaxconn(self) -> None:
        """
        A refusal for the listener's bound names C{maxconn=}.
        """
        guard = self.guard(maxConnections=1)
        guard.track(_Connection(), _peer("192.0.2.1"))
        guard.admit(_peer("192.0.2.2", 5000))
        self.assertEqual(
            self.texts("refused"),
            ["tcp:8888 refused 192.0.2.2:5000: maxconn=1 reached"],
        )

    def test_refusalLoggedMaxPerSource(self) -> None:
        """
        A refusal for the per-source bound names C{maxpersource=} and the
        source.
        """
        guard = self.guard(maxPerSource=1)
        guard.track(_Connection(), _peer("192.0.2.1", 4000))
        guard.admit(_peer("192.0.2.1", 5000))
        self.assertEqual(
            self.texts("refused"),
            ["tcp:8888 refused 192.0.2.1:5000: maxpersource=1 reached for 192.0.2.1"],
        )

    def test_admissionNotLogged(self) -> None:
        """
        A connection let in is not logged by the guard.
        """
        self.guard().admit(_peer())
        self.assertEqual(self.texts("tcp:8888"), [])

    def test_refusalLogPerPeerLimit(self) -> None:
        """
        One peer gets a fifth of C{loglines=} refusal lines per 10 s window;
        its other refusals are still counted.
        """
        guard = self.guard(access=AccessList.parse(None, "any"), logLines=10)
        for port in range(5000, 5005):
            guard.admit(_peer("192.0.2.1", port))
        self.assertEqual(len(self.texts("refused")), 2)
        self.assertEqual(guard.refused["access"], 5)

    def test_refusalLogPerEventLimit(self) -> None:
        """
        All peers together get C{loglines=} refusal lines per window.
        """
        guard = self.guard(access=AccessList.parse(None, "any"), logLines=5)
        for n in range(1, 9):
            guard.admit(_peer(f"192.0.2.{n}"))
        self.assertEqual(len(self.texts("refused")), 5)

    def test_refusalLogSummary(self) -> None:
        """
        The refusal lines held back are summed up in one line at the end of
        the window.
        """
        guard = self.guard(access=AccessList.parse(None, "any"), logLines=5)
        for port in range(5000, 5004):
            guard.admit(_peer("192.0.2.1", port))
        self.assertEqual(self.texts("held back"), [])
        self.clock.advance(10)
        self.assertEqual(
            self.texts("held back"),
            [
                "tcp:8888: 3 log lines about refused connections held back in the"
                " last 10s (rate limit)"
            ],
        )

    def test_refusalLogNewWindow(self) -> None:
        """
        After the window, a peer may be logged again.
        """
        guard = self.guard(access=AccessList.parse(None, "any"), logLines=5)
        guard.admit(_peer("192.0.2.1", 5000))
        guard.admit(_peer("192.0.2.1", 5001))
        self.clock.advance(10)
        guard.admit(_peer("192.0.2.1", 5002))
        self.assertEqual(
            self.texts("refused 192.0.2.1"),
            [
                "tcp:8888 refused 192.0.2.1:5000: not allowed by allow=/deny=",
                "tcp:8888 refused 192.0.2.1:5002: not allowed by allow=/deny=",
            ],
        )


class TrackReleaseTests(SynchronousTestCase):
    """
    Tests for L{ConnectionGuard.track} and L{ConnectionGuard.release}.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.budget = ConnectionBudget()
        self.guard = ConnectionGuard(
            self.clock, "tcp:8888", ListenerLimits(), self.budget
        )

    def test_peerOf(self) -> None:
        """
        The guard names the peer of a connection it tracks, and none for
        one it does not.
        """
        tracked, other = _Connection(), _Connection()
        self.guard.track(tracked, _peer())
        self.assertEqual(self.guard.peerOf(tracked), "192.0.2.1:5000")
        self.assertIsNone(self.guard.peerOf(other))

    def test_nothingOpen(self) -> None:
        """
        A new guard has no connection open, and has let none in.
        """
        self.assertEqual((self.guard.openConnections, self.guard.accepted), (0, 0))

    def test_trackCounts(self) -> None:
        """
        A tracked connection is open, let in, and counted in the budget.
        """
        self.guard.track(_Connection(), _peer())
        self.assertEqual(
            (self.guard.openConnections, self.guard.accepted, self.budget.open),
            (1, 1, 1),
        )

    def test_releaseCounts(self) -> None:
        """
        A released connection is no longer open, nor in the budget; it
        stays counted as let in.
        """
        connection = _Connection()
        self.guard.track(connection, _peer())
        self.guard.release(connection)
        self.assertEqual(
            (self.guard.openConnections, self.guard.accepted, self.budget.open),
            (0, 1, 0),
        )

    def test_releaseTwice(self) -> None:
        """
        Releasing a connection twice counts it once.
        """
        kept, released = _Connection(), _Connection()
        self.guard.track(kept, _peer("192.0.2.1"))
        self.guard.track(released, _peer("192.0.2.2"))
        self.guard.release(released)
        self.guard.release(released)
        self.assertEqual((self.guard.openConnections, self.budget.open), (1, 1))

    def test_releaseUntracked(self) -> None:
        """
        Releasing a connection never tracked changes nothing.
        """
        self.guard.track(_Connection(), _peer())
        self.guard.release(_Connection())
        self.assertEqual((self.guard.openConnections, self.budget.open), (1, 1))

    def test_releaseOneOfSameSource(self) -> None:
        """
        Releasing one of a source's connections leaves the others counted
        against it.
        """
        guard = ConnectionGuard(self.clock, "tcp:8888", ListenerLimits(maxPerSource=2))
        first = _Connection()
        guard.track(first, _peer("192.0.2.1", 1))
        guard.track(_Connection(), _peer("192.0.2.1", 2))
        guard.release(first)
        guard.track(_Connection(), _peer("192.0.2.1", 3))
        self.assertEqual(guard.admit(_peer("192.0.2.1", 4)), "maxpersource")


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
