# -*- test-case-name: tests.test_bench_stats -*-
"""
The runs of a benchmark, their medians per case and server, and the ratios
between servers.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.cases import Figure

# The ratios reported: sockplug against each reference, and bare Twisted
# against each other one (the issue's own table).
PAIRS = (
    ("sockplug", "twisted"),
    ("sockplug", "asyncio"),
    ("sockplug", "uvloop"),
    ("sockplug", "c"),
    ("twisted", "asyncio"),
    ("twisted", "uvloop"),
    ("twisted", "c"),
)


@dataclass
class Run:
    """
    One run of one case against one server.

    @ivar error: why it failed, or C{None}.
    @ivar skipped: why it was not run (uvloop not installed), or C{None}.
    """

    case: str
    server: str
    rep: int
    figures: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    skipped: str | None = None
    warnings: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class Summary:
    """
    The runs of one case against one server, summed up: the median of each
    figure over the runs that succeeded.
    """

    case: str
    server: str
    figures: dict[str, float] = field(default_factory=dict)
    runs: int = 0
    failed: int = 0
    skipped: str | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def median(values: Sequence[float]) -> float:
    """The median of C{values} (the mean of the middle two for an even count)."""
    if not values:
        raise ValueError("the median of nothing")
    return float(statistics.median(values))


def summarize(runs: Iterable[Run]) -> dict[tuple[str, str], Summary]:
    """Sum up C{runs} per case and server, keeping the order they came in."""
    summaries: dict[tuple[str, str], Summary] = {}
    values: dict[tuple[str, str], dict[str, list[float]]] = {}
    for run in runs:
        key = (run.case, run.server)
        summary = summaries.setdefault(key, Summary(run.case, run.server))
        figures = values.setdefault(key, {})
        summary.warnings += [w for w in run.warnings if w not in summary.warnings]
        if run.skipped is not None:
            summary.skipped = run.skipped
        elif run.error is not None:
            summary.failed += 1
            summary.errors.append(run.error)
        else:
            summary.runs += 1
            for name, value in run.figures.items():
                figures.setdefault(name, []).append(value)
    for key, figures in values.items():
        summaries[key].figures = {name: median(v) for name, v in figures.items()}
    return summaries


def better(first: float, second: float, figure: Figure) -> float | None:
    """
    How many times better C{first} is than C{second} at C{figure}:
    C{first / second} when higher is better, C{second / first} when lower
    is; above 1 the first is better. C{None} when it cannot be said (a
    negative value, or a division by zero).
    """
    if first < 0 or second < 0:
        return None
    top, bottom = (first, second) if figure.higherIsBetter else (second, first)
    return top / bottom if bottom else None


def ratio(
    summaries: dict[tuple[str, str], Summary],
    case: str,
    figure: Figure,
    first: str,
    second: str,
) -> float | None:
    """
    How many times better server C{first} did than C{second} at C{figure}
    in C{case}, from their medians; C{None} if either has no such median.
    """
    a = summaries.get((case, first))
    b = summaries.get((case, second))
    if a is None or b is None:
        return None
    x = a.figures.get(figure.key)
    y = b.figures.get(figure.key)
    if x is None or y is None:
        return None
    return better(x, y, figure)


def missingReason(
    summaries: dict[tuple[str, str], Summary], case: str, server: str
) -> str:
    """
    Why C{server} has no figure in C{case}: C{not installed}, C{failed},
    or C{not run}.
    """
    summary = summaries.get((case, server))
    if summary is None:
        return "not run"
    if summary.skipped is not None:
        return summary.skipped
    if summary.failed and not summary.runs:
        return "failed"
    return "n/a"
