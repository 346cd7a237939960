# -*- test-case-name: sockplug.workers.test.test_site -*-
"""
The supervisor's C{--metrics} endpoint with C{--workers N}: C{/metrics},
every worker's metrics labelled with its C{worker} and the supervisor's
own (see L{sockplug.workers._metrics}); C{/}, the workers; C{/worker/N/},
worker N's own status page (and C{/worker/N/metrics} its metrics as it
serves them). The endpoint takes the limits of any listener, as without
workers.
"""

from __future__ import annotations

import html
import os
import socket
from typing import TYPE_CHECKING, Any

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import EncodingResourceWrapper, Resource
from twisted.web.server import NOT_DONE_YET, GzipEncoderFactory, Request

from sockplug.defences import ConnectionBudget, ConnectionGuard, GuardedFactory
from sockplug.endpoints import ParsedEndpoint
from sockplug.errors import ListenFailed
from sockplug.logs import formatAddress
from sockplug.metrics import MetricsSite
from sockplug.server import closeAtOnce, describeListenError
from sockplug.workers._metrics import (
    Fetch,
    Page,
    encode,
    fetchFromWorker,
    gatherMetrics,
)
from sockplug.workers._sockets import listenNow

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from sockplug.workers._supervisor import WorkersService

__all__ = ["WorkersMetricsService"]

_log = Logger()


def _connected(request: Request) -> list[bool]:
    """
    A flag that is true until the client goes away: an answer that comes
    later is dropped (Twisted refuses to finish such a request).
    """
    flag = [True]
    request.notifyFinish().addErrback(lambda _: flag.__setitem__(0, False))
    return flag


class MergedMetricsPage(Resource):
    """
    C{/metrics}: every worker's metrics, and the supervisor's.
    """

    isLeaf = True

    def __init__(self, supervisor: WorkersService, fetch: Fetch) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._supervisor = supervisor
        self._fetch = fetch

    def render_GET(self, request: Request) -> int:
        accept = (request.getHeader(b"accept") or b"").decode("latin-1")
        names = [n.decode("utf-8", "replace") for n in request.args.get(b"name[]", [])]
        connected = _connected(request)

        def write(families: list[Metric]) -> None:
            if not connected[0]:
                return
            body, contentType = encode(families, accept, names)
            request.setHeader(b"content-type", contentType.encode("ascii"))
            request.setHeader(b"cache-control", b"no-store")
            request.write(body)
            request.finish()

        def failed(failure: Failure) -> None:
            _log.failure("metrics of the workers", failure)
            if connected[0]:
                request.setResponseCode(500)
                request.finish()

        gatherMetrics(self._supervisor, self._fetch).addCallbacks(write, failed)
        return NOT_DONE_YET


class WorkerPages(Resource):
    """
    C{/worker/N/...}: worker N's own pages (its status page, its metrics).
    """

    def __init__(self, supervisor: WorkersService, fetch: Fetch) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._supervisor = supervisor
        self._fetch = fetch

    def getChild(self, path: bytes, request: Request) -> Resource:
        number = int(path) if path.isdigit() else 0
        if not 1 <= number <= self._supervisor.workers:
            return Resource.getChild(self, path, request)  # type: ignore[no-any-return]
        return _WorkerPage(self._supervisor, self._fetch, number)


class _WorkerPage(Resource):
    isLeaf = True

    def __init__(self, supervisor: WorkersService, fetch: Fetch, number: int) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._supervisor = supervisor
        self._fetch = fetch
        self._number = number

    def render_GET(self, request: Request) -> int:
        path = self._supervisor.metricsSocket(self._number)
        uri = b"/" + b"/".join(request.postpath or [])
        query = request.uri.partition(b"?")[2]
        if query:
            uri += b"?" + query
        connected = _connected(request)

        def write(result: Page) -> None:
            if not connected[0]:
                return
            code, headers, body = result
            request.setResponseCode(code)
            for name, value in headers.items():
                request.setHeader(name, value)
            request.setHeader(b"cache-control", b"no-store")
            request.write(body)
            request.finish()

        def failed(failure: Failure) -> None:
            if not connected[0]:
                return
            request.setResponseCode(503)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            request.write(f"worker {self._number} does not answer now\n".encode())
            request.finish()

        if path is None:
            failed(Failure(ConnectionError()))
        else:
            self._fetch(path, uri).addCallbacks(write, failed)
        return NOT_DONE_YET


class WorkersPage(Resource):
    """
    C{/}: the workers, each with links to its own status page and metrics.
    """

    isLeaf = True

    def __init__(self, supervisor: WorkersService, reactor: Any) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._supervisor = supervisor
        self._reactor = reactor

    def render_GET(self, request: Request) -> bytes:
        now = self._reactor.seconds()
        rows = []
        for slot in self._supervisor.slots:
            process = slot.process
            if process is None:
                state, pid, up = "starting again", "\N{EN DASH}", "\N{EN DASH}"
            else:
                state = "serving" if process.ready else "starting"
                pid, up = str(process.pid), f"{now - slot.startedAt:.0f} s"
            n = slot.number
            rows.append(
                f'<tr data-worker="{n}"><td>{n}</td><td>{pid}</td>'
                f"<td>{state}</td><td>{up}</td><td>{slot.restarts}</td>"
                f'<td><a href="worker/{n}/">status</a>'
                f' <a href="worker/{n}/metrics">metrics</a></td></tr>'
            )
        host = html.escape(socket.gethostname())
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        request.setHeader(b"x-content-type-options", b"nosniff")
        request.setHeader(
            b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"
        )
        return (
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="refresh" content="5">'
            f"<title>sockplug on {host}</title></head><body>"
            f"<h1>sockplug on {host}</h1><p>supervisor pid {os.getpid()},"
            f" {self._supervisor.workers} workers. Metrics of them all:"
            f' <a href="metrics">/metrics</a></p><table id="workers"><thead><tr>'
            f"<th>Worker</th><th>Pid</th><th>State</th><th>Up</th>"
            f"<th>Restarts</th><th></th></tr></thead><tbody>{''.join(rows)}"
            f"</tbody></table></body></html>\n"
        ).encode()


class WorkersMetricsService(Service):
    """
    Serves the workers' metrics, and pages about them, on the C{--metrics}
    endpoint.

    @ivar port: the listening port, once listening.
    """

    def __init__(
        self,
        reactor: Any,
        endpoint: ParsedEndpoint,
        supervisor: WorkersService,
        fetch: Fetch | None = None,
    ) -> None:
        self._reactor = reactor
        self._endpoint = endpoint
        self._supervisor = supervisor
        self._fetch = fetch or fetchFromWorker(reactor)
        self._guard: ConnectionGuard | None = None
        self.port: IListeningPort | None = None

    def resource(self) -> Resource:
        """
        The site's root.
        """
        root = Resource()
        root.putChild(b"", WorkersPage(self._supervisor, self._reactor))
        metrics = MergedMetricsPage(self._supervisor, self._fetch)
        root.putChild(
            b"metrics", EncodingResourceWrapper(metrics, [GzipEncoderFactory()])
        )
        root.putChild(b"worker", WorkerPages(self._supervisor, self._fetch))
        return root

    def privilegedStartService(self) -> None:
        Service.privilegedStartService(self)
        description = self._endpoint.description
        guard = ConnectionGuard(
            self._reactor, description, self._endpoint.limits, ConnectionBudget()
        )
        site = MetricsSite(self.resource(), reactor=self._reactor)  # type: ignore[no-untyped-call]
        factory = GuardedFactory(site, guard, self._endpoint.acceptsDirectly)
        try:
            self.port = listenNow(self._endpoint.endpoint, factory)
        except Exception:
            reason = f"--metrics: {describeListenError(description, Failure())}"
            self._supervisor.abandon()  # (which started first)
            _log.critical("{reason}", reason=reason)
            raise ListenFailed(f"sockplug: {reason}") from None
        self._guard = guard
        guard.start()
        _log.info(
            "metrics of the workers listening on {endpoint} ({address})",
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

    def stopService(self) -> Deferred[object] | None:
        Service.stopService(self)
        if self._guard is not None:
            self._guard.stop()
            self._guard = None
        port, self.port = self.port, None
        if port is None:
            return None
        return defer.maybeDeferred(port.stopListening)
