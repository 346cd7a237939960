"""
Tests for L{sockplug.workers._log}.
"""

from __future__ import annotations

import json
import os
from typing import cast

from twisted.internet.testing import MemoryReactorClock
from twisted.logger import ILogObserver, LogEvent, Logger, LogLevel, formatEvent
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from sockplug.logs import ALREADY_LIMITED, RATE_LIMITED, kindOf
from sockplug.workers._log import (
    RELAY_BUFFER,
    ChannelObserver,
    ChannelWriter,
    Lines,
    LogRelay,
    StandardOutputRelay,
)


class _Pipe:
    """
    Where a worker's log lines go, in memory.

    @ivar full: whether it drops what it is given (its reader does not
        read, and what may wait is waiting).
    """

    def __init__(self) -> None:
        self.data = b""
        self.broken = False
        self.full = False

    def write(self, data: bytes) -> bool:
        if self.broken:
            raise BrokenPipeError()
        if self.full:
            return False
        self.data += data
        return True

    def records(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.data.splitlines()]


class ChannelObserverTests(SynchronousTestCase):
    """
    Tests for L{ChannelObserver}, the worker's end.
    """

    def setUp(self) -> None:
        self.pipe = _Pipe()
        self.observer = ChannelObserver(self.pipe.write)
        self.log = Logger(namespace="sockplug.x", observer=self.observer)

    def test_event(self) -> None:
        """
        Each event is one line: its level, its namespace, its text and its
        kind.
        """
        self.log.warn("two\nlines {x}", x="é")
        self.assertEqual(
            self.pipe.records(),
            [
                {
                    "level": "warn",
                    "namespace": "sockplug.x",
                    "text": "two\nlines é",
                    "kind": '"two" (sockplug.x)',
                }
            ],
        )
        self.assertEqual(self.pipe.data.count(b"\n"), 1)

    def test_limited(self) -> None:
        """
        An event a listener's rate limit let through says so.
        """
        self.log.info("hi", **ALREADY_LIMITED)
        [record] = self.pipe.records()
        self.assertIs(record["limited"], True)

    def test_notLimited(self) -> None:
        """
        An event no rate limit counted says nothing of the kind.
        """
        self.log.info("hi")
        [record] = self.pipe.records()
        self.assertNotIn("limited", record)

    def test_system(self) -> None:
        """
        An event's system (Twisted's older log lines) goes with it.
        """
        self.log.info("hi", log_system="-")
        [record] = self.pipe.records()
        self.assertEqual(record["system"], "-")

    def test_traceback(self) -> None:
        """
        A failure's traceback is in the text.
        """
        try:
            1 / 0  # noqa: B018
        except ZeroDivisionError:
            self.log.failure("oops", Failure())
        [record] = self.pipe.records()
        self.assertIn("ZeroDivisionError", str(record["text"]))
        self.assertEqual(record["level"], "critical")

    def test_ready(self) -> None:
        """
        C{ready} sends the ready line.
        """
        self.observer.ready()
        self.assertEqual(self.pipe.records(), [{"ready": True}])

    def test_beat(self) -> None:
        """
        C{beat} sends a beat line.
        """
        self.observer.beat()
        self.observer.beat()
        self.assertEqual(self.pipe.records(), [{"beat": True}, {"beat": True}])

    def test_supervisorGone(self) -> None:
        """
        Once the pipe is broken (the supervisor is gone), events are
        dropped without an error.
        """
        self.pipe.broken = True
        self.log.info("lost")
        self.observer.ready()
        self.assertEqual(self.pipe.data, b"")

    def test_droppedSaid(self) -> None:
        """
        Lines the pipe dropped (the supervisor was not reading) are
        counted, and said in one line before the next line it takes.
        """
        self.pipe.full = True
        self.log.info("lost")
        self.log.info("lost too")
        self.pipe.full = False
        self.log.info("kept")
        self.assertEqual(self.observer.dropped, 2)
        self.assertEqual(
            [(r["level"], r["text"], r.get("limited")) for r in self.pipe.records()],
            [
                (
                    "warn",
                    "2 log lines dropped: the supervisor was not reading them",
                    True,
                ),
                ("info", "kept", None),
            ],
        )


class ChannelWriterTests(SynchronousTestCase):
    """
    Tests for L{ChannelWriter}: the worker's end of the pipe never waits.
    """

    def setUp(self) -> None:
        self.reader, self.writer = os.pipe()
        self.addCleanup(os.close, self.reader)
        self.addCleanup(os.close, self.writer)
        self.reactor = MemoryReactorClock()
        self.channel = ChannelWriter(self.reactor, self.writer, bound=100_000)
        self.line = b"x" * 999 + b"\n"

    def fill(self) -> list[bool]:
        """
        Write lines until some are dropped, as to a supervisor that does
        not read; what each write returned.
        """
        return [self.channel(self.line) for _ in range(400)]

    def readAll(self) -> bytes:
        os.set_blocking(self.reader, False)
        data = b""
        while True:
            try:
                chunk = os.read(self.reader, 1 << 20)
            except BlockingIOError:
                return data
            data += chunk

    def test_neverWaits(self) -> None:
        """
        A pipe nobody reads takes what it holds, then up to the bound
        waits, and the rest is dropped: writing never waits.
        """
        results = self.fill()
        self.assertIn(False, results)
        self.assertEqual(results[: results.index(False)], [True] * results.index(False))
        self.assertEqual(len(self.reactor.getWriters()), 1)

    def test_finish(self) -> None:
        """
        At the end, what waits is written as the reader reads, whole lines.
        """
        results = self.fill()
        read: list[bytes] = []
        self.channel.finish(wait=lambda fd, left: read.append(self.readAll()))
        read.append(self.readAll())
        self.assertEqual(b"".join(read), self.line * results.count(True))

    def test_finishGivesUp(self) -> None:
        """
        A reader that does not read holds the end for C{timeout} seconds
        at most.
        """
        self.fill()
        now = [0.0]

        def wait(fd: int, left: float) -> None:
            now[0] += left

        self.channel.finish(3.0, clock=lambda: now[0], wait=wait)
        self.assertEqual(now[0], 3.0)


class LinesTests(SynchronousTestCase):
    """
    Tests for L{Lines}.
    """

    def test_complete(self) -> None:
        """
        C{complete} gives back the whole lines so far, with their ends,
        and keeps the rest for later.
        """
        lines = Lines()
        self.assertEqual(lines.complete(b"a\nb"), b"a\n")
        self.assertEqual(lines.complete(b"c\nd\ne"), b"bc\nd\n")
        self.assertEqual(lines.rest(), b"e")
        self.assertEqual(lines.rest(), b"")

    def test_lines(self) -> None:
        """
        C{lines} gives back the lines without their ends.
        """
        lines = Lines()
        self.assertEqual(lines.lines(b"a\n\nb"), [b"a", b""])
        self.assertEqual(lines.lines(b""), [])
        self.assertEqual(lines.lines(b"\n"), [b"b"])

    def test_bounded(self) -> None:
        """
        Without a line end, bytes up to the bound are given back as they
        are, rather than kept without end.
        """
        lines = Lines(limit=4)
        self.assertEqual(lines.complete(b"abc"), b"")
        self.assertEqual(lines.complete(b"de"), b"abcde")
        self.assertEqual(lines.rest(), b"")


class LogRelayTests(SynchronousTestCase):
    """
    Tests for L{LogRelay}, the supervisor's end.
    """

    def setUp(self) -> None:
        self.events: list[LogEvent] = []
        self.relay = LogRelay(2, cast(ILogObserver, self.events.append))

    def line(self, **record: object) -> bytes:
        return json.dumps(record).encode("utf-8")

    def test_again(self) -> None:
        """
        An event is logged again at its level, in its namespace, its text
        after the worker's number.
        """
        ready = self.relay.record(
            self.line(
                level="error", namespace="sockplug.defences._streamguard", text="a {b}"
            )
        )
        self.assertIsNone(ready)
        [event] = self.events
        self.assertEqual(event["log_level"], LogLevel.error)
        self.assertEqual(event["log_namespace"], "sockplug.defences._streamguard")
        self.assertEqual(formatEvent(event), "worker 2: a {b}")
        self.assertNotIn("log_system", event)

    def test_system(self) -> None:
        """
        An event's system is kept.
        """
        self.relay.record(self.line(level="info", namespace="n", text="t", system="-"))
        self.assertEqual(self.events[0]["log_system"], "-")

    def test_kind(self) -> None:
        """
        An event keeps the kind the worker gave it, for the supervisor's
        rate limit.
        """
        self.relay.record(self.line(level="info", namespace="n", text="t", kind="k"))
        self.assertEqual(kindOf(self.events[0]), "k")

    def test_noKind(self) -> None:
        """
        An event without a kind is of the relay's own kind.
        """
        self.relay.record(self.line(level="info", namespace="n", text="t"))
        self.assertEqual(kindOf(self.events[0]), '"worker {worker}: {text}" (n)')

    def test_limited(self) -> None:
        """
        An event a worker's listener limited is marked as counted already.
        """
        self.relay.record(
            self.line(level="info", namespace="n", text="t", limited=True)
        )
        self.assertIs(self.events[0][RATE_LIMITED], True)

    def test_notLimited(self) -> None:
        """
        An event not marked as limited is not marked so again.
        """
        self.relay.record(self.line(level="info", namespace="n", text="t"))
        self.assertNotIn(RATE_LIMITED, self.events[0])

    def test_ready(self) -> None:
        """
        The ready line says so, and logs nothing.
        """
        self.assertEqual(self.relay.record(self.line(ready=True)), "ready")
        self.assertEqual(self.events, [])

    def test_beat(self) -> None:
        """
        A beat line says so, and logs nothing.
        """
        self.assertEqual(self.relay.record(self.line(beat=True)), "beat")
        self.assertEqual(self.events, [])

    def test_unknownLevel(self) -> None:
        """
        An event of an unknown level is logged at info.
        """
        self.relay.record(self.line(level="loud", namespace="n", text="t"))
        self.assertEqual(self.events[0]["log_level"], LogLevel.info)

    def test_notJSON(self) -> None:
        """
        A line that is not an event is logged as an error, as it is.
        """
        self.relay.record(b"Traceback (most recent call last):\xff")
        [event] = self.events
        self.assertEqual(event["log_level"], LogLevel.error)
        self.assertEqual(
            formatEvent(event),
            "worker 2 (log): Traceback (most recent call last):\\xff",
        )

    def test_stray(self) -> None:
        """
        A line of the worker's standard error is logged as an error, naming
        where it came from.
        """
        self.relay.stray(b"Segmentation fault\r", "stderr")
        self.assertEqual(
            formatEvent(self.events[0]), "worker 2 (stderr): Segmentation fault"
        )


class StandardOutputRelayTests(SynchronousTestCase):
    """
    Tests for L{StandardOutputRelay}, the supervisor's end of the workers'
    standard output.
    """

    def setUp(self) -> None:
        self.reader, writer = os.pipe()
        self.addCleanup(os.close, self.reader)
        self.addCleanup(os.close, writer)
        self.reactor = MemoryReactorClock()
        self.relay = StandardOutputRelay(self.reactor, writer)

    def test_relayed(self) -> None:
        """
        Lines are written to standard output.
        """
        self.relay(b"one\ntwo\n")
        self.assertEqual(os.read(self.reader, 100), b"one\ntwo\n")

    def test_neverWaits(self) -> None:
        """
        A reader that does not read makes lines wait, up to
        L{RELAY_BUFFER} bytes, then be dropped: relaying never waits.
        """
        line = b"x" * 1023 + b"\n"
        for _ in range(4 * RELAY_BUFFER // len(line)):
            self.relay(line)
        writer = self.relay._writer
        assert writer is not None
        self.assertLessEqual(writer.waiting, RELAY_BUFFER + len(line))
        self.assertGreater(writer.waiting, RELAY_BUFFER - len(line))
        self.assertIn(writer, self.reactor.getWriters())
        self.assertGreater(writer.share("workers", RELAY_BUFFER).droppedLines, 0)
