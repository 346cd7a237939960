"""
Tests for L{sockplug.options._document}, and that the README's option
tables are the ones the tables make.
"""

from __future__ import annotations

import io
import os
import sys

from twisted.trial.unittest import SkipTest, SynchronousTestCase

import sockplug
from sockplug.options._document import (
    builtinProtocols,
    fillReadme,
    helpLines,
    main,
    readmeTables,
)
from sockplug.options._limits import LIMITS
from sockplug.options._setting import Flag, Setting, Table
from sockplug.plugins.sockplug_builtins import (
    echoProtocol,
    helloProtocol,
    linePrintProtocol,
)


def _readme() -> str:
    """
    The README beside the source tree's C{sockplug} package.

    @raise SkipTest: if there is none (an installed copy).
    """
    path = os.path.join(
        os.path.dirname(os.path.dirname(sockplug.__file__)), "README.md"
    )
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        raise SkipTest(f"no README.md beside the sockplug package ({path})") from None
    if not text.startswith("# sockplug"):
        raise SkipTest(f"{path} is not sockplug's README")
    return text


class HelpLinesTests(SynchronousTestCase):
    """
    Tests for L{helpLines}.
    """

    def test_line(self) -> None:
        """
        Each option is a line: its name padded, its help, its kinds sorted.
        """
        table = Table(
            (
                Setting(
                    "ab",
                    Flag(),
                    True,
                    "on or off (default {default})",
                    frozenset({"y", "x"}),
                ),
            )
        )
        self.assertEqual(helpLines(table, 4), ["  ab   on or off (default yes) [x, y]"])

    def test_limits(self) -> None:
        """
        The limits' lines are those C{--help} has always shown.
        """
        self.assertIn(
            "  maxpersource open connections from one source address, an IPv6 /64"
            " counting as one (default 256) [stream]",
            helpLines(LIMITS, 12),
        )


class ReadmeTablesTests(SynchronousTestCase):
    """
    Tests for L{readmeTables} and L{fillReadme}.
    """

    def test_names(self) -> None:
        """
        There is a table for each family of options.
        """
        self.assertEqual(
            set(readmeTables([])), {"process", "sockets", "limits", "protocols"}
        )

    def test_markdown(self) -> None:
        """
        A table is markdown, one row per option, pipes in cells escaped.
        """
        lines = readmeTables([])["sockets"].splitlines()
        self.assertEqual(
            lines[:2], ["| option | sockets | values | what |", "|---|---|---|---|"]
        )
        self.assertIn(
            "| `nodelay=yes\\|no` | tcp | yes or no | TCP_NODELAY yes\\|no on accepted"
            " connections (default no) |",
            lines,
        )

    def test_protocols(self) -> None:
        """
        The protocols' table has a row per option of each protocol given.
        """
        table = readmeTables([echoProtocol, helloProtocol])["protocols"]
        self.assertEqual(len(table.splitlines()), 3)
        self.assertIn('| `hello` | `greeting` | text | `"Hello, {peer}!', table)

    def test_fill(self) -> None:
        """
        The text between a pair of markers is replaced by the table the
        first one names; the rest is kept.
        """
        text = (
            "a\n<!-- options-table: one -->\nold\n<!-- /options-table -->\nb\n"
            "<!-- options-table: two -->\n<!-- /options-table -->\n"
        )
        self.assertEqual(
            fillReadme(text, {"one": "1\n", "two": "2\n"}),
            "a\n<!-- options-table: one -->\n1\n<!-- /options-table -->\nb\n"
            "<!-- options-table: two -->\n2\n<!-- /options-table -->\n",
        )

    def test_unknownMarker(self) -> None:
        """
        A marker naming no table is an error.
        """
        text = "<!-- options-table: nope -->\n<!-- /options-table -->\n"
        self.assertRaises(KeyError, fillReadme, text, {})

    def test_builtinProtocols(self) -> None:
        """
        The README lists the built-in protocols, by name.
        """
        self.assertEqual(
            builtinProtocols(), [echoProtocol, helloProtocol, linePrintProtocol]
        )

    def test_main(self) -> None:
        """
        C{python -m sockplug.options} prints every table between its markers.
        """
        out = io.StringIO()
        self.patch(sys, "stdout", out)
        self.assertEqual(main([]), 0)
        for name in ("process", "sockets", "limits", "protocols"):
            self.assertIn(f"<!-- options-table: {name} -->\n|", out.getvalue())

    def test_mainWrites(self) -> None:
        """
        Given a README, C{python -m sockplug.options} writes the tables in.
        """
        self.patch(sys, "stdout", io.StringIO())
        path = self.mktemp()
        with open(path, "w", encoding="utf-8") as f:
            f.write("x\n<!-- options-table: limits -->\n<!-- /options-table -->\n")
        self.assertEqual(main([path]), 0)
        with open(path, encoding="utf-8") as f:
            self.assertIn("| `idle=SECONDS` | stream |", f.read())


class ReadmeTests(SynchronousTestCase):
    """
    The README's option tables are the ones the tables make.
    """

    def test_tablesCurrent(self) -> None:
        """
        Every option table of the README is as the tables make it (if not,
        run C{python -m sockplug.options README.md}).
        """
        text = _readme()
        filled = fillReadme(text, readmeTables(builtinProtocols()))
        self.assertEqual(
            filled.splitlines(),
            text.splitlines(),
            "the README's option tables are out of date: run"
            " python -m sockplug.options README.md",
        )

    def test_everyTable(self) -> None:
        """
        The README has a place for every table.
        """
        text = _readme()
        for name in readmeTables([]):
            self.assertIn(f"<!-- options-table: {name} -->", text)
