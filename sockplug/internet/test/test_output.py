"""
Tests for L{sockplug.internet._output}: an output that never blocks the
reactor, its bounded queue, and what it drops.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionLost
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from sockplug.internet._output import CLOSE_TIMEOUT, OutputWriter, Share
from sockplug.testing._lineprint import FakeSink
from sockplug.testing._logs import LogTexts

_EPIPE = BrokenPipeError(32, "Broken pipe")


class _WriterCase(SynchronousTestCase):
    """
    A writer to a L{FakeSink} on a memory reactor.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.sink = FakeSink()
        self.writer = OutputWriter(self.reactor, self.sink, "line-print")
        self.share = self.writer.share("tcp:8888", 100)
        self.logged = LogTexts(self)

    def stall(self) -> None:
        """
        The sink stops taking bytes, as a pipe whose reader stopped.
        """
        self.sink.room = 0

    def resume(self) -> None:
        """
        The sink takes everything again, and the reactor says so.
        """
        self.sink.room = None
        self.writer.doWrite()

    @property
    def watched(self) -> bool:
        return self.writer in self.reactor.getWriters()


class WriteTests(_WriterCase):
    """
    Tests for L{OutputWriter.write}.
    """

    def test_atOnce(self) -> None:
        """
        A block the sink takes is written at once, and the reactor is not
        asked to watch the sink.
        """
        self.assertTrue(self.writer.write(b"one\n", self.share))
        self.assertEqual((self.sink.written, self.watched), (b"one\n", False))

    def test_oneCallPerBlock(self) -> None:
        """
        Each block is written with one call.
        """
        self.writer.write(b"one\ntwo\n", self.share)
        self.writer.write(memoryview(b"three\n"), self.share)
        self.assertEqual(
            (self.sink.writes, self.sink.written), (2, b"one\ntwo\nthree\n")
        )

    def test_waitsWhenFull(self) -> None:
        """
        A block the sink cannot take waits, and the reactor watches the
        sink for room.
        """
        self.stall()
        self.assertTrue(self.writer.write(b"one\n", self.share))
        self.assertEqual(
            (self.sink.written, self.writer.waiting, self.share.waiting, self.watched),
            (b"", 4, 4, True),
        )

    def test_writtenWhenRoom(self) -> None:
        """
        What waits is written once the reactor says there is room, and the
        sink is no longer watched.
        """
        self.stall()
        self.writer.write(b"one\n", self.share)
        self.resume()
        self.assertEqual(
            (self.sink.written, self.writer.waiting, self.share.waiting, self.watched),
            (b"one\n", 0, 0, False),
        )

    def test_behindWhatWaits(self) -> None:
        """
        While something waits, a new block waits behind it, even if the
        sink has room: the order is kept.
        """
        self.stall()
        self.writer.write(b"one\n", self.share)
        self.sink.room = None
        self.writer.write(b"two\n", self.share)
        self.assertEqual(self.sink.written, b"")
        self.writer.doWrite()
        self.assertEqual(self.sink.written, b"one\ntwo\n")

    def test_waitingInOneCall(self) -> None:
        """
        Blocks waiting are written together, with one C{writev}.
        """
        self.stall()
        for line in (b"one\n", b"two\n", b"three\n"):
            self.writer.write(line, self.share)
        writes = self.sink.writes
        self.resume()
        self.assertEqual(self.sink.writes - writes, 1)

    def test_partlyWrittenRestKept(self) -> None:
        """
        The rest of a block the sink took only part of waits, whatever the
        bound, so that the line is not cut.
        """
        share = self.writer.share("small", 2)
        self.sink.room = 3
        self.assertTrue(self.writer.write(b"abcdef\n", share))
        self.assertEqual((self.sink.written, share.waiting), (b"abc", 4))
        self.resume()
        self.assertEqual(self.sink.written, b"abcdef\n")

    def test_partlyWrittenWaiting(self) -> None:
        """
        When the sink takes part of what waits, the rest waits, in order.
        """
        self.stall()
        self.writer.write(b"one\n", self.share)
        self.writer.write(b"two\n", self.share)
        self.sink.room = 6
        self.writer.doWrite()
        self.assertEqual((self.sink.written, self.share.waiting), (b"one\ntw", 2))
        self.resume()
        self.assertEqual(self.sink.written, b"one\ntwo\n")

    def test_noReactorDrops(self) -> None:
        """
        Without a reactor (a file in memory), a block the sink cannot take
        is dropped, not kept.
        """
        writer = OutputWriter(None, FakeSink(room=0), "line-print")
        share = writer.share("a", 100)
        self.assertFalse(writer.write(b"one\n", share))
        self.assertEqual((share.droppedLines, writer.waiting), (1, 0))


class BoundTests(_WriterCase):
    """
    Tests for the bound of each L{Share}, and what is dropped past it.
    """

    def test_dropPastBound(self) -> None:
        """
        A block that would take its share past the bound is dropped whole,
        and its lines and bytes counted.
        """
        self.stall()
        self.assertTrue(self.writer.write(b"x" * 96 + b"\n", self.share))
        self.assertFalse(self.writer.write(b"a\nb\nc\n", self.share))
        self.assertEqual(
            (self.share.waiting, self.share.droppedLines, self.share.droppedBytes),
            (97, 3, 6),
        )

    def test_upToBound(self) -> None:
        """
        A block that takes its share exactly to the bound waits.
        """
        self.stall()
        self.assertTrue(self.writer.write(b"x" * 99 + b"\n", self.share))
        self.assertEqual((self.share.waiting, self.share.droppedBytes), (100, 0))

    def test_zeroBound(self) -> None:
        """
        With a bound of 0, what the sink cannot take at once is dropped.
        """
        share = self.writer.share("none", 0)
        self.stall()
        self.assertFalse(self.writer.write(b"one\n", share))
        self.assertEqual((share.droppedLines, self.writer.waiting), (1, 0))

    def test_perShare(self) -> None:
        """
        One share that is full does not make another drop.
        """
        other = self.writer.share("udp:9999", 100)
        self.stall()
        self.writer.write(b"x" * 99 + b"\n", self.share)
        self.assertFalse(self.writer.write(b"y\n", self.share))
        self.assertTrue(self.writer.write(b"z\n", other))
        self.assertEqual((self.share.droppedLines, other.droppedLines), (1, 0))

    def test_roomAgain(self) -> None:
        """
        Once what waits is written, the share takes blocks again.
        """
        self.stall()
        self.writer.write(b"x" * 99 + b"\n", self.share)
        self.assertFalse(self.writer.write(b"y\n", self.share))
        self.resume()
        self.assertTrue(self.writer.write(b"z\n", self.share))
        self.assertEqual(self.sink.written, b"x" * 99 + b"\nz\n")

    def test_sameShare(self) -> None:
        """
        Asking again for a share by name gives the same one, with its
        counts, under the new bound.
        """
        self.stall()
        self.writer.write(b"x" * 200 + b"\n", self.share)
        again = self.writer.share("tcp:8888", 500)
        self.assertIs(again, self.share)
        self.assertEqual((again.bound, again.droppedLines), (500, 1))

    def test_share(self) -> None:
        """
        A new share has its name and bound, nothing waiting and nothing
        dropped.
        """
        share = self.writer.share("b", 7)
        self.assertEqual(
            (share.name, share.bound, share.waiting, share.droppedLines),
            ("b", 7, 0, 0),
        )
        self.assertIsInstance(share, Share)


class DropLogTests(_WriterCase):
    """
    Tests for the log lines about what was dropped.
    """

    def setUp(self) -> None:
        super().setUp()
        self.stall()
        self.writer.write(b"x" * 99 + b"\n", self.share)

    def test_logged(self) -> None:
        """
        A drop is logged, naming the output, the share, what was dropped
        and the bound.
        """
        self.writer.write(b"a\nb\n", self.share)
        self.assertEqual(
            self.logged("dropped"),
            [
                "line-print: the fake output is not keeping up; 2 lines (4 bytes)"
                " from tcp:8888 dropped, with 100 of its 100 bytes waiting"
            ],
        )

    def test_rateLimited(self) -> None:
        """
        Many drops in a row log one line.
        """
        for _ in range(50):
            self.writer.write(b"a\n", self.share)
        self.assertEqual(len(self.logged("dropped,")), 1)

    def test_nextLineSumsUp(self) -> None:
        """
        The next line, once the window is over, counts what was dropped
        since the last one.
        """
        for _ in range(50):
            self.writer.write(b"a\n", self.share)
        self.reactor.advance(10)
        self.writer.write(b"a\n", self.share)
        self.assertIn(
            "50 lines (100 bytes) from tcp:8888 dropped", self.logged("dropped,")[1]
        )

    def test_heldBackSummed(self) -> None:
        """
        The rate limit says how many lines it held back when the window
        closes.
        """
        for _ in range(5):
            self.writer.write(b"a\n", self.share)
        self.reactor.advance(10)
        self.assertEqual(
            self.logged("held back"),
            [
                "line-print output the fake output: 4 log lines about dropped"
                " output held back in the last 10s (rate limit)"
            ],
        )

    def test_eachShareLogged(self) -> None:
        """
        Each share's first drop is logged.
        """
        other = self.writer.share("udp:9999", 0)
        self.writer.write(b"a\n", self.share)
        self.writer.write(b"b\n", other)
        self.assertEqual(len(self.logged("dropped,")), 2)


class FailureTests(_WriterCase):
    """
    Tests for a sink that fails (its reader is gone).
    """

    def test_notRaised(self) -> None:
        """
        A write error does not propagate: the block is dropped and counted.
        """
        self.sink.failWith = _EPIPE
        self.assertFalse(self.writer.write(b"one\n", self.share))
        self.assertEqual((self.share.droppedLines, self.share.droppedBytes), (1, 4))

    def test_loggedOnce(self) -> None:
        """
        Write errors are logged once, not once per block.
        """
        self.sink.failWith = _EPIPE
        for _ in range(3):
            self.writer.write(b"one\n", self.share)
        self.assertEqual(
            self.logged(),
            ["line-print cannot write its output: [Errno 32] Broken pipe"],
        )

    def test_loggedAgainAfterSuccess(self) -> None:
        """
        An error after a write that succeeded (a FIFO's new reader came and
        went) is logged again.
        """
        self.sink.failWith = _EPIPE
        self.writer.write(b"one\n", self.share)
        self.sink.failWith = None
        self.writer.write(b"two\n", self.share)
        self.sink.failWith = _EPIPE
        self.writer.write(b"three\n", self.share)
        self.assertEqual(len(self.logged("cannot write")), 2)

    def test_waitingDroppedOnError(self) -> None:
        """
        When writing what waits fails, all of it is dropped and counted,
        and the sink is no longer watched.
        """
        self.stall()
        self.writer.write(b"one\n", self.share)
        self.writer.write(b"two\n", self.share)
        self.sink.failWith = _EPIPE
        self.writer.doWrite()
        self.assertEqual(
            (self.writer.waiting, self.share.droppedLines, self.watched), (0, 2, False)
        )

    def test_connectionLostReaderGone(self) -> None:
        """
        When the reactor stops watching the descriptor because it failed
        (the reader is gone), what waits is dropped and counted, and the
        failure logged.
        """
        self.stall()
        self.writer.write(b"one\n", self.share)
        self.reactor.removeWriter(self.writer)
        self.sink.failWith = _EPIPE
        self.writer.connectionLost(Failure(ConnectionLost()))
        self.assertEqual((self.writer.waiting, self.share.droppedLines), (0, 1))
        self.assertEqual(
            self.logged(),
            ["line-print cannot write its output: [Errno 32] Broken pipe"],
        )

    def test_connectionLostAtShutdown(self) -> None:
        """
        When the reactor stops watching the descriptor as it shuts down,
        what the sink takes is written, and the rest dropped with one
        line saying so, not as a failure.
        """
        self.stall()
        self.writer.write(b"one\n", self.share)
        self.writer.write(b"two\n", self.share)
        self.reactor.removeWriter(self.writer)
        self.sink.room = 4
        self.writer.connectionLost(Failure(ConnectionLost()))
        self.assertEqual((self.sink.written, self.share.droppedLines), (b"one\n", 1))
        self.assertEqual(
            self.logged(),
            [
                "line-print: the fake output did not take 1 line (4 bytes) in"
                " time; dropped"
            ],
        )
        self.assertFalse(self.watched)


class FlushTests(_WriterCase):
    """
    Tests for L{OutputWriter.flush}, at shutdown.
    """

    def fired(self, d: Deferred[None]) -> bool:
        results: list[object] = []
        d.addBoth(results.append)
        return results == [None]

    def test_nothingWaiting(self) -> None:
        """
        With nothing waiting, it fires at once.
        """
        self.assertTrue(self.fired(self.writer.flush(5)))

    def test_firesOnceWritten(self) -> None:
        """
        It fires once what waits has been written.
        """
        self.stall()
        self.writer.write(b"one\n", self.share)
        d = self.writer.flush(5)
        self.assertFalse(self.fired(d))
        self.resume()
        self.assertTrue(self.fired(d))
        self.assertEqual(self.sink.written, b"one\n")

    def test_givesUp(self) -> None:
        """
        After the timeout, what still waits is dropped and counted, with
        one log line, and it fires.
        """
        self.stall()
        self.writer.write(b"one\ntwo\n", self.share)
        d = self.writer.flush(5)
        self.reactor.advance(4.9)
        self.assertFalse(self.fired(d))
        self.reactor.advance(0.1)
        self.assertTrue(self.fired(d))
        self.assertEqual(
            (self.writer.waiting, self.share.droppedLines, self.watched), (0, 2, False)
        )
        self.assertEqual(
            self.logged("in time"),
            [
                "line-print: the fake output did not take 2 lines (8 bytes) in"
                " time; dropped"
            ],
        )

    def test_timerCancelled(self) -> None:
        """
        Once it fires, its timer is cancelled.
        """
        self.stall()
        self.writer.write(b"one\n", self.share)
        self.writer.flush(5)
        self.resume()
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_noTime(self) -> None:
        """
        With no time left, what the sink takes now is written and the rest
        dropped at once.
        """
        self.stall()
        self.writer.write(b"one\n", self.share)
        self.writer.write(b"two\n", self.share)
        self.sink.room = 4
        self.assertTrue(self.fired(self.writer.flush(0)))
        self.assertEqual((self.sink.written, self.share.droppedLines), (b"one\n", 1))


class CloseTests(_WriterCase):
    """
    Tests for L{OutputWriter.close}.
    """

    def test_atOnce(self) -> None:
        """
        With nothing waiting, the sink is closed at once.
        """
        self.writer.close()
        self.assertTrue(self.writer.closed)

    def test_afterWaiting(self) -> None:
        """
        With something waiting, the sink is closed once it is written.
        """
        self.stall()
        self.writer.write(b"one\n", self.share)
        self.writer.close()
        self.assertFalse(self.sink.closed)
        self.resume()
        self.assertEqual((self.sink.written, self.sink.closed), (b"one\n", True))

    def test_givesUp(self) -> None:
        """
        A sink that takes nothing more is closed after L{CLOSE_TIMEOUT},
        no longer watched.
        """
        self.stall()
        self.writer.write(b"one\n", self.share)
        self.writer.close()
        self.reactor.advance(CLOSE_TIMEOUT)
        self.assertEqual((self.sink.closed, self.watched), (True, False))
