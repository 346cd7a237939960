# -*- test-case-name: tests.test_bench_cli -*-
"""
The benchmark's results: the markdown document of its tables, the JSON of
every run, where they are written, and the README's copy of the tables.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from bench.cases import Case, Settings, caseNamed
from bench.machine import machineLine
from bench.stats import Run, summarize
from bench.table import mediansTable, notes, ratioTable
from bench.workerscase import WORKERS, workersResults
from bench.workerstable import workersSection

BEGIN = "<!-- bench-table -->"
END = "<!-- /bench-table -->"


class ReportError(Exception):
    """The results or the README cannot be read or written; one line."""


def settingsLine(settings: Settings) -> str:
    """The mode and its settings in a few words."""
    mode = "quick mode" if settings.quick else "full mode"
    return (
        f"{mode}: {settings.repeat} run(s) per case and server, {settings.duration:g} s"
        f" windows after {settings.warmup:g} s of warm-up"
    )


def tables(
    cases: Sequence[Case], runs: Sequence[Run], settings: Settings, level: str = "##"
) -> str:
    """
    The ratio table, the medians table and the notes, in markdown (if
    a case against the references ran), then the workers case's tables.
    """
    summaries = summarize(runs)
    others = [case for case in cases if case.kind != "workers"]
    parts = []
    if others:
        parts += [
            f"{level} Ratios",
            ratioTable(others, summaries),
            f"{level} Medians",
            mediansTable(others, summaries),
            f"{level} Notes",
            notes(others, settings),
        ]
    parts += workersSection(summaries, settings, level)
    problems = [
        f"- {run.case} against {run.server}, run {run.rep + 1}: {problem}"
        for run in runs
        for problem in ([run.error] if run.error else []) + run.warnings
    ]
    if problems:
        parts += [f"{level} Problems", "\n".join(problems)]
    return "\n\n".join(parts) + "\n"


def document(
    cases: Sequence[Case],
    runs: Sequence[Run],
    settings: Settings,
    machine: Mapping[str, str],
) -> str:
    """The results as a markdown document."""
    return (
        "# sockplug benchmark\n\n"
        f"{machineLine(machine)}\n\n{settingsLine(settings)}.\n\n"
        + tables(cases, runs, settings)
    )


def rawResults(
    cases: Sequence[Case],
    runs: Sequence[Run],
    settings: Settings,
    machine: Mapping[str, str],
) -> dict[str, Any]:
    """
    Everything measured, for the JSON file; with the workers case, its
    ratios and goals too (C{workers}).
    """
    summaries = summarize(runs)
    raw = {
        "machine": dict(machine),
        "settings": dataclasses.asdict(settings),
        "cases": [dataclasses.asdict(case) for case in cases],
        "runs": [dataclasses.asdict(run) for run in runs],
        "medians": [dataclasses.asdict(summary) for summary in summaries.values()],
    }
    workers = summaries.get((WORKERS, "sockplug"))
    if workers is not None:
        raw["workers"] = workersResults(workers)
    return raw


def writeResults(
    folder: str, stamp: str, markdown: str, raw: Mapping[str, Any]
) -> list[str]:
    """
    Write C{stamp.md}, C{stamp.json}, C{latest.md} and C{latest.json} into
    C{folder} (made if need be).

    @return: the paths written.
    """
    os.makedirs(folder, exist_ok=True)
    text = json.dumps(raw, indent=1) + "\n"
    paths = []
    for name, content in (
        (f"{stamp}.md", markdown),
        (f"{stamp}.json", text),
        ("latest.md", markdown),
        ("latest.json", text),
    ):
        path = os.path.join(folder, name)
        with open(path, "w") as f:
            f.write(content)
        paths.append(path)
    return paths


def loadResults(path: str) -> tuple[list[Case], list[Run], Settings, dict[str, str]]:
    """
    Read back a results JSON file.

    @raise ReportError: if it is missing or not one of ours.
    """
    try:
        with open(path) as f:
            raw = json.load(f)
        cases = [caseNamed(case["name"]) for case in raw["cases"]]
        runs = [Run(**run) for run in raw["runs"]]
        settings = Settings(**raw["settings"])
        machine = {str(k): str(v) for k, v in raw["machine"].items()}
    except FileNotFoundError:
        raise ReportError(f"no results in {path}: run python -m bench first") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ReportError(f"{path} is not a benchmark results file: {e}") from None
    return cases, runs, settings, machine


def readmeBlock(
    cases: Sequence[Case],
    runs: Sequence[Run],
    settings: Settings,
    machine: Mapping[str, str],
) -> str:
    """The README's copy of the results, between its markers."""
    return (
        f"{BEGIN}\n"
        f"Measured on {machineLine(machine)}; {settingsLine(settings)}.\n\n"
        + tables(cases, runs, settings, level="###")
        + f"{END}"
    )


def replaceBlock(text: str, block: str) -> str:
    """
    C{text} with what lies between its markers (the markers included)
    replaced by C{block}.

    @raise ReportError: if the markers are missing or out of order.
    """
    start = text.find(BEGIN)
    end = text.find(END, start + 1) if start >= 0 else -1
    if start < 0 or end < 0:
        raise ReportError(f"the README has no {BEGIN} ... {END} markers")
    return text[:start] + block + text[end + len(END) :]


def rewriteReadme(readme: str, results: str) -> None:
    """
    Rewrite the table between the markers of the README at C{readme} from
    the results file C{results}.

    @raise ReportError: if either cannot be read, or the markers are missing.
    """
    block = readmeBlock(*loadResults(results))
    try:
        with open(readme) as f:
            text = f.read()
        new = replaceBlock(text, block)
        with open(readme, "w") as f:
            f.write(new)
    except OSError as e:
        raise ReportError(f"cannot rewrite {readme}: {e}") from None
