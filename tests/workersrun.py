"""
A real C{twistd -n sockplug --workers N}, for the end-to-end tests: the
supervisor and its worker processes, waited for until every worker serves,
and stopped with every worker gone when the test ends.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence

from twisted.trial.unittest import SynchronousTestCase

from tests.harness import POLL_INTERVAL, STOP_TIMEOUT, Server, parseAddress

# Workers start a Python each: on a busy machine that takes seconds.
START_TIMEOUT = 60.0
# A worker whose supervisor has gone stops within this.
ORPHAN_TIMEOUT = 15.0

LISTENING = re.compile(
    r"\[sockplug\.workers\._supervisor#info\] (?P<protocol>\S+) listening on"
    r" (?P<endpoint>.*) \((?P<address>[^()]*)\)$",
    re.MULTILINE,
)
SERVING = re.compile(r"worker (?P<number>\d+) \(pid (?P<pid>\d+)\) is serving")


def alive(pid: int) -> bool:
    """
    Whether process C{pid} runs (a zombie does not).
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def waitUntil(condition: object, timeout: float, what: str) -> None:
    """
    Wait until C{condition()} is true; fail after C{timeout} seconds.
    """
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} within {timeout}s")
        time.sleep(POLL_INTERVAL)


class Workers(Server):
    """
    A running C{twistd -n sockplug ... --workers N}: the supervisor, and
    its workers.
    """

    def __init__(
        self,
        testCase: SynchronousTestCase,
        *args: str,
        count: int = 2,
        env: Mapping[str, str] | None = None,
        prefix: Sequence[str] = (),
    ) -> None:
        super().__init__(
            testCase, *args, "--workers", str(count), env=env, prefix=prefix
        )
        self.count = count
        # First, before the kill Server.__init__ arranged: stop, and wait
        # for the workers too, so that none outlives the test.
        testCase.addCleanup(self.stopAll)

    @classmethod
    def run(
        cls,
        testCase: SynchronousTestCase,
        *args: str,
        count: int = 2,
        env: Mapping[str, str] | None = None,
        prefix: Sequence[str] = (),
    ) -> Workers:
        """
        Start a supervisor; wait until it listens on every endpoint and
        every worker serves.
        """
        server = cls(testCase, *args, count=count, env=env, prefix=prefix)
        server.waitUntilListening()
        return server

    def waitUntilListening(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            for match in LISTENING.finditer(self.stdout()):
                self.addresses[match["endpoint"]] = parseAddress(match["address"])
            listening = all(e in self.addresses for e in self.endpoints)
            if listening and len(self.serving()) == self.count:
                return
            if self.process.poll() is not None:
                raise self._fail(f"twistd exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                raise self._fail("the workers are not all serving")
            time.sleep(POLL_INTERVAL)

    def serving(self) -> dict[int, int]:
        """
        The pid of each worker that has said it serves, by number (the
        latest, for one started again).
        """
        return {
            int(m["number"]): int(m["pid"]) for m in SERVING.finditer(self.stdout())
        }

    def children(self) -> set[int]:
        """
        The supervisor's child processes now.
        """
        pid = self.process.pid
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                return {int(child) for child in f.read().split()}
        except FileNotFoundError:
            return set()

    def stopAll(self) -> None:
        """
        Stop the supervisor, and wait for its workers to be gone.
        """
        pids = set(self.serving().values()) | self.children()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
        deadline = time.monotonic() + ORPHAN_TIMEOUT
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL)
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
