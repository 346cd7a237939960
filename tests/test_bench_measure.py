"""
Tests of the benchmark runner's own logic (C{bench/}): the load generator's
report and the figures taken from it, and the commands the benchmark runs.
"""

from __future__ import annotations

import json
import os
import sys

from twisted.trial.unittest import SynchronousTestCase

from bench.cases import caseNamed
from bench.measure import (
    MeasureError,
    checkReport,
    figuresOf,
    loadgenCommand,
    parseReport,
)
from bench.runner import checkLines
from bench.stats import Run
from bench.targets import launch, lineConfig

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib
from tests.benchfixtures import QUICK, SETTINGS, TOOLS, temporaryFolder

REPORT = {
    "mode": "stream",
    "conns": 50,
    "size": 1024,
    "inflight": 16,
    "seconds": 5.0,
    "messages": 1000,
    "bytes": 1024000,
    "rate": 200.0,
    "p50_us": 80.0,
    "p99_us": 300.0,
    "errors": 0,
    "lost": 0,
}


class ReportParsingTests(SynchronousTestCase):
    """The load generator's report and the figures taken from it."""

    def test_parse(self) -> None:
        """The report is the last JSON line printed."""
        self.assertEqual(parseReport("\n" + json.dumps(REPORT) + "\n"), REPORT)

    def test_parseMissingKey(self) -> None:
        """A report without a figure is refused, naming it."""
        partial = {k: v for k, v in REPORT.items() if k != "p99_us"}
        error = self.assertRaises(MeasureError, parseReport, json.dumps(partial))
        self.assertIn("p99_us", str(error))

    def test_parseNothing(self) -> None:
        """No report at all is an error."""
        self.assertRaises(MeasureError, parseReport, "")

    def test_consistent(self) -> None:
        """Bytes matching messages of the case's size raise no warning."""
        self.assertEqual(checkReport(caseNamed("tcp-pipelined"), REPORT), [])

    def test_inconsistentBytes(self) -> None:
        """Bytes far from messages times size are a warning."""
        report = dict(REPORT, bytes=5 * 1024000)
        self.assertEqual(len(checkReport(caseNamed("tcp-pipelined"), report)), 1)

    def test_errorsWarn(self) -> None:
        """Errors the load generator counted are a warning."""
        report = dict(REPORT, errors=3)
        self.assertIn(
            "the load generator counted 3 errors",
            checkReport(caseNamed("tcp-pipelined"), report),
        )

    def test_bulkMegabytes(self) -> None:
        """The bulk case reports MB/s."""
        report = dict(REPORT, bytes=50_000_000, seconds=2.0)
        self.assertEqual(figuresOf(caseNamed("tcp-bulk"), report)["mb_per_s"], 25.0)

    def test_udpLost(self) -> None:
        """The udp case reports the share of datagrams lost."""
        report = dict(REPORT, messages=990, lost=10)
        self.assertEqual(figuresOf(caseNamed("udp"), report)["lost_pct"], 1.0)

    def test_linesHaveNoLatency(self) -> None:
        """Lines are not answered: no latency figure."""
        self.assertNotIn("p50_us", figuresOf(caseNamed("line-print"), REPORT))

    def test_lineCountMismatch(self) -> None:
        """A line-print server that wrote fewer lines than sent fails its run."""
        output = os.path.join(temporaryFolder(self), "lines.txt")
        with open(output, "wb") as f:
            f.write(b"x\n" * 7)
        run = Run("line-print", "sockplug", 0)
        checkLines(caseNamed("line-print"), QUICK, output, run)
        self.assertIn(
            "LINE COUNT MISMATCH: 7 lines written, 80,000 sent", str(run.error)
        )


class CommandTests(SynchronousTestCase):
    """The commands the benchmark runs."""

    def test_loadgenPinned(self) -> None:
        """The load generator is pinned to its CPU and given its window."""
        argv = loadgenCommand(
            TOOLS, caseNamed("tcp-pingpong"), SETTINGS, ["--unix", "/s"]
        )
        self.assertEqual(
            argv[-8:],
            ["--inflight", "1", "--duration", "5.0", "--warmup", "1.0", "--cpu", "1"],
        )

    def test_loadgenUdp(self) -> None:
        """The udp case runs the load generator with --udp."""
        argv = loadgenCommand(TOOLS, caseNamed("udp"), QUICK, [])
        self.assertIn("--udp", argv)

    def test_loadgenLines(self) -> None:
        """line-print sends the quick mode's lines, without warm-up."""
        argv = " ".join(loadgenCommand(TOOLS, caseNamed("line-print"), QUICK, []))
        self.assertIn("--lines 20000 --duration 30.0 --warmup 0", argv)

    def test_sockplugDefaults(self) -> None:
        """sockplug serves the echo cases with its defaults."""
        how = launch("sockplug", caseNamed("tcp-pingpong"), "/w", TOOLS)
        self.assertEqual(how.argv[-2:], ["--endpoint", "tcp:0:interface=127.0.0.1"])

    def test_sockplugIdleLimits(self) -> None:
        """For idle-memory only, sockplug's connection limits are raised."""
        how = launch("sockplug", caseNamed("idle-memory"), "/w", TOOLS)
        self.assertEqual(
            how.argv[-4:],
            [
                "--endpoint",
                "tcp:0:interface=127.0.0.1:maxpersource=20000",
                "--max-connections",
                "20000",
            ],
        )

    def test_sockplugLines(self) -> None:
        """line-print is configured to write to the output file."""
        folder = temporaryFolder(self)
        how = launch("sockplug", caseNamed("line-print"), folder, TOOLS, "/o/a.txt")
        with open(how.argv[-1]) as f:
            self.assertEqual(f.read(), lineConfig("/o/a.txt"))

    def test_lineConfigIsToml(self) -> None:
        """The line-print configuration is TOML naming the output file."""
        config = tomllib.loads(lineConfig('/tmp/a "b".txt'))
        self.assertEqual(config["listeners"]["lines"]["output"], '/tmp/a "b".txt')

    def test_uvloop(self) -> None:
        """The uvloop server is the asyncio one with --uvloop."""
        how = launch("uvloop", caseNamed("udp"), "/w", TOOLS)
        self.assertEqual(
            how.argv[1:],
            [
                os.path.join(TOOLS.serversDir, "asyncio_echo.py"),
                "--uvloop",
                "--udp",
                "127.0.0.1:0",
            ],
        )

    def test_cUnix(self) -> None:
        """The C server listens on a UNIX socket in the run's folder."""
        how = launch("c", caseNamed("unix-pipelined"), "/w", TOOLS)
        self.assertEqual(how.argv, ["/b/cecho", "--unix", "/w/c.sock"])
