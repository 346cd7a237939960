# -*- test-case-name: tests.test_bench_cli -*-
"""
C{python -m bench}: build the C programs, run the cases, print and write the
results; C{--readme} copies the latest results into the README.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import NoReturn

from bench.build import BuildError, build
from bench.cases import CASES, SERVERS, Case, Settings
from bench.machine import machineInfo, machineLine
from bench.plot import loadPyplot, plotRatios
from bench.procs import pickCpus, raiseFileLimit
from bench.report import (
    ReportError,
    document,
    rawResults,
    rewriteReadme,
    settingsLine,
    writeResults,
)
from bench.runner import runAll
from bench.stats import summarize
from bench.targets import Tools

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.join(ROOT, "bench")


class UsageError(Exception):
    """A bad command line; one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _positive(kind: type[int] | type[float]) -> argparse._ActionType:
    def check(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} is not above 0")
        return value

    return check


def parseArgs(argv: Sequence[str]) -> argparse.Namespace:
    """
    The command line.

    @raise UsageError: if it is wrong.
    """
    parser = _Parser(
        prog="python -m bench",
        description="Benchmark sockplug against bare Twisted, asyncio, uvloop"
        " and a C epoll echo server.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1 run of 0.5 s per case, fewer connections",
    )
    parser.add_argument(
        "--case",
        action="append",
        choices=[case.name for case in CASES],
        metavar="NAME",
        help="run this case (repeatable; default: all): "
        + ", ".join(case.name for case in CASES),
    )
    parser.add_argument(
        "--server",
        action="append",
        choices=SERVERS,
        metavar="NAME",
        help="run against this server (repeatable; default: all): "
        + ", ".join(SERVERS),
    )
    parser.add_argument(
        "--repeat",
        type=_positive(int),
        metavar="N",
        help="runs per case and server (default 3)",
    )
    parser.add_argument(
        "--duration",
        type=_positive(float),
        metavar="S",
        help="seconds per measured window",
    )
    parser.add_argument(
        "--results",
        default=os.path.join(HERE, "results"),
        metavar="DIR",
        help="where results go (default: bench/results)",
    )
    parser.add_argument(
        "--build-dir",
        default=os.path.join(HERE, "build"),
        metavar="DIR",
        help="where the C programs are built (default: bench/build)",
    )
    parser.add_argument(
        "--readme",
        action="store_true",
        help="only copy the latest results (DIR/latest.json) into README.md",
    )
    return parser.parse_args(list(argv))


def selectedCases(names: Sequence[str] | None) -> list[Case]:
    """The cases named (in the benchmark's order), or all of them."""
    return [case for case in CASES if not names or case.name in names]


def _say(line: str) -> None:
    print(line, flush=True)


def _fail(message: str) -> int:
    print(f"bench: {message}", file=sys.stderr, flush=True)
    return 1


def main(argv: Sequence[str]) -> int:
    """Run the benchmark as C{argv} says; the exit status."""
    try:
        args = parseArgs(argv)
    except UsageError as e:
        return _fail(f"{e} (see python -m bench --help)")
    if args.readme:
        readme = os.path.join(ROOT, "README.md")
        try:
            rewriteReadme(readme, os.path.join(args.results, "latest.json"))
        except ReportError as e:
            return _fail(str(e))
        _say(f"{readme}: table rewritten from {args.results}/latest.json")
        return 0
    try:
        binaries = build(HERE, args.build_dir, os.environ)
    except BuildError as e:
        return _fail(str(e))
    tools = Tools.find(binaries)
    if not os.access(tools.twistd, os.X_OK):
        return _fail(
            f"no twistd next to {sys.executable}: run the benchmark with the"
            " Python of a venv where sockplug is installed"
        )
    raiseFileLimit()
    cpus = pickCpus()
    settings = Settings.make(args.quick, cpus, args.repeat, args.duration)
    cases = selectedCases(args.case)
    servers = args.server or list(SERVERS)
    machine = machineInfo(ROOT, os.environ)
    _say(machineLine(machine))
    _say(settingsLine(settings) + ".")
    if cpus[0] == cpus[1]:
        _say("Only one CPU: the servers and the load generator share it.")
    _say(
        "Server CPU per message: the server's /proc schedstat time over the"
        " measured window (sampled after the warm-up) per second, divided by"
        " the load generator's rate."
    )
    began = time.monotonic()
    runs = runAll(tools, cases, servers, settings, _say)
    took = time.monotonic() - began
    markdown = document(cases, runs, settings, machine)
    _say("\n" + markdown)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        paths = writeResults(
            args.results, stamp, markdown, rawResults(cases, runs, settings, machine)
        )
    except OSError as e:
        return _fail(f"cannot write the results: {e}")
    plotted = [case for case in cases if case.ratios]  # workers: none
    pyplot = loadPyplot() if plotted else None
    if plotted and pyplot is None:
        _say("matplotlib is not installed (pip install '.[bench]'): no plot.")
    elif pyplot is not None:
        pngs = [
            os.path.join(args.results, name) for name in (f"{stamp}.png", "latest.png")
        ]
        plotRatios(pyplot, plotted, summarize(runs), machineLine(machine), pngs)
        paths += pngs
    _say(f"Ran for {took:.0f} s. Written: " + ", ".join(paths))
    failed = [run for run in runs if run.error is not None]
    if failed:
        return _fail(f"{len(failed)} run(s) failed (see Problems above)")
    return 0
