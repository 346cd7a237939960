"""
Tests for L{sockplug.client._tls}: C{tls:} and C{ssl:} client strings, in a
memory reactor, against TLS servers of test certificates in memory.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from typing import Any

from attrs import frozen
from OpenSSL import SSL, crypto
from service_identity import CertificateError, VerificationError
from service_identity import cryptography as identities
from service_identity.exceptions import DNSMismatch, IPAddressMismatch
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import (
    IAddress,
    IHostnameResolver,
    IHostResolution,
    IOpenSSLClientConnectionCreator,
    IResolutionReceiver,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.ssl import CertificateOptions
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from sockplug.client import _tls as _clienttls
from sockplug.client._tls import clientCreator, streamFromString
from sockplug.client._tlsfailures import tlsConnectionOf
from sockplug.compat import clientEndpointAddress, parseClientTLS
from sockplug.testing._tls import Authority, Recorder, handshake, pumpTLS


@implementer(IHostResolution)
@frozen
class _Resolution:
    name: str

    def cancel(self) -> None:
        raise AssertionError("resolved at once")


@implementer(IHostnameResolver)
class LiteralResolver:
    """
    Resolves a name to itself (as an IPv6 address if it has a colon), and
    records the names asked for.
    """

    def __init__(self) -> None:
        self.names: list[str] = []

    def resolveHostName(
        self,
        resolutionReceiver: IResolutionReceiver,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Sequence[type[IAddress]] | None = None,
        transportSemantics: str = "TCP",
    ) -> IHostResolution:
        self.names.append(hostName)
        resolution = _Resolution(hostName)
        resolutionReceiver.resolutionBegan(resolution)
        family = IPv6Address if ":" in hostName else IPv4Address
        resolutionReceiver.addressResolved(family("TCP", hostName, portNumber))
        resolutionReceiver.resolutionComplete()
        return resolution


def _writePEMs(folder: str, options: CertificateOptions) -> tuple[str, str]:
    """Write the key and certificate of C{options} into C{folder}; their paths."""
    assert options.privateKey is not None and options.certificate is not None
    os.makedirs(folder)
    key = os.path.join(folder, "key.pem")
    certificate = os.path.join(folder, "cert.pem")
    with open(key, "wb") as f:
        f.write(crypto.dump_privatekey(crypto.FILETYPE_PEM, options.privateKey))
    with open(certificate, "wb") as f:
        f.write(crypto.dump_certificate(crypto.FILETYPE_PEM, options.certificate))
    return certificate, key


class _MemoryCase(SynchronousTestCase):
    """A memory reactor resolving names to themselves, and a test CA."""

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.resolver = LiteralResolver()
        self.reactor.installNameResolver(self.resolver)
        self.ca = Authority()
        self.roots = self.ca.writeRoots(os.path.abspath(self.mktemp()))

    def connect(self, description: str) -> tuple[Recorder, tuple[Any, ...]]:
        """
        Connect to C{description} in the memory reactor; the application
        protocol and the reactor's record of the TCP connection.
        """
        stream = streamFromString(self.reactor, description)
        application = Recorder()
        stream.connect(Factory.forProtocol(lambda: application))
        [client] = self.reactor.tcpClients
        return application, client

    def serve(self, client: tuple[Any, ...], server: CertificateOptions) -> Any:
        """
        Let the TCP connection C{client} reach a TLS server of C{server}; the
        server's TLS protocol.
        """
        host, port, factory = client[:3]
        address = (IPv6Address if ":" in host else IPv4Address)("TCP", host, port)
        protocol = factory.buildProtocol(address)
        return pumpTLS(protocol, server, Clock())

    def reached(self, description: str, server: CertificateOptions) -> Recorder:
        """
        Connect to C{description}, served by C{server}; the application
        protocol, after the handshake.
        """
        application, client = self.connect(description)
        self.serve(client, server)
        return application

    def sslClient(self, hostname: str) -> tuple[Any, ...]:
        """
        Connect to an C{ssl:} client string whose C{hostname=} is
        C{hostname}, trusting the test CA; the reactor's record of the
        connection.
        """
        description = (
            f"ssl:host=\\:\\:1:port=4433:hostname={hostname}:timeout=5"
            f":caCertsDir={self.roots}"
        )
        stream = streamFromString(self.reactor, description)
        stream.connect(Factory.forProtocol(Protocol))
        clients: list[tuple[Any, ...]] = self.reactor.sslClients
        [client] = clients
        return client

    def assertMismatch(self, reason: Failure | None, mismatch: type) -> None:
        """C{reason} is a mismatch of the name or address asked for."""
        assert reason is not None
        error = reason.value
        assert isinstance(error, VerificationError), reason
        self.assertEqual([type(e) for e in error.errors], [mismatch])

    def assertCertificateError(self, reason: Failure | None) -> None:
        """C{reason} is service_identity's refusal of the certificate's names."""
        assert reason is not None
        self.assertIsInstance(reason.value, CertificateError, reason)


class TLSByAddressTests(_MemoryCase):
    """
    A C{tls:} client string may name its server by IP address (which
    Twisted's parser refuses), and the address is then checked against the
    certificate's IP address names; so may C{ssl:}'s C{hostname=}.
    """

    def test_IPv6(self) -> None:
        """C{tls:} connects to an escaped IPv6 address, with Twisted's defaults."""
        _, client = self.connect("tls:\\:\\:1:4433")
        self.assertEqual(self.resolver.names, ["::1"])
        self.assertEqual(client[:2] + client[3:], ("::1", 4433, 30, None))

    def test_IPv4(self) -> None:
        """C{tls:} connects to an IPv4 address."""
        _, client = self.connect("tls:127.0.0.1:4433")
        self.assertEqual(client[:2], ("127.0.0.1", 4433))

    def test_bracketedIPv6(self) -> None:
        """A bracketed IPv6 address loses its brackets."""
        _, client = self.connect("tls:[\\:\\:1]:4433")
        self.assertEqual(client[:2], ("::1", 4433))

    def test_byName(self) -> None:
        """Host, port, timeout and bindAddress may be given by name."""
        _, client = self.connect(
            "tls:host=\\:\\:1:port=4433:timeout=7:bindAddress=\\:\\:1"
        )
        self.assertEqual(client[:2] + client[3:], ("::1", 4433, 7, ("::1", 0)))

    def test_positional(self) -> None:
        """Timeout and bindAddress may follow the port, as Twisted takes them."""
        _, client = self.connect("tls:127.0.0.1:4433:9:127.0.0.2")
        self.assertEqual(client[3:], (9, ("127.0.0.2", 0)))

    def test_addressVerified(self) -> None:
        """A certificate naming the address, from a trusted CA, is accepted."""
        application = self.reached(
            f"tls:\\:\\:1:4433:trustRoots={self.roots}",
            self.ca.issue(("localhost", "::1")),
        )
        self.assertIsNone(application.reason)
        connection = tlsConnectionOf(application.transport)
        assert connection is not None
        peer = connection.get_peer_certificate(as_cryptography=True)
        assert peer is not None
        self.assertEqual(peer.subject.rfc4514_string(), "CN=localhost")

    def test_addressNotInCertificate(self) -> None:
        """A certificate whose IP address names lack the address is refused."""
        application = self.reached(
            f"tls:\\:\\:1:4433:trustRoots={self.roots}",
            self.ca.issue(("localhost", "127.0.0.1")),
        )
        self.assertMismatch(application.reason, IPAddressMismatch)

    def test_untrustedRefused(self) -> None:
        """Without trustRoots=, the test CA's certificate is not trusted."""
        application = self.reached("tls:\\:\\:1:4433", self.ca.issue())
        assert application.reason is not None
        self.assertIsNotNone(application.reason.check(SSL.Error))

    def test_clientCertificate(self) -> None:
        """certificate= and privateKey= give the server the client's certificate."""
        mine = self.ca.issue(("client",))
        certificate, key = _writePEMs(os.path.abspath(self.mktemp()), mine)
        _, client = self.connect(
            f"tls:127.0.0.1:4433:trustRoots={self.roots}"
            f":certificate={certificate}:privateKey={key}"
        )
        issued = self.ca.issue()
        server = CertificateOptions(  # asks for the client's certificate
            privateKey=issued.privateKey,
            certificate=issued.certificate,
            trustRoot=self.ca.trust(),
        )
        serverProtocol = self.serve(client, server)
        self.assertEqual(serverProtocol.getPeerCertificate().get_subject().CN, "client")

    def test_noNamesRefused(self) -> None:
        """A trusted certificate that names no host at all is refused."""
        application = self.reached(
            f"tls:127.0.0.1:4433:trustRoots={self.roots}",
            self.ca.issue(("evil.example",), withNames=False),
        )
        self.assertCertificateError(application.reason)

    def test_sslHostnameAddress(self) -> None:
        """C{ssl:} with C{hostname=} an IPv6 address connects to C{host=}."""
        host, port, _, _, timeout, bindAddress = self.sslClient("\\:\\:1")
        self.assertEqual((host, port, timeout, bindAddress), ("::1", 4433, 5, None))

    def test_sslHostnameAddressVerified(self) -> None:
        """C{ssl:} accepts a certificate naming its C{hostname=} address."""
        creator = self.sslClient("\\:\\:1")[3]
        self.assertIsNone(handshake(creator, self.ca.issue(("::1",))).reason)

    def test_sslHostnameAddressNotInCertificate(self) -> None:
        """C{ssl:} refuses a certificate that lacks its C{hostname=} address."""
        creator = self.sslClient("\\:\\:1")[3]
        refused = handshake(creator, self.ca.issue(("localhost", "127.0.0.1")))
        self.assertMismatch(refused.reason, IPAddressMismatch)


class TLSByNameTests(_MemoryCase):
    """
    A C{tls:} client string naming its server by host name, and an C{ssl:}
    one with C{hostname=} a host name, are built here too, so that a
    certificate that names no host is refused.
    """

    def test_connects(self) -> None:
        """C{tls:HOST:PORT} resolves the host name and connects to it."""
        _, client = self.connect("tls:localhost:4433")
        self.assertEqual(self.resolver.names, ["localhost"])
        self.assertEqual(client[:2] + client[3:], ("localhost", 4433, 30, None))

    def test_nameVerified(self) -> None:
        """A certificate naming the host, from a trusted CA, is accepted."""
        application = self.reached(
            f"tls:localhost:4433:trustRoots={self.roots}", self.ca.issue()
        )
        self.assertIsNone(application.reason)

    def test_serverNameSent(self) -> None:
        """The host name is sent to the server (SNI), as Twisted sends it."""
        _, client = self.connect(f"tls:localhost:4433:trustRoots={self.roots}")
        server = self.serve(client, self.ca.issue())
        self.assertEqual(server.getHandle().get_servername(), b"localhost")

    def test_intermediateVerified(self) -> None:
        """A certificate of an intermediate CA, sent with it, is accepted."""
        sub = Authority("sub", parent=self.ca)
        application = self.reached(
            f"tls:localhost:4433:trustRoots={self.roots}", sub.issue()
        )
        self.assertIsNone(application.reason)

    def test_otherNameRefused(self) -> None:
        """A certificate for another host name is refused."""
        application = self.reached(
            f"tls:localhost:4433:trustRoots={self.roots}",
            self.ca.issue(("other.example",)),
        )
        self.assertMismatch(application.reason, DNSMismatch)

    def test_noNamesRefused(self) -> None:
        """A trusted certificate without subjectAltName is refused for a name."""
        application = self.reached(
            f"tls:localhost:4433:trustRoots={self.roots}",
            self.ca.issue(("localhost",), withNames=False),
        )
        self.assertCertificateError(application.reason)

    def test_unusableWildcardRefused(self) -> None:
        """A trusted certificate whose only name is C{*} is refused."""
        application = self.reached(
            f"tls:localhost:4433:trustRoots={self.roots}", self.ca.issue(("*",))
        )
        self.assertCertificateError(application.reason)

    def test_wrappedEndpoint(self) -> None:
        """C{endpoint=} carries the TLS, and the host is only checked."""
        application, client = self.connect(
            f"tls:localhost:0:trustRoots={self.roots}"
            ":endpoint=tcp\\:host=127.0.0.1\\:port=4433"
        )
        self.assertEqual(client[:2], ("127.0.0.1", 4433))
        self.serve(client, self.ca.issue(("localhost",), withNames=False))
        self.assertCertificateError(application.reason)

    def test_sslNameVerified(self) -> None:
        """C{ssl:} accepts a certificate naming its C{hostname=}."""
        creator = self.sslClient("localhost")[3]
        self.assertIsNone(handshake(creator, self.ca.issue()).reason)

    def test_sslNoNamesRefused(self) -> None:
        """C{ssl:} refuses a certificate without subjectAltName."""
        creator = self.sslClient("localhost")[3]
        refused = handshake(creator, self.ca.issue(("localhost",), withNames=False))
        self.assertCertificateError(refused.reason)

    def test_otherTypes(self) -> None:
        """Other strings are left to Twisted's parsers."""
        stream: Any = streamFromString(self.reactor, "tcp:host=127.0.0.1:port=8888")
        self.assertEqual(clientEndpointAddress(stream), ("127.0.0.1", 8888))


class ClientCreatorTests(SynchronousTestCase):
    """
    L{clientCreator} makes Twisted's creator, with a check of the server's
    name that fails closed.
    """

    def setUp(self) -> None:
        self.ca = Authority()

    def test_interface(self) -> None:
        """It provides L{IOpenSSLClientConnectionCreator}."""
        creator = clientCreator("localhost", trustRoot=self.ca.trust())
        self.assertTrue(verifyObject(IOpenSSLClientConnectionCreator, creator))

    def test_noNamesRefused(self) -> None:
        """A certificate without subjectAltName is refused, nothing logged."""
        creator = clientCreator("localhost", trustRoot=self.ca.trust())
        refused = handshake(creator, self.ca.issue(withNames=False))
        assert refused.reason is not None
        self.assertIsInstance(refused.reason.value, CertificateError)

    def test_anyErrorRefuses(self) -> None:
        """Whatever goes wrong in the check refuses the certificate with it."""

        def broken(*args: object) -> object:
            raise RuntimeError("broken")

        self.patch(identities, "extract_patterns", broken)
        creator = clientCreator("localhost", trustRoot=self.ca.trust())
        refused = handshake(creator, self.ca.issue())
        assert refused.reason is not None
        self.assertIsInstance(refused.reason.value, RuntimeError)

    def test_twistedParserArguments(self) -> None:
        """The C{tls:} parser takes the arguments of Twisted's, by name."""
        ours = inspect.signature(_clienttls._parseTLS).parameters
        twisted = inspect.signature(parseClientTLS).parameters
        self.assertEqual(list(ours), list(twisted))
        self.assertEqual(
            [p.default for p in ours.values()],
            [
                p.default.decode() if isinstance(p.default, bytes) else p.default
                for p in twisted.values()
            ],
        )
