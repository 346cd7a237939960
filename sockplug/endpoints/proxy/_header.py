# -*- test-case-name: sockplug.endpoints.proxy.test.test_header,sockplug.endpoints.proxy.test.test_headerbounds -*-  # noqa: E501
"""
What a PROXY header says, checked, for L{sockplug.endpoints.proxy._wrapper}: Twisted's
parsers, with the short v1 form C{PROXY UNKNOWN} taken, the length of a
header bounded, the addresses checked, and the start of a header told from
what cannot be one.
"""

from __future__ import annotations

import ipaddress

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IAddress

from sockplug.compat import ProxyInfo, V1Parser, V2Parser

__all__ = [
    "V1_MAX_LENGTH",
    "V2_MAX_LENGTH",
    "V1UnknownParser",
    "V2BoundedParser",
    "checked",
    "couldStart",
    "isLocal",
    "parserFor",
]

# The longest v1 header, its CRLF included: the specification's bound.
V1_MAX_LENGTH = 107
# The longest v2 header sockplug reads, its 16 bytes of signature, command,
# family and length included. The specification bounds it only by its
# 16-bit length (64 KiB); HAProxy's addresses and the extensions it sends
# (ALPN, authority, unique ID, TLS details) take a few hundred bytes.
V2_MAX_LENGTH = 4096


class V1UnknownParser(V1Parser):
    """
    Twisted's v1 parser, taking the short form C{PROXY UNKNOWN}, and
    refusing a header longer than L{V1_MAX_LENGTH} (Twisted's looks only
    for a CRLF missing from its first 107 bytes, so it takes a longer line
    that arrives whole).
    """

    def __init__(self) -> None:
        super().__init__()
        self._buffered = b""

    def feed(self, data: bytes) -> tuple[ProxyInfo, bytes] | tuple[None, None]:
        """
        Take the next bytes of the header.

        @return: what the header says and the bytes after it, once it is
            whole; L{None} twice until then.
        @raise ValueError: if the header is longer than L{V1_MAX_LENGTH},
            or (as Twisted's parser raises) is no v1 header.
        """
        buffered = self._buffered + data
        end = buffered.find(b"\r\n", 0, V1_MAX_LENGTH)
        if end < 0:
            if len(buffered) >= V1_MAX_LENGTH:
                raise ValueError(
                    f"a v1 header longer than {V1_MAX_LENGTH} bytes,"
                    " the most the specification allows"
                )
            self._buffered = buffered
            return None, None
        self._buffered = b""
        return self.parse(buffered[:end]), buffered[end + 2 :]

    @classmethod
    def parse(cls, line: bytes) -> ProxyInfo:
        if line.rstrip(b"\r\n") == b"PROXY UNKNOWN":
            return ProxyInfo(line, None, None)
        return super().parse(line)


class V2BoundedParser(V2Parser):
    """
    Twisted's v2 parser, refusing on its first 16 bytes a header that says
    it is longer than L{V2_MAX_LENGTH} (Twisted's waits for all of it).
    """

    _checked = False

    def feed(self, data: bytes) -> tuple[ProxyInfo, bytes] | tuple[None, None]:
        """
        Take the next bytes of the header: the first ones, as Twisted's
        parser needs, at least the 16 that say its length.

        @raise ValueError: if the header says it is longer than
            L{V2_MAX_LENGTH}.
        """
        if not self._checked and len(data) >= 16:
            self._checked = True
            length = 16 + int.from_bytes(data[14:16], "big")
            if length > V2_MAX_LENGTH:
                raise ValueError(
                    f"a v2 header of {length} bytes, more than the"
                    f" {V2_MAX_LENGTH} sockplug accepts"
                )
        return super().feed(data)


def parserFor(data: bytes) -> V1UnknownParser | V2BoundedParser | None:
    """
    A parser for the header that C{data} starts (long enough to tell, see
    L{couldStart}), or L{None} if it starts none that sockplug reads.
    """
    if data.startswith(V1Parser.PROXYSTR + b" "):
        return V1UnknownParser()
    if len(data) >= 16 and data.startswith(V2Parser.PREFIX) and data[12] >> 4 == 2:
        return V2BoundedParser()
    return None


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
