# -*- test-case-name: sockplug.endpoints.test.test_overlap -*-
"""
Whether two listeners' sockets can both be made: the kernel refuses a
second socket on an address that overlaps one already bound, not only on
the very same one. Checked before anything listens, so that
C{check-config} and the server's start both refuse such a pair in one
line, instead of the server failing at the second C{bind()}.

Linux's rules, as they apply to listening sockets (each checked on this
kernel, with two sockets):
 - TCP and UDP have separate ports; UNIX sockets, stream or datagram,
   share one namespace of paths.
 - Two addresses overlap on one port when they are equal, when one is
   C{0.0.0.0} and the other any IPv4 address, or when one is C{::} and the
   other any IPv6 address or, on a dual-stack system
   (C{net.ipv6.bindv6only} is 0, the default), any IPv4 address.
   An IPv4-mapped IPv6 address is its IPv4 address.
 - Overlapping sockets can both be bound when both set C{SO_REUSEPORT};
   UDP sockets also when both set C{SO_REUSEADDR}.
"""

from __future__ import annotations

import ipaddress
import os

from sockplug.endpoints._datagram import UDPServerEndpoint, UNIXDatagramServerEndpoint
from sockplug.endpoints._parsed import ParsedEndpoint
from sockplug.endpoints._stream import TCPServerEndpoint, UNIXServerEndpoint

__all__ = ["dualStack", "overlapKey", "overlapping"]

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_ANY4 = ipaddress.IPv4Address("0.0.0.0")
_ANY6 = ipaddress.IPv6Address("::")


def dualStack(path: str = "/proc/sys/net/ipv6/bindv6only") -> bool:
    """
    Whether an IPv6 socket on C{::} also takes IPv4 (Linux's default):
    C{net.ipv6.bindv6only} is 0, or cannot be read.
    """
    try:
        with open(path, "rb") as f:
            return f.read().strip() == b"0"
    except OSError:
        return True


def overlapping(
    a: ParsedEndpoint,
    b: ParsedEndpoint,
    *,
    dual: bool = True,
    folder: str | None = None,
) -> bool:
    """
    Whether C{a}'s socket and C{b}'s cannot both be bound: the same
    UNIX path, or TCP (or UDP) on one port (not 0) at overlapping
    addresses, unless both sockets allow sharing it. Endpoints whose
    socket sockplug does not make (C{ssl:}, C{systemd:}, a third-party
    type) overlap nothing here.

    @param dual: whether C{::} also takes IPv4 (see L{dualStack}).
    @param folder: the folder a relative UNIX path is in: the one the
        server will bind in (twistd's C{--rundir}); L{None}, the current
        one.
    """
    x, y = a.socket, b.socket
    if x is None or y is None:
        return False
    if isinstance(x, UNIXServerEndpoint | UNIXDatagramServerEndpoint):
        if not isinstance(y, UNIXServerEndpoint | UNIXDatagramServerEndpoint):
            return False
        return _samePath(x.path, y.path, folder)
    if not isinstance(x, TCPServerEndpoint | UDPServerEndpoint) or type(x) is not type(
        y
    ):
        return False
    assert isinstance(y, TCPServerEndpoint | UDPServerEndpoint)
    if x.port == 0 or x.port != y.port:
        return False
    if x.options.reuseport and y.options.reuseport:
        return False
    if isinstance(x, UDPServerEndpoint) and x.options.reuseaddr and y.options.reuseaddr:
        return False
    return _addressesOverlap(_address(x.interface), _address(y.interface), dual)


def overlapKey(endpoint: ParsedEndpoint, folder: str | None = None) -> object:
    """
    A key that two endpoints have alike whenever they may overlap (see
    L{overlapping}): the kind of socket and its port, or the UNIX path;
    L{None} for one that overlaps nothing (port 0, a socket sockplug does
    not make). Only endpoints of one key need to be compared.
    """
    x = endpoint.socket
    if isinstance(x, UNIXServerEndpoint | UNIXDatagramServerEndpoint):
        return ("unix", _resolved(x.path, folder))
    if isinstance(x, TCPServerEndpoint | UDPServerEndpoint) and x.port != 0:
        return (type(x), x.port)
    return None


def _resolved(path: str, folder: str | None) -> str:
    # Abstract names (a leading NUL or "@") are names, not paths.
    if path[:1] in ("\0", "@"):
        return path
    where = os.getcwd() if folder is None else os.path.abspath(folder)
    return os.path.normpath(os.path.join(where, path))


def _samePath(p: str, q: str, folder: str | None) -> bool:
    return _resolved(p, folder) == _resolved(q, folder)


def _address(interface: str) -> _Address | str:
    """
    The interface as an address (C{""} is C{0.0.0.0}), or as the text
    given when it is not one.
    """
    if interface == "":
        return _ANY4
    try:
        address = ipaddress.ip_address(interface)
    except ValueError:
        return interface
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _addressesOverlap(x: _Address | str, y: _Address | str, dual: bool) -> bool:
    if x == y:
        return True
    if isinstance(x, str) or isinstance(y, str):
        return False
    for wild, other in ((x, y), (y, x)):
        if wild == _ANY4 and other.version == 4:
            return True
        if wild == _ANY6 and (other.version == 6 or dual):
            return True
    return False
