"""
Tests of the benchmark runner's own logic (C{bench/}): C{python -m bench}
failing cleanly on bad input, and the results files and the README's copy of
them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from bench.cases import CASES
from bench.report import (
    BEGIN,
    END,
    ReportError,
    loadResults,
    rawResults,
    readmeBlock,
    replaceBlock,
)
from tests.benchfixtures import QUICK, ROOT, runs, temporaryFolder


class CommandLineTests(SynchronousTestCase):
    """python -m bench: bad input is one line and exit status 1."""

    def _bench(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
        result = subprocess.run(
            [sys.executable, "-m", "bench", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        return result.returncode, result.stderr

    def test_unknownCase(self) -> None:
        """An unknown case is one line naming it, and exit status 1."""
        code, stderr = self._bench("--case", "nope")
        self.assertEqual((code, stderr.count("\n"), "'nope'" in stderr), (1, 1, True))

    def test_noCompiler(self) -> None:
        """Without a compiler the benchmark stops with one line, status 1."""
        folder = temporaryFolder(self)
        env = dict(os.environ, CC="no-such-cc-anywhere")
        code, stderr = self._bench("--build-dir", folder, "--results", folder, env=env)
        self.assertEqual(
            (code, stderr),
            (
                1,
                "bench: no C compiler: 'no-such-cc-anywhere' not found (install one,"
                " e.g. Debian's gcc, or set CC)\n",
            ),
        )

    def test_readmeWithoutResults(self) -> None:
        """--readme without results says to run the benchmark first."""
        code, stderr = self._bench("--readme", "--results", temporaryFolder(self))
        self.assertEqual(
            (code, stderr.count("\n"), "run python -m bench first" in stderr),
            (1, 1, True),
        )


class ResultsTests(SynchronousTestCase):
    """The results files and the README's copy of them."""

    def test_roundTrip(self) -> None:
        """Results written as JSON read back as the same runs."""
        path = os.path.join(temporaryFolder(self), "r.json")
        written = runs("udp", sockplug=[1.0, 2.0])
        with open(path, "w") as f:
            json.dump(rawResults(CASES, written, QUICK, {"cpu": "x"}), f)
        _, read, settings, machine = loadResults(path)
        self.assertEqual((read, settings, machine), (written, QUICK, {"cpu": "x"}))

    def test_replaceBlock(self) -> None:
        """The text between the markers is replaced, the rest kept."""
        text = f"a\n{BEGIN}\nold\n{END}\nb\n"
        self.assertEqual(
            replaceBlock(text, f"{BEGIN}new{END}"), f"a\n{BEGIN}new{END}\nb\n"
        )

    def test_replaceNoMarkers(self) -> None:
        """A README without the markers is refused."""
        self.assertRaises(ReportError, replaceBlock, "no markers", "x")

    def test_readmeBlock(self) -> None:
        """The README's block holds the machine line, ratios and medians."""
        machine = {
            k: k.upper()
            for k in (
                "cpu",
                "cpus",
                "kernel",
                "python",
                "twisted",
                "uvloop",
                "cc",
                "sockplug",
                "date",
            )
        }
        block = readmeBlock(CASES, runs("udp", sockplug=[2.0], c=[4.0]), QUICK, machine)
        self.assertEqual(
            (
                block.startswith(BEGIN),
                block.endswith(END),
                "CPU (CPUS CPUs)" in block,
                "| udp | datagram/s |" in block,
            ),
            (True, True, True, True),
        )
