# -*- test-case-name: sockplug.workers.test.test_metrics -*-
"""
C{--metrics ENDPOINT} with C{--workers N}: the supervisor serves the
metrics of every worker, each sample labelled with its C{worker}.

Each worker serves its own metrics and status page, as without workers, on
a UNIX socket of its own in a folder only the supervisor's user can enter
(see L{sockplug.workers._supervisor}). On each scrape of C{/metrics} the supervisor
reads every worker's, parses them with C{prometheus_client}'s parser, adds
a C{worker} label to each sample and writes them all again, with the
supervisor's own: C{sockplug_workers}, C{sockplug_worker_up} (1 for each
worker whose metrics are in this scrape), C{sockplug_worker_restarts_total}
and C{sockplug_worker_unresponsive_total} (the workers killed because their
heartbeat fell silent: see L{sockplug.workers._heartbeat}). Sum over workers in PromQL:
C{sum without (worker) (rate(sockplug_connections_total[1m]))}. The
pages that serve them are in L{sockplug.workers._site}.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import UNIXClientEndpoint
from twisted.logger import Logger
from twisted.web.client import Agent, readBody
from twisted.web.http_headers import Headers

from sockplug.internet import droppedLogLines

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from sockplug.workers._supervisor import WorkersService

__all__ = [
    "Fetch",
    "Page",
    "encode",
    "fetchFromWorker",
    "gatherMetrics",
    "mergeMetrics",
    "supervisorMetrics",
]

_log = Logger()

# A worker that has not answered within this is left out of the scrape.
FETCH_TIMEOUT = 5.0

# What reads a worker's page: the path of its socket and the request's
# path; fires with the response's code, the headers of FORWARDED it has,
# and its body.
Page = tuple[int, dict[bytes, bytes], bytes]
Fetch = Callable[[str, bytes], Deferred[Page]]

# The headers of a worker's page that its copy keeps.
FORWARDED = (b"content-type", b"content-security-policy", b"x-content-type-options")


def fetchFromWorker(reactor: Any) -> Fetch:
    """
    Read pages of workers over their UNIX sockets, with Twisted's HTTP
    client.
    """

    class _OneSocket:
        def __init__(self, path: str) -> None:
            self.path = path

        def endpointForURI(self, uri: object) -> UNIXClientEndpoint:
            return UNIXClientEndpoint(reactor, self.path, timeout=FETCH_TIMEOUT)

    def fetch(path: str, uri: bytes) -> Deferred[Page]:
        agent = Agent.usingEndpointFactory(reactor, _OneSocket(path))
        headers = Headers({b"accept": [b"text/plain"]})
        requesting = agent.request(b"GET", b"http://worker" + uri, headers)

        def body(response: Any) -> Deferred[Page]:
            kept = {}
            for name in FORWARDED:
                values = response.headers.getRawHeaders(name)
                if values:
                    kept[name] = values[0]
            return readBody(response).addCallback(
                lambda data: (response.code, kept, data)
            )

        fetching: Deferred[Page] = requesting.addCallback(body)
        return fetching.addTimeout(FETCH_TIMEOUT, reactor)

    return fetch


def mergeMetrics(
    texts: Mapping[int, str], logDropped: int | None = None
) -> list[Metric]:
    """
    The metric families of every worker's text, as one set: each sample
    with a C{worker} label naming its worker.

    @param texts: each worker's metrics, in Prometheus' text format, by
        number.
    @param logDropped: the supervisor's own log lines dropped (see
        L{sockplug.internet.droppedLogLines}): a sample without a
        C{worker} label (the workers' lines go through the supervisor's
        log).
    """
    from prometheus_client.metrics_core import Metric
    from prometheus_client.parser import text_string_to_metric_families

    merged: dict[str, Metric] = {}
    for worker, text in texts.items():
        for family in text_string_to_metric_families(text):
            into = merged.get(family.name)
            if into is None:
                into = Metric(family.name, family.documentation, family.type)
                into.unit = family.unit
                merged[family.name] = into
            for sample in family.samples:
                labels = {**sample.labels, "worker": str(worker)}
                into.samples.append(sample._replace(labels=labels))
    if logDropped is not None:
        name = "sockplug_log_dropped_lines"
        into = merged.get(name)
        if into is None:
            into = merged[name] = Metric(name, "Lines of the log dropped.", "counter")
        into.add_sample(f"{name}_total", {}, logDropped)
    return list(merged.values())


def supervisorMetrics(supervisor: WorkersService, read: Iterable[int]) -> list[Metric]:
    """
    The supervisor's own metrics: how many workers, which are in this
    scrape (C{read}), how often each has been started again, and how often
    killed for its heartbeat's silence.
    """
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    count = GaugeMetricFamily("sockplug_workers", "Worker processes (--workers)")
    count.add_metric([], supervisor.workers)
    up = GaugeMetricFamily(
        "sockplug_worker_up",
        "1 if the worker runs and its metrics are in this scrape",
        labels=["worker"],
    )
    restarts = CounterMetricFamily(
        "sockplug_worker_restarts",
        "How many times the worker has ended and been started again",
        labels=["worker"],
    )
    unresponsive = CounterMetricFamily(
        "sockplug_worker_unresponsive",
        "How many times the worker's reactor stopped turning (no heartbeat"
        " within --worker-timeout) and it was killed",
        labels=["worker"],
    )
    scraped = set(read)
    for slot in supervisor.slots:
        up.add_metric([str(slot.number)], 1 if slot.number in scraped else 0)
        restarts.add_metric([str(slot.number)], slot.restarts)
        unresponsive.add_metric([str(slot.number)], slot.unresponsive)
    return [count, up, restarts, unresponsive]


class _Families:
    """
    A collector of metric families read already.
    """

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def encode(families: list[Metric], accept: str, names: list[str]) -> tuple[bytes, str]:
    """
    Write C{families} as the scraper asks (C{accept}: the text format or
    OpenMetrics; C{names}: only those samples, if any).

    @return: the body and its content type.
    """
    from prometheus_client import CollectorRegistry
    from prometheus_client.exposition import choose_encoder

    try:
        encoder, contentType = choose_encoder(accept)
    except (TypeError, ValueError):
        encoder, contentType = choose_encoder("")
    if names:
        for family in families:
            family.samples = [s for s in family.samples if s.name in names]
        families = [family for family in families if family.samples]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return encoder(registry), contentType


def gatherMetrics(supervisor: WorkersService, fetch: Fetch) -> Deferred[list[Metric]]:
    """
    Read the metrics of every serving worker (those that answer), and add
    the supervisor's.
    """
    numbers = [p.number for p in supervisor.processes if p.ready]
    reads = []
    for number in numbers:
        path = supervisor.metricsSocket(number)
        assert path is not None
        reads.append(fetch(path, b"/metrics"))
    gathering = defer.DeferredList(reads, consumeErrors=True)

    def merge(results: list[tuple[bool, Any]]) -> list[Metric]:
        texts = {}
        for number, (ok, result) in zip(numbers, results, strict=True):
            if ok and result[0] == 200:
                texts[number] = result[2].decode("utf-8", "replace")
            else:
                why = result.getErrorMessage() if not ok else f"HTTP {result[0]}"
                _log.warn(
                    "metrics of worker {worker} not read: {why}",
                    worker=number,
                    why=why,
                )
        return [
            *supervisorMetrics(supervisor, texts),
            *mergeMetrics(texts, droppedLogLines()),
        ]

    return gathering.addCallback(merge)
