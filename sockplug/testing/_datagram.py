# -*- test-case-name: sockplug.defences.test -*-
"""
A datagram protocol behind a L{DatagramGuard}, for sockplug's own tests of
the guard, its reply budget and its transport (not API: see
L{sockplug.testing}): plugin protocols that answer, in-memory ports that
fail or send many at once, and test cases that connect a protocol, behind
a guard, to such a port.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.protocol import DatagramProtocol
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from sockplug.defences._datagramguard import DatagramGuard
from sockplug.options._limits import ListenerLimits
from sockplug.testing import MemoryDatagramTransport, connectDatagram

__all__ = [
    "CLIENT",
    "OTHER_CLIENT",
    "BatchCase",
    "Batching",
    "Echoing",
    "FailingTransport",
    "GuardedCase",
    "Quiet",
    "Replier",
    "WritingMany",
]

CLIENT = ("192.0.2.1", 5000)
OTHER_CLIENT = ("192.0.2.2", 6000)


class Replier(DatagramProtocol):
    """
    A plugin protocol that answers each datagram with C{size} bytes (the
    datagram's own size if L{None}), remembers where the last datagram came
    from and what each write returned, and records the calls it gets.
    """

    def __init__(self, size: int | None = None) -> None:
        self.size = size
        self.received: list[tuple[bytes, Any]] = []
        self.results: list[object] = []
        self.refused = 0
        self.stopped = 0

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.received.append((datagram, addr))
        size = len(datagram) if self.size is None else self.size
        self.send(b"r" * size, addr)

    def send(self, data: bytes, addr: Any) -> None:
        assert self.transport is not None
        self.results.append(self.transport.write(data, addr))  # type: ignore[func-returns-value]

    def connectionRefused(self) -> None:
        self.refused += 1

    def stopProtocol(self) -> None:
        self.stopped += 1


class Quiet(Replier):
    """
    Answers nothing at once (a plugin that answers later, from a timer).
    """

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.received.append((datagram, addr))


class Echoing(DatagramProtocol):
    """
    A plugin protocol that takes datagrams one at a time, answering each
    with itself; it raises for a datagram C{b"boom"}.
    """

    def __init__(self) -> None:
        self.received: list[tuple[bytes, Any]] = []

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.received.append((datagram, addr))
        if datagram == b"boom":
            raise RuntimeError("boom")
        assert self.transport is not None
        self.transport.write(datagram, addr)


class Batching(DatagramProtocol):
    """
    A protocol that takes datagrams in one go: it answers each with
    C{reply(datagram)} through C{writeReplies}, and records what it got and
    what C{writeReplies} said.
    """

    def __init__(self, reply: Any = None) -> None:
        self.reply = reply if reply is not None else (lambda datagram: datagram)
        self.batches: list[list[tuple[bytes, Any]]] = []
        self.notSent: list[dict[int, object]] = []

    def datagramsReceived(self, datagrams: list[tuple[bytes, Any]]) -> None:
        self.batches.append(list(datagrams))
        replies = [self.reply(datagram) for datagram, _ in datagrams]
        transport: Any = self.transport
        self.notSent.append(transport.writeReplies(datagrams, replies))


class FailingTransport(MemoryDatagramTransport):
    """
    A port's transport whose writes to one address fail.
    """

    failFor: Any = None

    def write(self, packet: bytes, addr: Any = None) -> None:
        if addr == self.failFor:
            raise OSError(101, "Network is unreachable")
        MemoryDatagramTransport.write(self, packet, addr)


class WritingMany(MemoryDatagramTransport):
    """
    A port's transport with C{writeMany}, as sockplug's ports have.
    """

    calls = 0

    def writeMany(self, datagrams: list[tuple[bytes, Any]]) -> dict[int, Exception]:
        self.calls += 1
        failed: dict[int, Exception] = {}
        for index, (datagram, addr) in enumerate(datagrams):
            if datagram == b"fail":
                failed[index] = OSError(11, "Resource temporarily unavailable")
            else:
                self.written.append((datagram, addr))
        return failed


class _Case(SynchronousTestCase):
    """
    A test case with a fake clock, that sees the events logged.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.events = EventLoggingObserver.createWithCleanup(
            self,  # type: ignore[arg-type]
            globalLogPublisher,
        )

    def texts(self, containing: str = "") -> list[str]:
        """
        The text of each event logged that contains C{containing}.
        """
        return [
            text
            for text in (formatEvent(event) for event in self.events)
            if containing in text
        ]


class GuardedCase(_Case):
    """
    Connects a plugin protocol, behind a L{DatagramGuard}, to an in-memory
    datagram transport.
    """

    def guard(
        self,
        protocol: DatagramProtocol | None = None,
        ownPorts: Any = frozenset(),
        hostPorts: Any = None,
        **limits: Any,
    ) -> tuple[DatagramGuard, Any, MemoryDatagramTransport]:
        """
        Guard C{protocol} (a L{Replier} if L{None}) under C{limits}, with
        the registry of the host's sockplug ports C{hostPorts} (none if
        L{None}).

        @return: the guard, the protocol, and the port's transport.
        """
        wrapped = Replier() if protocol is None else protocol
        guard = DatagramGuard(
            self.clock,
            "udp:7777",
            ListenerLimits(**limits),
            wrapped,
            ownPorts,
            hostPorts=hostPorts,
        )
        transport = connectDatagram(guard, MemoryDatagramTransport())
        return guard, wrapped, transport


class BatchCase(_Case):
    """
    Connects a protocol, behind a L{DatagramGuard}, to an in-memory datagram
    transport, for datagrams handed over in one go.
    """

    def guard(
        self,
        protocol: DatagramProtocol,
        transport: MemoryDatagramTransport | None = None,
        ownPorts: Any = frozenset(),
        **limits: Any,
    ) -> tuple[DatagramGuard, MemoryDatagramTransport]:
        """
        Guard C{protocol} under C{limits}, on C{transport} (a new one if
        L{None}).

        @return: the guard and the port's transport.
        """
        guard = DatagramGuard(
            self.clock, "udp:7777", ListenerLimits(**limits), protocol, ownPorts
        )
        port = connectDatagram(guard, transport or MemoryDatagramTransport())
        return guard, port
