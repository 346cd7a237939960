"""
Tests of sockplug's layout, read from the installed source: the sizes,
imports and folders that keep the code base one a newcomer can find their
way in (see the README's Layout section).
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator

from twisted.trial.unittest import SynchronousTestCase

import sockplug

ROOT = os.path.dirname(os.path.abspath(sockplug.__file__))

# A module with more lines than this has two jobs (STYLE.md).
MAX_MODULE_LINES = 400
MAX_TEST_MODULE_LINES = 700
MAX_MODULES_PER_FOLDER = 12

# The one module that reaches Twisted's private names (see its comments).
TWISTED_DOOR = "sockplug.compat._twisted"


def _moduleName(path: str) -> str:
    relative = os.path.relpath(path, os.path.dirname(ROOT))[: -len(".py")]
    name = relative.replace(os.sep, ".")
    return name[: -len(".__init__")] if name.endswith(".__init__") else name


def _isTest(name: str) -> bool:
    return ".test." in name + "." and not name.endswith(".test")


def _isTestSupport(name: str) -> bool:
    """
    Whether a module is test code: a test module, or one of the private
    fakes of L{sockplug.testing} that sockplug's own tests share (they reach
    into every folder, as tests do).
    """
    return _isTest(name) or name.startswith("sockplug.testing._")


def _sources() -> Iterator[tuple[str, str]]:
    """
    Every module of the installed package: its dotted name and its path.
    """
    for folder, _, files in os.walk(ROOT):
        for file in sorted(files):
            if file.endswith(".py"):
                path = os.path.join(folder, file)
                yield _moduleName(path), path


def _lineCount(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        return sum(1 for _ in f)


def _tree(path: str) -> ast.Module:
    with open(path, encoding="utf-8") as f:
        return ast.parse(f.read(), path)


def _loadTimeImports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """
    The imports a module runs when it is loaded: those at its top level,
    including inside C{try} and C{if} blocks, but not under
    C{if TYPE_CHECKING:}.
    """
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        elif isinstance(node, ast.If | ast.Try):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    yield inner


def _allImports(tree: ast.Module) -> Iterator[tuple[str, str | None]]:
    """
    Every import anywhere in a module, as (module, name or None).
    """
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                yield node.module, alias.name


def _package(name: str, path: str) -> str:
    return name if path.endswith("__init__.py") else name.rpartition(".")[0]


class SizeTests(SynchronousTestCase):
    """
    Modules and folders stay small enough to have one job each.
    """

    def test_libraryModules(self) -> None:
        """
        No library module is longer than L{MAX_MODULE_LINES} lines.
        """
        long = {
            name: lines
            for name, path in _sources()
            if not _isTest(name) and (lines := _lineCount(path)) > MAX_MODULE_LINES
        }
        self.assertEqual(long, {})

    def test_testModules(self) -> None:
        """
        No unit test module is longer than L{MAX_TEST_MODULE_LINES} lines.
        """
        long = {
            name: lines
            for name, path in _sources()
            if _isTest(name) and (lines := _lineCount(path)) > MAX_TEST_MODULE_LINES
        }
        self.assertEqual(long, {})

    def test_modulesPerFolder(self) -> None:
        """
        No folder holds more than L{MAX_MODULES_PER_FOLDER} modules besides
        its C{__init__}.
        """
        counts: dict[str, int] = {}
        for name, path in _sources():
            if not path.endswith("__init__.py"):
                package = _package(name, path)
                counts[package] = counts.get(package, 0) + 1
        crowded = {k: n for k, n in counts.items() if n > MAX_MODULES_PER_FOLDER}
        self.assertEqual(crowded, {})


class ImportTests(SynchronousTestCase):
    """
    Folders depend on each other through their public C{__init__}, without
    cycles, and tests share fakes through modules that are not tests.
    """

    def test_noCycleAtLoad(self) -> None:
        """
        No library module imports, at load time, a module that imports it
        back (directly or through others).
        """
        sources = {name: path for name, path in _sources() if not _isTest(name)}
        edges: dict[str, set[str]] = {name: set() for name in sources}
        for name, path in sources.items():
            for node in _loadTimeImports(_tree(path)):
                if isinstance(node, ast.ImportFrom):
                    if node.level or not node.module:
                        continue
                    for alias in node.names:
                        target = f"{node.module}.{alias.name}"
                        edges[name].add(target if target in sources else node.module)
                else:
                    edges[name].update(alias.name for alias in node.names)
        cycles = []
        state: dict[str, int] = {}

        def visit(name: str, trail: list[str]) -> None:
            state[name] = 1
            for target in sorted(edges[name]):
                if target not in sources or target == name:
                    continue
                if state.get(target) == 1:
                    cycles.append([*trail[trail.index(target) :], target])
                elif target not in state:
                    visit(target, [*trail, target])
            state[name] = 2

        for name in sorted(sources):
            if name not in state:
                visit(name, [name])
        self.assertEqual(cycles, [])

    def test_noPrivateModuleAcrossFolders(self) -> None:
        """
        A library module imports another folder's modules only through that
        folder's public C{__init__}, and no private name crosses folders.
        """
        crossings = []
        for name, path in _sources():
            if _isTestSupport(name):
                continue
            here = _package(name, path)
            for module, imported in _allImports(_tree(path)):
                if not module.startswith("sockplug."):
                    continue
                parts = module.split(".")
                privatePart = any(part.startswith("_") for part in parts)
                target = ".".join(p for p in parts if not p.startswith("_"))
                if privatePart and ".".join(parts[:-1]) != here:
                    crossings.append(f"{name}: {module}")
                elif (
                    imported is not None
                    and imported.startswith("_")
                    and here not in (target, module)
                ):
                    crossings.append(f"{name}: {module}.{imported}")
        self.assertEqual(crossings, [])

    def test_testsImportNoTest(self) -> None:
        """
        No test module imports another test module.
        """
        found = []
        for name, path in _sources():
            if not _isTest(name):
                continue
            for module, imported in _allImports(_tree(path)):
                full = f"{module}.{imported}" if imported else module
                if any(part.startswith("test_") for part in full.split(".")):
                    found.append(f"{name}: {full}")
        self.assertEqual(found, [])

    def test_twistedPrivateNamesBehindOneDoor(self) -> None:
        """
        Only L{TWISTED_DOOR} (and its own tests, which check that each name
        is still there) imports a private module or name of Twisted.
        """
        found = []
        for name, path in _sources():
            if name == TWISTED_DOOR or name.startswith("sockplug.compat.test."):
                continue
            for module, imported in _allImports(_tree(path)):
                if not module.startswith("twisted"):
                    continue
                private = any(p.startswith("_") for p in module.split("."))
                if private or (imported or "").startswith("_"):
                    found.append(f"{name}: {module} {imported or ''}".strip())
        self.assertEqual(found, [])
