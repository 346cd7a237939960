# -*- test-case-name: tests.test_bench_measure -*-
"""
Running the benchmark: every selected case against every selected server.
Each repetition of a case starts its servers afresh (all at once, which
saves the wait for each start-up), measures them in turn, so that a change
in the machine's load falls on all of them alike, and stops them all.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from functools import partial

from bench.cases import Case, Settings
from bench.measure import (
    MeasureError,
    Measurement,
    countLines,
    measureIdle,
    measureLines,
    measureLoad,
    measureStartup,
)
from bench.procs import ProcessError
from bench.stats import Run
from bench.table import number
from bench.targets import LINE_OUTPUT, Listening, Tools, runningAll, uvloopInstalled
from bench.workerscase import measureWorkers
from bench.workerstable import describeWorkers

Report = Callable[[str], None]


def measureListening(
    tools: Tools, case: Case, settings: Settings, server: Listening
) -> Measurement:
    """
    One measurement of C{case} against a listening C{server}.

    @raise MeasureError: if it fails.
    """
    measure = {"loadgen": measureLoad, "idle": measureIdle, "lines": measureLines}
    try:
        return measure[case.kind](tools, case, settings, server)
    except (ProcessError, OSError) as e:
        raise MeasureError(str(e)) from None


def checkLines(case: Case, settings: Settings, output: str, run: Run) -> None:
    """
    Count the lines a line-print server wrote to C{output} (once it has
    stopped) into C{run}, and fail it, loudly, if some are missing.
    """
    expected = settings.conns(case) * settings.lines(case)
    written = countLines(output) if os.path.exists(output) else 0
    run.figures["lines_written"] = float(written)
    if written != expected:
        run.error = f"LINE COUNT MISMATCH: {written:,} lines written, {expected:,} sent"


def runServers(
    tools: Tools, case: Case, servers: Sequence[str], settings: Settings, rep: int
) -> list[Run]:
    """
    One repetition of C{case} against each of C{servers}, started together
    and stopped together, each measured in turn.
    """
    if case.kind == "workers":
        return [measureWorkers(tools, case, settings, rep)] if servers else []
    runs = [Run(case.name, server, rep) for server in servers]
    if case.kind == "startup":
        for run in runs:
            workdir = tempfile.mkdtemp(prefix="sockplug-bench-")
            try:
                _fill(
                    run, partial(measureStartup, tools, run.server, settings, workdir)
                )
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
        return runs
    workdirs = {s: tempfile.mkdtemp(prefix=f"sockplug-bench-{s}-") for s in servers}
    try:
        with runningAll(case, workdirs, tools, settings.serverCpu) as listening:
            for run in runs:
                got = listening[run.server]
                if isinstance(got, ProcessError):
                    run.error = str(got)
                else:
                    _fill(run, partial(measureListening, tools, case, settings, got))
        if case.kind == "lines":
            for run in runs:
                if run.error is None:
                    output = os.path.join(workdirs[run.server], LINE_OUTPUT)
                    checkLines(case, settings, output, run)
    finally:
        for workdir in workdirs.values():
            shutil.rmtree(workdir, ignore_errors=True)
    return runs


def _fill(run: Run, measure: Callable[[], Measurement]) -> None:
    try:
        result = measure()
    except MeasureError as e:
        run.error = str(e)
    else:
        run.figures, run.raw, run.warnings = result.figures, result.raw, result.warnings


def describe(run: Run) -> str:
    """One line for a finished run, as the benchmark goes."""
    head = f"{run.case:<15} {run.server:<9} #{run.rep + 1}"
    if run.skipped is not None:
        return f"{head}  skipped: {run.skipped}"
    if run.error is not None:
        return f"{head}  FAILED: {run.error}"
    f = run.figures
    warnings = "".join(f"  WARNING: {w}" for w in run.warnings)
    if run.case == "workers":
        return f"{head}  {describeWorkers(f)}{warnings}"
    parts = []
    if "rate" in f:
        parts.append(f"{number(f['rate'])}/s")
    if "p50_us" in f and f.get("p50_us"):
        parts.append(f"p50 {number(f['p50_us'])} us p99 {number(f['p99_us'])} us")
    if "cpu_us" in f:
        parts.append(f"CPU {number(f['cpu_us'])} us each")
    if "cpu_share" in f:
        parts.append(f"({f['cpu_share'] * 100:.0f}% busy)")
    if "mb_per_s" in f:
        parts.append(f"{number(f['mb_per_s'])} MB/s")
    if "lost" in f:
        parts.append(f"lost {f['lost']:,.0f}")
    if "kib_per_conn" in f:
        parts.append(f"{number(f['kib_per_conn'])} KiB/conn")
    if "startup_ms" in f:
        parts.append(f"{number(f['startup_ms'])} ms")
    return f"{head}  {'  '.join(parts)}{warnings}"


def runAll(
    tools: Tools,
    cases: Sequence[Case],
    servers: Sequence[str],
    settings: Settings,
    report: Report,
) -> list[Run]:
    """
    Run each of C{cases} against each of C{servers} it applies to,
    C{settings.repeat} times (start-up: C{settings.startupRepeat}),
    reporting each run as it ends.
    """
    runs = []
    haveUvloop = uvloopInstalled()
    for case in cases:
        chosen = [s for s in case.servers if s in servers]
        reps = settings.startupRepeat if case.kind == "startup" else settings.repeat
        for rep in range(reps if chosen else 0):
            active = [s for s in chosen if haveUvloop or s != "uvloop"]
            done = {
                run.server: run
                for run in runServers(tools, case, active, settings, rep)
            }
            for server in chosen:
                run = done.get(server) or Run(
                    case.name, server, rep, skipped="not installed"
                )
                report(describe(run))
                runs.append(run)
    return runs
