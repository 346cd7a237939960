"""
Tests for L{sockplug.internet._socketfile}.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile

from twisted.internet.error import CannotListenError
from twisted.trial.unittest import SynchronousTestCase

from sockplug.internet import _socketfile
from sockplug.internet._socketfile import (
    prepareSocketPath,
    releaseOwnLock,
    socketFileState,
)


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
