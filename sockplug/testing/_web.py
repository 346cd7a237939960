# -*- test-case-name: sockplug.metrics.test.test_status -*-
"""
An HTTP exchange with a site in memory, for sockplug's own tests (not API:
see L{sockplug.testing}).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IAddress
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.web.server import Site


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
