# -*- test-case-name: sockplug.defences.test.test_replychains -*-
"""
Chains of replies: a datagram that carries, whole, the last reply a
listener sent to its sender is a reply to that reply, as when two servers
answer each other (server A's reply reaches server B as a request, B's
reply to it reaches A as one, and so on: a loop that one datagram with a
forged source address starts).

Bounding each reply by the request it answers (C{replygrowth}) does not
bound such a loop: each exchange adds a little (hello adds 8 bytes), and
the datagrams grow until a reply budget runs out. L{ReplyChains}
remembers, for each peer address, the last reply sent to it that grew
(that was larger than the request that began its chain), and tells when a
datagram from that address carries it: that datagram continues the chain,
and a reply to it is bounded by the request that began the chain. Over a
whole chain, replies grow by C{replygrowth} bytes at most, and a loop of
growing replies ends within C{replygrowth} / (growth per exchange)
exchanges (8 for hello, with the default 64).

An ordinary client sends requests, not our replies back: what it sends
does not carry the reply it was sent, or (an echo client sending the same
bytes again) is answered by a reply that does not grow. Only replies that
grew are remembered, so an echo's replies cost nothing here; of each, its
size and its first and last L{EDGE} bytes are kept (a shorter one whole).
"""

from __future__ import annotations

from typing import Any

__all__ = ["EDGE", "MAX_CHAINS", "ReplyChains", "carries"]

# Bytes kept of each end of a reply that grew.
EDGE = 16
# Peer addresses (and hosts) whose chains are remembered; past this, the
# quarter first remembered are forgotten.
MAX_CHAINS = 16384
# Places a datagram's search for a reply tries, at most.
_TRIES = 4

# What is kept of a reply: the size of the request that began its chain,
# its size, its first and its last EDGE bytes (or, if it has no more than
# twice EDGE, itself and nothing).
Kept = tuple[int, int, bytes, bytes]


def carries(datagram: bytes, kept: Kept) -> bool:
    """
    Whether C{datagram} holds, whole, the reply of which C{kept} was kept:
    a stretch of its size that begins and ends with the reply's edges.
    """
    _, size, head, tail = kept
    if not size or len(datagram) < size:
        return False
    if not tail:
        return head in datagram
    end = len(datagram) - size + len(head)
    at = datagram.find(head, 0, end)
    tries = _TRIES
    while at >= 0 and tries:
        if datagram.startswith(tail, at + size - len(tail)):
            return True
        tries -= 1
        at = datagram.find(head, at + 1, end)
    return False


def _forget(table: dict[Any, Any]) -> None:
    """
    Forget the quarter of C{table} first written.
    """
    for old in list(table)[: max(1, MAX_CHAINS // 4)]:
        del table[old]


class ReplyChains:
    """
    The chains of replies of one datagram listener.

    @ivar sent: what was kept of the last reply that grew, by the address
        it went to.
    @ivar bases: for each host whose last datagram continued a chain, the
        size of the request that began it (what bounds the replies sent
        later to that host).
    """

    def __init__(self) -> None:
        self.sent: dict[Any, Kept] = {}
        self.bases: dict[str, int] = {}

    def note(self, datagram: bytes, addr: Any, host: str) -> int | None:
        """
        Note a datagram from C{addr} (of C{host}): if it carries the last
        reply that grew sent to C{addr}, return the size of the request
        that began that chain, and remember it as the bound of the replies
        sent later to C{host}; otherwise, L{None}.
        """
        kept = self.sent.get(addr)
        base = None
        if kept is not None and len(datagram) >= kept[1] and carries(datagram, kept):
            base = kept[0]
        bases = self.bases
        if base is None:
            if bases:
                bases.pop(host, None)
        else:
            if host not in bases and len(bases) >= MAX_CHAINS:
                _forget(bases)
            bases[host] = base
        return base

    def replied(self, reply: bytes, addr: Any, base: int) -> None:
        """
        A reply that grew was sent to C{addr}: larger than C{base}, the
        size of the request that began its chain (the one it answers, if
        that began none).
        """
        sent = self.sent
        if len(sent) >= MAX_CHAINS and addr not in sent:
            _forget(sent)
        size = len(reply)
        if size > 2 * EDGE:
            sent[addr] = (base, size, reply[:EDGE], reply[-EDGE:])
        else:
            sent[addr] = (base, size, reply, b"")
