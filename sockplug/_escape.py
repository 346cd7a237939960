# -*- test-case-name: sockplug.test.test_escape -*-
"""
Making received bytes safe to print on a terminal.
"""

from __future__ import annotations

import codecs
import re

__all__ = ["OutputEscaper", "escapeLine"]

# Bytes that can never be printed as they are: ASCII controls, DEL, the
# backslash (escaped so that escapes stay unambiguous) and every non-ASCII
# byte (which may be UTF-8 that needs a closer look).
_NEEDS_CARE = re.compile(rb"[\x00-\x1f\x5c\x7f-\xff]")

# Characters escaped after decoding: C0 and C1 controls, DEL, the backslash,
# bytes that were not UTF-8 (decoded as lone surrogates), line and paragraph
# separators, and the bidirectional overrides and isolates that can make a
# terminal show text in another order than it was sent ("Trojan Source").
_ESCAPED = re.compile(
    r"[\x00-\x1f\x5c\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\udc80-\udcff]"
)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char == "\\":
        return "\\\\"
    if 0xDC80 <= code <= 0xDCFF:
        # A byte that was not part of valid UTF-8.
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x80:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def escapeLine(line: bytes) -> bytes:
    """
    Escape a received line for printing, as UTF-8.

    Printable UTF-8 is kept. A control character, or a byte that is not
    part of valid UTF-8, becomes C{\\xNN}; a non-ASCII control or
    direction-changing character becomes C{\\uNNNN}; a backslash becomes
    C{\\\\}. So nothing received can move a terminal's cursor or change
    its state, and the escaped text can be read back unambiguously.
    """
    if _NEEDS_CARE.search(line) is None:
        return line
    text = line.decode("utf-8", "surrogateescape")
    return _ESCAPED.sub(_escape, text).encode("utf-8")


class OutputEscaper:
    """
    Escapes a stream of received bytes for a terminal, chunk by chunk, the
    way L{escapeLine} escapes a line, but keeping line feeds (and CRLF, as
    LF) so that replies still read as lines.

    A UTF-8 sequence split between two chunks is held back until it is
    whole, so it is not shown as bytes that are not UTF-8.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self._pendingCR = False

    def feed(self, data: bytes) -> bytes:
        """
        Escape the next chunk.
        """
        text = self._decoder.decode(data)
        return self._escapeText(text)

    def flush(self) -> bytes:
        """
        Escape whatever is held back: the stream has ended.
        """
        text = self._decoder.decode(b"", final=True)
        rest = self._escapeText(text)
        if self._pendingCR:
            self._pendingCR = False
            rest += b"\\x0d"
        return rest

    def _escapeText(self, text: str) -> bytes:
        if self._pendingCR:
            text = "\r" + text
            self._pendingCR = False
        if text.endswith("\r"):
            text, self._pendingCR = text[:-1], True
        lines = text.replace("\r\n", "\n").split("\n")
        return "\n".join(_ESCAPED.sub(_escape, line) for line in lines).encode("utf-8")
