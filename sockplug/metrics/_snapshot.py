# -*- test-case-name: sockplug.metrics.test.test_snapshot -*-
"""
One reading of what every listener has done, for the metrics and the
status page: taken in the reactor's thread, in one go, so that its numbers
agree with each other.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from attrs import frozen

from sockplug.defences import ConnectionGuard, DatagramCounters, StreamCounters
from sockplug.interfaces import IProtocolOutput, TransportKind
from sockplug.internet import droppedLogLines

if TYPE_CHECKING:
    from sockplug.server import ConfigReloader, ListenersService

__all__ = ["ListenerReading", "Reading", "read"]


@frozen
class ListenerReading:
    """
    What one listener has done since it first listened.

    @ivar name: how it is named: its table's name in the configuration
        file, or its endpoint string.
    @ivar listening: whether it listens now (one that a failed reload
        could not start again does not).
    @ivar since: when it first listened (L{None}: it never did).
    @ivar open: stream connections open now (of the sockets it had before
        a reload too); 0 for a datagram listener.
    @ivar connections: stream connections let in.
    @ivar refused: stream connections refused, or datagrams dropped, by
        reason.
    @ivar errors: by kind.
    @ivar outputDropped: the lines and bytes its protocol's output dropped
        (see L{IProtocolOutput}), or L{None} if it has no such output.
    @ivar evicted: stream connections closed to make room for new ones.
    """

    name: str
    endpoint: str
    protocol: str
    kind: TransportKind
    listening: bool
    since: float | None
    open: int
    connections: int
    bytesIn: int
    bytesOut: int
    datagramsIn: int
    datagramsOut: int
    idleClosed: int
    refused: Mapping[str, int]
    errors: Mapping[str, int]
    outputDropped: tuple[int, int] | None = None
    evicted: int = 0


@frozen
class Reading:
    """
    What the whole process has done.

    @ivar now: when it was read (C{reactor.seconds()}).
    @ivar openConnections: stream connections open, all listeners together.
    @ivar maxConnections: their bound (C{--max-connections}).
    @ivar logDropped: the lines of twistd's log dropped because its reader
        did not read (see L{sockplug.internet.droppedLogLines}), or L{None}
        if the log is not written without blocking (a file).
    @ivar reloads: reloads C{"done"} and C{"failed"}, or L{None} without a
        configuration file.
    """

    now: float
    pid: int
    listeners: tuple[ListenerReading, ...]
    openConnections: int
    maxConnections: int
    reloads: Mapping[str, int] | None
    logDropped: int | None = None


def read(
    reactor: Any,
    service: ListenersService,
    reloader: ConfigReloader | None = None,
) -> Reading:
    """
    Read every listener of C{service}. Call it in the reactor's thread.
    """
    guardsOf: dict[int, list[ConnectionGuard]] = {}
    for guard in service.guards:
        if isinstance(guard, ConnectionGuard):
            guardsOf.setdefault(id(guard.counters), []).append(guard)
    readings = []
    for running in service.runningListeners:
        listener = running.listener
        counters = running.started.guard.counters
        output = IProtocolOutput(running.started.served, None)
        common: dict[str, Any] = {
            "name": listener.displayName,
            "endpoint": listener.spec.endpoint,
            "protocol": listener.plugin.name,
            "kind": listener.endpoint.kind,
            "listening": running.port is not None,
            "since": counters.since,
            "errors": dict(counters.errors),
            "outputDropped": None if output is None else output.outputDropped(),
        }
        if isinstance(counters, StreamCounters):
            guards = guardsOf.get(id(counters), [])
            bytesIn, bytesOut = counters.bytesIn, counters.bytesOut
            for guard in guards:
                openIn, openOut = guard.openTraffic()
                bytesIn += openIn
                bytesOut += openOut
            readings.append(
                ListenerReading(
                    open=sum(guard.openConnections for guard in guards),
                    connections=counters.accepted,
                    bytesIn=bytesIn,
                    bytesOut=bytesOut,
                    datagramsIn=0,
                    datagramsOut=0,
                    idleClosed=counters.idleClosed,
                    evicted=counters.evicted,
                    refused=dict(counters.refused),
                    **common,
                )
            )
        else:
            assert isinstance(counters, DatagramCounters)
            readings.append(
                ListenerReading(
                    open=0,
                    connections=0,
                    bytesIn=counters.bytesIn,
                    bytesOut=counters.bytesOut,
                    datagramsIn=counters.datagramsIn,
                    datagramsOut=counters.datagramsOut,
                    idleClosed=0,
                    refused=dict(counters.dropped),
                    **common,
                )
            )
    return Reading(
        now=reactor.seconds(),
        pid=os.getpid(),
        listeners=tuple(readings),
        openConnections=service.budget.open,
        maxConnections=service.budget.limit,
        reloads=None if reloader is None else dict(reloader.reloads),
        logDropped=droppedLogLines(),
    )
