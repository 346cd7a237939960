# -*- test-case-name: sockplug.options.test.test_sockopts -*-
"""
Socket options of listening endpoints, given as keyword arguments of
sockplug's own C{tcp}, C{tcp6}, C{unix}, C{udp} and C{unixgram} endpoint
strings (C{tcp:8888:reuseport=yes:rcvbuf=256K}), set before the socket is
bound, and read back with C{getsockopt} for the start-up log.

L{SOCKET_OPTIONS} declares each option (what it does, what it takes, the
sockets it applies to); L{sockplug.options._endpointkeys} the other
arguments of those types that a configuration file may give as keys.
C{--help}, the configuration file's checks and the README's table come
from them.
"""

from __future__ import annotations

import socket
from typing import Any

from attrs import frozen

from sockplug.options._arguments import POSITIVE
from sockplug.options._setting import Flag, Setting, Table, Value

__all__ = [
    "SOCKET_OPTIONS",
    "SocketOptions",
    "effectiveOptions",
    "parseSocketOptions",
]

# Keepalive timing is not on every platform (macOS names TCP_KEEPIDLE
# TCP_KEEPALIVE); where it is missing, asking for it is refused when parsed.
_KEEPALIVE_TIMING = {
    "keepidle": getattr(socket, "TCP_KEEPIDLE", -1),
    "keepintvl": getattr(socket, "TCP_KEEPINTVL", -1),
    "keepcnt": getattr(socket, "TCP_KEEPCNT", -1),
}


@frozen
class _Count(Value):
    """
    A whole number above 0, up to C{high}: the largest the kernel takes
    (Linux's MAX_TCP_KEEPIDLE and friends; socket buffers are C ints, and
    the kernel caps them at its *mem_max).

    @ivar suffixes: whether C{K} and C{M} multiply it by 1024 and 1024 * 1024.
    @ivar available: whether this platform has the option.
    """

    high: int
    suffixes: bool = False
    available: bool = True

    def parse(self, setting: Setting, text: str) -> Any:
        if not self.available:
            raise ValueError(f"{setting.name}= is not supported on this platform")
        digits, factor = text.strip(), 1
        if self.suffixes and digits[-1:].upper() in ("K", "M"):
            factor = 1024 if digits[-1:].upper() == "K" else 1024 * 1024
            digits = digits[:-1]
        number = POSITIVE.parse(digits)
        if number is None:
            raise ValueError(f"{setting.subject(text)} is not a positive number")
        if number * factor > self.high:
            raise ValueError(f"{setting.subject(text)} is more than {self.high}")
        return number * factor

    def describe(self) -> str:
        suffixes = ", K or M suffix" if self.suffixes else ""
        return f"1 to {self.high}{suffixes}"


_BUFFER = _Count(2**31 - 1, suffixes=True)
_SYSTEM = "the system's"

# Every socket option, set with setsockopt, and the kinds of socket it
# applies to (unix: any UNIX socket, stream or datagram).
SOCKET_OPTIONS = Table(
    (
        Setting(
            "reuseaddr",
            Flag(),
            None,
            "SO_REUSEADDR yes|no ({default})",
            frozenset({"tcp", "udp"}),
            "reuseaddr",
            shown="TCP default yes, as Twisted; UDP default no",
        ),
        Setting(
            "reuseport",
            Flag(),
            False,
            "SO_REUSEPORT yes|no: processes share the port, the kernel spreads"
            " connections and datagrams over them (default {default})",
            frozenset({"tcp", "udp"}),
            "reuseport",
        ),
        Setting(
            "rcvbuf",
            _BUFFER,
            None,
            "SO_RCVBUF bytes, K or M suffix allowed (Linux doubles it)",
            frozenset({"tcp", "udp", "unix"}),
            "rcvbuf",
            shown=_SYSTEM,
            metavar="BYTES",
        ),
        Setting(
            "sndbuf",
            _BUFFER,
            None,
            "SO_SNDBUF bytes, K or M suffix",
            frozenset({"tcp", "udp", "unix"}),
            "sndbuf",
            shown=_SYSTEM,
            metavar="BYTES",
        ),
        Setting(
            "nodelay",
            Flag(),
            None,
            "TCP_NODELAY yes|no on accepted connections (default {default})",
            frozenset({"tcp"}),
            "nodelay",
            shown="no",
        ),
        Setting(
            "keepalive",
            Flag(),
            None,
            "SO_KEEPALIVE yes|no on accepted connections (default {default})",
            frozenset({"tcp"}),
            "keepalive",
            shown="no",
        ),
        Setting(
            "keepidle",
            _Count(32767, available=_KEEPALIVE_TIMING["keepidle"] != -1),
            None,
            "TCP_KEEPIDLE seconds before the first probe",
            frozenset({"tcp"}),
            "keepidle",
            shown=_SYSTEM,
            metavar="SECONDS",
        ),
        Setting(
            "keepintvl",
            _Count(32767, available=_KEEPALIVE_TIMING["keepintvl"] != -1),
            None,
            "TCP_KEEPINTVL seconds between probes",
            frozenset({"tcp"}),
            "keepintvl",
            shown=_SYSTEM,
            metavar="SECONDS",
        ),
        Setting(
            "keepcnt",
            _Count(127, available=_KEEPALIVE_TIMING["keepcnt"] != -1),
            None,
            "TCP_KEEPCNT probes before giving up",
            frozenset({"tcp"}),
            "keepcnt",
            shown=_SYSTEM,
            metavar="N",
        ),
    )
)


@frozen
class SocketOptions:
    """
    The socket options asked for one listener; L{None} leaves the system's
    (or Twisted's) default.
    """

    reuseaddr: bool | None = SOCKET_OPTIONS["reuseaddr"].default
    reuseport: bool = SOCKET_OPTIONS["reuseport"].default
    rcvbuf: int | None = SOCKET_OPTIONS["rcvbuf"].default
    sndbuf: int | None = SOCKET_OPTIONS["sndbuf"].default
    nodelay: bool | None = SOCKET_OPTIONS["nodelay"].default
    keepalive: bool | None = SOCKET_OPTIONS["keepalive"].default
    keepidle: int | None = SOCKET_OPTIONS["keepidle"].default
    keepintvl: int | None = SOCKET_OPTIONS["keepintvl"].default
    keepcnt: int | None = SOCKET_OPTIONS["keepcnt"].default

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
    C{unix}) out of an endpoint string's keyword arguments, in the order
    of L{SOCKET_OPTIONS}.

    @raise ValueError: for a value that is wrong, or an option that does
        not apply to C{kind}.
    """
    values: dict[str, Any] = {}
    for setting in SOCKET_OPTIONS:
        if setting.name not in kwargs:
            continue
        if not setting.appliesTo(kind):
            raise ValueError(f"{setting.name}= does not apply to {kind} sockets")
        values[setting.attribute] = setting.parse(kwargs.pop(setting.name))
    return SocketOptions(**values)


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
