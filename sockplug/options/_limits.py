# -*- test-case-name: sockplug.options.test.test_limits,sockplug.endpoints.test.test_parser -*-  # noqa: E501
"""
A listener's defences, given as keyword arguments of any endpoint string
(C{tcp:8888:idle=60:allow=10.0.0.0/8}): taken out of the string before the
endpoint type's own parser sees it, so they work in front of every type.

Every defence is on by default. L{LIMITS} declares each one (what it
does, its bounds, its default); C{--help}, the configuration file's checks
and the README's table come from it. The C{allow=} and C{deny=} lists are
read by L{sockplug.options._access}.
"""

from __future__ import annotations

from typing import Any

from attrs import field, frozen

from sockplug.errors import shown
from sockplug.options._access import AccessList, parseNetworks
from sockplug.options._setting import Bounds, Flag, Number, Setting, Table, Value

__all__ = [
    "CLASSIC_UDP_PORTS",
    "LIMITS",
    "ListenerLimits",
    "parseLimits",
]

# Source ports of the classic UDP services that answer any datagram: a reply
# to one of them starts a loop between two servers (CVE-1999-0103, fraggle).
# 0 is no port at all: only a forged datagram comes from it.
CLASSIC_UDP_PORTS = frozenset({0, 7, 13, 17, 19, 37})

_PORT = Bounds(0, 65535)


@frozen
class _Networks(Value):
    """
    Addresses and CIDR blocks, comma-separated (C{allow=}, C{deny=}).
    """

    listed = True

    def parse(self, setting: Setting, text: str) -> Any:
        return parseNetworks(setting.name, text)

    def show(self, value: Any) -> str:
        return ",".join(str(network) for network in value)

    def describe(self) -> str:
        return "addresses, CIDR blocks, any, localhost"


@frozen
class _Ports(Value):
    """
    Port numbers, comma-separated (C{blockports=}).
    """

    listed = True

    def parse(self, setting: Setting, text: str) -> Any:
        ports = set()
        for entry in (text.strip() for text in text.split(",")):
            if not entry:
                continue
            number = _PORT.parse(entry)
            if number is None:
                raise ValueError(
                    f"{setting.name}= holds {shown(entry)}, which is not a port"
                    f" {_PORT.range}"
                )
            ports.add(number)
        return frozenset(ports)

    def show(self, value: Any) -> str:
        return ",".join(str(port) for port in sorted(value))

    def describe(self) -> str:
        return f"ports {_PORT.low:.15g} to {_PORT.high:.15g}"


def _whole(low: float, high: float) -> Number:
    return Number(Bounds(low, high))


def _fraction(low: float, high: float) -> Number:
    return Number(Bounds(low, high, whole=False))


_STREAM = frozenset({"stream"})
_DATAGRAM = frozenset({"datagram"})
_BOTH = _STREAM | _DATAGRAM

# Every defence, in the order --help lists them.
LIMITS = Table(
    (
        Setting(
            "allow",
            _Networks(),
            (),
            "serve only these addresses/CIDR blocks, comma-separated; also any,"
            " localhost (default: {default})",
            _BOTH,
            "access",
            shown="all",
            metavar="A,B",
        ),
        Setting(
            "deny",
            _Networks(),
            (),
            "refuse these addresses/CIDR blocks; a more specific allow entry wins",
            _BOTH,
            "access",
            shown="none",
            metavar="A,B",
        ),
        Setting(
            "maxconn",
            _whole(1, 1_000_000),
            None,
            "open connections at once on this listener (default: {default})",
            _STREAM,
            "maxConnections",
            shown="only the process's --max-connections",
            metavar="N",
        ),
        Setting(
            "maxpersource",
            _whole(1, 1_000_000),
            256,
            "open connections from one source address, an IPv6 /64 counting as"
            " one (default {default})",
            _STREAM,
            "maxPerSource",
            metavar="N",
        ),
        Setting(
            "maxpending",
            _whole(1, 1_000_000),
            1024,
            "haproxy: connections waiting for their PROXY header at once on this"
            " listener, counted here and not per source (default {default})",
            _STREAM,
            "maxPending",
            metavar="N",
        ),
        Setting(
            "idle",
            _fraction(0, 7 * 86400),
            300.0,
            "seconds without traffic before a connection is closed; 0 never"
            " (default {default})",
            _STREAM,
            "idleTimeout",
            metavar="SECONDS",
        ),
        Setting(
            "backpressure",
            Flag(),
            True,
            "yes|no: stop reading from a peer that does not read its replies"
            " (default {default})",
            _STREAM,
            "backpressure",
        ),
        Setting(
            "sendbuffer",
            _whole(4096, 16 << 20),
            65536,
            "bytes queued for a peer before reading from it pauses; a read takes"
            " at most 4 times as many (default {default})",
            _STREAM,
            "sendBuffer",
            metavar="BYTES",
        ),
        Setting(
            "evict",
            Flag(),
            True,
            "yes|no: when the connection table is 90% full, each new connection"
            " closes the established one (10 s old or more) that moved the fewest"
            " bytes per second (default {default})",
            _STREAM,
            "evict",
        ),
        Setting(
            "maxline",
            _whole(1, 1 << 30),
            65536,
            "longest line of line-print and hello, bytes; longer closes the"
            " connection (default {default})",
            _STREAM,
            "maxLine",
            metavar="BYTES",
        ),
        Setting(
            "replyrate",
            _fraction(0.001, 1_000_000),
            100.0,
            "replies per second to one source address, an IPv6 /64 counting as"
            " one (default {default})",
            _DATAGRAM,
            "replyRate",
            metavar="N",
        ),
        Setting(
            "replyburst",
            _whole(1, 1_000_000),
            200,
            "replies at once to one source address (default {default})",
            _DATAGRAM,
            "replyBurst",
            metavar="N",
        ),
        Setting(
            "replygrowth",
            _whole(0, 65536),
            64,
            "bytes a reply may exceed its request by; larger ones are dropped"
            " (default {default})",
            _DATAGRAM,
            "replyGrowth",
            metavar="BYTES",
        ),
        Setting(
            "blockports",
            _Ports(),
            CLASSIC_UDP_PORTS,
            "source ports never answered, comma-separated (default {default};"
            " 0 and the ports of this process's datagram listeners are always"
            " added)",
            _DATAGRAM,
            "blockedPorts",
            metavar="P,Q",
        ),
        Setting(
            "loglines",
            _whole(1, 100_000),
            100,
            "log lines of one kind per 10 s per listener, a fifth of them per"
            " peer (default {default})",
            _BOTH,
            "logLines",
            metavar="N",
        ),
    )
)


@frozen
class ListenerLimits:
    """
    One listener's defences. The defaults are what a listener gets when its
    endpoint string says nothing (L{LIMITS} declares them).

    @ivar access: the addresses served.
    @ivar maxConnections: open connections at once on this listener, or
        L{None} for no bound but the process's (C{--max-connections}).
    @ivar maxPerSource: open connections from one source address (stream).
    @ivar maxPending: connections waiting for their PROXY header at once
        (C{haproxy:} stream listeners): they count against this bound
        instead of C{maxPerSource}, until the header names the client.
    @ivar idleTimeout: seconds without traffic either way before a
        connection is closed; 0 for never (stream).
    @ivar backpressure: whether reading from a peer pauses while more than
        C{sendBuffer} bytes wait to be sent to it (stream).
    @ivar sendBuffer: that bound, in bytes.
    @ivar evict: whether, when the process's or this listener's table of
        connections is nearly full, each new connection closes the
        slowest established one (L{sockplug.defences._eviction}) (stream).
    @ivar maxLine: the longest line a line protocol takes, in bytes.
    @ivar replyRate: replies per second to one source address (datagram).
    @ivar replyBurst: replies to one source address at once (datagram).
    @ivar replyGrowth: how many bytes a reply may be larger than the
        datagram it answers (datagram).
    @ivar blockedPorts: source ports never replied to (datagram).
    @ivar logLines: log lines of one kind per listener per 10 seconds.
    """

    access: AccessList = field(factory=AccessList)
    maxConnections: int | None = LIMITS["maxconn"].default
    maxPerSource: int = LIMITS["maxpersource"].default
    maxPending: int = LIMITS["maxpending"].default
    idleTimeout: float = LIMITS["idle"].default
    backpressure: bool = LIMITS["backpressure"].default
    evict: bool = LIMITS["evict"].default
    sendBuffer: int = LIMITS["sendbuffer"].default
    maxLine: int = LIMITS["maxline"].default
    replyRate: float = LIMITS["replyrate"].default
    replyBurst: int = LIMITS["replyburst"].default
    replyGrowth: int = LIMITS["replygrowth"].default
    blockedPorts: frozenset[int] = LIMITS["blockports"].default
    logLines: int = LIMITS["loglines"].default


def parseLimits(kwargs: dict[str, str], kind: str) -> ListenerLimits:
    """
    Take the defence options out of an endpoint string's keyword arguments
    (C{kwargs} loses them) and check them, in the order of L{LIMITS}.

    @param kind: C{"stream"} or C{"datagram"}: the endpoint's kind, or
        C{""} if not known yet (nothing is refused for its kind).
    @raise ValueError: naming the option and what it should be.
    """
    given = {name: kwargs.pop(name) for name in list(kwargs) if name in LIMITS}
    if kind:
        wrong = sorted(n for n in given if not LIMITS[n].appliesTo(kind))
        if wrong:
            raise ValueError(
                f"{', '.join(wrong)} applies to"
                f" {'datagram' if kind == 'stream' else 'stream'} endpoints only"
            )
    values: dict[str, Any] = {}
    networks: dict[str, Any] = {}
    for setting in LIMITS:
        if setting.name in given:
            value = setting.parse(given[setting.name])
            if setting.attribute == "access":
                networks[setting.name] = value
            else:
                values[setting.attribute] = value
    if networks:
        values["access"] = AccessList(
            networks.get("allow", ()), networks.get("deny", ())
        )
    return ListenerLimits(**values)
