"""
Which port each datagram endpoint listens with on a posix reactor:
sockplug's (L{sockplug.internet._udp}), for C{udp:}, C{unixgram:} and
C{systemd-datagram:} alike.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from typing import Any

from twisted.internet.protocol import DatagramProtocol
from twisted.python.systemd import ListenFDs
from twisted.trial.unittest import SynchronousTestCase

from sockplug.compat import pollerOf
from sockplug.endpoints._datagram import UDPServerEndpoint, UNIXDatagramServerEndpoint
from sockplug.endpoints._systemd import Selector, SystemdDatagramEndpoint
from sockplug.internet import AdoptedUNIXDatagramPort
from sockplug.internet._datagramport import LeanUNIXDatagramPort
from sockplug.internet._ports import UDPPort, UNIXDatagramPort
from sockplug.internet._reactor import SockplugReactor
from sockplug.internet._udp import LeanUDPPort
from sockplug.options._sockopts import SocketOptions


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
