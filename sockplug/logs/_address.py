# -*- test-case-name: sockplug.logs.test.test_address -*-
"""
Addresses as log and output lines show them: C{127.0.0.1:53422},
C{[::1]:53422}, C{/run/app.sock}, C{(unbound)}, C{stdio}.
"""

from __future__ import annotations

import os

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.stdio import PipeAddress

from sockplug.logs._escape import escapeLine

__all__ = ["STDIO", "UNBOUND", "formatAddress"]

UNBOUND = "(unbound)"
# The peer, and the host, of the stdio: connection.
STDIO = "stdio"


def _path(name: str | bytes | None) -> str:
    """
    A socket path, escaped as received lines are: a peer picks the path it
    binds, so it may hold terminal escapes or bytes that are not UTF-8.
    """
    if not name:
        return UNBOUND
    raw = os.fsencode(name)
    if raw.startswith(b"\0"):
        # A Linux abstract-namespace name, shown the way ss(8) shows it.
        return "@" + escapeLine(raw[1:]).decode("utf-8")
    return escapeLine(raw).decode("utf-8")


def formatAddress(address: object) -> str:
    """
    Show an address: a Twisted address object, or what C{recvfrom} gives a
    datagram protocol (a C{(host, port)} tuple, a path, or L{None} for an
    unbound UNIX datagram sender).
    """
    if isinstance(address, IPv4Address):
        return f"{address.host}:{address.port}"
    if isinstance(address, IPv6Address):
        return f"[{address.host}]:{address.port}"
    if isinstance(address, UNIXAddress):  # a stream peer, or a bound port
        return _path(address.name)
    if isinstance(address, PipeAddress):
        return STDIO
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        if ":" in str(host):
            return f"[{host}]:{port}"
        return f"{host}:{port}"
    if address is None or isinstance(address, (str, bytes)):
        return _path(address)
    return str(address)
