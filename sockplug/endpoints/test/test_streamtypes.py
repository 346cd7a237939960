"""
Tests for L{sockplug.endpoints._streamtypes}, and for how
L{EndpointParser} dispatches through its table; and the parser's messages
for an interface that is not an address and a value an unescaped colon cut.
"""

from __future__ import annotations

import os
from typing import Any

import twisted.test
from attrs import evolve
from twisted.internet.endpoints import StandardIOEndpoint, TCP6ServerEndpoint
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from sockplug.endpoints import _tls
from sockplug.endpoints._datagram import UDPParser
from sockplug.endpoints._parsed import Built, ParsedEndpoint
from sockplug.endpoints._parser import EndpointParser
from sockplug.endpoints._stream import TCPServerEndpoint
from sockplug.endpoints._streamtypes import STREAM_TYPES, EndpointType
from sockplug.endpoints._syntax import Arguments
from sockplug.endpoints._systemd import SystemdStreamEndpoint
from sockplug.endpoints._tls import TLSServerEndpoint
from sockplug.endpoints.proxy._wrapper import ProxiedEndpoint
from sockplug.errors import EndpointSyntaxError
from sockplug.plugin import TransportKind
from sockplug.testing import MemoryDatagramReactor

_PEM = os.path.join(os.path.dirname(twisted.test.__file__), "server.pem")


class TableTests(SynchronousTestCase):
    """
    Tests for L{STREAM_TYPES}.
    """

    def test_parsers(self) -> None:
        """
        Each of sockplug's stream types has a parser; C{stdio} is left to
        Twisted.
        """
        self.assertEqual(
            {t.prefix: t.parse is not None for t in STREAM_TYPES},
            {
                "tcp": True,
                "tcp6": True,
                "unix": True,
                "ssl": True,
                "tls": True,
                "systemd": True,
                "haproxy": True,
                "stdio": False,
            },
        )

    def test_streams(self) -> None:
        """
        Every type of the table is a stream type.
        """
        self.assertEqual({t.kind for t in STREAM_TYPES}, {TransportKind.STREAM})


class ParsersTests(SynchronousTestCase):
    """
    What the table's parsers make of their arguments.
    """

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()
        self.parser = EndpointParser(self.reactor, [UDPParser()])
        self.folders: list[str] = []
        self.patch(_tls, "domainMapping", self.folders.append)

    def built(self, description: str) -> Built:
        arguments = Arguments.parse(description)
        [row] = [t for t in STREAM_TYPES if t.prefix == arguments.prefix]
        assert row.parse is not None
        made = row.parse(self.reactor, arguments, self.parser.build)
        assert made is not None
        return made

    def test_own(self) -> None:
        """
        A C{tcp:} endpoint makes its own socket, with no layer over it.
        """
        built = self.built("tcp:80:interface=127.0.0.1")
        endpoint = TCPServerEndpoint(self.reactor, 80, "127.0.0.1")
        self.assertEqual(built, Built(endpoint, endpoint))

    def test_systemd(self) -> None:
        """
        A C{systemd:} endpoint's socket is not sockplug's.
        """
        built = self.built("systemd:domain=INET:index=0")
        self.assertIsInstance(built.endpoint, SystemdStreamEndpoint)
        self.assertEqual((built.socket, built.layers), (None, ()))

    def test_ssl(self) -> None:
        """
        An C{ssl:} endpoint is TLS over sockplug's TCP socket, its settings
        the layer over it.
        """
        description = f"ssl:0:privateKey={_PEM}:backlog=7:interface=127.0.0.1"
        built = self.built(description)
        self.assertIsInstance(built.endpoint, TLSServerEndpoint)
        self.assertEqual(
            (built.socket, built.layers),
            (
                TCPServerEndpoint(self.reactor, 0, "127.0.0.1", 7),
                (Arguments.parse(description).canonical,),
            ),
        )

    def test_tls(self) -> None:
        """
        A C{tls:} endpoint is TLS over Twisted's TCP endpoint, whose socket
        sockplug's endpoint makes the same (port, interface, backlog); its
        folder is read once.
        """
        description = "tls:/pems:port=8443:backlog=7:interface=\\:\\:1"
        built = self.built(description)
        assert isinstance(built.endpoint, TLSServerEndpoint)
        self.assertIsInstance(built.endpoint.endpoint, TCP6ServerEndpoint)
        self.assertEqual(
            (built.socket, built.layers, self.folders),
            (
                TCPServerEndpoint(self.reactor, 8443, "::1", 7),
                (Arguments.parse(description).canonical,),
                [FilePath("/pems")],
            ),
        )

    def test_tlsDefaults(self) -> None:
        """
        Unless told otherwise, a C{tls:} socket is on port 443 of every
        interface, with a backlog of 50.
        """
        self.assertEqual(
            self.built("tls:/pems").socket,
            TCPServerEndpoint(self.reactor, 443, "::", 50),
        )

    def test_haproxy(self) -> None:
        """
        A C{haproxy:} endpoint listens on the socket of the endpoint after
        it, with the PROXY header as the outermost layer.
        """
        built = self.built(f"haproxy:ssl:0:privateKey={_PEM}")
        self.assertIsInstance(built.endpoint, ProxiedEndpoint)
        self.assertEqual(
            (built.socket, built.layers),
            (
                TCPServerEndpoint(self.reactor, 0),
                ("haproxy", Arguments.parse(f"ssl:0:privateKey={_PEM}").canonical),
            ),
        )

    def test_haproxyRefuses(self) -> None:
        """
        C{haproxy:} needs a stream endpoint after it, and only one header.
        """
        for description, reason in (
            ("haproxy:", "haproxy: needs an endpoint, e.g. haproxy:tcp:8888"),
            ("haproxy:haproxy:tcp:0", "a PROXY header inside a PROXY header"),
            ("haproxy:udp:0", "the PROXY protocol needs a stream endpoint"),
        ):
            e = self.assertRaises(ValueError, self.built, description)
            self.assertIn(reason, str(e))


def _recording(made: list[Arguments], endpoint: Any) -> EndpointType:
    """
    A C{tcp} type whose parser notes the arguments it is given.
    """

    def parse(reactor: Any, arguments: Arguments, inner: Any) -> Built:
        made.append(arguments)
        return Built(endpoint)

    return EndpointType("tcp", TransportKind.STREAM, "tcp:1", "recorded", parse)


class DispatchTests(SynchronousTestCase):
    """
    How L{EndpointParser} uses its table of stream types.
    """

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()

    def test_table(self) -> None:
        """
        A type of the table is parsed by its parser, given the arguments
        without the limits.
        """
        made: list[Arguments] = []
        endpoint = TCPServerEndpoint(self.reactor, 1)
        parser = EndpointParser(self.reactor, [], [_recording(made, endpoint)])
        parsed = parser.parse("tcp:1:idle=5:x=y")
        self.assertEqual(
            (made, parsed.endpoint, parsed.limits.idleTimeout),
            ([Arguments("tcp", ("1",), (("x", "y"),))], endpoint, 5.0),
        )

    def test_notInTable(self) -> None:
        """
        A type the table has no parser for goes to Twisted.
        """
        parser = EndpointParser(self.reactor, [], [])
        self.assertIsInstance(parser.parse("stdio:").endpoint, StandardIOEndpoint)

    def test_declined(self) -> None:
        """
        A type whose parser declines (as C{tls:} does on a Twisted without
        it) goes to Twisted.
        """
        asked: list[Arguments] = []

        def decline(reactor: Any, arguments: Arguments, inner: Any) -> None:
            asked.append(arguments)

        declining = EndpointType("stdio", TransportKind.STREAM, "", "", decline)
        parser = EndpointParser(self.reactor, [], [declining])
        endpoint = parser.parse("stdio:").endpoint
        self.assertEqual(asked, [Arguments("stdio", ("",))])
        self.assertIsInstance(endpoint, StandardIOEndpoint)

    def test_parsed(self) -> None:
        """
        What the type's parser made becomes the parsed endpoint.
        """
        parsed = EndpointParser(self.reactor, []).parse("haproxy:tcp:1")
        self.assertIsInstance(parsed, ParsedEndpoint)
        self.assertEqual(
            (parsed.socket, parsed.layers),
            (TCPServerEndpoint(self.reactor, 1), ("haproxy",)),
        )

    def test_listed(self) -> None:
        """
        The table's types are those C{--help} lists first.
        """
        table = [evolve(STREAM_TYPES[0], summary="listed")]
        types = EndpointParser(self.reactor, [], table).endpointTypes()
        self.assertEqual(types[0], table[0])


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
