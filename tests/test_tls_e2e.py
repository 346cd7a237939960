"""
End-to-end tests of TLS: real twistd sockplug servers on C{ssl:} and
C{tls:} endpoints serving each protocol, with certificates of a test CA
(L{tests.tlscerts}), talked to by Python's C{ssl}, by the C{sockplug}
client with verification on, and by C{openssl s_client}; on loopback.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import time

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.clientcommand import run
from tests.configured import ConfiguredServer, listener
from tests.dropins import REVERSE, dropins
from tests.harness import (
    IO_TIMEOUT,
    Server,
    connect,
    receive,
    receiveLine,
    receiveUntilClosed,
    sockName,
    temporaryDirectory,
)
from tests.tlscerts import (
    CertificateAuthority,
    Issued,
    clientHello,
    echoThrough,
    requireIPv6,
    tlsConnect,
)


def openssl(*args: str, data: bytes = b"") -> subprocess.CompletedProcess[str]:
    """Run Debian's C{openssl ARGS} with C{data} as its input, to its end."""
    if shutil.which("openssl") is None:
        raise SkipTest("openssl is not installed")
    completed = subprocess.run(
        ["openssl", *args], input=data, capture_output=True, timeout=30, check=False
    )
    return subprocess.CompletedProcess(
        completed.args,
        completed.returncode,
        completed.stdout.decode("utf-8", "replace"),
        completed.stderr.decode("utf-8", "replace"),
    )


class _TLSCase(SynchronousTestCase):
    """A test CA and a certificate for localhost in a temporary folder."""

    def setUp(self) -> None:
        self.ca = CertificateAuthority.create(temporaryDirectory(self))
        self.leaf = self.ca.issue("server")

    def serve(
        self, protocol: str, spec: str, env: dict[str, str] | None = None
    ) -> tuple[str, int]:
        """Start a server of C{protocol} on C{spec}; its address."""
        self.server = Server.start(self, "--endpoint", f"{protocol}@{spec}", env=env)
        return self.server.inet(spec)

    def assertLogClean(self) -> None:
        """The server logged no unhandled error and no traceback."""
        output = self.server.output()
        self.assertNotIn("Unhandled Error", output)
        self.assertNotIn("Traceback", output)


class SSLEndpointTests(_TLSCase):
    """C{ssl:} endpoints serve every protocol, checked by Python's C{ssl}."""

    def test_echoEveryByteValue(self) -> None:
        """echo sends back each of the 256 byte values over TLS."""
        sock = tlsConnect(self, self.serve("echo", self.leaf.ssl()), self.ca)
        sock.sendall(bytes(range(256)))
        received = receive(sock, lambda data: len(data) >= 256)
        self.assertEqual(received, bytes(range(256)))

    def test_echoLargeTransfer(self) -> None:
        """Eight MiB of random bytes come back through echo unchanged."""
        payload = os.urandom(8 << 20)
        sock = tlsConnect(self, self.serve("echo", self.leaf.ssl()), self.ca)
        self.assertTrue(echoThrough(sock, payload) == payload, "not the same bytes")

    def test_hello(self) -> None:
        """hello greets the peer by its address and answers its name."""
        sock = tlsConnect(self, self.serve("hello", self.leaf.ssl()), self.ca)
        greeting = f"Hello, {sockName(sock)}! Send me your name, one per line.\r\n"
        self.assertEqual(receiveLine(sock), greeting.encode())
        sock.sendall(b"World\n")
        self.assertEqual(receiveLine(sock), b"Hello, World!\n")

    def test_linePrint(self) -> None:
        """line-print prints a line received over TLS, with the peer."""
        spec = self.leaf.ssl()
        sock = tlsConnect(self, self.serve("line-print", spec), self.ca)
        sock.sendall(b"over tls\n")
        self.server.waitForLine(f"{spec} {sockName(sock)}: over tls")

    def test_thirdPartyProtocol(self) -> None:
        """A dropped-in plugin protocol serves over TLS as over TCP."""
        env = dropins(self, {"reverse": REVERSE})
        sock = tlsConnect(
            self, self.serve("reverse", self.leaf.ssl(), env=env), self.ca
        )
        sock.sendall(b"stressed\n")
        self.assertEqual(receiveLine(sock), b"desserts\n")

    def test_extraCertChain(self) -> None:
        """A certificate of an intermediate CA verifies with extraCertChain=."""
        chained = self.ca.intermediate("sub").issue("leaf")
        sock = tlsConnect(self, self.serve("echo", chained.ssl()), self.ca)
        sock.sendall(b"chained\n")
        self.assertEqual(receiveLine(sock), b"chained\n")

    def test_withoutChainUnverified(self) -> None:
        """Without extraCertChain=, the intermediate's certificate does not verify."""
        chained = self.ca.intermediate("sub").issue("leaf")
        unchained = Issued(chained.key, chained.certificate, None, chained.parsed)
        address = self.serve("echo", unchained.ssl())
        with self.assertRaises(ssl.SSLCertVerificationError):
            tlsConnect(self, address, self.ca)

    def test_IPv6(self) -> None:
        """ssl: on ::1 serves echo, its certificate verified for the address."""
        requireIPv6()
        address = self.serve("echo", self.leaf.ssl("::1"))
        self.assertEqual(address[0], "::1")
        sock = tlsConnect(self, address, self.ca, hostname="::1")
        sock.sendall(b"six\n")
        self.assertEqual(receiveLine(sock), b"six\n")


class TLSFolderTests(_TLSCase):
    """
    Twisted's C{tls:} endpoint: keys and certificates from a folder of PEM
    files, the certificate picked by the name the client asks for (SNI).
    """

    def setUp(self) -> None:
        super().setUp()
        self.pems = temporaryDirectory(self)
        sub = self.ca.intermediate("sub")  # its certificate found in the folder
        self.local = sub.issue("localhost", folder=self.pems)
        self.other = sub.issue("other", names=("other.example",), folder=self.pems)

    def spec(self) -> str:
        """The C{tls:} endpoint string of the folder, on 127.0.0.1."""
        return f"tls:{self.pems}:port=0:interface=127.0.0.1"

    def test_echo(self) -> None:
        """echo over tls: answers a client that verifies localhost's certificate."""
        sock = tlsConnect(self, self.serve("echo", self.spec()), self.ca)
        self.assertEqual(
            echoThrough(sock, bytes(range(256)) * 64), bytes(range(256)) * 64
        )

    def test_serverNameIndication(self) -> None:
        """
        Each client gets the certificate of the name it asks for (each
        verified for that name): localhost's, and other.example's.
        """
        address = self.serve("echo", self.spec())
        local = tlsConnect(self, address, self.ca, hostname="localhost")
        self.assertEqual(local.getpeercert(binary_form=True), self.local.der)
        other = tlsConnect(self, address, self.ca, hostname="other.example")
        self.assertEqual(other.getpeercert(binary_form=True), self.other.der)
        other.sendall(b"sni\n")
        self.assertEqual(receiveLine(other), b"sni\n")

    def test_rootCertificateInFolder(self) -> None:
        """
        A folder that also holds the root CA's certificate (as a full chain
        may) still serves: twistd starts, and echo answers.
        """
        shutil.copy(self.ca.certificatePath, os.path.join(self.pems, "root.pem"))
        sock = tlsConnect(self, self.serve("echo", self.spec()), self.ca)
        sock.sendall(b"root\n")
        self.assertEqual(receiveLine(sock), b"root\n")


class ClientVerificationTests(_TLSCase):
    """The C{sockplug} client checks the server's certificate."""

    def port(self, issued: Issued, protocol: str = "hello") -> int:
        """Serve C{protocol} with the certificate C{issued}; the port."""
        return self.serve(protocol, issued.ssl())[1]

    def assertRefused(
        self, result: subprocess.CompletedProcess[bytes], endpoint: str, why: str
    ) -> None:
        """
        Exit 1, one line naming the endpoint, a failed verification and
        C{why}, nothing served.
        """
        err = result.stderr.decode("utf-8", "replace")
        self.assertEqual(result.returncode, 1, err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertTrue(err.startswith("sockplug: "), err)
        self.assertIn("verif", err.lower())
        self.assertEqual(
            err, f"sockplug: connection to {endpoint!r} failed verification: {why}\n"
        )
        self.assertNotIn(b"Hello", result.stdout)

    def test_trusted(self) -> None:
        """With the CA in trustRoots=, hello's answer is printed."""
        endpoint = f"tls:localhost:{self.port(self.leaf)}:trustRoots={self.ca.roots}"
        result = run("send", endpoint, "World")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(b"Hello, World!", result.stdout.splitlines())

    def test_connectEcho(self) -> None:
        """Lines piped to C{connect} come back from echo over verified TLS."""
        port = self.port(self.leaf, "echo")
        endpoint = f"tls:127.0.0.1:{port}:trustRoots={self.ca.roots}"
        result = run("connect", endpoint, data=b"a\nb\n")
        self.assertEqual(
            (result.returncode, result.stdout), (0, b"a\nb\n"), result.stderr
        )

    def test_sslWithHostname(self) -> None:
        """An ssl: client string with hostname= and caCertsDir= verifies and works."""
        port = self.port(self.leaf)
        endpoint = (
            f"ssl:host=127.0.0.1:port={port}:hostname=localhost"
            f":caCertsDir={self.ca.roots}"
        )
        result = run("send", endpoint, "World")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(b"Hello, World!", result.stdout.splitlines())

    def test_systemTrustStore(self) -> None:
        """Without trustRoots=, the system's store does not know the test CA."""
        endpoint = f"tls:localhost:{self.port(self.leaf)}"
        self.assertRefused(
            run("send", endpoint, "x"),
            endpoint,
            "the server's certificate is not signed by a trusted authority"
            " ('sockplug test CA' is not in the system's trust store;"
            " give trustRoots=FOLDER of CA certificates)",
        )

    def test_wrongHostname(self) -> None:
        """A certificate for another name is refused."""
        other = self.ca.issue("other", names=("other.example",))
        endpoint = f"tls:localhost:{self.port(other)}:trustRoots={self.ca.roots}"
        self.assertRefused(
            run("send", endpoint, "x"),
            endpoint,
            "the server's certificate is not for 'localhost' (it names: other.example)",
        )

    def test_noNames(self) -> None:
        """
        A certificate of the trusted CA without subjectAltName is refused,
        by tls: and by ssl: with hostname=, whatever its common name.
        """
        port = self.port(self.ca.issue("bare", ("evil.example",), withNames=False))
        for endpoint in (
            f"tls:localhost:{port}:trustRoots={self.ca.roots}",
            f"ssl:host=127.0.0.1:port={port}:hostname=evil.example"
            f":caCertsDir={self.ca.roots}",
        ):
            self.assertRefused(
                run("send", endpoint, "World"),
                endpoint,
                "the server's certificate names no host (it has no"
                " subjectAltName; its common name 'evil.example' is not used)",
            )

    def test_expired(self) -> None:
        """An expired certificate is refused."""
        expired = self.ca.issue("old", expired=True)
        endpoint = f"tls:localhost:{self.port(expired)}:trustRoots={self.ca.roots}"
        end = expired.parsed.not_valid_after_utc
        self.assertRefused(
            run("send", endpoint, "x"),
            endpoint,
            f"the server's certificate has expired (on {end:%Y-%m-%d %H:%M:%S} UTC)",
        )

    def test_sslIPv6(self) -> None:
        """An ssl: client string reaches a server on ::1, verifying localhost."""
        requireIPv6()
        port = self.serve("hello", self.leaf.ssl("::1"))[1]
        endpoint = (
            f"ssl:host=\\:\\:1:port={port}:hostname=localhost"
            f":caCertsDir={self.ca.roots}"
        )
        result = run("send", endpoint, "World")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(b"Hello, World!", result.stdout.splitlines())

    def test_IPv6Literal(self) -> None:
        """A tls: client string names an IPv6 server by its escaped address."""
        requireIPv6()
        port = self.serve("hello", self.leaf.ssl("::1"))[1]
        endpoint = f"tls:\\:\\:1:{port}:trustRoots={self.ca.roots}"
        result = run("send", endpoint, "World")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(b"Hello, World!", result.stdout.splitlines())


class OpenSSLClientTests(_TLSCase):
    """C{openssl s_client}, an independent client, against an C{ssl:} server."""

    def setUp(self) -> None:
        super().setUp()
        # idle=1: the server closes, so that s_client ends after the replies.
        host, port = self.serve("hello", self.leaf.ssl() + ":idle=1")
        self.connectTo = f"{host}:{port}"

    def sClient(
        self, *args: str, data: bytes = b""
    ) -> subprocess.CompletedProcess[str]:
        """C{openssl s_client} to the server, asking for localhost."""
        return openssl(
            *("s_client", "-connect", self.connectTo, "-servername", "localhost"),
            *("-brief", *args),
            data=data,
        )

    def verified(
        self, *args: str, data: bytes = b""
    ) -> subprocess.CompletedProcess[str]:
        """L{sClient}, failing unless the certificate verifies for localhost."""
        return self.sClient(
            *("-verify_return_error", "-verify_hostname", "localhost"),
            *("-CAfile", self.ca.certificatePath, *args),
            data=data,
        )

    def test_verifies(self) -> None:
        """With the CA, s_client verifies the certificate for localhost."""
        result = self.verified()
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("Verification: OK", result.stderr)
        self.assertIn("Verified peername: localhost", result.stderr)

    def test_unknownCARefused(self) -> None:
        """Without the CA, s_client's verification fails."""
        result = self.sClient("-verify_return_error")
        self.assertNotEqual(result.returncode, 0, result.stderr)
        self.assertNotIn("Verification: OK", result.stderr)

    def test_talksToHello(self) -> None:
        """Through s_client, hello greets and answers."""
        result = self.verified("-ign_eof", data=b"World\n")
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.splitlines()
        self.assertIn("Hello, World!", lines)
        self.assertTrue(lines[0].startswith("Hello, 127.0.0.1:"), result.stdout)

    def test_negotiatesTLS13(self) -> None:
        """Left to choose, client and server agree on TLS 1.3."""
        self.assertIn("Protocol version: TLSv1.3", self.verified().stderr)

    def test_acceptsTLS12(self) -> None:
        """A TLS 1.2 client is served, and verifies the certificate."""
        result = self.verified("-tls1_2")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("Protocol version: TLSv1.2", result.stderr)

    def assertVersionRefused(self, option: str) -> None:
        """The server answers a client of this old version with an alert."""
        # SECLEVEL=0 lets this openssl offer the old version at all.
        result = self.sClient(option, "-cipher", "DEFAULT@SECLEVEL=0")
        self.assertNotEqual(result.returncode, 0, result.stderr)
        self.assertIn("alert protocol version", result.stderr)

    def test_refusesTLS10(self) -> None:
        """A TLS 1.0 client gets the server's "protocol version" alert."""
        self.assertVersionRefused("-tls1")

    def test_refusesTLS11(self) -> None:
        """A TLS 1.1 client gets the server's "protocol version" alert."""
        self.assertVersionRefused("-tls1_1")


class BadClientTests(_TLSCase):
    """
    Peers that do not speak TLS are closed; the server goes on serving the
    others and logs no unhandled error.
    """

    def setUp(self) -> None:
        super().setUp()
        # idle=2: bad peers are closed soon; the open client talks more often.
        self.address = self.serve("echo", self.leaf.ssl() + ":idle=2")
        self.other = tlsConnect(self, self.address, self.ca)

    def assertEchoes(self, sock: ssl.SSLSocket) -> None:
        """A line sent on C{sock} comes back."""
        sock.sendall(b"still\n")
        self.assertEqual(receiveLine(sock), b"still\n")

    def assertStillServing(self) -> None:
        """The open and a new TLS client are served; the log is clean."""
        self.assertEchoes(self.other)
        self.assertEchoes(tlsConnect(self, self.address, self.ca))
        self.assertLogClean()

    def assertClosedSoon(self, data: bytes) -> None:
        """
        A peer that sends C{data} is closed within the idle timeout, while
        the open client is served (and kept from idling).
        """
        sock = connect(self, self.address)
        sock.sendall(data)
        deadline = time.monotonic() + IO_TIMEOUT
        while True:
            self.assertEchoes(self.other)
            try:
                receiveUntilClosed(sock, timeout=0.2)
            except TimeoutError:
                self.assertLess(time.monotonic(), deadline, "the peer is still open")
            else:
                return

    def test_plainText(self) -> None:
        """A plain-text request is closed; others are still served."""
        self.assertClosedSoon(b"GET / HTTP/1.0\r\n\r\n")
        self.assertStillServing()

    def test_garbage(self) -> None:
        """Random bytes are closed; others are still served."""
        self.assertClosedSoon(os.urandom(4096))
        self.assertStillServing()

    def test_silent(self) -> None:
        """A peer that never starts the handshake is closed when idle."""
        self.assertClosedSoon(b"")
        self.assertStillServing()

    def test_stalledHandshake(self) -> None:
        """A peer that stops halfway through its ClientHello is closed when idle."""
        hello = clientHello()
        self.assertClosedSoon(hello[: len(hello) // 2])
        self.assertStillServing()

    def test_droppedMidHandshake(self) -> None:
        """A peer that leaves halfway through its ClientHello harms nothing."""
        hello = clientHello()
        sock = connect(self, self.address)
        sock.sendall(hello[: len(hello) // 2])
        peer = sockName(sock)
        sock.close()
        self.server.waitForLineMatching(lambda line: f" {peer} disconnected" in line)
        self.assertStillServing()


class RenewalTests(SynchronousTestCase):
    """A renewed certificate is served after SIGHUP, with C{--config}."""

    def test_renewedCertificateServed(self) -> None:
        """After the files are replaced and SIGHUP, new clients get the new one."""
        ca = CertificateAuthority.create(temporaryDirectory(self))
        old = ca.issue("server")
        spec = old.ssl()
        configured = ConfiguredServer(self, listener("tls", spec), spec)
        before = tlsConnect(self, configured.inet(spec), ca)
        self.assertEqual(before.getpeercert(binary_form=True), old.der)
        new = ca.issue("server")  # the same file names
        self.assertIn("tls (new socket)", configured.reloaded(listener("tls", spec)))
        after = tlsConnect(self, configured.inet(spec), ca)
        self.assertEqual(after.getpeercert(binary_form=True), new.der)
