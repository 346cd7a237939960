"""
End-to-end tests of TLS clients that send their last data and their
close_notify together, as C{socat} does at the end of its input: real
twistd sockplug servers on C{ssl:} and C{tls:} endpoints still deliver
their replies (Twisted 26.10's own TLS layer lost them; see
L{sockplug.endpoints._tls}). C{haproxy:ssl:} is checked the same way in
L{tests.test_haproxytls_e2e}.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.harness import IO_TIMEOUT, Server, temporaryDirectory
from tests.tlscerts import CertificateAuthority


def socat(address: str, data: bytes) -> subprocess.CompletedProcess[bytes]:
    """
    Run C{socat - ADDRESS} with C{data} as its input, to its end; after
    the end of its input it waits up to L{IO_TIMEOUT} seconds for the
    server's end.
    """
    if shutil.which("socat") is None:
        raise SkipTest("socat is not installed (Debian package socat)")
    return subprocess.run(
        ["socat", "-t", str(IO_TIMEOUT), "-", address],
        input=data,
        capture_output=True,
        timeout=IO_TIMEOUT * 3,
        check=False,
    )


class SocatTests(SynchronousTestCase):
    """
    C{socat} sends its input over TLS, verifying the server's certificate
    with the test CA, then its close_notify, and prints the replies.
    """

    def setUp(self) -> None:
        self.ca = CertificateAuthority.create(temporaryDirectory(self))

    def talk(
        self, spec: str, data: bytes, protocol: str = "echo"
    ) -> subprocess.CompletedProcess[bytes]:
        """
        Send C{data} with socat to a server of C{protocol} on C{spec}; the
        server must log no traceback.
        """
        server = Server.start(self, "--endpoint", f"{protocol}@{spec}")
        self.addCleanup(
            lambda: self.assertNotIn("Traceback", server.output(), server.output())
        )
        host, port = server.inet(spec)
        return socat(f"OPENSSL:{host}:{port},cafile={self.ca.certificatePath}", data)

    def assertEchoed(self, spec: str, line: bytes) -> None:
        """echo on C{spec} sends C{line} back to socat, which ends cleanly."""
        result = self.talk(spec, line)
        stderr = result.stderr.decode("utf-8", "replace")
        self.assertEqual((result.returncode, result.stdout), (0, line), stderr)

    def test_ssl(self) -> None:
        """echo on C{ssl:} sends back the line that came with the close_notify."""
        self.assertEchoed(self.ca.issue("server").ssl(), b"hello\n")

    def test_tlsFolder(self) -> None:
        """echo on C{tls:} sends back the line that came with the close_notify."""
        folder = temporaryDirectory(self)
        self.ca.issue("server", folder=folder)
        self.assertEchoed(f"tls:{folder}:port=0:interface=127.0.0.1", b"hello\n")

    def test_hello(self) -> None:
        """hello's greeting and its answer to the last line both arrive."""
        result = self.talk(self.ca.issue("server").ssl(), b"World\n", "hello")
        lines = result.stdout.splitlines()
        self.assertEqual(
            (result.returncode, len(lines), lines[-1:]), (0, 2, [b"Hello, World!"])
        )
        self.assertTrue(lines[0].startswith(b"Hello, 127.0.0.1:"), result.stdout)

    def test_largeReply(self) -> None:
        """
        Half a MiB of random bytes comes back whole: the last of it, held
        by the TLS layer when the close_notify came, is not lost.
        """
        payload = os.urandom(512 << 10)
        result = self.talk(self.ca.issue("server").ssl(), payload)
        self.assertEqual(
            (result.returncode, len(result.stdout)), (0, len(payload)), result.stderr
        )
        self.assertTrue(result.stdout == payload, "not the same bytes")
