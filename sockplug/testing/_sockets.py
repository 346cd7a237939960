# -*- test-case-name: sockplug.endpoints.test.test_systemd,sockplug.internet.test.test_ports,sockplug.internet.test -*-  # noqa: E501
"""
Real sockets standing in for those systemd passes, for sockplug's own tests
(not API: see L{sockplug.testing}).

UNIX socket files on a real file system, for sockplug's own tests of what
its listeners do with them (not API: see L{sockplug.testing}): a posix
reactor that is not run, a short temporary folder, another server's live
socket, a file put in a socket's place, and a stale lock.

sockplug's datagram ports on loopback, for sockplug's own tests of them
(not API: see L{sockplug.testing}): protocols that record what they are
handed, and a test case that makes ports and client sockets on loopback.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from typing import Any

from twisted.internet.protocol import DatagramProtocol
from twisted.internet.testing import MemoryReactorClock
from twisted.python.systemd import ListenFDs
from twisted.trial.unittest import SynchronousTestCase

from sockplug.compat import pollerOf
from sockplug.internet._reactor import SockplugReactor
from sockplug.internet._udp import LeanUDPPort

__all__ = [
    "WEB_DNS",
    "Batches",
    "PassedSockets",
    "PortsCase",
    "Recorder",
    "answers",
    "deadPID",
    "liveServer",
    "posixReactor",
    "putFile",
    "shortFolder",
    "staleLock",
]


# Two descriptors, named as a .socket unit's FileDescriptorName= names them.
WEB_DNS = ListenFDs([3, 4], ("web", "dns"))


class PassedSockets:
    """
    Real sockets standing in for those systemd passes, closed when the test
    ends.

    @ivar blocking: whether the sockets made are blocking (as systemd
        passes them) or not (as sockplug adopts them).
    """

    def __init__(self, testCase: SynchronousTestCase, blocking: bool = True) -> None:
        self._testCase = testCase
        self.blocking = blocking
        self.folder = tempfile.mkdtemp(prefix="sp-sd-")
        testCase.addCleanup(shutil.rmtree, self.folder, True)

    def make(self, family: int, kind: int) -> socket.socket:
        """A new unbound socket."""
        sock = socket.socket(family, kind)
        self._testCase.addCleanup(sock.close)
        sock.setblocking(self.blocking)
        return sock

    def unix(self, kind: int, name: str = "s.sock") -> socket.socket:
        """A UNIX socket bound to a path of the temporary folder."""
        sock = self.make(socket.AF_UNIX, kind)
        sock.bind(os.path.join(self.folder, name))
        return sock

    def passed(self, *socks: socket.socket, names: tuple[str, ...] = ()) -> ListenFDs:
        """What systemd passing C{socks} looks like to sockplug."""
        return ListenFDs(
            [s.fileno() for s in socks],
            names or tuple(f"s{i}" for i in range(len(socks))),
        )


def posixReactor(case: SynchronousTestCase) -> SockplugReactor:
    """
    A posix reactor that is not run (its ports are driven by calling
    them), cleaned up after the test.
    """
    reactor = SockplugReactor()  # type: ignore[no-untyped-call]
    case.addCleanup(pollerOf(reactor).close)
    case.addCleanup(reactor.waker.connectionLost, None)
    case.addCleanup(reactor.removeAll)
    return reactor


def shortFolder(case: SynchronousTestCase) -> str:
    """
    A new temporary folder with a short name (a UNIX socket path must fit
    in 108 bytes), removed after the test.
    """
    path = tempfile.mkdtemp(prefix="sp-")
    case.addCleanup(shutil.rmtree, path, True)
    return path


def liveServer(case: SynchronousTestCase, path: str) -> socket.socket:
    """
    Another server's UNIX stream socket, bound at C{path} and listening,
    closed after the test.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    case.addCleanup(sock.close)
    sock.bind(path)
    sock.listen(5)
    return sock


def answers(path: str) -> bool:
    """
    Whether a UNIX stream server at C{path} accepts a connection.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        try:
            client.connect(path)
        except OSError:
            return False
    return True


def putFile(path: str, text: str = "not a socket\n") -> None:
    """
    Put a regular file holding C{text} at C{path}, in one step, in place of
    whatever is there (as someone else might).
    """
    temporary = path + ".new"
    with open(temporary, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(temporary, path)


def deadPID() -> int:
    """
    A process ID no process has: Linux's C{pid_max}, one past the highest
    it hands out.
    """
    with open("/proc/sys/kernel/pid_max", encoding="ascii") as f:
        return int(f.read())


def staleLock(path: str) -> None:
    """
    Put a stale C{PATH.lock} (Twisted's lock, naming a process that has
    gone) beside C{path}.
    """
    os.symlink(str(deadPID()), path + ".lock")


class Recorder(DatagramProtocol):
    """
    Records each datagram, and each the port dropped as too long; raises
    for a datagram C{b"boom"}; closes its port at once for C{b"close"}.
    """

    def __init__(self) -> None:
        self.received: list[tuple[bytes, Any]] = []
        self.truncated: list[tuple[Any, int, int | None]] = []
        self.refused = 0

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.received.append((datagram, addr))
        if datagram == b"boom":
            raise RuntimeError("boom")
        if datagram == b"close":
            self.transport.connectionLost()  # type: ignore[union-attr]

    def datagramTruncated(self, addr: Any, limit: int, size: int | None) -> None:
        self.truncated.append((addr, limit, size))

    def connectionRefused(self) -> None:
        self.refused += 1


class Batches(Recorder):
    """
    Takes datagrams in one go; raises for a batch holding C{b"boom"}.
    """

    def __init__(self) -> None:
        Recorder.__init__(self)
        self.batches: list[list[tuple[bytes, Any]]] = []

    def datagramsReceived(self, datagrams: list[tuple[bytes, Any]]) -> None:
        self.batches.append(datagrams)
        self.received.extend(datagrams)
        if any(datagram == b"boom" for datagram, _ in datagrams):
            raise RuntimeError("boom")


class PortsCase(SynchronousTestCase):
    """
    Makes ports and client sockets on loopback, closed after the test.
    """

    family = socket.AF_INET
    host = "127.0.0.1"

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()

    def port(self, protocol: DatagramProtocol, **kwargs: Any) -> LeanUDPPort:
        port = LeanUDPPort(0, protocol, self.host, reactor=self.reactor, **kwargs)
        port.startListening()
        self.addCleanup(self.close, port)
        return port

    def close(self, port: Any) -> None:
        if getattr(port, "socket", None) is not None:
            port.connectionLost()

    def client(self) -> socket.socket:
        sock = socket.socket(self.family, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind((self.host, 0))
        sock.settimeout(5)
        return sock

    def address(self, port: Any) -> tuple[str, int]:
        return port.socket.getsockname()[:2]  # type: ignore[no-any-return]

    def received(self, sock: socket.socket, count: int) -> list[bytes]:
        return [sock.recv(70000) for _ in range(count)]
