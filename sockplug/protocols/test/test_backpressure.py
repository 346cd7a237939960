"""
Tests for the backpressure of L{sockplug.protocols.base.CountingProtocol}
(a connection stops being read while too much waits to be sent to its
peer), and for the line bound of the line protocols, both taken from
L{ListenerInfo.limits}.
"""

from __future__ import annotations

import io
from typing import Any

from twisted.internet.abstract import FileDescriptor
from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.testing import (
    EventLoggingObserver,
    MemoryReactorClock,
    StringTransport,
    StringTransportWithDisconnection,
)
from twisted.logger import formatEvent, globalLogPublisher
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import directlyProvides

from sockplug.compat import queuedBytes
from sockplug.options._limits import ListenerLimits
from sockplug.plugin import ListenerInfo, TransportKind
from sockplug.protocols import echo, hello, lineprint
from sockplug.protocols.base import CountingProtocol
from sockplug.protocols.lines import LINE_BATCH

_PEER = IPv4Address("TCP", "127.0.0.1", 53422)


def _info(
    clock: MemoryReactorClock, protocolName: str = "echo", **limits: Any
) -> ListenerInfo:
    return ListenerInfo(
        "tcp:8888",
        TransportKind.STREAM,
        protocolName,
        clock,
        ListenerLimits(**limits),
    )


def _connect(
    factory: Any, transport: Any, peer: IPv4Address = _PEER
) -> CountingProtocol:
    """
    Build a protocol of C{factory} and connect it to C{transport}.
    """
    protocol = factory.buildProtocol(peer)
    assert isinstance(protocol, CountingProtocol)
    if isinstance(transport, StringTransportWithDisconnection):
        transport.protocol = protocol
    protocol.makeConnection(transport)
    return protocol


class _SocketLikeTransport(StringTransport):
    """
    A L{StringTransport} with the send-buffer bound of Twisted's socket
    transports, and a record of the calls that matter here, in order.
    """

    bufferSize = 1

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(peerAddress=_PEER, **kwargs)
        self.calls: list[str] = []

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.calls.append("registerProducer")
        super().registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        self.calls.append("unregisterProducer")
        super().unregisterProducer()

    def loseConnection(self) -> None:
        self.calls.append("loseConnection")
        super().loseConnection()

    def abortConnection(self) -> None:
        self.calls.append("abortConnection")
        self.disconnected = True
        super().loseConnection()


class _TLSTransport(_SocketLikeTransport):
    """
    A transport that says it is TLS (as Twisted's TLS layer does).
    """

    def __init__(self) -> None:
        super().__init__()
        directlyProvides(self, ISSLTransport)


class _Socket(FileDescriptor):
    """
    A connected socket in memory, with Twisted's own send buffer and
    producer handling (L{FileDescriptor}): the peer's bytes wait in
    C{incoming} until the reactor reads them, and what is written waits in
    the send buffer until the peer makes C{room} for it by reading.
    """

    def __init__(self, reactor: MemoryReactorClock, protocol: Any) -> None:
        super().__init__(reactor)
        self.protocol = protocol
        self.connected = 1
        self.incoming: list[bytes] = []
        self.room = 0
        self.peerRead = 0

    def getPeer(self) -> IPv4Address:
        return _PEER

    def getHost(self) -> IPv4Address:
        return IPv4Address("TCP", "127.0.0.1", 8888)

    def doRead(self) -> None:
        if self.incoming:
            self.protocol.dataReceived(self.incoming.pop(0))

    def writeSomeData(self, data: bytes) -> int:
        sent = min(len(data), self.room)
        self.room -= sent
        self.peerRead += sent
        return sent

    def queued(self) -> int:
        """
        The bytes waiting in the send buffer.
        """
        return queuedBytes(self)


class BackpressureTests(SynchronousTestCase):
    """
    Tests for L{CountingProtocol} as its transport's producer.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()

    def connectEcho(self, transport: Any, **limits: Any) -> CountingProtocol:
        return _connect(echo.buildStreamFactory(_info(self.clock, **limits)), transport)

    def test_registersAsStreamingProducer(self) -> None:
        """
        On connecting, the protocol registers itself as its transport's
        streaming (push) producer.
        """
        transport = StringTransport(peerAddress=_PEER)
        protocol = self.connectEcho(transport)
        self.assertIs(transport.producer, protocol)
        self.assertIs(transport.streaming, True)

    def test_bufferSizeFromSendBuffer(self) -> None:
        """
        The transport's send-buffer bound becomes the listener's
        C{sendbuffer=}.
        """
        transport = _SocketLikeTransport()
        self.connectEcho(transport, sendBuffer=4096)
        self.assertEqual(transport.bufferSize, 4096)

    def test_bufferSizeDefault(self) -> None:
        """
        Without C{sendbuffer=}, the bound is 65536 bytes.
        """
        transport = _SocketLikeTransport()
        self.connectEcho(transport)
        self.assertEqual(transport.bufferSize, 65536)

    def test_noBufferSizeAttribute(self) -> None:
        """
        A transport without a send-buffer bound is not given one, and the
        protocol still registers.
        """
        transport = StringTransport(peerAddress=_PEER)
        protocol = self.connectEcho(transport, sendBuffer=4096)
        self.assertFalse(hasattr(transport, "bufferSize"))
        self.assertIs(transport.producer, protocol)

    def test_bufferSizeThroughWrapper(self) -> None:
        """
        Under a wrapping transport (Twisted's TLS layer and the PROXY
        header reader are both L{ProtocolWrapper}s, which pass unknown
        attributes on to the transport below), C{sendbuffer=} reaches the
        socket's transport, whose send buffer it is meant to bound.
        """
        socket = _SocketLikeTransport()
        factory = echo.buildStreamFactory(_info(self.clock, sendBuffer=4096))
        protocol = factory.buildProtocol(_PEER)
        assert protocol is not None
        wrapper = ProtocolWrapper(WrappingFactory(factory), protocol)
        wrapper.makeConnection(socket)
        self.assertEqual(socket.bufferSize, 4096)

    def test_pauseReachesTransport(self) -> None:
        """
        When the transport pauses the protocol (its send buffer is full),
        the protocol pauses the transport's reading.
        """
        transport = StringTransport(peerAddress=_PEER)
        protocol = self.connectEcho(transport)
        protocol.pauseProducing()
        self.assertEqual(transport.producerState, "paused")

    def test_resumeReachesTransport(self) -> None:
        """
        When the transport resumes the protocol, reading resumes.
        """
        transport = StringTransport(peerAddress=_PEER)
        protocol = self.connectEcho(transport)
        protocol.pauseProducing()
        protocol.resumeProducing()
        self.assertEqual(transport.producerState, "producing")

    def test_noBackpressure(self) -> None:
        """
        With C{backpressure=no}, no producer is registered.
        """
        transport = StringTransport(peerAddress=_PEER)
        self.connectEcho(transport, backpressure=False)
        self.assertIsNone(transport.producer)

    def test_noBackpressureBufferSizeKept(self) -> None:
        """
        With C{backpressure=no}, the transport's send-buffer bound is left
        alone.
        """
        transport = _SocketLikeTransport()
        self.connectEcho(transport, backpressure=False, sendBuffer=4096)
        self.assertEqual(transport.bufferSize, 1)

    def test_lineProtocolRegisters(self) -> None:
        """
        A line protocol (hello) registers as producer too.
        """
        transport = StringTransport(peerAddress=_PEER)
        protocol = _connect(
            hello.buildStreamFactory(_info(self.clock, "hello")), transport
        )
        self.assertIs(transport.producer, protocol)

    def test_tlsNotAtConnect(self) -> None:
        """
        Under TLS, nothing is registered before the handshake is done.
        """
        transport = _TLSTransport()
        self.connectEcho(transport)
        self.assertIsNone(transport.producer)

    def test_tlsAtHandshake(self) -> None:
        """
        Under TLS, the protocol registers once the handshake is done, with
        the send-buffer bound.
        """
        transport = _TLSTransport()
        protocol = self.connectEcho(transport, sendBuffer=4096)
        protocol.handshakeCompleted()
        self.assertIs(transport.producer, protocol)
        self.assertEqual(transport.bufferSize, 4096)

    def test_tlsNoBackpressure(self) -> None:
        """
        Under TLS with C{backpressure=no}, nothing is registered at the
        handshake either.
        """
        transport = _TLSTransport()
        protocol = self.connectEcho(transport, backpressure=False)
        protocol.handshakeCompleted()
        self.assertIsNone(transport.producer)

    def test_registersOnce(self) -> None:
        """
        A handshake reported on a connection already producing registers
        nothing more.
        """
        transport = _SocketLikeTransport()
        protocol = self.connectEcho(transport)
        protocol.handshakeCompleted()
        self.assertEqual(transport.calls, ["registerProducer"])

    def test_tlsClosedBeforeHandshake(self) -> None:
        """
        A connection asked to close before its TLS handshake is done does
        not register a producer when the handshake completes: a registered
        producer keeps Twisted's TLS layer from ever shutting down.
        """
        transport = _TLSTransport()
        protocol = self.connectEcho(transport)
        protocol.closeGently()
        protocol.handshakeCompleted()
        self.assertIsNone(transport.producer)

    def test_closeGentlyUnregistersFirst(self) -> None:
        """
        Closing gently unregisters the producer, then closes: a paused
        producer would keep the connection open.
        """
        transport = _SocketLikeTransport()
        protocol = self.connectEcho(transport)
        protocol.closeGently()
        self.assertEqual(
            transport.calls,
            ["registerProducer", "unregisterProducer", "loseConnection"],
        )

    def test_abortUnregistersFirst(self) -> None:
        """
        Aborting unregisters the producer, then aborts.
        """
        transport = _SocketLikeTransport()
        protocol = self.connectEcho(transport)
        protocol.abort()
        self.assertEqual(
            transport.calls,
            ["registerProducer", "unregisterProducer", "abortConnection"],
        )

    def test_halfCloseUnregistersFirst(self) -> None:
        """
        The peer's half-close unregisters the producer, then closes.
        """
        transport = _SocketLikeTransport()
        protocol = self.connectEcho(transport)
        protocol.readConnectionLost()
        self.assertEqual(transport.calls[1:], ["unregisterProducer", "loseConnection"])

    def test_closeTwice(self) -> None:
        """
        Closing twice unregisters once.
        """
        transport = _SocketLikeTransport()
        protocol = self.connectEcho(transport)
        protocol.closeGently()
        protocol.abort()
        self.assertEqual(transport.calls.count("unregisterProducer"), 1)

    def test_closeWithoutBackpressure(self) -> None:
        """
        With C{backpressure=no}, closing unregisters nothing.
        """
        transport = _SocketLikeTransport()
        protocol = self.connectEcho(transport, backpressure=False)
        protocol.closeGently()
        self.assertEqual(transport.calls, ["loseConnection"])

    def test_closeAfterStopProducing(self) -> None:
        """
        Once the transport has stopped the producer (as it does when the
        connection is lost), closing unregisters nothing.
        """
        transport = _SocketLikeTransport()
        protocol = self.connectEcho(transport)
        protocol.stopProducing()
        protocol.abort()
        self.assertEqual(transport.calls, ["registerProducer", "abortConnection"])

    def test_closeAfterConnectionLost(self) -> None:
        """
        After the connection is lost, closing unregisters nothing.
        """
        transport = StringTransportWithDisconnection(peerAddress=_PEER)
        protocol = self.connectEcho(transport)
        transport.loseConnection()
        protocol.abort()
        self.assertIsNotNone(transport.producer)


class SlowReaderTests(SynchronousTestCase):
    """
    Echo on a socket-like transport with Twisted's own send buffer, to a
    peer that sends much and reads nothing.
    """

    CHUNK = 4096
    SENT = 100

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()

    def connect(self, **limits: Any) -> tuple[CountingProtocol, _Socket]:
        factory = echo.buildStreamFactory(_info(self.reactor, **limits))
        protocol = factory.buildProtocol(_PEER)
        assert isinstance(protocol, CountingProtocol)
        socket = _Socket(self.reactor, protocol)
        socket.incoming = [b"x" * self.CHUNK for _ in range(self.SENT)]
        socket.startReading()
        protocol.makeConnection(socket)
        return protocol, socket

    def turns(self, count: int) -> None:
        """
        Run C{count} reactor turns: each reads what may be read, and writes
        what may be written.
        """
        for _ in range(count):
            for reader in list(self.reactor.readers):
                reader.doRead()
            for writer in list(self.reactor.writers):
                writer.doWrite()

    def test_stopsReading(self) -> None:
        """
        Once more than C{sendbuffer} bytes wait for the peer, echo reads no
        more from it.
        """
        protocol, socket = self.connect(sendBuffer=16384)
        self.turns(self.SENT)
        self.assertNotIn(socket, self.reactor.readers)
        self.assertLessEqual(protocol.bytesIn, 16384 + self.CHUNK)
        self.assertLessEqual(socket.queued(), 16384 + self.CHUNK)
        self.assertNotEqual(socket.incoming, [])

    def test_staysStopped(self) -> None:
        """
        While the peer reads nothing, reading stays stopped.
        """
        protocol, _ = self.connect(sendBuffer=16384)
        self.turns(10)
        stoppedAt = protocol.bytesIn
        self.turns(self.SENT)
        self.assertEqual(protocol.bytesIn, stoppedAt)

    def test_resumesWhenPeerReads(self) -> None:
        """
        When the peer reads what waits for it, echo reads again.
        """
        protocol, socket = self.connect(sendBuffer=16384)
        self.turns(10)
        stoppedAt = protocol.bytesIn
        socket.room = stoppedAt
        self.turns(2)
        self.assertIn(socket, self.reactor.readers)
        self.assertGreater(protocol.bytesIn, stoppedAt)

    def test_everythingEchoedAsPeerReads(self) -> None:
        """
        A peer that reads as it goes gets every byte back.
        """
        _, socket = self.connect(sendBuffer=16384)
        for _ in range(4 * self.SENT):
            socket.room = 16384
            self.turns(1)
            if socket.peerRead == self.SENT * self.CHUNK:
                break
        self.assertEqual(socket.peerRead, self.SENT * self.CHUNK)

    def test_withoutBackpressureReadsOn(self) -> None:
        """
        With C{backpressure=no}, echo reads everything, and the bytes the
        peer does not read pile up.
        """
        protocol, socket = self.connect(sendBuffer=16384, backpressure=False)
        self.turns(self.SENT)
        self.assertEqual(protocol.bytesIn, self.SENT * self.CHUNK)
        self.assertEqual(socket.queued(), self.SENT * self.CHUNK)


class HelloBatchTests(SynchronousTestCase):
    """
    hello on a socket-like transport with Twisted's own send buffer: a
    read of many short lines, each answered with a longer line, queues no
    more than the bound and a batch, however many lines it holds.
    """

    LINES = 65536  # one 64 KiB read of empty lines: 1.1 MiB of answers
    ANSWER = len(b"Hello, stranger!\n")
    protocol: CountingProtocol
    socket: _Socket

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        factory = hello.buildStreamFactory(
            _info(self.reactor, "hello", sendBuffer=16384)
        )
        protocol = factory.buildProtocol(_PEER)
        assert isinstance(protocol, CountingProtocol)
        self.protocol = protocol
        self.socket = _Socket(self.reactor, protocol)
        self.socket.incoming = [b"\n" * self.LINES]
        self.socket.startReading()
        protocol.makeConnection(self.socket)

    def turns(self, count: int, room: int = 0) -> None:
        for _ in range(count):
            self.socket.room += room
            for reader in list(self.reactor.readers):
                reader.doRead()
            for writer in list(self.reactor.writers):
                writer.doWrite()

    def test_queueBounded(self) -> None:
        """
        While the peer reads nothing, what waits for it stays within the
        bound and one batch of answers.
        """
        self.turns(5)
        self.assertLessEqual(self.socket.queued(), 16384 + LINE_BATCH * self.ANSWER)

    def test_allAnsweredAsPeerReads(self) -> None:
        """
        As the peer reads, the held-back lines are answered, every one, in
        order after the greeting.
        """
        greeting = self.protocol.bytesOut
        for _ in range(10_000):
            self.turns(1, room=16384)
            if self.socket.peerRead == greeting + self.LINES * self.ANSWER:
                break
        self.assertEqual(self.socket.peerRead, greeting + self.LINES * self.ANSWER)


class ClosingWhilePausedTests(SynchronousTestCase):
    """
    A socket that starts closing while the protocol is paused.
    """

    def test_resumeUnregisters(self) -> None:
        """
        Resumed when its socket is already closing (as Twisted's TLS layer
        closes it on a close_notify), the protocol unregisters itself, so
        that the close can finish, instead of reading again.
        """
        reactor = MemoryReactorClock()
        factory = echo.buildStreamFactory(_info(reactor))
        protocol = factory.buildProtocol(_PEER)
        assert isinstance(protocol, CountingProtocol)
        socket = _Socket(reactor, protocol)
        protocol.makeConnection(socket)
        protocol.pauseProducing()
        socket.disconnecting = True
        protocol.resumeProducing()
        self.assertEqual((socket.producer, protocol.paused), (None, True))


class MaxLineTests(SynchronousTestCase):
    """
    Tests for C{maxline=} (L{ListenerLimits.maxLine}) in hello and
    line-print.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.events = EventLoggingObserver.createWithCleanup(
            self,  # type: ignore[arg-type]
            globalLogPublisher,
        )

    def connectHello(self) -> tuple[Any, StringTransportWithDisconnection]:
        transport = StringTransportWithDisconnection(peerAddress=_PEER)
        protocol = _connect(
            hello.buildStreamFactory(_info(self.clock, "hello", maxLine=10)), transport
        )
        transport.clear()
        return protocol, transport

    def connectLinePrint(
        self,
    ) -> tuple[Any, StringTransportWithDisconnection, io.BytesIO]:
        output = io.BytesIO()
        transport = StringTransportWithDisconnection(peerAddress=_PEER)
        factory = lineprint.buildStreamFactory(
            _info(self.clock, "line-print", maxLine=10),
            printer=lineprint.LinePrinter(output),
        )
        return _connect(factory, transport), transport, output

    def test_lineLength(self) -> None:
        """
        A line protocol's longest line is the listener's C{maxline=}.
        """
        protocol, _ = self.connectHello()
        self.assertEqual(protocol.maxLineLength, 10)

    def test_helloLongestLine(self) -> None:
        """
        Hello answers a line of exactly C{maxline=} bytes.
        """
        protocol, transport = self.connectHello()
        protocol.dataReceived(b"x" * 10 + b"\n")
        self.assertEqual(transport.value(), b"Hello, " + b"x" * 10 + b"!\n")
        self.assertTrue(transport.connected)

    def test_helloTooLong(self) -> None:
        """
        Hello closes a connection whose line is longer than C{maxline=},
        without answering it.
        """
        protocol, transport = self.connectHello()
        protocol.dataReceived(b"x" * 11 + b"\n")
        self.assertEqual(transport.value(), b"")
        self.assertFalse(transport.connected)

    def test_helloTooLongUnterminated(self) -> None:
        """
        A line past C{maxline=} closes the connection before its end
        arrives.
        """
        protocol, transport = self.connectHello()
        protocol.dataReceived(b"x" * 11)
        self.assertFalse(transport.connected)

    def test_helloLinesBeforeAnswered(self) -> None:
        """
        The lines before the long one are answered, the rest are not.
        """
        protocol, transport = self.connectHello()
        protocol.dataReceived(b"ann\n" + b"x" * 11 + b"\nbob\n")
        self.assertEqual(transport.value(), b"Hello, ann!\n")

    def test_tooLongLogged(self) -> None:
        """
        A line too long is logged with the listener, the peer and the
        bound.
        """
        protocol, _ = self.connectHello()
        protocol.dataReceived(b"x" * 11 + b"\n")
        self.assertIn(
            "tcp:8888 127.0.0.1:53422 sent a line longer than 10 bytes;"
            " closing the connection",
            [formatEvent(event) for event in self.events],
        )

    def test_linePrintLongestLine(self) -> None:
        """
        Line-print prints a line of exactly C{maxline=} bytes.
        """
        protocol, _, output = self.connectLinePrint()
        protocol.dataReceived(b"y" * 10 + b"\n")
        self.assertEqual(output.getvalue(), b"tcp:8888 127.0.0.1:53422: yyyyyyyyyy\n")

    def test_linePrintTooLong(self) -> None:
        """
        Line-print closes a connection whose line is longer than
        C{maxline=}, and prints nothing of it, even on disconnecting.
        """
        protocol, transport, output = self.connectLinePrint()
        protocol.dataReceived(b"y" * 11)
        self.assertFalse(transport.connected)
        self.assertEqual(output.getvalue(), b"")

    def test_defaultBound(self) -> None:
        """
        Without C{maxline=}, a line of 65536 bytes is taken.
        """
        transport = StringTransportWithDisconnection(peerAddress=_PEER)
        protocol = _connect(
            hello.buildStreamFactory(_info(self.clock, "hello")), transport
        )
        protocol.dataReceived(b"z" * 65536 + b"\n")
        self.assertTrue(transport.connected)
