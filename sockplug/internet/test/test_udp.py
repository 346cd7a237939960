"""
Tests for L{sockplug.internet._udp}: sockplug's datagram ports, on real
loopback sockets, read by calling C{doRead} as the reactor would.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import tempfile
from typing import Any

from twisted.internet.error import InvalidAddressError, MessageLengthError
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from sockplug.internet import _mmsg
from sockplug.internet import _udp as _udpport
from sockplug.internet._mmsg import AVAILABLE
from sockplug.internet._udp import BATCH, FEW, LeanUDPPort, LeanUNIXDatagramPort


class _Recorder(DatagramProtocol):
    """
    Records each datagram; raises for a datagram C{b"boom"}; closes its
    port at once for C{b"close"}.
    """

    def __init__(self) -> None:
        self.received: list[tuple[bytes, Any]] = []
        self.refused = 0

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.received.append((datagram, addr))
        if datagram == b"boom":
            raise RuntimeError("boom")
        if datagram == b"close":
            self.transport.connectionLost()  # type: ignore[union-attr]

    def connectionRefused(self) -> None:
        self.refused += 1


class _Batches(_Recorder):
    """
    Takes datagrams in one go; raises for a batch holding C{b"boom"}.
    """

    def __init__(self) -> None:
        _Recorder.__init__(self)
        self.batches: list[list[tuple[bytes, Any]]] = []

    def datagramsReceived(self, datagrams: list[tuple[bytes, Any]]) -> None:
        self.batches.append(datagrams)
        self.received.extend(datagrams)
        if any(datagram == b"boom" for datagram, _ in datagrams):
            raise RuntimeError("boom")


class _Ports(SynchronousTestCase):
    """
    Makes ports and client sockets on loopback, closed after the test.
    """

    family = socket.AF_INET
    host = "127.0.0.1"

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()

    def port(self, protocol: DatagramProtocol, **kwargs: Any) -> LeanUDPPort:
        port = LeanUDPPort(0, protocol, self.host, reactor=self.reactor, **kwargs)
        port.startListening()
        self.addCleanup(self.close, port)
        return port

    def close(self, port: Any) -> None:
        if getattr(port, "socket", None) is not None:
            port.connectionLost()

    def client(self) -> socket.socket:
        sock = socket.socket(self.family, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind((self.host, 0))
        sock.settimeout(5)
        return sock

    def address(self, port: Any) -> tuple[str, int]:
        return port.socket.getsockname()[:2]  # type: ignore[no-any-return]

    def received(self, sock: socket.socket, count: int) -> list[bytes]:
        return [sock.recv(70000) for _ in range(count)]


class ReadTests(_Ports):
    """
    Tests for reading, one datagram at a time, as Twisted's port reads.
    """

    def test_each(self) -> None:
        """
        Every datagram waiting is handed to C{datagramReceived} with its
        sender's C{(host, port)}, in order, in one C{doRead}.
        """
        protocol = _Recorder()
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
        protocol = _Recorder()
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
        A datagram longer than C{maxPacketSize} is cut to it, as Twisted's.
        """
        protocol = _Recorder()
        port = self.port(protocol, maxPacketSize=10)
        self.client().sendto(b"x" * 50, self.address(port))
        port.doRead()
        self.assertEqual(protocol.received[0][0], b"x" * 10)

    def test_protocolError(self) -> None:
        """
        An exception from the protocol is logged, and the next datagram is
        read.
        """
        protocol = _Recorder()
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
        protocol = _Recorder()
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
        protocol = _Recorder()
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

        port = self.port(_Recorder())
        port.socket, real = Broken(), port.socket  # type: ignore[assignment]
        self.addCleanup(setattr, port, "socket", real)
        self.assertRaises(OSError, port.doRead)


class ReadIPv6Tests(_Ports):
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
        protocol = _Recorder()
        port = self.port(protocol)
        client = self.client()
        client.sendto(b"a", self.address(port))
        port.doRead()
        self.assertEqual(protocol.received, [(b"a", client.getsockname()[:2])])

    def test_batchAddressCut(self) -> None:
        """
        In a batch too.
        """
        protocol = _Batches()
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
        protocol = _Batches()
        port = self.port(protocol)
        client = self.client()
        client.sendto(b"a", self.address(port))
        port.doRead()
        self.assertEqual(port.writeMany([(b"back", protocol.received[0][1])]), {})
        self.assertEqual(client.recv(100), b"back")


class BatchTests(_Ports):
    """
    Tests for reading in batches, for a protocol with C{datagramsReceived};
    with C{recvmmsg} where there is one.
    """

    def test_oneCall(self) -> None:
        """
        The datagrams waiting are handed over in one call, in order, with
        their senders' addresses.
        """
        protocol = _Batches()
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
        protocol = _Batches()
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
        protocol = _Batches()
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
        protocol = _Batches()
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
        protocol = _Batches()
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
        protocol = _Batches()
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
        protocol = _Batches()
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
        protocol = _Batches()
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

        port = self.port(_Batches())
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


class WriteTests(_Ports):
    """
    Tests for L{LeanUDPPort.write}.
    """

    def test_sent(self) -> None:
        """
        A datagram is sent to an address, and again once its host is known.
        """
        port = self.port(_Recorder())
        client = self.client()
        port.write(b"one", client.getsockname())
        port.write(b"two", client.getsockname())
        self.assertEqual(self.received(client, 2), [b"one", b"two"])

    def test_hostName(self) -> None:
        """
        A host name is refused, as Twisted's port refuses it.
        """
        port = self.port(_Recorder())
        self.assertRaises(InvalidAddressError, port.write, b"x", ("localhost", 9))

    def test_otherFamily(self) -> None:
        """
        An IPv6 address is refused on an IPv4 port, also once IPv4 hosts
        are known.
        """
        port = self.port(_Recorder())
        port.write(b"x", self.client().getsockname())
        self.assertRaises(InvalidAddressError, port.write, b"x", ("::1", 9))

    def test_tooLong(self) -> None:
        """
        A datagram too long for UDP raises L{MessageLengthError}, to a known
        host too.
        """
        port = self.port(_Recorder())
        client = self.client()
        self.assertRaises(
            MessageLengthError, port.write, b"x" * 70000, client.getsockname()
        )
        port.write(b"ok", client.getsockname())
        self.assertRaises(
            MessageLengthError, port.write, b"x" * 70000, client.getsockname()
        )

    def test_connected(self) -> None:
        """
        A connected port sends what is written without an address to its
        peer, and refuses another address, as Twisted's.
        """
        port = self.port(_Recorder())
        client, other = self.client(), self.client()
        port.write(b"before", other.getsockname())
        port.connect(*client.getsockname())
        port.write(b"to peer")
        self.assertEqual(client.recv(100), b"to peer")
        self.assertRaises(AssertionError, port.write, b"x", other.getsockname())

    def test_knownBounded(self) -> None:
        """
        No more than L{_udpport.MAX_KNOWN_HOSTS} hosts are remembered.
        """
        self.patch(_udpport, "MAX_KNOWN_HOSTS", 2)
        port = self.port(_Recorder())
        for n in range(1, 6):
            port.write(b"x", (f"127.0.0.{n}", 9))
        self.assertLessEqual(len(port._knownHosts), 2)

    def test_sendFailed(self) -> None:
        """
        Send errors are Twisted's: a refused earlier datagram is ignored,
        EMSGSIZE is L{MessageLengthError}, any other is raised.
        """
        port = self.port(_Recorder())
        # Ignored: this does not raise.
        port._sendFailed(OSError(errno.ECONNREFUSED, "x"), b"", ("1.2.3.4", 5))
        self.assertRaises(
            MessageLengthError,
            port._sendFailed,
            OSError(errno.EMSGSIZE, "x"),
            b"",
            ("1.2.3.4", 5),
        )
        self.assertRaises(
            BlockingIOError,
            port._sendFailed,
            BlockingIOError(errno.EAGAIN, "x"),
            b"",
            ("1.2.3.4", 5),
        )


class WriteManyTests(_Ports):
    """
    Tests for L{LeanUDPPort.writeMany}: with C{sendmmsg}, where there is
    one, to addresses datagrams were read from.
    """

    def sender(self) -> tuple[LeanUDPPort, socket.socket, Any]:
        """
        A port, and a client that sent it a datagram, read in a batch.
        """
        protocol = _Batches()
        port = self.port(protocol)
        client = self.client()
        client.sendto(b"hi", self.address(port))
        port.doRead()
        return port, client, protocol.received[0][1]

    def test_sent(self) -> None:
        """
        Each datagram is sent, in order.
        """
        port, client, addr = self.sender()
        datagrams = [(b"%d" % n * n, addr) for n in range(1, 2 * BATCH + 5)]
        self.assertEqual(port.writeMany(datagrams), {})
        self.assertEqual(
            self.received(client, len(datagrams)), [d for d, _ in datagrams]
        )

    def test_mixed(self) -> None:
        """
        Datagrams to other addresses, and ones that fail, keep their place;
        each failure is reported at its index with C{write}'s exception.
        """
        port, client, addr = self.sender()
        other = self.client()
        notSent = port.writeMany(
            [
                (b"1", addr),
                (b"2", other.getsockname()),
                (b"x" * 70000, addr),
                (b"3", ("localhost", 9)),
                (b"4", addr),
            ]
        )
        self.assertEqual(sorted(notSent), [2, 3])
        self.assertIsInstance(notSent[2], MessageLengthError)
        self.assertIsInstance(notSent[3], InvalidAddressError)
        self.assertEqual(self.received(client, 2), [b"1", b"4"])
        self.assertEqual(other.recv(100), b"2")

    def test_large(self) -> None:
        """
        A datagram of the largest size UDP allows is sent.
        """
        port, client, addr = self.sender()
        self.assertEqual(port.writeMany([(b"y" * 65507, addr)]), {})
        self.assertEqual(client.recv(70000), b"y" * 65507)

    def test_connected(self) -> None:
        """
        A connected port sends each to its peer, as C{write} would.
        """
        port, client, addr = self.sender()
        port.connect(*addr)
        self.assertEqual(port.writeMany([(b"a", None), (b"b", addr)]), {})
        self.assertEqual(self.received(client, 2), [b"a", b"b"])


class WriteManyWithoutMMsgTests(WriteManyTests):
    """
    L{WriteManyTests} where C{sendmmsg} cannot be used.
    """

    def setUp(self) -> None:
        WriteManyTests.setUp(self)
        self.patch(_mmsg, "AVAILABLE", False)


class FlushTests(_Ports):
    """
    Tests for what L{LeanUDPPort.writeMany} does when C{sendmmsg} sends
    fewer than it was given, or fails.
    """

    if not AVAILABLE:
        skip = "no sendmmsg here"

    def test_partial(self) -> None:
        """
        The rest are sent again; one that fails is reported at its index
        with the exception Twisted's C{write} raises, and the next are still
        sent.
        """
        outcomes: list[Any] = [
            1,
            OSError(errno.EINTR, "x"),
            OSError(errno.EMSGSIZE, "x"),
        ]
        outcomes += [OSError(errno.ECONNREFUSED, "x"), OSError(errno.EAGAIN, "x"), 2]
        calls: list[tuple[int, int]] = []

        class Outbox:
            def send(self, fd: int, first: int, count: int) -> int:
                calls.append((first, count))
                outcome = outcomes.pop(0)
                if isinstance(outcome, OSError):
                    raise outcome
                return int(outcome)

        port = self.port(_Recorder())
        datagrams = [(b"%d" % n, ("127.0.0.1", 9)) for n in range(6)]
        failed: dict[int, Exception] = {}
        port._flush(Outbox(), [0, 1, 2, 3, 4, 5], datagrams, failed)  # type: ignore[arg-type]
        self.assertEqual(calls, [(0, 6), (1, 5), (1, 5), (2, 4), (3, 3), (4, 2)])
        self.assertEqual(sorted(failed), [1, 3])
        self.assertIsInstance(failed[1], MessageLengthError)
        self.assertIsInstance(failed[3], BlockingIOError)


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
        protocol = _Batches()
        port = self.port(protocol)
        bound, unbound = self.client("c"), self.client(None)
        bound.sendto(b"1", port.port)
        unbound.sendto(b"2", port.port)
        port.doRead()
        self.assertEqual(protocol.received, [(b"1", bound.getsockname()), (b"2", None)])

    def test_writeMany(self) -> None:
        """
        C{writeMany} sends each; one to a path nothing is bound to fails
        with Twisted's exception, at its index.
        """
        port = self.port(_Recorder())
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
