"""
Tests for L{sockplug.client._tlsfailures}, with TLS handshakes in memory between
a client that checks the server's certificate and servers of test
certificates.
"""

from __future__ import annotations

from datetime import timedelta

from OpenSSL import SSL, crypto
from service_identity import CertificateError, VerificationError
from service_identity.exceptions import DNSMismatch
from service_identity.hazmat import DNS_ID
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.ssl import CertificateOptions, optionsForClientTLS
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, SynchronousTestCase
from zope.interface import directlyProvides

from sockplug.client import _tlsfailures
from sockplug.client._tls import clientCreator
from sockplug.client._tlsfailures import describeVerificationFailure, tlsConnectionOf
from sockplug.testing._tls import NOW, Authority, handshake, selfSigned


class DescribeVerificationFailureTests(SynchronousTestCase):
    """
    L{describeVerificationFailure} says why the server's certificate was
    refused, from what OpenSSL and service_identity found.
    """

    def setUp(self) -> None:
        self.ca = Authority()

    def refused(
        self,
        server: CertificateOptions,
        description: str = "tls:localhost:443:trustRoots=R",
        hostname: str = "localhost",
        trusted: Authority | None = None,
        systemStore: bool = False,
    ) -> str | None:
        """
        Connect a client of C{description} that checks C{hostname} against
        C{trusted}'s CA (or the system's trust store) to C{server}; describe
        why it failed.
        """
        root = None if systemStore else (trusted or self.ca).trust()
        client = handshake(optionsForClientTLS(hostname, trustRoot=root), server)
        assert client.reason is not None
        return describeVerificationFailure(
            client.reason, client.tlsConnection, description
        )

    def test_wrongName(self) -> None:
        """A certificate for other names names the one asked for and its own."""
        server = self.ca.issue(("other.example", "10.1.2.3"))
        self.assertEqual(
            self.refused(server),
            "the server's certificate is not for 'localhost'"
            " (it names: other.example, 10.1.2.3)",
        )

    def test_wrongAddress(self) -> None:
        """A certificate without the IP address asked for is refused for it."""
        server = self.ca.issue(("localhost", "127.0.0.1"))
        self.assertEqual(
            self.refused(server, "tls:\\:\\:1:443:trustRoots=R", hostname="::1"),
            "the server's certificate is not for '::1'"
            " (it names: localhost, 127.0.0.1)",
        )

    def test_noNames(self) -> None:
        """
        A certificate without subject alternative names says so (an older
        service_identity refuses it for the name; a newer one, differently).
        """
        certificate = self.ca.issue(withNames=False).certificate
        assert certificate is not None
        error = VerificationError(errors=[DNSMismatch(DNS_ID("localhost"))])
        self.assertEqual(
            _tlsfailures._wrongName(error, [certificate]),
            "the server's certificate is not for 'localhost'"
            " (it names no host: it has no subjectAltName)",
        )

    def refusedByName(self, server: CertificateOptions) -> str | None:
        """
        Connect a client of sockplug's creator for localhost, trusting the
        test CA, to C{server}; describe why it failed.
        """
        creator = clientCreator("localhost", trustRoot=self.ca.trust())
        client = handshake(creator, server)
        assert client.reason is not None
        return describeVerificationFailure(
            client.reason, client.tlsConnection, "tls:localhost:443:trustRoots=R"
        )

    def test_noNamesAtAll(self) -> None:
        """
        A certificate without subjectAltName (refused by service_identity
        for any name) names no host, whatever its common name.
        """
        server = self.ca.issue(("evil.example",), withNames=False)
        self.assertEqual(
            self.refusedByName(server),
            "the server's certificate names no host (it has no subjectAltName;"
            " its common name 'evil.example' is not used)",
        )

    def test_unusableName(self) -> None:
        """A certificate with an unusable name says so, in service_identity's words."""
        self.assertEqual(
            self.refusedByName(self.ca.issue(("*",))),
            "the server's certificate cannot be checked (Certificate's DNS-ID"
            " b'*' has too few host components for wildcard usage.)",
        )

    def test_noNamesUnknownCertificate(self) -> None:
        """Without the certificate, service_identity's words are given."""
        error = CertificateError("Certificate does not contain any `subjectAltName`s.")
        self.assertEqual(
            describeVerificationFailure(Failure(error), None, "tls:localhost:1"),
            "the server's certificate cannot be checked (Certificate does not"
            " contain any `subjectAltName`s.)",
        )

    def test_wrongNameUnknownCertificate(self) -> None:
        """Without the certificate, the name asked for is still named."""
        error = VerificationError(errors=[DNSMismatch(DNS_ID("localhost"))])
        self.assertEqual(
            describeVerificationFailure(Failure(error), None, "tls:localhost:1"),
            "the server's certificate is not for 'localhost'",
        )

    def test_expired(self) -> None:
        """An expired certificate is refused, with the moment it expired."""
        end = NOW - timedelta(days=1)
        server = self.ca.issue(notBefore=NOW - timedelta(days=3), notAfter=end)
        self.assertEqual(
            self.refused(server),
            f"the server's certificate has expired (on {end:%Y-%m-%d %H:%M:%S} UTC)",
        )

    def test_notYetValid(self) -> None:
        """A certificate of the future is refused, the clock suspected."""
        start = NOW + timedelta(days=1)
        server = self.ca.issue(notBefore=start, notAfter=NOW + timedelta(days=2))
        self.assertEqual(
            self.refused(server),
            "the server's certificate is not valid until"
            f" {start:%Y-%m-%d %H:%M:%S} UTC (is this machine's clock right?)",
        )

    def test_expiredAuthority(self) -> None:
        """An expired intermediate CA is named as the certificate that expired."""
        end = NOW - timedelta(days=1)
        sub = Authority("sub", self.ca, notBefore=end - timedelta(days=1), notAfter=end)
        self.assertEqual(
            self.refused(sub.issue()),
            "the certificate of its authority 'sub' has expired"
            f" (on {end:%Y-%m-%d %H:%M:%S} UTC)",
        )

    def test_unknownAuthority(self) -> None:
        """A certificate of a CA not in trustRoots= names that CA."""
        server = Authority("other CA").issue()
        self.assertEqual(
            self.refused(server),
            "the server's certificate is not signed by a trusted authority"
            " ('other CA' is not in trustRoots=)",
        )

    def test_unknownAuthoritySystemStore(self) -> None:
        """Without trustRoots=, the advice is to give it."""
        self.assertEqual(
            self.refused(self.ca.issue(), "tls:localhost:443", systemStore=True),
            "the server's certificate is not signed by a trusted authority"
            " ('sockplug test CA' is not in the system's trust store;"
            " give trustRoots=FOLDER of CA certificates)",
        )

    def test_sslAdvice(self) -> None:
        """For an ssl: client, the folder of CA certificates is caCertsDir=."""
        description = "ssl:host=h:port=443:hostname=localhost"
        self.assertIn(
            "; give caCertsDir=FOLDER of CA certificates)",
            self.refused(self.ca.issue(), description, systemStore=True) or "",
        )

    def test_sslGivenFolder(self) -> None:
        """For an ssl: client with caCertsDir=, the CA is not in it."""
        description = "ssl:host=h:port=443:hostname=localhost:caCertsDir=R"
        self.assertIn(
            "('other CA' is not in caCertsDir=)",
            self.refused(Authority("other CA").issue(), description) or "",
        )

    def test_otherTypeAdvice(self) -> None:
        """Another endpoint type's trust store is named without advice."""
        self.assertIn(
            "('other CA' is not in the trust store)",
            self.refused(Authority("other CA").issue(), "mytls:x") or "",
        )

    def test_missingIntermediate(self) -> None:
        """A server that does not send its intermediate CA's certificate names it."""
        server = Authority("sub", self.ca).issue(chain=[])
        self.assertEqual(
            self.refused(server),
            "the server's certificate is not signed by a trusted authority"
            " ('sub' is not in trustRoots=)",
        )

    def test_selfSigned(self) -> None:
        """A self-signed certificate not trusted says so."""
        self.assertEqual(
            self.refused(selfSigned()),
            "the server's certificate is self-signed, and not trusted"
            " (it is not in trustRoots=)",
        )

    def test_selfSignedSystemStore(self) -> None:
        """Without trustRoots=, the advice is a folder holding the certificate."""
        self.assertEqual(
            self.refused(selfSigned(), "tls:localhost:443", systemStore=True),
            "the server's certificate is self-signed, and not trusted (it is not"
            " in the system's trust store; give trustRoots=FOLDER holding it)",
        )

    def test_selfSignedInChain(self) -> None:
        """A chain that ends in an untrusted root it sends names that root."""
        other = Authority("other CA")
        server = other.issue(chain=[other.certificate])
        self.assertEqual(
            self.refused(server),
            "the server's certificate is not signed by a trusted authority"
            " ('other CA', self-signed, is not in trustRoots=)",
        )

    def test_otherVerifyError(self) -> None:
        """A verify error without words of its own is given in OpenSSL's."""
        certificate = crypto.X509.from_cryptography(self.ca.certificate)
        reason = _tlsfailures._reason(
            50, 1, "unsupported extension feature", certificate, "tls:h:1"
        )
        self.assertEqual(
            reason,
            "the certificate of its authority 'sockplug test CA':"
            " unsupported extension feature",
        )

    def test_trustedChain(self) -> None:
        """
        A verification error whose chain verifies when checked again is left
        to OpenSSL's own words.
        """
        server = self.ca.issue()
        client = handshake(optionsForClientTLS("localhost", self.ca.trust()), server)
        self.assertIsNone(client.reason)
        connection = tlsConnectionOf(client.transport)
        error = SSL.Error([("SSL routines", "", "certificate verify failed")])
        self.assertIsNone(
            describeVerificationFailure(Failure(error), connection, "tls:x:1")
        )

    def test_noTLSConnection(self) -> None:
        """Without the TLS connection, OpenSSL's words are left as they are."""
        error = SSL.Error([("SSL routines", "", "certificate verify failed")])
        self.assertIsNone(describeVerificationFailure(Failure(error), None, "tls:x:1"))

    def test_otherErrors(self) -> None:
        """Other TLS errors and other failures are not described."""
        for error in (
            SSL.Error([("SSL routines", "", "wrong version number")]),
            ConnectionDone(),
        ):
            self.assertIsNone(
                describeVerificationFailure(Failure(error), None, "tls:x:1")
            )

    def test_codes(self) -> None:
        """The verify error codes are OpenSSL's."""
        codes = getattr(SSL, "X509VerificationCodes", None)
        if codes is None:
            raise SkipTest("this pyOpenSSL has no X509VerificationCodes")
        for name in (
            "UNABLE_TO_GET_ISSUER_CERT",
            "CERT_NOT_YET_VALID",
            "CERT_HAS_EXPIRED",
            "DEPTH_ZERO_SELF_SIGNED_CERT",
            "SELF_SIGNED_CERT_IN_CHAIN",
            "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
            "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
            "CERT_REVOKED",
        ):
            self.assertEqual(
                getattr(_tlsfailures, name), getattr(codes, f"ERR_{name}"), name
            )


class ClosedTCPTransport(StringTransport):
    """A transport like a closed TCP connection: it has no socket left."""

    def getHandle(self) -> object:
        raise AttributeError("'Client' object has no attribute 'socket'")


class TLSConnectionOfTests(SynchronousTestCase):
    """L{tlsConnectionOf} finds the TLS connection under a transport."""

    def test_open(self) -> None:
        """An open TLS connection's transport gives its TLS connection."""
        ca = Authority()
        client = handshake(optionsForClientTLS("localhost", ca.trust()), ca.issue())
        self.assertIsInstance(tlsConnectionOf(client.transport), SSL.Connection)

    def test_notTLS(self) -> None:
        """A transport that is not TLS is not asked for its handle."""
        self.assertIsNone(tlsConnectionOf(ClosedTCPTransport()))

    def test_handleGone(self) -> None:
        """A TLS transport whose handle is gone with its socket has none."""
        transport = ClosedTCPTransport()
        directlyProvides(transport, ISSLTransport)  # as TLS over TCP does
        self.assertIsNone(tlsConnectionOf(transport))
