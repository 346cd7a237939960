"""
End-to-end tests of sockplug's datagram ports (L{sockplug.internet._udp}): a
real twistd sockplug echoes bursts of datagrams, which it reads and
answers many at a time (C{recvmmsg} and C{sendmmsg} on Linux), with every
reply bounded, rate-limited and counted as one alone would be.
"""

from __future__ import annotations

import socket

from twisted.trial.unittest import SynchronousTestCase

from tests.harness import Address, datagramSocket, runClient, socketPath
from tests.scrape import labelsOf, startWithMetrics, waitForValues

UDP = "udp:0:interface=127.0.0.1:replyrate=1000000:replyburst=1000000"
UDP6 = "udp:0:interface=\\:\\:1:replyrate=1000000:replyburst=1000000"


def _sizes(count: int) -> list[int]:
    """Datagram sizes, from 0 to 1400 bytes, in a mixed order."""
    return [(i * 397) % 1401 for i in range(count)]


def _payload(i: int, size: int) -> bytes:
    return bytes([65 + i % 26]) * size


class BurstTests(SynchronousTestCase):
    """
    Datagrams sent without waiting for the replies come back, each to its
    sender, in order, and counted.
    """

    def burst(self, endpoint: str, count: int = 300, window: int = 32) -> None:
        """
        Send C{count} datagrams of mixed sizes from one socket, C{window}
        at once (no more than the socket buffers hold), then check every
        reply and the counters.
        """
        server, metrics = startWithMetrics(self, "-e", f"echo@{endpoint}")
        address = server.addresses[endpoint]
        sock = self.sender(address)
        sent = [_payload(i, size) for i, size in enumerate(_sizes(count))]
        for first in range(0, count, window):
            part = sent[first : first + window]
            for payload in part:
                sock.sendto(payload, address)
            self.assertEqual([sock.recv(65536) for _ in part], part)
        labels = labelsOf(endpoint, "echo")
        total = sum(map(len, sent))
        waitForValues(
            self,
            metrics,
            [
                ("sockplug_datagrams_received_total", labels, count),
                ("sockplug_datagrams_sent_total", labels, count),
                ("sockplug_received_bytes_total", labels, total),
                ("sockplug_sent_bytes_total", labels, total),
            ],
        )

    def sender(self, address: Address) -> socket.socket:
        sock = datagramSocket(self, address)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        return sock

    def test_udp(self) -> None:
        """Over UDP."""
        self.burst(UDP)

    def test_udp6(self) -> None:
        """Over UDP on IPv6."""
        self.burst(UDP6)

    def test_unixgram(self) -> None:
        """
        Over a UNIX datagram socket (Linux queues 10 datagrams for a UNIX
        socket by default, net.unix.max_dgram_qlen; past that a reply is
        dropped, as Twisted's port drops it).
        """
        self.burst(
            f"unixgram:{socketPath(self, 'echo.sock')}"
            ":replyrate=1000000:replyburst=1000000",
            100,
            window=8,
        )

    def test_manySenders(self) -> None:
        """
        Datagrams from many sockets at once each go back to their own.
        """
        server, _ = startWithMetrics(self, "-e", f"echo@{UDP}")
        address = server.addresses[UDP]
        socks = [self.sender(address) for _ in range(20)]
        for round in range(10):
            for n, sock in enumerate(socks):
                sock.sendto(b"%d.%d" % (n, round), address)
        for n, sock in enumerate(socks):
            self.assertEqual(
                [sock.recv(100) for _ in range(10)],
                [b"%d.%d" % (n, round) for round in range(10)],
            )

    def test_eachBoundedByItsOwn(self) -> None:
        """
        With C{replygrowth=0}, a large datagram followed at once by a small
        one from the same sender is still answered: each reply is bounded
        by the datagram it answers.
        """
        endpoint = f"{UDP}:replygrowth=0"
        server, _ = startWithMetrics(self, "-e", f"echo@{endpoint}")
        address = server.addresses[endpoint]
        sock = self.sender(address)
        for _ in range(20):
            sock.sendto(b"L" * 1000, address)
            sock.sendto(b"s", address)
        self.assertEqual([sock.recv(2000) for _ in range(40)], [b"L" * 1000, b"s"] * 20)

    def test_largest(self) -> None:
        """
        The largest UDP datagram is echoed.
        """
        server, _ = startWithMetrics(self, "-e", f"echo@{UDP}")
        address = server.addresses[UDP]
        sock = self.sender(address)
        sock.sendto(b"x" * 65507, address)
        self.assertEqual(sock.recv(70000), b"x" * 65507)

    def test_socat(self) -> None:
        """
        A third-party client, socat, gets its datagram back.
        """
        server, _ = startWithMetrics(self, "-e", f"echo@{UDP}")
        port = server.addresses[UDP][1]
        result = runClient(
            ["socat", "-t1", "-", f"UDP:127.0.0.1:{port}"], b"socat burst\n"
        )
        self.assertEqual(result.stdout, b"socat burst\n")


class LimitTests(SynchronousTestCase):
    """
    The reply limits hold for bursts, to the datagram.
    """

    def test_rate(self) -> None:
        """
        Of a burst, exactly C{replyburst} datagrams are answered; the rest
        are counted as dropped for rate.
        """
        endpoint = "udp:0:interface=127.0.0.1:replyrate=0.001:replyburst=5"
        server, metrics = startWithMetrics(self, "-e", f"echo@{endpoint}")
        address = server.addresses[endpoint]
        sock = datagramSocket(self, address)
        for i in range(50):
            sock.sendto(b"%d" % i, address)
        labels = labelsOf(endpoint, "echo")
        waitForValues(
            self,
            metrics,
            [
                ("sockplug_datagrams_received_total", labels, 50),
                ("sockplug_datagrams_sent_total", labels, 5),
                ("sockplug_datagrams_dropped_total", {**labels, "reason": "rate"}, 45),
            ],
        )
        self.assertEqual(
            [sock.recv(100) for _ in range(5)], [b"0", b"1", b"2", b"3", b"4"]
        )

    def test_unboundSender(self) -> None:
        """
        Datagrams from an unbound UNIX sender, among others, are counted
        and not answered; the others are.
        """
        path = socketPath(self, "echo.sock")
        endpoint = f"unixgram:{path}"
        _, metrics = startWithMetrics(self, "-e", f"echo@{endpoint}")
        bound = datagramSocket(self, path)
        unbound = datagramSocket(self, path, bind=False)
        for _ in range(5):
            unbound.sendto(b"u", path)
            bound.sendto(b"b", path)
        self.assertEqual([bound.recv(10) for _ in range(5)], [b"b"] * 5)
        labels = labelsOf(endpoint, "echo")
        waitForValues(
            self,
            metrics,
            [
                ("sockplug_datagrams_received_total", labels, 10),
                ("sockplug_datagrams_sent_total", labels, 5),
            ],
        )
