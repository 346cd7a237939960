"""
Tests of the benchmark runner's own logic (C{bench/}) for the workers case:
the spread from metrics text, sockplug's readiness and processes, the ratio
and its tables, real sockplug workers stopped with none left.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from bench.cases import CASES, caseNamed
from bench.cli import parseArgs, selectedCases
from bench.procs import ProcessError, readLine, spawn, stop
from bench.report import rawResults, tables
from bench.runner import describe
from bench.stats import Run, summarize
from bench.table import mediansTable
from bench.targets import Tools
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
from tests.benchfixtures import QUICK, TOOLS, runs, temporaryFolder

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
