# -*- test-case-name: sockplug.protocols.test.test_lines,sockplug.protocols.test.test_linebatches -*-  # noqa: E501
"""
Splitting a byte stream into lines, with a bound on their length.

A line ends with LF, or with CR LF; its length, which C{maxline} bounds, is
that of the line without its end, however it ends. A CR before the LF stays
on the line, for the caller to strip or to mirror in a reply. Each read is
handled whole: its complete lines are found, and their length checked, with
a few searches in C, and handed on as one block of bytes, or split in one
pass (as Twisted's L{LineOnlyReceiver} splits, not its quadratic
L{LineReceiver}).

What a connection holds stays within a few times its bounds, whatever the
pattern of its reads: an unfinished line is kept in one C{bytearray}, not
as the bytes of each read (a one-byte read costs 33 bytes of object
header), and lines a paused protocol has not taken yet are kept as the
bytes they came in, not one object per line.
"""

from __future__ import annotations

from twisted.logger import LogLevel

from sockplug.options import LIMITS
from sockplug.protocols.base import CountingProtocol

__all__ = ["DEFAULT_MAX_LINE_LENGTH", "LineProtocol", "LineSplitter", "tooLong"]

DEFAULT_MAX_LINE_LENGTH: int = LIMITS["maxline"].default

# Lines handed on at once; between batches, a protocol paused by
# backpressure stops (hello answers a 64 KiB read of empty lines with 1 MiB).
LINE_BATCH = 256
# The bytes of lines a batch takes at most (unless its one line is longer):
# what a batch's replies add to the queue past C{sendbuffer} stays small
# however long the lines are.
BATCH_BYTES = 16384

_CR = 13


def tooLong(line: bytes | bytearray, limit: int) -> bool:
    """
    Whether C{line}, without its LF, is longer than C{limit} bytes without
    its end: a CR at its end is part of the end (CR LF), not of the line.

    This is the one definition of C{maxline}; L{LineSplitter} applies it
    to lines and to the unfinished line, and finds the same answer with a
    few searches for a whole read.
    """
    size = len(line)
    return size > limit and (size > limit + 1 or line[-1] != _CR)


class LineSplitter:
    """
    Collects bytes and hands back the complete lines among them.

    @ivar maxLength: the longest line allowed, in bytes, without its end
        (LF, or CR LF): see L{tooLong}.
    @ivar overflowed: whether a line longer than C{maxLength} was seen;
        after that the splitter hands back nothing more.
    """

    def __init__(self, maxLength: int = DEFAULT_MAX_LINE_LENGTH) -> None:
        self.maxLength = maxLength
        self.overflowed = False
        # The unfinished line: at most maxLength + 1 bytes (its CR).
        self._partial = bytearray()

    def split(self, data: bytes) -> list[bytes]:
        """
        Add C{data}, and return the lines it completes, without their LF.

        If a line is longer than C{maxLength}, the lines before it are
        returned, C{overflowed} becomes true, and that line and everything
        after it are thrown away.
        """
        lines = self.splitBlock(data).split(b"\n")
        lines.pop()
        return lines

    def splitBlock(self, data: bytes) -> bytes:
        """
        Add C{data}, and return the lines it completes as they came: one
        block of bytes, each line ended by its LF (empty if none is
        complete). The same lines as L{split}, without building one object
        per line.

        If a line is longer than C{maxLength}, the lines before it are
        returned, C{overflowed} becomes true, and that line and everything
        after it are thrown away.
        """
        if self.overflowed:
            return b""
        partial = self._partial
        end = data.rfind(b"\n") + 1
        if not end:
            # Part of a line: added to the one buffer, which grows in place
            # (amortized), neither a list of reads nor joined on each read.
            partial += data
            if tooLong(partial, self.maxLength):
                self._overflow()
            return b""
        if partial:
            end += len(partial)
            data = b"".join((partial, data))
            partial.clear()  # and its memory let go
        block, rest = data[:end], data[end:]
        if rest:
            partial += rest
        limit = self.maxLength
        # No line may be longer than limit bytes without its end: limit + 1
        # with its LF, limit + 2 if a CR ends it. Rather than measure each
        # line: from the start of a line, the last LF within limit + 2
        # bytes ends lines that are all short enough, unless it is the only
        # one and the last of those bytes, without a CR before it; if there
        # is none, the line at start is too long. A read costs a few
        # searches in C, not a step per line.
        start = 0
        while end - start > limit + 1:
            lf = block.rfind(b"\n", start, start + limit + 2)
            if lf < 0 or (
                lf == start + limit + 1
                and block[lf - 1] != _CR
                and block.find(b"\n", start, lf) < 0
            ):
                self._overflow()
                return block[:start]
            start = lf + 1
        if len(rest) > limit and tooLong(rest, limit):
            self._overflow()
        return block

    def _overflow(self) -> None:
        self.overflowed = True
        self._partial = bytearray()

    def rest(self) -> bytes:
        """
        Take the bytes received after the last LF: an unterminated line.
        """
        rest = bytes(self._partial)
        self._partial = bytearray()
        return rest


class LineProtocol(CountingProtocol):
    """
    A stream protocol that receives lines, a batch per read.

    A line longer than the listener's C{maxline} (C{maxLineLength} once
    connected), without its end (LF or CR LF), is logged and closes the
    connection; it is not handed on, in part or whole.
    """

    maxLineLength = DEFAULT_MAX_LINE_LENGTH

    def connectionMade(self) -> None:
        self.maxLineLength = self.listener.limits.maxLine
        self.lineSplitter = LineSplitter(self.maxLineLength)
        # Complete lines not handed on yet (backpressure), as they came:
        # those of _pending from _taken on.
        self._pending = b""
        self._taken = 0
        super().connectionMade()

    def dataReceived(self, data: bytes) -> None:
        self.bytesIn += len(data)
        block = self.lineSplitter.splitBlock(data)
        if block:
            self.blockReceived(block)
        if self.lineSplitter.overflowed and not self._closing:
            # Logged once: closeGently marks the connection as closing.
            self.logPeer(
                "lines too long",
                "{listener} {peer} sent a line longer than {limit} bytes;"
                " closing the connection",
                LogLevel.warn,
                listener=self.listener.description,
                limit=self.maxLineLength,
            )
            self.closeGently()

    def blockReceived(self, block: bytes) -> None:
        """
        Handle the complete lines of one read as they came: one block of
        bytes, each line ended by its LF (with a CR before it if the peer
        sent one).

        By default they are split, and handed to L{linesReceived} a batch at
        a time, as backpressure allows. A protocol that takes the lines as a
        whole, and does not reply (line-print prints them), overrides this.
        """
        if not self._pending and not self.paused and len(block) <= BATCH_BYTES:
            # Most reads: their lines make one batch, handed on at once.
            lines = block.split(b"\n", LINE_BATCH)
            if not lines[-1]:
                lines.pop()
                self.linesReceived(lines)
                return
        if self._pending:
            block = self._pending[self._taken :] + block
        self._pending, self._taken = block, 0
        self._handLines()

    def _handLines(self) -> None:
        """
        Hand on the lines received, a batch at a time (at most
        L{LINE_BATCH} lines, and L{BATCH_BYTES} bytes unless one line is
        longer), until they are done or the peer stops reading its replies
        (backpressure): then the rest wait, as the bytes they came in,
        until it reads again, so that one read of short lines can neither
        queue replies many times its size nor be kept as many objects.
        """
        block, taken = self._pending, self._taken
        while taken < len(block) and not self.paused:
            # A window of the block (the block itself if it is all there
            # is), split at most LINE_BATCH times: its last piece, what
            # follows the batch's last LF, waits for the next batch.
            window = block[taken : taken + BATCH_BYTES]
            lines = window.split(b"\n", LINE_BATCH)
            after = lines.pop()
            if lines:
                taken += len(window) - len(after)
            else:
                # One line longer than the window.
                end = block.index(b"\n", taken)
                lines = [block[taken:end]]
                taken = end + 1
            self._taken = taken
            self.linesReceived(lines)
            # As they are now, should linesReceived have received more.
            block, taken = self._pending, self._taken
        if taken >= len(block):
            self._pending, self._taken = b"", 0
        elif taken * 2 >= len(block):
            # Paused: what was taken is let go, each byte copied once on
            # average however often the peer pauses.
            self._pending, self._taken = block[taken:], 0

    def resumed(self) -> None:
        self._handLines()

    def linesReceived(self, lines: list[bytes]) -> None:
        """
        Handle the complete lines of one read (without LF; with CR if the
        peer sent one).
        """
        raise NotImplementedError()
