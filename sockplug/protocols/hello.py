# -*- test-case-name: sockplug.test.test_hello -*-
"""
The hello protocol: greets each peer by its address, then answers each
line C{NAME} with C{Hello, NAME!}.

A reply ends the way the line it answers ended (CRLF or LF), so it reads
right to C{nc} and to a telnet-style client alike.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IProtocolFactory

from sockplug.plugin import ListenerInfo
from sockplug.protocols.base import CountingDatagramProtocol, ListenerFactory
from sockplug.protocols.lines import LineProtocol

__all__ = ["Hello", "HelloDatagram", "buildDatagramProtocol", "buildStreamFactory"]


def answer(line: bytes) -> bytes:
    """
    The reply to one line (with its CR, if any, without its LF):
    C{Hello, NAME!}, where NAME is the line without surrounding white space
    (C{stranger} if that leaves nothing).
    """
    name = line.strip() or b"stranger"
    return b"Hello, " + name + b"!"


class Hello(LineProtocol):
    """
    Greets the peer, then answers each line it sends.
    """

    def connectionMade(self) -> None:
        super().connectionMade()
        greeting = f"Hello, {self.peer}! Send me your name, one per line.\r\n"
        self.send(greeting.encode("utf-8", "backslashreplace"))

    def linesReceived(self, lines: list[bytes]) -> None:
        self.send(
            b"".join(
                answer(line) + (b"\r\n" if line.endswith(b"\r") else b"\n")
                for line in lines
            )
        )


class HelloDatagram(CountingDatagramProtocol):
    """
    Answers a datagram C{NAME} with C{Hello, NAME!}, ended with the line
    ending the datagram had, if any.
    """

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.count(datagram)
        ending = b""
        for end in (b"\r\n", b"\n"):
            if datagram.endswith(end):
                datagram, ending = datagram[: -len(end)], end
                break
        self.reply(answer(datagram) + ending, addr)


def buildStreamFactory(listener: ListenerInfo) -> IProtocolFactory:
    """
    The factory for a stream listener.
    """
    return ListenerFactory(Hello, listener)


def buildDatagramProtocol(listener: ListenerInfo) -> HelloDatagram:
    """
    The protocol for a datagram listener.
    """
    return HelloDatagram(listener)
