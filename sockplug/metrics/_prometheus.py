# -*- test-case-name: sockplug.metrics.test.test_prometheus,sockplug.metrics.test.test_metricsservice -*-  # noqa: E501
"""
C{--metrics ENDPOINT}: Prometheus metrics at C{/metrics} and a status page
at C{/}, on an endpoint of their own.

C{prometheus_client} writes the metrics, from its registry, so a plugin's
own metrics appear beside sockplug's. They are not served by its Twisted
resource (C{prometheus_client.twisted.MetricsResource}): that one is a
C{WSGIResource}, which fails on a UNIX socket (twisted#5406: it reads the
peer's C{host}), and runs in the reactor's thread pool, where the
listeners' counts would be read while the reactor's thread changes them.
L{MetricsPage} calls the same encoder in the reactor's thread instead,
with the same content negotiation (text or OpenMetrics, C{name[]}
filters) and compression.

The endpoint is a stream endpoint string like a listener's, with its
limits: C{--metrics tcp:9100:interface=127.0.0.1:allow=10.0.0.0/8}.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import EncodingResourceWrapper, Resource
from twisted.web.server import GzipEncoderFactory, Request, Site

from sockplug.defences import (
    DROP_REASONS,
    REFUSAL_REASONS,
    ConnectionBudget,
    ConnectionGuard,
    GuardedFactory,
)
from sockplug.endpoints import ParsedEndpoint
from sockplug.errors import ListenFailed, shown
from sockplug.interfaces import TransportKind
from sockplug.logs import formatAddress
from sockplug.metrics._snapshot import Reading, read
from sockplug.metrics._status import StatusPage
from sockplug.server import closeAtOnce, describeListenError

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import CollectorRegistry

    from sockplug.server import ConfigReloader, ListenersService

__all__ = ["ListenersCollector", "MetricsPage", "MetricsService"]

_log = Logger()

_LABELS = ["listener", "endpoint", "protocol"]


class ListenersCollector:
    """
    A C{prometheus_client} collector of every listener's counts.

    @ivar read: takes a L{Reading} (in the reactor's thread, where
        L{MetricsPage} asks).
    """

    def __init__(self, read: Callable[[], Reading]) -> None:
        self.read = read

    def describe(self) -> list[Metric]:
        """
        The metrics, without samples: their names, for the registry.
        """
        return list(self._families(None))

    def collect(self) -> list[Metric]:
        """
        The metrics, read now.
        """
        return list(self._families(self.read()))

    def _families(self, reading: Reading | None) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        def gauge(name: str, help: str, extra: list[str] | None = None) -> Any:
            return GaugeMetricFamily(name, help, labels=[*_LABELS, *(extra or [])])

        def counter(name: str, help: str, extra: list[str] | None = None) -> Any:
            return CounterMetricFamily(name, help, labels=[*_LABELS, *(extra or [])])

        info = gauge("sockplug_listener_info", "A listener and its kind.", ["kind"])
        up = gauge("sockplug_listener_up", "1 while the listener listens, else 0.")
        started = gauge(
            "sockplug_listener_start_time_seconds",
            "When the listener first listened, in seconds since the epoch.",
        )
        bytesIn = counter("sockplug_received_bytes", "Bytes received.")
        bytesOut = counter("sockplug_sent_bytes", "Bytes sent.")
        errors = counter(
            "sockplug_errors",
            "Connections ended by an error (lost, tls, protocol), or datagrams"
            " (protocol, send).",
            ["kind"],
        )
        open_ = gauge("sockplug_connections_open", "Stream connections open now.")
        accepted = counter("sockplug_connections", "Stream connections let in.")
        refused = counter(
            "sockplug_connections_refused",
            "Stream connections refused, by reason.",
            ["reason"],
        )
        idle = counter(
            "sockplug_connections_idle_closed",
            "Stream connections closed for idling.",
        )
        evicted = counter(
            "sockplug_connections_evicted",
            "Stream connections closed to make room for new ones, the table"
            " being nearly full (evict=).",
        )
        datagramsIn = counter(
            "sockplug_datagrams_received", "Datagrams received (dropped ones too)."
        )
        datagramsOut = counter("sockplug_datagrams_sent", "Datagrams sent.")
        dropped = counter(
            "sockplug_datagrams_dropped",
            "Datagrams dropped: from a refused source (access), too long to read"
            " whole (truncated), or replies held back (port, size, rate, loop,"
            " unaddressed).",
            ["reason"],
        )
        outputLines = counter(
            "sockplug_output_dropped_lines",
            "Lines the protocol's output (line-print's) dropped: its queue"
            " (outputbuffer) was full, or the output failed.",
        )
        outputBytes = counter(
            "sockplug_output_dropped_bytes",
            "Bytes the protocol's output (line-print's) dropped.",
        )
        limit = GaugeMetricFamily(
            "sockplug_connections_max",
            "Stream connections open at once allowed, all listeners together.",
        )
        reloads = CounterMetricFamily(
            "sockplug_config_reloads",
            "Configuration reloads (SIGHUP), by result.",
            labels=["result"],
        )
        if reading is not None:
            limit.add_metric([], reading.maxConnections)
            for result, count in sorted((reading.reloads or {}).items()):
                reloads.add_metric([result], count)
        for listener in () if reading is None else reading.listeners:
            labels = [listener.name, listener.endpoint, listener.protocol]
            info.add_metric([*labels, listener.kind.value], 1)
            up.add_metric(labels, 1 if listener.listening else 0)
            if listener.since is not None:
                started.add_metric(labels, listener.since)
            bytesIn.add_metric(labels, listener.bytesIn)
            bytesOut.add_metric(labels, listener.bytesOut)
            for kind, count in sorted(listener.errors.items()):
                errors.add_metric([*labels, kind], count)
            if listener.outputDropped is not None:
                outputLines.add_metric(labels, listener.outputDropped[0])
                outputBytes.add_metric(labels, listener.outputDropped[1])
            if listener.kind is TransportKind.STREAM:
                open_.add_metric(labels, listener.open)
                accepted.add_metric(labels, listener.connections)
                idle.add_metric(labels, listener.idleClosed)
                evicted.add_metric(labels, listener.evicted)
                for reason in REFUSAL_REASONS:
                    refused.add_metric([*labels, reason], listener.refused[reason])
            else:
                datagramsIn.add_metric(labels, listener.datagramsIn)
                datagramsOut.add_metric(labels, listener.datagramsOut)
                for reason in DROP_REASONS:
                    dropped.add_metric([*labels, reason], listener.refused[reason])
        yield from (info, up, started, bytesIn, bytesOut, errors, open_, accepted)
        yield from (refused, idle, evicted, datagramsIn, datagramsOut, dropped)
        yield from (outputLines, outputBytes, limit, _logDropped(reading))
        if reading is None or reading.reloads is not None:
            yield reloads


def _logDropped(reading: Reading | None) -> Metric:
    """
    The lines of the process's log dropped, if its log counts them.
    """
    from prometheus_client.core import CounterMetricFamily

    family = CounterMetricFamily(
        "sockplug_log_dropped_lines",
        "Lines of the log (on standard output) dropped: its reader did not"
        " read, and the lines waiting for it reached their bound.",
    )
    if reading is not None and reading.logDropped is not None:
        family.add_metric([], reading.logDropped)
    return family


class MetricsPage(Resource):
    """
    C{/metrics}: what C{registry} collects, in Prometheus' text format, or
    in OpenMetrics if the scraper asks for it, limited to the metrics
    named by C{name[]} arguments if any.
    """

    isLeaf = True

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.registry = registry

    def render_GET(self, request: Request) -> bytes:
        from prometheus_client.exposition import choose_encoder

        accept = request.getHeader(b"accept")
        try:
            encoder, contentType = choose_encoder(
                "" if accept is None else accept.decode("latin-1")
            )
        except (TypeError, ValueError):
            # A version it cannot read: the text format, as Prometheus' own
            # client in Go answers.
            encoder, contentType = choose_encoder("")
        registry: Any = self.registry
        names = request.args.get(b"name[]")
        if names:
            registry = registry.restricted_registry(
                [name.decode("utf-8", "replace") for name in names]
            )
        request.setHeader(b"content-type", contentType.encode("ascii"))
        request.setHeader(b"cache-control", b"no-store")
        output: bytes = encoder(registry)
        return output


class MetricsSite(Site):
    """
    A site that logs no line per request: Prometheus asks every few
    seconds, and its lines would drown the listeners' own.
    """

    noisy = False

    def log(self, request: object) -> None:
        pass


class MetricsService(Service):
    """
    Serves the metrics and the status page of a L{ListenersService}.

    @ivar port: the listening port, once listening.
    """

    def __init__(
        self,
        reactor: Any,
        endpoint: ParsedEndpoint,
        listeners: ListenersService,
        reloader: ConfigReloader | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._reactor = reactor
        self._endpoint = endpoint
        self._listeners = listeners
        self._reloader = reloader
        self._registry = registry
        self._collector: ListenersCollector | None = None
        self._guard: ConnectionGuard | None = None
        self.port: IListeningPort | None = None

    def read(self) -> Reading:
        """
        Read every listener's counts (in the reactor's thread).
        """
        return read(self._reactor, self._listeners, self._reloader)

    def resource(self, registry: CollectorRegistry) -> Resource:
        """
        The site's root: the status page, and the metrics below it (gzipped
        for a scraper that takes it, as Prometheus does).
        """
        root = Resource()
        root.putChild(b"", StatusPage(self.read, self._reactor))
        root.putChild(
            b"metrics",
            EncodingResourceWrapper(MetricsPage(registry), [GzipEncoderFactory()]),
        )
        return root

    def privilegedStartService(self) -> None:
        Service.privilegedStartService(self)
        from prometheus_client import REGISTRY

        registry = REGISTRY if self._registry is None else self._registry
        description = self._endpoint.description
        guard = ConnectionGuard(
            self._reactor, description, self._endpoint.limits, ConnectionBudget()
        )
        site = MetricsSite(self.resource(registry), reactor=self._reactor)  # type: ignore[no-untyped-call]
        factory = GuardedFactory(site, guard, self._endpoint.acceptsDirectly)
        outcome: list[IListeningPort | Failure] = []
        endpoint = self._endpoint.endpoint
        assert IStreamServerEndpoint.providedBy(endpoint)
        listening: Deferred[IListeningPort] = endpoint.listen(factory)
        listening.addBoth(outcome.append)
        if not outcome or isinstance(outcome[0], Failure):
            if outcome and isinstance(outcome[0], Failure):
                why = describeListenError(description, outcome[0])
            else:  # (an endpoint that listens later: none of Twisted's)
                why = (
                    f"cannot listen on {shown(description)}: it did not listen at once"
                )
            reason = f"--metrics: {why}"
            self._listeners.abandon()  # (which started first)
            _log.critical("{reason}", reason=reason)
            raise ListenFailed(f"sockplug: {reason}")
        self.port = outcome[0]
        self._guard = guard
        guard.start()
        self._collector = ListenersCollector(self.read)
        registry.register(self._collector)
        self._registered = registry
        _log.info(
            "metrics and status page listening on {endpoint} ({address})",
            endpoint=description,
            address=formatAddress(self.port.getHost()),
        )

    def startService(self) -> None:
        if self.port is None:
            self.privilegedStartService()
        Service.startService(self)

    def abandon(self) -> None:
        """
        The process ends without this service having stopped (twistd
        failed after the start): close its port at once, so that a UNIX
        socket's file and lock go with it.
        """
        port, self.port = self.port, None
        if port is not None:
            closeAtOnce(port)

    def stopService(self) -> Deferred[None] | None:
        Service.stopService(self)
        if self._collector is not None:
            self._registered.unregister(self._collector)
            self._collector = None
        if self._guard is not None:
            self._guard.stop()
            self._guard = None
        port, self.port = self.port, None
        if port is None:
            return None
        stopping: Deferred[None] = port.stopListening()  # type: ignore[assignment]
        return stopping
