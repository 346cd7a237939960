# -*- test-case-name: sockplug.defences.test.test_streamadmission,sockplug.defences.test.test_streamidle,sockplug.defences.test.test_streamlifecycle,sockplug.defences.test.test_streamcounting -*-  # noqa: E501
"""
The defences of a stream listener: which connections are let in (access
lists, connection limits), which are closed for idling, and how they are
all closed when the server stops.

A L{ConnectionGuard} serves one listener: it admits or refuses each new
connection, counts those let in (per listener, per source address, and in
the process's L{ConnectionBudget}), closes idle ones, has the slowest make
room for new ones when a table is nearly full (L{Evictions}), and closes
them all when the server stops. It needs of a connection only what L{Tracked} says;
L{sockplug.defences._guardedfactory} puts it in front of a protocol plugin.

Idle connections are found lazily: no timer is reset on each read. Every
tenth of the idle timeout, the guard compares each connection's byte counts
with those it saw last; a connection whose counts have not moved for the
whole timeout is closed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IAddress
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure

from sockplug.defences._connection import Tracked, hostOf
from sockplug.defences._counters import StreamCounters, errorKind
from sockplug.defences._eviction import ConnectionBudget, Entry, Evictions
from sockplug.logs import RateLimitedLog, formatAddress
from sockplug.options import ListenerLimits, sourceOf

__all__ = ["ConnectionBudget", "ConnectionGuard", "Tracked", "hostOf"]

_log = Logger()


class ConnectionGuard:
    """
    Admits, counts and closes the connections of one stream listener.

    @ivar counters: what it has let in, refused and closed (shared with
        the guard that replaces it on a reload).
    """

    def __init__(
        self,
        reactor: Any,
        description: str,
        limits: ListenerLimits,
        budget: ConnectionBudget | None = None,
        *,
        counters: StreamCounters | None = None,
    ) -> None:
        self._reactor = reactor
        self.budget = ConnectionBudget() if budget is None else budget
        self.description = description
        self.limits = limits
        self.log = RateLimitedLog(reactor, _log, description, perEvent=limits.logLines)
        self._open: dict[Tracked, Entry] = {}
        self._perSource: dict[str, int] = {}
        self.counters = StreamCounters() if counters is None else counters
        self.evictions = Evictions(reactor, self, self._open, self.budget)
        self._sweep: Any = None
        self._sweeping = False  # started, and not stopped
        self._empty: list[Deferred[None]] = []

    @property
    def refused(self) -> dict[str, int]:
        """
        Connections refused, by reason (C{"access"}, C{"maxconn"} for this
        listener's bound, C{"global"} for the process's, C{"maxpersource"},
        C{"proxy"}).
        """
        return self.counters.refused

    @property
    def accepted(self) -> int:
        """
        Connections let in.
        """
        return self.counters.accepted

    @property
    def idleClosed(self) -> int:
        """
        Connections closed for idling.
        """
        return self.counters.idleClosed

    def openTraffic(self) -> tuple[int, int]:
        """
        The bytes received and sent so far on the connections open now.
        """
        bytesIn = bytesOut = 0
        for connection in self._open:
            bytesIn += connection.bytesIn
            bytesOut += connection.bytesOut
        return bytesIn, bytesOut

    @property
    def evicted(self) -> int:
        """
        Connections closed to make room for new ones.
        """
        return self.counters.evicted

    def entries(self) -> Iterable[tuple[Tracked, Entry]]:
        """
        The connections open now, each with what is known of it.
        """
        return self._open.items()

    def holds(self, source: str) -> int:
        """
        How many connections from C{source} (as L{sourceOf} gives it) are
        open now.
        """
        return self._perSource.get(source, 0)

    @property
    def openConnections(self) -> int:
        """
        How many connections are open now.
        """
        return len(self._open)

    def start(self) -> None:
        """
        Start looking for idle connections, if there is an idle timeout.
        """
        self._sweeping = True
        if self.limits.idleTimeout > 0 and self._sweep is None:
            self._sweep = self._reactor.callLater(self.sweepInterval, self.sweep)

    @property
    def sweepInterval(self) -> float:
        """
        How often idle connections are looked for.
        """
        return min(max(self.limits.idleTimeout / 10, 0.05), 30.0)

    def reconfigure(self, description: str, limits: ListenerLimits) -> None:
        """
        Take new limits (a reload changed the listener): they apply to the
        connections open now as to new ones; the counts carry over.
        """
        self.description = description
        self.limits = limits
        self.log.configure(description, limits.logLines)
        if self._sweeping:
            # Sweep at the new interval, or start (idle was 0), or stop.
            self._cancelSweep()
            self.start()

    def _cancelSweep(self) -> None:
        if self._sweep is not None:
            if self._sweep.active():
                self._sweep.cancel()
            self._sweep = None

    def stop(self) -> None:
        """
        Stop looking for idle connections; log what the rate limit held back.
        """
        self._sweeping = False
        self._cancelSweep()
        self.log.stop()

    def admit(
        self, address: IAddress | None, checkAccess: bool = True, perSource: bool = True
    ) -> str | None:
        """
        Whether a new connection from C{address} may come in; if a table is
        nearly full, the slowest connection is closed first to make room.

        @param checkAccess: whether the access lists apply (not to a
            balancer's connection waiting for its PROXY header: they are
            checked against the client it names).
        @param perSource: whether C{maxPerSource} applies (not to a
            balancer's connection waiting for its PROXY header, either).
        @return: L{None} if it may, or why not (a key of C{refused}); the
            refusal is counted and logged.
        """
        host = hostOf(address)
        source = None if host is None else sourceOf(host)
        limits, budget = self.limits, self.budget
        if checkAccess and limits.access and not limits.access.admits(host):
            return self._refuse(
                "access", "not allowed by allow=/deny=", source, address
            )
        overSource = (
            perSource
            and source is not None
            and self._perSource.get(source, 0) >= limits.maxPerSource
        )
        if limits.evict and not overSource:
            self.evictions.makeRoom(source)  # if a table is nearly full
        why = None  # (connections closing to make room gave up their places)
        if budget.open - budget.evicting >= budget.limit:
            why, text = "global", f"--max-connections {budget.limit} reached"
        elif (
            limits.maxConnections is not None
            and len(self._open) - self.evictions.evicting >= limits.maxConnections
        ):
            why, text = "maxconn", f"maxconn={limits.maxConnections} reached"
        elif overSource:
            why, text = (
                "maxpersource",
                f"maxpersource={limits.maxPerSource} reached for {source}",
            )
        if why is None:
            return None
        return self._refuse(why, text, source, address)

    def _refuse(
        self, why: str, text: str, source: str | None, address: IAddress | None
    ) -> str:
        """
        Count and log a refusal; return C{why}.
        """
        self.counters.refused[why] += 1
        self.log.emit(
            "refused connections",
            source or "",
            "{listener} refused {peer}: {why}",
            LogLevel.warn,
            listener=self.description,
            peer=formatAddress(address),
            why=text,
        )
        return why

    def track(
        self,
        connection: Tracked,
        address: IAddress | None,
        counted: bool = True,
        perSource: bool = True,
    ) -> None:
        """
        Count a connection let in, until L{release}.

        @param counted: whether it counts in C{accepted} (not a balancer's
            connection waiting for its PROXY header: the client's
            connection is counted once the header names it).
        @param perSource: whether it counts against its source address's
            C{maxPerSource} (not a balancer's connection waiting for its
            PROXY header, either).
        """
        host = hostOf(address) if perSource else None
        if host is not None:
            host = sourceOf(host)
        self._open[connection] = Entry(
            host, formatAddress(address), self._reactor.seconds()
        )
        if host is not None:
            self._perSource[host] = self._perSource.get(host, 0) + 1
        if counted:
            self.counters.accepted += 1
        self.budget.open += 1

    def peerOf(self, connection: Tracked) -> str | None:
        """
        The peer of a connection tracked, as its log lines show it (a
        protocol that shows the same shares the string: it is kept for
        each connection open).
        """
        entry = self._open.get(connection)
        return None if entry is None else entry.peer

    def release(self, connection: Tracked, reason: Failure | None = None) -> None:
        """
        A connection has closed: its bytes go into the listener's totals.

        @param reason: why, if it is closed for good (what its
            C{connectionLost} was given): an error is counted.
        """
        entry = self._open.pop(connection, None)
        if entry is None:
            return
        counters = self.counters
        counters.bytesIn += connection.bytesIn
        counters.bytesOut += connection.bytesOut
        kind = errorKind(reason)
        if kind is not None:
            counters.errors[kind] += 1
        self.budget.open -= 1
        entry.open = False
        if entry.evicted:
            self.evictions.released()
        if entry.source is not None:
            left = self._perSource[entry.source] - 1
            if left:
                self._perSource[entry.source] = left
            else:
                del self._perSource[entry.source]
        if not self._open:
            waiting, self._empty = self._empty, []
            for d in waiting:
                d.callback(None)

    def sweep(self) -> None:
        """
        Close the connections idle for the whole timeout (and abort those
        asked to close at the last sweep that are still open); then look
        again later.
        """
        self._sweep = None
        try:
            now = self._reactor.seconds()
            for connection, entry in list(self._open.items()):
                self._safely(self._sweepOne, connection, entry, now)
        finally:
            if self._sweeping:  # (not if a close along the way stopped it)
                self.start()

    def _sweepOne(self, connection: Tracked, entry: Entry, now: float) -> None:
        if entry.closing:
            connection.abort()
            return
        activity = connection.activity()
        if activity != entry.seen:
            entry.seen, entry.seenAt = activity, now
        elif now - entry.seenAt >= self.limits.idleTimeout:
            entry.closing = True
            self.counters.idleClosed += 1
            self.log.emit(
                "idle connections",
                entry.source or "",
                "{listener} {peer} idle for {seconds:.0f}s; closing",
                listener=self.description,
                peer=entry.peer,
                seconds=now - entry.seenAt,
            )
            connection.closeGently()

    def _safely(self, f: Callable[..., None], *args: Any) -> None:
        """
        Call C{f}; a failure (a plugin's transport without
        C{abortConnection}, say) is logged, and does not keep the other
        connections from being looked at.
        """
        try:
            f(*args)
        except Exception:
            _log.failure(
                "{listener}: closing a connection failed", listener=self.description
            )

    def whenEmpty(self) -> Deferred[None]:
        """
        A L{Deferred} that fires once no connection is open.
        """
        if not self._open:
            return defer.succeed(None)
        d: Deferred[None] = Deferred()
        self._empty.append(d)
        return d

    def closeAll(self, gently: bool) -> None:
        """
        Close every open connection: gently (once what is queued is sent) or
        at once.
        """
        for connection in list(self._open):
            self._safely(connection.closeGently if gently else connection.abort)
