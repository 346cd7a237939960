"""
End-to-end tests of C{--metrics}: a real twistd sockplug process serves
Prometheus metrics at C{/metrics}; the test sends known traffic to its
listeners and checks the numbers, parsed with C{prometheus_client}'s parser
and linted with C{promtool check metrics}.
"""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import time

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.configured import ConfiguredServer, listener
from tests.harness import (
    connect,
    datagramSocket,
    receiveUntilClosed,
    runTwistd,
    socketPath,
)
from tests.scrape import (
    CONTENT_TYPE,
    TCP,
    UDP,
    Sample,
    Scrape,
    echoConnections,
    echoDatagrams,
    echoOpen,
    get,
    getOverUNIX,
    labelsOf,
    metricsAddress,
    refusedFrom,
    scrape,
    startWithMetrics,
    waitForValues,
)


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        raise SkipTest("promtool is not installed (Debian package prometheus)")
    return path


class CountsTests(SynchronousTestCase):
    """
    The counters of each kind of listener match the traffic the test sent.
    """

    def test_streamListener(self) -> None:
        """An echo TCP listener counts its bytes and connections, open ones too."""
        server, metrics = startWithMetrics(self, "-e", f"echo@{TCP}")
        address = server.inet(TCP)
        echoConnections(self, address, 3, 1000)
        echoOpen(self, address, 10)
        labels = labelsOf(TCP, "echo")
        current = waitForValues(
            self,
            metrics,
            [
                ("sockplug_received_bytes_total", labels, 3010),
                ("sockplug_sent_bytes_total", labels, 3010),
                ("sockplug_connections_total", labels, 4),
                ("sockplug_connections_open", labels, 1),
                ("sockplug_connections_idle_closed_total", labels, 0),
            ],
        )
        errors = current.matching("sockplug_errors_total", labels)
        self.assertEqual([str(s) for s in errors if s.value], [])
        self.assertEqual(current.types["sockplug_received_bytes"], "counter")
        self.assertEqual(current.types["sockplug_connections_open"], "gauge")

    def test_resetCountedAsLost(self) -> None:
        """A connection the peer resets is counted as an error of kind lost."""
        server, metrics = startWithMetrics(self, "-e", f"echo@{TCP}")
        sock = echoOpen(self, server.inet(TCP), 10)
        # SO_LINGER on with a zero timeout: close() sends a reset.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        labels = labelsOf(TCP, "echo")
        waitForValues(
            self,
            metrics,
            [
                ("sockplug_errors_total", {**labels, "kind": "lost"}, 1),
                ("sockplug_connections_open", labels, 0),
                ("sockplug_received_bytes_total", labels, 10),
            ],
        )

    def test_datagramListener(self) -> None:
        """A UDP echo listener counts datagrams and bytes each way."""
        server, metrics = startWithMetrics(self, "-e", f"echo@{UDP}")
        echoDatagrams(self, server.inet(UDP), 5, 100)
        labels = labelsOf(UDP, "echo")
        expected = [
            ("sockplug_datagrams_received_total", labels, 5),
            ("sockplug_datagrams_sent_total", labels, 5),
            ("sockplug_received_bytes_total", labels, 500),
            ("sockplug_sent_bytes_total", labels, 500),
        ]
        expected += [
            ("sockplug_datagrams_dropped_total", {**labels, "reason": reason}, 0)
            for reason in ("access", "port", "size", "rate")
        ]
        current = waitForValues(self, metrics, expected)
        self.assertEqual(current.matching("sockplug_connections_total", labels), [])

    def test_datagramsDropped(self) -> None:
        """Datagrams from a source an allow list refuses are counted as dropped."""
        endpoint = f"{UDP}:allow=127.0.0.2"
        server, metrics = startWithMetrics(self, "-e", f"echo@{endpoint}")
        sock = datagramSocket(self, server.inet(endpoint))
        for _ in range(3):
            sock.sendto(b"x" * 50, server.inet(endpoint))
        labels = labelsOf(endpoint, "echo")
        waitForValues(
            self,
            metrics,
            [
                ("sockplug_datagrams_received_total", labels, 3),
                ("sockplug_datagrams_dropped_total", {**labels, "reason": "access"}, 3),
                ("sockplug_datagrams_sent_total", labels, 0),
                ("sockplug_sent_bytes_total", labels, 0),
            ],
        )

    def test_repliesDroppedByRate(self) -> None:
        """Replies past the reply budget are counted as dropped for rate."""
        endpoint = f"{UDP}:replyrate=0.001:replyburst=2"
        server, metrics = startWithMetrics(self, "-e", f"echo@{endpoint}")
        sock = datagramSocket(self, server.inet(endpoint))
        for _ in range(5):
            sock.sendto(b"r" * 20, server.inet(endpoint))
        labels = labelsOf(endpoint, "echo")
        waitForValues(
            self,
            metrics,
            [
                ("sockplug_datagrams_received_total", labels, 5),
                ("sockplug_datagrams_sent_total", labels, 2),
                ("sockplug_datagrams_dropped_total", {**labels, "reason": "rate"}, 3),
                ("sockplug_received_bytes_total", labels, 100),
                ("sockplug_sent_bytes_total", labels, 40),
            ],
        )

    def test_idleClosedCounted(self) -> None:
        """A connection closed for idling is counted."""
        endpoint = f"{TCP}:idle=1"
        server, metrics = startWithMetrics(self, "-e", f"echo@{endpoint}")
        sock = connect(self, server.inet(endpoint))
        self.assertEqual(receiveUntilClosed(sock), b"")
        labels = labelsOf(endpoint, "echo")
        waitForValues(
            self,
            metrics,
            [
                ("sockplug_connections_idle_closed_total", labels, 1),
                ("sockplug_connections_open", labels, 0),
            ],
        )

    def test_unixLinePrint(self) -> None:
        """A line-print UNIX listener counts the bytes of the lines it printed."""
        endpoint = "unix:" + socketPath(self)
        server, metrics = startWithMetrics(self, "-e", f"line-print@{endpoint}")
        sock = connect(self, server.path(endpoint))
        sock.sendall(b"first line\nsecond\n")
        sock.shutdown(socket.SHUT_WR)
        self.assertEqual(receiveUntilClosed(sock), b"")
        server.waitForLineMatching(lambda line: line.endswith(": second"))
        labels = labelsOf(endpoint, "line-print")
        waitForValues(
            self,
            metrics,
            [
                ("sockplug_received_bytes_total", labels, 18),
                ("sockplug_sent_bytes_total", labels, 0),
                ("sockplug_connections_total", labels, 1),
                ("sockplug_connections_open", labels, 0),
            ],
        )

    def test_refusalsByReason(self) -> None:
        """Refusals by the allow list and by maxconn are counted by reason."""
        endpoint = f"{TCP}:allow=127.0.0.1:maxconn=1"
        server, metrics = startWithMetrics(self, "-e", f"echo@{endpoint}")
        address = server.inet(endpoint)
        for _ in range(2):
            refusedFrom(self, address, "127.0.0.2")
        echoOpen(self, address, 5)
        for _ in range(3):
            refusedFrom(self, address)
        labels = labelsOf(endpoint, "echo")
        counts = {"access": 2, "maxconn": 3, "maxpersource": 0, "global": 0, "proxy": 0}
        waitForValues(
            self,
            metrics,
            [
                ("sockplug_connections_total", labels, 1),
                ("sockplug_connections_open", labels, 1),
                ("sockplug_received_bytes_total", labels, 5),
            ]
            + [
                ("sockplug_connections_refused_total", {**labels, "reason": r}, n)
                for r, n in counts.items()
            ],
        )


class DescriptionTests(SynchronousTestCase):
    """
    The metrics that describe the listeners and the process.
    """

    def test_listenerInfo(self) -> None:
        """Each listener has one info sample naming its endpoint, protocol, kind."""
        path = socketPath(self)
        listeners = [
            ("echo", TCP, "stream"),
            ("echo", UDP, "datagram"),
            ("line-print", f"unix:{path}", "stream"),
        ]
        args = [a for p, e, _ in listeners for a in ("-e", f"{p}@{e}")]
        before = time.time()
        _, metrics = startWithMetrics(self, *args)
        current = scrape(metrics)
        info = [str(s) for s in current.matching("sockplug_listener_info", {})]
        expected = [
            str(Sample("sockplug_listener_info", {**labelsOf(e, p), "kind": k}, 1))
            for p, e, k in listeners
        ]
        self.assertEqual(sorted(info), sorted(expected))
        for protocol, endpoint, _ in listeners:
            started = current.value(
                "sockplug_listener_start_time_seconds", **labelsOf(endpoint, protocol)
            )
            self.assertTrue(before - 1 <= started <= time.time(), started)

    def test_processMetrics(self) -> None:
        """The process's own metrics are there, with plausible values."""
        before = time.time()
        server, metrics = startWithMetrics(
            self, "-e", f"echo@{TCP}", "--max-connections", "500"
        )
        current = scrape(metrics)
        self.assertEqual(current.value("sockplug_connections_max"), 500)
        self.assertGreater(current.value("process_open_fds"), 0)
        self.assertGreater(current.value("process_resident_memory_bytes"), 1 << 20)
        started = current.value("process_start_time_seconds")
        self.assertTrue(before - 2 <= started <= time.time(), started)
        self.assertGreaterEqual(
            current.value("process_max_fds"), current.value("process_open_fds")
        )
        self.assertEqual(len(current.matching("python_info", {})), 1)
        self.assertTrue(current.matching("python_gc_collections_total", {}))
        # The same process: its figures are close to what /proc says now.
        self.assertLessEqual(
            abs(current.value("process_open_fds") - server.openFiles()), 5
        )
        rss = current.value("process_resident_memory_bytes")
        self.assertTrue(server.rss() / 2 <= rss <= server.rss() * 2, rss)

    def test_noReloadsWithoutConfig(self) -> None:
        """Without --config there is no reload counter."""
        _, metrics = startWithMetrics(self, "-e", f"echo@{TCP}")
        self.assertNotIn("sockplug_config_reloads", scrape(metrics).types)


class ConfigTests(SynchronousTestCase):
    """
    With a configuration file: listeners named by their tables, and reloads.
    """

    def setUp(self) -> None:
        config = listener("web", TCP)
        self.configured = ConfiguredServer(self, config, TCP, args=("--metrics", TCP))
        self.metrics = metricsAddress(self.configured.server, TCP)

    def test_listenerNamedByTable(self) -> None:
        """A listener of the file is labelled with its table's name."""
        labels = {"listener": "web", "endpoint": TCP, "protocol": "echo"}
        echoConnections(self, self.configured.inet(TCP), 1, 20)
        waitForValues(
            self,
            self.metrics,
            [
                ("sockplug_listener_info", {**labels, "kind": "stream"}, 1),
                ("sockplug_received_bytes_total", labels, 20),
            ],
        )

    def test_reloadsCounted(self) -> None:
        """Reloads are counted by result: one done, then one failed."""
        self.configured.reloaded(listener("web", TCP) + listener("more", UDP), UDP)
        self.assertTrue(
            self.configured.reload("[listeners.broken\n").startswith("reload failed")
        )
        waitForValues(
            self,
            self.metrics,
            [
                ("sockplug_config_reloads_total", {"result": "done"}, 1),
                ("sockplug_config_reloads_total", {"result": "failed"}, 1),
            ],
        )


class ExpositionTests(SynchronousTestCase):
    """
    The exposition itself: a lint-free format, its content type, its path.
    """

    def test_promtoolFindsNothing(self) -> None:
        """promtool check metrics passes the metrics of every kind of listener."""
        promtool = _promtool()
        path = socketPath(self)
        server, metrics = startWithMetrics(
            self,
            "-e",
            f"echo@{TCP}",
            "-e",
            f"echo@{UDP}",
            "-e",
            f"line-print@unix:{path}",
        )
        echoConnections(self, server.inet(TCP), 1, 100)
        echoDatagrams(self, server.inet(UDP), 1, 10)
        body = get(metrics).body
        checked = subprocess.run(
            [promtool, "check", "metrics"],
            input=body,
            capture_output=True,
            timeout=30,
            check=False,
        )
        output = (checked.stdout + checked.stderr).decode("utf-8", "replace")
        self.assertEqual((checked.returncode, output), (0, ""), body.decode())

    def test_contentType(self) -> None:
        """/metrics is served as Prometheus text format 0.0.4."""
        _, metrics = startWithMetrics(self, "-e", f"echo@{TCP}")
        response = get(metrics)
        self.assertEqual(response.status, 200)
        self.assertEqual(response.headers["Content-Type"], CONTENT_TYPE)

    def test_otherPathNotFound(self) -> None:
        """A path other than / and /metrics is 404."""
        _, metrics = startWithMetrics(self, "-e", f"echo@{TCP}")
        self.assertEqual(get(metrics, "/nothing-here").status, 404)

    def test_unixEndpoint(self) -> None:
        """--metrics on a UNIX socket serves /metrics there."""
        path = socketPath(self, "metrics.sock")
        server, metrics = startWithMetrics(
            self, "-e", f"echo@{TCP}", metrics=f"unix:{path}"
        )
        self.assertEqual(metrics, path)
        echoConnections(self, server.inet(TCP), 2, 7)
        response = getOverUNIX(path)
        self.assertEqual(response.status, 200)
        current = Scrape(response.body.decode("utf-8"))
        self.assertEqual(
            current.value("sockplug_received_bytes_total", **labelsOf(TCP, "echo")), 14
        )


class BadMetricsOptionTests(SynchronousTestCase):
    """
    A --metrics value that cannot work is a one-line error and exit status 1.
    """

    def commandLineError(self, *args: str) -> str:
        """
        twistd exits 1 with one line on stderr naming --metrics, no
        traceback and nothing listening; return that line.
        """
        try:
            result = runTwistd(self, "-e", f"echo@{TCP}", *args)
        except subprocess.TimeoutExpired as e:
            self.fail(f"twistd started serving instead: {(e.output or b'')[-600:]!r}")
        self.assertEqual(result.code, 1, result.output)
        lines = result.stderr.splitlines()
        self.assertEqual(len(lines), 1, result.output)
        self.assertTrue(lines[0].startswith("twistd sockplug: --metrics "), lines[0])
        self.assertNotIn("Traceback", result.output)
        self.assertNotIn("listening on", result.output)
        return lines[0]

    def test_datagramEndpoint(self) -> None:
        """A datagram endpoint is refused, by name: HTTP needs a stream."""
        endpoint = "udp:0:interface=127.0.0.1"
        self.assertIn(repr(endpoint), self.commandLineError("--metrics", endpoint))

    def test_malformedEndpoint(self) -> None:
        """An endpoint string of no known type is refused, by name."""
        endpoint = "nosuchtype:9100"
        self.assertIn(repr(endpoint), self.commandLineError("--metrics", endpoint))

    def test_badPort(self) -> None:
        """A port out of range is refused, naming the port."""
        line = self.commandLineError("--metrics", "tcp:70000")
        self.assertIn("'tcp:70000'", line)
        self.assertIn("'70000'", line)

    def test_twice(self) -> None:
        """A second --metrics is refused rather than silently replacing the first."""
        self.commandLineError("--metrics", TCP, "--metrics", f"{TCP}:backlog=5")

    def test_portInUse(self) -> None:
        """A port already taken ends the start with one line."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(sock.close)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        endpoint = f"tcp:{sock.getsockname()[1]}:interface=127.0.0.1"
        result = runTwistd(self, "-e", f"echo@{TCP}", "--metrics", endpoint)
        critical = result.stderr.splitlines()  # (logging has not begun)
        self.assertEqual(result.code, 1, result.output)
        self.assertEqual(len(critical), 1, result.output)
        self.assertIn("--metrics", critical[0])
        self.assertIn(f"cannot listen on {endpoint!r}: ", critical[0])
        self.assertIn("something is already listening there", critical[0])
        self.assertNotIn("Traceback", result.output)
