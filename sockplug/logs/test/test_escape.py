"""
Tests for L{sockplug.logs._escape}.
"""

from __future__ import annotations

import random
import re
import sys

from twisted.trial.unittest import SynchronousTestCase

from sockplug.logs._escape import OutputEscaper, escapeLine, escapeLines, quoted

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# What must never appear, decoded, in an escaped line: C0 controls, DEL, C1
# controls, line and paragraph separators, bidirectional overrides and
# isolates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

_ESCAPE = re.compile(rb"\\(\\|x[0-9a-f]{2}|u[0-9a-f]{4})")


def _unescape(escaped: bytes) -> bytes:
    """
    Undo L{escapeLine}: C{\\\\} is a backslash, C{\\xNN} the byte NN,
    C{\\uNNNN} the UTF-8 encoding of that character.
    """

    def one(match: re.Match[bytes]) -> bytes:
        body = match.group(1)
        if body == b"\\":
            return b"\\"
        if body.startswith(b"x"):
            return bytes([int(body[1:], 16)])
        return chr(int(body[1:], 16)).encode("utf-8")

    return _ESCAPE.sub(one, escaped)


class EscapeLineKeepsTests(SynchronousTestCase):
    """
    L{escapeLine} keeps what prints safely as it is.
    """

    def test_printableASCII(self) -> None:
        """
        Every printable ASCII character but the backslash is kept.
        """
        printable = bytes(range(0x20, 0x7F)).replace(b"\\", b"")
        self.assertEqual(escapeLine(printable), printable)

    def test_empty(self) -> None:
        """
        An empty line stays empty.
        """
        self.assertEqual(escapeLine(b""), b"")

    def test_latin(self) -> None:
        """
        A two-byte UTF-8 character (C{é}) is kept.
        """
        line = "caf\u00e9".encode()
        self.assertEqual(escapeLine(line), line)

    def test_cjk(self) -> None:
        """
        A three-byte UTF-8 character (C{中}) is kept.
        """
        line = "\u4e2d\u6587".encode()
        self.assertEqual(escapeLine(line), line)

    def test_emoji(self) -> None:
        """
        A four-byte UTF-8 character (an emoji) is kept.
        """
        line = "ok \U0001f600".encode()
        self.assertEqual(escapeLine(line), line)

    def test_printableUTF8WithEscape(self) -> None:
        """
        Printable UTF-8 next to something escaped is still kept as it is.
        """
        self.assertEqual(
            escapeLine("\u00e9\x1b\u4e2d".encode()),
            "\u00e9\\x1b\u4e2d".encode(),
        )


class EscapeLineEscapesTests(SynchronousTestCase):
    """
    L{escapeLine} escapes what could act on a terminal, and what would make
    its escapes ambiguous.
    """

    def test_nul(self) -> None:
        """
        NUL becomes C{\\x00}.
        """
        self.assertEqual(escapeLine(b"a\x00b"), b"a\\x00b")

    def test_escape(self) -> None:
        """
        ESC, which starts terminal control sequences, becomes C{\\x1b}.
        """
        self.assertEqual(escapeLine(b"\x1b[2J"), b"\\x1b[2J")

    def test_tab(self) -> None:
        """
        A tab becomes C{\\x09}.
        """
        self.assertEqual(escapeLine(b"a\tb"), b"a\\x09b")

    def test_carriageReturn(self) -> None:
        """
        A CR inside a line, which could overwrite what was printed before it,
        becomes C{\\x0d}.
        """
        self.assertEqual(escapeLine(b"safe\rEVIL"), b"safe\\x0dEVIL")

    def test_lineFeed(self) -> None:
        """
        An LF becomes C{\\x0a}.
        """
        self.assertEqual(escapeLine(b"a\nb"), b"a\\x0ab")

    def test_everyC0Control(self) -> None:
        """
        Each C0 control character becomes C{\\xNN}, NN its code in lower-case
        hex.
        """
        for code in range(0x20):
            with self.subTest(code=code):
                self.assertEqual(escapeLine(bytes([code])), b"\\x%02x" % (code,))

    def test_delete(self) -> None:
        """
        DEL becomes C{\\x7f}.
        """
        self.assertEqual(escapeLine(b"\x7f"), b"\\x7f")

    def test_backslash(self) -> None:
        """
        A backslash is doubled, so that a received C{\\x1b} cannot pass for
        an escaped ESC.
        """
        self.assertEqual(escapeLine(b"\\x1b"), b"\\\\x1b")

    def test_c1Controls(self) -> None:
        """
        Each C1 control character (U+0080 to U+009F, as UTF-8) becomes
        C{\\uNNNN}.
        """
        for code in range(0x80, 0xA0):
            with self.subTest(code=code):
                self.assertEqual(escapeLine(chr(code).encode()), b"\\u%04x" % (code,))

    def test_nextLine(self) -> None:
        """
        NEL (U+0085), a C1 control that some terminals take as a newline,
        becomes C{\\u0085}.
        """
        self.assertEqual(escapeLine(b"a\xc2\x85b"), b"a\\u0085b")

    def test_invalidByte(self) -> None:
        """
        A byte that is not UTF-8 at all becomes C{\\xNN}.
        """
        self.assertEqual(escapeLine(b"a\xffb"), b"a\\xffb")

    def test_loneContinuationByte(self) -> None:
        """
        A UTF-8 continuation byte with no lead byte becomes C{\\xNN}.
        """
        self.assertEqual(escapeLine(b"\x80"), b"\\x80")

    def test_truncatedSequence(self) -> None:
        """
        Each byte of a UTF-8 sequence cut short becomes C{\\xNN}; the
        character after it is kept.
        """
        self.assertEqual(escapeLine(b"\xe4\xb8a"), b"\\xe4\\xb8a")

    def test_truncatedAtEnd(self) -> None:
        """
        A UTF-8 sequence cut short at the end of the line is escaped byte by
        byte.
        """
        self.assertEqual(escapeLine(b"ok\xf0\x9f\x98"), b"ok\\xf0\\x9f\\x98")

    def test_overlong(self) -> None:
        """
        An overlong encoding (of C{/}, here) is not UTF-8, and each of its
        bytes becomes C{\\xNN}.
        """
        self.assertEqual(escapeLine(b"\xc0\xaf"), b"\\xc0\\xaf")

    def test_encodedSurrogate(self) -> None:
        """
        An encoded surrogate is not UTF-8, and each of its bytes becomes
        C{\\xNN}.
        """
        self.assertEqual(escapeLine(b"\xed\xa0\x80"), b"\\xed\\xa0\\x80")

    def test_rightToLeftOverride(self) -> None:
        """
        RIGHT-TO-LEFT OVERRIDE (U+202E), which reorders what follows it on
        screen, becomes C{\\u202e}.
        """
        self.assertEqual(escapeLine("a\u202eb".encode()), b"a\\u202eb")

    def test_bidiEmbeddingsAndOverrides(self) -> None:
        """
        Each bidirectional embedding, override and pop (U+202A to U+202E)
        becomes C{\\uNNNN}.
        """
        for code in range(0x202A, 0x202F):
            with self.subTest(code=hex(code)):
                self.assertEqual(escapeLine(chr(code).encode()), b"\\u%04x" % (code,))

    def test_bidiIsolates(self) -> None:
        """
        Each bidirectional isolate (U+2066 to U+2069) becomes C{\\uNNNN}.
        """
        for code in range(0x2066, 0x206A):
            with self.subTest(code=hex(code)):
                self.assertEqual(escapeLine(chr(code).encode()), b"\\u%04x" % (code,))

    def test_lineSeparator(self) -> None:
        """
        LINE SEPARATOR (U+2028) becomes C{\\u2028}.
        """
        self.assertEqual(escapeLine("a\u2028b".encode()), b"a\\u2028b")

    def test_paragraphSeparator(self) -> None:
        """
        PARAGRAPH SEPARATOR (U+2029) becomes C{\\u2029}.
        """
        self.assertEqual(escapeLine("a\u2029b".encode()), b"a\\u2029b")

    def test_neighboursOfEscapedRangesKept(self) -> None:
        """
        The characters just outside the escaped ranges (U+00A0, U+2027,
        U+202F, U+2065, U+206A) are kept.
        """
        line = "\u00a0\u2027\u202f\u2065\u206a".encode()
        self.assertEqual(escapeLine(line), line)


class EscapeLinePropertyTests(SynchronousTestCase):
    """
    Properties of L{escapeLine} over many inputs.
    """

    def _samples(self) -> list[bytes]:
        """
        Every single byte, and random byte strings (from a fixed seed) with
        control, non-UTF-8 and multi-byte UTF-8 bytes in them.
        """
        rng = random.Random(20240521)
        samples = [bytes([b]) for b in range(256)]
        pieces = [
            b"a",
            b"\\",
            b"\x1b",
            b"\r",
            b"\x00",
            b"\x7f",
            "\u00e9".encode(),
            "\u202e".encode(),
            "\u0085".encode(),
            "\U0001f600".encode(),
        ]
        for _ in range(300):
            samples.append(bytes(rng.randrange(256) for _ in range(rng.randrange(40))))
            samples.append(
                b"".join(rng.choice(pieces) for _ in range(rng.randrange(1, 20)))
            )
        return samples

    def test_validUTF8(self) -> None:
        """
        Whatever the input, the escaped line is valid UTF-8.
        """
        for sample in self._samples():
            with self.subTest(sample=sample):
                escapeLine(sample).decode("utf-8")

    def test_noUnsafeCharacters(self) -> None:
        """
        Whatever the input, the escaped line holds no control, separator or
        bidirectional formatting character.
        """
        for sample in self._samples():
            with self.subTest(sample=sample):
                self.assertIsNone(
                    _UNSAFE.search(escapeLine(sample).decode("utf-8", "replace"))
                )

    def test_reversible(self) -> None:
        """
        Whatever the input, the original bytes can be read back from the
        escaped line.
        """
        for sample in self._samples():
            with self.subTest(sample=sample):
                self.assertEqual(_unescape(escapeLine(sample)), sample)


class EscapeLinesTests(SynchronousTestCase):
    """
    L{escapeLines} escapes a block of lines, each ended by LF, as
    L{escapeLine} escapes each line without its trailing CR.
    """

    def test_printableASCIIUnchanged(self) -> None:
        """
        A block of printable ASCII lines is returned as it is, not copied.
        """
        block = b"one\ntwo words\n\n"
        self.assertIs(escapeLines(block), block)

    def test_crlfDropped(self) -> None:
        """
        The CR of each CRLF line end is dropped.
        """
        self.assertEqual(escapeLines(b"one\r\ntwo\nthree\r\n"), b"one\ntwo\nthree\n")

    def test_innerCarriageReturnEscaped(self) -> None:
        """
        A CR that does not end its line is escaped, also one before a
        CRLF.
        """
        self.assertEqual(escapeLines(b"a\rb\n\r\r\n"), b"a\\x0db\n\\x0d\n")

    def test_controlsEscaped(self) -> None:
        """
        Controls, DEL and the backslash are escaped in every line.
        """
        self.assertEqual(
            escapeLines(b"\x1b[2J\n\\\x7f\x00\n"),
            b"\\x1b[2J\n\\\\\\x7f\\x00\n",
        )

    def test_printableUTF8Unchanged(self) -> None:
        """
        Printable UTF-8, punctuation from U+2000 on included, is kept.
        """
        block = "caf\u00e9\n\u4e2d\u00a0\n\u201cquoted\u201d \u2014\n".encode()
        self.assertEqual(escapeLines(block), block)

    def test_unicodeControlsEscaped(self) -> None:
        """
        C1 controls, separators and direction marks are escaped.
        """
        block = "\u0085\n\u2028\u202e\u2066\n".encode()
        self.assertEqual(escapeLines(block), b"\\u0085\n\\u2028\\u202e\\u2066\n")

    def test_invalidUTF8Escaped(self) -> None:
        """
        Bytes that are not UTF-8, a sequence cut by a line end included, are
        escaped byte by byte; the lines around them are kept.
        """
        self.assertEqual(
            escapeLines("\u00e9\n".encode() + b"\xe4\xb8\nok\xff\n"),
            "\u00e9\n".encode() + b"\\xe4\\xb8\nok\\xff\n",
        )

    def test_runEscaped(self) -> None:
        """
        Each character of a run of characters to escape is escaped.
        """
        self.assertEqual(
            escapeLines(b"\x01\x02\\\xff\x1f\n"),
            b"\\x01\\x02\\\\\\xff\\x1f\n",
        )


class OutputEscaperTests(SynchronousTestCase):
    """L{OutputEscaper} escapes a stream chunk by chunk, keeping lines."""

    def test_lineFeeds(self) -> None:
        """LF is kept and CRLF becomes LF, even split between chunks."""
        escaper = OutputEscaper()
        out = escaper.feed(b"a\r\nb\r") + escaper.feed(b"\nc\n") + escaper.flush()
        self.assertEqual(out, b"a\nb\nc\n")

    def test_loneCR(self) -> None:
        """A CR not followed by LF is escaped."""
        escaper = OutputEscaper()
        self.assertEqual(escaper.feed(b"a\rb\r\r\n"), b"a\\x0db\\x0d\n")

    def test_escapes(self) -> None:
        """Controls, a backslash, a bad byte and a bidi override are escaped."""
        self.assertEqual(
            OutputEscaper().feed(b"\x1b[31m\\\xff\xe2\x80\xae\x00"),
            b"\\x1b[31m\\\\\\xff\\u202e\\x00",
        )

    def test_splitUTF8(self) -> None:
        """A UTF-8 sequence split between chunks comes out whole."""
        escaper = OutputEscaper()
        self.assertEqual(escaper.feed(b"caf\xc3"), b"caf")
        self.assertEqual(escaper.feed(b"\xa9!"), "é!".encode())

    def test_flushPendingCR(self) -> None:
        """A CR held back at the end of a chunk is escaped by flush."""
        escaper = OutputEscaper()
        self.assertEqual(escaper.feed(b"a\r"), b"a")
        self.assertEqual(escaper.flush(), b"\\x0d")

    def test_flushIncompleteSequence(self) -> None:
        """An incomplete UTF-8 sequence at the end is escaped byte by byte."""
        escaper = OutputEscaper()
        self.assertEqual(escaper.feed(b"\xe2\x82"), b"")
        self.assertEqual(escaper.flush(), b"\\xe2\\x82")


class QuotedTests(SynchronousTestCase):
    """
    Tests for L{quoted}: a value in a message, as a TOML file writes it.
    """

    def test_printableKept(self) -> None:
        """
        Printable text, non-ASCII included, is kept; a quote and a backslash
        are escaped.
        """
        self.assertEqual(quoted('caf\u00e9 "a\\b"'), '"caf\u00e9 \\"a\\\\b\\""')

    def test_unprintableEscaped(self) -> None:
        """
        A NUL, a terminal escape, a line or paragraph separator and a
        direction override are escaped as TOML escapes them, so that the
        message stays one line and acts on no terminal.
        """
        self.assertEqual(
            quoted("a\x00\x1b[31m\n\u2028\u202e\U000e0001"),
            '"a\\u0000\\u001b[31m\\u000a\\u2028\\u202e\\U000e0001"',
        )

    def test_readsBack(self) -> None:
        """
        What L{quoted} writes reads back, as a TOML string, as the text.
        """
        rng = random.Random(15)
        for _ in range(200):
            text = "".join(
                chr(rng.choice([0, 9, 10, 27, 34, 92, 0x7F, 0x85, 0x2028, 0x10FFFF]))
                if rng.random() < 0.5
                else chr(rng.randrange(32, 0x3000))
                for _ in range(rng.randrange(12))
            )
            if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
                continue
            self.assertEqual(tomllib.loads(f"v = {quoted(text)}")["v"], text)
