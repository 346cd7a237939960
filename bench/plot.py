# -*- test-case-name: tests.test_bench_cli -*-
"""
The plot of the ratios: for each case and compared figure, how many times
better sockplug did than each reference, with a line at 1.0.
"""

from __future__ import annotations

import importlib
import textwrap
from collections.abc import Sequence
from typing import Any

from bench.cases import Case
from bench.stats import Summary, ratio
from bench.table import LABELS, figureLabel

REFERENCES = ("twisted", "asyncio", "uvloop", "c")
TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)


def loadPyplot() -> Any | None:
    """matplotlib's pyplot on the Agg backend, or C{None} if not installed."""
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError:
        return None
    matplotlib.use("Agg")
    return importlib.import_module("matplotlib.pyplot")


def plotRatios(
    pyplot: Any,
    cases: Sequence[Case],
    summaries: dict[tuple[str, str], Summary],
    title: str,
    paths: Sequence[str],
) -> None:
    """
    Draw the ratios of sockplug to each reference as grouped bars, one
    group per case and figure, on a log scale with a line at 1.0, and save
    the picture to each of C{paths}.
    """
    groups = [
        (case, figure)
        for case in cases
        for figure in case.ratios
        if (case.name, "sockplug") in summaries
    ]
    width = 0.8 / len(REFERENCES)
    everything: list[float] = []
    figure_, axes = pyplot.subplots(figsize=(max(8.0, 1.1 * len(groups) + 2), 5.5))
    for i, reference in enumerate(REFERENCES):
        xs, heights = [], []
        for x, (case, figure) in enumerate(groups):
            value = ratio(summaries, case.name, figure, "sockplug", reference)
            if value:  # a zero has no place on a log scale
                everything.append(value)
                xs.append(x - 0.4 + width * (i + 0.5))
                heights.append(value)
        if xs:
            axes.bar(xs, heights, width, label=f"vs {LABELS[reference]}")
    axes.axhline(1.0, color="black", linewidth=1)
    axes.set_yscale("log")
    if everything:
        low, high = min(everything), max(everything)
        ticks = [t for t in TICKS if low / 2 <= t <= high * 2]
        axes.set_yticks(ticks, [f"{t:g}x" for t in ticks])
        axes.minorticks_off()
    axes.set_xticks(range(len(groups)))
    axes.set_xticklabels(
        [f"{case.name}\n{figureLabel(case, figure)}" for case, figure in groups],
        fontsize=8,
    )
    axes.set_ylabel("how many times better sockplug did (>1: sockplug better)")
    # The machine line is long: wrapped, so that none of it is cut off.
    wrapped = "\n".join(textwrap.wrap(title, 110))
    axes.set_title(f"sockplug against each reference, per case\n{wrapped}", fontsize=8)
    axes.legend(fontsize=8)
    figure_.tight_layout()
    for path in paths:
        figure_.savefig(path, dpi=110)
    pyplot.close(figure_)
