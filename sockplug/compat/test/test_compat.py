"""
Tests for L{sockplug.compat}: it offers what its door offers, and it is the
only door: no other module of sockplug spells a private name of Twisted
that the door spells (see L{sockplug.compat._twisted}).
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

import sockplug
from sockplug import compat
from sockplug.compat import _twisted

# Names the door spells that sockplug's own classes use for their own
# attributes (self._reactor is the project's rule): an attribute of that
# name says nothing about whose it is.
_COMMON = frozenset({"_reactor", "_port", "_host", "_interface", "_backlog", "_clock"})


def _privateModule(name: str) -> bool:
    """
    Whether C{name} is a dotted name in Twisted with a private part.
    """
    return name.startswith("twisted.") and "._" in name


def _docstrings(tree: ast.AST) -> set[int]:
    """
    The ids of the docstring nodes in C{tree}: text, not code.
    """
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


def _classNames(node: ast.ClassDef) -> Iterator[tuple[str, int]]:
    """
    The names a class body defines (methods, attributes), with their lines.
    """
    for statement in node.body:
        if isinstance(statement, ast.FunctionDef):
            yield statement.name, statement.lineno
        targets = (
            statement.targets
            if isinstance(statement, ast.Assign)
            else [statement.target]
            if isinstance(statement, ast.AnnAssign)
            else []
        )
        for target in targets:
            if isinstance(target, ast.Name):
                yield target.id, statement.lineno


def _spelled(tree: ast.AST, attributes: frozenset[str]) -> Iterator[tuple[int, str]]:
    """
    Where C{tree} spells a private name of Twisted: an import from a private
    module or of a private name; an attribute of C{attributes} read, set,
    or named in a string; a method or class attribute of that name defined.
    """
    docstrings = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if _privateModule(f"{node.module}.{alias.name}"):
                    yield node.lineno, f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _privateModule(alias.name):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.Attribute) and node.attr in attributes:
            yield node.lineno, node.attr
        elif isinstance(node, ast.ClassDef):
            for name, line in _classNames(node):
                if name in attributes:
                    yield line, name
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and (node.value in attributes or _privateModule(node.value))
        ):
            yield node.lineno, node.value


def _doorAttributes() -> frozenset[str]:
    """
    The private attributes of Twisted's that the door reads, sets or
    defines, but for L{_COMMON}.
    """
    tree = ast.parse(Path(_twisted.__file__).read_text())
    found = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    found |= {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    found |= {
        name
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        for name, _ in _classNames(node)
    }
    return (
        frozenset(name for name in found if name[:1] == "_" and name[1:2] != "_")
        - _COMMON
    )


def _sources() -> Iterator[Path]:
    """
    sockplug's modules outside the door, and, in a checkout, the
    end-to-end tests' and the benchmark's.
    """
    root = Path(sockplug.__file__).parent
    door = root / "compat"
    folders = [root]
    project = root.parent / "pyproject.toml"
    if project.is_file() and 'name = "sockplug"' in project.read_text():
        folders += [root.parent / "tests", root.parent / "bench"]
    for folder in folders:
        for path in sorted(folder.rglob("*.py")) if folder.is_dir() else ():
            if door not in path.parents:
                yield path


class OfferedTests(SynchronousTestCase):
    """
    L{sockplug.compat} offers what its door offers.
    """

    def test_all(self) -> None:
        """Each name of the door's C{__all__} is offered, and no other."""
        self.assertEqual(sorted(compat.__all__), sorted(_twisted.__all__))
        for name in compat.__all__:
            self.assertIs(getattr(compat, name), getattr(_twisted, name), name)


class OnlyDoorTests(SynchronousTestCase):
    """
    No module but the door spells a private name of Twisted.
    """

    def test_doorAttributes(self) -> None:
        """The check looks for the private attributes the door uses."""
        self.assertLessEqual(
            {"_poller", "_shouldShutdown", "_proxyInfo", "_bindSocket", "_names"},
            _doorAttributes(),
        )

    def test_finds(self) -> None:
        """The check finds private imports, attributes, strings and methods."""
        tree = ast.parse(
            "from twisted.protocols.haproxy._v1parser import V1Parser\n"
            "x = reactor._poller\n"
            "hasattr(port, '_shouldShutdown')\n"
            "class Port:\n"
            "    def _bindSocket(self): pass\n"
            "    _shouldShutdown = False\n"
            "import twisted.web.test._util\n"
        )
        self.assertEqual(
            sorted(_spelled(tree, _doorAttributes())),
            [
                (1, "twisted.protocols.haproxy._v1parser.V1Parser"),
                (2, "_poller"),
                (3, "_shouldShutdown"),
                (5, "_bindSocket"),
                (6, "_shouldShutdown"),
                (7, "twisted.web.test._util"),
            ],
        )

    def test_docstringsLeft(self) -> None:
        """A docstring may name a private name of Twisted."""
        tree = ast.parse('"""Unlike twisted.protocols._sni, or _poller."""\n')
        self.assertEqual(list(_spelled(tree, _doorAttributes())), [])

    def test_onlyDoor(self) -> None:
        """sockplug's modules outside the door spell none."""
        attributes = _doorAttributes()
        found = [
            f"{os.path.relpath(path)}:{line}: {name}"
            for path in _sources()
            for line, name in _spelled(ast.parse(path.read_text()), attributes)
        ]
        self.assertEqual(found, [], "go through sockplug.compat instead")
