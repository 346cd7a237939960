"""
End-to-end tests of a listener's defences against a real twistd sockplug
process: what one connection may do, its line length (C{maxline=}) and its
idle time (C{idle=}).
"""

from __future__ import annotations

import socket
import time

from twisted.trial.unittest import SynchronousTestCase

from tests.harness import Server, connect, receive, receiveLine, sockName
from tests.limitsfixtures import TCP, closedAtOnce, roundTrip, waitForMessage


def closedAfter(sock: socket.socket, timeout: float) -> float | None:
    """
    How many seconds until the peer closes (ignoring what it sends), or
    L{None} if it is still open after C{timeout}.
    """
    start = time.monotonic()
    deadline = start + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        sock.settimeout(remaining)
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - start
        except TimeoutError:
            return None
        except ConnectionResetError:
            return time.monotonic() - start
    return None


class LinePrintLengthTests(SynchronousTestCase):
    """
    line-print with maxline=1024: a longer line closes the connection and
    is not printed at all.
    """

    def setUp(self) -> None:
        self.endpoint = TCP + ":maxline=1024"
        self.server = Server.start(self, "--endpoint", "line-print@" + self.endpoint)
        self.address = self.server.inet(self.endpoint)

    def printed(self, sock: socket.socket) -> list[str]:
        """What has been printed for C{sock}, without the prefix."""
        prefix = f"{self.endpoint} {sockName(sock)}: "
        return [line[len(prefix) :] for line in self.server.linesStartingWith(prefix)]

    def tooLong(self, sock: socket.socket, limit: int = 1024) -> str:
        """The log line about C{sock}'s over-long line."""
        return (
            f"{self.endpoint} {sockName(sock)} sent a line longer than {limit}"
            " bytes; closing the connection"
        )

    def test_lineAtBoundPrinted(self) -> None:
        """A line of exactly 1024 bytes is printed and the connection stays."""
        sock = connect(self, self.address)
        sock.sendall(b"a" * 1024 + b"\nnext\n")
        self.server.waitForLine(f"{self.endpoint} {sockName(sock)}: next")
        self.assertEqual(self.printed(sock), ["a" * 1024, "next"])
        self.assertFalse(closedAtOnce(sock, 0.3))

    def test_longerLineCloses(self) -> None:
        """A line of 1025 bytes closes the connection with a log line; the
        lines before it are printed, nothing of it or after it is."""
        sock = connect(self, self.address)
        sock.sendall(b"before\n" + b"x" * 1025 + b"\nafter\n")
        self.assertTrue(closedAtOnce(sock))
        waitForMessage(self.server, self.tooLong(sock).__eq__)
        waitForMessage(self.server, lambda t: f"{sockName(sock)} disconn" in t)
        self.assertEqual(self.printed(sock), ["before"])
        self.assertNotIn("xxxx", self.server.stdout())

    def test_unterminatedLongLineNotPrinted(self) -> None:
        """An over-long line still without LF, sent in two parts, closes the
        connection and is not printed, not even when the connection ends."""
        sock = connect(self, self.address)
        sock.sendall(b"first\n" + b"y" * 600)
        self.server.waitForLine(f"{self.endpoint} {sockName(sock)}: first")
        sock.sendall(b"y" * 600)
        self.assertTrue(closedAtOnce(sock))
        waitForMessage(self.server, self.tooLong(sock).__eq__)
        waitForMessage(self.server, lambda t: f"{sockName(sock)} disconn" in t)
        self.assertEqual(self.printed(sock), ["first"])
        self.assertNotIn("yyyy", self.server.stdout())

    def test_newClientServedAfter(self) -> None:
        """After closing a client for its long line, the server prints the
        lines of a new client."""
        first = connect(self, self.address)
        first.sendall(b"z" * 2000 + b"\n")
        self.assertTrue(closedAtOnce(first))
        second = connect(self, self.address)
        second.sendall(b"served\n")
        self.server.waitForLine(f"{self.endpoint} {sockName(second)}: served")

    def test_defaultBound(self) -> None:
        """Without maxline=, a line of 65536 bytes is printed and one of
        65537 closes the connection."""
        server = Server.start(self, "--endpoint", "line-print@" + TCP)
        sock = connect(self, server.inet(TCP))
        prefix = f"{TCP} {sockName(sock)}: "
        sock.sendall(b"a" * 65536 + b"\n" + b"b" * 65537 + b"\n")
        self.assertTrue(closedAtOnce(sock, 5.0))
        waitForMessage(
            server,
            f"{TCP} {sockName(sock)} sent a line longer than 65536 bytes;"
            " closing the connection".__eq__,
        )
        self.assertEqual(server.linesStartingWith(prefix), [prefix + "a" * 65536])
        self.assertNotIn("bbbb", server.stdout())


class HelloLengthTests(SynchronousTestCase):
    """
    hello with maxline=1024: an over-long line gets no answer and closes
    the connection.
    """

    def setUp(self) -> None:
        self.endpoint = TCP + ":maxline=1024"
        self.server = Server.start(self, "--endpoint", "hello@" + self.endpoint)
        self.address = self.server.inet(self.endpoint)

    def test_longLineNotAnswered(self) -> None:
        """The lines before an over-long one are answered, it is not, and the
        connection closes with a log line."""
        sock = connect(self, self.address)
        greeting = receiveLine(sock)
        sock.sendall(b"Alice\n" + b"B" * 1025 + b"\nCarol\n")
        self.assertEqual(receive(sock), b"Hello, Alice!\n")
        self.assertTrue(greeting.startswith(b"Hello, 127.0.0.1:"))
        waitForMessage(
            self.server,
            f"{self.endpoint} {sockName(sock)} sent a line longer than 1024"
            " bytes; closing the connection".__eq__,
        )

    def test_newClientAnswered(self) -> None:
        """After closing a client for its long line, the server answers a
        new client."""
        first = connect(self, self.address)
        receiveLine(first)
        first.sendall(b"B" * 1025)
        self.assertEqual(receive(first), b"")
        second = connect(self, self.address)
        receiveLine(second)
        self.assertEqual(roundTrip(second, b"Dave\n"), b"Hello, Dave!\n")


class IdleTests(SynchronousTestCase):
    """
    idle=: a connection without traffic either way is closed.
    """

    def test_silentClosed(self) -> None:
        """With idle=1 a silent connection is closed between 0.9 and 1.5 s
        after it opened, with a log line."""
        endpoint = TCP + ":idle=1"
        server = Server.start(self, "--endpoint", endpoint)
        sock = connect(self, server.inet(endpoint))
        after = closedAfter(sock, 3.0)
        self.assertIsNotNone(after, "still open after 3 s")
        assert after is not None
        self.assertTrue(0.9 <= after <= 1.5, f"closed after {after:.3f}s")
        waitForMessage(
            server,
            f"{endpoint} {sockName(sock)} idle for 1s; closing".__eq__,
            timeout=2.0,
        )

    def test_activeKeptOpen(self) -> None:
        """With idle=1 a connection echoing a byte every 0.3 s for 3 s stays
        open."""
        endpoint = TCP + ":idle=1"
        server = Server.start(self, "--endpoint", endpoint)
        sock = connect(self, server.inet(endpoint))
        end = time.monotonic() + 3.0
        for count in range(20):
            if time.monotonic() >= end:
                break
            self.assertEqual(roundTrip(sock, b"%d\n" % count), b"%d\n" % count)
            time.sleep(0.3)
        self.assertEqual(roundTrip(sock, b"last\n"), b"last\n")
        self.assertNotIn(" idle for ", server.stdout())

    def test_defaultKeepsOpen(self) -> None:
        """Without idle=, a silent connection is still open and served after
        3 s."""
        server = Server.start(self, "--endpoint", TCP)
        sock = connect(self, server.inet(TCP))
        self.assertIsNone(closedAfter(sock, 3.0))
        self.assertEqual(roundTrip(sock), b"ping\n")
