"""
Tests for L{sockplug.metrics._prometheus}: C{--metrics}' Prometheus collector,
and the page that serves what it collects.
"""

from __future__ import annotations

from collections.abc import Iterable

from attrs import evolve
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.openmetrics import parser as openmetricsParser
from prometheus_client.parser import text_string_to_metric_families
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyRequest

from sockplug.compat import renderResource
from sockplug.metrics._prometheus import ListenersCollector, MetricsPage
from sockplug.metrics._snapshot import Reading
from sockplug.testing._metrics import (
    DATAGRAM_READING,
    READING,
    STREAM_READING,
    exchange,
)

_A = {"listener": "a", "endpoint": "tcp:8000", "protocol": "echo"}
_U = {"listener": "u", "endpoint": "udp:7000", "protocol": "hello"}

_FAMILIES = [
    ("sockplug_listener_info", "gauge"),
    ("sockplug_listener_up", "gauge"),
    ("sockplug_listener_start_time_seconds", "gauge"),
    ("sockplug_received_bytes", "counter"),
    ("sockplug_sent_bytes", "counter"),
    ("sockplug_errors", "counter"),
    ("sockplug_connections_open", "gauge"),
    ("sockplug_connections", "counter"),
    ("sockplug_connections_refused", "counter"),
    ("sockplug_connections_idle_closed", "counter"),
    ("sockplug_connections_evicted", "counter"),
    ("sockplug_datagrams_received", "counter"),
    ("sockplug_datagrams_sent", "counter"),
    ("sockplug_datagrams_dropped", "counter"),
    ("sockplug_output_dropped_lines", "counter"),
    ("sockplug_output_dropped_bytes", "counter"),
    ("sockplug_connections_max", "gauge"),
    ("sockplug_log_dropped_lines", "counter"),
    ("sockplug_config_reloads", "counter"),
]


def _unread() -> Reading:
    raise AssertionError("read")


def _samples(
    families: Iterable[Metric], name: str
) -> list[tuple[str, dict[str, str], float]]:
    """
    The samples of the family named C{name}: name, labels, value.
    """
    [family] = [f for f in families if f.name == name]
    return [(s.name, s.labels, s.value) for s in family.samples]


class ListenersCollectorTests(SynchronousTestCase):
    """
    Tests for L{ListenersCollector}.
    """

    def collect(self, reading: Reading = READING) -> list[Metric]:
        return ListenersCollector(lambda: reading).collect()

    def samples(
        self, name: str, reading: Reading = READING
    ) -> list[tuple[str, dict[str, str], float]]:
        return _samples(self.collect(reading), name)

    def test_families(self) -> None:
        """
        Every family is there, with its type.
        """
        self.assertEqual([(f.name, f.type) for f in self.collect()], _FAMILIES)

    def test_noReloadsWithoutReloader(self) -> None:
        """
        Without a configuration file, there are no reloads to count.
        """
        names = [f.name for f in self.collect(evolve(READING, reloads=None))]
        self.assertEqual(names, [name for name, _ in _FAMILIES[:-1]])

    def test_reloads(self) -> None:
        """
        The reloads are counted by result.
        """
        self.assertEqual(
            self.samples("sockplug_config_reloads"),
            [
                ("sockplug_config_reloads_total", {"result": "done"}, 5),
                ("sockplug_config_reloads_total", {"result": "failed"}, 6),
            ],
        )

    def test_describe(self) -> None:
        """
        C{describe} gives every family, without samples, and reads nothing.
        """
        described = ListenersCollector(_unread).describe()
        self.assertEqual([(f.name, f.type) for f in described], _FAMILIES)
        self.assertEqual([f.samples for f in described], [[]] * len(_FAMILIES))

    def test_registerReadsNothing(self) -> None:
        """
        A registry takes the names from C{describe}: registering reads
        nothing, and a second collector of the same names is refused.
        """
        registry = CollectorRegistry()
        registry.register(ListenersCollector(_unread))
        self.assertRaises(
            ValueError, registry.register, ListenersCollector(lambda: READING)
        )

    def test_readOnce(self) -> None:
        """
        Each collection reads once.
        """
        reads: list[None] = []

        def read() -> Reading:
            reads.append(None)
            return READING

        collector = ListenersCollector(read)
        collector.collect()
        collector.collect()
        self.assertEqual(len(reads), 2)

    def test_info(self) -> None:
        """
        Each listener has an info sample of 1, labelled with its kind.
        """
        self.assertEqual(
            self.samples("sockplug_listener_info"),
            [
                ("sockplug_listener_info", {**_A, "kind": "stream"}, 1),
                ("sockplug_listener_info", {**_U, "kind": "datagram"}, 1),
            ],
        )

    def test_up(self) -> None:
        """
        A listener that listens is up (1), one that does not is down (0).
        """
        self.assertEqual(
            self.samples("sockplug_listener_up"),
            [("sockplug_listener_up", _A, 1), ("sockplug_listener_up", _U, 0)],
        )

    def test_startTime(self) -> None:
        """
        Each listener that has listened has its start time; one that never
        did has none.
        """
        self.assertEqual(
            self.samples("sockplug_listener_start_time_seconds"),
            [("sockplug_listener_start_time_seconds", _A, 1700000000.5)],
        )

    def test_bytes(self) -> None:
        """
        Bytes received and sent are counted for every listener.
        """
        self.assertEqual(
            self.samples("sockplug_received_bytes")
            + self.samples("sockplug_sent_bytes"),
            [
                ("sockplug_received_bytes_total", _A, 1000),
                ("sockplug_received_bytes_total", _U, 300),
                ("sockplug_sent_bytes_total", _A, 2000),
                ("sockplug_sent_bytes_total", _U, 400),
            ],
        )

    def test_errors(self) -> None:
        """
        Errors are counted by kind: a stream listener's kinds and a datagram
        listener's.
        """
        self.assertEqual(
            self.samples("sockplug_errors"),
            [
                ("sockplug_errors_total", {**_A, "kind": "lost"}, 21),
                ("sockplug_errors_total", {**_A, "kind": "protocol"}, 23),
                ("sockplug_errors_total", {**_A, "kind": "tls"}, 22),
                ("sockplug_errors_total", {**_U, "kind": "protocol"}, 41),
                ("sockplug_errors_total", {**_U, "kind": "send"}, 42),
            ],
        )

    def test_streamOnly(self) -> None:
        """
        Connections open, let in, closed for idling and closed to make room
        are a stream listener's only.
        """
        self.assertEqual(
            self.samples("sockplug_connections_open")
            + self.samples("sockplug_connections")
            + self.samples("sockplug_connections_idle_closed")
            + self.samples("sockplug_connections_evicted"),
            [
                ("sockplug_connections_open", _A, 3),
                ("sockplug_connections_total", _A, 70),
                ("sockplug_connections_idle_closed_total", _A, 9),
                ("sockplug_connections_evicted_total", _A, 8),
            ],
        )

    def test_refusedEveryReason(self) -> None:
        """
        A stream listener's refusals are counted for every reason, those
        that refused none too.
        """
        self.assertEqual(
            self.samples("sockplug_connections_refused"),
            [
                ("sockplug_connections_refused_total", {**_A, "reason": reason}, n)
                for reason, n in [
                    ("access", 11),
                    ("maxconn", 12),
                    ("global", 13),
                    ("maxpersource", 14),
                    ("proxy", 0),
                ]
            ],
        )

    def test_datagramOnly(self) -> None:
        """
        Datagrams received and sent are a datagram listener's only.
        """
        self.assertEqual(
            self.samples("sockplug_datagrams_received")
            + self.samples("sockplug_datagrams_sent"),
            [
                ("sockplug_datagrams_received_total", _U, 30),
                ("sockplug_datagrams_sent_total", _U, 40),
            ],
        )

    def test_outputDropped(self) -> None:
        """
        The lines and bytes a listener's output dropped are counted, with
        the listener's labels.
        """
        printing = evolve(STREAM_READING, protocol="line-print", outputDropped=(7, 280))
        reading = evolve(READING, listeners=(printing, DATAGRAM_READING))
        labels = {**_A, "protocol": "line-print"}
        self.assertEqual(
            self.samples("sockplug_output_dropped_lines", reading)
            + self.samples("sockplug_output_dropped_bytes", reading),
            [
                ("sockplug_output_dropped_lines_total", labels, 7),
                ("sockplug_output_dropped_bytes_total", labels, 280),
            ],
        )

    def test_outputDroppedOnlyWithOutput(self) -> None:
        """
        A listener whose protocol has no output of its own (echo, hello)
        has no output samples.
        """
        self.assertEqual(
            self.samples("sockplug_output_dropped_lines")
            + self.samples("sockplug_output_dropped_bytes"),
            [],
        )

    def test_droppedEveryReason(self) -> None:
        """
        A datagram listener's drops are counted for every reason, those
        that dropped none too.
        """
        self.assertEqual(
            self.samples("sockplug_datagrams_dropped"),
            [
                ("sockplug_datagrams_dropped_total", {**_U, "reason": reason}, n)
                for reason, n in [
                    ("access", 31),
                    ("port", 32),
                    ("size", 0),
                    ("rate", 34),
                    ("loop", 35),
                    ("truncated", 36),
                    ("unaddressed", 37),
                ]
            ],
        )

    def test_connectionsMax(self) -> None:
        """
        The process's bound on open connections has one sample, unlabelled.
        """
        self.assertEqual(
            self.samples("sockplug_connections_max"),
            [("sockplug_connections_max", {}, 500)],
        )

    def test_logDropped(self) -> None:
        """
        The log lines dropped have one sample, unlabelled.
        """
        self.assertEqual(
            self.samples("sockplug_log_dropped_lines", evolve(READING, logDropped=7)),
            [("sockplug_log_dropped_lines_total", {}, 7)],
        )

    def test_noLogDropped(self) -> None:
        """
        A log not written by a L{sockplug.internet.LogStream} (a file) has
        no sample of dropped lines.
        """
        self.assertEqual(self.samples("sockplug_log_dropped_lines"), [])

    def test_noListeners(self) -> None:
        """
        With no listener, only the process's figures have samples.
        """
        families = self.collect(evolve(READING, listeners=()))
        self.assertEqual(
            [(f.name, len(f.samples)) for f in families if f.samples],
            [("sockplug_connections_max", 1), ("sockplug_config_reloads", 2)],
        )

    def test_exposition(self) -> None:
        """
        The text a registry writes reads back as the same samples.
        """
        registry = CollectorRegistry()
        registry.register(ListenersCollector(lambda: READING))
        text = generate_latest(registry).decode("utf-8")
        parsed = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        expected = {
            (s.name, tuple(sorted(s.labels.items()))): float(s.value)
            for family in self.collect()
            for s in family.samples
        }
        self.assertEqual(parsed, expected)
        self.assertEqual(len(parsed), 35)

    def test_openMetrics(self) -> None:
        """
        The OpenMetrics text, which Prometheus asks for first, reads back as
        the same samples.
        """
        registry = CollectorRegistry()
        registry.register(ListenersCollector(lambda: READING))
        text = openmetrics.generate_latest(registry).decode("utf-8")
        parsed = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in openmetricsParser.text_string_to_metric_families(text)
            for s in family.samples
        }
        expected = {
            (s.name, tuple(sorted(s.labels.items()))): float(s.value)
            for family in self.collect()
            for s in family.samples
        }
        self.assertEqual(parsed, expected)

    def test_expositionLines(self) -> None:
        """
        The samples are written with their labels in the text format.
        """
        registry = CollectorRegistry()
        registry.register(ListenersCollector(lambda: READING))
        lines = generate_latest(registry).decode("utf-8").splitlines()
        for line in [
            "# TYPE sockplug_connections_refused_total counter",
            'sockplug_connections_refused_total{endpoint="tcp:8000",'
            'listener="a",protocol="echo",reason="proxy"} 0.0',
            'sockplug_listener_info{endpoint="udp:7000",kind="datagram",'
            'listener="u",protocol="hello"} 1.0',
            "sockplug_connections_max 500.0",
            'sockplug_config_reloads_total{result="failed"} 6.0',
        ]:
            self.assertIn(line, lines)

    def test_labelsEscaped(self) -> None:
        """
        A listener named with quotes, backslashes and a line break reads
        back as named.
        """
        name = 'a "b" \\ c\nd'
        registry = CollectorRegistry()
        reading = evolve(READING, listeners=(evolve(STREAM_READING, name=name),))
        registry.register(ListenersCollector(lambda: reading))
        families = text_string_to_metric_families(generate_latest(registry).decode())
        [sample] = _samples(families, "sockplug_listener_up")
        self.assertEqual(sample[1]["listener"], name)


class MetricsPageTests(SynchronousTestCase):
    """
    Tests for L{MetricsPage}.
    """

    def setUp(self) -> None:
        self.registry = CollectorRegistry()
        self.reads = 0

        def read() -> Reading:
            self.reads += 1
            return READING

        self.registry.register(ListenersCollector(read))
        self.page = MetricsPage(self.registry)

    def get(
        self, accept: bytes | None = None, names: list[bytes] | None = None
    ) -> DummyRequest:
        request = DummyRequest([])
        if accept is not None:
            request.requestHeaders.setRawHeaders(b"accept", [accept])
        if names is not None:
            request.args = {b"name[]": names}
        self.successResultOf(renderResource(self.page, request))
        return request

    def header(self, request: DummyRequest, name: bytes) -> list[bytes] | None:
        headers = request.responseHeaders.getRawHeaders(name)
        return None if headers is None else list(headers)

    def test_text(self) -> None:
        """
        By default the metrics are in Prometheus' text format, read once,
        and not to be cached.
        """
        request = self.get()
        self.assertEqual(
            (
                self.header(request, b"content-type"),
                self.header(request, b"cache-control"),
                self.reads,
            ),
            ([b"text/plain; version=0.0.4; charset=utf-8"], [b"no-store"], 1),
        )
        self.assertEqual(b"".join(request.written), generate_latest(self.registry))

    def test_openMetrics(self) -> None:
        """
        A scraper that asks for OpenMetrics gets it.
        """
        request = self.get(
            b"application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
        )
        body = b"".join(request.written).decode("utf-8")
        self.assertEqual(
            self.header(request, b"content-type"),
            [
                b"application/openmetrics-text; version=1.0.0; charset=utf-8;"
                b" escaping=underscores"
            ],
        )
        self.assertTrue(body.endswith("# EOF\n"), body[-20:])
        families = openmetricsParser.text_string_to_metric_families(body)
        self.assertEqual(len([f for f in families if f.samples]), 16)

    def test_names(self) -> None:
        """
        C{name[]} arguments limit the metrics to those named.
        """
        request = self.get(names=[b"sockplug_connections_max", b"sockplug_listener_up"])
        families = text_string_to_metric_families(b"".join(request.written).decode())
        self.assertEqual(
            sorted(f.name for f in families),
            ["sockplug_connections_max", "sockplug_listener_up"],
        )

    def test_badAccept(self) -> None:
        """
        An C{Accept} header naming a version that is no number (which
        C{prometheus_client} fails on) is answered in the text format, not
        with an error.
        """
        answers = []
        for accept in (
            b"application/openmetrics-text; version=abc",
            b"text/plain; version=x",
        ):
            status, headers, _ = exchange(
                self.page, b"GET / HTTP/1.0\r\nAccept: " + accept + b"\r\n\r\n"
            )
            answers.append((status, headers[b"content-type"]))
        plain = b"text/plain; version=0.0.4; charset=utf-8"
        self.assertEqual(answers, [(b"HTTP/1.0 200 OK", plain)] * 2)

    def test_head(self) -> None:
        """
        A HEAD request is answered with no body.
        """
        status, headers, body = exchange(self.page, b"HEAD / HTTP/1.0\r\n\r\n")
        self.assertEqual(
            (status, headers[b"content-type"], body),
            (b"HTTP/1.0 200 OK", b"text/plain; version=0.0.4; charset=utf-8", b""),
        )

    def test_post(self) -> None:
        """
        A POST is answered with 405, and reads nothing.
        """
        status, _, _ = exchange(
            self.page, b"POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n"
        )
        self.assertEqual((status, self.reads), (b"HTTP/1.0 405 Method Not Allowed", 0))
