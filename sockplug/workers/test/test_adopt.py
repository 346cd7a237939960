"""
Tests for L{sockplug.workers._adopt}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from sockplug.config._file import Configuration
from sockplug.endpoints.proxy._wrapper import ProxiedEndpoint
from sockplug.errors import ConfigError
from sockplug.internet import InheritedDatagramEndpoint, InheritedStreamEndpoint
from sockplug.testing._workers import SocketReactor, listener
from sockplug.workers._adopt import InheritedSocket, adoptConfiguration
from sockplug.workers._sockets import sharedSocketOf, socketEndpoint


class AdoptConfigurationTests(SynchronousTestCase):
    """
    Tests for L{adoptConfiguration}.
    """

    def setUp(self) -> None:
        self.reactor = SocketReactor()

    def inherited(self, configuration: Configuration) -> dict[str, InheritedSocket]:
        found = {}
        for number, each in enumerate(configuration.listeners):
            key = each.name or f"--endpoint #{number + 1}"
            identity = sharedSocketOf(each.endpoint).identity
            found[key] = InheritedSocket(10 + number, identity)
        return found

    def test_adopted(self) -> None:
        """
        Each listener listens on the socket inherited for it, by name or
        place on the command line, with everything else as it was: its
        name, its protocol, its limits and its layers.
        """
        configuration = Configuration(
            listeners=(
                listener("haproxy:tcp:0:idle=7", self.reactor),
                listener("udp:0:maxPacketSize=999", self.reactor, name="u"),
            ),
            maxConnections=3,
        )
        adopted = adoptConfiguration(
            configuration, self.inherited(configuration), self.reactor
        )
        first, second = adopted.listeners
        self.assertEqual(adopted.maxConnections, 3)
        self.assertEqual(first.spec, configuration.listeners[0].spec)
        self.assertEqual(first.endpoint.limits.idleTimeout, 7)
        self.assertIsInstance(first.endpoint.endpoint, ProxiedEndpoint)
        self.assertEqual(
            socketEndpoint(first.endpoint.endpoint),
            InheritedStreamEndpoint(self.reactor, 10),
        )
        self.assertEqual(second.name, "u")
        self.assertEqual(
            second.endpoint.endpoint,
            InheritedDatagramEndpoint(self.reactor, 11, 999),
        )

    def test_noSocket(self) -> None:
        """
        A listener the supervisor holds no socket for is refused, naming
        it.
        """
        configuration = Configuration(
            listeners=(listener("tcp:1", self.reactor, name="web"),)
        )
        e = self.assertRaises(
            ConfigError, adoptConfiguration, configuration, {}, self.reactor
        )
        self.assertIn('listener "web"', str(e))
        self.assertIn("restart", str(e))

    def test_otherSocket(self) -> None:
        """
        A listener whose socket is not the one held for its name (the
        file changed since) is refused.
        """
        old = Configuration(listeners=(listener("tcp:1", self.reactor, name="a"),))
        new = Configuration(listeners=(listener("tcp:2", self.reactor, name="a"),))
        self.assertRaises(
            ConfigError,
            adoptConfiguration,
            new,
            self.inherited(old),
            self.reactor,
        )

    def test_notShareable(self) -> None:
        """
        A listener whose socket cannot be shared is refused, saying why.
        """
        configuration = Configuration(listeners=(listener("stdio:", self.reactor),))
        e = self.assertRaises(
            ConfigError, adoptConfiguration, configuration, {}, self.reactor
        )
        self.assertIn("stdio:", str(e))
