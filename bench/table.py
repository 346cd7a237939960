# -*- test-case-name: tests.test_bench_stats -*-
"""
The benchmark's tables, in markdown: the medians of every case and server,
and the ratios between servers, with the notes that say how to read them.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.cases import CPU, RATE, Case, Figure, Settings
from bench.stats import PAIRS, Summary, missingReason, ratio
from bench.targets import IDLE_LIMIT, UDP_LIMITS

LABELS = {
    "sockplug": "sockplug",
    "twisted": "Twisted",
    "asyncio": "asyncio",
    "uvloop": "uvloop",
    "c": "C epoll",
}

Summaries = dict[tuple[str, str], Summary]


def number(value: float) -> str:
    """
    A figure for a table: thousands separated above 1,000, three
    significant digits below (C{12,345}, C{123}, C{12.3}, C{1.23}).
    """
    if abs(value) >= 999.5:
        return f"{value:,.0f}"
    if abs(value) >= 99.95:
        return f"{value:.0f}"
    if abs(value) >= 9.995:
        return f"{value:.1f}"
    return f"{value:.2f}"


def times(value: float) -> str:
    """A ratio for a table: C{1.23x}."""
    return f"{value:.2f}x"


def serverLabel(case: Case, server: str) -> str:
    """The name of C{server} in C{case}'s rows."""
    return case.twistedLabel if server == "twisted" else LABELS[server]


def figureLabel(case: Case, figure: Figure) -> str:
    """What C{figure} means in C{case}: C{msg/s}, C{CPU us/line}, ..."""
    if figure is RATE:
        return f"{case.unit}/s"
    if figure is CPU:
        return f"CPU us/{case.unit}"
    return figure.title


def _other(case: Case, figures: dict[str, float]) -> str:
    parts = []
    if "mb_per_s" in figures:
        parts.append(f"{number(figures['mb_per_s'])} MB/s")
    if "lost_pct" in figures:
        parts.append(f"lost {figures['lost_pct']:.2f}%")
    if "kib_per_conn" in figures:
        before, after = figures["rss_before_kib"], figures["rss_after_kib"]
        parts.append(
            f"{number(figures['kib_per_conn'])} KiB/conn"
            f" (RSS {number(before)} -> {number(after)} KiB)"
        )
    if "lines_written" in figures:
        parts.append(f"{figures['lines_written']:,.0f} lines written")
    if "startup_ms" in figures:
        parts.append(f"start-up {number(figures['startup_ms'])} ms")
    if figures.get("errors"):
        parts.append(f"{figures['errors']:,.0f} errors")
    return "; ".join(parts) or "-"


def _cell(figures: dict[str, float], key: str, scale: float = 1.0) -> str:
    return number(figures[key] * scale) if key in figures else "-"


def mediansTable(cases: Sequence[Case], summaries: Summaries) -> str:
    """One row per case and server: the medians of its figures."""
    rows = [
        "| case | server | rate (/s) | p50 (us) | p99 (us) | server CPU (us each)"
        " | server CPU busy | other |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for case in cases:
        if case.kind == "workers":  # its own table: it has no references
            continue
        for server in case.servers:
            summary = summaries.get((case.name, server))
            if summary is None:
                continue
            label = serverLabel(case, server)
            if not summary.runs:
                reason = missingReason(summaries, case.name, server)
                rows.append(f"| {case.name} | {label} | {reason} | | | | | |")
                continue
            f = summary.figures
            busy = f"{f['cpu_share'] * 100:.0f}%" if "cpu_share" in f else "-"
            rows.append(
                f"| {case.name} | {label} | {_cell(f, 'rate')} | {_cell(f, 'p50_us')}"
                f" | {_cell(f, 'p99_us')} | {_cell(f, 'cpu_us')} | {busy}"
                f" | {_other(case, f)} |"
            )
    return "\n".join(rows)


def ratioTable(cases: Sequence[Case], summaries: Summaries) -> str:
    """
    One row per case and compared figure; each cell says how many times
    better the first server did than the second (above 1: the first).
    """
    heads = [f"{LABELS[a]} vs {LABELS[b]}" for a, b in PAIRS]
    rows = [
        "| case | figure | " + " | ".join(heads) + " |",
        "|---|---|" + "---:|" * len(PAIRS),
    ]
    for case in cases:
        if case.kind == "workers" or not any(
            (case.name, s) in summaries for s in case.servers
        ):
            continue
        for figure in case.ratios:
            cells = []
            for first, second in PAIRS:
                value = ratio(summaries, case.name, figure, first, second)
                if value is not None:
                    cells.append(times(value))
                elif second not in case.servers:
                    cells.append("")
                else:
                    reasons = {
                        missingReason(summaries, case.name, s) for s in (first, second)
                    }
                    reasons.discard("n/a")
                    cells.append(", ".join(sorted(reasons)) or "n/a")
            label = figureLabel(case, figure)
            rows.append(f"| {case.name} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def notes(cases: Sequence[Case], settings: Settings) -> str:
    """How to read the tables, as a markdown list."""
    names = {case.name for case in cases}
    window = f"{settings.duration:g} s windows after {settings.warmup:g} s of warm-up"
    items = [
        "**Ratios: how many times better the first server did than the second;"
        " above 1 the first is better.** For rates that is first / second; for"
        " CPU time, memory per connection and start-up time (lower is better)"
        " it is second / first.",
        f"Medians of {settings.repeat} run(s) per case and server"
        f" (start-up: {settings.startupRepeat}); each repetition starts the"
        " case's servers afresh, together, and measures them in turn;"
        f" {window}. Servers pinned to CPU {settings.serverCpu} (every thread,"
        f" once listening), the load generator to CPU {settings.loadCpu};"
        " loopback only.",
        "Server CPU: the server's threads' time on CPU from"
        " /proc/PID/task/*/schedstat, sampled by the runner after the warm-up"
        " and just before the window ends (warm-up, connection set-up and"
        " teardown excluded), per second of traffic, divided by the rate the"
        " load generator measured; for line-print, over the whole run divided"
        ' by the lines sent. "busy" is the share of one CPU the server used.',
        "sockplug runs with its defaults (limits and counters on). Documented"
        " limits a case would hit are raised for that case only: "
        f"udp: {UDP_LIMITS.replace(':', ', ')} (default 100 replies/s per"
        " source address, and every datagram comes from 127.0.0.1);"
        f" idle-memory: maxpersource={IDLE_LIMIT} and --max-connections"
        f" {IDLE_LIMIT} (defaults 256 and 10,000).",
    ]
    twisted = [
        f"{case.name}: {case.twistedIs}"
        for case in cases
        if case.twistedIs != Case.twistedIs
    ]
    items.append(
        "Twisted is the bare Twisted echo (Protocol.dataReceived ->"
        " transport.write; DatagramProtocol) on the default reactor"
        + (f"; in {'; in '.join(twisted)}" if twisted else "")
        + ". asyncio and uvloop: asyncio.Protocol data_received ->"
        " transport.write. C epoll: bench/cecho.c."
    )
    if "startup" in names:
        items.append(
            'startup: the goal "within 1.2x of twistd web\'s time" is a ratio'
            " of at least 0.83."
        )
    if "idle-memory" in names:
        items.append("idle-memory: the goal is at most 1.5 KiB per connection.")
    return "\n".join(f"- {item}" for item in items)
