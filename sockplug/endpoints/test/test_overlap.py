"""
Tests for L{sockplug.endpoints._overlap}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from sockplug.endpoints._datagram import UDPParser, UNIXDatagramParser
from sockplug.endpoints._overlap import dualStack, overlapKey, overlapping
from sockplug.endpoints._parser import EndpointParser
from sockplug.endpoints._systemd import SystemdDatagramParser
from sockplug.testing import MemoryDatagramReactor


class OverlappingTests(SynchronousTestCase):
    """
    Tests for L{overlapping}: pairs of endpoint strings whose sockets the
    kernel would not both bind.
    """

    def setUp(self) -> None:
        self.parser = EndpointParser(
            MemoryDatagramReactor(),
            [UDPParser(), UNIXDatagramParser(), SystemdDatagramParser()],
        )

    def overlap(self, a: str, b: str, dual: bool = True) -> bool:
        """
        Whether C{a} and C{b} overlap, asked both ways round (the answer
        must not depend on the order).
        """
        x, y = self.parser.parse(a), self.parser.parse(b)
        forth = overlapping(x, y, dual=dual)
        self.assertEqual(forth, overlapping(y, x, dual=dual), (a, b))
        return forth

    def test_wildcardAndAddress(self) -> None:
        """
        C{0.0.0.0} overlaps any IPv4 address on the same port.
        """
        self.assertTrue(self.overlap("tcp:80", "tcp:80:interface=127.0.0.1"))
        self.assertTrue(self.overlap("udp:80", "udp:80:interface=127.0.0.1"))

    def test_sameAddressOtherSpelling(self) -> None:
        """
        The same address and port overlap whatever else differs (a backlog).
        """
        self.assertTrue(self.overlap("tcp:80", "tcp:port=80:backlog=9"))
        self.assertTrue(self.overlap("tcp:80", "tcp:80:interface=0.0.0.0"))

    def test_otherPort(self) -> None:
        """
        Different ports never overlap.
        """
        self.assertFalse(self.overlap("tcp:80", "tcp:81"))

    def test_portZero(self) -> None:
        """
        Port 0 is a new port each time.
        """
        self.assertFalse(self.overlap("tcp:0", "tcp:0"))

    def test_twoAddresses(self) -> None:
        """
        Two different addresses on one port do not overlap.
        """
        self.assertFalse(
            self.overlap("tcp:80:interface=127.0.0.1", "tcp:80:interface=127.0.0.2")
        )

    def test_tcpAndUdp(self) -> None:
        """
        TCP and UDP have ports of their own.
        """
        self.assertFalse(self.overlap("tcp:80", "udp:80"))

    def test_dualStack(self) -> None:
        """
        C{::} takes IPv4 too on a dual-stack system, and not otherwise.
        """
        self.assertTrue(self.overlap("tcp6:80", "tcp:80:interface=127.0.0.1"))
        self.assertTrue(self.overlap("tcp6:80", "tcp:80"))
        self.assertFalse(
            self.overlap("tcp6:80", "tcp:80:interface=127.0.0.1", dual=False)
        )
        self.assertTrue(
            self.overlap("tcp6:80", "tcp6:80:interface=\\:\\:1", dual=False)
        )

    def test_ipv4WildcardAndIPv6(self) -> None:
        """
        C{0.0.0.0} does not take an IPv6 address.
        """
        self.assertFalse(self.overlap("tcp:80", "tcp6:80:interface=\\:\\:1"))

    def test_mapped(self) -> None:
        """
        An IPv4-mapped IPv6 address is its IPv4 address.
        """
        self.assertTrue(
            self.overlap(
                "tcp:80:interface=127.0.0.1",
                "tcp6:80:interface=\\:\\:ffff\\:127.0.0.1",
            )
        )

    def test_reuseport(self) -> None:
        """
        Overlapping sockets may both be bound when both set C{reuseport}.
        """
        self.assertFalse(
            self.overlap("tcp:80:reuseport=1", "tcp:80:interface=127.0.0.1:reuseport=1")
        )
        self.assertTrue(
            self.overlap("tcp:80:reuseport=1", "tcp:80:interface=127.0.0.1")
        )

    def test_udpReuseaddr(self) -> None:
        """
        UDP sockets may both be bound when both set C{reuseaddr}; TCP
        listening sockets may not.
        """
        self.assertFalse(
            self.overlap("udp:80:reuseaddr=1", "udp:80:interface=127.0.0.1:reuseaddr=1")
        )
        self.assertTrue(
            self.overlap("tcp:80:reuseaddr=1", "tcp:80:interface=127.0.0.1:reuseaddr=1")
        )

    def test_unixPaths(self) -> None:
        """
        UNIX stream and datagram sockets share one namespace of paths,
        compared after normalising.
        """
        self.assertTrue(self.overlap("unix:/tmp/s", "unixgram:/tmp/./x/../s"))
        self.assertFalse(self.overlap("unix:/tmp/s", "unix:/tmp/t"))

    def test_relativePathInFolder(self) -> None:
        """
        A relative UNIX path is taken in the folder the server will bind in
        (twistd's C{--rundir}), not in the folder the check runs in.
        """
        x, y = self.parser.parse("unix:s.sock"), self.parser.parse("unix:/srv/s.sock")
        self.assertTrue(overlapping(x, y, folder="/srv"))
        self.assertTrue(overlapping(y, x, folder="/srv"))
        self.assertFalse(overlapping(x, y, folder="/elsewhere"))

    def test_unixAndTcp(self) -> None:
        """
        A UNIX socket never overlaps a TCP one.
        """
        self.assertFalse(self.overlap("unix:/tmp/s", "tcp:80"))

    def test_notSockplugsSocket(self) -> None:
        """
        An endpoint whose socket sockplug does not make overlaps nothing.
        """
        self.assertFalse(self.overlap("systemd:domain=INET:index=0", "tcp:80"))


class OverlapKeyTests(SynchronousTestCase):
    """
    Tests for L{overlapKey}.
    """

    def test_overlappingShareKey(self) -> None:
        """
        Any two endpoints that overlap have one key; port 0 and sockets
        sockplug does not make have none.
        """
        parser = EndpointParser(
            MemoryDatagramReactor(),
            [UDPParser(), UNIXDatagramParser(), SystemdDatagramParser()],
        )
        strings = [
            "tcp:80",
            "tcp:80:interface=127.0.0.1",
            "tcp6:80",
            "tcp6:80:interface=\\:\\:ffff\\:127.0.0.1",
            "tcp:81",
            "udp:80",
            "udp:80:interface=\\:\\:1",
            "unix:/tmp/s",
            "unixgram:/tmp/x/../s",
            "unix:s",
            "tcp:0",
            "systemd:domain=INET:index=0",
        ]
        endpoints = [parser.parse(s) for s in strings]
        pairs = 0
        for a in endpoints:
            for b in endpoints:
                if a is not b and overlapping(a, b, folder="/tmp"):
                    pairs += 1
                    self.assertEqual(
                        overlapKey(a, "/tmp"), overlapKey(b, "/tmp"), (a, b)
                    )
        self.assertGreater(pairs, 4)
        for string in ("tcp:0", "systemd:domain=INET:index=0"):
            self.assertIsNone(overlapKey(parser.parse(string)))


class DualStackTests(SynchronousTestCase):
    """
    Tests for L{dualStack}.
    """

    def test_read(self) -> None:
        """
        C{bindv6only} 0 is dual-stack, 1 is not.
        """
        zero, one = self.mktemp(), self.mktemp()
        with open(zero, "w") as f:
            f.write("0\n")
        with open(one, "w") as f:
            f.write("1\n")
        self.assertTrue(dualStack(zero))
        self.assertFalse(dualStack(one))

    def test_unreadable(self) -> None:
        """
        Without the setting (no IPv6), Linux's default is assumed.
        """
        self.assertTrue(dualStack(self.mktemp()))
