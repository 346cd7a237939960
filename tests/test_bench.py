"""
Tests of the benchmark runner's own logic (C{bench/}): medians and ratios,
the tables, reading C{/proc}, the load generator's report, the compile step
and the command line failing cleanly, the servers' commands, starting
and stopping real reference servers, and the workers case (the spread
from metrics text, the ratio, its tables, real sockplug workers stopped
with none left).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from bench.build import BuildError, build, isStale
from bench.cases import CASES, CPU, MEMORY, RATE, Settings, caseNamed
from bench.cli import parseArgs, selectedCases
from bench.machine import parseCpuModel
from bench.measure import (
    MeasureError,
    checkReport,
    figuresOf,
    loadgenCommand,
    parseReport,
)
from bench.procs import (
    ProcessError,
    cpuNanoseconds,
    parseRss,
    parseSchedstat,
    readLine,
    rssKib,
    spawn,
    stop,
    waitFor,
)
from bench.report import (
    BEGIN,
    END,
    ReportError,
    loadResults,
    rawResults,
    readmeBlock,
    replaceBlock,
    tables,
)
from bench.runner import checkLines, describe
from bench.stats import Run, better, median, missingReason, ratio, summarize
from bench.table import mediansTable, number, ratioTable
from bench.targets import Listening, Tools, launch, lineConfig, runningAll
from bench.workers import (
    Identity,
    Spread,
    children,
    connectionsByWorker,
    metricsPath,
    parseStartTime,
    readyAddress,
    runningWorkers,
    scrape,
    spreadBetween,
    stopAll,
    workersCommand,
)
from bench.workerscase import (
    LOADS,
    key,
    loadFigures,
    medianRatio,
    ratioOf,
    spreadFigures,
    workersResults,
)
from bench.workerstable import efficiencyTable, spreadTable, workersSection

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETTINGS = Settings.make(False, (0, 1))
QUICK = Settings.make(True, (0, 1))
TOOLS = Tools(
    python=sys.executable,
    twistd="/venv/bin/twistd",
    loadgen="/b/loadgen",
    cecho="/b/cecho",
    serversDir=os.path.join(ROOT, "bench", "servers"),
)
STATUS = "Name:\tpython3\nVmPeak:\t  30000 kB\nVmRSS:\t   12345 kB\nThreads:\t1\n"
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


METRICS = """\
# HELP sockplug_workers Worker processes (--workers)
# TYPE sockplug_workers gauge
sockplug_workers 2.0
# HELP sockplug_connections_total Stream connections let in.
# TYPE sockplug_connections_total counter
sockplug_connections_total{listener="a",protocol="echo",worker="1"} 300.0
sockplug_connections_total{listener="b",protocol="echo",worker="1"} 20.0
sockplug_connections_total{listener="a",protocol="echo",worker="2"} 280.0
# HELP sockplug_connections_refused_total Stream connections refused.
# TYPE sockplug_connections_refused_total counter
sockplug_connections_refused_total{listener="a",reason="access",worker="1"} 9.0
"""
LOG_TWO = """\
2026-11-22T02:08:08+0000 [-] HeldForWorkers starting on 43023
2026-11-22T02:08:08+0000 [sockplug.workers._supervisor#info] echo listening on tcp:0:interface=127.0.0.1 (127.0.0.1:43023)
2026-11-22T02:08:08+0000 [sockplug.workers._site#info] metrics of the workers listening on unix:/w/metrics-2.sock (/w/metrics-2.sock)
2026-11-22T02:08:08+0000 [sockplug.workers._supervisor#info] worker 1 started (pid 2753)
2026-11-22T02:08:08+0000 [sockplug.workers._supervisor#info] worker 2 started (pid 2754)
2026-11-22T02:08:08+0000 [sockplug.server._service#info] worker 2: echo listening on tcp:0:interface=127.0.0.1 (127.0.0.1:43023)
2026-11-22T02:08:08+0000 [sockplug.server._service#info] worker 1: echo listening on tcp:0:interface=127.0.0.1 (127.0.0.1:43023)
2026-11-22T02:08:09+0000 [sockplug.metrics._prometheus#info] worker 1: metrics and status page listening on unix:/tmp/x/worker-1.sock:mode=600:lockfile=0 (/tmp/x/worker-1.sock)
2026-11-22T02:08:09+0000 [sockplug.workers._supervisor#info] worker 2 (pid 2754) is serving
2026-11-22T02:08:09+0000 [sockplug.workers._supervisor#info] worker 1 (pid 2753) is serving
"""  # noqa: E501
LOG_ONE = """\
2026-11-22T02:08:08+0000 [sockplug.server._service#info] echo listening on tcp:0:interface=127.0.0.1 (127.0.0.1:40001)
2026-11-22T02:08:09+0000 [sockplug.metrics._prometheus#info] metrics and status page listening on unix:/w/metrics-1.sock (/w/metrics-1.sock)
"""  # noqa: E501


def workersRun(
    one: float = 100.0,
    two: float = 95.0,
    counts: tuple[float, float] = (520.0, 480.0),
    rep: int = 0,
) -> Run:
    """
    A successful workers run: every load at 50% of a CPU, C{one} and
    C{two} messages per server CPU-second with 1 and 2 workers, and the
    connections C{counts} of each of the 2 workers.
    """
    figures: dict[str, float] = {}
    for load in LOADS:
        for workers, perCpu in ((1, one), (2, two)):
            measured = {"rate": perCpu / 2, "cpu_share": 0.5, "cpu_us": 1e6 / perCpu}
            figures.update(loadFigures(load, workers, measured))
        figures[f"{load}/paired_ratio"] = two / one
    figures.update(spreadFigures(Spread({1: counts[0], 2: counts[1]})))
    return Run("workers", "sockplug", rep, figures)


def tableRow(table: str, first: str) -> list[str]:
    """The cells of the row of the markdown C{table} whose first is C{first}."""
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if cells[0] == first:
            return cells
    raise AssertionError(f"no row {first} in:\n{table}")


def killIfRunning(process: Identity) -> None:
    """Kill C{process} if it still runs (what a failed test leaves)."""
    if process.running():
        os.kill(process.pid, signal.SIGKILL)


def temporaryFolder(testCase: SynchronousTestCase) -> str:
    """A new temporary folder, removed when the test ends."""
    path = tempfile.mkdtemp(prefix="sockplug-bench-test-")
    testCase.addCleanup(shutil.rmtree, path, True)
    return path


def runs(case: str, **rates: list[float]) -> list[Run]:
    """Successful runs of C{case}: for each server, one per rate given."""
    return [
        Run(case, server, rep, {"rate": rate, "cpu_us": 1e6 / rate})
        for server, values in rates.items()
        for rep, rate in enumerate(values)
    ]


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


class ProcTests(SynchronousTestCase):
    """Reading /proc."""

    def test_parseSchedstat(self) -> None:
        """The first field of a schedstat line is the time on CPU."""
        self.assertEqual(parseSchedstat("123456789 2000 17\n"), 123456789)

    def test_parseSchedstatBad(self) -> None:
        """Text that is not a schedstat line is refused."""
        self.assertRaises(ValueError, parseSchedstat, "")

    def test_parseRss(self) -> None:
        """VmRSS is read from a status file, in KiB."""
        self.assertEqual(parseRss(STATUS), 12345)

    def test_parseRssMissing(self) -> None:
        """A status without VmRSS (a zombie's) is refused."""
        self.assertRaises(ValueError, parseRss, "Name:\tx\nState:\tZ (zombie)\n")

    def test_cpuNanosecondsGrows(self) -> None:
        """This process's CPU time grows while it computes."""
        before = cpuNanoseconds(os.getpid())
        deadline = time.monotonic() + 0.05
        while time.monotonic() < deadline:
            pass
        self.assertGreater(cpuNanoseconds(os.getpid()), before)

    def test_cpuNanosecondsGone(self) -> None:
        """A process that is gone has no CPU time."""
        self.assertRaises(ProcessError, cpuNanoseconds, 2**22 + 1)

    def test_rss(self) -> None:
        """This process's RSS is more than a megabyte."""
        self.assertGreater(rssKib(os.getpid()), 1024)

    def test_cpuModel(self) -> None:
        """The CPU model comes from /proc/cpuinfo's model name."""
        text = "processor\t: 0\nmodel name\t: Some CPU @ 3GHz\nflags\t: x\n"
        self.assertEqual(parseCpuModel(text), "Some CPU @ 3GHz")


class ProcessTests(SynchronousTestCase):
    """Starting, waiting for and stopping processes, every wait bounded."""

    def _python(self, code: str) -> subprocess.Popen[bytes]:
        process = spawn([sys.executable, "-c", code], None, stdout=subprocess.PIPE)
        self.addCleanup(stop, process, 1.0)
        return process

    def test_stopKillsStubbornProcess(self) -> None:
        """A process that ignores SIGTERM is killed after the bound."""
        process = self._python(
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
            " print('ready', flush=True); time.sleep(60)"
        )
        readLine(process, time.monotonic() + 30)
        stop(process, 0.2)
        self.assertEqual(process.returncode, -signal.SIGKILL)

    def test_readLineEnded(self) -> None:
        """Waiting for a line from a process that ends says so."""
        process = self._python("raise SystemExit(3)")
        error = self.assertRaises(
            ProcessError, readLine, process, time.monotonic() + 30
        )
        self.assertIn("exited with status 3", str(error))

    def test_readLineDeadline(self) -> None:
        """Waiting for a line stops at the deadline."""
        process = self._python("import time; time.sleep(60)")
        error = self.assertRaises(
            ProcessError, readLine, process, time.monotonic() + 0.1
        )
        self.assertIn("said nothing in time", str(error))

    def test_waitForDeadline(self) -> None:
        """waitFor stops at the deadline."""
        process = self._python("import time; time.sleep(60)")
        error = self.assertRaises(
            ProcessError, waitFor, lambda: None, process, time.monotonic() + 0.1, "x"
        )
        self.assertEqual(str(error), "no x within the time allowed")


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


class ReferenceServerTests(SynchronousTestCase):
    """Real reference servers, started and stopped by the runner's code."""

    def _listening(self, server: Listening | ProcessError) -> Listening:
        if isinstance(server, ProcessError):
            self.fail(str(server))
        return server

    def _connect(self, server: Listening) -> socket.socket:
        host, port = server.loadgenArgs()[1::2]
        return socket.create_connection((host, int(port)), timeout=10)

    def test_echoServers(self) -> None:
        """The Twisted and asyncio servers echo, pinned to the CPU given."""
        folder = temporaryFolder(self)
        workdirs = {s: os.path.join(folder, s) for s in ("twisted", "asyncio")}
        for workdir in workdirs.values():
            os.mkdir(workdir)
        cpu = min(os.sched_getaffinity(0))
        with runningAll(caseNamed("tcp-pingpong"), workdirs, TOOLS, cpu) as started:
            servers = [self._listening(server) for server in started.values()]
            for server in servers:
                with self._connect(server) as s:
                    s.sendall(b"ping")
                    self.assertEqual(
                        (s.recv(4), os.sched_getaffinity(server.process.pid)),
                        (b"ping", {cpu}),
                    )
        self.assertEqual(
            [server.process.poll() is not None for server in servers], [True, True]
        )

    def test_linesServerHalfClose(self) -> None:
        """The Twisted lines server writes every line and closes on EOF."""
        folder = temporaryFolder(self)
        case = caseNamed("line-print")
        cpu = min(os.sched_getaffinity(0))
        with (
            runningAll(case, {"twisted": folder}, TOOLS, cpu) as got,
            self._connect(self._listening(got["twisted"])) as s,
        ):
            s.sendall(b"one\ntwo\n")
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(s.recv(10), b"")
        with open(os.path.join(folder, "lines.txt"), "rb") as f:
            self.assertEqual(f.read(), b"one\ntwo\n")


class BuildTests(SynchronousTestCase):
    """The compile step, and how it fails."""

    def _sources(self, text: str = "int main(void) { return 0; }\n") -> str:
        folder = temporaryFolder(self)
        with open(os.path.join(folder, "prog.c"), "w") as f:
            f.write(text)
        return folder

    def test_noCompiler(self) -> None:
        """Without a compiler, the build fails with one line saying so."""
        folder = self._sources()
        environ = {"CC": "no-such-cc-anywhere", "PATH": os.environ["PATH"]}
        error = self.assertRaises(
            BuildError, build, folder, folder + "/build", environ, ("prog",)
        )
        self.assertIn("no C compiler: 'no-such-cc-anywhere' not found", str(error))

    def test_compileFails(self) -> None:
        """A compile error fails the build with the compiler's first line."""
        if shutil.which("cc") is None:
            raise SkipTest("no cc on this machine")
        folder = self._sources("int main(void) { return nope; }\n")
        error = self.assertRaises(
            BuildError, build, folder, folder + "/build", os.environ, ("prog",)
        )
        self.assertEqual((str(error).count("\n"), "nope" in str(error)), (0, True))

    def test_missingSource(self) -> None:
        """A missing source fails the build, naming it."""
        folder = self._sources()
        error = self.assertRaises(BuildError, build, folder, folder, os.environ, ("x",))
        self.assertEqual(str(error), f"{folder}/x.c is missing")

    def test_upToDate(self) -> None:
        """A binary newer than its source is not rebuilt (no compiler needed)."""
        folder = self._sources()
        binary = os.path.join(folder, "prog")
        with open(binary, "w") as f:
            f.write("")
        os.utime(binary, ns=(os.stat(folder + "/prog.c").st_mtime_ns + 10**9,) * 2)
        environ = {"CC": "no-such-cc-anywhere", "PATH": ""}
        self.assertEqual(build(folder, folder, environ, ("prog",)), {"prog": binary})

    def test_stale(self) -> None:
        """A missing binary is stale."""
        folder = self._sources()
        self.assertTrue(isStale(folder + "/prog.c", folder + "/prog"))


class CommandLineTests(SynchronousTestCase):
    """python -m bench: bad input is one line and exit status 1."""

    def _bench(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
        result = subprocess.run(
            [sys.executable, "-m", "bench", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        return result.returncode, result.stderr

    def test_unknownCase(self) -> None:
        """An unknown case is one line naming it, and exit status 1."""
        code, stderr = self._bench("--case", "nope")
        self.assertEqual((code, stderr.count("\n"), "'nope'" in stderr), (1, 1, True))

    def test_noCompiler(self) -> None:
        """Without a compiler the benchmark stops with one line, status 1."""
        folder = temporaryFolder(self)
        env = dict(os.environ, CC="no-such-cc-anywhere")
        code, stderr = self._bench("--build-dir", folder, "--results", folder, env=env)
        self.assertEqual(
            (code, stderr),
            (
                1,
                "bench: no C compiler: 'no-such-cc-anywhere' not found (install one,"
                " e.g. Debian's gcc, or set CC)\n",
            ),
        )

    def test_readmeWithoutResults(self) -> None:
        """--readme without results says to run the benchmark first."""
        code, stderr = self._bench("--readme", "--results", temporaryFolder(self))
        self.assertEqual(
            (code, stderr.count("\n"), "run python -m bench first" in stderr),
            (1, 1, True),
        )


class ResultsTests(SynchronousTestCase):
    """The results files and the README's copy of them."""

    def test_roundTrip(self) -> None:
        """Results written as JSON read back as the same runs."""
        path = os.path.join(temporaryFolder(self), "r.json")
        written = runs("udp", sockplug=[1.0, 2.0])
        with open(path, "w") as f:
            json.dump(rawResults(CASES, written, QUICK, {"cpu": "x"}), f)
        _, read, settings, machine = loadResults(path)
        self.assertEqual((read, settings, machine), (written, QUICK, {"cpu": "x"}))

    def test_replaceBlock(self) -> None:
        """The text between the markers is replaced, the rest kept."""
        text = f"a\n{BEGIN}\nold\n{END}\nb\n"
        self.assertEqual(
            replaceBlock(text, f"{BEGIN}new{END}"), f"a\n{BEGIN}new{END}\nb\n"
        )

    def test_replaceNoMarkers(self) -> None:
        """A README without the markers is refused."""
        self.assertRaises(ReportError, replaceBlock, "no markers", "x")

    def test_readmeBlock(self) -> None:
        """The README's block holds the machine line, ratios and medians."""
        machine = {
            k: k.upper()
            for k in (
                "cpu",
                "cpus",
                "kernel",
                "python",
                "twisted",
                "uvloop",
                "cc",
                "sockplug",
                "date",
            )
        }
        block = readmeBlock(CASES, runs("udp", sockplug=[2.0], c=[4.0]), QUICK, machine)
        self.assertEqual(
            (
                block.startswith(BEGIN),
                block.endswith(END),
                "CPU (CPUS CPUs)" in block,
                "| udp | datagram/s |" in block,
            ),
            (True, True, True, True),
        )


class WorkersSpreadTests(SynchronousTestCase):
    """The connections per worker, from the supervisor's metrics."""

    def test_connectionsByWorker(self) -> None:
        """Each worker's connections are summed over its listeners."""
        self.assertEqual(connectionsByWorker(METRICS), {1: 320.0, 2: 280.0})

    def test_noCounter(self) -> None:
        """Metrics without connection counts per worker are refused."""
        error = self.assertRaises(
            ValueError, connectionsByWorker, "sockplug_workers 2.0\n"
        )
        self.assertIn("sockplug_connections_total", str(error))

    def test_notMetrics(self) -> None:
        """Text that is not metrics is refused."""
        self.assertRaises(ValueError, connectionsByWorker, "<html>hello</html>\n")

    def test_between(self) -> None:
        """The spread counts the connections between two readings."""
        spread = spreadBetween({1: 10.0, 2: 10.0}, {1: 530.0, 2: 490.0})
        self.assertEqual(
            (spread.counts, spread.shares()), ({1: 520.0, 2: 480.0}, {1: 0.52, 2: 0.48})
        )

    def test_betweenNothing(self) -> None:
        """No connection between the readings is an error, not a spread."""
        self.assertRaises(ValueError, spreadBetween, {1: 5.0}, {1: 5.0})

    def test_deviation(self) -> None:
        """520/480 is 4% off an even split."""
        self.assertAlmostEqual(Spread({1: 520.0, 2: 480.0}).deviationPct(), 4.0)

    def test_deviationEven(self) -> None:
        """An even split deviates by nothing."""
        self.assertEqual(Spread({1: 500.0, 2: 500.0}).deviationPct(), 0.0)

    def test_deviationLargest(self) -> None:
        """The deviation is that of the worker furthest from even."""
        spread = Spread({1: 260.0, 2: 231.0, 3: 263.0, 4: 246.0})
        self.assertAlmostEqual(spread.deviationPct(), 7.6)


class WorkersProcessInfoTests(SynchronousTestCase):
    """Sockplug's readiness, command and processes, for the workers case."""

    def test_readyTwoWorkers(self) -> None:
        """With 2 workers, the supervisor's listening line gives the address."""
        self.assertEqual(readyAddress(LOG_TWO, 2), "127.0.0.1:43023")

    def test_notReadyUntilEveryWorkerServes(self) -> None:
        """Until every worker serves, sockplug is not ready."""
        log = LOG_TWO.replace("worker 2 (pid 2754) is serving", "x")
        self.assertIsNone(readyAddress(log, 2))

    def test_workerLineIsNoAddress(self) -> None:
        """A worker's own listening line is not the supervisor's."""
        lines = [line for line in LOG_TWO.splitlines() if "_supervisor#" not in line]
        self.assertIsNone(readyAddress("\n".join(lines) + "\n", 2))

    def test_readyOneWorker(self) -> None:
        """With 1 worker (no supervisor), the service's line gives it."""
        self.assertEqual(readyAddress(LOG_ONE, 1), "127.0.0.1:40001")

    def test_notReadyWithoutMetrics(self) -> None:
        """Until its metrics endpoint listens, sockplug is not ready."""
        self.assertIsNone(readyAddress(LOG_ONE.splitlines()[0] + "\n", 1))

    def test_command(self) -> None:
        """sockplug runs its echo on TCP with the workers and metrics given."""
        self.assertEqual(
            workersCommand(TOOLS, 2, "/w")[4:],
            [
                "sockplug",
                "--endpoint",
                "tcp:0:interface=127.0.0.1",
                "--workers",
                "2",
                "--metrics",
                "unix:/w/metrics-2.sock",
            ],
        )

    def test_parseStartTime(self) -> None:
        """The state and start time are read after the name, whatever it holds."""
        stat = "42 (a (b) c) S " + " ".join(str(n) for n in range(4, 22)) + " 777 1"
        self.assertEqual(parseStartTime(stat), ("S", 777))

    def test_identityRunning(self) -> None:
        """This process runs."""
        self.assertTrue(Identity.of(os.getpid()).running())

    def test_identityOtherProcess(self) -> None:
        """A process of the same pid started at another time is another one."""
        me = Identity.of(os.getpid())
        self.assertFalse(Identity(me.pid, me.started + 1).running())

    def test_identityGone(self) -> None:
        """A process that is gone has no identity."""
        self.assertRaises(ProcessError, Identity.of, 2**22 + 1)


class WorkersFiguresTests(SynchronousTestCase):
    """The workers case's figures, ratios and goals."""

    def test_ratio(self) -> None:
        """The ratio is 2 workers' messages per CPU-second over 1 worker's."""
        self.assertEqual(ratioOf(100.0, 95.0), 0.95)

    def test_ratioMissing(self) -> None:
        """A missing or zero figure gives no ratio."""
        self.assertEqual((ratioOf(None, 95.0), ratioOf(0.0, 95.0)), (None, None))

    def test_loadFigures(self) -> None:
        """Messages per CPU-second are the inverse of the CPU time per message."""
        figures = loadFigures("connect", 2, {"rate": 10.0, "cpu_us": 250.0, "x": 1.0})
        self.assertEqual(
            figures,
            {
                "connect/2w/rate": 10.0,
                "connect/2w/cpu_us": 250.0,
                "connect/2w/per_cpu_s": 4000.0,
            },
        )

    def test_noCpuNoPerCpu(self) -> None:
        """Without a CPU figure there are no messages per CPU-second."""
        self.assertNotIn("connect/1w/per_cpu_s", loadFigures("connect", 1, {}))

    def test_medianRatio(self) -> None:
        """The table's ratio is that of the medians, not of a single run."""
        summaries = summarize(
            [workersRun(100.0, 90.0), workersRun(200.0, 80.0), workersRun(50.0, 85.0)]
        )
        figures = summaries[("workers", "sockplug")].figures
        self.assertEqual(medianRatio(figures, "connect"), 0.85)

    def test_results(self) -> None:
        """The JSON says whether each goal is met."""
        summary = summarize([workersRun(100.0, 85.0)])[("workers", "sockplug")]
        results = workersResults(summary)
        self.assertEqual(
            (results["loads"][0]["goal_met"], results["spread"]["goal_met"]),
            (False, True),
        )

    def test_rawResults(self) -> None:
        """The results file holds the workers case's ratios and spread."""
        raw = rawResults(CASES, [workersRun()], QUICK, {"cpu": "x"})
        self.assertEqual(
            (
                round(raw["workers"]["loads"][2]["ratio"], 9),
                raw["workers"]["spread"]["shares"],
            ),
            (0.95, {"1": 0.52, "2": 0.48}),
        )

    def test_noWorkersNoResults(self) -> None:
        """Without the workers case, the results file has no workers part."""
        raw = rawResults(CASES, runs("udp", sockplug=[1.0]), QUICK, {"cpu": "x"})
        self.assertNotIn("workers", raw)


class WorkersTableTests(SynchronousTestCase):
    """The workers case's tables."""

    def test_efficiencyRow(self) -> None:
        """A load's row has its rates, CPU, messages per CPU-second and ratio."""
        table = efficiencyTable(workersRun().figures)
        self.assertEqual(
            tableRow(table, "TCP 1 KiB ping-pong")[1:],
            ["50.0", "47.5", "50% / 50%", "100", "95.0", "0.95x: met"],
        )

    def test_efficiencyNotMet(self) -> None:
        """A ratio below 0.90 is marked as a goal not met."""
        table = efficiencyTable(workersRun(100.0, 85.0).figures)
        self.assertEqual(tableRow(table, "new connections")[-1], "0.85x: NOT MET")

    def test_efficiencyMissing(self) -> None:
        """A load with no CPU figure has no ratio."""
        figures = workersRun().figures
        del figures[key("tcp-pipelined", 2, "per_cpu_s")]
        table = efficiencyTable(figures)
        self.assertEqual(tableRow(table, "TCP 1 KiB, 16 in flight")[-2:], ["-", "-"])

    def test_spreadRow(self) -> None:
        """The spread's row has each worker's share and the deviation."""
        table = spreadTable(workersRun().figures)
        self.assertEqual(
            tableRow(table, "1,000"), ["1,000", "52.0%", "48.0%", "4.0%: met"]
        )

    def test_spreadNotMet(self) -> None:
        """A worker 20% off an even split is marked as a goal not met."""
        table = spreadTable(workersRun(counts=(600.0, 400.0)).figures)
        self.assertEqual(tableRow(table, "1,000")[-1], "20.0%: NOT MET")

    def test_sectionFailed(self) -> None:
        """A workers case whose every run failed says so."""
        failed = Run("workers", "sockplug", 0, error="boom")
        section = workersSection(summarize([failed]), QUICK, "##")
        self.assertEqual(section[1:], ["Every run failed (see Problems)."])

    def test_sectionAbsent(self) -> None:
        """Without a workers run there is no workers section."""
        self.assertEqual(workersSection(summarize([]), QUICK, "##"), [])

    def test_workersAlone(self) -> None:
        """The workers case alone has its tables and not the references'."""
        text = tables([caseNamed("workers")], [workersRun()], QUICK)
        self.assertEqual(
            (text.startswith("## Workers"), "## Ratios" in text, "| 1,000 |" in text),
            (True, False, True),
        )

    def test_notInMedians(self) -> None:
        """The workers case has no row among the references' medians."""
        table = mediansTable(CASES, summarize([workersRun()]))
        self.assertNotIn("| workers |", table)

    def test_describe(self) -> None:
        """A workers run's line has each load's rates, ratio, and the spread."""
        line = describe(workersRun())
        self.assertEqual(
            (
                "tcp-pingpong 1w 50.0/s 2w 47.5/s, per CPU-s 2w/1w 0.95" in line,
                line.endswith("spread 52.0/48.0% (off by 4.0%)"),
            ),
            (True, True),
        )

    def test_selectable(self) -> None:
        """--case workers runs the workers case alone."""
        cases = selectedCases(parseArgs(["--case", "workers"]).case)
        self.assertEqual([case.name for case in cases], ["workers"])

    def test_inFullRun(self) -> None:
        """The full run includes the workers case."""
        self.assertIn("workers", [case.name for case in selectedCases(None)])


class WorkersProcessTests(SynchronousTestCase):
    """Real sockplug workers and leftover processes, every wait bounded."""

    def test_stopAllKillsLeftover(self) -> None:
        """A child left running after its parent stopped is reported and killed."""
        parent = spawn(
            [
                sys.executable,
                "-c",
                "import os, time\n"
                "child = os.fork()\n"
                "if child == 0:\n"
                "    time.sleep(60)\n"
                "    os._exit(0)\n"
                "print(child, flush=True)\n"
                "time.sleep(60)\n",
            ],
            None,
            stdout=subprocess.PIPE,
        )
        self.addCleanup(stop, parent, 1.0)
        child = Identity.of(int(readLine(parent, time.monotonic() + 30)))
        self.addCleanup(killIfRunning, child)
        problems = stopAll(parent, [child], leftover=0.2)
        deadline = time.monotonic() + 10
        while child.running() and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertEqual(
            (
                len(problems),
                f"worker pid {child.pid} was" in problems[0],
                child.running(),
            ),
            (1, True, False),
        )

    def test_sockplugWorkers(self) -> None:
        """
        sockplug with 1 and 2 workers start, are pinned, count connections
        per worker, and stop with no worker left.
        """
        twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
        if not os.access(twistd, os.X_OK):
            raise SkipTest(f"no twistd next to {sys.executable}")
        tools = Tools(sys.executable, twistd, "", "", TOOLS.serversDir)
        folder = temporaryFolder(self)
        cpu = min(os.sched_getaffinity(0))
        problems: list[str] = []
        with runningWorkers(tools, folder, cpu, problems) as up:
            two = up[2]
            host, port = two.loadgenArgs()[1::2]
            for _ in range(20):
                with socket.create_connection((host, int(port)), timeout=10) as s:
                    s.sendall(b"x")
                    self.assertEqual(s.recv(1), b"x")
            counts = connectionsByWorker(scrape(metricsPath(folder, 2)))
            pids = [*up[1].pids(), *two.pids()]
            pinned = {pid: os.sched_getaffinity(pid) for pid in pids}
            workers = [Identity.of(pid) for pid in two.workers]
            self.assertEqual(children(two.process.pid), sorted(two.workers))
        self.assertEqual(
            (
                sum(counts.values()),
                sorted(counts),
                pinned,
                problems,
                [w.running() for w in workers],
                up[1].process.poll() is not None and two.process.poll() is not None,
            ),
            (20.0, [1, 2], {pid: {cpu} for pid in pids}, [], [False, False], True),
        )
