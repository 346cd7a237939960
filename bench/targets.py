# -*- test-case-name: tests.test_bench_servers -*-
"""
The servers under test: the command that starts each for a case, and a
context manager that starts one pinned to its CPU, waits (with a bound)
until it listens, and always stops it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from bench.cases import Case
from bench.procs import ProcessError, pin, readLine, spawn, stop, waitFor

START_TIMEOUT = 30.0
# The file line-print writes to, in each server's folder.
LINE_OUTPUT = "lines.txt"
HOST = "127.0.0.1"
# Raised for the idle-memory case only: documented limits, not costs.
IDLE_LIMIT = 20000
# sockplug's reply rate limit (100 replies/s per source address by
# default) is raised for the udp case, where every datagram comes from
# 127.0.0.1: the token bucket still runs and is paid for.
UDP_LIMITS = "replyrate=1000000:replyburst=1000000"

_LISTENING = re.compile(
    r"\[sockplug\.server\._service#info\] \S+ listening on .* \((?P<address>[^()]*)\)$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class Tools:
    """Where the programs the benchmark runs are."""

    python: str
    twistd: str
    loadgen: str
    cecho: str
    serversDir: str

    @classmethod
    def find(cls, binaries: dict[str, str]) -> Tools:
        """
        The tools of this Python (C{twistd} next to C{sys.executable}) and
        the built C programs C{binaries}.
        """
        here = os.path.dirname(os.path.abspath(__file__))
        return cls(
            python=sys.executable,
            twistd=os.path.join(os.path.dirname(sys.executable), "twistd"),
            loadgen=binaries["loadgen"],
            cecho=binaries["cecho"],
            serversDir=os.path.join(here, "servers"),
        )


def uvloopInstalled() -> bool:
    """Whether uvloop can be imported here (the servers use this Python)."""
    return importlib.util.find_spec("uvloop") is not None


@dataclass(frozen=True)
class Launch:
    """
    How to start one server: its command, and where it says it listens
    (C{log}: a twistd log file; else its first line of standard output).
    """

    argv: list[str]
    log: str | None = None


def _where(case: Case, workdir: str, name: str) -> tuple[str, str]:
    """The address flag and value for the servers taking C{--tcp} etc."""
    if case.transport == "unix":
        return "--unix", os.path.join(workdir, name + ".sock")
    return "--" + case.transport, f"{HOST}:0"


def sockplugEndpoint(case: Case, workdir: str) -> str:
    """sockplug's endpoint string for C{case}."""
    if case.transport == "unix":
        return "unix:" + os.path.join(workdir, "sockplug.sock")
    if case.transport == "udp":
        return f"udp:0:interface={HOST}:{UDP_LIMITS}"
    if case.kind == "idle":
        return f"tcp:0:interface={HOST}:maxpersource={IDLE_LIMIT}"
    return f"tcp:0:interface={HOST}"


def lineConfig(output: str) -> str:
    """The configuration file serving line-print into C{output}."""
    return (
        "[listeners.lines]\n"
        f'endpoint = "tcp:0:interface={HOST}"\n'
        'protocol = "line-print"\n'
        f"output = {_tomlString(output)}\n"
    )


def _tomlString(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def launch(
    server: str, case: Case, workdir: str, tools: Tools, lineOutput: str = ""
) -> Launch:
    """
    How to start C{server} for C{case}, its files in C{workdir};
    C{lineOutput} is the file line-print cases write to.
    """
    if server == "sockplug":
        log = os.path.join(workdir, "sockplug.log")
        argv = [tools.twistd, "-n", "--pidfile=", f"--logfile={log}", "sockplug"]
        if case.kind == "lines":
            config = os.path.join(workdir, "lines.toml")
            with open(config, "w") as f:
                f.write(lineConfig(lineOutput))
            argv += ["--config", config]
        else:
            argv += ["--endpoint", sockplugEndpoint(case, workdir)]
        if case.kind == "idle":
            argv += ["--max-connections", str(IDLE_LIMIT)]
        return Launch(argv, log)
    flag, value = _where(case, workdir, server)
    if server == "c":
        return Launch([tools.cecho, flag, value])
    script = "asyncio_echo.py" if server in ("asyncio", "uvloop") else "twisted_echo.py"
    extra = ["--uvloop"] if server == "uvloop" else []
    if case.kind == "lines":
        script, extra = "twisted_lines.py", ["--lines-to", lineOutput]
    return Launch(
        [tools.python, os.path.join(tools.serversDir, script), *extra, flag, value]
    )


@dataclass(frozen=True)
class Listening:
    """
    A running server and its address.

    @ivar workers: the pids of its worker processes, if it has any (its
        process is then their supervisor).
    """

    process: subprocess.Popen[bytes]
    address: str
    workers: tuple[int, ...] = ()

    def pids(self) -> tuple[int, ...]:
        """Every process of this server: its own, and its workers'."""
        return (self.process.pid, *self.workers)

    def loadgenArgs(self) -> list[str]:
        """The load generator's options naming this server's address."""
        if self.address.startswith("/"):
            return ["--unix", self.address]
        host, _, port = self.address.rpartition(":")
        return ["--host", host, "--port", port]


def _logAddress(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            match = _LISTENING.search(f.read())
    except FileNotFoundError:
        return None
    return match["address"] if match else None


def _tail(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [line.strip() for line in f if line.strip()]
    except FileNotFoundError:
        return ""
    return f": {lines[-1]}" if lines else ""


@dataclass(frozen=True)
class Starting:
    """A server process started, not yet known to listen."""

    server: str
    process: subprocess.Popen[bytes]
    launch: Launch
    errors: str


def start(
    server: str, case: Case, workdir: str, tools: Tools, *, lineOutput: str = ""
) -> Starting:
    """
    Start C{server} for C{case}, its files in C{workdir}, on any CPU (it
    is pinned once it listens, by L{waitListening}).
    """
    how = launch(server, case, workdir, tools, lineOutput)
    errors = os.path.join(workdir, server + ".stderr")
    with open(errors, "wb") as stderr:
        process = spawn(
            how.argv,
            None,
            stdout=subprocess.DEVNULL if how.log else subprocess.PIPE,
            stderr=stderr,
        )
    return Starting(server, process, how, errors)


def waitListening(starting: Starting, deadline: float, cpu: int) -> Listening:
    """
    Wait until C{starting} listens (or the C{time.monotonic()}
    C{deadline}), then pin all its threads to C{cpu}.

    @raise ProcessError: if it ends or does not listen in time.
    """
    process, log = starting.process, starting.launch.log
    try:
        if log is not None:
            address = waitFor(
                lambda: _logAddress(log), process, deadline, "listening log line"
            )
        else:
            line = readLine(process, deadline)
            if not line.startswith("listening "):
                raise ProcessError(f"said {line!r}, not listening ...")
            path = line.partition(" ")[2]
            address = path if path.startswith("/") else f"{HOST}:{path}"
        pin(process.pid, cpu)
    except ProcessError as e:
        raise ProcessError(f"{starting.server}: {e}{_tail(starting.errors)}") from None
    return Listening(process, address)


@contextlib.contextmanager
def runningAll(
    case: Case, workdirs: Mapping[str, str], tools: Tools, cpu: int
) -> Iterator[dict[str, Listening | ProcessError]]:
    """
    Start the servers named by C{workdirs} (each with its files in its
    folder) for C{case} all at once, wait until each listens, pin them to
    C{cpu}, and stop them all when the block ends, however it ends. Yields
    each server's L{Listening}, or the L{ProcessError} saying why it is
    not listening.

    Starting them together saves the benchmark a start-up per server: they
    start on any CPU, and are pinned (every thread) before any traffic.
    """
    started: list[Starting] = []
    try:
        for server, workdir in workdirs.items():
            output = os.path.join(workdir, LINE_OUTPUT)
            started.append(start(server, case, workdir, tools, lineOutput=output))
        deadline = time.monotonic() + START_TIMEOUT
        results: dict[str, Listening | ProcessError] = {}
        for starting in started:
            try:
                results[starting.server] = waitListening(starting, deadline, cpu)
            except ProcessError as e:
                results[starting.server] = e
        yield results
    finally:
        for starting in started:
            stop(starting.process)
