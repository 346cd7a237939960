# -*- test-case-name: sockplug.client.test.test_tls -*-
"""
TLS client endpoints: C{tls:HOST:PORT:...} and C{ssl:...:hostname=NAME},
built as Twisted's parsers build them, with two differences.

The check of the server's name fails closed. Twisted 26.10's check
(C{twisted.internet._sslverify._verifyCB}) catches only
C{service_identity}'s C{VerificationError}; the C{CertificateError} it
raises for a certificate without any subjectAltName (or with an unusable
wildcard) is logged, and the certificate accepted for any name. Here any
failure of the check refuses the certificate, with that failure as the
reason (L{sockplug.client._tlsfailures} puts it into words).

And the server may be named by its IP address: Twisted passes the name
through IDNA, which refuses one (C{tls:\\:\\:1:443} fails before
connecting); here the address is checked against the certificate's IP
address names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from attrs import frozen
from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.endpoints import (
    HostnameEndpoint,
    SSL4ClientEndpoint,
    clientFromString,
    wrapClientTLS,
)
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator,
    IStreamClientEndpoint,
)
from twisted.python.failure import Failure
from zope.interface import implementer

from sockplug.compat import parseClientTCP, parseTrustRootPath, privateCertFromPaths
from sockplug.endpoints import parseArguments, prefixOf

if TYPE_CHECKING:
    from collections.abc import Callable

    from OpenSSL import SSL
    from OpenSSL.crypto import X509
    from service_identity.hazmat import ServiceID
    from twisted.internet.ssl import Certificate, PrivateCertificate
    from twisted.protocols.tls import TLSMemoryBIOProtocol

    from sockplug.compat import IOpenSSLTrustRoot

__all__ = ["NameCheckingCreator", "clientCreator", "streamFromString"]


def _isAddress(host: str) -> bool:
    # Twisted's own tests, so that optionsForClientTLS agrees: it checks
    # an address against the certificate's IP address names, a host name
    # against its DNS names.
    return isIPAddress(host) or isIPv6Address(host)


@implementer(IOpenSSLClientConnectionCreator)
@frozen
class NameCheckingCreator:
    """
    Twisted's client connection creator for a host, with its check of the
    server's certificate replaced by one that refuses the certificate
    whatever goes wrong in it.

    @ivar creator: Twisted's creator, which sets up everything else (trust
        roots, client certificate, the name sent by SNI).
    @ivar identity: the name or address the certificate must hold.
    """

    creator: IOpenSSLClientConnectionCreator
    identity: ServiceID

    def clientConnectionForTLS(
        self, tlsProtocol: TLSMemoryBIOProtocol
    ) -> SSL.Connection:
        """
        Twisted's connection, with this creator's check of the server's
        certificate in place of Twisted's.
        """
        from OpenSSL.SSL import VERIFY_FAIL_IF_NO_PEER_CERT, VERIFY_PEER

        connection = self.creator.clientConnectionForTLS(tlsProtocol)
        connection.set_verify(
            VERIFY_PEER | VERIFY_FAIL_IF_NO_PEER_CERT,
            _nameCheck(tlsProtocol, self.identity),
        )
        return connection


def _nameCheck(
    tlsProtocol: TLSMemoryBIOProtocol, identity: ServiceID
) -> Callable[[SSL.Connection, X509, int, int, int], bool]:
    """
    An OpenSSL verify callback: OpenSSL's verdict on each certificate of the
    chain, and for the server's own also whether it holds C{identity}. If it
    does not, or cannot be checked, the connection fails with why
    (C{failVerification}).
    """
    from service_identity.cryptography import extract_patterns
    from service_identity.hazmat import verify_service_identity

    # Let go of the protocol once the server's certificate has been checked:
    # the connection holds this callback, and the protocol the connection.
    protocols = [tlsProtocol]

    def verify(
        connection: SSL.Connection, certificate: X509, error: int, depth: int, ok: int
    ) -> bool:
        if depth != 0:
            return bool(ok)
        try:
            patterns = extract_patterns(certificate.to_cryptography())
            verify_service_identity(patterns, [identity], [])
        except Exception:
            # VerificationError (another name), CertificateError (no name
            # at all, an unusable one), or anything else: refused.
            failure = Failure()
            for protocol in protocols:
                protocol.failVerification(failure)
            del protocols[:]
            return False
        del protocols[:]
        return bool(ok)

    return verify


def clientCreator(
    hostname: str,
    trustRoot: IOpenSSLTrustRoot | Certificate | None = None,
    clientCertificate: PrivateCertificate | None = None,
) -> IOpenSSLClientConnectionCreator:
    """
    What Twisted's C{optionsForClientTLS} makes, for a host name or an IP
    address, its check of the server's name made by L{NameCheckingCreator}.

    @param trustRoot: the CA certificates to trust, or L{None} for the
        system's trust store.

    @raise ValueError: if C{hostname} is neither an address nor a valid
        host name (C{idna}'s words).
    """
    from service_identity.hazmat import DNS_ID, IPAddress_ID
    from twisted.internet.ssl import optionsForClientTLS

    creator = optionsForClientTLS(
        hostname,
        trustRoot=trustRoot,
        clientCertificate=clientCertificate,
    )
    identity = IPAddress_ID(hostname) if _isAddress(hostname) else DNS_ID(hostname)
    return NameCheckingCreator(creator, identity)


def _unbracketed(host: str) -> str:
    """C{host}, without the brackets around an IPv6 address."""
    if host.startswith("[") and host.endswith("]") and _isAddress(host[1:-1]):
        return host[1:-1]
    return host


def _parseTLS(  # noqa: PLR0917 (Twisted's tls: arguments, by position)
    reactor: Any,
    host: str,
    port: str,
    timeout: str = "30",
    bindAddress: str | None = None,
    certificate: str | None = None,
    privateKey: str | None = None,
    trustRoots: str | None = None,
    endpoint: str | None = None,
    **kwargs: object,
) -> IStreamClientEndpoint:
    """
    What Twisted's C{_parseClientTLS} makes of C{tls:...}: the same
    arguments, taken the same way (so refused in the same words), and
    Twisted's own loaders of C{trustRoots=}, C{certificate=} and
    C{privateKey=}, so that they mean here what they mean to its parser.
    """
    if kwargs:
        raise TypeError("unrecognized keyword arguments present", list(kwargs.keys()))
    host = _unbracketed(host)
    portNumber = int(port)
    seconds = int(timeout)
    creator = clientCreator(
        host,
        trustRoot=parseTrustRootPath(trustRoots),
        clientCertificate=privateCertFromPaths(certificate, privateKey),
    )
    return wrapClientTLS(
        creator,
        streamFromString(reactor, endpoint)
        if endpoint is not None
        else HostnameEndpoint(
            reactor,
            host,
            portNumber,
            seconds,
            None if bindAddress is None else (bindAddress, 0),
        ),
    )


def _parseSSL(reactor: Any, *args: str, **kwargs: str) -> IStreamClientEndpoint:
    """
    What Twisted's C{_parseClientSSL} makes of C{ssl:...:hostname=NAME}.
    """
    options: dict[str, Any] = parseClientTCP(*args, **kwargs)
    hostname = _unbracketed(options.pop("hostname"))
    clientCertificate = privateCertFromPaths(
        options.pop("certKey", None), options.pop("privateKey", None)
    )
    trustRoot = parseTrustRootPath(options.pop("caCertsDir", None))
    options["sslContextFactory"] = clientCreator(
        hostname, trustRoot=trustRoot, clientCertificate=clientCertificate
    )
    return SSL4ClientEndpoint(reactor, **options)


def streamFromString(reactor: Any, description: str) -> IStreamClientEndpoint:
    """
    A stream client endpoint: Twisted's L{clientFromString}, but C{tls:}
    and C{ssl:} with C{hostname=} built here.

    @raise Exception: whatever Twisted's parsers raise for the same string.
    """
    prefix = prefixOf(description)
    args, kwargs = parseArguments(description)
    if prefix == "tls":
        return _parseTLS(reactor, *args[1:], **kwargs)
    if prefix == "ssl" and "hostname" in kwargs:
        return _parseSSL(reactor, *args[1:], **kwargs)
    stream: IStreamClientEndpoint = clientFromString(reactor, description)
    return stream
