"""
Tests for L{sockplug.internet._datagramport}: how sockplug's datagram ports
read, one datagram at a time or in batches, on real loopback sockets, read
by calling C{doRead} as the reactor would.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import tempfile
from typing import Any

from twisted.internet.protocol import DatagramProtocol
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from sockplug.internet import _mmsg
from sockplug.internet._datagramport import BATCH, FEW, LeanUNIXDatagramPort
from sockplug.testing._sockets import Batches, PortsCase, Recorder


class ReadTests(PortsCase):
    """
    Tests for reading, one datagram at a time, as Twisted's port reads.
    """

    def test_each(self) -> None:
        """
        Every datagram waiting is handed to C{datagramReceived} with its
        sender's C{(host, port)}, in order, in one C{doRead}.
        """
        protocol = Recorder()
        port = self.port(protocol)
        client = self.client()
        for data in (b"a", b"bb", b"ccc"):
            client.sendto(data, self.address(port))
        port.doRead()
        sender = client.getsockname()
        self.assertEqual(
            protocol.received, [(b"a", sender), (b"bb", sender), (b"ccc", sender)]
        )

    def test_maxThroughput(self) -> None:
        """
        One C{doRead} stops once C{maxThroughput} bytes are read; the next
        reads the rest.
        """
        protocol = Recorder()
        port = self.port(protocol)
        port.maxThroughput = 150
        client = self.client()
        for _ in range(4):
            client.sendto(b"x" * 100, self.address(port))
        port.doRead()
        self.assertEqual(len(protocol.received), 2)
        port.doRead()
        self.assertEqual(len(protocol.received), 4)

    def test_packetSize(self) -> None:
        """
        A datagram longer than C{maxPacketSize} is dropped, not cut to it
        as Twisted's port cuts it (see L{test_truncated}); one of just
        C{maxPacketSize} bytes is handed on.
        """
        protocol = Recorder()
        port = self.port(protocol, maxPacketSize=10)
        client = self.client()
        client.sendto(b"x" * 11, self.address(port))
        client.sendto(b"y" * 10, self.address(port))
        port.doRead()
        self.assertEqual(protocol.received, [(b"y" * 10, client.getsockname())])

    def test_protocolError(self) -> None:
        """
        An exception from the protocol is logged, and the next datagram is
        read.
        """
        protocol = Recorder()
        port = self.port(protocol)
        client = self.client()
        client.sendto(b"boom", self.address(port))
        client.sendto(b"next", self.address(port))
        port.doRead()
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual([d for d, _ in protocol.received], [b"boom", b"next"])

    def test_closedWhileReading(self) -> None:
        """
        A port closed by its protocol stops reading, without an error.
        """
        protocol = Recorder()
        port = self.port(protocol)
        client = self.client()
        client.sendto(b"close", self.address(port))
        client.sendto(b"after", self.address(port))
        port.doRead()
        self.assertEqual([d for d, _ in protocol.received], [b"close"])

    def test_connectedRefused(self) -> None:
        """
        A connected port whose peer has nothing listening tells its
        protocol C{connectionRefused}.
        """
        protocol = Recorder()
        port = self.port(protocol)
        gone = self.client()
        where = gone.getsockname()
        gone.close()
        port.connect(*where)
        port.write(b"anyone?")
        port.doRead()
        self.assertEqual(protocol.refused, 1)

    def test_readErrorRaised(self) -> None:
        """
        A read error other than "nothing left" or "refused" is raised, for
        the reactor to close the port, as Twisted's.
        """

        class Broken:
            def recvfrom(self, size: int) -> Any:
                raise OSError(errno.EBADF, "Bad file descriptor")

        port = self.port(Recorder())
        port.socket, real = Broken(), port.socket  # type: ignore[assignment]
        self.addCleanup(setattr, port, "socket", real)
        self.assertRaises(OSError, port.doRead)


class ReadIPv6Tests(PortsCase):
    """
    Tests for reading on IPv6.
    """

    family = socket.AF_INET6
    host = "::1"

    def test_addressCut(self) -> None:
        """
        The sender's address is C{(host, port)}, without flow and scope, as
        Twisted gives it.
        """
        protocol = Recorder()
        port = self.port(protocol)
        client = self.client()
        client.sendto(b"a", self.address(port))
        port.doRead()
        self.assertEqual(protocol.received, [(b"a", client.getsockname()[:2])])

    def test_batchAddressCut(self) -> None:
        """
        In a batch too.
        """
        protocol = Batches()
        port = self.port(protocol)
        client = self.client()
        for _ in range(FEW + 1):
            client.sendto(b"a", self.address(port))
        port.doRead()
        self.assertEqual(
            protocol.batches, [[(b"a", client.getsockname()[:2])] * (FEW + 1)]
        )

    def test_replies(self) -> None:
        """
        C{writeMany} answers IPv6 senders.
        """
        protocol = Batches()
        port = self.port(protocol)
        client = self.client()
        client.sendto(b"a", self.address(port))
        port.doRead()
        self.assertEqual(port.writeMany([(b"back", protocol.received[0][1])]), {})
        self.assertEqual(client.recv(100), b"back")


class BatchTests(PortsCase):
    """
    Tests for reading in batches, for a protocol with C{datagramsReceived};
    with C{recvmmsg} where there is one.
    """

    def test_oneCall(self) -> None:
        """
        The datagrams waiting are handed over in one call, in order, with
        their senders' addresses.
        """
        protocol = Batches()
        port = self.port(protocol)
        client = self.client()
        for data in (b"a", b"bb", b"ccc"):
            client.sendto(data, self.address(port))
        port.doRead()
        sender = client.getsockname()
        self.assertEqual(
            protocol.batches, [[(b"a", sender), (b"bb", sender), (b"ccc", sender)]]
        )

    def test_few(self) -> None:
        """
        No more than L{FEW} datagrams read at once are handed over one at a
        time, through C{datagramReceived}.
        """
        protocol = Batches()
        port = self.port(protocol)
        client = self.client()
        for n in range(FEW):
            client.sendto(b"%d" % n, self.address(port))
        port.doRead()
        self.assertEqual(protocol.batches, [])
        self.assertEqual(
            [d for d, _ in protocol.received], [b"%d" % n for n in range(FEW)]
        )

    def test_fewError(self) -> None:
        """
        An exception from C{datagramReceived} for one of so few is logged,
        and the next handed over.
        """
        protocol = Batches()
        port = self.port(protocol)
        client = self.client()
        client.sendto(b"boom", self.address(port))
        client.sendto(b"next", self.address(port))
        port.doRead()
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual([d for d, _ in protocol.received], [b"boom", b"next"])

    def test_size(self) -> None:
        """
        A batch holds no more than L{BATCH} datagrams.
        """
        protocol = Batches()
        port = self.port(protocol)
        client = self.client()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        for n in range(BATCH + 3):
            client.sendto(b"%d" % n, self.address(port))
        port.doRead()
        self.assertEqual([len(b) for b in protocol.batches], [BATCH, 3])
        self.assertEqual(
            [d for d, _ in protocol.received],
            [b"%d" % n for n in range(BATCH + 3)],
        )

    def test_error(self) -> None:
        """
        An exception from the protocol is logged, and the next batch read.
        """
        protocol = Batches()
        port = self.port(protocol)
        client = self.client()
        for n in range(BATCH + 1):
            client.sendto(b"boom" if n == 0 else b"x", self.address(port))
        port.doRead()
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(len(protocol.received), BATCH + 1)

    def test_maxThroughput(self) -> None:
        """
        One C{doRead} stops once C{maxThroughput} bytes are read (a batch
        may go past it).
        """
        protocol = Batches()
        port = self.port(protocol)
        port.maxThroughput = 150
        client = self.client()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        for _ in range(2 * BATCH + 2):
            client.sendto(b"x" * 100, self.address(port))
        port.doRead()
        self.assertLess(len(protocol.received), 2 * BATCH + 2)
        while len(protocol.received) < 2 * BATCH + 2:
            before = len(protocol.received)
            port.doRead()
            self.assertGreater(len(protocol.received), before)

    def test_sameAddress(self) -> None:
        """
        Datagrams from one sender come with equal addresses; from another,
        with its own.
        """
        protocol = Batches()
        port = self.port(protocol)
        first, second = self.client(), self.client()
        first.sendto(b"1", self.address(port))
        second.sendto(b"2", self.address(port))
        first.sendto(b"3", self.address(port))
        port.doRead()
        self.assertEqual(
            [addr for _, addr in protocol.received],
            [first.getsockname(), second.getsockname(), first.getsockname()],
        )

    def test_connectedRefused(self) -> None:
        """
        A connected port's protocol is told C{connectionRefused} when its
        peer has nothing listening.
        """
        protocol = Batches()
        port = self.port(protocol)
        gone = self.client()
        where = gone.getsockname()
        gone.close()
        port.connect(*where)
        port.write(b"anyone?")
        port.doRead()
        self.assertEqual(protocol.refused, 1)

    def test_readErrorRaised(self) -> None:
        """
        A read error other than "nothing left" or "refused" is raised.
        """
        # A descriptor that is not a socket: every read fails.
        notSocket, other = os.pipe()
        self.addCleanup(os.close, notSocket)
        self.addCleanup(os.close, other)

        class Broken:
            def fileno(self) -> int:
                return notSocket

            def recvfrom(self, size: int) -> Any:
                raise OSError(errno.ENOTSOCK, "Socket operation on non-socket")

        port = self.port(Batches())
        port.socket, real = Broken(), port.socket  # type: ignore[assignment]
        self.addCleanup(setattr, port, "socket", real)
        error = self.assertRaises(OSError, port.doRead)
        self.assertEqual(error.errno, errno.ENOTSOCK)


class BatchWithoutMMsgTests(BatchTests):
    """
    L{BatchTests} where C{recvmmsg} cannot be used.
    """

    def setUp(self) -> None:
        BatchTests.setUp(self)
        self.patch(_mmsg, "AVAILABLE", False)


class UNIXTests(SynchronousTestCase):
    """
    Tests for L{LeanUNIXDatagramPort}.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        # A short folder: a UNIX socket path must fit in 108 bytes.
        self.folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.folder)

    def port(self, protocol: DatagramProtocol) -> LeanUNIXDatagramPort:
        path = os.path.join(self.folder, "server")
        port = LeanUNIXDatagramPort(path, protocol, reactor=self.reactor)
        port.startListening()
        self.addCleanup(port.connectionLost)
        return port

    def client(self, name: str | None) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        if name is not None:
            sock.bind(os.path.join(self.folder, name))
        sock.settimeout(5)
        return sock

    def test_senders(self) -> None:
        """
        A bound sender's address is its path; an unbound one's is L{None},
        as Python's C{recvfrom} gives them.
        """
        protocol = Batches()
        port = self.port(protocol)
        bound, unbound = self.client("c"), self.client(None)
        bound.sendto(b"1", port.port)
        unbound.sendto(b"2", port.port)
        port.doRead()
        self.assertEqual(protocol.received, [(b"1", bound.getsockname()), (b"2", None)])

    def test_logPrefix(self) -> None:
        """
        What the log names an exception from its protocol with: the
        protocol's C{logPrefix}, on a UNIX datagram port (not "(UDP)").
        """
        port = self.port(Recorder())
        self.assertEqual(port.logPrefix(), "Recorder (UNIX datagram)")

    def test_writeMany(self) -> None:
        """
        C{writeMany} sends each; one to a path nothing is bound to fails
        with Twisted's exception, at its index.
        """
        port = self.port(Recorder())
        client = self.client("c")
        notSent = port.writeMany(
            [
                (b"a", client.getsockname()),
                (b"b", os.path.join(self.folder, "nobody")),
                (b"c", client.getsockname()),
            ]
        )
        self.assertEqual(list(notSent), [1])
        self.assertIsInstance(notSent[1], OSError)
        self.assertEqual([client.recv(10), client.recv(10)], [b"a", b"c"])
