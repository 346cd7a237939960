"""
Helpers for the end-to-end tests of C{--metrics}: start a server with it,
GET its pages (over TCP or a UNIX socket), parse and wait for its metrics,
and send known traffic to count.
"""

from __future__ import annotations

import http.client
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from twisted.trial.unittest import SynchronousTestCase

from tests.harness import (
    Address,
    Server,
    connect,
    connectFrom,
    datagramSocket,
    parseAddress,
    receive,
    receiveUntilClosed,
    sendAndReceiveToEnd,
)

TCP = "tcp:0:interface=127.0.0.1"
UDP = "udp:0:interface=127.0.0.1"
METRICS_TIMEOUT = 10.0
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_METRICS_LISTENING = re.compile(
    r"\[sockplug\.metrics\._prometheus#info\] metrics and status page listening on"
    r" (?P<endpoint>.*) \((?P<address>[^()]*)\)$"
)

# Loopback only: never through a proxy named in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def metricsAddress(server: Server, endpoint: str) -> Address:
    """
    Wait until C{server} logs that its C{--metrics} C{endpoint} listens;
    return its address.
    """
    line = server.waitForLineMatching(
        lambda line: (
            (found := _METRICS_LISTENING.search(line)) is not None
            and found["endpoint"] == endpoint
        ),
        what=f"'metrics and status page listening on {endpoint}'",
    )
    found = _METRICS_LISTENING.search(line)
    assert found is not None
    return parseAddress(found["address"])


def startWithMetrics(
    testCase: SynchronousTestCase, *args: str, metrics: str = TCP
) -> tuple[Server, Address]:
    """
    Start C{twistd -n sockplug --metrics METRICS ARGS}; wait until its
    listeners and its metrics endpoint listen; return the server and the
    metrics endpoint's address.
    """
    server = Server.start(testCase, "--metrics", metrics, *args)
    return server, metricsAddress(server, metrics)


def url(address: Address, path: str = "/metrics") -> str:
    """The http URL of C{path} on a TCP address."""
    assert not isinstance(address, str), address
    return f"http://{address[0]}:{address[1]}{path}"


@dataclass(frozen=True)
class Response:
    """An HTTP response, whole."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def get(address: Address, path: str = "/metrics", method: str = "GET") -> Response:
    """Request C{path} with urllib (any status, no exception for 4xx)."""
    request = urllib.request.Request(url(address, path), method=method)
    try:
        with _OPENER.open(request, timeout=METRICS_TIMEOUT) as response:
            return Response(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, dict(e.headers), e.read())


class _UNIXConnection(http.client.HTTPConnection):
    """An HTTP connection over a UNIX stream socket."""

    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=METRICS_TIMEOUT)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(METRICS_TIMEOUT)
        self.sock.connect(self._path)


def getOverUNIX(path: str, target: str = "/metrics") -> Response:
    """Request C{target} from the HTTP server on the UNIX socket C{path}."""
    connection = _UNIXConnection(path)
    try:
        connection.request("GET", target)
        response = connection.getresponse()
        return Response(response.status, dict(response.headers), response.read())
    finally:
        connection.close()


@dataclass(frozen=True)
class Sample:
    """One sample of a scrape."""

    name: str
    labels: Mapping[str, str]
    value: float

    def __str__(self) -> str:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))
        return f"{self.name}{{{labels}}} {self.value:g}"


class Scrape:
    """
    The text of C{/metrics}, parsed with C{prometheus_client}'s parser.

    @ivar types: each metric family's type, by family name.
    """

    def __init__(self, text: str) -> None:
        from prometheus_client.parser import text_string_to_metric_families

        self.text = text
        self.types: dict[str, str] = {}
        self.samples: list[Sample] = []
        for family in text_string_to_metric_families(text):
            self.types[family.name] = family.type
            self.samples.extend(
                Sample(s.name, dict(s.labels), s.value) for s in family.samples
            )

    def matching(self, name: str, labels: Mapping[str, str]) -> list[Sample]:
        """The samples named C{name} whose labels include C{labels}."""
        return [
            s
            for s in self.samples
            if s.name == name and labels.items() <= s.labels.items()
        ]

    def value(self, name: str, **labels: str) -> float:
        """The value of the one sample named C{name} with C{labels}."""
        found = self.matching(name, labels)
        if len(found) != 1:
            raise KeyError(f"{len(found)} samples {name}{labels}")
        return found[0].value


def scrape(address: Address) -> Scrape:
    """GET C{/metrics} and parse it."""
    response = get(address)
    assert response.status == 200, response
    return Scrape(response.body.decode("utf-8"))


Expected: TypeAlias = Sequence[tuple[str, Mapping[str, str], float]]


def waitForValues(
    testCase: SynchronousTestCase,
    address: Address,
    expected: Expected,
    timeout: float = METRICS_TIMEOUT,
) -> Scrape:
    """
    Scrape until each C{(name, labels, value)} of C{expected} is one sample
    with that value (the server counts traffic as it handles it); fail
    after C{timeout} seconds, naming every difference.
    """
    deadline = time.monotonic() + timeout
    while True:
        current = scrape(address)
        wrong = []
        for name, labels, value in expected:
            found = current.matching(name, labels)
            if [s.value for s in found] != [value]:
                shown = ", ".join(map(str, found)) or "none"
                wrong.append(f"{name}{dict(labels)} = {value:g}: found {shown}")
        if not wrong:
            return current
        if time.monotonic() > deadline:
            raise testCase.failureException(
                "after {:g}s:\n{}".format(timeout, "\n".join(wrong))
            )
        time.sleep(0.05)


def labelsOf(endpoint: str, protocol: str) -> dict[str, str]:
    """The labels of a command-line listener's samples."""
    return {"listener": endpoint, "endpoint": endpoint, "protocol": protocol}


def echoConnections(
    testCase: SynchronousTestCase, address: Address, count: int, size: int
) -> None:
    """C{count} connections, each sending C{size} bytes, echoed, then closed."""
    for i in range(count):
        payload = bytes([65 + i % 26]) * size
        sock = connect(testCase, address)
        testCase.assertEqual(sendAndReceiveToEnd(sock, payload), payload)
        sock.close()


def echoOpen(
    testCase: SynchronousTestCase, address: Address, size: int
) -> socket.socket:
    """A connection left open after C{size} bytes sent and echoed."""
    sock = connect(testCase, address)
    sock.sendall(b"o" * size)
    testCase.assertEqual(receive(sock, lambda data: len(data) >= size), b"o" * size)
    return sock


def echoDatagrams(
    testCase: SynchronousTestCase, address: Address, count: int, size: int
) -> None:
    """C{count} datagrams of C{size} bytes, each echoed."""
    sock = datagramSocket(testCase, address)
    for i in range(count):
        payload = bytes([97 + i % 26]) * size
        sock.sendto(payload, address)
        testCase.assertEqual(sock.recv(65536), payload)


def refusedFrom(
    testCase: SynchronousTestCase, address: Address, source: str = "127.0.0.1"
) -> None:
    """A connection from C{source} that the server closes at once, unread."""
    sock = connectFrom(testCase, address, source)
    testCase.assertEqual(receiveUntilClosed(sock), b"")
    sock.close()
