"""
Tests for L{sockplug.internet._outputfile}: files, FIFOs and standard output
opened so that writing them never waits.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import socket
import stat
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from sockplug.errors import OutputError
from sockplug.internet._outputfile import (
    OUTPUT_MODE,
    FdSink,
    Sink,
    openOutputFile,
    openStandardOutput,
)


def _nonBlocking(fd: int) -> bool:
    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK)


def _fill(sink: Sink) -> int:
    """
    Write to C{sink} until it would wait; return how many bytes it took.
    """
    total = 0
    chunk = b"x" * 65536
    while True:
        try:
            total += sink.write(chunk)
        except BlockingIOError:
            return total


class _FilesCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.folder = os.path.abspath(self.mktemp())
        os.makedirs(self.folder)
        self.path = os.path.join(self.folder, "lines.log")

    def opened(self, path: str) -> FdSink:
        sink = openOutputFile(path)
        self.addCleanup(sink.close)
        return sink

    def pipe(self) -> tuple[int, int]:
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        self.addCleanup(os.close, w)
        return r, w


class OpenOutputFileTests(_FilesCase):
    """
    Tests for L{openOutputFile}.
    """

    def test_createdNotWorldReadable(self) -> None:
        """
        A new file is created with mode 0640: others can neither read nor
        write it.
        """
        old = os.umask(0)
        try:
            self.opened(self.path)
        finally:
            os.umask(old)
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o640)
        self.assertEqual(OUTPUT_MODE, 0o640)

    def test_umaskApplies(self) -> None:
        """
        The umask takes its bits away from the mode of a new file.
        """
        old = os.umask(0o077)
        try:
            self.opened(self.path)
        finally:
            os.umask(old)
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o600)

    def test_existingModeKept(self) -> None:
        """
        The mode of a file that is there already is left as it is.
        """
        with open(self.path, "wb"):
            pass
        os.chmod(self.path, 0o644)
        self.opened(self.path)
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o644)

    def test_appends(self) -> None:
        """
        What is written goes after what the file holds.
        """
        with open(self.path, "wb") as f:
            f.write(b"old\n")
        self.opened(self.path).write(b"new\n")
        with open(self.path, "rb") as f:
            self.assertEqual(f.read(), b"old\nnew\n")

    def test_closeOnExec(self) -> None:
        """
        The descriptor is not passed on to programs the server runs.
        """
        sink = self.opened(self.path)
        self.assertTrue(fcntl.fcntl(sink.fileno(), fcntl.F_GETFD) & fcntl.FD_CLOEXEC)

    def test_described(self) -> None:
        """
        The sink is described by its quoted path.
        """
        self.assertEqual(self.opened(self.path).description, repr(self.path))

    def test_symbolicLinkRefused(self) -> None:
        """
        A symbolic link at the path is refused, not followed: the file it
        points to is not written.
        """
        target = os.path.join(self.folder, "target")
        with open(target, "wb"):
            pass
        os.symlink(target, self.path)
        e = self.assertRaises(OutputError, openOutputFile, self.path)
        self.assertEqual(
            (e.errno, str(e)),
            (
                errno.ELOOP,
                f"output {self.path!r} is a symbolic link, which is not"
                " followed; name the file itself",
            ),
        )

    def test_danglingLinkRefused(self) -> None:
        """
        A symbolic link to nothing is refused, and nothing is created where
        it points.
        """
        target = os.path.join(self.folder, "target")
        os.symlink(target, self.path)
        self.assertRaises(OutputError, openOutputFile, self.path)
        self.assertFalse(os.path.lexists(target))

    def test_fifoWithoutReader(self) -> None:
        """
        A FIFO that no one reads is refused at once (not waited on), saying
        to start its reader.
        """
        os.mkfifo(self.path)
        e = self.assertRaises(OutputError, openOutputFile, self.path)
        self.assertEqual(
            (e.errno, str(e)),
            (
                errno.ENXIO,
                f"output {self.path!r} is a FIFO that no one reads: start its"
                " reader first",
            ),
        )

    def test_fifoWithReader(self) -> None:
        """
        A FIFO with a reader is opened, and written without waiting: once
        the reader has stopped reading, a write says it would block.
        """
        os.mkfifo(self.path)
        reader = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self.addCleanup(os.close, reader)
        sink = self.opened(self.path)
        self.assertGreater(_fill(sink), 0)
        self.assertRaises(BlockingIOError, sink.write, b"more\n")

    def test_folder(self) -> None:
        """
        A folder is refused.
        """
        e = self.assertRaises(OutputError, openOutputFile, self.folder)
        self.assertEqual(
            str(e), f"output {self.folder!r} is a folder; give a file path in it"
        )

    def test_missingFolder(self) -> None:
        """
        A file in a folder that does not exist is refused.
        """
        path = os.path.join(self.folder, "missing", "lines.log")
        e = self.assertRaises(OutputError, openOutputFile, path)
        self.assertEqual(str(e), f"the folder of output {path!r} does not exist")

    def test_underAFile(self) -> None:
        """
        A path below a file is refused.
        """
        with open(self.path, "wb"):
            pass
        path = os.path.join(self.path, "lines.log")
        e = self.assertRaises(OutputError, openOutputFile, path)
        self.assertEqual(str(e), f"a part of output {path!r} is not a folder")

    def test_socket(self) -> None:
        """
        A UNIX socket's file is refused.
        """
        server = socket.socket(socket.AF_UNIX)
        self.addCleanup(server.close)
        folder = tempfile.mkdtemp(prefix="sp-")  # (short: sun_path)
        self.addCleanup(shutil.rmtree, folder, True)
        path = os.path.join(folder, "s")
        server.bind(path)
        e = self.assertRaises(OutputError, openOutputFile, path)
        self.assertEqual(str(e), f"output {path!r} is a socket; give a file or a FIFO")

    def test_isOSError(self) -> None:
        """
        What it raises is an L{OSError}, as opening a file raises.
        """
        self.assertRaises(OSError, openOutputFile, self.folder)


class OpenStandardOutputTests(_FilesCase):
    """
    Tests for L{openStandardOutput}, given the descriptor to stand for
    standard output.
    """

    def test_pipeOwnDescription(self) -> None:
        """
        A pipe is written through a description of its own that does not
        wait; the descriptor given (shared with twistd's log) is left
        blocking.
        """
        __r, w = self.pipe()
        sink = openStandardOutput(w)
        self.addCleanup(sink.close)
        self.assertNotEqual(sink.fileno(), w)
        self.assertTrue(_nonBlocking(sink.fileno()))
        self.assertFalse(_nonBlocking(w))

    def test_pipeWritten(self) -> None:
        """
        What is written reaches the pipe's reader.
        """
        r, w = self.pipe()
        sink = openStandardOutput(w)
        self.addCleanup(sink.close)
        sink.write(b"one\n")
        self.assertEqual(os.read(r, 100), b"one\n")

    def test_pipeFull(self) -> None:
        """
        A pipe whose reader stops reading makes a write say it would block.
        """
        _r, w = self.pipe()
        sink = openStandardOutput(w)
        self.addCleanup(sink.close)
        self.assertGreater(_fill(sink), 0)
        self.assertRaises(BlockingIOError, sink.write, b"more\n")

    def test_pipeWithoutReader(self) -> None:
        """
        A pipe whose reader has gone fails on write, without waiting.
        """
        r, w = os.pipe()
        self.addCleanup(os.close, w)
        os.close(r)
        sink = openStandardOutput(w)
        self.addCleanup(sink.close)
        self.assertRaises(BrokenPipeError, sink.write, b"one\n")

    def test_closeLeavesDescriptor(self) -> None:
        """
        Closing the sink leaves the descriptor given open.
        """
        r, w = self.pipe()
        openStandardOutput(w).close()
        os.write(w, b"still\n")
        self.assertEqual(os.read(r, 100), b"still\n")

    def test_socket(self) -> None:
        """
        A socket (systemd's journal) is written without waiting, and left
        blocking for its other users.
        """
        ours, peer = socket.socketpair()
        self.addCleanup(ours.close)
        self.addCleanup(peer.close)
        sink = openStandardOutput(ours.fileno())
        self.addCleanup(sink.close)
        sink.write(b"one\n")
        self.assertEqual(peer.recv(100), b"one\n")
        self.assertGreater(_fill(sink), 0)
        self.assertRaises(BlockingIOError, sink.writev, [b"more\n"])
        self.assertTrue(ours.getblocking())
        self.assertFalse(_nonBlocking(ours.fileno()))

    def test_regularFile(self) -> None:
        """
        A regular file is written where its descriptor is (the shell's
        C{> file}), after what the log wrote there.
        """
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        self.addCleanup(os.close, fd)
        os.write(fd, b"log\n")
        sink = openStandardOutput(fd)
        self.addCleanup(sink.close)
        sink.write(b"line\n")
        os.write(fd, b"log again\n")
        with open(self.path, "rb") as f:
            self.assertEqual(f.read(), b"log\nline\nlog again\n")

    def test_described(self) -> None:
        """
        It is described as standard output.
        """
        _r, w = self.pipe()
        sink = openStandardOutput(w)
        self.addCleanup(sink.close)
        self.assertEqual(sink.description, "standard output")

    def test_closed(self) -> None:
        """
        A descriptor that is not open gives a sink whose writes fail.
        """
        r, w = os.pipe()
        os.close(r)
        os.close(w)
        sink = openStandardOutput(w)
        e = self.assertRaises(OSError, sink.write, b"one\n")
        self.assertEqual(e.errno, errno.EBADF)
