# -*- test-case-name: sockplug.defences.test.test_datagramguard -*-
"""
The defences of a datagram listener against reflection and amplification:
a datagram server answers whatever source address a datagram claims, so a
forged source makes it fire at a victim, or at another server that answers
back (CVE-1999-0103, "fraggle").

L{DatagramGuard} stands between the port and the plugin's protocol. It
drops datagrams from sources the access lists refuse before the protocol
sees them, and it hands the protocol a transport whose C{write} sends a
reply only if:
  - its destination port is not one of the blocked source ports (the
    classic services that answer anything, and always 0, which only a
    forged datagram comes from, and this process's own datagram ports, as
    FreeBSD's inetd checks);
  - it is no more than C{replygrowth} bytes larger than the request it
    answers (a reply sent later, from a timer or a Deferred, than the
    last datagram its destination sent);
  - the destination address has a token left in its bucket (C{replyrate}
    per second, up to C{replyburst} at once).

Each drop is counted and logged at a bounded rate. C{write} returns
L{False} for a dropped reply (L{None}, as Twisted's, for one sent).
"""

from __future__ import annotations

from collections.abc import Set
from typing import Any

from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger, LogLevel

from sockplug.defences._counters import DatagramCounters
from sockplug.defences._datagrambatch import BatchingGuard
from sockplug.defences._datagramtransport import GuardedDatagramTransport
from sockplug.logs import RateLimitedLog, formatAddress
from sockplug.options import ListenerLimits, sourceOf

__all__ = ["DatagramGuard", "GuardedDatagramTransport"]

_log = Logger()

# Sources whose reply buckets are remembered; past this, the full buckets
# are forgotten (a full bucket is the same as none), then the oldest.
MAX_SOURCES = 65536


def _source(address: Any) -> tuple[str, int | None]:
    """
    The host (or socket path) and port a datagram came from.
    """
    if isinstance(address, tuple) and len(address) >= 2:
        return str(address[0]), int(address[1])
    if isinstance(address, bytes):
        return address.decode("utf-8", "surrogateescape"), None
    return str(address or ""), None


class DatagramGuard(BatchingGuard, DatagramProtocol):
    """
    Guards one datagram listener's protocol.

    @ivar counters: the datagrams it let through, sent and dropped
        (shared with the guard that replaces it on a reload).
    """

    noisy = False

    def __init__(
        self,
        reactor: Any,
        description: str,
        limits: ListenerLimits,
        wrapped: DatagramProtocol,
        ownPorts: Set[int] = frozenset(),
        *,
        counters: DatagramCounters | None = None,
    ) -> None:
        self._reactor = reactor
        self.description = description
        self.limits = limits
        self.wrapped = wrapped
        self._ownPorts = ownPorts
        self.log = RateLimitedLog(reactor, _log, description, perEvent=limits.logLines)
        self.counters = DatagramCounters() if counters is None else counters
        self._buckets: dict[str, list[float]] = {}
        self._requests: dict[str, int] = {}
        self._batch: list[tuple[bytes, Any]] | None = None

    @property
    def limits(self) -> ListenerLimits:
        """
        The listener's defences.
        """
        return self._limits

    @limits.setter
    def limits(self, limits: ListenerLimits) -> None:
        # What each datagram and reply reads, taken out once.
        self._limits = limits
        self._access = limits.access if limits.access else None
        self._blocked = limits.blockedPorts | {0}
        # IPv4 (host, port) addresses whose port was found not blocked (but
        # that may since be one of this process's own listeners'): a reply
        # to one is checked for nothing else of its address. Forgotten when
        # the limits change.
        self._plain: set[tuple[str, int]] = set()
        self._growth = limits.replyGrowth
        self._rate = float(limits.replyRate)
        self._burst = float(limits.replyBurst)

    @property
    def dropped(self) -> dict[str, int]:
        """
        Datagrams dropped, by reason: C{"access"} (received from a refused
        source), C{"port"}, C{"size"} and C{"rate"} (replies).
        """
        return self.counters.dropped

    def logPrefix(self) -> str:
        prefix = getattr(self.wrapped, "logPrefix", None)
        return prefix() if prefix is not None else type(self.wrapped).__name__

    def makeConnection(self, transport: Any) -> None:
        DatagramProtocol.makeConnection(self, transport)
        guarded = GuardedDatagramTransport(transport, self)
        self.wrapped.makeConnection(guarded)  # type: ignore[arg-type]

    def replaceWrapped(
        self, description: str, limits: ListenerLimits, wrapped: DatagramProtocol
    ) -> None:
        """
        Hand datagrams to C{wrapped} from now on, under C{limits} (a reload
        changed the listener): the protocol it replaces is stopped.
        """
        old, self.wrapped = self.wrapped, wrapped
        self.description = description
        self.limits = limits
        self.log.configure(description, limits.logLines)
        if self.transport is not None:
            wrapped.makeConnection(GuardedDatagramTransport(self.transport, self))  # type: ignore[arg-type]
        if old.numPorts:  # (not if it never listened, or its port stopped)
            old.doStop()

    def doStop(self) -> None:
        DatagramProtocol.doStop(self)
        self.wrapped.doStop()
        self.log.stop()

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        if self._arrived(datagram, addr):
            try:
                self.wrapped.datagramReceived(datagram, addr)
            except BaseException:
                self.counters.errors["protocol"] += 1
                raise  # for the port to log

    def _arrived(self, datagram: bytes, addr: Any) -> bool:
        """
        Count a datagram, and note its size as the bound of replies to its
        host (sent now, or later from a Deferred or a timer, until the host
        sends another).

        @return: whether the access lists admit it (if not, the drop is
            counted and logged).
        """
        size = len(datagram)
        counters = self.counters
        counters.datagramsIn += 1
        counters.bytesIn += size
        if self._access is not None and not self._admits(addr):
            return False
        host = addr[0] if addr.__class__ is tuple else None
        if host.__class__ is not str:
            host = _source(addr)[0]
        requests = self._requests
        if len(requests) >= MAX_SOURCES and host not in requests:
            for old in list(requests)[: max(1, MAX_SOURCES // 4)]:
                del requests[old]
        requests[host] = size
        return True

    def _admits(self, addr: Any) -> bool:
        """
        Whether the access lists admit a datagram from C{addr}; if not, the
        drop is counted and logged.
        """
        assert self._access is not None
        if self._access.admits(addr[0] if isinstance(addr, tuple) else None):
            return True
        return self._drop("access", addr, "not allowed by allow=/deny=")

    def connectionRefused(self) -> None:
        self.wrapped.connectionRefused()

    def allowReply(
        self,
        data: bytes,
        addr: Any,
        request: int | None = None,
        now: float | None = None,
    ) -> bool:
        """
        Whether C{data} may be sent to C{addr}; if not, the drop is counted
        and logged.

        @param request: the size of the datagram C{data} answers; if not
            given, that of the last datagram C{addr}'s host sent (the one
            being answered, or the last before a later reply). A host that
            sent none is sent no reply: only the rate applies.
        @param now: the time of the check, if not now (replies checked
            together are checked at one instant).
        """
        try:
            plain = addr in self._plain
        except TypeError:  # (an address that cannot be hashed is not one)
            plain = False
        if plain and addr[1] not in self._ownPorts:
            address = addr[0]
        else:
            address = self._portAllowed(addr)
            if address is None:
                return False
        if request is None:
            request = self._requests.get(address, -1)
        if request >= 0 and len(data) > request + self._growth:
            return self._drop(
                "size", addr, f"reply of {len(data)} bytes to a request of {request}"
            )
        # The host's token bucket, [tokens, when last refilled]; an IPv6
        # source is its /64.
        host = sourceOf(address) if ":" in address else address
        if now is None:
            now = self._reactor.seconds()
        bucket = self._buckets.get(host)
        if bucket is None:
            if len(self._buckets) >= MAX_SOURCES:
                self._forget(now)
            tokens = self._burst
            bucket = self._buckets[host] = [tokens, now]
        else:
            tokens = bucket[0] + (now - bucket[1]) * self._rate
            # (min() costs a call: this runs for every reply.)
            tokens = tokens if tokens < self._burst else self._burst
            bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            return self._rateDrop(addr)
        bucket[0] = tokens - 1.0
        return True

    def _portAllowed(self, addr: Any) -> str | None:
        """
        The host (or path) of C{addr} if its port is not blocked; if it is,
        L{None}, the drop counted and logged. An IPv4 C{(host, port)} whose
        port is not blocked is remembered in L{_plain}.
        """
        if addr.__class__ is tuple and len(addr) == 2:
            address, port = addr
            if address.__class__ is not str or port.__class__ is not int:
                address, port = _source(addr)
        else:
            address, port = _source(addr)
        # (A UNIX sender's port is None, in neither set.)
        if port in self._blocked or port in self._ownPorts:
            self._drop("port", addr, f"source port {port} is blocked")
            return None
        if addr.__class__ is tuple and addr == (address, port) and ":" not in address:
            plain = self._plain
            if len(plain) >= MAX_SOURCES:
                plain.clear()
            plain.add(addr)
        return address

    def _rateDrop(self, addr: Any) -> bool:
        return self._drop(
            "rate", addr, f"more than {self._limits.replyRate:g} replies a second"
        )

    def _forget(self, now: float) -> None:
        refill = self.limits.replyBurst / self.limits.replyRate
        for host, (_, stamp) in list(self._buckets.items()):
            if now - stamp >= refill:
                del self._buckets[host]
        if len(self._buckets) >= MAX_SOURCES:
            # Forget the quarter least recently replied to.
            byUse = sorted(self._buckets.items(), key=lambda item: item[1][1])
            for host, _ in byUse[: max(1, MAX_SOURCES // 4)]:
                del self._buckets[host]

    def _drop(self, why: str, addr: Any, text: str) -> bool:
        self.counters.dropped[why] += 1
        event = "refused datagrams" if why == "access" else "dropped replies"
        what = "datagram from" if why == "access" else "reply to"
        self.log.emit(
            event,
            sourceOf(_source(addr)[0]),
            "{listener} dropped {what} {peer}: {why}",
            LogLevel.warn,
            listener=self.description,
            what=what,
            peer=formatAddress(addr),
            why=text,
        )
        return False
