"""
Certificates for the end-to-end TLS tests: a test certificate authority,
and server certificates it signs, written as PEM files.

    ca = CertificateAuthority.create(folder)
    leaf = ca.issue("server")              # localhost, 127.0.0.1, ::1
    expired = ca.issue("old", expired=True)
    other = ca.issue("other", names=("other.example",))
    bare = ca.issue("bare", names=("evil.example",), withNames=False)  # no SAN
    chained = ca.intermediate("sub").issue("leaf")  # chained.chain: sub's cert

Clients trust C{ca.roots}, a folder holding only the CA's certificate (as
Twisted's C{tls:...:trustRoots=} and C{openssl -CApath} take it), or
C{ca.certificatePath} (C{openssl -CAfile}, Python's C{cafile=}).

And blocking TLS clients that never wait without a bound: L{tlsConnect},
L{echoThrough}, and L{clientHello} for peers that stop mid-handshake; and
L{selfSignedCertificate}, a key and a certificate of C{localhost} alone.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from ipaddress import IPv4Address, ip_address

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.harness import Address, connect

__all__ = [
    "LOCALHOST",
    "CertificateAuthority",
    "Issued",
    "clientHello",
    "echoThrough",
    "requireIPv6",
    "selfSignedCertificate",
    "tlsConnect",
]

TRANSFER_TIMEOUT = 60.0

# The names a server certificate is for unless told otherwise: loopback,
# by name and by address, IPv4 and IPv6.
LOCALHOST = ("localhost", "127.0.0.1", "::1")


def _keyUsage(*, signing: bool) -> x509.KeyUsage:
    """Key usage: signing certificates (a CA), or digital signatures (a server)."""
    return x509.KeyUsage(
        digital_signature=not signing,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signing,
        crl_sign=signing,
        encipher_only=False,
        decipher_only=False,
    )


def _generalName(name: str) -> x509.GeneralName:
    """A subject alternative name: an IP address, or else a DNS name."""
    try:
        return x509.IPAddress(ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _write(path: str, data: bytes) -> str:
    with open(path, "wb") as f:
        f.write(data)
    return path


def _keyPEM(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _certificatePEM(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class Issued:
    """
    A server's key and certificate, as PEM files.

    @ivar key: the private key's path.
    @ivar certificate: the certificate's path.
    @ivar chain: the path of the certificates between it and the root (the
        intermediate CAs, C{extraCertChain=}), or L{None} if the root signed it.
    @ivar parsed: the certificate itself.
    """

    key: str
    certificate: str
    chain: str | None
    parsed: x509.Certificate

    @property
    def der(self) -> bytes:
        """The certificate in DER, as a client sees it (C{getpeercert(True)})."""
        return self.parsed.public_bytes(serialization.Encoding.DER)

    def ssl(self, interface: str = "127.0.0.1", port: int = 0) -> str:
        """
        An C{ssl:} server endpoint string serving this certificate (with its
        chain, if any) on C{interface}.
        """
        escaped = interface.replace(":", "\\:")
        spec = (
            f"ssl:{port}:interface={escaped}"
            f":privateKey={self.key}:certKey={self.certificate}"
        )
        if self.chain is not None:
            spec += f":extraCertChain={self.chain}"
        return spec


@dataclass(frozen=True)
class CertificateAuthority:
    """
    A test certificate authority, writing what it makes into C{folder}.

    @ivar certificatePath: its certificate, as a PEM file.
    @ivar roots: a folder holding only the certificate of the root CA.
    @ivar chain: the PEM certificates of this CA and those between it and
        the root (empty for the root itself).
    """

    folder: str
    name: str
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    certificatePath: str
    roots: str
    chain: bytes = b""

    @classmethod
    def create(
        cls, folder: str, name: str = "sockplug test CA"
    ) -> CertificateAuthority:
        """A new root CA, its certificate written into C{folder}."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.now(timezone.utc)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .add_extension(_keyUsage(signing=True), True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False
            )
            .sign(key, hashes.SHA256())
        )
        roots = os.path.join(folder, "roots")
        os.makedirs(roots, exist_ok=True)
        path = _write(os.path.join(roots, "ca.pem"), _certificatePEM(certificate))
        _write(os.path.join(folder, "ca-key.pem"), _keyPEM(key))
        return cls(folder, name, key, certificate, path, roots)

    def _builder(
        self,
        subject: str,
        key: ec.EllipticCurvePrivateKey,
        notBefore: datetime,
        notAfter: datetime,
    ) -> x509.CertificateBuilder:
        issuerKey = x509.SubjectKeyIdentifier.from_public_key(self.key.public_key())
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(notBefore)
            .not_valid_after(notAfter)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                    issuerKey
                ),
                False,
            )
        )

    def intermediate(self, name: str) -> CertificateAuthority:
        """A CA this one signs, trusted through it (same C{roots})."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(timezone.utc)
        certificate = (
            self._builder(name, key, now - timedelta(hours=1), now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
            .add_extension(_keyUsage(signing=True), True)
            .sign(self.key, hashes.SHA256())
        )
        pem = _certificatePEM(certificate)
        path = _write(os.path.join(self.folder, f"{name}-ca.pem"), pem)
        return CertificateAuthority(
            self.folder, name, key, certificate, path, self.roots, pem + self.chain
        )

    def issue(
        self,
        name: str,
        names: Sequence[str] = LOCALHOST,
        *,
        expired: bool = False,
        withNames: bool = True,
        folder: str | None = None,
    ) -> Issued:
        """
        A server certificate for C{names} (DNS names or IP addresses) with
        the server-authentication extended key usage; its files are
        C{NAME-key.pem}, C{NAME-cert.pem} and, if this is not the root,
        C{NAME-chain.pem}, in C{folder} (this CA's by default).

        @param expired: whether it stopped being valid yesterday.
        @param withNames: whether C{names} are its subject alternative
            names; if not, it has none, and only its common name is
            C{names[0]}.
        """
        folder = folder or self.folder
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(timezone.utc)
        if expired:
            notBefore, notAfter = now - timedelta(days=3), now - timedelta(days=1)
        else:
            notBefore, notAfter = now - timedelta(hours=1), now + timedelta(days=1)
        builder = self._builder(names[0], key, notBefore, notAfter)
        if withNames:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([_generalName(n) for n in names]), False
            )
        certificate = (
            builder.add_extension(
                x509.BasicConstraints(ca=False, path_length=None), True
            )
            .add_extension(_keyUsage(signing=False), True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False
            )
            .sign(self.key, hashes.SHA256())
        )
        keyPath = _write(os.path.join(folder, f"{name}-key.pem"), _keyPEM(key))
        certificatePath = _write(
            os.path.join(folder, f"{name}-cert.pem"), _certificatePEM(certificate)
        )
        chain = None
        if self.chain:
            chain = _write(os.path.join(folder, f"{name}-chain.pem"), self.chain)
        return Issued(keyPath, certificatePath, chain, certificate)


def selfSignedCertificate(folder: str) -> tuple[str, str]:
    """Write a key and a self-signed certificate for C{localhost}; their paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(timezone.utc)
    names = [x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    keyPath, certPath = (
        os.path.join(folder, "key.pem"),
        os.path.join(folder, "cert.pem"),
    )
    with open(keyPath, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    with open(certPath, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return keyPath, certPath


def tlsConnect(
    testCase: SynchronousTestCase,
    address: Address,
    ca: CertificateAuthority,
    hostname: str = "localhost",
) -> ssl.SSLSocket:
    """
    A TLS connection to C{address}, the certificate verified against C{ca}
    for C{hostname}; closed when the test ends.
    """
    context = ssl.create_default_context(cafile=ca.certificatePath)
    sock = context.wrap_socket(connect(testCase, address), server_hostname=hostname)
    testCase.addCleanup(sock.close)
    return sock


def echoThrough(sock: ssl.SSLSocket, payload: bytes) -> bytes:
    """
    Send C{payload} while reading what comes back, until as much came back
    (one thread, non-blocking: a TLS socket is not for two threads at once).
    """
    sock.setblocking(False)
    sent, received = 0, bytearray()
    deadline = time.monotonic() + TRANSFER_TIMEOUT
    while len(received) < len(payload):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{sent} bytes sent, {len(received)} received")
        writers = [sock] if sent < len(payload) else []
        readable, writable, _ = select.select([sock], writers, [], remaining)
        if writable:
            with contextlib.suppress(ssl.SSLWantReadError, ssl.SSLWantWriteError):
                sent += sock.send(payload[sent : sent + 65536])
        while readable:
            try:
                chunk = sock.recv(65536)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            if not chunk:
                raise ConnectionError(f"closed after {len(received)} bytes")
            received += chunk
    return bytes(received)


def clientHello() -> bytes:
    """The first flight of a TLS client: a whole ClientHello record."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    context = ssl.create_default_context()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def requireIPv6() -> None:
    """Skip the test unless this machine has ::1."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        raise SkipTest("no ::1 on this machine") from None
