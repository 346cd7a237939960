# -*- test-case-name: sockplug.protocols.test.test_hello -*-
"""
The hello protocol: greets each peer by its address, then answers each
line C{NAME} with C{Hello, NAME!}.

A reply ends the way the line it answers ended (CRLF or LF), so it reads
right to C{nc} and to a telnet-style client alike.
"""

from __future__ import annotations

import string
from typing import Any

from twisted.internet.interfaces import IProtocolFactory

from sockplug.interfaces import IListenerInfo
from sockplug.plugin import ProtocolOption
from sockplug.protocols.base import CountingDatagramProtocol, ListenerFactory
from sockplug.protocols.lines import LineProtocol

__all__ = [
    "OPTIONS",
    "Hello",
    "HelloDatagram",
    "buildDatagramProtocol",
    "buildStreamFactory",
]

DEFAULT_GREETING = "Hello, {peer}! Send me your name, one per line."
MAX_GREETING = 4096


def checkGreeting(greeting: str) -> str:
    """
    Check a greeting: text of at most 4 KiB, in which C{{peer}} stands for
    the peer's address and C{{{{} and C{}}}} for braces.

    @raise ValueError: saying what is wrong.
    """
    if len(greeting.encode("utf-8", "surrogateescape")) > MAX_GREETING:
        raise ValueError(f"is longer than {MAX_GREETING} bytes")
    try:
        for _, name, spec, conversion in string.Formatter().parse(greeting):
            # {peer} alone: a width ({peer:>99999999}) would make the
            # greeting as long as it says, on every connection.
            if name is not None and (name != "peer" or spec or conversion):
                raise ValueError
        greeting.format(peer="127.0.0.1:1")
    except (ValueError, KeyError, IndexError, AttributeError):
        raise ValueError(
            f"{greeting!r} may hold {{peer}} (the peer's address), with no"
            " format spec, and no other {...}; write {{ and }} for braces"
        ) from None
    return greeting


OPTIONS = (
    ProtocolOption(
        name="greeting",
        type=str,
        default=DEFAULT_GREETING,
        help="sent to each peer when it connects (stream); {peer} is its"
        ' address; "" sends none',
        check=checkGreeting,
    ),
)


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
        greeting = self.listener.options.get("greeting", DEFAULT_GREETING)
        if greeting:
            text = greeting.format(peer=self.peer).replace("\r\n", "\n")
            text = text.replace("\n", "\r\n") + "\r\n"
            self.send(text.encode("utf-8", "backslashreplace"))

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


def buildStreamFactory(listener: IListenerInfo) -> IProtocolFactory:
    """
    The factory for a stream listener.
    """
    return ListenerFactory(Hello, listener)


def buildDatagramProtocol(listener: IListenerInfo) -> HelloDatagram:
    """
    The protocol for a datagram listener.
    """
    return HelloDatagram(listener)
