# -*- test-case-name: sockplug.logs.test.test_escape -*-
"""
Making received bytes safe to print on a terminal.
"""

from __future__ import annotations

import codecs
import re

__all__ = ["OutputEscaper", "escapeLine", "escapeLines", "quoted"]

# The bytes that are always printed as they are: printable ASCII but the
# backslash (escaped so that escapes stay unambiguous). Every other byte (an
# ASCII control, DEL, the backslash, a non-ASCII byte that may be UTF-8 and
# needs a closer look) needs care. bytes.translate deleting these leaves the
# bytes that need care: one pass in C, far quicker than a regular
# expression's search.
_PLAIN = bytes(range(0x20, 0x7F)).replace(b"\\", b"")
_PLAIN_OR_LF = _PLAIN + b"\n"
_NON_ASCII = bytes(range(0x80, 0x100))

# Characters escaped after decoding, as ranges of code points: C0 controls,
# the backslash, DEL and C1 controls, the line and paragraph separators and
# the bidirectional embeddings and overrides (U+2028 to U+202E), the
# bidirectional isolates (U+2066 to U+2069), which can make a terminal show
# text in another order than it was sent ("Trojan Source"), and bytes that
# were not UTF-8 (decoded as lone surrogates).
_C0 = ((0x00, 0x1F),)
_PAST_C0 = ((0x5C, 0x5C), (0x7F, 0x9F), (0x2028, 0x202E), (0x2066, 0x2069))
_NOT_UTF8 = ((0xDC80, 0xDCFF),)


def _escapeCode(code: int) -> str:
    if code == 0x5C:
        return "\\\\"
    if 0xDC80 <= code <= 0xDCFF:
        # A byte that was not part of valid UTF-8.
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x80:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def _runsOf(ranges: tuple[tuple[int, int], ...]) -> re.Pattern[str]:
    """
    A pattern matching runs of the characters in C{ranges}.
    """
    members = "".join(f"\\u{low:04x}-\\u{high:04x}" for low, high in ranges)
    return re.compile(f"[{members}]+")


# What each escaped character becomes, for str.translate.
_ESCAPES = {
    code: _escapeCode(code)
    for low, high in (*_C0, *_PAST_C0, *_NOT_UTF8)
    for code in range(low, high + 1)
}
_ESCAPED = _runsOf((*_C0, *_PAST_C0, *_NOT_UTF8))
# The same, but for LF: escaping a block of lines keeps their ends.
_ESCAPED_BUT_LF = _runsOf(((0x00, 0x09), (0x0B, 0x1F), *_PAST_C0, *_NOT_UTF8))


def _escapeRun(match: re.Match[str]) -> str:
    # One call per run, not per character: binary junk is mostly runs.
    return match[0].translate(_ESCAPES)


def escapeLine(line: bytes) -> bytes:
    """
    Escape a received line for printing, as UTF-8.

    Printable UTF-8 is kept. A control character, or a byte that is not
    part of valid UTF-8, becomes C{\\xNN}; a non-ASCII control or
    direction-changing character becomes C{\\uNNNN}; a backslash becomes
    C{\\\\}. So nothing received can move a terminal's cursor or change
    its state, and the escaped text can be read back unambiguously.
    """
    if not line.translate(None, _PLAIN):
        return line
    text = line.decode("utf-8", "surrogateescape")
    return _ESCAPED.sub(_escapeRun, text).encode("utf-8")


def escapeLines(block: bytes) -> bytes:
    """
    Escape a block of received lines for printing, as UTF-8: each line as
    L{escapeLine} escapes it, less one CR just before its LF (a CRLF line
    end), and ended by LF.

    The bytes are those of escaping line by line, but the work is done on
    the whole block at once: printable ASCII (the common case, with LF or
    CRLF line ends) and printable UTF-8 cost a few passes in C, none per
    line.

    @param block: lines, each ended by LF.
    """
    needCare = block.translate(None, _PLAIN_OR_LF)
    if b"\r" in needCare:
        # A CR is never part of a UTF-8 sequence: dropping each CR before a
        # LF here is dropping each line's trailing CR. Any other CR stays,
        # to be escaped.
        block = block.replace(b"\r\n", b"\n")
        if b"\r" not in block:
            needCare = needCare.replace(b"\r", b"")
    if not needCare:
        return block
    if needCare.translate(None, _NON_ASCII):
        # An ASCII control, DEL or backslash.
        text = block.decode("utf-8", "surrogateescape")
    else:
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            text = block.decode("utf-8", "surrogateescape")
        else:
            if b"\xc2" not in needCare and b"\xe2" not in needCare:
                # Valid UTF-8 without the lead bytes of C1 controls
                # (U+0080 to U+009F) and of U+2000 to U+2FFF: nothing to
                # escape.
                return block
    # Nor is a LF part of a UTF-8 sequence: decoding the whole block gives
    # what decoding each line would.
    return _ESCAPED_BUT_LF.sub(_escapeRun, text).encode("utf-8")


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
        escaped = (_ESCAPED.sub(_escapeRun, line) for line in lines)
        return "\n".join(escaped).encode("utf-8")


def quoted(text: str) -> str:
    """
    C{text} in double quotes, as the file writes it (a TOML basic string):
    a quote and a backslash escaped, and a character that cannot be
    printed as C{\\uXXXX} (C{\\UXXXXXXXX} past U+FFFF), so that a NUL, a
    line break (U+2028 too) or a terminal escape from a file's string
    neither splits a one-line message nor acts on a terminal.
    """
    return '"' + "".join(map(_tomlCharacter, text)) + '"'


def _tomlCharacter(c: str) -> str:
    if c in ('"', "\\"):
        return "\\" + c
    if c.isprintable():
        return c
    code = ord(c)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
