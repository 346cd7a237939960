# -*- test-case-name: sockplug.test.test_lines -*-
"""
Splitting a byte stream into lines, with a bound on their length.

LF ends a line; a CR before it stays on the line, for the caller to strip
or to mirror in a reply. Each read is split in one pass (as Twisted's
L{LineOnlyReceiver} does, not its quadratic L{LineReceiver}).
"""

from __future__ import annotations

from twisted.logger import LogLevel

from sockplug.protocols.base import CountingProtocol

__all__ = ["DEFAULT_MAX_LINE_LENGTH", "LineProtocol", "LineSplitter"]

DEFAULT_MAX_LINE_LENGTH = 65536

# Lines handed on at once; between batches, a protocol paused by
# backpressure stops (hello answers a 64 KiB read of empty lines with 1 MiB).
LINE_BATCH = 256


class LineSplitter:
    """
    Collects bytes and hands back the complete lines among them.

    @ivar maxLength: the longest line allowed, in bytes, without its LF.
    @ivar overflowed: whether a line longer than C{maxLength} was seen;
        after that the splitter hands back nothing more.
    """

    def __init__(self, maxLength: int = DEFAULT_MAX_LINE_LENGTH) -> None:
        self.maxLength = maxLength
        self.overflowed = False
        self._parts: list[bytes] = []
        self._size = 0

    def split(self, data: bytes) -> list[bytes]:
        """
        Add C{data}, and return the lines it completes, without their LF.

        If a line is longer than C{maxLength}, the lines before it are
        returned, C{overflowed} becomes true, and that line and everything
        after it are thrown away.
        """
        if self.overflowed:
            return []
        if b"\n" not in data:
            # Part of a line: keep it aside, not joined to the rest on every
            # read (which would be quadratic in the line's length).
            self._parts.append(data)
            self._size += len(data)
            if self._size > self.maxLength:
                return self._overflow([])
            return []
        if self._parts:
            self._parts.append(data)
            data = b"".join(self._parts)
            self._parts, self._size = [], 0
        lines = data.split(b"\n")
        rest = lines.pop()
        if rest:
            self._parts, self._size = [rest], len(rest)
        limit = self.maxLength
        for index, line in enumerate(lines):
            if len(line) > limit:
                return self._overflow(lines[:index])
        if len(rest) > limit:
            return self._overflow(lines)
        return lines

    def _overflow(self, lines: list[bytes]) -> list[bytes]:
        self.overflowed = True
        self._parts, self._size = [], 0
        return lines

    def rest(self) -> bytes:
        """
        Take the bytes received after the last LF: an unterminated line.
        """
        rest = b"".join(self._parts)
        self._parts, self._size = [], 0
        return rest


class LineProtocol(CountingProtocol):
    """
    A stream protocol that receives lines, a batch per read.

    A line longer than the listener's C{maxline} (C{maxLineLength} once
    connected) is logged and closes the connection; it is not handed on, in
    part or whole.
    """

    maxLineLength = DEFAULT_MAX_LINE_LENGTH

    def connectionMade(self) -> None:
        self.maxLineLength = self.listener.limits.maxLine
        self.lineSplitter = LineSplitter(self.maxLineLength)
        self._pending: list[bytes] = []
        super().connectionMade()

    def dataReceived(self, data: bytes) -> None:
        self.bytesIn += len(data)
        lines = self.lineSplitter.split(data)
        if lines:
            self._pending.extend(lines)
            self._handLines()
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

    def _handLines(self) -> None:
        """
        Hand on the lines received, a batch at a time, until they are done
        or the peer stops reading its replies (backpressure): then the rest
        wait until it reads again, so that one read of short lines cannot
        queue replies many times its size.
        """
        pending = self._pending
        while pending and not self.paused:
            batch = pending[:LINE_BATCH]
            del pending[:LINE_BATCH]
            self.linesReceived(batch)

    def resumed(self) -> None:
        self._handLines()

    def linesReceived(self, lines: list[bytes]) -> None:
        """
        Handle the complete lines of one read (without LF; with CR if the
        peer sent one).
        """
        raise NotImplementedError()
