"""
Tests for L{sockplug.server._reload}: what a reload does to each listener.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.protocol import Factory
from twisted.trial.unittest import SynchronousTestCase

from sockplug.endpoints._parser import EndpointParser
from sockplug.endpoints._syntax import ListenerSpec
from sockplug.options._protooptions import declaredOptions, resolveOptions
from sockplug.server._listener import Listener, RunningListener
from sockplug.server._reload import (
    ReloadPlan,
    ReloadReport,
    holdersOf,
    planReload,
    socketKey,
)
from sockplug.server._service import keysOf
from sockplug.testing import MemoryDatagramReactor
from sockplug.testing._server import MemoryTCPPort as _Port
from sockplug.testing._server import ServiceReactor as _Reactor
from sockplug.testing._server import configuration as _config
from sockplug.testing._server import registryWithFragile as _registry


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
