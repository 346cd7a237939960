"""
End-to-end tests of what a wheel of sockplug carries, built from a copy of
this checkout with the project's own build backend.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

from twisted.trial.unittest import SkipTest, SynchronousTestCase

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIP = {".git", ".venv", "_trial_temp", ".mypy_cache", ".ruff_cache", "dist", "build"}


def _copyCheckout(into: str) -> str:
    """
    Copy the checkout's sources (not its venvs or caches) into C{into}.
    """
    target = os.path.join(into, "src")
    shutil.copytree(
        ROOT,
        target,
        ignore=lambda folder, names: [
            n for n in names if n in SKIP or n.startswith(("_trial_temp", ".venv"))
        ],
    )
    return target


def _build(source: str, out: str, hook: str) -> str:
    """
    Build a wheel (C{hook}: C{build_wheel} or C{build_editable}) of
    C{source} with hatchling, and return its path.
    """
    try:
        import hatchling  # noqa: F401
    except ImportError:
        raise SkipTest("hatchling (from the test extra) is not installed") from None
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; from hatchling.build import {hook};"
            f" print({hook}(sys.argv[1]))",
            out,
        ],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"{hook} failed:\n{result.stderr}")
    return os.path.join(out, result.stdout.strip().splitlines()[-1])


class WheelTests(SynchronousTestCase):
    """
    The wheel carries the twistd dropin alone, the package with its unit
    tests, and no stale plugin cache.
    """

    def setUp(self) -> None:
        self.scratch = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.scratch)
        self.source = _copyCheckout(self.scratch)
        # Plugin caches as twistd and trial leave them in a working tree.
        for folder in ("twisted/plugins", "sockplug/plugins"):
            with open(os.path.join(self.source, folder, "dropin.cache"), "wb") as f:
                f.write(b"stale")

    def names(self) -> set[str]:
        wheel = _build(self.source, self.scratch, "build_wheel")
        with zipfile.ZipFile(wheel) as archive:
            return set(archive.namelist())

    def test_dropinAlone(self) -> None:
        """
        The wheel has the twistd dropin, and no C{__init__.py} beside it or
        above it that would replace Twisted's own C{twisted.plugins}.
        """
        names = self.names()
        self.assertIn("twisted/plugins/sockplug_plugin.py", names)
        self.assertEqual(
            sorted(n for n in names if n.startswith("twisted/")),
            ["twisted/plugins/sockplug_plugin.py"],
        )

    def test_noPluginCache(self) -> None:
        """
        No C{dropin.cache} from the tree goes into the wheel.
        """
        self.assertEqual([n for n in self.names() if "dropin.cache" in n], [])

    def test_packageAndUnitTests(self) -> None:
        """
        The package, its dropin package and its unit tests are in the
        wheel (so C{trial sockplug} runs from an installed copy); the
        end-to-end tests are not.
        """
        names = self.names()
        for name in (
            "sockplug/__init__.py",
            "sockplug/tap.py",
            "sockplug/plugins/__init__.py",
            "sockplug/plugins/sockplug_builtins.py",
            "sockplug/protocols/echo.py",
            "sockplug/testing/__init__.py",
            "sockplug/test/__init__.py",
            "sockplug/test/test_tap.py",
            "sockplug/server/test/__init__.py",
            "sockplug/server/test/test_service.py",
        ):
            self.assertIn(name, names)
        self.assertEqual([n for n in names if n.startswith("tests/")], [])
        self.assertEqual([n for n in names if "__pycache__" in n], [])


class EditableTests(SynchronousTestCase):
    """
    An editable install puts the checkout itself on C{sys.path}, where
    twistd finds C{twisted/plugins/sockplug_plugin.py} (a setuptools PEP 660
    editable install would hide it behind an import hook twistd does not
    use).
    """

    def test_pathFile(self) -> None:
        """
        The editable wheel is a C{.pth} file naming the checkout, whose
        C{twisted/plugins} folder has the dropin and no C{__init__.py}.
        """
        scratch = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, scratch)
        wheel = _build(ROOT, scratch, "build_editable")
        with zipfile.ZipFile(wheel) as archive:
            pths = [n for n in archive.namelist() if n.endswith(".pth")]
            self.assertEqual(len(pths), 1, pths)
            entries = archive.read(pths[0]).decode().split()
        self.assertIn(ROOT, [os.path.abspath(e) for e in entries])
        plugins = os.path.join(ROOT, "twisted", "plugins")
        self.assertTrue(os.path.exists(os.path.join(plugins, "sockplug_plugin.py")))
        self.assertFalse(os.path.exists(os.path.join(plugins, "__init__.py")))
        self.assertFalse(os.path.exists(os.path.join(ROOT, "twisted", "__init__.py")))
