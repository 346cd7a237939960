# -*- test-case-name: sockplug.options.test.test_access -*-
"""
Peers' addresses and access lists, for sockplug's own tests (not API: see
L{sockplug.testing}).
"""

from __future__ import annotations

import ipaddress

from twisted.internet.address import IPv4Address

from sockplug.options._access import AccessList


def peer(host: str = "192.0.2.1", port: int = 5000) -> IPv4Address:
    """
    A TCP peer's IPv4 address.
    """
    return IPv4Address("TCP", host, port)


# How an access list says that a value is not an address.
ADDRESS_ERROR = (
    "is not an address or CIDR block (such as 10.0.0.0/8, 192.0.2.7 or"
    " \\:\\:1/128), nor any or localhost"
)


def network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """
    The network written C{text}.
    """
    return ipaddress.ip_network(text)


def accessList(allow: str | None = None, deny: str | None = None) -> AccessList:
    """
    The access list of C{allow=} and C{deny=} written C{allow} and C{deny}.
    """
    return AccessList.parse(allow, deny)
