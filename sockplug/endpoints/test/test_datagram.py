"""
Tests for L{sockplug.endpoints._datagram}; and which port each datagram
endpoint listens with on a posix reactor: sockplug's
(L{sockplug.internet._udp}), for C{udp:}, C{unixgram:} and
C{systemd-datagram:} alike.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
from typing import Any

from twisted.internet.error import CannotListenError, ConnectionDone
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import DatagramProtocol
from twisted.python.failure import Failure
from twisted.python.systemd import ListenFDs
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from sockplug.compat import pollerOf
from sockplug.endpoints._datagram import (
    DEFAULT_MAX_PACKET_SIZE,
    UDPParser,
    UDPServerEndpoint,
    UNIXDatagramParser,
    UNIXDatagramServerEndpoint,
    _RemovingPort,
)
from sockplug.endpoints._systemd import Selector, SystemdDatagramEndpoint
from sockplug.interfaces import (
    IDatagramServerEndpoint,
    IDatagramServerEndpointStringParser,
)
from sockplug.internet import AdoptedUNIXDatagramPort
from sockplug.internet._datagramport import LeanUNIXDatagramPort
from sockplug.internet._ports import UDPPort, UNIXDatagramPort
from sockplug.internet._reactor import SockplugReactor
from sockplug.internet._udp import LeanUDPPort
from sockplug.options._sockopts import SocketOptions
from sockplug.testing import MemoryDatagramReactor, MemoryDatagramTransport


class UDPParserTests(SynchronousTestCase):
    """
    Tests for L{UDPParser}.
    """

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()
        self.parser = UDPParser()

    def test_interface(self) -> None:
        """
        The parser provides L{IDatagramServerEndpointStringParser} for
        C{udp}, with an example.
        """
        self.assertTrue(verifyObject(IDatagramServerEndpointStringParser, self.parser))
        self.assertEqual(self.parser.prefix, "udp")
        self.assertTrue(self.parser.example.startswith("udp:"))

    def test_port(self) -> None:
        """
        A port alone listens on every IPv4 interface, reading whole UDP
        datagrams.
        """
        self.assertEqual(
            self.parser.parseDatagramServer(self.reactor, "9999"),
            UDPServerEndpoint(self.reactor, 9999, "", DEFAULT_MAX_PACKET_SIZE),
        )

    def test_portKeyword(self) -> None:
        """
        The port may be given as C{port=}.
        """
        endpoint = self.parser.parseDatagramServer(self.reactor, port="53")
        self.assertEqual(endpoint.port, 53)

    def test_interfaceAndSize(self) -> None:
        """
        C{interface=} and C{maxPacketSize=} are passed on.
        """
        endpoint = self.parser.parseDatagramServer(
            self.reactor, "1", interface="::1", maxPacketSize="1024"
        )
        self.assertEqual((endpoint.interface, endpoint.maxPacketSize), ("::1", 1024))

    def test_badPort(self) -> None:
        """
        A port that is not a number from 0 to 65535 is refused, naming it.
        """
        for bad in ("x", "-1", "65536", ""):
            e = self.assertRaises(
                ValueError, self.parser.parseDatagramServer, self.reactor, bad
            )
            self.assertIn(repr(bad), str(e))

    def test_noPort(self) -> None:
        """
        A missing port is refused.
        """
        e = self.assertRaises(ValueError, self.parser.parseDatagramServer, self.reactor)
        self.assertIn("no port", str(e))

    def test_portTwice(self) -> None:
        """
        A port given by position and as a keyword is refused.
        """
        self.assertRaises(
            ValueError, self.parser.parseDatagramServer, self.reactor, "1", port="2"
        )

    def test_tooManyArguments(self) -> None:
        """
        More than one positional argument is refused.
        """
        self.assertRaises(
            ValueError, self.parser.parseDatagramServer, self.reactor, "1", "2"
        )

    def test_badInterface(self) -> None:
        """
        An interface that is not an IP address is refused, with a hint on
        escaping IPv6 colons.
        """
        e = self.assertRaises(
            ValueError,
            self.parser.parseDatagramServer,
            self.reactor,
            "1",
            interface="nonsense",
        )
        self.assertIn("\\:\\:1", str(e))

    def test_badSize(self) -> None:
        """
        A C{maxPacketSize} that is not a positive number is refused.
        """
        for bad in ("0", "x", "-5"):
            self.assertRaises(
                ValueError,
                self.parser.parseDatagramServer,
                self.reactor,
                "1",
                maxPacketSize=bad,
            )

    def test_unknownOption(self) -> None:
        """
        An unknown option is refused, listing the known ones.
        """
        e = self.assertRaises(
            ValueError, self.parser.parseDatagramServer, self.reactor, "1", bogus="1"
        )
        self.assertIn("bogus", str(e))
        self.assertIn("interface", str(e))


class UNIXDatagramParserTests(SynchronousTestCase):
    """
    Tests for L{UNIXDatagramParser}.
    """

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()
        self.parser = UNIXDatagramParser()

    def test_path(self) -> None:
        """
        A path alone gives mode 0660 (not world-writable), whole datagrams,
        and stale socket files replaced.
        """
        self.assertTrue(verifyObject(IDatagramServerEndpointStringParser, self.parser))
        self.assertEqual(
            self.parser.parseDatagramServer(self.reactor, "/tmp/x"),
            UNIXDatagramServerEndpoint(
                self.reactor, "/tmp/x", 0o660, DEFAULT_MAX_PACKET_SIZE
            ),
        )

    def test_mode(self) -> None:
        """
        C{mode=} is octal.
        """
        endpoint = self.parser.parseDatagramServer(self.reactor, "/tmp/x", mode="660")
        self.assertEqual(endpoint.mode, 0o660)

    def test_badMode(self) -> None:
        """
        A mode that is not octal, or out of range, is refused.
        """
        for bad in ("9", "rw", "1000"):
            self.assertRaises(
                ValueError,
                self.parser.parseDatagramServer,
                self.reactor,
                "/tmp/x",
                mode=bad,
            )

    def test_emptyPath(self) -> None:
        """
        An empty path is refused.
        """
        self.assertRaises(ValueError, self.parser.parseDatagramServer, self.reactor, "")

    def test_nulInPath(self) -> None:
        """
        A path with a NUL byte is refused.
        """
        self.assertRaises(
            ValueError, self.parser.parseDatagramServer, self.reactor, "/tmp/a\0b"
        )


class EndpointListenTests(SynchronousTestCase):
    """
    Tests for listening with L{UDPServerEndpoint} and
    L{UNIXDatagramServerEndpoint} on an in-memory reactor.
    """

    def test_udpListen(self) -> None:
        """
        A UDP endpoint listens with C{listenUDP} and its arguments, and
        fires with the port.
        """
        reactor = MemoryDatagramReactor()
        endpoint = UDPServerEndpoint(reactor, 53, "::1", 2048)
        self.assertTrue(verifyObject(IDatagramServerEndpoint, endpoint))
        protocol = DatagramProtocol()
        port = self.successResultOf(endpoint.listen(protocol))
        self.assertEqual(reactor.udpPorts[0][:4], (53, protocol, "::1", 2048))
        self.assertIs(port, reactor.udpPorts[0][4])

    def test_udpListenFailure(self) -> None:
        """
        A failure to listen fails the L{Deferred}, not the call.
        """

        class Refusing(MemoryDatagramReactor):
            def listenUDP(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
                raise CannotListenError("", 53, OSError(98, "in use"))

        endpoint = UDPServerEndpoint(Refusing(), 53)
        self.failureResultOf(endpoint.listen(DatagramProtocol()), CannotListenError)

    def test_unixListen(self) -> None:
        """
        A UNIX datagram endpoint listens with C{listenUNIXDatagram}, its
        mode and its packet size.
        """
        reactor = MemoryDatagramReactor()
        path = self.mktemp()
        endpoint = UNIXDatagramServerEndpoint(reactor, path, 0o600, 4096)
        port = self.successResultOf(endpoint.listen(DatagramProtocol()))
        self.assertTrue(verifyObject(IListeningPort, port))
        self.assertEqual(reactor.unixDatagramPorts[0][0], path)
        self.assertEqual(reactor.unixDatagramPorts[0][2:4], (4096, 0o600))


def _bindDatagram(path: str) -> socket.socket:
    """
    Bind a real UNIX datagram socket at C{path}, as a server would.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    return sock


class _BindingReactor(MemoryDatagramReactor):
    """
    A reactor whose UNIX datagram ports bind a real socket file, so that
    its removal can be checked; nothing is sent.
    """

    def __init__(self) -> None:
        MemoryDatagramReactor.__init__(self)
        self.sockets: list[socket.socket] = []

    def listenUNIXDatagram(
        self,
        address: str,
        protocol: DatagramProtocol,
        maxPacketSize: int = 8192,
        mode: int = 0o666,
    ) -> MemoryDatagramTransport:
        try:
            self.sockets.append(_bindDatagram(address))
        except OSError as e:
            raise CannotListenError(None, address, e) from e
        return MemoryDatagramReactor.listenUNIXDatagram(
            self, address, protocol, maxPacketSize, mode
        )


class SocketFileTests(SynchronousTestCase):
    """
    Tests for the socket file of L{UNIXDatagramServerEndpoint}.
    """

    def setUp(self) -> None:
        self.reactor = _BindingReactor()
        self.addCleanup(self._close)
        # A short folder: a UNIX socket path must fit in 108 bytes, which
        # trial's own temporary paths need not.
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        self.path = os.path.join(folder, "s.dgram")

    def _close(self) -> None:
        for sock in self.reactor.sockets:
            sock.close()

    def stop(self, port: IListeningPort) -> None:
        """
        Stop C{port}, which must say when it has stopped.
        """
        stopping = port.stopListening()
        assert stopping is not None
        self.successResultOf(stopping)

    def test_removedOnStop(self) -> None:
        """
        The socket file is removed once the port has stopped, so a restart
        on the same path works.
        """
        endpoint = UNIXDatagramServerEndpoint(self.reactor, self.path)
        port = self.successResultOf(endpoint.listen(DatagramProtocol()))
        self.assertTrue(stat.S_ISSOCK(os.lstat(self.path).st_mode))
        self.stop(port)
        self.assertFalse(os.path.lexists(self.path))
        self.reactor.sockets[0].close()
        self.successResultOf(endpoint.listen(DatagramProtocol()))
        self.assertTrue(os.path.lexists(self.path))

    def test_removedOnCloseAtOnce(self) -> None:
        """
        Closing the port at once (after a failed start-up) stops it and
        removes its socket file without waiting for the reactor.
        """
        endpoint = UNIXDatagramServerEndpoint(self.reactor, self.path)
        port = self.successResultOf(endpoint.listen(DatagramProtocol()))
        assert isinstance(port, _RemovingPort)
        port.connectionLost(Failure(ConnectionDone()))
        self.assertFalse(os.path.lexists(self.path))
        transport = self.reactor.unixDatagramPorts[0][4]
        self.assertFalse(transport.listening)

    def test_otherFileKept(self) -> None:
        """
        A file put at the path by someone else after the port started is
        not removed when the port stops.
        """
        endpoint = UNIXDatagramServerEndpoint(self.reactor, self.path)
        port = self.successResultOf(endpoint.listen(DatagramProtocol()))
        os.unlink(self.path)
        with open(self.path, "w") as f:
            f.write("not ours")
        self.stop(port)
        self.assertTrue(os.path.exists(self.path))

    def test_otherServerKept(self) -> None:
        """
        The socket of another server, bound at the path after the port's
        file was removed, is not removed when the port stops.
        """
        endpoint = UNIXDatagramServerEndpoint(self.reactor, self.path)
        port = self.successResultOf(endpoint.listen(DatagramProtocol()))
        os.unlink(self.path)
        other = _bindDatagram(self.path)
        self.addCleanup(other.close)
        self.stop(port)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"still there", self.path)
        self.assertEqual(other.recv(100), b"still there")

    def test_staleSocketReplaced(self) -> None:
        """
        A socket file no socket is bound to any more (its server died) is
        replaced.
        """
        _bindDatagram(self.path).close()
        self.assertTrue(os.path.lexists(self.path))
        endpoint = UNIXDatagramServerEndpoint(self.reactor, self.path)
        self.successResultOf(endpoint.listen(DatagramProtocol()))
        self.assertEqual(len(self.reactor.unixDatagramPorts), 1)

    def test_liveSocketKept(self) -> None:
        """
        A socket file a live socket is bound to is never taken over:
        listening fails, and the file stays.
        """
        live = _bindDatagram(self.path)
        self.addCleanup(live.close)
        endpoint = UNIXDatagramServerEndpoint(self.reactor, self.path)
        self.failureResultOf(endpoint.listen(DatagramProtocol()), CannotListenError)
        self.assertTrue(os.path.lexists(self.path))

    def test_regularFileKept(self) -> None:
        """
        A file that is not a socket is never removed: listening fails.
        """
        with open(self.path, "w") as f:
            f.write("data")
        endpoint = UNIXDatagramServerEndpoint(self.reactor, self.path)
        self.failureResultOf(endpoint.listen(DatagramProtocol()), CannotListenError)
        with open(self.path) as f:
            self.assertEqual(f.read(), "data")


class _Echo(DatagramProtocol):
    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        assert self.transport is not None
        self.transport.write(datagram, addr)


class PortTypeTests(SynchronousTestCase):
    """
    Datagram endpoints listen with sockplug's ports on a posix reactor,
    which is not run: the port is driven by calling C{doRead}.
    """

    def setUp(self) -> None:
        self.reactor = SockplugReactor()
        self.addCleanup(pollerOf(self.reactor).close)
        self.addCleanup(self.reactor.waker.connectionLost, None)
        self.addCleanup(self.reactor.removeAll)
        self.folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.folder)

    def listening(self, port: Any) -> Any:
        """
        Close C{port} after the test.
        """
        self.addCleanup(port.connectionLost, None)
        return port

    def echoes(self, port: Any, family: int, address: Any) -> None:
        """
        Check that C{port} echoes a datagram sent to C{address}.
        """
        client = socket.socket(family, socket.SOCK_DGRAM)
        self.addCleanup(client.close)
        if family == socket.AF_UNIX:
            client.bind(os.path.join(self.folder, "client"))
        client.settimeout(5)
        client.sendto(b"ping", address)
        port.doRead()
        self.assertEqual(client.recv(10), b"ping")

    def test_udp(self) -> None:
        """
        C{udp:} listens with L{UDPPort}, sockplug's.
        """
        endpoint = UDPServerEndpoint(self.reactor, 0, "127.0.0.1")
        port = self.listening(self.successResultOf(endpoint.listen(_Echo())))
        self.assertIsInstance(port, UDPPort)
        self.assertIsInstance(port, LeanUDPPort)
        self.echoes(port, socket.AF_INET, port.socket.getsockname())

    def test_udpOptions(self) -> None:
        """
        With socket options too, which are set.
        """
        options = SocketOptions(rcvbuf=65536)
        endpoint = UDPServerEndpoint(self.reactor, 0, "::1", options=options)
        port = self.listening(self.successResultOf(endpoint.listen(_Echo())))
        self.assertIsInstance(port, LeanUDPPort)
        self.assertGreaterEqual(
            port.socket.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF), 65536
        )
        self.echoes(port, socket.AF_INET6, port.socket.getsockname())

    def test_unixgram(self) -> None:
        """
        C{unixgram:} listens with L{UNIXDatagramPort}, sockplug's (and
        removes its file when it stops).
        """
        path = os.path.join(self.folder, "server")
        endpoint = UNIXDatagramServerEndpoint(self.reactor, path)
        port = self.listening(self.successResultOf(endpoint.listen(_Echo())))
        inner = port._port
        self.assertIsInstance(inner, UNIXDatagramPort)
        self.assertIsInstance(inner, LeanUNIXDatagramPort)
        self.echoes(inner, socket.AF_UNIX, path)

    def adopted(self, sock: socket.socket, domain: str) -> Any:
        """
        Listen on C{sock} as systemd passed it.
        """
        passed = ListenFDs([sock.fileno()], ["s"])
        endpoint = SystemdDatagramEndpoint(
            self.reactor, Selector(domain, index=0), 65536, lambda: passed
        )
        return self.listening(self.successResultOf(endpoint.listen(_Echo())))

    def test_systemdUDP(self) -> None:
        """
        A UDP socket systemd passed is adopted by L{UDPPort}, sockplug's.
        """
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind(("127.0.0.1", 0))
        port = self.adopted(sock, "INET")
        self.assertIsInstance(port, UDPPort)
        self.echoes(port, socket.AF_INET, sock.getsockname())

    def test_systemdUNIX(self) -> None:
        """
        A UNIX datagram socket systemd passed is adopted by a
        L{LeanUNIXDatagramPort}.
        """
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        path = os.path.join(self.folder, "server")
        sock.bind(path)
        port = self.adopted(sock, "UNIX")
        self.assertIsInstance(port, AdoptedUNIXDatagramPort)
        self.assertIsInstance(port, LeanUNIXDatagramPort)
        self.echoes(port, socket.AF_UNIX, path)
