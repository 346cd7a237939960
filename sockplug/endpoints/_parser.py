# -*- test-case-name: sockplug.endpoints.test.test_parser -*-
"""
Turning an endpoint string into a stream or a datagram endpoint.

Datagram types come from L{IDatagramServerEndpointStringParser} plugins in
the C{sockplug.plugins} package; every other string goes to Twisted's
L{serverFromString} as it is, so every stream type Twisted or a third-party
parser plugin knows works unchanged. TLS endpoints (C{ssl:}, C{tls:}) serve
with sockplug's TLS layer (see L{sockplug.endpoints._tls}).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from attrs import field, frozen
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import (
    IStreamServerEndpoint,
    IStreamServerEndpointStringParser,
)
from twisted.plugin import getPlugins

from sockplug.discovery import loadDropins, providers
from sockplug.endpoints._stream import parseStream
from sockplug.endpoints._syntax import parseArguments, prefixOf, unparseArguments
from sockplug.endpoints._systemd import parseSystemdStream
from sockplug.endpoints._tls import parseTLSFolder, underTLS
from sockplug.endpoints.proxy import ProxiedEndpoint
from sockplug.errors import EndpointSyntaxError
from sockplug.interfaces import (
    IDatagramServerEndpoint,
    IDatagramServerEndpointStringParser,
)
from sockplug.options import ListenerLimits, parseLimits
from sockplug.plugin import TransportKind

__all__ = ["EndpointParser", "EndpointType", "ParsedEndpoint", "describeParseError"]


@frozen
class EndpointType:
    """
    One endpoint type, as C{--help} lists it.
    """

    prefix: str
    kind: TransportKind
    example: str
    summary: str


# Twisted's own stream types, with the example and summary --help shows.
TWISTED_STREAM_TYPES = (
    EndpointType(
        "tcp", TransportKind.STREAM, "tcp:8888:interface=127.0.0.1", "TCP over IPv4"
    ),
    EndpointType(
        "tcp6", TransportKind.STREAM, "tcp6:8888:interface=\\:\\:1", "TCP over IPv6"
    ),
    EndpointType(
        "unix",
        TransportKind.STREAM,
        "unix:/tmp/sockplug.sock:mode=660",
        "UNIX stream socket, mode 660 unless mode= says otherwise",
    ),
    EndpointType(
        "ssl",
        TransportKind.STREAM,
        "ssl:8443:privateKey=key.pem:certKey=cert.pem",
        "TLS over TCP, key and certificate from PEM files",
    ),
    EndpointType(
        "tls",
        TransportKind.STREAM,
        "tls:/etc/sockplug/pems:port=8443",
        "TLS over TCP, certificates picked by SNI from a folder of PEM files",
    ),
    EndpointType(
        "systemd",
        TransportKind.STREAM,
        "systemd:domain=INET:index=0",
        "a stream socket handed over by systemd socket activation",
    ),
    EndpointType(
        "haproxy",
        TransportKind.STREAM,
        "haproxy:tcp:8888",
        "PROXY protocol (v1/v2) in front of another stream endpoint",
    ),
    EndpointType(
        "stdio",
        TransportKind.STREAM,
        "stdio:",
        "standard input and output as one connection (inetd style)",
    ),
)


# Stream types whose factory is called by Twisted's TCP or UNIX port, or by
# sockplug's PROXY wrapper: all close the socket when it gives no protocol.
_DIRECT = frozenset({"tcp", "tcp6", "unix", "haproxy", "systemd"})


@frozen
class ParsedEndpoint:
    """
    An endpoint string, the endpoint it describes, and the defences it
    asks for.
    """

    description: str
    kind: TransportKind
    endpoint: IStreamServerEndpoint | IDatagramServerEndpoint
    limits: ListenerLimits = field(factory=ListenerLimits)

    @property
    def acceptsDirectly(self) -> bool:
        """
        Whether the endpoint's listening port calls the factory itself, so
        that a refused connection can be given no protocol and be closed at
        once (see L{sockplug.defences._guardedfactory.GuardedFactory}).
        """
        return prefixOf(self.description) in _DIRECT


class EndpointParser:
    """
    Parses endpoint strings of every known type.

    @ivar datagramParsers: the datagram parsers by prefix.
    """

    def __init__(
        self,
        reactor: Any,
        datagramParsers: Iterable[IDatagramServerEndpointStringParser],
    ) -> None:
        self._reactor = reactor
        self.datagramParsers = {p.prefix.lower(): p for p in datagramParsers}

    @classmethod
    def fromPlugins(cls, reactor: Any) -> EndpointParser:
        """
        A parser for the datagram types found in the C{sockplug.plugins}
        dropin package.
        """
        modules, _ = loadDropins()  # failures are reported with the protocols
        return cls(reactor, providers(modules, IDatagramServerEndpointStringParser))

    def parse(self, description: str) -> ParsedEndpoint:
        """
        Parse an endpoint string, with the defence options any type takes
        (see L{sockplug.options._limits}).

        @raise EndpointSyntaxError: naming the string and what is wrong.
        """
        prefix = prefixOf(description)
        args, kwargs = parseArguments(description)
        parser = self.datagramParsers.get(prefix)
        kind = TransportKind.STREAM if parser is None else TransportKind.DATAGRAM
        given = len(kwargs)
        try:
            limits = parseLimits(kwargs, kind.value)
            if limits.access and _unixDomain(prefix, args, kwargs):
                raise ValueError(
                    "allow= and deny= take IP addresses; a UNIX socket's"
                    " peers are let in by its mode="
                )
        except ValueError as e:
            raise EndpointSyntaxError(description, describeParseError(e)) from e
        if parser is not None:
            try:
                datagram = parser.parseDatagramServer(
                    self._reactor, *args[1:], **kwargs
                )
            except Exception as e:
                raise EndpointSyntaxError(description, describeParseError(e)) from e
            return ParsedEndpoint(description, kind, datagram, limits)
        if prefix in ("tcp", "tcp6", "unix", "systemd"):
            try:
                own = (
                    parseSystemdStream(self._reactor, args[1:], kwargs)
                    if prefix == "systemd"
                    else parseStream(self._reactor, prefix, tuple(args[1:]), kwargs)
                )
            except ValueError as e:
                raise EndpointSyntaxError(description, describeParseError(e)) from e
            return ParsedEndpoint(description, kind, own, limits)
        if prefix == "haproxy":
            proxied = self._parseProxied(description, args, kwargs)
            return ParsedEndpoint(description, kind, proxied, limits)
        folder = (
            self._parseFolder(description, args, kwargs) if prefix == "tls" else None
        )
        if folder is not None:
            return ParsedEndpoint(description, kind, folder, limits)
        remaining = description
        if len(kwargs) != given:  # defence options were taken out
            remaining = unparseArguments(args, kwargs)
        try:
            stream = serverFromString(self._reactor, remaining)
        except Exception as e:
            if str(e).startswith("Unknown endpoint type"):
                reason = (
                    f"unknown endpoint type {prefix!r}; the types are"
                    f" {', '.join(self.knownPrefixes())}"
                )
            else:
                reason = describeParseError(e)
            raise EndpointSyntaxError(description, reason) from e
        # ssl: (read by Twisted's parser) serves with sockplug's TLS layer,
        # which delivers the reply to data that came with a close_notify.
        stream = underTLS(self._reactor, stream) or stream
        return ParsedEndpoint(description, kind, stream, limits)

    def _parseFolder(
        self, description: str, args: list[str], kwargs: dict[str, str]
    ) -> IStreamServerEndpoint | None:
        """
        C{tls:} as Twisted parses it, without its loop on a root certificate
        in the folder (see L{sockplug.endpoints._tls}); L{None} if this Twisted
        has no C{tls:} server type.
        """
        try:
            return parseTLSFolder(self._reactor, args[1:], kwargs)
        except Exception as e:
            raise EndpointSyntaxError(description, describeParseError(e)) from e

    def _parseProxied(
        self, description: str, args: list[str], kwargs: dict[str, str]
    ) -> ProxiedEndpoint:
        """
        C{haproxy:} and the stream endpoint string after it.
        """
        inner = unparseArguments(args[1:], kwargs)
        if not inner:
            raise EndpointSyntaxError(
                description, "haproxy: needs an endpoint, e.g. haproxy:tcp:8888"
            )
        try:
            if prefixOf(inner) == "haproxy":
                raise EndpointSyntaxError(
                    inner, "a PROXY header inside a PROXY header: give haproxy: once"
                )
            wrapped = self.parse(inner)
        except EndpointSyntaxError as e:
            raise EndpointSyntaxError(description, e.reason) from e
        if wrapped.kind is not TransportKind.STREAM:
            raise EndpointSyntaxError(
                description, "the PROXY protocol needs a stream endpoint"
            )
        assert IStreamServerEndpoint.providedBy(wrapped.endpoint)
        tls = underTLS(self._reactor, wrapped.endpoint)
        if tls is not None:
            # The header comes first, in the clear: TLS starts after it.
            return ProxiedEndpoint(self._reactor, tls.endpoint, tls.creator)
        return ProxiedEndpoint(self._reactor, wrapped.endpoint)

    def knownPrefixes(self) -> list[str]:
        """
        The prefixes of every endpoint type, stream and datagram.
        """
        return [t.prefix for t in self.endpointTypes()]

    def endpointTypes(self) -> list[EndpointType]:
        """
        Every endpoint type: Twisted's stream types, stream types from
        third-party Twisted parser plugins, then the datagram types.
        """
        types = list(TWISTED_STREAM_TYPES)
        known = {t.prefix for t in types}
        for streamParser in getPlugins(IStreamServerEndpointStringParser):
            prefix = streamParser.prefix.lower()
            if prefix not in known and prefix not in self.datagramParsers:
                known.add(prefix)
                types.append(
                    EndpointType(
                        prefix,
                        TransportKind.STREAM,
                        f"{prefix}:...",
                        f"third-party stream type ({type(streamParser).__module__})",
                    )
                )
        for prefix, datagramParser in sorted(self.datagramParsers.items()):
            summary = (datagramParser.__doc__ or "").strip().splitlines()
            types.append(
                EndpointType(
                    prefix,
                    TransportKind.DATAGRAM,
                    datagramParser.example,
                    summary[0] if summary else f"{prefix} datagrams",
                )
            )
        return types


def _unixDomain(prefix: str, args: list[str], kwargs: dict[str, str]) -> bool:
    """
    Whether an endpoint string names a UNIX socket (whose peers have no IP
    address): C{unix:}, C{unixgram:}, or a socket systemd hands over with
    C{domain=UNIX}.
    """
    if prefix in ("unix", "unixgram"):
        return True
    if prefix in ("systemd", "systemd-datagram"):
        domain = kwargs.get("domain", args[1] if len(args) > 1 else "")
        return domain.upper() == "UNIX"
    return False


def describeParseError(e: BaseException) -> str:
    """
    One line saying what an exception from a parser means.
    """
    if isinstance(e, EndpointSyntaxError):
        return e.reason
    text = " ".join(str(e).split()) or type(e).__name__
    if isinstance(e, TypeError) and "argument" in text:
        # "_parseTCP() got an unexpected keyword argument 'x'"
        text = text.split(") ", 1)[-1]
    elif isinstance(e, ValueError) and text.startswith("invalid literal for int()"):
        text = f"{text.rpartition(': ')[2]} is not a whole number"
    elif isinstance(e, ImportError) and e.name == "OpenSSL":
        text = "TLS needs pyOpenSSL: pip install 'twisted[tls]'"
    return text
