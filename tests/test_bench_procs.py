"""
Tests of the benchmark runner's own logic (C{bench/}): reading C{/proc}, and
starting, waiting for and stopping processes, every wait bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from twisted.trial.unittest import SynchronousTestCase

from bench.machine import parseCpuModel
from bench.procs import (
    ProcessError,
    cpuNanoseconds,
    parseRss,
    parseSchedstat,
    readLine,
    rssKib,
    spawn,
    stop,
    waitFor,
)

STATUS = "Name:\tpython3\nVmPeak:\t  30000 kB\nVmRSS:\t   12345 kB\nThreads:\t1\n"


class ProcTests(SynchronousTestCase):
    """Reading /proc."""

    def test_parseSchedstat(self) -> None:
        """The first field of a schedstat line is the time on CPU."""
        self.assertEqual(parseSchedstat("123456789 2000 17\n"), 123456789)

    def test_parseSchedstatBad(self) -> None:
        """Text that is not a schedstat line is refused."""
        self.assertRaises(ValueError, parseSchedstat, "")

    def test_parseRss(self) -> None:
        """VmRSS is read from a status file, in KiB."""
        self.assertEqual(parseRss(STATUS), 12345)

    def test_parseRssMissing(self) -> None:
        """A status without VmRSS (a zombie's) is refused."""
        self.assertRaises(ValueError, parseRss, "Name:\tx\nState:\tZ (zombie)\n")

    def test_cpuNanosecondsGrows(self) -> None:
        """This process's CPU time grows while it computes."""
        before = cpuNanoseconds(os.getpid())
        deadline = time.monotonic() + 0.05
        while time.monotonic() < deadline:
            pass
        self.assertGreater(cpuNanoseconds(os.getpid()), before)

    def test_cpuNanosecondsGone(self) -> None:
        """A process that is gone has no CPU time."""
        self.assertRaises(ProcessError, cpuNanoseconds, 2**22 + 1)

    def test_rss(self) -> None:
        """This process's RSS is more than a megabyte."""
        self.assertGreater(rssKib(os.getpid()), 1024)

    def test_cpuModel(self) -> None:
        """The CPU model comes from /proc/cpuinfo's model name."""
        text = "processor\t: 0\nmodel name\t: Some CPU @ 3GHz\nflags\t: x\n"
        self.assertEqual(parseCpuModel(text), "Some CPU @ 3GHz")


class ProcessTests(SynchronousTestCase):
    """Starting, waiting for and stopping processes, every wait bounded."""

    def _python(self, code: str) -> subprocess.Popen[bytes]:
        process = spawn([sys.executable, "-c", code], None, stdout=subprocess.PIPE)
        self.addCleanup(stop, process, 1.0)
        return process

    def test_stopKillsStubbornProcess(self) -> None:
        """A process that ignores SIGTERM is killed after the bound."""
        process = self._python(
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
            " print('ready', flush=True); time.sleep(60)"
        )
        readLine(process, time.monotonic() + 30)
        stop(process, 0.2)
        self.assertEqual(process.returncode, -signal.SIGKILL)

    def test_readLineEnded(self) -> None:
        """Waiting for a line from a process that ends says so."""
        process = self._python("raise SystemExit(3)")
        error = self.assertRaises(
            ProcessError, readLine, process, time.monotonic() + 30
        )
        self.assertIn("exited with status 3", str(error))

    def test_readLineDeadline(self) -> None:
        """Waiting for a line stops at the deadline."""
        process = self._python("import time; time.sleep(60)")
        error = self.assertRaises(
            ProcessError, readLine, process, time.monotonic() + 0.1
        )
        self.assertIn("said nothing in time", str(error))

    def test_waitForDeadline(self) -> None:
        """waitFor stops at the deadline."""
        process = self._python("import time; time.sleep(60)")
        error = self.assertRaises(
            ProcessError, waitFor, lambda: None, process, time.monotonic() + 0.1, "x"
        )
        self.assertEqual(str(error), "no x within the time allowed")
