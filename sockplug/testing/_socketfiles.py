# -*- test-case-name: sockplug.internet.test.test_ports -*-
"""
UNIX socket files on a real file system, for sockplug's own tests of what
its listeners do with them (not API: see L{sockplug.testing}): a posix
reactor that is not run, a short temporary folder, another server's live
socket, a file put in a socket's place, and a stale lock.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from sockplug.compat import pollerOf
from sockplug.internet._reactor import SockplugReactor

__all__ = [
    "answers",
    "deadPID",
    "liveServer",
    "posixReactor",
    "putFile",
    "shortFolder",
    "staleLock",
]


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
