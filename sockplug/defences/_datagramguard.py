# -*- test-case-name: sockplug.defences.test.test_datagramguard,sockplug.defences.test.test_datagramtransport -*-  # noqa: E501
"""
The guard of a datagram listener: it stands between the port and the
plugin's protocol.

L{DatagramGuard} counts every datagram, drops those from sources the access
lists refuse before the protocol sees them (and those too long for the port
to read whole, which it is told of), and hands the protocol a transport
(L{sockplug.defences._datagramtransport}) whose C{write} sends a reply only
if it has an address to go to and the listener's L{ReplyBudget} allows it
(see L{sockplug.defences._replybudget}: blocked ports, growth over the
request and over an exchange of replies, rate per source). While its port
listens, it registers the port as a sockplug server's on this host
(L{sockplug.defences._hostports}).

Datagrams a port read in one go (see L{sockplug.internet._datagramport})
are handed on in one go to a protocol that takes them so, and its replies
may be checked in one go: each datagram and each reply checked and counted
as one alone would be, with less work for each.

Each drop is counted and logged at a bounded rate. C{write} returns
L{False} for a dropped reply (L{None}, as Twisted's, for one sent).
"""

from __future__ import annotations

from collections.abc import Set
from operator import itemgetter
from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger, LogLevel
from twisted.python import log

from sockplug.defences._counters import DatagramCounters
from sockplug.defences._datagramtransport import GuardedDatagramTransport
from sockplug.defences._hostports import HostPorts
from sockplug.defences._replybudget import ReplyBudget, hostAndPort
from sockplug.logs import RateLimitedLog, formatAddress
from sockplug.options import ListenerLimits, sourceOf

__all__ = ["DatagramGuard"]

_log = Logger()
_first = itemgetter(0)
# Each kind of log line about drops, whose number is bounded (replies by
# default).
_EVENTS = {"access": "refused datagrams", "truncated": "truncated datagrams"}


class DatagramGuard(DatagramProtocol):
    """
    Guards one datagram listener's protocol.

    @ivar counters: the datagrams it let through, sent and dropped
        (shared with the guard that replaces it on a reload).
    @ivar budget: what replies may be sent.
    """

    noisy = False
    _registered: Any = None

    def __init__(
        self,
        reactor: Any,
        description: str,
        limits: ListenerLimits,
        wrapped: DatagramProtocol,
        ownPorts: Set[int] = frozenset(),
        *,
        counters: DatagramCounters | None = None,
        hostPorts: HostPorts | None = None,
    ) -> None:
        """
        @param hostPorts: the registry of sockplug's UDP ports on this host
            (L{sockplug.defences._hostports.hostPortsFor}), if any: the
            port is registered while it listens, and no reply goes to
            another's.
        """
        self.description = description
        self.wrapped = wrapped
        self.log = RateLimitedLog(reactor, _log, description, perEvent=limits.logLines)
        self.counters = DatagramCounters() if counters is None else counters
        self.budget = ReplyBudget(reactor, limits, ownPorts, self._drop, hostPorts)
        self._hostPorts = hostPorts
        self.limits = limits

    @property
    def limits(self) -> ListenerLimits:
        """
        The listener's defences.
        """
        return self._limits

    @limits.setter
    def limits(self, limits: ListenerLimits) -> None:
        self._limits = limits
        # (Read for each datagram: taken out once.)
        self._access = limits.access if limits.access else None
        self.budget.limits = limits

    @property
    def dropped(self) -> dict[str, int]:
        """
        Datagrams dropped, by reason: C{"access"} (received from a refused
        source), C{"truncated"} (too long for the port to read whole), and
        replies: C{"port"}, C{"size"}, C{"loop"}, C{"rate"} and
        C{"unaddressed"} (with no address to go to).
        """
        return self.counters.dropped

    def logPrefix(self) -> str:
        prefix = getattr(self.wrapped, "logPrefix", None)
        return prefix() if prefix is not None else type(self.wrapped).__name__

    def makeConnection(self, transport: Any) -> None:
        DatagramProtocol.makeConnection(self, transport)
        host = transport.getHost()
        if self._hostPorts is not None and isinstance(host, (IPv4Address, IPv6Address)):
            self._registered = self._hostPorts.register(host.host, host.port)
        self.wrapped.makeConnection(self._guarded(transport))  # type: ignore[arg-type]

    def _guarded(self, transport: Any) -> GuardedDatagramTransport:
        """
        The port's C{transport}, as the wrapped protocol sees it.
        """
        return GuardedDatagramTransport(
            transport, self.budget, self.counters, self._drop
        )

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
            wrapped.makeConnection(self._guarded(self.transport))  # type: ignore[arg-type]
        if old.numPorts:  # (not if it never listened, or its port stopped)
            old.doStop()

    def doStop(self) -> None:
        DatagramProtocol.doStop(self)
        if self._registered is not None:
            self._registered.close()
            self._registered = None
        self.wrapped.doStop()
        self.log.stop()

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        # Counted, and its size noted as the bound of replies to its host.
        size = len(datagram)
        counters = self.counters
        counters.datagramsIn += 1
        counters.bytesIn += size
        if self._access is not None and not self._admits(addr):
            return
        self.budget.noteRequest(addr, datagram)
        try:
            self.wrapped.datagramReceived(datagram, addr)
        except BaseException:
            self.counters.errors["protocol"] += 1
            raise  # for the port to log

    def datagramsReceived(self, datagrams: list[tuple[bytes, Any]]) -> None:
        """
        Datagrams the port read in one go (see
        L{sockplug.internet._datagramport}). A protocol that takes them in
        one go too (C{datagramsReceived}) gets those admitted at once, each
        host's last datagram bounding the replies it sends with C{write}
        (with C{writeReplies}, each reply is bounded by the datagram it
        answers); any other gets each as L{datagramReceived} would.
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
        counters = self.counters
        counters.datagramsIn += len(datagrams)
        budget = self.budget
        if self._access is None:
            counters.bytesIn += budget.noteRequests(datagrams)
            admitted = datagrams
        else:
            counters.bytesIn += sum(map(len, map(_first, datagrams)))
            admits = self._admits
            admitted = [each for each in datagrams if admits(each[1])]
            budget.noteRequests(admitted)
        budget.answering = admitted
        try:
            deliver(admitted)
        except BaseException:
            counters.errors["protocol"] += 1
            raise  # for the port to log
        finally:
            budget.answering = None

    def _admits(self, addr: Any) -> bool:
        """
        Whether the access lists admit a datagram from C{addr}; if not, the
        drop is counted and logged.
        """
        assert self._access is not None
        if self._access.admits(addr[0] if isinstance(addr, tuple) else None):
            return True
        return self._drop("access", addr, "not allowed by allow=/deny=")

    def datagramTruncated(self, addr: Any, limit: int, size: int | None) -> None:
        """
        The port read a datagram from C{addr} longer than C{limit} bytes,
        the most it reads of one (C{maxPacketSize}), and dropped it: count
        it (not its bytes, which the port may not know) and log it.

        @param size: its real size, if the port knows it.
        """
        self.counters.datagramsIn += 1
        whole = "longer" if size is None else f"{size} bytes, longer"
        self._drop("truncated", addr, f"{whole} than maxPacketSize={limit}")

    def connectionRefused(self) -> None:
        self.wrapped.connectionRefused()

    def _drop(self, why: str, addr: Any, text: str) -> bool:
        """
        Count and log a datagram dropped (C{why} is C{"access"} or
        C{"truncated"}) or a reply (see L{ReplyBudget}, and
        C{"unaddressed"}).

        @return: L{False}, what C{write} returns for a dropped reply.
        """
        self.counters.dropped[why] += 1
        event = _EVENTS.get(why, "dropped replies")
        what = "datagram from" if why in _EVENTS else "reply to"
        self.log.emit(
            event,
            sourceOf(hostAndPort(addr)[0]),
            "{listener} dropped {what} {peer}: {why}",
            LogLevel.warn,
            listener=self.description,
            what=what,
            peer=formatAddress(addr),
            why=text,
        )
        return False
