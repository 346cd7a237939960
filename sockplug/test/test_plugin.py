"""
Tests for L{sockplug.plugin}.
"""

from __future__ import annotations

from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from sockplug.errors import PluginError, UnsupportedTransportError
from sockplug.interfaces import IProtocolPlugin
from sockplug.plugin import ListenerInfo, ProtocolPlugin, TransportKind, validName
from sockplug.testing import listenerInfo


def _factory(listener: ListenerInfo) -> Factory:
    return Factory.forProtocol(Protocol)


def _datagram(listener: ListenerInfo) -> DatagramProtocol:
    return DatagramProtocol()


class ProtocolPluginTests(SynchronousTestCase):
    """
    Tests for L{ProtocolPlugin}.
    """

    def test_interfaces(self) -> None:
        """
        A L{ProtocolPlugin} provides L{IProtocolPlugin} and L{IPlugin}, so
        that Twisted's plugin system finds it.
        """
        plugin = ProtocolPlugin(name="x", description="d", stream=_factory)
        self.assertTrue(verifyObject(IProtocolPlugin, plugin))
        self.assertTrue(IPlugin.providedBy(plugin))

    def test_kinds(self) -> None:
        """
        Its kinds are those it has a builder for.
        """
        self.assertEqual(
            ProtocolPlugin(name="a", description="", stream=_factory).kinds,
            frozenset({TransportKind.STREAM}),
        )
        self.assertEqual(
            ProtocolPlugin(name="b", description="", datagram=_datagram).kinds,
            frozenset({TransportKind.DATAGRAM}),
        )
        self.assertEqual(
            ProtocolPlugin(
                name="c", description="", stream=_factory, datagram=_datagram
            ).kinds,
            frozenset(TransportKind),
        )

    def test_noBuilder(self) -> None:
        """
        A plugin with no builder at all is refused when it is made.
        """
        self.assertRaises(PluginError, ProtocolPlugin, name="x", description="d")

    def test_builders(self) -> None:
        """
        The builders are called with the listener.
        """
        seen = []

        def stream(listener: ListenerInfo) -> Factory:
            seen.append(listener)
            return _factory(listener)

        info = listenerInfo()
        plugin = ProtocolPlugin(name="x", description="d", stream=stream)
        self.assertIsInstance(plugin.buildStreamFactory(info), Factory)
        self.assertEqual(seen, [info])

    def test_unsupportedKind(self) -> None:
        """
        Asking for a kind without a builder raises
        L{UnsupportedTransportError} naming the protocol.
        """
        plugin = ProtocolPlugin(name="only-stream", description="d", stream=_factory)
        e = self.assertRaises(
            UnsupportedTransportError, plugin.buildDatagramProtocol, listenerInfo()
        )
        self.assertIn("only-stream", str(e))
        plugin = ProtocolPlugin(name="only-dgram", description="d", datagram=_datagram)
        self.assertRaises(
            UnsupportedTransportError, plugin.buildStreamFactory, listenerInfo()
        )

    def test_badName(self) -> None:
        """
        A name that C{--endpoint NAME@...} could not use is refused.
        """
        for bad in ("", "Upper", "a@b", "a:b", "-x", "a b", "é"):
            self.assertRaises(
                PluginError, ProtocolPlugin, name=bad, description="", stream=_factory
            )


class ValidNameTests(SynchronousTestCase):
    """
    Tests for L{validName}.
    """

    def test_valid(self) -> None:
        """
        Lower-case letters, digits, dots, dashes and underscores are fine.
        """
        for good in ("echo", "line-print", "a.b_c-1", "9p"):
            self.assertEqual(validName(good), good)

    def test_notText(self) -> None:
        """
        A name that is not text is refused, shown in the message.
        """
        e = self.assertRaises(PluginError, validName, b"echo")
        self.assertIn("b'echo'", str(e))
