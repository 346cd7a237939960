# -*- test-case-name: sockplug.server.test.test_service,sockplug.server.test.test_reload -*-  # noqa: E501
"""
One listener: an endpoint, the protocol it serves with that protocol's
options, and the defences in front of it; and what is said when it cannot
start.
"""

from __future__ import annotations

import errno
import itertools
import os
import socket
from collections.abc import Iterable, Mapping, Set
from typing import Any

from attrs import Factory, field, frozen
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError, ConnectionDone
from twisted.internet.interfaces import (
    IListeningPort,
    IProtocolFactory,
    IStreamServerEndpoint,
)
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from sockplug.defences import (
    ConnectionBudget,
    ConnectionGuard,
    DatagramCounters,
    DatagramGuard,
    GuardedFactory,
    StreamCounters,
    hostPortsFor,
)
from sockplug.endpoints import ListenerSpec, ParsedEndpoint
from sockplug.errors import ProtocolStartError, shown
from sockplug.interfaces import IDatagramServerEndpoint, IProtocolPlugin, TransportKind
from sockplug.internet import socketOf
from sockplug.logs import ALREADY_LIMITED, formatAddress
from sockplug.options import effectiveOptions
from sockplug.plugin import ListenerInfo

__all__ = [
    "Listener",
    "RunningListener",
    "Started",
    "closeAtOnce",
    "describeListenError",
    "logListening",
]


@frozen
class Started:
    """
    What serves a listener: its guard, and what its endpoint listens with
    (the guarded factory of a stream listener, the guard of a datagram
    one).
    """

    guard: ConnectionGuard | DatagramGuard
    front: GuardedFactory | DatagramGuard

    @property
    def served(self) -> object:
        """
        What the plugin built that serves new connections or datagrams now
        (a reload that changes the protocol or its options replaces it).
        """
        front = self.front
        if isinstance(front, GuardedFactory):
            return front.wrappedFactory
        return front.wrapped


@frozen
class Listener:
    """
    One listener: an endpoint and the protocol it serves.

    @ivar name: its table's name in the configuration file; empty for a
        listener given on the command line.
    @ivar options: the protocol's options, checked, defaults filled in.
    @ivar files: when the files the endpoint's arguments name last
        changed, as they were when it was made (see L{fileStamps}).
    """

    spec: ListenerSpec
    endpoint: ParsedEndpoint
    plugin: IProtocolPlugin
    name: str = ""
    options: Mapping[str, Any] = field(factory=dict, hash=False)
    files: tuple[object, ...] = field(
        default=Factory(lambda self: fileStamps(self.endpoint.files), True),
        eq=False,
    )

    @property
    def displayName(self) -> str:
        """
        How the log names this listener: its name, or its endpoint string.
        """
        return self.name or self.spec.endpoint

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
            options=self.options,
            name=self.displayName,
        )

    def build(self, reactor: Any) -> IProtocolFactory | DatagramProtocol:
        """
        Ask the plugin for the factory (stream) or protocol (datagram).

        @raise ProtocolStartError: if the plugin fails, saying why.
        """
        info = self.info(reactor)
        try:
            if self.endpoint.kind is TransportKind.STREAM:
                return self.plugin.buildStreamFactory(info)
            return self.plugin.buildDatagramProtocol(info)
        except Exception as e:
            reason = " ".join(str(e).split()) or type(e).__name__
            raise ProtocolStartError(
                f"protocol {self.plugin.name} could not start: {reason}"
            ) from e

    def prepare(
        self,
        reactor: Any,
        ownPorts: Set[int] = frozenset(),
        budget: ConnectionBudget | None = None,
        counters: StreamCounters | DatagramCounters | None = None,
    ) -> Started:
        """
        Build the protocol behind the listener's defences.

        @param counters: the counts to go on with (of the listener this one
            replaces), if they are of its kind; new ones otherwise.
        @raise ProtocolStartError: if the plugin fails.
        """
        built = self.build(reactor)
        description = self.spec.endpoint
        limits = self.endpoint.limits
        if self.endpoint.kind is TransportKind.STREAM:
            guard = ConnectionGuard(
                reactor,
                description,
                limits,
                budget,
                counters=counters if isinstance(counters, StreamCounters) else None,
            )
            guarded = GuardedFactory(
                built,  # type: ignore[arg-type]
                guard,
                self.endpoint.acceptsDirectly,
            )
            return Started(guard, guarded)
        assert isinstance(built, DatagramProtocol)
        datagramGuard = DatagramGuard(
            reactor,
            description,
            limits,
            built,
            ownPorts,
            counters=counters if isinstance(counters, DatagramCounters) else None,
            hostPorts=hostPortsFor(reactor),
        )
        return Started(datagramGuard, datagramGuard)

    def listenWith(self, started: Started) -> Deferred[IListeningPort]:
        """
        Start listening, with what L{prepare} built.
        """
        endpoint: Any = self.endpoint.endpoint
        if self.endpoint.kind is TransportKind.STREAM:
            assert IStreamServerEndpoint.providedBy(endpoint)
        else:
            assert IDatagramServerEndpoint.providedBy(endpoint)
        listening: Deferred[IListeningPort] = defer.maybeDeferred(
            endpoint.listen, started.front
        )
        return listening


class RunningListener:
    """
    A listener of the running service: what serves it, and its port while
    listening.
    """

    __slots__ = ("listener", "port", "started")

    def __init__(self, listener: Listener, started: Started) -> None:
        self.listener = listener
        self.started = started
        self.port: IListeningPort | None = None

    def listen(self) -> Deferred[IListeningPort]:
        """
        Start listening (again, after L{stopListening}).
        """
        return self.listener.listenWith(self.started)

    def stopListening(self) -> Deferred[object]:
        """
        Stop listening; fires once the socket is closed, so that its
        address is free again. Open connections go on.
        """
        port, self.port = self.port, None
        if port is None:
            return defer.succeed(None)
        return defer.maybeDeferred(port.stopListening)

    def reconfigure(self, listener: Listener, built: object) -> None:
        """
        Serve C{listener}, a changed version of this one that needs the
        same socket: new connections get C{built} (from its
        L{Listener.build}); the limits apply at once.
        """
        started = self.started
        limits = listener.endpoint.limits
        description = listener.spec.endpoint
        if isinstance(started.front, GuardedFactory):
            assert isinstance(started.guard, ConnectionGuard)
            started.front.replaceWrapped(built)  # type: ignore[arg-type]
            started.guard.reconfigure(description, limits)
        else:
            assert isinstance(built, DatagramProtocol)
            started.front.replaceWrapped(description, limits, built)
        self.listener = listener

    def retire(self) -> Deferred[None]:
        """
        This listener is gone (removed or replaced): fires once its open
        connections have closed (or idled out), when its guard stops.
        """
        guard = self.started.guard
        if not isinstance(guard, ConnectionGuard):
            return defer.succeed(None)

        def empty(result: None) -> None:
            guard.stop()

        return guard.whenEmpty().addCallback(empty)


def fileStamps(paths: Iterable[str]) -> tuple[object, ...]:
    """
    When each file (or the files of each folder) of an endpoint's
    L{ParsedEndpoint.files} last changed: Twisted reads a certificate
    once, when the endpoint is made, so a reload must make a new one when
    the file changed.
    """
    return tuple(_stamp(path) for path in paths)


def _stamp(value: str) -> object:
    """
    When a file (or the files of a folder) an argument names last changed,
    or L{None} if it names none.
    """
    try:
        if os.path.isfile(value):
            info = os.stat(value)
            return (info.st_ino, info.st_mtime_ns, info.st_size)
        if os.path.isdir(value):
            return tuple(
                sorted(
                    (entry.name, entry.stat().st_mtime_ns, entry.stat().st_size)
                    for entry in itertools.islice(os.scandir(value), 1000)
                    if entry.is_file()
                )
            )
    except OSError:
        pass
    return None


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


def describeListenError(description: str, failure: Failure) -> str:
    """
    One line saying why listening on C{description} failed.
    """
    error = failure.value
    if isinstance(error, CannotListenError) and isinstance(
        error.socketError, BaseException
    ):
        error = error.socketError
    if isinstance(error, ProtocolStartError):
        reason = str(error)
    elif isinstance(error, socket.gaierror):
        # Only an address's scope is looked up: fe80::1%nosuch.
        reason = (
            "the network interface after % in the address is not one of this machine's"
        )
    elif (
        isinstance(error, OSError)
        and isinstance(error.filename, str)
        and os.path.isabs(error.filename)
        and error.filename2 is None
    ):
        # A file listening needed, not the address itself: Twisted's ports
        # open os.devnull (missing in a --chroot without /dev). (Not a
        # lock file's symlink(): its filename is the pid it holds.)
        why = (error.strerror or str(error)).lower()
        reason = f"cannot open {error.filename!r}: {why}"
    elif isinstance(error, OSError) and error.errno in _HINTS:
        reason = _HINTS[error.errno]
    elif isinstance(error, CannotListenError) and error.socketError == (
        "Cannot acquire lock"
    ):
        reason = "another server holds its lock file (PATH.lock): is it running?"
    elif isinstance(error, CannotListenError) and isinstance(error.socketError, str):
        reason = error.socketError
    else:
        reason = " ".join(str(error).split()) or type(error).__name__
    return f"cannot listen on {shown(description)}: {reason}"


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


def _kindOf(sock: socket.socket) -> str:
    if sock.family == socket.AF_UNIX:
        return "unix"
    return "tcp" if sock.type == socket.SOCK_STREAM else "udp"


def logListening(log: Logger, listener: Listener, port: IListeningPort) -> None:
    """
    Log, with C{log}, where C{listener} now listens on C{port}, and the
    options the kernel gave its socket (what it says, not what was asked:
    Linux doubles C{SO_RCVBUF}, and caps it).

    One line or two per listener that starts: the configuration bounds
    them, not the traffic, so they are marked as limited already, and the
    process's log limit lets them all through, however many listeners
    there are.
    """
    log.info(
        "{protocol} listening on {endpoint} ({address})",
        protocol=listener.plugin.name,
        endpoint=listener.spec.endpoint,
        address=formatAddress(port.getHost()),
        **ALREADY_LIMITED,
    )
    sock = socketOf(port)
    if sock is not None:
        log.info(
            "{endpoint} socket options: {options}",
            endpoint=listener.spec.endpoint,
            options=effectiveOptions(sock, _kindOf(sock)),
            **ALREADY_LIMITED,
        )
