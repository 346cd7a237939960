# -*- test-case-name: sockplug.server.test -*-
"""
The listeners' service in memory, for sockplug's own tests (not API: see
L{sockplug.testing}): ports and endpoints that record what is asked of
them, a reactor whose ports hold their addresses, and a test case that
starts and reloads a service from configuration text.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from functools import cache
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import (
    IListeningPort,
    IProtocolFactory,
    IStreamServerEndpoint,
)
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from twisted.internet.testing import StringTransportWithDisconnection
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from sockplug.config._file import Configuration, readConfig
from sockplug.defences._guardedfactory import GuardedFactory
from sockplug.defences._streamguard import ConnectionGuard
from sockplug.discovery._registry import Registry, discover
from sockplug.endpoints._parsed import ParsedEndpoint
from sockplug.endpoints._parser import EndpointParser
from sockplug.endpoints._syntax import Arguments, ListenerSpec
from sockplug.errors import ReloadFailed
from sockplug.interfaces import IListenerInfo
from sockplug.plugin import ProtocolOption, ProtocolPlugin, TransportKind
from sockplug.plugins.sockplug_builtins import echoProtocol
from sockplug.server._listener import Listener
from sockplug.server._reload import ReloadReport
from sockplug.server._service import ListenersService
from sockplug.testing import MemoryDatagramReactor, MemoryDatagramTransport
from sockplug.testing._logs import LogTexts


@implementer(IListeningPort)
class RecordingPort:
    """
    A listening port in memory that counts the calls to C{stopListening}.
    """

    def __init__(self, host: Any) -> None:
        self.host = host
        self.stopped = 0

    def startListening(self) -> None:
        pass

    def stopListening(self) -> Deferred[None]:
        self.stopped += 1
        return succeed(None)

    def getHost(self) -> Any:
        return self.host


@implementer(IStreamServerEndpoint)
class FixedEndpoint:
    """
    A stream endpoint whose C{listen} gives a chosen result.
    """

    def __init__(self, result: Deferred[Any]) -> None:
        self.result = result
        self.factories: list[Any] = []

    def listen(self, factory: Any) -> Deferred[Any]:
        self.factories.append(factory)
        return self.result


def listenerOf(
    description: str, endpoint: Any, kind: TransportKind, plugin: Any = echoProtocol
) -> Listener:
    """
    A listener of C{plugin} (echo by default) on C{endpoint}, described as
    C{description}.
    """
    return Listener(
        ListenerSpec(plugin.name, description),
        ParsedEndpoint(
            description, kind, endpoint, arguments=Arguments.parse(description)
        ),
        plugin,
    )


def _fragileFactory(listener: IListenerInfo) -> IProtocolFactory:
    if listener.options["fail"]:
        raise RuntimeError("cannot open /nonexistent/out.log")
    return Factory.forProtocol(Protocol)


# A plugin that fails to build when its option "fail" is true.
FRAGILE = ProtocolPlugin(
    name="fragile",
    description="Fails to start when told to.",
    stream=_fragileFactory,
    options=[ProtocolOption("fail", bool, False, "fail to build")],
)


@cache
def registryWithFragile() -> Registry:
    """
    The protocols sockplug finds, and L{FRAGILE}.
    """
    found = discover()
    return Registry(
        {**found.protocols, "fragile": FRAGILE},
        {**found.sources, "fragile": __name__},
        (),
        found.datagramParsers,
    )


def configuration(reactor: Any, text: str) -> Configuration:
    """
    The configuration of C{text}, read as a file, for C{reactor}, with the
    protocols of L{registryWithFragile}.
    """
    registry = registryWithFragile()
    parser = EndpointParser(reactor, registry.datagramParsers)
    return readConfig(text.encode("utf-8"), "test.toml", registry, parser)


@implementer(IListeningPort)
class MemoryTCPPort:
    """
    A listening TCP port in memory that, as Twisted's, starts its factory
    when it starts listening and stops it when it stops; and holds its
    address until then.
    """

    def __init__(
        self,
        reactor: ServiceReactor,
        number: int,
        factory: Any,
        backlog: int = 50,
        interface: str = "",
    ) -> None:
        self.reactor = reactor
        self.number = number
        self.factory = factory
        self.backlog = backlog
        self.interface = interface
        self.listening = True
        factory.doStart()

    def startListening(self) -> None:
        pass

    def getHost(self) -> IPv4Address:
        return IPv4Address("TCP", self.interface or "0.0.0.0", self.number)

    def stopListening(self) -> Deferred[None]:
        if not self.reactor.slowStops:
            self._stopped()
            return succeed(None)
        stopping: Deferred[None] = Deferred()
        stopping.addCallback(lambda _: self._stopped())
        self.reactor.stopping.append(stopping)
        return stopping

    def _stopped(self) -> None:
        if self.listening:
            self.listening = False
            self.factory.doStop()


class ServiceReactor(MemoryDatagramReactor):
    """
    A memory reactor whose TCP ports are L{MemoryTCPPort}s: an address that a
    port holds cannot be listened on again until that port has stopped,
    and the port numbers in C{refuse}, or the C{(port, interface)} pairs,
    cannot be listened on at all.

    @ivar slowStops: whether ports stop only when the test fires their
        Deferred, found in C{stopping}.
    @ivar threadCalls: each C{callFromThread} call, not run.
    """

    def __init__(self) -> None:
        super().__init__()
        self.ports: list[MemoryTCPPort] = []
        self.refuse: set[int | tuple[int, str]] = set()
        self.slowStops = False
        self.stopping: list[Deferred[None]] = []
        self.threadCalls: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def _check(self, number: int, interface: str, busy: bool) -> None:
        if number in self.refuse or (number, interface) in self.refuse or busy:
            raise CannotListenError(
                interface, number, OSError(errno.EADDRINUSE, "Address already in use")
            )

    def listenTCP(
        self, port: int, factory: Any, backlog: int = 50, interface: str = ""
    ) -> MemoryTCPPort:
        busy = any(p.number == port and p.listening for p in self.ports)
        self._check(port, interface, busy)
        self.tcpServers.append((port, factory, backlog, interface))
        listening = MemoryTCPPort(self, port, factory, backlog, interface)
        self.ports.append(listening)
        return listening

    def listenUDP(
        self,
        port: int,
        protocol: DatagramProtocol,
        interface: str = "",
        maxPacketSize: int = 8192,
    ) -> MemoryDatagramTransport:
        busy = any(p[0] == port and p[4].listening for p in self.udpPorts)
        self._check(port, interface, busy)
        return super().listenUDP(port, protocol, interface, maxPacketSize)

    def callFromThread(self, f: Callable[..., Any], *args: Any) -> None:
        self.threadCalls.append((f, args))

    def listening(self, number: int) -> list[MemoryTCPPort]:
        """
        The TCP ports listening on C{number}.
        """
        return [p for p in self.ports if p.number == number and p.listening]

    def finishStops(self) -> None:
        """
        Let every port that was asked to stop, stop.
        """
        self.slowStops = False
        stopping, self.stopping = self.stopping, []
        for d in stopping:
            d.callback(None)


# Configuration files the reload tests go from one to another with: one
# listener ("a", hello, greeting "one" or "two"), and a second ("b").
RELOAD_ONE = """
[listeners.a]
endpoint = "tcp:8000"
protocol = "hello"
greeting = "one"
"""

RELOAD_TWO = """
[listeners.a]
endpoint = "tcp:8000"
protocol = "hello"
greeting = "two"
"""

RELOAD_TWO_AND_B = (
    RELOAD_TWO
    + """
[listeners.b]
endpoint = "tcp:8001"
"""
)


class ServiceCase(SynchronousTestCase):
    """
    A L{ListenersService} on a L{ServiceReactor}, configured from files' text.
    """

    def setUp(self) -> None:
        self.reactor = ServiceReactor()
        self.texts = LogTexts(self)

    def config(self, text: str) -> Configuration:
        return configuration(self.reactor, text)

    def start(self, text: str) -> ListenersService:
        service = ListenersService(self.reactor, self.config(text).listeners)
        service.startService()
        return service

    def reload(self, service: ListenersService, text: str) -> ReloadReport:
        return self.successResultOf(service.reload(self.config(text)))

    def refused(self, service: ListenersService, text: str) -> str:
        # trial's failureResultOf has no annotations.
        failure = self.failureResultOf(  # type: ignore[no-untyped-call]
            service.reload(self.config(text)), ReloadFailed
        )
        return str(failure.value)

    def port(self, number: int) -> MemoryTCPPort:
        [port] = self.reactor.listening(number)
        return port

    def connect(
        self, number: int, host: str = "192.0.2.1", source: int = 5000
    ) -> tuple[Any, StringTransportWithDisconnection]:
        """
        Connect to the TCP port listening on C{number}.
        """
        transport = StringTransportWithDisconnection(
            peerAddress=IPv4Address("TCP", host, source)
        )
        protocol = self.port(number).factory.buildProtocol(transport.getPeer())
        assert protocol is not None, "refused"
        transport.protocol = protocol
        protocol.makeConnection(transport)
        return protocol, transport

    def guardOf(self, number: int) -> ConnectionGuard:
        factory = self.port(number).factory
        assert isinstance(factory, GuardedFactory)
        return factory.guard
