"""
Tests for L{sockplug.logs._address}.
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.stdio import PipeAddress
from twisted.trial.unittest import SynchronousTestCase

from sockplug.logs._address import UNBOUND, formatAddress


class FormatAddressTests(SynchronousTestCase):
    """
    Tests for L{formatAddress}.
    """

    def test_unboundConstant(self) -> None:
        """
        L{UNBOUND}, the text shown for an address-less sender, is C{(unbound)}.
        """
        self.assertEqual(UNBOUND, "(unbound)")

    def test_standardIO(self) -> None:
        """
        The peer (and host) of the C{stdio:} connection, a L{PipeAddress},
        is shown as C{stdio}, not as the object's repr.
        """
        self.assertEqual(formatAddress(PipeAddress()), "stdio")

    def test_ipv4TCP(self) -> None:
        """
        An L{IPv4Address} is shown as C{host:port}.
        """
        self.assertEqual(
            formatAddress(IPv4Address("TCP", "127.0.0.1", 53422)), "127.0.0.1:53422"
        )

    def test_ipv4UDP(self) -> None:
        """
        A UDP L{IPv4Address} is shown the same way as a TCP one.
        """
        self.assertEqual(
            formatAddress(IPv4Address("UDP", "10.1.2.3", 9999)), "10.1.2.3:9999"
        )

    def test_ipv6(self) -> None:
        """
        An L{IPv6Address} is shown as C{[host]:port}, so that the port cannot
        be mistaken for part of the host.
        """
        self.assertEqual(formatAddress(IPv6Address("TCP", "::1", 53422)), "[::1]:53422")

    def test_ipv6Long(self) -> None:
        """
        A full IPv6 host is bracketed as it is, not shortened or reordered.
        """
        self.assertEqual(
            formatAddress(IPv6Address("TCP", "2001:db8::17", 80)), "[2001:db8::17]:80"
        )

    def test_unixPath(self) -> None:
        """
        A L{UNIXAddress} with a path is shown as the path.
        """
        self.assertEqual(formatAddress(UNIXAddress("/run/app.sock")), "/run/app.sock")

    def test_unixPathBytes(self) -> None:
        """
        A L{UNIXAddress} made from a bytes path is shown as the decoded path.
        """
        self.assertEqual(formatAddress(UNIXAddress(b"/run/app.sock")), "/run/app.sock")

    def test_unixPathNotUTF8(self) -> None:
        """
        A bytes path that is not UTF-8 is shown with its odd bytes as
        C{\\xNN}, rather than failing.
        """
        self.assertEqual(
            formatAddress(UNIXAddress(b"/tmp/\xff.sock")), "/tmp/\\xff.sock"
        )

    def test_unixNone(self) -> None:
        """
        A L{UNIXAddress} without a name (an unbound peer) is C{(unbound)}.
        """
        self.assertEqual(formatAddress(UNIXAddress(None)), "(unbound)")

    def test_unixEmpty(self) -> None:
        """
        A L{UNIXAddress} with an empty name is C{(unbound)}.
        """
        self.assertEqual(formatAddress(UNIXAddress("")), "(unbound)")

    def test_unixAbstract(self) -> None:
        """
        A Linux abstract-namespace name (starting with NUL) is shown with
        C{@} in place of the NUL, as ss(8) shows it.
        """
        self.assertEqual(formatAddress(UNIXAddress("\0name")), "@name")

    def test_unixAbstractBytes(self) -> None:
        """
        An abstract-namespace name given as bytes, as C{recvfrom} gives it,
        is shown with C{@} in place of the NUL.
        """
        self.assertEqual(formatAddress(b"\0name"), "@name")

    def test_pathString(self) -> None:
        """
        A path string, as C{recvfrom} on a UNIX datagram socket gives it, is
        shown as it is.
        """
        self.assertEqual(formatAddress("/tmp/client.sock"), "/tmp/client.sock")

    def test_pathBytes(self) -> None:
        """
        A bytes path is decoded.
        """
        self.assertEqual(formatAddress(b"/tmp/client.sock"), "/tmp/client.sock")

    def test_udpTupleIPv4(self) -> None:
        """
        A UDP sender C{(host, port)} tuple is shown as C{host:port}.
        """
        self.assertEqual(formatAddress(("127.0.0.1", 5000)), "127.0.0.1:5000")

    def test_udpTupleIPv6(self) -> None:
        """
        A UDP sender tuple with an IPv6 host (which C{recvfrom} gives as a
        4-tuple) is shown as C{[host]:port}.
        """
        self.assertEqual(formatAddress(("::1", 5000, 0, 0)), "[::1]:5000")

    def test_none(self) -> None:
        """
        L{None}, what C{recvfrom} gives for an unbound UNIX datagram sender,
        is C{(unbound)}.
        """
        self.assertEqual(formatAddress(None), "(unbound)")

    def test_emptyString(self) -> None:
        """
        An empty string, what some systems give for an unbound UNIX datagram
        sender, is C{(unbound)}.
        """
        self.assertEqual(formatAddress(""), "(unbound)")

    def test_emptyBytes(self) -> None:
        """
        Empty bytes are C{(unbound)}.
        """
        self.assertEqual(formatAddress(b""), "(unbound)")
