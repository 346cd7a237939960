"""
Tests for L{sockplug.workers._sockets}.
"""

from __future__ import annotations

import os
import socket
import stat
from typing import Any

from attrs import define, field
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.endpoints import TCP6ServerEndpoint
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort
from twisted.trial.unittest import SynchronousTestCase

from sockplug.endpoints._stream import TCPServerEndpoint
from sockplug.endpoints._tls import TLSServerEndpoint
from sockplug.endpoints.proxy._wrapper import ProxiedEndpoint
from sockplug.options._sockopts import SocketOptions
from sockplug.testing._sockets import answers, liveServer, putFile
from sockplug.testing._tls import PEMAuthority
from sockplug.testing._workers import SocketReactor, closing, folder, listener
from sockplug.workers._sockets import (
    SharedSocket,
    closeHeld,
    describeChanges,
    openShared,
    replaceSocketEndpoint,
    sharedSocketOf,
    socketEndpoint,
)


class LayersTests(SynchronousTestCase):
    """
    Tests for L{socketEndpoint} and L{replaceSocketEndpoint}.
    """

    def setUp(self) -> None:
        self.reactor = SocketReactor()
        self.plain = TCPServerEndpoint(self.reactor, 8443)

    def test_plain(self) -> None:
        """
        An endpoint without layers makes its socket itself.
        """
        self.assertIs(socketEndpoint(self.plain), self.plain)

    def test_underLayers(self) -> None:
        """
        Under C{haproxy:} over TLS, the plain endpoint makes the socket.
        """
        tls = TLSServerEndpoint(self.plain, "creator", self.reactor)
        proxied = ProxiedEndpoint(self.reactor, tls, "tls")
        self.assertIs(socketEndpoint(proxied), self.plain)

    def test_replaceKeepsLayers(self) -> None:
        """
        Replacing the socket's endpoint keeps the PROXY layer (with its TLS
        settings) and the TLS layer (with its creator) over the new one.
        """
        new = TCPServerEndpoint(self.reactor, 1)
        tls = TLSServerEndpoint(self.plain, "creator", self.reactor)
        proxied = ProxiedEndpoint(self.reactor, tls, "header-then-tls")
        replaced = replaceSocketEndpoint(proxied, new)
        self.assertIsInstance(replaced, ProxiedEndpoint)
        self.assertEqual(replaced.tls, "header-then-tls")
        self.assertIsInstance(replaced.wrapped, TLSServerEndpoint)
        self.assertEqual(replaced.wrapped.creator, "creator")
        self.assertIs(socketEndpoint(replaced), new)

    def test_replacePlain(self) -> None:
        """
        An endpoint without layers is replaced whole.
        """
        new = TCPServerEndpoint(self.reactor, 1)
        self.assertIs(replaceSocketEndpoint(self.plain, new), new)


class SharedSocketOfTests(SynchronousTestCase):
    """
    Tests for L{sharedSocketOf} and L{SharedSocket}.
    """

    def kindOf(self, description: str) -> SharedSocket:
        return sharedSocketOf(listener(description).endpoint)

    def test_kinds(self) -> None:
        """
        tcp, tcp6, udp, unix and unixgram endpoints, and haproxy: over one,
        have sockets workers can share; TCP and UDP ones one per worker.
        """
        cases = [
            ("tcp:0", "tcp", True),
            ("tcp6:0:interface=\\:\\:1", "tcp", True),
            ("haproxy:tcp:0", "tcp", True),
            ("udp:0", "udp", True),
            ("unix:/tmp/x.sock", "unix", False),
            ("unixgram:/tmp/x.dgram", "unixgram", False),
        ]
        for description, kind, perWorker in cases:
            shared = self.kindOf(description)
            self.assertEqual((shared.kind, shared.perWorker), (kind, perWorker))

    def test_twistedTCP(self) -> None:
        """
        Twisted's own TCP endpoint (under C{tls:}) is made a sockplug one,
        on the same port, interface and backlog.
        """
        reactor = SocketReactor()
        authority = PEMAuthority(folder(self))
        authority.chain()
        pems = authority.folder.replace(":", "\\:")
        tls = listener(f"tls:{pems}:port=8443:backlog=7:interface=\\:\\:1", reactor)
        assert isinstance(tls.endpoint.endpoint, TLSServerEndpoint)
        self.assertIsInstance(tls.endpoint.endpoint.endpoint, TCP6ServerEndpoint)
        shared = sharedSocketOf(tls.endpoint)
        self.assertEqual(shared.kind, "tcp")
        self.assertEqual(shared.endpoint, TCPServerEndpoint(reactor, 8443, "::1", 7))

    def test_notShareable(self) -> None:
        """
        stdio: and systemd: endpoints cannot be shared, and the error says
        which can.
        """
        for description in ("stdio:", "systemd:domain=INET:index=0"):
            e = self.assertRaises(ValueError, self.kindOf, description)
            self.assertIn(description.partition(":")[0] + ":", str(e))
            self.assertIn("unixgram:", str(e))

    def test_identity(self) -> None:
        """
        Two listeners need the same socket exactly when their endpoints'
        settings are the same, whatever their reactor or their limits.
        """
        same = [
            sharedSocketOf(listener("tcp:80:idle=5", SocketReactor()).endpoint),
            sharedSocketOf(listener("tcp:80", SocketReactor()).endpoint),
        ]
        self.assertEqual(same[0].identity, same[1].identity)
        for other in ("tcp:81", "tcp:80:nodelay=yes", "tcp:80:backlog=5", "udp:80"):
            self.assertNotEqual(self.kindOf(other).identity, same[0].identity)

    def test_count(self) -> None:
        """
        N workers need N sockets of a TCP listener, one of a UNIX one.
        """
        self.assertEqual(self.kindOf("tcp:0").count(3), 3)
        self.assertEqual(self.kindOf("unix:/tmp/a").count(3), 1)


@define
class _Flaky:
    """
    An endpoint whose second listen fails.
    """

    port: int = 0
    options: SocketOptions = field(factory=SocketOptions)
    listened: list[_Port] = field(factory=list)

    def listen(self, front: object) -> Deferred[_Port]:
        if self.listened:
            return fail(CannotListenError("", 1, OSError(98, "in use")))
        port = _Port()
        self.listened.append(port)
        return succeed(port)


class _Port:
    """
    A listening port that records being closed.
    """

    def __init__(self) -> None:
        self.lost = 0

    def getHost(self) -> Any:
        raise AssertionError("not asked: the endpoint's port is not 0")

    def connectionLost(self, reason: object) -> None:
        self.lost += 1


class OpenSharedTests(SynchronousTestCase):
    """
    Tests for L{openShared}.
    """

    def setUp(self) -> None:
        self.reactor = SocketReactor()

    def open(self, description: str, workers: int) -> list[IListeningPort]:
        shared = sharedSocketOf(listener(description, self.reactor).endpoint)
        ports = openShared(self.reactor, shared, workers)
        closing(self, ports)
        return ports

    def sockets(self, ports: list[IListeningPort]) -> list[socket.socket]:
        return [port.socket for port in ports]  # type: ignore[attr-defined]

    def test_tcpOnePerWorker(self) -> None:
        """
        A TCP listener of port 0 gets a socket for each worker, all on the
        port the first one got, each with SO_REUSEPORT.
        """
        ports = self.open("tcp:0:interface=127.0.0.1", 3)
        sockets = self.sockets(ports)
        self.assertEqual(len({s.fileno() for s in sockets}), 3)
        self.assertEqual(len({s.getsockname() for s in sockets}), 1)
        self.assertNotEqual(sockets[0].getsockname()[1], 0)
        for sock in sockets:
            self.assertEqual(sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT), 1)
            self.assertEqual(
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN), 1
            )

    def test_notWatched(self) -> None:
        """
        The supervisor does not accept on the sockets it holds: the reactor
        does not watch them.
        """
        self.open("tcp:0:interface=127.0.0.1", 2)
        self.open("unix:" + os.path.join(folder(self), "s"), 2)
        self.open("udp:0:interface=127.0.0.1", 2)
        self.assertEqual(self.reactor.getReaders(), [])

    def test_optionsKept(self) -> None:
        """
        The listener's socket options are set on each socket.
        """
        ports = self.open("tcp:0:interface=127.0.0.1:nodelay=yes", 2)
        for sock in self.sockets(ports):
            self.assertEqual(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), 1)

    def test_udpOnePerWorker(self) -> None:
        """
        A UDP listener gets a socket for each worker, on one port.
        """
        ports = self.open("udp:0:interface=127.0.0.1", 2)
        sockets = self.sockets(ports)
        self.assertEqual(sockets[0].getsockname(), sockets[1].getsockname())
        self.assertEqual(sockets[1].type, socket.SOCK_DGRAM)

    def test_unixOneForAll(self) -> None:
        """
        A UNIX listener gets one socket for all the workers, its file made
        as without workers (mode 660).
        """
        path = os.path.join(folder(self), "s.sock")
        ports = self.open(f"unix:{path}", 4)
        self.assertEqual(len(ports), 1)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o660)

    def test_unixDatagramOneForAll(self) -> None:
        """
        A UNIX datagram listener gets one socket for all the workers.
        """
        path = os.path.join(folder(self), "s.dgram")
        ports = self.open(f"unixgram:{path}", 4)
        self.assertEqual(len(ports), 1)
        self.assertTrue(stat.S_ISSOCK(os.stat(path).st_mode))

    def test_failureClosesTheOthers(self) -> None:
        """
        A socket that cannot be made fails the listener, and the sockets
        already made for it are closed.
        """
        endpoint = _Flaky(port=5)
        shared = SharedSocket("tcp", endpoint, "flaky")  # type: ignore[arg-type]
        self.assertRaises(CannotListenError, openShared, self.reactor, shared, 3)
        self.assertEqual([port.lost for port in endpoint.listened], [1])

    def test_liveUNIXRefused(self) -> None:
        """
        A UNIX path a live server listens on is refused, as without
        workers.
        """
        path = os.path.join(folder(self), "s.sock")
        live = socket.socket(socket.AF_UNIX)
        self.addCleanup(live.close)
        live.bind(path)
        live.listen(1)
        shared = sharedSocketOf(listener(f"unix:{path}", self.reactor).endpoint)
        self.assertRaises(CannotListenError, openShared, self.reactor, shared, 2)


class CloseHeldTests(SynchronousTestCase):
    """
    Tests for L{closeHeld}.
    """

    def setUp(self) -> None:
        self.reactor = SocketReactor()

    def test_noShutdown(self) -> None:
        """
        Closing a held TCP socket leaves it listening in the workers, which
        hold it too: it is not shut down.
        """
        shared = sharedSocketOf(
            listener("tcp:0:interface=127.0.0.1", self.reactor).endpoint
        )
        [port] = openShared(self.reactor, shared, 1)
        worker = port.socket.dup()  # type: ignore[attr-defined]
        self.addCleanup(worker.close)
        closed = closeHeld(port)
        self.reactor.advance(0)
        self.successResultOf(closed)
        client = socket.create_connection(worker.getsockname(), timeout=5)
        self.addCleanup(client.close)
        worker.settimeout(5)
        accepted, _ = worker.accept()
        accepted.close()

    def test_unixFileRemoved(self) -> None:
        """
        Closing a held UNIX socket removes its file (and its lock file).
        """
        path = os.path.join(folder(self), "s.sock")
        shared = sharedSocketOf(listener(f"unix:{path}", self.reactor).endpoint)
        [port] = openShared(self.reactor, shared, 2)
        self.assertTrue(os.path.lexists(path + ".lock"))
        closed = closeHeld(port)
        self.reactor.advance(0)
        self.successResultOf(closed)
        self.assertFalse(os.path.lexists(path))
        self.assertFalse(os.path.lexists(path + ".lock"))

    def test_unixReplacedFileKept(self) -> None:
        """
        Closing a held UNIX socket leaves a file put in its file's place
        (and still removes its lock file).
        """
        path = os.path.join(folder(self), "s.sock")
        shared = sharedSocketOf(listener(f"unix:{path}", self.reactor).endpoint)
        [port] = openShared(self.reactor, shared, 2)
        putFile(path)
        closed = closeHeld(port)
        self.reactor.advance(0)
        self.successResultOf(closed)
        self.assertTrue(os.path.isfile(path))
        self.assertFalse(os.path.lexists(path + ".lock"))

    def test_unixOtherServerKept(self) -> None:
        """
        Closing a held UNIX socket leaves the live socket of another server
        bound at its path since its file was removed.
        """
        path = os.path.join(folder(self), "s.sock")
        shared = sharedSocketOf(listener(f"unix:{path}", self.reactor).endpoint)
        [port] = openShared(self.reactor, shared, 2)
        os.unlink(path)
        liveServer(self, path)
        closed = closeHeld(port)
        self.reactor.advance(0)
        self.successResultOf(closed)
        self.assertTrue(answers(path))

    def test_unixDatagramFileRemoved(self) -> None:
        """
        Closing a held UNIX datagram socket removes its file.
        """
        path = os.path.join(folder(self), "s.dgram")
        shared = sharedSocketOf(listener(f"unixgram:{path}", self.reactor).endpoint)
        [port] = openShared(self.reactor, shared, 2)
        closed = closeHeld(port)
        self.reactor.advance(0)
        self.successResultOf(closed)
        self.assertFalse(os.path.lexists(path))


class DescribeChangesTests(SynchronousTestCase):
    """
    Tests for L{describeChanges}.
    """

    def test_changes(self) -> None:
        """
        Added, removed and changed sockets are named, in that order.
        """
        old = {"a": "1", "b": "2", "c": "3"}
        new = {"a": "1", "b": "9", "d": "4"}
        self.assertEqual(
            describeChanges(old, new), "added: d; removed: c; new socket: b"
        )

    def test_none(self) -> None:
        """
        The same plan has no changes.
        """
        self.assertEqual(describeChanges({"a": "1"}, {"a": "1"}), "")


class PortInUseTests(SynchronousTestCase):
    """
    A given port that another process shares with C{SO_REUSEPORT} is in
    use, as it is without workers.
    """

    def setUp(self) -> None:
        self.reactor = SocketReactor()

    def test_sharedElsewhere(self) -> None:
        """
        Sockets are not made to join another process's C{SO_REUSEPORT}
        sockets on the port: the listener fails, port in use.
        """
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            other = socket.socket(socket.AF_INET, kind)
            self.addCleanup(other.close)
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            other.bind(("127.0.0.1", 0))
            if kind == socket.SOCK_STREAM:
                other.listen(1)
            port = other.getsockname()[1]
            prefix = "tcp" if kind == socket.SOCK_STREAM else "udp"
            endpoint = listener(f"{prefix}:{port}:interface=127.0.0.1", self.reactor)
            shared = sharedSocketOf(endpoint.endpoint)
            e = self.assertRaises(
                CannotListenError, openShared, self.reactor, shared, 2
            )
            self.assertEqual(e.socketError.errno, 98)
            self.assertEqual(self.reactor.getReaders(), [])

    def test_givenPort(self) -> None:
        """
        A given free port gets its sockets, all on it.
        """
        free = socket.socket()
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
        free.close()
        endpoint = listener(f"tcp:{port}:interface=127.0.0.1", self.reactor)
        ports = openShared(self.reactor, sharedSocketOf(endpoint.endpoint), 2)
        closing(self, ports)
        self.assertEqual([p.getHost().port for p in ports], [port, port])  # type: ignore[attr-defined]
