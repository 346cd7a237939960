"""
Tests for L{sockplug.protocols.lines}.
"""

from __future__ import annotations

import io

from twisted.internet.address import IPv4Address
from twisted.internet.testing import EventLoggingObserver, StringTransport
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from sockplug.plugins.sockplug_builtins import helloProtocol, linePrintProtocol
from sockplug.protocols import lineprint
from sockplug.protocols.base import ListenerFactory
from sockplug.protocols.lines import (
    DEFAULT_MAX_LINE_LENGTH,
    LINE_BATCH,
    LineProtocol,
    LineSplitter,
    tooLong,
)
from sockplug.testing import connectStream, listenerInfo


class LineSplitterTests(SynchronousTestCase):
    """
    Tests for L{LineSplitter}.
    """

    def test_defaultMaxLength(self) -> None:
        """
        By default a line may be up to 64 KiB long.
        """
        self.assertEqual(DEFAULT_MAX_LINE_LENGTH, 65536)
        self.assertEqual(LineSplitter().maxLength, 65536)

    def test_splitOnLF(self) -> None:
        """
        A line ended by LF is returned without its LF.
        """
        self.assertEqual(LineSplitter().split(b"hello\n"), [b"hello"])

    def test_carriageReturnKept(self) -> None:
        """
        A CR before the LF stays on the line.
        """
        self.assertEqual(LineSplitter().split(b"hello\r\n"), [b"hello\r"])

    def test_carriageReturnAloneNotALineEnd(self) -> None:
        """
        A CR alone does not end a line.
        """
        splitter = LineSplitter()
        self.assertEqual(splitter.split(b"a\rb"), [])
        self.assertEqual(splitter.split(b"\n"), [b"a\rb"])

    def test_emptyLine(self) -> None:
        """
        An LF alone is an empty line.
        """
        self.assertEqual(LineSplitter().split(b"\n"), [b""])

    def test_partialLineBuffered(self) -> None:
        """
        Bytes without an LF give no line yet; they start the line completed
        by a later call.
        """
        splitter = LineSplitter()
        self.assertEqual(splitter.split(b"hel"), [])
        self.assertEqual(splitter.split(b"lo"), [])
        self.assertEqual(splitter.split(b"\nwor"), [b"hello"])
        self.assertEqual(splitter.split(b"ld\n"), [b"world"])

    def test_manyLines(self) -> None:
        """
        All the lines completed by one call are returned, in order.
        """
        self.assertEqual(
            LineSplitter().split(b"one\ntwo\r\n\nthree\nfour"),
            [b"one", b"two\r", b"", b"three"],
        )

    def test_exactlyMaxLength(self) -> None:
        """
        A line of exactly C{maxLength} bytes is returned whole.
        """
        splitter = LineSplitter(10)
        self.assertEqual(splitter.split(b"x" * 10 + b"\n"), [b"x" * 10])
        self.assertFalse(splitter.overflowed)

    def test_crlfExactlyMaxLength(self) -> None:
        """
        A line of exactly C{maxLength} bytes ended by CR LF is returned
        whole, as the same line ended by LF is: the CR is part of its end.
        """
        splitter = LineSplitter(10)
        self.assertEqual(splitter.split(b"x" * 10 + b"\r\n"), [b"x" * 10 + b"\r"])
        self.assertFalse(splitter.overflowed)

    def test_crlfOverMaxLength(self) -> None:
        """
        A line one byte longer than C{maxLength}, ended by CR LF, overflows
        the splitter, as the same line ended by LF does.
        """
        splitter = LineSplitter(10)
        self.assertEqual(splitter.split(b"x" * 11 + b"\r\n"), [])
        self.assertTrue(splitter.overflowed)

    def test_overMaxLength(self) -> None:
        """
        A line one byte longer than C{maxLength} overflows the splitter.
        """
        splitter = LineSplitter(10)
        self.assertEqual(splitter.split(b"x" * 11 + b"\n"), [])
        self.assertTrue(splitter.overflowed)

    def test_notOverflowed(self) -> None:
        """
        A splitter that has seen no long line has not overflowed.
        """
        splitter = LineSplitter(10)
        splitter.split(b"short\nlines\n")
        self.assertFalse(splitter.overflowed)

    def test_overflowReturnsEarlierLines(self) -> None:
        """
        The lines before a long line in the same call are returned; the long
        line and the lines after it are not.
        """
        splitter = LineSplitter(10)
        self.assertEqual(
            splitter.split(b"one\ntwo\n" + b"x" * 11 + b"\nthree\n"),
            [b"one", b"two"],
        )

    def test_nothingAfterOverflow(self) -> None:
        """
        Once overflowed, the splitter returns no more lines.
        """
        splitter = LineSplitter(10)
        splitter.split(b"x" * 11 + b"\n")
        self.assertEqual(splitter.split(b"short\n"), [])
        self.assertTrue(splitter.overflowed)

    def test_unterminatedExactlyMaxLength(self) -> None:
        """
        An unterminated line of exactly C{maxLength} bytes is kept waiting
        for its LF.
        """
        splitter = LineSplitter(10)
        self.assertEqual(splitter.split(b"x" * 10), [])
        self.assertFalse(splitter.overflowed)
        self.assertEqual(splitter.split(b"\n"), [b"x" * 10])

    def test_unterminatedTooLong(self) -> None:
        """
        Unterminated bytes longer than C{maxLength} overflow the splitter at
        once, without waiting for an LF.
        """
        splitter = LineSplitter(10)
        self.assertEqual(splitter.split(b"x" * 11), [])
        self.assertTrue(splitter.overflowed)

    def test_unterminatedTooLongAcrossCalls(self) -> None:
        """
        An unterminated line that grows past C{maxLength} over several calls
        overflows the splitter.
        """
        splitter = LineSplitter(10)
        splitter.split(b"x" * 6)
        self.assertFalse(splitter.overflowed)
        splitter.split(b"x" * 5)
        self.assertTrue(splitter.overflowed)

    def test_unterminatedTooLongReturnsEarlierLines(self) -> None:
        """
        When the unterminated part overflows, the complete lines before it
        are still returned.
        """
        splitter = LineSplitter(10)
        self.assertEqual(splitter.split(b"one\n" + b"x" * 11), [b"one"])
        self.assertTrue(splitter.overflowed)

    def test_restAfterOverflow(self) -> None:
        """
        Nothing of an overflowing line is left for L{LineSplitter.rest}.
        """
        splitter = LineSplitter(10)
        splitter.split(b"x" * 11)
        self.assertEqual(splitter.rest(), b"")

    def test_rest(self) -> None:
        """
        L{LineSplitter.rest} returns the bytes after the last LF.
        """
        splitter = LineSplitter()
        splitter.split(b"one\ntw")
        splitter.split(b"o")
        self.assertEqual(splitter.rest(), b"two")

    def test_restClears(self) -> None:
        """
        L{LineSplitter.rest} takes the unterminated bytes: they are not
        returned again, nor put before later lines.
        """
        splitter = LineSplitter()
        splitter.split(b"two")
        splitter.rest()
        self.assertEqual(splitter.rest(), b"")
        self.assertEqual(splitter.split(b"three\n"), [b"three"])

    def test_restEmpty(self) -> None:
        """
        After a complete line, L{LineSplitter.rest} is empty.
        """
        splitter = LineSplitter()
        splitter.split(b"one\n")
        self.assertEqual(splitter.rest(), b"")


class LineEndTests(SynchronousTestCase):
    """
    C{maxLength} bounds a line without its end, LF or CR LF alike, however
    the reads cut it.
    """

    def test_tooLong(self) -> None:
        """
        L{tooLong} says whether a line (without its LF) is longer than the
        bound without a CR at its end.
        """
        self.assertEqual(
            [
                tooLong(line, 3)
                for line in (b"abc", b"abc\r", b"abcd", b"abcd\r", b"ab\r\r", b"")
            ],
            [False, False, True, True, False, False],
        )

    def test_secondCarriageReturnCounts(self) -> None:
        """
        Of two CRs before the LF, only the last is part of the end: a line
        of C{maxLength} bytes ended by CR CR LF is too long.
        """
        splitter = LineSplitter(10)
        self.assertEqual(splitter.split(b"x" * 10 + b"\r\r\n"), [])
        self.assertTrue(splitter.overflowed)

    def test_carriageReturnInsideCounts(self) -> None:
        """
        A CR inside a line is one of its bytes.
        """
        splitter = LineSplitter(10)
        self.assertEqual(splitter.split(b"x" * 9 + b"\ry\n"), [])
        self.assertTrue(splitter.overflowed)

    def test_crlfInDifferentReads(self) -> None:
        """
        A line of C{maxLength} bytes whose CR and LF come in different
        reads waits for the LF, and is returned whole.
        """
        splitter = LineSplitter(10)
        self.assertEqual(splitter.split(b"x" * 10 + b"\r"), [])
        self.assertFalse(splitter.overflowed)
        self.assertEqual(splitter.split(b"\nnext"), [b"x" * 10 + b"\r"])

    def test_crlfAcrossReads(self) -> None:
        """
        A line of C{maxLength} bytes ended by CR LF, in reads of a byte, is
        returned whole.
        """
        splitter = LineSplitter(10)
        got = []
        for byte in b"x" * 10 + b"\r\n":
            got += splitter.split(bytes([byte]))
        self.assertEqual((got, splitter.overflowed), ([b"x" * 10 + b"\r"], False))

    def test_lfAcrossReads(self) -> None:
        """
        A line of C{maxLength} bytes ended by LF, in reads of a byte, is
        returned whole.
        """
        splitter = LineSplitter(10)
        got = []
        for byte in b"x" * 10 + b"\n":
            got += splitter.split(bytes([byte]))
        self.assertEqual((got, splitter.overflowed), ([b"x" * 10], False))

    def test_overAcrossReads(self) -> None:
        """
        A line of C{maxLength} + 1 bytes, ended by CR LF or by LF, in reads
        of a byte, overflows the splitter.
        """
        for end in (b"\r\n", b"\n"):
            with self.subTest(end=end):
                splitter = LineSplitter(10)
                got = []
                for byte in b"x" * 11 + end:
                    got += splitter.split(bytes([byte]))
                self.assertEqual((got, splitter.overflowed), ([], True))

    def test_carriageReturnThenMore(self) -> None:
        """
        Unterminated bytes of C{maxLength} + 1 ending with a CR wait; a
        byte other than LF after the CR makes the line too long.
        """
        splitter = LineSplitter(10)
        splitter.split(b"x" * 10 + b"\r")
        self.assertFalse(splitter.overflowed)
        splitter.split(b"y")
        self.assertTrue(splitter.overflowed)

    def test_unterminatedOverWithoutCarriageReturn(self) -> None:
        """
        Unterminated bytes of C{maxLength} + 1 not ending with a CR overflow
        the splitter at once.
        """
        splitter = LineSplitter(10)
        splitter.split(b"x" * 11)
        self.assertTrue(splitter.overflowed)

    def test_restKeepsCarriageReturn(self) -> None:
        """
        An unterminated line of C{maxLength} bytes and a CR is kept whole
        for L{LineSplitter.rest}.
        """
        splitter = LineSplitter(10)
        splitter.split(b"x" * 10 + b"\r")
        self.assertEqual(splitter.rest(), b"x" * 10 + b"\r")

    def test_crlfLinesAtBoundInOneRead(self) -> None:
        """
        Many lines of exactly C{maxLength} bytes ended by CR LF, among
        short ones, in one read are all returned.
        """
        splitter = LineSplitter(10)
        data = (b"x" * 10 + b"\r\n" + b"ab\r\n\n") * 100
        self.assertEqual(splitter.splitBlock(data), data)
        self.assertFalse(splitter.overflowed)

    def test_longLineWithoutCarriageReturnInOneRead(self) -> None:
        """
        Among many lines ended by CR LF, one of C{maxLength} + 1 bytes
        ended by LF overflows the splitter: the lines before it are
        returned.
        """
        splitter = LineSplitter(10)
        before = (b"x" * 10 + b"\r\n") * 50
        data = before + b"y" * 11 + b"\n" + b"ok\n"
        self.assertEqual(splitter.splitBlock(data), before)
        self.assertTrue(splitter.overflowed)

    def test_shortLineEndingAtTheWindow(self) -> None:
        """
        A short line whose LF falls where that of a too-long line would
        (C{maxLength} + 1 bytes after the start of the line before it) is
        taken.
        """
        splitter = LineSplitter(10)
        data = b"a\n" + b"y" * 9 + b"\n" + b"b\n"
        self.assertEqual(splitter.splitBlock(data), data)
        self.assertFalse(splitter.overflowed)


class SplitBlockTests(SynchronousTestCase):
    """
    Tests for L{LineSplitter.splitBlock}.
    """

    def test_block(self) -> None:
        """
        The complete lines are returned as they came, each with its LF (and
        CR); the unterminated rest is kept for later.
        """
        splitter = LineSplitter()
        self.assertEqual(splitter.splitBlock(b"one\r\ntwo\nthr"), b"one\r\ntwo\n")
        self.assertEqual(splitter.rest(), b"thr")

    def test_wholeReadNotCopied(self) -> None:
        """
        A read that ends with a LF, with nothing kept from before, is
        returned as it is.
        """
        data = b"one\ntwo\n"
        self.assertIs(LineSplitter().splitBlock(data), data)

    def test_nothingComplete(self) -> None:
        """
        A read with no LF returns an empty block.
        """
        self.assertEqual(LineSplitter().splitBlock(b"part"), b"")

    def test_joinsEarlierParts(self) -> None:
        """
        The first line of a read starts with the bytes kept from earlier
        reads.
        """
        splitter = LineSplitter()
        splitter.splitBlock(b"he")
        splitter.splitBlock(b"ll")
        self.assertEqual(splitter.splitBlock(b"o\nx\n"), b"hello\nx\n")

    def test_longLineAmongMany(self) -> None:
        """
        Among many short lines, the first one longer than C{maxLength}
        overflows the splitter: the lines before it are returned.
        """
        splitter = LineSplitter(10)
        before = b"short\n" * 100
        self.assertEqual(
            splitter.splitBlock(before + b"x" * 11 + b"\n" + b"short\n" * 10), before
        )
        self.assertTrue(splitter.overflowed)

    def test_longestLinesAmongMany(self) -> None:
        """
        Many lines of exactly C{maxLength} bytes, and empty ones, in one read
        are all returned.
        """
        splitter = LineSplitter(10)
        data = (b"x" * 10 + b"\n\n") * 100
        self.assertEqual(splitter.splitBlock(data), data)
        self.assertFalse(splitter.overflowed)

    def test_longFirstLineFromParts(self) -> None:
        """
        A line made of bytes kept from earlier reads and of the start of this
        one is checked whole.
        """
        splitter = LineSplitter(10)
        splitter.splitBlock(b"x" * 6)
        self.assertEqual(splitter.splitBlock(b"x" * 5 + b"\nshort\n"), b"")
        self.assertTrue(splitter.overflowed)


class _Recorder(LineProtocol):
    """
    A line protocol that records what it is handed.
    """

    def connectionMade(self) -> None:
        super().connectionMade()
        self.batches: list[list[bytes]] = []

    def linesReceived(self, lines: list[bytes]) -> None:
        self.batches.append(lines)


class _BlockRecorder(_Recorder):
    """
    A line protocol that takes each read's lines as one block.
    """

    def connectionMade(self) -> None:
        super().connectionMade()
        self.blocks: list[bytes] = []

    def blockReceived(self, block: bytes) -> None:
        self.blocks.append(block)


def _connectRecorder(
    protocolClass: type[_Recorder],
) -> tuple[_Recorder, StringTransport]:
    """
    Connect a recording line protocol to an in-memory transport.
    """
    peer = IPv4Address("TCP", "127.0.0.1", 53422)
    protocol = ListenerFactory(protocolClass, listenerInfo()).buildProtocol(peer)
    assert isinstance(protocol, _Recorder)
    transport = StringTransport(peerAddress=peer)
    protocol.makeConnection(transport)
    return protocol, transport


class BlockReceivedTests(SynchronousTestCase):
    """
    Tests for L{LineProtocol.blockReceived}.
    """

    def test_defaultSplits(self) -> None:
        """
        By default, a read's lines are handed to C{linesReceived} without
        their LF, with their CR.
        """
        protocol, _ = _connectRecorder(_Recorder)
        protocol.dataReceived(b"one\r\ntwo\nth")
        self.assertEqual(protocol.batches, [[b"one\r", b"two"]])

    def test_defaultBatches(self) -> None:
        """
        By default, the lines of a read are handed on in batches of
        L{LINE_BATCH}.
        """
        protocol, _ = _connectRecorder(_Recorder)
        protocol.dataReceived(b"x\n" * (LINE_BATCH + 1))
        self.assertEqual([len(batch) for batch in protocol.batches], [LINE_BATCH, 1])

    def test_overridden(self) -> None:
        """
        A protocol that overrides C{blockReceived} gets each read's complete
        lines as one block, LFs and CRs kept, and no C{linesReceived}.
        """
        protocol, _ = _connectRecorder(_BlockRecorder)
        assert isinstance(protocol, _BlockRecorder)
        protocol.dataReceived(b"one\r\ntw")
        protocol.dataReceived(b"o\n")
        self.assertEqual(
            (protocol.blocks, protocol.batches), ([b"one\r\n", b"two\n"], [])
        )

    def test_notCalledWithoutLine(self) -> None:
        """
        A read that completes no line hands on nothing.
        """
        protocol, _ = _connectRecorder(_BlockRecorder)
        assert isinstance(protocol, _BlockRecorder)
        protocol.dataReceived(b"part")
        self.assertEqual(protocol.blocks, [])

    def test_overflowAfterBlock(self) -> None:
        """
        The lines before a too-long one are handed on, then the connection
        closes.
        """
        protocol, transport = _connectRecorder(_BlockRecorder)
        assert isinstance(protocol, _BlockRecorder)
        protocol.dataReceived(b"ok\n" + b"x" * (DEFAULT_MAX_LINE_LENGTH + 1) + b"\n")
        self.assertEqual(protocol.blocks, [b"ok\n"])
        self.assertTrue(transport.disconnecting)


class LineProtocolTests(SynchronousTestCase):
    """
    Tests for L{LineProtocol}, through the built-in protocols that use it.
    """

    def setUp(self) -> None:
        self.events = EventLoggingObserver.createWithCleanup(
            self,  # type: ignore[arg-type]
            globalLogPublisher,
        )

    def _warningTexts(self) -> list[str]:
        return [
            formatEvent(event)
            for event in self.events
            if event["log_level"] == LogLevel.warn
        ]

    def test_builtinsAreLineProtocols(self) -> None:
        """
        C{hello} and C{line-print} receive lines through L{LineProtocol}.
        """
        for plugin in (helloProtocol, linePrintProtocol):
            with self.subTest(plugin=plugin.name):
                protocol, _ = connectStream(plugin)
                self.assertIsInstance(protocol, LineProtocol)

    def test_tooLongLineCloses(self) -> None:
        """
        A line longer than the limit closes the connection.
        """
        protocol, transport = connectStream(helloProtocol)
        protocol.dataReceived(b"x" * (DEFAULT_MAX_LINE_LENGTH + 1) + b"\n")
        self.assertFalse(transport.connected)

    def test_longestLineDoesNotClose(self) -> None:
        """
        A line of exactly the limit is answered, and the connection stays
        open.
        """
        protocol, transport = connectStream(helloProtocol)
        transport.clear()
        protocol.dataReceived(b"x" * DEFAULT_MAX_LINE_LENGTH + b"\n")
        self.assertTrue(transport.connected)
        self.assertEqual(
            transport.value(), b"Hello, " + b"x" * DEFAULT_MAX_LINE_LENGTH + b"!\n"
        )

    def test_longestCRLFLineDoesNotClose(self) -> None:
        """
        A line of exactly the limit ended by CR LF is answered, ended by CR
        LF, as the same line ended by LF is, and the connection stays open.
        """
        protocol, transport = connectStream(helloProtocol)
        transport.clear()
        protocol.dataReceived(b"x" * DEFAULT_MAX_LINE_LENGTH + b"\r\n")
        self.assertTrue(transport.connected)
        self.assertEqual(
            transport.value(), b"Hello, " + b"x" * DEFAULT_MAX_LINE_LENGTH + b"!\r\n"
        )

    def test_tooLongUnterminatedLineCloses(self) -> None:
        """
        Bytes past the limit with no LF close the connection without waiting
        for the end of the line.
        """
        protocol, transport = connectStream(helloProtocol)
        protocol.dataReceived(b"x" * (DEFAULT_MAX_LINE_LENGTH + 1))
        self.assertFalse(transport.connected)

    def test_tooLongLineLogged(self) -> None:
        """
        Closing for a long line is logged as a warning, naming the listener,
        the peer and the limit.
        """
        protocol, _ = connectStream(helloProtocol, "tcp:7777")
        protocol.dataReceived(b"x" * (DEFAULT_MAX_LINE_LENGTH + 1))
        self.assertEqual(
            self._warningTexts(),
            [
                "tcp:7777 127.0.0.1:53422 sent a line longer than 65536 bytes;"
                " closing the connection"
            ],
        )

    def test_tooLongLineLoggedOnce(self) -> None:
        """
        Data still arriving after a long line (before the close takes effect)
        is neither handled nor logged again.
        """
        info = listenerInfo()
        printed = io.BytesIO()
        factory = lineprint.buildStreamFactory(
            info, printer=lineprint.LinePrinter(printed)
        )
        peer = IPv4Address("TCP", "127.0.0.1", 53422)
        protocol = factory.buildProtocol(peer)
        assert protocol is not None
        transport = StringTransport(peerAddress=peer)
        protocol.makeConnection(transport)
        protocol.dataReceived(b"x" * (DEFAULT_MAX_LINE_LENGTH + 1))
        protocol.dataReceived(b"more\n")
        protocol.dataReceived(b"x" * (DEFAULT_MAX_LINE_LENGTH + 1) + b"\n")
        self.assertTrue(transport.disconnecting)
        self.assertEqual(len(self._warningTexts()), 1)
        self.assertEqual(printed.getvalue(), b"")


class LineInPiecesTests(SynchronousTestCase):
    """
    A line that arrives in many reads without a LF.
    """

    def test_piecesJoined(self) -> None:
        """
        The pieces of a line, a byte per read, make the line once its LF
        comes.
        """
        splitter = LineSplitter(maxLength=4096)
        for _ in range(4000):
            self.assertEqual(splitter.split(b"x"), [])
        self.assertEqual(splitter.split(b"\nnext"), [b"x" * 4000])
        self.assertEqual(splitter.rest(), b"next")

    def test_piecesOverflow(self) -> None:
        """
        Pieces adding up past the bound overflow before any LF arrives.
        """
        splitter = LineSplitter(maxLength=10)
        splitter.split(b"x" * 6)
        self.assertFalse(splitter.overflowed)
        splitter.split(b"x" * 5)
        self.assertTrue(splitter.overflowed)
        self.assertEqual(splitter.split(b"\n"), [])
