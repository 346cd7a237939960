"""
End-to-end tests of line-print's output against real twistd processes: an
output that stops taking lines (a FIFO with no reader, or one whose reader
stops reading; standard output as a pipe whose reader stops) never stops
the server from serving its other listeners, from obeying SIGTERM within
its shutdown timeout, or from answering SIGHUP; what it drops is counted
in C{/metrics}. The output file is never reached through a symbolic link,
and is created not world-readable.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import stat
import subprocess
import threading
import time

from twisted.trial.unittest import SynchronousTestCase

from tests.configured import ConfiguredServer, listener, tcp
from tests.harness import (
    POLL_INTERVAL,
    START_TIMEOUT,
    TWISTD,
    Server,
    connect,
    parseAddress,
    receiveLine,
    runTwistd,
    temporaryDirectory,
)
from tests.scrape import TCP, metricsAddress, scrape

# The shutdown timeout the servers here are given, and what a stop may take
# beyond it (twistd's own stop, a loaded machine).
SHUTDOWN_TIMEOUT = 2.0
STOP_SLACK = 3.0
# An echo round trip while line-print's output is stalled: a server whose
# reactor waits on the output never answers.
ECHO_BOUND = 5.0
# How long the output has to fill and start dropping.
DROP_TIMEOUT = 20.0
# One line line-print is sent, many times over.
LINE = b"x" * 99 + b"\n"
# Enough lines to fill a pipe (64 KiB) and the default outputbuffer (1 MiB)
# several times over.
FLOOD = LINE * 40_000

ECHO = "tcp:0:interface=127.0.0.1"

# What the supervisor of --workers logs when it listens, and a worker when
# it serves.
_SUPERVISOR_LISTENING = re.compile(
    r"\[sockplug\.workers\._supervisor#info\] \S+ listening on"
    r" (?P<endpoint>.*) \((?P<address>[^()]*)\)$",
    re.MULTILINE,
)
_SERVING = re.compile(r"worker \d+ \(pid (\d+)\) is serving")


def _fifoWithStalledReader(testCase: SynchronousTestCase) -> str:
    """
    A FIFO that a reader has open and never reads.
    """
    path = os.path.join(temporaryDirectory(testCase), "lines.fifo")
    os.mkfifo(path)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    testCase.addCleanup(os.close, reader)
    return path


def _flood(testCase: SynchronousTestCase, path: str) -> threading.Thread:
    """
    Send L{FLOOD} to the line-print listener on the UNIX socket C{path},
    from a thread, and close.
    """
    sock = connect(testCase, path)
    sock.settimeout(30)

    def send() -> None:
        try:
            sock.sendall(FLOOD)
        finally:
            sock.close()

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    testCase.addCleanup(sender.join, 30)
    return sender


def _assertEchoes(testCase: SynchronousTestCase, server: Server) -> None:
    """
    The echo listener answers, each time within L{ECHO_BOUND}.
    """
    for n in range(5):
        start = time.monotonic()
        sock = connect(testCase, server.inet(ECHO), timeout=ECHO_BOUND)
        sock.sendall(b"ping %d\n" % n)
        testCase.assertEqual(receiveLine(sock, ECHO_BOUND), b"ping %d\n" % n)
        sock.close()
        testCase.assertLess(time.monotonic() - start, ECHO_BOUND)


def _waitForDrops(
    testCase: SynchronousTestCase, server: Server, listenerName: str
) -> tuple[float, float]:
    """
    Scrape C{/metrics} until the listener's output has dropped lines;
    return the lines and bytes dropped.
    """
    address = metricsAddress(server, TCP)
    deadline = time.monotonic() + DROP_TIMEOUT
    while True:
        current = scrape(address)
        lines = current.value(
            "sockplug_output_dropped_lines_total", listener=listenerName
        )
        size = current.value(
            "sockplug_output_dropped_bytes_total", listener=listenerName
        )
        if lines > 0:
            return lines, size
        if time.monotonic() > deadline:
            raise testCase.failureException(f"no drops counted:\n{current.text}")
        time.sleep(0.1)


def _assertStopsInTime(testCase: SynchronousTestCase, server: Server) -> None:
    """
    SIGTERM ends the server within its shutdown timeout (and some slack).
    """
    start = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    try:
        status = server.process.wait(SHUTDOWN_TIMEOUT + STOP_SLACK)
    except subprocess.TimeoutExpired:
        raise testCase.failureException(
            f"still running {SHUTDOWN_TIMEOUT + STOP_SLACK}s after SIGTERM\n"
            f"{server.output()}"
        ) from None
    testCase.assertIn(status, (-signal.SIGTERM, 128 + signal.SIGTERM))
    testCase.assertLess(time.monotonic() - start, SHUTDOWN_TIMEOUT + STOP_SLACK)


class _PipedServer(Server):
    """
    A C{twistd -n sockplug} whose standard output is a pipe that the test
    holds and never reads, and whose log goes to a file (C{--logfile}).
    """

    def __init__(
        self, testCase: SynchronousTestCase, *args: str, workers: int = 0
    ) -> None:
        self._testCase = testCase
        self.directory = temporaryDirectory(testCase)
        self._stdout = os.path.join(self.directory, "log")
        self._stderr = os.path.join(self.directory, "stderr")
        self.endpoints = [value.partition("@")[2] for value in args if "@" in value]
        self.addresses = {}
        self.workers = workers
        if workers:
            args += ("--workers", str(workers))
        reader, writer = os.pipe()
        testCase.addCleanup(os.close, reader)
        with open(self._stdout, "wb"), open(self._stderr, "wb") as err:
            command = [TWISTD, "-n", "--pidfile=", f"--logfile={self._stdout}"]
            self.process = subprocess.Popen(
                [*command, "sockplug", *args],
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=writer,
                stderr=err,
            )
        os.close(writer)
        testCase.addCleanup(self.kill)
        self.waitUntilListening()

    def waitUntilListening(self, timeout: float = START_TIMEOUT) -> None:
        if not self.workers:
            return super().waitUntilListening(timeout)
        deadline = time.monotonic() + timeout
        while True:
            log = self.stdout()
            for match in _SUPERVISOR_LISTENING.finditer(log):
                self.addresses[match["endpoint"]] = parseAddress(match["address"])
            serving = {int(pid) for pid in _SERVING.findall(log)}
            listening = all(e in self.addresses for e in self.endpoints)
            if listening and len(serving) == self.workers:
                for pid in serving:
                    self._testCase.addCleanup(_killIfAlive, pid)
                return
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise self._fail("the workers are not all serving")
            time.sleep(POLL_INTERVAL)


def _killIfAlive(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


class StartRefusedTests(SynchronousTestCase):
    """
    An output that cannot be opened stops the start at once, in one line.
    """

    def test_fifoWithoutReader(self) -> None:
        """
        A FIFO that no one reads: twistd exits 1 at once (it used to wait
        in C{open()} forever), with one line naming the FIFO.
        """
        folder = temporaryDirectory(self)
        path = os.path.join(folder, "lines.fifo")
        os.mkfifo(path)
        config = os.path.join(folder, "sockplug.toml")
        with open(config, "w") as f:
            f.write(listener("p", ECHO, "line-print", output=path))
        result = runTwistd(self, "--config", config, timeout=15)
        self.assertEqual(result.code, 1, result.output)
        lines = [
            line
            for line in result.output.splitlines()
            if "is a FIFO that no one reads" in line
        ]
        self.assertEqual(len(lines), 1, result.output)
        self.assertIn(
            f"protocol line-print could not start: output {path!r} is a FIFO"
            " that no one reads: start its reader first",
            lines[0],
        )
        self.assertNotIn("Traceback", result.output)

    def test_symbolicLink(self) -> None:
        """
        A symbolic link at the output's path is refused, and the file it
        points to is neither created nor written.
        """
        folder = temporaryDirectory(self)
        target = os.path.join(folder, "target")
        path = os.path.join(folder, "lines.log")
        os.symlink(target, path)
        config = os.path.join(folder, "sockplug.toml")
        with open(config, "w") as f:
            f.write(listener("p", ECHO, "line-print", output=path))
        result = runTwistd(self, "--config", config)
        self.assertEqual(result.code, 1, result.output)
        self.assertIn(
            "is a symbolic link, which line-print does not follow", result.output
        )
        self.assertFalse(os.path.lexists(target))


class CreatedFileTests(SynchronousTestCase):
    """
    The output file line-print creates.
    """

    def test_notWorldReadable(self) -> None:
        """
        It is created readable by its owner and group only (0640), whatever
        lines go to it.
        """
        folder = temporaryDirectory(self)
        path = os.path.join(folder, "lines.log")
        sockPath = os.path.join(folder, "lp.sock")
        ConfiguredServer(
            self,
            listener("p", f"unix:{sockPath}", "line-print", output=path),
            f"unix:{sockPath}",
        )
        sock = connect(self, sockPath)
        sock.sendall(b"secret\n")
        sock.close()
        deadline = time.monotonic() + 10
        while not (os.path.exists(path) and os.path.getsize(path)):
            self.assertLess(time.monotonic(), deadline, "nothing printed")
            time.sleep(0.05)
        mode = stat.S_IMODE(os.stat(path).st_mode)
        self.assertEqual(mode & 0o007, 0, oct(mode))
        self.assertEqual(mode & 0o640, 0o640, oct(mode))


class StalledFIFOTests(SynchronousTestCase):
    """
    Output to a FIFO whose reader opened it and never reads.
    """

    def setUp(self) -> None:
        fifo = _fifoWithStalledReader(self)
        self.sockPath = os.path.join(temporaryDirectory(self), "lp.sock")
        endpoint = f"unix:{self.sockPath}"
        config = listener("p", endpoint, "line-print", output=fifo)
        self.server = ConfiguredServer(
            self,
            config,
            endpoint,
            args=[
                "--endpoint",
                f"echo@{ECHO}",
                "--metrics",
                TCP,
                "--shutdown-timeout",
                str(SHUTDOWN_TIMEOUT),
            ],
        ).server
        self.server.endpoints.append(ECHO)
        self.server.waitUntilListening()
        self.sender = _flood(self, self.sockPath)

    def test_keepsServing(self) -> None:
        """
        While line-print's output is stalled and dropping, another listener
        of the process answers at once, and the drops are counted.
        """
        lines, size = _waitForDrops(self, self.server, "p")
        _assertEchoes(self, self.server)
        self.assertGreater(size, lines)
        self.server.waitForLineMatching(
            lambda line: "is not keeping up" in line and "from p dropped" in line,
            what="'is not keeping up'",
        )

    def test_stopsInTime(self) -> None:
        """
        SIGTERM stops the server within its shutdown timeout, though its
        output takes nothing.
        """
        _waitForDrops(self, self.server, "p")
        self.sender.join(30)
        _assertStopsInTime(self, self.server)


class StalledStandardOutputTests(SynchronousTestCase):
    """
    Output to standard output (the default), a pipe whose reader stops.
    """

    def setUp(self) -> None:
        self.sockPath = os.path.join(temporaryDirectory(self), "lp.sock")
        self.endpoint = f"unix:{self.sockPath}"
        self.server = _PipedServer(
            self,
            "--endpoint",
            f"line-print@{self.endpoint}",
            "--endpoint",
            f"echo@{ECHO}",
            "--metrics",
            TCP,
            "--shutdown-timeout",
            str(SHUTDOWN_TIMEOUT),
        )
        self.sender = _flood(self, self.sockPath)

    def test_keepsServing(self) -> None:
        """
        While standard output takes nothing, another listener answers at
        once, and the drops are counted.
        """
        _waitForDrops(self, self.server, self.endpoint)
        _assertEchoes(self, self.server)

    def test_stopsInTime(self) -> None:
        """
        SIGTERM stops the server within its shutdown timeout.
        """
        _waitForDrops(self, self.server, self.endpoint)
        self.sender.join(30)
        _assertStopsInTime(self, self.server)


class StalledWorkersOutputTests(SynchronousTestCase):
    """
    With C{--workers}, the supervisor's standard output (where the workers'
    lines go) a pipe whose reader stops.
    """

    def test_keepsServingAndStops(self) -> None:
        """
        The supervisor drops what its standard output cannot take, saying
        so; the workers go on serving; SIGTERM stops them all within the
        shutdown timeout.
        """
        sockPath = os.path.join(temporaryDirectory(self), "lp.sock")
        server = _PipedServer(
            self,
            "--endpoint",
            f"line-print@unix:{sockPath}",
            "--endpoint",
            f"echo@{ECHO}",
            "--shutdown-timeout",
            str(SHUTDOWN_TIMEOUT),
            workers=2,
        )
        _flood(self, sockPath).join(30)
        server.waitForLineMatching(
            lambda line: "supervisor: standard output is not keeping up" in line,
            DROP_TIMEOUT,
            "'supervisor: standard output is not keeping up'",
        )
        _assertEchoes(self, server)
        _assertStopsInTime(self, server)


class ReloadTests(SynchronousTestCase):
    """
    SIGHUP with a configuration whose output cannot be opened.
    """

    def test_fifoWithoutReader(self) -> None:
        """
        A reload naming a FIFO that no one reads fails at once with a log
        line naming it (it used to hang the server in C{open()}), and the
        server goes on serving the configuration it had.
        """
        fifo = os.path.join(temporaryDirectory(self), "lines.fifo")
        os.mkfifo(fifo)
        echo = tcp()
        before = listener("echo", echo)
        configured = ConfiguredServer(self, before, echo)
        address = configured.inet(echo)
        outcome = configured.reload(
            before + listener("p", ECHO, "line-print", output=fifo)
        )
        self.assertEqual(
            outcome,
            'reload failed: listener "p": protocol line-print could not start:'
            f" output {fifo!r} is a FIFO that no one reads: start its reader"
            " first; nothing changed",
        )
        sock = connect(self, address)
        sock.sendall(b"still\n")
        self.assertEqual(receiveLine(sock), b"still\n")
        self.assertIsNone(configured.server.process.poll())
