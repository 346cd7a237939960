"""
Tests for what L{sockplug.protocols.lines} keeps of a connection's lines:
the unfinished line, and the lines a paused protocol has not taken yet, in
batches bounded in lines and in bytes, and in memory a few times their
bytes whatever the reads.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from sockplug.options import ListenerLimits
from sockplug.protocols.base import ListenerFactory
from sockplug.protocols.lines import BATCH_BYTES, LINE_BATCH, LineProtocol, LineSplitter
from sockplug.testing import listenerInfo


def allocatedBy(action: Callable[[], object]) -> int:
    """
    The bytes allocated by C{action} and still allocated once it is done
    (what it keeps), as C{tracemalloc} counts them.
    """
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        action()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def reads(data: bytes, size: int) -> Iterator[bytes]:
    """
    C{data} cut in reads of C{size} bytes, each made as it is taken: new
    objects, as a socket's reads are (not the one shared object of a
    one-byte literal), allocated where they are received.
    """
    view = memoryview(data)
    for i in range(0, len(data), size):
        yield view[i : i + size].tobytes()


class _Pausing(LineProtocol):
    """
    A line protocol that records its batches, and pauses after C{pauseAfter}
    of them, as backpressure pauses a protocol whose replies are not read.
    """

    pauseAfter = 1

    def connectionMade(self) -> None:
        super().connectionMade()
        self.batches: list[list[bytes]] = []

    def linesReceived(self, lines: list[bytes]) -> None:
        self.batches.append(lines)
        if len(self.batches) % self.pauseAfter == 0:
            self.paused = True

    def resume(self) -> None:
        """
        The peer has read: go on with the held lines.
        """
        self.paused = False
        self.resumed()

    def lines(self) -> list[bytes]:
        """
        Every line handed on so far, in order.
        """
        return [line for batch in self.batches for line in batch]


def _connect(pauseAfter: int = 1, maxLine: int = 65536) -> _Pausing:
    peer = IPv4Address("TCP", "127.0.0.1", 53422)
    info = listenerInfo(limits=ListenerLimits(maxLine=maxLine))
    protocol = ListenerFactory(_Pausing, info).buildProtocol(peer)
    assert isinstance(protocol, _Pausing)
    protocol.pauseAfter = pauseAfter
    protocol.makeConnection(StringTransport(peerAddress=peer))
    return protocol


class UnfinishedLineMemoryTests(SynchronousTestCase):
    """
    An unfinished line costs about its bytes, however it was read.
    """

    def test_byteByByte(self) -> None:
        """
        20,000 bytes of a line read one byte at a time are kept in little
        more than 20,000 bytes (not an object of 33 bytes and more per
        read).
        """
        splitter = LineSplitter(65536)

        def trickle() -> None:
            for data in reads(b"x" * 20_000, 1):
                splitter.splitBlock(data)

        self.assertLess(allocatedBy(trickle), 2 * 20_000)
        self.assertEqual(len(splitter.rest()), 20_000)

    def test_atTheBound(self) -> None:
        """
        An unfinished line of C{maxLength} - 1 bytes, in reads of 97
        bytes, is kept in less than 1.25 times its bytes.
        """
        splitter = LineSplitter(65536)

        def hold() -> None:
            for data in reads(b"y" * 65535, 97):
                splitter.splitBlock(data)

        self.assertLess(allocatedBy(hold), 65535 * 5 // 4)
        self.assertFalse(splitter.overflowed)

    def test_letGoAtTheEnd(self) -> None:
        """
        Once its LF arrives, what was kept of a line is let go: a short
        rest is all that stays.
        """
        splitter = LineSplitter(65536)

        def lineAndMore() -> None:
            for data in reads(b"z" * 30_000, 1):
                splitter.splitBlock(data)
            splitter.splitBlock(b"\nab")

        self.assertLess(allocatedBy(lineAndMore), 1024)
        self.assertEqual(splitter.rest(), b"ab")


class HeldLinesTests(SynchronousTestCase):
    """
    Lines a paused protocol has not taken yet wait as the bytes they came
    in, and are handed on, in order, when it resumes.
    """

    def test_heldAsBytes(self) -> None:
        """
        A 64 KiB read of two-byte lines that a paused protocol does not
        take is kept in little more than 64 KiB (not as 32,768 objects).
        """
        protocol = _connect()

        def receive() -> None:
            for data in reads(b"a\n" * 32768, 65536):
                protocol.dataReceived(data)

        self.assertLess(allocatedBy(receive), 2 * 65536)
        self.assertEqual(len(protocol.batches), 1)

    def test_resumed(self) -> None:
        """
        As the protocol resumes, the held lines are handed on, a batch at a
        time, every one in order.
        """
        protocol = _connect()
        sent = [b"%d" % i for i in range(1000)]
        protocol.dataReceived(b"\n".join(sent) + b"\n")
        for _ in range(100):
            if len(protocol.lines()) == len(sent):
                break
            protocol.resume()
        self.assertEqual(protocol.lines(), sent)
        self.assertEqual(len(protocol.batches), -(-1000 // LINE_BATCH))

    def test_readWhilePaused(self) -> None:
        """
        Lines read while the protocol is paused are handed on after those
        held before them.
        """
        protocol = _connect()
        first = [b"a%d" % i for i in range(300)]
        protocol.dataReceived(b"\n".join(first) + b"\n")
        protocol.dataReceived(b"late\n")
        for _ in range(10):
            protocol.resume()
        self.assertEqual(protocol.lines(), [*first, b"late"])

    def test_pausedAfterSomeBatches(self) -> None:
        """
        A protocol paused after a few batches of a read is handed no more
        until it resumes.
        """
        protocol = _connect(pauseAfter=3)
        protocol.dataReceived(b"x\n" * (LINE_BATCH * 5))
        self.assertEqual(len(protocol.lines()), LINE_BATCH * 3)
        protocol.resume()
        self.assertEqual(len(protocol.lines()), LINE_BATCH * 5)

    def test_nothingHeldOnceTaken(self) -> None:
        """
        Once every line is taken, nothing is held: the next read's lines
        are handed on alone.
        """
        protocol = _connect(pauseAfter=1000)
        protocol.dataReceived(b"one\ntwo\n")
        protocol.dataReceived(b"three\n")
        self.assertEqual(protocol.batches, [[b"one", b"two"], [b"three"]])


class BatchBytesTests(SynchronousTestCase):
    """
    A batch holds at most L{LINE_BATCH} lines and L{BATCH_BYTES} bytes,
    unless its one line is longer.
    """

    def test_longLinesBatchedByBytes(self) -> None:
        """
        Lines of 1,000 bytes are handed on in batches of at most
        L{BATCH_BYTES} bytes (their LFs counted), every one in order.
        """
        protocol = _connect(pauseAfter=1000)
        sent = [b"%04d" % i + b"x" * 996 for i in range(40)]
        protocol.dataReceived(b"\n".join(sent) + b"\n")
        self.assertEqual(protocol.lines(), sent)
        self.assertEqual(
            [sum(len(line) + 1 for line in batch) for batch in protocol.batches],
            [16016, 16016, 8008],
        )

    def test_lineLongerThanBatch(self) -> None:
        """
        A line longer than L{BATCH_BYTES} is handed on whole, in a batch of
        its own.
        """
        protocol = _connect(pauseAfter=1000)
        long = b"L" * (3 * BATCH_BYTES)
        protocol.dataReceived(b"a\n" + long + b"\nb\n")
        self.assertEqual(protocol.batches, [[b"a"], [long], [b"b"]])

    def test_shortLinesBatchedByCount(self) -> None:
        """
        Short lines are handed on L{LINE_BATCH} at a time.
        """
        protocol = _connect(pauseAfter=1000)
        protocol.dataReceived(b"\n" * (LINE_BATCH * 2 + 3))
        self.assertEqual(
            [len(batch) for batch in protocol.batches], [LINE_BATCH, LINE_BATCH, 3]
        )
