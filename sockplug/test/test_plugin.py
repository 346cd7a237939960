"""
Tests for L{sockplug.plugin}.
"""

from __future__ import annotations

import operator

from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from sockplug import interfaces
from sockplug.errors import PluginError, UnsupportedTransportError
from sockplug.interfaces import IListenerInfo, IProtocolPlugin
from sockplug.plugin import (
    ListenerInfo,
    ListenerLimits,
    ProtocolOption,
    ProtocolPlugin,
    TransportKind,
    validName,
)
from sockplug.testing import listenerInfo


def _factory(listener: IListenerInfo) -> Factory:
    return Factory.forProtocol(Protocol)


def _datagram(listener: IListenerInfo) -> DatagramProtocol:
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

        def stream(listener: IListenerInfo) -> Factory:
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

    def test_options(self) -> None:
        """
        The options given are kept, as a tuple, in their order.
        """
        options = [
            ProtocolOption(name="b", type=str, default="", help="h"),
            ProtocolOption(name="a", type=int, default=1, help="h"),
        ]
        plugin = ProtocolPlugin(
            name="x", description="d", stream=_factory, options=options
        )
        self.assertEqual(plugin.options, tuple(options))

    def test_noOptions(self) -> None:
        """
        A plugin declares no option unless given some.
        """
        self.assertEqual(
            ProtocolPlugin(name="x", description="d", stream=_factory).options, ()
        )

    def test_optionNotProtocolOption(self) -> None:
        """
        An option that is not a L{ProtocolOption} is refused, shown in the
        message.
        """

        class LookAlike:
            name = "greeting"

            def __repr__(self) -> str:
                return "<look-alike greeting>"

        e = self.assertRaises(
            PluginError,
            ProtocolPlugin,
            name="x",
            description="d",
            stream=_factory,
            options=[LookAlike()],
        )
        self.assertEqual(
            str(e), "protocol plugin 'x': <look-alike greeting> is not a ProtocolOption"
        )

    def test_optionWithoutName(self) -> None:
        """
        An option that is not even named (a tuple) is refused as not a
        L{ProtocolOption}, not with an AttributeError.
        """
        e = self.assertRaises(
            PluginError,
            ProtocolPlugin,
            name="x",
            description="d",
            stream=_factory,
            options=[("greeting", str)],
        )
        self.assertEqual(
            str(e),
            "protocol plugin 'x': ('greeting', <class 'str'>) is not a ProtocolOption",
        )

    def test_optionTwice(self) -> None:
        """
        Two options of one name are refused.
        """
        options = [
            ProtocolOption(name="greeting", type=str, default="", help="h"),
            ProtocolOption(name="greeting", type=str, default="x", help="h"),
        ]
        e = self.assertRaises(
            PluginError,
            ProtocolPlugin,
            name="x",
            description="d",
            stream=_factory,
            options=options,
        )
        self.assertEqual(str(e), "protocol plugin 'x' declares option 'greeting' twice")


class ListenerInfoTests(SynchronousTestCase):
    """
    Tests for L{ListenerInfo}.
    """

    def _info(self, **kwargs: object) -> ListenerInfo:
        return ListenerInfo(
            description="tcp:8888",
            kind=TransportKind.STREAM,
            protocolName="hello",
            reactor=None,
            **kwargs,  # type: ignore[arg-type]
        )

    def test_defaults(self) -> None:
        """
        Unless given, a listener has no options, no name and the default
        limits.
        """
        info = self._info()
        self.assertEqual(dict(info.options), {})
        self.assertEqual(info.name, "")
        self.assertEqual(info.limits, ListenerLimits())

    def test_options(self) -> None:
        """
        The options are given by name.
        """
        info = self._info(options={"greeting": "Hi"}, name="greeter")
        self.assertEqual(dict(info.options), {"greeting": "Hi"})
        self.assertEqual(info.options["greeting"], "Hi")
        self.assertEqual(info.name, "greeter")

    def test_optionsReadOnly(self) -> None:
        """
        A protocol cannot change its listener's options.
        """
        info = self._info(options={"greeting": "Hi"})
        self.assertRaises(TypeError, operator.setitem, info.options, "greeting", "x")
        self.assertRaises(TypeError, operator.delitem, info.options, "greeting")

    def test_optionsCopied(self) -> None:
        """
        Changing the mapping the options were given in does not change
        them.
        """
        given = {"greeting": "Hi"}
        info = self._info(options=given)
        given["greeting"] = "changed"
        self.assertEqual(info.options["greeting"], "Hi")

    def test_optionsInEquality(self) -> None:
        """
        Listeners that differ in options are not equal.
        """
        self.assertNotEqual(
            self._info(options={"greeting": "a"}), self._info(options={"greeting": "b"})
        )

    def test_hashable(self) -> None:
        """
        A listener with options can be hashed: they are left out of its
        hash.
        """
        self.assertEqual(
            hash(self._info(options={"greeting": "a"})),
            hash(self._info(options={"greeting": "b"})),
        )

    def test_interface(self) -> None:
        """
        A listener provides L{IListenerInfo}.
        """
        self.assertTrue(verifyObject(IListenerInfo, self._info()))

    def test_transportKindOffered(self) -> None:
        """
        L{TransportKind} is offered here as well as in
        L{sockplug.interfaces}, where it is declared.
        """
        self.assertIs(TransportKind, interfaces.TransportKind)


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
