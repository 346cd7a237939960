"""
Tests for L{sockplug.server._service}.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Any

from twisted.internet.address import IPv4Address, UNIXAddress
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.error import CannotListenError, ConnectionDone
from twisted.internet.interfaces import (
    IListeningPort,
    IProtocolFactory,
)
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.testing import (
    EventLoggingObserver,
    StringTransportWithDisconnection,
)
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from sockplug.defences._datagramguard import DatagramGuard
from sockplug.defences._guardedfactory import GuardedFactory
from sockplug.defences._streamguard import ConnectionGuard
from sockplug.endpoints._datagram import UDPServerEndpoint
from sockplug.endpoints._parsed import ParsedEndpoint
from sockplug.endpoints._syntax import Arguments, ListenerSpec
from sockplug.errors import ListenFailed, ProtocolStartError
from sockplug.interfaces import IListenerInfo
from sockplug.logs import RATE_LIMITED
from sockplug.plugin import ProtocolPlugin, TransportKind
from sockplug.plugins.sockplug_builtins import echoProtocol
from sockplug.server._listener import RunningListener
from sockplug.server._service import Listener, ListenersService, describeListenError
from sockplug.testing import MemoryDatagramReactor
from sockplug.testing._server import FixedEndpoint as _Endpoint
from sockplug.testing._server import RecordingPort as _Port
from sockplug.testing._server import listenerOf as _listener


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


def _failing(error: Exception) -> ProtocolPlugin:
    """
    A protocol plugin whose builders raise C{error}.
    """

    def stream(listener: IListenerInfo) -> IProtocolFactory:
        raise error

    def datagram(listener: IListenerInfo) -> DatagramProtocol:
        raise error

    return ProtocolPlugin(
        name="failing", description="Cannot start.", stream=stream, datagram=datagram
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

    def test_listeningNotHeldBack(self) -> None:
        """
        The line saying where a listener listens is marked as limited
        already: the process's log limit lets one through for every
        listener, however many there are.
        """
        endpoint = _Endpoint(succeed(_Port(IPv4Address("TCP", "127.0.0.1", 1))))
        service = ListenersService(
            self.reactor, [_listener("tcp:1", endpoint, TransportKind.STREAM)]
        )
        service.privilegedStartService()
        [listening] = [e for e in self.events if "listening on" in formatEvent(e)]
        self.assertIs(listening.get(RATE_LIMITED), True)

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

    def test_fileNamed(self) -> None:
        """
        An error opening a file (Twisted's ports open C{/dev/null}, which a
        C{--chroot} may lack) names that file, not the endpoint's folder.
        """
        error = FileNotFoundError(
            errno.ENOENT, "No such file or directory", "/dev/null"
        )
        self.assertEqual(
            self.describe(error),
            "cannot listen on 'x:1': cannot open '/dev/null': no such file or"
            " directory",
        )

    def test_lockSymlinkNotAFile(self) -> None:
        """
        A lock file's C{symlink()} failing in a missing folder (the error
        names the pid it would hold, and the link) is the missing folder,
        not a file that cannot be opened.
        """
        error = FileNotFoundError(
            errno.ENOENT, "No such file or directory", "1234", None, "/gone/s.lock"
        )
        self.assertEqual(
            self.describe(error),
            "cannot listen on 'x:1': no such file or directory (does its folder"
            " exist?)",
        )

    def test_noSuchScope(self) -> None:
        """
        An IPv6 address whose scope names no network interface
        (C{fe80::1%nosuch}: Python's "Name or service not known") is said
        so.
        """
        error = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        expected = (
            "cannot listen on 'x:1': the network interface after % in the"
            " address is not one of this machine's"
        )
        self.assertEqual(self.describe(error), expected)
        self.assertEqual(
            self.describe(CannotListenError("fe80::1%nosuch", 1, error)), expected
        )

    def test_other(self) -> None:
        """
        Any other error is shown as its message, on one line.
        """
        self.assertEqual(
            self.describe(RuntimeError("two\nlines")),
            "cannot listen on 'x:1': two lines",
        )

    def test_protocolStartError(self) -> None:
        """
        A protocol that cannot start is described by its own message.
        """
        error = ProtocolStartError("protocol x could not start: no file")
        self.assertEqual(
            self.describe(error),
            "cannot listen on 'x:1': protocol x could not start: no file",
        )


class ProtocolStartTests(SynchronousTestCase):
    """
    Tests for listeners whose protocol plugin fails to build.
    """

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()
        self.events = EventLoggingObserver.createWithCleanup(
            self,  # type: ignore[arg-type]
            globalLogPublisher,
        )

    def listener(
        self, error: Exception, kind: TransportKind = TransportKind.STREAM
    ) -> Listener:
        endpoint = _Endpoint(succeed(_Port(IPv4Address("TCP", "0.0.0.0", 1))))
        return _listener("tcp:1", endpoint, kind, _failing(error))

    def test_buildWraps(self) -> None:
        """
        A plugin's exception is raised as L{ProtocolStartError} naming the
        protocol and the reason, caused by the plugin's exception.
        """
        error = OSError("cannot open /nonexistent/out.log")
        e = self.assertRaises(
            ProtocolStartError, self.listener(error).build, self.reactor
        )
        self.assertEqual(
            str(e), "protocol failing could not start: cannot open /nonexistent/out.log"
        )
        self.assertIs(e.__cause__, error)

    def test_buildWrapsDatagram(self) -> None:
        """
        A datagram plugin's exception is raised as L{ProtocolStartError}
        too.
        """
        listener = self.listener(ValueError("bad"), TransportKind.DATAGRAM)
        e = self.assertRaises(ProtocolStartError, listener.build, self.reactor)
        self.assertEqual(str(e), "protocol failing could not start: bad")

    def test_buildOneLine(self) -> None:
        """
        A reason of several lines is given on one.
        """
        listener = self.listener(RuntimeError("two\n  lines"))
        e = self.assertRaises(ProtocolStartError, listener.build, self.reactor)
        self.assertEqual(str(e), "protocol failing could not start: two lines")

    def test_buildNoMessage(self) -> None:
        """
        An exception without a message is named by its type.
        """
        listener = self.listener(KeyError())
        e = self.assertRaises(ProtocolStartError, listener.build, self.reactor)
        self.assertEqual(str(e), "protocol failing could not start: KeyError")

    def test_buildStream(self) -> None:
        """
        A stream listener's plugin builds a factory, given the listener's
        options.
        """
        listener = Listener(
            ListenerSpec("echo", "tcp:1"),
            ParsedEndpoint(
                "tcp:1",
                TransportKind.STREAM,
                TCP4ServerEndpoint(self.reactor, 1),
                arguments=Arguments.parse("tcp:1"),
            ),
            echoProtocol,
        )
        self.assertTrue(IProtocolFactory.providedBy(listener.build(self.reactor)))

    def test_buildDatagram(self) -> None:
        """
        A datagram listener's plugin builds a datagram protocol.
        """
        listener = _listener(
            "udp:1",
            UDPServerEndpoint(self.reactor, 1),
            TransportKind.DATAGRAM,
        )
        self.assertIsInstance(listener.build(self.reactor), DatagramProtocol)

    def test_prepareFails(self) -> None:
        """
        C{prepare} raises L{ProtocolStartError} when the protocol cannot be
        built, and nothing listens.
        """
        endpoint = _Endpoint(succeed(_Port(IPv4Address("TCP", "0.0.0.0", 1))))
        listener = _listener(
            "tcp:1", endpoint, TransportKind.STREAM, _failing(RuntimeError("no"))
        )
        self.assertRaises(ProtocolStartError, listener.prepare, self.reactor)
        self.assertEqual(endpoint.factories, [])

    def test_listenGuard(self) -> None:
        """
        C{prepare} then C{listenWith} give the port and the guard of a
        listener that starts.
        """
        listener = _listener(
            "tcp:1", TCP4ServerEndpoint(self.reactor, 1), TransportKind.STREAM
        )
        started = listener.prepare(self.reactor)
        listening = listener.listenWith(started)
        self.assertTrue(IListeningPort.providedBy(self.successResultOf(listening)))
        self.assertIsInstance(started.guard, ConnectionGuard)

    def test_startUpFails(self) -> None:
        """
        A protocol that cannot start fails the start-up with
        L{ListenFailed} naming the endpoint, the protocol and why.
        """
        service = ListenersService(self.reactor, [self.listener(RuntimeError("no"))])
        e = self.assertRaises(ListenFailed, service.privilegedStartService)
        self.assertEqual(
            str(e),
            "sockplug: cannot listen on 'tcp:1': protocol failing could not start: no",
        )

    def test_startUpFailsClosesOthers(self) -> None:
        """
        When a later listener's protocol cannot start, those started before
        it are closed, and the ones after it are not started.
        """
        first = _ClosingPort(IPv4Address("TCP", "0.0.0.0", 2))
        after = _Endpoint(succeed(_Port(IPv4Address("TCP", "0.0.0.0", 3))))
        service = ListenersService(
            self.reactor,
            [
                _stream("tcp:2", succeed(first)),
                self.listener(RuntimeError("no")),
                _listener("tcp:3", after, TransportKind.STREAM),
            ],
        )
        self.assertRaises(ListenFailed, service.privilegedStartService)
        self.assertEqual((len(first.lost), after.factories), (1, []))
        self.assertEqual(service.ports, [])


class RunningListenerTests(SynchronousTestCase):
    """
    Tests for L{RunningListener}.
    """

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()

    def running(self) -> RunningListener:
        listener = _listener(
            "tcp:1", TCP4ServerEndpoint(self.reactor, 1), TransportKind.STREAM
        )
        running = RunningListener(listener, listener.prepare(self.reactor))
        running.port = self.successResultOf(running.listen())
        assert isinstance(running.started.guard, ConnectionGuard)
        running.started.guard.start()
        return running

    def connect(self, running: RunningListener) -> StringTransportWithDisconnection:
        front = running.started.front
        assert isinstance(front, GuardedFactory)
        transport = StringTransportWithDisconnection(
            peerAddress=IPv4Address("TCP", "192.0.2.1", 5000)
        )
        protocol = front.buildProtocol(transport.getPeer())
        assert protocol is not None
        transport.protocol = protocol
        protocol.makeConnection(transport)
        return transport

    def test_stopListening(self) -> None:
        """
        Stopping stops the port, and forgets it.
        """
        running = self.running()
        port = _Port(IPv4Address("TCP", "0.0.0.0", 1))
        running.port = port
        self.successResultOf(running.stopListening())
        self.assertEqual((port.stopped, running.port), (1, None))

    def test_stopListeningTwice(self) -> None:
        """
        Stopping a listener that is not listening does nothing.
        """
        running = self.running()
        port = _Port(IPv4Address("TCP", "0.0.0.0", 1))
        running.port = port
        running.stopListening()
        self.assertIsNone(self.successResultOf(running.stopListening()))
        self.assertEqual(port.stopped, 1)

    def test_stopListeningWaits(self) -> None:
        """
        Stopping fires once the port has stopped.
        """
        running = self.running()
        stopped: Deferred[None] = Deferred()

        class Slow(_Port):
            def stopListening(self) -> Deferred[None]:
                return stopped

        running.port = Slow(IPv4Address("TCP", "0.0.0.0", 1))
        d = running.stopListening()
        self.assertNoResult(d)
        stopped.callback(None)
        self.successResultOf(d)

    def test_stopListeningConnectionsGoOn(self) -> None:
        """
        Open connections go on when a listener stops listening.
        """
        running = self.running()
        transport = self.connect(running)
        running.stopListening()
        self.assertTrue(transport.connected)

    def test_listenAgain(self) -> None:
        """
        A listener stopped listens again with what serves it.
        """
        running = self.running()
        self.successResultOf(running.stopListening())
        self.successResultOf(running.listen())
        self.assertIs(self.reactor.tcpServers[-1][1], running.started.front)

    def test_retireEmpty(self) -> None:
        """
        Retiring a listener with no open connection fires at once, and
        stops its guard's idle sweep.
        """
        running = self.running()
        self.successResultOf(running.retire())
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_retireWaits(self) -> None:
        """
        Retiring fires once the last open connection has closed, and only
        then stops the guard's idle sweep.
        """
        running = self.running()
        transport = self.connect(running)
        d = running.retire()
        self.assertNoResult(d)
        self.assertEqual(len(self.reactor.getDelayedCalls()), 1)
        transport.loseConnection()
        self.successResultOf(d)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_retireDatagram(self) -> None:
        """
        Retiring a datagram listener fires at once.
        """
        listener = _listener(
            "udp:1", UDPServerEndpoint(self.reactor, 1), TransportKind.DATAGRAM
        )
        running = RunningListener(listener, listener.prepare(self.reactor))
        self.assertIsInstance(running.started.guard, DatagramGuard)
        self.successResultOf(running.retire())
