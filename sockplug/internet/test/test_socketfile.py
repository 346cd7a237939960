"""
Tests for L{sockplug.internet._socketfile}.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import socket
import tempfile

from twisted.internet.error import CannotListenError
from twisted.trial.unittest import SynchronousTestCase

from sockplug.internet import _socketfile
from sockplug.internet._socketfile import (
    SYMLINK_REFUSED,
    boundFile,
    prepareSocketPath,
    releaseOwnLock,
    removeOwnFile,
    renewOwnLock,
    socketFileState,
)
from sockplug.testing._logs import LogTexts
from sockplug.testing._sockets import answers, liveServer, putFile


def _staleSocket(path: str) -> None:
    """
    Leave a stale UNIX stream socket file at C{path}, as a server that died
    leaves it.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.close()


class SocketFileStateTests(SynchronousTestCase):
    """
    Tests for L{socketFileState}, with and without C{/proc/net/unix}.
    """

    def setUp(self) -> None:
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        self.path = os.path.join(folder, "s.sock")

    def bind(self, kind: int, listen: bool = False) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, kind)
        self.addCleanup(sock.close)
        sock.bind(self.path)
        if listen:
            sock.listen(0)
        return sock

    def test_absentAndOther(self) -> None:
        """
        No file is absent; a file that is not a socket is other.
        """
        self.assertEqual(socketFileState(self.path, socket.SOCK_STREAM), "absent")
        with open(self.path, "w"):
            pass
        self.assertEqual(socketFileState(self.path, socket.SOCK_STREAM), "other")

    def test_link(self) -> None:
        """
        A symbolic link is a link, even one naming a live socket: what it
        names is not looked at.
        """
        live = self.path + ".live"
        liveServer(self, live)
        os.symlink(live, self.path)
        self.assertEqual(socketFileState(self.path, socket.SOCK_STREAM), "link")

    def test_liveAndStale(self) -> None:
        """
        A bound socket is live, for streams and datagrams; once closed, its
        file is stale.
        """
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            sock = self.bind(kind, listen=kind == socket.SOCK_STREAM)
            self.assertEqual(socketFileState(self.path, kind), "live")
            sock.close()
            self.assertEqual(socketFileState(self.path, kind), "stale")
            os.unlink(self.path)

    def test_withoutProc(self) -> None:
        """
        Without C{/proc/net/unix}, a connect tells: a full backlog counts as
        live, without blocking.
        """
        self.patch(_socketfile, "_boundPaths", lambda: None)
        sock = self.bind(socket.SOCK_STREAM, listen=True)
        waiting = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(waiting.close)
        waiting.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            waiting.connect(self.path)  # fills the backlog of 0 (+1)
        self.assertEqual(socketFileState(self.path, socket.SOCK_STREAM), "live")
        sock.close()
        self.assertEqual(socketFileState(self.path, socket.SOCK_STREAM), "stale")


class PrepareSocketPathTests(SynchronousTestCase):
    """
    Tests for L{prepareSocketPath} and L{releaseOwnLock}.
    """

    def setUp(self) -> None:
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        self.path = os.path.join(folder, "s.sock")

    def test_live(self) -> None:
        """
        A live socket is refused as in use, and kept.
        """
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind(self.path)
        e = self.assertRaises(
            CannotListenError, prepareSocketPath, self.path, socket.SOCK_DGRAM
        )
        self.assertIsInstance(e.socketError, OSError)
        self.assertTrue(os.path.lexists(self.path))

    def test_stale(self) -> None:
        """
        A stale socket is removed, or refused with C{replaceStale} off.
        """
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(self.path)
        sock.close()
        self.assertRaises(
            CannotListenError,
            prepareSocketPath,
            self.path,
            socket.SOCK_DGRAM,
            replaceStale=False,
        )
        self.assertTrue(os.path.lexists(self.path))
        prepareSocketPath(self.path, socket.SOCK_DGRAM)
        self.assertFalse(os.path.lexists(self.path))

    def test_releaseOwnLock(self) -> None:
        """
        A lock naming this process is removed; one naming another is kept.
        """
        os.symlink(str(os.getpid()), self.path + ".lock")
        releaseOwnLock(self.path)
        self.assertFalse(os.path.lexists(self.path + ".lock"))
        os.symlink("1", self.path + ".lock")
        releaseOwnLock(self.path)
        self.assertTrue(os.path.lexists(self.path + ".lock"))

    def test_renewOwnLock(self) -> None:
        """
        A lock naming the process this one was forked from comes to name
        this one.
        """
        os.symlink("12345", self.path + ".lock")
        self.assertTrue(renewOwnLock(self.path, 12345))
        self.assertEqual(os.readlink(self.path + ".lock"), str(os.getpid()))
        self.assertEqual(os.listdir(os.path.dirname(self.path)), ["s.sock.lock"])

    def test_renewOtherLock(self) -> None:
        """
        A lock naming another process than the one forked from is left.
        """
        os.symlink("1", self.path + ".lock")
        self.assertFalse(renewOwnLock(self.path, 12345))
        self.assertEqual(os.readlink(self.path + ".lock"), "1")

    def test_renewNoLock(self) -> None:
        """
        Where the lock has gone, none is made.
        """
        self.assertFalse(renewOwnLock(self.path, 12345))
        self.assertFalse(os.path.lexists(self.path + ".lock"))

    def test_symlinkRefused(self) -> None:
        """
        A symbolic link at the path is refused, saying so, and left as it
        is, whatever it names: a live socket, a stale one, or nothing.
        """
        live, stale = self.path + ".live", self.path + ".stale"
        liveServer(self, live)
        _staleSocket(stale)
        for target in (live, stale, self.path + ".none"):
            os.symlink(target, self.path)
            e = self.assertRaises(
                CannotListenError, prepareSocketPath, self.path, socket.SOCK_STREAM
            )
            self.assertEqual(e.socketError, SYMLINK_REFUSED)
            self.assertEqual(os.readlink(self.path), target)
            os.unlink(self.path)
        self.assertTrue(answers(live))
        self.assertTrue(os.path.lexists(stale))

    def test_staleReplacedMeanwhileKept(self) -> None:
        """
        A stale socket replaced by another file while it is examined is
        not removed: only the very file found stale is.
        """
        _staleSocket(self.path)

        def replaced() -> set[str]:
            _staleSocket(self.path + ".new")
            os.rename(self.path + ".new", self.path)
            self.replacement = boundFile(self.path)
            return set()

        self.patch(_socketfile, "_boundPaths", replaced)
        prepareSocketPath(self.path, socket.SOCK_STREAM)
        self.assertEqual(boundFile(self.path), self.replacement)


class RemoveOwnFileTests(SynchronousTestCase):
    """
    Tests for L{removeOwnFile} and L{boundFile}, called as a server calls
    them: while its socket is open, which holds its file's inode.
    """

    def setUp(self) -> None:
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        self.path = os.path.join(folder, "s.sock")

    def bind(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(sock.close)
        sock.bind(self.path)
        return sock

    def test_boundFile(self) -> None:
        """
        A socket file is known by its device and inode; anything else (no
        file, a symbolic link, a regular file) is not a socket file.
        """
        self.assertIsNone(boundFile(self.path))
        self.bind()
        info = os.lstat(self.path)
        self.assertEqual(boundFile(self.path), (info.st_dev, info.st_ino))
        os.rename(self.path, self.path + ".moved")
        os.symlink(self.path + ".moved", self.path)
        self.assertIsNone(boundFile(self.path))
        putFile(self.path)
        self.assertIsNone(boundFile(self.path))

    def test_own(self) -> None:
        """
        The socket file that was bound is removed.
        """
        self.bind()
        removeOwnFile(self.path, boundFile(self.path))
        self.assertFalse(os.path.lexists(self.path))

    def test_replaced(self) -> None:
        """
        Another server's socket file at the path is left, as is a regular
        file.
        """
        self.bind()
        bound = boundFile(self.path)
        os.unlink(self.path)
        liveServer(self, self.path)
        removeOwnFile(self.path, bound)
        self.assertTrue(answers(self.path))
        putFile(self.path)
        removeOwnFile(self.path, bound)
        self.assertTrue(os.path.isfile(self.path))

    def test_cannotRemove(self) -> None:
        """
        A socket file that cannot be removed (privileges dropped since it
        was made) is left, in one log line saying why, and no error is
        raised to the port that goes on closing.
        """
        self.bind()
        texts = LogTexts(self)

        def refuse(path: str) -> None:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)

        removeOwnFile(self.path, boundFile(self.path), refuse)
        self.assertTrue(os.path.lexists(self.path))
        self.assertEqual(
            texts("Leaving"),
            [f"Leaving {self.path}: cannot remove it: permission denied"],
        )

    def test_nothingBound(self) -> None:
        """
        Without a bound file to compare with, nothing is removed; and a
        path with nothing there is no error.
        """
        self.bind()
        removeOwnFile(self.path, None)
        self.assertTrue(os.path.lexists(self.path))
        bound = boundFile(self.path)
        os.unlink(self.path)
        removeOwnFile(self.path, bound)
        self.assertFalse(os.path.lexists(self.path))
