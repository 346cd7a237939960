# -*- test-case-name: sockplug.internet.test.test_adopted -*-
"""
Listening on a socket made elsewhere: passed by systemd (C{systemd:},
C{systemd-datagram:}) or by the workers' supervisor (C{--workers}). TCP,
UDP, UNIX stream and UNIX datagram sockets are served with sockplug's own
port classes, on any posix reactor; another reactor adopts TCP and UDP
sockets itself.

Each C{listen} adopts a duplicate of the descriptor, so that it can be
listened on again (after a reload), and what stops the duplicate leaves the
socket as it found it for every other holder (systemd, the supervisor, the
other workers, the port of a reload): it never calls C{shutdown()}, which
would stop the socket itself, and never changes or removes a UNIX socket's
file, whose owner and mode are systemd's (C{SocketMode=}) or the
supervisor's. (Twisted's adopted UNIX stream ports make the file
world-writable and remove it when they stop; Twisted adopts no UNIX
datagram socket at all, twisted#6594.)
"""

from __future__ import annotations

import socket
from typing import Any

from attrs import field, frozen
from twisted.internet import defer, tcp
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IListeningPort,
    IProtocolFactory,
    IStreamServerEndpoint,
)
from twisted.internet.protocol import DatagramProtocol
from twisted.python.failure import Failure
from zope.interface import implementer

from sockplug.compat import (
    ClosesWithoutShutdown,
    DatagramBindHook,
    fromListeningDescriptor,
)
from sockplug.interfaces import IDatagramServerEndpoint
from sockplug.internet._ports import (
    TCPPort,
    UDPPort,
    UNIXDatagramPort,
    UNIXPort,
    watchesDescriptors,
)

__all__ = [
    "AdoptedUNIXDatagramPort",
    "AdoptedUNIXPort",
    "InheritedDatagramEndpoint",
    "InheritedStreamEndpoint",
    "adoptDatagram",
    "adoptStream",
]


class AdoptedUNIXPort(ClosesWithoutShutdown, UNIXPort):
    """
    sockplug's UNIX stream port on a listening socket made elsewhere: it
    neither changes nor removes the socket file, and closes its descriptor
    without C{shutdown()}. Its connections send what is written at once
    (L{sockplug.internet._transport}).
    """

    def __init__(
        self, skt: socket.socket, factory: IProtocolFactory, reactor: Any
    ) -> None:
        super().__init__(skt.getsockname(), factory, reactor=reactor)
        self._adopted = skt

    def startListening(self) -> None:
        if self.factory is not None:
            self.factory.doStart()
        self.connected = True
        self.socket = self._adopted
        self.fileno = self._adopted.fileno  # type: ignore[method-assign]
        self.numberAccepts = 100
        self.startReading()  # type: ignore[no-untyped-call]

    def connectionLost(self, reason: Failure) -> None:
        # A TCP port's: without unix.Port's removal of the socket file.
        tcp.Port.connectionLost(self, reason)


class AdoptedUNIXDatagramPort(DatagramBindHook, UNIXDatagramPort):
    """
    sockplug's UNIX datagram port (L{sockplug.internet._udp}) on a socket
    made elsewhere. It never binds, changes or removes the socket file.
    """

    def __init__(
        self,
        skt: socket.socket,
        proto: DatagramProtocol,
        maxPacketSize: int,
        reactor: Any,
    ) -> None:
        super().__init__(  # type: ignore[no-untyped-call]
            skt.getsockname(), proto, maxPacketSize, reactor=reactor
        )
        self._adopted = skt

    def bindSocket(self) -> None:
        """
        Take the adopted socket instead of binding one.
        """
        self.connected = 1
        self.socket = self._adopted
        self.fileno = self._adopted.fileno  # type: ignore[method-assign]


def _familyOf(fd: int, kind: socket.SocketKind) -> socket.AddressFamily:
    """
    The address family of the socket at C{fd}.

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
    """
    Start C{port}, which adopts C{skt}; close C{skt} if it fails.
    """
    try:
        port.startListening()
    except BaseException:
        skt.close()
        raise
    return port  # type: ignore[no-any-return]


def adoptStream(reactor: Any, fd: int, factory: IProtocolFactory) -> IListeningPort:
    """
    Listen on a duplicate of the listening stream socket at C{fd} (TCP or
    UNIX).

    @raise OSError: if it is not a stream socket.
    """
    family = _familyOf(fd, socket.SOCK_STREAM)
    if family == socket.AF_UNIX:
        skt = socket.fromfd(fd, family, socket.SOCK_STREAM)
        return _started(AdoptedUNIXPort(skt, factory, reactor), skt)
    if not watchesDescriptors(reactor):
        port: IListeningPort = reactor.adoptStreamPort(fd, family, factory)
        return port
    adopted: IListeningPort = fromListeningDescriptor(
        TCPPort, reactor, fd, family, factory
    )
    adopted.startListening()
    return adopted


def adoptDatagram(
    reactor: Any, fd: int, protocol: DatagramProtocol, maxPacketSize: int
) -> IListeningPort:
    """
    Listen on a duplicate of the datagram socket at C{fd} (UDP or UNIX),
    reading datagrams up to C{maxPacketSize} bytes.

    @raise OSError: if it is not a datagram socket.
    """
    family = _familyOf(fd, socket.SOCK_DGRAM)
    if family == socket.AF_UNIX:
        skt = socket.fromfd(fd, family, socket.SOCK_DGRAM)
        port = AdoptedUNIXDatagramPort(skt, protocol, maxPacketSize, reactor)
        return _started(port, skt)
    if not watchesDescriptors(reactor):
        twisted: IListeningPort = reactor.adoptDatagramPort(
            fd, family, protocol, maxPacketSize
        )
        return twisted
    # As the reactor's adoptDatagramPort, with sockplug's UDP port.
    adopted: IListeningPort = fromListeningDescriptor(
        UDPPort, reactor, fd, family, protocol, maxPacketSize
    )
    adopted.startListening()
    return adopted


@implementer(IStreamServerEndpoint)
@frozen
class InheritedStreamEndpoint:
    """
    Listens on an inherited listening stream socket (TCP or UNIX), a
    duplicate each time (see L{adoptStream}).
    """

    reactor: Any = field(repr=False)
    fd: int

    def listen(self, factory: IProtocolFactory) -> Deferred[IListeningPort]:
        """
        See L{IStreamServerEndpoint.listen}.
        """
        return defer.execute(adoptStream, self.reactor, self.fd, factory)


@implementer(IDatagramServerEndpoint)
@frozen
class InheritedDatagramEndpoint:
    """
    Listens on an inherited datagram socket (UDP or UNIX), a duplicate
    each time (see L{adoptDatagram}).
    """

    reactor: Any = field(repr=False)
    fd: int
    maxPacketSize: int

    def listen(self, protocol: DatagramProtocol) -> Deferred[IListeningPort]:
        """
        See L{IDatagramServerEndpoint.listen}.
        """
        return defer.execute(
            adoptDatagram, self.reactor, self.fd, protocol, self.maxPacketSize
        )
