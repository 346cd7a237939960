# -*- test-case-name: sockplug.test.test_service -*-
"""
The twistd service: every listener of one sockplug process.

All listeners start in L{ListenersService.privilegedStartService}, before
twistd sheds privileges, as Twisted's own endpoint services do. Unlike a
hand-built L{StreamServerEndpointService}, which only logs a failure to
listen and leaves twistd running without listening, a listener that cannot
start stops the whole start-up with one line naming it.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Sequence
from functools import partial
from typing import Any

from attrs import frozen
from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError, ConnectionDone
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure

from sockplug._address import formatAddress
from sockplug._endpoints import ParsedEndpoint
from sockplug._ports import socketOf
from sockplug._sockopts import effectiveOptions
from sockplug._syntax import ListenerSpec
from sockplug.errors import ListenFailed
from sockplug.interfaces import IDatagramServerEndpoint, IProtocolPlugin
from sockplug.plugin import ListenerInfo, TransportKind

__all__ = ["Listener", "ListenersService", "describeListenError"]

_log = Logger()


@frozen
class Listener:
    """
    One listener: an endpoint and the protocol it serves.
    """

    spec: ListenerSpec
    endpoint: ParsedEndpoint
    plugin: IProtocolPlugin

    def listen(self, reactor: Any) -> Deferred[IListeningPort]:
        """
        Build the protocol and start listening.
        """
        info = ListenerInfo(
            description=self.spec.endpoint,
            kind=self.endpoint.kind,
            protocolName=self.plugin.name,
            reactor=reactor,
        )
        endpoint = self.endpoint.endpoint
        if self.endpoint.kind is TransportKind.STREAM:
            assert IStreamServerEndpoint.providedBy(endpoint)
            factory = self.plugin.buildStreamFactory(info)
            return endpoint.listen(factory)
        assert IDatagramServerEndpoint.providedBy(endpoint)
        protocol = self.plugin.buildDatagramProtocol(info)
        return endpoint.listen(protocol)


_HINTS = {
    errno.EADDRINUSE: "something is already listening there",
    errno.EACCES: "permission denied (ports below 1024 need privileges;"
    " a socket file needs write access to its folder)",
    errno.EPERM: "operation not permitted",
    errno.ENOENT: "no such file or directory (does its folder exist?)",
    errno.EADDRNOTAVAIL: "that address is not one of this machine's",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.ENAMETOOLONG: "the path is too long for a UNIX socket",
}


def _kindOf(sock: socket.socket) -> str:
    if sock.family == socket.AF_UNIX:
        return "unix"
    return "tcp" if sock.type == socket.SOCK_STREAM else "udp"


def describeListenError(description: str, failure: Failure) -> str:
    """
    One line saying why listening on C{description} failed.
    """
    error = failure.value
    if isinstance(error, CannotListenError) and isinstance(
        error.socketError, BaseException
    ):
        error = error.socketError
    if isinstance(error, OSError) and error.errno in _HINTS:
        reason = _HINTS[error.errno]
    elif isinstance(error, CannotListenError) and error.socketError == (
        "Cannot acquire lock"
    ):
        reason = "another server holds its lock file (PATH.lock): is it running?"
    elif isinstance(error, CannotListenError) and isinstance(error.socketError, str):
        reason = error.socketError
    else:
        reason = " ".join(str(error).split()) or type(error).__name__
    return f"cannot listen on {description!r}: {reason}"


def closeAtOnce(port: IListeningPort) -> None:
    """
    Close a listening port now.

    Twisted's ports finish stopping on the next reactor turn, in
    C{connectionLost}, which also removes a UNIX socket file and releases
    its lock file. When start-up fails, that turn never comes: call it at
    once, or a lock naming this process's PID is left behind, and blocks
    every later start in a container where the PID comes round again.
    """
    connectionLost = getattr(port, "connectionLost", None)
    if connectionLost is None:
        port.stopListening()
    else:
        connectionLost(Failure(ConnectionDone("start-up failed")))


class ListenersService(Service):
    """
    Starts every listener, and stops them all again.

    @ivar ports: the listening ports, once started.
    """

    def __init__(self, reactor: Any, listeners: Sequence[Listener]) -> None:
        self._reactor = reactor
        self.listeners = tuple(listeners)
        self.ports: list[IListeningPort] = []
        self._started = False
        self._starting = False
        self._failure: str | None = None

    def privilegedStartService(self) -> None:
        Service.privilegedStartService(self)
        self._started = True
        self._starting = True
        self._failure = None
        for listener in self.listeners:
            listener.listen(self._reactor).addCallbacks(
                partial(self._listening, listener), partial(self._failed, listener)
            )
            if self._failure is not None:
                break
        self._starting = False
        if self._failure is not None:
            self._abandon()
            raise ListenFailed(f"sockplug: {self._failure}")

    def startService(self) -> None:
        if not self._started:
            self.privilegedStartService()
        Service.startService(self)

    def _listening(self, listener: Listener, port: IListeningPort) -> None:
        self.ports.append(port)
        _log.info(
            "{protocol} listening on {endpoint} ({address})",
            protocol=listener.plugin.name,
            endpoint=listener.spec.endpoint,
            address=formatAddress(port.getHost()),
        )
        sock = socketOf(port)
        if sock is not None:
            # What the kernel says, not what was asked: Linux doubles
            # SO_RCVBUF, and caps it.
            _log.info(
                "{endpoint} socket options: {options}",
                endpoint=listener.spec.endpoint,
                options=effectiveOptions(sock, _kindOf(sock)),
            )

    def _failed(self, listener: Listener, failure: Failure) -> None:
        """
        A listener failed to start. During start-up, that fails the
        start-up; later (a listener that did not start at once), the
        reactor is already running, so stop it.
        """
        reason = describeListenError(listener.spec.endpoint, failure)
        if self._starting:
            self._failure = reason
            _log.critical("{reason}", reason=reason)
        else:
            _log.critical("{reason}; stopping", reason=reason)
            self._reactor.stop()

    def _abandon(self) -> None:
        """
        Start-up failed: close what did start, at once.
        """
        for port in self.ports:
            closeAtOnce(port)
        self.ports = []
        self._started = False

    def stopService(self) -> Deferred[None]:
        Service.stopService(self)
        self._started = False
        ports, self.ports = self.ports, []
        stopping = [defer.maybeDeferred(port.stopListening) for port in ports]
        d = defer.gatherResults(stopping, consumeErrors=True)
        return d.addBoth(lambda _: None)
