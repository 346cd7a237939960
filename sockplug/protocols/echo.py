# -*- test-case-name: sockplug.test.test_echo -*-
"""
The echo protocol (RFC 862): every byte back, unchanged.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IProtocolFactory

from sockplug.plugin import ListenerInfo
from sockplug.protocols.base import (
    CountingDatagramProtocol,
    CountingProtocol,
    ListenerFactory,
)

__all__ = ["Echo", "EchoDatagram", "buildDatagramProtocol", "buildStreamFactory"]


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
        self.count(datagram)
        self.reply(datagram, addr)


def buildStreamFactory(listener: ListenerInfo) -> IProtocolFactory:
    """
    The factory for a stream listener.
    """
    return ListenerFactory(Echo, listener)


def buildDatagramProtocol(listener: ListenerInfo) -> EchoDatagram:
    """
    The protocol for a datagram listener.
    """
    return EchoDatagram(listener)
