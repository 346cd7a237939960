"""
End-to-end tests of twistd's own log on standard output (C{twistd -n}
without C{--logfile}) when standard output is a pipe whose reader stops:
the server goes on serving and obeys SIGTERM; what the log could not hold
is dropped in whole lines, counted in C{/metrics}, and said in one line
once the reader reads again. A C{--logfile} naming a FIFO is refused.

The log is filled by reloads (SIGHUP) of a configuration whose protocol
name is long: each one logs a line of some 50 KB naming it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time

from twisted.trial.unittest import SynchronousTestCase

from tests.harness import (
    POLL_INTERVAL,
    START_TIMEOUT,
    TWISTD,
    connect,
    receiveLine,
    temporaryDirectory,
)
from tests.scrape import Scrape, getOverUNIX

# An echo round trip while the log is stalled.
ECHO_BOUND = 1.0
# The shutdown timeout the server is given; what a stop may take beyond
# it (the log's last lines, at most 2 s; twistd's own stop; a loaded
# machine).
SHUTDOWN_TIMEOUT = 1.0
STOP_SLACK = 5.0
# How long, and how many reloads at most, the log has to start dropping.
DROP_TIMEOUT = 60.0
MAX_RELOADS = 2000
# How long to wait for one reload to be counted before the next.
RELOAD_PAUSE = 0.3
# How long a reader that reads again waits for the drops to be summed up.
SUMMARY_TIMEOUT = 15.0

_GOOD = '[listeners.echo]\nendpoint = "unix:{path}"\n'
_BAD = _GOOD + 'protocol = "{name}"\n'
_LONG_NAME = "x" * 50_000

_LINE = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} \[[^]]*\] ")
_SUMMARY = re.compile(
    rb"\[sockplug\.internet\._outputlog#warn\] (\d+) log lines dropped:"
    rb" the log's reader was not reading\n"
)


class _StalledLogServer:
    """
    A C{twistd -n sockplug} with a configuration file, an echo listener
    and C{/metrics} on UNIX sockets, whose standard output (its log) is a
    pipe the test does not read.
    """

    def __init__(self, testCase: SynchronousTestCase, *args: str) -> None:
        self.testCase = testCase
        directory = temporaryDirectory(testCase)
        self.echo = os.path.join(directory, "echo.sock")
        self.metrics = os.path.join(directory, "metrics.sock")
        self.config = os.path.join(directory, "sockplug.toml")
        self.write(_GOOD.format(path=self.echo))
        self.reader, writer = os.pipe()
        testCase.addCleanup(os.close, self.reader)
        self.stderr = os.path.join(directory, "stderr")
        with open(self.stderr, "wb") as err:
            self.process = subprocess.Popen(
                [
                    *(TWISTD, "-n", "--pidfile=", "sockplug"),
                    *("--config", self.config, "--metrics", f"unix:{self.metrics}"),
                    *("--shutdown-timeout", str(SHUTDOWN_TIMEOUT)),
                    *args,
                ],
                cwd=directory,
                stdin=subprocess.DEVNULL,
                stdout=writer,
                stderr=err,
            )
        os.close(writer)
        testCase.addCleanup(self.kill)
        self.waitForMetrics()

    def write(self, text: str) -> None:
        with open(self.config, "w") as f:
            f.write(text)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def fail(self, message: str) -> AssertionError:
        with open(self.stderr, "rb") as f:
            err = f.read().decode("utf-8", "replace")
        return self.testCase.failureException(f"{message}\nstderr:\n{err}")

    def scrape(self) -> Scrape:
        response = getOverUNIX(self.metrics)
        assert response.status == 200, response
        return Scrape(response.body.decode("utf-8"))

    def waitForMetrics(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                self.scrape()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise self.fail("never served /metrics") from None
                time.sleep(POLL_INTERVAL)

    def failedReloads(self) -> float:
        """
        The reloads that failed (the workers' together, with C{--workers}).
        """
        samples = self.scrape().matching(
            "sockplug_config_reloads_total", {"result": "failed"}
        )
        return sum(sample.value for sample in samples)

    def logDropped(self) -> float:
        """
        The log lines dropped (0 while the metric is not there).
        """
        found = self.scrape().matching("sockplug_log_dropped_lines_total", {})
        return found[0].value if found else 0.0

    def floodLog(self) -> float:
        """
        Reload a configuration that logs a line of 50 KB each time until
        the log drops lines (a bounded number of times); return how many
        it dropped.
        """
        self.write(_BAD.format(path=self.echo, name=_LONG_NAME))
        deadline = time.monotonic() + DROP_TIMEOUT
        for _ in range(MAX_RELOADS):
            failed = self.failedReloads()
            self.process.send_signal(signal.SIGHUP)
            # (Until it is counted; with --workers, the supervisor refuses
            # the file itself and counts nothing: a while.)
            counted = time.monotonic() + RELOAD_PAUSE
            while self.failedReloads() == failed and time.monotonic() < counted:
                time.sleep(POLL_INTERVAL)
            dropped = self.logDropped()
            if dropped:
                return dropped
            if time.monotonic() > deadline:
                break
        raise self.fail("the log never dropped a line")

    def assertEchoes(self) -> None:
        """
        The echo listener answers, each time within L{ECHO_BOUND}.
        """
        for n in range(5):
            start = time.monotonic()
            sock = connect(self.testCase, self.echo, timeout=ECHO_BOUND)
            sock.sendall(b"ping %d\n" % n)
            self.testCase.assertEqual(receiveLine(sock, ECHO_BOUND), b"ping %d\n" % n)
            sock.close()
            self.testCase.assertLess(time.monotonic() - start, ECHO_BOUND)

    def stop(self) -> int:
        """
        SIGTERM: the process ends within its shutdown timeout and some
        slack; return its status.
        """
        start = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(SHUTDOWN_TIMEOUT + STOP_SLACK)
        except subprocess.TimeoutExpired:
            raise self.fail(
                f"still running {SHUTDOWN_TIMEOUT + STOP_SLACK}s after SIGTERM"
            ) from None
        self.testCase.assertLess(
            time.monotonic() - start, SHUTDOWN_TIMEOUT + STOP_SLACK
        )
        return status


def _readAll(fd: int) -> bytes:
    """
    Read the pipe C{fd} to its end.
    """
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _assertWholeLines(testCase: SynchronousTestCase, log: bytes) -> list[bytes]:
    """
    Each line of C{log} is a whole log line: it starts as twistd's lines
    start (none is the cut end of another). Return the lines.
    """
    lines = log.split(b"\n")
    testCase.assertEqual(lines.pop(), b"")
    notWhole = [line[:80] for line in lines if not _LINE.match(line)]
    testCase.assertEqual(notWhole, [])
    return lines


class StalledLogTests(SynchronousTestCase):
    """
    twistd's log on standard output, a pipe whose reader stops reading.
    """

    def setUp(self) -> None:
        self.server = _StalledLogServer(self)
        self.dropped = self.server.floodLog()

    def test_keepsServingAndStops(self) -> None:
        """
        While the log takes nothing, the echo listener answers at once;
        SIGTERM ends the process within its bounds; what the pipe holds
        are whole lines (all but perhaps the last, cut off at the end).
        """
        self.assertGreater(self.dropped, 0)
        self.server.assertEchoes()
        status = self.server.stop()
        self.assertIn(status, (-signal.SIGTERM, 128 + signal.SIGTERM))
        log = _readAll(self.server.reader)
        last = log.rfind(b"\n") + 1
        lines = _assertWholeLines(self, log[:last])
        self.assertGreater(len(log), 32 * 1024)
        # (The start's lines, logged before the reactor ran, are there.)
        start = lines[:10]
        self.assertTrue(any(b"echo listening on" in line for line in start), start)
        self.assertTrue(any(line.endswith(b"starting up.") for line in start), start)

    def test_summedUpWhenRead(self) -> None:
        """
        Once the reader reads again, one line says how many lines were
        dropped; the log holds whole lines to its last.
        """
        chunks: list[bytes] = []

        def read() -> None:
            while chunk := os.read(self.server.reader, 1 << 20):
                chunks.append(chunk)

        reading = threading.Thread(target=read, daemon=True)
        reading.start()
        deadline = time.monotonic() + SUMMARY_TIMEOUT
        while not _SUMMARY.search(b"".join(chunks)):
            if time.monotonic() > deadline:
                raise self.server.fail("the drops were never summed up")
            time.sleep(POLL_INTERVAL)
        self.server.assertEchoes()
        self.server.stop()
        reading.join(SUMMARY_TIMEOUT)
        self.assertFalse(reading.is_alive())
        lines = _assertWholeLines(self, b"".join(chunks))
        summed = sum(
            int(m[1]) for line in lines if (m := _SUMMARY.search(line + b"\n"))
        )
        self.assertGreaterEqual(summed, self.dropped)
        self.assertTrue(lines[-1].endswith(b"Server Shut Down."), lines[-1])


class StalledSupervisorLogTests(SynchronousTestCase):
    """
    With C{--workers 2}, the supervisor's log (where the workers' lines go)
    on a pipe whose reader stops reading.
    """

    def test_keepsServingAndStops(self) -> None:
        """
        The supervisor drops what its log cannot hold and counts it; the
        workers answer at once; SIGTERM stops them all in bounds.
        """
        server = _StalledLogServer(self, "--workers", "2")
        self.assertGreater(server.floodLog(), 0)
        server.assertEchoes()
        status = server.stop()
        self.assertIn(status, (-signal.SIGTERM, 128 + signal.SIGTERM))


class LogFileTests(SynchronousTestCase):
    """
    A C{--logfile} twistd cannot log to.
    """

    def test_fifoRefused(self) -> None:
        """
        A FIFO is refused at start, in one line, with status 1 (not
        twistd's traceback, "Illegal seek").
        """
        directory = temporaryDirectory(self)
        fifo = os.path.join(directory, "log.fifo")
        os.mkfifo(fifo)
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        self.addCleanup(os.close, reader)
        result = subprocess.run(
            [
                *(TWISTD, "-n", "--pidfile=", f"--logfile={fifo}", "sockplug"),
                *("--endpoint", "tcp:0:interface=127.0.0.1"),
            ],
            check=False,
            cwd=directory,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=START_TIMEOUT,
        )
        self.assertEqual(result.returncode, 1)
        self.assertEqual(
            result.stderr.decode().splitlines(),
            [
                f"twistd sockplug: --logfile {fifo!r} is a FIFO or pipe, which"
                " twistd cannot log to: give a regular file, or leave --logfile"
                " out with -n (the log then goes to standard output, never"
                " waiting for its reader)"
            ],
        )
