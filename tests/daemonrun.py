"""
A real C{twistd sockplug} started as a daemon (without C{-n}): its PID
file and log in a temporary folder, and the daemon killed when the test
ends, through the PID it wrote.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence

from twisted.trial.unittest import SynchronousTestCase

from tests.harness import (
    POLL_INTERVAL,
    START_TIMEOUT,
    STOP_TIMEOUT,
    TWISTD,
    Address,
    Result,
    parseAddress,
    temporaryDirectory,
)

_LISTENING = re.compile(
    r"\[sockplug\.server\._service#info\] \S+ listening on"
    r" (?P<endpoint>.*) \((?P<address>[^()]*)\)$",
    re.MULTILINE,
)


def alive(pid: int) -> bool:
    """
    Whether process C{pid} is running (a zombie waiting to be reaped by
    whoever adopted the daemon has ended).
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != b"Z"


class Daemon:
    """
    C{twistd --pidfile=DIR/twistd.pid --logfile=DIR/twistd.log sockplug
    ARGS}: the run of the command (which ends once the daemon has started,
    or has failed to), and the daemon it leaves.

    @ivar pid: the daemon's process ID, once it has written its PID file.
    """

    def __init__(self, testCase: SynchronousTestCase) -> None:
        self._testCase = testCase
        self.directory = temporaryDirectory(testCase)
        self.pidfile = os.path.join(self.directory, "twistd.pid")
        self.logfile = os.path.join(self.directory, "twistd.log")
        self.pid: int | None = None
        testCase.addCleanup(self.kill)

    def run(
        self,
        *args: str,
        prefix: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> Result:
        """
        Run the command to its end (that of the process started, not of
        the daemon); note the daemon's PID if it wrote one.
        """
        try:
            completed = subprocess.run(
                [
                    *prefix,
                    TWISTD,
                    f"--pidfile={self.pidfile}",
                    f"--logfile={self.logfile}",
                    "sockplug",
                    *args,
                ],
                cwd=self.directory,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=START_TIMEOUT,
                check=False,
            )
        finally:
            self._notePid()
        return Result(
            completed.returncode,
            completed.stdout.decode("utf-8", "replace"),
            completed.stderr.decode("utf-8", "replace"),
        )

    def _notePid(self) -> None:
        try:
            with open(self.pidfile) as f:
                self.pid = int(f.read())
        except (OSError, ValueError):
            pass

    def log(self) -> str:
        """The daemon's log so far."""
        try:
            with open(self.logfile, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def addresses(self) -> dict[str, Address]:
        """
        The address each endpoint is listening on, as the log says.
        """
        return {
            m.group("endpoint"): parseAddress(m.group("address"))
            for m in _LISTENING.finditer(self.log())
        }

    def stop(self) -> None:
        """
        Send the daemon SIGTERM and wait until it has ended.
        """
        assert self.pid is not None, "no daemon started"
        os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while alive(self.pid):
            if time.monotonic() > deadline:
                raise self._testCase.failureException(
                    f"daemon {self.pid} still running {STOP_TIMEOUT}s after"
                    f" SIGTERM; its log:\n{self.log()}"
                )
            time.sleep(POLL_INTERVAL)

    def kill(self) -> None:
        """
        Kill the daemon if it is still running (when the test ends).
        """
        self._notePid()
        if self.pid is not None and alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)
