# -*- test-case-name: sockplug.internet.test.test_ports,sockplug.options.test.test_sockopts -*-  # noqa: E501
"""
Twisted's listening ports, with socket options set between creating the
socket and binding it (where SO_REUSEPORT and buffer sizes must be set).
"""

from __future__ import annotations

import os
import socket
import weakref
from typing import Any, cast

from twisted.internet import error, tcp, unix
from twisted.internet.interfaces import IProtocolFactory
from twisted.internet.posixbase import PosixReactorBase
from twisted.python.failure import Failure
from twisted.python.lockfile import FilesystemLock

from sockplug.internet._datagramport import LeanUNIXDatagramPort
from sockplug.internet._socketfile import (
    FileIdentity,
    boundFile,
    releaseOwnLock,
    removeOwnFile,
    renewOwnLock,
)
from sockplug.internet._transport import TCPServer, UNIXServer
from sockplug.internet._udp import LeanUDPPort
from sockplug.options import SocketOptions

__all__ = [
    "TCPPort",
    "UDPPort",
    "UNIXDatagramPort",
    "UNIXPort",
    "renewLocks",
    "socketOf",
    "startPort",
    "watchesDescriptors",
]


class _WithOptions:
    """
    Mixin for a Twisted port: applies C{socketOptions} to its socket before
    it is bound.
    """

    socketOptions = SocketOptions()

    def createInternetSocket(self) -> socket.socket:
        sock: socket.socket = super().createInternetSocket()  # type: ignore[misc]
        self.socketOptions.apply(sock)
        return sock


class TCPPort(_WithOptions, tcp.Port):
    """
    A TCP port with socket options, whose connections send what is written
    at once (L{sockplug.internet._transport}).
    """

    transport = TCPServer


class UNIXPort(_WithOptions, unix.Port):
    """
    A UNIX stream port with socket options, whose connections send what is
    written at once (L{sockplug.internet._transport}).

    It removes its socket file when it stops only while the path is still
    the file it bound (the same device and inode, by C{lstat}): never
    another server's socket bound there since, nor a file put in its place.
    Twisted's port removes whatever is at the path; and, taking over a
    stale C{PATH.lock}, it removes what is at the path if that, followed
    through a symbolic link, is a socket (another server's live one, say).
    This one takes its C{PATH.lock} itself, and leaves stale sockets to
    L{sockplug.internet._socketfile.prepareSocketPath}, which examines the
    path itself and refuses a symbolic link.

    @ivar socketPath: the path it binds.
    @ivar lockfile: whether it holds C{PATH.lock} while it listens.
    @ivar boundFile: the socket file it bound, while it listens.
    @ivar lockedBy: the process that took its lock, while it holds one.
    """

    transport = UNIXServer
    boundFile: FileIdentity | None = None
    lockedBy: int | None = None

    def __init__(  # noqa: PLR0917 (unix.Port's arguments, by position)
        self,
        fileName: str,
        factory: IProtocolFactory,
        backlog: int = 50,
        mode: int = 0o666,
        reactor: Any = None,
        wantPID: int = 0,
    ) -> None:
        super().__init__(fileName, factory, backlog, mode, reactor, 0)  # type: ignore[arg-type]
        self.socketPath = fileName
        self.lockfile = bool(wantPID)

    def startListening(self) -> None:
        if self.lockfile:
            lock = FilesystemLock(f"{self.socketPath}.lock")
            if not lock.lock():
                raise error.CannotListenError(
                    None, self.socketPath, "Cannot acquire lock"
                )
            self.lockFile = lock
            self.lockedBy = os.getpid()
            _LOCKED.add(self)
        try:
            super().startListening()  # type: ignore[no-untyped-call]
        except BaseException:
            self._releaseLock()
            raise
        self.boundFile = boundFile(self.socketPath)

    def connectionLost(self, reason: Failure) -> None:
        """
        Remove the socket file if it is still the one bound, release the
        lock, and close as a TCP port does (unix.Port's would remove
        whatever is at the path).
        """
        removeOwnFile(self.socketPath, self.boundFile)
        self.boundFile = None
        self._releaseLock()
        tcp.Port.connectionLost(self, reason)

    def _releaseLock(self) -> None:
        if self.lockFile is not None:
            self.lockFile = None
            self.lockedBy = None
            _LOCKED.discard(self)
            releaseOwnLock(self.socketPath)

    def renewLock(self) -> None:
        """
        In a process forked since the lock was taken (twistd's daemon),
        make the lock name this process.
        """
        if self.lockedBy is not None and self.lockedBy != os.getpid():
            renewOwnLock(self.socketPath, self.lockedBy)
            self.lockedBy = os.getpid()


# The UNIX ports holding a lock file (see renewLocks).
_LOCKED: weakref.WeakSet[UNIXPort] = weakref.WeakSet()


def renewLocks() -> None:
    """
    Make the lock file of every UNIX port of this process that holds one
    name this process: called in a process forked since they started
    listening (twistd's daemon, when they listened before it daemonised).
    Twisted's C{PATH.lock} names the process that took it; left naming the
    parent that has ended, the next server would take the lock over, and
    this one would not release it when it stops.
    """
    for port in list(_LOCKED):
        port.renewLock()


class UDPPort(_WithOptions, LeanUDPPort):
    """
    A UDP port with socket options, with less work per datagram
    (L{sockplug.internet._udp}).
    """


class UNIXDatagramPort(_WithOptions, LeanUNIXDatagramPort):
    """
    A UNIX datagram port with socket options, with less work per datagram
    (L{sockplug.internet._datagramport}).
    """


def watchesDescriptors(reactor: Any) -> bool:
    """
    Whether C{reactor} is one of Twisted's posix reactors (epoll, poll,
    select, asyncio...), which run Twisted's socket ports, and so can run
    sockplug's own, whose connections send at once (L{sockplug.internet._transport}).
    Any other (an in-memory reactor in tests) gets Twisted's C{listenTCP},
    C{listenUNIX} and C{adoptStreamPort}.
    """
    return isinstance(reactor, PosixReactorBase)


def startPort(portType: type, options: SocketOptions, *args: Any) -> Any:
    """
    Make a port of C{portType} with C{args} (those of its Twisted base
    class), give it C{options}, and start it listening.
    """
    port: Any = cast(Any, portType)(*args)
    port.socketOptions = options
    port.startListening()
    return port


def socketOf(port: Any) -> socket.socket | None:
    """
    The socket of a listening port, if it has one we can read options of.
    """
    sock = getattr(port, "socket", None)
    return sock if isinstance(sock, socket.socket) else None
