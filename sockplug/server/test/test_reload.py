"""
Tests for L{sockplug.server._reload}, and for L{ListenersService.reload}, which
applies what it plans.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import Factory
from twisted.logger import LogLevel
from twisted.trial.unittest import SynchronousTestCase

from sockplug.config._file import Configuration
from sockplug.defences._datagramguard import DatagramGuard
from sockplug.endpoints._parser import EndpointParser
from sockplug.endpoints._syntax import ListenerSpec
from sockplug.errors import ConfigError, ReloadFailed
from sockplug.options._protooptions import declaredOptions, resolveOptions
from sockplug.protocols.echo import EchoDatagram
from sockplug.server._listener import Listener, RunningListener
from sockplug.server._reload import (
    ConfigReloader,
    ReloadPlan,
    ReloadReport,
    holdersOf,
    planReload,
    socketKey,
)
from sockplug.server._service import ListenersService, keysOf
from sockplug.testing import MemoryDatagramReactor, MemoryDatagramTransport
from sockplug.testing._server import MemoryTCPPort as _Port
from sockplug.testing._server import ServiceCase as _ServiceCase
from sockplug.testing._server import ServiceReactor as _Reactor
from sockplug.testing._server import configuration as _config
from sockplug.testing._server import registryWithFragile as _registry

_CLIENT = ("192.0.2.1", 5000)


def _listener(
    endpoint: str, protocol: str = "echo", name: str = "a", **options: Any
) -> Listener:
    """
    A listener as the configuration file makes it, with the endpoint
    string as given (limits and socket options in it).
    """
    registry = _registry()
    plugin = registry.get(protocol)
    parser = EndpointParser(MemoryDatagramReactor(), registry.datagramParsers)
    resolved, problems = resolveOptions(declaredOptions(plugin), options)
    assert not problems, problems
    return Listener(
        ListenerSpec(protocol, endpoint),
        parser.parse(endpoint),
        plugin,
        name,
        resolved,
    )


def _state(port: IListeningPort) -> tuple[int, bool]:
    """
    The port number a fake port listens on, and whether it still does.
    """
    assert isinstance(port, (_Port, MemoryDatagramTransport))
    host = port.getHost()
    assert isinstance(host, IPv4Address)
    return host.port, port.listening


class SocketKeyTests(SynchronousTestCase):
    """
    Tests for L{socketKey}.
    """

    def test_optionOrder(self) -> None:
        """
        The order of an endpoint string's options does not matter.
        """
        self.assertEqual(
            socketKey(_listener("tcp:8000:interface=127.0.0.1:backlog=10")),
            socketKey(_listener("tcp:8000:backlog=10:interface=127.0.0.1")),
        )

    def test_limitsIgnored(self) -> None:
        """
        Limits, which sockplug applies and not the socket, do not count.
        """
        self.assertEqual(
            socketKey(_listener("tcp:8000")),
            socketKey(_listener("tcp:8000:maxconn=5:idle=10:loglines=3")),
        )

    def test_socketOptionsCount(self) -> None:
        """
        A socket option makes another socket.
        """
        self.assertNotEqual(
            socketKey(_listener("tcp:8000")),
            socketKey(_listener("tcp:8000:reuseport=yes")),
        )

    def test_backlogCounts(self) -> None:
        """
        The backlog makes another socket.
        """
        self.assertNotEqual(
            socketKey(_listener("tcp:8000")),
            socketKey(_listener("tcp:8000:backlog=10")),
        )

    def test_portCounts(self) -> None:
        """
        Another port is another socket.
        """
        self.assertNotEqual(
            socketKey(_listener("tcp:8000")), socketKey(_listener("tcp:8001"))
        )

    def test_kindCounts(self) -> None:
        """
        A UDP port is not the TCP port of the same number.
        """
        self.assertNotEqual(
            socketKey(_listener("tcp:8000")), socketKey(_listener("udp:8000"))
        )

    def test_protocolIgnored(self) -> None:
        """
        The protocol and its options do not count.
        """
        self.assertEqual(
            socketKey(_listener("tcp:8000")),
            socketKey(_listener("tcp:8000", "hello", greeting="hi")),
        )


class PlanReloadTests(SynchronousTestCase):
    """
    Tests for L{planReload}.
    """

    def plan(self, current: list[Listener], new: list[Listener]) -> ReloadPlan:
        return planReload(keysOf(current), keysOf(new))

    def test_kept(self) -> None:
        """
        A listener whose every part is the same is kept.
        """
        plan = self.plan(
            [_listener("tcp:8000", "hello", greeting="hi")],
            [_listener("tcp:8000", "hello", greeting="hi")],
        )
        self.assertEqual(plan, ReloadPlan(kept=("a",)))

    def test_protocolChanged(self) -> None:
        """
        A listener whose protocol changes is reconfigured.
        """
        plan = self.plan([_listener("tcp:8000")], [_listener("tcp:8000", "hello")])
        self.assertEqual(plan, ReloadPlan(reconfigured=("a",)))

    def test_optionsChanged(self) -> None:
        """
        A listener whose protocol options change is reconfigured.
        """
        plan = self.plan(
            [_listener("tcp:8000", "hello", greeting="one")],
            [_listener("tcp:8000", "hello", greeting="two")],
        )
        self.assertEqual(plan, ReloadPlan(reconfigured=("a",)))

    def test_limitsChanged(self) -> None:
        """
        A listener whose limits change is reconfigured.
        """
        plan = self.plan(
            [_listener("tcp:8000:maxconn=5")], [_listener("tcp:8000:maxconn=6")]
        )
        self.assertEqual(plan, ReloadPlan(reconfigured=("a",)))

    def test_limitsFromFileChanged(self) -> None:
        """
        A limit given as a key of the listener's table, not in its endpoint
        string, reconfigures it too.
        """
        reactor = MemoryDatagramReactor()
        table = '[listeners.a]\nendpoint = "tcp:8000"\n'
        old = _config(reactor, table + "maxconn = 5\n").listeners
        new = _config(reactor, table + "maxconn = 6\n").listeners
        self.assertEqual(
            planReload(keysOf(old), keysOf(new)), ReloadPlan(reconfigured=("a",))
        )

    def test_endpointChanged(self) -> None:
        """
        A listener on another port is replaced.
        """
        plan = self.plan([_listener("tcp:8000")], [_listener("tcp:8001")])
        self.assertEqual(plan, ReloadPlan(replaced=("a",)))

    def test_socketOptionsChanged(self) -> None:
        """
        A listener whose socket options change is replaced.
        """
        plan = self.plan([_listener("tcp:8000")], [_listener("tcp:8000:rcvbuf=64K")])
        self.assertEqual(plan, ReloadPlan(replaced=("a",)))

    def test_replacedAndReconfigured(self) -> None:
        """
        A listener whose socket and protocol both change is replaced.
        """
        plan = self.plan([_listener("tcp:8000")], [_listener("tcp:8001", "hello")])
        self.assertEqual(plan, ReloadPlan(replaced=("a",)))

    def test_added(self) -> None:
        """
        A listener by a new name is added.
        """
        plan = self.plan([], [_listener("tcp:8000", name="b")])
        self.assertEqual(plan, ReloadPlan(added=("b",)))

    def test_removed(self) -> None:
        """
        A listener whose name is gone is removed.
        """
        plan = self.plan([_listener("tcp:8000", name="b")], [])
        self.assertEqual(plan, ReloadPlan(removed=("b",)))

    def test_renamed(self) -> None:
        """
        A listener renamed is removed under its old name and added under
        its new one, even on the same endpoint.
        """
        plan = self.plan(
            [_listener("tcp:8000", name="a")], [_listener("tcp:8000", name="b")]
        )
        self.assertEqual(plan, ReloadPlan(added=("b",), removed=("a",)))

    def test_everyCategory(self) -> None:
        """
        Each listener is sorted on its own.
        """
        plan = self.plan(
            [
                _listener("tcp:1", name="kept"),
                _listener("tcp:2", name="changed"),
                _listener("tcp:3", name="moved"),
                _listener("tcp:4", name="gone"),
            ],
            [
                _listener("tcp:1", name="kept"),
                _listener("tcp:2:idle=5", name="changed"),
                _listener("tcp:30", name="moved"),
                _listener("tcp:5", name="new"),
            ],
        )
        self.assertEqual(
            plan,
            ReloadPlan(
                kept=("kept",),
                reconfigured=("changed",),
                replaced=("moved",),
                added=("new",),
                removed=("gone",),
            ),
        )

    def test_goingAndStarting(self) -> None:
        """
        The listeners whose socket stops are those removed and replaced;
        those that need a new one, those added and replaced.
        """
        plan = ReloadPlan(
            kept=("k",),
            reconfigured=("c",),
            replaced=("r",),
            added=("a",),
            removed=("d",),
        )
        self.assertEqual((plan.going, plan.starting), (("d", "r"), ("a", "r")))

    def test_commandLineByPosition(self) -> None:
        """
        Listeners of the command line (no name) are matched by their place
        on it.
        """
        first = _listener("tcp:1", name="")
        second = _listener("tcp:2", name="")
        plan = self.plan([first, second], [first, second, _listener("tcp:3")])
        self.assertEqual(
            plan, ReloadPlan(kept=("--endpoint #1", "--endpoint #2"), added=("a",))
        )

    def test_commandLineKeys(self) -> None:
        """
        A command-line listener's key is its place on the command line; a
        file's listener's, its name.
        """
        keys = keysOf([_listener("tcp:1", name=""), _listener("tcp:2", name="web")])
        self.assertEqual(list(keys), ["--endpoint #1", "web"])


class HoldersOfTests(SynchronousTestCase):
    """
    Tests for L{holdersOf}.
    """

    def running(self, endpoint: str, number: int | None) -> RunningListener:
        """
        A running listener on C{endpoint}, listening on port C{number}
        (not listening if L{None}).
        """
        reactor = _Reactor()
        listener = _listener(endpoint)
        running = RunningListener(listener, listener.prepare(reactor))
        if number is not None:
            running.port = _Port(reactor, number, Factory())
        return running

    def test_samePort(self) -> None:
        """
        A listener going away whose port number a failed one names may
        hold its address.
        """
        holder = self.running("tcp:8000", 8000)
        failed = _listener("tcp:8000:interface=127.0.0.1")
        self.assertEqual(holdersOf([holder], [failed]), [holder])

    def test_otherPort(self) -> None:
        """
        A listener going away on another port holds no address a failed
        one wants.
        """
        going = self.running("tcp:8000", 8000)
        self.assertEqual(holdersOf([going], [_listener("tcp:8001")]), [])

    def test_notListening(self) -> None:
        """
        A listener going away that does not listen holds nothing.
        """
        going = self.running("tcp:8000", None)
        self.assertEqual(holdersOf([going], [_listener("tcp:8000")]), [])


class ReloadReportTests(SynchronousTestCase):
    """
    Tests for L{ReloadReport.describe}.
    """

    def test_everything(self) -> None:
        """
        Each kind of change is named, replaced listeners with "(new
        socket)", in the order added, removed, changed, kept.
        """
        report = ReloadReport(
            ReloadPlan(
                kept=("e", "f"),
                reconfigured=("d",),
                replaced=("c",),
                added=("a",),
                removed=("b",),
            )
        )
        self.assertEqual(
            report.describe(),
            "added a; removed b; changed c (new socket), d; kept e, f",
        )

    def test_onlySome(self) -> None:
        """
        Kinds of change with no listener are left out.
        """
        report = ReloadReport(ReloadPlan(kept=("a", "b")))
        self.assertEqual(report.describe(), "kept a, b")

    def test_nothing(self) -> None:
        """
        A plan with no listener at all says so.
        """
        self.assertEqual(ReloadReport(ReloadPlan()).describe(), "no listeners")


_ONE = """
[listeners.a]
endpoint = "tcp:8000"
protocol = "hello"
greeting = "one"
"""

_TWO = """
[listeners.a]
endpoint = "tcp:8000"
protocol = "hello"
greeting = "two"
"""

_TWO_AND_B = (
    _TWO
    + """
[listeners.b]
endpoint = "tcp:8001"
"""
)


class ServiceReloadTests(_ServiceCase):
    """
    Tests for L{ListenersService.reload}.
    """

    def test_added(self) -> None:
        """
        An added listener starts listening.
        """
        service = self.start(_ONE)
        report = self.reload(service, _TWO_AND_B)
        self.assertEqual(report.plan.added, ("b",))
        self.assertIn(self.port(8001), service.ports)

    def test_addedLogged(self) -> None:
        """
        An added listener logs its address, as at start-up.
        """
        self.reload(self.start(_ONE), _TWO_AND_B)
        self.assertIn("echo listening on tcp:8001 (0.0.0.0:8001)", self.texts())

    def test_listenersUpdated(self) -> None:
        """
        After a reload, the service's listeners are the new configuration's.
        """
        service = self.start(_ONE)
        configuration = self.config(_TWO_AND_B)
        self.successResultOf(service.reload(configuration))
        self.assertEqual(service.listeners, configuration.listeners)

    def test_removedStopsListening(self) -> None:
        """
        A removed listener's port stops listening.
        """
        service = self.start(_TWO_AND_B)
        port = self.port(8001)
        report = self.reload(service, _TWO)
        self.assertEqual(report.plan.removed, ("b",))
        self.assertFalse(port.listening)
        self.assertNotIn(port, service.ports)

    def test_removedConnectionTracked(self) -> None:
        """
        The open connection of a removed listener goes on, and its guard is
        among the service's until it closes.
        """
        service = self.start(_TWO_AND_B)
        guard = self.guardOf(8001)
        _, transport = self.connect(8001)
        self.reload(service, _TWO)
        self.assertTrue(transport.connected)
        self.assertIn(guard, service.guards)
        self.assertEqual(guard.openConnections, 1)

    def test_removedConnectionStillServed(self) -> None:
        """
        The open connection of a removed listener is still served.
        """
        service = self.start(_TWO_AND_B)
        protocol, transport = self.connect(8001)
        self.reload(service, _TWO)
        protocol.dataReceived(b"ping")
        self.assertEqual(transport.value(), b"ping")

    def test_removedLogged(self) -> None:
        """
        A removed listener whose connections go on says how many.
        """
        service = self.start(_TWO_AND_B)
        self.connect(8001)
        self.reload(service, _TWO)
        self.assertIn("b stopped listening; its 1 open connections go on", self.texts())

    def test_removedGuardDropped(self) -> None:
        """
        Once the last connection of a removed listener closes, its guard is
        dropped, and stops looking for idle connections.
        """
        service = self.start(_TWO_AND_B)
        guard = self.guardOf(8001)
        _, transport = self.connect(8001)
        self.reload(service, _TWO)
        transport.loseConnection()
        self.assertNotIn(guard, service.guards)
        sweeps = [getattr(c, "func", None) for c in self.reactor.getDelayedCalls()]
        self.assertNotIn(guard.sweep, sweeps)

    def test_removedWithoutConnections(self) -> None:
        """
        A removed listener with no open connection leaves no guard behind.
        """
        service = self.start(_TWO_AND_B)
        guard = self.guardOf(8001)
        self.reload(service, _TWO)
        self.assertNotIn(guard, service.guards)
        self.assertEqual(len(service.guards), 1)

    def test_keptSamePort(self) -> None:
        """
        A kept listener keeps its very port, and nothing listens anew.
        """
        service = self.start(_TWO_AND_B)
        port = self.port(8000)
        report = self.reload(service, _TWO)
        self.assertEqual(report.plan.kept, ("a",))
        self.assertIs(self.port(8000), port)
        self.assertEqual(len(self.reactor.tcpServers), 2)

    def test_keptFactoryUntouched(self) -> None:
        """
        A kept listener's protocol factory is not replaced.
        """
        service = self.start(_TWO)
        wrapped = self.port(8000).factory.wrappedFactory
        self.reload(service, _TWO_AND_B)
        self.assertIs(self.port(8000).factory.wrappedFactory, wrapped)

    def test_reconfiguredSamePort(self) -> None:
        """
        A reconfigured listener keeps its port.
        """
        service = self.start(_ONE)
        port = self.port(8000)
        report = self.reload(service, _TWO)
        self.assertEqual(report.plan.reconfigured, ("a",))
        self.assertIs(self.port(8000), port)
        self.assertTrue(port.listening)
        self.assertEqual(len(self.reactor.tcpServers), 1)

    def test_reconfiguredNewConnections(self) -> None:
        """
        A connection made after a reload gets the new protocol options.
        """
        service = self.start(_ONE)
        self.reload(service, _TWO)
        _, transport = self.connect(8000)
        self.assertEqual(transport.value(), b"two\r\n")

    def test_reconfiguredOldConnections(self) -> None:
        """
        A connection made before a reload keeps its protocol and options,
        and is still served.
        """
        service = self.start(_ONE)
        protocol, transport = self.connect(8000)
        self.reload(service, _TWO)
        protocol.dataReceived(b"bob\n")
        self.assertEqual(transport.value(), b"one\r\nHello, bob!\n")
        self.assertEqual(protocol.listener.options["greeting"], "one")

    def test_reconfiguredFactoriesStartedStopped(self) -> None:
        """
        The new protocol factory is started, the old one stopped.
        """
        service = self.start(_ONE)
        guarded = self.port(8000).factory
        old = guarded.wrappedFactory
        self.reload(service, _TWO)
        self.assertEqual((old.numPorts, guarded.wrappedFactory.numPorts), (0, 1))

    def test_reconfiguredLimits(self) -> None:
        """
        A reconfigured listener's guard stays, with the new limits: a
        connection that the old C{maxconn} refused is let in.
        """
        table = '[listeners.a]\nendpoint = "tcp:8000"\n'
        service = self.start(table + "maxconn = 1\n")
        guard = self.guardOf(8000)
        self.connect(8000, "192.0.2.1")
        self.reload(service, table + "maxconn = 2\n")
        self.assertIs(self.guardOf(8000), guard)
        self.assertEqual(guard.limits.maxConnections, 2)
        self.connect(8000, "192.0.2.2")
        self.assertEqual(guard.openConnections, 2)

    def test_reconfiguredLimitsCountsKept(self) -> None:
        """
        The connections open before a reload count against the new limits.
        """
        table = '[listeners.a]\nendpoint = "tcp:8000"\n'
        service = self.start(table + "maxconn = 2\n")
        self.connect(8000, "192.0.2.1")
        self.reload(service, table + "maxconn = 1\n")
        peer = IPv4Address("TCP", "192.0.2.2", 5000)
        self.assertIsNone(self.port(8000).factory.buildProtocol(peer))

    def test_datagramReconfigured(self) -> None:
        """
        A datagram listener's protocol is replaced in place: the same port
        hands datagrams to the new protocol.
        """
        table = '[listeners.u]\nendpoint = "udp:7000"\n'
        service = self.start(table + 'protocol = "hello"\n')
        self.reload(service, table + 'protocol = "echo"\n')
        [(_, guard, _, _, transport)] = self.reactor.udpPorts
        assert isinstance(guard, DatagramGuard)
        self.assertIsInstance(guard.wrapped, EchoDatagram)
        guard.datagramReceived(b"bob", _CLIENT)
        self.assertEqual(transport.written, [(b"bob", _CLIENT)])

    def test_datagramOldStopped(self) -> None:
        """
        The datagram protocol a reload replaced is stopped.
        """
        table = '[listeners.u]\nendpoint = "udp:7000"\n'
        service = self.start(table + 'protocol = "hello"\n')
        [(_, guard, _, _, _)] = self.reactor.udpPorts
        assert isinstance(guard, DatagramGuard)
        old = guard.wrapped
        self.reload(service, table + 'protocol = "echo"\n')
        self.assertEqual((old.numPorts, old.transport), (0, None))

    def test_datagramLimits(self) -> None:
        """
        A datagram listener's new limits apply at once.
        """
        table = '[listeners.u]\nendpoint = "udp:7000"\nprotocol = "echo"\n'
        service = self.start(table)
        self.reload(service, table + "blockports = [5000]\n")
        [(_, guard, _, _, transport)] = self.reactor.udpPorts
        assert isinstance(guard, DatagramGuard)
        guard.datagramReceived(b"bob", _CLIENT)
        self.assertEqual(transport.written, [])
        self.assertEqual(guard.dropped["port"], 1)

    def test_replacedNewPort(self) -> None:
        """
        A listener whose endpoint changes listens on a new port, and the
        old one stops.
        """
        service = self.start(_ONE)
        old = self.port(8000)
        report = self.reload(service, _ONE.replace("8000", "8005"))
        self.assertEqual(report.plan.replaced, ("a",))
        self.assertFalse(old.listening)
        self.assertEqual(service.ports, [self.port(8005)])

    def test_replacedOldConnections(self) -> None:
        """
        The open connections of a replaced listener go on, tracked by its
        old guard.
        """
        service = self.start(_ONE)
        guard = self.guardOf(8000)
        _, transport = self.connect(8000)
        self.reload(service, _ONE.replace("8000", "8005"))
        self.assertTrue(transport.connected)
        self.assertIn(guard, service.guards)
        self.assertIsNot(self.guardOf(8005), guard)

    def test_stopOldFirst(self) -> None:
        """
        A new socket for an address that a listener going away holds is
        bound once that listener has stopped.
        """
        service = self.start(_ONE)
        old = self.port(8000)
        report = self.reload(service, _ONE.replace("8000", "8000:backlog=10"))
        self.assertEqual(report.plan.replaced, ("a",))
        self.assertFalse(old.listening)
        self.assertEqual(self.port(8000).backlog, 10)

    def test_stopOldFirstOtherName(self) -> None:
        """
        A new listener can take the address of a removed one.
        """
        service = self.start(_ONE)
        self.reload(service, _ONE.replace("listeners.a", "listeners.b"))
        self.assertEqual(service.ports, [self.port(8000)])
        self.assertEqual(len(self.reactor.tcpServers), 2)

    def test_failedBindNamed(self) -> None:
        """
        A new socket that cannot be bound fails the reload with
        L{ReloadFailed}, naming its endpoint and why.
        """
        service = self.start(_ONE)
        self.reactor.refuse.add(8001)
        self.assertEqual(
            self.refused(service, _TWO_AND_B),
            "cannot listen on 'tcp:8001': something is already listening there",
        )

    def test_failedBindRollsBack(self) -> None:
        """
        When a new socket cannot be bound, nothing changes: the sockets
        bound for the reload are closed, the old ones all still listen, and
        the old configuration stays.
        """
        service = self.start(
            _ONE + '[listeners.u]\nendpoint = "udp:7000"\nprotocol = "echo"\n'
        )
        port, listeners = self.port(8000), service.listeners
        self.reactor.refuse.add(8002)
        self.refused(
            service,
            _TWO_AND_B
            + '[listeners.c]\nendpoint = "tcp:8002"\n'
            + '[listeners.d]\nendpoint = "udp:7001"\nprotocol = "echo"\n',
        )
        self.assertEqual(self.reactor.listening(8001), [])
        self.assertEqual(
            [p[4].listening for p in self.reactor.udpPorts if p[0] == 7001], [False]
        )
        self.assertEqual(service.listeners, listeners)
        self.assertEqual(
            [_state(p) for p in service.ports], [(8000, True), (7000, True)]
        )
        self.assertIs(service.ports[0], port)

    def test_failedBindLeavesOptionsAlone(self) -> None:
        """
        When a reload fails, a listener it would have reconfigured keeps
        its protocol options.
        """
        service = self.start(_ONE)
        self.reactor.refuse.add(8001)
        self.refused(service, _TWO_AND_B)
        _, transport = self.connect(8000)
        self.assertEqual(transport.value(), b"one\r\n")

    def test_failedBindLeavesNoTimer(self) -> None:
        """
        A listener started for a reload that failed leaves no idle sweep
        running.
        """
        service = self.start(_ONE)
        before = list(self.reactor.getDelayedCalls())
        self.reactor.refuse.add(8002)
        self.refused(service, _TWO_AND_B + '[listeners.c]\nendpoint = "tcp:8002"\n')
        self.assertEqual(self.reactor.getDelayedCalls(), before)

    def test_failedRetryRelistens(self) -> None:
        """
        When a new socket cannot be bound even once the listener going away
        that held its address has stopped, that listener listens again.
        """
        service = self.start(_ONE)
        self.reactor.refuse.add((8000, "127.0.0.1"))
        self.refused(service, _ONE.replace("8000", "8000:interface=127.0.0.1"))
        again = self.port(8000)
        self.assertEqual(service.ports, [again])
        self.assertEqual(len(self.reactor.tcpServers), 2)
        self.assertEqual(again.interface, "")

    def test_failedRetryRelistensRemoved(self) -> None:
        """
        A removed listener stopped to free its address for a reload that
        then failed listens again.
        """
        service = self.start(_ONE)
        self.reactor.refuse.add((8000, "127.0.0.1"))
        self.refused(
            service, '[listeners.b]\nendpoint = "tcp:8000:interface=127.0.0.1"\n'
        )
        self.assertEqual(service.ports, [self.port(8000)])

    def test_failedOthersNotStopped(self) -> None:
        """
        A listener going away that does not hold the address a new socket
        failed to get is not stopped, when the reload fails.
        """
        service = self.start(_ONE)
        port = self.port(8000)
        self.reactor.refuse.add(8001)
        self.refused(service, '[listeners.b]\nendpoint = "tcp:8001"\n')
        self.assertTrue(port.listening)
        self.assertEqual(len(self.reactor.tcpServers), 1)

    def test_failedRelistenLogged(self) -> None:
        """
        A listener stopped for a reload that failed, and that then cannot
        listen again, is logged as lost.
        """
        service = self.start(_ONE)
        self.reactor.refuse.add(8000)
        self.refused(service, _ONE.replace("8000", "8000:interface=127.0.0.1"))
        self.assertIn(
            "reload: cannot listen on 'tcp:8000': something is already listening"
            " there; that listener is lost",
            self.texts(),
        )

    def test_addedProtocolFails(self) -> None:
        """
        A new listener whose protocol cannot be built fails the reload
        with L{ReloadFailed} naming it and why, before anything listens.
        """
        service = self.start(_ONE)
        reason = self.refused(
            service,
            _TWO
            + '[listeners.b]\nendpoint = "tcp:8001"\nprotocol = "fragile"\n'
            + "fail = true\n",
        )
        self.assertEqual(
            reason,
            'listener "b": protocol fragile could not start:'
            " cannot open /nonexistent/out.log",
        )
        self.assertEqual(len(self.reactor.tcpServers), 1)

    def test_reconfiguredProtocolFails(self) -> None:
        """
        A reconfigured listener whose new protocol cannot be built fails
        the reload, and keeps its protocol.
        """
        table = '[listeners.a]\nendpoint = "tcp:8000"\nprotocol = "fragile"\n'
        service = self.start(table)
        wrapped = self.port(8000).factory.wrappedFactory
        reason = self.refused(service, table + "fail = true\n")
        self.assertIn("protocol fragile could not start", reason)
        self.assertIs(self.port(8000).factory.wrappedFactory, wrapped)

    def test_protocolFailsNothingStopped(self) -> None:
        """
        A reload that fails to build a protocol stops no listener.
        """
        service = self.start(_TWO_AND_B)
        self.refused(
            service,
            '[listeners.c]\nendpoint = "tcp:8002"\nprotocol = "fragile"\nfail = true\n',
        )
        self.assertEqual(len(service.ports), 2)
        self.assertTrue(self.port(8000).listening and self.port(8001).listening)

    def test_serialised(self) -> None:
        """
        A reload asked for while one is under way waits for it, then
        applies on top of it.
        """
        service = self.start(_ONE)
        self.reactor.slowStops = True
        first = service.reload(self.config('[listeners.b]\nendpoint = "tcp:8001"\n'))
        second = service.reload(self.config('[listeners.c]\nendpoint = "tcp:8002"\n'))
        self.assertNoResult(first)
        self.assertNoResult(second)
        self.assertEqual(self.reactor.listening(8002), [])
        self.reactor.finishStops()
        self.assertEqual(
            self.successResultOf(first).plan, ReloadPlan(added=("b",), removed=("a",))
        )
        self.assertEqual(
            self.successResultOf(second).plan, ReloadPlan(added=("c",), removed=("b",))
        )
        self.assertEqual(service.ports, [self.port(8002)])

    def test_settings(self) -> None:
        """
        The file's C{max-connections} and C{shutdown-timeout} are applied.
        """
        service = self.start(_ONE)
        self.reload(service, "max-connections = 300\nshutdown-timeout = 7.5\n" + _ONE)
        self.assertEqual((service.budget.limit, service.shutdownTimeout), (300, 7.5))

    def test_settingsNotGiven(self) -> None:
        """
        Settings the file does not give are left as they are.
        """
        service = ListenersService(self.reactor, self.config(_ONE).listeners, 3.0, 200)
        service.startService()
        self.reload(service, _TWO)
        self.assertEqual((service.budget.limit, service.shutdownTimeout), (200, 3.0))

    def test_settingsNotAppliedOnFailure(self) -> None:
        """
        A reload that fails leaves the settings as they were.
        """
        service = self.start(_ONE)
        self.reactor.refuse.add(8001)
        self.refused(service, "max-connections = 300\n" + _TWO_AND_B)
        self.assertEqual(service.budget.limit, 10_000)

    def test_afterStop(self) -> None:
        """
        A reload of a stopped service fails.
        """
        service = self.start(_ONE)
        self.successResultOf(service.stopService())
        self.assertEqual(self.refused(service, _TWO_AND_B), "the server is stopping")
        self.assertEqual(len(self.reactor.tcpServers), 1)

    def test_queuedAfterStop(self) -> None:
        """
        A reload queued behind another fails if the service stopped while
        it waited, and listens on nothing.
        """
        service = self.start(_ONE)
        self.reactor.slowStops = True
        first = service.reload(self.config('[listeners.b]\nendpoint = "tcp:8001"\n'))
        second = service.reload(self.config('[listeners.c]\nendpoint = "tcp:8002"\n'))
        stopped = service.stopService()
        self.reactor.finishStops()
        self.successResultOf(stopped)
        first.addErrback(lambda _: None)
        failure = self.failureResultOf(second, ReloadFailed)
        self.assertEqual(str(failure.value), "the server is stopping")
        self.assertEqual(self.reactor.tcpServers[-1][0], 8001)

    def test_stoppedDuringReload(self) -> None:
        """
        A reload whose old ports are still stopping when the service stops
        fails, and leaves nothing of its own listening.
        """
        service = self.start(_ONE)
        self.reactor.slowStops = True
        reloading = service.reload(
            self.config('[listeners.b]\nendpoint = "tcp:8001"\n')
        )
        stopped = service.stopService()
        self.reactor.finishStops()
        self.successResultOf(stopped)
        failure = self.failureResultOf(reloading, ReloadFailed)
        self.assertEqual(str(failure.value), "the server is stopping")
        self.assertEqual(self.reactor.listening(8001), [])
        self.assertEqual(service.guards, [])

    def test_failedReloadForgetsOwnPorts(self) -> None:
        """
        A datagram port started by a reload that failed is no longer one of
        the process's own ports: replies to it are not dropped.
        """
        service = self.start('[listeners.u]\nendpoint = "udp:7000"\n')
        self.reactor.refuse.add(8001)
        self.refused(
            service,
            '[listeners.u]\nendpoint = "udp:7000"\n'
            '[listeners.v]\nendpoint = "udp:5353"\n'
            '[listeners.b]\nendpoint = "tcp:8001"\n',
        )
        self.assertEqual(service._ownPorts, {7000})

    def test_lostListenerStartsAgain(self) -> None:
        """
        A listener lost by a failed reload gets a socket again at the next
        reload, even with its old configuration.
        """
        service = self.start(_ONE)
        self.reactor.refuse.add(8000)
        self.refused(service, _ONE.replace("8000", "8000:interface=127.0.0.1"))
        self.assertEqual(service.ports, [])
        self.reactor.refuse.clear()
        report = self.reload(service, _ONE)
        self.assertEqual(report.plan.replaced, ("a",))
        self.assertEqual(len(self.reactor.listening(8000)), 1)

    def test_lostDatagramListenerReconfigured(self) -> None:
        """
        A lost datagram listener whose protocol changes is started again,
        not reconfigured in place on a stopped port.
        """
        service = self.start('[listeners.u]\nendpoint = "udp:7000"\n')
        self.reactor.refuse.add(7000)
        self.refused(
            service, '[listeners.u]\nendpoint = "udp:7000:interface=127.0.0.1"\n'
        )
        self.assertEqual(service.ports, [])
        self.reactor.refuse.clear()
        report = self.reload(
            service, '[listeners.u]\nendpoint = "udp:7000"\nprotocol = "hello"\n'
        )
        self.assertEqual(report.plan.replaced, ("u",))
        self.assertEqual(len(service.ports), 1)

    def test_commandLineListenerKept(self) -> None:
        """
        A command-line listener, given again on reload, keeps its port.
        """
        parser = EndpointParser(self.reactor, _registry().datagramParsers)
        commandLine = Listener(
            ListenerSpec("echo", "tcp:9000"),
            parser.parse("tcp:9000"),
            _registry().get("echo"),
        )
        service = ListenersService(
            self.reactor, [commandLine, *self.config(_ONE).listeners]
        )
        service.startService()
        port = self.port(9000)
        report = self.successResultOf(
            service.reload(
                Configuration((commandLine, *self.config(_TWO_AND_B).listeners))
            )
        )
        self.assertIn("--endpoint #1", report.plan.kept)
        self.assertIs(self.port(9000), port)


class _Listeners(ListenersService):
    """
    A service whose reload fails with an unexpected error.
    """

    def reload(self, configuration: Configuration) -> Deferred[ReloadReport]:
        return fail(RuntimeError("unexpected"))


def _previous(signum: int, frame: object) -> None:
    """
    A SIGHUP handler installed before the reloader's.
    """


class ConfigReloaderTests(_ServiceCase):
    """
    Tests for L{ConfigReloader}.
    """

    def setUp(self) -> None:
        super().setUp()
        original = signal.getsignal(signal.SIGHUP)
        self.addCleanup(
            signal.signal,
            signal.SIGHUP,
            signal.SIG_DFL if original is None else original,
        )
        self.loads = 0

    def reloader(
        self, load: Callable[[], Configuration], service: ListenersService | None = None
    ) -> ConfigReloader:
        def counting() -> Configuration:
            self.loads += 1
            return load()

        if service is None:
            service = self.start(_ONE)
        return ConfigReloader(self.reactor, counting, service)

    def brokenFile(self) -> Configuration:
        raise ConfigError(
            ['test.toml: listener "a": no', 'test.toml: listener "b": no']
        )

    def test_configErrorLogged(self) -> None:
        """
        A file that does not load logs each problem, then that nothing
        changed.
        """
        self.reloader(self.brokenFile).reload()
        self.assertEqual(
            self.texts("reload"),
            [
                "SIGHUP: reloading the configuration",
                'reload: test.toml: listener "a": no',
                'reload: test.toml: listener "b": no',
                "reload failed: 2 problems in the file; nothing changed",
            ],
        )

    def test_configErrorLevel(self) -> None:
        """
        The problems of a file that does not load are logged as errors.
        """
        self.reloader(self.brokenFile).reload()
        levels = {
            event["log_level"]
            for event in self.texts.events
            if event.get("log_format", "").startswith("reload")
        }
        self.assertEqual(levels, {LogLevel.error})

    def test_oneProblem(self) -> None:
        """
        A single problem is counted in the singular.
        """

        def load() -> Configuration:
            raise ConfigError(["test.toml: bad"])

        self.reloader(load).reload()
        self.assertIn(
            "reload failed: 1 problem in the file; nothing changed", self.texts()
        )

    def test_configErrorNothingChanged(self) -> None:
        """
        A file that does not load changes nothing, and the reload fires
        with L{None}.
        """
        service = self.start(_ONE)
        ports = service.ports
        result = self.reloader(self.brokenFile, service).reload()
        self.assertIsNone(self.successResultOf(result))
        self.assertEqual(service.ports, ports)

    def test_done(self) -> None:
        """
        A reload applied fires with its report, and logs what it did.
        """
        result = self.reloader(lambda: self.config(_TWO_AND_B)).reload()
        report = self.successResultOf(result)
        assert report is not None
        self.assertEqual(report.plan, ReloadPlan(reconfigured=("a",), added=("b",)))
        self.assertIn("reload done: added b; changed a", self.texts())

    def test_applied(self) -> None:
        """
        What the file says is applied to the listeners service.
        """
        service = self.start(_ONE)
        self.reloader(lambda: self.config(_TWO_AND_B), service).reload()
        self.assertEqual(len(service.ports), 2)

    def test_reloadFailed(self) -> None:
        """
        A reload that cannot be applied logs why and that nothing changed,
        and fires with L{None}.
        """
        self.reactor.refuse.add(8001)
        result = self.reloader(lambda: self.config(_TWO_AND_B)).reload()
        self.assertIsNone(self.successResultOf(result))
        self.assertIn(
            "reload failed: cannot listen on 'tcp:8001': something is already"
            " listening there; nothing changed",
            self.texts(),
        )

    def test_unexpectedFailure(self) -> None:
        """
        An unexpected error is logged with its traceback, and the reload
        fires with L{None}.
        """
        service = _Listeners(self.reactor, [])
        result = self.reloader(lambda: self.config(_ONE), service).reload()
        self.assertIsNone(self.successResultOf(result))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_startInstallsHandler(self) -> None:
        """
        Starting installs a SIGHUP handler that hands a reload to the
        reactor, as a call from another thread: a signal handler must not
        do the work itself.
        """
        reloader = self.reloader(lambda: self.config(_ONE))
        reloader.startService()
        self.addCleanup(reloader.stopService)
        handler = signal.getsignal(signal.SIGHUP)
        assert callable(handler)
        handler(signal.SIGHUP, None)
        self.assertEqual(self.reactor.threadCalls, [(reloader.reload, ())])
        self.assertEqual(self.loads, 0)

    def test_queuedCallReloads(self) -> None:
        """
        The call the handler hands the reactor reloads.
        """
        reloader = self.reloader(lambda: self.config(_TWO_AND_B))
        reloader.startService()
        self.addCleanup(reloader.stopService)
        handler = signal.getsignal(signal.SIGHUP)
        assert callable(handler)
        handler(signal.SIGHUP, None)
        [(call, args)] = self.reactor.threadCalls
        call(*args)
        self.assertEqual(self.loads, 1)
        self.assertEqual(len(self.reactor.listening(8001)), 1)

    def test_stopKeepsHandler(self) -> None:
        """
        Stopping leaves the handler in place, so that a SIGHUP while open
        connections finish does not end the process at once.
        """
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        reloader = self.reloader(lambda: self.config(_ONE))
        reloader.startService()
        handler = signal.getsignal(signal.SIGHUP)
        reloader.stopService()
        self.assertIs(signal.getsignal(signal.SIGHUP), handler)
        self.assertIsNot(handler, signal.SIG_DFL)

    def test_ignoredWhenStopped(self) -> None:
        """
        A SIGHUP after the service stopped reads nothing, changes nothing,
        and says it was ignored.
        """
        reloader = self.reloader(lambda: self.config(_TWO))
        reloader.startService()
        reloader.stopService()
        self.assertIsNone(self.successResultOf(reloader.reload()))
        self.assertEqual(self.loads, 0)
        self.assertIn("SIGHUP ignored: the server is stopping", self.texts())

    def test_running(self) -> None:
        """
        The reloader runs between start and stop, as any service.
        """
        reloader = self.reloader(lambda: self.config(_ONE))
        reloader.startService()
        running = reloader.running
        reloader.stopService()
        self.assertEqual((running, reloader.running), (True, False))


class ReloadCountTests(_ServiceCase):
    """
    Tests for L{ConfigReloader.reloads}.
    """

    def setUp(self) -> None:
        super().setUp()
        original = signal.getsignal(signal.SIGHUP)
        self.addCleanup(
            signal.signal,
            signal.SIGHUP,
            signal.SIG_DFL if original is None else original,
        )

    def reloader(
        self, load: Callable[[], Configuration], service: ListenersService | None = None
    ) -> ConfigReloader:
        return ConfigReloader(
            self.reactor, load, self.start(_ONE) if service is None else service
        )

    def test_none(self) -> None:
        """
        A new reloader has done no reload, and failed none.
        """
        reloader = self.reloader(lambda: self.config(_ONE))
        self.assertEqual(reloader.reloads, {"done": 0, "failed": 0})

    def test_done(self) -> None:
        """
        A reload applied is counted as done.
        """
        reloader = self.reloader(lambda: self.config(_TWO_AND_B))
        reloader.reload()
        reloader.reload()
        self.assertEqual(reloader.reloads, {"done": 2, "failed": 0})

    def test_badFile(self) -> None:
        """
        A file that does not load is counted as a failed reload.
        """

        def load() -> Configuration:
            raise ConfigError(["test.toml: bad"])

        reloader = self.reloader(load)
        reloader.reload()
        self.assertEqual(reloader.reloads, {"done": 0, "failed": 1})

    def test_notApplied(self) -> None:
        """
        A reload that cannot be applied is counted as failed.
        """
        self.reactor.refuse.add(8001)
        reloader = self.reloader(lambda: self.config(_TWO_AND_B))
        reloader.reload()
        self.assertEqual(reloader.reloads, {"done": 0, "failed": 1})

    def test_unexpectedFailure(self) -> None:
        """
        A reload that fails unexpectedly is counted as failed.
        """
        reloader = self.reloader(
            lambda: self.config(_ONE), _Listeners(self.reactor, [])
        )
        reloader.reload()
        self.flushLoggedErrors(RuntimeError)
        self.assertEqual(reloader.reloads, {"done": 0, "failed": 1})

    def test_ignoredNotCounted(self) -> None:
        """
        A SIGHUP ignored once the service has stopped is not counted.
        """
        reloader = self.reloader(lambda: self.config(_TWO))
        reloader.startService()
        reloader.stopService()
        reloader.reload()
        self.assertEqual(reloader.reloads, {"done": 0, "failed": 0})

    def test_countedWhenDone(self) -> None:
        """
        A reload is counted once it has been applied, not when it starts.
        """
        service = self.start(_ONE)
        reloader = self.reloader(
            lambda: self.config(_ONE.replace("8000", "8005")), service
        )
        self.reactor.slowStops = True
        reloading = reloader.reload()
        counted = dict(reloader.reloads)
        self.reactor.finishStops()
        self.successResultOf(reloading)
        self.assertEqual(
            (counted, reloader.reloads),
            ({"done": 0, "failed": 0}, {"done": 1, "failed": 0}),
        )
