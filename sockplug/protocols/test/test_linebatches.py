"""
Tests for what L{sockplug.protocols.lines} keeps of a connection's lines:
the unfinished line, and the lines a paused protocol has not taken yet, in
batches bounded in lines and in bytes, and in memory a few times their
bytes whatever the reads.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator

from twisted.trial.unittest import SynchronousTestCase

from sockplug.protocols.lines import LineSplitter


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
