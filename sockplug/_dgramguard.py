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
    answers;
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

from sockplug._address import formatAddress
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

    @ivar dropped: datagrams dropped, by reason: C{"access"} (received from
        a refused source), C{"port"}, C{"size"} and C{"rate"} (replies).
    """

    noisy = False

    def __init__(
        self,
        reactor: Any,
        description: str,
        limits: ListenerLimits,
        wrapped: DatagramProtocol,
        ownPorts: Set[int] = frozenset(),
    ) -> None:
        self._reactor = reactor
        self.description = description
        self.limits = limits
        self.wrapped = wrapped
        self._blocked = limits.blockedPorts
        self._ownPorts = ownPorts
        self.log = RateLimitedLog(reactor, _log, description, perEvent=limits.logLines)
        self.dropped = {"access": 0, "port": 0, "size": 0, "rate": 0}
        self._buckets: dict[str, list[float]] = {}
        self._current: Any = None
        self._currentSize = 0

    def logPrefix(self) -> str:
        prefix = getattr(self.wrapped, "logPrefix", None)
        return prefix() if prefix is not None else type(self.wrapped).__name__

    def makeConnection(self, transport: Any) -> None:
        DatagramProtocol.makeConnection(self, transport)
        guarded = GuardedDatagramTransport(transport, self)
        self.wrapped.makeConnection(guarded)  # type: ignore[arg-type]

    def doStop(self) -> None:
        DatagramProtocol.doStop(self)
        self.wrapped.doStop()
        self.log.stop()

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        access = self.limits.access
        if access:
            host = addr[0] if isinstance(addr, tuple) else None
            if not access.admits(host):
                self._drop("access", addr, "not allowed by allow=/deny=")
                return
        self._current, self._currentSize = addr, len(datagram)
        try:
            self.wrapped.datagramReceived(datagram, addr)
        finally:
            self._current = None

    def connectionRefused(self) -> None:
        self.wrapped.connectionRefused()

    def allowReply(self, data: bytes, addr: Any) -> bool:
        """
        Whether C{data} may be sent to C{addr}; if not, the drop is counted
        and logged.
        """
        host, port = _source(addr)
        if port is not None and (
            port in self._blocked or port in self._ownPorts or port == 0
        ):
            return self._drop("port", addr, f"source port {port} is blocked")
        now = self._reactor.seconds()
        bucket = self._buckets.get(host)
        if addr == self._current:
            requestSize = self._currentSize
        elif bucket is not None:
            requestSize = int(bucket[2])  # a later reply: the last request
        else:
            requestSize = -1  # not a reply: only the rate applies
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
            # No request answered yet: -1, so only the rate applies.
            bucket = self._buckets[host] = [float(limits.replyBurst), now, -1.0]
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
        if requestSize >= 0:
            bucket[2] = float(requestSize)
        return True

    def _forget(self, now: float) -> None:
        refill = self.limits.replyBurst / self.limits.replyRate
        for host, (_, stamp, _) in list(self._buckets.items()):
            if now - stamp >= refill:
                del self._buckets[host]
        if len(self._buckets) >= MAX_SOURCES:
            # Forget the quarter least recently replied to.
            byUse = sorted(self._buckets.items(), key=lambda item: item[1][1])
            for host, _ in byUse[: max(1, MAX_SOURCES // 4)]:
                del self._buckets[host]

    def _drop(self, why: str, addr: Any, text: str) -> bool:
        self.dropped[why] += 1
        event = "refused datagrams" if why == "access" else "dropped replies"
        what = "datagram from" if why == "access" else "reply to"
        self.log.emit(
            event,
            _source(addr)[0],
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

    def write(self, packet: bytes, addr: Any = None) -> bool | None:
        if addr is not None and not self._guard.allowReply(packet, addr):
            return False
        if addr is None:
            self._transport.write(packet)
        else:
            self._transport.write(packet, addr)
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
