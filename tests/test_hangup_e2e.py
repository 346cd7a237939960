"""
End-to-end tests of SIGHUP in every mode (without C{--config}, with it, and
with C{--workers}): while a real twistd sockplug process drains its open
connections after SIGTERM, SIGHUP is ignored, the connections are still
served until C{--shutdown-timeout}, and the process ends as SIGTERM ends it;
without C{--config}, a running server ignores SIGHUP and keeps serving.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable

from twisted.trial.unittest import SynchronousTestCase

from tests.harness import (
    IO_TIMEOUT,
    STOP_TIMEOUT,
    Server,
    connect,
    receiveLine,
    temporaryDirectory,
)
from tests.workersrun import Workers, alive, waitUntil

TCP = "tcp:0:interface=127.0.0.1"
# How a process ended by SIGTERM ends (see test_shutdown_e2e).
SIGTERM_STATUSES = (-signal.SIGTERM, 128 + signal.SIGTERM)
# The grace period after SIGTERM, and when SIGHUP comes within it.
TIMEOUT = 3
HANGUP_AFTER = 0.5
# The held connection talks until this long after SIGTERM (within TIMEOUT).
TALK_UNTIL = 2.5
# The process ends within this after the timeout.
SLACK = 3.0
IGNORED_STOPPING = "SIGHUP ignored: the server is stopping"
NOTHING_TO_RELOAD = "SIGHUP ignored: nothing to reload without --config"


def openEcho(testCase: SynchronousTestCase, server: Server) -> socket.socket:
    """
    A connection to the server's echo listener on L{TCP}, known to be
    served (one line has been echoed on it: the reactor runs, every
    service has started).
    """
    sock = connect(testCase, server.inet(TCP))
    sock.sendall(b"before\n")
    testCase.assertEqual(receiveLine(sock), b"before\n")
    return sock


def echoes(sock: socket.socket, until: float) -> list[bool]:
    """
    Send a line every 0.25 s until C{until} (monotonic); whether each was
    echoed back.
    """
    answered = []
    number = 0
    while time.monotonic() < until:
        line = b"during %d\n" % number
        number += 1
        try:
            sock.sendall(line)
            answered.append(receiveLine(sock) == line)
        except OSError:
            answered.append(False)
        time.sleep(0.25)
    return answered


def waitForExit(server: Server, timeout: float) -> int:
    """
    The server's status, once it has ended within C{timeout} seconds.
    """
    try:
        return server.process.wait(timeout)
    except subprocess.TimeoutExpired:
        server.kill()
        raise AssertionError(
            f"still running {timeout}s later\n--- twistd output ---\n" + server.output()
        ) from None


class DrainTests(SynchronousTestCase):
    """
    SIGHUP 0.5 s after SIGTERM, while one connection is held open: the
    process keeps draining, the connection is echoed until the timeout,
    and the process ends as SIGTERM ends it.
    """

    def drain(self, server: Server, hangup: Callable[[], list[int]]) -> None:
        """
        Hold a connection, send SIGTERM to C{server}, then SIGHUP 0.5 s
        later to each process C{hangup} gives then; check the drain goes on
        to its end.
        """
        sock = openEcho(self, server)
        server.process.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        server.waitForLineMatching(
            lambda line: "stopping: waiting up to" in line, IO_TIMEOUT, "the drain"
        )
        time.sleep(max(0.0, sent + HANGUP_AFTER - time.monotonic()))
        for pid in hangup():
            os.kill(pid, signal.SIGHUP)
        answered = echoes(sock, sent + TALK_UNTIL)
        self.assertTrue(answered)
        self.assertEqual(answered, [True] * len(answered), server.output())
        status = waitForExit(server, TIMEOUT + SLACK)
        ended = time.monotonic()
        self.assertIn(status, SIGTERM_STATUSES, server.output())
        self.assertGreaterEqual(ended - sent, TIMEOUT - 0.5)
        self.assertIn(IGNORED_STOPPING, server.stdout())

    def test_withoutConfig(self) -> None:
        """Without C{--config}, SIGHUP during the drain is ignored."""
        server = Server.start(self, "--shutdown-timeout", str(TIMEOUT), "-e", TCP)
        self.drain(server, lambda: [server.process.pid])

    def test_withConfig(self) -> None:
        """With C{--config}, SIGHUP during the drain is ignored, not a reload."""
        path = os.path.join(temporaryDirectory(self), "sockplug.toml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(f'[listeners.echo]\nendpoint = "{TCP}"\nprotocol = "echo"\n')
        server = Server(self, "--shutdown-timeout", str(TIMEOUT), "--config", path)
        server.endpoints = [TCP]
        server.waitUntilListening()
        self.drain(server, lambda: [server.process.pid])
        self.assertNotIn("SIGHUP: reloading", server.stdout())

    def test_workers(self) -> None:
        """
        With C{--workers}, SIGHUP to the supervisor and to every worker
        still running (the one draining the connection, at least) during
        the drain is ignored by each.
        """
        server = Workers.run(self, "--shutdown-timeout", str(TIMEOUT), "-e", TCP)
        workers = list(server.serving().values())

        def running() -> list[int]:
            draining = [pid for pid in workers if alive(pid)]
            self.assertTrue(draining)
            return [server.process.pid, *draining]

        self.drain(server, running)


class RunningTests(SynchronousTestCase):
    """
    Without C{--config}, a running server survives SIGHUP, says there is
    nothing to reload, and keeps serving.
    """

    def survives(self, server: Server, hangup: list[int], saying: int = 1) -> None:
        """
        Send SIGHUP to each of C{hangup}; check that C{saying} processes
        say there is nothing to reload, and that C{server} still serves.
        """
        openEcho(self, server).close()
        for pid in hangup:
            os.kill(pid, signal.SIGHUP)
        waitUntil(
            lambda: server.stdout().count(NOTHING_TO_RELOAD) == saying,
            IO_TIMEOUT,
            "each process saying there is nothing to reload",
        )
        for _ in range(4):
            openEcho(self, server).close()
        self.assertIsNone(server.process.poll())
        server.process.send_signal(signal.SIGTERM)
        self.assertIn(server.process.wait(STOP_TIMEOUT), SIGTERM_STATUSES)

    def test_plain(self) -> None:
        """A plain server ignores SIGHUP and keeps serving."""
        server = Server.start(self, "-e", TCP)
        self.survives(server, [server.process.pid])

    def test_workers(self) -> None:
        """
        With C{--workers}, the supervisor and the workers ignore SIGHUP,
        and the workers keep serving. Only the supervisor says so: a
        worker's reloads come from the supervisor, never from a SIGHUP of
        its own (a SIGHUP to the process group reaches them all).
        """
        server = Workers.run(self, "-e", TCP)
        workers = list(server.serving().values())
        self.survives(server, [server.process.pid, *workers])
        self.assertEqual(server.stdout().count(NOTHING_TO_RELOAD), 1)
