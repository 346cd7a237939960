"""
Tests for L{sockplug.workers._site}: the supervisor's C{--metrics} pages,
with workers in memory.
"""

from __future__ import annotations

import gc
import gzip
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import CannotListenError, ConnectionDone
from twisted.internet.interfaces import IListeningPort
from twisted.logger import LogLevel
from twisted.python.failure import Failure
from twisted.web.resource import getChildForRequest
from twisted.web.test.requesthelper import DummyRequest
from zope.interface import implementer

from sockplug.compat import renderResource
from sockplug.endpoints._parsed import ParsedEndpoint
from sockplug.endpoints._syntax import Arguments
from sockplug.errors import ListenFailed
from sockplug.plugin import TransportKind
from sockplug.testing._metrics import exchange as _exchange
from sockplug.testing._workers import WORKER_ONE_METRICS as _ONE
from sockplug.testing._workers import WORKER_TWO_METRICS as _TWO
from sockplug.testing._workers import SupervisorCase
from sockplug.testing._workers import samplesOf as _samples
from sockplug.workers._metrics import Page
from sockplug.workers._site import WorkersMetricsService


@implementer(IListeningPort)
class _Port:
    def __init__(self) -> None:
        self.stopped = 0

    def startListening(self) -> None:
        pass

    def stopListening(self) -> Deferred[None]:
        self.stopped += 1
        return succeed(None)

    def getHost(self) -> Any:
        return IPv4Address("TCP", "127.0.0.1", 9100)


class _Endpoint:
    def __init__(self, result: Deferred[Any]) -> None:
        self.result = result
        self.factories: list[Any] = []

    def listen(self, factory: Any) -> Deferred[Any]:
        self.factories.append(factory)
        return self.result


class ServiceCase(SupervisorCase):
    """
    The metrics of a supervisor of two workers, read through a fetch in
    memory.
    """

    def setUp(self) -> None:
        super().setUp()
        self.fetched: list[tuple[str, bytes]] = []
        self.pages: dict[int, Deferred[Page]] = {}
        self.supervisor = self.started(metrics=True)
        self.addCleanup(self.supervisor._removeFolder)
        for spawned in self.reactor.spawned:
            spawned["protocol"].childDataReceived(3, b'{"ready": true}\n')
        self.endpoint = _Endpoint(succeed(_Port()))
        parsed = ParsedEndpoint(
            "tcp:9100",
            TransportKind.STREAM,
            self.endpoint,  # type: ignore[arg-type]
            arguments=Arguments.parse("tcp:9100"),
        )
        self.metrics = WorkersMetricsService(
            self.reactor, parsed, self.supervisor, self.fetch
        )
        self.root = self.metrics.resource()

    def fetch(self, path: str, uri: bytes) -> Deferred[Page]:
        self.fetched.append((path, uri))
        number = int(path.rpartition("worker-")[2].partition(".")[0])
        return self.pages.get(number) or succeed((200, {}, b""))

    def get(self, *path: bytes, **headers: bytes) -> DummyRequest:
        request = DummyRequest(list(path))
        for name, value in headers.items():
            request.requestHeaders.setRawHeaders(name.replace("_", "-"), [value])
        resource = getChildForRequest(self.root, request)
        self.successResultOf(renderResource(resource, request))
        return request


class MergedPageTests(ServiceCase):
    """
    Tests for C{/metrics}.
    """

    def test_everyWorker(self) -> None:
        """
        Each serving worker's metrics are read from its own socket, and
        written with the supervisor's.
        """
        self.pages = {
            1: succeed((200, {}, _ONE.encode())),
            2: succeed((200, {}, _TWO.encode())),
        }
        request = self.get(b"metrics")
        self.assertEqual(
            sorted(self.fetched),
            [
                (self.supervisor.metricsSocket(1), b"/metrics"),
                (self.supervisor.metricsSocket(2), b"/metrics"),
            ],
        )
        samples = _samples(b"".join(request.written).decode())
        key = ("sockplug_connections_total", (("listener", "a"), ("worker", "2")))
        self.assertEqual(samples[key], 5)
        self.assertEqual(samples[("sockplug_worker_up", (("worker", "2"),))], 1)

    def test_workerNotAnswering(self) -> None:
        """
        A worker that does not answer is left out (its C{up} is 0), and the
        others are served; the log says so.
        """
        self.pages = {
            1: fail(ConnectionRefusedError()),
            2: succeed((200, {}, _TWO.encode())),
        }
        request = self.get(b"metrics")
        samples = _samples(b"".join(request.written).decode())
        self.assertEqual(samples[("sockplug_worker_up", (("worker", "1"),))], 0)
        self.assertEqual(samples[("sockplug_worker_up", (("worker", "2"),))], 1)
        [warning] = self.logged(LogLevel.warn)
        self.assertIn("metrics of worker 1 not read", warning)

    def test_notReady(self) -> None:
        """
        A worker not serving yet is not asked.
        """
        self.end(1)
        self.reactor.advance(1)
        self.get(b"metrics")
        self.assertEqual(
            self.fetched, [(self.supervisor.metricsSocket(2), b"/metrics")]
        )

    def test_gzip(self) -> None:
        """
        The metrics are compressed for a scraper that takes gzip, as
        Prometheus does.
        """
        _, headers, body = _exchange(
            self.root, b"GET /metrics HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n"
        )
        self.assertEqual(headers[b"content-encoding"], b"gzip")
        self.assertIn(b"sockplug_workers 2.0", gzip.decompress(body))


class PagesTests(ServiceCase):
    """
    Tests for C{/} and C{/worker/N/}.
    """

    def test_workers(self) -> None:
        """
        C{/} lists every worker, with its pid, its state and its restarts.
        """
        self.end(2)
        text = b"".join(self.get(b"").written).decode()
        self.assertIn(
            '<tr data-worker="1"><td>1</td><td>1000</td><td>serving</td>', text
        )
        self.assertIn("<td>starting again</td>", text)
        self.assertIn('<a href="worker/2/">status</a>', text)

    def test_workerPage(self) -> None:
        """
        C{/worker/N/...} is the page of worker N at that path, with its
        query, its code and its headers.
        """
        self.pages = {
            2: succeed((200, {b"content-type": b"text/html"}, b"<html>two</html>"))
        }
        request = DummyRequest([b"worker", b"2", b""])
        request.uri = b"/worker/2/?refresh=9"
        resource = getChildForRequest(self.root, request)
        self.successResultOf(renderResource(resource, request))
        self.assertEqual(
            self.fetched[-1], (self.supervisor.metricsSocket(2), b"/?refresh=9")
        )
        self.assertEqual(b"".join(request.written), b"<html>two</html>")
        self.assertEqual(
            request.responseHeaders.getRawHeaders(b"content-type"), [b"text/html"]
        )

    def test_noSuchWorker(self) -> None:
        """
        A worker number out of range is not found.
        """
        for number in (b"0", b"3", b"x"):
            self.assertEqual(self.get(b"worker", number, b"").responseCode, 404)

    def test_workerNotAnswering(self) -> None:
        """
        A worker that does not answer gives 503.
        """
        self.pages = {1: fail(ConnectionRefusedError())}
        self.assertEqual(self.get(b"worker", b"1", b"").responseCode, 503)


class ServiceTests(ServiceCase):
    """
    Tests for L{WorkersMetricsService}.
    """

    def test_listens(self) -> None:
        """
        It listens on its endpoint, guarded, and stops listening on stop.
        """
        self.metrics.privilegedStartService()
        self.assertEqual(len(self.endpoint.factories), 1)
        self.assertIn(
            "metrics of the workers listening on tcp:9100 (127.0.0.1:9100)",
            self.logged(),
        )
        port = self.metrics.port
        self.successResultOf(self.metrics.stopService())  # type: ignore[arg-type]
        self.assertEqual(port.stopped, 1)  # type: ignore[union-attr]

    def test_abandon(self) -> None:
        """
        Abandoned (the process ends without a stop), it closes its port.
        """
        self.metrics.privilegedStartService()
        port = self.metrics.port
        self.metrics.abandon()
        self.assertEqual((port.stopped, self.metrics.port), (1, None))  # type: ignore[union-attr]

    def test_cannotListen(self) -> None:
        """
        If it cannot listen, the start fails in one line, and the
        supervisor's sockets are closed.
        """
        self.endpoint.result = fail(CannotListenError("", 9100, OSError(98, "x")))
        e = self.assertRaises(ListenFailed, self.metrics.privilegedStartService)
        self.assertIn("--metrics: cannot listen on 'tcp:9100'", str(e))
        self.assertEqual([p.lost for p in self.ports["tcp"]], [1, 1])


class _StrictRequest(DummyRequest):
    """
    A request that, as Twisted's, refuses to be written to or finished
    once its client has gone.
    """

    gone = False

    def processingFailed(self, reason: Failure) -> None:
        self.gone = True
        super().processingFailed(reason)

    def write(self, data: bytes) -> None:
        if self.gone:
            raise RuntimeError("write after the connection was lost")
        super().write(data)

    def finish(self) -> None:
        if self.gone:
            raise RuntimeError("finish after the connection was lost")
        super().finish()


class GoneTests(ServiceCase):
    """
    A client that goes away before the workers answer gets nothing, and
    nothing fails.
    """

    def test_gone(self) -> None:
        """
        The answer that comes after the client has gone is dropped.
        """
        answers: Deferred[Page] = Deferred()
        self.pages = {1: answers, 2: Deferred()}
        for path in ([b"metrics"], [b"worker", b"1", b""]):
            request = _StrictRequest(path)
            resource = getChildForRequest(self.root, request)
            rendering = renderResource(resource, request)
            request.processingFailed(Failure(ConnectionDone()))
            self.failureResultOf(rendering, ConnectionDone)
        answers.callback((200, {}, _ONE.encode()))
        self.pages[2].callback((200, {}, b""))
        gc.collect()  # a failed Deferred left over would log now
        self.assertEqual(self.flushLoggedErrors(), [])
        self.assertEqual(self.logged(LogLevel.critical), [])
        self.assertEqual(self.logged(LogLevel.error), [])
