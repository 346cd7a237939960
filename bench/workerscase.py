# -*- test-case-name: tests.test_bench_workers -*-
"""
The workers case: sockplug's echo with C{--workers 1} against
C{--workers 2}, under the loads of the ping-pong, 16-in-flight and connect
cases, in messages per server CPU-second (every server process: the
supervisor and its workers), and how evenly the kernel spread the connect
load's connections over the two workers.

A run's figures are flat, so that the medians and the JSON take them as
they take any other: C{LOAD/Nw/FIGURE} for each load and worker count
(C{rate}, C{cpu_share}, C{per_cpu_s}, ...), C{LOAD/paired_ratio} for the
2-worker run against the 1-worker run next to it in time, and
C{spread/...} for the spread.
"""

from __future__ import annotations

import shutil
import tempfile
from typing import Any

from bench.cases import Case, Settings, caseNamed
from bench.measure import MeasureError, measureLoad
from bench.procs import ProcessError
from bench.stats import Run, Summary
from bench.targets import Listening, Tools
from bench.workers import (
    WORKER_COUNTS,
    Spread,
    connectionsByWorker,
    metricsPath,
    runningWorkers,
    scrape,
    spreadBetween,
    workerPids,
)

WORKERS = "workers"
# The cases whose loads the workers case runs, and what it calls them.
LOADS = {
    "tcp-pingpong": "TCP 1 KiB ping-pong",
    "tcp-pipelined": "TCP 1 KiB, 16 in flight",
    "connect": "new connections",
}
# The load after which the spread of connections is read.
SPREAD_LOAD = "connect"
# The goals: 2 workers keep at least 90% of the messages per
# server CPU-second of 1, and no worker is more than 10% off an even share.
GOAL_RATIO = 0.90
GOAL_DEVIATION_PCT = 10.0
# A load's figures kept for each worker count.
KEPT = ("rate", "cpu_share", "cpu_us", "p50_us", "p99_us", "errors", "messages")


def key(load: str, workers: int, figure: str) -> str:
    """The name of a figure of C{load} with C{workers} workers."""
    return f"{load}/{workers}w/{figure}"


def ratioOf(one: float | None, two: float | None) -> float | None:
    """
    Messages per CPU-second with 2 workers over those with 1; C{None}
    if either is missing or the first is 0.
    """
    if one is None or two is None or one <= 0:
        return None
    return two / one


def loadFigures(load: str, workers: int, figures: dict[str, float]) -> dict[str, float]:
    """
    The figures of one load generator run of C{load} against sockplug
    with C{workers} workers, named for the run, with messages per server
    CPU-second (the inverse of the CPU time per message).
    """
    named = {key(load, workers, f): figures[f] for f in KEPT if f in figures}
    if figures.get("cpu_us"):
        named[key(load, workers, "per_cpu_s")] = 1e6 / figures["cpu_us"]
    return named


def spreadFigures(spread: Spread) -> dict[str, float]:
    """The figures of the spread of connections over the workers."""
    figures = {
        "spread/connections": spread.total,
        "spread/deviation_pct": spread.deviationPct(),
    }
    for worker, share in spread.shares().items():
        figures[f"spread/worker{worker}/connections"] = spread.counts[worker]
        figures[f"spread/worker{worker}/share"] = share
    return figures


def _measureOne(
    tools: Tools, load: str, settings: Settings, server: Listening, run: Run
) -> None:
    workers = len(server.workers) or 1
    try:
        result = measureLoad(tools, caseNamed(load), settings, server)
        if workerPids(server.process.pid, workers) != server.workers:
            raise MeasureError("a worker was started again during the run")
    except (ProcessError, OSError) as e:
        raise MeasureError(str(e)) from None
    run.figures.update(loadFigures(load, workers, result.figures))
    run.warnings += [f"{load}, {workers} worker(s): {w}" for w in result.warnings]


def measureWorkers(tools: Tools, case: Case, settings: Settings, rep: int) -> Run:
    """
    One repetition of the workers case: sockplug with 1 and 2 workers,
    started together, each load run against one then the other, the
    spread read from the 2-worker supervisor's metrics around its connect
    run; both stopped, however it ends.
    """
    run = Run(case.name, "sockplug", rep)
    workdir = tempfile.mkdtemp(prefix="sockplug-bench-workers-")
    most = max(WORKER_COUNTS)
    try:
        with runningWorkers(tools, workdir, settings.serverCpu, run.warnings) as up:
            for load in LOADS:
                for workers in WORKER_COUNTS:
                    spread = load == SPREAD_LOAD and workers == most
                    metrics = metricsPath(workdir, workers)
                    before = connectionsByWorker(scrape(metrics)) if spread else {}
                    _measureOne(tools, load, settings, up[workers], run)
                    if spread:
                        after = connectionsByWorker(scrape(metrics))
                        run.figures.update(spreadFigures(spreadBetween(before, after)))
                paired = ratioOf(
                    run.figures.get(key(load, 1, "per_cpu_s")),
                    run.figures.get(key(load, most, "per_cpu_s")),
                )
                if paired is not None:
                    run.figures[f"{load}/paired_ratio"] = paired
    except (MeasureError, ProcessError, OSError, ValueError) as e:
        run.error = str(e)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return run


def medianRatio(figures: dict[str, float], load: str) -> float | None:
    """
    The ratio of the medians of messages per server CPU-second, 2 workers
    over 1, for C{load}.
    """
    most = max(WORKER_COUNTS)
    return ratioOf(
        figures.get(key(load, 1, "per_cpu_s")),
        figures.get(key(load, most, "per_cpu_s")),
    )


def workerShares(figures: dict[str, float]) -> dict[int, float]:
    """Each worker's share of the connections, by worker number."""
    return {
        w: figures[f"spread/worker{w}/share"]
        for w in range(1, max(WORKER_COUNTS) + 1)
        if f"spread/worker{w}/share" in figures
    }


def workersResults(summary: Summary) -> dict[str, Any]:
    """The workers case's medians, ratios and goals, for the JSON file."""
    f = summary.figures
    loads = []
    for load, label in LOADS.items():
        ratio = medianRatio(f, load)
        entry: dict[str, Any] = {"load": load, "label": label, "ratio": ratio}
        for workers in WORKER_COUNTS:
            for figure in ("rate", "per_cpu_s", "cpu_share"):
                entry[f"{figure}_{workers}w"] = f.get(key(load, workers, figure))
        entry["paired_ratio"] = f.get(f"{load}/paired_ratio")
        entry["goal_met"] = None if ratio is None else ratio >= GOAL_RATIO
        loads.append(entry)
    deviation = f.get("spread/deviation_pct")
    return {
        "goal_ratio": GOAL_RATIO,
        "goal_deviation_pct": GOAL_DEVIATION_PCT,
        "loads": loads,
        "spread": {
            "connections": f.get("spread/connections"),
            "shares": {str(w): s for w, s in workerShares(f).items()},
            "deviation_pct": deviation,
            "goal_met": None if deviation is None else deviation <= GOAL_DEVIATION_PCT,
        },
        "runs": summary.runs,
        "failed": summary.failed,
    }
