"""
Tests for the graceful shutdown of L{sockplug.server._service.ListenersService},
for L{sockplug.server._service.raiseFileLimit}, and for the command-line options
that set them (C{--shutdown-timeout}, C{--max-connections}).
"""

from __future__ import annotations

import gc
import resource
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import EventLoggingObserver, StringTransport
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from sockplug.defences._guardedfactory import GuardedFactory
from sockplug.endpoints._datagram import UDPServerEndpoint
from sockplug.endpoints._parsed import ParsedEndpoint
from sockplug.endpoints._syntax import Arguments, ListenerSpec
from sockplug.options._limits import ListenerLimits
from sockplug.plugin import TransportKind
from sockplug.plugins.sockplug_builtins import echoProtocol
from sockplug.server import _service
from sockplug.server._service import Listener, ListenersService, raiseFileLimit
from sockplug.testing import MemoryDatagramReactor
from sockplug.testing._server import FixedEndpoint as _Endpoint
from sockplug.testing._server import RecordingPort as _Port
from sockplug.testing._server import listenerOf as _listener


class _Connection:
    """
    A connection to one of the service's listeners: its protocol and its
    transport (which, like a peer that does not answer, closes only when
    told that it has).
    """

    def __init__(self, factory: GuardedFactory, port: int) -> None:
        self.transport = StringTransport(
            peerAddress=IPv4Address("TCP", "192.0.2.1", port)
        )
        protocol = factory.buildProtocol(self.transport.getPeer())
        assert protocol is not None
        self.protocol = protocol
        protocol.makeConnection(self.transport)

    def close(self) -> None:
        """
        The connection has closed.
        """
        self.protocol.connectionLost(Failure(ConnectionDone()))


class _Stopping(SynchronousTestCase):
    """
    Builds a started L{ListenersService} with fake stream listeners.
    """

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()
        self.events = EventLoggingObserver.createWithCleanup(
            self,  # type: ignore[arg-type]
            globalLogPublisher,
        )
        self.fileLimits: list[tuple[int, int]] = []
        self.patch(
            _service,
            "raiseFileLimit",
            lambda maxConnections, listeners: self.fileLimits.append(
                (maxConnections, listeners)
            ),
        )

    def start(
        self,
        listeners: int = 1,
        limits: ListenerLimits | None = None,
        **kwargs: Any,
    ) -> tuple[ListenersService, list[GuardedFactory], list[_Port]]:
        """
        Start a service of C{listeners} stream echo listeners, with
        C{limits} if given.

        @return: the service, each listener's guarded factory, and each
            listener's port.
        """
        ports = [
            _Port(IPv4Address("TCP", "0.0.0.0", n)) for n in range(1, listeners + 1)
        ]
        endpoints = [_Endpoint(succeed(port)) for port in ports]
        service = ListenersService(
            self.reactor,
            [
                Listener(
                    ListenerSpec("echo", f"tcp:{n}"),
                    ParsedEndpoint(
                        f"tcp:{n}",
                        TransportKind.STREAM,
                        endpoint,
                        limits or ListenerLimits(),
                        arguments=Arguments.parse(f"tcp:{n}"),
                    ),
                    echoProtocol,
                )
                for n, endpoint in enumerate(endpoints, 1)
            ],
            **kwargs,
        )
        service.startService()
        return service, [endpoint.factories[0] for endpoint in endpoints], ports

    def stopWithOpen(
        self, count: int = 2, **kwargs: Any
    ) -> tuple[Deferred[None], list[_Connection]]:
        """
        Start a service, open C{count} connections to it, and stop it.
        """
        service, [factory], _ = self.start(**kwargs)
        connections = [_Connection(factory, 5000 + n) for n in range(count)]
        return service.stopService(), connections

    def texts(self, containing: str = "") -> list[str]:
        return [
            text
            for text in (formatEvent(event) for event in self.events)
            if containing in text
        ]

    def collectAbandoned(self) -> None:
        """
        After the test, collect what a shutdown that gave up left behind,
        so that its C{CancelledError}s, if logged, are logged here and not
        in whichever test happens to run the garbage collector (see
        L{DrainTests.test_givingUpLeavesNoUnhandledError}, which checks for
        them).
        """

        def collect() -> None:
            gc.collect()
            self.flushLoggedErrors(CancelledError)

        self.addCleanup(collect)


class IdleSweepStartTests(_Stopping):
    """
    The service starts each stream listener's idle sweep itself.
    """

    def test_sweepStartedWithoutFactoryStart(self) -> None:
        """
        A listener whose endpoint never starts its factory (as C{stdio:}
        does not) still has its idle connections looked for.
        """
        _, factories, _ = self.start(limits=ListenerLimits(idleTimeout=10.0))
        self.assertEqual(
            [call.getTime() for call in self.reactor.getDelayedCalls()], [1.0]
        )
        self.assertEqual(factories[0].guard.sweepInterval, 1.0)


class DrainTests(_Stopping):
    """
    Tests for L{ListenersService.stopService} with connections open.
    """

    def test_nothingOpen(self) -> None:
        """
        With no connection open, stopping is done at once, with no timer
        left and nothing said about waiting.
        """
        service, _, _ = self.start()
        self.assertIsNone(self.successResultOf(service.stopService()))
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        self.assertEqual(self.texts("stopping:"), [])

    def test_waits(self) -> None:
        """
        With connections open, stopping waits for them.
        """
        d, _ = self.stopWithOpen()
        self.assertNoResult(d)

    def test_stopsListeningFirst(self) -> None:
        """
        Listening stops at once, before the connections are done.
        """
        service, [factory], [port] = self.start()
        _Connection(factory, 5000)
        service.stopService()
        self.assertEqual(port.stopped, 1)
        self.assertFalse(service.running)

    def test_waitLogged(self) -> None:
        """
        Waiting is logged with the timeout and the connections open.
        """
        self.stopWithOpen(2)
        self.assertEqual(
            self.texts("stopping:"),
            ["stopping: waiting up to 5s for 2 open connections"],
        )

    def test_waitLoggedOne(self) -> None:
        """
        One open connection is one connection, in the waiting line.
        """
        self.stopWithOpen(1)
        self.assertEqual(
            self.texts("stopping:"),
            ["stopping: waiting up to 5s for 1 open connection"],
        )

    def test_countsEveryListener(self) -> None:
        """
        The connections of every stream listener are waited for.
        """
        service, factories, _ = self.start(listeners=2, shutdownTimeout=2.5)
        first = _Connection(factories[0], 5000)
        second = _Connection(factories[1], 5001)
        d = service.stopService()
        self.assertEqual(
            self.texts("stopping:"),
            ["stopping: waiting up to 2.5s for 2 open connections"],
        )
        first.close()
        self.assertNoResult(d)
        second.close()
        self.assertIsNone(self.successResultOf(d))

    def test_doneWhenClosed(self) -> None:
        """
        Once every connection has closed, stopping is done, with no timer
        left.
        """
        d, connections = self.stopWithOpen(2)
        for connection in connections:
            connection.close()
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_notClosedBeforeTimeout(self) -> None:
        """
        Before the timeout, the connections are left alone.
        """
        _, connections = self.stopWithOpen(2)
        self.reactor.advance(4.5)
        self.assertEqual(
            [c.transport.disconnecting for c in connections], [False, False]
        )

    def test_closedGentlyAtTimeout(self) -> None:
        """
        At the timeout, the connections still open are closed gently: what
        is queued for them is still sent.
        """
        d, connections = self.stopWithOpen(2)
        self.reactor.advance(5)
        self.assertEqual(
            [
                (c.transport.disconnecting, c.transport.disconnected)
                for c in connections
            ],
            [(True, False), (True, False)],
        )
        self.assertNoResult(d)

    def test_closingLogged(self) -> None:
        """
        Closing at the timeout is logged with the connections still open.
        """
        _, connections = self.stopWithOpen(2)
        connections[0].close()
        self.reactor.advance(5)
        self.assertEqual(
            self.texts("stopping: closing"),
            ["stopping: closing 1 connection still open"],
        )

    def test_abortedSecondLater(self) -> None:
        """
        A second after the timeout, the connections still open are aborted,
        not before.
        """
        _, connections = self.stopWithOpen(2)
        self.reactor.advance(5)
        self.reactor.advance(0.5)
        self.assertEqual(
            [c.transport.disconnected for c in connections], [False, False]
        )
        self.reactor.advance(0.5)
        self.assertEqual([c.transport.disconnected for c in connections], [True, True])

    def test_abortingLogged(self) -> None:
        """
        Aborting is logged with the connections still open.
        """
        self.stopWithOpen(2)
        self.reactor.advance(6)
        self.assertEqual(
            self.texts("stopping: aborting"),
            ["stopping: aborting 2 connections still open"],
        )

    def test_closedGentlyNotAborted(self) -> None:
        """
        Connections that close when asked are not aborted, and stopping is
        done as they close.
        """
        d, connections = self.stopWithOpen(2)
        self.reactor.advance(5)
        for connection in connections:
            connection.close()
        self.assertIsNone(self.successResultOf(d))
        self.reactor.advance(5)
        self.assertEqual(
            [c.transport.disconnected for c in connections], [False, False]
        )
        self.assertEqual(self.texts("stopping: aborting"), [])

    def test_givesUp(self) -> None:
        """
        Connections that do not close even when aborted hold stopping up
        for no more than the timeout and 2 seconds.
        """
        self.collectAbandoned()
        d, _ = self.stopWithOpen(2)
        self.reactor.advance(5)
        self.reactor.advance(1)
        self.reactor.advance(0.5)
        self.assertNoResult(d)
        self.reactor.advance(0.5)
        self.assertIsNone(self.successResultOf(d))

    def test_givingUpLeavesNoUnhandledError(self) -> None:
        """
        Giving up leaves no unhandled error behind (no C{CancelledError}
        traceback logged when the abandoned waits are collected).
        """
        d = self.stopWithOpen(2)[0]
        self.reactor.advance(5)
        self.reactor.advance(1)
        self.reactor.advance(1)
        self.successResultOf(d)
        del d  # with it, the service and its connections become garbage
        gc.collect()
        self.assertEqual(self.flushLoggedErrors(CancelledError), [])

    def test_timeoutZero(self) -> None:
        """
        With a timeout of 0, open connections are closed gently at once,
        aborted a second later, and given up on a second after that.
        """
        self.collectAbandoned()
        d, [connection] = self.stopWithOpen(1, shutdownTimeout=0.0)
        self.reactor.advance(0)
        self.assertEqual(
            (connection.transport.disconnecting, connection.transport.disconnected),
            (True, False),
        )
        self.reactor.advance(1)
        self.assertTrue(connection.transport.disconnected)
        self.assertNoResult(d)
        self.reactor.advance(1)
        self.assertIsNone(self.successResultOf(d))

    def test_guardsStopped(self) -> None:
        """
        Once stopping is done, the guards are stopped: no idle sweep is left
        scheduled.
        """
        service, [factory], _ = self.start()
        factory.doStart()
        connection = _Connection(factory, 5000)
        d = service.stopService()
        self.assertIn(30.0, [call.getTime() for call in self.reactor.getDelayedCalls()])
        connection.close()
        self.successResultOf(d)
        self.assertEqual(service.guards, [])
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_guardsStoppedWhenNothingOpen(self) -> None:
        """
        With nothing open, the guards are stopped at once.
        """
        service, [factory], _ = self.start()
        factory.doStart()
        self.successResultOf(service.stopService())
        self.assertEqual(service.guards, [])
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_guardsStoppedAfterGivingUp(self) -> None:
        """
        After giving up, the guards are stopped too.
        """
        self.collectAbandoned()
        service, [factory], _ = self.start()
        factory.doStart()
        _Connection(factory, 5000)
        d = service.stopService()
        self.reactor.advance(7)
        self.successResultOf(d)
        self.assertEqual(service.guards, [])
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_heldBackLinesSummarized(self) -> None:
        """
        Stopping a guard logs at once the lines its rate limit held back.
        """
        service, [factory], _ = self.start(limits=ListenerLimits(logLines=5))
        for port in (5000, 5001, 5002):
            _Connection(factory, port).close()
        self.assertEqual(self.texts("held back"), [])
        self.successResultOf(service.stopService())
        self.assertEqual(len(self.texts("held back")), 1)

    def test_datagramListenersNotWaited(self) -> None:
        """
        Datagram listeners have no connections: stopping one is done at
        once.
        """
        service = ListenersService(
            self.reactor,
            [
                _listener(
                    "udp:7777",
                    UDPServerEndpoint(self.reactor, 7777),
                    TransportKind.DATAGRAM,
                )
            ],
        )
        service.startService()
        self.assertIsNone(self.successResultOf(service.stopService()))
        self.assertEqual(self.texts("stopping:"), [])


class BudgetTests(_Stopping):
    """
    Tests for the process-wide bound on connections of
    L{ListenersService}.
    """

    def test_sharedByListeners(self) -> None:
        """
        C{maxConnections} bounds the connections of every listener
        together.
        """
        _, factories, _ = self.start(listeners=2, maxConnections=1)
        _Connection(factories[0], 5000)
        self.assertIsNone(
            factories[1].buildProtocol(IPv4Address("TCP", "192.0.2.2", 1))
        )

    def test_default(self) -> None:
        """
        By default, 10000 connections are allowed, and shutdown waits 5 s.
        """
        service = ListenersService(self.reactor, [])
        self.assertEqual((service.budget.limit, service.shutdownTimeout), (10_000, 5.0))

    def test_fileLimitRaisedAtStart(self) -> None:
        """
        Starting makes room in the open-file limit for the connections and
        the listeners.
        """
        self.start(listeners=2, maxConnections=500)
        self.assertEqual(self.fileLimits, [(500, 2)])


class _Limits:
    """
    A stand-in for the process's C{RLIMIT_NOFILE}, patched over the
    L{resource} module's functions.
    """

    def __init__(self, soft: int, hard: int, fail: BaseException | None = None):
        self.soft = soft
        self.hard = hard
        self.fail = fail
        self.set: list[tuple[int, int]] = []

    def getrlimit(self, which: int) -> tuple[int, int]:
        assert which == resource.RLIMIT_NOFILE, which
        return self.soft, self.hard

    def setrlimit(self, which: int, limits: tuple[int, int]) -> None:
        assert which == resource.RLIMIT_NOFILE, which
        if self.fail is not None:
            raise self.fail
        self.set.append(limits)
        self.soft, self.hard = limits


class RaiseFileLimitTests(SynchronousTestCase):
    """
    Tests for L{raiseFileLimit}.
    """

    def setUp(self) -> None:
        self.events = EventLoggingObserver.createWithCleanup(
            self,  # type: ignore[arg-type]
            globalLogPublisher,
        )

    def limits(
        self, soft: int, hard: int, fail: BaseException | None = None
    ) -> _Limits:
        limits = _Limits(soft, hard, fail)
        self.patch(resource, "getrlimit", limits.getrlimit)
        self.patch(resource, "setrlimit", limits.setrlimit)
        return limits

    def texts(self) -> list[str]:
        return [formatEvent(event) for event in self.events]

    def test_enough(self) -> None:
        """
        A soft limit that has room for the connections, the listeners and 64
        more is left alone, and nothing is logged.
        """
        limits = self.limits(10_258, 20_000)
        raiseFileLimit(10_000, 2)
        self.assertEqual((limits.set, self.texts()), ([], []))

    def test_unlimited(self) -> None:
        """
        An unlimited soft limit is left alone.
        """
        limits = self.limits(resource.RLIM_INFINITY, resource.RLIM_INFINITY)
        raiseFileLimit(1_000_000, 2)
        self.assertEqual((limits.set, self.texts()), ([], []))

    def test_raised(self) -> None:
        """
        A soft limit too low is raised to what is needed, the hard limit
        kept, and the change logged.
        """
        limits = self.limits(1024, 1_048_576)
        raiseFileLimit(10_000, 2)
        self.assertEqual(limits.set, [(10_258, 1_048_576)])
        self.assertEqual(
            self.texts(), ["raised the open-file limit from 1024 to 10258"]
        )

    def test_raisedUnderUnlimitedHard(self) -> None:
        """
        Under an unlimited hard limit, the soft limit is raised to what is
        needed.
        """
        limits = self.limits(1024, resource.RLIM_INFINITY)
        raiseFileLimit(5000, 1)
        self.assertEqual(limits.set, [(5257, resource.RLIM_INFINITY)])

    def test_raisedToHard(self) -> None:
        """
        When even the hard limit is too low, the soft limit is raised to
        it, with a warning saying what to do.
        """
        limits = self.limits(1024, 4096)
        raiseFileLimit(10_000, 2)
        self.assertEqual(limits.set, [(4096, 4096)])
        [warning] = [e for e in self.events if e["log_level"] == LogLevel.warn]
        self.assertEqual(
            formatEvent(warning),
            "--max-connections needs 10258 open files, but the limit is 4096:"
            " lower --max-connections or raise it (ulimit -n)",
        )

    def test_atHard(self) -> None:
        """
        A soft limit already at a hard limit too low is not set again; the
        warning is logged.
        """
        limits = self.limits(4096, 4096)
        raiseFileLimit(10_000, 2)
        self.assertEqual(limits.set, [])
        self.assertEqual(
            self.texts(),
            [
                "--max-connections needs 10258 open files, but the limit is 4096:"
                " lower --max-connections or raise it (ulimit -n)"
            ],
        )

    def test_setFails(self) -> None:
        """
        If the limit cannot be raised, the warning names the limit as it
        is, and nothing claims it was raised.
        """
        self.limits(1024, 1_048_576, OSError(1, "Operation not permitted"))
        raiseFileLimit(10_000, 2)
        self.assertEqual(
            self.texts(),
            [
                "--max-connections needs 10258 open files, but the limit is 1024:"
                " lower --max-connections or raise it (ulimit -n)"
            ],
        )

    def test_setRefused(self) -> None:
        """
        A C{ValueError} from C{setrlimit} is taken as a failure to raise
        too, not raised.
        """
        self.limits(1024, 1_048_576, ValueError("not allowed to raise maximum limit"))
        raiseFileLimit(10_000, 2)
        self.assertEqual(len(self.texts()), 1)
