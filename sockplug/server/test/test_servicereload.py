"""
Tests for L{sockplug.server._service.ListenersService.reload}, which applies
what the reload planner (L{sockplug.server._reload}) plans.
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import IListeningPort

from sockplug.config._file import Configuration
from sockplug.defences._datagramguard import DatagramGuard
from sockplug.endpoints._parser import EndpointParser
from sockplug.endpoints._syntax import ListenerSpec
from sockplug.errors import ReloadFailed
from sockplug.protocols.echo import EchoDatagram
from sockplug.server._listener import Listener
from sockplug.server._reload import (
    ReloadPlan,
)
from sockplug.server._service import ListenersService
from sockplug.testing import MemoryDatagramTransport
from sockplug.testing._server import RELOAD_ONE as _ONE
from sockplug.testing._server import RELOAD_TWO as _TWO
from sockplug.testing._server import RELOAD_TWO_AND_B as _TWO_AND_B
from sockplug.testing._server import MemoryTCPPort as _Port
from sockplug.testing._server import ServiceCase as _ServiceCase
from sockplug.testing._server import registryWithFragile as _registry

_CLIENT = ("192.0.2.1", 5000)


def _state(port: IListeningPort) -> tuple[int, bool]:
    """
    The port number a fake port listens on, and whether it still does.
    """
    assert isinstance(port, (_Port, MemoryDatagramTransport))
    host = port.getHost()
    assert isinstance(host, IPv4Address)
    return host.port, port.listening


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
        self.assertIn(
            "b stopped listening; its 1 open connection goes on", self.texts()
        )

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
