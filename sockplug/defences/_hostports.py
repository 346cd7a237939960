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
named C{sockplug-udp/HOST/PORT/PID/N} (C{HOST} the address it is bound to):
no file to leave behind, gone with its process however that ends, and seen
by every process in the same network namespace (the one its UDP port is
in) as a line of C{/proc/net/unix}. L{HostPorts.holds} reads that table at
most once a second, and only when a reply goes to an address whose port
was not checked within the last second: about a millisecond on a host with
a few thousand UNIX sockets.

A reply is held back only where it would reach a sockplug listener: one
bound to that very address and port (where no client can be: the kernel
refuses a second socket on an address in use), or one bound to every
address (C{0.0.0.0}, C{::}) on that port, whatever the address, as a
process's own ports are (servers configured alike on two hosts listen on
the same ports).

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

_PREFIX = b"sockplug-udp/"
_LISTED = re.compile(rb"@" + re.escape(_PREFIX) + rb"([^/\s]+)/(\d+)/")
# The addresses of a listener on every address.
_EVERY = frozenset({"0.0.0.0", "::", ""})


class HostPorts:
    """
    The registry of sockplug's UDP listeners on this host: each registers
    its address, and the budget of each asks whether a reply would reach
    one.
    """

    def __init__(self, table: str = TABLE, refresh: float = REFRESH) -> None:
        """
        @param table: the file that lists the host's UNIX sockets.
        @param refresh: seconds a reading of it is used for.
        """
        self._table = table
        self._refresh = refresh
        self._listeners: frozenset[tuple[str, int]] = frozenset()
        self._everywhere: frozenset[int] = frozenset()
        self._readAt: float | None = None
        self._serial = itertools.count(1)

    def register(self, host: str, port: int) -> socket.socket | None:
        """
        Register a sockplug listener on C{host} (an IP address, or
        C{0.0.0.0} or C{::} for every address) and C{port}, until the
        socket returned is closed (or the process ends).

        @return: that socket; L{None} where no abstract socket can be made.
        """
        name = b"\0%s%s/%d/%d/%d" % (
            _PREFIX,
            host.encode("ascii", "replace"),
            port,
            os.getpid(),
            next(self._serial),
        )
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

    def holds(self, host: str, port: int, now: float) -> bool:
        """
        Whether a reply to C{host} and C{port} would reach a sockplug
        listener on this host (see above), as the table said at most
        L{REFRESH} seconds before C{now}.
        """
        readAt = self._readAt
        if readAt is None or not 0 <= now - readAt < self._refresh:
            self._readAt = now
            self._listeners = listeners = self._read()
            self._everywhere = frozenset(p for h, p in listeners if h in _EVERY)
        return port in self._everywhere or (host, port) in self._listeners

    def _read(self) -> frozenset[tuple[str, int]]:
        """
        The listeners named in the table now, each C{(host, port)} (none if
        it cannot be read).
        """
        try:
            with open(self._table, "rb") as table:
                listed = table.read()
        except OSError:
            return frozenset()
        return frozenset(
            (host.decode("ascii", "replace"), int(port))
            for host, port in _LISTED.findall(listed)
        )


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
