"""
Tests for L{sockplug.metrics._prometheus.MetricsService}: C{--metrics}' service,
and the pages of its site.
"""

from __future__ import annotations

import gzip
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from twisted.internet.address import IPv4Address, UNIXAddress
from twisted.internet.testing import StringTransportWithDisconnection
from twisted.logger import LogLevel
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import getChildForRequest
from twisted.web.test.requesthelper import DummyRequest

from sockplug.compat import renderResource
from sockplug.config._file import Configuration
from sockplug.endpoints._parser import EndpointParser
from sockplug.errors import ListenFailed
from sockplug.metrics._prometheus import ListenersCollector, MetricsService, MetricsSite
from sockplug.metrics._status import StatusPage
from sockplug.server._hangup import ConfigReloader
from sockplug.server._service import ListenersService
from sockplug.testing._logs import LogTexts
from sockplug.testing._metrics import READING, exchange
from sockplug.testing._server import ServiceReactor, configuration


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
        self.reactor = ServiceReactor()
        self.texts = LogTexts(self)
        self.listeners = ListenersService(
            self.reactor, configuration(self.reactor, _LISTENERS).listeners
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

    def test_abandon(self) -> None:
        """
        Abandoned (the process ends without a stop), it closes its port.
        """
        service = self.started()
        [port] = self.reactor.listening(9100)
        service.abandon()
        self.assertEqual((port.listening, service.port), (False, None))

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
        reactor = ServiceReactor()
        listeners = ListenersService(
            reactor, configuration(reactor, _LISTENERS).listeners
        )
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
        self.registry.register(ListenersCollector(lambda: READING))
        status, headers, body = exchange(self.root, b"GET /metrics HTTP/1.0\r\n\r\n")
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
        self.registry.register(ListenersCollector(lambda: READING))
        _, headers, body = exchange(
            self.root, b"GET /metrics HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n"
        )
        self.assertEqual(headers[b"content-encoding"], b"gzip")
        self.assertEqual(gzip.decompress(body), generate_latest(self.registry))

    def test_metricsOverUNIXSocket(self) -> None:
        """
        C{/metrics} is served to a peer on a UNIX socket, which has no host.
        """
        status, _, _ = exchange(
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
