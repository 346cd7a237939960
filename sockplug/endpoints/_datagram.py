# -*- test-case-name: sockplug.endpoints.test.test_datagram -*-
"""
Datagram endpoints and their endpoint strings: C{udp:} and C{unixgram:}.

Twisted has endpoint strings for streams only (twisted#4471); these follow
its syntax, quoting and keyword style, and its plugin design: each type is a
L{IDatagramServerEndpointStringParser} found as a plugin in the
C{sockplug.plugins} package, so a third party adds one the same way.
"""

from __future__ import annotations

import socket
from typing import Any, Protocol

from attrs import define, field, frozen
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IAddress,
    IListeningPort,
    IReactorUDP,
)
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger
from twisted.plugin import IPlugin
from twisted.python.failure import Failure
from zope.interface import implementer

from sockplug.endpoints._stream import DEFAULT_UNIX_MODE
from sockplug.interfaces import (
    IDatagramServerEndpoint,
    IDatagramServerEndpointStringParser,
)
from sockplug.internet import (
    FileIdentity,
    UDPPort,
    UNIXDatagramPort,
    adoptDatagram,
    boundFile,
    prepareSocketPath,
    removeOwnFile,
    startPort,
    watchesDescriptors,
)
from sockplug.options import (
    ENDPOINT_ARGUMENTS,
    SocketOptions,
    arguments,
    optionNames,
    parseSocketOptions,
    takeArgument,
)

__all__ = [
    "UDPParser",
    "UDPServerEndpoint",
    "UNIXDatagramParser",
    "UNIXDatagramServerEndpoint",
]

_log = Logger()

# Twisted reads datagrams 8192 bytes at a time and silently cuts longer
# ones; a UDP payload can be 65507 bytes and a UNIX datagram larger still.
DEFAULT_MAX_PACKET_SIZE = 65536


@implementer(IDatagramServerEndpoint)
@frozen
class UDPServerEndpoint:
    """
    A UDP port: IPv6 when C{interface} is an IPv6 address.
    """

    reactor: IReactorUDP = field(repr=False)
    port: int
    interface: str = ""
    maxPacketSize: int = DEFAULT_MAX_PACKET_SIZE
    options: SocketOptions = field(factory=SocketOptions)

    def listen(self, protocol: DatagramProtocol) -> Deferred[IListeningPort]:
        """
        See L{IDatagramServerEndpoint.listen}.
        """
        return defer.execute(self._listen, protocol)

    def _listen(self, protocol: DatagramProtocol) -> IListeningPort:
        if "%" in self.interface and watchesDescriptors(self.reactor):
            return self._listenScoped(protocol)
        # On a posix reactor, sockplug's own port (L{sockplug.internet._udp}).
        if self.options == SocketOptions() and not watchesDescriptors(self.reactor):
            return self.reactor.listenUDP(
                self.port,
                protocol,
                interface=self.interface,
                maxPacketSize=self.maxPacketSize,
            )
        port: IListeningPort = startPort(
            UDPPort,
            self.options,
            self.port,
            protocol,
            self.interface,
            self.maxPacketSize,
            self.reactor,
        )
        return port

    def _listenScoped(self, protocol: DatagramProtocol) -> IListeningPort:
        """
        Listen on an IPv6 address with its scope (C{fe80::1%eth0}).
        Twisted's UDP port binds C{(interface, port)}, which loses the
        scope (the kernel then refuses a link-local address: C{EINVAL});
        Twisted's TCP port looks it up first. So bind the socket here, with
        the scope, and listen on it.
        """
        family, kind, number, _, address = socket.getaddrinfo(
            self.interface,
            self.port,
            socket.AF_INET6,
            socket.SOCK_DGRAM,
            0,
            socket.AI_NUMERICHOST,
        )[0]
        with socket.socket(family, kind, number) as sock:
            sock.setblocking(False)  # as a port's socket must be
            self.options.apply(sock)
            sock.bind(address)
            return adoptDatagram(
                self.reactor, sock.fileno(), protocol, self.maxPacketSize
            )


class _ListensUNIXDatagram(Protocol):
    """
    What a UNIX datagram endpoint needs of its reactor: the listening half
    of L{IReactorUNIXDatagram}.
    """

    def listenUNIXDatagram(
        self,
        address: str,
        protocol: DatagramProtocol,
        maxPacketSize: int = 8192,
        mode: int = 0o666,
    ) -> IListeningPort: ...


@implementer(IDatagramServerEndpoint)
@frozen
class UNIXDatagramServerEndpoint:
    """
    A UNIX datagram socket at a path, removed again when it stops.

    A socket file that no server is bound to any more (left by one that
    died) is replaced; a live one is never taken over.
    """

    reactor: _ListensUNIXDatagram = field(repr=False)
    path: str
    mode: int = DEFAULT_UNIX_MODE
    maxPacketSize: int = DEFAULT_MAX_PACKET_SIZE
    replaceStale: bool = ENDPOINT_ARGUMENTS["stale"].default
    options: SocketOptions = field(factory=SocketOptions)

    def listen(self, protocol: DatagramProtocol) -> Deferred[IListeningPort]:
        """
        See L{IDatagramServerEndpoint.listen}.
        """
        return defer.execute(self._listen, protocol)

    def _listen(self, protocol: DatagramProtocol) -> IListeningPort:
        prepareSocketPath(self.path, socket.SOCK_DGRAM, self.replaceStale)
        if self.options == SocketOptions() and not watchesDescriptors(self.reactor):
            port = self.reactor.listenUNIXDatagram(
                self.path, protocol, maxPacketSize=self.maxPacketSize, mode=self.mode
            )
        else:
            port = startPort(
                UNIXDatagramPort,
                self.options,
                self.path,
                protocol,
                self.maxPacketSize,
                self.mode,
                self.reactor,
            )
        return _RemovingPort(port, self.path, boundFile(self.path))


@implementer(IListeningPort)
@define
class _RemovingPort:
    """
    A listening UNIX datagram port that removes its socket file when it
    stops (Twisted's leaves it behind, so a restart on the same path fails
    with "Address already in use"). The file is only removed while it is
    still the one this port made (see
    L{sockplug.internet._socketfile.removeOwnFile}), and before the socket
    closes: until then, no other file can have its inode.
    """

    _port: IListeningPort
    _path: str
    _bound: FileIdentity | None

    @property
    def socket(self) -> object:
        """
        The socket of the port inside, for reading its options.
        """
        return getattr(self._port, "socket", None)

    def startListening(self) -> None:
        self._port.startListening()

    def getHost(self) -> IAddress:
        return self._port.getHost()

    def stopListening(self) -> Deferred[None]:
        self._removeFile()
        stopping = self._port.stopListening()
        return stopping if stopping is not None else defer.succeed(None)

    def connectionLost(self, reason: Failure) -> None:
        """
        Close at once, without waiting for the reactor (see
        L{sockplug.server._service.closeAtOnce}).
        """
        self._removeFile()
        connectionLost = getattr(self._port, "connectionLost", None)
        if connectionLost is None:
            self._port.stopListening()
        else:
            connectionLost(reason)

    def _removeFile(self) -> None:
        removeOwnFile(self._path, self._bound)
        self._bound = None


@implementer(IPlugin, IDatagramServerEndpointStringParser)
@frozen
class UDPParser:
    """
    UDP datagrams, IPv6 when the interface is an IPv6 address.

    Syntax: C{udp:PORT[:interface=ADDRESS][:maxPacketSize=BYTES]}, and
    the socket options C{reuseaddr}, C{reuseport}, C{rcvbuf}, C{sndbuf}.
    """

    prefix = "udp"
    example = "udp:9999:interface=127.0.0.1"

    def parseDatagramServer(
        self, reactor: Any, *args: str, **kwargs: str
    ) -> UDPServerEndpoint:
        """
        See L{IDatagramServerEndpointStringParser.parseDatagramServer}.
        """
        port = arguments.port(arguments.one(args, kwargs, "port"))
        interface = arguments.interface(kwargs.pop("interface", ""))
        size = arguments.positive(
            "maxPacketSize", kwargs.pop("maxPacketSize", str(DEFAULT_MAX_PACKET_SIZE))
        )
        options = parseSocketOptions(kwargs, "udp")
        arguments.noOthers(kwargs, optionNames("udp", "interface", "maxPacketSize"))
        return UDPServerEndpoint(reactor, port, interface, size, options)


@implementer(IPlugin, IDatagramServerEndpointStringParser)
@frozen
class UNIXDatagramParser:
    """
    UNIX datagram socket, its file removed again when the server stops.

    Syntax: C{unixgram:PATH[:mode=OCTAL][:maxPacketSize=BYTES]
    [:stale=replace|fail]}, and the socket options C{rcvbuf}, C{sndbuf}.
    """

    prefix = "unixgram"
    example = "unixgram:/tmp/sockplug.dgram:mode=660"

    def parseDatagramServer(
        self, reactor: Any, *args: str, **kwargs: str
    ) -> UNIXDatagramServerEndpoint:
        """
        See L{IDatagramServerEndpointStringParser.parseDatagramServer}.
        """
        path = arguments.path(arguments.one(args, kwargs, "path"))
        mode = takeArgument(kwargs, "mode")
        size = arguments.positive(
            "maxPacketSize", kwargs.pop("maxPacketSize", str(DEFAULT_MAX_PACKET_SIZE))
        )
        replaceStale = takeArgument(kwargs, "stale")
        options = parseSocketOptions(kwargs, "unix")
        arguments.noOthers(kwargs, optionNames("unixgram", "maxPacketSize"))
        return UNIXDatagramServerEndpoint(
            reactor, path, mode, size, replaceStale, options
        )
