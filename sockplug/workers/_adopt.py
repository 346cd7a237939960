# -*- test-case-name: sockplug.workers.test.test_adopt -*-
"""
How a worker process (C{--workers N}) listens: on the sockets its
supervisor made and passed down (see L{sockplug.workers._sockets}), never
binding one of its own.

Each listener of the worker's configuration keeps its protocol, its
defences and its C{haproxy:} and TLS layers; only the endpoint that makes
its socket is replaced by one that adopts the inherited socket
(L{sockplug.internet.InheritedStreamEndpoint},
L{sockplug.internet.InheritedDatagramEndpoint}): each C{listen} adopts a
duplicate, so that a reload can listen on it again, and stopping never
calls C{shutdown()}, which would stop the socket listening in every other
worker too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import evolve, frozen

from sockplug.config import Configuration
from sockplug.errors import ConfigError
from sockplug.internet import InheritedDatagramEndpoint, InheritedStreamEndpoint
from sockplug.logs import quoted
from sockplug.server import Listener, keysOf
from sockplug.workers._sockets import replaceSocketEndpoint, sharedSocketOf

__all__ = [
    "InheritedSocket",
    "adoptConfiguration",
]


@frozen
class InheritedSocket:
    """
    A socket a worker inherited: its descriptor, and which socket the
    supervisor made it for (L{sockplug.workers._sockets.SharedSocket.identity}).
    """

    fd: int
    identity: str


def _adopted(listener: Listener, inherited: InheritedSocket, reactor: Any) -> Listener:
    shared = sharedSocketOf(listener.endpoint)
    new: InheritedStreamEndpoint | InheritedDatagramEndpoint
    if shared.kind in ("tcp", "unix"):
        new = InheritedStreamEndpoint(reactor, inherited.fd)
    else:
        size = shared.endpoint.maxPacketSize  # type: ignore[union-attr]
        new = InheritedDatagramEndpoint(reactor, inherited.fd, size)
    endpoint = replaceSocketEndpoint(listener.endpoint.endpoint, new)
    return evolve(listener, endpoint=evolve(listener.endpoint, endpoint=endpoint))


def adoptConfiguration(
    configuration: Configuration,
    inherited: Mapping[str, InheritedSocket],
    reactor: Any,
) -> Configuration:
    """
    The configuration a worker serves: each listener on the socket it
    inherited for it, by the listener's name (or place on the command
    line).

    @raise ConfigError: for a listener the supervisor holds no socket for,
        or another socket (the file changed since the supervisor read it).
    """
    problems = []
    listeners = []
    for key, listener in keysOf(configuration.listeners).items():
        held = inherited.get(key)
        try:
            identity = sharedSocketOf(listener.endpoint).identity
        except ValueError as e:
            problems.append(f"listener {quoted(key)}: {e}")
            continue
        if held is None or held.identity != identity:
            problems.append(
                f"listener {quoted(key)}: the supervisor holds no socket for"
                f" {quoted(listener.spec.endpoint)}; with --workers, a new"
                " socket needs a restart"
            )
            continue
        listeners.append(_adopted(listener, held, reactor))
    if problems:
        raise ConfigError(problems)
    return evolve(configuration, listeners=tuple(listeners))
