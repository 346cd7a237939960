"""
Tests for L{sockplug.defences._streamguard}: which connections a
L{ConnectionGuard} lets in (access lists, the process's budget, C{maxconn=},
C{maxpersource=}), how its refusals are logged, and how it counts the
connections it tracks until they are released.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv6Address, UNIXAddress
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import LogLevel, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from sockplug.defences._streamguard import ConnectionBudget, ConnectionGuard, hostOf
from sockplug.options._access import AccessList
from sockplug.options._limits import ListenerLimits
from sockplug.testing._guard import TrackedConnection as _Connection
from sockplug.testing._logs import LogTexts as _Texts
from sockplug.testing._logs import peer as _peer


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


class NotPerSourceTests(SynchronousTestCase):
    """
    L{ConnectionGuard.admit} and L{ConnectionGuard.track} with
    C{perSource=False}, as for a balancer's connection waiting for its PROXY
    header: C{maxpersource=} neither applies to it nor counts it.
    """

    def setUp(self) -> None:
        self.guard = ConnectionGuard(
            MemoryReactorClock(),
            "haproxy:tcp:8888",
            ListenerLimits(maxPerSource=1, maxConnections=3),
        )

    def test_admitIgnoresSource(self) -> None:
        """
        A source at its C{maxpersource=} is let in.
        """
        self.guard.track(_Connection(), _peer())
        self.assertIsNone(self.guard.admit(_peer(), perSource=False))

    def test_admitKeepsOtherLimits(self) -> None:
        """
        C{maxconn=} still applies.
        """
        for _ in range(3):
            self.guard.track(_Connection(), _peer(), perSource=False)
        self.assertEqual(self.guard.admit(_peer(), perSource=False), "maxconn")

    def test_trackNotCountedForSource(self) -> None:
        """
        A connection tracked so does not count against its source.
        """
        self.guard.track(_Connection(), _peer(), perSource=False)
        self.assertIsNone(self.guard.admit(_peer()))

    def test_trackedNamedAndReleased(self) -> None:
        """
        A connection tracked so is open under its peer's name until
        released.
        """
        connection = _Connection()
        self.guard.track(connection, _peer(), perSource=False)
        named = self.guard.peerOf(connection)
        self.guard.release(connection)
        self.assertEqual(
            (named, self.guard.openConnections, self.guard.admit(_peer())),
            ("192.0.2.1:5000", 0, None),
        )
