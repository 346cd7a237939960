# -*- test-case-name: sockplug.endpoints.test.test_tls -*-
"""
TLS server endpoints, with their parts in view.

  - C{tls:} (a folder of PEM files, the certificate picked by the name
    the client asks for) is Twisted's, with the folder read so that a root
    certificate in it does not hang the process. Twisted 26.10's
    C{PEMObjects.inferDomainMapping} (C{twisted/protocols/_sni.py}) follows
    each server certificate's issuers through the certificates without a
    key, C{while hashDN(chained.getIssuer()) in bySubject}, which never
    ends at a certificate that is its own issuer: twistd and C{sockplug
    check-config} hang before logging a line, and so does a running
    server when a client's unknown name makes Twisted read the folder
    again. Such certificates are left out here (clients have the root; a
    server need not send it), and the rare certificates without keys that
    issue each other in a ring are refused. (No report of this was found
    in Twisted's issues.)
  - L{underTLS} takes an C{ssl:} or C{tls:} endpoint apart into the plain
    stream endpoint under it and its TLS settings, so that C{haproxy:} can
    start TLS after the PROXY header, which comes first, in the clear.
  - Every TLS listener (C{ssl:}, C{tls:}, and both under C{haproxy:})
    serves with L{TLSFactory}, whose L{ReplyingTLSProtocol} delivers a
    reply to data that came with the client's close_notify. Twisted 26.10's
    C{BufferingTLSTransport} (C{twisted/protocols/tls.py}) holds small
    writes until the next reactor turn (its C{_AggregateSmallWrites},
    from twisted#11989); when the close_notify comes in the same read as
    the data, it answers with its own close_notify at once
    (C{_flushReceiveBIO}, on C{ZeroReturnError}: C{_shutdownTLS}, then
    C{_tlsShutdownFinished}, which sets C{_lostTLSConnection}), and the
    held reply is then dropped (C{_write} returns when
    C{_lostTLSConnection} is set): C{socat - OPENSSL:...} got nothing
    back from echo at the end of its input. (No report of this was found
    in Twisted's issues.) A reply written later than that read is still
    lost, as Twisted's TLS has no half-close (twisted#5341).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from attrs import field, frozen
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import SSL4ServerEndpoint, TCP6ServerEndpoint
from twisted.internet.interfaces import (
    IListeningPort,
    IProtocolFactory,
    IStreamServerEndpoint,
)
from twisted.logger import Logger
from twisted.protocols.tls import BufferingTLSTransport, TLSMemoryBIOFactory
from twisted.python.filepath import FilePath
from zope.interface import implementer

from sockplug.compat import (
    TLSShutdownHook,
    flushHeldWrites,
    hasSNI,
    inferDomainMapping,
    readPEMFolder,
    serverEndpointParts,
    sniConnectionCreator,
    sslContextFactoryOf,
    tlsAborted,
)
from sockplug.endpoints._pemfiles import checkPEMFolder
from sockplug.endpoints._stream import TCPServerEndpoint

__all__ = [
    "ReplyingTLSProtocol",
    "TLSFactory",
    "TLSServerEndpoint",
    "domainMapping",
    "parseTLSFolder",
    "readTLSFolder",
    "underTLS",
]

_log = Logger()


class ReplyingTLSProtocol(TLSShutdownHook, BufferingTLSTransport):
    """
    Twisted's TLS layer, which sends the writes it holds before its
    close_notify, whoever starts the close (see the module's docstring).
    """

    def beforeCloseNotify(self) -> None:
        if not tlsAborted(self):
            # Before our close_notify: OpenSSL still encrypts after the
            # peer's (it refuses to only after ours).
            flushHeldWrites(self)


class TLSFactory(TLSMemoryBIOFactory):
    """
    Twisted's TLS wrapper, with L{ReplyingTLSProtocol}.
    """

    protocol = ReplyingTLSProtocol


@implementer(IStreamServerEndpoint)
@frozen
class TLSServerEndpoint:
    """
    TLS over a stream endpoint, as Twisted's C{wrapServerTLS} makes it,
    with L{TLSFactory}.

    @ivar endpoint: the plain stream endpoint.
    @ivar creator: the TLS settings (an C{IOpenSSLServerConnectionCreator}
        or a context factory).
    """

    endpoint: IStreamServerEndpoint
    creator: Any
    clock: Any = field(repr=False)

    def listen(self, factory: IProtocolFactory) -> Deferred[IListeningPort]:
        return self.endpoint.listen(
            TLSFactory(self.creator, False, factory, self.clock)
        )


def underTLS(reactor: Any, endpoint: object) -> TLSServerEndpoint | None:
    """
    An C{ssl:} or C{tls:} endpoint as the plain stream endpoint under it
    and its TLS settings; L{None} for any other endpoint.
    """
    if isinstance(endpoint, TLSServerEndpoint):
        return endpoint
    if isinstance(endpoint, SSL4ServerEndpoint):
        # What Twisted's ssl: parser read is kept only in these attributes
        # (the same from Twisted 12 to 26).
        port, interface, backlog = serverEndpointParts(endpoint)
        plain = TCPServerEndpoint(reactor, port, interface, backlog)
        return TLSServerEndpoint(plain, sslContextFactoryOf(endpoint), reactor)
    return None


def parseTLSFolder(
    reactor: Any, args: list[str], kwargs: dict[str, str]
) -> TLSServerEndpoint | None:
    """
    Parse the arguments of a C{tls:} server string as Twisted does
    (C{PATH[:port=443][:backlog=50][:interface=::]}).

    @return: the endpoint, or L{None} if this Twisted has no C{tls:}
        server type (before 25.x).
    @raise ValueError: a folder that holds certificates Twisted would loop
        on; L{TypeError}, L{ValueError}: bad arguments, as Twisted's.
    """
    made = readTLSFolder(reactor, args, kwargs)
    return None if made is None else made[0]


def readTLSFolder(
    reactor: Any, args: Sequence[str], kwargs: dict[str, str]
) -> tuple[TLSServerEndpoint, TCPServerEndpoint] | None:
    """
    As L{parseTLSFolder}, and sockplug's endpoint for the socket under TLS
    (its port, interface and backlog), which the workers' supervisor makes.
    """
    if not hasSNI():
        return None
    return _parseFolder(reactor, *args, **kwargs)


def _parseFolder(
    reactor: Any,
    path: str,
    port: str = "443",
    backlog: str = "50",
    interface: str = "::",
) -> tuple[TLSServerEndpoint, TCPServerEndpoint]:
    number, queue = int(port), int(backlog)
    plain = TCP6ServerEndpoint(reactor, number, queue, interface)
    creator = sniConnectionCreator(_reloading(FilePath(path)))
    socket = TCPServerEndpoint(reactor, number, interface, queue)
    return TLSServerEndpoint(plain, creator, reactor), socket


def domainMapping(folder: FilePath[str]) -> dict[str, Any]:
    """
    What Twisted's C{tls:} makes of a folder of PEM files: the TLS
    settings for each name. Certificates without a key that are their own
    issuers are left out; Twisted would loop on them.

    @raise ValueError: naming the files of certificates without keys that
        issue each other in a ring (Twisted would loop on them too); naming
        a file that holds a certificate or key that cannot be read.
    """
    checkPEMFolder(folder.path)
    certificates, keyPairs = readPEMFolder(folder)
    keys = {keyPair.keyHash() for _, keyPair in keyPairs}
    kept = []
    issuers: dict[object, set[object]] = {}
    files: dict[object, set[str]] = {}
    for path, certificate in certificates:
        subject, issuer = (
            _name(certificate.getSubject()),
            _name(certificate.getIssuer()),
        )
        if certificate.getPublicKey().keyHash() not in keys:
            if subject == issuer:
                continue
            issuers.setdefault(subject, set()).add(issuer)
            files.setdefault(subject, set()).add(path.path)
        kept.append((path, certificate))
    ring = _ring(issuers)
    if ring:
        names = ", ".join(sorted({name for s in ring for name in files[s]}))
        raise ValueError(
            f"{names}: certificates without their keys that issue each other"
            " make Twisted loop for ever; keep only the server's keys,"
            " certificates and intermediates in a tls: folder"
        )
    return inferDomainMapping(kept, keyPairs)


def _name(dn: Any) -> object:
    """
    A certificate's subject or issuer as Twisted compares them.
    """
    return tuple(sorted(dn.items()))


def _ring(issuers: dict[object, set[object]]) -> set[object]:
    """
    The names in C{issuers} (each one's issuers among them) that lie on a
    ring: what is left once names that issue none of those left, and names
    issued by none of them, are taken away, over and over.
    """
    left = {name: found & issuers.keys() for name, found in issuers.items()}
    while True:
        issuing = set().union(*left.values())
        out = {name for name, found in left.items() if not found or name not in issuing}
        if not out:
            return set(left)
        left = {name: found - out for name, found in left.items() if name not in out}


def _reloading(folder: FilePath[str]) -> Callable[[bytes | None], Any]:
    """
    Look up the TLS context for a name, as Twisted's
    C{autoReloadingDirectoryOfPEMs} does: the folder is read again when a
    name is not found. A folder that cannot be read then leaves the names
    as they were.
    """
    mapping = domainMapping(folder)

    def lookup(name: bytes | None, reload: bool = True) -> Any:
        nonlocal mapping
        if not name:
            name = next(iter(mapping), "").encode()
        options = mapping.get(name.decode("ascii", "replace"))
        if options is not None:
            return options.getContext()
        if not reload:
            return None
        _log.warn(
            "could not find domain {name}, re-loading {path}",
            name=name,
            path=folder.path,
        )
        try:
            mapping = domainMapping(folder)
        except Exception:
            _log.failure(
                "could not re-load {path}; keeping what it held before",
                path=folder.path,
            )
            return None
        return lookup(name, False)

    return lookup
