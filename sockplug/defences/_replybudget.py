# -*- test-case-name: sockplug.defences.test.test_replybudget,sockplug.defences.test.test_replychains,sockplug.defences.test.test_hostports -*-  # noqa: E501
"""
What a datagram listener may send back: a datagram server answers whatever
source address a datagram claims, so a forged source makes it fire at a
victim, or at another server that answers back (CVE-1999-0103, "fraggle").

L{ReplyBudget} lets a reply go only if:
  - its destination port is not one of the blocked source ports (the
    classic services that answer anything, and always 0, which only a
    forged datagram comes from, and this process's own datagram ports, as
    FreeBSD's inetd checks), nor an address where another sockplug server
    on this host listens (L{sockplug.defences._hostports});
  - it is no more than C{replygrowth} bytes larger than the request it
    answers (a reply sent later, from a timer or a Deferred, than the
    last datagram its destination sent), and, when that request carries
    an earlier reply of ours (two servers answering each other), than the
    request that began that exchange (L{sockplug.defences._replychains});
  - the destination address has a token left in its bucket (C{replyrate}
    per second, up to C{replyburst} at once).

It is told of each request (L{ReplyBudget.noteRequest}), asked about each
reply (L{ReplyBudget.allow}) or about the replies to a batch in one go
(L{ReplyBudget.allowMany}), and reports each reply it refuses to the
guard that counts and logs it.
"""

from __future__ import annotations

from collections.abc import Callable, Set
from typing import Any

from sockplug.defences._hostports import REFRESH, HostPorts
from sockplug.defences._replychains import ReplyChains
from sockplug.options import ListenerLimits, sourceOf

__all__ = ["MAX_SOURCES", "ReplyBudget", "hostAndPort"]

# Sources whose reply buckets (and last request sizes) are remembered; past
# this, the full buckets are forgotten (a full bucket is the same as none),
# then the oldest.
MAX_SOURCES = 65536

Replies = tuple[list[tuple[bytes, Any]], dict[int, bool | None]]


def hostAndPort(address: Any) -> tuple[str, int | None]:
    """
    The host (or socket path) and port a datagram came from.
    """
    if isinstance(address, tuple) and len(address) >= 2:
        return str(address[0]), int(address[1])
    if isinstance(address, bytes):
        return address.decode("utf-8", "surrogateescape"), None
    return str(address or ""), None


class ReplyBudget:
    """
    The replies one datagram listener may send, and to whom.

    @ivar answering: the datagrams the protocol is handling in one go (set
        by the guard while it does): replies checked against this very
        list (L{allowMany}) are each bounded by the datagram they answer.
    """

    def __init__(
        self,
        reactor: Any,
        limits: ListenerLimits,
        ownPorts: Set[int],
        drop: Callable[[str, Any, str], bool],
        hostPorts: HostPorts | None = None,
    ) -> None:
        """
        @param ownPorts: this process's datagram ports (a set that may
            change later).
        @param drop: called as C{drop(reason, address, why)} for each reply
            refused, C{reason} being C{"port"}, C{"size"}, C{"loop"} or
            C{"rate"}; what it returns (L{False}) is returned for the reply.
        @param hostPorts: the registry of sockplug's ports on this host.
        """
        self._reactor = reactor
        self._ownPorts = ownPorts
        self._hostPorts = hostPorts
        self._drop = drop
        self._buckets: dict[str, list[float]] = {}
        self._requests: dict[str, int] = {}
        self._chains = ReplyChains()
        # (Read for each datagram: taken out once.)
        self._sent, self._bases = self._chains.sent, self._chains.bases
        # The exchanges the batch being handled continues, by index: each
        # one's first request's size.
        self._continued: dict[int, int] = {}
        self.answering: list[tuple[bytes, Any]] | None = None
        self.limits = limits

    @property
    def limits(self) -> ListenerLimits:
        """
        The listener's defences.
        """
        return self._limits

    @limits.setter
    def limits(self, limits: ListenerLimits) -> None:
        # What each reply reads, taken out once.
        self._limits = limits
        self._blocked = limits.blockedPorts | {0}
        # IPv4 (host, port) addresses whose port was found not blocked (but
        # that may since be one of this process's own listeners'): a reply
        # to one is checked for nothing else of its address. Forgotten when
        # the limits change, and every REFRESH seconds (servers come and go).
        self._plain: set[tuple[str, int]] = set()
        self._plainUntil = 0.0
        self._growth = limits.replyGrowth
        self._rate = float(limits.replyRate)
        self._burst = float(limits.replyBurst)

    def noteRequest(self, addr: Any, datagram: bytes) -> int | None:
        """
        Note the size of a datagram from C{addr} as the bound of the
        replies to its host (sent now, or later from a Deferred or a timer,
        until the host sends another); and, if it carries the last reply
        that grew sent to C{addr}, the size of the request that began that
        exchange, as a bound too.

        @return: that size, if it does.
        """
        host = addr[0] if addr.__class__ is tuple else None
        if host.__class__ is not str:
            host = hostAndPort(addr)[0]
        requests = self._requests
        if len(requests) >= MAX_SOURCES and host not in requests:
            for old in list(requests)[: max(1, MAX_SOURCES // 4)]:
                del requests[old]
        requests[host] = size = len(datagram)
        if self._sent or self._bases:
            # (At once when it cannot carry the reply sent to addr, if any.)
            kept = self._sent.get(addr)
            if self._bases or (kept is not None and size >= kept[1]):
                return self._chains.note(datagram, addr, host)
        return None

    def noteRequests(self, datagrams: list[tuple[bytes, Any]]) -> int:
        """
        Note each of C{datagrams} in turn, as L{noteRequest} would (against
        the replies sent before the batch: none to it is sent yet).

        @return: their size in all.
        """
        requests = self._requests
        self._continued = {}
        if len(requests) + len(datagrams) > MAX_SOURCES or self._sent or self._bases:
            # Some may be forgotten, or continue exchanges: as noteRequest.
            total = 0
            note = self.noteRequest
            for index, (datagram, addr) in enumerate(datagrams):
                total += len(datagram)
                base = note(addr, datagram)
                if base is not None:
                    self._continued[index] = base
            return total
        # As noteRequest for each, with nothing to forget.
        total = 0
        for datagram, addr in datagrams:
            size = len(datagram)
            total += size
            host = addr[0] if addr.__class__ is tuple else None
            if host.__class__ is not str:
                host = hostAndPort(addr)[0]
            requests[host] = size
        return total

    def allow(  # noqa: PLR0912 (run for every reply: a call would cost more)
        self,
        data: bytes,
        addr: Any,
        request: int | None = None,
        now: float | None = None,
        base: int | None = None,
    ) -> bool:
        """
        Whether C{data} may be sent to C{addr}; if not, the drop is
        reported.

        @param request: the size of the datagram C{data} answers; if not
            given, that of the last datagram C{addr}'s host sent (the one
            being answered, or the last before a later reply), and the
            exchange that datagram continued. A host that sent none is sent
            no reply: only the rate applies.
        @param now: the time of the check, if not now (replies checked
            together are checked at one instant).
        @param base: the size of the request that began the exchange of
            replies C{request} continues, if it does.
        """
        if now is None:
            now = self._reactor.seconds()
        if now >= self._plainUntil:
            self._forgetPlain(now)
        try:
            plain = addr in self._plain
        except TypeError:  # (an address that cannot be hashed is not one)
            plain = False
        if plain and addr[1] not in self._ownPorts:
            address = addr[0]
        else:
            address = self._portAllowed(addr, now)
            if address is None:
                return False
        if request is None:
            request = self._requests.get(address, -1)
            if self._bases:
                base = self._bases.get(address)
        size = len(data)
        growth = self._growth
        if (request >= 0 and size > request + growth) or (
            base is not None and size > base + growth
        ):
            return self._sizeDrop(addr, size, request, base)
        # The host's token bucket, [tokens, when last refilled]; an IPv6
        # source is its /64.
        host = sourceOf(address) if ":" in address else address
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
        bound = request if base is None else base
        if size > bound >= 0:
            self._chains.replied(data, addr, bound)
        return True

    def allowMany(
        self, requests: list[tuple[bytes, Any]], replies: list[bytes | None]
    ) -> Replies:
        """
        Check C{replies[i]} (if not L{None}) as a reply to the sender of
        C{requests[i]}, bounded by its size when C{requests} is the batch
        being handled (L{answering}); as L{allow} checks each, at one
        instant.

        @return: the C{(reply, address)} allowed, in order; and by index,
            those not: L{False} if dropped (reported), L{None} if the
            sender has no address.
        """
        allowed: list[tuple[bytes, Any]] = []
        refused: dict[int, bool | None] = {}
        now = self._reactor.seconds()
        if now >= self._plainUntil:
            self._forgetPlain(now)
        if requests is not self.answering:
            # Not the batch being handled: each is bounded as a later reply.
            for index, (_, addr) in enumerate(requests):
                reply = replies[index]
                if reply is not None:
                    self._allowOne(
                        index, reply, addr, None, now=now, into=(allowed, refused)
                    )
            return allowed, refused
        plain, own, buckets = self._plain, self._ownPorts, self._buckets
        growth, rate, burst = self._growth, self._rate, self._burst
        continued, replied = self._continued, self._chains.replied
        index = -1
        for datagram, addr in requests:
            index += 1
            reply = replies[index]
            if reply is None:
                continue
            # The common case (see _plain), with allow's check of an IPv4
            # host's bucket written out here: a call of allow for each
            # reply would cost more than the check. The rest by allow.
            size, request = len(reply), len(datagram)
            if (
                addr in plain
                and addr[1] not in own
                and size <= request + growth
                and not (continued and index in continued)
            ):
                bucket = buckets.get(addr[0])
                if bucket is not None:
                    tokens = bucket[0] + (now - bucket[1]) * rate
                    tokens = tokens if tokens < burst else burst
                    bucket[1] = now
                    if tokens >= 1.0:
                        bucket[0] = tokens - 1.0
                        allowed.append((reply, addr))
                        if size > request:
                            replied(reply, addr, request)
                    else:
                        bucket[0] = tokens
                        refused[index] = self._rateDrop(addr)
                    continue
            self._allowOne(
                index,
                reply,
                addr,
                request,
                now=now,
                into=(allowed, refused),
                base=continued.get(index) if continued else None,
            )
        return allowed, refused

    def _allowOne(
        self,
        index: int,
        reply: bytes,
        addr: Any,
        request: int | None,
        *,
        now: float,
        into: Replies,
        base: int | None = None,
    ) -> None:
        """
        Check one reply of L{allowMany} with L{allow}, at C{now}; note it in
        C{into}, L{allowMany}'s result.
        """
        allowed, refused = into
        if not addr:
            refused[index] = None
        elif self.allow(reply, addr, request, now, base):
            allowed.append((reply, addr))
        else:
            refused[index] = False

    def _portAllowed(self, addr: Any, now: float) -> str | None:
        """
        The host (or path) of C{addr} if its port is not blocked (at
        C{now}); if it is, L{None}, the drop reported. An IPv4
        C{(host, port)} whose port is not blocked is remembered in
        L{_plain}.
        """
        if addr.__class__ is tuple and len(addr) == 2:
            address, port = addr
            if address.__class__ is not str or port.__class__ is not int:
                address, port = hostAndPort(addr)
        else:
            address, port = hostAndPort(addr)
        # (A UNIX sender's port is None, in neither set.)
        if port in self._blocked or port in self._ownPorts:
            self._drop("port", addr, f"source port {port} is blocked")
            return None
        hostPorts = self._hostPorts
        if port is not None and hostPorts and hostPorts.holds(address, port, now):
            why = f"source port {port} is a sockplug server's on this host"
            self._drop("port", addr, why)
            return None
        if addr.__class__ is tuple and addr == (address, port) and ":" not in address:
            plain = self._plain
            if len(plain) >= MAX_SOURCES:
                plain.clear()
            plain.add(addr)
        return address

    def _sizeDrop(self, addr: Any, size: int, request: int, base: Any) -> bool:
        """
        Report a reply of C{size} bytes dropped: too large for its request,
        or else for the exchange (begun by C{base} bytes) it continues.
        """
        if size > request + self._growth:
            why = f"reply of {size} bytes to a request of {request}"
            return self._drop("size", addr, why)
        why = f"reply of {size} bytes in an exchange of replies"
        return self._drop("loop", addr, f"{why} that began with a request of {base}")

    def _forgetPlain(self, now: float) -> None:
        # (The host's servers come and go: each address is checked again.)
        self._plain.clear()
        self._plainUntil = now + REFRESH

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
