# -*- test-case-name: sockplug.defences.test.test_datagrambatch -*-
"""
The datagram guard (L{sockplug.defences._datagramguard}) for datagrams a port read in
one go (see L{sockplug.internet._udp}), and for the replies to them sent in one
go: each datagram and each reply checked and counted as one alone would
be, with less work for each.
"""

from __future__ import annotations

from collections.abc import Set
from typing import TYPE_CHECKING, Any

from twisted.python import log

from sockplug.defences._counters import DatagramCounters

if TYPE_CHECKING:
    from twisted.internet.protocol import DatagramProtocol

__all__ = ["BatchingGuard"]


class BatchingGuard:
    """
    Mixin for L{sockplug.defences._datagramguard.DatagramGuard}: its batch methods.
    """

    wrapped: DatagramProtocol
    counters: DatagramCounters
    _access: Any
    _requests: dict[str, int]
    _batch: list[tuple[bytes, Any]] | None
    _plain: set[tuple[str, int]]
    _ownPorts: Set[int]
    _buckets: dict[str, list[float]]
    _growth: int
    _rate: float
    _burst: float
    _reactor: Any

    if TYPE_CHECKING:  # The guard's own.

        def datagramReceived(self, datagram: bytes, addr: Any) -> None: ...
        def _arrived(self, datagram: bytes, addr: Any) -> bool: ...
        def allowReply(
            self,
            data: bytes,
            addr: Any,
            request: int | None = None,
            now: float | None = None,
        ) -> bool: ...
        def _rateDrop(self, addr: Any) -> bool: ...

    def datagramsReceived(self, datagrams: list[tuple[bytes, Any]]) -> None:
        """
        Datagrams the port read in one go (see L{sockplug.internet._udp}). A
        protocol that takes them in one go too (C{datagramsReceived}) gets
        those admitted at once, each host's last datagram bounding the
        replies it sends with C{write} (with C{writeReplies}, each reply is
        bounded by the datagram it answers); any other gets each as
        L{datagramReceived} would.
        """
        deliver = getattr(self.wrapped, "datagramsReceived", None)
        if deliver is None:
            received = self.datagramReceived
            for datagram, addr in datagrams:
                try:
                    received(datagram, addr)
                except BaseException:
                    log.err()
            return
        requests = self._requests
        if (
            self._access is None
            and len(requests) + len(datagrams) <= _dgramguard.MAX_SOURCES
        ):
            # As _arrived for each, with nothing to refuse or forget.
            total = 0
            for datagram, addr in datagrams:
                size = len(datagram)
                total += size
                host = addr[0] if addr.__class__ is tuple else None
                if host.__class__ is not str:
                    host = _dgramguard._source(addr)[0]
                requests[host] = size
            counters = self.counters
            counters.datagramsIn += len(datagrams)
            counters.bytesIn += total
            admitted = datagrams
        else:
            arrived = self._arrived
            admitted = [each for each in datagrams if arrived(*each)]
        self._batch = admitted
        try:
            deliver(admitted)
        except BaseException:
            self.counters.errors["protocol"] += 1
            raise  # for the port to log
        finally:
            self._batch = None

    def allowReplies(
        self, requests: list[tuple[bytes, Any]], replies: list[bytes | None]
    ) -> tuple[list[tuple[bytes, Any]], dict[int, bool | None]]:
        """
        Check C{replies[i]} (if not L{None}) as a reply to the sender of
        C{requests[i]}, bounded by its size when C{requests} is the batch
        being handled (see L{datagramsReceived}); as L{allowReply} checks
        each, at one instant.

        @return: the C{(reply, address)} allowed, in order; and by index,
            those not: L{False} if dropped (counted and logged), L{None} if
            the sender has no address.
        """
        allowed: list[tuple[bytes, Any]] = []
        refused: dict[int, bool | None] = {}
        now = self._reactor.seconds()
        if requests is not self._batch:
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
        index = -1
        for datagram, addr in requests:
            index += 1
            reply = replies[index]
            if reply is None:
                continue
            # The common case here (see _plain), the rest by allowReply.
            if (
                addr in plain
                and addr[1] not in own
                and len(reply) <= len(datagram) + growth
            ):
                bucket = buckets.get(addr[0])
                if bucket is not None:
                    tokens = bucket[0] + (now - bucket[1]) * rate
                    tokens = tokens if tokens < burst else burst
                    bucket[1] = now
                    if tokens >= 1.0:
                        bucket[0] = tokens - 1.0
                        allowed.append((reply, addr))
                    else:
                        bucket[0] = tokens
                        refused[index] = self._rateDrop(addr)
                    continue
            self._allowOne(
                index, reply, addr, len(datagram), now=now, into=(allowed, refused)
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
        into: tuple[list[tuple[bytes, Any]], dict[int, bool | None]],
    ) -> None:
        """
        Check one reply of L{allowReplies} with L{allowReply}, at C{now};
        note it in C{into}, L{allowReplies}'s result.
        """
        allowed, refused = into
        if not addr:
            refused[index] = None
        elif self.allowReply(reply, addr, request, now):
            allowed.append((reply, addr))
        else:
            refused[index] = False


# The guard's module, which imports this one (so this import comes last,
# once BatchingGuard is defined): read at run time, for its bound on the
# hosts remembered (MAX_SOURCES, which tests lower) and its _source.
from sockplug.defences import _datagramguard as _dgramguard  # noqa: E402
