"""
End-to-end tests of TLS through contrib/haproxy/haproxy.cfg, as
docs/scale-out.md describes it: ended at HAProxy (plain to sockplug),
passed through HAProxy's TCP mode to C{haproxy:ssl:} and C{haproxy:tls:}
backends, or re-encrypted by HAProxy to a C{haproxy:ssl:} backend. Clients
and HAProxy verify the certificates, which a test CA issues.
"""

from __future__ import annotations

import contextlib
import shutil
import ssl
import time
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from tests.haproxyrun import PROXIED, HAProxyCase, withServerOptions
from tests.harness import IO_TIMEOUT, connect, receive, temporaryDirectory
from tests.tlscerts import CertificateAuthority, tlsConnect

# The port of the TLS frontend added to the file (moved to a free port).
TLS_FRONTEND = 7443


def sendThenCloseNotify(
    testCase: SynchronousTestCase, port: int, ca: CertificateAuthority, line: bytes
) -> bytes:
    """
    Over TLS to 127.0.0.1:C{port}, verified against C{ca} for localhost,
    send C{line} and a close_notify in one write; return what comes back
    until the server ends its side.
    """
    context = ssl.create_default_context(cafile=ca.certificatePath)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    sock = connect(testCase, ("127.0.0.1", port))
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            sock.sendall(outgoing.read())
            incoming.write(receive(sock, lambda data: data != b""))
    tls.write(line)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.unwrap()  # writes the close_notify, then wants the server's
    sock.sendall(outgoing.read())
    received = b""
    deadline = time.monotonic() + IO_TIMEOUT
    while time.monotonic() < deadline:
        try:
            received += tls.read(65536)
            continue
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLZeroReturnError:
            return received
        data = receive(sock, lambda data: data != b"", deadline - time.monotonic())
        if not data:
            return received
        incoming.write(data)
    raise TimeoutError(f"after {received!r}")


class _TLSCase(HAProxyCase):
    """
    Two backends behind HAProxy, with a test CA and a certificate it
    issued for localhost and 127.0.0.1.
    """

    def setUp(self) -> None:
        self.ca = CertificateAuthority.create(temporaryDirectory(self))
        self.leaf = self.ca.issue("server")
        self.endpoint = self.backendEndpoint()
        super().setUp()

    def backendEndpoint(self) -> str:
        """The backends' endpoint string (a C{haproxy:ssl:} one here)."""
        return (
            "haproxy:ssl:0:interface=127.0.0.1:loglines=1000"
            f":privateKey={self.leaf.key}:certKey={self.leaf.certificate}"
        )

    def assertEchoesOverTLS(self, port: int) -> None:
        """
        A TLS client of HAProxy's C{port} that verifies the certificate
        for localhost gets its line back, and a backend logs the client's
        own address.
        """
        sock = tlsConnect(self, ("127.0.0.1", port), self.ca)
        sock.sendall(b"encrypted\n")
        self.assertEqual(receive(sock, lambda data: b"\n" in data), b"encrypted\n")
        self.backendOf(sock)  # fails unless a backend logged sockName(sock)


class TerminationTests(_TLSCase):
    """
    TLS ended by HAProxy (a frontend added to the file), plain to sockplug.
    """

    def backendEndpoint(self) -> str:
        return PROXIED

    def test_echo(self) -> None:
        """A verifying TLS client's line comes back, and the backend logs
        the client's own address."""
        pem = Path(temporaryDirectory(self)) / "haproxy.pem"
        pem.write_text(
            Path(self.leaf.certificate).read_text() + Path(self.leaf.key).read_text()
        )
        self.startHAProxy(
            f"{self.config}\nfrontend sockplug-tls\n"
            f"    bind 127.0.0.1:{TLS_FRONTEND} ssl crt {pem}\n"
            "    default_backend sockplug\n",
            more=[TLS_FRONTEND],
        )
        self.assertEchoesOverTLS(self.ports[TLS_FRONTEND])


class PassThroughTests(_TLSCase):
    """
    TLS through HAProxy's TCP mode (the file unchanged) to C{haproxy:ssl:}
    backends: HAProxy sends the PROXY header, then the client's bytes.
    """

    def test_echo(self) -> None:
        """A verifying TLS client's line comes back, and the backend logs
        the client's own address."""
        self.startHAProxy()
        self.assertEchoesOverTLS(self.frontend)

    def test_halfClosed(self) -> None:
        """A TLS client's line comes back when its close_notify follows the
        line at once (in the same write), as socat and HAProxy send them."""
        self.startHAProxy()
        reply = sendThenCloseNotify(self, self.frontend, self.ca, b"last words\n")
        self.assertEqual(reply, b"last words\n")

    def test_healthChecksQuiet(self) -> None:
        """The file's health checks (a LOCAL header, no TLS) log nothing in
        C{haproxy:ssl:} backends, which HAProxy sees up."""
        self.assertQuiet(self.startHAProxy())


class FolderPassThroughTests(_TLSCase):
    """
    TLS through HAProxy's TCP mode to C{haproxy:tls:} backends, whose
    folder holds the root CA's certificate too.
    """

    def backendEndpoint(self) -> str:
        folder = temporaryDirectory(self)
        self.ca.issue("server", folder=folder)
        shutil.copy(self.ca.certificatePath, folder)
        return f"haproxy:tls:{folder}:port=0:interface=127.0.0.1:loglines=1000"

    def test_echo(self) -> None:
        """A verifying TLS client (asking for localhost by SNI) gets its
        line back, and the backend logs the client's own address."""
        self.startHAProxy()
        self.assertEchoesOverTLS(self.frontend)


class ReEncryptionTests(_TLSCase):
    """
    HAProxy's frontend plain, TLS from HAProxy to C{haproxy:ssl:} backends
    (C{ssl verify required ca-file} on the file's C{default-server}).
    """

    def serverOptions(self, checks: str) -> str:
        return withServerOptions(
            self.config,
            f"ssl verify required ca-file {self.ca.certificatePath}"
            f" verifyhost localhost {checks}",
        )

    def test_echo(self) -> None:
        """A plain client's line comes back over HAProxy's verified TLS, and
        the backend logs the client's own address."""
        self.startHAProxy(self.serverOptions("no-check-ssl"))
        sock = self.client()
        self.assertEchoes(sock, b"re-encrypted\n")
        self.backendOf(sock)

    def test_healthChecksQuiet(self) -> None:
        """With no-check-ssl, the checks (a LOCAL header, no TLS) log
        nothing in the backends, which HAProxy sees up."""
        self.assertQuiet(self.startHAProxy(self.serverOptions("no-check-ssl")))

    def test_handshakeChecks(self) -> None:
        """Without no-check-ssl, each check is a verified TLS handshake with
        sockplug after the LOCAL header, which HAProxy reports as L6OK."""
        haproxy = self.startHAProxy(self.serverOptions(""))
        haproxy.waitUntil("sockplug1=UP/L6OK sockplug2=UP/L6OK")

    def test_untrustedRefused(self) -> None:
        """A backend certificate that the ca-file's CA did not issue fails
        HAProxy's TLS checks: both servers go down."""
        other = CertificateAuthority.create(temporaryDirectory(self), "other CA")
        text = withServerOptions(
            self.config,
            f"ssl verify required ca-file {other.certificatePath} verifyhost localhost",
        )
        self.startHAProxy(text, until="sockplug1=DOWN sockplug2=DOWN")
