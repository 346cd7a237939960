# -*- test-case-name: tests.test_bench_workers -*-
"""
The workers case's own tables and notes, in markdown, and its line as the
benchmark goes: it compares sockplug with itself (1 worker against 2), so
it has none of the other cases' reference columns.
"""

from __future__ import annotations

from bench.cases import Settings
from bench.stats import Summary
from bench.table import number, times
from bench.workers import WORKER_COUNTS
from bench.workerscase import (
    GOAL_DEVIATION_PCT,
    GOAL_RATIO,
    LOADS,
    SPREAD_LOAD,
    WORKERS,
    key,
    medianRatio,
    workerShares,
)


def goal(met: bool) -> str:
    """Whether a goal was met, for a table cell."""
    return "met" if met else "NOT MET"


def _cell(figures: dict[str, float], name: str) -> str:
    return number(figures[name]) if name in figures else "-"


def _busy(figures: dict[str, float], load: str) -> str:
    cells = [
        f"{figures[key(load, w, 'cpu_share')] * 100:.0f}%"
        if key(load, w, "cpu_share") in figures
        else "-"
        for w in WORKER_COUNTS
    ]
    return " / ".join(cells)


def efficiencyTable(figures: dict[str, float]) -> str:
    """
    One row per load: the rate and the messages per server CPU-second
    with 1 and with 2 workers, and the ratio of the latter, 2 over 1.
    """
    one, two = WORKER_COUNTS
    rows = [
        f"| load | rate (/s), {one} worker | rate (/s), {two} workers"
        f" | server CPU busy, {one} / {two} | msg per server CPU-s, {one} worker"
        f" | msg per server CPU-s, {two} workers"
        f" | {two} workers / {one} (goal >= {GOAL_RATIO:.2f}) |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for load, label in LOADS.items():
        ratio = medianRatio(figures, load)
        verdict = (
            "-" if ratio is None else f"{times(ratio)}: {goal(ratio >= GOAL_RATIO)}"
        )
        rows.append(
            f"| {label} | {_cell(figures, key(load, one, 'rate'))}"
            f" | {_cell(figures, key(load, two, 'rate'))} | {_busy(figures, load)}"
            f" | {_cell(figures, key(load, one, 'per_cpu_s'))}"
            f" | {_cell(figures, key(load, two, 'per_cpu_s'))} | {verdict} |"
        )
    return "\n".join(rows)


def spreadTable(figures: dict[str, float]) -> str:
    """
    The connections of the connect load to 2 workers, each worker's share
    and the largest deviation from an even split.
    """
    most = max(WORKER_COUNTS)
    shares = workerShares(figures)
    deviation = figures.get("spread/deviation_pct")
    heads = [f"worker {w}" for w in range(1, most + 1)]
    heads.append(
        f"largest deviation from an even split (goal <= {GOAL_DEVIATION_PCT:g}%)"
    )
    cells = [
        f"{shares[w] * 100:.1f}%" if w in shares else "-" for w in range(1, most + 1)
    ]
    verdict = (
        "-"
        if deviation is None
        else f"{deviation:.1f}%: {goal(deviation <= GOAL_DEVIATION_PCT)}"
    )
    return "\n".join(
        [
            f"| connections to {most} workers | " + " | ".join(heads) + " |",
            "|---:|" + "---:|" * most + "---|",
            f"| {_cell(figures, 'spread/connections')} | "
            + " | ".join(cells)
            + f" | {verdict} |",
        ]
    )


def workersNotes(settings: Settings) -> str:
    """How to read the workers tables, as a markdown list."""
    one, two = WORKER_COUNTS
    items = [
        f"sockplug's echo with --workers {one} (one process) and --workers {two}"
        f" (a supervisor and {two} workers, each with its own SO_REUSEPORT"
        " socket on the same port), both with --metrics on a UNIX socket,"
        " started together each repetition; each load runs against one then"
        " the other, next to each other in time. The loads are those of the"
        f" cases {', '.join(LOADS)} (rate: messages/s; connections/s for"
        " connect).",
        "Every thread of every server process (supervisor and workers) is"
        f" pinned to CPU {settings.serverCpu}, the load generator to CPU"
        f" {settings.loadCpu}, as in the other cases: the {two} workers share"
        " one CPU, so this compares how much CPU a message costs, not what"
        " extra cores add (on one CPU the rate cannot grow much; the figure"
        " that matters is messages per server CPU-second).",
        "Messages per server CPU-second: the load generator's rate divided by"
        " the CPU time of every server process (from"
        " /proc/PID/task/*/schedstat, the workers found as the supervisor's"
        " children) per second of the measured window. The ratio is"
        f" {two} workers over {one}, of the medians; the median of the ratios"
        " of each repetition's pair is in the JSON as LOAD/paired_ratio.",
        f"Spread: the supervisor's /metrics (sockplug_connections_total, one"
        f" sample per worker label), read before and after the {SPREAD_LOAD}"
        f" load against {two} workers; the deviation is the largest distance of"
        " a worker's count from an even split, in percent of the even split.",
    ]
    return "\n".join(f"- {item}" for item in items)


def workersSection(
    summaries: dict[tuple[str, str], Summary], settings: Settings, level: str
) -> list[str]:
    """
    The workers case's part of the results (its title, tables and notes),
    or nothing if it did not run.
    """
    summary = summaries.get((WORKERS, "sockplug"))
    if summary is None:
        return []
    title = f"{level} Workers: --workers {max(WORKER_COUNTS)} against 1"
    if not summary.runs:
        return [title, "Every run failed (see Problems)."]
    return [
        title,
        efficiencyTable(summary.figures),
        spreadTable(summary.figures),
        workersNotes(settings),
    ]


def describeWorkers(figures: dict[str, float]) -> str:
    """A workers run in one line: each load's rates and ratio, the spread."""
    most = max(WORKER_COUNTS)
    parts = []
    for load in LOADS:
        rates = [
            f"{w}w {number(figures[key(load, w, 'rate')])}/s"
            for w in WORKER_COUNTS
            if key(load, w, "rate") in figures
        ]
        ratio = figures.get(f"{load}/paired_ratio")
        per = f", per CPU-s {most}w/1w {ratio:.2f}" if ratio is not None else ""
        parts.append(f"{load} {' '.join(rates)}{per}")
    shares = workerShares(figures)
    if shares:
        split = "/".join(f"{s * 100:.1f}" for s in shares.values())
        parts.append(f"spread {split}% (off by {figures['spread/deviation_pct']:.1f}%)")
    return "; ".join(parts)
