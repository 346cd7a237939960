"""
Tests for L{sockplug.internet._udp}: sockplug's UDP port writing, one
datagram at a time or many in one go, on real loopback sockets.
"""

from __future__ import annotations

import errno
import socket
from typing import Any

from twisted.internet.error import InvalidAddressError, MessageLengthError

from sockplug.internet import _mmsg
from sockplug.internet import _udp as _udpport
from sockplug.internet._datagramport import BATCH
from sockplug.internet._mmsg import AVAILABLE
from sockplug.internet._udp import LeanUDPPort
from sockplug.testing._sockets import Batches, PortsCase, Recorder


class WriteTests(PortsCase):
    """
    Tests for L{LeanUDPPort.write}.
    """

    def test_sent(self) -> None:
        """
        A datagram is sent to an address, and again once its host is known.
        """
        port = self.port(Recorder())
        client = self.client()
        port.write(b"one", client.getsockname())
        port.write(b"two", client.getsockname())
        self.assertEqual(self.received(client, 2), [b"one", b"two"])

    def test_hostName(self) -> None:
        """
        A host name is refused, as Twisted's port refuses it.
        """
        port = self.port(Recorder())
        self.assertRaises(InvalidAddressError, port.write, b"x", ("localhost", 9))

    def test_otherFamily(self) -> None:
        """
        An IPv6 address is refused on an IPv4 port, also once IPv4 hosts
        are known.
        """
        port = self.port(Recorder())
        port.write(b"x", self.client().getsockname())
        self.assertRaises(InvalidAddressError, port.write, b"x", ("::1", 9))

    def test_tooLong(self) -> None:
        """
        A datagram too long for UDP raises L{MessageLengthError}, to a known
        host too.
        """
        port = self.port(Recorder())
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
        port = self.port(Recorder())
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
        port = self.port(Recorder())
        for n in range(1, 6):
            port.write(b"x", (f"127.0.0.{n}", 9))
        self.assertLessEqual(len(port._knownHosts), 2)

    def test_sendFailed(self) -> None:
        """
        Send errors are Twisted's: a refused earlier datagram is ignored,
        EMSGSIZE is L{MessageLengthError}, any other is raised.
        """
        port = self.port(Recorder())
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


class WriteManyTests(PortsCase):
    """
    Tests for L{LeanUDPPort.writeMany}: with C{sendmmsg}, where there is
    one, to addresses datagrams were read from.
    """

    def sender(self) -> tuple[LeanUDPPort, socket.socket, Any]:
        """
        A port, and a client that sent it a datagram, read in a batch.
        """
        protocol = Batches()
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


class FlushTests(PortsCase):
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

        port = self.port(Recorder())
        datagrams = [(b"%d" % n, ("127.0.0.1", 9)) for n in range(6)]
        failed: dict[int, Exception] = {}
        port._flush(Outbox(), [0, 1, 2, 3, 4, 5], datagrams, failed)  # type: ignore[arg-type]
        self.assertEqual(calls, [(0, 6), (1, 5), (1, 5), (2, 4), (3, 3), (4, 2)])
        self.assertEqual(sorted(failed), [1, 3])
        self.assertIsInstance(failed[1], MessageLengthError)
        self.assertIsInstance(failed[3], BlockingIOError)
