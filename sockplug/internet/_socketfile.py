# -*- test-case-name: sockplug.internet.test.test_socketfile -*-
"""
What may be at a UNIX socket's path before a server binds it: nothing, a
live socket (never taken over), a stale one left by a server that died
(replaced, unless told not to), or a file that is not a socket (left for
bind to refuse).
"""

from __future__ import annotations

import errno
import os
import socket
import stat

from twisted.internet.error import CannotListenError
from twisted.logger import Logger

__all__ = ["prepareSocketPath", "releaseOwnLock", "socketFileState"]

_log = Logger()


def _boundPaths() -> set[str] | None:
    """
    The paths UNIX sockets are bound to on this machine, from Linux's
    C{/proc/net/unix}; L{None} where there is no such file.
    """
    try:
        with open("/proc/net/unix", encoding="utf-8", errors="surrogateescape") as f:
            next(f, None)
            return {fields[7] for fields in map(str.split, f) if len(fields) >= 8}
    except OSError:
        return None


def socketFileState(path: str, kind: int) -> str:
    """
    What is at C{path}: C{"absent"}, C{"other"} (not a socket), C{"live"}
    (a socket of type C{kind} is bound to it) or C{"stale"}.

    A live server is not disturbed to find out where the kernel can tell
    (C{/proc/net/unix}); otherwise a non-blocking connect asks: refused
    means stale, anything else (accepted, a full backlog) live.
    """
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            return "other"
    except FileNotFoundError:
        return "absent"
    except OSError:
        return "other"
    bound = _boundPaths()
    if bound is not None and os.path.abspath(path) in bound:
        return "live"
    probe = socket.socket(socket.AF_UNIX, kind)
    probe.setblocking(False)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        return "stale"
    except OSError:
        return "live"
    finally:
        probe.close()
    return "live"


def prepareSocketPath(path: str, kind: int, replaceStale: bool = True) -> None:
    """
    Make C{path} ready for a server of C{kind} to bind: refuse a live
    socket there, and remove a stale one (or refuse it, if not
    C{replaceStale}).

    @raise CannotListenError: for a live socket, or a stale one to keep.
    """
    state = socketFileState(path, kind)
    if state == "live":
        raise CannotListenError(
            None, path, OSError(errno.EADDRINUSE, "a live server is bound there")
        )
    if state != "stale":
        return
    if not replaceStale:
        raise CannotListenError(
            None,
            path,
            "a stale socket file no server is bound to is in the way (stale=fail);"
            " remove it, or leave out stale=fail",
        )
    _log.info(
        "Removing stale UNIX {kind} socket {path}",
        kind="datagram" if kind == socket.SOCK_DGRAM else "stream",
        path=path,
    )
    os.unlink(path)


def releaseOwnLock(path: str) -> None:
    """
    Remove Twisted's C{PATH.lock} if it names this process: Twisted takes
    the lock before binding, and does not release it when binding fails.
    """
    lock = path + ".lock"
    try:
        if os.readlink(lock) == str(os.getpid()):
            os.unlink(lock)
    except OSError:
        pass
