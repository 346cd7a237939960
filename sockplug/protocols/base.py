# -*- test-case-name: sockplug.test.test_base -*-
"""
What every built-in protocol shares, and what a plugin may reuse: a stream
protocol and a datagram protocol that count bytes and log the peer when a
connection opens and closes (or a datagram listener starts and stops).
"""

from __future__ import annotations

from typing import Any, ClassVar

from twisted.internet.error import MessageLengthError
from twisted.internet.interfaces import (
    IHalfCloseableProtocol,
    ITransport,
    IUDPTransport,
)
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from sockplug._address import formatAddress
from sockplug.plugin import ListenerInfo

__all__ = ["CountingDatagramProtocol", "CountingProtocol", "ListenerFactory"]


class ListenerFactory(Factory["CountingProtocol"]):
    """
    A factory that serves one listener: its protocols find the listener as
    C{self.factory.listener}.
    """

    noisy = False

    def __init__(
        self, protocol: type[CountingProtocol], listener: ListenerInfo
    ) -> None:
        self.protocol = protocol
        self.listener = listener


@implementer(IHalfCloseableProtocol)
class CountingProtocol(Protocol):
    """
    A stream protocol that counts the bytes it receives and sends, and logs
    its peer when the connection opens and closes.

    When the peer ends its side of the connection (C{shutdown(SHUT_WR)}, as
    C{nc} does at the end of its input), what is still being sent to it is
    delivered before the connection closes: without this, Twisted closes at
    once and drops the replies not yet written.

    Subclasses call L{send} to write (so that the bytes are counted) and
    count what they receive in C{bytesIn}.

    @ivar peer: the peer's address, as shown in log lines.
    @ivar bytesIn: bytes received so far.
    @ivar bytesOut: bytes sent so far.
    """

    log: ClassVar[Logger] = Logger()
    factory: ListenerFactory
    transport: ITransport
    peer = ""
    bytesIn = 0
    bytesOut = 0
    _openedAt = 0.0

    @property
    def listener(self) -> ListenerInfo:
        """
        The listener this connection came in on.
        """
        return self.factory.listener

    def connectionMade(self) -> None:
        self.peer = formatAddress(self.transport.getPeer())
        self._openedAt = self.listener.reactor.seconds()
        self.log.info(
            "{listener} {peer} connected",
            listener=self.listener.description,
            peer=self.peer,
        )

    def send(self, data: bytes) -> None:
        """
        Write C{data} to the peer, counting it.
        """
        self.bytesOut += len(data)
        self.transport.write(data)

    def readConnectionLost(self) -> None:
        """
        The peer will send nothing more: close once the replies are out.
        """
        self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        """
        Nothing more can be sent; the peer may still send, and be read.
        """

    def connectionLost(self, reason: Failure = Failure(Exception())) -> None:  # noqa: B008
        self.log.info(
            "{listener} {peer} disconnected after {seconds:.3f}s:"
            " {bytesIn} bytes in, {bytesOut} bytes out ({why})",
            listener=self.listener.description,
            peer=self.peer,
            seconds=self.listener.reactor.seconds() - self._openedAt,
            bytesIn=self.bytesIn,
            bytesOut=self.bytesOut,
            why=reason.getErrorMessage(),
        )


class CountingDatagramProtocol(DatagramProtocol):
    """
    A datagram protocol that counts datagrams and bytes each way, replies
    only where a reply can go, and logs when it starts and stops.

    @ivar listener: the listener it serves.
    """

    log: ClassVar[Logger] = Logger()
    transport: IUDPTransport
    noisy = False

    def __init__(self, listener: ListenerInfo) -> None:
        self.listener = listener
        self.datagramsIn = self.bytesIn = 0
        self.datagramsOut = self.bytesOut = 0

    def count(self, data: bytes) -> None:
        """
        Count a received datagram.
        """
        self.datagramsIn += 1
        self.bytesIn += len(data)

    def reply(self, data: bytes, address: Any) -> None:
        """
        Send C{data} to C{address}, counting it. A reply that cannot go (an
        unbound UNIX datagram sender has no address; the sender may be gone)
        is logged and dropped.
        """
        if not address:
            self.log.info(
                "{listener}: not replying to an unbound UNIX datagram sender",
                listener=self.listener.description,
            )
            return
        try:
            self.transport.write(data, address)
        except (OSError, MessageLengthError) as e:
            self.log.info(
                "{listener}: reply to {peer} failed: {error}",
                listener=self.listener.description,
                peer=formatAddress(address),
                error=e,
            )
            return
        self.datagramsOut += 1
        self.bytesOut += len(data)

    def stopProtocol(self) -> None:
        self.log.info(
            "{listener} stopped: {datagramsIn} datagrams ({bytesIn} bytes) in,"
            " {datagramsOut} datagrams ({bytesOut} bytes) out",
            listener=self.listener.description,
            datagramsIn=self.datagramsIn,
            bytesIn=self.bytesIn,
            datagramsOut=self.datagramsOut,
            bytesOut=self.bytesOut,
        )
