# -*- test-case-name: sockplug.workers.test.test_sockets -*-
"""
The sockets worker processes share (C{--workers N}), as the supervisor
makes and holds them.

Each listener's socket is made by its own endpoint, under any C{haproxy:}
or TLS layer (L{ParsedEndpoint.socket}), so that everything it checks and says
when it cannot listen (a port in use, a live UNIX socket, a stale one with
C{stale=fail}, its lock file) is as without workers. A TCP or UDP listener
gets one socket per worker, all with C{SO_REUSEPORT} on one port, so that
the kernel spreads connections and datagrams over the workers; a UNIX one
(which the kernel does not balance) gets one socket that every worker
accepts on. The supervisor never reads from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import evolve, frozen
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import DatagramProtocol, Factory
from twisted.python.failure import Failure

from sockplug.compat import skipShutdown
from sockplug.endpoints import (
    ParsedEndpoint,
    SocketEndpoint,
    TCPServerEndpoint,
    TLSServerEndpoint,
    UDPServerEndpoint,
    UNIXDatagramServerEndpoint,
    UNIXServerEndpoint,
)
from sockplug.endpoints.proxy import ProxiedEndpoint
from sockplug.internet import socketOf
from sockplug.options import effectiveOptions
from sockplug.server import closeAtOnce

__all__ = [
    "SharedSocket",
    "closeHeld",
    "describeChanges",
    "describeSharing",
    "listenNow",
    "openShared",
    "replaceSocketEndpoint",
    "sharedSocketOf",
    "socketEndpoint",
]

_KINDS: dict[type, str] = {
    TCPServerEndpoint: "tcp",
    UNIXServerEndpoint: "unix",
    UDPServerEndpoint: "udp",
    UNIXDatagramServerEndpoint: "unixgram",
}

SHAREABLE = "tcp:, tcp6:, unix:, udp:, unixgram:, and ssl:, tls: or haproxy: over them"


def socketEndpoint(endpoint: object) -> object:
    """
    The endpoint that makes the socket, under any C{haproxy:} or TLS layer.
    """
    while True:
        if isinstance(endpoint, ProxiedEndpoint):
            endpoint = endpoint.wrapped
        elif isinstance(endpoint, TLSServerEndpoint):
            endpoint = endpoint.endpoint
        else:
            return endpoint


def replaceSocketEndpoint(endpoint: Any, new: Any) -> Any:
    """
    C{endpoint}, with C{new} in place of the endpoint that makes its socket
    (L{socketEndpoint}), under the same C{haproxy:} and TLS layers.
    """
    if isinstance(endpoint, ProxiedEndpoint):
        inner = replaceSocketEndpoint(endpoint.wrapped, new)
        return ProxiedEndpoint(endpoint.reactor, inner, endpoint.tls)
    if isinstance(endpoint, TLSServerEndpoint):
        return evolve(endpoint, endpoint=replaceSocketEndpoint(endpoint.endpoint, new))
    return new


@frozen
class SharedSocket:
    """
    What a listener's socket is, when workers share it.

    @ivar kind: C{tcp}, C{udp}, C{unix} or C{unixgram}.
    @ivar endpoint: the sockplug endpoint that makes it.
    @ivar identity: which socket it is (L{ParsedEndpoint.identity}): the
        same for two listeners exactly when they need the same socket.
    """

    kind: str
    endpoint: SocketEndpoint
    identity: str

    @property
    def perWorker(self) -> bool:
        """
        Whether each worker gets a socket of its own (TCP and UDP, balanced
        by the kernel), rather than all one.
        """
        return self.kind in ("tcp", "udp")

    def count(self, workers: int) -> int:
        """
        How many sockets C{workers} workers need.
        """
        return workers if self.perWorker else 1


def sharedSocketOf(endpoint: ParsedEndpoint) -> SharedSocket:
    """
    The socket an endpoint listens on, as workers can share it.

    @raise ValueError: for an endpoint whose socket cannot be shared
        (C{stdio:}, C{systemd:}, a third-party type), saying which can.
    """
    socket = endpoint.socket
    kind = None if socket is None else _KINDS.get(type(socket))
    if socket is None or kind is None:
        raise ValueError(
            f"{endpoint.prefix}: endpoints cannot be shared by"
            f" worker processes; --workers serves {SHAREABLE}"
        )
    return SharedSocket(kind, socket, endpoint.identity)


class HeldForWorkers(Factory):
    """
    The factory of a stream socket the supervisor holds for its workers:
    never asked for a protocol, since the supervisor does not accept.
    """

    noisy = False


class HeldForWorkersDatagram(DatagramProtocol):
    """
    The protocol of a datagram socket the supervisor holds for its
    workers: never given a datagram, since the supervisor does not read.
    """

    noisy = False


def _front(shared: SharedSocket) -> object:
    """
    What a held socket is given to listen with: it is never used, since the
    supervisor does not accept or read.
    """
    if shared.kind in ("tcp", "unix"):
        return HeldForWorkers()
    return HeldForWorkersDatagram()


def listenNow(endpoint: Any, front: object) -> IListeningPort:
    """
    Listen on a sockplug endpoint, which does so at once.

    @raise Exception: what listening raised.
    """
    results: list[IListeningPort | Failure] = []
    listening: Deferred[IListeningPort] = endpoint.listen(front)
    listening.addBoth(results.append)
    [result] = results
    if isinstance(result, Failure):
        result.raiseException()
    assert not isinstance(result, Failure)
    return result


def _holdQuietly(reactor: Any, port: IListeningPort) -> None:
    """
    Stop the reactor watching a port's socket: the supervisor holds it for
    its workers, and must not accept on it or read from it.
    """
    sock = socketOf(port)
    if sock is None:
        return
    number = sock.fileno()
    for reader in list(reactor.getReaders()):
        if reader.fileno() == number:
            reactor.removeReader(reader)


def openShared(
    reactor: Any, shared: SharedSocket, workers: int
) -> list[IListeningPort]:
    """
    Make the sockets of one listener for C{workers} workers: one per worker
    with C{SO_REUSEPORT} on one port (the first picks it, for port 0), or
    one for all.

    A given port is first listened on once without C{SO_REUSEPORT}, and
    closed again: another process's C{SO_REUSEPORT} socket there (another
    sockplug with workers, say) would otherwise let these join it, where
    without workers the port is in use.

    @raise Exception: as the endpoint's C{listen} fails, with nothing left
        open.
    """
    endpoint: Any = shared.endpoint
    if shared.perWorker and endpoint.port:
        closeAtOnce(listenNow(endpoint, _front(shared)))
    if shared.perWorker:
        endpoint = evolve(endpoint, options=evolve(endpoint.options, reuseport=True))
    ports: list[IListeningPort] = []
    try:
        for _ in range(shared.count(workers)):
            port = listenNow(endpoint, _front(shared))
            ports.append(port)
            _holdQuietly(reactor, port)
            if shared.perWorker and not endpoint.port:
                endpoint = evolve(endpoint, port=port.getHost().port)  # type: ignore[attr-defined]
    except BaseException:
        for port in ports:
            closeAtOnce(port)
        raise
    return ports


def closeHeld(port: IListeningPort) -> Deferred[object]:
    """
    Close a socket held for the workers, without C{shutdown()}: that would
    stop the socket listening in the workers too, which may still accept
    until they have stopped. A UNIX socket's file goes at once.
    """
    skipShutdown(port)
    return defer.maybeDeferred(port.stopListening)


def describeChanges(old: Mapping[str, str], new: Mapping[str, str]) -> str:
    """
    What differs between two socket plans (each listener's
    L{SharedSocket.identity}, by name): C{added: a; new socket: b}.
    """
    parts = [
        (what, names)
        for what, names in (
            ("added", [k for k in new if k not in old]),
            ("removed", [k for k in old if k not in new]),
            ("new socket", [k for k in new if k in old and new[k] != old[k]]),
        )
        if names
    ]
    return "; ".join(f"{what}: {', '.join(names)}" for what, names in parts)


def describeSharing(
    shared: SharedSocket, ports: list[IListeningPort], workers: int
) -> str:
    """
    The options of a listener's socket, and how the workers share it (for
    the log).
    """
    sock = socketOf(ports[0])
    kind = shared.kind if shared.perWorker else "unix"
    options = "?" if sock is None else effectiveOptions(sock, kind)
    if shared.perWorker:
        return f"{options}; a socket for each of the {workers} workers (SO_REUSEPORT)"
    return f"{options}; one socket for all {workers} workers"
