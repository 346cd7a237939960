# -*- test-case-name: sockplug.defences.test.test_datagramtransport -*-
"""
The transport a guarded datagram protocol sees (see
L{sockplug.defences._datagramguard}): the port's own, with what it sends
checked by the listener's reply budget (L{sockplug.defences._replybudget}),
and counted. A reply with no address to go to (to an unbound UNIX datagram
sender, whose address is L{None}; or without one, on a port that is not
connected) is dropped as the budget drops one, not handed to the port,
whose C{write} would raise.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from twisted.internet import udp
from zope.interface import directlyProvides, providedBy

from sockplug.compat import connectedAddressOf

if TYPE_CHECKING:
    from sockplug.defences._counters import DatagramCounters
    from sockplug.defences._replybudget import ReplyBudget

__all__ = ["UNADDRESSED", "GuardedDatagramTransport"]

_first = itemgetter(0)
# Why a reply with no address is dropped, as the log says.
UNADDRESSED = "no address to send it to"


def connectedPeer(transport: Any) -> Any:
    """
    The address a port is connected to, or L{None}: a UDP port's, or the
    in-memory one's (L{sockplug.testing.MemoryDatagramTransport}); a UNIX
    datagram listener is never connected.
    """
    if isinstance(transport, udp.Port):
        return connectedAddressOf(transport)
    return getattr(transport, "connectedTo", None)


class GuardedDatagramTransport:
    """
    The port's transport, with C{write} checked by the reply budget.

    @ivar write: C{write(packet, addr=None)}: send C{packet} to C{addr}
        (to the connected address if L{None}) if it has one and the budget
        allows it, and count it; L{False} if it was dropped, L{None} if it
        was sent. An exception from the port (which Twisted's C{write}
        raises for a datagram too large, or a failed send) is counted and
        raised.
    """

    write: Callable[..., bool | None]
    _connectedTo: Any = None

    def __init__(
        self,
        transport: Any,
        budget: ReplyBudget,
        counters: DatagramCounters,
        drop: Callable[[str, Any, str], bool],
    ) -> None:
        """
        @param transport: the port's transport.
        @param budget: what may be sent.
        @param counters: where what is sent is counted.
        @param drop: called as the budget calls it, as
            C{drop("unaddressed", address, why)}, for a reply with no
            address to go to.
        """
        directlyProvides(self, providedBy(transport))
        self._transport = transport
        self._budget = budget
        self._counters = counters
        self.write = self._writer(transport, budget, counters, drop)

    def _writer(
        self,
        transport: Any,
        budget: ReplyBudget,
        counters: DatagramCounters,
        drop: Callable[[str, Any, str], bool],
    ) -> Callable[..., bool | None]:
        """
        Make C{write}, with what it needs bound once: every attribute read
        on this object costs more than usual (it has C{__getattr__}, to read
        the port's other attributes through), and C{write} runs for every
        datagram sent.
        """
        allowReply = budget.allow
        send = transport.write

        def write(packet: bytes, addr: Any = None) -> bool | None:
            if not addr:
                # (None: to the address the port is connected to, if it is.)
                to = None
                if addr is None:
                    to = self._connectedTo or connectedPeer(transport)
                if to is None:
                    return drop("unaddressed", addr, UNADDRESSED)
                if not allowReply(packet, to):
                    return False
                try:
                    send(packet)
                except BaseException:
                    counters.errors["send"] += 1
                    raise
            else:
                if not allowReply(packet, addr):
                    return False
                try:
                    send(packet, addr)
                except BaseException:
                    counters.errors["send"] += 1
                    raise
            counters.datagramsOut += 1
            counters.bytesOut += len(packet)
            return None

        return write

    def writeReplies(
        self, requests: list[tuple[bytes, Any]], replies: list[bytes | None]
    ) -> dict[int, bool | Exception | None]:
        """
        Send C{replies[i]} (unless it is L{None}) to the sender of
        C{requests[i]}, each checked and counted as C{write} would; given
        the datagrams the protocol's C{datagramsReceived} was handed, each
        reply is bounded by the size of the datagram it answers.

        @return: by index, each reply not sent: L{False} if the budget
            dropped it, L{None} if its request's sender has no address (an
            unbound UNIX datagram socket), or the exception C{write} would
            have raised.
        """
        allowed, notSent = self._budget.allowMany(requests, replies)
        if not allowed:
            return notSent  # type: ignore[return-value]
        transport = self._transport
        writeMany = getattr(transport, "writeMany", None)
        if writeMany is not None:
            failed: dict[int, Exception] = writeMany(allowed)
        else:
            failed = {}
            for place, (reply, addr) in enumerate(allowed):
                try:
                    transport.write(reply, addr)
                except Exception as e:
                    failed[place] = e
        counters = self._counters
        counters.datagramsOut += len(allowed) - len(failed)
        counters.bytesOut += sum(map(len, map(_first, allowed)))
        result: dict[int, bool | Exception | None] = dict(notSent)
        if failed:
            counters.errors["send"] += len(failed)
            counters.bytesOut -= sum(len(allowed[place][0]) for place in failed)
            # The place of each reply sent among the replies.
            sentAt = [
                index
                for index, reply in enumerate(replies)
                if reply is not None and index not in notSent
            ]
            for place, error in failed.items():
                result[sentAt[place]] = error
        return result

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
