"""
Tests for L{sockplug._service}.
"""

from __future__ import annotations

import errno
import os
from typing import Any

from twisted.internet.address import IPv4Address, UNIXAddress
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.error import CannotListenError, ConnectionDone
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from sockplug._datagram import UDPServerEndpoint
from sockplug._endpoints import ParsedEndpoint
from sockplug._service import Listener, ListenersService, describeListenError
from sockplug._syntax import ListenerSpec
from sockplug.errors import ListenFailed
from sockplug.plugin import TransportKind
from sockplug.plugins.sockplug_builtins import echoProtocol
from sockplug.testing import MemoryDatagramReactor


@implementer(IListeningPort)
class _Port:
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


class _ClosingPort(_Port):
    """
    A port that, like Twisted's, can be closed at once with
    C{connectionLost}.
    """

    def __init__(self, host: Any) -> None:
        super().__init__(host)
        self.lost: list[Failure] = []

    def connectionLost(self, reason: Failure) -> None:
        self.lost.append(reason)


@implementer(IStreamServerEndpoint)
class _Endpoint:
    """
    A stream endpoint whose C{listen} gives a chosen result.
    """

    def __init__(self, result: Deferred[Any]) -> None:
        self.result = result
        self.factories: list[Any] = []

    def listen(self, factory: Any) -> Deferred[Any]:
        self.factories.append(factory)
        return self.result


def _listener(description: str, endpoint: Any, kind: TransportKind) -> Listener:
    return Listener(
        ListenerSpec("echo", description),
        ParsedEndpoint(description, kind, endpoint),
        echoProtocol,
    )


def _stream(description: str, result: Deferred[Any]) -> Listener:
    return _listener(description, _Endpoint(result), TransportKind.STREAM)


class ListenersServiceTests(SynchronousTestCase):
    """
    Tests for L{ListenersService}.
    """

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()
        self.events = EventLoggingObserver()
        globalLogPublisher.addObserver(self.events)
        self.addCleanup(globalLogPublisher.removeObserver, self.events)

    def messages(self) -> list[str]:
        return [str(formatEvent(e)) for e in self.events]

    def test_startsEveryListener(self) -> None:
        """
        Every listener, stream and datagram, starts listening in
        C{privilegedStartService}, and each logs its address.
        """
        service = ListenersService(
            self.reactor,
            [
                _listener(
                    "tcp:8888",
                    TCP4ServerEndpoint(self.reactor, 8888),
                    TransportKind.STREAM,
                ),
                _listener(
                    "udp:7777",
                    UDPServerEndpoint(self.reactor, 7777),
                    TransportKind.DATAGRAM,
                ),
            ],
        )
        service.privilegedStartService()
        self.assertEqual(self.reactor.tcpServers[0][0], 8888)
        self.assertEqual(self.reactor.udpPorts[0][0], 7777)
        self.assertEqual(len(service.ports), 2)
        self.assertIn("echo listening on tcp:8888 (0.0.0.0:8888)", self.messages())
        self.assertIn("echo listening on udp:7777 (0.0.0.0:7777)", self.messages())

    def test_startServiceAlone(self) -> None:
        """
        C{startService} without C{privilegedStartService} (a service added
        to an already running parent) listens too.
        """
        endpoint = _Endpoint(succeed(_Port(IPv4Address("TCP", "127.0.0.1", 1))))
        service = ListenersService(
            self.reactor, [_listener("tcp:1", endpoint, TransportKind.STREAM)]
        )
        service.startService()
        self.assertEqual(len(endpoint.factories), 1)
        self.assertEqual(len(service.ports), 1)
        self.assertTrue(service.running)

    def test_listenFailure(self) -> None:
        """
        A listener that cannot start raises L{ListenFailed} with one line
        naming its endpoint and the reason, logged as critical.
        """
        error = CannotListenError("", 80, OSError(errno.EADDRINUSE, "in use"))
        service = ListenersService(self.reactor, [_stream("tcp:80", fail(error))])
        e = self.assertRaises(ListenFailed, service.privilegedStartService)
        self.assertEqual(
            str(e),
            "sockplug: cannot listen on 'tcp:80': something is already listening there",
        )
        self.assertEqual(e.code, 1)
        self.assertIn(
            "cannot listen on 'tcp:80': something is already listening there",
            self.messages(),
        )

    def test_failureStopsOthers(self) -> None:
        """
        When a listener fails, those started before it are stopped, and the
        failure raised only once they have.
        """
        first = _Port(IPv4Address("TCP", "0.0.0.0", 1))
        second = _Port(IPv4Address("TCP", "0.0.0.0", 2))
        service = ListenersService(
            self.reactor,
            [
                _stream("tcp:1", succeed(first)),
                _stream("tcp:2", succeed(second)),
                _stream("tcp:3", fail(OSError(errno.EACCES, "denied"))),
            ],
        )
        self.assertRaises(ListenFailed, service.privilegedStartService)
        self.assertEqual((first.stopped, second.stopped), (1, 1))
        self.assertEqual(service.ports, [])

    def test_failureClosesAtOnce(self) -> None:
        """
        A port that can close at once (Twisted's real ports, through
        C{connectionLost}, which also removes a UNIX socket file and its
        lock) is closed that way: the reactor that would finish a
        C{stopListening} never runs after a failed start-up.
        """
        port = _ClosingPort(UNIXAddress("/tmp/x.sock"))
        service = ListenersService(
            self.reactor,
            [
                _stream("unix:/tmp/x.sock", succeed(port)),
                _stream("tcp:3", fail(OSError(errno.EADDRINUSE, "in use"))),
            ],
        )
        self.assertRaises(ListenFailed, service.privilegedStartService)
        self.assertEqual(port.stopped, 0)
        [reason] = port.lost
        self.assertIsInstance(reason.value, ConnectionDone)

    def test_lateFailureStopsReactor(self) -> None:
        """
        A listener that fails after start-up returned stops the reactor,
        with a critical log line naming it.
        """
        late: Deferred[Any] = Deferred()
        service = ListenersService(self.reactor, [_stream("tcp:3", late)])
        service.privilegedStartService()
        self.assertFalse(self.reactor.hasStopped)
        late.errback(OSError(errno.EADDRNOTAVAIL, "no"))
        self.assertTrue(self.reactor.hasStopped)
        self.assertIn(
            "cannot listen on 'tcp:3': that address is not one of this machine's;"
            " stopping",
            self.messages(),
        )

    def test_lateSuccess(self) -> None:
        """
        A listener that starts after start-up returned is kept, and
        stopped with the others.
        """
        late: Deferred[Any] = Deferred()
        service = ListenersService(self.reactor, [_stream("tcp:4", late)])
        service.privilegedStartService()
        port = _Port(IPv4Address("TCP", "0.0.0.0", 4))
        late.callback(port)
        self.assertEqual(service.ports, [port])
        self.successResultOf(service.stopService())
        self.assertEqual(port.stopped, 1)

    def test_stopService(self) -> None:
        """
        C{stopService} stops every port, and fires when they have stopped.
        """
        ports = [_Port(IPv4Address("TCP", "0.0.0.0", n)) for n in (1, 2)]
        service = ListenersService(
            self.reactor,
            [_stream(f"tcp:{p.host.port}", succeed(p)) for p in ports],
        )
        service.startService()
        self.assertIsNone(self.successResultOf(service.stopService()))
        self.assertEqual([p.stopped for p in ports], [1, 1])
        self.assertFalse(service.running)


class DescribeListenErrorTests(SynchronousTestCase):
    """
    Tests for L{describeListenError}.
    """

    def describe(self, error: BaseException) -> str:
        return describeListenError("x:1", Failure(error))

    def test_hints(self) -> None:
        """
        Common errors get a hint on what to do.
        """
        cases = {
            errno.EADDRINUSE: "already listening",
            errno.EACCES: "permission denied",
            errno.ENOENT: "does its folder exist?",
        }
        for number, hint in cases.items():
            wrapped = CannotListenError("", 1, OSError(number, os.strerror(number)))
            self.assertIn(hint, self.describe(wrapped))
            self.assertIn(hint, self.describe(OSError(number, "x")))

    def test_other(self) -> None:
        """
        Any other error is shown as its message, on one line.
        """
        self.assertEqual(
            self.describe(RuntimeError("two\nlines")),
            "cannot listen on 'x:1': two lines",
        )
