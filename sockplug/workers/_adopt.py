# -*- test-case-name: sockplug.workers.test.test_adopt -*-
"""
How a worker process (C{--workers N}) listens: on the sockets its
supervisor made and passed down (see L{sockplug.workers._sockets}), never
binding one of its own.

Each listener of the worker's configuration keeps its protocol, its
defences and its C{haproxy:} and TLS layers; only the endpoint that makes
its socket is replaced by one that adopts the inherited socket, through
sockplug's own port classes. Each C{listen} adopts a duplicate, so that a
reload can listen on it again, and stopping never calls C{shutdown()},
which would stop the socket listening in every other worker too.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

from attrs import evolve, field, frozen
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IListeningPort,
    IProtocolFactory,
    IStreamServerEndpoint,
)
from twisted.internet.protocol import DatagramProtocol
from zope.interface import implementer

from sockplug.config import Configuration
from sockplug.endpoints import AdoptedUNIXDatagramPort, AdoptedUNIXPort
from sockplug.errors import ConfigError
from sockplug.interfaces import IDatagramServerEndpoint
from sockplug.internet import TCPPort, UDPPort, UNIXDatagramPort, UNIXPort
from sockplug.logs import quoted
from sockplug.server import Listener, keysOf
from sockplug.workers._sockets import replaceSocketEndpoint, sharedSocketOf

__all__ = [
    "InheritedDatagramEndpoint",
    "InheritedSocket",
    "InheritedStreamEndpoint",
    "adoptConfiguration",
]


class InheritedUNIXPort(AdoptedUNIXPort, UNIXPort):
    """
    sockplug's UNIX stream port on a socket its supervisor holds: it
    neither changes nor removes the socket file (the supervisor's), and
    closes its descriptor without C{shutdown()}.
    """

    _shouldShutdown = False


class InheritedUNIXDatagramPort(AdoptedUNIXDatagramPort, UNIXDatagramPort):
    """
    sockplug's UNIX datagram port on a socket its supervisor holds.
    """


@frozen
class InheritedSocket:
    """
    A socket a worker inherited: its descriptor, and which socket the
    supervisor made it for (L{sockplug.workers._sockets.SharedSocket.identity}).
    """

    fd: int
    identity: str


def _familyOf(fd: int, kind: socket.SocketKind) -> socket.AddressFamily:
    """
    The address family of the inherited socket at C{fd}.

    @raise OSError: if it is not a socket of type C{kind}.
    """
    sock = socket.socket(fileno=fd)
    try:
        if sock.type != kind:
            raise OSError(f"descriptor {fd} is not a {kind.name} socket")
        return sock.family
    finally:
        sock.detach()


def _started(port: Any, skt: socket.socket) -> IListeningPort:
    try:
        port.startListening()
    except BaseException:
        skt.close()
        raise
    return port  # type: ignore[no-any-return]


@implementer(IStreamServerEndpoint)
@frozen
class InheritedStreamEndpoint:
    """
    Listens on an inherited listening stream socket (TCP or UNIX).
    """

    reactor: Any = field(repr=False)
    fd: int

    def listen(self, factory: IProtocolFactory) -> Deferred[IListeningPort]:
        return defer.execute(self._listen, factory)

    def _listen(self, factory: IProtocolFactory) -> IListeningPort:
        family = _familyOf(self.fd, socket.SOCK_STREAM)
        if family != socket.AF_UNIX:
            port = TCPPort._fromListeningDescriptor(  # type: ignore[no-untyped-call]
                self.reactor, self.fd, family, factory
            )
            port.startListening()
            return port  # type: ignore[no-any-return]
        skt = socket.fromfd(self.fd, family, socket.SOCK_STREAM)
        return _started(InheritedUNIXPort(skt, factory, self.reactor), skt)


@implementer(IDatagramServerEndpoint)
@frozen
class InheritedDatagramEndpoint:
    """
    Listens on an inherited datagram socket (UDP or UNIX).
    """

    reactor: Any = field(repr=False)
    fd: int
    maxPacketSize: int

    def listen(self, protocol: DatagramProtocol) -> Deferred[IListeningPort]:
        return defer.execute(self._listen, protocol)

    def _listen(self, protocol: DatagramProtocol) -> IListeningPort:
        family = _familyOf(self.fd, socket.SOCK_DGRAM)
        if family != socket.AF_UNIX:
            port = UDPPort._fromListeningDescriptor(  # type: ignore[no-untyped-call]
                self.reactor, self.fd, family, protocol, self.maxPacketSize
            )
            port.startListening()
            return port  # type: ignore[no-any-return]
        skt = socket.fromfd(self.fd, family, socket.SOCK_DGRAM)
        adopted = InheritedUNIXDatagramPort(
            skt, protocol, self.maxPacketSize, self.reactor
        )
        return _started(adopted, skt)


def _adopted(listener: Listener, inherited: InheritedSocket, reactor: Any) -> Listener:
    shared = sharedSocketOf(listener.endpoint)
    new: InheritedStreamEndpoint | InheritedDatagramEndpoint
    if shared.kind in ("tcp", "unix"):
        new = InheritedStreamEndpoint(reactor, inherited.fd)
    else:
        size = shared.endpoint.maxPacketSize  # type: ignore[union-attr]
        new = InheritedDatagramEndpoint(reactor, inherited.fd, size)
    endpoint = replaceSocketEndpoint(listener.endpoint.endpoint, new)
    return evolve(listener, endpoint=evolve(listener.endpoint, endpoint=endpoint))


def adoptConfiguration(
    configuration: Configuration,
    inherited: Mapping[str, InheritedSocket],
    reactor: Any,
) -> Configuration:
    """
    The configuration a worker serves: each listener on the socket it
    inherited for it, by the listener's name (or place on the command
    line).

    @raise ConfigError: for a listener the supervisor holds no socket for,
        or another socket (the file changed since the supervisor read it).
    """
    problems = []
    listeners = []
    for key, listener in keysOf(configuration.listeners).items():
        held = inherited.get(key)
        try:
            identity = sharedSocketOf(listener.endpoint).identity
        except ValueError as e:
            problems.append(f"listener {quoted(key)}: {e}")
            continue
        if held is None or held.identity != identity:
            problems.append(
                f"listener {quoted(key)}: the supervisor holds no socket for"
                f" {quoted(listener.spec.endpoint)}; with --workers, a new"
                " socket needs a restart"
            )
            continue
        listeners.append(_adopted(listener, held, reactor))
    if problems:
        raise ConfigError(problems)
    return evolve(configuration, listeners=tuple(listeners))
