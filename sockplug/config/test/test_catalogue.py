"""
Tests for L{sockplug.config._catalogue}: what C{--help} lists after the
options.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from sockplug.config._catalogue import catalogue, describeKinds, describeProtocols
from sockplug.discovery._registry import PluginFailure, Registry, discover
from sockplug.endpoints._parser import EndpointParser
from sockplug.plugin import TransportKind
from sockplug.testing import MemoryDatagramReactor
from sockplug.testing._config import registry


class CatalogueTests(SynchronousTestCase):
    """
    Tests for L{catalogue}.
    """

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()
        self.registry = registry()

    def catalogue(self, registry: Registry) -> str:
        return catalogue(
            registry, EndpointParser(self.reactor, registry.datagramParsers)
        )

    def test_help(self) -> None:
        """
        The usage lists every protocol with its description and kinds, every
        endpoint type with an example, and examples of whole commands.
        """
        usage = self.catalogue(self.registry)
        self.assertIn(
            "echo        Sends back every byte it receives (RFC 862)."
            " [stream, datagram]",
            usage,
        )
        self.assertIn("dgram-only", usage)
        self.assertIn("(from tests)", usage)
        for example in (
            "e.g. tcp:8888:interface=127.0.0.1",
            r"e.g. tcp6:8888:interface=\:\:1",
            "e.g. udp:9999:interface=127.0.0.1",
            "e.g. unixgram:/tmp/sockplug.dgram:mode=660",
        ):
            self.assertIn(example, usage)
        self.assertIn("twistd -n sockplug --endpoint tcp:8888", usage)

    def test_helpFailures(self) -> None:
        """
        The usage lists the plugins that failed to load, with their errors.
        """
        registry = Registry(
            self.registry.protocols,
            self.registry.sources,
            (PluginFailure("sockplug.plugins.broken", "ZeroDivisionError: x"),),
            self.registry.datagramParsers,
        )
        usage = self.catalogue(registry)
        self.assertIn(
            "Plugins that failed to load:\n  sockplug.plugins.broken:"
            " ZeroDivisionError: x",
            usage,
        )

    def test_socketOptionsAndDefences(self) -> None:
        """
        The socket options and defences are listed from their tables, each
        with the kinds it applies to.
        """
        text = self.catalogue(self.registry)
        self.assertIn(
            "  backlog    listen queue length (default 50) [tcp, unix]\n", text
        )
        self.assertIn(
            "  idle         seconds without traffic before a connection is closed;"
            " 0 never (default 300) [stream]\n",
            text,
        )

    def test_flagWords(self) -> None:
        """
        The words a yes-or-no option takes are listed once, and lockfile is
        documented in its own spelling, as its message says it.
        """
        text = self.catalogue(self.registry)
        self.assertIn(
            "  A yes|no or 1|0 option takes any of yes/no, true/false, on/off,"
            " 1/0, in any case.\n",
            text,
        )
        self.assertIn("  lockfile   1|0: keep PATH.lock", text)


class DescribeProtocolsTests(SynchronousTestCase):
    """
    Tests for L{describeProtocols}.
    """

    def test_options(self) -> None:
        """
        Each protocol's options are listed under it, with type, default
        and help.
        """
        lines = describeProtocols(discover(entryPoints=lambda group: []))
        hello = next(i for i, line in enumerate(lines) if line.startswith("  hello "))
        self.assertEqual(
            lines[hello + 1].strip(),
            'option greeting (text, default "Hello, {peer}! Send me your name,'
            ' one per line."): sent to each peer when it connects (stream);'
            ' {peer} is its address; "" sends none',
        )
        printer = next(
            i for i, line in enumerate(lines) if line.startswith("  line-print ")
        )
        self.assertTrue(
            lines[printer + 1]
            .lstrip()
            .startswith('option output (text, default "-"): where lines go'),
            lines[printer + 1],
        )
        echo = next(i for i, line in enumerate(lines) if line.startswith("  echo "))
        self.assertFalse(lines[echo + 1].lstrip().startswith("option "))

    def test_kinds(self) -> None:
        """
        The kinds of transport are named in their order.
        """
        self.assertEqual(
            describeKinds(frozenset({TransportKind.DATAGRAM, TransportKind.STREAM})),
            "stream, datagram",
        )
