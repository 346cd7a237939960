# -*- test-case-name: sockplug.test.test_clientendpoints -*-
"""
Client endpoint strings for the C{sockplug} command: Twisted's
L{clientFromString} for streams, and sockplug's own datagram clients,
C{udp:host=H:port=P} and C{unixgram:path=P}.

Twisted's C{tls:} and C{ssl:} client parsers pass the server's name through
IDNA, which refuses an IP address: C{tls:\\:\\:1:443} and
C{ssl:...:hostname=\\:\\:1} fail before connecting. For those, the endpoint
is built here as Twisted's parser would build it, with the address checked
against the certificate's IP address names.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from typing import Any

from attrs import define, field, frozen
from twisted.internet import defer
from twisted.internet import endpoints as twistedEndpoints
from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import (
    HostnameEndpoint,
    SSL4ClientEndpoint,
    clientFromString,
    wrapClientTLS,
)
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import DatagramProtocol

from sockplug._arguments import optionName
from sockplug._endpoints import describeParseError
from sockplug._syntax import parseArguments, prefixOf
from sockplug.errors import EndpointSyntaxError
from sockplug.plugin import TransportKind

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
    if prefix == "udp":
        options = _keywordsOnly(description, args, kwargs, ("host", "port"))
        try:
            port = int(options["port"])
        except ValueError:
            port = -1
        if not 0 < port <= 65535:
            raise EndpointSyntaxError(
                description, f"port {options['port']!r} is not a number from 1 to 65535"
            )
        host = options["host"]
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        return ClientEndpoint(
            description,
            TransportKind.DATAGRAM,
            datagram=UDPClient(description, host, port),
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
    try:
        stream = _byAddress(reactor, prefix, args[1:], kwargs) or clientFromString(
            reactor, description
        )
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


_TLS_ARGUMENTS = (
    "host",
    "port",
    "timeout",
    "bindAddress",
    "certificate",
    "privateKey",
    "trustRoots",
    "endpoint",
)


def _isAddress(host: str) -> bool:
    # Twisted's own tests, so that optionsForClientTLS agrees: it checks
    # an address against the certificate's IP address names, a host name
    # against its DNS names.
    return isIPAddress(host) or isIPv6Address(host)


def _byAddress(
    reactor: Any, prefix: str, args: list[str], kwargs: dict[str, str]
) -> IStreamClientEndpoint | None:
    """
    A C{tls:} or C{ssl:} client endpoint whose server is named by an IP
    address, built as Twisted's parser would build it; L{None} for any
    other string, and for any that parser would refuse, which it is left
    to parse (or refuse, in its own words).
    """
    if prefix == "tls":
        if len(args) > len(_TLS_ARGUMENTS):
            return None
        options = dict(zip(_TLS_ARGUMENTS, args, strict=False))
        if set(options) & set(kwargs):
            return None
        options.update(kwargs)
        host = options.get("host", "")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if (
            not set(options) <= set(_TLS_ARGUMENTS)
            or "port" not in options
            or "endpoint" in options
            or not _isAddress(host)
        ):
            return None
        return _tlsByAddress(reactor, host, options)
    if prefix == "ssl" and _isAddress(kwargs.get("hostname", "")):
        return _sslByAddress(reactor, args, kwargs)
    return None


def _tlsByAddress(
    reactor: Any, host: str, options: dict[str, str]
) -> IStreamClientEndpoint:
    """
    What Twisted's C{_parseClientTLS} makes of C{tls:HOST:PORT:...}, for a
    C{host} that is an IP address, which it would pass through IDNA.

    @param options: its arguments by name, as C{_parseClientTLS} takes them.
    """
    from twisted.internet.ssl import optionsForClientTLS

    port = int(options["port"])
    timeout = int(options.get("timeout", "30"))
    bindAddress = options.get("bindAddress")
    # Twisted's own loaders of its trustRoots=, certificate= and
    # privateKey=, so that they mean here what they mean to its parser.
    creator = optionsForClientTLS(
        host,
        trustRoot=twistedEndpoints._parseTrustRootPath(options.get("trustRoots")),
        clientCertificate=twistedEndpoints._privateCertFromPaths(
            options.get("certificate"), options.get("privateKey")
        ),
    )
    return wrapClientTLS(
        creator,
        HostnameEndpoint(
            reactor,
            host.encode("ascii"),
            port,
            timeout,
            None if bindAddress is None else (bindAddress, 0),
        ),
    )


def _sslByAddress(
    reactor: Any, args: list[str], kwargs: dict[str, str]
) -> IStreamClientEndpoint:
    """
    What Twisted's C{_parseClientSSL} makes of C{ssl:...:hostname=ADDRESS},
    which it would pass through IDNA.
    """
    from twisted.internet.ssl import optionsForClientTLS

    options: dict[str, Any] = twistedEndpoints._parseClientTCP(*args, **kwargs)
    hostname = options.pop("hostname")
    clientCertificate = twistedEndpoints._privateCertFromPaths(
        options.pop("certKey", None), options.pop("privateKey", None)
    )
    trustRoot = twistedEndpoints._parseTrustRootPath(options.pop("caCertsDir", None))
    options["sslContextFactory"] = optionsForClientTLS(
        hostname, trustRoot=trustRoot, clientCertificate=clientCertificate
    )
    return SSL4ClientEndpoint(reactor, **options)
