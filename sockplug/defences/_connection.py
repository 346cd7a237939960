# -*- test-case-name: sockplug.defences.test.test_streamadmission -*-
"""
What a stream listener's guard knows of a connection: the little it needs
of one (L{Tracked}), and the address its peer is counted under (L{hostOf}).
"""

from __future__ import annotations

import ipaddress
from typing import Protocol as TypingProtocol

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IAddress

__all__ = ["Tracked", "hostOf"]


class Tracked(TypingProtocol):
    """
    What the guard needs of a connection it tracks.
    """

    bytesIn: int
    bytesOut: int

    def activity(self) -> int:
        """
        A number that changes whenever bytes move either way (a byte count).
        """

    def closeGently(self) -> None:
        """
        Close once what is queued is sent.
        """

    def abort(self) -> None:
        """
        Close now, dropping what is queued.
        """


def hostOf(address: IAddress | None) -> str | None:
    """
    The IP address of a peer, or L{None} if it has none (a UNIX socket).
    """
    if isinstance(address, IPv4Address):
        return address.host
    if isinstance(address, IPv6Address):
        # One spelling per address (a PROXY v2 header gives them uncompressed).
        try:
            return ipaddress.ip_address(address.host.partition("%")[0]).compressed
        except ValueError:
            return address.host
    return None
