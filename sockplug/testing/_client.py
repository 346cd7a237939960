# -*- test-case-name: sockplug.client.test.test_session -*-
"""
The client's endpoints and connections in memory, for sockplug's own tests
(not API: see L{sockplug.testing}).
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.interfaces import (
    IAddress,
    IProtocol,
    IProtocolFactory,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.testing import StringTransportWithDisconnection
from zope.interface import implementer

from sockplug.client._endpoints import DatagramClient
from sockplug.testing import MemoryDatagramTransport, connectDatagram

UDP = "udp:host=127.0.0.1:port=7"


class HalfCloseTransport(StringTransportWithDisconnection):
    """A transport that can close its writing side alone."""

    def __init__(self, peerAddress: IAddress | None = None) -> None:
        StringTransportWithDisconnection.__init__(self, peerAddress=peerAddress)
        self.writeClosed = False

    def loseWriteConnection(self) -> None:
        self.writeClosed = True


class FakeDatagramClient(DatagramClient):
    """A datagram client that records what is sent and replies on demand."""

    def __init__(self, startError: Exception | None = None) -> None:
        self.description = UDP
        self.startError = startError
        self.sendError: Exception | None = None
        self.sent: list[bytes] = []
        self.transport: MemoryDatagramTransport | None = None
        self.stopped = False

    def start(self, reactor: Any, protocol: DatagramProtocol) -> None:
        if self.startError is not None:
            raise self.startError
        self.protocol = protocol
        self.transport = connectDatagram(protocol)

    def send(self, data: bytes) -> None:
        if self.sendError is not None:
            raise self.sendError
        self.sent.append(data)

    def stop(self) -> Deferred[None]:
        self.stopped = True
        assert self.transport is not None
        return self.transport.stopListening()

    def reply(self, datagram: bytes) -> None:
        self.protocol.datagramReceived(datagram, ("127.0.0.1", 7))


@implementer(IStreamClientEndpoint)
class FakeStreamEndpoint:
    """Refuses the first C{failures} connections, then connects in memory."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.attempts = 0
        self.transports: list[HalfCloseTransport] = []

    def connect(self, factory: IProtocolFactory) -> Deferred[IProtocol]:
        self.attempts += 1
        if self.attempts <= self.failures:
            return defer.fail(ConnectionRefusedError())
        server = IPv4Address("TCP", "127.0.0.1", 7)
        protocol = factory.buildProtocol(server)
        assert protocol is not None
        transport = HalfCloseTransport(peerAddress=server)
        transport.protocol = protocol
        protocol.makeConnection(transport)
        self.transports.append(transport)
        return defer.succeed(protocol)
