"""
Tests for L{sockplug.internet._adopted}: listening on sockets made
elsewhere (by systemd, by the workers' supervisor), on real sockets made
here. TCP and UDP sockets are served with sockplug's ports on a posix
reactor (which is not run: the ports are driven by calling C{doRead}) and
adopted by any other reactor; UNIX ones are served with sockplug's ports on
either.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from typing import Any

from twisted.internet.address import UNIXAddress
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from sockplug.compat import pollerOf
from sockplug.internet._adopted import (
    AdoptedUNIXDatagramPort,
    AdoptedUNIXPort,
    InheritedDatagramEndpoint,
    InheritedStreamEndpoint,
)
from sockplug.internet._ports import TCPPort, UDPPort
from sockplug.internet._reactor import SockplugReactor
from sockplug.server import closeAtOnce
from sockplug.testing import MemoryDatagramReactor
from sockplug.testing._sockets import PassedSockets


def _posixReactor(case: SynchronousTestCase) -> SockplugReactor:
    """
    A posix reactor that is not run, cleaned up after the test.
    """
    reactor = SockplugReactor()
    case.addCleanup(pollerOf(reactor).close)
    case.addCleanup(reactor.waker.connectionLost, None)
    case.addCleanup(reactor.removeAll)
    return reactor


def _folder(case: SynchronousTestCase) -> str:
    """
    A new temporary folder with a short name, removed after the test.
    """
    path = tempfile.mkdtemp(prefix="sp-")
    case.addCleanup(shutil.rmtree, path, True)
    return path


def _closeIfOpen(port: Any) -> None:
    if getattr(port, "connected", True):
        closeAtOnce(port)


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


class _Echo(DatagramProtocol):
    """
    Sends each datagram back to its sender.
    """

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        assert self.transport is not None
        self.transport.write(datagram, addr)


def _factory() -> Any:
    factory: Any = Factory.forProtocol(_Recorder)
    factory.made = []
    factory.noisy = False
    return factory


class _Held:
    """
    A socket as its holder (the supervisor, systemd) made it, closed after
    the test.
    """

    def __init__(self, case: SynchronousTestCase, family: int, kind: int) -> None:
        self.sock = socket.socket(family, kind)
        case.addCleanup(self.sock.close)
        if family == socket.AF_UNIX:
            self.address: Any = os.path.join(_folder(case), "s")
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
    Tests for L{InheritedStreamEndpoint} on a posix reactor.
    """

    def setUp(self) -> None:
        self.reactor = _posixReactor(self)

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
        self.reactor.runUntilCurrent()
        os.fstat(held.fd)
        again, _ = self.listen(held)
        self.assertEqual(again.getHost().port, held.address[1])

    def test_noShutdown(self) -> None:
        """
        A port that stops leaves the socket listening for its other
        holders: it is not shut down.
        """
        for family in (socket.AF_INET, socket.AF_UNIX):
            held = _Held(self, family, socket.SOCK_STREAM)
            port, _ = self.listen(held)
            port.stopListening()
            self.reactor.runUntilCurrent()
            self.assertTrue(held.listening())

    def test_unix(self) -> None:
        """
        A UNIX socket is adopted with sockplug's UNIX port for adopted
        sockets; the socket file stays when it stops (it is its holder's),
        and connections are accepted.
        """
        held = _Held(self, socket.AF_UNIX, socket.SOCK_STREAM)
        port, factory = self.listen(held)
        self.assertIsInstance(port, AdoptedUNIXPort)
        client = socket.socket(socket.AF_UNIX)
        self.addCleanup(client.close)
        client.connect(held.address)
        port.doRead()
        self.assertEqual(len(factory.made), 1)
        factory.made[0].transport.abortConnection()
        port.stopListening()
        self.reactor.runUntilCurrent()
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
    Tests for L{InheritedDatagramEndpoint} on a posix reactor.
    """

    def setUp(self) -> None:
        self.reactor = _posixReactor(self)

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
        A UNIX datagram socket is adopted with sockplug's port for adopted
        sockets, which leaves its file when it stops.
        """
        held = _Held(self, socket.AF_UNIX, socket.SOCK_DGRAM)
        port, protocol = self.listen(held)
        self.assertIsInstance(port, AdoptedUNIXDatagramPort)
        sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sender.close)
        sender.sendto(b"hi", held.address)
        port.doRead()
        self.assertEqual(protocol.received, [b"hi"])
        port.stopListening()
        self.reactor.runUntilCurrent()
        self.assertTrue(os.path.lexists(held.address))

    def test_notDatagram(self) -> None:
        """
        A stream socket given for a datagram listener fails its listen.
        """
        held = _Held(self, socket.AF_INET, socket.SOCK_STREAM)
        endpoint = InheritedDatagramEndpoint(self.reactor, held.fd, 100)
        self.failureResultOf(endpoint.listen(DatagramProtocol()), OSError)


class OtherReactorDatagramTests(SynchronousTestCase):
    """
    Tests for L{InheritedDatagramEndpoint} on a reactor that runs none of
    sockplug's ports (as systemd passes the sockets).
    """

    def setUp(self) -> None:
        self.sockets = PassedSockets(self, blocking=False)
        self.reactor = MemoryDatagramReactor()

    def test_unix(self) -> None:
        """
        A UNIX datagram socket (which Twisted cannot adopt) is served: a
        datagram sent to it is answered.
        """
        server = self.sockets.unix(socket.SOCK_DGRAM, "server.sock")
        client = self.sockets.unix(socket.SOCK_DGRAM, "client.sock")
        endpoint = InheritedDatagramEndpoint(self.reactor, server.fileno(), 65536)
        port = self.successResultOf(endpoint.listen(_Echo()))
        self.assertIsInstance(port, AdoptedUNIXDatagramPort)
        self.assertEqual(port.getHost(), UNIXAddress(server.getsockname()))
        self.assertIn(port, self.reactor.getReaders())
        client.sendto(b"ping", server.getsockname())
        port.doRead()  # type: ignore[attr-defined]
        client.settimeout(5)
        self.assertEqual(client.recv(100), b"ping")

    def test_unixPacketSize(self) -> None:
        """
        The adopted UNIX port reads datagrams up to C{maxPacketSize}.
        """
        server = self.sockets.unix(socket.SOCK_DGRAM)
        endpoint = InheritedDatagramEndpoint(self.reactor, server.fileno(), 1000)
        port = self.successResultOf(endpoint.listen(_Echo()))
        self.assertEqual(port.maxPacketSize, 1000)  # type: ignore[attr-defined]

    def test_unixStopKeepsInherited(self) -> None:
        """
        Stopping an adopted UNIX port closes its own duplicate only: the
        inherited descriptor and the socket file (with its mode) stay, and
        the endpoint can listen again (as a reload that replaces the
        listener does).
        """
        server = self.sockets.unix(socket.SOCK_DGRAM)
        os.chmod(server.getsockname(), 0o600)
        endpoint = InheritedDatagramEndpoint(self.reactor, server.fileno(), 65536)
        first = self.successResultOf(endpoint.listen(_Echo()))
        first.connectionLost(Failure(Exception("stopped")))  # type: ignore[attr-defined]
        os.fstat(server.fileno())
        self.assertEqual(os.stat(server.getsockname()).st_mode & 0o777, 0o600)
        second = self.successResultOf(endpoint.listen(_Echo()))
        self.assertIsNot(second, first)
        self.assertNotEqual(second.socket.fileno(), server.fileno())  # type: ignore[attr-defined]

    def test_udpListensAgain(self) -> None:
        """
        A UDP endpoint adopts the same inherited descriptor each time it
        listens.
        """
        sock = self.sockets.make(socket.AF_INET, socket.SOCK_DGRAM)
        endpoint = InheritedDatagramEndpoint(self.reactor, sock.fileno(), 65536)
        self.successResultOf(endpoint.listen(_Echo()))
        self.successResultOf(endpoint.listen(_Echo()))
        self.assertEqual([p[0] for p in self.reactor.adoptedPorts], [sock.fileno()] * 2)


class OtherReactorStreamTests(SynchronousTestCase):
    """
    Tests for L{InheritedStreamEndpoint} with UNIX sockets on a reactor that
    runs none of sockplug's TCP ports (as systemd passes the sockets).
    """

    def setUp(self) -> None:
        self.sockets = PassedSockets(self, blocking=False)
        self.reactor = MemoryDatagramReactor()

    def test_unix(self) -> None:
        """
        A listening UNIX stream socket is adopted without touching its file
        (Twisted's adopted port makes it mode 666 and removes it when it
        stops), and accepts connections.
        """
        sock = self.sockets.unix(socket.SOCK_STREAM)
        sock.listen(1)
        path = sock.getsockname()
        os.chmod(path, 0o600)
        factory = Factory.forProtocol(Protocol)
        endpoint = InheritedStreamEndpoint(self.reactor, sock.fileno())
        port = self.successResultOf(endpoint.listen(factory))
        self.assertIsInstance(port, AdoptedUNIXPort)
        self.assertEqual(port.getHost(), UNIXAddress(path))
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        client = self.sockets.make(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(path)
        port.doRead()  # type: ignore[attr-defined]
        self.assertEqual(len(self.reactor.getReaders()), 2)  # the port, the connection
        port.connectionLost(Failure(Exception("stopped")))  # type: ignore[attr-defined]
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        os.fstat(sock.fileno())

    def test_unixStopKeepsListening(self) -> None:
        """
        Stopping an adopted UNIX stream port leaves the socket listening
        for every other holder (systemd, the port of a reload): it closes
        its duplicate without C{shutdown()}, which would stop the socket
        itself.
        """
        sock = self.sockets.unix(socket.SOCK_STREAM)
        sock.listen(1)
        path = sock.getsockname()
        endpoint = InheritedStreamEndpoint(self.reactor, sock.fileno())
        port = self.successResultOf(endpoint.listen(Factory.forProtocol(Protocol)))
        port.connectionLost(Failure(Exception("stopped")))  # type: ignore[attr-defined]
        client = self.sockets.make(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(path)
        accepted, _ = sock.accept()
        accepted.close()
