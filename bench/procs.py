# -*- test-case-name: tests.test_bench_procs -*-
"""
Processes for the benchmark: starting them pinned to a CPU, waiting (with a
bound) until they listen, stopping them whatever happens, and reading what
the kernel says about them in C{/proc}: CPU time and resident memory.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import resource
import selectors
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import IO, cast

STOP_TIMEOUT = 5.0
POLL_INTERVAL = 0.005


class ProcessError(Exception):
    """A process did not do what the benchmark needs; one line."""


def parseSchedstat(text: str) -> int:
    """
    The time on CPU, in nanoseconds, from the text of a
    C{/proc/PID/task/TID/schedstat} file (its first field).
    """
    fields = text.split()
    if not fields or not fields[0].isdigit():
        raise ValueError(f"not a schedstat line: {text!r}")
    return int(fields[0])


def cpuNanoseconds(pid: int) -> int:
    """
    The CPU time of every live thread of process C{pid}, in nanoseconds:
    the sum of the first field of each C{/proc/PID/task/*/schedstat}.

    @raise ProcessError: if the process is gone.
    """
    total = 0
    paths = glob.glob(f"/proc/{pid}/task/*/schedstat")
    if not paths:
        raise ProcessError(f"process {pid} is gone: no /proc/{pid}/task")
    for path in paths:
        try:
            with open(path) as f:
                total += parseSchedstat(f.read())
        except FileNotFoundError:
            continue  # a thread that ended meanwhile
    return total


def parseRss(status: str) -> int:
    """
    The resident set size in KiB (C{VmRSS}) from the text of a
    C{/proc/PID/status} file.
    """
    match = re.search(r"^VmRSS:\s+(\d+) kB$", status, re.MULTILINE)
    if match is None:
        raise ValueError("no VmRSS line in the status text")
    return int(match.group(1))


def rssKib(pid: int) -> int:
    """
    The resident set size of process C{pid}, in KiB.

    @raise ProcessError: if the process is gone.
    """
    try:
        with open(f"/proc/{pid}/status") as f:
            return parseRss(f.read())
    except (FileNotFoundError, ValueError):
        raise ProcessError(f"process {pid} is gone: no VmRSS") from None


def raiseFileLimit() -> int:
    """
    Raise this process's open-file limit to its hard limit, so that the
    servers started from it inherit it.

    @return: the new soft limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def pickCpus() -> tuple[int, int]:
    """
    The CPU for the servers and the one for the load generator: the first
    two this process may run on (the same one twice on a one-CPU machine).
    """
    cpus = sorted(os.sched_getaffinity(0))
    return cpus[0], cpus[1] if len(cpus) > 1 else cpus[0]


def freePort() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn(
    argv: Sequence[str],
    cpu: int | None,
    *,
    stdout: int | IO[bytes] = subprocess.DEVNULL,
    stderr: int | IO[bytes] = subprocess.DEVNULL,
    stdin: int = subprocess.DEVNULL,
    cwd: str | None = None,
) -> subprocess.Popen[bytes]:
    """
    Start C{argv}, and pin it to C{cpu} (unless C{None}) at once, before an
    interpreter has even finished starting, so every thread it makes
    inherits the pin.
    """
    process = subprocess.Popen(
        list(argv), stdin=stdin, stdout=stdout, stderr=stderr, cwd=cwd
    )
    if cpu is not None:
        with contextlib.suppress(OSError):  # already ended: its exit status tells
            os.sched_setaffinity(process.pid, {cpu})
    return process


def pin(pid: int, cpu: int) -> None:
    """
    Pin every thread of process C{pid} to C{cpu} (threads it makes later
    inherit the pin of the thread that makes them).

    @raise ProcessError: if the process is gone.
    """
    tasks = glob.glob(f"/proc/{pid}/task/*")
    if not tasks:
        raise ProcessError(f"process {pid} is gone: no /proc/{pid}/task")
    for task in tasks:
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            os.sched_setaffinity(int(os.path.basename(task)), {cpu})


def stop(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """
    End C{process}: SIGTERM, then SIGKILL if it has not ended within
    C{timeout} seconds, and reap it.
    """
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def processName(process: subprocess.Popen[bytes]) -> str:
    """The file name of the program C{process} runs."""
    args = process.args
    first = args[0] if isinstance(args, (list, tuple)) else args
    return os.path.basename(os.fsdecode(cast("str | bytes", first)))


def readLine(process: subprocess.Popen[bytes], deadline: float) -> str:
    """
    The next line C{process} writes to its standard output (a pipe), read
    until the C{time.monotonic()} C{deadline}.

    @raise ProcessError: if it ends, or says nothing in time.
    """
    assert process.stdout is not None
    fd = process.stdout.fileno()
    data = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProcessError(f"{processName(process)} said nothing in time")
            if not selector.select(left):
                continue
            chunk = os.read(fd, 1)
            if not chunk:
                code = process.wait(STOP_TIMEOUT)
                raise ProcessError(f"{processName(process)} exited with status {code}")
            data += chunk
    return data.decode("utf-8", "replace").rstrip("\n")


def waitFor(
    check: Callable[[], str | None],
    process: subprocess.Popen[bytes],
    deadline: float,
    what: str,
) -> str:
    """
    Call C{check} every few milliseconds until it returns a result,
    C{process} ends, or the C{time.monotonic()} C{deadline} passes.

    @raise ProcessError: naming C{what} was awaited.
    """
    while True:
        result = check()
        if result is not None:
            return result
        if process.poll() is not None:
            raise ProcessError(
                f"{processName(process)} exited with status"
                f" {process.returncode} before {what}"
            )
        if time.monotonic() > deadline:
            raise ProcessError(f"no {what} within the time allowed")
        time.sleep(POLL_INTERVAL)


def canConnect(host: str, port: int) -> bool:
    """Whether a TCP connection to C{host}:C{port} succeeds right now."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False
