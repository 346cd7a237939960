# -*- test-case-name: sockplug.client.test.test_endpoints -*-
"""
Client endpoint strings for the C{sockplug} command: Twisted's
L{clientFromString} for streams (with C{tls:} and C{ssl:} built by
L{sockplug.client._tls}, whose check of the server's name fails closed), and
sockplug's own datagram clients, C{udp:host=H:port=P} and
C{unixgram:path=P}.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from typing import Any

from attrs import define, field, frozen
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import DatagramProtocol

from sockplug.client._tls import streamFromString
from sockplug.client._values import checkColons, checkHostAndPort
from sockplug.endpoints import describeParseError, parseArguments, prefixOf
from sockplug.errors import EndpointSyntaxError
from sockplug.interfaces import TransportKind
from sockplug.options import optionName

__all__ = [
    "ClientEndpoint",
    "DatagramClient",
    "UDPClient",
    "UNIXDatagramClient",
    "parseClientEndpoint",
]


class DatagramClient:
    """
    A datagram client: sends to one server and hears its replies.
    """

    description: str

    def start(self, reactor: Any, protocol: DatagramProtocol) -> None:
        """
        Bind a socket of our own for C{protocol}, ready to send.

        @raise OSError: if that cannot be done.
        """
        raise NotImplementedError()

    def send(self, data: bytes) -> None:
        """
        Send one datagram to the server.

        @raise OSError: if it cannot go (nothing listens at a UNIX path).
        """
        raise NotImplementedError()

    def stop(self) -> Deferred[None]:
        """
        Close the socket, and remove whatever C{start} made.
        """
        raise NotImplementedError()


@define
class UDPClient(DatagramClient):
    """
    A UDP client, connected to one server address so that only its replies
    are heard and an ICMP "port unreachable" is reported.
    """

    description: str
    host: str
    port: int
    _socket: Any = field(default=None, init=False)

    def start(self, reactor: Any, protocol: DatagramProtocol) -> None:
        # A host name may have IPv4 and IPv6 addresses, and only one of them
        # may have a server: take IPv4's, as udp:PORT listens on IPv4.
        info = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
        info.sort(key=lambda entry: entry[0] != socket.AF_INET)
        ip = str(info[0][4][0])
        self._socket = reactor.listenUDP(
            0, protocol, interface="::" if ":" in ip else ""
        )
        self._socket.connect(ip, self.port)

    def send(self, data: bytes) -> None:
        self._socket.write(data)

    def stop(self) -> Deferred[None]:
        if self._socket is None:
            return defer.succeed(None)
        return defer.maybeDeferred(self._socket.stopListening)


@define
class UNIXDatagramClient(DatagramClient):
    """
    A UNIX datagram client. A UNIX datagram server can only reply to a
    client that bound a path, so this binds one in a temporary folder of
    its own, and removes both afterwards.
    """

    description: str
    path: str
    _socket: Any = field(default=None, init=False)
    _folder: str | None = field(default=None, init=False)

    def start(self, reactor: Any, protocol: DatagramProtocol) -> None:
        self._folder = tempfile.mkdtemp(prefix="sockplug-")
        own = os.path.join(self._folder, "client.sock")
        try:
            self._socket = reactor.listenUNIXDatagram(own, protocol, mode=0o600)
        except BaseException:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
            raise

    def send(self, data: bytes) -> None:
        self._socket.write(data, self.path)

    def stop(self) -> Deferred[None]:
        d = (
            defer.maybeDeferred(self._socket.stopListening)
            if self._socket is not None
            else defer.succeed(None)
        )

        def removeFolder(result: object) -> object:
            if self._folder is not None:
                shutil.rmtree(self._folder, ignore_errors=True)
            return result

        return d.addBoth(removeFolder)


@frozen
class ClientEndpoint:
    """
    A parsed client endpoint string.
    """

    description: str
    kind: TransportKind
    stream: IStreamClientEndpoint | None = None
    datagram: DatagramClient | None = None


def _keywordsOnly(
    description: str, args: list[str], kwargs: dict[str, str], names: tuple[str, ...]
) -> dict[str, str]:
    if args[1:]:
        raise EndpointSyntaxError(
            description,
            f"give {', '.join(f'{n}=' for n in names)} by name,"
            f" e.g. {args[0]}:{':'.join(f'{n}=...' for n in names)}",
        )
    unknown = sorted(set(kwargs) - set(names))
    if unknown:
        raise EndpointSyntaxError(
            description,
            f"unknown option {', '.join(map(optionName, unknown))};"
            f" the options are {', '.join(names)}",
        )
    missing = [n for n in names if not kwargs.get(n)]
    if missing:
        raise EndpointSyntaxError(description, f"no {missing[0]}= given")
    return kwargs


def parseClientEndpoint(reactor: Any, description: str) -> ClientEndpoint:
    """
    Parse a client endpoint string.

    @raise EndpointSyntaxError: naming the string and what is wrong.
    """
    prefix = prefixOf(description)
    args, kwargs = parseArguments(description)
    checkColons(description)
    if prefix == "udp":
        options = _keywordsOnly(description, args, kwargs, ("host", "port"))
        checkHostAndPort(description, prefix, args, options)
        host = options["host"]
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        return ClientEndpoint(
            description,
            TransportKind.DATAGRAM,
            datagram=UDPClient(description, host, int(options["port"])),
        )
    if prefix == "unixgram":
        options = _keywordsOnly(description, args, kwargs, ("path",))
        return ClientEndpoint(
            description,
            TransportKind.DATAGRAM,
            datagram=UNIXDatagramClient(description, options["path"]),
        )
    if prefix == "ssl" and "hostname" not in kwargs:
        # Twisted's ssl: client checks the server's certificate only when
        # told which host name to expect.
        raise EndpointSyntaxError(
            description,
            "an ssl: client checks the server's certificate only with"
            " hostname=NAME; add it, or use tls:HOST:PORT",
        )
    checkHostAndPort(description, prefix, args, kwargs)
    if prefix == "unix" and not (kwargs.get("path") or "".join(args[1:2])):
        raise EndpointSyntaxError(description, "no path given; e.g. unix:path=PATH")
    try:
        stream = streamFromString(reactor, description)
    except Exception as e:
        if str(e).startswith("Unknown endpoint type"):
            reason = (
                f"unknown endpoint type {prefix!r}; the client types are tcp,"
                " unix, tls, ssl (with hostname=), udp, unixgram"
            )
        else:
            reason = describeParseError(e)
        raise EndpointSyntaxError(description, reason) from e
    return ClientEndpoint(description, TransportKind.STREAM, stream=stream)
