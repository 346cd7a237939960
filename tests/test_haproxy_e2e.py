"""
End-to-end tests of contrib/haproxy/haproxy.cfg, as docs/scale-out.md uses
it: HAProxy on loopback, in TCP mode, in front of two real C{twistd
sockplug} processes listening on C{haproxy:} endpoints, with the PROXY
protocol v2. The file is run as it is, with only its addresses moved to
free ports (L{tests.haproxyrun}); TLS through it is in
L{tests.test_haproxytls_e2e}.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import textwrap
import time
from pathlib import Path

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.haproxyrun import CONFIG, PROXIED, SERVERS, HAProxyCase, haproxyPath
from tests.harness import (
    IO_TIMEOUT,
    POLL_INTERVAL,
    receiveUntilClosed,
    runClient,
    sockName,
    temporaryDirectory,
)
from tests.scrape import (
    METRICS_TIMEOUT,
    TCP,
    Scrape,
    labelsOf,
    metricsAddress,
    scrape,
)

GUIDE = CONFIG.parent.parent.parent / "docs" / "scale-out.md"
FAILOVER_TIMEOUT = 15.0
# Two checks to fill a listen queue of two, then two that time out (inter 2s).
STUCK_TIMEOUT = 25.0
# How many clients the metrics test sends, one after another.
CLIENTS = 10


def _run(argv: list[str]) -> tuple[int, str]:
    """Run a checking tool; its exit status and its output."""
    result = subprocess.run(argv, capture_output=True, timeout=IO_TIMEOUT, check=False)
    return result.returncode, (result.stdout + result.stderr).decode("utf-8", "replace")


def scrapeConfig(guide: str) -> str:
    """The Prometheus scrape configuration shown in the guide (indented block)."""
    match = re.search(r"(?m)^    scrape_configs:\n(?:(?:    .*)?\n)+", guide)
    if match is None:
        raise AssertionError(f"{GUIDE}: no indented 'scrape_configs:' block")
    return textwrap.dedent(match.group(0))


class ConfigTests(SynchronousTestCase):
    """
    The contrib file, and the guide's Prometheus configuration, as they are.
    """

    def test_valid(self) -> None:
        """C{haproxy -c} accepts the file unchanged, with no warning."""
        code, output = _run([haproxyPath(), "-c", "-f", str(CONFIG)])
        self.assertEqual((code, output.strip()), (0, "Configuration file is valid"))

    def test_scrapeConfigValid(self) -> None:
        """C{promtool check config} accepts the guide's scrape configuration."""
        promtool = shutil.which("promtool")
        if promtool is None:
            raise SkipTest("promtool is not installed (Debian package prometheus)")
        path = Path(temporaryDirectory(self)) / "prometheus.yml"
        path.write_text(scrapeConfig(GUIDE.read_text()))
        code, output = _run([promtool, "check", "config", str(path)])
        self.assertEqual((code, "SUCCESS" in output), (0, True), output)


class EchoTests(HAProxyCase):
    """
    Echo served by two backends through HAProxy.
    """

    def setUp(self) -> None:
        super().setUp()
        self.haproxy = self.startHAProxy()

    def test_echo(self) -> None:
        """A line sent to HAProxy's frontend comes back from a backend."""
        self.assertEchoes(self.client(), b"through haproxy\n")

    def test_nc(self) -> None:
        """nc's input comes back through HAProxy, after nc ends its side."""
        result = runClient(["nc", "-N", "127.0.0.1", str(self.frontend)], b"nc\n")
        self.assertEqual((result.returncode, result.stdout), (0, b"nc\n"))

    def test_socat(self) -> None:
        """socat's input comes back through HAProxy, after socat ends its side."""
        address = f"TCP:127.0.0.1:{self.frontend}"
        result = runClient(["socat", "-t", "5", "-", address], b"socat\n")
        self.assertEqual((result.returncode, result.stdout), (0, b"socat\n"))

    def test_spreadEvenly(self) -> None:
        """20 connections held open split 10/10: leastconn gives each new one
        to the server with fewer open (taking turns among equals)."""
        clients = [self.client() for _ in range(20)]
        for number, sock in enumerate(clients):
            self.assertEchoes(sock, b"%d\n" % number)
        counts = [0, 0]
        for sock in clients:
            counts[self.backendOf(sock)] += 1
        self.assertEqual(counts, [10, 10])

    def test_killOneBackend(self) -> None:
        """SIGKILL of one backend closes its clients only; the other's go on,
        and new connections all go to it, at once and after the health checks
        mark the dead one down."""
        clients = [self.client() for _ in range(10)]
        for sock in clients:
            self.assertEchoes(sock, b"before\n")
        placed = [self.backendOf(sock) for sock in clients]
        self.assertEqual(sorted(set(placed)), [0, 1])
        self.backends[0].kill()
        for sock, backend in zip(clients, placed, strict=True):
            if backend == 0:
                self.assertEqual(receiveUntilClosed(sock), b"")
            else:
                self.assertEchoes(sock, b"after\n")
        for sock in [self.client() for _ in range(4)]:
            self.assertEchoes(sock, b"redispatched\n")
            self.assertEqual(self.backendOf(sock), 1)
        self.haproxy.waitUntil("sockplug1=DOWN sockplug2=UP", FAILOVER_TIMEOUT)
        for sock in [self.client() for _ in range(4)]:
            self.assertEchoes(sock, b"down\n")
            self.assertEqual(self.backendOf(sock), 1)

    def test_healthChecksQuiet(self) -> None:
        """The file's own health checks (plain check: a PROXY v2 LOCAL header,
        then a reset) log nothing in the backends, which HAProxy sees up."""
        self.assertNotRegex(self.config, r"(?m)^\s*(option )?tcp-check")
        self.assertQuiet(self.haproxy)


class HeaderlessCheckTests(HAProxyCase):
    """
    The other quiet health check docs/scale-out.md shows: connect and
    close, with no PROXY header.
    """

    def test_quiet(self) -> None:
        """Checks by option tcp-check and tcp-check connect log nothing in
        the backends, which HAProxy sees up."""
        text, added = re.subn(
            r"(?m)^([ \t]*balance leastconn)$",
            r"\1\n    option tcp-check\n    tcp-check connect",
            self.config,
        )
        self.assertEqual(added, 1)
        self.assertQuiet(self.startHAProxy(text))


class StuckBackendTests(HAProxyCase):
    """
    A backend that stops accepting connections, with a listen queue of two
    (C{backlog=1}).
    """

    endpoint = f"{PROXIED}:backlog=1"

    def test_markedDown(self) -> None:
        """The file's checks fill a stopped backend's listen queue, then time
        out: HAProxy marks it down, and up again once it runs on, having
        taken the queued checks without a word."""
        haproxy = self.startHAProxy()
        haproxy.waitUntil("sockplug1=UP/L4OK sockplug2=UP/L4OK")
        logged = self.backends[0].stdout()
        stuck = self.backends[0].process
        stuck.send_signal(signal.SIGSTOP)
        self.addCleanup(stuck.send_signal, signal.SIGCONT)
        haproxy.waitUntil("sockplug1=DOWN sockplug2=UP", STUCK_TIMEOUT)
        stuck.send_signal(signal.SIGCONT)
        haproxy.waitUntil("sockplug1=UP/L4OK sockplug2=UP", STUCK_TIMEOUT)
        self.assertEqual(self.backends[0].stdout(), logged)


class AllowTests(HAProxyCase):
    """
    Backends whose C{allow=} leaves out HAProxy's address (127.0.0.1).
    """

    endpoint = f"{PROXIED}:allow=192.0.2.0/24"

    def test_localChecksNotRefused(self) -> None:
        """The file's LOCAL health checks, followed by no data, are neither
        refused nor logged; a client at HAProxy's address is refused."""
        haproxy = self.startHAProxy()
        self.assertQuiet(haproxy)
        sock = self.client()
        sock.sendall(b"not allowed\n")
        self.assertEqual(receiveUntilClosed(sock), b"")


class MetricsTests(HAProxyCase):
    """
    Backends each with its own C{--metrics}, as docs/scale-out.md runs them.
    """

    args = ("--metrics", TCP)
    labels = labelsOf(PROXIED, "echo")

    def counts(self, current: Scrape) -> dict[str, float]:
        """A backend's counts of connections, open, refused, and errors."""
        return {
            "connections": current.value("sockplug_connections_total", **self.labels),
            "open": current.value("sockplug_connections_open", **self.labels),
            "refused": sum(
                sample.value
                for sample in current.matching(
                    "sockplug_connections_refused_total", self.labels
                )
            ),
            "errors": sum(
                sample.value
                for sample in current.matching("sockplug_errors_total", self.labels)
            ),
        }

    def test_checksNotCounted(self) -> None:
        """After several rounds of the file's health checks, each backend's
        metrics count no connection, refusal or error."""
        self.startHAProxy().checksPassed()
        for backend in self.backends:
            current = scrape(metricsAddress(backend, TCP))
            self.assertEqual(
                self.counts(current),
                {"connections": 0, "open": 0, "refused": 0, "errors": 0},
            )

    def test_sharesAddUp(self) -> None:
        """Each backend's sockplug_connections_total is its share of the
        clients: both shares > 0, summing to the clients' number, each equal
        to HAProxy's count of sessions for that server."""
        haproxy = self.startHAProxy()
        haproxy.waitUntil("sockplug1=UP/L4OK sockplug2=UP/L4OK")
        addresses = [metricsAddress(backend, TCP) for backend in self.backends]
        for number in range(CLIENTS):
            sock = self.client()
            self.assertEchoes(sock, b"%d\n" % number)
            sock.close()
        deadline = time.monotonic() + METRICS_TIMEOUT
        while True:
            shares = [self.counts(scrape(a))["connections"] for a in addresses]
            rows = haproxy.servers()
            sessions = [float(rows[name]["stot"]) for name in SERVERS]
            done = (shares, sum(shares)) == (sessions, CLIENTS)
            if done or time.monotonic() > deadline:
                break
            time.sleep(POLL_INTERVAL * 5)
        self.assertEqual((shares, sum(shares)), (sessions, CLIENTS))
        self.assertGreater(min(shares), 0)


class LinePrintTests(HAProxyCase):
    """
    line-print served by two backends through HAProxy.
    """

    protocol = "line-print"

    def test_clientAddressPrinted(self) -> None:
        """line-print prefixes a line with the client's own address and port
        (127.0.0.2, where HAProxy connects from 127.0.0.1)."""
        self.startHAProxy()
        sock = self.client("127.0.0.2")
        sock.sendall(b"where am I\n")
        printed = f"{self.endpoint} {sockName(sock)}: where am I"
        backend = self.backendOf(sock)
        self.backends[backend].waitForLine(printed)
        self.assertNotIn(printed, self.backends[1 - backend].stdout())
