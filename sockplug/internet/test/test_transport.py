"""
Tests for L{sockplug.internet._transport}: a write sends at once, and Twisted's
guarantees (ordering, producers, closing, errors) hold.

The transports run on one end of a UNIX socket pair, with a reactor that
only records which descriptors it is asked to watch: no network, no real
reactor.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from twisted.internet import main
from twisted.internet.interfaces import (
    IFileDescriptorReceiver,
    IPushProducer,
    IReactorFDSet,
)
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactor
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from sockplug.compat import pollerOf
from sockplug.internet._ports import TCPPort, UNIXPort, watchesDescriptors
from sockplug.internet._reactor import SockplugReactor
from sockplug.internet._transport import TCPServer, UNIXServer


@implementer(IReactorFDSet)
class DescriptorReactor(Clock):
    """
    A reactor that records the descriptors it is asked to watch.
    """

    def __init__(self) -> None:
        super().__init__()
        self.readers: set[Any] = set()
        self.writers: set[Any] = set()

    def addReader(self, reader: Any) -> None:
        self.readers.add(reader)

    def addWriter(self, writer: Any) -> None:
        self.writers.add(writer)

    def removeReader(self, reader: Any) -> None:
        self.readers.discard(reader)

    def removeWriter(self, writer: Any) -> None:
        self.writers.discard(writer)

    def removeAll(self) -> list[Any]:
        gone = list(self.readers | self.writers)
        self.readers.clear()
        self.writers.clear()
        return gone

    def getReaders(self) -> list[Any]:
        return list(self.readers)

    def getWriters(self) -> list[Any]:
        return list(self.writers)


class Recorder(Protocol):
    """
    Records what happens to its connection.
    """

    def __init__(self) -> None:
        self.lost: list[Any] = []
        self.received: list[bytes] = []

    def dataReceived(self, data: bytes) -> None:
        self.received.append(data)

    def connectionLost(self, reason: Any = None) -> None:
        self.lost.append(reason)


@implementer(IPushProducer)
class Producer:
    """
    A streaming producer that records being paused and resumed.
    """

    def __init__(self) -> None:
        self.events: list[str] = []

    def pauseProducing(self) -> None:
        self.events.append("pause")

    def resumeProducing(self) -> None:
        self.events.append("resume")

    def stopProducing(self) -> None:
        self.events.append("stop")


class ImmediateWriteTests(SynchronousTestCase):
    """
    Writes of L{TCPServer} (the same mixin as L{UNIXServer}), on a socket
    pair.
    """

    transportType: type[Any] = TCPServer

    def setUp(self) -> None:
        ours, self.peer = socket.socketpair()
        self.addCleanup(self.peer.close)
        self.addCleanup(ours.close)
        self.peer.setblocking(False)
        self.reactor = DescriptorReactor()
        self.protocol = Recorder()
        self.transport = self.transportType(
            ours, self.protocol, ("127.0.0.1", 1234), None, 1, self.reactor
        )
        self.protocol.makeConnection(self.transport)

    def received(self) -> bytes:
        """
        Everything the peer can read now.
        """
        chunks = []
        while True:
            try:
                chunk = self.peer.recv(1 << 20)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def drain(self, limit: int = 10_000) -> bytes:
        """
        Let the transport send what it queued, as the reactor would while
        the peer reads; bounded.
        """
        got = []
        for _ in range(limit):
            got.append(self.received())
            if self.transport not in self.reactor.writers:
                break
            self.transport.doWrite()
        got.append(self.received())
        return b"".join(got)

    def fill(self) -> bytes:
        """
        Write until the socket takes no more at once; return what was
        written.
        """
        self.transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        big = bytes(range(256)) * 4096  # 1 MiB, more than any socket buffer
        self.transport.write(big)
        return big

    def test_sentAtOnce(self) -> None:
        """
        A write with nothing queued reaches the peer at once, without the
        reactor watching the socket for writing.
        """
        self.transport.write(b"hello")
        self.assertEqual(self.received(), b"hello")
        self.assertNotIn(self.transport, self.reactor.writers)

    def test_partialSendQueuesTheRest(self) -> None:
        """
        What the socket does not take is queued, the reactor watches for
        writing, and all of it arrives in order.
        """
        big = self.fill()
        self.assertIn(self.transport, self.reactor.writers)
        self.assertEqual(self.drain(), big)
        self.assertNotIn(self.transport, self.reactor.writers)

    def test_orderKeptBehindQueue(self) -> None:
        """
        A small write after a partial send waits behind the queue, rather
        than overtaking it.
        """
        big = self.fill()
        self.transport.write(b"after")
        self.assertEqual(self.drain(), big + b"after")

    def test_sequenceSentAtOnce(self) -> None:
        """
        C{writeSequence} with nothing queued sends its chunks at once, in
        order.
        """
        self.transport.writeSequence([b"one ", b"two ", b"three"])
        self.assertEqual(self.received(), b"one two three")
        self.assertNotIn(self.transport, self.reactor.writers)

    def test_sequenceBehindQueue(self) -> None:
        """
        C{writeSequence} after a partial send queues behind it.
        """
        big = self.fill()
        self.transport.writeSequence([b"x", b"y"])
        self.assertEqual(self.drain(), big + b"xy")

    def test_notBytes(self) -> None:
        """
        Anything but bytes is refused with Twisted's C{TypeError}, and
        nothing is sent.
        """
        self.assertRaises(TypeError, self.transport.write, "text")
        self.assertRaises(TypeError, self.transport.writeSequence, [b"a", "b"])
        self.assertEqual(self.received(), b"")

    def test_emptyWrite(self) -> None:
        """
        An empty write sends nothing and watches nothing.
        """
        self.transport.write(b"")
        self.assertEqual(self.received(), b"")
        self.assertNotIn(self.transport, self.reactor.writers)

    def test_producerPausedAndResumed(self) -> None:
        """
        A streaming producer is paused when a partial send leaves more than
        C{bufferSize} queued, and resumed when the queue drains.
        """
        producer = Producer()
        self.transport.bufferSize = 1024
        self.transport.registerProducer(producer, True)
        self.transport.write(b"small")
        self.assertEqual(producer.events, [])
        big = self.fill()
        self.assertEqual(producer.events, ["pause"])
        self.assertEqual(self.drain(), b"small" + big)
        self.assertEqual(producer.events, ["pause", "resume"])

    def test_writeAfterLoseConnection(self) -> None:
        """
        A write after C{loseConnection} is queued the Twisted way and sent
        before the connection closes.
        """
        self.transport.loseConnection()
        self.transport.write(b"last words")
        self.assertEqual(self.received(), b"")
        self.assertIs(self.transport.doWrite(), main.CONNECTION_DONE)
        self.assertEqual(self.received(), b"last words")

    def test_writeAfterHalfClose(self) -> None:
        """
        A write after C{loseWriteConnection} is dropped, as Twisted drops
        it, once the half-close is done.
        """
        self.transport.loseWriteConnection()
        self.transport.doWrite()
        self.transport.write(b"too late")
        self.assertEqual(self.received(), b"")
        self.assertNotIn(self.transport, self.reactor.writers)

    def test_writeAfterConnectionLost(self) -> None:
        """
        A write on a closed transport is dropped.
        """
        self.transport.connectionLost(Failure(main.CONNECTION_DONE))
        self.transport.write(b"nobody")
        self.assertEqual(self.received(), b"")

    def test_brokenConnection(self) -> None:
        """
        A send that fails (the peer is gone) does not raise from C{write}:
        the data is queued, and Twisted's own send reports the lost
        connection from the reactor.
        """
        self.peer.close()
        self.transport.write(b"into the void")
        self.assertIn(self.transport, self.reactor.writers)
        self.assertIs(self.transport.doWrite(), main.CONNECTION_LOST)

    def test_tlsInPlace(self) -> None:
        """
        Once TLS has started in place, writes go to the TLS layer (the
        protocol Twisted put in front), not to the socket.
        """
        written: list[bytes] = []

        class TLSLayer(Protocol):
            def write(self, data: bytes) -> None:
                written.append(data)

        self.transport.TLS = True
        self.transport.protocol = TLSLayer()
        self.transport.write(b"secret")
        self.assertEqual(written, [b"secret"])
        self.assertEqual(self.received(), b"")


class SharedReadBufferTests(ImmediateWriteTests):
    """
    Reads through the shared buffer hand on what was read, as Twisted's do.
    """

    def test_read(self) -> None:
        """
        The bytes the peer sent reach the protocol, as C{bytes}.
        """
        self.peer.send(b"hello")
        self.assertIsNone(self.transport.doRead())
        self.assertEqual(self.protocol.received, [b"hello"])
        self.assertIs(type(self.protocol.received[0]), bytes)

    def test_readsAreCopies(self) -> None:
        """
        What one read handed on is not changed by the next (the buffer is
        shared; the data is not).
        """
        self.peer.send(b"first")
        self.transport.doRead()
        self.peer.send(b"SECOND")
        self.transport.doRead()
        self.assertEqual(self.protocol.received, [b"first", b"SECOND"])

    def test_readSize(self) -> None:
        """
        A read takes more than C{bufferSize} (the producer's bound), where
        there is more to read.
        """
        self.transport.bufferSize = 10
        self.peer.send(b"x" * 25)
        self.transport.doRead()
        self.assertEqual(self.protocol.received, [b"x" * 25])

    def test_readBoundedByBufferSize(self) -> None:
        """
        A read takes at most 4 times C{bufferSize}: what a connection reads
        at once, and may have to hold, follows the bound it was given.
        """
        self.transport.bufferSize = 10
        self.peer.send(b"x" * 100)
        for _ in range(3):
            self.transport.doRead()
        self.assertEqual([len(data) for data in self.protocol.received], [40, 40, 20])

    def test_readAtMost(self) -> None:
        """
        A read takes no more than the shared buffer's 256 KiB.
        """
        for sock in (self.peer, self.transport.socket):
            for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
                sock.setsockopt(socket.SOL_SOCKET, option, 1 << 20)
        self.peer.setblocking(True)
        self.peer.sendall(b"z" * 300_000)
        self.transport.doRead()
        self.transport.doRead()
        self.assertEqual(
            [len(data) for data in self.protocol.received], [262_144, 37_856]
        )

    def test_largeBufferSize(self) -> None:
        """
        With a C{bufferSize} larger than the shared buffer, a read can take
        all of it (Twisted's own read).
        """
        self.transport.bufferSize = 1 << 20
        for sock in (self.peer, self.transport.socket):
            for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
                sock.setsockopt(socket.SOL_SOCKET, option, 1 << 20)
        self.peer.setblocking(True)
        self.peer.sendall(b"y" * 300_000)
        self.transport.doRead()
        self.assertEqual(self.protocol.received, [b"y" * 300_000])

    def test_nothingToRead(self) -> None:
        """
        A read with nothing waiting hands on nothing and keeps the
        connection.
        """
        self.assertIsNone(self.transport.doRead())
        self.assertEqual(self.protocol.received, [])

    def test_endOfStream(self) -> None:
        """
        The peer's end of the stream is a clean close.
        """
        self.peer.shutdown(socket.SHUT_WR)
        self.assertIs(self.transport.doRead(), main.CONNECTION_DONE)

    def test_readError(self) -> None:
        """
        A read that fails loses the connection.
        """
        self.transport.socket.close()
        self.assertIs(self.transport.doRead(), main.CONNECTION_LOST)


class UNIXImmediateWriteTests(SharedReadBufferTests):
    """
    L{UNIXServer}: the same, on Twisted's UNIX transport.
    """

    transportType = UNIXServer

    def test_descriptorsPassed(self) -> None:
        """
        A protocol that takes descriptors passed over the socket gets them
        (read Twisted's way, with C{recvmsg}).
        """
        got: list[int] = []

        @implementer(IFileDescriptorReceiver)
        class Receiver(Recorder):
            def fileDescriptorReceived(self, descriptor: int) -> None:
                got.append(descriptor)
                os.close(descriptor)

        receiver = Receiver()
        self.transport.protocol = receiver
        reading, writing = os.pipe()
        self.addCleanup(os.close, reading)
        self.addCleanup(os.close, writing)
        socket.send_fds(self.peer, [b"fd"], [writing])
        self.transport.doRead()
        self.assertEqual(receiver.received, [b"fd"])
        self.assertEqual(len(got), 1)


class PortTests(SynchronousTestCase):
    """
    sockplug's stream ports build the immediate-write transports.
    """

    def test_tcp(self) -> None:
        """
        L{TCPPort}'s connections are L{TCPServer}s.
        """
        self.assertIs(TCPPort.transport, TCPServer)

    def test_unix(self) -> None:
        """
        L{UNIXPort}'s connections are L{UNIXServer}s.
        """
        self.assertIs(UNIXPort.transport, UNIXServer)

    def test_posixReactors(self) -> None:
        """
        sockplug's ports are used with Twisted's posix reactors, not with
        an in-memory one (which gets Twisted's C{listenTCP}).
        """
        reactor = SockplugReactor()
        self.addCleanup(pollerOf(reactor).close)
        self.assertTrue(watchesDescriptors(reactor))
        self.assertFalse(watchesDescriptors(MemoryReactor()))
