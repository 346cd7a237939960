"""
Tests for L{sockplug.discovery._registry}.
"""

from __future__ import annotations

import os
import sys
import textwrap
from importlib.metadata import EntryPoint
from typing import Any

from twisted.plugin import pluginPackagePaths
from twisted.trial.unittest import SynchronousTestCase

import sockplug.plugins
from sockplug.discovery._registry import (
    ENTRY_POINT_GROUP,
    PluginFailure,
    Registry,
    discover,
)
from sockplug.errors import UnknownProtocolError
from sockplug.interfaces import IProtocolPlugin

PLUGIN = """
from twisted.internet.protocol import Factory, Protocol
from sockplug.plugin import ProtocolPlugin

{name} = ProtocolPlugin(
    name={protocol!r},
    description="A test plugin.",
    stream=lambda listener: Factory.forProtocol(Protocol),
)
"""


def _noEntryPoints(group: str) -> list[Any]:
    return []


class DropinTests(SynchronousTestCase):
    """
    Discovery of plugin modules in C{sockplug/plugins/} folders on
    C{sys.path}.
    """

    def setUp(self) -> None:
        self.top = os.path.abspath(self.mktemp())
        self.folder = os.path.join(self.top, "sockplug", "plugins")
        os.makedirs(self.folder)
        self.patch(sys, "path", [self.top, *sys.path])
        # sockplug.plugins computed its __path__ when first imported; extend
        # it the way its __init__ does, now that the folder is on sys.path.
        extra = [
            p
            for p in pluginPackagePaths("sockplug.plugins")
            if p not in sockplug.plugins.__path__
        ]
        self.assertIn(self.folder, extra)
        self.patch(sockplug.plugins, "__path__", [*sockplug.plugins.__path__, *extra])
        self.modules: list[str] = []
        self.addCleanup(self._forget)

    def _forget(self) -> None:
        for name in self.modules:
            sys.modules.pop(f"sockplug.plugins.{name}", None)

    def dropin(self, module: str, source: str) -> None:
        """
        Write a plugin module into the temporary folder.
        """
        self.modules.append(module)
        with open(os.path.join(self.folder, module + ".py"), "w") as f:
            f.write(textwrap.dedent(source))

    def test_builtins(self) -> None:
        """
        The built-in protocols are found through the dropin package.
        """
        registry = discover(entryPoints=_noEntryPoints)
        for name in ("echo", "hello", "line-print"):
            self.assertTrue(IProtocolPlugin.providedBy(registry.protocols[name]))
            self.assertEqual(
                registry.sources[name], "sockplug.plugins.sockplug_builtins"
            )

    def test_datagramParsers(self) -> None:
        """
        The datagram endpoint parsers are found in the same walk as the
        protocols.
        """
        registry = discover(entryPoints=_noEntryPoints)
        self.assertEqual(
            sorted(p.prefix for p in registry.datagramParsers),
            ["systemd-datagram", "udp", "unixgram"],
        )

    def test_dropin(self) -> None:
        """
        A module dropped into a C{sockplug/plugins/} folder on C{sys.path},
        with no C{__init__.py}, is found.
        """
        self.dropin("dropped_one", PLUGIN.format(name="p", protocol="dropped-one"))
        registry = discover(entryPoints=_noEntryPoints)
        self.assertEqual(
            registry.protocols["dropped-one"].description, "A test plugin."
        )
        self.assertEqual(
            registry.sources["dropped-one"], "sockplug.plugins.dropped_one"
        )
        self.assertEqual(registry.failures, ())

    def test_importFailure(self) -> None:
        """
        A module that fails to import is reported by name with its error,
        and the other plugins are still found.
        """
        self.dropin("broken_one", "1 / 0\n")
        registry = discover(entryPoints=_noEntryPoints)
        self.flushLoggedErrors(ZeroDivisionError)
        self.assertIn(
            PluginFailure(
                "sockplug.plugins.broken_one", "ZeroDivisionError: division by zero"
            ),
            registry.failures,
        )
        self.assertIn("echo", registry.protocols)

    def test_syntaxError(self) -> None:
        """
        A module with a syntax error is reported with the line.
        """
        self.dropin("broken_two", "def (:\n")
        registry = discover(entryPoints=_noEntryPoints)
        self.flushLoggedErrors(SyntaxError)
        [failure] = [
            f for f in registry.failures if f.source == "sockplug.plugins.broken_two"
        ]
        self.assertIn("SyntaxError", failure.error)
        self.assertIn("line 1", failure.error)

    def test_badPluginObject(self) -> None:
        """
        A plugin object with an unusable name is reported with the reason,
        not served.
        """
        self.dropin(
            "bad_name",
            """
            from twisted.plugin import IPlugin
            from zope.interface import implementer
            from sockplug.interfaces import IProtocolPlugin
            from sockplug.plugin import TransportKind

            @implementer(IPlugin, IProtocolPlugin)
            class Bad:
                name = "Bad Name"
                description = "d"
                kinds = frozenset({TransportKind.STREAM})

            bad = Bad()
            """,
        )
        registry = discover(entryPoints=_noEntryPoints)
        self.assertNotIn("Bad Name", registry.protocols)
        [failure] = registry.failures
        self.assertEqual(failure.source, "sockplug.plugins.bad_name")
        self.assertIn("'Bad Name' is not a valid protocol name", failure.error)

    def test_duplicateName(self) -> None:
        """
        A second plugin with a name already taken is reported and ignored;
        the first keeps the name.
        """
        self.dropin("dup_echo", PLUGIN.format(name="p", protocol="echo"))
        registry = discover(entryPoints=_noEntryPoints)
        self.assertEqual(registry.sources["echo"], "sockplug.plugins.sockplug_builtins")
        [failure] = registry.failures
        self.assertEqual(failure.source, "sockplug.plugins.dup_echo")
        self.assertIn(
            "'echo' is taken by sockplug.plugins.sockplug_builtins", failure.error
        )


class EntryPointTests(SynchronousTestCase):
    """
    Discovery of plugins named in the C{sockplug.protocols} entry-point
    group.
    """

    def setUp(self) -> None:
        top = os.path.abspath(self.mktemp())
        os.makedirs(top)
        with open(os.path.join(top, "sockplug_ep_test.py"), "w") as f:
            f.write(PLUGIN.format(name="upper", protocol="upper"))
            f.write("notAPlugin = object()\n")
        self.patch(sys, "path", [top, *sys.path])
        self.addCleanup(sys.modules.pop, "sockplug_ep_test", None)
        self.asked: list[str] = []

    def entryPoints(self, *points: tuple[str, str]) -> Any:
        def entryPoints(group: str) -> list[EntryPoint]:
            self.asked.append(group)
            return [EntryPoint(name, value, group) for name, value in points]

        return entryPoints

    def test_found(self) -> None:
        """
        A plugin object named by an entry point is found, with the entry
        point as its source.
        """
        registry = discover(
            entryPoints=self.entryPoints(("upper", "sockplug_ep_test:upper"))
        )
        self.assertEqual(self.asked, [ENTRY_POINT_GROUP])
        self.assertEqual(registry.protocols["upper"].name, "upper")
        self.assertEqual(
            registry.sources["upper"], "entry point upper = sockplug_ep_test:upper"
        )

    def test_loadFailure(self) -> None:
        """
        An entry point that cannot be loaded is reported with its error.
        """
        registry = discover(
            entryPoints=self.entryPoints(("gone", "sockplug_no_such_module:x"))
        )
        [failure] = registry.failures
        self.assertEqual(failure.source, "entry point gone = sockplug_no_such_module:x")
        self.assertIn("ModuleNotFoundError", failure.error)

    def test_notAPlugin(self) -> None:
        """
        An entry point naming something that is not a protocol plugin is
        reported as such.
        """
        registry = discover(
            entryPoints=self.entryPoints(("odd", "sockplug_ep_test:notAPlugin"))
        )
        [failure] = registry.failures
        self.assertIn("does not provide IProtocolPlugin", failure.error)


class RegistryTests(SynchronousTestCase):
    """
    Tests for L{Registry}.
    """

    def test_unknown(self) -> None:
        """
        Asking for an unknown protocol names it and lists the known ones.
        """
        registry = discover(entryPoints=_noEntryPoints)
        e = self.assertRaises(UnknownProtocolError, registry.get, "nope")
        self.assertEqual(
            str(e),
            "unknown protocol 'nope'; the protocols are: echo, hello, line-print",
        )

    def test_unknownWithFailures(self) -> None:
        """
        The message also names the plugins that failed to load, since one
        of them may be the protocol asked for.
        """
        registry = Registry({}, {}, (PluginFailure("mod.x", "NameError: y"),))
        e = self.assertRaises(UnknownProtocolError, registry.get, "x")
        self.assertIn("failed to load: mod.x: NameError: y", str(e))
