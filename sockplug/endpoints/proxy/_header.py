# -*- test-case-name: sockplug.endpoints.proxy.test.test_header,sockplug.endpoints.proxy.test.test_wrapper -*-  # noqa: E501
"""
What a PROXY header says, checked, for L{sockplug.endpoints.proxy._wrapper}: Twisted's
parsers, with the short v1 form C{PROXY UNKNOWN} taken, the addresses
checked, and the start of a header told from what cannot be one.
"""

from __future__ import annotations

import ipaddress

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IAddress

from sockplug.compat import ProxyInfo, V1Parser, V2Parser

__all__ = ["V1UnknownParser", "checked", "couldStart", "isLocal"]


class V1UnknownParser(V1Parser):
    """
    Twisted's v1 parser, taking the short form C{PROXY UNKNOWN}.
    """

    @classmethod
    def parse(cls, line: bytes) -> ProxyInfo:
        if line.rstrip(b"\r\n") == b"PROXY UNKNOWN":
            return ProxyInfo(line, None, None)
        return super().parse(line)


# What a header starts with, and how many bytes tell which one it is.
_SIGNATURES = ((V2Parser.PREFIX, 16), (V1Parser.PROXYSTR + b" ", 8))


def couldStart(data: bytes) -> bool:
    """
    Whether C{data} could be the start of a header that is still coming.
    """
    return any(
        len(data) < needed and signature.startswith(data[: len(signature)])
        for signature, needed in _SIGNATURES
    )


def _address(address: IAddress | None) -> IAddress | None:
    """
    An address from a header, checked: an IP address of its family (so a
    peer cannot pass text of its choice to log lines and output), written
    the standard short way, and a port.
    """
    if not isinstance(address, (IPv4Address, IPv6Address)):
        # None (UNKNOWN, LOCAL), or a UNIX path (a balancer's UNIX-socket
        # frontend): the connection's own address is used.
        return None
    if "%" in address.host:  # a scope id is free text
        raise ValueError(f"names {address.host!r}, with a scope id")
    try:
        ip = ipaddress.ip_address(address.host)
    except ValueError:
        raise ValueError(f"names {address.host!r}, not an IP address") from None
    if ip.version != (4 if isinstance(address, IPv4Address) else 6):
        raise ValueError(f"names {address.host!r} in the wrong address family")
    if not 0 <= address.port <= 65535:
        raise ValueError(f"names port {address.port}")
    return type(address)(address.type, ip.compressed, address.port)


def checked(info: ProxyInfo) -> ProxyInfo:
    """
    A parsed header with its addresses checked (see L{_address}).

    @raise ValueError: saying what is wrong with an address.
    """
    return ProxyInfo(info.header, _address(info.source), _address(info.destination))


def isLocal(info: ProxyInfo) -> bool:
    """
    Whether a header is a v2 one with the LOCAL command: the balancer's own
    connection (a health check), naming no client.
    """
    header = info.header
    return header.startswith(V2Parser.PREFIX) and header[12] & 0x0F == 0
