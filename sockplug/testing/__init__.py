# -*- test-case-name: sockplug.test.test_testing -*-
"""
In-memory fakes for testing sockplug protocols, ours and plugins' alike.

Twisted's L{twisted.internet.testing} has stream fakes but no usable
datagram ones (its C{FakeDatagramTransport} only records writes, and
L{MemoryReactor} cannot listen for datagrams: twisted#9695). This module
adds them, and helpers that connect a plugin's protocol to them::

    protocol, transport = connectStream(myPlugin)
    protocol.dataReceived(b"hello\\n")
    assert transport.value() == b"olleh\\n"

The private modules beside this one (C{_*.py}) hold the fakes that
sockplug's own tests share, one module per subject. They are not API: they
change with sockplug's insides, and this module does not import them, so
that C{import sockplug.testing} stays light.
"""

from __future__ import annotations

from typing import Any

from attrs import define, field
from twisted.internet.address import IPv4Address, UNIXAddress
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import (
    IAddress,
    IListeningPort,
    IReactorUDP,
    IUDPTransport,
)
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.testing import (
    MemoryReactorClock,
    StringTransportWithDisconnection,
)
from zope.interface import implementer

from sockplug.interfaces import IProtocolPlugin, TransportKind
from sockplug.plugin import ListenerInfo, ListenerLimits

__all__ = [
    "MemoryDatagramReactor",
    "MemoryDatagramTransport",
    "connectDatagram",
    "connectStream",
    "listenerInfo",
]


@implementer(IUDPTransport, IListeningPort)
@define
class MemoryDatagramTransport:
    """
    A datagram transport in memory: it records each datagram written, and
    can be told to fail the next writes.

    A datagram with no address to go to (written to an unbound UNIX
    datagram sender, whose address is L{None}, or without an address while
    not connected) is dropped as a sockplug listener drops it: C{write}
    returns L{False}, and it is recorded in C{dropped}, not in C{written}.

    @ivar written: C{(datagram, address)} for each datagram written.
    @ivar dropped: C{(datagram, address, reason)} for each datagram
        dropped; the reason is C{"unaddressed"}, as a listener's metrics
        count it.
    @ivar host: the address it is "bound" to.
    @ivar failWith: an exception that every write with an address raises,
        if not L{None} (e.g. C{ConnectionRefusedError()} for a vanished
        UNIX sender).
    @ivar listening: whether it has not been stopped.
    """

    host: IAddress = field(factory=lambda: IPv4Address("UDP", "127.0.0.1", 9999))
    failWith: BaseException | None = None
    written: list[tuple[bytes, Any]] = field(factory=list)
    dropped: list[tuple[bytes, Any, str]] = field(factory=list)
    protocol: DatagramProtocol | None = None
    listening: bool = True
    connectedTo: Any = None
    broadcastAllowed: bool = False

    # (Twisted's interface says write returns None; a sockplug listener's
    # transport returns False for a datagram it drops, and so does this.)
    def write(self, packet: bytes, addr: Any = None) -> bool | None:  # type: ignore[override]
        """
        Record C{packet} as sent to C{addr} (or, if L{None}, to the
        connected address); or, if it has no address to go to, as dropped.

        @return: L{False} if it was dropped, L{None} if it was sent.
        """
        if not addr:
            to = self.connectedTo if addr is None else None
            if to is None:
                self.dropped.append((packet, addr, "unaddressed"))
                return False
            addr = to
        if self.failWith is not None:
            raise self.failWith
        self.written.append((packet, addr))
        return None

    def connect(self, host: str, port: int) -> None:
        """
        Send every later write without an address to C{(host, port)}.
        """
        self.connectedTo = (host, port)

    def getHost(self) -> Any:
        return self.host

    def startListening(self) -> None:
        self.listening = True

    def stopListening(self) -> Deferred[None]:
        """
        Stop, and tell the protocol so.
        """
        if self.listening:
            self.listening = False
            if self.protocol is not None:
                self.protocol.doStop()
        return succeed(None)

    loseConnection = stopListening

    def setBroadcastAllowed(self, enabled: bool) -> None:
        self.broadcastAllowed = enabled

    def getBroadcastAllowed(self) -> bool:
        return self.broadcastAllowed


@implementer(IReactorUDP)
class MemoryDatagramReactor(MemoryReactorClock):
    """
    A L{MemoryReactorClock} that can also listen for datagrams: UDP, and
    UNIX datagrams (C{listenUNIXDatagram} only).

    @ivar udpPorts: C{(port, protocol, interface, maxPacketSize, transport)}
        for each C{listenUDP}.
    @ivar unixDatagramPorts: C{(path, protocol, maxPacketSize, mode,
        transport)} for each C{listenUNIXDatagram}.
    """

    def __init__(self) -> None:
        MemoryReactorClock.__init__(self)
        self.udpPorts: list[tuple[int, DatagramProtocol, str, int, Any]] = []
        self.unixDatagramPorts: list[tuple[str, DatagramProtocol, int, int, Any]] = []

    def listenUDP(
        self,
        port: int,
        protocol: DatagramProtocol,
        interface: str = "",
        maxPacketSize: int = 8192,
    ) -> MemoryDatagramTransport:
        transport = MemoryDatagramTransport(
            host=IPv4Address("UDP", interface or "0.0.0.0", port or 40000)
        )
        connectDatagram(protocol, transport)
        self.udpPorts.append((port, protocol, interface, maxPacketSize, transport))
        return transport

    def listenUNIXDatagram(
        self,
        address: str,
        protocol: DatagramProtocol,
        maxPacketSize: int = 8192,
        mode: int = 0o666,
    ) -> MemoryDatagramTransport:
        transport = MemoryDatagramTransport(host=UNIXAddress(address))
        connectDatagram(protocol, transport)
        self.unixDatagramPorts.append(
            (address, protocol, maxPacketSize, mode, transport)
        )
        return transport


def listenerInfo(
    description: str = "tcp:8888",
    kind: TransportKind = TransportKind.STREAM,
    protocolName: str = "test",
    reactor: Any = None,
    limits: ListenerLimits | None = None,
) -> ListenerInfo:
    """
    A L{ListenerInfo} for a test, with a L{MemoryDatagramReactor} unless a
    reactor is given, and the default defences unless C{limits} are given.
    """
    return ListenerInfo(
        description=description,
        kind=kind,
        protocolName=protocolName,
        reactor=reactor if reactor is not None else MemoryDatagramReactor(),
        limits=limits if limits is not None else ListenerLimits(),
    )


def connectStream(
    plugin: IProtocolPlugin,
    description: str = "tcp:8888",
    peer: IAddress | None = None,
    reactor: Any = None,
) -> tuple[Any, StringTransportWithDisconnection]:
    """
    Build a plugin's stream factory for a listener on C{description}, and
    connect one of its protocols to an in-memory transport.

    @return: the protocol, and its transport (C{transport.value()} is what
        the protocol sent; C{transport.connected} whether it is open).
    """
    info = listenerInfo(description, TransportKind.STREAM, plugin.name, reactor)
    factory = plugin.buildStreamFactory(info)
    transport = StringTransportWithDisconnection(
        peerAddress=peer or IPv4Address("TCP", "127.0.0.1", 53422)
    )
    protocol = factory.buildProtocol(transport.getPeer())
    assert protocol is not None, f"{plugin.name} refused the connection"
    transport.protocol = protocol
    protocol.makeConnection(transport)
    return protocol, transport


def connectDatagram(
    protocol: DatagramProtocol, transport: MemoryDatagramTransport | None = None
) -> MemoryDatagramTransport:
    """
    Start a datagram protocol on an in-memory transport.
    """
    if transport is None:
        transport = MemoryDatagramTransport()
    transport.protocol = protocol
    protocol.makeConnection(transport)
    return transport
