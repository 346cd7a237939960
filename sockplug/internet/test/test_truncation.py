"""
Tests for how sockplug's datagram ports (L{sockplug.internet._datagramport},
L{sockplug.internet._udp}) drop a datagram longer than C{maxPacketSize},
which the kernel cuts silently to the buffer it is read into: on every
read path, on real loopback and UNIX sockets, read by calling C{doRead}
as the reactor would.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from typing import Any

from twisted.internet.protocol import DatagramProtocol
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from sockplug.internet import _mmsg
from sockplug.internet._datagramport import FEW, LeanUNIXDatagramPort
from sockplug.testing._sockets import Batches, PortsCase, Recorder


class Untold(DatagramProtocol):
    """
    A protocol with no C{datagramTruncated}: it only records datagrams.
    """

    def __init__(self) -> None:
        self.received: list[bytes] = []

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.received.append(datagram)


class Failing(Recorder):
    """
    A protocol whose C{datagramTruncated} raises.
    """

    def datagramTruncated(self, addr: Any, limit: int, size: int | None) -> None:
        raise RuntimeError("boom")


class OneAtATimeTests(PortsCase):
    """
    Reading one datagram at a time (a protocol without
    C{datagramsReceived}).
    """

    def test_told(self) -> None:
        """
        The protocol is told of the datagram dropped, with its sender, the
        port's C{maxPacketSize}, and no size (the read does not say it).
        """
        protocol = Recorder()
        port = self.port(protocol, maxPacketSize=10)
        client = self.client()
        client.sendto(b"x" * 50, self.address(port))
        port.doRead()
        self.assertEqual(protocol.truncated, [(client.getsockname(), 10, None)])

    def test_untold(self) -> None:
        """
        A protocol that has no C{datagramTruncated} is not handed the
        datagram either, and the next is read.
        """
        protocol = Untold()
        port = self.port(protocol, maxPacketSize=10)
        client = self.client()
        client.sendto(b"x" * 50, self.address(port))
        client.sendto(b"next", self.address(port))
        port.doRead()
        self.assertEqual(protocol.received, [b"next"])

    def test_toldRaises(self) -> None:
        """
        An exception from C{datagramTruncated} is logged, and the next
        datagram read.
        """
        protocol = Failing()
        port = self.port(protocol, maxPacketSize=10)
        client = self.client()
        client.sendto(b"x" * 50, self.address(port))
        client.sendto(b"next", self.address(port))
        port.doRead()
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual([d for d, _ in protocol.received], [b"next"])


class BatchTests(PortsCase):
    """
    Reading in batches, with C{recvmmsg} where there is one.
    """

    # The size the protocol is told: recvmmsg says it.
    told: int | None = 50

    def setUp(self) -> None:
        PortsCase.setUp(self)
        if not _mmsg.AVAILABLE and self.told is not None:
            raise self.skipTest("no recvmmsg here")

    def test_dropped(self) -> None:
        """
        A datagram too long is left out of its batch, whose others are
        handed over whole and in order; the protocol is told of it.
        """
        protocol = Batches()
        port = self.port(protocol, maxPacketSize=10)
        client = self.client()
        for data in (b"a", b"x" * 50, b"b", b"y" * 10):
            client.sendto(data, self.address(port))
        port.doRead()
        sender = client.getsockname()
        self.assertEqual(
            protocol.batches, [[(b"a", sender), (b"b", sender), (b"y" * 10, sender)]]
        )
        self.assertEqual(protocol.truncated, [(sender, 10, self.told)])

    def test_allDropped(self) -> None:
        """
        A read that finds only datagrams too long hands nothing over.
        """
        protocol = Batches()
        port = self.port(protocol, maxPacketSize=10)
        client = self.client()
        for _ in range(FEW + 1):
            client.sendto(b"x" * 50, self.address(port))
        port.doRead()
        self.assertEqual((protocol.batches, protocol.received), ([], []))
        self.assertEqual(len(protocol.truncated), FEW + 1)


class BatchWithoutMMsgTests(BatchTests):
    """
    L{BatchTests} where C{recvmmsg} cannot be used.
    """

    told = None

    def setUp(self) -> None:
        BatchTests.setUp(self)
        self.patch(_mmsg, "AVAILABLE", False)


class UNIXTests(SynchronousTestCase):
    """
    A UNIX datagram port, where a datagram may be longer than 64 KiB.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        # A short folder: a UNIX socket path must fit in 108 bytes.
        self.folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.folder)

    def test_longerThan64KiB(self) -> None:
        """
        A datagram of 100,000 bytes to a port that reads 65,536 is dropped,
        not handed on cut; the next is handed on.
        """
        protocol = Batches()
        path = os.path.join(self.folder, "server")
        port = LeanUNIXDatagramPort(
            path, protocol, maxPacketSize=65536, reactor=self.reactor
        )
        port.startListening()
        self.addCleanup(port.connectionLost)
        client = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(client.close)
        client.bind(os.path.join(self.folder, "client"))
        client.sendto(b"x" * 100_000, path)
        client.sendto(b"next", path)
        port.doRead()
        self.assertEqual(protocol.received, [(b"next", client.getsockname())])
        self.assertEqual(protocol.truncated, [(client.getsockname(), 65536, None)])
