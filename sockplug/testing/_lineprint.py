# -*- test-case-name: sockplug.protocols.test.test_lineprint -*-
"""
Line-print's output and connections in memory, for sockplug's own tests (not
API: see L{sockplug.testing}).
"""

from __future__ import annotations

import io
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransportWithDisconnection

from sockplug.protocols.lineprint import LinePrint, LinePrinter, buildStreamFactory
from sockplug.testing import listenerInfo


class CountingOutput(io.BytesIO):
    """
    A binary file in memory that counts the calls to C{write} and C{flush}.
    """

    writes = 0
    flushes = 0

    def write(self, data: Any) -> int:
        self.writes += 1
        return super().write(data)

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def connectLinePrint(
    output: io.BytesIO,
    description: str = "tcp:8888",
    peer: Any = None,
) -> tuple[LinePrint, StringTransportWithDisconnection]:
    """
    Connect a line-print stream protocol, printing to C{output}, to an
    in-memory transport.
    """
    factory = buildStreamFactory(
        listenerInfo(description, protocolName="line-print"),
        printer=LinePrinter(output),
    )
    transport = StringTransportWithDisconnection(
        peerAddress=peer or IPv4Address("TCP", "127.0.0.1", 53422)
    )
    protocol = factory.buildProtocol(transport.getPeer())
    assert isinstance(protocol, LinePrint)
    transport.protocol = protocol
    protocol.makeConnection(transport)
    return protocol, transport
