# -*- test-case-name: sockplug.client.test.test_tlsfailures,sockplug.endpoints.test.test_tls -*-  # noqa: E501
"""
TLS certificates and handshakes in memory, for sockplug's own tests (not
API: see L{sockplug.testing}): a certificate authority in memory and TLS
handshakes with the servers it certifies; and one that writes its
certificates as PEM files to a folder.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from ipaddress import ip_address
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from OpenSSL import SSL, crypto
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator, IProtocol
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.ssl import Certificate, CertificateOptions
from twisted.internet.task import Clock
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from twisted.test import iosim

from sockplug.client._tlsfailures import tlsConnectionOf

NOW = datetime.now(timezone.utc)
LOCAL = ("localhost", "127.0.0.1", "::1")


def _alternativeNames(names: Sequence[str]) -> x509.SubjectAlternativeName:
    """Subject alternative names: IP addresses, and DNS names."""

    def general(name: str) -> x509.GeneralName:
        try:
            return x509.IPAddress(ip_address(name))
        except ValueError:
            return x509.DNSName(name)

    return x509.SubjectAlternativeName([general(name) for name in names])


def _builder(
    subject: str,
    issuer: str,
    key: ec.EllipticCurvePrivateKey,
    notBefore: datetime = NOW - timedelta(hours=1),
    notAfter: datetime = NOW + timedelta(days=1),
) -> x509.CertificateBuilder:
    """A certificate of C{subject}'s C{key} to be signed by C{issuer}."""

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    return (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(notBefore)
        .not_valid_after(notAfter)
    )


def selfSigned(names: Sequence[str] = LOCAL) -> CertificateOptions:
    """A server's TLS options with a self-signed certificate for C{names}."""
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        _builder(names[0], names[0], key)
        .add_extension(_alternativeNames(names), False)
        .sign(key, hashes.SHA256())
    )
    return CertificateOptions(
        privateKey=crypto.PKey.from_cryptography_key(key),
        certificate=crypto.X509.from_cryptography(certificate),
    )


class Authority:
    """
    A test certificate authority, in memory: a root, or an intermediate
    signed by C{parent}.
    """

    def __init__(
        self,
        name: str = "sockplug test CA",
        parent: Authority | None = None,
        notBefore: datetime = NOW - timedelta(hours=1),
        notAfter: datetime = NOW + timedelta(days=1),
    ) -> None:
        self.name = name
        self.key = ec.generate_private_key(ec.SECP256R1())
        signer = parent or self
        self.certificate = (
            _builder(name, signer.name, self.key, notBefore, notAfter)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(signer.key, hashes.SHA256())
        )
        # The certificates a server sends after its own: the intermediates.
        self.chain: list[x509.Certificate] = (
            [] if parent is None else [self.certificate, *parent.chain]
        )

    def issue(
        self,
        names: Sequence[str] = LOCAL,
        notBefore: datetime = NOW - timedelta(hours=1),
        notAfter: datetime = NOW + timedelta(days=1),
        withNames: bool = True,
        chain: Sequence[x509.Certificate] | None = None,
    ) -> CertificateOptions:
        """
        A server's TLS options with a certificate for C{names} (its subject
        alternative names, unless not C{withNames}), and C{chain} after it
        (by default, this CA's intermediates).
        """
        key = ec.generate_private_key(ec.SECP256R1())
        builder = _builder(names[0], self.name, key, notBefore, notAfter)
        if withNames:
            builder = builder.add_extension(_alternativeNames(names), False)
        certificate = builder.sign(self.key, hashes.SHA256())
        return CertificateOptions(
            privateKey=crypto.PKey.from_cryptography_key(key),
            certificate=crypto.X509.from_cryptography(certificate),
            extraCertChain=[
                crypto.X509.from_cryptography(c)
                for c in (self.chain if chain is None else chain)
            ],
        )

    def trust(self) -> Certificate:
        """This CA's certificate, as a client's trust root."""
        return Certificate.loadPEM(
            self.certificate.public_bytes(serialization.Encoding.PEM)
        )

    def writeRoots(self, folder: str) -> str:
        """Write this CA's certificate into C{folder}, as C{trustRoots=} takes it."""
        os.makedirs(folder)
        with open(os.path.join(folder, "ca.pem"), "wb") as f:
            f.write(self.certificate.public_bytes(serialization.Encoding.PEM))
        return folder


class Recorder(Protocol):
    """
    An application protocol that keeps why its connection ended, and its
    TLS connection.
    """

    reason: Failure | None = None
    tlsConnection: SSL.Connection | None = None

    def connectionLost(self, reason: Failure = Failure(Exception())) -> None:  # noqa: B008
        self.reason = reason
        self.tlsConnection = tlsConnectionOf(self.transport)


def pumpTLS(client: IProtocol, server: CertificateOptions, clock: Clock) -> Any:
    """
    Connect C{client}, the client's protocol (TLS, with the application's
    inside), to a TLS server of C{server} in memory, and pump until neither
    has more to say.

    @return: the server's TLS protocol.
    """
    serverProtocol = TLSMemoryBIOFactory(
        server, False, Factory.forProtocol(Protocol), clock=clock
    ).buildProtocol(None)
    assert serverProtocol is not None
    iosim.connect(
        serverProtocol,
        iosim.makeFakeServer(serverProtocol),
        client,
        iosim.makeFakeClient(client),
        clock=clock,
    )
    return serverProtocol


def handshake(
    creator: IOpenSSLClientConnectionCreator, server: CertificateOptions
) -> Recorder:
    """
    Connect a TLS client of C{creator} to a TLS server of C{server}, in
    memory; the client's application protocol.
    """
    clock = Clock()
    application = Recorder()
    client = TLSMemoryBIOFactory(
        creator, True, Factory.forProtocol(lambda: application), clock=clock
    ).buildProtocol(None)
    assert client is not None
    pumpTLS(client, server, clock)
    return application


_Key = ec.EllipticCurvePrivateKey


class PEMAuthority:
    """
    Makes certificates, and writes them as PEM files to a folder.
    """

    def __init__(self, folder: str) -> None:
        self.folder = os.path.abspath(folder)
        os.makedirs(self.folder, exist_ok=True)

    def certificate(
        self,
        subject: str,
        issuer: str,
        signer: _Key,
        key: _Key | None = None,
        names: Sequence[str] = (),
    ) -> tuple[_Key, x509.Certificate]:
        """
        A certificate for C{subject}, whose issuer is named C{issuer}, signed
        with C{signer}, for C{key} (a new one unless given), naming C{names}.
        """
        key = ec.generate_private_key(ec.SECP256R1()) if key is None else key
        now = datetime.now(timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(subject))
            .issuer_name(_name(issuer))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
        )
        if names:
            alternatives = [x509.DNSName(name) for name in names]
            builder = builder.add_extension(
                x509.SubjectAlternativeName(alternatives), critical=False
            )
        return key, builder.sign(signer, hashes.SHA256())

    def write(
        self, name: str, certificate: x509.Certificate, key: _Key | None = None
    ) -> str:
        """
        Write C{certificate} (and C{key}, if given) to C{name}; its path.
        """
        data = certificate.public_bytes(serialization.Encoding.PEM)
        if key is not None:
            data += key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        path = os.path.join(self.folder, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def chain(self) -> tuple[x509.Certificate, x509.Certificate]:
        """
        Write a root CA's certificate (C{root.pem}), an intermediate's
        (C{sub.pem}) and localhost's with its key (C{localhost.pem}); the
        root's and the intermediate's certificates.
        """
        rootKey = ec.generate_private_key(ec.SECP256R1())
        _, root = self.certificate("root", "root", rootKey, rootKey)
        subKey, sub = self.certificate("sub", "root", rootKey)
        leafKey, leaf = self.certificate(
            "localhost", "sub", subKey, names=["localhost"]
        )
        self.write("root.pem", root)
        self.write("sub.pem", sub)
        self.write("localhost.pem", leaf, leafKey)
        return root, sub


def _name(commonName: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, commonName)])
