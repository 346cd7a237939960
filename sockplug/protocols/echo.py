# -*- test-case-name: sockplug.protocols.test.test_echo -*-
"""
The echo protocol (RFC 862): every byte back, unchanged.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from twisted.internet.interfaces import IProtocolFactory

from sockplug.interfaces import IListenerInfo
from sockplug.protocols.base import (
    CountingDatagramProtocol,
    CountingProtocol,
    ListenerFactory,
)

__all__ = ["Echo", "EchoDatagram", "buildDatagramProtocol", "buildStreamFactory"]

_first = itemgetter(0)


class Echo(CountingProtocol):
    """
    Sends every byte received back to the peer.
    """

    def dataReceived(self, data: bytes) -> None:
        self.bytesIn += len(data)
        self.send(data)


class EchoDatagram(CountingDatagramProtocol):
    """
    Sends each datagram back to its sender.
    """

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        # As count(), without the call: this runs for every datagram.
        self.datagramsIn += 1
        self.bytesIn += len(datagram)
        self.reply(datagram, addr)

    def datagramsReceived(self, datagrams: list[tuple[bytes, Any]]) -> None:
        """
        Send each of the datagrams a port read in one go back to its
        sender, in one go (see L{sockplug.internet._datagramport}).
        """
        replies: list[bytes | None] = list(map(_first, datagrams))
        self.datagramsIn += len(replies)
        self.bytesIn += sum(map(len, replies))  # type: ignore[arg-type]
        self.replyTo(datagrams, replies)


def buildStreamFactory(listener: IListenerInfo) -> IProtocolFactory:
    """
    The factory for a stream listener.
    """
    return ListenerFactory(Echo, listener)


def buildDatagramProtocol(listener: IListenerInfo) -> EchoDatagram:
    """
    The protocol for a datagram listener.
    """
    return EchoDatagram(listener)
