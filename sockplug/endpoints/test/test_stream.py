"""
Tests for L{sockplug.endpoints._stream}.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile

from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactor
from twisted.trial.unittest import SynchronousTestCase

from sockplug.endpoints._stream import (
    TCPServerEndpoint,
    UNIXServerEndpoint,
    parseStream,
)
from sockplug.internet._ports import UNIXPort
from sockplug.internet._socketfile import SYMLINK_REFUSED
from sockplug.options._sockopts import SocketOptions
from sockplug.testing._sockets import (
    answers,
    liveServer,
    posixReactor,
    putFile,
    shortFolder,
    staleLock,
)


class ParseStreamTests(SynchronousTestCase):
    """
    Tests for L{parseStream}.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactor()

    def parse(self, prefix: str, *args: str, **kwargs: str) -> object:
        return parseStream(self.reactor, prefix, args, dict(kwargs))

    def test_tcp(self) -> None:
        """
        C{tcp} takes Twisted's arguments: port, interface and backlog.
        """
        self.assertEqual(
            self.parse("tcp", "8888", interface="127.0.0.1", backlog="10"),
            TCPServerEndpoint(self.reactor, 8888, "127.0.0.1", 10),
        )

    def test_tcp6Default(self) -> None:
        """
        C{tcp6} listens on every IPv6 interface unless told otherwise.
        """
        endpoint = self.parse("tcp6", port="1")
        assert isinstance(endpoint, TCPServerEndpoint)
        self.assertEqual(endpoint.interface, "::")

    def test_tcpOptions(self) -> None:
        """
        Socket options are parsed into the endpoint.
        """
        endpoint = self.parse("tcp", "1", reuseport="yes", nodelay="yes")
        assert isinstance(endpoint, TCPServerEndpoint)
        self.assertEqual(endpoint.options, SocketOptions(reuseport=True, nodelay=True))

    def test_unixDefaults(self) -> None:
        """
        A UNIX socket is mode 0660, keeps Twisted's lock file, and replaces
        a stale socket file.
        """
        self.assertEqual(
            self.parse("unix", "/tmp/s.sock"),
            UNIXServerEndpoint(self.reactor, "/tmp/s.sock", 0o660, 50, True, True),
        )

    def test_unixOptions(self) -> None:
        """
        C{mode}, C{lockfile}, C{stale} and buffer sizes are taken.
        """
        endpoint = self.parse(
            "unix", address="/x", mode="600", lockfile="0", stale="fail", rcvbuf="1K"
        )
        self.assertEqual(
            endpoint,
            UNIXServerEndpoint(
                self.reactor, "/x", 0o600, 50, False, False, SocketOptions(rcvbuf=1024)
            ),
        )

    def test_errors(self) -> None:
        """
        Each wrong argument is refused with a message naming it.
        """
        cases = [
            (("tcp", "x"), {}, "port 'x'"),
            (("tcp", "1"), {"backlog": "0"}, "backlog='0'"),
            (("tcp", "1"), {"mode": "600"}, "unknown option mode"),
            (("tcp", "1"), {"foo": "1"}, "the options are interface, backlog"),
            (("unix", ""), {}, "the path is empty"),
            (("unix", "/x"), {"mode": "9"}, "mode='9'"),
            (("unix", "/x"), {"stale": "maybe"}, "stale='maybe'"),
            (("unix", "/x"), {"lockfile": "perhaps"}, "lockfile='perhaps'"),
            (("unix", "/x"), {"nodelay": "1"}, "does not apply to unix"),
        ]
        for args, kwargs, text in cases:
            e = self.assertRaises(ValueError, self.parse, *args, **kwargs)
            self.assertIn(text, str(e))


class ListenTests(SynchronousTestCase):
    """
    Listening without socket options goes through the reactor, as Twisted's
    endpoints do.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactor()
        self.factory = Factory.forProtocol(Protocol)

    def test_tcp(self) -> None:
        """
        A TCP endpoint without options calls C{listenTCP}.
        """
        endpoint = TCPServerEndpoint(self.reactor, 8888, "::1", 7)
        self.successResultOf(endpoint.listen(self.factory))
        self.assertEqual(self.reactor.tcpServers, [(8888, self.factory, 7, "::1")])

    def test_unix(self) -> None:
        """
        A UNIX endpoint without options calls C{listenUNIX} with its mode
        and lock file.
        """
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        path = os.path.join(folder, "s.sock")
        endpoint = UNIXServerEndpoint(self.reactor, path, 0o640, 5, False)
        self.successResultOf(endpoint.listen(self.factory))
        self.assertEqual(
            self.reactor.unixServers, [(path, self.factory, 5, 0o640, False)]
        )

    def test_staleReplaced(self) -> None:
        """
        A socket file with no server bound to it is removed before
        listening.
        """
        path = self.socketPath()
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(path)
        stale.close()
        endpoint = UNIXServerEndpoint(self.reactor, path)
        self.successResultOf(endpoint.listen(self.factory))
        self.assertFalse(os.path.lexists(path))
        self.assertEqual(len(self.reactor.unixServers), 1)

    def test_staleFail(self) -> None:
        """
        With C{replaceStale} off, a stale socket file fails the listen with
        a message saying so, and stays.
        """
        path = self.socketPath()
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(path)
        stale.close()
        endpoint = UNIXServerEndpoint(self.reactor, path, replaceStale=False)
        failure = self.failureResultOf(endpoint.listen(self.factory), CannotListenError)
        self.assertIn("stale=fail", str(failure.value.socketError))
        self.assertTrue(os.path.lexists(path))
        self.assertEqual(self.reactor.unixServers, [])

    def test_liveKept(self) -> None:
        """
        A socket file a live server listens on is never taken over: the
        listen fails before the reactor is asked, and the file stays.
        """
        path = self.socketPath()
        live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(live.close)
        live.bind(path)
        live.listen(1)
        self.failureResultOf(
            UNIXServerEndpoint(self.reactor, path).listen(self.factory),
            CannotListenError,
        )
        self.assertTrue(os.path.lexists(path))
        self.assertEqual(self.reactor.unixServers, [])

    def test_lockReleasedOnFailure(self) -> None:
        """
        When listening fails after Twisted took its lock file, a lock naming
        this process is removed, so that it cannot mislead a later start.
        """
        path = self.socketPath()

        class Failing(MemoryReactor):
            def listenUNIX(self, address: str, *args: object, **kw: object) -> None:
                os.symlink(str(os.getpid()), address + ".lock")
                raise CannotListenError(None, address, OSError(13, "denied"))

        endpoint = UNIXServerEndpoint(Failing(), path)
        self.failureResultOf(endpoint.listen(self.factory), CannotListenError)
        self.assertFalse(os.path.lexists(path + ".lock"))

    def socketPath(self) -> str:
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        return os.path.join(folder, "s.sock")


class PosixListenTests(SynchronousTestCase):
    """
    A UNIX endpoint on a posix reactor (which is not run) listens with
    sockplug's port, and never disturbs what is not its own at its path.
    """

    def setUp(self) -> None:
        self.reactor = posixReactor(self)
        self.folder = shortFolder(self)
        self.path = os.path.join(self.folder, "s.sock")
        self.factory = Factory.forProtocol(Protocol)
        self.factory.noisy = False

    def test_symlinkWithStaleLockRefused(self) -> None:
        """
        A symbolic link at the path, naming another server's live socket,
        with a stale lock beside it, fails the listen saying so; the link,
        the lock and the other server are left as they were.
        """
        other = os.path.join(self.folder, "other.sock")
        liveServer(self, other)
        os.symlink(other, self.path)
        staleLock(self.path)
        lock = os.readlink(self.path + ".lock")
        failure = self.failureResultOf(
            UNIXServerEndpoint(self.reactor, self.path).listen(self.factory),
            CannotListenError,
        )
        self.assertEqual(failure.value.socketError, SYMLINK_REFUSED)
        self.assertEqual(os.readlink(self.path), other)
        self.assertEqual(os.readlink(self.path + ".lock"), lock)
        self.assertTrue(answers(other))

    def test_replacedFileKept(self) -> None:
        """
        A file put in place of the listener's socket file is left when it
        stops.
        """
        port = self.successResultOf(
            UNIXServerEndpoint(self.reactor, self.path).listen(self.factory)
        )
        self.assertIsInstance(port, UNIXPort)
        putFile(self.path)
        stopping = defer.maybeDeferred(port.stopListening)
        self.reactor.runUntilCurrent()
        self.successResultOf(stopping)
        self.assertTrue(os.path.isfile(self.path))
        self.assertFalse(os.path.lexists(self.path + ".lock"))
