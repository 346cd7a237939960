# -*- test-case-name: sockplug.internet.test.test_socketfile -*-
"""
What may be at a UNIX socket's path before a server binds it: nothing, a
live socket (never taken over), a stale one left by a server that died
(replaced, unless told not to), a symbolic link (refused: never followed
nor removed), or another file (left for bind to refuse). And the file a
server made, which it removes when it stops only while it is still that
file: by then another server may have bound the path, or someone put
something else there.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
from collections.abc import Callable

from twisted.internet.error import CannotListenError
from twisted.logger import Logger

__all__ = [
    "FileIdentity",
    "boundFile",
    "prepareSocketPath",
    "releaseOwnLock",
    "removeOwnFile",
    "renewOwnLock",
    "socketFileState",
]

_log = Logger()

# A file's device and inode, as os.lstat gives them: which file a path
# names, whatever has been renamed or replaced since.
FileIdentity = tuple[int, int]

SYMLINK_REFUSED = (
    "a symbolic link is at that path (sockplug neither follows nor"
    " removes one there); remove it, or give the path of the socket itself"
)


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


def _examine(path: str, kind: int) -> tuple[str, FileIdentity | None]:
    """
    What is at C{path} (see L{socketFileState}), and which file it is.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return "absent", None
    except OSError:
        return "other", None
    identity = (info.st_dev, info.st_ino)
    if stat.S_ISLNK(info.st_mode):
        return "link", identity
    if not stat.S_ISSOCK(info.st_mode):
        return "other", identity
    bound = _boundPaths()
    if bound is not None and os.path.abspath(path) in bound:
        return "live", identity
    probe = socket.socket(socket.AF_UNIX, kind)
    probe.setblocking(False)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        return "stale", identity
    except OSError:
        return "live", identity
    finally:
        probe.close()
    return "live", identity


def socketFileState(path: str, kind: int) -> str:
    """
    What is at C{path}: C{"absent"}, C{"link"} (a symbolic link, wherever
    it points), C{"other"} (not a socket), C{"live"} (a socket of type
    C{kind} is bound to it) or C{"stale"}.

    The path itself is examined (C{lstat}), never what a link names. A
    live server is not disturbed to find out where the kernel can tell
    (C{/proc/net/unix}); otherwise a non-blocking connect asks: refused
    means stale, anything else (accepted, a full backlog) live.
    """
    return _examine(path, kind)[0]


def prepareSocketPath(path: str, kind: int, replaceStale: bool = True) -> None:
    """
    Make C{path} ready for a server of C{kind} to bind: refuse a live
    socket there and a symbolic link, and remove a stale socket (or refuse
    it, if not C{replaceStale}).

    A stale socket is removed only if the path is still the very file
    found stale (the same device and inode, by C{lstat}) just before.

    @raise CannotListenError: for a live socket, a symbolic link, or a
        stale socket to keep.
    """
    state, identity = _examine(path, kind)
    if state == "live":
        raise CannotListenError(
            None, path, OSError(errno.EADDRINUSE, "a live server is bound there")
        )
    if state == "link":
        raise CannotListenError(None, path, SYMLINK_REFUSED)
    if state != "stale":
        return
    if not replaceStale:
        raise CannotListenError(
            None,
            path,
            "a stale socket file no server is bound to is in the way (stale=fail);"
            " remove it, or leave out stale=fail",
        )
    if boundFile(path) != identity:
        # Replaced since it was found stale: leave it for bind to judge.
        return
    _log.info(
        "Removing stale UNIX {kind} socket {path}",
        kind="datagram" if kind == socket.SOCK_DGRAM else "stream",
        path=path,
    )
    os.unlink(path)


def boundFile(path: str) -> FileIdentity | None:
    """
    Which socket file is at C{path} (by C{lstat}): L{None} if there is none,
    or what is there is not a socket.
    """
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISSOCK(info.st_mode):
        return None
    return (info.st_dev, info.st_ino)


def removeOwnFile(
    path: str,
    identity: FileIdentity | None,
    unlink: Callable[[str], None] = os.unlink,
) -> None:
    """
    Remove the socket file a server made at C{path}, C{identity} when it
    bound it (L{boundFile}), if it is still there: whatever else is at the
    path now (the socket of another server that bound it since, a file or
    a symbolic link put there) is left, and said so. A file that cannot be
    removed (twistd's C{--uid} dropped the privileges that made it in a
    folder the server may no longer write) is left too, and said so: the
    port that calls this goes on closing its socket.

    Call it before the server's socket closes: a bound socket holds its
    file's inode, even once the file is removed, so until then no other
    file can have the same device and inode. (Between the check and the
    removal, a file could still be swapped in: no system call removes a
    path only if it is a given inode.)
    """
    if identity is None:
        return
    if boundFile(path) != identity:
        if os.path.lexists(path):
            _log.info(
                "Leaving {path}: it is no longer the socket file this server made",
                path=path,
            )
        return
    try:
        unlink(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        _log.warn(
            "Leaving {path}: cannot remove it: {why}",
            path=path,
            why=(e.strerror or str(e)).lower(),
        )


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


def renewOwnLock(path: str, previous: int) -> bool:
    """
    Make Twisted's C{PATH.lock}, taken by this process before it forked
    (as process C{previous}), name this process: the lock of a process
    that has ended is taken over by the next server, and only a lock
    naming this process is released when it stops.

    The link is replaced in one step (a new one renamed over it), so the
    path never lacks a lock; one that no longer names C{previous} is left.

    @return: whether the lock now names this process.
    """
    lock = path + ".lock"
    pid = str(os.getpid())
    try:
        if os.readlink(lock) != str(previous):
            return False
        fresh = f"{lock}.{pid}"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(fresh)
        os.symlink(pid, fresh)
        os.rename(fresh, lock)
    except OSError:
        return False
    return True
