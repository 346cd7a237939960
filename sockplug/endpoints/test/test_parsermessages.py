"""
Tests for the messages of L{sockplug.endpoints._parser}: an address that
is not one, and a value an unescaped colon cut, refused when the string is
read, in one line saying what to write.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from sockplug.endpoints._parser import EndpointParser
from sockplug.endpoints._stream import TCPServerEndpoint
from sockplug.errors import EndpointSyntaxError
from sockplug.testing import MemoryDatagramReactor

_NOT_AN_ADDRESS = (
    "is not an IP address, such as 127.0.0.1 or \\:\\:1 (IPv6 colons are escaped)"
)


class InterfaceTests(SynchronousTestCase):
    """
    C{interface=} must be an IP address, for every type that takes one.
    """

    def setUp(self) -> None:
        self.parser = EndpointParser.fromPlugins(MemoryDatagramReactor())

    def assertRefused(self, description: str, value: str) -> None:
        """
        C{description} is refused, naming the interface C{value}.
        """
        e = self.assertRaises(EndpointSyntaxError, self.parser.parse, description)
        self.assertEqual(e.reason, f"interface '{value}' {_NOT_AN_ADDRESS}")

    def test_tcp(self) -> None:
        """
        tcp: refuses an address out of range, a name, and three parts.
        """
        for value in ("999.1.1.1", "abc", "1.2.3", "localhost", "\uff11.2.3.4"):
            self.assertRefused(f"tcp:0:interface={value}", value)

    def test_otherTypes(self) -> None:
        """
        tcp6:, udp:, ssl:, tls: and haproxy:tcp: refuse one too.
        """
        for description in (
            "tcp6:0:interface=abc",
            "udp:0:interface=abc",
            "ssl:0:privateKey=/nonexistent.pem:interface=abc",
            "tls:/nonexistent:interface=abc",
            "haproxy:tcp:0:interface=abc",
        ):
            self.assertRefused(description, "abc")

    def test_addresses(self) -> None:
        """
        IPv4 and IPv6 addresses (with a scope), and none, are taken.
        """
        for value, interface in (
            ("127.0.0.1", "127.0.0.1"),
            ("\\:\\:1", "::1"),
            ("fe80\\:\\:1%lo", "fe80::1%lo"),
            ("", ""),
        ):
            endpoint = self.parser.parse(f"tcp:0:interface={value}").endpoint
            self.assertIsInstance(endpoint, TCPServerEndpoint)
            assert isinstance(endpoint, TCPServerEndpoint)
            self.assertEqual(endpoint.interface, interface)


class ColonTests(SynchronousTestCase):
    """
    A value an unescaped colon cut is refused with a hint to escape it.
    """

    def setUp(self) -> None:
        self.parser = EndpointParser.fromPlugins(MemoryDatagramReactor())

    def reason(self, description: str) -> str:
        """
        Why C{description} is refused.
        """
        e = self.assertRaises(EndpointSyntaxError, self.parser.parse, description)
        self.assertEqual(e.description, description)
        reason: str = e.reason
        return reason

    def test_ipv6(self) -> None:
        """
        An IPv6 address in any key, on any type, is named with its colons
        escaped.
        """
        for description, given, written in (
            ("tcp:0:allow=::1", "allow=::1", "allow=\\:\\:1"),
            ("tcp:0:interface=::1", "interface=::1", "interface=\\:\\:1"),
            ("tcp:0:deny=fe80::1", "deny=fe80::1", "deny=fe80\\:\\:1"),
            ("tcp6:0:interface=::1", "interface=::1", "interface=\\:\\:1"),
            ("udp:0:interface=::1", "interface=::1", "interface=\\:\\:1"),
            ("haproxy:tcp:0:allow=::1", "allow=::1", "allow=\\:\\:1"),
        ):
            self.assertEqual(
                self.reason(description),
                f"the colons of the IPv6 address in {given} must be escaped:"
                f" write {written}, in single quotes in a shell",
            )

    def test_otherValue(self) -> None:
        """
        Another value followed by stray arguments keeps its reason, with a
        hint to escape a colon it holds.
        """
        self.assertEqual(
            self.reason("tcp:0:interface=127.0.0.1:8080"),
            "too many arguments '0:8080'; give the port once, then key=value"
            " options (if interface= holds a colon, write it as \\:)",
        )

    def test_otherFaultsUnchanged(self) -> None:
        """
        A string without stray arguments keeps its own reason.
        """
        self.assertEqual(
            self.reason("tcp:0:allow="),
            "allow= is empty; give addresses or CIDR blocks",
        )
