# -*- test-case-name: sockplug.endpoints.test.test_parser -*-
"""
Turning an endpoint string into a stream or a datagram endpoint, once (see
L{ParsedEndpoint}).

Datagram types come from L{IDatagramServerEndpointStringParser} plugins in
the C{sockplug.plugins} package; sockplug's own stream types from its
table (L{sockplug.endpoints._streamtypes}); every other string goes to
Twisted's L{serverFromString}, so every stream type Twisted or a
third-party parser plugin knows works unchanged. TLS endpoints (C{ssl:},
C{tls:}) serve with sockplug's TLS layer (see L{sockplug.endpoints._tls}).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IStreamServerEndpointStringParser
from twisted.plugin import getPlugins

from sockplug.discovery import loadDropins, providers
from sockplug.endpoints._parsed import SOCKET_ENDPOINTS, Built, ParsedEndpoint
from sockplug.endpoints._streamtypes import STREAM_TYPES, EndpointType, servedWithTLS
from sockplug.endpoints._syntax import Arguments, colonHint, cutValue
from sockplug.errors import EndpointSyntaxError, shown
from sockplug.interfaces import IDatagramServerEndpointStringParser, TransportKind
from sockplug.options import LIMITS, ListenerLimits, parseLimits

# ParsedEndpoint (from _parsed) is still offered here, where it used to live.
__all__ = ["EndpointParser", "ParsedEndpoint", "describeParseError"]


class EndpointParser:
    """
    Parses endpoint strings of every known type.

    @ivar datagramParsers: the datagram parsers by prefix.
    """

    def __init__(
        self,
        reactor: Any,
        datagramParsers: Iterable[IDatagramServerEndpointStringParser],
        streamTypes: Sequence[EndpointType] = STREAM_TYPES,
    ) -> None:
        """
        @param streamTypes: the stream types to list in C{--help}, with the
            parsers of sockplug's own.
        """
        self._reactor = reactor
        self.datagramParsers = {p.prefix.lower(): p for p in datagramParsers}
        self._streamTypes = tuple(streamTypes)
        self._streamParsers = {t.prefix: t.parse for t in streamTypes if t.parse}

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
        return self.build(Arguments.parse(description), description)

    def build(
        self, arguments: Arguments, description: str | None = None
    ) -> ParsedEndpoint:
        """
        Make the endpoint that parsed arguments describe.

        @param description: the string they were parsed from, for messages;
            their own text unless given.
        @raise EndpointSyntaxError: naming the string and what is wrong.
        """
        if description is None:
            description = arguments.text
        try:
            return self._build(arguments, description)
        except EndpointSyntaxError as e:
            hint = colonHint(description)
            if hint is None:
                key = cutValue(description)
                if key is None:
                    raise
                hint = f"{e.reason} (if {key}= holds a colon, write it as \\:)"
            raise EndpointSyntaxError(description, hint) from e

    def _build(self, arguments: Arguments, description: str) -> ParsedEndpoint:
        kind = (
            TransportKind.DATAGRAM
            if arguments.prefix in self.datagramParsers
            else TransportKind.STREAM
        )
        limits = self._limits(description, arguments, kind)
        built = self._make(description, arguments.without(LIMITS.names()))
        return ParsedEndpoint(
            description,
            kind,
            built.endpoint,
            limits,
            arguments=arguments,
            socket=built.socket,
            layers=built.layers,
        )

    def merge(
        self, parsed: ParsedEndpoint, keywords: Mapping[str, str]
    ) -> ParsedEndpoint:
        """
        A parsed endpoint with more keyword arguments (the limits and socket
        options of a configuration file's table): the endpoint is made
        again only if they are more than limits, so a C{tls:} folder is not
        read again for limits.

        @raise EndpointSyntaxError: naming the endpoint string with the
            keywords written in, and what is wrong.
        """
        if not keywords:
            return parsed
        arguments = parsed.arguments.withKeywords(keywords)
        description = arguments.text
        limits = self._limits(description, arguments, parsed.kind)
        built = Built(parsed.endpoint, parsed.socket, parsed.layers)
        if any(key not in LIMITS for key in keywords):
            built = self._make(description, arguments.without(LIMITS.names()))
        return ParsedEndpoint(
            description,
            parsed.kind,
            built.endpoint,
            limits,
            arguments=arguments,
            socket=built.socket,
            layers=built.layers,
        )

    def _limits(
        self, description: str, arguments: Arguments, kind: TransportKind
    ) -> ListenerLimits:
        """
        The limits the arguments ask for.

        @raise EndpointSyntaxError: naming the string and what is wrong.
        """
        try:
            limits = parseLimits(arguments.kwargs, kind.value)
            if limits.access and _unixDomain(arguments):
                raise ValueError(
                    "allow= and deny= take IP addresses; a UNIX socket's"
                    " peers are let in by its mode="
                )
        except ValueError as e:
            raise EndpointSyntaxError(description, describeParseError(e)) from e
        return limits

    def _make(self, description: str, arguments: Arguments) -> Built:
        """
        The endpoint of arguments without limits, by their type's parser.

        @raise EndpointSyntaxError: naming the string and what is wrong.
        """
        prefix = arguments.prefix
        datagramParser = self.datagramParsers.get(prefix)
        streamParser = self._streamParsers.get(prefix)
        try:
            if datagramParser is not None:
                datagram = datagramParser.parseDatagramServer(
                    self._reactor, *arguments.args, **arguments.kwargs
                )
                socket = datagram if isinstance(datagram, SOCKET_ENDPOINTS) else None
                return Built(datagram, socket)
            if streamParser is not None:
                built = streamParser(self._reactor, arguments, self.build)
                if built is not None:
                    return built
        except Exception as e:
            raise EndpointSyntaxError(description, describeParseError(e)) from e
        try:
            stream = serverFromString(self._reactor, arguments.text)
        except Exception as e:
            if str(e).startswith("Unknown endpoint type"):
                reason = (
                    f"unknown endpoint type {shown(prefix)}; the types are"
                    f" {', '.join(self.knownPrefixes())}"
                )
            else:
                reason = describeParseError(e)
            raise EndpointSyntaxError(description, reason) from e
        return servedWithTLS(self._reactor, stream, arguments)

    def knownPrefixes(self) -> list[str]:
        """
        The prefixes of every endpoint type, stream and datagram.
        """
        return [t.prefix for t in self.endpointTypes()]

    def endpointTypes(self) -> list[EndpointType]:
        """
        Every endpoint type: sockplug's and Twisted's stream types, stream
        types from third-party Twisted parser plugins, then the datagram
        types.
        """
        types = list(self._streamTypes)
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


def _unixDomain(arguments: Arguments) -> bool:
    """
    Whether an endpoint string names a UNIX socket (whose peers have no IP
    address): C{unix:}, C{unixgram:}, or a socket systemd hands over with
    C{domain=UNIX}.
    """
    if arguments.prefix in ("unix", "unixgram"):
        return True
    if arguments.prefix in ("systemd", "systemd-datagram"):
        positional = arguments.args[0] if arguments.args else ""
        domain = arguments.kwargs.get("domain", positional)
        return domain.upper() == "UNIX"
    return False


def describeParseError(e: BaseException) -> str:
    """
    One line saying what an exception from a parser means.
    """
    if isinstance(e, EndpointSyntaxError):
        return e.reason
    text = " ".join(str(e).split()) or type(e).__name__
    if isinstance(e, TypeError) and len(e.args) == 2 and isinstance(e.args[1], list):
        # Twisted's tls: parsers: TypeError("unrecognized keyword arguments
        # present", ['x']), shown as the tuple it is.
        names = ", ".join(repr(str(name)) for name in e.args[1])
        plural = "s" if len(e.args[1]) > 1 else ""
        text = f"got an unexpected keyword argument{plural} {names}"
    elif isinstance(e, TypeError) and "argument" in text:
        # "_parseTCP() got an unexpected keyword argument 'x'"
        text = text.split(") ", 1)[-1]
    elif isinstance(e, ValueError) and text.startswith("invalid literal for int()"):
        text = f"{text.rpartition(': ')[2]} is not a whole number"
    elif isinstance(e, ImportError) and e.name == "OpenSSL":
        text = "TLS needs pyOpenSSL: pip install 'twisted[tls]'"
    return text
