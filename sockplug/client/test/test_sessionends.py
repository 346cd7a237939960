"""
Tests for L{sockplug.client._session}: how a session ends early (cancelled,
by Ctrl-C or because its output has gone), and the one-way send
L{Session.sendOneWay}.
"""

from __future__ import annotations

import io
from typing import Any

from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionAborted, ConnectionLost
from twisted.internet.interfaces import IProtocol, IProtocolFactory
from twisted.internet.interfaces import IStreamClientEndpoint as IStreamEndpoint
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from sockplug.client._endpoints import ClientEndpoint
from sockplug.client._session import (
    ClientError,
    Output,
    Session,
    Signal,
)
from sockplug.plugin import TransportKind
from sockplug.testing._client import (
    UDP,
    FakeDatagramClient,
    FakeStreamEndpoint,
)

TCP = "tcp:host=127.0.0.1:port=7"


@implementer(IStreamEndpoint)
class PendingEndpoint:
    """An endpoint whose connection attempts never end."""

    def __init__(self) -> None:
        self.attempts: list[Deferred[IProtocol]] = []

    def connect(self, factory: IProtocolFactory) -> Deferred[IProtocol]:
        attempt: Deferred[IProtocol] = Deferred()
        self.attempts.append(attempt)
        return attempt


class TLSLikeTransport(StringTransport):
    """
    A transport that cannot half-close and, as TLS does, closes only when
    the server answers its close (never, here) or when aborted.
    """

    protocol: IProtocol
    aborted = False

    def abortConnection(self) -> None:
        self.aborted = True
        self.connected = False
        self.protocol.connectionLost(Failure(ConnectionAborted()))


@implementer(IStreamEndpoint)
class TLSLikeEndpoint:
    """Connects over a L{TLSLikeTransport}."""

    def connect(self, factory: IProtocolFactory) -> Deferred[IProtocol]:
        protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 7))
        assert protocol is not None
        self.transport = TLSLikeTransport()
        self.transport.protocol = protocol
        protocol.makeConnection(self.transport)
        return defer.succeed(protocol)


class _SessionCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.out = io.BytesIO()
        self.said: list[str] = []
        self.fed: list[Any] = []

    def stream(self, endpoint: object, retries: int = 0) -> Session:
        return Session(
            self.clock,
            ClientEndpoint(TCP, TransportKind.STREAM, endpoint),  # type: ignore[arg-type]
            Output(self.out),
            2.0,
            retries,
            0.5,
            self.said.append,
        )

    def datagram(self, client: FakeDatagramClient) -> Session:
        return Session(
            self.clock,
            ClientEndpoint(UDP, TransportKind.DATAGRAM, datagram=client),
            Output(self.out),
        )


class CancelTests(_SessionCase):
    """
    A cancelled session (Ctrl-C, its output gone) closes what it opened and
    ends with L{defer.CancelledError}, saying nothing.
    """

    def test_converseStream(self) -> None:
        """A conversation cancelled while input comes closes its connection."""
        endpoint = FakeStreamEndpoint()
        d = Deferred.fromCoroutine(
            self.stream(endpoint).converse(Signal(), self.fed.append)
        )
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        self.assertFalse(endpoint.transports[0].connected)
        self.assertEqual(self.said, [])

    def test_converseStreamAfterInput(self) -> None:
        """A conversation cancelled while replies come closes its connection."""
        endpoint, ended = FakeStreamEndpoint(), Signal()
        d = Deferred.fromCoroutine(
            self.stream(endpoint).converse(ended, self.fed.append)
        )
        ended.fire()
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        self.assertFalse(endpoint.transports[0].connected)

    def test_sendOnce(self) -> None:
        """A send cancelled while its replies come closes its connection."""
        endpoint = FakeStreamEndpoint()
        d = Deferred.fromCoroutine(self.stream(endpoint).sendOnce(b"hi\n"))
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        self.assertFalse(endpoint.transports[0].connected)

    def test_connecting(self) -> None:
        """A connection attempt cancelled is neither retried nor an error."""
        endpoint = PendingEndpoint()
        d = Deferred.fromCoroutine(self.stream(endpoint, retries=3).connectStream())
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        self.clock.advance(10)
        self.assertEqual((len(endpoint.attempts), self.said), (1, []))

    def test_retryDelay(self) -> None:
        """A session cancelled between retries tries no more."""
        endpoint = FakeStreamEndpoint(failures=10)
        d = Deferred.fromCoroutine(self.stream(endpoint, retries=3).connectStream())
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        self.clock.advance(10)
        self.assertEqual(endpoint.attempts, 1)

    def test_converseDatagram(self) -> None:
        """A datagram conversation cancelled stops its client."""
        client = FakeDatagramClient()
        d = Deferred.fromCoroutine(
            self.datagram(client).converse(Signal(), self.fed.append)
        )
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        self.assertTrue(client.stopped)

    def test_sendOnceDatagram(self) -> None:
        """A datagram send cancelled while awaiting its reply stops its client."""
        client = FakeDatagramClient()
        d = Deferred.fromCoroutine(self.datagram(client).sendOnce(b"hi\n"))
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        self.assertTrue(client.stopped)


class UnansweredCloseTests(_SessionCase):
    """A close the server never answers (TLS) does not hold the client."""

    def test_sendOnce(self) -> None:
        """
        A send over TLS is closed after C{wait} seconds without the server's
        close, and aborted after C{wait} seconds more without its answer.
        """
        endpoint = TLSLikeEndpoint()
        d = Deferred.fromCoroutine(self.stream(endpoint).sendOnce(b"hi\n"))
        self.clock.advance(2)
        self.assertEqual(
            (endpoint.transport.disconnecting, endpoint.transport.aborted),
            (True, False),
        )
        self.clock.advance(1.9)
        self.assertNoResult(d)
        self.clock.advance(0.1)
        self.successResultOf(d)
        self.assertTrue(endpoint.transport.aborted)


class SendOneWayTests(_SessionCase):
    """
    L{Session.sendOneWay} succeeds once the message is delivered, without waiting
    for a reply or printing one.
    """

    def test_streamServerCloses(self) -> None:
        """Over a stream: written, half-closed, done when the server closes."""
        endpoint = FakeStreamEndpoint()
        d = Deferred.fromCoroutine(self.stream(endpoint).sendOneWay(b"hi\n"))
        [transport] = endpoint.transports
        self.assertEqual((transport.value(), transport.writeClosed), (b"hi\n", True))
        self.assertNoResult(d)
        transport.loseConnection()
        self.successResultOf(d)

    def test_streamRepliesNotPrinted(self) -> None:
        """What the server sends back is not printed."""
        endpoint = FakeStreamEndpoint()
        d = Deferred.fromCoroutine(self.stream(endpoint).sendOneWay(b"hi\n"))
        endpoint.transports[0].protocol.dataReceived(b"Hello!\n")
        endpoint.transports[0].loseConnection()
        self.successResultOf(d)
        self.assertEqual(self.out.getvalue(), b"")

    def test_streamServerKeepsOpen(self) -> None:
        """A server that does not close within C{wait} is closed, and that is
        delivery."""
        endpoint = FakeStreamEndpoint()
        d = Deferred.fromCoroutine(self.stream(endpoint).sendOneWay(b"hi\n"))
        self.clock.advance(1.9)
        self.assertNoResult(d)
        self.clock.advance(0.1)
        self.successResultOf(d)
        self.assertFalse(endpoint.transports[0].connected)

    def test_streamReset(self) -> None:
        """A connection the server resets is an error naming the endpoint."""
        endpoint = FakeStreamEndpoint()
        d = Deferred.fromCoroutine(self.stream(endpoint).sendOneWay(b"hi\n"))
        endpoint.transports[0].protocol.connectionLost(Failure(ConnectionLost()))
        message = str(self.failureResultOf(d, ClientError).value.message)
        self.assertTrue(message.startswith(f"sockplug: connection to '{TCP}' failed"))

    def test_streamRefused(self) -> None:
        """A refused connection is an error, as for any send."""
        d = Deferred.fromCoroutine(
            self.stream(FakeStreamEndpoint(failures=1)).sendOneWay(b"hi\n")
        )
        self.assertIn("connection refused", self.failureResultOf(d).getErrorMessage())

    def test_noHalfClose(self) -> None:
        """Where there is no half-close (TLS), the connection is closed at once."""
        endpoint = TLSLikeEndpoint()
        d = Deferred.fromCoroutine(self.stream(endpoint).sendOneWay(b"hi\n"))
        transport = endpoint.transport
        self.assertEqual((transport.value(), transport.disconnecting), (b"hi\n", True))
        self.assertNoResult(d)

    def test_closeNotAnswered(self) -> None:
        """A TLS close the server does not answer within C{wait} is aborted,
        and the message counts as delivered."""
        endpoint = TLSLikeEndpoint()
        d = Deferred.fromCoroutine(self.stream(endpoint).sendOneWay(b"hi\n"))
        self.clock.advance(2)
        self.successResultOf(d)
        self.assertTrue(endpoint.transport.aborted)

    def test_datagramSent(self) -> None:
        """Over datagrams: done once sent, with no reply awaited."""
        client = FakeDatagramClient()
        d = Deferred.fromCoroutine(self.datagram(client).sendOneWay(b"hi\n"))
        self.successResultOf(d)
        self.assertEqual((client.sent, client.stopped), ([b"hi\n"], True))

    def test_datagramNotSent(self) -> None:
        """A datagram that cannot go is an error naming the endpoint and why."""
        client = FakeDatagramClient()
        client.sendError = OSError(2, "No such file or directory")
        d = Deferred.fromCoroutine(self.datagram(client).sendOneWay(b"hi\n"))
        self.assertEqual(
            self.failureResultOf(d, ClientError).value.message,
            f"sockplug: cannot send to '{UDP}': no such file or directory",
        )
        self.assertTrue(client.stopped)

    def test_datagramCannotOpen(self) -> None:
        """A datagram socket that cannot be opened is an error."""
        client = FakeDatagramClient(OSError(13, "Permission denied"))
        d = Deferred.fromCoroutine(self.datagram(client).sendOneWay(b"hi\n"))
        self.assertEqual(
            self.failureResultOf(d, ClientError).value.message,
            f"sockplug: cannot open '{UDP}': permission denied",
        )
