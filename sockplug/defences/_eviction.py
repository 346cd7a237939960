# -*- test-case-name: sockplug.defences.test.test_eviction -*-
"""
Room for new connections when a connection table is nearly full: the
slowest established connections give way (C{evict=yes}, the default).

A slow client that sends one byte every few seconds never trips the idle
timeout, and enough of them from a few dozen addresses fill the table, so
that well-behaved clients are refused. Servers meet this in two ways: a
minimum rate or a deadline for a request (Apache's C{mod_reqtimeout}
C{MinRate}, HAProxy's C{timeout http-request}), which needs to know what a
request is, and shedding load under pressure (Envoy's overload manager),
which does not. sockplug serves any protocol, so it sheds: nothing changes
until a table is nearly full, and then the connections that make the least
use of their place lose it first.

A table is the process's (C{--max-connections}: L{ConnectionBudget}) or one
listener's (C{maxconn=}). Once the connections open in it (less those
already closing to make room) reach L{PRESSURE} of its bound, each new
connection let in first closes one established connection: the one that
has moved the fewest bytes, either way, per second of its life, among those
at least L{GRACE} seconds old (so a newcomer has time to start). Then the
newcomer is let in as usual; at the bound, the place being freed counts as
free.

Three rules keep an attacker who reconnects as fast as he is closed from
turning this against the server (his new connections pushing out his old
ones until every place is held by one too young to give way, so that
well-behaved newcomers find none):
 - A newcomer from an address that holds connections on its listener
   takes a place only from an address that holds at least two more: an
   address cannot push out its own connections, and a few addresses only
   even out their shares, then stop pushing each other out. A newcomer
   from an address that holds none may always take a place.
 - An address whose connection was closed to make room makes none itself
   for L{PENALTY} seconds (it still comes in while there is room): many
   addresses holding one connection each push out each other's at most
   once a minute each, so the older connections stay there for
   well-behaved newcomers to replace.
 - At most L{IN_FLIGHT} connections of the process are being closed to make
   room at once (each closes within a reactor turn), which bounds the
   descriptors in use beyond the bound.

Cost: nothing per read (the rates come from the byte counts the protocols
keep anyway), nothing per connection below the pressure. Under pressure the
slowest connections are ranked in batches (L{Ranking}): one pass over a
table of N connections keeps its slowest sixteenth, the next arrivals take
from it (each victim checked again: still open, not faster than the batch's
fastest was), and a new pass happens at most once per L{RERANK} seconds, or
when a full batch is used up: a pass pays for N/16 evictions.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from typing import Protocol as TypingProtocol
from weakref import WeakSet

from twisted.logger import Logger

from sockplug.options import PROCESS

if TYPE_CHECKING:
    from sockplug.defences._connection import Tracked
    from sockplug.defences._counters import StreamCounters
    from sockplug.logs import RateLimitedLog
    from sockplug.options import ListenerLimits

__all__ = [
    "GRACE",
    "IN_FLIGHT",
    "PENALTY",
    "PRESSURE",
    "REMEMBERED",
    "RERANK",
    "ConnectionBudget",
    "Entry",
    "Evictions",
    "Ranking",
]

_log = Logger()

# The share of a table's bound from which new connections make room.
PRESSURE = 0.9
# Seconds a connection is safe from eviction after it opens.
GRACE = 10.0
# Seconds a ranking of the slowest connections is used at most.
RERANK = 1.0
# Connections of the process being closed to make room at once, at most.
IN_FLIGHT = 64
# Seconds an address whose connection was closed to make room makes none.
PENALTY = 60.0
# Such addresses remembered at once, at most (the oldest are forgotten).
REMEMBERED = 65_536
# A ranking keeps the slowest sixteenth of a table, and at least 64.
_SHARE = 16
_LEAST = 64


class Entry:
    """
    What a guard knows of a connection it tracks.

    @ivar source: its source address (an IPv6 /64 as one), or L{None}.
    @ivar peer: its peer, as log lines show it.
    @ivar since: when it opened.
    @ivar seen: its activity at the last idle sweep, and C{seenAt} when
        that last changed.
    @ivar closing: asked to close by the idle sweep.
    @ivar evicted: closed to make room.
    @ivar open: not released yet.
    """

    __slots__ = (
        "closing",
        "evicted",
        "open",
        "peer",
        "seen",
        "seenAt",
        "since",
        "source",
    )

    def __init__(self, source: str | None, peer: str, now: float) -> None:
        self.source = source
        self.peer = peer
        self.since = now
        self.seen = 0
        self.seenAt = now
        self.closing = False
        self.evicted = False
        self.open = True


class Table(TypingProtocol):
    """
    What eviction needs of a listener's guard.
    """

    description: str
    limits: ListenerLimits
    counters: StreamCounters
    log: RateLimitedLog
    evictions: Evictions

    def entries(self) -> Iterable[tuple[Tracked, Entry]]:
        """
        The connections open, each with its entry.
        """

    def holds(self, source: str) -> int:
        """
        How many connections from C{source} are open.
        """


class ConnectionBudget:
    """
    The connections open at once in the whole process, and their bound
    (C{--max-connections}): shared by every stream listener's guard.

    @ivar evicting: connections being closed to make room.
    @ivar tables: the guards that share it.
    @ivar ranking: the slowest connections of them all.
    @ivar penalized: the addresses whose connections were closed to make
        room, each with when it may make room again, the oldest first.
    """

    def __init__(self, limit: int = PROCESS["max-connections"].default) -> None:
        self.limit = limit
        self.open = 0
        self.evicting = 0
        self.tables: WeakSet[Table] = WeakSet()
        self.ranking = Ranking()
        self.penalized: OrderedDict[str, float] = OrderedDict()

    def penalize(self, source: str, now: float) -> None:
        """
        A connection from C{source} was closed to make room.
        """
        penalized = self.penalized
        penalized[source] = now + PENALTY
        penalized.move_to_end(source)
        if len(penalized) > REMEMBERED:
            penalized.popitem(last=False)

    def mayMakeRoom(self, source: str | None, now: float) -> bool:
        """
        Whether a newcomer from C{source} may make room now.
        """
        until = None if source is None else self.penalized.get(source)
        return until is None or until <= now


class _Candidate:
    __slots__ = ("connection", "entry", "table")

    def __init__(self, table: Table, connection: Tracked, entry: Entry) -> None:
        self.table = table
        self.connection = connection
        self.entry = entry


def rateOf(connection: Tracked, entry: Entry, now: float) -> float:
    """
    The bytes a connection has moved, either way, per second of its life.
    """
    return connection.activity() / max(now - entry.since, 1e-9)


class Ranking:
    """
    The slowest connections of a table, ranked now and then.
    """

    def __init__(self) -> None:
        self._batch: list[_Candidate] = []  # the slowest last
        self._cutoff = 0.0  # the fastest rate in the batch when ranked
        self._rankedAt = float("-inf")
        self._full = False  # the batch left out eligible connections
        self.passes = 0

    def slowest(self, now: float, tables: Iterable[Table]) -> _Candidate | None:
        """
        The slowest connection at least L{GRACE} seconds old that is open
        and not evicted yet, or L{None}.
        """
        if now >= self._rankedAt + RERANK:
            self._rank(now, tables)
        candidate = self._top(now)
        if candidate is None and self._full:
            self._rank(now, tables)  # used up, and there are more
            candidate = self._top(now)
        return candidate

    def clear(self) -> None:
        """
        Forget the batch (the table is no longer pressed): it holds no
        connection that has closed since.
        """
        if self._batch:
            self._batch = []
            self._rankedAt = float("-inf")

    def _top(self, now: float) -> _Candidate | None:
        batch = self._batch
        while batch:
            candidate = batch[-1]
            entry = candidate.entry
            if (
                entry.open
                and not entry.evicted
                and rateOf(candidate.connection, entry, now) <= self._cutoff
            ):
                return candidate
            batch.pop()
        return None

    def _rank(self, now: float, tables: Iterable[Table]) -> None:
        self.passes += 1
        self._rankedAt = now
        latest = now - GRACE
        eligible = [
            (
                connection.activity() / (now - entry.since),
                entry.since,
                table,
                connection,
                entry,
            )
            for table in list(tables)
            if table.limits.evict  # (evict=no: never closed to make room)
            for connection, entry in table.entries()
            if entry.since <= latest and not entry.evicted
        ]
        size = max(_LEAST, len(eligible) // _SHARE)
        slowest = heapq.nsmallest(size, eligible, key=lambda e: (e[0], e[1]))
        self._full = len(eligible) > size
        self._cutoff = slowest[-1][0] if slowest else 0.0
        self._batch = [_Candidate(e[2], e[3], e[4]) for e in reversed(slowest)]


class Evictions:
    """
    One listener's part in making room: which table is under pressure,
    whether a newcomer may take a place, and closing the connection that
    gives way.

    @ivar evicting: this listener's connections being closed to make room.
    """

    def __init__(
        self,
        reactor: Any,
        table: Table,
        entries: dict[Any, Entry],
        budget: ConnectionBudget,
    ) -> None:
        self._reactor = reactor
        self._table = table
        self._entries = entries
        self._budget = budget
        self.ranking = Ranking()
        self.evicting = 0
        budget.tables.add(table)

    def makeRoom(self, source: str | None) -> None:
        """
        A connection from C{source} is arriving: if a table is nearly full,
        close its slowest connection, if one may give way to it.
        """
        table, budget = self._table, self._budget
        tables: Iterable[Table]
        limit = table.limits.maxConnections
        if limit is not None and len(self._entries) - self.evicting >= PRESSURE * limit:
            ranking, tables, bound = self.ranking, (table,), f"maxconn={limit}"
        elif budget.open - budget.evicting >= PRESSURE * budget.limit:
            ranking, tables = budget.ranking, budget.tables
            bound = f"--max-connections {budget.limit}"
        else:
            if self.ranking._batch or budget.ranking._batch:
                self.ranking.clear()  # hold no connection that has closed
                budget.ranking.clear()
            return
        now = self._reactor.seconds()
        if budget.evicting >= IN_FLIGHT or not budget.mayMakeRoom(source, now):
            return
        candidate = ranking.slowest(now, tables)
        if candidate is None or not self._mayReplace(source, candidate):
            return
        candidate.table.evictions.evict(candidate.connection, now, bound)

    def _mayReplace(self, source: str | None, candidate: _Candidate) -> bool:
        """
        Whether a newcomer from C{source} may take C{candidate}'s place.
        """
        other = candidate.entry.source
        if source is None or other is None:
            return True  # no addresses (UNIX sockets): the rates decide
        holds = self._table.holds(source)
        return holds == 0 or holds + 2 <= candidate.table.holds(other)

    def evict(self, connection: Tracked, now: float, bound: str) -> None:
        """
        Close one of this listener's connections to make room (at once: a
        slow peer may not read what is queued), counted and logged.
        """
        entry = self._entries[connection]
        table = self._table
        entry.evicted = True
        self.evicting += 1
        self._budget.evicting += 1
        if entry.source is not None:
            self._budget.penalize(entry.source, now)
        table.counters.evicted += 1
        table.log.emit(
            "evicted connections",
            entry.source or "",
            "{listener} {peer} closed to make room ({bound} nearly reached):"
            " {rate:.3g} bytes/s over {seconds:.0f}s",
            listener=table.description,
            peer=entry.peer,
            bound=bound,
            rate=rateOf(connection, entry, now),
            seconds=now - entry.since,
        )
        try:
            connection.abort()
        except Exception:
            _log.failure(
                "{listener}: closing a connection failed", listener=table.description
            )

    def released(self) -> None:
        """
        A connection of this listener closed to make room has closed.
        """
        self.evicting -= 1
        self._budget.evicting -= 1
