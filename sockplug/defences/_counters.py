# -*- test-case-name: sockplug.defences.test.test_counters -*-
"""
What a listener has done since it started: connections let in and refused,
bytes and datagrams each way, errors. The metrics and the status page read
these (see L{sockplug.metrics._snapshot}).

Counting costs nothing per read: a listener's guard bumps a counter per
connection or per datagram, and a stream connection's bytes are counted by
its protocol (as they always were) and added to its listener's totals when
it closes; the bytes of connections still open are summed when someone
asks.

A listener's counters outlive its guard: a reload that gives a listener a
new socket hands the new guard the same counters, so its totals go on
rather than starting again from zero.
"""

from __future__ import annotations

from twisted.internet.error import ConnectionAborted, ConnectionDone, ConnectionLost
from twisted.python.failure import Failure

__all__ = [
    "DROP_REASONS",
    "REFUSAL_REASONS",
    "DatagramCounters",
    "StreamCounters",
    "errorKind",
]

# Why a stream connection was refused: the access lists, the listener's
# bound, the process's bound, the bound per source, a PROXY header that
# was bad or never came.
REFUSAL_REASONS = ("access", "maxconn", "global", "maxpersource", "proxy")

# Why a datagram was dropped: its source is refused (access), or a reply
# was held back by the reflection guard (port, size, rate; loop: it would
# grow an exchange of replies past replygrowth), or the datagram was too
# long to read whole (truncated), or a reply had no address to go to
# (unaddressed).
DROP_REASONS = ("access", "port", "size", "rate", "loop", "truncated", "unaddressed")


class StreamCounters:
    """
    The counts of one stream listener.

    @ivar accepted: connections let in.
    @ivar refused: connections refused, by reason (L{REFUSAL_REASONS}).
    @ivar idleClosed: connections closed for idling.
    @ivar evicted: connections closed to make room for new ones when the
        table was nearly full (L{sockplug.defences._eviction}).
    @ivar bytesIn: bytes received on connections that have closed.
    @ivar bytesOut: bytes sent on connections that have closed.
    @ivar errors: connections that ended in an error, by kind: C{"lost"}
        (reset, or lost uncleanly), C{"tls"} (a TLS failure),
        C{"protocol"} (the protocol raised an exception).
    @ivar since: when the listener first listened (C{reactor.seconds()}),
        or L{None} until then.
    """

    __slots__ = (
        "accepted",
        "bytesIn",
        "bytesOut",
        "errors",
        "evicted",
        "idleClosed",
        "refused",
        "since",
    )

    def __init__(self) -> None:
        self.accepted = 0
        self.refused = dict.fromkeys(REFUSAL_REASONS, 0)
        self.idleClosed = 0
        self.evicted = 0
        self.bytesIn = 0
        self.bytesOut = 0
        self.errors = {"lost": 0, "tls": 0, "protocol": 0}
        self.since: float | None = None


class DatagramCounters:
    """
    The counts of one datagram listener.

    @ivar datagramsIn: datagrams that arrived (those then dropped too).
    @ivar bytesIn: their bytes.
    @ivar datagramsOut: datagrams sent.
    @ivar bytesOut: their bytes.
    @ivar dropped: datagrams dropped, by reason (L{DROP_REASONS}).
    @ivar errors: by kind: C{"protocol"} (the protocol raised an exception
        on a datagram), C{"send"} (a datagram could not be sent).
    @ivar since: when the listener first listened, or L{None} until then.
    """

    __slots__ = (
        "bytesIn",
        "bytesOut",
        "datagramsIn",
        "datagramsOut",
        "dropped",
        "errors",
        "since",
    )

    def __init__(self) -> None:
        self.datagramsIn = 0
        self.bytesIn = 0
        self.datagramsOut = 0
        self.bytesOut = 0
        self.dropped = dict.fromkeys(DROP_REASONS, 0)
        self.errors = {"protocol": 0, "send": 0}
        self.since: float | None = None


def errorKind(reason: Failure | None) -> str | None:
    """
    Which kind of error, if any, ended a connection.

    @param reason: what its C{connectionLost} was given.
    @return: a key of L{StreamCounters.errors}, or L{None} for a clean
        close, or one sockplug made itself (an idle or refused
        connection, a shutdown: L{ConnectionAborted}).
    """
    if reason is None:
        return None
    value = reason.value
    if isinstance(value, (ConnectionDone, ConnectionAborted)):
        return None
    if type(value).__module__.startswith("OpenSSL"):
        return "tls"
    if isinstance(value, (ConnectionLost, OSError)):
        return "lost"
    return "protocol"
