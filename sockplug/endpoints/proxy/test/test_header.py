"""
Tests for L{sockplug.endpoints.proxy._header}.
"""

from __future__ import annotations

import struct

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.trial.unittest import SynchronousTestCase

from sockplug.compat import ProxyInfo
from sockplug.endpoints.proxy._header import (
    V1_MAX_LENGTH,
    V2_MAX_LENGTH,
    V1UnknownParser,
    V2BoundedParser,
    checked,
    couldStart,
    isLocal,
    parserFor,
)

_V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_CLIENT = IPv4Address("TCP", "192.0.2.7", 56324)
_SERVER = IPv4Address("TCP", "198.51.100.1", 443)


def _info(source: object, destination: object = _SERVER) -> ProxyInfo:
    return ProxyInfo(b"", source, destination)  # type: ignore[arg-type]


class V1UnknownParserTests(SynchronousTestCase):
    """
    Tests for L{V1UnknownParser}.
    """

    def test_shortUnknown(self) -> None:
        """
        C{PROXY UNKNOWN} alone names no addresses.
        """
        info = V1UnknownParser.parse(b"PROXY UNKNOWN\r\n")
        self.assertEqual((info.source, info.destination), (None, None))

    def test_full(self) -> None:
        """
        A full v1 header is parsed as Twisted parses it.
        """
        info = V1UnknownParser.parse(b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n")
        self.assertEqual((info.source, info.destination), (_CLIENT, _SERVER))


def _v1Unknown(length: int) -> bytes:
    """
    A v1 C{UNKNOWN} header of C{length} bytes, its CRLF included.
    """
    return b"PROXY UNKNOWN ".ljust(length - 2, b"x") + b"\r\n"


def _v2Local(length: int) -> bytes:
    """
    A v2 C{LOCAL} header of C{length} bytes, its signature included.
    """
    return _V2_SIGNATURE + b"\x20\x00" + struct.pack("!H", length - 16)


class V1LengthTests(SynchronousTestCase):
    """
    L{V1UnknownParser.feed} refuses a header longer than the specification
    allows: 107 bytes, its CRLF included.
    """

    def test_maximum(self) -> None:
        """
        The maximum is 107 bytes.
        """
        self.assertEqual(V1_MAX_LENGTH, 107)

    def test_longestTaken(self) -> None:
        """
        A header of 107 bytes is taken, and what follows it is given back.
        """
        info, rest = V1UnknownParser().feed(_v1Unknown(107) + b"hello")
        assert info is not None
        self.assertEqual((info.source, rest), (None, b"hello"))

    def test_longerRefused(self) -> None:
        """
        A header of 108 bytes, whole in one read, is refused, saying why.
        """
        e = self.assertRaises(ValueError, V1UnknownParser().feed, _v1Unknown(108))
        self.assertEqual(
            str(e),
            "a v1 header longer than 107 bytes, the most the specification allows",
        )

    def test_hugeRefused(self) -> None:
        """
        A 60 KB header, whole in one read, is refused.
        """
        self.assertRaises(ValueError, V1UnknownParser().feed, _v1Unknown(60_000))

    def test_hugeAddressesRefused(self) -> None:
        """
        A 60 KB header with valid addresses and ports, then text that
        Twisted's parser would ignore, is refused.
        """
        header = b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 443 " + b"x" * 60_000
        self.assertRaises(ValueError, V1UnknownParser().feed, header + b"\r\n")

    def test_longerInPiecesRefused(self) -> None:
        """
        A header of 108 bytes in two reads, the second with its CRLF, is
        refused.
        """
        header = _v1Unknown(108)
        parser = V1UnknownParser()
        self.assertEqual(parser.feed(header[:100]), (None, None))
        self.assertRaises(ValueError, parser.feed, header[100:])

    def test_noEndRefusedAtOnce(self) -> None:
        """
        107 bytes without a CRLF are refused at once, without waiting for
        more.
        """
        self.assertRaises(ValueError, V1UnknownParser().feed, b"PROXY " + b"1" * 101)

    def test_shorterWaits(self) -> None:
        """
        106 bytes without a CRLF wait for more: the CRLF may end them.
        """
        header = _v1Unknown(108)[:106]
        self.assertEqual(V1UnknownParser().feed(header), (None, None))

    def test_longestInPiecesTaken(self) -> None:
        """
        A header of 107 bytes whose LF comes in a read of its own is taken.
        """
        header = _v1Unknown(107)
        parser = V1UnknownParser()
        self.assertEqual(parser.feed(header[:106]), (None, None))
        info, rest = parser.feed(header[106:])
        self.assertEqual((info is None, rest), (False, b""))


class V2LengthTests(SynchronousTestCase):
    """
    L{V2BoundedParser.feed} refuses a header that says it is longer than
    sockplug accepts.
    """

    def test_maximum(self) -> None:
        """
        sockplug accepts v2 headers of up to 4 KiB.
        """
        self.assertEqual(V2_MAX_LENGTH, 4096)

    def test_longestTaken(self) -> None:
        """
        A v2 header of 4,096 bytes is taken.
        """
        info, rest = V2BoundedParser().feed(_v2Local(4096) + b"\0" * 4080 + b"hi")
        self.assertEqual((info is None, rest), (False, b"hi"))

    def test_longerRefusedAtOnce(self) -> None:
        """
        A v2 header that says it is 4,097 bytes long is refused on its
        first 16 bytes, saying why.
        """
        e = self.assertRaises(ValueError, V2BoundedParser().feed, _v2Local(4097))
        self.assertEqual(
            str(e), "a v2 header of 4097 bytes, more than the 4096 sockplug accepts"
        )

    def test_lengthCheckedOnce(self) -> None:
        """
        The rest of a header that arrives over several reads is not taken
        for its start.
        """
        parser = V2BoundedParser()
        self.assertEqual(parser.feed(_v2Local(4096)), (None, None))
        self.assertEqual(parser.feed(b"\xff" * 16), (None, None))


class ParserForTests(SynchronousTestCase):
    """
    Tests for L{parserFor}.
    """

    def test_v1(self) -> None:
        """
        A v1 header is read by a L{V1UnknownParser}.
        """
        self.assertIsInstance(parserFor(b"PROXY TCP4 "), V1UnknownParser)

    def test_v2(self) -> None:
        """
        A v2 header is read by a L{V2BoundedParser}.
        """
        self.assertIsInstance(parserFor(_v2Local(16)), V2BoundedParser)

    def test_v2OtherVersion(self) -> None:
        """
        The v2 signature with another version is no header sockplug reads.
        """
        self.assertIsNone(parserFor(_V2_SIGNATURE + b"\x30\x00\x00\x00"))

    def test_other(self) -> None:
        """
        What no header starts with has no parser.
        """
        self.assertIsNone(parserFor(b"GET / HTTP/1.0\r\n"))


class CouldStartTests(SynchronousTestCase):
    """
    Tests for L{couldStart}.
    """

    def test_v1Start(self) -> None:
        """
        The first bytes of a v1 header could start one.
        """
        self.assertTrue(couldStart(b"PROX"))

    def test_v2Start(self) -> None:
        """
        The first bytes of a v2 header, shorter than 16, could start one.
        """
        self.assertTrue(couldStart(_V2_SIGNATURE + b"\x20"))

    def test_other(self) -> None:
        """
        Bytes no header starts with could not.
        """
        self.assertFalse(couldStart(b"GET"))

    def test_longEnough(self) -> None:
        """
        Bytes long enough to tell are not waited on.
        """
        self.assertFalse(couldStart(b"PROXY TC"))


class CheckedTests(SynchronousTestCase):
    """
    Tests for L{checked}.
    """

    def test_shortIPv6(self) -> None:
        """
        An IPv6 address is written the standard short way.
        """
        info = checked(_info(IPv6Address("TCP", "2001:db8:0:0:0:0:0:7", 1)))
        self.assertEqual(info.source, IPv6Address("TCP", "2001:db8::7", 1))

    def test_notAnAddress(self) -> None:
        """
        A host that is not an IP address is refused, named.
        """
        e = self.assertRaises(ValueError, checked, _info(IPv4Address("TCP", "evil", 1)))
        self.assertEqual(str(e), "names 'evil', not an IP address")

    def test_wrongFamily(self) -> None:
        """
        An IPv6 address given as IPv4 is refused.
        """
        e = self.assertRaises(ValueError, checked, _info(IPv4Address("TCP", "::1", 1)))
        self.assertEqual(str(e), "names '::1' in the wrong address family")

    def test_scopeId(self) -> None:
        """
        An IPv6 address with a scope id (free text) is refused.
        """
        e = self.assertRaises(
            ValueError, checked, _info(IPv6Address("TCP", "fe80::1%eth0", 1))
        )
        self.assertEqual(str(e), "names 'fe80::1%eth0', with a scope id")

    def test_badPort(self) -> None:
        """
        A port past 65535 is refused.
        """
        e = self.assertRaises(
            ValueError, checked, _info(IPv4Address("TCP", "192.0.2.7", 70000))
        )
        self.assertEqual(str(e), "names port 70000")

    def test_unixNone(self) -> None:
        """
        A UNIX address names no client: the connection's own is used.
        """
        info = checked(_info(UNIXAddress(b"/tmp/x"), UNIXAddress(b"/tmp/y")))
        self.assertEqual((info.source, info.destination), (None, None))


class IsLocalTests(SynchronousTestCase):
    """
    Tests for L{isLocal}.
    """

    def test_local(self) -> None:
        """
        A v2 header with the C{LOCAL} command is the balancer's own.
        """
        header = _V2_SIGNATURE + b"\x20\x00\x00\x00"
        self.assertTrue(isLocal(ProxyInfo(header, None, None)))

    def test_proxy(self) -> None:
        """
        A v2 header with the C{PROXY} command is not, even naming no client.
        """
        header = _V2_SIGNATURE + b"\x21\x00\x00\x00"
        self.assertFalse(isLocal(ProxyInfo(header, None, None)))

    def test_v1Unknown(self) -> None:
        """
        A v1 C{UNKNOWN} header is not.
        """
        self.assertFalse(isLocal(ProxyInfo(b"PROXY UNKNOWN\r\n", None, None)))
