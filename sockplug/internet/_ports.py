# -*- test-case-name: sockplug.options.test.test_sockopts -*-
"""
Twisted's listening ports, with socket options set between creating the
socket and binding it (where SO_REUSEPORT and buffer sizes must be set).
"""

from __future__ import annotations

import socket
from typing import Any, cast

from twisted.internet import tcp, unix
from twisted.internet.posixbase import PosixReactorBase

from sockplug.internet._datagramport import LeanUNIXDatagramPort
from sockplug.internet._transport import TCPServer, UNIXServer
from sockplug.internet._udp import LeanUDPPort
from sockplug.options import SocketOptions

__all__ = [
    "TCPPort",
    "UDPPort",
    "UNIXDatagramPort",
    "UNIXPort",
    "socketOf",
    "startPort",
    "watchesDescriptors",
]


class _WithOptions:
    """
    Mixin for a Twisted port: applies C{socketOptions} to its socket before
    it is bound.
    """

    socketOptions = SocketOptions()

    def createInternetSocket(self) -> socket.socket:
        sock: socket.socket = super().createInternetSocket()  # type: ignore[misc]
        self.socketOptions.apply(sock)
        return sock


class TCPPort(_WithOptions, tcp.Port):
    """
    A TCP port with socket options, whose connections send what is written
    at once (L{sockplug.internet._transport}).
    """

    transport = TCPServer


class UNIXPort(_WithOptions, unix.Port):
    """
    A UNIX stream port with socket options, whose connections send what is
    written at once (L{sockplug.internet._transport}).
    """

    transport = UNIXServer


class UDPPort(_WithOptions, LeanUDPPort):
    """
    A UDP port with socket options, with less work per datagram
    (L{sockplug.internet._udp}).
    """


class UNIXDatagramPort(_WithOptions, LeanUNIXDatagramPort):
    """
    A UNIX datagram port with socket options, with less work per datagram
    (L{sockplug.internet._datagramport}).
    """


def watchesDescriptors(reactor: Any) -> bool:
    """
    Whether C{reactor} is one of Twisted's posix reactors (epoll, poll,
    select, asyncio...), which run Twisted's socket ports, and so can run
    sockplug's own, whose connections send at once (L{sockplug.internet._transport}).
    Any other (an in-memory reactor in tests) gets Twisted's C{listenTCP},
    C{listenUNIX} and C{adoptStreamPort}.
    """
    return isinstance(reactor, PosixReactorBase)


def startPort(portType: type, options: SocketOptions, *args: Any) -> Any:
    """
    Make a port of C{portType} with C{args} (those of its Twisted base
    class), give it C{options}, and start it listening.
    """
    port: Any = cast(Any, portType)(*args)
    port.socketOptions = options
    port.startListening()
    return port


def socketOf(port: Any) -> socket.socket | None:
    """
    The socket of a listening port, if it has one we can read options of.
    """
    sock = getattr(port, "socket", None)
    return sock if isinstance(sock, socket.socket) else None
