# -*- test-case-name: sockplug.test.test_address -*-
"""
Addresses as log and output lines show them: C{127.0.0.1:53422},
C{[::1]:53422}, C{/run/app.sock}, C{(unbound)}.
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress

__all__ = ["UNBOUND", "formatAddress"]

UNBOUND = "(unbound)"


def _path(name: str | bytes | None) -> str:
    if not name:
        return UNBOUND
    if isinstance(name, bytes):
        name = name.decode("utf-8", "backslashreplace")
    if name.startswith("\0"):
        # A Linux abstract-namespace name, shown the way ss(8) shows it.
        return "@" + name[1:]
    return name


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
    if isinstance(address, UNIXAddress):
        return _path(address.name)
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        if ":" in str(host):
            return f"[{host}]:{port}"
        return f"{host}:{port}"
    if address is None or isinstance(address, (str, bytes)):
        return _path(address)
    return str(address)
