"""
The end-to-end tests' own layout: modules small enough to have one subject,
and shared helpers in modules that are not tests.
"""

from __future__ import annotations

import ast
import os

from twisted.trial.unittest import SynchronousTestCase

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_TEST_MODULE_LINES = 700


def _modules() -> list[str]:
    return sorted(f for f in os.listdir(HERE) if f.endswith(".py"))


class LayoutTests(SynchronousTestCase):
    """
    tests/ stays grouped by subject.
    """

    def test_size(self) -> None:
        """
        No module in tests/ is longer than L{MAX_TEST_MODULE_LINES} lines.
        """
        long = {}
        for name in _modules():
            with open(os.path.join(HERE, name), encoding="utf-8") as f:
                lines = sum(1 for _ in f)
            if lines > MAX_TEST_MODULE_LINES:
                long[name] = lines
        self.assertEqual(long, {})

    def test_noTestImportsATest(self) -> None:
        """
        No module in tests/ imports another of its test modules (Twisted's
        own test suites, which test_reactor_e2e runs, are not ours).
        """
        ours = {name[: -len(".py")] for name in _modules()}
        found = []
        for name in _modules():
            with open(os.path.join(HERE, name), encoding="utf-8") as f:
                tree = ast.parse(f.read(), name)
            for node in ast.walk(tree):
                modules: list[str] = []
                if isinstance(node, ast.ImportFrom) and node.module:
                    modules = [node.module] + [
                        f"{node.module}.{a.name}" for a in node.names
                    ]
                elif isinstance(node, ast.Import):
                    modules = [a.name for a in node.names]
                for module in modules:
                    parts = module.removeprefix("tests.").split(".")
                    if parts[0] in ours and parts[0].startswith("test_"):
                        found.append(f"{name}: {module}")
        self.assertEqual(found, [])
