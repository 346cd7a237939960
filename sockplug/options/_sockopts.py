# -*- test-case-name: sockplug.options.test.test_sockopts -*-
"""
Socket options of listening endpoints, given as keyword arguments of
sockplug's own C{tcp}, C{tcp6}, C{unix}, C{udp} and C{unixgram} endpoint
strings (C{tcp:8888:reuseport=yes:rcvbuf=256K}), set before the socket is
bound, and read back with C{getsockopt} for the start-up log.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping

from attrs import frozen

from sockplug.options._arguments import flag, positive

__all__ = ["OPTION_HELP", "SocketOptions", "effectiveOptions", "parseSocketOptions"]

# Every option, the kinds of socket it applies to, and what it does.
OPTION_HELP: Mapping[str, tuple[frozenset[str], str]] = {
    "reuseaddr": (
        frozenset({"tcp", "udp"}),
        "SO_REUSEADDR yes|no (TCP default yes, as Twisted; UDP default no)",
    ),
    "reuseport": (
        frozenset({"tcp", "udp"}),
        "SO_REUSEPORT yes|no: processes share the port, the kernel spreads"
        " connections and datagrams over them (default no)",
    ),
    "rcvbuf": (
        frozenset({"tcp", "udp", "unix"}),
        "SO_RCVBUF bytes, K or M suffix allowed (Linux doubles it)",
    ),
    "sndbuf": (frozenset({"tcp", "udp", "unix"}), "SO_SNDBUF bytes, K or M suffix"),
    "nodelay": (
        frozenset({"tcp"}),
        "TCP_NODELAY yes|no on accepted connections (default no)",
    ),
    "keepalive": (
        frozenset({"tcp"}),
        "SO_KEEPALIVE yes|no on accepted connections (default no)",
    ),
    "keepidle": (frozenset({"tcp"}), "TCP_KEEPIDLE seconds before the first probe"),
    "keepintvl": (frozenset({"tcp"}), "TCP_KEEPINTVL seconds between probes"),
    "keepcnt": (frozenset({"tcp"}), "TCP_KEEPCNT probes before giving up"),
}

# Keepalive timing is not on every platform (macOS names TCP_KEEPIDLE
# TCP_KEEPALIVE); where it is missing, asking for it is refused when parsed.
_KEEPALIVE_TIMING = {
    "keepidle": getattr(socket, "TCP_KEEPIDLE", -1),
    "keepintvl": getattr(socket, "TCP_KEEPINTVL", -1),
    "keepcnt": getattr(socket, "TCP_KEEPCNT", -1),
}


# The largest values the kernel takes (Linux's MAX_TCP_KEEPIDLE and friends;
# socket buffers are C ints, and the kernel caps them at its *mem_max).
_LIMITS = {
    "rcvbuf": 2**31 - 1,
    "sndbuf": 2**31 - 1,
    "keepidle": 32767,
    "keepintvl": 32767,
    "keepcnt": 127,
}


def _number(name: str, value: str, multipliers: bool = False) -> int:
    text, factor = value.strip(), 1
    if multipliers and text[-1:].upper() in ("K", "M"):
        factor = 1024 if text[-1:].upper() == "K" else 1024 * 1024
        text = text[:-1]
    try:
        return positive(name, text) * factor
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a positive number") from None


@frozen
class SocketOptions:
    """
    The socket options asked for one listener; L{None} leaves the system's
    (or Twisted's) default.
    """

    reuseaddr: bool | None = None
    reuseport: bool = False
    rcvbuf: int | None = None
    sndbuf: int | None = None
    nodelay: bool | None = None
    keepalive: bool | None = None
    keepidle: int | None = None
    keepintvl: int | None = None
    keepcnt: int | None = None

    def apply(self, sock: socket.socket) -> None:
        """
        Set the options on a socket that is not bound yet. Options set on a
        listening TCP socket are inherited by the connections it accepts.

        @raise OSError: if the system refuses one.
        """
        levels: list[tuple[int, int, int | None]] = [
            (socket.SOL_SOCKET, socket.SO_REUSEADDR, _int(self.reuseaddr)),
            (socket.SOL_SOCKET, socket.SO_REUSEPORT, 1 if self.reuseport else None),
            (socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf),
            (socket.SOL_SOCKET, socket.SO_SNDBUF, self.sndbuf),
            (socket.IPPROTO_TCP, socket.TCP_NODELAY, _int(self.nodelay)),
            (socket.SOL_SOCKET, socket.SO_KEEPALIVE, _int(self.keepalive)),
            (socket.IPPROTO_TCP, _KEEPALIVE_TIMING["keepidle"], self.keepidle),
            (socket.IPPROTO_TCP, _KEEPALIVE_TIMING["keepintvl"], self.keepintvl),
            (socket.IPPROTO_TCP, _KEEPALIVE_TIMING["keepcnt"], self.keepcnt),
        ]
        for level, option, value in levels:
            if value is not None:
                sock.setsockopt(level, option, value)


def _int(flag: bool | None) -> int | None:
    return None if flag is None else int(flag)


def parseSocketOptions(kwargs: dict[str, str], kind: str) -> SocketOptions:
    """
    Take the socket options for a socket of C{kind} (C{tcp}, C{udp},
    C{unix}) out of an endpoint string's keyword arguments.

    @raise ValueError: for a value that is wrong, or an option that does
        not apply to C{kind}.
    """
    values: dict[str, bool | int] = {}
    for name, (kinds, _) in OPTION_HELP.items():
        if name not in kwargs:
            continue
        if kind not in kinds:
            raise ValueError(f"{name}= does not apply to {kind} sockets")
        if _KEEPALIVE_TIMING.get(name) == -1:
            raise ValueError(f"{name}= is not supported on this platform")
        raw = kwargs.pop(name)
        if name in ("reuseaddr", "reuseport", "nodelay", "keepalive"):
            values[name] = flag(name, raw)
            continue
        number = _number(name, raw, multipliers=name.endswith("buf"))
        if number > _LIMITS[name]:
            raise ValueError(f"{name}={raw!r} is more than {_LIMITS[name]}")
        values[name] = number
    return SocketOptions(**values)  # type: ignore[arg-type]


def effectiveOptions(sock: socket.socket, kind: str) -> str:
    """
    The options of a listening socket as the kernel reports them, for the
    start-up log: C{rcvbuf=131072 sndbuf=16384 reuseaddr=1 ...}.
    """
    read = [
        ("rcvbuf", socket.SOL_SOCKET, socket.SO_RCVBUF),
        ("sndbuf", socket.SOL_SOCKET, socket.SO_SNDBUF),
    ]
    if kind in ("tcp", "udp"):
        read += [
            ("reuseaddr", socket.SOL_SOCKET, socket.SO_REUSEADDR),
            ("reuseport", socket.SOL_SOCKET, socket.SO_REUSEPORT),
        ]
    if kind == "tcp":
        read += [
            ("nodelay", socket.IPPROTO_TCP, socket.TCP_NODELAY),
            ("keepalive", socket.SOL_SOCKET, socket.SO_KEEPALIVE),
        ]
    parts = []
    for name, level, option in read:
        try:
            parts.append(f"{name}={sock.getsockopt(level, option)}")
        except OSError:
            parts.append(f"{name}=?")
    return " ".join(parts)
