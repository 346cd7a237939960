# -*- test-case-name: sockplug.internet.test -*-
"""
sockplug's datagram ports on loopback, for sockplug's own tests of them
(not API: see L{sockplug.testing}): protocols that record what they are
handed, and a test case that makes ports and client sockets on loopback.
"""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet.protocol import DatagramProtocol
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from sockplug.internet._udp import LeanUDPPort

__all__ = ["Batches", "PortsCase", "Recorder"]


class Recorder(DatagramProtocol):
    """
    Records each datagram, and each the port dropped as too long; raises
    for a datagram C{b"boom"}; closes its port at once for C{b"close"}.
    """

    def __init__(self) -> None:
        self.received: list[tuple[bytes, Any]] = []
        self.truncated: list[tuple[Any, int, int | None]] = []
        self.refused = 0

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.received.append((datagram, addr))
        if datagram == b"boom":
            raise RuntimeError("boom")
        if datagram == b"close":
            self.transport.connectionLost()  # type: ignore[union-attr]

    def datagramTruncated(self, addr: Any, limit: int, size: int | None) -> None:
        self.truncated.append((addr, limit, size))

    def connectionRefused(self) -> None:
        self.refused += 1


class Batches(Recorder):
    """
    Takes datagrams in one go; raises for a batch holding C{b"boom"}.
    """

    def __init__(self) -> None:
        Recorder.__init__(self)
        self.batches: list[list[tuple[bytes, Any]]] = []

    def datagramsReceived(self, datagrams: list[tuple[bytes, Any]]) -> None:
        self.batches.append(datagrams)
        self.received.extend(datagrams)
        if any(datagram == b"boom" for datagram, _ in datagrams):
            raise RuntimeError("boom")


class PortsCase(SynchronousTestCase):
    """
    Makes ports and client sockets on loopback, closed after the test.
    """

    family = socket.AF_INET
    host = "127.0.0.1"

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()

    def port(self, protocol: DatagramProtocol, **kwargs: Any) -> LeanUDPPort:
        port = LeanUDPPort(0, protocol, self.host, reactor=self.reactor, **kwargs)
        # Twisted's udp.Port.startListening has no annotations.
        port.startListening()  # type: ignore[no-untyped-call]
        self.addCleanup(self.close, port)
        return port

    def close(self, port: Any) -> None:
        if getattr(port, "socket", None) is not None:
            port.connectionLost()

    def client(self) -> socket.socket:
        sock = socket.socket(self.family, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind((self.host, 0))
        sock.settimeout(5)
        return sock

    def address(self, port: Any) -> tuple[str, int]:
        return port.socket.getsockname()[:2]  # type: ignore[no-any-return]

    def received(self, sock: socket.socket, count: int) -> list[bytes]:
        return [sock.recv(70000) for _ in range(count)]
