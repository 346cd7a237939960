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
from collections.abc import Sequence, Set
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
from sockplug._dgramguard import DatagramGuard
from sockplug._endpoints import ParsedEndpoint
from sockplug._guard import ConnectionBudget, ConnectionGuard
from sockplug._guardedfactory import GuardedFactory
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

    def info(self, reactor: Any) -> ListenerInfo:
        """
        What the protocol plugin is told about this listener.
        """
        return ListenerInfo(
            description=self.spec.endpoint,
            kind=self.endpoint.kind,
            protocolName=self.plugin.name,
            reactor=reactor,
            limits=self.endpoint.limits,
        )

    def listen(
        self,
        reactor: Any,
        ownPorts: Set[int] = frozenset(),
        budget: ConnectionBudget | None = None,
    ) -> tuple[Deferred[IListeningPort], ConnectionGuard | DatagramGuard]:
        """
        Build the protocol, behind the listener's defences, and start
        listening.

        @param ownPorts: the ports of this process's datagram listeners,
            which a datagram listener never replies to.
        @param budget: the process's bound on open connections.
        @return: the port, when listening; and the guard.
        """
        info = self.info(reactor)
        endpoint = self.endpoint.endpoint
        description = self.spec.endpoint
        if self.endpoint.kind is TransportKind.STREAM:
            assert IStreamServerEndpoint.providedBy(endpoint)
            guard = ConnectionGuard(reactor, description, info.limits, budget)
            factory = self.plugin.buildStreamFactory(info)
            guarded = GuardedFactory(factory, guard, self.endpoint.acceptsDirectly)
            return endpoint.listen(guarded), guard
        assert IDatagramServerEndpoint.providedBy(endpoint)
        protocol = self.plugin.buildDatagramProtocol(info)
        datagramGuard = DatagramGuard(
            reactor, description, info.limits, protocol, ownPorts
        )
        return endpoint.listen(datagramGuard), datagramGuard


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


# Descriptors beyond the connections: listening sockets, the log, standard
# I/O, and refused connections between accept and close.
FILE_HEADROOM = 256


def raiseFileLimit(maxConnections: int, listeners: int) -> None:
    """
    Make room for the connections the limits allow: raise the soft limit
    on open files up to the hard limit if need be (a stream listener that
    runs out of descriptors cannot even accept a connection to refuse it,
    and Twisted then retries at once, forever), and warn if even that is
    not enough.
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return
    need = maxConnections + listeners + FILE_HEADROOM
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    target = need if hard == resource.RLIM_INFINITY else min(need, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (OSError, ValueError):
            target = soft
        else:
            _log.info(
                "raised the open-file limit from {soft} to {target}",
                soft=soft,
                target=target,
            )
    if target < need:
        _log.warn(
            "--max-connections needs {need} open files, but the limit is"
            " {target}: lower --max-connections or raise it (ulimit -n)",
            need=need,
            target=target,
        )


class ListenersService(Service):
    """
    Starts every listener, and stops them all again: on stop, listening
    ends at once, and open connections get C{shutdownTimeout} seconds to
    finish before they are closed.

    @ivar ports: the listening ports, once started.
    @ivar guards: each listener's guard, once started.
    """

    def __init__(
        self,
        reactor: Any,
        listeners: Sequence[Listener],
        shutdownTimeout: float = 5.0,
        maxConnections: int = 10_000,
    ) -> None:
        self._reactor = reactor
        self.listeners = tuple(listeners)
        self.shutdownTimeout = shutdownTimeout
        self.budget = ConnectionBudget(maxConnections)
        self.ports: list[IListeningPort] = []
        self.guards: list[ConnectionGuard | DatagramGuard] = []
        self._ownPorts: set[int] = set()
        self._started = False
        self._starting = False
        self._failure: str | None = None

    def privilegedStartService(self) -> None:
        Service.privilegedStartService(self)
        self._started = True
        self._starting = True
        self._failure = None
        raiseFileLimit(self.budget.limit, len(self.listeners))
        for listener in self.listeners:
            listening, guard = listener.listen(
                self._reactor, self._ownPorts, self.budget
            )
            self.guards.append(guard)
            listening.addCallbacks(
                partial(self._listening, listener, guard),
                partial(self._failed, listener),
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

    def _listening(
        self,
        listener: Listener,
        guard: ConnectionGuard | DatagramGuard,
        port: IListeningPort,
    ) -> None:
        self.ports.append(port)
        if isinstance(guard, ConnectionGuard):
            # Also where no port starts the factory (stdio:).
            guard.start()
        address = port.getHost()
        _log.info(
            "{protocol} listening on {endpoint} ({address})",
            protocol=listener.plugin.name,
            endpoint=listener.spec.endpoint,
            address=formatAddress(address),
        )
        if listener.endpoint.kind is TransportKind.DATAGRAM:
            portNumber = getattr(address, "port", None)
            if isinstance(portNumber, int) and portNumber:
                self._ownPorts.add(portNumber)
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
        self._stopGuards()
        self._started = False

    def _stopGuards(self) -> None:
        guards, self.guards = self.guards, []
        for guard in guards:
            if isinstance(guard, ConnectionGuard):
                guard.stop()

    def stopService(self) -> Deferred[None]:
        """
        Stop listening, then let open connections finish for up to
        C{shutdownTimeout} seconds; close those still open then (at once,
        a second later, those that do not close when asked).
        """
        Service.stopService(self)
        self._started = False
        ports, self.ports = self.ports, []
        stopping = [defer.maybeDeferred(port.stopListening) for port in ports]
        d = defer.gatherResults(stopping, consumeErrors=True)
        return d.addBoth(lambda _: self._drain())

    def _drain(self) -> Deferred[None]:
        streams = [g for g in self.guards if isinstance(g, ConnectionGuard)]
        open = sum(g.openConnections for g in streams)
        if not open:
            self._stopGuards()
            return defer.succeed(None)
        _log.info(
            "stopping: waiting up to {timeout:g}s for {open} open connections",
            timeout=self.shutdownTimeout,
            open=open,
        )
        drained = defer.gatherResults(
            [g.whenEmpty() for g in streams], consumeErrors=True
        )
        timers = [
            self._reactor.callLater(
                self.shutdownTimeout, self._closeAll, streams, True
            ),
            self._reactor.callLater(
                self.shutdownTimeout + 1.0, self._closeAll, streams, False
            ),
            # Whatever happens, do not hold the shutdown up for long.
            self._reactor.callLater(self.shutdownTimeout + 2.0, drained.cancel),
        ]

        def done(result: object) -> None:
            for timer in timers:
                if timer.active():
                    timer.cancel()
            self._stopGuards()

        return drained.addBoth(done)

    def _closeAll(self, guards: list[ConnectionGuard], gently: bool) -> None:
        open = sum(g.openConnections for g in guards)
        if open:
            _log.info(
                "stopping: {how} {open} connections still open",
                how="closing" if gently else "aborting",
                open=open,
            )
        for guard in guards:
            guard.closeAll(gently)
