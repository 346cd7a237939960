"""
End-to-end tests of how the C{sockplug} client ends when its output goes
away (real pipes into a real C{head -1}) or when it is interrupted (a real
SIGINT, with a terminal for its input and output), run as a real process
against real twistd sockplug servers, on loopback.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import termios
import time

from twisted.trial.unittest import SynchronousTestCase

from tests.clientcommand import SOCKPLUG, TIMEOUT
from tests.harness import Server, socketPath, temporaryDirectory

TCP = "tcp:0:interface=127.0.0.1"

# "At once": the client must be gone this soon after its output has gone,
# or after the signal (it sat 10 minutes before).
AT_ONCE = 10.0


def killIfRunning(process: subprocess.Popen[bytes]) -> None:
    """Kill C{process} unless it has ended, and reap it."""
    if process.poll() is None:
        process.kill()
    process.wait(TIMEOUT)


def read(path: str) -> bytes:
    """The whole content of a file."""
    with open(path, "rb") as f:
        return f.read()


class _Case(SynchronousTestCase):
    def echo(self, spec: str = TCP) -> tuple[Server, str]:
        """An echo server over TCP, and the client string that reaches it."""
        server = Server.start(self, "--endpoint", spec)
        host, port = server.inet(server.endpoints[0])
        return server, f"tcp:host={host}:port={port}"

    def start(
        self, *args: str, stdin: int, stdout: int, stderr: int
    ) -> subprocess.Popen[bytes]:
        """Start C{sockplug ARGS}, killed when the test ends."""
        process = subprocess.Popen(
            [SOCKPLUG, *args], stdin=stdin, stdout=stdout, stderr=stderr
        )
        self.addCleanup(killIfRunning, process)
        return process

    def statusOf(self, process: subprocess.Popen[bytes]) -> int:
        """The exit status of C{process}, which must end within L{AT_ONCE}."""
        try:
            return process.wait(AT_ONCE)
        except subprocess.TimeoutExpired:
            self.fail(f"sockplug still running {AT_ONCE}s later")

    def errorFile(self) -> tuple[str, int]:
        """A file for a process's standard error: its path, and open for it."""
        path = os.path.join(temporaryDirectory(self), "stderr")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        self.addCleanup(os.close, fd)
        return path, fd


class OutputGoneTests(_Case):
    """The client ends quietly and at once when its output goes away."""

    def test_connectIntoHead(self) -> None:
        """
        C{seq 1 100000 | sockplug connect ... | head -1} ends once C{head}
        has its line: the client with status 141, as C{seq} would, saying
        nothing.
        """
        _, endpoint = self.echo()
        errPath, err = self.errorFile()
        seq = subprocess.Popen(["seq", "1", "100000"], stdout=subprocess.PIPE)
        self.addCleanup(killIfRunning, seq)
        assert seq.stdout is not None
        client = self.start(
            "connect",
            endpoint,
            stdin=seq.stdout.fileno(),
            stdout=subprocess.PIPE,
            stderr=err,
        )
        assert client.stdout is not None
        head = subprocess.Popen(
            ["head", "-1"], stdin=client.stdout, stdout=subprocess.PIPE
        )
        self.addCleanup(killIfRunning, head)
        seq.stdout.close()
        client.stdout.close()
        out, _ = head.communicate(timeout=TIMEOUT)
        self.assertEqual(out, b"1\n")
        self.assertEqual(self.statusOf(client), 141, read(errPath))
        self.assertEqual(read(errPath), b"")

    def test_sendIntoHead(self) -> None:
        """
        C{sockplug send ... | head -1}, with more reply than a pipe holds,
        ends with status 141 and no traceback.
        """
        _, endpoint = self.echo()
        errPath, err = self.errorFile()
        client = self.start(
            "send",
            "-n",
            endpoint,
            "a\n" * 60000,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
        )
        assert client.stdout is not None
        head = subprocess.Popen(
            ["head", "-1"], stdin=client.stdout, stdout=subprocess.PIPE
        )
        self.addCleanup(killIfRunning, head)
        client.stdout.close()
        out, _ = head.communicate(timeout=TIMEOUT)
        self.assertEqual(out, b"a\n")
        self.assertEqual(self.statusOf(client), 141, read(errPath))
        self.assertEqual(read(errPath), b"")

    def test_sendIntoFullDisk(self) -> None:
        """
        C{sockplug send ... >/dev/full} says in one line that it cannot
        write its output, and ends with status 1, without a traceback.
        """
        _, endpoint = self.echo()
        errPath, err = self.errorFile()
        with open("/dev/full", "wb") as full:
            client = self.start(
                "send",
                endpoint,
                "hello",
                stdin=subprocess.DEVNULL,
                stdout=full.fileno(),
                stderr=err,
            )
            status = self.statusOf(client)
        self.assertEqual(
            (status, read(errPath)),
            (
                1,
                b"sockplug: cannot write to standard output: No space left on device\n",
            ),
        )

    def test_connectIntoFullDisk(self) -> None:
        """
        C{sockplug connect ... >/dev/full} says in one line that it cannot
        write its output, and ends with status 1: a full disk is no reader
        that went away (it ended with status 141, saying nothing).
        """
        _, endpoint = self.echo()
        errPath, err = self.errorFile()
        with open("/dev/full", "wb") as full:
            client = self.start(
                "connect",
                endpoint,
                stdin=subprocess.PIPE,
                stdout=full.fileno(),
                stderr=err,
            )
            assert client.stdin is not None
            client.stdin.write(b"hello\n")
            client.stdin.close()
            status = self.statusOf(client)
        self.assertEqual(
            (status, read(errPath)),
            (
                1,
                b"sockplug: cannot write to standard output: No space left on device\n",
            ),
        )


class ClosedStreamTests(_Case):
    """
    The client started with standard input or output closed (C{<&-},
    C{>&-}) says so in one line, status 1, instead of a traceback.
    """

    def runClosed(self, *args: str, closed: int) -> tuple[int, bytes]:
        """Run C{sockplug ARGS} with C{closed} closed: its status and errors."""
        errPath, err = self.errorFile()
        # The shell's C{<&-} or C{>&-}, as a user would write it.
        client = subprocess.Popen(
            ["sh", "-c", f'exec "$0" "$@" {closed}>&-', SOCKPLUG, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        self.addCleanup(killIfRunning, client)
        return self.statusOf(client), read(errPath)

    def test_sendOutputClosed(self) -> None:
        """C{sockplug send} with its output closed says it has none."""
        _, endpoint = self.echo()
        self.assertEqual(
            self.runClosed("send", endpoint, "hi", closed=1),
            (
                1,
                b"sockplug: standard output is closed: give it one for the"
                b" replies (>/dev/null to throw them away)\n",
            ),
        )

    def test_connectOutputClosed(self) -> None:
        """C{sockplug connect} with its output closed says it has none."""
        _, endpoint = self.echo()
        status, errors = self.runClosed("connect", endpoint, closed=1)
        self.assertEqual((status, errors.count(b"\n")), (1, 1), errors)
        self.assertTrue(errors.startswith(b"sockplug: standard output is closed"))

    def test_connectInputClosed(self) -> None:
        """C{sockplug connect} with its input closed says it has none."""
        _, endpoint = self.echo()
        self.assertEqual(
            self.runClosed("connect", endpoint, closed=0),
            (
                1,
                b"sockplug: standard input is closed: give it the lines to"
                b" send (</dev/null for none)\n",
            ),
        )

    def test_sendOneWayOutputClosed(self) -> None:
        """
        C{sockplug send --no-reply}, which prints nothing, needs no output
        and no input: it sends, and succeeds.
        """
        _, endpoint = self.echo()
        for fd in (0, 1):
            self.assertEqual(
                self.runClosed("send", "--no-reply", endpoint, "hi", closed=fd),
                (0, b""),
            )


class InterruptTests(_Case):
    """Ctrl-C (SIGINT) and SIGTERM end the client quietly, as C{nc} ends."""

    def terminal(self) -> tuple[int, int]:
        """A terminal, without echo: its controlling side and its own."""
        controller, own = os.openpty()
        self.addCleanup(os.close, controller)
        attributes = termios.tcgetattr(own)
        attributes[3] &= ~termios.ECHO
        termios.tcsetattr(own, termios.TCSANOW, attributes)
        return controller, own

    def readUntil(self, fd: int, expected: bytes) -> bytes:
        """Read C{fd} until C{expected} has come, within L{TIMEOUT}."""
        got = b""
        deadline = time.monotonic() + TIMEOUT
        while expected not in got:
            left = deadline - time.monotonic()
            self.assertGreater(left, 0, f"{expected!r} did not come: {got!r}")
            if select.select([fd], [], [], left)[0]:
                got += os.read(fd, 4096)
        return got

    def test_ctrlCInteractive(self) -> None:
        """
        Ctrl-C in an interactive C{connect} ends it with status 130, saying
        nothing, and closes the connection cleanly.
        """
        server, endpoint = self.echo()
        controller, own = self.terminal()
        errPath, err = self.errorFile()
        client = self.start("connect", endpoint, stdin=own, stdout=own, stderr=err)
        os.close(own)
        os.write(controller, b"hi\n")
        self.readUntil(controller, b"hi\r\n")
        client.send_signal(signal.SIGINT)
        self.assertEqual(self.statusOf(client), 130, read(errPath))
        self.assertEqual(read(errPath), b"")
        server.waitForLineMatching(
            lambda line: "disconnected after" in line and "closed cleanly" in line,
            what="clean disconnection",
        )

    def test_sigterm(self) -> None:
        """SIGTERM ends C{connect} with status 143, saying nothing."""
        _, endpoint = self.echo()
        errPath, err = self.errorFile()
        client = self.start(
            "connect",
            endpoint,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
        )
        assert client.stdin is not None and client.stdout is not None
        client.stdin.write(b"hi\n")
        client.stdin.flush()
        self.assertEqual(self.readUntil(client.stdout.fileno(), b"hi\n"), b"hi\n")
        client.send_signal(signal.SIGTERM)
        self.assertEqual(self.statusOf(client), 143, read(errPath))
        self.assertEqual(read(errPath), b"")

    def test_ctrlCWhileRetrying(self) -> None:
        """Ctrl-C while waiting to retry ends with status 130, and no error."""
        errPath, err = self.errorFile()
        client = self.start(
            "connect",
            "--retry",
            "100",
            "--retry-delay",
            "0.2",
            f"unix:path={socketPath(self)}",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
        )
        deadline = time.monotonic() + TIMEOUT
        while b"retrying" not in read(errPath):
            self.assertLess(time.monotonic(), deadline, "no retrying line")
            time.sleep(0.05)
        client.send_signal(signal.SIGINT)
        self.assertEqual(self.statusOf(client), 130, read(errPath))
        lines = read(errPath).decode().splitlines()
        self.assertTrue(all("retrying in 0.2 seconds" in x for x in lines), lines)

    def test_ctrlCUnixgram(self) -> None:
        """
        Ctrl-C in a C{connect} over UNIX datagrams ends it with status 130,
        its temporary folder removed.
        """
        path = socketPath(self, "server.dgram")
        Server.start(self, "--endpoint", f"unixgram:{path}")
        folder = temporaryDirectory(self)
        controller, own = self.terminal()
        client = subprocess.Popen(
            [SOCKPLUG, "connect", f"unixgram:path={path}"],
            stdin=own,
            stdout=own,
            stderr=subprocess.PIPE,
            env={**os.environ, "TMPDIR": folder},
        )
        self.addCleanup(killIfRunning, client)
        os.close(own)
        os.write(controller, b"hi\n")
        self.readUntil(controller, b"hi\r\n")
        client.send_signal(signal.SIGINT)
        self.assertEqual(self.statusOf(client), 130)
        assert client.stderr is not None
        self.assertEqual(client.stderr.read(), b"")
        client.stderr.close()
        self.assertEqual(os.listdir(folder), [])
