"""
Tests for L{sockplug.internet._outputlog}: twistd's log on standard
output, written without blocking, its drops counted and summarized.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import IO, Any, cast

from twisted.internet.testing import MemoryReactorClock
from twisted.logger import formatEvent, formatTime, textFileLogObserver
from twisted.trial.unittest import SynchronousTestCase

from sockplug.errors import CommandLineError
from sockplug.internet._output import OutputWriter
from sockplug.internet._outputlog import (
    EXIT_TIMEOUT,
    SUMMARY,
    LogStream,
    _installed,
    checkLogFile,
    droppedLogLines,
    protectStandardLog,
)
from sockplug.testing._lineprint import FakeSink
from sockplug.testing._logs import LogTexts

_EPIPE = BrokenPipeError(32, "Broken pipe")


class _StreamCase(SynchronousTestCase):
    """
    A L{LogStream} of 100 bytes to a L{FakeSink} on a memory reactor, with
    a fake clock for its last lines.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.sink = FakeSink()
        self.writer = OutputWriter(self.reactor, self.sink, "log", quiet=True)
        self.waits: list[tuple[int, float]] = []
        self.stream = LogStream(
            self.writer,
            100,
            clock=self.reactor.seconds,
            wait=self.wait,
            now=lambda: 0.0,
        )
        self.logged = LogTexts(self)

    def summary(self, count: int) -> bytes:
        """
        The line that says C{count} lines were dropped, as twistd's
        observer writes a warning of this module at the epoch.
        """
        system = "[sockplug.internet._outputlog#warn]"
        return f"{formatTime(0.0)} {system} {SUMMARY.format(count=count)}\n".encode()

    def wait(self, fd: int, timeout: float) -> None:
        """
        Wait for the sink as C{poll} would: time passes (all of it while
        the sink has no room).
        """
        self.waits.append((fd, timeout))
        self.reactor.advance(timeout if self.sink.room == 0 else 0.1)

    def stall(self) -> None:
        self.sink.room = 0

    def resume(self) -> None:
        self.sink.room = None
        self.writer.doWrite()


class WriteTests(_StreamCase):
    """
    Tests for L{LogStream.write}.
    """

    def test_wholeLines(self) -> None:
        """
        Whole lines are written at once.
        """
        self.stream.write("one\ntwo\n")
        self.assertEqual(self.sink.written, b"one\ntwo\n")

    def test_partLineWaits(self) -> None:
        """
        The part of a line before its end waits for the end.
        """
        self.stream.write("on")
        self.assertEqual(self.sink.written, b"")
        self.stream.write("e\ntw")
        self.assertEqual(self.sink.written, b"one\n")

    def test_returnsLength(self) -> None:
        """
        C{write} says it took all the text, as a text file does.
        """
        self.assertEqual(self.stream.write("héllo\n"), 6)

    def test_utf8(self) -> None:
        """
        The text is written as UTF-8.
        """
        self.stream.write("héllo\n")
        self.assertEqual(self.sink.written, "héllo\n".encode())

    def test_textForTwistdObserver(self) -> None:
        """
        twistd's observer writes text to it (not bytes), and its lines.
        """
        observer = textFileLogObserver(cast(IO[str], self.stream))
        observer({"log_format": "hello", "log_time": 0.0, "log_system": "-"})
        self.assertTrue(self.sink.written.endswith(b"[-] hello\n"))

    def test_neverWaits(self) -> None:
        """
        Lines the sink cannot take wait in the writer, and the reactor
        watches the sink.
        """
        self.stall()
        self.stream.write("one\n")
        self.assertEqual(
            (self.writer.waiting, self.writer in self.reactor.getWriters()),
            (4, True),
        )

    def test_writtenWhenRoom(self) -> None:
        """
        What waited is written once the sink has room.
        """
        self.stall()
        self.stream.write("one\n")
        self.resume()
        self.assertEqual(self.sink.written, b"one\n")


class DropTests(_StreamCase):
    """
    What does not fit in the bound is dropped whole, counted and summed
    up in one line once the reader reads again.
    """

    def test_droppedWhole(self) -> None:
        """
        A line past the bound is dropped whole; those before it wait.
        """
        self.stall()
        self.stream.write("a" * 59 + "\n")
        self.stream.write("b" * 59 + "\n")
        self.resume()
        self.assertEqual(self.sink.written.split(b"\n")[0], b"a" * 59)
        self.assertNotIn(b"b", self.sink.written)

    def test_counted(self) -> None:
        """
        Each line dropped is counted, those of one block each.
        """
        self.stall()
        self.stream.write("a" * 99 + "\n")
        self.stream.write("b\nc\n")
        self.assertEqual(self.stream.dropped, 2)

    def test_summary(self) -> None:
        """
        Once what waited is written, one line says how many were dropped.
        """
        self.stall()
        self.stream.write("a" * 99 + "\n")
        self.stream.write("b\nc\n")
        self.stream.write("d\n")
        self.resume()
        self.assertEqual(
            self.sink.written,
            b"a" * 99 + b"\n" + self.summary(3),
        )

    def test_summaryOnce(self) -> None:
        """
        Lines dropped are summed up once, and the next drops afresh.
        """
        for _ in range(2):
            self.stall()
            self.stream.write("a" * 99 + "\n")
            self.stream.write("b\n")
            self.resume()
        self.assertEqual(self.sink.written.count(SUMMARY.format(count=1).encode()), 2)

    def test_nothingLogged(self) -> None:
        """
        The writer of the log logs nothing about its drops (they would go
        where it drops them).
        """
        self.stall()
        self.stream.write("a" * 99 + "\n")
        self.stream.write("b\n")
        self.resume()
        self.assertEqual(self.logged(), [])

    def test_readerGone(self) -> None:
        """
        With the reader gone, each line is dropped and counted, and
        nothing is logged about it.
        """
        self.sink.failWith = _EPIPE
        self.stream.write("a\n")
        self.stream.write("b\n")
        self.assertEqual((self.stream.dropped, self.logged()), (2, []))


class FinishTests(_StreamCase):
    """
    Tests for L{LogStream.finish}: the reactor has stopped.
    """

    def test_writesWaiting(self) -> None:
        """
        What waits is written as the sink takes it, waiting on its
        descriptor.
        """
        self.stall()
        self.stream.write("one\n")
        self.sink.room = None
        self.stream.finish()
        self.assertEqual(
            (self.sink.written, self.waits), (b"one\n", [(99, EXIT_TIMEOUT)])
        )

    def test_partLine(self) -> None:
        """
        A part line left is written, with a line end.
        """
        self.stream.write("one")
        self.stream.finish()
        self.assertEqual(self.sink.written, b"one\n")

    def test_linesAfter(self) -> None:
        """
        Lines written after are written at once, waiting for the sink.
        """
        self.stream.finish()
        self.stall()
        self.stream.write("one\n")
        self.assertEqual(self.waits, [(99, EXIT_TIMEOUT)])

    def test_bounded(self) -> None:
        """
        A sink that takes nothing is waited for L{EXIT_TIMEOUT} seconds in
        all, then what waits is dropped.
        """
        self.stall()
        self.stream.write("one\n")
        self.stream.finish()
        self.stream.write("two\n")
        self.stream.finish()
        self.assertEqual(
            (self.waits, self.writer.waiting, self.reactor.seconds()),
            ([(99, EXIT_TIMEOUT)], 0, EXIT_TIMEOUT),
        )

    def test_noWaitWhenEmpty(self) -> None:
        """
        With nothing waiting, it does not wait.
        """
        self.stream.finish()
        self.assertEqual(self.waits, [])


class ProtectTests(SynchronousTestCase):
    """
    Tests for L{protectStandardLog}: when twistd's log goes to standard
    output, and what it leaves alone.
    """

    def setUp(self) -> None:
        self.stdout = sys.stdout
        self.addCleanup(setattr, sys, "stdout", self.stdout)

    def protect(self, **options: Any) -> object:
        reactor = MemoryReactorClock()
        return protectStandardLog(reactor, {"nodaemon": True, **options})

    def test_outsideTwistd(self) -> None:
        """
        Without twistd's options, nothing is done.
        """
        self.assertIsNone(protectStandardLog(MemoryReactorClock(), None))

    def test_daemon(self) -> None:
        """
        A daemon logs to a file: nothing is done.
        """
        self.assertIsNone(self.protect(nodaemon=False))

    def test_logFile(self) -> None:
        """
        With C{--logfile FILE}, nothing is done.
        """
        self.assertIsNone(self.protect(logfile="twistd.log"))

    def test_syslog(self) -> None:
        """
        With C{--syslog}, nothing is done.
        """
        self.assertIsNone(self.protect(syslog=True))

    def test_logger(self) -> None:
        """
        With C{--logger}, nothing is done.
        """
        self.assertIsNone(self.protect(logger="my.observer"))

    def pipeAsStandardOutput(self) -> int:
        """
        Make C{sys.stdout} a pipe's writing end; return its reading end.
        """
        reader, writer = os.pipe()
        self.addCleanup(os.close, reader)
        sys.stdout = open(writer, "w")  # noqa: SIM115 (closed by the cleanup)
        self.addCleanup(sys.stdout.close)
        return reader

    def protectPipe(self, reader: int, **options: Any) -> tuple[Any, LogStream]:
        reactor = MemoryReactorClock()
        stream = protectStandardLog(reactor, {"nodaemon": True, **options})
        assert isinstance(stream, LogStream)
        self.addCleanup(_installed.remove, stream)
        self.addCleanup(atexit.unregister, stream.finish)
        self.addCleanup(stream._writer.sink.close)
        return reactor, stream

    def test_pipe(self) -> None:
        """
        With standard output a pipe, C{sys.stdout} becomes a L{LogStream}
        writing to it.
        """
        reader = self.pipeAsStandardOutput()
        _, stream = self.protectPipe(reader)
        sys.stdout.write("hello\n")
        self.assertIs(sys.stdout, stream)
        self.assertEqual(os.read(reader, 100), b"hello\n")

    def test_logFileDash(self) -> None:
        """
        C{--logfile -} is standard output too.
        """
        reader = self.pipeAsStandardOutput()
        _, stream = self.protectPipe(reader, logfile="-")
        self.assertIs(sys.stdout, stream)

    def test_writtenBefore(self) -> None:
        """
        What the old C{sys.stdout} held is written first.
        """
        reader = self.pipeAsStandardOutput()
        sys.stdout.write("before\n")
        self.protectPipe(reader)
        sys.stdout.write("after\n")
        self.assertEqual(os.read(reader, 100), b"before\nafter\n")

    def test_finishedAtShutdown(self) -> None:
        """
        When the reactor has stopped, the stream is finished.
        """
        reactor, stream = self.protectPipe(self.pipeAsStandardOutput())
        self.assertEqual(
            reactor.triggers["after"]["shutdown"], [(stream.finish, (), {})]
        )

    def test_counted(self) -> None:
        """
        The lines the stream made drops are the process's.
        """
        _, stream = self.protectPipe(self.pipeAsStandardOutput())
        stream.dropped = 3
        self.assertEqual(droppedLogLines(), 3)

    def test_regularFile(self) -> None:
        """
        A regular file is left as it is.
        """
        path = self.mktemp()
        sys.stdout = open(path, "w")  # noqa: SIM115 (closed by the cleanup)
        self.addCleanup(sys.stdout.close)
        self.assertIsNone(self.protect())

    def test_noDescriptor(self) -> None:
        """
        A C{sys.stdout} without a descriptor (as in these tests) is left
        as it is.
        """
        sys.stdout = _NoDescriptor()
        self.assertIsNone(self.protect(logfile="-"))
        self.assertIsInstance(sys.stdout, _NoDescriptor)

    def test_noneDropped(self) -> None:
        """
        Without a L{LogStream} made, no dropped log lines are counted.
        """
        self.assertIsNone(droppedLogLines())


class _NoDescriptor:
    def fileno(self) -> int:
        raise ValueError("no descriptor")

    def flush(self) -> None:
        pass


class QuietWriterTests(SynchronousTestCase):
    """
    A quiet L{OutputWriter} (the log's own) logs nothing.
    """

    def test_givenUp(self) -> None:
        """
        What is dropped at the end of a flush is not logged.
        """
        logged = LogTexts(self)
        sink = FakeSink(room=0)
        writer = OutputWriter(MemoryReactorClock(), sink, "log", quiet=True)
        writer.write(b"one\n", writer.share("log", 100))
        writer.flush(0)
        self.assertEqual(
            (writer.waiting, [formatEvent(e) for e in logged.events]), (0, [])
        )


class CheckLogFileTests(SynchronousTestCase):
    """
    Tests for L{checkLogFile}: a C{--logfile} twistd cannot log to (a FIFO)
    is refused.
    """

    def test_fifo(self) -> None:
        """
        A FIFO is refused, in one line naming it and what to give instead.
        """
        path = os.path.join(self.mktemp() + "-dir", "log.fifo")
        os.makedirs(os.path.dirname(path))
        os.mkfifo(path)
        with self.assertRaises(CommandLineError) as caught:
            checkLogFile({"logfile": path})
        self.assertNotIn("\n", str(caught.exception))
        self.assertIn(f"--logfile {path!r} is a FIFO or pipe", str(caught.exception))
        self.assertIn("give a regular file", str(caught.exception))

    def test_regularFile(self) -> None:
        """
        A regular file is left to twistd.
        """
        path = self.mktemp()
        open(path, "w").close()
        checkLogFile({"logfile": path})

    def test_notThere(self) -> None:
        """
        A file not there yet is left to twistd (which creates it).
        """
        checkLogFile({"logfile": self.mktemp()})

    def test_device(self) -> None:
        """
        A device (C{/dev/null}) is left to twistd.
        """
        checkLogFile({"logfile": os.devnull})

    def test_standardOutput(self) -> None:
        """
        No C{--logfile}, C{--logfile -}, or no twistd at all: nothing to
        check.
        """
        checkLogFile({"logfile": ""})
        checkLogFile({"logfile": "-"})
        checkLogFile(None)
