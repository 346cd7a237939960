"""
Tests for L{sockplug.server._stopsignals}: a second SIGINT or SIGTERM
while the server stops.
"""

from __future__ import annotations

import signal
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import succeed
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import EventLoggingObserver, StringTransport
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from sockplug.endpoints._parsed import ParsedEndpoint
from sockplug.endpoints._syntax import Arguments, ListenerSpec
from sockplug.options._limits import ListenerLimits
from sockplug.plugin import TransportKind
from sockplug.plugins.sockplug_builtins import echoProtocol
from sockplug.server._service import Listener, ListenersService
from sockplug.server._start import ServerRoot
from sockplug.server._stopsignals import StopSignals, closeConnectionsNow
from sockplug.testing import MemoryDatagramReactor
from sockplug.testing._server import FixedEndpoint, RecordingPort

# A signal no test run uses otherwise: the tests take it, not SIGINT.
_SIGNAL = signal.SIGUSR2


class _Reactor(MemoryDatagramReactor):
    """
    A memory reactor with a signal handler of its own, as Twisted's
    reactors have, and whose C{callFromThread} calls at once.
    """

    def __init__(self) -> None:
        MemoryDatagramReactor.__init__(self)
        self.stops = 0

    def sigTerm(self, number: int, frame: object = None) -> None:
        self.stops += 1

    def callFromThread(self, f: Any, *args: object, **kwargs: object) -> None:
        f(*args, **kwargs)


class _Case(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = _Reactor()
        self.events = EventLoggingObserver.createWithCleanup(
            self,  # type: ignore[arg-type]
            globalLogPublisher,
        )
        previous = signal.getsignal(_SIGNAL)
        self.addCleanup(signal.signal, _SIGNAL, previous)
        self.hurries = 0

    def hurry(self) -> None:
        self.hurries += 1

    def stopSignals(self) -> StopSignals:
        return StopSignals(self.reactor, self.hurry, signals=[_SIGNAL])

    def texts(self) -> list[str]:
        return [formatEvent(event) for event in self.events]


class InstallTests(_Case):
    """
    Tests for L{StopSignals.install}.
    """

    def test_takesReactorsHandler(self) -> None:
        """
        The reactor's handler of the signal is replaced, so that the signal
        no longer stops the reactor again.
        """
        signal.signal(_SIGNAL, self.reactor.sigTerm)
        self.stopSignals().install()
        signal.raise_signal(_SIGNAL)
        self.assertEqual((self.reactor.stops, self.hurries), (0, 1))

    def test_leavesOtherHandlers(self) -> None:
        """
        A signal the process ignores (not the reactor's) stays ignored.
        """
        signal.signal(_SIGNAL, signal.SIG_IGN)
        self.stopSignals().install()
        self.assertIs(signal.getsignal(_SIGNAL), signal.SIG_IGN)

    def test_rootInstallsWhenStopping(self) -> None:
        """
        L{ServerRoot} installs its stop signals when it begins to stop,
        not before.
        """
        signal.signal(_SIGNAL, self.reactor.sigTerm)
        root = ServerRoot(getpid=lambda: 1, renew=lambda: None)
        root.stopSignals = self.stopSignals()
        root.startService()
        self.assertEqual(signal.getsignal(_SIGNAL), self.reactor.sigTerm)
        root.stopService()
        self.assertNotEqual(signal.getsignal(_SIGNAL), self.reactor.sigTerm)


class AgainTests(_Case):
    """
    Tests for L{StopSignals.again}.
    """

    def test_hurriesOnce(self) -> None:
        """
        The first signal hurries the stop, saying so; a third is ignored,
        saying that SIGKILL ends the process.
        """
        stop = self.stopSignals()
        stop.again(signal.SIGTERM)
        stop.again(signal.SIGINT)
        self.assertEqual(self.hurries, 1)
        self.assertTrue(stop.hurried)
        self.assertEqual(
            self.texts(),
            [
                "stopping: SIGTERM again: no more waiting",
                "stopping: SIGINT ignored, already closing connections; SIGKILL"
                " ends the process at once",
            ],
        )


class _Connection:
    """
    A connection whose transport closes only when told it has.
    """

    def __init__(self, factory: Any, port: int) -> None:
        self.transport = StringTransport(
            peerAddress=IPv4Address("TCP", "192.0.2.1", port)
        )
        self.protocol = factory.buildProtocol(self.transport.getPeer())
        self.protocol.makeConnection(self.transport)

    def close(self) -> None:
        self.protocol.connectionLost(Failure(ConnectionDone()))


class CloseConnectionsNowTests(_Case):
    """
    Tests for L{closeConnectionsNow}: the hurry of one process.
    """

    def stopWithOpen(self, count: int) -> tuple[ListenersService, list[_Connection]]:
        """
        Start a service of one echo listener, open C{count} connections to
        it, and begin to stop it (with a minute to wait for them).
        """
        endpoint = FixedEndpoint(
            succeed(RecordingPort(IPv4Address("TCP", "0.0.0.0", 1)))
        )
        service = ListenersService(
            self.reactor,
            [
                Listener(
                    ListenerSpec("echo", "tcp:1"),
                    ParsedEndpoint(
                        "tcp:1",
                        TransportKind.STREAM,
                        endpoint,
                        ListenerLimits(),
                        arguments=Arguments.parse("tcp:1"),
                    ),
                    echoProtocol,
                )
            ],
            shutdownTimeout=60.0,
        )
        service.startService()
        factory = endpoint.factories[0]
        connections = [_Connection(factory, 5000 + n) for n in range(count)]
        self.stopping = service.stopService()
        return service, connections

    def test_closesAtOnce(self) -> None:
        """
        The open connections are asked to close at once, not at the end of
        the shutdown timeout, and the stop is done when they have.
        """
        service, connections = self.stopWithOpen(2)
        closeConnectionsNow(self.reactor, lambda: service.guards)()
        self.assertEqual([c.transport.disconnecting for c in connections], [True] * 2)
        for connection in connections:
            connection.close()
        self.assertIsNone(self.successResultOf(self.stopping))
        self.assertIn("stopping: closing 2 open connections at once", self.texts())

    def test_abortsASecondLater(self) -> None:
        """
        Connections that do not close when asked are aborted a second
        later.
        """
        service, [connection] = self.stopWithOpen(1)
        closeConnectionsNow(self.reactor, lambda: service.guards)()
        self.reactor.advance(0.5)
        self.assertFalse(connection.transport.disconnected)
        self.reactor.advance(0.5)
        self.assertTrue(connection.transport.disconnected)
        self.assertIn("stopping: aborting 1 open connection at once", self.texts())
