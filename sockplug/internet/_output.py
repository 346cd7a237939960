# -*- test-case-name: sockplug.internet.test.test_output -*-
"""
An output that never blocks the reactor: what its L{Sink} cannot take at
once waits in a bounded queue, written as the reactor says there is room;
what does not fit is dropped, counted, and logged at a bounded rate.

Several writers (line-print's listeners naming one file) share one output,
each with a L{Share} of its own: its bound, what it has waiting, what it
dropped. A block is written whole or dropped whole, and never cut, so the
lines of the output stay whole (while the server runs).
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

from attrs import define
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IWriteDescriptor
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from sockplug.internet._outputfile import Chunk, Sink
from sockplug.logs import ALREADY_LIMITED, RateLimitedLog

__all__ = ["CLOSE_TIMEOUT", "OutputWriter", "Share"]

# How long an output no one writes to any more may take to write what is
# still waiting before it is closed.
CLOSE_TIMEOUT = 10.0

# Log lines about dropped output: per listener, and in all, per window.
_LOG_PER_SHARE = 1
_LOG_PER_OUTPUT = 10
_LOG_WINDOW = 10.0

# Buffers per writev (Linux's IOV_MAX).
_IOV_MAX = 1024


@define(eq=False)
class Share:
    """
    One writer's part of an output.

    @ivar name: whose it is, as log lines name it (a listener).
    @ivar bound: bytes it may have waiting; a block that would take it
        past this is dropped (the rest of a block already partly written
        is kept whatever its size, so that no line is cut).
    @ivar waiting: its bytes waiting now.
    @ivar droppedLines: its lines dropped, ever.
    @ivar droppedBytes: its bytes dropped, ever.
    @ivar unloggedLines: its lines dropped since the last log line said
        so (the rate limit held the lines about them back).
    @ivar unloggedBytes: their bytes.
    """

    name: str
    bound: int
    waiting: int = 0
    droppedLines: int = 0
    droppedBytes: int = 0
    unloggedLines: int = 0
    unloggedBytes: int = 0


def _lines(count: int) -> str:
    return f"{count} line" if count == 1 else f"{count} lines"


def _linesIn(data: Chunk) -> int:
    return (
        bytes(data).count(b"\n") if isinstance(data, memoryview) else data.count(b"\n")
    )


@implementer(IWriteDescriptor)
class OutputWriter:
    """
    Writes to a L{Sink} without blocking: a block the sink cannot take now
    waits (if its L{Share} has room) until the reactor says the sink's
    descriptor can take more.

    @ivar sink: where it writes.
    """

    log = Logger()

    def __init__(
        self, reactor: Any, sink: Sink, name: str, quiet: bool = False
    ) -> None:
        """
        @param reactor: an C{IReactorFDSet} and C{IReactorTime}, or L{None}
            for a sink that never makes a writer wait (a file in memory):
            what it cannot take at once is then dropped.
        @param name: who writes, as log lines say (C{line-print}).
        @param quiet: log nothing, only count: for the writer of the log
            itself (L{sockplug.internet._outputlog}), whose lines about
            its own drops would go where it drops them.
        """
        self._reactor = reactor
        self.sink = sink
        self._name = name
        self._write = sink.write
        self._queue: collections.deque[tuple[Share, Chunk]] = collections.deque()
        self._shares: dict[str, Share] = {}
        self._watched = False
        self._failing = False
        self._closing = False
        self._drained: list[Deferred[None]] = []
        self._quiet = quiet
        self._ratelog = None
        if reactor is not None and not quiet:
            self._ratelog = RateLimitedLog(
                reactor,
                self.log,
                f"{name} output {sink.description}",
                perEvent=_LOG_PER_OUTPUT,
                perPeer=_LOG_PER_SHARE,
                window=_LOG_WINDOW,
            )

    def share(self, name: str, bound: int) -> Share:
        """
        The share called C{name}, with C{bound} from now on: a writer
        built again (a reload) goes on with the counts of the one before.
        """
        share = self._shares.get(name)
        if share is None:
            share = self._shares[name] = Share(name, bound)
        share.bound = bound
        return share

    @property
    def waiting(self) -> int:
        """
        Bytes waiting, all shares together.
        """
        return sum(len(data) for _, data in self._queue)

    @property
    def closed(self) -> bool:
        """
        Whether its sink is closed.
        """
        return self.sink.closed

    def write(self, data: Chunk, share: Share) -> bool:
        """
        Write C{data}, a block of whole lines, for C{share}: at once if the
        sink takes it and nothing waits before it, else after what waits,
        if C{share} has room for it; else it is dropped and counted.

        @return: whether it was written or is waiting (not dropped).
        """
        if self._queue:
            return self._wait(data, share)
        try:
            written = self._write(data)
        except BlockingIOError:
            return self._wait(data, share)
        except OSError as e:
            self._failed(e)
            self._drop(share, data, logged=True)
            return False
        self._failing = False
        if written == len(data):
            return True
        # Partly written (the pipe filled up): the rest is kept, whatever
        # the bound, so that the line is not cut.
        rest = memoryview(data)[written:]
        self._queue.append((share, rest))
        share.waiting += len(rest)
        self._writeWaiting()
        return True

    def _wait(self, data: Chunk, share: Share) -> bool:
        if self._reactor is None or share.waiting + len(data) > share.bound:
            self._drop(share, data)
            return False
        self._queue.append((share, data))
        share.waiting += len(data)
        self._watch()
        return True

    def _watch(self) -> None:
        if not self._watched:
            self._watched = True
            self._reactor.addWriter(self)

    def _unwatch(self) -> None:
        if self._watched:
            self._watched = False
            self._reactor.removeWriter(self)

    def _drop(self, share: Share, data: Chunk, logged: bool = False) -> None:
        """
        Count C{data} as dropped, and say so at a bounded rate (unless a
        line about a failing sink said so already).
        """
        lines, size = _linesIn(data), len(data)
        share.droppedLines += lines
        share.droppedBytes += size
        if logged or self._ratelog is None:
            return
        share.unloggedLines += lines
        share.unloggedBytes += size
        if self._ratelog.admit("dropped output", share.name):
            self.log.warn(
                "{name}: {output} is not keeping up; {lines} ({size} bytes)"
                " from {share} dropped, with {waiting} of its {bound} bytes"
                " waiting",
                name=self._name,
                output=self.sink.description,
                lines=_lines(share.unloggedLines),
                size=share.unloggedBytes,
                share=share.name,
                waiting=share.waiting,
                bound=share.bound,
                **ALREADY_LIMITED,
            )
            share.unloggedLines = share.unloggedBytes = 0

    def _failed(self, error: OSError) -> None:
        """
        The sink failed (its reader is gone): say so once, until a write
        succeeds again (a FIFO's new reader).
        """
        if not self._failing:
            self._failing = True
            if self._quiet:
                return
            self.log.error(
                "{name} cannot write its output: {e}", name=self._name, e=error
            )

    def _writeWaiting(self, watch: bool = True) -> None:
        """
        Write what waits, as much as the sink takes now; wait for the
        reactor to say there is room for the rest (if C{watch}).
        """
        queue = self._queue
        while queue:
            buffers = [data for _, data in _first(queue, _IOV_MAX)]
            try:
                written = self.sink.writev(buffers)
            except BlockingIOError:
                if watch:
                    self._watch()
                return
            except OSError as e:
                self._failed(e)
                self._dropWaiting(logged=True)
                return
            self._failing = False
            while written:
                share, data = queue[0]
                if written < len(data):
                    queue[0] = (share, memoryview(data)[written:])
                    share.waiting -= written
                    break
                queue.popleft()
                share.waiting -= len(data)
                written -= len(data)
        self._unwatch()
        self._fire()

    def _dropWaiting(self, logged: bool = False) -> tuple[int, int]:
        """
        Drop everything waiting, counted to each share.

        @return: the lines and bytes dropped.
        """
        lines = size = 0
        while self._queue:
            share, data = self._queue.popleft()
            share.waiting -= len(data)
            lines += _linesIn(data)
            size += len(data)
            self._drop(share, data, logged=True)
        if self._reactor is not None:
            self._unwatch()
        self._fire()
        return lines, size

    def _fire(self) -> None:
        drained, self._drained = self._drained, []
        for d in drained:
            d.callback(None)
        if self._closing and not self._queue:
            self.sink.close()

    def drained(self) -> Deferred[None]:
        """
        Fires once nothing waits (at once if nothing waits now), however
        long that takes.
        """
        if not self._queue:
            return defer.succeed(None)
        d: Deferred[None] = Deferred()
        self._drained.append(d)
        return d

    def flush(self, timeout: float) -> Deferred[None]:
        """
        Let what waits be written for up to C{timeout} seconds; drop what
        is still waiting then (the server stops), with one log line.

        @return: fires once nothing waits.
        """
        if not self._queue:
            return defer.succeed(None)
        d: Deferred[None] = Deferred()
        self._drained.append(d)
        if timeout <= 0:
            self._writeWaiting()
            self._giveUp()
        else:
            timer = self._reactor.callLater(timeout, self._giveUp)
            d.addBoth(_cancelling(timer))
        return d

    def _giveUp(self) -> None:
        if not self._queue:
            return
        lines, size = self._dropWaiting(logged=True)
        if self._quiet:
            return
        self.log.warn(
            "{name}: {output} did not take {lines} ({size} bytes) in time; dropped",
            name=self._name,
            output=self.sink.description,
            lines=_lines(lines),
            size=size,
        )

    def close(self) -> None:
        """
        No one writes any more: close the sink once what waits is written
        (or dropped after L{CLOSE_TIMEOUT} seconds).
        """
        self._closing = True
        if self._queue:
            self.flush(CLOSE_TIMEOUT)
        else:
            self.sink.close()

    # IWriteDescriptor, for the reactor.

    def fileno(self) -> int:
        return self.sink.fileno()

    def doWrite(self) -> None:
        self._writeWaiting()

    def connectionLost(self, reason: Failure) -> None:
        """
        The reactor no longer watches the descriptor: it failed (the reader
        of a pipe is gone), or the reactor is shutting down. One more write
        tells which; what still waits then is dropped, with one log line.
        """
        self._watched = False
        self._writeWaiting(watch=False)
        self._giveUp()

    def logPrefix(self) -> str:
        return f"{self._name} output"


def _first(
    queue: collections.deque[tuple[Share, Chunk]], count: int
) -> list[tuple[Share, Chunk]]:
    if len(queue) <= count:
        return list(queue)
    return [queue[i] for i in range(count)]


def _cancelling(timer: Any) -> Callable[[object], object]:
    def cancel(result: object) -> object:
        if timer.active():
            timer.cancel()
        return result

    return cancel
