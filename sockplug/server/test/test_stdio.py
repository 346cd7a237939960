"""
Tests for L{sockplug.server._stdio}.
"""

from __future__ import annotations

from attrs import evolve
from twisted.internet.address import IPv4Address
from twisted.internet.defer import succeed
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from sockplug.endpoints._stdio import StandardIOPort
from sockplug.errors import ConfigError
from sockplug.interfaces import TransportKind
from sockplug.server._service import Listener, ListenersService
from sockplug.server._stdio import (
    StandardIOWatcher,
    checkNoNewStandardIO,
    servesStandardIO,
    standardIOProblem,
)
from sockplug.testing import MemoryDatagramReactor
from sockplug.testing._server import FixedEndpoint, RecordingPort, listenerOf


def _stdio(port: StandardIOPort, description: str = "stdio:") -> Listener:
    return listenerOf(description, FixedEndpoint(succeed(port)), TransportKind.STREAM)


def _tcp() -> Listener:
    port = RecordingPort(IPv4Address("TCP", "127.0.0.1", 8888))
    return listenerOf("tcp:8888", FixedEndpoint(succeed(port)), TransportKind.STREAM)


class ServesStandardIOTests(SynchronousTestCase):
    """
    Tests for L{servesStandardIO}.
    """

    def test_stdio(self) -> None:
        """
        A C{stdio:} listener among others serves standard input and output.
        """
        self.assertTrue(servesStandardIO([_tcp(), _stdio(StandardIOPort())]))

    def test_underProxy(self) -> None:
        """
        C{haproxy:stdio:} serves standard input and output too.
        """
        listener = _stdio(StandardIOPort(), "haproxy:stdio:")
        self.assertTrue(servesStandardIO([listener]))

    def test_none(self) -> None:
        """
        Listeners on sockets do not.
        """
        self.assertFalse(servesStandardIO([_tcp()]))


class CheckNoNewStandardIOTests(SynchronousTestCase):
    """
    Tests for L{checkNoNewStandardIO}, which a reload calls.
    """

    def test_kept(self) -> None:
        """
        A C{stdio:} listener in force may stay, changed or not.
        """
        before = evolve(_stdio(StandardIOPort()), name="inetd")
        after = evolve(_stdio(StandardIOPort(), "stdio:idle=5"), name="inetd")
        checkNoNewStandardIO([before, _tcp()], [after])

    def test_added(self) -> None:
        """
        A reload cannot start a C{stdio:} listener: the line names it.
        """
        new = evolve(_stdio(StandardIOPort()), name="inetd")
        error = self.assertRaises(
            ConfigError, checkNoNewStandardIO, [evolve(_tcp(), name="t")], [new]
        )
        self.assertEqual(
            error.problems,
            [
                'listener "inetd": stdio: can only be started with the server,'
                " not by a reload"
            ],
        )

    def test_replacesAnother(self) -> None:
        """
        A listener in force that was not C{stdio:} cannot become one.
        """
        before = evolve(_tcp(), name="inetd")
        after = evolve(_stdio(StandardIOPort()), name="inetd")
        self.assertRaises(ConfigError, checkNoNewStandardIO, [before], [after])

    def test_none(self) -> None:
        """
        Without C{stdio:}, there is nothing to check.
        """
        checkNoNewStandardIO([], [_tcp()])


class StandardIOProblemTests(SynchronousTestCase):
    """
    Tests for L{standardIOProblem}.
    """

    def test_foreground(self) -> None:
        """
        In the foreground, with standard input and output open, there is
        no problem.
        """
        self.assertIsNone(standardIOProblem(False, object(), object()))

    def test_daemon(self) -> None:
        """
        A daemon cannot serve C{stdio:}: the line says to give C{-n}.
        """
        problem = standardIOProblem(True, object(), object())
        self.assertIn("run twistd with -n (--nodaemon)", str(problem))

    def test_inputClosed(self) -> None:
        """
        A process started with standard input closed is told so.
        """
        problem = standardIOProblem(False, None, object())
        self.assertEqual(
            problem, "stdio: standard input is closed; give it one (a pipe, a socket)"
        )

    def test_outputClosed(self) -> None:
        """
        A process started with standard output closed is told so.
        """
        problem = standardIOProblem(False, object(), None)
        self.assertEqual(
            problem, "stdio: standard output is closed; give it one (a pipe, a socket)"
        )


class StandardIOWatcherTests(SynchronousTestCase):
    """
    Tests for L{StandardIOWatcher}.
    """

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()
        self.events = EventLoggingObserver.createWithCleanup(
            self,  # type: ignore[arg-type]
            globalLogPublisher,
        )

    def _start(self, *listeners: Listener) -> StandardIOWatcher:
        service = ListenersService(self.reactor, listeners)
        service.startService()
        self.addCleanup(service.abandon)
        watcher = StandardIOWatcher(self.reactor, service)
        watcher.startService()
        return watcher

    def _said(self) -> list[str]:
        return [formatEvent(e) for e in self.events]

    def test_onlyListenerCloses(self) -> None:
        """
        When the connection of the only listener, C{stdio:}, closes, the
        reactor stops.
        """
        port = StandardIOPort()
        self._start(_stdio(port))
        self.assertFalse(self.reactor.hasStopped)
        port.closed.callback(None)
        self.assertTrue(self.reactor.hasStopped)
        self.assertIn("stdio: closed: nothing left to serve, stopping", self._said())

    def test_otherListeners(self) -> None:
        """
        Beside another listener, the reactor goes on once the C{stdio:}
        connection closes, and the log says so.
        """
        port = StandardIOPort()
        self._start(_stdio(port), _tcp())
        port.closed.callback(None)
        self.assertFalse(self.reactor.hasStopped)
        self.assertIn("stdio: closed; the other listeners go on", self._said())

    def test_everyStdio(self) -> None:
        """
        With two C{stdio:} listeners, the reactor stops once both closed.
        """
        first, second = StandardIOPort(), StandardIOPort()
        self._start(_stdio(first), _stdio(second, "stdio:idle=5"))
        first.closed.callback(None)
        self.assertFalse(self.reactor.hasStopped)
        second.closed.callback(None)
        self.assertTrue(self.reactor.hasStopped)

    def test_closedAtStart(self) -> None:
        """
        A connection closed before the watcher starts (refused by its
        guard, say) stops the reactor as soon as the watcher starts.
        """
        port = StandardIOPort()
        port.closed.callback(None)
        self._start(_stdio(port))
        self.assertTrue(self.reactor.hasStopped)

    def test_stopping(self) -> None:
        """
        A connection closed while the process stops (the drain closed it)
        does not stop the reactor again.
        """
        port = StandardIOPort()
        watcher = self._start(_stdio(port))
        watcher.stopService()
        port.closed.callback(None)
        self.assertFalse(self.reactor.hasStopped)
