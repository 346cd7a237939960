"""
Property tests: line-print's whole-read fast path prints exactly the bytes of
the straightforward path (split into lines, drop a trailing CR, escape each
line, prefix it), for any input, cut into reads anywhere.

The straightforward path is written out here, with the escaping as
L{sockplug.logs._escape.escapeLine} first did it (one regular expression match
and one call per character), as the oracle.

(Here rather than in C{sockplug/test}: they need hypothesis, from the
C{test} extra, and C{trial sockplug} runs on any installed copy.)
"""

from __future__ import annotations

import io
import itertools
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransportWithDisconnection
from twisted.trial.unittest import SynchronousTestCase

from sockplug.logs._escape import escapeLine, escapeLines
from sockplug.plugin import ListenerLimits, TransportKind
from sockplug.protocols.lineprint import (
    LinePrint,
    LinePrinter,
    buildDatagramProtocol,
    buildStreamFactory,
)
from sockplug.protocols.lines import DEFAULT_MAX_LINE_LENGTH, LineSplitter
from sockplug.testing import connectDatagram, listenerInfo

# The same examples every run, so that a failure shows up again.
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

PREFIX = b"tcp:8888 127.0.0.1:53422: "

_ORACLE_ESCAPED = re.compile(
    r"[\x00-\x1f\x5c\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\udc80-\udcff]"
)


def _oracleEscapeOne(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char == "\\":
        return "\\\\"
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x80:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def oracleEscapeLine(line: bytes) -> bytes:
    """
    Escape one line, a character at a time.
    """
    text = line.decode("utf-8", "surrogateescape")
    return _ORACLE_ESCAPED.sub(_oracleEscapeOne, text).encode("utf-8")


def oraclePrinted(line: bytes, prefix: bytes = PREFIX) -> bytes:
    """
    One line (without its LF) as line-print shows it.
    """
    if line.endswith(b"\r"):
        line = line[:-1]
    return prefix + oracleEscapeLine(line) + b"\n"


def oracleLength(line: bytes) -> int:
    """
    The length of one line (without its LF) as C{maxline} bounds it: a CR
    at its end is part of its end (CR LF), not of the line.
    """
    return len(line) - 1 if line.endswith(b"\r") else len(line)


def oracleStream(stream: bytes, maxLength: int) -> bytes:
    """
    What line-print prints for a connection that sends C{stream} and
    disconnects: each line up to the first longer than C{maxLength}, and
    the unterminated last line unless it is too long.
    """
    *lines, last = stream.split(b"\n")
    out: list[bytes] = []
    for line in lines:
        if oracleLength(line) > maxLength:
            return b"".join(out)
        out.append(oraclePrinted(line))
    if last and oracleLength(last) <= maxLength:
        out.append(oraclePrinted(last))
    return b"".join(out)


# Pieces that reach every branch of the fast path: plain ASCII, CR in and
# at the end of lines, controls, backslashes, valid UTF-8 with and without
# characters to escape (C1 controls, separators, direction marks; other
# characters with the same lead bytes), bytes that are not UTF-8, and
# sequences that a LF or CR cuts.
_PIECES = st.sampled_from(
    [
        b"a",
        b"hello world",
        b"\n",
        b"\r",
        b"\r\n",
        b"\r\r\n",
        b"\\",
        b"\x00",
        b"\x1b[2J",
        b"\x7f",
        "\u00e9".encode(),
        "\u4e2d".encode(),
        "\u00a0\u00bf".encode(),
        "\u0085\u009f".encode(),
        "\u2014\u2026\u201c".encode(),
        "\u2028\u2029\u202e\u2066\u2069".encode(),
        "\U0001f600".encode(),
        b"\xff",
        b"\xc2",
        b"\xe2\x80",
        b"\xe4\xb8\n",
        b"\xed\xa0\x80",
        b"\xc0\xaf",
    ]
)
streams = st.lists(
    st.one_of(_PIECES, st.binary(max_size=6), st.text(max_size=6).map(str.encode)),
    max_size=40,
).map(b"".join)

_TAILS = st.sampled_from([b"", b"\r", b"\r\r", b"last", b"last\r", b"\xe2\x80\r"])


@st.composite
def cuts(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """
    C{data} cut into reads at arbitrary points (empty reads included).
    """
    points = sorted(
        draw(st.lists(st.integers(min_value=0, max_value=len(data)), max_size=8))
    )
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@st.composite
def streamsInReads(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    """
    A stream, and the reads it arrives in; its end is often an unterminated
    line, with CRs.
    """
    stream = draw(streams) + draw(_TAILS)
    return stream, draw(cuts(stream))


def _connectLinePrint(maxLine: int) -> tuple[LinePrint, io.BytesIO]:
    output = io.BytesIO()
    info = listenerInfo(
        "tcp:8888", protocolName="line-print", limits=ListenerLimits(maxLine=maxLine)
    )
    factory = buildStreamFactory(info, printer=LinePrinter(output))
    transport = StringTransportWithDisconnection(
        peerAddress=IPv4Address("TCP", "127.0.0.1", 53422)
    )
    protocol = factory.buildProtocol(transport.getPeer())
    assert isinstance(protocol, LinePrint)
    transport.protocol = protocol
    protocol.makeConnection(transport)
    return protocol, output


@st.composite
def nearTheBound(draw: st.DrawFn) -> tuple[int, bytes, list[bytes]]:
    """
    A bound, and a stream of lines about that long, ended by LF, CR LF, CR
    CR LF or a CR alone, in any reads: a CR and its LF often in different
    reads.
    """
    maxLength = draw(st.integers(min_value=0, max_value=12))
    pieces = draw(
        st.lists(
            st.tuples(
                st.integers(min_value=max(0, maxLength - 1), max_value=maxLength + 2),
                st.sampled_from([b"\n", b"\r\n", b"\r\r\n", b"\r", b""]),
            ),
            max_size=6,
        )
    )
    stream = b"".join(b"x" * size + end for size, end in pieces)
    return maxLength, stream, draw(cuts(stream))


class EscapeEquivalenceTests(SynchronousTestCase):
    """
    L{escapeLine} and L{escapeLines} give the bytes of escaping a
    character at a time.
    """

    @PROPERTY
    @given(st.one_of(streams, st.binary()))
    def test_escapeLine(self, line: bytes) -> None:
        """
        L{escapeLine} escapes any bytes as the oracle does.
        """
        self.assertEqual(escapeLine(line), oracleEscapeLine(line))

    @PROPERTY
    @given(st.one_of(streams, st.binary()))
    def test_escapeLines(self, stream: bytes) -> None:
        """
        L{escapeLines} escapes a block of lines as the oracle escapes each
        line, without its trailing CR.
        """
        block = stream if stream.endswith(b"\n") else stream + b"\n"
        expected = b"".join(
            oraclePrinted(line, b"") for line in block.split(b"\n")[:-1]
        )
        self.assertEqual(escapeLines(block), expected)


class LinePrintEquivalenceTests(SynchronousTestCase):
    """
    L{LinePrint} and L{LinePrintDatagram} print what the oracle does.
    """

    @PROPERTY
    @given(streamsInReads(), st.integers(min_value=0, max_value=24))
    def test_streamShortLimit(
        self, streamAndReads: tuple[bytes, list[bytes]], maxLine: int
    ) -> None:
        """
        With a short line limit, a stream in any reads prints what the
        oracle prints: the lines before the first too long, escaped.
        """
        stream, reads = streamAndReads
        protocol, output = _connectLinePrint(maxLine)
        for data in reads:
            protocol.dataReceived(data)
        protocol.transport.loseConnection()
        self.assertEqual(output.getvalue(), oracleStream(stream, maxLine))

    @PROPERTY
    @given(nearTheBound())
    def test_streamNearTheBound(self, example: tuple[int, bytes, list[bytes]]) -> None:
        """
        Lines about C{maxline} long, ended by LF or CR LF, in any reads,
        print what the oracle prints.
        """
        maxLine, stream, reads = example
        protocol, output = _connectLinePrint(maxLine)
        for data in reads:
            protocol.dataReceived(data)
        protocol.transport.loseConnection()
        self.assertEqual(output.getvalue(), oracleStream(stream, maxLine))

    @PROPERTY
    @given(streamsInReads())
    def test_stream(self, streamAndReads: tuple[bytes, list[bytes]]) -> None:
        """
        With the default line limit, a stream in any reads prints what the
        oracle prints.
        """
        stream, reads = streamAndReads
        protocol, output = _connectLinePrint(DEFAULT_MAX_LINE_LENGTH)
        for data in reads:
            protocol.dataReceived(data)
        protocol.transport.loseConnection()
        self.assertEqual(
            output.getvalue(), oracleStream(stream, DEFAULT_MAX_LINE_LENGTH)
        )

    @PROPERTY
    @given(st.lists(streams, max_size=4))
    def test_datagrams(self, datagrams: list[bytes]) -> None:
        """
        Each datagram prints each of its lines (the last one terminated or
        not) as the oracle does.
        """
        output = io.BytesIO()
        protocol = buildDatagramProtocol(
            listenerInfo("udp:9999", TransportKind.DATAGRAM, "line-print"),
            printer=LinePrinter(output),
        )
        connectDatagram(protocol)
        expected: list[bytes] = []
        for datagram in datagrams:
            protocol.datagramReceived(datagram, ("127.0.0.1", 5000))
            lines = datagram.split(b"\n")
            if not lines[-1]:
                lines.pop()
            expected += [
                oraclePrinted(line, b"udp:9999 127.0.0.1:5000: ") for line in lines
            ]
        self.assertEqual(output.getvalue(), b"".join(expected))


class LineSplitterEquivalenceTests(SynchronousTestCase):
    """
    L{LineSplitter} gives the lines of a naive split, whatever the reads.
    """

    @PROPERTY
    @given(streamsInReads(), st.integers(min_value=0, max_value=24))
    def test_split(
        self, streamAndReads: tuple[bytes, list[bytes]], maxLength: int
    ) -> None:
        """
        The lines returned over all reads are the stream's lines before the
        first longer than C{maxLength}; the splitter has overflowed exactly
        when there is such a line (or an unterminated rest that long).
        """
        stream, reads = streamAndReads
        self.checkSplit(stream, reads, maxLength)

    @PROPERTY
    @given(nearTheBound())
    def test_splitNearTheBound(self, example: tuple[int, bytes, list[bytes]]) -> None:
        """
        Lines about C{maxLength} long, ended by LF or CR LF, are split and
        bounded as the oracle says, wherever the reads cut them (between a
        CR and its LF too).
        """
        maxLength, stream, reads = example
        self.checkSplit(stream, reads, maxLength)

    def checkSplit(self, stream: bytes, reads: list[bytes], maxLength: int) -> None:
        """
        Split C{stream}, arriving in C{reads}, with C{maxLength}: check the
        lines, the overflow and the rest against a naive split.
        """
        splitter = LineSplitter(maxLength)
        got = []
        for data in reads:
            got += splitter.split(data)
        *lines, last = stream.split(b"\n")
        tooLong = [i for i, line in enumerate(lines) if oracleLength(line) > maxLength]
        expected = lines[: tooLong[0]] if tooLong else lines
        self.assertEqual(got, expected)
        self.assertEqual(
            splitter.overflowed, bool(tooLong) or oracleLength(last) > maxLength
        )
        self.assertEqual(splitter.rest(), b"" if splitter.overflowed else last)

    @PROPERTY
    @given(streamsInReads(), st.integers(min_value=0, max_value=24))
    def test_splitBlock(
        self, streamAndReads: tuple[bytes, list[bytes]], maxLength: int
    ) -> None:
        """
        L{LineSplitter.splitBlock} returns, read by read, the lines
        L{LineSplitter.split} does, each ended by its LF.
        """
        _, reads = streamAndReads
        blocks, splits = LineSplitter(maxLength), LineSplitter(maxLength)
        for data in reads:
            self.assertEqual(
                blocks.splitBlock(data),
                b"".join(line + b"\n" for line in splits.split(data)),
            )
