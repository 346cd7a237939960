# -*- test-case-name: sockplug.internet.test.test_output -*-
"""
An output in memory that can be made to stop taking bytes, as a pipe whose
reader stops reading does, for sockplug's own tests (not API: see
L{sockplug.testing}).
"""

from __future__ import annotations

from collections.abc import Sequence

from sockplug.internet import OutputWriter
from sockplug.protocols.lineprint import LinePrinter

__all__ = ["FakeSink", "printerTo"]


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
