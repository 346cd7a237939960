# -*- test-case-name: sockplug.options.test.test_limits,sockplug.endpoints.test.test_parser -*-  # noqa: E501
"""
A listener's defences, given as keyword arguments of any endpoint string
(C{tcp:8888:idle=60:allow=10.0.0.0/8}): taken out of the string before the
endpoint type's own parser sees it, so they work in front of every type.

Every defence is on by default; L{LIMIT_HELP} says what each does, and
C{--help} lists it. The C{allow=} and C{deny=} lists are read by
L{sockplug.options._access}.
"""

from __future__ import annotations

from collections.abc import Mapping

from attrs import field, frozen

from sockplug.options._access import AccessList
from sockplug.options._arguments import flag

__all__ = [
    "CLASSIC_UDP_PORTS",
    "LIMIT_HELP",
    "ListenerLimits",
    "parseLimits",
]

# Source ports of the classic UDP services that answer any datagram: a reply
# to one of them starts a loop between two servers (CVE-1999-0103, fraggle).
# 0 is no port at all: only a forged datagram comes from it.
CLASSIC_UDP_PORTS = frozenset({0, 7, 13, 17, 19, 37})


@frozen
class ListenerLimits:
    """
    One listener's defences. The defaults are what a listener gets when its
    endpoint string says nothing.

    @ivar access: the addresses served.
    @ivar maxConnections: open connections at once on this listener, or
        L{None} for no bound but the process's (C{--max-connections}).
    @ivar maxPerSource: open connections from one source address (stream).
    @ivar idleTimeout: seconds without traffic either way before a
        connection is closed; 0 for never (stream).
    @ivar backpressure: whether reading from a peer pauses while more than
        C{sendBuffer} bytes wait to be sent to it (stream).
    @ivar sendBuffer: that bound, in bytes.
    @ivar maxLine: the longest line a line protocol takes, in bytes.
    @ivar replyRate: replies per second to one source address (datagram).
    @ivar replyBurst: replies to one source address at once (datagram).
    @ivar replyGrowth: how many bytes a reply may be larger than the
        datagram it answers (datagram).
    @ivar blockedPorts: source ports never replied to (datagram).
    @ivar logLines: log lines of one kind per listener per 10 seconds.
    """

    access: AccessList = field(factory=AccessList)
    maxConnections: int | None = None
    maxPerSource: int = 256
    idleTimeout: float = 300.0
    backpressure: bool = True
    sendBuffer: int = 65536
    maxLine: int = 65536
    replyRate: float = 100.0
    replyBurst: int = 200
    replyGrowth: int = 64
    blockedPorts: frozenset[int] = CLASSIC_UDP_PORTS
    logLines: int = 100


# Each option: (its ListenerLimits attribute, the kinds it applies to, help).
LIMIT_HELP: Mapping[str, tuple[frozenset[str], str]] = {
    "allow": (
        frozenset({"stream", "datagram"}),
        "serve only these addresses/CIDR blocks, comma-separated; also any,"
        " localhost (default: all)",
    ),
    "deny": (
        frozenset({"stream", "datagram"}),
        "refuse these addresses/CIDR blocks; a more specific allow entry wins",
    ),
    "maxconn": (
        frozenset({"stream"}),
        "open connections at once on this listener (default: only the"
        " process's --max-connections)",
    ),
    "maxpersource": (
        frozenset({"stream"}),
        "open connections from one source address, an IPv6 /64 counting as"
        " one (default 256)",
    ),
    "idle": (
        frozenset({"stream"}),
        "seconds without traffic before a connection is closed; 0 never (default 300)",
    ),
    "backpressure": (
        frozenset({"stream"}),
        "yes|no: stop reading from a peer that does not read its replies (default yes)",
    ),
    "sendbuffer": (
        frozenset({"stream"}),
        "bytes queued for a peer before reading from it pauses; a read takes"
        " at most 4 times as many (default 65536)",
    ),
    "maxline": (
        frozenset({"stream"}),
        "longest line of line-print and hello, bytes; longer closes the"
        " connection (default 65536)",
    ),
    "replyrate": (
        frozenset({"datagram"}),
        "replies per second to one source address, an IPv6 /64 counting as"
        " one (default 100)",
    ),
    "replyburst": (
        frozenset({"datagram"}),
        "replies at once to one source address (default 200)",
    ),
    "replygrowth": (
        frozenset({"datagram"}),
        "bytes a reply may exceed its request by; larger ones are dropped (default 64)",
    ),
    "blockports": (
        frozenset({"datagram"}),
        "source ports never answered, comma-separated (default 0,7,13,17,19,37;"
        " 0 and the ports of this process's datagram listeners are always"
        " added)",
    ),
    "loglines": (
        frozenset({"stream", "datagram"}),
        "log lines of one kind per 10 s per listener, a fifth of them per"
        " peer (default 100)",
    ),
}

_BOUNDS: Mapping[str, tuple[float, float]] = {
    "maxconn": (1, 1_000_000),
    "maxpersource": (1, 1_000_000),
    "idle": (0, 7 * 86400),
    "sendbuffer": (4096, 16 << 20),
    "maxline": (1, 1 << 30),
    "replyrate": (0.001, 1_000_000),
    "replyburst": (1, 1_000_000),
    "replygrowth": (0, 65536),
    "loglines": (1, 100_000),
}


def _number(name: str, value: str, whole: bool = True) -> float:
    low, high = _BOUNDS[name]
    try:
        number = float(int(value, 10)) if whole else float(value)
    except (ValueError, OverflowError):  # 400 digits do not fit a float
        number = float("nan")
    if not low <= number <= high:
        kind = "a whole number" if whole else "a number"
        raise ValueError(
            f"{name}={value!r} is not {kind} from {low:.15g} to {high:.15g}"
        )
    return number


def _ports(value: str) -> frozenset[int]:
    ports = set()
    for text in value.split(","):
        entry = text.strip()
        if not entry:
            continue
        try:
            number = int(entry, 10)
        except ValueError:
            number = -1
        if not 0 <= number <= 65535:
            raise ValueError(
                f"blockports= holds {entry!r}, which is not a port from 0 to 65535"
            )
        ports.add(number)
    return frozenset(ports)


def parseLimits(kwargs: dict[str, str], kind: str) -> ListenerLimits:
    """
    Take the defence options out of an endpoint string's keyword arguments
    (C{kwargs} loses them) and check them.

    @param kind: C{"stream"} or C{"datagram"}: the endpoint's kind, or
        C{""} if not known yet (nothing is refused for its kind).
    @raise ValueError: naming the option and what it should be.
    """
    given = {name: kwargs.pop(name) for name in list(kwargs) if name in LIMIT_HELP}
    if kind:
        wrong = sorted(n for n in given if kind not in LIMIT_HELP[n][0])
        if wrong:
            raise ValueError(
                f"{', '.join(wrong)} applies to"
                f" {'datagram' if kind == 'stream' else 'stream'} endpoints only"
            )
    values: dict[str, object] = {}
    if "allow" in given or "deny" in given:
        values["access"] = AccessList.parse(given.get("allow"), given.get("deny"))
    simple = {
        "maxconn": ("maxConnections", int),
        "maxpersource": ("maxPerSource", int),
        "sendbuffer": ("sendBuffer", int),
        "maxline": ("maxLine", int),
        "replyburst": ("replyBurst", int),
        "replygrowth": ("replyGrowth", int),
        "loglines": ("logLines", int),
    }
    for name, (attribute, convert) in simple.items():
        if name in given:
            values[attribute] = convert(_number(name, given[name]))
    if "idle" in given:
        values["idleTimeout"] = _number("idle", given["idle"], whole=False)
    if "replyrate" in given:
        values["replyRate"] = _number("replyrate", given["replyrate"], whole=False)
    if "backpressure" in given:
        values["backpressure"] = flag("backpressure", given["backpressure"])
    if "blockports" in given:
        values["blockedPorts"] = _ports(given["blockports"])
    return ListenerLimits(**values)  # type: ignore[arg-type]
