"""
Tests of the benchmark runner's own logic (C{bench/}): medians and ratios,
the tables, reading C{/proc}, the load generator's report, the compile step
and the command line failing cleanly, the servers' commands, and starting
and stopping real reference servers.
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
)
from bench.runner import checkLines
from bench.stats import Run, better, median, missingReason, ratio, summarize
from bench.table import mediansTable, number, ratioTable
from bench.targets import Listening, Tools, launch, lineConfig, runningAll

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
