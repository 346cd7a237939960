# -*- test-case-name: sockplug.endpoints.test.test_systemd,sockplug.endpoints.test.test_systemdcheck -*-  # noqa: E501
"""
Sockets handed over by systemd socket activation: the C{systemd:} stream
type and sockplug's C{systemd-datagram:} type, in the syntax of Twisted's
C{systemd:} and on the descriptors it found. Twisted's adopts stream
sockets only, never checks what it adopts (a datagram socket "listens" and
floods the log with C{accept()} errors) and closes the inherited
descriptor, so that a listener a reload replaces cannot adopt it again.
Each C{listen} here picks and checks the socket, then adopts a duplicate
(L{sockplug.internet.adoptStream}, L{sockplug.internet.adoptDatagram}).
"""

from __future__ import annotations

import errno
import os
import re
import socket
from collections.abc import Callable, Sequence
from typing import Any

from attrs import field, frozen
from twisted.internet import defer, fdesc
from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import (
    IListeningPort,
    IProtocolFactory,
    IStreamServerEndpoint,
)
from twisted.internet.protocol import DatagramProtocol
from twisted.plugin import IPlugin
from twisted.python.systemd import ListenFDs
from zope.interface import implementer

from sockplug.compat import inheritedNames, systemdSockets
from sockplug.errors import shown
from sockplug.interfaces import (
    IDatagramServerEndpoint,
    IDatagramServerEndpointStringParser,
)
from sockplug.internet import adoptDatagram, adoptStream
from sockplug.options import arguments

__all__ = [
    "SystemdDatagramEndpoint",
    "SystemdDatagramParser",
    "SystemdStreamEndpoint",
    "parseSystemdStream",
]

DOMAINS = {"INET": socket.AF_INET, "INET6": socket.AF_INET6, "UNIX": socket.AF_UNIX}
_DOMAIN_OF = {family: domain for domain, family in DOMAINS.items()}
_KINDS = {socket.SOCK_STREAM: "stream", socket.SOCK_DGRAM: "datagram"}
_KINDS[socket.SOCK_SEQPACKET] = "seqpacket"
_TYPES = {socket.SOCK_STREAM: "systemd", socket.SOCK_DGRAM: "systemd-datagram"}

# As udp: and unixgram: read them (see sockplug.endpoints._datagram).
DEFAULT_MAX_PACKET_SIZE = 65536

Sockets = Callable[[], ListenFDs]


def inheritedSockets() -> ListenFDs:
    """
    The sockets systemd passed, as Twisted's C{systemd:} type read them
    (and removed C{LISTEN_FDS} from the environment) on its import.
    """
    found = systemdSockets()
    if found is not None:
        return found
    return ListenFDs.fromEnvironment(dict(os.environ))


@frozen
class Selector:
    """
    Which inherited socket an endpoint string names, and what it must be.

    @ivar domain: C{INET}, C{INET6} or C{UNIX}.
    @ivar index: its place among the sockets systemd passed, from 0; or
    @ivar name: its name (C{FileDescriptorName=}).
    """

    domain: str
    index: int | None = None
    name: str | None = None

    def __str__(self) -> str:
        pick = f"index={self.index}" if self.name is None else f"name={self.name}"
        return f"domain={self.domain}:{pick}"


def parseSelector(args: Sequence[str], kwargs: dict[str, str]) -> Selector:
    """
    Take C{domain}, C{index} and C{name} out of an endpoint string's
    arguments, by position (in that order, as Twisted allows) or by key.

    @raise ValueError: naming what is wrong.
    """
    if len(args) > 3:
        raise ValueError(
            f"too many arguments {shown(':'.join(args))};"
            " give domain=, then index= or name="
        )
    for key, value in zip(("domain", "index", "name"), args, strict=False):
        if key in kwargs:
            raise ValueError(f"the {key} is given twice")
        kwargs[key] = value
    domain = kwargs.pop("domain", None)
    if domain is None:
        raise ValueError("no domain given: domain=INET, INET6 or UNIX")
    if domain.upper() not in DOMAINS:
        raise ValueError(f"domain={domain!r} is not INET, INET6 or UNIX")
    index, name = kwargs.pop("index", None), kwargs.pop("name", None)
    if (index is None) == (name is None):
        raise ValueError("give exactly one of index= and name=")
    if index is not None:
        if not re.fullmatch("[0-9]+", index):
            raise ValueError(f"{index!r} is not a whole number")
        return Selector(domain.upper(), index=int(index))
    if not name:
        raise ValueError("name= is empty")
    return Selector(domain.upper(), name=name)


def _listing(pairs: Sequence[tuple[int, str]]) -> str:
    count = f"{len(pairs)} socket{'' if len(pairs) == 1 else 's'}"
    named = ", ".join(f"index {i} named {n!r}" for i, (_, n) in enumerate(pairs))
    return f"systemd passed {count}: {named}"


def _nothingPassed() -> str:
    pid = os.environ.get("LISTEN_PID")
    if pid is not None and pid != str(os.getpid()):
        return (
            f"systemd passed its sockets to process {pid} (LISTEN_PID), not to"
            f" this one ({os.getpid()}): start twistd with exec, not from a"
            " shell that forks"
        )
    return (
        "systemd passed no sockets: LISTEN_FDS is not set for this process, or"
        " LISTEN_FDNAMES does not name each of them (systemd-socket-activate"
        " sets it only with --fdname=NAME)"
    )


def locate(sockets: ListenFDs, selector: Selector) -> tuple[int, str]:
    """
    The descriptor C{selector} picks among those systemd passed, and a
    label naming it for messages.

    @raise ValueError: if systemd passed none, or none that it picks.
    """
    descriptors = sockets.inheritedDescriptors()
    names = [*inheritedNames(sockets), *[""] * len(descriptors)]
    pairs = list(zip(descriptors, names, strict=False))
    if not pairs:
        raise ValueError(_nothingPassed())
    if selector.name is None:
        index = selector.index or 0
        if index >= len(pairs):
            raise ValueError(f"index={index} is out of range: {_listing(pairs)}")
    else:
        found = [i for i, (_, name) in enumerate(pairs) if name == selector.name]
        if not found:
            raise ValueError(f"no socket named {selector.name!r}: {_listing(pairs)}")
        if len(found) > 1:
            raise ValueError(
                f"{len(found)} sockets are named {selector.name!r} (index"
                f" {', '.join(map(str, found))}): systemd names every socket of"
                " a .socket unit alike (FileDescriptorName=); pick one with index="
            )
        index = found[0]
    fd, name = pairs[index]
    return fd, f"descriptor {fd} (index {index}, named {name!r})"


def check(fd: int, label: str, selector: Selector, kind: socket.SocketKind) -> None:
    """
    Check that C{fd} is a socket of C{kind} (C{SOCK_STREAM}: a listening
    one) in the family C{selector} says.

    @raise ValueError: naming the descriptor and saying how to fix it.
    """
    try:
        sock = socket.socket(fileno=fd)
    except OSError as e:
        state = "open" if e.errno == errno.EBADF else "a socket"
        raise ValueError(f"{label} is not {state}") from None
    try:
        family, found = sock.family, sock.type
        listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    finally:
        sock.detach()
    domain = _DOMAIN_OF.get(family)
    if found != kind:
        hint = "sockplug serves stream and datagram sockets"
        if found in _TYPES and domain is not None:
            right = Selector(domain, selector.index, selector.name)
            hint = f"use {_TYPES[found]}:{right} for it"
        raise ValueError(
            f"{label} is a {_KINDS.get(found, f'type {found}')} socket, not a"
            f" {_KINDS[kind]} socket: {hint}"
        )
    if domain is None:
        raise ValueError(
            f"{label} is an {getattr(family, 'name', family)} socket;"
            " sockplug serves INET, INET6 and UNIX sockets"
        )
    if domain != selector.domain:
        raise ValueError(
            f"{label} is {'a' if domain == 'UNIX' else 'an'} {domain} socket,"
            f" not {selector.domain} as domain={selector.domain} says:"
            f" give domain={domain}"
        )
    if kind == socket.SOCK_STREAM and not listening:
        raise ValueError(
            f"{label} is a stream socket that is not listening (a .socket unit"
            " with Accept=yes passes connections): sockplug needs Accept=no"
        )


def _adoptable(sockets: Sockets, selector: Selector, kind: socket.SocketKind) -> int:
    """
    The inherited descriptor to adopt, checked and made non-blocking.

    @raise CannotListenError: saying why it cannot be adopted.
    """
    try:
        fd, label = locate(sockets(), selector)
        check(fd, label, selector, kind)
    except ValueError as e:
        raise CannotListenError(None, str(selector), str(e)) from None
    fdesc.setNonBlocking(fd)
    return fd


@implementer(IStreamServerEndpoint)
@frozen
class SystemdStreamEndpoint:
    """
    A listening stream socket passed by systemd: each C{listen} adopts a
    duplicate of it, so it can be listened on again (after a reload).
    """

    reactor: Any = field(repr=False)
    selector: Selector
    sockets: Sockets = field(default=inheritedSockets, repr=False)

    def listen(self, factory: IProtocolFactory) -> Deferred[IListeningPort]:
        """
        See L{IStreamServerEndpoint.listen}.
        """
        return defer.execute(self._listen, factory)

    def _listen(self, factory: IProtocolFactory) -> IListeningPort:
        fd = _adoptable(self.sockets, self.selector, socket.SOCK_STREAM)
        return adoptStream(self.reactor, fd, factory)


@implementer(IDatagramServerEndpoint)
@frozen
class SystemdDatagramEndpoint:
    """
    A datagram socket passed by systemd (C{ListenDatagram=}), UDP or UNIX:
    each C{listen} adopts a duplicate of it.
    """

    reactor: Any = field(repr=False)
    selector: Selector
    maxPacketSize: int = DEFAULT_MAX_PACKET_SIZE
    sockets: Sockets = field(default=inheritedSockets, repr=False)

    def listen(self, protocol: DatagramProtocol) -> Deferred[IListeningPort]:
        """
        See L{IDatagramServerEndpoint.listen}.
        """
        return defer.execute(self._listen, protocol)

    def _listen(self, protocol: DatagramProtocol) -> IListeningPort:
        fd = _adoptable(self.sockets, self.selector, socket.SOCK_DGRAM)
        return adoptDatagram(self.reactor, fd, protocol, self.maxPacketSize)


def parseSystemdStream(
    reactor: Any, args: Sequence[str], kwargs: dict[str, str]
) -> SystemdStreamEndpoint:
    """
    The arguments of a C{systemd:} string after its type and limits.

    @raise ValueError: naming what is wrong.
    """
    kwargs = dict(kwargs)
    selector = parseSelector(args, kwargs)
    arguments.noOthers(kwargs, "domain, index, name")
    return SystemdStreamEndpoint(reactor, selector)


@implementer(IPlugin, IDatagramServerEndpointStringParser)
@frozen
class SystemdDatagramParser:
    """
    A datagram socket handed over by systemd socket activation.

    Syntax: C{systemd-datagram:domain=INET|INET6|UNIX:index=N|name=NAME
    [:maxPacketSize=BYTES]}, as Twisted's stream C{systemd:} type; the
    socket comes from a C{ListenDatagram=} line of a C{.socket} unit.
    """

    prefix = "systemd-datagram"
    example = "systemd-datagram:domain=INET:index=1"
    sockets: Sockets = field(default=inheritedSockets, repr=False)

    def parseDatagramServer(
        self, reactor: Any, *args: str, **kwargs: str
    ) -> SystemdDatagramEndpoint:
        """
        See L{IDatagramServerEndpointStringParser.parseDatagramServer}.
        """
        selector = parseSelector(args, kwargs)
        size = arguments.positive(
            "maxPacketSize", kwargs.pop("maxPacketSize", str(DEFAULT_MAX_PACKET_SIZE))
        )
        arguments.noOthers(kwargs, "domain, index, name, maxPacketSize")
        return SystemdDatagramEndpoint(reactor, selector, size, self.sockets)
