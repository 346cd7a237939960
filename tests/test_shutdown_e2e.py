"""
End-to-end tests of graceful shutdown: on SIGTERM a real twistd sockplug
process stops listening at once, lets open connections finish for up to
C{--shutdown-timeout} seconds, then closes them (and aborts, a second later,
those that do not close).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

from twisted.trial.unittest import SynchronousTestCase

from tests.harness import (
    IO_TIMEOUT,
    Server,
    connect,
    receive,
    receiveLine,
    runTwistd,
    socketPath,
    sockName,
)

TCP = "tcp:0:interface=127.0.0.1"
# How a process ended by SIGTERM ends (see test_lifecycle_e2e.SignalTests).
SIGTERM_STATUSES = (-signal.SIGTERM, 128 + signal.SIGTERM)
# A grace period that no test here waits out: a stop before it has passed
# was brought about by the connections closing, not by the timeout.
LONG_GRACE = 10
# The timeout of the tests that do wait it out.
TIMEOUT = 2
# Listening stops "at once": the server says it is waiting for connections
# well within this after SIGTERM.
PROMPTLY = 2.0
# A stop that follows the last connection closing, or the timeout, comes
# within this much more.
SLACK = 3.0
# With --shutdown-timeout 0, connections are closed gently at once; the
# abort of those that do not close comes a second later, so a stop before
# then was the gentle close.
AT_ONCE = 1.0


def waitForText(server: Server, text: str, timeout: float = IO_TIMEOUT) -> None:
    """
    Wait until C{text} appears in a line of the server's standard output.
    """
    server.waitForLineMatching(lambda line: text in line, timeout, repr(text))


def terminate(server: Server) -> float:
    """
    Send SIGTERM to the server; return when it was sent.
    """
    server.process.send_signal(signal.SIGTERM)
    return time.monotonic()


def waitForExit(server: Server, timeout: float) -> int:
    """
    Wait for the server to end, within C{timeout} seconds; return its status.
    """
    try:
        return server.process.wait(timeout)
    except subprocess.TimeoutExpired:
        server.kill()
        raise AssertionError(
            f"still running {timeout}s later\n--- twistd output ---\n" + server.output()
        ) from None


def openEchoConnection(testCase: SynchronousTestCase, server: Server) -> socket.socket:
    """
    A connection to the server's echo listener on L{TCP}, known to be
    served (one line has been echoed on it).
    """
    sock = connect(testCase, server.inet(TCP))
    sock.sendall(b"before\n")
    testCase.assertEqual(receiveLine(sock), b"before\n")
    return sock


class GracePeriodTests(SynchronousTestCase):
    """
    During the grace period, listening has stopped, and an open connection
    is still served until it closes, which ends the process.
    """

    def setUp(self) -> None:
        self.unix = socketPath(self, "stream.sock")
        self.unixgram = socketPath(self, "dgram.sock")
        self.server = Server.start(
            self,
            *("--shutdown-timeout", str(LONG_GRACE)),
            *("-e", TCP),
            *("-e", "unix:" + self.unix),
            *("-e", "unixgram:" + self.unixgram),
        )
        self.client = openEchoConnection(self, self.server)

    def terminate(self) -> float:
        """
        Send SIGTERM, and wait (not long) until the server says it is
        waiting for the open connection.
        """
        sent = terminate(self.server)
        waitForText(
            self.server,
            f"stopping: waiting up to {LONG_GRACE}s for 1 open connection",
            PROMPTLY,
        )
        return sent

    def test_newTCPConnectionsRefused(self) -> None:
        """A new TCP connection is refused while an old one is still open."""
        self.terminate()
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(probe.close)
        probe.settimeout(IO_TIMEOUT)
        self.assertRaises(ConnectionRefusedError, probe.connect, self.server.inet(TCP))
        self.assertIsNone(self.server.process.poll())

    def test_newUNIXConnectionsRefused(self) -> None:
        """A new UNIX stream connection fails while an old one is still open."""
        self.terminate()
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(probe.close)
        probe.settimeout(IO_TIMEOUT)
        self.assertRaises(
            (FileNotFoundError, ConnectionRefusedError), probe.connect, self.unix
        )
        self.assertIsNone(self.server.process.poll())

    def test_openConnectionStillEchoed(self) -> None:
        """An open connection that keeps talking is echoed through the grace
        period."""
        self.terminate()
        echoed = []
        for i in range(5):
            line = b"during %d\n" % i
            self.client.sendall(line)
            echoed.append(receiveLine(self.client) == line)
            time.sleep(0.2)
        self.assertEqual(echoed, [True] * 5)
        self.assertIsNone(self.server.process.poll())

    def test_waitsForOpenConnection(self) -> None:
        """The process is still running a second after SIGTERM while a
        connection is open."""
        self.terminate()
        time.sleep(1.0)
        self.assertIsNone(self.server.process.poll())

    def test_exitsOnceLastConnectionCloses(self) -> None:
        """The process ends soon after the last connection closes, well
        before the timeout."""
        sent = self.terminate()
        self.client.close()
        closed = time.monotonic()
        waitForExit(self.server, LONG_GRACE + SLACK)
        ended = time.monotonic()
        self.assertLess(ended - closed, SLACK)
        self.assertLess(ended - sent, LONG_GRACE / 2)
        self.assertNotIn("stopping: closing", self.server.stdout())

    def test_exitStatus(self) -> None:
        """A stop after a grace period ends as a plain SIGTERM stop does."""
        self.terminate()
        self.client.close()
        self.assertIn(waitForExit(self.server, LONG_GRACE + SLACK), SIGTERM_STATUSES)

    def test_unixSocketRemovedAtOnce(self) -> None:
        """The UNIX stream socket file is gone during the grace period."""
        self.assertTrue(os.path.lexists(self.unix))
        self.terminate()
        self.assertFalse(os.path.lexists(self.unix))

    def test_unixgramSocketRemovedAtOnce(self) -> None:
        """The UNIX datagram socket file is gone during the grace period."""
        self.assertTrue(os.path.lexists(self.unixgram))
        self.terminate()
        self.assertFalse(os.path.lexists(self.unixgram))

    def test_nothingLeftBehind(self) -> None:
        """The sockets' folders hold nothing (no socket, no lock file) once the
        process has ended."""
        self.terminate()
        self.client.close()
        waitForExit(self.server, LONG_GRACE + SLACK)
        leftovers = os.listdir(os.path.dirname(self.unix)) + os.listdir(
            os.path.dirname(self.unixgram)
        )
        self.assertEqual(leftovers, [])


class NothingOpenTests(SynchronousTestCase):
    """
    With no connection open, nothing holds the stop up.
    """

    def test_datagramListenersDoNotWait(self) -> None:
        """A process with only datagram listeners (and a long grace period)
        ends at once."""
        unixgram = "unixgram:" + socketPath(self)
        udp = "udp:0:interface=127.0.0.1"
        server = Server.start(
            self, "--shutdown-timeout", str(LONG_GRACE), "-e", udp, "-e", unixgram
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.sendto(b"ping", server.inet(udp))
        sent = terminate(server)
        self.assertIn(waitForExit(server, LONG_GRACE + SLACK), SIGTERM_STATUSES)
        self.assertLess(time.monotonic() - sent, SLACK)

    def test_closedConnectionsDoNotWait(self) -> None:
        """A process whose connections have all closed ends at once."""
        server = Server.start(self, "--shutdown-timeout", str(LONG_GRACE), "-e", TCP)
        openEchoConnection(self, server).close()
        waitForText(server, " disconnected after ")
        sent = terminate(server)
        waitForExit(server, LONG_GRACE + SLACK)
        self.assertLess(time.monotonic() - sent, SLACK)
        self.assertNotIn("stopping: waiting", server.stdout())


class ShutdownTimeoutTests(SynchronousTestCase):
    """
    A connection still open at the timeout is closed then.
    """

    def setUp(self) -> None:
        self.server = Server.start(self, "--shutdown-timeout", str(TIMEOUT), "-e", TCP)
        self.client = openEchoConnection(self, self.server)

    def test_exitAtTimeout(self) -> None:
        """The process ends at the timeout, not before, and not long after."""
        sent = terminate(self.server)
        waitForExit(self.server, TIMEOUT + SLACK + IO_TIMEOUT)
        elapsed = time.monotonic() - sent
        self.assertGreaterEqual(elapsed, TIMEOUT)
        self.assertLess(elapsed, TIMEOUT + SLACK)

    def test_exitStatus(self) -> None:
        """A stop at the timeout ends as a plain SIGTERM stop does."""
        terminate(self.server)
        self.assertIn(
            waitForExit(self.server, TIMEOUT + SLACK + IO_TIMEOUT), SIGTERM_STATUSES
        )

    def test_connectionClosedAtTimeout(self) -> None:
        """The client sees its connection end at the timeout, cleanly."""
        sent = terminate(self.server)
        rest = receive(self.client, None, TIMEOUT + SLACK + IO_TIMEOUT)
        elapsed = time.monotonic() - sent
        self.assertEqual(rest, b"")
        self.assertGreaterEqual(elapsed, TIMEOUT)
        self.assertLess(elapsed, TIMEOUT + SLACK)

    def test_closeLogged(self) -> None:
        """Closing the connection at the timeout is logged."""
        terminate(self.server)
        waitForExit(self.server, TIMEOUT + SLACK + IO_TIMEOUT)
        self.assertIn("stopping: closing 1 connection still open", self.server.stdout())


class StuckConnectionTests(SynchronousTestCase):
    """
    A connection that cannot close gently (its peer reads nothing, so the
    replies queued for it never go) is aborted a second after the timeout.
    """

    def setUp(self) -> None:
        self.server = Server.start(self, "--shutdown-timeout", str(TIMEOUT), "-e", TCP)
        self.client = openEchoConnection(self, self.server)
        self.fill(self.client)

    def fill(self, sock: socket.socket) -> None:
        """
        Send until nothing more can be sent: the server has stopped reading,
        as its queue towards a client that reads nothing is full.
        """
        sock.setblocking(False)
        chunk = b"x" * 65536
        deadline = time.monotonic() + IO_TIMEOUT
        refusals = 0
        for _ in range(10_000):
            try:
                sock.send(chunk)
            except BlockingIOError:
                refusals += 1
                if refusals >= 5:
                    return
                time.sleep(0.1)
            else:
                refusals = 0
            if time.monotonic() > deadline:
                break
        self.fail("the server never stopped reading from a client that reads nothing")

    def test_exitSoonAfterTimeout(self) -> None:
        """The process ends after the timeout and the second more the
        connection was given to close, and not long after that."""
        sent = terminate(self.server)
        waitForExit(self.server, TIMEOUT + SLACK + IO_TIMEOUT)
        elapsed = time.monotonic() - sent
        self.assertGreaterEqual(elapsed, TIMEOUT + 1.0)
        self.assertLess(elapsed, TIMEOUT + SLACK)

    def test_abortLogged(self) -> None:
        """Aborting the connection that did not close is logged."""
        terminate(self.server)
        waitForExit(self.server, TIMEOUT + SLACK + IO_TIMEOUT)
        self.assertIn(
            "stopping: aborting 1 connection still open", self.server.stdout()
        )


class LinePrintShutdownTests(SynchronousTestCase):
    """
    line-print prints the unterminated last line of a connection closed by
    the shutdown.
    """

    def assertPartialLinePrinted(self, endpoint: str, timeout: int) -> None:
        """
        A client of line-print on C{endpoint} sends a line and part of
        another; after a stop with C{--shutdown-timeout timeout}, both have
        been printed.
        """
        server = Server.start(
            self, "--shutdown-timeout", str(timeout), "-e", "line-print@" + endpoint
        )
        sock = connect(self, server.addresses[endpoint])
        prefix = f"{endpoint} {sockName(sock)}: "
        sock.sendall(b"complete\npartial \xff")
        server.waitForLine(prefix + "complete")
        terminate(server)
        waitForExit(server, timeout + SLACK + IO_TIMEOUT)
        self.assertEqual(
            server.linesStartingWith(prefix),
            [prefix + "complete", prefix + "partial \\xff"],
        )

    def test_tcpAtTimeout(self) -> None:
        """The partial line of a TCP connection closed at the timeout is
        printed."""
        self.assertPartialLinePrinted(TCP, 1)

    def test_unixAtTimeout(self) -> None:
        """The partial line of a UNIX connection closed at the timeout is
        printed."""
        self.assertPartialLinePrinted("unix:" + socketPath(self), 1)

    def test_tcpAtZeroTimeout(self) -> None:
        """The partial line of a TCP connection closed at once is printed."""
        self.assertPartialLinePrinted(TCP, 0)


class ZeroTimeoutTests(SynchronousTestCase):
    """
    --shutdown-timeout 0 closes open connections at once.
    """

    def setUp(self) -> None:
        self.server = Server.start(self, "--shutdown-timeout", "0", "-e", TCP)
        self.client = openEchoConnection(self, self.server)

    def test_exitsAtOnce(self) -> None:
        """The process ends at once, before the abort stage a second later."""
        sent = terminate(self.server)
        self.assertIn(waitForExit(self.server, SLACK + IO_TIMEOUT), SIGTERM_STATUSES)
        self.assertLess(time.monotonic() - sent, AT_ONCE)

    def test_connectionClosedAtOnce(self) -> None:
        """The client sees its connection end cleanly at once."""
        sent = terminate(self.server)
        self.assertEqual(receive(self.client, None, SLACK + IO_TIMEOUT), b"")
        self.assertLess(time.monotonic() - sent, AT_ONCE)
        self.assertNotIn("stopping: aborting", self.server.stdout())


class ShutdownTimeoutOptionTests(SynchronousTestCase):
    """
    The value of --shutdown-timeout is checked.
    """

    def assertRefused(self, value: str) -> None:
        """
        twistd ends with status 1 and one line on stderr naming the option
        and the value, without a traceback or starting to serve.
        """
        result = runTwistd(self, "--shutdown-timeout", value, "-e", TCP)
        self.assertEqual(result.code, 1, result.output)
        lines = result.stderr.splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertTrue(lines[0].startswith("twistd sockplug: "), lines[0])
        self.assertIn(f"--shutdown-timeout {value!r}", lines[0])
        self.assertNotIn("Traceback", result.output)
        self.assertNotIn("listening on", result.output)

    def test_negative(self) -> None:
        """A negative number of seconds is refused."""
        self.assertRefused("-1")

    def test_notANumber(self) -> None:
        """Text that is not a number is refused."""
        self.assertRefused("soon")

    def test_empty(self) -> None:
        """An empty value is refused."""
        self.assertRefused("")

    def test_tooLarge(self) -> None:
        """More than a day is refused."""
        self.assertRefused("86401")

    def test_nan(self) -> None:
        """nan, which compares false with every bound, is refused."""
        self.assertRefused("nan")

    def test_infinity(self) -> None:
        """inf is refused."""
        self.assertRefused("inf")

    def test_largestAccepted(self) -> None:
        """A day, the largest value, is taken; with nothing open, the stop is
        still immediate."""
        server = Server.start(self, "--shutdown-timeout", "86400", "-e", TCP)
        sent = terminate(server)
        self.assertIn(waitForExit(server, SLACK + IO_TIMEOUT), SIGTERM_STATUSES)
        self.assertLess(time.monotonic() - sent, SLACK)
