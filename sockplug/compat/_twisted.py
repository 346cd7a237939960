# -*- test-case-name: sockplug.compat.test.test_twisted -*-
"""
The one door through which sockplug reaches Twisted's private API: no other
module spells a private name of Twisted. Each is imported, read, set or
overridden here under a public name, with why sockplug needs it and what
would let it go (a Twisted ticket, or "no ticket found");
L{sockplug.compat.test.test_twisted} checks that each is still there.
What a hot path reads is offered without adding a call: a function bound as
a method when the class is made, or one C{attrgetter} per poll.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from twisted.internet import endpoints, tcp

# The PROXY protocol's parsers, what they make of a header, and the
# wrapper that feeds them: Twisted offers only the haproxy: endpoint
# (proxyEndpoint), which builds the protocol before the header names the
# client and expects the header inside TLS (twisted#9041). sockplug's
# haproxy: wraps them itself. They came private with twisted#8203; no
# ticket found to make them public.
from twisted.protocols.haproxy._info import ProxyInfo
from twisted.protocols.haproxy._v1parser import V1Parser
from twisted.protocols.haproxy._v2parser import V2Parser
from twisted.protocols.haproxy._wrapper import (
    HAProxyProtocolWrapper,
    HAProxyWrappingFactory,
)
from twisted.python.systemd import ListenFDs

if TYPE_CHECKING:
    # The type of a client's trust root (for annotations only: importing
    # it at run time loads OpenSSL). Private by design, as glyph explains
    # in twisted#7647: an opaque value from platformTrust() or a
    # Certificate.
    from twisted.internet._sslverify import (
        IOpenSSLTrustRoot as IOpenSSLTrustRoot,  # noqa: PLC0414 (re-exported)
    )

__all__ = [
    "SYSTEMD_SOCKETS",
    "ClosesWithoutShutdown",
    "DatagramBindHook",
    "HAProxyWrappingFactory",
    "ProxyHeaderWrapper",
    "ProxyInfo",
    "SystemdParser",
    "TLSShutdownHook",
    "V1Parser",
    "V2Parser",
    "clientEndpointAddress",
    "clockOf",
    "connectedAddressOf",
    "connectionDataReceived",
    "flushHeldWrites",
    "fromListeningDescriptor",
    "hasSNI",
    "inferDomainMapping",
    "inheritedNames",
    "mayWriteNow",
    "parseClientTCP",
    "parseClientTLS",
    "parseEndpointString",
    "parseTrustRootPath",
    "pollParts",
    "pollerOf",
    "privateCertFromPaths",
    "queuedBytes",
    "readPEMFolder",
    "registeredOf",
    "renderResource",
    "replacePoller",
    "selectablesOf",
    "serverEndpointParts",
    "skipShutdown",
    "sniConnectionCreator",
    "sslContextFactoryOf",
    "systemdSockets",
    "tlsAborted",
]


# Twisted's own splitting of an endpoint string into arguments
# (endpoints._parse): the tests check that sockplug's splits alike. No
# ticket found.
parseEndpointString: Callable[[str], tuple[list[str], dict[str, str]]] = (
    endpoints._parse
)

# What Twisted's client tls: and ssl: parsers use to read their arguments
# and files: the sockplug command builds the same endpoints, but with a
# check of the server's name that fails closed (Twisted's _verifyCB lets
# service_identity's CertificateError through, logged). No ticket found
# for either.
parseClientTCP: Callable[..., dict[str, Any]] = endpoints._parseClientTCP
parseTrustRootPath: Callable[[str | None], Any] = endpoints._parseTrustRootPath
privateCertFromPaths: Callable[[str | None, str | None], Any] = (
    endpoints._privateCertFromPaths
)
# Twisted's client tls: parser itself: the tests check that sockplug's
# takes the same arguments.
parseClientTLS: Callable[..., Any] = endpoints._parseClientTLS

# The systemd: parser's class. Twisted reads LISTEN_FDS once, when
# endpoints is imported, into _SystemdParser._sddaemon, and removes it
# from the environment: that is the only copy left. Tests put their own
# there (SYSTEMD_SOCKETS names the attribute). Named descriptors came with
# twisted#8146/twisted#8147; no ticket found for reading what was parsed.
SystemdParser: type = endpoints._SystemdParser
SYSTEMD_SOCKETS = "_sddaemon"


def systemdSockets() -> ListenFDs | None:
    """
    The sockets systemd passed, as Twisted's C{systemd:} type read them;
    L{None} if it holds none.
    """
    found = getattr(SystemdParser, SYSTEMD_SOCKETS, None)
    return found if isinstance(found, ListenFDs) else None


def inheritedNames(sockets: ListenFDs) -> tuple[str, ...]:
    """
    The names systemd gave the inherited descriptors, in their order.
    (ListenFDs._names: its public inheritedNamedDescriptors() is a dict,
    which keeps one descriptor of several named alike. No ticket found.)
    """
    return tuple(getattr(sockets, "_names", ()))


def serverEndpointParts(endpoint: Any) -> tuple[int, str, int]:
    """
    The port, interface and backlog of Twisted's SSL4 server endpoint:
    what its parser read is kept only there (the same from Twisted 12 to
    26). sockplug takes C{ssl:} apart to start TLS after a PROXY header
    (twisted#9041) and to share its socket among workers. No ticket found.
    """
    return endpoint._port, endpoint._interface, endpoint._backlog


def sslContextFactoryOf(endpoint: Any) -> Any:
    """
    The TLS settings of Twisted's SSL4 server endpoint (see
    L{serverEndpointParts}).
    """
    return endpoint._sslContextFactory


def clientEndpointAddress(endpoint: Any) -> tuple[str, int]:
    """
    The host and port a TCP4 client endpoint connects to (for tests). No
    ticket found.
    """
    return endpoint._host, endpoint._port


def hasSNI() -> bool:
    """
    Whether this Twisted has the C{tls:} server type (its module
    twisted.protocols._sni, from twisted#9885).
    """
    return importlib.util.find_spec("twisted.protocols._sni") is not None


def sniConnectionCreator(lookup: Callable[[bytes | None], Any]) -> Any:
    """
    Twisted's C{tls:} connection creator (_sni.SNIConnectionCreator),
    picking the TLS context by the name the client asks for: sockplug's
    C{tls:} reads the folder itself (Twisted's loops on a root
    certificate; no report found). No ticket found to make it public.
    """
    from twisted.protocols._sni import SNIConnectionCreator

    return SNIConnectionCreator(lookup)


def readPEMFolder(folder: Any) -> tuple[list[Any], list[Any]]:
    """
    The certificates and key pairs in a folder of PEM files, each with
    the file it came from, as Twisted's C{tls:} reads them
    (_sni.PEMObjects and its private _certificates and _keyPairs).
    """
    from twisted.protocols._sni import PEMObjects

    found = PEMObjects.fromDirectory(folder)
    return list(found._certificates), list(found._keyPairs)


def inferDomainMapping(certificates: list[Any], keyPairs: list[Any]) -> dict[str, Any]:
    """
    What Twisted's C{tls:} makes of certificates and key pairs (as
    L{readPEMFolder} gives them): the TLS settings for each name.
    """
    from twisted.protocols._sni import PEMObjects

    mapping: dict[str, Any] = PEMObjects(certificates, keyPairs).inferDomainMapping()
    return mapping


class TLSShutdownHook:
    """
    Mixin for Twisted's C{BufferingTLSTransport}: calls
    C{beforeCloseNotify()} just before the layer sends its close_notify
    (the private _shutdownTLS). sockplug sends the writes it holds first:
    the small-write aggregation (twisted#11989) drops them otherwise when
    the peer's close_notify comes with the data. No report found.
    """

    def beforeCloseNotify(self) -> None:
        """Called before the close_notify goes out."""

    def _shutdownTLS(self) -> None:
        self.beforeCloseNotify()
        super()._shutdownTLS()  # type: ignore[misc]


def tlsAborted(protocol: Any) -> bool:
    """Whether a TLS layer's connection was aborted (its private _aborted)."""
    return bool(protocol._aborted)


def flushHeldWrites(protocol: Any) -> None:
    """
    Send the small writes a C{BufferingTLSTransport} holds until the next
    reactor turn (its private _aggregator, twisted#11989).
    """
    protocol._aggregator.flush()


def clockOf(factory: Any) -> Any:
    """The clock of a C{TLSMemoryBIOFactory} (its private _clock; for tests)."""
    return factory._clock


class ProxyHeaderWrapper(HAProxyProtocolWrapper):
    """
    Twisted's PROXY header wrapper, with its parser and what it parsed
    under public names (the private _parser and _proxyInfo): sockplug's
    reads a header split over reads and the short v1 form, and checks
    the addresses (see L{sockplug.endpoints.proxy}). No ticket found.
    """

    @property
    def headerParser(self) -> Any:
        """The parser of the header (v1 or v2), once its start was seen."""
        return self._parser

    @headerParser.setter
    def headerParser(self, parser: Any) -> None:
        self._parser = parser

    @property
    def proxyInfo(self) -> ProxyInfo | None:
        """What the header said, once it has been read whole."""
        return self._proxyInfo

    @proxyInfo.setter
    def proxyInfo(self, info: ProxyInfo | None) -> None:
        self._proxyInfo = info


def fromListeningDescriptor(
    portType: type, reactor: Any, fd: int, family: int, *args: Any
) -> Any:
    """
    A port of C{portType} (a subclass of Twisted's TCP or UDP port) on the
    listening socket at C{fd}, not yet started: the reactor's public
    C{adoptStreamPort}/C{adoptDatagramPort} (twisted#5248) make Twisted's
    own port classes, never sockplug's (_fromListeningDescriptor). No
    ticket found.
    """
    return portType._fromListeningDescriptor(reactor, fd, family, *args)  # type: ignore[attr-defined]


class ClosesWithoutShutdown:
    """
    Mixin for a Twisted stream port: closes its socket without
    C{shutdown()} when it stops (the private _shouldShutdown), which would
    stop a socket shared with systemd or other processes. Twisted does so
    for adopted TCP ports (twisted#5621) but not for UNIX ones; see also
    twisted#2004.
    """

    _shouldShutdown = False


def skipShutdown(port: object) -> None:
    """
    Have a Twisted stream port close its socket without C{shutdown()}
    (see L{ClosesWithoutShutdown}); other ports are left as they are.
    """
    if hasattr(port, "_shouldShutdown"):
        port._shouldShutdown = False


class DatagramBindHook:
    """
    Mixin for a Twisted datagram port: calls C{bindSocket()} where the
    port would make and bind its socket (the private _bindSocket), so that
    it can take a socket made elsewhere: the reactor adopts UDP sockets
    only (twisted#6594).
    """

    def bindSocket(self) -> None:
        """Make or take the port's socket."""
        raise NotImplementedError

    def _bindSocket(self) -> None:
        self.bindSocket()


def connectedAddressOf(port: Any) -> Any:
    """
    The address a UDP port is connected to, or L{None} (the private
    _connectedAddr; nothing public says whether a port is connected). No
    ticket found.
    """
    return port._connectedAddr


def mayWriteNow(transport: Any) -> bool:
    """
    Whether a write to a Twisted socket transport may go straight to its
    socket: connected, not closing either way (the private
    _writeDisconnecting and _writeDisconnected), nothing queued (its
    dataBuffer past offset, and the private _tempDataLen), no TLS started
    in place. Bind it as a method: it is read on every write. Twisted
    queues every write until the next reactor turn (twisted#5303).
    """
    return bool(
        transport.connected
        and not transport.disconnecting
        and not transport._writeDisconnecting
        and not transport._writeDisconnected
        and not transport._tempDataLen
        and transport.offset == len(transport.dataBuffer)
        and not transport.TLS
    )


def queuedBytes(transport: Any) -> int:
    """The bytes a Twisted transport holds in its write queue (for tests)."""
    return int(len(transport.dataBuffer) - transport.offset + transport._tempDataLen)


# What a Twisted socket transport does with the bytes it read (the private
# tcp.Connection._dataReceived): sockplug's reads into one shared buffer
# and hands the copy on here. Bind it as a method, once: it is called on
# every read. No ticket found.
connectionDataReceived: Callable[[Any, bytes], Any] = tcp.Connection._dataReceived


# The epoll reactor's poller, its descriptors by number and its handler of
# one event (_poller, _selectables, _doReadOrWrite), read once per poll:
# sockplug's reactor dispatches the events without log.callWithLogger's
# cost per event (twisted#2534).
pollParts: Callable[[Any], tuple[Any, dict[int, Any], Callable[..., Any]]] = attrgetter(
    "_poller", "_selectables", "_doReadOrWrite"
)


def pollerOf(reactor: Any) -> Any:
    """The epoll reactor's poller (see L{pollParts})."""
    return reactor._poller


def replacePoller(reactor: Any, poller: Any) -> None:
    """Give an epoll reactor another poller (for tests)."""
    reactor._poller = poller


def selectablesOf(reactor: Any) -> dict[int, Any]:
    """The epoll reactor's descriptors, by number (see L{pollParts})."""
    selectables: dict[int, Any] = reactor._selectables
    return selectables


def registeredOf(reactor: Any) -> tuple[set[int], set[int]]:
    """The descriptors the epoll reactor reads, and writes (for tests)."""
    return reactor._reads, reactor._writes


def renderResource(resource: Any, request: Any) -> Any:
    """
    Render a web resource for a test request; a Deferred that fires once
    it is rendered (twisted.web.test._util._render, whose exposure
    twisted#5527 asks for).
    """
    from twisted.web.test._util import _render

    return _render(resource, request)
