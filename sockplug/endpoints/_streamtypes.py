# -*- test-case-name: sockplug.endpoints.test.test_streamtypes -*-
"""
The stream endpoint types sockplug knows, in one table: for each, its
prefix, the example and summary C{--help} shows, and the parser of its
arguments (see L{sockplug.endpoints._parser.EndpointParser}).

C{tcp}, C{tcp6}, C{unix} and C{systemd} are sockplug's own (Twisted's
syntax, with socket options and checks of their own); C{ssl} is Twisted's
parser, served with sockplug's TLS layer; C{tls} is Twisted's syntax, its
folder read by sockplug (L{sockplug.endpoints._tls}); C{haproxy} puts the
PROXY header in front of any stream endpoint. C{stdio} has no parser
here: like every type a third party adds, it goes to Twisted's
L{serverFromString}.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from attrs import field, frozen
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IStreamServerEndpoint

from sockplug.endpoints._parsed import Built, ParsedEndpoint
from sockplug.endpoints._pemfiles import checkSSLFiles
from sockplug.endpoints._stream import TCPServerEndpoint, parseStream
from sockplug.endpoints._syntax import Arguments
from sockplug.endpoints._systemd import parseSystemdStream
from sockplug.endpoints._tls import readTLSFolder, underTLS
from sockplug.endpoints.proxy import ProxiedEndpoint
from sockplug.interfaces import TransportKind
from sockplug.options import arguments as arguments_

__all__ = ["STREAM_TYPES", "EndpointType", "StreamParser", "servedWithTLS"]

Inner = Callable[[Arguments], ParsedEndpoint]


class StreamParser(Protocol):
    """
    Parses the arguments of one stream type (the limits taken out).
    """

    def __call__(
        self, reactor: Any, arguments: Arguments, inner: Inner
    ) -> Built | None:
        """
        @param inner: parses the endpoint inside this one (C{haproxy:}'s).
        @return: what the arguments make, or L{None} to leave the string
            to Twisted's L{serverFromString}.
        @raise Exception: saying what is wrong (see
            L{sockplug.endpoints._parser.describeParseError}).
        """


@frozen
class EndpointType:
    """
    One endpoint type, as C{--help} lists it, and the parser of its
    arguments if it is one of sockplug's stream types.
    """

    prefix: str
    kind: TransportKind
    example: str
    summary: str
    parse: StreamParser | None = field(default=None, eq=False, repr=False)


def _own(reactor: Any, arguments: Arguments, inner: Inner) -> Built:
    """
    C{tcp}, C{tcp6} and C{unix}: the endpoint makes its socket itself.
    """
    endpoint = parseStream(reactor, arguments.prefix, arguments.args, arguments.kwargs)
    return Built(endpoint, endpoint)


def _systemd(reactor: Any, arguments: Arguments, inner: Inner) -> Built:
    """
    C{systemd}: a socket systemd made.
    """
    return Built(parseSystemdStream(reactor, arguments.args, arguments.kwargs))


def servedWithTLS(
    reactor: Any, endpoint: IStreamServerEndpoint, arguments: Arguments
) -> Built:
    """
    A stream endpoint Twisted's parser made: an C{ssl:} one serves with
    sockplug's TLS layer, which delivers the reply to data that came with
    a close_notify.
    """
    tls = underTLS(reactor, endpoint)
    if tls is None:
        return Built(endpoint)
    socket = tls.endpoint if isinstance(tls.endpoint, TCPServerEndpoint) else None
    return Built(tls, socket, (arguments.canonical,))


def _checkInterface(arguments: Arguments) -> None:
    """
    Refuse an C{interface=} that is not an IP address, when the string is
    read rather than when it listens (Twisted's parser keeps it as given).
    """
    for key, value in arguments.keywords:
        if key == "interface":
            arguments_.interface(value)


def _ssl(reactor: Any, arguments: Arguments, inner: Inner) -> Built:
    """
    C{ssl}: read by Twisted's parser.
    """
    _checkInterface(arguments)
    checkSSLFiles(arguments.kwargs)
    return servedWithTLS(reactor, serverFromString(reactor, arguments.text), arguments)


def _tls(reactor: Any, arguments: Arguments, inner: Inner) -> Built | None:
    """
    C{tls}: as Twisted parses it, without its loop on a root certificate in
    the folder; L{None} if this Twisted has no C{tls:} server type.
    """
    _checkInterface(arguments)
    made = readTLSFolder(reactor, arguments.args, arguments.kwargs)
    if made is None:
        return None
    endpoint, socket = made
    return Built(endpoint, socket, (arguments.canonical,))


def _haproxy(reactor: Any, arguments: Arguments, inner: Inner) -> Built:
    """
    C{haproxy}: the PROXY header in front of the stream endpoint after it.
    """
    endpoint = arguments.inner()
    if endpoint is None:
        raise ValueError("haproxy: needs an endpoint, e.g. haproxy:tcp:8888")
    if endpoint.prefix == "haproxy":
        raise ValueError("a PROXY header inside a PROXY header: give haproxy: once")
    wrapped = inner(endpoint)
    if wrapped.kind is not TransportKind.STREAM:
        raise ValueError("the PROXY protocol needs a stream endpoint")
    assert IStreamServerEndpoint.providedBy(wrapped.endpoint)
    tls = underTLS(reactor, wrapped.endpoint)
    proxied = (
        ProxiedEndpoint(reactor, wrapped.endpoint)
        if tls is None
        # The header comes first, in the clear: TLS starts after it.
        else ProxiedEndpoint(reactor, tls.endpoint, tls.creator)
    )
    return Built(proxied, wrapped.socket, ("haproxy", *wrapped.layers))


_STREAM = TransportKind.STREAM

# sockplug's stream types, and Twisted's stdio, with the example and summary
# --help shows.
STREAM_TYPES = (
    EndpointType("tcp", _STREAM, "tcp:8888:interface=127.0.0.1", "TCP over IPv4", _own),
    EndpointType("tcp6", _STREAM, "tcp6:8888:interface=\\:\\:1", "TCP over IPv6", _own),
    EndpointType(
        "unix",
        _STREAM,
        "unix:/tmp/sockplug.sock:mode=660",
        "UNIX stream socket, mode 660 unless mode= says otherwise",
        _own,
    ),
    EndpointType(
        "ssl",
        _STREAM,
        "ssl:8443:privateKey=key.pem:certKey=cert.pem",
        "TLS over TCP, key and certificate from PEM files",
        _ssl,
    ),
    EndpointType(
        "tls",
        _STREAM,
        "tls:/etc/sockplug/pems:port=8443",
        "TLS over TCP, certificates picked by SNI from a folder of PEM files",
        _tls,
    ),
    EndpointType(
        "systemd",
        _STREAM,
        "systemd:domain=INET:index=0",
        "a stream socket handed over by systemd socket activation",
        _systemd,
    ),
    EndpointType(
        "haproxy",
        _STREAM,
        "haproxy:tcp:8888",
        "PROXY protocol (v1/v2) in front of another stream endpoint",
        _haproxy,
    ),
    EndpointType(
        "stdio",
        _STREAM,
        "stdio:",
        "standard input and output as one connection (inetd style)",
    ),
)
