# -*- test-case-name: sockplug.metrics.test.test_prometheus,sockplug.metrics.test.test_status -*-  # noqa: E501
"""
Readings of a stream and a datagram listener, made up, for sockplug's own
tests (not API: see L{sockplug.testing}).

An HTTP exchange with a site in memory, for sockplug's own tests (not API:
see L{sockplug.testing}).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IAddress
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.web.server import Site

from sockplug.metrics._snapshot import ListenerReading, Reading
from sockplug.plugin import TransportKind

STREAM_READING = ListenerReading(
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
    evicted=8,
    refused={"access": 11, "maxconn": 12, "global": 13, "maxpersource": 14, "proxy": 0},
    errors={"lost": 21, "tls": 22, "protocol": 23},
)

DATAGRAM_READING = ListenerReading(
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
    refused={
        "access": 31,
        "port": 32,
        "size": 0,
        "rate": 34,
        "loop": 35,
        "truncated": 36,
        "unaddressed": 37,
    },
    errors={"protocol": 41, "send": 42},
)

READING = Reading(
    now=1700000100.0,
    pid=4242,
    listeners=(STREAM_READING, DATAGRAM_READING),
    openConnections=3,
    maxConnections=500,
    reloads={"done": 5, "failed": 6},
)


def exchange(
    resource: Any, request: bytes, peer: IAddress | None = None
) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """
    Send one HTTP/1.0 request to a site serving C{resource}, from C{peer}
    (an IPv4 address by default).

    @return: the status line, the headers (names in lower case), the body.
    """
    site = Site(resource, reactor=MemoryReactorClock())
    channel = site.buildProtocol(None)
    assert channel is not None
    transport = StringTransport(peerAddress=peer)
    channel.makeConnection(transport)
    channel.dataReceived(request)
    head, _, body = transport.value().partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(b": ")
        headers[name.lower()] = value
    return status, headers, body
