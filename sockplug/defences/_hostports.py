# -*- test-case-name: sockplug.defences.test.test_hostports -*-
"""
The UDP ports of every sockplug server on this host, so that none answers
another.

A datagram server answers whatever source address a datagram claims, so
one forged datagram that claims to come from server B's port, sent to
server A, sets them answering each other: A's reply is a request to B, B's
reply a request to A, and so on until a reply is dropped. A process knows
its own ports (L{sockplug.defences._replybudget} never replies to them);
this module tells it those of every other sockplug process on the host.

Each UDP listener, while it listens, holds a Linux abstract UNIX socket
named C{sockplug-udp:PORT:PID:N}: no file to leave behind, gone with its
process however that ends, and seen by every process in the same network
namespace (the one its UDP port is in) as a line of C{/proc/net/unix}.
L{HostPorts.holds} reads that table at most once a second, and only when
a reply goes to an address whose port was not checked within the last
second: about a millisecond on a host with a few thousand UNIX sockets.

Where there is no abstract namespace (not Linux), nothing is registered
and no port is found: each process knows only its own. Any local process
may bind such a name; all it can do with one is stop sockplug's replies to
that port.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import socket
from typing import Any

from twisted.internet.posixbase import PosixReactorBase

__all__ = ["REFRESH", "TABLE", "HostPorts", "hostPortsFor"]

# Where Linux lists the UNIX sockets of this network namespace.
TABLE = "/proc/net/unix"
# Seconds a reading of the table is used for.
REFRESH = 1.0

_PREFIX = b"sockplug-udp:"
_LISTED = re.compile(rb"@" + re.escape(_PREFIX) + rb"(\d+):")


class HostPorts:
    """
    The registry of sockplug's UDP ports on this host: each listener
    registers its port, and the budget of each asks whether a port is one.
    """

    def __init__(self, table: str = TABLE, refresh: float = REFRESH) -> None:
        """
        @param table: the file that lists the host's UNIX sockets.
        @param refresh: seconds a reading of it is used for.
        """
        self._table = table
        self._refresh = refresh
        self._ports: frozenset[int] = frozenset()
        self._readAt: float | None = None
        self._serial = itertools.count(1)

    def register(self, port: int) -> socket.socket | None:
        """
        Register C{port} as a sockplug server's, until the socket returned
        is closed (or the process ends).

        @return: that socket; L{None} where no abstract socket can be made.
        """
        name = b"\0%s%d:%d:%d" % (_PREFIX, port, os.getpid(), next(self._serial))
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        except OSError:
            return None
        try:
            sock.bind(name)
        except OSError:
            sock.close()
            return None
        return sock

    def holds(self, port: int, now: float) -> bool:
        """
        Whether a sockplug server on this host listens on UDP port C{port},
        as the table said at most L{REFRESH} seconds before C{now}.
        """
        readAt = self._readAt
        if readAt is None or not 0 <= now - readAt < self._refresh:
            self._readAt = now
            self._ports = self._read()
        return port in self._ports

    def _read(self) -> frozenset[int]:
        """
        The ports named in the table now (none if it cannot be read).
        """
        try:
            with open(self._table, "rb") as table:
                listed = table.read()
        except OSError:
            return frozenset()
        return frozenset(int(port) for port in _LISTED.findall(listed))


@functools.cache
def _shared() -> HostPorts:
    """
    The process's registry, made when first asked for.
    """
    return HostPorts()


def hostPortsFor(reactor: Any) -> HostPorts | None:
    """
    The registry the listeners of C{reactor} use: the process's one for a
    reactor on the host's real sockets (one of Twisted's posix reactors);
    none for one in memory (in tests), which has no host.
    """
    return _shared() if isinstance(reactor, PosixReactorBase) else None
