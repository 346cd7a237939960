"""
Tests for L{sockplug.internet._ports}: the socket file of sockplug's UNIX
stream port, on real sockets in a temporary folder, on a posix reactor
that is not run.
"""

from __future__ import annotations

import os
import stat
from typing import Any

from twisted.internet.error import CannotListenError
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from sockplug.internet._adopted import AdoptedUNIXPort
from sockplug.internet._ports import UNIXPort, renewLocks
from sockplug.testing._logs import LogTexts
from sockplug.testing._sockets import (
    answers,
    liveServer,
    posixReactor,
    putFile,
    shortFolder,
    staleLock,
)


def _factory() -> Factory[Protocol]:
    factory: Factory[Protocol] = Factory.forProtocol(Protocol)
    factory.noisy = False
    return factory


class UNIXPortFileTests(SynchronousTestCase):
    """
    A UNIX stream port removes, when it stops, the socket file it bound
    and nothing else.
    """

    def setUp(self) -> None:
        self.reactor = posixReactor(self)
        self.path = os.path.join(shortFolder(self), "s.sock")

    def port(self, lockfile: bool = True) -> UNIXPort:
        """
        A port on C{self.path}, not yet listening.
        """
        return UNIXPort(self.path, _factory(), 50, 0o660, self.reactor, int(lockfile))

    def listening(self, lockfile: bool = True) -> UNIXPort:
        """
        A port listening on C{self.path}.
        """
        port = self.port(lockfile)
        port.startListening()
        self.addCleanup(self.closeIfOpen, port)
        return port

    def closeIfOpen(self, port: UNIXPort) -> None:
        if port.connected:
            port.connectionLost(Failure(Exception("test over")))

    def stop(self, port: Any) -> None:
        """
        Stop C{port} as the reactor would, on its next turn.
        """
        stopping = port.stopListening()
        self.reactor.runUntilCurrent()
        self.successResultOf(stopping)

    def test_ownFileRemoved(self) -> None:
        """
        The socket file the port bound, and its lock, are removed when it
        stops.
        """
        port = self.listening()
        self.assertTrue(stat.S_ISSOCK(os.lstat(self.path).st_mode))
        self.assertTrue(os.path.islink(self.path + ".lock"))
        self.stop(port)
        self.assertFalse(os.path.lexists(self.path))
        self.assertFalse(os.path.lexists(self.path + ".lock"))

    def test_regularFileKept(self) -> None:
        """
        A regular file put in the socket file's place is left when the port
        stops; its lock is still released.
        """
        port = self.listening()
        putFile(self.path, "mine\n")
        self.stop(port)
        with open(self.path, encoding="utf-8") as f:
            self.assertEqual(f.read(), "mine\n")
        self.assertFalse(os.path.lexists(self.path + ".lock"))

    def test_otherServerKept(self) -> None:
        """
        The live socket of another server, bound at the path after the
        port's file was removed, is left when the port stops, and answers.
        """
        port = self.listening()
        os.unlink(self.path)
        liveServer(self, self.path)
        self.stop(port)
        self.assertTrue(answers(self.path))

    def test_symlinkToOwnSocketKept(self) -> None:
        """
        A symbolic link put at the path is left when the port stops, even
        one naming the socket file the port bound (moved elsewhere).
        """
        port = self.listening()
        moved = self.path + ".moved"
        os.rename(self.path, moved)
        os.symlink(moved, self.path)
        self.stop(port)
        self.assertEqual(os.readlink(self.path), moved)
        self.assertTrue(os.path.lexists(moved))

    def test_leavingLogged(self) -> None:
        """
        A file left in the socket file's place is said to be left, naming
        its path.
        """
        port = self.listening()
        putFile(self.path)
        logged = LogTexts(self)
        self.stop(port)
        self.assertEqual(
            logged("Leaving"),
            [f"Leaving {self.path}: it is no longer the socket file this server made"],
        )

    def test_closedAtOnce(self) -> None:
        """
        Closed at once (as a failed start-up closes it), the port leaves a
        file put in its socket file's place, and releases its lock.
        """
        port = self.listening()
        putFile(self.path)
        port.connectionLost(Failure(Exception("start-up failed")))
        self.assertTrue(os.path.isfile(self.path))
        self.assertFalse(os.path.lexists(self.path + ".lock"))

    def test_otherLockKept(self) -> None:
        """
        A lock file that no longer names this process (taken since by
        another) is left when the port stops, without an error.
        """
        port = self.listening()
        os.unlink(self.path + ".lock")
        staleLock(self.path)
        target = os.readlink(self.path + ".lock")
        self.stop(port)
        self.assertEqual(os.readlink(self.path + ".lock"), target)

    def test_lockRenewed(self) -> None:
        """
        In a process forked since the port took its lock, L{renewLocks}
        makes the lock name this process, which releases it when it stops.
        """
        port = self.listening()
        os.unlink(self.path + ".lock")
        os.symlink("12345", self.path + ".lock")
        port.lockedBy = 12345  # (as if taken by the process forked from)
        renewLocks()
        self.assertEqual(os.readlink(self.path + ".lock"), str(os.getpid()))
        self.stop(port)
        self.assertFalse(os.path.lexists(self.path + ".lock"))

    def test_lockNotRenewedUnforked(self) -> None:
        """
        In the process that took it, L{renewLocks} leaves the lock as it
        is (one another process took since, here).
        """
        self.listening()
        os.unlink(self.path + ".lock")
        os.symlink("12345", self.path + ".lock")
        renewLocks()
        self.assertEqual(os.readlink(self.path + ".lock"), "12345")

    def test_withoutLock(self) -> None:
        """
        Without C{lockfile}, no lock file is made, and the socket file is
        still removed when the port stops.
        """
        port = self.listening(lockfile=False)
        self.assertFalse(os.path.lexists(self.path + ".lock"))
        self.stop(port)
        self.assertFalse(os.path.lexists(self.path))


class UNIXPortLockTests(SynchronousTestCase):
    """
    A UNIX stream port takes its C{PATH.lock} without disturbing what is at
    the path.
    """

    def setUp(self) -> None:
        self.reactor = posixReactor(self)
        self.folder = shortFolder(self)
        self.path = os.path.join(self.folder, "s.sock")

    def port(self) -> UNIXPort:
        return UNIXPort(self.path, _factory(), 50, 0o660, self.reactor, 1)

    def test_symlinkWithStaleLockKept(self) -> None:
        """
        With a stale lock beside it, a symbolic link at the path naming
        another server's live socket is neither followed nor removed: the
        port cannot bind, and the other server still answers.
        """
        other = os.path.join(self.folder, "other.sock")
        liveServer(self, other)
        os.symlink(other, self.path)
        staleLock(self.path)
        self.assertRaises(CannotListenError, self.port().startListening)
        self.assertEqual(os.readlink(self.path), other)
        self.assertTrue(answers(other))

    def test_socketWithStaleLockKept(self) -> None:
        """
        With a stale lock beside it, another server's live socket at the
        path is not removed: the port cannot bind, and it still answers.
        """
        liveServer(self, self.path)
        staleLock(self.path)
        self.assertRaises(CannotListenError, self.port().startListening)
        self.assertTrue(answers(self.path))

    def test_lockReleasedWhenBindFails(self) -> None:
        """
        A port that took its lock and then cannot bind releases the lock.
        """
        putFile(self.path)
        self.assertRaises(CannotListenError, self.port().startListening)
        self.assertFalse(os.path.lexists(self.path + ".lock"))
        self.assertTrue(os.path.isfile(self.path))

    def test_lockHeld(self) -> None:
        """
        A lock a live process holds fails the listen as Twisted's port
        does, before anything is bound.
        """
        os.symlink(str(os.getpid()), self.path + ".lock")
        e = self.assertRaises(CannotListenError, self.port().startListening)
        self.assertEqual(e.socketError, "Cannot acquire lock")
        self.assertFalse(os.path.lexists(self.path))


class AdoptedUNIXPortFileTests(SynchronousTestCase):
    """
    A port on a UNIX socket made elsewhere (by systemd, by the workers'
    supervisor) never removes its file.
    """

    def test_fileKept(self) -> None:
        """
        The socket file, the very one the socket was bound to, stays when
        the port stops.
        """
        reactor = posixReactor(self)
        path = os.path.join(shortFolder(self), "s.sock")
        held = liveServer(self, path)
        held.setblocking(False)
        port = AdoptedUNIXPort(held.dup(), _factory(), reactor)
        port.startListening()
        stopping = port.stopListening()
        reactor.runUntilCurrent()
        self.successResultOf(stopping)
        self.assertTrue(answers(path))
