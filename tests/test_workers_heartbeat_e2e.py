"""
End-to-end tests of C{--worker-timeout}: a real supervisor notices a real
worker whose reactor stopped turning (SIGSTOP), kills it and starts a new
one on the same sockets.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import urllib.request

from prometheus_client.parser import text_string_to_metric_families
from twisted.trial.unittest import SynchronousTestCase

from tests.dropins import dropins
from tests.harness import (
    IO_TIMEOUT,
    Address,
    connect,
    parseAddress,
    receive,
    runClient,
)
from tests.workersrun import START_TIMEOUT, Workers, alive, waitUntil

TCP = "tcp:0:interface=127.0.0.1"
# Short, to keep the test fast (a stopped worker is noticed within this and
# a beat interval, a quarter of it), with room for a loaded machine.
TIMEOUT = "2"

# A protocol that echoes each line, and first, for "noise N", logs N lines
# of 200 bytes, each of a kind of its own (so that the log limit lets them
# through): more than a pipe holds.
NOISY = """\
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.protocols.basic import LineOnlyReceiver
from sockplug.plugin import ProtocolPlugin

class Noisy(LineOnlyReceiver):
    delimiter = b"\\n"
    def lineReceived(self, line):
        if line.startswith(b"noise "):
            log = Logger()
            for i in range(int(line.split()[1])):
                log.info("noise " + str(i) + " " + "x" * 200)
        self.sendLine(line)

noisy = ProtocolPlugin(
    name="noisy",
    description="Logs much.",
    stream=lambda listener: Factory.forProtocol(Noisy),
)
"""

_METRICS_AT = re.compile(
    r"metrics of the workers listening on \S+ \((?P<address>[^()]*)\)$", re.MULTILINE
)


def _killIfAlive(pid: int) -> None:
    if alive(pid):
        os.kill(pid, signal.SIGKILL)


def _opened(
    testCase: SynchronousTestCase, address: Address, count: int
) -> list[socket.socket]:
    """
    C{count} new connections to C{address}, each having sent one line.
    """
    opened = []
    for n in range(count):
        sock = connect(testCase, address)
        sock.sendall(b"%d\n" % n)
        opened.append(sock)
    return opened


def _echoed(sock: socket.socket, n: int, timeout: float) -> None:
    expected = b"%d\n" % n
    received = receive(sock, lambda data: len(data) >= len(expected), timeout)
    assert received == expected, (n, received)


class StoppedWorkerTests(SynchronousTestCase):
    """
    A worker stopped with SIGSTOP is logged, killed and replaced; no
    connection hangs.
    """

    def setUp(self) -> None:
        self.server = Workers.run(
            self,
            *("-e", TCP, "--worker-timeout", TIMEOUT),
            *("--metrics", "tcp:0:interface=127.0.0.1"),
        )
        self.address = self.server.inet(TCP)
        match = _METRICS_AT.search(self.server.stdout())
        assert match is not None
        metrics = parseAddress(match["address"])
        assert not isinstance(metrics, str), metrics
        self.metrics = f"http://{metrics[0]}:{metrics[1]}/metrics"

    def scrape(self) -> str:
        with urllib.request.urlopen(self.metrics, timeout=IO_TIMEOUT) as response:
            body: bytes = response.read()
            return body.decode()

    def stop(self, number: int) -> int:
        """
        Stop worker C{number} with SIGSTOP (killed when the test ends, if
        it still runs); its pid.
        """
        pid = self.server.serving()[number]
        self.addCleanup(_killIfAlive, pid)
        os.kill(pid, signal.SIGSTOP)
        return pid

    def test_stoppedReplaced(self) -> None:
        """
        A stopped worker is logged (its number, pid and silence), killed
        and replaced by a new process; the other worker is left alone.
        """
        before = self.server.serving()
        stopped = self.stop(1)
        line = self.server.waitForLineMatching(
            lambda line: f"worker 1 (pid {stopped}) is unresponsive" in line,
            START_TIMEOUT,
            "unresponsive",
        )
        self.assertIn("(--worker-timeout 2); killing it", line)
        waitUntil(
            lambda: self.server.serving()[1] != stopped, START_TIMEOUT, "replaced"
        )
        waitUntil(lambda: not alive(stopped), START_TIMEOUT, "the stopped one gone")
        after = self.server.serving()
        self.assertEqual(after[2], before[2])
        self.assertEqual(self.server.children(), set(after.values()))
        self.server.waitForLineMatching(
            lambda line: "worker 1 was killed by SIGKILL" in line, what="the kill"
        )
        unresponsive = [
            line for line in self.server.stdout().splitlines() if "unresponsive" in line
        ]
        self.assertEqual(len(unresponsive), 1, unresponsive)

    def test_noConnectionHangs(self) -> None:
        """
        Connections made while a worker is stopped (some queued on its
        socket) are all served once it is replaced, and so are many new
        ones after; the kill is counted in /metrics, which promtool
        accepts.
        """
        stopped = self.stop(1)
        during = _opened(self, self.address, 40)
        waitUntil(
            lambda: self.server.serving()[1] != stopped, START_TIMEOUT, "replaced"
        )
        for n, sock in enumerate(during):
            _echoed(sock, n, START_TIMEOUT)
        for n, sock in enumerate(_opened(self, self.address, 200)):
            _echoed(sock, n, IO_TIMEOUT)
            sock.close()
        text = self.scrape()
        found = {
            sample.labels["worker"]: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "sockplug_worker_unresponsive_total"
        }
        self.assertEqual(found, {"1": 1.0, "2": 0.0})
        result = runClient(["promtool", "check", "metrics"], text.encode())
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


class StoppedSupervisorTests(SynchronousTestCase):
    """
    A supervisor that does not read its workers' log (stopped with
    SIGSTOP) never holds them up: workers that log more than their pipe
    holds go on serving, and the supervisor, continued, goes on too.
    """

    def test_workersServe(self) -> None:
        """
        While the supervisor is stopped, connections that make a worker log
        about 200 KB each, and new connections after them, are all answered.
        """
        server = Workers.run(
            self, "-e", f"noisy@{TCP}", env=dropins(self, {"noisy": NOISY})
        )
        address = server.inet(TCP)
        supervisor = server.process.pid
        os.kill(supervisor, signal.SIGSTOP)
        self.addCleanup(os.kill, supervisor, signal.SIGCONT)
        for n, sock in enumerate(_opened(self, address, 6)):
            _echoed(sock, n, IO_TIMEOUT)
            sock.sendall(b"noise 1000\n")
            noise = receive(sock, lambda data: data.endswith(b"\n"), IO_TIMEOUT)
            self.assertEqual(noise, b"noise 1000\n")
        for n, sock in enumerate(_opened(self, address, 20)):
            _echoed(sock, n, IO_TIMEOUT)
            sock.close()
        os.kill(supervisor, signal.SIGCONT)
        for n, sock in enumerate(_opened(self, address, 20)):
            _echoed(sock, n, IO_TIMEOUT)
            sock.close()
