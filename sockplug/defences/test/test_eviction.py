"""
Tests for L{sockplug.defences._eviction}: slow connections making room for
new ones when a table is nearly full, through L{ConnectionGuard.admit}.
"""

from __future__ import annotations

import gc
import weakref
from typing import Any

from twisted.internet.address import UNIXAddress
from twisted.internet.testing import (
    MemoryReactorClock,
    StringTransportWithDisconnection,
)
from twisted.trial.unittest import SynchronousTestCase

from sockplug.defences._eviction import (
    GRACE,
    IN_FLIGHT,
    PENALTY,
    REMEMBERED,
    RERANK,
    ConnectionBudget,
    Ranking,
)
from sockplug.defences._guardedfactory import GuardedFactory
from sockplug.defences._streamguard import ConnectionGuard
from sockplug.options._limits import ListenerLimits
from sockplug.plugin import ListenerInfo, TransportKind
from sockplug.protocols.echo import buildStreamFactory
from sockplug.testing._logs import LogTexts as _Texts
from sockplug.testing._logs import peer as _peer


class _Connection:
    """
    A connection as the guard sees it: byte counts the test sets, and the
    guard's requests to close.
    """

    def __init__(self, sent: int = 0) -> None:
        self.bytesIn = sent
        self.bytesOut = 0
        self.aborted = 0
        self.closedGently = 0

    def activity(self) -> int:
        return self.bytesIn + self.bytesOut

    def closeGently(self) -> None:
        self.closedGently += 1

    def abort(self) -> None:
        self.aborted += 1


class _Unclosable(_Connection):
    """
    A connection whose transport cannot be closed.
    """

    def abort(self) -> None:
        raise RuntimeError("no way to close")


class _EvictionCase(SynchronousTestCase):
    """
    A guard on a memory clock, and connections arriving at it.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.texts = _Texts(self)
        self.port = 5000

    def guard(
        self, budget: ConnectionBudget | None = None, **limits: Any
    ) -> ConnectionGuard:
        return ConnectionGuard(self.clock, "tcp:8888", ListenerLimits(**limits), budget)

    def arrive(
        self,
        guard: ConnectionGuard,
        host: str | None = None,
        sent: int = 0,
        connection: _Connection | None = None,
    ) -> _Connection | None:
        """
        A connection from C{host} (a new address each time, if not given;
        a UNIX peer for C{""}) that has sent C{sent} bytes: L{None} if it
        is refused.
        """
        self.port += 1
        if host is None:
            n = self.port
            host = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
        address = UNIXAddress(None) if host == "" else _peer(host, self.port)
        if guard.admit(address) is not None:
            return None
        connection = _Connection(sent) if connection is None else connection
        guard.track(connection, address)
        return connection

    def fill(
        self, guard: ConnectionGuard, rates: list[int], host: str | None = None
    ) -> list[_Connection]:
        """
        Connections that have moved C{rates} bytes, then L{GRACE} seconds
        later: each moved that many bytes per second of its life.
        """
        connections = []
        for _ in rates:
            connection = self.arrive(guard, host)
            assert connection is not None
            connections.append(connection)
        self.clock.advance(GRACE)
        for connection, rate in zip(connections, rates, strict=True):
            connection.bytesIn = int(rate * GRACE)
        return connections

    def aborted(self, connections: list[_Connection]) -> list[int]:
        """
        The indexes of C{connections} closed to make room.
        """
        return [i for i, c in enumerate(connections) if c.aborted]


class OrderTests(_EvictionCase):
    """
    Which connection gives way.
    """

    def test_slowestFirst(self) -> None:
        """
        The connection that moved the fewest bytes per second gives way.
        """
        guard = self.guard(maxConnections=10)
        connections = self.fill(guard, [5, 3, 1, 4, 2, 6, 7, 8, 9])
        self.arrive(guard)
        self.assertEqual(self.aborted(connections), [2])

    def test_perSecondOfLife(self) -> None:
        """
        An older connection that moved more bytes, but fewer per second of
        its life, gives way before a younger one.
        """
        guard = self.guard(maxConnections=2)
        old = self.arrive(guard)
        self.clock.advance(100)
        young = self.arrive(guard)
        self.clock.advance(GRACE)
        assert old is not None and young is not None
        old.bytesIn, young.bytesIn = 100, 50  # 0.9/s and 5/s
        self.arrive(guard)
        self.assertEqual((old.aborted, young.aborted), (1, 0))

    def test_bothDirections(self) -> None:
        """
        Bytes sent to the peer count as much as bytes received.
        """
        guard = self.guard(maxConnections=2)
        reads, sends = self.fill(guard, [2, 0])
        sends.bytesOut = 30
        self.arrive(guard)
        self.assertEqual((reads.aborted, sends.aborted), (1, 0))

    def test_oldestOfEqualRates(self) -> None:
        """
        Of two connections equally slow, the older gives way.
        """
        guard = self.guard(maxConnections=2)
        older = self.arrive(guard)
        self.clock.advance(1)
        newer = self.arrive(guard)
        self.clock.advance(GRACE)
        self.arrive(guard)
        assert older is not None and newer is not None
        self.assertEqual((older.aborted, newer.aborted), (1, 0))

    def test_graceProtects(self) -> None:
        """
        A connection younger than L{GRACE} seconds never gives way: at the
        bound, the newcomer is refused.
        """
        guard = self.guard(maxConnections=2)
        connections = [self.arrive(guard), self.arrive(guard)]
        self.clock.advance(GRACE - 0.5)
        self.assertIsNone(self.arrive(guard))
        self.assertEqual([c.aborted for c in connections if c], [0, 0])
        self.assertEqual(guard.refused["maxconn"], 1)

    def test_graceEnds(self) -> None:
        """
        A connection exactly L{GRACE} seconds old may give way.
        """
        guard = self.guard(maxConnections=1)
        first = self.arrive(guard)
        self.clock.advance(GRACE)
        self.assertIsNotNone(self.arrive(guard))
        assert first is not None
        self.assertEqual(first.aborted, 1)


class PressureTests(_EvictionCase):
    """
    When a table is pressed enough for new connections to make room, and
    what they are let into.
    """

    def test_belowPressure(self) -> None:
        """
        Below nine tenths of C{maxconn}, a new connection closes none.
        """
        guard = self.guard(maxConnections=10)
        connections = self.fill(guard, [1] * 8)
        self.assertIsNotNone(self.arrive(guard))
        self.assertEqual(self.aborted(connections), [])

    def test_atPressure(self) -> None:
        """
        At nine tenths of C{maxconn}, a new connection closes one, and is
        let in.
        """
        guard = self.guard(maxConnections=10)
        connections = self.fill(guard, [2] * 8 + [1])
        self.assertIsNotNone(self.arrive(guard))
        self.assertEqual(self.aborted(connections), [8])

    def test_fullLetsIn(self) -> None:
        """
        At C{maxconn}, a new connection takes the place of the one it
        closed, and nothing is refused.
        """
        guard = self.guard(maxConnections=3)
        connections = self.fill(guard, [1, 2, 3])
        self.assertIsNotNone(self.arrive(guard))
        self.assertEqual(self.aborted(connections), [0])
        self.assertEqual((guard.refused["maxconn"], guard.openConnections), (0, 4))

    def test_closingCountedOnce(self) -> None:
        """
        A connection still closing to make room is not closed again: the
        next newcomer closes the next slowest.
        """
        guard = self.guard(maxConnections=3)
        connections = self.fill(guard, [1, 2, 3])
        self.arrive(guard)
        self.arrive(guard)
        self.assertEqual([c.aborted for c in connections], [1, 1, 0])

    def test_released(self) -> None:
        """
        Once the connections closed to make room are gone, the table is
        counted as before.
        """
        budget = ConnectionBudget()
        guard = self.guard(budget, maxConnections=2)
        first, _ = self.fill(guard, [1, 2])
        self.arrive(guard)
        guard.release(first)
        self.assertEqual(
            (guard.evictions.evicting, budget.evicting, guard.openConnections),
            (0, 0, 2),
        )

    def test_processTable(self) -> None:
        """
        At nine tenths of C{--max-connections}, a new connection on one
        listener closes the slowest of the process, on another listener.
        """
        budget = ConnectionBudget(4)
        first, second = self.guard(budget), self.guard(budget)
        [fast, slow] = self.fill(first, [0, 0])
        others = self.fill(second, [0, 0])
        fast.bytesIn, slow.bytesIn = 20, 3
        others[0].bytesIn, others[1].bytesIn = 10, 5
        self.assertIsNotNone(self.arrive(first))
        self.assertEqual((self.aborted([fast, slow]), self.aborted(others)), ([1], []))
        self.assertIsNotNone(self.arrive(second))
        self.assertEqual(self.aborted(others), [1])

    def test_listenerTableFirst(self) -> None:
        """
        When a listener's own C{maxconn} is pressed, only its own
        connections give way, even if another listener's are slower.
        """
        budget = ConnectionBudget(100)
        pressed, other = self.guard(budget, maxConnections=2), self.guard(budget)
        mine = self.fill(pressed, [5, 6])
        theirs = self.fill(other, [0])
        self.arrive(pressed)
        self.assertEqual((self.aborted(mine), self.aborted(theirs)), ([0], []))
        self.assertEqual((pressed.evicted, other.evicted, budget.evicting), (1, 0, 1))

    def test_evictNo(self) -> None:
        """
        With C{evict=no}, a full table refuses newcomers and closes none.
        """
        guard = self.guard(maxConnections=2, evict=False)
        connections = self.fill(guard, [1, 1])
        self.assertIsNone(self.arrive(guard))
        self.assertEqual(self.aborted(connections), [])

    def test_evictNoNeverCloses(self) -> None:
        """
        A listener with C{evict=no} keeps its connections when another
        listener's newcomers make room in the process's table.
        """
        budget = ConnectionBudget(2)
        kept, evicting = self.guard(budget, evict=False), self.guard(budget)
        slowest = self.fill(kept, [0])
        slower = self.fill(evicting, [1])
        self.arrive(evicting)
        self.assertEqual((self.aborted(slowest), self.aborted(slower)), ([], [0]))

    def test_inFlightBound(self) -> None:
        """
        While L{IN_FLIGHT} connections of the process are closing to make
        room, newcomers close no more, and are refused at the bound.
        """
        guard = self.guard(maxConnections=100)
        connections = self.fill(guard, [1] * 100)
        for _ in range(IN_FLIGHT):
            self.assertIsNotNone(self.arrive(guard))
        self.assertIsNone(self.arrive(guard))
        self.assertEqual(
            (len(self.aborted(connections)), guard.refused["maxconn"]), (IN_FLIGHT, 1)
        )


class FairnessTests(_EvictionCase):
    """
    Which newcomers may take a place.
    """

    def test_ownAddress(self) -> None:
        """
        A newcomer never takes the place of a connection from its own
        address.
        """
        guard = self.guard(maxConnections=3)
        connections = self.fill(guard, [1, 1, 1], host="192.0.2.9")
        self.assertIsNone(self.arrive(guard, "192.0.2.9"))
        self.assertEqual(self.aborted(connections), [])

    def test_newAddress(self) -> None:
        """
        A newcomer from an address that holds no connection may take the
        place of one from an address that holds a single one.
        """
        guard = self.guard(maxConnections=2)
        connections = self.fill(guard, [1, 2])
        self.assertIsNotNone(self.arrive(guard, "198.51.100.1"))
        self.assertEqual(self.aborted(connections), [0])

    def test_twoFewer(self) -> None:
        """
        A newcomer from an address that holds connections takes the place
        of one from an address that holds at least two more.
        """
        guard = self.guard(maxConnections=4)
        heavy = self.fill(guard, [1, 1, 1], host="192.0.2.9")
        mine = self.arrive(guard, "198.51.100.1", sent=1000)
        self.assertIsNotNone(self.arrive(guard, "198.51.100.1"))
        assert mine is not None
        self.assertEqual((self.aborted(heavy), mine.aborted), ([0], 0))

    def test_oneFewer(self) -> None:
        """
        A newcomer from an address that holds one connection fewer than
        the slowest's address takes no place: at the bound it is refused.
        """
        guard = self.guard(maxConnections=3)
        heavy = self.fill(guard, [1, 1], host="192.0.2.9")
        self.arrive(guard, "198.51.100.1", sent=1000)
        self.assertIsNone(self.arrive(guard, "198.51.100.1"))
        self.assertEqual(self.aborted(heavy), [])

    def test_penalized(self) -> None:
        """
        An address whose connection was closed to make room makes none
        itself for L{PENALTY} seconds: at the bound it is refused.
        """
        guard = self.guard(maxConnections=2)
        first, second = self.fill(guard, [1, 2])
        self.arrive(guard, "198.51.100.1", sent=100_000)
        guard.release(first)
        penalized = next(iter(guard.budget.penalized))
        self.clock.advance(PENALTY - 1)
        self.assertIsNone(self.arrive(guard, penalized))
        self.assertEqual(second.aborted, 0)

    def test_penaltyEnds(self) -> None:
        """
        L{PENALTY} seconds after its connection was closed to make room, an
        address may make room again.
        """
        guard = self.guard(maxConnections=2)
        first, second = self.fill(guard, [1, 2])
        self.arrive(guard, "198.51.100.1", sent=100_000)
        guard.release(first)
        penalized = next(iter(guard.budget.penalized))
        self.clock.advance(PENALTY)
        self.assertIsNotNone(self.arrive(guard, penalized))
        self.assertEqual(second.aborted, 1)

    def test_penaltiesBounded(self) -> None:
        """
        At most L{REMEMBERED} addresses are remembered, the oldest
        forgotten first.
        """
        budget = ConnectionBudget()
        for n in range(REMEMBERED + 1):
            budget.penalize(f"a{n}", 0.0)
        self.assertEqual(
            (
                len(budget.penalized),
                "a0" in budget.penalized,
                f"a{REMEMBERED}" in budget.penalized,
            ),
            (REMEMBERED, False, True),
        )

    def test_unixPeers(self) -> None:
        """
        Peers without addresses (UNIX sockets) make room by rate alone.
        """
        guard = self.guard(maxConnections=2)
        connections = self.fill(guard, [2, 1], host="")
        self.assertIsNotNone(self.arrive(guard, ""))
        self.assertEqual(self.aborted(connections), [1])


class RankingTests(_EvictionCase):
    """
    The cost of finding the slowest: one pass over the table pays for many
    evictions.
    """

    def pressed(self, size: int = 1000) -> tuple[ConnectionGuard, list[_Connection]]:
        guard = self.guard(maxConnections=size)
        return guard, self.fill(guard, [1 + n % 7 for n in range(size)])

    def test_onePassPerBatch(self) -> None:
        """
        Fifty newcomers within a second cost one pass over a full table of
        1,000 connections, and close its fifty slowest.
        """
        guard, connections = self.pressed()
        before = guard.evictions.ranking.passes
        for _ in range(50):
            self.arrive(guard)
        self.assertEqual(guard.evictions.ranking.passes - before, 1)
        closed = [c for c in connections if c.aborted]
        self.assertEqual((len(closed), {c.bytesIn for c in closed}), (50, {10}))

    def test_passPerInterval(self) -> None:
        """
        A ranking is used for L{RERANK} seconds at most.
        """
        guard, _ = self.pressed()
        before = guard.evictions.ranking.passes
        self.arrive(guard)
        self.clock.advance(RERANK)
        self.arrive(guard)
        self.assertEqual(guard.evictions.ranking.passes - before, 2)

    def test_batchUsedUp(self) -> None:
        """
        Once a full batch (the slowest sixteenth, and at least 64) is used
        up, the next newcomer ranks the table again.
        """
        guard, connections = self.pressed(2048)
        before = guard.evictions.ranking.passes
        for _ in range(2048 // 16):
            self.arrive(guard)
            for c in connections:
                if c.aborted:
                    guard.release(c)
        self.assertEqual(guard.evictions.ranking.passes - before, 1)
        self.arrive(guard)
        self.assertEqual(guard.evictions.ranking.passes - before, 2)

    def test_noPassWhileYoung(self) -> None:
        """
        While every connection is too young to give way, newcomers rank the
        table once per L{RERANK} seconds at most.
        """
        guard = self.guard(maxConnections=100)
        for _ in range(100):
            self.arrive(guard)
        for _ in range(100):
            self.assertIsNone(self.arrive(guard))
        self.assertEqual(guard.evictions.ranking.passes, 1)

    def test_fasterSinceSkipped(self) -> None:
        """
        A connection ranked among the slowest that has since moved more
        bytes than the batch's fastest is passed over.
        """
        guard = self.guard(maxConnections=3)
        slowest, slow, fast = self.fill(guard, [1, 2, 3])
        self.arrive(guard)
        slow.bytesIn += 1000
        self.arrive(guard)
        self.assertEqual((slowest.aborted, slow.aborted, fast.aborted), (1, 0, 1))

    def test_closedSinceSkipped(self) -> None:
        """
        A connection ranked among the slowest that has closed since is
        passed over.
        """
        guard = self.guard(maxConnections=3)
        slowest, slow, fast = self.fill(guard, [1, 2, 3])
        guard.evictions.ranking.slowest(self.clock.seconds(), [guard])
        guard.release(slowest)
        self.arrive(guard)  # (two open: below the pressure)
        self.arrive(guard)
        self.assertEqual((slowest.aborted, slow.aborted, fast.aborted), (0, 1, 0))

    def test_noPressureForgets(self) -> None:
        """
        Once a table is no longer pressed, its ranking holds no connection
        that has closed.
        """
        guard = self.guard(maxConnections=2)
        slowest = weakref.ref(self.fill(guard, [1, 2])[0])
        self.arrive(guard)
        for connection, _ in list(guard.entries()):
            guard.release(connection)
        self.arrive(guard)
        gc.collect()
        self.assertIsNone(slowest())

    def test_emptyTable(self) -> None:
        """
        A table with no connection has none to give way.
        """
        self.assertIsNone(Ranking().slowest(100.0, []))


class AccountingTests(_EvictionCase):
    """
    Connections closed to make room are counted and logged.
    """

    def test_counted(self) -> None:
        """
        Each connection closed to make room is counted, on its listener.
        """
        guard = self.guard(maxConnections=2)
        self.fill(guard, [1, 2])
        self.arrive(guard)
        self.arrive(guard)
        self.assertEqual(
            (guard.evicted, guard.counters.evicted, guard.accepted), (2, 2, 4)
        )

    def test_logged(self) -> None:
        """
        A line names the listener, the peer closed, the table's bound, and
        the peer's rate and age.
        """
        guard = self.guard(maxConnections=1)
        self.arrive(guard, "192.0.2.7", sent=5)
        self.clock.advance(20)
        self.arrive(guard)
        self.assertEqual(
            self.texts(" closed to make room "),
            [
                "tcp:8888 192.0.2.7:5001 closed to make room (maxconn=1 nearly"
                " reached): 0.25 bytes/s over 20s"
            ],
        )

    def test_loggedForProcess(self) -> None:
        """
        When the process's table is pressed, the line names its bound.
        """
        guard = self.guard(ConnectionBudget(1))
        self.fill(guard, [1])
        self.arrive(guard)
        [line] = self.texts(" closed to make room ")
        self.assertIn(" (--max-connections 1 nearly reached): ", line)

    def test_logRateLimited(self) -> None:
        """
        With C{loglines=10}, lines about one address's connections are
        bounded to 2 per window, and those held back are summed up.
        """
        guard = self.guard(maxConnections=5, logLines=10)
        self.fill(guard, [1] * 5, host="192.0.2.9")
        for _ in range(5):
            self.arrive(guard)
        guard.stop()
        self.assertEqual(len(self.texts(" closed to make room ")), 2)
        self.assertEqual(
            self.texts("held back"),
            [
                "tcp:8888: 3 log lines about evicted connections held back in"
                " the last 10s (rate limit)"
            ],
        )

    def test_closeFails(self) -> None:
        """
        A connection that cannot be closed is logged, and the newcomer is
        let in all the same.
        """
        guard = self.guard(maxConnections=1)
        self.arrive(guard, connection=_Unclosable())
        self.clock.advance(GRACE)
        self.assertIsNotNone(self.arrive(guard))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(
            self.texts("closing a connection failed"),
            ["tcp:8888: closing a connection failed"],
        )


class ProtocolTests(_EvictionCase):
    """
    A protocol built on L{sockplug.protocols.base.CountingProtocol} (echo)
    makes room.
    """

    def test_echoAborted(self) -> None:
        """
        The slowest echo connection is aborted and released; the newcomer
        is echoed.
        """
        info = ListenerInfo(
            "tcp:8888",
            TransportKind.STREAM,
            "echo",
            self.clock,
            ListenerLimits(maxConnections=1),
        )
        guard = ConnectionGuard(self.clock, "tcp:8888", info.limits)
        factory = GuardedFactory(buildStreamFactory(info), guard)
        transports, protocols = [], []
        for host in ("192.0.2.1", "192.0.2.2"):
            transport = StringTransportWithDisconnection(peerAddress=_peer(host))
            protocol = factory.buildProtocol(transport.getPeer())
            assert protocol is not None
            transport.protocol = protocol
            protocol.makeConnection(transport)
            transports.append(transport)
            protocols.append(protocol)
            self.clock.advance(GRACE)
        protocols[1].dataReceived(b"hello\n")
        self.assertEqual(
            (transports[0].disconnected, transports[1].value()), (True, b"hello\n")
        )
        self.assertEqual((guard.openConnections, guard.evictions.evicting), (1, 0))
