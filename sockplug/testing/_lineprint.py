# -*- test-case-name: sockplug.protocols.test.test_lineprint,sockplug.internet.test.test_output -*-  # noqa: E501
"""
Line-print's output and connections in memory, for sockplug's own tests (not
API: see L{sockplug.testing}).

An output in memory that can be made to stop taking bytes, as a pipe whose
reader stops reading does, for sockplug's own tests (not API: see
L{sockplug.testing}).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransportWithDisconnection

from sockplug.internet import OutputWriter
from sockplug.protocols.lineprint import LinePrint, LinePrinter, buildStreamFactory
from sockplug.testing import listenerInfo

__all__ = [
    "FakeSink",
    "printerTo",
]


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


class FakeSink:
    """
    A L{sockplug.internet.Sink} in memory: it takes up to C{room} bytes
    (all of them while C{room} is L{None}), then raises L{BlockingIOError}
    until given more room, or C{failWith} once set.

    @ivar written: every byte written, in order.
    @ivar writes: the calls to C{write} and C{writev}.
    """

    description = "the fake output"

    def __init__(self, room: int | None = None) -> None:
        self.room = room
        self.failWith: OSError | None = None
        self.written = b""
        self.writes = 0
        self.closed = False

    def fileno(self) -> int:
        return 99

    def write(self, data: bytes | memoryview) -> int:
        self.writes += 1
        return self._take(data)

    def writev(self, buffers: Sequence[bytes | memoryview]) -> int:
        self.writes += 1
        return self._take(b"".join(buffers))

    def _take(self, data: bytes | memoryview) -> int:
        if self.failWith is not None:
            raise self.failWith
        size = len(data) if self.room is None else min(len(data), self.room)
        if not size and len(data):
            raise BlockingIOError(11, "Resource temporarily unavailable")
        if self.room is not None:
            self.room -= size
        self.written += bytes(data[:size])
        return size

    def close(self) -> None:
        self.closed = True


def printerTo(sink: FakeSink, reactor: object, path: str) -> LinePrinter:
    """
    Make C{sink}, through a printer L{LinePrinter.forOutput} gives for
    C{path} while the caller holds it, the output of line-print listeners
    whose C{output} is C{path}.
    """
    printer = LinePrinter(OutputWriter(reactor, sink, "line-print"))
    LinePrinter._files[path] = printer
    return printer
