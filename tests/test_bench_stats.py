"""
Tests of the benchmark runner's own logic (C{bench/}): medians, summaries,
ratios and the markdown tables.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from bench.cases import CASES, CPU, MEMORY, RATE
from bench.stats import Run, better, median, missingReason, ratio, summarize
from bench.table import mediansTable, number, ratioTable
from tests.benchfixtures import runs


class StatsTests(SynchronousTestCase):
    """Medians, summaries and ratios."""

    def test_medianOdd(self) -> None:
        """The median of an odd count is the middle value."""
        self.assertEqual(median([5.0, 1.0, 3.0]), 3.0)

    def test_medianEven(self) -> None:
        """The median of an even count is the mean of the middle two."""
        self.assertEqual(median([4.0, 1.0, 2.0, 10.0]), 3.0)

    def test_medianOfNothing(self) -> None:
        """There is no median of nothing."""
        self.assertRaises(ValueError, median, [])

    def test_betterHigher(self) -> None:
        """A rate twice the other's is 2 times better."""
        self.assertEqual(better(200.0, 100.0, RATE), 2.0)

    def test_betterLower(self) -> None:
        """Half the CPU time per message is 2 times better."""
        self.assertEqual(better(5.0, 10.0, CPU), 2.0)

    def test_betterZero(self) -> None:
        """A division by zero gives no ratio."""
        self.assertIsNone(better(0.0, 3.0, MEMORY))

    def test_betterNegative(self) -> None:
        """A negative value (memory that shrank) gives no ratio."""
        self.assertIsNone(better(-1.0, 3.0, MEMORY))

    def test_summarizeMedians(self) -> None:
        """Each figure's median is taken over the runs of a case and server."""
        summary = summarize(runs("udp", sockplug=[3.0, 1.0, 2.0]))[("udp", "sockplug")]
        self.assertEqual((summary.figures["rate"], summary.runs), (2.0, 3))

    def test_summarizeLeavesOutFailures(self) -> None:
        """A failed run counts as failed and adds nothing to the medians."""
        failed = Run("udp", "c", 1, {"rate": 99.0}, error="boom")
        summary = summarize([*runs("udp", c=[4.0]), failed])[("udp", "c")]
        self.assertEqual(
            (summary.figures["rate"], summary.failed, summary.errors),
            (4.0, 1, ["boom"]),
        )

    def test_ratio(self) -> None:
        """The ratio of two servers comes from their medians."""
        summaries = summarize(runs("udp", sockplug=[10.0, 30.0], twisted=[5.0]))
        self.assertEqual(ratio(summaries, "udp", RATE, "sockplug", "twisted"), 4.0)

    def test_ratioMissing(self) -> None:
        """A server that did not run gives no ratio."""
        summaries = summarize(runs("udp", sockplug=[10.0]))
        self.assertIsNone(ratio(summaries, "udp", RATE, "sockplug", "c"))

    def test_missingReasons(self) -> None:
        """A server not run, not installed or failed each says so."""
        summaries = summarize(
            [
                Run("udp", "uvloop", 0, skipped="not installed"),
                Run("udp", "c", 0, error="boom"),
            ]
        )
        self.assertEqual(
            [missingReason(summaries, "udp", s) for s in ("asyncio", "uvloop", "c")],
            ["not run", "not installed", "failed"],
        )


class TableTests(SynchronousTestCase):
    """The markdown tables."""

    def test_numbers(self) -> None:
        """Figures get thousands separators, or three significant digits."""
        self.assertEqual(
            [number(x) for x in (123456.0, 999.4, 12.34, 1.234)],
            ["123,456", "999", "12.3", "1.23"],
        )

    def _ratioRow(self, table: str, case: str, figure: str) -> list[str]:
        for line in table.splitlines():
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if cells[:2] == [case, figure]:
                return cells[2:]
        raise AssertionError(f"no row {case} {figure} in:\n{table}")

    def test_ratioCells(self) -> None:
        """Each cell says how many times better the first server did."""
        summaries = summarize(
            runs("udp", sockplug=[300.0], twisted=[100.0], asyncio=[600.0])
        )
        row = self._ratioRow(ratioTable(CASES, summaries), "udp", "datagram/s")
        self.assertEqual(row[:2], ["3.00x", "0.50x"])

    def test_ratioCpuIsInverted(self) -> None:
        """Less CPU per message is better: the cell is reference / sockplug."""
        summaries = summarize(runs("udp", sockplug=[300.0], twisted=[100.0]))
        row = self._ratioRow(ratioTable(CASES, summaries), "udp", "CPU us/datagram")
        self.assertEqual(row[0], "3.00x")

    def test_ratioNotInstalled(self) -> None:
        """A cell against uvloop says when uvloop is not installed."""
        summaries = summarize(
            [
                *runs("udp", sockplug=[1.0]),
                Run("udp", "uvloop", 0, skipped="not installed"),
            ]
        )
        row = self._ratioRow(ratioTable(CASES, summaries), "udp", "datagram/s")
        self.assertEqual(row[2], "not installed")

    def test_ratioNoSuchReference(self) -> None:
        """line-print has no asyncio reference: its cell is empty."""
        summaries = summarize(runs("line-print", sockplug=[2.0], twisted=[1.0]))
        row = self._ratioRow(ratioTable(CASES, summaries), "line-print", "line/s")
        self.assertEqual(row[:2], ["2.00x", ""])

    def test_mediansFailed(self) -> None:
        """A server whose every run failed shows as failed."""
        summaries = summarize([Run("connect", "c", 0, error="boom")])
        self.assertIn("| connect | C epoll | failed |", mediansTable(CASES, summaries))

    def test_mediansTwistedLabel(self) -> None:
        """The Twisted reference is named for what it is in the case."""
        summaries = summarize([Run("startup", "twisted", 0, {"startup_ms": 300.0})])
        self.assertIn("| startup | twistd web | - |", mediansTable(CASES, summaries))
