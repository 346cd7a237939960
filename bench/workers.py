# -*- test-case-name: tests.test_bench_workers -*-
"""
sockplug with C{--workers N} for the benchmark's workers case: its command,
waiting until it listens and every worker serves, the pids of the
supervisor's workers, stopping it and checking that no worker is left, and
how the kernel spread connections over the workers, from the counters the
supervisor's C{/metrics} merges with a C{worker} label.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from prometheus_client.parser import text_string_to_metric_families

from bench.procs import POLL_INTERVAL, ProcessError, pin, spawn, stop, waitFor
from bench.targets import HOST, START_TIMEOUT, Listening, Tools

# The worker counts compared, in the order they are measured.
WORKER_COUNTS = (1, 2)
# The counter whose samples, one per worker, show the spread.
CONNECTIONS = "sockplug_connections_total"
SCRAPE_TIMEOUT = 10.0
# The supervisor stops its workers, each within its --shutdown-timeout.
SUPERVISOR_STOP_TIMEOUT = 15.0
LEFTOVER_TIMEOUT = 5.0

_ADDRESS = re.compile(
    r"\[sockplug\.(?:server\._service|workers\._supervisor)#info\] \S+ listening on .*"
    r" \((?P<address>[^()]*)\)$",
    re.MULTILINE,
)
_SERVING = re.compile(
    r"\[sockplug\.workers\._supervisor#info\]"
    r" worker (?P<worker>\d+) \(pid \d+\) is serving$",
    re.MULTILINE,
)
_METRICS = re.compile(
    r"\[sockplug\.(?:metrics\._prometheus#info\] metrics and status page"
    r"|workers\._site#info\] metrics of the workers) listening on unix:",
)


def workersCommand(tools: Tools, workers: int, workdir: str) -> list[str]:
    """
    The command of sockplug's echo on a TCP port of its choosing with
    C{--workers} C{workers}, its log and C{--metrics} socket in C{workdir}.
    """
    return [
        tools.twistd,
        "-n",
        "--pidfile=",
        f"--logfile={logPath(workdir, workers)}",
        "sockplug",
        "--endpoint",
        f"tcp:0:interface={HOST}",
        "--workers",
        str(workers),
        "--metrics",
        "unix:" + metricsPath(workdir, workers),
    ]


def logPath(workdir: str, workers: int) -> str:
    """Where the sockplug with C{workers} workers logs."""
    return os.path.join(workdir, f"sockplug-{workers}.log")


def metricsPath(workdir: str, workers: int) -> str:
    """The UNIX socket of the C{--metrics} of the sockplug with C{workers}."""
    return os.path.join(workdir, f"metrics-{workers}.sock")


def readyAddress(log: str, workers: int) -> str | None:
    """
    The address sockplug listens on once its C{log} says it is ready: its
    echo listener listens, its metrics endpoint too, and (with more than
    one worker) every worker serves. C{None} until then.
    """
    address = _ADDRESS.search(log)
    if address is None or _METRICS.search(log) is None:
        return None
    if workers > 1:
        serving = {int(m["worker"]) for m in _SERVING.finditer(log)}
        if serving != set(range(1, workers + 1)):
            return None
    return address["address"]


def _readLog(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def _readyFromLog(path: str, workers: int) -> str | None:
    return readyAddress(_readLog(path), workers)


def children(pid: int) -> list[int]:
    """The child processes of process C{pid}, from C{/proc}."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return found
    for task in tasks:
        with (
            contextlib.suppress(FileNotFoundError),
            open(f"/proc/{pid}/task/{task}/children") as f,
        ):
            found += [int(child) for child in f.read().split()]
    return sorted(found)


def parseStartTime(stat: str) -> tuple[str, int]:
    """
    The state and start time (in clock ticks since boot) from the text of
    a C{/proc/PID/stat} file.
    """
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


@dataclass(frozen=True)
class Identity:
    """A process, told apart from a later one given the same pid."""

    pid: int
    started: int

    @classmethod
    def of(cls, pid: int) -> Identity:
        """
        The identity of the running process C{pid}.

        @raise ProcessError: if it is gone.
        """
        try:
            with open(f"/proc/{pid}/stat") as f:
                return cls(pid, parseStartTime(f.read())[1])
        except (FileNotFoundError, ValueError, IndexError):
            raise ProcessError(f"process {pid} is gone") from None

    def running(self) -> bool:
        """Whether this very process still runs (a zombie does not)."""
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                state, started = parseStartTime(f.read())
        except (FileNotFoundError, ValueError, IndexError):
            return False
        return started == self.started and state != "Z"


def identitiesOf(pids: Sequence[int]) -> list[Identity]:
    """The identities of those of C{pids} that still run."""
    found = []
    for pid in pids:
        with contextlib.suppress(ProcessError):
            found.append(Identity.of(pid))
    return found


def workerPids(pid: int, workers: int) -> tuple[int, ...]:
    """
    The pids of the workers of the sockplug process C{pid} started with
    C{workers} workers (none with one: there is no supervisor then),
    checked against their number.

    @raise ProcessError: if the supervisor has another number of children.
    """
    found = tuple(children(pid)) if workers > 1 else ()
    if len(found) != (workers if workers > 1 else 0):
        raise ProcessError(
            f"sockplug --workers {workers} has {len(found)} worker processes"
        )
    return found


def stopAll(
    process: subprocess.Popen[bytes],
    workers: Sequence[Identity],
    leftover: float = LEFTOVER_TIMEOUT,
) -> list[str]:
    """
    Stop a sockplug (SIGTERM; its supervisor stops its workers) and check
    that none of its C{workers} is left running; kill any that still is
    C{leftover} seconds after the supervisor ended.

    @return: what was wrong: the workers left running.
    """
    stop(process, SUPERVISOR_STOP_TIMEOUT)
    deadline = time.monotonic() + leftover
    while any(w.running() for w in workers) and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)
    problems = []
    for worker in workers:
        if worker.running():
            problems.append(
                f"worker pid {worker.pid} was still running"
                f" {leftover:g} s after its supervisor stopped: killed"
            )
            with contextlib.suppress(OSError):
                os.kill(worker.pid, signal.SIGKILL)
    return problems


@contextlib.contextmanager
def runningWorkers(
    tools: Tools, workdir: str, cpu: int, problems: list[str]
) -> Iterator[dict[int, Listening]]:
    """
    Start sockplug with each of L{WORKER_COUNTS} workers all at once (their
    files in C{workdir}), wait until each is ready, pin every thread of
    every process of theirs to C{cpu}, and stop them all when the block
    ends, however it ends, adding to C{problems} any worker left running.
    Yields each one's L{Listening} (with its workers' pids), by its number
    of workers.

    @raise ProcessError: if one does not get ready in time.
    """
    started: dict[int, subprocess.Popen[bytes]] = {}
    identities: dict[int, list[Identity]] = {}
    try:
        for workers in WORKER_COUNTS:
            errors = os.path.join(workdir, f"sockplug-{workers}.stderr")
            with open(errors, "wb") as stderr:
                started[workers] = spawn(
                    workersCommand(tools, workers, workdir), None, stderr=stderr
                )
        deadline = time.monotonic() + START_TIMEOUT
        listening = {}
        for workers, process in started.items():
            log = logPath(workdir, workers)
            try:
                address = waitFor(
                    partial(_readyFromLog, log, workers),
                    process,
                    deadline,
                    "listening and serving log lines",
                )
            except ProcessError as e:
                last = _readLog(log).strip().rpartition("\n")[2]
                raise ProcessError(
                    f"sockplug --workers {workers}: {e}" + (f": {last}" if last else "")
                ) from None
            pids = workerPids(process.pid, workers)
            identities[workers] = identitiesOf(pids)
            server = Listening(process, address, pids)
            for pid in server.pids():
                pin(pid, cpu)
            listening[workers] = server
        yield listening
    finally:
        for workers, process in started.items():
            # One that never got ready: its workers are whatever it started.
            known = identities.get(workers) or identitiesOf(children(process.pid))
            problems += stopAll(process, known)


class _UnixHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection over a UNIX stream socket."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def scrape(path: str, timeout: float = SCRAPE_TIMEOUT) -> str:
    """
    GET C{/metrics} from the metrics endpoint on the UNIX socket C{path}.

    @raise ProcessError: if it cannot be read within C{timeout} seconds.
    """
    connection = _UnixHTTPConnection(path, timeout)
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as e:
        raise ProcessError(f"cannot read the metrics on {path}: {e}") from None
    finally:
        connection.close()
    if response.status != 200:
        raise ProcessError(f"the metrics on {path} answered {response.status}")
    return body.decode("utf-8", "replace")


def connectionsByWorker(text: str) -> dict[int, float]:
    """
    The connections each worker accepted, by worker number, from the
    text of the supervisor's C{/metrics}: its C{sockplug_connections_total}
    samples summed over the listeners, by their C{worker} label.

    @raise ValueError: if it is not metrics text, or has no such samples.
    """
    counts: dict[int, float] = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                worker = sample.labels.get("worker")
                if sample.name == CONNECTIONS and worker is not None:
                    counts[int(worker)] = counts.get(int(worker), 0.0) + sample.value
    except ValueError as e:
        raise ValueError(f"the metrics cannot be parsed: {e}") from None
    if not counts:
        raise ValueError(f"the metrics have no {CONNECTIONS} with a worker label")
    return counts


@dataclass(frozen=True)
class Spread:
    """
    How the kernel spread connections over the workers.

    @ivar counts: the connections each worker accepted, by its number.
    """

    counts: Mapping[int, float]

    @property
    def total(self) -> float:
        """Every connection counted."""
        return sum(self.counts.values())

    def shares(self) -> dict[int, float]:
        """Each worker's share of the connections, from 0 to 1."""
        return {w: count / self.total for w, count in sorted(self.counts.items())}

    def deviationPct(self) -> float:
        """
        The largest distance of a worker's count from an even split, in
        percent of the even split: 0 when every worker has as many.
        """
        even = self.total / len(self.counts)
        return max(abs(count - even) for count in self.counts.values()) / even * 100


def spreadBetween(before: Mapping[int, float], after: Mapping[int, float]) -> Spread:
    """
    The connections each worker accepted between two readings of the
    counters.

    @raise ValueError: if none was.
    """
    counts = {w: after[w] - before.get(w, 0.0) for w in after}
    if sum(counts.values()) <= 0:
        raise ValueError(f"no connection counted in {CONNECTIONS} between readings")
    return Spread(counts)
