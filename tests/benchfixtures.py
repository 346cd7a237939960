"""
Fixtures shared by the tests of the benchmark runner (C{tests/test_bench_*}):
the runner's settings and tools for a test, runs of made-up figures, and a
temporary folder.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from bench.cases import Settings
from bench.stats import Run
from bench.targets import Tools

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETTINGS = Settings.make(False, (0, 1))
QUICK = Settings.make(True, (0, 1))
TOOLS = Tools(
    python=sys.executable,
    twistd="/venv/bin/twistd",
    loadgen="/b/loadgen",
    cecho="/b/cecho",
    serversDir=os.path.join(ROOT, "bench", "servers"),
)


def temporaryFolder(testCase: SynchronousTestCase) -> str:
    """A new temporary folder, removed when the test ends."""
    path = tempfile.mkdtemp(prefix="sockplug-bench-test-")
    testCase.addCleanup(shutil.rmtree, path, True)
    return path


def runs(case: str, **rates: list[float]) -> list[Run]:
    """Successful runs of C{case}: for each server, one per rate given."""
    return [
        Run(case, server, rep, {"rate": rate, "cpu_us": 1e6 / rate})
        for server, values in rates.items()
        for rep, rate in enumerate(values)
    ]
