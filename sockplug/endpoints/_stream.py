# -*- test-case-name: sockplug.endpoints.test.test_stream -*-
"""
sockplug's own C{tcp}, C{tcp6} and C{unix} stream endpoint strings: Twisted's
syntax and arguments, plus socket options (see L{sockplug.options._sockopts}), a
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

from sockplug.internet import (
    TCPPort,
    UNIXPort,
    prepareSocketPath,
    releaseOwnLock,
    startPort,
    watchesDescriptors,
)
from sockplug.options import (
    ENDPOINT_ARGUMENTS,
    SocketOptions,
    arguments,
    optionNames,
    parseSocketOptions,
    takeArgument,
)

__all__ = ["TCPServerEndpoint", "UNIXServerEndpoint", "parseStream"]

DEFAULT_UNIX_MODE: int = ENDPOINT_ARGUMENTS["mode"].default
DEFAULT_BACKLOG: int = ENDPOINT_ARGUMENTS["backlog"].default


@implementer(IStreamServerEndpoint)
@frozen
class TCPServerEndpoint:
    """
    A TCP port, with socket options; its connections send what is written
    at once.
    """

    reactor: Any = field(repr=False)
    port: int
    interface: str = ""
    backlog: int = DEFAULT_BACKLOG
    options: SocketOptions = field(factory=SocketOptions)

    def listen(self, factory: IProtocolFactory) -> Deferred[IListeningPort]:
        return defer.execute(self._listen, factory)

    def _listen(self, factory: IProtocolFactory) -> IListeningPort:
        if self.options == SocketOptions() and not watchesDescriptors(self.reactor):
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
    backlog: int = DEFAULT_BACKLOG
    lockfile: bool = ENDPOINT_ARGUMENTS["lockfile"].default
    replaceStale: bool = ENDPOINT_ARGUMENTS["stale"].default
    options: SocketOptions = field(factory=SocketOptions)

    def listen(self, factory: IProtocolFactory) -> Deferred[IListeningPort]:
        return defer.execute(self._listen, factory)

    def _listen(self, factory: IProtocolFactory) -> IListeningPort:
        prepareSocketPath(self.path, socket.SOCK_STREAM, self.replaceStale)
        try:
            return self._listenUNIX(factory)
        except BaseException:
            releaseOwnLock(self.path)
            raise

    def _listenUNIX(self, factory: IProtocolFactory) -> IListeningPort:
        if self.options == SocketOptions() and not watchesDescriptors(self.reactor):
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


TCP_OPTIONS = optionNames("tcp", "interface")
UNIX_OPTIONS = optionNames("unix")


def parseStream(
    reactor: Any, prefix: str, args: tuple[str, ...], kwargs: dict[str, str]
) -> TCPServerEndpoint | UNIXServerEndpoint:
    """
    Parse the arguments of a C{tcp}, C{tcp6} or C{unix} endpoint string.

    @raise ValueError: saying what is wrong.
    """
    if prefix in ("tcp", "tcp6"):
        port = arguments.port(arguments.one(args, kwargs, "port"))
        interface = arguments.interface(
            kwargs.pop("interface", "::" if prefix == "tcp6" else "")
        )
        backlog = takeArgument(kwargs, "backlog")
        options = parseSocketOptions(kwargs, "tcp")
        arguments.noOthers(kwargs, TCP_OPTIONS)
        return TCPServerEndpoint(reactor, port, interface, backlog, options)
    path = arguments.path(arguments.one(args, kwargs, "address"))
    mode = takeArgument(kwargs, "mode")
    backlog = takeArgument(kwargs, "backlog")
    lockfile = takeArgument(kwargs, "lockfile")
    replaceStale = takeArgument(kwargs, "stale")
    options = parseSocketOptions(kwargs, "unix")
    arguments.noOthers(kwargs, UNIX_OPTIONS)
    return UNIXServerEndpoint(
        reactor, path, mode, backlog, lockfile, replaceStale, options
    )
