# -*- test-case-name: sockplug.test.test_stream -*-
"""
sockplug's own C{tcp}, C{tcp6} and C{unix} stream endpoint strings: Twisted's
syntax and arguments, plus socket options (see L{sockplug._sockopts}), a
UNIX socket mode of 0660 rather than Twisted's world-writable 0666, and
replacement of a stale UNIX socket file.
"""

from __future__ import annotations

import socket
from typing import Any

from attrs import field, frozen
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IListeningPort,
    IProtocolFactory,
    IStreamServerEndpoint,
)
from zope.interface import implementer

from sockplug._datagram import _one, _port, removeStaleSocket
from sockplug._ports import TCPPort, UNIXPort, startPort
from sockplug._sockopts import SocketOptions, parseSocketOptions

__all__ = ["TCPServerEndpoint", "UNIXServerEndpoint", "parseStream"]

DEFAULT_UNIX_MODE = 0o660


@implementer(IStreamServerEndpoint)
@frozen
class TCPServerEndpoint:
    """
    A TCP port, with socket options.
    """

    reactor: Any = field(repr=False)
    port: int
    interface: str = ""
    backlog: int = 50
    options: SocketOptions = field(factory=SocketOptions)

    def listen(self, factory: IProtocolFactory) -> Deferred[IListeningPort]:
        return defer.execute(self._listen, factory)

    def _listen(self, factory: IProtocolFactory) -> IListeningPort:
        if self.options == SocketOptions():
            port: IListeningPort = self.reactor.listenTCP(
                self.port, factory, self.backlog, self.interface
            )
            return port
        tcpPort = TCPPort(
            self.port, factory, self.backlog, self.interface, self.reactor
        )
        tcpPort.socketOptions = self.options
        tcpPort.startListening()
        return tcpPort


@implementer(IStreamServerEndpoint)
@frozen
class UNIXServerEndpoint:
    """
    A UNIX stream socket, mode 0660 unless told otherwise, replacing a
    stale socket file (never a live one) unless told not to.
    """

    reactor: Any = field(repr=False)
    path: str
    mode: int = DEFAULT_UNIX_MODE
    backlog: int = 50
    lockfile: bool = True
    replaceStale: bool = True
    options: SocketOptions = field(factory=SocketOptions)

    def listen(self, factory: IProtocolFactory) -> Deferred[IListeningPort]:
        return defer.execute(self._listen, factory)

    def _listen(self, factory: IProtocolFactory) -> IListeningPort:
        if self.replaceStale:
            removeStaleSocket(self.path, socket.SOCK_STREAM)
        if self.options == SocketOptions():
            port: IListeningPort = self.reactor.listenUNIX(
                self.path, factory, self.backlog, self.mode, wantPID=self.lockfile
            )
            return port
        unixPort: IListeningPort = startPort(
            UNIXPort,
            self.options,
            self.path,
            factory,
            self.backlog,
            self.mode,
            self.reactor,
            self.lockfile,
        )
        return unixPort


def _mode(value: str) -> int:
    try:
        mode = int(value, 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o777:
        raise ValueError(f"mode {value!r} is not an octal file mode such as 660")
    return mode


def _backlog(value: str) -> int:
    try:
        backlog = int(value, 10)
    except ValueError:
        backlog = 0
    if backlog < 1:
        raise ValueError(f"backlog {value!r} is not a positive number")
    return backlog


def _yesNo(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "yes", "true", "on"):
        return True
    if lowered in ("0", "no", "false", "off"):
        return False
    raise ValueError(f"{name}={value!r} is not yes or no")


def _noOthers(kwargs: dict[str, str], allowed: str) -> None:
    if kwargs:
        raise ValueError(
            f"unknown option {', '.join(sorted(kwargs))}; the options are {allowed}"
        )


TCP_OPTIONS = (
    "interface, backlog, reuseaddr, reuseport, rcvbuf, sndbuf, nodelay,"
    " keepalive, keepidle, keepintvl, keepcnt"
)
UNIX_OPTIONS = "mode, backlog, lockfile, stale, rcvbuf, sndbuf"


def parseStream(
    reactor: Any, prefix: str, args: tuple[str, ...], kwargs: dict[str, str]
) -> TCPServerEndpoint | UNIXServerEndpoint:
    """
    Parse the arguments of a C{tcp}, C{tcp6} or C{unix} endpoint string.

    @raise ValueError: saying what is wrong.
    """
    if prefix in ("tcp", "tcp6"):
        port = _port(_one(args, kwargs, "port"))
        interface = kwargs.pop("interface", "::" if prefix == "tcp6" else "")
        backlog = _backlog(kwargs.pop("backlog", "50"))
        options = parseSocketOptions(kwargs, "tcp")
        _noOthers(kwargs, TCP_OPTIONS)
        return TCPServerEndpoint(reactor, port, interface, backlog, options)
    path = _one(args, kwargs, "address")
    if not path:
        raise ValueError("the path is empty")
    mode = _mode(kwargs.pop("mode", "660"))
    backlog = _backlog(kwargs.pop("backlog", "50"))
    lockfile = _yesNo("lockfile", kwargs.pop("lockfile", "1"))
    stale = kwargs.pop("stale", "replace")
    if stale not in ("replace", "fail"):
        raise ValueError(f"stale={stale!r} is not replace or fail")
    options = parseSocketOptions(kwargs, "unix")
    _noOthers(kwargs, UNIX_OPTIONS)
    return UNIXServerEndpoint(
        reactor, path, mode, backlog, lockfile, stale == "replace", options
    )
