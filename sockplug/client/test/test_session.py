"""
Tests for L{sockplug.client._session}.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from typing import Any

from OpenSSL import SSL
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectError
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator,
    IProtocol,
    IProtocolFactory,
)
from twisted.internet.interfaces import IStreamClientEndpoint as IStreamEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.ssl import CertificateOptions, optionsForClientTLS
from twisted.internet.task import Clock
from twisted.internet.testing import (
    MemoryReactorClock,
    StringTransport,
)
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from twisted.test import iosim
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from sockplug.client._endpoints import ClientEndpoint
from sockplug.client._session import (
    ClientError,
    DatagramReplies,
    Output,
    Session,
    Signal,
    StreamClient,
    _reason,
)
from sockplug.plugin import TransportKind
from sockplug.testing import connectDatagram
from sockplug.testing._client import (
    UDP,
    FakeDatagramClient,
    FakeStreamEndpoint,
    HalfCloseTransport,
)
from sockplug.testing._tls import Authority


class OutputTests(SynchronousTestCase):
    """L{Output} prints replies escaped or raw and counts them."""

    def test_escaped(self) -> None:
        """By default replies are escaped, and what was held is written at end."""
        out = io.BytesIO()
        output = Output(out)
        output.write(b"\x1b!\r")
        output.end()
        self.assertEqual(out.getvalue(), b"\\x1b!\\x0d")
        self.assertEqual(output.received, 3)

    def test_raw(self) -> None:
        """Raw replies are written as received, and end writes nothing."""
        out = io.BytesIO()
        output = Output(out, raw=True)
        output.write(b"\x1b\xff\r")
        output.end()
        self.assertEqual((out.getvalue(), output.received), (b"\x1b\xff\r", 3))


class ClosedPipe(io.BytesIO):
    """A pipe whose reader has gone: every write fails as on EPIPE."""

    writes = 0

    def write(self, data: Any) -> int:
        self.writes += 1
        raise BrokenPipeError(32, "Broken pipe")


class OutputGoneTests(SynchronousTestCase):
    """L{Output} notices that its reader has gone, and stops writing."""

    def test_brokenPipe(self) -> None:
        """A write on a pipe whose reader has gone fires C{gone}, raising nothing."""
        output = Output(ClosedPipe(), raw=True)
        output.write(b"a\n")
        self.assertTrue(output.gone.fired)

    def test_nothingAfter(self) -> None:
        """Once the output has gone, nothing more is written to it, end included."""
        pipe = ClosedPipe()
        output = Output(pipe)
        output.write(b"a\n")
        output.write(b"b\xc3")
        output.end()
        self.assertEqual(pipe.writes, 1)


class FullDisk(io.BytesIO):
    """An output that cannot take more: every write fails as on ENOSPC."""

    def write(self, data: Any) -> int:
        raise OSError(28, "No space left on device")


class OutputFailedTests(SynchronousTestCase):
    """L{Output} keeps why it could not write, when its reader has not gone."""

    def test_failure(self) -> None:
        """A write that fails with ENOSPC fires C{gone} and keeps the error."""
        output = Output(FullDisk(), raw=True)
        output.write(b"a\n")
        self.assertTrue(output.gone.fired)
        assert output.failure is not None
        self.assertEqual(output.failure.strerror, "No space left on device")

    def test_brokenPipeNoFailure(self) -> None:
        """A reader gone is no failure: nothing to say about it."""
        output = Output(ClosedPipe(), raw=True)
        output.write(b"a\n")
        self.assertIsNone(output.failure)


class SignalTests(SynchronousTestCase):
    """L{Signal} fires once, for every waiter."""

    def test_waitBefore(self) -> None:
        """A waiter from before the fire fires with it."""
        signal = Signal()
        waiter = signal.wait()
        self.assertNoResult(waiter)
        signal.fire()
        self.assertIsNone(self.successResultOf(waiter))

    def test_waitAfter(self) -> None:
        """A waiter from after the fire has fired already."""
        signal = Signal()
        signal.fire()
        self.assertIsNone(self.successResultOf(signal.wait()))

    def test_fireOnce(self) -> None:
        """A second fire does nothing."""
        signal = Signal()
        calls: list[object] = []
        signal.wait().addCallback(calls.append)
        signal.fire()
        signal.fire()
        self.assertEqual((calls, signal.fired), ([None], True))

    def test_cancelledWaiter(self) -> None:
        """A cancelled waiter neither breaks fire nor the other waiters."""
        signal = Signal()
        cancelled, other = signal.wait(), signal.wait()
        cancelled.cancel()
        self.failureResultOf(cancelled, defer.CancelledError)
        signal.fire()
        self.assertIsNone(self.successResultOf(other))


class StreamClientTests(SynchronousTestCase):
    """L{StreamClient} prints what it receives and half-closes."""

    def connected(self, transport: StringTransport) -> StreamClient:
        self.out = io.BytesIO()
        client = StreamClient(Output(self.out, raw=True))
        client.makeConnection(transport)
        return client

    def test_dataReceived(self) -> None:
        """What the server sends is printed."""
        self.connected(StringTransport()).dataReceived(b"hi")
        self.assertEqual(self.out.getvalue(), b"hi")

    def test_readConnectionLost(self) -> None:
        """When the server has finished sending, the connection is closed."""
        transport = StringTransport()
        self.connected(transport).readConnectionLost()
        self.assertTrue(transport.disconnecting)

    def test_endInputHalfCloses(self) -> None:
        """The end of input closes the writing side alone where it can."""
        transport = HalfCloseTransport()
        self.connected(transport).endInput()
        self.assertEqual(
            (transport.writeClosed, transport.disconnecting), (True, False)
        )

    def test_endInputLeavesOpen(self) -> None:
        """Where there is no half-close (TLS), the end of input leaves the
        connection open, for the replies still on their way, and says so."""
        transport = StringTransport()
        self.assertFalse(self.connected(transport).endInput())
        self.assertFalse(transport.disconnecting)

    def test_closed(self) -> None:
        """C{closed} fires when the connection is lost."""
        client = self.connected(StringTransport())
        waiter = client.closed.wait()
        self.assertNoResult(waiter)
        client.connectionLost()
        self.successResultOf(waiter)


class DatagramRepliesTests(SynchronousTestCase):
    """L{DatagramReplies} counts replies and notices refusals."""

    def setUp(self) -> None:
        self.out = io.BytesIO()
        self.replies = DatagramReplies(Output(self.out))
        self.changes: list[None] = []
        self.replies.changed = lambda: self.changes.append(None)

    def test_replies(self) -> None:
        """Each reply is printed, counted and reported as a change."""
        self.replies.datagramReceived(b"a\n", ("127.0.0.1", 7))
        self.replies.datagramReceived(b"b\n", ("127.0.0.1", 7))
        self.assertEqual((self.out.getvalue(), self.replies.replies), (b"a\nb\n", 2))
        self.assertEqual(len(self.changes), 2)

    def test_connectionRefused(self) -> None:
        """A refusal is noted and reported as a change."""
        self.replies.connectionRefused()
        self.assertEqual((self.replies.refused, len(self.changes)), (True, 1))

    def test_stoppedByReactor(self) -> None:
        """Being stopped before we stopped it counts as refused."""
        connectDatagram(self.replies).stopListening()
        self.assertTrue(self.replies.refused)

    def test_stoppedByUs(self) -> None:
        """Being stopped after we began stopping is no refusal."""
        transport = connectDatagram(self.replies)
        self.replies.stopping = True
        transport.stopListening()
        self.assertFalse(self.replies.refused)


@implementer(IStreamEndpoint)
class FakeTLSEndpoint:
    """
    Connects a TLS client of C{creator} to a TLS server of C{server}, in
    memory; C{pump} moves the bytes between them.
    """

    def __init__(
        self, creator: IOpenSSLClientConnectionCreator, server: CertificateOptions
    ) -> None:
        self.creator = creator
        self.server = server
        self.pump: iosim.IOPump | None = None

    def connect(self, factory: IProtocolFactory) -> Deferred[IProtocol]:
        clock = Clock()
        client = TLSMemoryBIOFactory(
            self.creator, True, factory, clock=clock
        ).buildProtocol(None)
        server = TLSMemoryBIOFactory(
            self.server, False, Factory.forProtocol(Protocol), clock=clock
        ).buildProtocol(None)
        assert client is not None and server is not None
        self.pump = iosim.connect(
            server,
            iosim.makeFakeServer(server),
            client,
            iosim.makeFakeClient(client),
            greet=False,
            clock=clock,
        )
        return defer.succeed(client.wrappedProtocol)

    def flush(self) -> None:
        """Move bytes between client and server until neither has more."""
        assert self.pump is not None, "not connected"
        self.pump.flush()


class SessionTests(SynchronousTestCase):
    """L{Session} sends, waits for replies within C{wait}, and retries."""

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.out = io.BytesIO()
        self.said: list[str] = []
        self.fed: list[Any] = []

    def session(self, endpoint: ClientEndpoint, retries: int = 0) -> Session:
        return Session(
            self.clock, endpoint, Output(self.out), 2.0, retries, 0.5, self.said.append
        )

    def datagram(self, client: FakeDatagramClient) -> Session:
        return self.session(
            ClientEndpoint(UDP, TransportKind.DATAGRAM, datagram=client)
        )

    def stream(self, endpoint: FakeStreamEndpoint, retries: int = 0) -> Session:
        desc = "tcp:host=127.0.0.1:port=7"
        return self.session(
            ClientEndpoint(desc, TransportKind.STREAM, endpoint), retries
        )

    def converse(self, session: Session, ended: Signal) -> Deferred[None]:
        return Deferred.fromCoroutine(session.converse(ended, self.fed.append))

    def message(self, d: Deferred[Any]) -> str:
        return str(self.failureResultOf(d, ClientError).value.message)

    def test_sendOnceDatagramReply(self) -> None:
        """One datagram goes, and its reply ends the exchange and is printed."""
        client = FakeDatagramClient()
        d = Deferred.fromCoroutine(self.datagram(client).sendOnce(b"hi\n"))
        self.assertNoResult(d)
        client.reply(b"hi\n")
        self.successResultOf(d)
        self.assertEqual((client.sent, self.out.getvalue()), ([b"hi\n"], b"hi\n"))
        self.assertTrue(client.stopped)

    def test_sendOnceDatagramNoReply(self) -> None:
        """No reply within C{wait} seconds is an error that says so."""
        client = FakeDatagramClient()
        d = Deferred.fromCoroutine(self.datagram(client).sendOnce(b"hi\n"))
        self.clock.advance(1.9)
        self.assertNoResult(d)
        self.clock.advance(0.1)
        self.assertEqual(
            self.message(d), f"sockplug: no reply from {UDP!r} within 2 seconds"
        )
        self.assertTrue(client.stopped)

    def test_sendOnceDatagramRefused(self) -> None:
        """A refused datagram is an error saying so."""
        client = FakeDatagramClient()
        d = Deferred.fromCoroutine(self.datagram(client).sendOnce(b"hi\n"))
        client.protocol.connectionRefused()
        self.assertIn("refused the datagrams", self.message(d))

    def test_startFails(self) -> None:
        """A datagram socket that cannot be opened is an error naming the endpoint."""
        client = FakeDatagramClient(OSError(13, "Permission denied"))
        d = Deferred.fromCoroutine(self.datagram(client).sendOnce(b"x"))
        self.assertEqual(
            self.message(d), f"sockplug: cannot open {UDP!r}: permission denied"
        )

    def test_sendFails(self) -> None:
        """A datagram that cannot go is an error naming the endpoint and why."""
        client = FakeDatagramClient()
        client.sendError = OSError(2, "No such file or directory")
        d = Deferred.fromCoroutine(self.datagram(client).sendOnce(b"x"))
        self.assertIn(f"cannot send to {UDP!r}: no such file", self.message(d))
        self.assertTrue(client.stopped)

    def test_converseDatagramLines(self) -> None:
        """Each line is a datagram, and the last awaited reply ends it at once."""
        client, ended = FakeDatagramClient(), Signal()
        d = self.converse(self.datagram(client), ended)
        self.fed[0](b"a\nb\n")
        self.assertEqual(client.sent, [b"a\n", b"b\n"])
        ended.fire()
        client.reply(b"A\n")
        self.assertNoResult(d)
        client.reply(b"B\n")
        self.successResultOf(d)
        self.assertEqual(self.out.getvalue(), b"A\nB\n")

    def test_converseDatagramWaits(self) -> None:
        """Without every reply, the exchange ends C{wait} seconds after input."""
        client, ended = FakeDatagramClient(), Signal()
        d = self.converse(self.datagram(client), ended)
        self.fed[0](b"a\n")
        self.clock.advance(5)
        ended.fire()
        self.clock.advance(1.9)
        self.assertNoResult(d)
        self.clock.advance(0.1)
        self.successResultOf(d)
        self.assertTrue(client.stopped)

    def test_converseDatagramSplitLine(self) -> None:
        """A line read in two chunks is sent as one datagram."""
        client, ended = FakeDatagramClient(), Signal()
        self.converse(self.datagram(client), ended)
        self.fed[0](b"hel")
        self.fed[0](b"lo\n")
        ended.fire()
        self.clock.advance(2)
        self.assertEqual(client.sent, [b"hello\n"])

    def test_converseDatagramSendFails(self) -> None:
        """A send failing mid-exchange ends it with that error, not in the reader."""
        client, ended = FakeDatagramClient(), Signal()
        d = self.converse(self.datagram(client), ended)
        client.sendError = OSError(2, "No such file or directory")
        raised: list[ClientError] = []
        try:
            self.fed[0](b"a\n")
        except ClientError as e:
            raised.append(e)
        ended.fire()
        self.clock.advance(2)
        self.assertEqual(raised, [], "the error was raised into the input reader")
        self.assertIn(f"cannot send to {UDP!r}: no such file", self.message(d))

    def test_converseDatagramRefused(self) -> None:
        """A refusal ends the exchange with an error once the input ends."""
        client, ended = FakeDatagramClient(), Signal()
        d = self.converse(self.datagram(client), ended)
        self.fed[0](b"a\n")
        client.protocol.connectionRefused()
        ended.fire()
        self.assertIn("refused the datagrams", self.message(d))

    def test_sendOnceStream(self) -> None:
        """The message goes, the writing side closes, and replies until close print."""
        endpoint = FakeStreamEndpoint()
        d = Deferred.fromCoroutine(self.stream(endpoint).sendOnce(b"hi\n"))
        [transport] = endpoint.transports
        self.assertEqual((transport.value(), transport.writeClosed), (b"hi\n", True))
        transport.protocol.dataReceived(b"hi\n")
        self.assertNoResult(d)
        transport.loseConnection()
        self.successResultOf(d)
        self.assertEqual(self.out.getvalue(), b"hi\n")

    def test_sendOnceStreamTimesOut(self) -> None:
        """A server that never closes is disconnected after C{wait} seconds."""
        endpoint = FakeStreamEndpoint()
        d = Deferred.fromCoroutine(self.stream(endpoint).sendOnce(b"hi\n"))
        self.clock.advance(1.9)
        self.assertNoResult(d)
        self.clock.advance(0.1)
        self.successResultOf(d)
        self.assertFalse(endpoint.transports[0].connected)

    def test_sendOnceStreamTLSFailure(self) -> None:
        """
        A connection ended by a TLS error is an error naming the endpoint,
        in OpenSSL's words where there is nothing more to say.
        """
        endpoint = FakeStreamEndpoint()
        d = Deferred.fromCoroutine(self.stream(endpoint).sendOnce(b"hi\n"))
        tlsError = SSL.Error([("SSL routines", "", "certificate verify failed")])
        endpoint.transports[0].protocol.connectionLost(Failure(tlsError))
        self.assertEqual(
            self.message(d),
            "sockplug: connection to 'tcp:host=127.0.0.1:port=7' failed:"
            " [('SSL routines', '', 'certificate verify failed')]",
        )

    def tls(self, server: CertificateOptions) -> tuple[Session, FakeTLSEndpoint]:
        """
        A session of a C{tls:} client that trusts the test CA, connecting to
        a TLS server of C{server} in memory; and its endpoint.
        """
        endpoint = FakeTLSEndpoint(
            optionsForClientTLS("localhost", self.ca.trust()), server
        )
        description = "tls:localhost:4433:trustRoots=R"
        session = self.session(
            ClientEndpoint(description, TransportKind.STREAM, endpoint)
        )
        return session, endpoint

    def test_sendOnceCertificateExpired(self) -> None:
        """An expired certificate's refusal says so, naming the endpoint."""
        self.ca = Authority()
        end = datetime.now(timezone.utc) - timedelta(days=1)
        session, endpoint = self.tls(
            self.ca.issue(notBefore=end - timedelta(days=1), notAfter=end)
        )
        d = Deferred.fromCoroutine(session.sendOnce(b"hi\n"))
        endpoint.flush()
        self.assertEqual(
            self.message(d),
            "sockplug: connection to 'tls:localhost:4433:trustRoots=R' failed"
            " verification: the server's certificate has expired"
            f" (on {end:%Y-%m-%d %H:%M:%S} UTC)",
        )

    def test_keepsTLSConnection(self) -> None:
        """
        A stream client keeps its TLS connection, which Twisted lets go of
        when the connection ends, for the certificates the server sent.
        """
        self.ca = Authority()
        session, endpoint = self.tls(self.ca.issue(("other.example",)))
        d = Deferred.fromCoroutine(session.connectStream())
        protocol: Any = self.successResultOf(d)
        endpoint.flush()
        self.assertIsNone(protocol.transport.getHandle())
        self.assertIsInstance(protocol.tlsConnection, SSL.Connection)
        self.assertEqual(len(protocol.tlsConnection.get_peer_cert_chain()), 1)

    def test_converseWrongName(self) -> None:
        """A certificate for another name is refused, naming the names it has."""
        self.ca = Authority()
        session, endpoint = self.tls(self.ca.issue(("other.example",)))
        d = self.converse(session, Signal())
        endpoint.flush()
        self.assertEqual(
            self.message(d),
            "sockplug: connection to 'tls:localhost:4433:trustRoots=R' failed"
            " verification: the server's certificate is not for 'localhost'"
            " (it names: other.example)",
        )
        self.assertEqual(self.out.getvalue(), b"")

    def test_converseStream(self) -> None:
        """What is read is sent, and the end of input half-closes."""
        endpoint, ended = FakeStreamEndpoint(), Signal()
        d = self.converse(self.stream(endpoint), ended)
        self.fed[0](b"a\n")
        [transport] = endpoint.transports
        self.assertEqual(transport.value(), b"a\n")
        ended.fire()
        self.assertTrue(transport.writeClosed)
        transport.protocol.dataReceived(b"A\n")
        transport.loseConnection()
        self.successResultOf(d)
        self.assertEqual(self.out.getvalue(), b"A\n")

    def test_converseStreamServerCloses(self) -> None:
        """A server that closes ends the exchange before the input does."""
        endpoint = FakeStreamEndpoint()
        d = self.converse(self.stream(endpoint), Signal())
        endpoint.transports[0].loseConnection()
        self.successResultOf(d)

    def test_retries(self) -> None:
        """A refused connection is retried C{delay} seconds later, saying so."""
        endpoint = FakeStreamEndpoint(failures=2)
        d = Deferred.fromCoroutine(self.stream(endpoint, retries=3).connectStream())
        self.assertEqual((endpoint.attempts, len(self.said)), (1, 1))
        self.assertIn("retrying in 0.5 seconds (1 of 3)", self.said[0])
        self.clock.advance(0.4)
        self.assertEqual(endpoint.attempts, 1)
        self.clock.advance(0.1)
        self.clock.advance(0.5)
        self.assertIsInstance(self.successResultOf(d), StreamClient)
        self.assertEqual((endpoint.attempts, len(self.said)), (3, 2))

    def test_retriesExhausted(self) -> None:
        """After C{retries} retries the error names the endpoint and the reason."""
        endpoint = FakeStreamEndpoint(failures=10)
        d = Deferred.fromCoroutine(self.stream(endpoint, retries=2).connectStream())
        self.clock.pump([0.5, 0.5])
        self.assertEqual(
            self.message(d),
            "sockplug: cannot connect to 'tcp:host=127.0.0.1:port=7':"
            " connection refused (is the server running?)",
        )
        self.assertEqual((endpoint.attempts, len(self.said)), (3, 2))

    def test_noRetries(self) -> None:
        """Without retries a refused connection fails at once, silently."""
        d = Deferred.fromCoroutine(self.stream(FakeStreamEndpoint(1)).connectStream())
        self.assertIn("connection refused", self.message(d))
        self.assertEqual(self.said, [])


class ReasonTests(SynchronousTestCase):
    """
    Tests for L{_reason}: why a connection failed, in words.
    """

    def test_negativeCode(self) -> None:
        """
        A negative code (C{getaddrinfo}'s: a C{bindAddress=} that names no
        address), which C{strerror} calls "Unknown error -3", is shown by
        its message.
        """
        error = ConnectError(-3, "Temporary failure in name resolution")
        self.assertEqual(_reason(error), "temporary failure in name resolution")
