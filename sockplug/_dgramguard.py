# -*- test-case-name: sockplug.test.test_dgramguard -*-
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
from zope.interface import directlyProvides, providedBy

from sockplug._access import sourceOf
from sockplug._address import formatAddress
from sockplug._counters import DatagramCounters
from sockplug._limits import ListenerLimits
from sockplug._ratelog import RateLimitedLog

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


class DatagramGuard(DatagramProtocol):
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
        self._blocked = limits.blockedPorts
        self._ownPorts = ownPorts
        self.log = RateLimitedLog(reactor, _log, description, perEvent=limits.logLines)
        self.counters = DatagramCounters() if counters is None else counters
        self._buckets: dict[str, list[float]] = {}
        self._requests: dict[str, int] = {}
        self._current: Any = None
        self._currentSize = 0

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
        self._blocked = limits.blockedPorts
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
        size = len(datagram)
        counters = self.counters
        counters.datagramsIn += 1
        counters.bytesIn += size
        access = self.limits.access
        if access:
            host = addr[0] if isinstance(addr, tuple) else None
            if not access.admits(host):
                self._drop("access", addr, "not allowed by allow=/deny=")
                return
        self._current, self._currentSize = addr, size
        # Remember the size for replies sent later (a Deferred, a timer).
        host = addr[0] if type(addr) is tuple else _source(addr)[0]
        requests = self._requests
        if host not in requests and len(requests) >= MAX_SOURCES:
            for old in list(requests)[: max(1, MAX_SOURCES // 4)]:
                del requests[old]
        requests[host] = size
        try:
            self.wrapped.datagramReceived(datagram, addr)
        except BaseException:
            counters.errors["protocol"] += 1
            raise  # for the port to log
        finally:
            self._current = None

    def connectionRefused(self) -> None:
        self.wrapped.connectionRefused()

    def allowReply(self, data: bytes, addr: Any) -> bool:
        """
        Whether C{data} may be sent to C{addr}; if not, the drop is counted
        and logged.
        """
        address, port = _source(addr)
        host = sourceOf(address)  # an IPv6 source is its /64
        if port is not None and (
            port in self._blocked or port in self._ownPorts or port == 0
        ):
            return self._drop("port", addr, f"source port {port} is blocked")
        now = self._reactor.seconds()
        bucket = self._buckets.get(host)
        if addr == self._current:
            requestSize = self._currentSize
        else:
            # A later reply: bounded by the host's last datagram; to a
            # host that sent none, it is no reply, and only the rate applies.
            requestSize = self._requests.get(address, -1)
        if requestSize >= 0 and len(data) > requestSize + self.limits.replyGrowth:
            return self._drop(
                "size",
                addr,
                f"reply of {len(data)} bytes to a request of {requestSize}",
            )
        limits = self.limits
        if bucket is None:
            if len(self._buckets) >= MAX_SOURCES:
                self._forget(now)
            bucket = self._buckets[host] = [float(limits.replyBurst), now]
        else:
            bucket[0] = min(
                float(limits.replyBurst),
                bucket[0] + (now - bucket[1]) * limits.replyRate,
            )
            bucket[1] = now
        if bucket[0] < 1.0:
            return self._drop(
                "rate", addr, f"more than {limits.replyRate:g} replies a second"
            )
        bucket[0] -= 1.0
        return True

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


class GuardedDatagramTransport:
    """
    The transport a guarded datagram protocol sees: the port's own, with
    C{write} checked by the guard.
    """

    def __init__(self, transport: Any, guard: DatagramGuard) -> None:
        directlyProvides(self, providedBy(transport))
        self._transport = transport
        self._guard = guard

    _connectedTo: Any = None

    def write(self, packet: bytes, addr: Any = None) -> bool | None:
        to = self._connectedTo if addr is None else addr
        if to is not None and not self._guard.allowReply(packet, to):
            return False
        try:
            if addr is None:
                self._transport.write(packet)
            else:
                self._transport.write(packet, addr)
        except BaseException:
            self._guard.counters.errors["send"] += 1
            raise
        counters = self._guard.counters
        counters.datagramsOut += 1
        counters.bytesOut += len(packet)
        return None

    def writeSequence(self, seq: list[bytes], addr: Any = None) -> bool | None:
        """
        Send the parts of C{seq} as one datagram, checked as C{write}.
        """
        return self.write(b"".join(seq), addr)

    def connect(self, host: str, port: int) -> None:
        """
        Connect the port: what is then written without an address is
        checked as a reply to C{(host, port)}.
        """
        self._transport.connect(host, port)
        self._connectedTo = (host, port)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
