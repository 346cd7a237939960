"""
End-to-end tests: out of file descriptors, a flood of connections makes a
bounded number of log lines (issue 15 item 5). The server runs with a hard
limit on open files below what C{--max-connections} needs; the test holds
connections until the server has no descriptor left, then connects and
closes many more, each of which Twisted refuses with its three "EMFILE"
lines. Every kind of line is bounded per 10 s window, the lines held back
are summed up, and the server still answers afterwards.
"""

from __future__ import annotations

import math
import shutil
import socket
import time

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.harness import (
    IO_TIMEOUT,
    POLL_INTERVAL,
    START_TIMEOUT,
    STOP_TIMEOUT,
    Server,
    receive,
    temporaryDirectory,
)
from tests.workersrun import Workers

ENDPOINT = "tcp:0:interface=127.0.0.1"

# The server's open files: its own (listening socket, log, epoll, the
# reserved EMFILE descriptor) and a few dozen connections.
FILE_LIMIT = 64
HELD = 80
FLOOD = 600

# The process's bound: lines of one kind per window, and the window.
PER_KIND = 100
WINDOW = 10.0

# What Twisted logs for each connection refused for want of a descriptor.
EMFILE_LINES = (
    "EMFILE encountered; releasing reserved file descriptor.",
    "EMFILE recovery: Closed socket from",
    "Re-reserving EMFILE recovery file descriptor.",
)


def _limited() -> list[str]:
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        raise SkipTest("needs prlimit (util-linux)")
    return [prlimit, f"--nofile={FILE_LIMIT}:{FILE_LIMIT}"]


def _tryConnect(address: tuple[str, int]) -> socket.socket | None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(IO_TIMEOUT)
    try:
        sock.connect(address)
    except OSError:
        sock.close()
        return None
    return sock


def _echoes(address: tuple[str, int]) -> bool:
    sock = _tryConnect(address)
    if sock is None:
        return False
    with sock:
        try:
            sock.sendall(b"still here\n")
            return receive(sock, lambda got: got.endswith(b"\n"), 2.0) == (
                b"still here\n"
            )
        except OSError:
            return False


class DescriptorFloodTests(SynchronousTestCase):
    """
    A connect-and-close flood against a server out of descriptors.
    """

    def flood(self, server: Server) -> float:
        """
        Hold connections until the server is out of descriptors, connect
        and close L{FLOOD} more, let go of those held, and check that the
        server answers again; return how long the log was flooded.
        """
        address = server.inet(ENDPOINT)
        started = time.monotonic()
        held = [sock for sock in map(_tryConnect, [address] * HELD) if sock]
        for _ in range(FLOOD):
            sock = _tryConnect(address)
            if sock is not None:
                sock.close()
        for sock in held:
            sock.close()
        deadline = time.monotonic() + IO_TIMEOUT
        while not _echoes(address):
            if time.monotonic() > deadline:
                raise self.failureException(
                    f"no echo after the flood\n{server.output()}"
                )
            time.sleep(0.1)
        elapsed = time.monotonic() - started
        server.stop()
        return elapsed

    def assertBounded(self, output: str, elapsed: float) -> None:
        """
        Each kind of EMFILE line is within its bound for the windows the
        flood lasted, so is the whole log, and what was held back is summed
        up.
        """
        windows = math.ceil(elapsed / WINDOW) + 1
        lines = output.splitlines()
        for text in EMFILE_LINES:
            logged = [
                line for line in lines if text in line and "held back" not in line
            ]
            self.assertLessEqual(len(logged), PER_KIND * windows, text)
        self.assertLessEqual(len(lines), len(EMFILE_LINES) * PER_KIND * windows + 200)
        summaries = [
            line
            for line in lines
            if 'log lines like "EMFILE' in line
            and "held back in the last 10s (rate limit)" in line
        ]
        self.assertNotEqual(summaries, [], output[-5000:])

    def test_oneProcess(self) -> None:
        """
        One process: the flood's lines are bounded and summed up.
        """
        server = Server.start(
            self, "--max-connections", "1000", "-e", ENDPOINT, prefix=_limited()
        )
        elapsed = self.flood(server)
        self.assertBounded(server.output(), elapsed)

    def test_workers(self) -> None:
        """
        With workers, the bound holds for the log the supervisor writes,
        over all its workers.
        """
        server = Workers.run(
            self, "--max-connections", "1000", "-e", ENDPOINT, prefix=_limited()
        )
        elapsed = self.flood(server)
        server.stopAll()
        self.assertBounded(server.output(), elapsed)


class ManyListenersTests(SynchronousTestCase):
    """
    The process's log limit never holds back the lines saying where each
    listener listens: with more listeners than the limit's lines of one
    kind per window, every one says its address.
    """

    def test_everyListenerSaysWhere(self) -> None:
        """
        120 listeners, 120 "listening on" lines, none held back.
        """
        count = PER_KIND + 20
        folder = temporaryDirectory(self)
        args: list[str] = []
        for number in range(count):
            args += ["-e", f"unix:{folder}/s{number}.sock"]
        server = Server(self, *args)
        deadline = time.monotonic() + START_TIMEOUT
        while "reactor class:" not in server.stdout():  # (after the start)
            self.assertLess(time.monotonic(), deadline, server.output()[-3000:])
            time.sleep(POLL_INTERVAL)
        server.stop(STOP_TIMEOUT)
        output = server.output()
        self.assertEqual(output.count(" listening on unix:"), count, output[-3000:])
        self.assertNotIn("held back", output)
