# -*- test-case-name: tests.test_bench_measure -*-
"""
One measurement of each kind: a load-generator window with the server's CPU
time over it, the memory of idle connections, a line-print run, and a
start-up time.

Server CPU time comes from C{/proc/PID/task/*/schedstat} (the first field,
nanoseconds on CPU, summed over the server's threads). For the
steady-state modes it is sampled by this runner, not inside the load
generator: once C{warmup} plus a margin after starting the load generator,
and again a margin before its window ends. The CPU time between the two
samples divided by the wall time between them is the server's CPU use per
second of steady traffic; divided by the message rate the load generator
measured over its own window, it is the CPU time per message. Warm-up,
connection set-up and teardown fall outside both samples. For the lines
mode (no warm-up, a fixed number of lines) the samples are taken just
before the load generator starts and just after it exits, and divided by
the lines it sent.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

from bench.cases import Case, Settings
from bench.procs import (
    ProcessError,
    canConnect,
    cpuNanoseconds,
    freePort,
    readLine,
    rssKib,
    spawn,
    stop,
    waitFor,
)
from bench.targets import HOST, START_TIMEOUT, Listening, Tools

# The load generator stops by itself 2 s after its window; allow more.
EXIT_SLACK = 10.0
LINES_BOUND = 120.0
QUICK_LINES_BOUND = 30.0
IDLE_BOUND = 120.0
LOADGEN_KEYS = (
    "conns",
    "seconds",
    "messages",
    "bytes",
    "rate",
    "p50_us",
    "p99_us",
    "errors",
)


class MeasureError(Exception):
    """A measurement failed; the message is one line."""


@dataclass
class Measurement:
    """
    What one measurement found.

    @ivar figures: the numbers, by key (C{rate}, C{cpu_us}, ...).
    @ivar raw: the load generator's own report, if there was one.
    @ivar warnings: what looked wrong without making the figures wrong.
    """

    figures: dict[str, float] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def loadgenCommand(
    tools: Tools, case: Case, settings: Settings, where: list[str]
) -> list[str]:
    """The load generator's command line for C{case}, against C{where}."""
    argv = [tools.loadgen, "--mode", case.mode, *where]
    argv += ["--conns", str(settings.conns(case)), "--size", str(case.size)]
    if case.transport == "udp":
        argv.append("--udp")
    if case.kind == "loadgen":
        argv += ["--inflight", str(case.inflight)]
        argv += ["--duration", str(settings.duration), "--warmup", str(settings.warmup)]
    elif case.kind == "lines":
        bound = QUICK_LINES_BOUND if settings.quick else LINES_BOUND
        argv += ["--lines", str(settings.lines(case)), "--duration", str(bound)]
        argv += ["--warmup", "0"]
    else:
        argv += ["--duration", str(IDLE_BOUND)]
    return [*argv, "--cpu", str(settings.loadCpu)]


def parseReport(stdout: str) -> dict[str, Any]:
    """
    The load generator's report: its one JSON line.

    @raise MeasureError: if there is none, or it lacks a key.
    """
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise MeasureError("the load generator printed no report")
    try:
        report = json.loads(lines[-1])
    except ValueError:
        raise MeasureError(f"the load generator printed {lines[-1]!r}") from None
    if not isinstance(report, dict):
        raise MeasureError(f"the load generator printed {lines[-1]!r}")
    missing = [key for key in LOADGEN_KEYS if key not in report]
    if missing:
        raise MeasureError(f"the load generator's report lacks {', '.join(missing)}")
    return report


def checkReport(case: Case, report: dict[str, Any]) -> list[str]:
    """
    What looks wrong in a load generator C{report} for C{case}: errors it
    counted, and bytes that do not match messages of the case's size.
    """
    warnings = []
    if report["errors"]:
        warnings.append(f"the load generator counted {report['errors']} errors")
    if case.mode in ("stream", "bulk", "udp") and report["messages"]:
        expected = report["messages"] * case.size
        slack = max(0.02 * expected, case.size * case.inflight * report["conns"])
        if abs(report["bytes"] - expected) > slack:
            warnings.append(
                f"{report['bytes']} bytes for {report['messages']} messages"
                f" of {case.size} bytes"
            )
    return warnings


def figuresOf(case: Case, report: dict[str, Any]) -> dict[str, float]:
    """The figures a load generator C{report} gives for C{case}."""
    keys = ["rate", "messages", "bytes", "errors"]
    if case.mode != "lines":  # no latency: lines are not answered
        keys += ["p50_us", "p99_us"]
    figures = {key: float(report[key]) for key in keys}
    figures["seconds"] = float(report["seconds"])
    if case.mode == "bulk" and report["seconds"]:
        figures["mb_per_s"] = report["bytes"] / report["seconds"] / 1e6
    if case.transport == "udp":
        lost = float(report.get("lost", 0))
        figures["lost"] = lost
        sent = report["messages"] + lost
        figures["lost_pct"] = 100.0 * lost / sent if sent else 0.0
    return figures


def _sleepUntil(moment: float, process: subprocess.Popen[bytes]) -> bool:
    """Sleep until C{moment}; C{False} if C{process} ended first."""
    while True:
        left = moment - time.monotonic()
        if process.poll() is not None:
            return False
        if left <= 0:
            return True
        time.sleep(min(left, 0.05))


def _finish(process: subprocess.Popen[bytes], timeout: float) -> str:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(process)
        raise MeasureError(
            f"the load generator did not end within {timeout} s"
        ) from None
    if process.returncode != 0:
        message = err.decode("utf-8", "replace").strip().splitlines()
        raise MeasureError(
            f"the load generator exited with status {process.returncode}"
            + (f": {message[-1]}" if message else "")
        )
    return out.decode("utf-8", "replace")


def serverCpu(server: Listening) -> int:
    """
    The CPU time of every process of C{server} (its workers too), in
    nanoseconds.

    @raise ProcessError: if one is gone.
    """
    return sum(cpuNanoseconds(pid) for pid in server.pids())


def measureLoad(
    tools: Tools, case: Case, settings: Settings, server: Listening
) -> Measurement:
    """
    Run the load generator once against C{server}, sampling the CPU time
    of its every process.
    """
    argv = loadgenCommand(tools, case, settings, server.loadgenArgs())
    margin = min(0.05, settings.duration / 10)
    start = time.monotonic()
    process = spawn(
        argv, settings.loadCpu, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        inWindow = _sleepUntil(start + settings.warmup + margin, process)
        cpuA, timeA = serverCpu(server), time.monotonic()
        inWindow = inWindow and _sleepUntil(
            start + settings.warmup + settings.duration - margin, process
        )
        cpuB, timeB = serverCpu(server), time.monotonic()
        out = _finish(process, settings.warmup + settings.duration + EXIT_SLACK)
    finally:
        stop(process)
    report = parseReport(out)
    result = Measurement(figuresOf(case, report), report, checkReport(case, report))
    if not report["messages"]:
        raise MeasureError("no message completed in the window")
    if not inWindow:
        result.warnings.append("the load generator ended early: no CPU figure")
        return result
    share = (cpuB - cpuA) / 1e9 / (timeB - timeA)
    result.figures["cpu_share"] = share
    result.figures["cpu_us"] = share * 1e6 / report["rate"]
    return result


def countLines(path: str) -> int:
    """The number of LF-terminated lines in the file at C{path}."""
    count = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            count += block.count(b"\n")
    return count


def measureLines(
    tools: Tools, case: Case, settings: Settings, server: Listening
) -> Measurement:
    """
    Send the case's lines to C{server}, with its CPU time over the whole
    load generator run; the lines written are counted by the caller once
    the server has stopped.
    """
    pid = server.process.pid
    argv = loadgenCommand(tools, case, settings, server.loadgenArgs())
    bound = QUICK_LINES_BOUND if settings.quick else LINES_BOUND
    cpuA = cpuNanoseconds(pid)
    process = spawn(
        argv, settings.loadCpu, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out = _finish(process, bound + EXIT_SLACK)
    finally:
        stop(process)
    cpuB = cpuNanoseconds(pid)
    report = parseReport(out)
    result = Measurement(figuresOf(case, report), report, checkReport(case, report))
    if not report["messages"]:
        raise MeasureError("no line was sent")
    result.figures["cpu_us"] = (cpuB - cpuA) / 1e3 / report["messages"]
    return result


def measureIdle(
    tools: Tools, case: Case, settings: Settings, server: Listening
) -> Measurement:
    """
    The server's resident memory before and while the case's idle
    connections are open, and the growth per connection.
    """
    pid = server.process.pid
    conns = settings.conns(case)
    before = rssKib(pid)
    argv = loadgenCommand(tools, case, settings, server.loadgenArgs())
    process = spawn(
        argv,
        settings.loadCpu,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        line = readLine(process, time.monotonic() + IDLE_BOUND)
        if line != f"ready {conns}":
            raise MeasureError(f"the load generator said {line!r}, not 'ready {conns}'")
        after = rssKib(pid)
        _finish(process, EXIT_SLACK)  # closes its standard input: it ends
    except ProcessError as e:
        raise MeasureError(f"the load generator: {e}") from None
    finally:
        stop(process)
    return Measurement(
        {
            "rss_before_kib": float(before),
            "rss_after_kib": float(after),
            "kib_per_conn": (after - before) / conns,
            "conns": float(conns),
        }
    )


def startupCommand(server: str, tools: Tools, port: int) -> list[str]:
    """The command whose start-up is timed: sockplug, or twistd web."""
    endpoint = f"tcp:{port}:interface={HOST}"
    if server == "sockplug":
        return [tools.twistd, "-n", "--pidfile=", "sockplug", "--endpoint", endpoint]
    return [tools.twistd, "-n", "--pidfile=", "web", "--listen", endpoint]


def measureStartup(
    tools: Tools, server: str, settings: Settings, workdir: str
) -> Measurement:
    """
    The time from starting C{server}'s twistd to its first accepted TCP
    connection, polled every 5 ms.
    """
    port = freePort()
    argv = startupCommand(server, tools, port)
    errors = os.path.join(workdir, f"startup-{server}.stderr")
    with open(errors, "wb") as stderr:
        start = time.monotonic()
        process = spawn(argv, settings.serverCpu, stderr=stderr, cwd=workdir)
    try:
        waitFor(
            lambda: "yes" if canConnect(HOST, port) else None,
            process,
            start + START_TIMEOUT,
            "accepted connection",
        )
        elapsed = time.monotonic() - start
    except ProcessError as e:
        raise MeasureError(f"{server}: {e}") from None
    finally:
        stop(process)
    return Measurement({"startup_ms": elapsed * 1e3})
