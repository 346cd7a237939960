"""
Tests for L{sockplug.internet._mmsg}: C{recvmmsg} and C{sendmmsg} through ctypes,
on real loopback sockets.
"""

from __future__ import annotations

import ctypes
import errno
import socket
import struct

from twisted.trial.unittest import SynchronousTestCase

from sockplug.internet._mmsg import AVAILABLE, Addresses, Inbox, Outbox

COUNT = 64


class _Sockets(SynchronousTestCase):
    if not AVAILABLE:
        skip = "no recvmmsg and sendmmsg here"

    family = socket.AF_INET
    host = "127.0.0.1"

    def socket(self) -> socket.socket:
        sock = socket.socket(self.family, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind((self.host, 0))
        sock.setblocking(False)
        return sock

    def received(self, inbox: Inbox, count: int) -> list[bytes]:
        """
        The datagrams C{inbox} holds.
        """
        return [
            inbox.data[start : start + inbox.words[at]]
            for at, start, _ in inbox.plan[:count]
        ]


class InboxTests(_Sockets):
    """
    Tests for L{Inbox}.
    """

    def test_received(self) -> None:
        """
        The datagrams waiting are read in one call, each in its slot.
        """
        server, client = self.socket(), self.socket()
        for data in (b"a", b"bb", b"c" * 1000):
            client.sendto(data, server.getsockname())
        inbox = Inbox(2048, COUNT)
        count = inbox.receive(server.fileno())
        self.assertEqual(
            (count, self.received(inbox, count)), (3, [b"a", b"bb", b"c" * 1000])
        )

    def test_atMostCount(self) -> None:
        """
        One call reads no more than L{COUNT}; the next reads on.
        """
        server, client = self.socket(), self.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        for n in range(COUNT + 2):
            client.sendto(b"%d" % n, server.getsockname())
        inbox = Inbox(64, COUNT)
        self.assertEqual(inbox.receive(server.fileno()), COUNT)
        self.assertEqual(inbox.receive(server.fileno()), 2)
        self.assertEqual(self.received(inbox, 2), [b"%d" % COUNT, b"%d" % (COUNT + 1)])

    def test_cut(self) -> None:
        """
        A datagram longer than a slot is cut to it, as C{recvfrom} cuts it,
        and its length is its own (C{MSG_TRUNC}): the next datagram is
        whole in its own slot.
        """
        server, client = self.socket(), self.socket()
        client.sendto(b"x" * 100, server.getsockname())
        client.sendto(b"y", server.getsockname())
        inbox = Inbox(10, COUNT)
        self.assertEqual(inbox.receive(server.fileno()), 2)
        (at, start, _), (nextAt, nextStart, _) = inbox.plan[:2]
        self.assertEqual(
            (inbox.words[at], inbox.data[start : start + 10]), (100, b"x" * 10)
        )
        self.assertEqual(inbox.data[nextStart : nextStart + inbox.words[nextAt]], b"y")

    def test_nothing(self) -> None:
        """
        With nothing to read, minus C{EAGAIN}.
        """
        self.assertEqual(
            Inbox(64, COUNT).receive(self.socket().fileno()), -errno.EAGAIN
        )

    def test_closed(self) -> None:
        """
        Other errors are minus their errno.
        """
        sock = self.socket()
        fd = sock.fileno()
        sock.close()
        self.assertEqual(Inbox(64, COUNT).receive(fd), -errno.EBADF)


class AddressTests(_Sockets):
    """
    Tests for L{Addresses}, on IPv4.
    """

    def sender(self) -> tuple[Addresses, tuple[str, int], socket.socket]:
        """
        Receive a datagram with an L{Inbox}; make the address of its sender.

        @return: the addresses, the address made, and the sender.
        """
        server, client = self.socket(), self.socket()
        client.sendto(b"x", server.getsockname())
        inbox = Inbox(64, COUNT)
        inbox.receive(server.fileno())
        addresses = Addresses(self.family)
        name = inbox.plan[0][2]
        key = inbox.names[name + addresses.key.start : name + addresses.key.stop]
        self.server = server
        return addresses, addresses.add(key), client

    def test_asRecvfrom(self) -> None:
        """
        The address is as C{recvfrom} and Twisted show it: C{(host, port)}.
        """
        _, address, client = self.sender()
        self.assertEqual(address, client.getsockname()[:2])

    def test_found(self) -> None:
        """
        The address is remembered by its key.
        """
        addresses, address, _ = self.sender()
        self.assertEqual(list(addresses.found.values()), [address])

    def test_sockaddr(self) -> None:
        """
        The C{sockaddr} made for it sends there.
        """
        addresses, address, client = self.sender()
        outbox = Outbox(addresses.length, COUNT)
        start, length, name = outbox.plan[0]
        outbox.data[start : start + 4] = b"back"
        outbox.iovecLengths[length] = 4
        outbox.quads[name] = addresses.sockaddrs[address]
        self.assertEqual(outbox.send(self.server.fileno(), 0, 1), 1)
        self.assertEqual(client.recv(10), b"back")

    def test_bounded(self) -> None:
        """
        Past L{Addresses.LIMIT}, those remembered are forgotten.
        """
        addresses = Addresses(self.family)
        addresses.LIMIT = 3
        for n in range(5):
            addresses.add(
                bytes(addresses.key.stop - addresses.key.start - 1) + b"%c" % n
            )
        self.assertLessEqual(len(addresses.found), 3)
        self.assertEqual(len(addresses.found), len(addresses.sockaddrs))


class AddressIPv6Tests(AddressTests):
    """
    L{AddressTests} on IPv6: flow and scope are left out, as Twisted
    leaves them out.
    """

    family = socket.AF_INET6
    host = "::1"

    def test_noFlowNoScope(self) -> None:
        """
        The C{sockaddr} made has no flow label and no scope.
        """
        addresses, address, _ = self.sender()
        raw = ctypes.string_at(addresses.sockaddrs[address], addresses.length)
        self.assertEqual((raw[4:8], raw[24:28]), (bytes(4), bytes(4)))

    def test_portScope(self) -> None:
        """
        Made for a port bound with a scope (C{fe80::1%eth0}), the
        C{sockaddr} carries it: a link-local peer is reached only so.
        """
        addresses = Addresses(self.family, scope=7)
        address = addresses.add(bytes(addresses.key.stop - addresses.key.start))
        raw = ctypes.string_at(addresses.sockaddrs[address], addresses.length)
        self.assertEqual(raw[24:28], struct.pack("=I", 7))


class OutboxTests(_Sockets):
    """
    Tests for L{Outbox}.
    """

    def test_sent(self) -> None:
        """
        The staged datagrams from C{first} are sent, in order.
        """
        server, client = self.socket(), self.socket()
        server.sendto(b"hello", client.getsockname())
        inbox = Inbox(64, COUNT)
        inbox.receive(client.fileno())
        addresses = Addresses(self.family)
        name = inbox.plan[0][2]
        sender = addresses.add(
            inbox.names[name + addresses.key.start : name + addresses.key.stop]
        )
        outbox = Outbox(addresses.length, COUNT)
        for n, (start, length, pointer) in enumerate(outbox.plan[:3]):
            outbox.data[start : start + 1] = b"%d" % n
            outbox.iovecLengths[length] = 1
            outbox.quads[pointer] = addresses.sockaddrs[sender]
        self.assertEqual(outbox.send(client.fileno(), 1, 2), 2)
        self.assertEqual([server.recv(10), server.recv(10)], [b"1", b"2"])

    def test_error(self) -> None:
        """
        When not even the first is sent, the error is raised.
        """
        sock = self.socket()
        fd = sock.fileno()
        sock.close()
        error = self.assertRaises(OSError, Outbox(16, COUNT).send, fd, 0, 1)
        self.assertEqual(error.errno, 9)
