# -*- test-case-name: sockplug.options.test.test_access -*-
"""
Which source addresses a listener serves: the C{allow=} and C{deny=}
options of any endpoint string, as an L{AccessList} of networks.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from functools import lru_cache

from attrs import frozen

from sockplug.errors import shown

__all__ = ["AccessList", "parseNetworks", "sourceOf"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAMED_NETWORKS: Mapping[str, tuple[str, ...]] = {
    "any": ("0.0.0.0/0", "::/0"),
    "localhost": ("127.0.0.0/8", "::1/128"),
}


def _network(text: str) -> tuple[Network, ...]:
    name = text.strip().lower()
    if name in _NAMED_NETWORKS:
        return tuple(ipaddress.ip_network(n) for n in _NAMED_NETWORKS[name])
    if name.startswith("[") and "]" in name:  # [::1]/128, as in a URL
        name = name[1:].replace("]", "", 1)
    try:
        network = ipaddress.ip_network(name, strict=False)
    except ValueError:
        raise ValueError(
            f"{shown(text)} is not an address or CIDR block (such as 10.0.0.0/8,"
            " 192.0.2.7 or \\:\\:1/128), nor any or localhost"
        ) from None
    if (
        isinstance(network, ipaddress.IPv6Network)
        and network.prefixlen >= 96
        and network.network_address.ipv4_mapped is not None
    ):
        # ::ffff:10.0.0.0/104 is 10.0.0.0/8: peers are matched as IPv4.
        mapped = network.network_address.ipv4_mapped
        return (ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}"),)
    return (network,)


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped  # a dual-stack socket's IPv4 peer
    return address


@frozen
class AccessList:
    """
    Which source addresses a listener serves: C{allow} and C{deny} lists of
    networks, as xinetd's C{only_from} and C{no_access}.

    An address is refused if C{allow} is not empty and no entry of it holds
    the address, or if an entry of C{deny} holds it, unless an C{allow}
    entry holding it is more specific (a longer prefix; at equal length,
    deny wins): so
    C{allow=10.0.0.0/8:deny=10.0.0.5} refuses one host of a network, and
    C{deny=any:allow=192.0.2.0/24} serves one network only. A peer that has
    no IP address (a UNIX socket) is refused by a non-empty C{allow} only.
    """

    allow: tuple[Network, ...] = ()
    deny: tuple[Network, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.allow or self.deny)

    @classmethod
    def parse(cls, allow: str | None, deny: str | None) -> AccessList:
        """
        Lists of comma-separated networks, as C{allow=} and C{deny=} give.
        """
        return cls(parseNetworks("allow", allow), parseNetworks("deny", deny))

    def admits(self, host: str | None) -> bool:
        """
        Whether a peer at C{host} (an IP address as text, or L{None} for a
        peer without one) is served.
        """
        address = _address(host) if host is not None else None
        if address is None:
            return not self.allow
        allowed = _longest(self.allow, address)
        if self.allow and allowed < 0:
            return False
        denied = _longest(self.deny, address)
        return denied < 0 or allowed > denied


def _longest(
    networks: Iterable[Network],
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> int:
    """
    The prefix length of the most specific network holding C{address}, or
    -1 if none does.
    """
    best = -1
    for network in networks:
        if network.version == address.version and address in network:
            best = max(best, network.prefixlen)
    return best


def parseNetworks(name: str, value: str | None) -> tuple[Network, ...]:
    """
    The networks of C{name=} (C{allow}, C{deny}): comma-separated
    addresses and CIDR blocks, C{any} and C{localhost}; none for L{None}.

    @raise ValueError: naming the option and the entry that is wrong.
    """
    if value is None:
        return ()
    entries = [entry for entry in value.split(",") if entry.strip()]
    if not entries:
        raise ValueError(f"{name}= is empty; give addresses or CIDR blocks")
    try:
        return tuple(n for entry in entries for n in _network(entry))
    except ValueError as e:
        raise ValueError(f"{name}=: {e}") from None


@lru_cache(maxsize=4096)
def sourceOf(host: str) -> str:
    """
    What counts as one source for the per-source limits and reply rates:
    an IPv4 address, or an IPv6 address's /64 network (a single host is
    usually given a whole /64, and could otherwise take one share per
    address). IPv4-mapped IPv6 addresses count as their IPv4 address;
    anything that is not an IP address (a socket path) counts as itself.
    """
    if ":" not in host:
        return host
    try:
        address = ipaddress.IPv6Address(host.partition("%")[0])
    except ValueError:
        return host
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((address, 64), strict=False))
