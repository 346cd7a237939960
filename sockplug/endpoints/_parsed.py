# -*- test-case-name: sockplug.endpoints.test.test_parsed -*-
"""
An endpoint string, parsed once: the value the rest of sockplug passes
around instead of the string.

It holds the string's text (for log lines and messages only), its
arguments taken apart (L{Arguments}), the limits it asks for, the
endpoint it describes and the socket under that endpoint. From these it
says which socket it needs (L{ParsedEndpoint.identity}, the one
definition of "the same socket" that a reload and the workers' socket plan
both use) and which files it reads (L{ParsedEndpoint.files}, for a
reload to notice a renewed certificate).
"""

from __future__ import annotations

from attrs import field, frozen
from twisted.internet.interfaces import IStreamServerEndpoint

from sockplug.endpoints._datagram import UDPServerEndpoint, UNIXDatagramServerEndpoint
from sockplug.endpoints._stream import TCPServerEndpoint, UNIXServerEndpoint
from sockplug.endpoints._syntax import Arguments
from sockplug.interfaces import IDatagramServerEndpoint, TransportKind
from sockplug.options import LIMITS, ListenerLimits, SocketOptions

__all__ = ["SOCKET_ENDPOINTS", "Built", "ParsedEndpoint", "SocketEndpoint"]

# The endpoints that make a socket of sockplug's own.
SocketEndpoint = (
    TCPServerEndpoint
    | UNIXServerEndpoint
    | UDPServerEndpoint
    | UNIXDatagramServerEndpoint
)
SOCKET_ENDPOINTS = (
    TCPServerEndpoint,
    UNIXServerEndpoint,
    UDPServerEndpoint,
    UNIXDatagramServerEndpoint,
)

# Stream types whose factory is called by Twisted's TCP or UNIX port, or by
# sockplug's PROXY wrapper: all close the socket when it gives no protocol.
_DIRECT = frozenset({"tcp", "tcp6", "unix", "haproxy", "systemd"})

# sockplug's own socket types: their arguments name no file that is read
# once at start (a UNIX socket's path is the socket itself).
_READS_NO_FILES = frozenset({"tcp", "tcp6", "unix", "udp", "unixgram"})


@frozen
class Built:
    """
    What the parser of one endpoint type makes of its arguments.

    @ivar endpoint: the endpoint.
    @ivar socket: the endpoint of sockplug's own that makes its socket,
        under any C{haproxy:} or TLS layer; L{None} if sockplug does not
        make the socket (C{systemd:}, C{stdio:}, a third-party type).
    @ivar layers: what is served over the socket, outermost first:
        C{haproxy}, and the TLS settings of C{ssl:} and C{tls:}.
    """

    endpoint: IStreamServerEndpoint | IDatagramServerEndpoint
    socket: SocketEndpoint | None = None
    layers: tuple[str, ...] = ()


@frozen
class ParsedEndpoint:
    """
    An endpoint string, the endpoint it describes, and the defences it
    asks for.

    @ivar description: the string, as given (or with the configuration
        file's keys written in), for log lines and messages.
    @ivar arguments: the string taken apart, limits included.
    @ivar socket: see L{Built.socket}.
    @ivar layers: see L{Built.layers}.
    """

    description: str
    kind: TransportKind
    endpoint: IStreamServerEndpoint | IDatagramServerEndpoint
    limits: ListenerLimits = field(factory=ListenerLimits)
    arguments: Arguments = field(kw_only=True)
    socket: SocketEndpoint | None = field(default=None, kw_only=True)
    layers: tuple[str, ...] = field(default=(), kw_only=True)

    @property
    def prefix(self) -> str:
        """
        The endpoint type, lower-cased: C{haproxy} for C{haproxy:tcp:80}.
        """
        return self.arguments.prefix

    @property
    def socketType(self) -> str:
        """
        The endpoint type that makes the socket: C{tcp} for
        C{haproxy:tcp:80}.
        """
        return self.arguments.socketType

    @property
    def acceptsDirectly(self) -> bool:
        """
        Whether the endpoint's listening port calls the factory itself, so
        that a refused connection can be given no protocol and be closed at
        once (see L{sockplug.defences._guardedfactory.GuardedFactory}).
        """
        return self.prefix in _DIRECT

    @property
    def identity(self) -> str:
        """
        Which socket this endpoint listens on: the same for two endpoints
        exactly when they need the same socket. For a socket sockplug makes,
        its settings (not its reactor, not the limits, not the C{haproxy:}
        or TLS layers over it, not how the string spelled them); for any
        other, the string under any C{haproxy:}, without the limits, its
        keywords in order.
        """
        if self.socket is not None:
            return repr(self.socket)
        return self.arguments.without(LIMITS.names()).innermost().canonical

    @property
    def files(self) -> tuple[str, ...]:
        """
        What may name a file the endpoint read when it was made (C{ssl:}'s
        certificate, C{tls:}'s folder): every argument's value, except for
        sockplug's own socket types, which read none. Twisted reads a
        certificate once, so a reload must make a new endpoint when one of
        these files changed.
        """
        if self.socketType in _READS_NO_FILES:
            return ()
        return self.arguments.values

    @property
    def socketOptions(self) -> SocketOptions | None:
        """
        The socket options of the socket sockplug makes; L{None} if it makes
        none.
        """
        return None if self.socket is None else self.socket.options
