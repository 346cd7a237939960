# -*- test-case-name: sockplug.internet.test.test_outputfile -*-
"""
Outputs that never block: a file or FIFO opened for appending without
waiting for a reader and without following a symbolic link at the end of
its path, and this process's standard output written through a
description of its own that does not wait.

Each is a L{Sink}: C{write} and C{writev} take what the output can take
now, and raise L{BlockingIOError} when it can take nothing
(L{sockplug.internet._output.OutputWriter} queues the rest).
"""

from __future__ import annotations

import errno
import functools
import os
import socket
import stat
from collections.abc import Callable, Sequence
from typing import IO, NoReturn, Protocol, TypeAlias

from twisted.logger import Logger

from sockplug.errors import OutputError

__all__ = [
    "OUTPUT_MODE",
    "FdSink",
    "FileObjectSink",
    "Sink",
    "openOutputFile",
    "openStandardOutput",
]

_log = Logger()

Chunk: TypeAlias = "bytes | memoryview"

# The mode a new output file is created with (less what the umask takes
# away): its owner writes it, its group reads it, others do not.
OUTPUT_MODE = 0o640

_FILE_FLAGS = (
    os.O_WRONLY
    | os.O_APPEND
    | os.O_CREAT
    | os.O_NONBLOCK  # a FIFO with no reader: ENXIO at once, not a wait
    | os.O_NOFOLLOW  # a symbolic link at the end of the path: ELOOP
    | os.O_CLOEXEC
    | os.O_NOCTTY
)

# send() that never waits, on a socket that may be shared (systemd gives
# the journal's socket as standard output and standard error).
_DONTWAIT = socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL


class Sink(Protocol):
    """
    Where an L{sockplug.internet._output.OutputWriter} writes.

    @ivar description: how a log line names it (C{standard output}, or
        the quoted path).
    """

    description: str

    @property
    def closed(self) -> bool:
        """
        Whether L{close} was called.
        """

    def fileno(self) -> int:
        """
        The descriptor the reactor watches for room to write.
        """

    def write(self, data: Chunk) -> int:
        """
        Write what fits of C{data} now.

        @return: how many bytes were written (at least one).
        @raise BlockingIOError: if none fits now.
        @raise OSError: if it cannot be written.
        """

    def writev(self, buffers: Sequence[Chunk]) -> int:
        """
        Write what fits of C{buffers}, in order, now (as L{write}).
        """

    def close(self) -> None:
        """
        Close it (once).
        """


class FdSink:
    """
    A file descriptor of this process's own (opened with C{O_NONBLOCK} for
    a FIFO, a pipe or a terminal), written with C{os.write}/C{os.writev}.
    """

    write: Callable[[Chunk], int]
    writev: Callable[[Sequence[Chunk]], int]

    def __init__(self, fd: int, description: str) -> None:
        self._fd = fd
        self.description = description
        # Straight to the calls, without a frame of ours per write.
        self.write = functools.partial(os.write, fd)
        self.writev = functools.partial(os.writev, fd)
        self.closed = False

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self._fd)


class SocketSink:
    """
    A socket (standard output under systemd), written with C{MSG_DONTWAIT}:
    each call does not wait, and the socket's own flags are left as they
    are for the other users of its description (twistd's log).
    """

    def __init__(self, sock: socket.socket, description: str) -> None:
        self._socket = sock
        self.description = description

    @property
    def closed(self) -> bool:
        return self._socket.fileno() == -1

    def fileno(self) -> int:
        return self._socket.fileno()

    def write(self, data: Chunk) -> int:
        return self._socket.send(data, _DONTWAIT)

    def writev(self, buffers: Sequence[Chunk]) -> int:
        return self._socket.sendmsg(buffers, (), _DONTWAIT)

    def close(self) -> None:
        self._socket.close()


class FileObjectSink:
    """
    A binary file object, written and flushed at once, whole: a file in
    memory, as tests and plugins give L{sockplug.protocols.lineprint.LinePrinter}.
    """

    description = "its output"

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file

    @property
    def closed(self) -> bool:
        return self._file.closed

    def fileno(self) -> int:
        return self._file.fileno()

    def write(self, data: Chunk) -> int:
        self._file.write(data)
        self._file.flush()
        return len(data)

    def writev(self, buffers: Sequence[Chunk]) -> int:
        return self.write(b"".join(buffers))

    def close(self) -> None:
        self._file.close()


class _UnusableSink:
    """
    An output that could not be had (no standard output at all): every
    write fails with why.
    """

    closed = False

    def __init__(self, error: OSError, description: str) -> None:
        self._error = error
        self.description = description

    def fileno(self) -> int:
        return -1

    def write(self, data: Chunk) -> NoReturn:
        raise self._error

    def writev(self, buffers: Sequence[Chunk]) -> NoReturn:
        raise self._error

    def close(self) -> None:
        self.closed = True


def openOutputFile(path: str) -> FdSink:
    """
    Open C{path} for appending without blocking: a file is created with
    L{OUTPUT_MODE}; a FIFO must have a reader now; a symbolic link at the
    end of the path is refused, not followed.

    @raise OutputError: if it cannot be opened, saying why.
    """
    try:
        fd = os.open(path, _FILE_FLAGS, OUTPUT_MODE)
    except OSError as e:
        raise OutputError(e.errno or 0, _whyNot(path, e)) from e
    return FdSink(fd, repr(path))


def _whyNot(path: str, error: OSError) -> str:
    """
    What to tell a user whose output C{path} could not be opened.
    """
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        mode = 0
    code = error.errno
    if code == errno.ENXIO and stat.S_ISFIFO(mode):
        return f"output {path!r} is a FIFO that no one reads: start its reader first"
    if code == errno.ENXIO and stat.S_ISSOCK(mode):
        return f"output {path!r} is a socket; give a file or a FIFO"
    if code == errno.ELOOP and stat.S_ISLNK(mode):
        return (
            f"output {path!r} is a symbolic link, which is not followed;"
            " name the file itself"
        )
    if code == errno.EISDIR:
        return f"output {path!r} is a folder; give a file path in it"
    if code == errno.ENOENT:
        return f"the folder of output {path!r} does not exist"
    if code == errno.ENOTDIR:
        return f"a part of output {path!r} is not a folder"
    return f"cannot open output {path!r}: {error.strerror or error}"


def openStandardOutput(fd: int = 1) -> Sink:
    """
    This process's standard output (C{fd}), written without waiting and
    without changing how others of its users write to it.

    C{O_NONBLOCK} belongs to an open file description, which this process
    shares with twistd's log (on standard output with C{-n}) and with the
    processes it came from: setting it on descriptor 1 would make their
    writes fail. So a pipe, FIFO or terminal is opened again (through
    C{/proc/self/fd}) into a description of our own that does not wait; a
    socket (systemd's journal) is written with C{MSG_DONTWAIT}; a regular
    file, which never makes a writer wait for a reader, is written as it
    is.
    """
    description = "standard output"
    try:
        mode = os.fstat(fd).st_mode
    except OSError as e:
        return _UnusableSink(e, description)
    if stat.S_ISSOCK(mode) and socket.getdefaulttimeout() is None:
        # (With a default timeout, Python would set O_NONBLOCK on it.)
        return SocketSink(socket.socket(fileno=os.dup(fd)), description)
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
        flags = os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
        try:
            return FdSink(os.open(f"/proc/self/fd/{fd}", flags), description)
        except OSError as e:
            if e.errno != errno.ENXIO:  # (ENXIO: no reader; writes fail)
                _log.warn(
                    "standard output cannot be opened again without waiting"
                    " ({why}): a reader that stops reading will stall the"
                    " server",
                    why=e.strerror,
                )
    return FdSink(os.dup(fd), description)
