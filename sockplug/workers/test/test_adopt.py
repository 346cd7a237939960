"""
Tests for L{sockplug.workers._adopt}.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from twisted.trial.unittest import SynchronousTestCase

from sockplug.config._file import Configuration
from sockplug.endpoints.proxy._wrapper import ProxiedEndpoint
from sockplug.errors import ConfigError
from sockplug.internet._ports import TCPPort, UDPPort
from sockplug.testing._workers import SocketReactor, folder, listener
from sockplug.testing._workers import closeIfOpen as _closeIfOpen
from sockplug.workers._adopt import (
    InheritedDatagramEndpoint,
    InheritedSocket,
    InheritedStreamEndpoint,
    InheritedUNIXDatagramPort,
    InheritedUNIXPort,
    adoptConfiguration,
)
from sockplug.workers._sockets import sharedSocketOf, socketEndpoint


class _Recorder(Protocol):
    """
    A protocol that keeps what it receives.
    """

    def connectionMade(self) -> None:
        self.factory.made.append(self)


class _Datagrams(DatagramProtocol):
    def __init__(self) -> None:
        self.received: list[bytes] = []

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.received.append(datagram)


def _factory() -> Any:
    factory: Any = Factory.forProtocol(_Recorder)
    factory.made = []
    factory.noisy = False
    return factory


class _Held:
    """
    A listening socket as the supervisor holds it, closed after the test.
    """

    def __init__(self, case: SynchronousTestCase, family: int, kind: int) -> None:
        self.sock = socket.socket(family, kind)
        case.addCleanup(self.sock.close)
        if family == socket.AF_UNIX:
            self.address: Any = os.path.join(folder(case), "s")
        else:
            self.address = ("127.0.0.1", 0)
        self.sock.bind(self.address)
        self.address = self.sock.getsockname()
        if kind == socket.SOCK_STREAM:
            self.sock.listen(5)
        self.sock.setblocking(False)

    @property
    def fd(self) -> int:
        return self.sock.fileno()

    def listening(self) -> bool:
        return bool(self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))


class StreamTests(SynchronousTestCase):
    """
    Tests for L{InheritedStreamEndpoint}.
    """

    def setUp(self) -> None:
        self.reactor = SocketReactor()

    def listen(self, held: _Held) -> Any:
        endpoint = InheritedStreamEndpoint(self.reactor, held.fd)
        factory = _factory()
        port: Any = self.successResultOf(endpoint.listen(factory))
        self.addCleanup(_closeIfOpen, port)
        return port, factory

    def test_tcp(self) -> None:
        """
        A TCP socket is adopted with sockplug's TCP port, and its
        connections are accepted.
        """
        held = _Held(self, socket.AF_INET, socket.SOCK_STREAM)
        port, factory = self.listen(held)
        self.assertIsInstance(port, TCPPort)
        self.assertEqual(port.getHost().port, held.address[1])
        client = socket.create_connection(held.address, timeout=5)
        self.addCleanup(client.close)
        port.doRead()
        self.assertEqual(len(factory.made), 1)
        factory.made[0].transport.abortConnection()

    def test_duplicate(self) -> None:
        """
        The port adopts a duplicate: the inherited descriptor is left open
        when it stops, and can be listened on again.
        """
        held = _Held(self, socket.AF_INET, socket.SOCK_STREAM)
        port, _ = self.listen(held)
        self.assertNotEqual(port.fileno(), held.fd)
        port.stopListening()
        self.reactor.advance(0)
        os.fstat(held.fd)
        again, _ = self.listen(held)
        self.assertEqual(again.getHost().port, held.address[1])

    def test_noShutdown(self) -> None:
        """
        A port that stops leaves the socket listening for the other
        workers: it is not shut down.
        """
        for family in (socket.AF_INET, socket.AF_UNIX):
            held = _Held(self, family, socket.SOCK_STREAM)
            port, _ = self.listen(held)
            port.stopListening()
            self.reactor.advance(0)
            self.assertTrue(held.listening())

    def test_unix(self) -> None:
        """
        A UNIX socket is adopted with sockplug's UNIX port for inherited
        sockets; the socket file stays when it stops (it is the
        supervisor's), and connections are accepted.
        """
        held = _Held(self, socket.AF_UNIX, socket.SOCK_STREAM)
        port, factory = self.listen(held)
        self.assertIsInstance(port, InheritedUNIXPort)
        client = socket.socket(socket.AF_UNIX)
        self.addCleanup(client.close)
        client.connect(held.address)
        port.doRead()
        self.assertEqual(len(factory.made), 1)
        factory.made[0].transport.abortConnection()
        port.stopListening()
        self.reactor.advance(0)
        self.assertTrue(os.path.lexists(held.address))

    def test_notStream(self) -> None:
        """
        A datagram socket given for a stream listener fails its listen.
        """
        held = _Held(self, socket.AF_INET, socket.SOCK_DGRAM)
        endpoint = InheritedStreamEndpoint(self.reactor, held.fd)
        failure = self.failureResultOf(endpoint.listen(_factory()), OSError)
        self.assertIn(str(held.fd), str(failure.value))


class DatagramTests(SynchronousTestCase):
    """
    Tests for L{InheritedDatagramEndpoint}.
    """

    def setUp(self) -> None:
        self.reactor = SocketReactor()

    def listen(self, held: _Held) -> tuple[Any, _Datagrams]:
        endpoint = InheritedDatagramEndpoint(self.reactor, held.fd, 65536)
        protocol = _Datagrams()
        port: Any = self.successResultOf(endpoint.listen(protocol))
        self.addCleanup(_closeIfOpen, port)
        return port, protocol

    def test_udp(self) -> None:
        """
        A UDP socket is adopted with sockplug's UDP port, with the
        listener's largest datagram, and reads datagrams.
        """
        held = _Held(self, socket.AF_INET, socket.SOCK_DGRAM)
        port, protocol = self.listen(held)
        self.assertIsInstance(port, UDPPort)
        self.assertEqual(port.maxPacketSize, 65536)
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(sender.close)
        sender.sendto(b"x" * 20000, held.address)
        port.doRead()
        self.assertEqual(protocol.received, [b"x" * 20000])

    def test_unix(self) -> None:
        """
        A UNIX datagram socket is adopted with sockplug's port for
        inherited sockets, which leaves its file when it stops.
        """
        held = _Held(self, socket.AF_UNIX, socket.SOCK_DGRAM)
        port, protocol = self.listen(held)
        self.assertIsInstance(port, InheritedUNIXDatagramPort)
        sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sender.close)
        sender.sendto(b"hi", held.address)
        port.doRead()
        self.assertEqual(protocol.received, [b"hi"])
        port.stopListening()
        self.reactor.advance(0)
        self.assertTrue(os.path.lexists(held.address))

    def test_notDatagram(self) -> None:
        """
        A stream socket given for a datagram listener fails its listen.
        """
        held = _Held(self, socket.AF_INET, socket.SOCK_STREAM)
        endpoint = InheritedDatagramEndpoint(self.reactor, held.fd, 100)
        self.failureResultOf(endpoint.listen(DatagramProtocol()), OSError)


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
