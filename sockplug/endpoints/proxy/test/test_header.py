"""
Tests for L{sockplug.endpoints.proxy._header}.
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.trial.unittest import SynchronousTestCase

from sockplug.compat import ProxyInfo
from sockplug.endpoints.proxy._header import (
    V1UnknownParser,
    checked,
    couldStart,
    isLocal,
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
