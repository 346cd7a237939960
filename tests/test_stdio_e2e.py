"""
End-to-end tests of C{stdio:}, sockplug's inetd mode: a real
C{twistd -n sockplug --endpoint stdio:} serving one connection on its
standard input and output (pipes, a socket as inetd gives one, socat's
C{EXEC:}).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.configured import ConfiguredServer, listener, tcp
from tests.harness import (
    IO_TIMEOUT,
    STOP_TIMEOUT,
    TWISTD,
    connect,
    receive,
    receiveUntilClosed,
    temporaryDirectory,
)

_TCP = "tcp:0:interface=127.0.0.1"
_LISTENING = re.compile(r"listening on tcp:\S+ \(127\.0\.0\.1:(\d+)\)")


def _command(*args: str) -> list[str]:
    return [TWISTD, "-n", "--pidfile=", "sockplug", *args]


def _waitFor(read: object, text: str, process: subprocess.Popen[bytes]) -> str:
    """
    Wait until C{read()} holds C{text}, or fail once the process ended or
    after L{IO_TIMEOUT} seconds; return what was read.
    """
    deadline = time.monotonic() + IO_TIMEOUT
    while True:
        seen: str = read()  # type: ignore[operator]
        if text in seen:
            return seen
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{text!r} never came; got:\n{seen}")
        time.sleep(0.02)


class PipesTests(SynchronousTestCase):
    """
    C{stdio:} over pipes, as a shell runs it.
    """

    def _serve(self, protocol: str, data: bytes) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            _command("--endpoint", "stdio:", "--protocol", protocol),
            cwd=temporaryDirectory(self),
            input=data,
            capture_output=True,
            timeout=30,
            check=False,
        )

    def test_outputIsTheProtocolsAlone(self) -> None:
        """
        Standard output carries exactly what echo sends back, however
        much, and nothing of the log; the log is on standard error, naming
        the peer C{stdio}; the process exits 0 once its input ends.
        """
        data = b"hello\nworld\n" + os.urandom(300_000)
        result = self._serve("echo", data)
        stderr = result.stderr.decode("utf-8", "replace")
        self.assertEqual((result.returncode, result.stdout == data), (0, True), stderr)
        self.assertIn("stdio: stdio connected", stderr)
        self.assertIn("echo listening on stdio: (stdio)", stderr)
        self.assertIn("stdio: closed: nothing left to serve, stopping", stderr)
        self.assertNotIn("PipeAddress", stderr)

    def test_hello(self) -> None:
        """
        hello greets the peer as C{stdio}, on standard output alone.
        """
        result = self._serve("hello", b"bob\n")
        self.assertEqual(
            (result.returncode, result.stdout),
            (0, b"Hello, stdio! Send me your name, one per line.\r\nHello, bob!\n"),
        )

    def test_linePrint(self) -> None:
        """
        line-print's standard output (C{-}) is standard error when
        standard output is the connection: nothing reaches the peer.
        """
        result = self._serve("line-print", b"first\nsecond\n")
        self.assertEqual((result.returncode, result.stdout), (0, b""))
        stderr = result.stderr.decode("utf-8", "replace")
        self.assertIn("stdio: stdio: first\nstdio: stdio: second\n", stderr)

    def test_proxyHeaderRefused(self) -> None:
        """
        Behind C{haproxy:stdio:}, input that is no PROXY header is refused
        in one log line, without a traceback (StandardIO cannot abort),
        and the process ends.
        """
        result = subprocess.run(
            _command("--endpoint", "haproxy:stdio:"),
            cwd=temporaryDirectory(self),
            input=b"garbage\nhello\n",
            capture_output=True,
            timeout=30,
            check=False,
        )
        stderr = result.stderr.decode("utf-8", "replace")
        self.assertEqual((result.returncode, result.stdout), (0, b""), stderr)
        self.assertIn("stdio: bad PROXY header (not a PROXY header); closing", stderr)
        self.assertNotIn("Traceback", stderr)
        self.assertNotIn("Unhandled Error", stderr)

    def test_exitsWhenInputEnds(self) -> None:
        """
        An echo that has answered exits, with status 0, within seconds of
        its input's end.
        """
        process = subprocess.Popen(
            _command("--endpoint", "stdio:", "--protocol", "echo"),
            cwd=temporaryDirectory(self),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.addCleanup(_kill, process)
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(b"ping\n")
        process.stdin.flush()
        self.assertEqual(process.stdout.readline(), b"ping\n")
        closed = time.monotonic()
        process.stdin.close()
        self.assertEqual(process.wait(STOP_TIMEOUT), 0)
        self.assertLess(time.monotonic() - closed, 5.0)

    def test_exitsWhenProtocolCloses(self) -> None:
        """
        A connection the server closes (here, idle for a second) ends the
        process too, with status 0, though its input is still open.
        """
        process = subprocess.Popen(
            _command("--endpoint", "stdio:idle=1", "--protocol", "echo"),
            cwd=temporaryDirectory(self),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.addCleanup(_kill, process)
        self.assertEqual(process.wait(STOP_TIMEOUT + 5), 0)
        assert process.stdout is not None
        self.assertEqual(process.stdout.read(), b"")


class BesideOthersTests(SynchronousTestCase):
    """
    C{stdio:} beside a TCP listener.
    """

    def test_otherListenersGoOn(self) -> None:
        """
        Once the C{stdio:} connection closes, the TCP listener goes on
        serving, and SIGTERM stops the process.
        """
        log = os.path.join(temporaryDirectory(self), "stderr")
        with open(log, "wb") as err:
            process = subprocess.Popen(
                _command("--endpoint", "stdio:", "--endpoint", _TCP, "-p", "echo"),
                cwd=temporaryDirectory(self),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
            )
        self.addCleanup(_kill, process)

        def read() -> str:
            with open(log, "rb") as f:
                return f.read().decode("utf-8", "replace")

        match = _LISTENING.search(_waitFor(read, "socket options", process))
        assert match is not None and process.stdin is not None
        process.stdin.close()
        _waitFor(read, "stdio: closed; the other listeners go on", process)
        sock = connect(self, ("127.0.0.1", int(match[1])))
        sock.sendall(b"still here\n")
        self.assertEqual(receive(sock, lambda b: b.endswith(b"\n")), b"still here\n")
        self.assertIsNone(process.poll())
        process.send_signal(signal.SIGTERM)
        self.assertEqual(process.wait(STOP_TIMEOUT), -signal.SIGTERM)
        assert process.stdout is not None
        self.assertEqual(process.stdout.read(), b"")


class InetdTests(SynchronousTestCase):
    """
    C{stdio:} on a socket, as inetd and systemd's C{Accept=yes} run it.
    """

    def test_standardErrorIsTheConnection(self) -> None:
        """
        With standard input, output and error all the connection (inetd's
        way, and systemd's default), the peer gets the echo and no log.
        """
        ours, theirs = socket.socketpair()
        self.addCleanup(ours.close)
        with theirs:
            process = subprocess.Popen(
                _command("--endpoint", "stdio:", "--protocol", "echo"),
                cwd=temporaryDirectory(self),
                stdin=theirs.fileno(),
                stdout=theirs.fileno(),
                stderr=theirs.fileno(),
            )
        self.addCleanup(_kill, process)
        ours.sendall(b"only this\n")
        ours.shutdown(socket.SHUT_WR)
        self.assertEqual(receiveUntilClosed(ours), b"only this\n")
        self.assertEqual(process.wait(STOP_TIMEOUT), 0)

    def test_socat(self) -> None:
        """
        Run by C{socat TCP-LISTEN:... EXEC:'twistd ...'}, one process per
        connection, each answers its client and ends.
        """
        socat = shutil.which("socat")
        if socat is None:
            raise SkipTest("socat is not installed")
        command = " ".join(_command("--endpoint", "stdio\\:", "--protocol", "echo"))
        listener = subprocess.Popen(
            [
                socat,
                "-d",
                "-d",
                "-t",
                "10",
                "TCP-LISTEN:0,bind=127.0.0.1,fork",
                f"EXEC:{command}",
            ],
            cwd=temporaryDirectory(self),
            stderr=subprocess.PIPE,
        )
        self.addCleanup(_kill, listener)
        assert listener.stderr is not None
        line = listener.stderr.readline().decode()
        port = re.search(r"listening on AF=2 127\.0\.0\.1:(\d+)", line)
        assert port is not None, line
        for text in (b"first client\n", b"second client\n"):
            sock = connect(self, ("127.0.0.1", int(port[1])))
            sock.sendall(text)
            sock.shutdown(socket.SHUT_WR)
            self.assertEqual(receiveUntilClosed(sock, IO_TIMEOUT * 2), text)


class ReloadTests(SynchronousTestCase):
    """
    C{stdio:} and SIGHUP.
    """

    def test_notAdded(self) -> None:
        """
        A reload that adds a C{stdio:} listener is refused, saying why, and
        changes nothing: standard output was not kept for it at start.
        """
        config = listener("stream", tcp())
        served = ConfiguredServer(self, config, tcp())
        line = served.reload(config + listener("inetd", "stdio:"))
        self.assertEqual(line, "reload failed: 1 problem in the file; nothing changed")
        self.assertIn(
            'reload: listener "inetd": stdio: can only be started with the'
            " server, not by a reload",
            served.server.stdout(),
        )
        self.assertNotIn("listening on stdio:", served.server.stdout())


class RefusedTests(SynchronousTestCase):
    """
    Where C{stdio:} cannot work: in a daemon, without standard output.
    """

    def test_outputClosed(self) -> None:
        """
        Started with standard output closed, C{stdio:} is refused with one
        line (rather than serving on whatever file took descriptor 1).
        """
        result = subprocess.run(
            _command("--endpoint", "stdio:", "--protocol", "echo"),
            cwd=temporaryDirectory(self),
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=lambda: os.close(1),
            timeout=30,
            check=False,
        )
        self.assertEqual(
            (result.returncode, result.stderr.decode().splitlines()),
            (
                1,
                [
                    "twistd sockplug: stdio: standard output is closed; give it"
                    " one (a pipe, a socket) (see twistd sockplug --help)"
                ],
            ),
        )

    def test_refused(self) -> None:
        """
        Without C{-n}, C{stdio:} is refused with one line, and no daemon
        starts.
        """
        folder = temporaryDirectory(self)
        pidfile = os.path.join(folder, "twistd.pid")
        self.addCleanup(_killDaemon, pidfile)
        result = subprocess.run(
            [
                TWISTD,
                "--pidfile",
                pidfile,
                "--logfile",
                os.path.join(folder, "log"),
                "sockplug",
                "--endpoint",
                "stdio:",
                "--protocol",
                "echo",
            ],
            cwd=folder,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
            check=False,
        )
        self.assertEqual(
            (result.returncode, result.stdout, result.stderr.count(b"\n")),
            (1, b"", 1),
        )
        self.assertIn(b"run twistd with -n (--nodaemon)", result.stderr)
        self.assertFalse(os.path.exists(pidfile))


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(STOP_TIMEOUT)
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def _killDaemon(pidfile: str) -> None:
    """
    Kill a daemon that started anyway (the behaviour this guards against).
    """
    deadline = time.monotonic() + 2
    while not os.path.exists(pidfile) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        with open(pidfile) as f:
            os.kill(int(f.read().strip()), signal.SIGKILL)
    except (OSError, ValueError):
        pass
