"""
Tests for L{sockplug.metrics._prometheus}: C{--metrics}' Prometheus collector and its
service.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from typing import Any

from attrs import evolve
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.openmetrics import parser as openmetricsParser
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet.address import IPv4Address, UNIXAddress
from twisted.internet.testing import StringTransportWithDisconnection
from twisted.logger import LogLevel
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import getChildForRequest
from twisted.web.test.requesthelper import DummyRequest

from sockplug.compat import renderResource
from sockplug.config._file import Configuration
from sockplug.defences.test.test_streamguard import _Texts
from sockplug.endpoints._parser import EndpointParser
from sockplug.errors import ListenFailed
from sockplug.metrics._prometheus import (
    ListenersCollector,
    MetricsPage,
    MetricsService,
    MetricsSite,
)
from sockplug.metrics._snapshot import ListenerReading, Reading
from sockplug.metrics._status import StatusPage
from sockplug.metrics.test.test_status import _exchange
from sockplug.plugin import TransportKind
from sockplug.server._reload import ConfigReloader
from sockplug.server._service import ListenersService
from sockplug.server.test.test_reload import _config, _Reactor

_STREAM = ListenerReading(
    name="a",
    endpoint="tcp:8000",
    protocol="echo",
    kind=TransportKind.STREAM,
    listening=True,
    since=1700000000.5,
    open=3,
    connections=70,
    bytesIn=1000,
    bytesOut=2000,
    datagramsIn=0,
    datagramsOut=0,
    idleClosed=9,
    refused={"access": 11, "maxconn": 12, "global": 13, "maxpersource": 14, "proxy": 0},
    errors={"lost": 21, "tls": 22, "protocol": 23},
)

_DATAGRAM = ListenerReading(
    name="u",
    endpoint="udp:7000",
    protocol="hello",
    kind=TransportKind.DATAGRAM,
    listening=False,
    since=None,
    open=0,
    connections=0,
    bytesIn=300,
    bytesOut=400,
    datagramsIn=30,
    datagramsOut=40,
    idleClosed=0,
    refused={"access": 31, "port": 32, "size": 0, "rate": 34},
    errors={"protocol": 41, "send": 42},
)

_READING = Reading(
    now=1700000100.0,
    pid=4242,
    listeners=(_STREAM, _DATAGRAM),
    openConnections=3,
    maxConnections=500,
    reloads={"done": 5, "failed": 6},
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
    ("sockplug_datagrams_received", "counter"),
    ("sockplug_datagrams_sent", "counter"),
    ("sockplug_datagrams_dropped", "counter"),
    ("sockplug_connections_max", "gauge"),
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

    def collect(self, reading: Reading = _READING) -> list[Metric]:
        return ListenersCollector(lambda: reading).collect()

    def samples(
        self, name: str, reading: Reading = _READING
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
        names = [f.name for f in self.collect(evolve(_READING, reloads=None))]
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
            ValueError, registry.register, ListenersCollector(lambda: _READING)
        )

    def test_readOnce(self) -> None:
        """
        Each collection reads once.
        """
        reads: list[None] = []

        def read() -> Reading:
            reads.append(None)
            return _READING

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
        Connections open, let in and closed for idling are a stream
        listener's only.
        """
        self.assertEqual(
            self.samples("sockplug_connections_open")
            + self.samples("sockplug_connections")
            + self.samples("sockplug_connections_idle_closed"),
            [
                ("sockplug_connections_open", _A, 3),
                ("sockplug_connections_total", _A, 70),
                ("sockplug_connections_idle_closed_total", _A, 9),
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

    def test_noListeners(self) -> None:
        """
        With no listener, only the process's figures have samples.
        """
        families = self.collect(evolve(_READING, listeners=()))
        self.assertEqual(
            [(f.name, len(f.samples)) for f in families if f.samples],
            [("sockplug_connections_max", 1), ("sockplug_config_reloads", 2)],
        )

    def test_exposition(self) -> None:
        """
        The text a registry writes reads back as the same samples.
        """
        registry = CollectorRegistry()
        registry.register(ListenersCollector(lambda: _READING))
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
        self.assertEqual(len(parsed), 31)

    def test_openMetrics(self) -> None:
        """
        The OpenMetrics text, which Prometheus asks for first, reads back as
        the same samples.
        """
        registry = CollectorRegistry()
        registry.register(ListenersCollector(lambda: _READING))
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
        registry.register(ListenersCollector(lambda: _READING))
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
        reading = evolve(_READING, listeners=(evolve(_STREAM, name=name),))
        registry.register(ListenersCollector(lambda: reading))
        families = text_string_to_metric_families(generate_latest(registry).decode())
        [sample] = _samples(families, "sockplug_listener_up")
        self.assertEqual(sample[1]["listener"], name)


class _Lines:
    """
    A log file that keeps what is written to it.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, line: str) -> None:
        self.lines.append(line)

    def close(self) -> None:
        pass


_LISTENERS = '[listeners.a]\nendpoint = "tcp:8000"\n'
_METRICS = "tcp:9100:interface=127.0.0.1"


class MetricsServiceTests(SynchronousTestCase):
    """
    Tests for L{MetricsService}.
    """

    def setUp(self) -> None:
        self.reactor = _Reactor()
        self.texts = _Texts(self)
        self.listeners = ListenersService(
            self.reactor, _config(self.reactor, _LISTENERS).listeners
        )
        self.listeners.startService()
        self.registry = CollectorRegistry()

    def service(
        self, description: str = _METRICS, reloader: ConfigReloader | None = None
    ) -> MetricsService:
        endpoint = EndpointParser(self.reactor, ()).parse(description)
        return MetricsService(
            self.reactor, endpoint, self.listeners, reloader, self.registry
        )

    def started(self, description: str = _METRICS) -> MetricsService:
        service = self.service(description)
        service.privilegedStartService()
        self.addCleanup(service.stopService)
        return service

    def connect(self, number: int, host: str = "192.0.2.1") -> Any:
        [port] = self.reactor.listening(number)
        transport = StringTransportWithDisconnection(
            peerAddress=IPv4Address("TCP", host, 5000)
        )
        protocol = port.factory.buildProtocol(transport.getPeer())
        if protocol is not None:
            transport.protocol = protocol
            protocol.makeConnection(transport)
        return protocol, transport

    def test_listens(self) -> None:
        """
        C{privilegedStartService} listens on the endpoint.
        """
        service = self.started()
        [port] = self.reactor.listening(9100)
        self.assertEqual((port.interface, service.port), ("127.0.0.1", port))

    def test_logged(self) -> None:
        """
        Once listening, it logs where, in its own namespace.
        """
        self.started()
        [event] = [e for e in self.texts.events if "metrics" in e["log_format"]]
        self.assertEqual(
            self.texts("metrics"),
            [
                "metrics and status page listening on tcp:9100:interface=127.0.0.1"
                " (127.0.0.1:9100)"
            ],
        )
        self.assertEqual(
            (event["log_namespace"], event["log_level"]),
            ("sockplug.metrics._prometheus", LogLevel.info),
        )

    def test_registers(self) -> None:
        """
        Once listening, the listeners' metrics are in the registry.
        """
        self.assertIsNone(self.registry.get_sample_value("sockplug_connections_max"))
        self.started()
        self.assertEqual(
            self.registry.get_sample_value("sockplug_connections_max"), 10_000.0
        )

    def test_scrape(self) -> None:
        """
        A scrape reads the listeners' counts as they are then.
        """
        self.started()
        labels = {"listener": "a", "endpoint": "tcp:8000", "protocol": "echo"}
        protocol, _ = self.connect(8000)
        protocol.dataReceived(b"ping")
        self.assertEqual(
            [
                self.registry.get_sample_value(name, labels)
                for name in (
                    "sockplug_connections_total",
                    "sockplug_connections_open",
                    "sockplug_received_bytes_total",
                )
            ],
            [1.0, 1.0, 4.0],
        )

    def test_stopUnregisters(self) -> None:
        """
        Stopping takes the metrics out of the registry.
        """
        service = self.started()
        service.stopService()
        self.assertEqual(list(self.registry.collect()), [])

    def test_stopStopsListening(self) -> None:
        """
        Stopping stops the port, and fires once it has stopped.
        """
        service = self.started()
        [port] = self.reactor.listening(9100)
        stopping = service.stopService()
        assert stopping is not None
        self.assertIsNone(self.successResultOf(stopping))
        self.assertEqual((port.listening, service.port), (False, None))

    def test_stopLeavesNoTimer(self) -> None:
        """
        Stopping stops the idle sweep of the endpoint's connections and the
        site's clock for its log dates, both on the service's reactor.
        """
        before = list(self.reactor.getDelayedCalls())
        service = self.started()
        self.assertEqual(len(self.reactor.getDelayedCalls()), len(before) + 2)
        service.stopService()
        self.assertEqual(self.reactor.getDelayedCalls(), before)

    def test_stopNotStarted(self) -> None:
        """
        Stopping a service that never listened does nothing.
        """
        self.assertIsNone(self.service().stopService())

    def test_startServiceListens(self) -> None:
        """
        C{startService} alone listens too; after C{privilegedStartService},
        it does not listen again.
        """
        alone = self.service()
        alone.startService()
        self.addCleanup(alone.stopService)
        self.assertEqual(len(self.reactor.listening(9100)), 1)
        alone.stopService()
        both = self.started()
        both.startService()
        self.assertEqual(len(self.reactor.listening(9100)), 1)
        self.assertTrue(both.running)

    def test_listenFails(self) -> None:
        """
        An endpoint that cannot listen fails the start with one line naming
        it and why, logged as critical, and nothing is registered.
        """
        self.reactor.refuse.add(9100)
        service = self.service()
        e = self.assertRaises(ListenFailed, service.privilegedStartService)
        self.assertEqual(
            str(e),
            "sockplug: --metrics: cannot listen on 'tcp:9100:interface=127.0.0.1':"
            " something is already listening there",
        )
        self.assertEqual(e.code, 1)
        self.assertEqual(list(self.registry.collect()), [])
        self.assertIsNone(service.port)
        self.assertEqual(
            [
                self.texts.events[n]["log_level"]
                for n, text in enumerate(self.texts())
                if text.startswith("--metrics")
            ],
            [LogLevel.critical],
        )
        self.assertIn(
            "--metrics: cannot listen on 'tcp:9100:interface=127.0.0.1':"
            " something is already listening there",
            self.texts(),
        )

    def test_listenFailsNoTimer(self) -> None:
        """
        An endpoint that cannot listen leaves no timer behind: neither its
        own, nor those of the listeners, which it closes.
        """
        self.reactor.refuse.add(9100)
        self.assertRaises(ListenFailed, self.service().privilegedStartService)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_limits(self) -> None:
        """
        The endpoint's limits apply to its connections: C{allow=} refuses
        the others.
        """
        self.started(_METRICS + ":allow=10.0.0.0/8")
        refused, _ = self.connect(9100, "192.0.2.1")
        allowed, transport = self.connect(9100, "10.1.2.3")
        transport.loseConnection()
        self.assertEqual((refused, allowed is not None), (None, True))

    def test_siteQuiet(self) -> None:
        """
        The site logs no line per request.
        """
        self.started()
        [port] = self.reactor.listening(9100)
        site = port.factory.wrappedFactory
        lines = _Lines()
        site.logFile = lines
        _, transport = self.connect(9100)
        transport.protocol.dataReceived(b"GET / HTTP/1.0\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.0 200 OK\r\n"))
        self.assertEqual((lines.lines, MetricsSite.noisy), ([], False))

    def test_siteReactor(self) -> None:
        """
        The site runs on the service's reactor (its request timeouts and
        its clock), not on the global one.
        """
        self.started()
        [port] = self.reactor.listening(9100)
        self.assertIs(port.factory.wrappedFactory.reactor, self.reactor)

    def test_read(self) -> None:
        """
        C{read} reads the listeners; without a reloader, there are no
        reloads.
        """
        reading = self.service().read()
        self.assertEqual(
            ([r.name for r in reading.listeners], reading.reloads), (["a"], None)
        )

    def test_readReloads(self) -> None:
        """
        With a reloader, C{read} counts its reloads.
        """
        reloader = ConfigReloader(
            self.reactor, lambda: Configuration(()), self.listeners
        )
        service = self.service(reloader=reloader)
        self.assertEqual(service.read().reloads, {"done": 0, "failed": 0})


class ResourceTests(SynchronousTestCase):
    """
    Tests for L{MetricsService.resource}: the site's pages.
    """

    def setUp(self) -> None:
        reactor = _Reactor()
        listeners = ListenersService(reactor, _config(reactor, _LISTENERS).listeners)
        listeners.startService()
        endpoint = EndpointParser(reactor, ()).parse(_METRICS)
        self.registry = CollectorRegistry()
        service = MetricsService(reactor, endpoint, listeners, None, self.registry)
        self.root = service.resource(self.registry)

    def child(self, *path: bytes) -> Any:
        return getChildForRequest(self.root, DummyRequest(list(path)))

    def test_status(self) -> None:
        """
        C{/} is the status page, of the service's listeners.
        """
        page = self.child(b"")
        request = DummyRequest([])
        self.successResultOf(renderResource(page, request))
        self.assertIsInstance(page, StatusPage)
        self.assertIn(b'<tr data-listener="a">', b"".join(request.written))

    def test_metrics(self) -> None:
        """
        C{/metrics} serves the metrics of the given registry.
        """
        self.registry.register(ListenersCollector(lambda: _READING))
        status, headers, body = _exchange(self.root, b"GET /metrics HTTP/1.0\r\n\r\n")
        self.assertEqual(
            (status, headers[b"content-type"]),
            (b"HTTP/1.0 200 OK", b"text/plain; version=0.0.4; charset=utf-8"),
        )
        self.assertIn(b"\nsockplug_connections_max 500.0\n", body)

    def test_metricsGzipped(self) -> None:
        """
        C{/metrics} is compressed for a scraper that takes gzip, as
        Prometheus does.
        """
        self.registry.register(ListenersCollector(lambda: _READING))
        _, headers, body = _exchange(
            self.root, b"GET /metrics HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n"
        )
        self.assertEqual(headers[b"content-encoding"], b"gzip")
        self.assertEqual(gzip.decompress(body), generate_latest(self.registry))

    def test_metricsOverUNIXSocket(self) -> None:
        """
        C{/metrics} is served to a peer on a UNIX socket, which has no host.
        """
        status, _, _ = _exchange(
            self.root, b"GET /metrics HTTP/1.0\r\n\r\n", UNIXAddress(None)
        )
        self.assertEqual(status, b"HTTP/1.0 200 OK")

    def test_otherPaths(self) -> None:
        """
        Any other path is not found.
        """
        codes: list[int | None] = []
        for path in (b"other", b"favicon.ico", b"status", b"metrics.txt"):
            request = DummyRequest([path])
            self.successResultOf(renderResource(self.child(path), request))
            codes.append(request.responseCode)
        self.assertEqual(codes, [404] * 4)


class MetricsPageTests(SynchronousTestCase):
    """
    Tests for L{MetricsPage}.
    """

    def setUp(self) -> None:
        self.registry = CollectorRegistry()
        self.reads = 0

        def read() -> Reading:
            self.reads += 1
            return _READING

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
        self.assertEqual(len([f for f in families if f.samples]), 15)

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
            status, headers, _ = _exchange(
                self.page, b"GET / HTTP/1.0\r\nAccept: " + accept + b"\r\n\r\n"
            )
            answers.append((status, headers[b"content-type"]))
        plain = b"text/plain; version=0.0.4; charset=utf-8"
        self.assertEqual(answers, [(b"HTTP/1.0 200 OK", plain)] * 2)

    def test_head(self) -> None:
        """
        A HEAD request is answered with no body.
        """
        status, headers, body = _exchange(self.page, b"HEAD / HTTP/1.0\r\n\r\n")
        self.assertEqual(
            (status, headers[b"content-type"], body),
            (b"HTTP/1.0 200 OK", b"text/plain; version=0.0.4; charset=utf-8", b""),
        )

    def test_post(self) -> None:
        """
        A POST is answered with 405, and reads nothing.
        """
        status, _, _ = _exchange(
            self.page, b"POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n"
        )
        self.assertEqual((status, self.reads), (b"HTTP/1.0 405 Method Not Allowed", 0))
