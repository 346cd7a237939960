"""
End-to-end tests of a real C{twistd sockplug} process's C{haproxy:}
listeners at their edges: headers longer than sockplug reads.
"""

from __future__ import annotations

import contextlib
import socket
import struct

from twisted.trial.unittest import SynchronousTestCase

from tests.abusefixtures import waitForText
from tests.harness import (
    Server,
    connect,
    receiveLine,
    receiveUntilClosed,
    sockName,
)

PROXIED = "haproxy:tcp:0:interface=127.0.0.1"
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def sendQuietly(sock: socket.socket, data: bytes) -> None:
    """Send C{data}, unless the peer has already closed or reset."""
    with contextlib.suppress(ConnectionResetError, BrokenPipeError):
        sock.sendall(data)


class HeaderLengthTests(SynchronousTestCase):
    """
    An echo listener on C{haproxy:} sent headers longer than it reads.
    """

    def setUp(self) -> None:
        self.server = Server.start(self, "--endpoint", f"echo@{PROXIED}")
        self.address = self.server.inet(PROXIED)

    def assertStillServing(self) -> None:
        """A client with a proper header is echoed."""
        sock = connect(self, self.address)
        sock.sendall(b"PROXY TCP4 192.0.2.7 127.0.0.1 5555 80\r\nstill here\n")
        self.assertEqual(receiveLine(sock), b"still here\n")

    def test_hugeV1Closed(self) -> None:
        """A 60 KB v1 header line, then a line of data, is closed unanswered,
        with a log line saying why; the server goes on serving."""
        sock = connect(self, self.address)
        peer = sockName(sock)
        header = b"PROXY TCP4 192.0.2.7 127.0.0.1 5555 80 " + b"x" * 60_000
        sendQuietly(sock, header + b"\r\nping\n")
        self.assertEqual(receiveUntilClosed(sock), b"")
        waitForText(
            self.server,
            f"] {peer}: bad PROXY header (a v1 header longer than 107 bytes,"
            " the most the specification allows); closing",
        )
        self.assertStillServing()

    def test_longV2Closed(self) -> None:
        """A v2 header that says it is 60 KB long is closed on its first 16
        bytes, with a log line saying why; the server goes on serving."""
        sock = connect(self, self.address)
        peer = sockName(sock)
        sendQuietly(sock, V2_SIGNATURE + b"\x21\x11" + struct.pack("!H", 60_000))
        self.assertEqual(receiveUntilClosed(sock), b"")
        waitForText(
            self.server,
            f"] {peer}: bad PROXY header (a v2 header of 60016 bytes, more than"
            " the 4096 sockplug accepts); closing",
        )
        self.assertStillServing()
