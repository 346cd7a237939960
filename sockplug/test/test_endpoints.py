"""
Tests for L{sockplug._endpoints}.
"""

from __future__ import annotations

from typing import Any

from attrs import frozen
from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from sockplug._datagram import UDPServerEndpoint, UNIXDatagramServerEndpoint
from sockplug._endpoints import EndpointParser
from sockplug._stream import TCPServerEndpoint, UNIXServerEndpoint
from sockplug.errors import EndpointSyntaxError
from sockplug.interfaces import IDatagramServerEndpointStringParser
from sockplug.plugin import TransportKind
from sockplug.testing import MemoryDatagramReactor


@implementer(IPlugin, IDatagramServerEndpointStringParser)
@frozen
class _ThirdParty:
    """
    A third-party datagram type, C{quic}.
    """

    prefix = "quic"
    example = "quic:443"

    def parseDatagramServer(self, reactor: Any, *args: str, **kwargs: str) -> Any:
        if kwargs:
            raise TypeError("quic takes no options")
        return ("quic", args)


class EndpointParserTests(SynchronousTestCase):
    """
    Tests for L{EndpointParser}.
    """

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()
        self.parser = EndpointParser.fromPlugins(self.reactor)

    def test_builtinDatagramTypes(self) -> None:
        """
        The built-in datagram types are found as plugins.
        """
        self.assertEqual(sorted(self.parser.datagramParsers), ["udp", "unixgram"])

    def test_udp(self) -> None:
        """
        A C{udp:} string is a datagram endpoint.
        """
        parsed = self.parser.parse(r"udp:53:interface=\:\:1")
        self.assertIs(parsed.kind, TransportKind.DATAGRAM)
        self.assertEqual(parsed.endpoint, UDPServerEndpoint(self.reactor, 53, "::1"))

    def test_unixgram(self) -> None:
        """
        A C{unixgram:} string is a datagram endpoint, its path unescaped.
        """
        parsed = self.parser.parse(r"unixgram:/tmp/a\:b@c")
        self.assertIsInstance(parsed.endpoint, UNIXDatagramServerEndpoint)
        assert isinstance(parsed.endpoint, UNIXDatagramServerEndpoint)
        self.assertEqual(parsed.endpoint.path, "/tmp/a:b@c")

    def test_prefixCase(self) -> None:
        """
        Datagram prefixes match regardless of case, as Twisted's do.
        """
        self.assertIs(self.parser.parse("UDP:53").kind, TransportKind.DATAGRAM)

    def test_streamTypes(self) -> None:
        """
        C{tcp}, C{tcp6} and C{unix} are sockplug's own (Twisted's syntax,
        with socket options); every other string goes to Twisted's
        C{serverFromString} as it is.
        """
        cases = [
            ("tcp:8888", TCPServerEndpoint),
            (r"tcp6:8888:interface=\:\:1", TCPServerEndpoint),
            ("unix:/tmp/x.sock", UNIXServerEndpoint),
            ("haproxy:tcp:8888", object),
        ]
        for description, endpointType in cases:
            parsed = self.parser.parse(description)
            self.assertIs(parsed.kind, TransportKind.STREAM)
            self.assertIsInstance(parsed.endpoint, endpointType)
            self.assertEqual(parsed.description, description)

    def test_haproxy(self) -> None:
        """
        Twisted's stream parser plugins (C{haproxy:}) work unchanged.
        """
        parsed = self.parser.parse("haproxy:tcp:8888")
        self.assertIs(parsed.kind, TransportKind.STREAM)

    def test_unknownType(self) -> None:
        """
        An unknown type names itself and lists the known types.
        """
        e = self.assertRaises(EndpointSyntaxError, self.parser.parse, "bogus:1")
        self.assertEqual(e.description, "bogus:1")
        self.assertIn("unknown endpoint type 'bogus'", e.reason)
        for prefix in ("tcp", "unix", "udp", "unixgram"):
            self.assertIn(prefix, e.reason)

    def test_badPortNumber(self) -> None:
        """
        Twisted's C{int()} error is reworded to name the value.
        """
        e = self.assertRaises(
            EndpointSyntaxError, self.parser.parse, "systemd:domain=INET:index=abc"
        )
        self.assertEqual(e.reason, "'abc' is not a whole number")

    def test_unexpectedKeyword(self) -> None:
        """
        An unknown keyword of a Twisted type is named without the private
        function's name.
        """
        e = self.assertRaises(EndpointSyntaxError, self.parser.parse, "tls:/tmp:foo=2")
        self.assertEqual(e.reason, "got an unexpected keyword argument 'foo'")

    def test_datagramError(self) -> None:
        """
        A datagram parser's C{ValueError} becomes an L{EndpointSyntaxError}
        naming the whole string.
        """
        e = self.assertRaises(EndpointSyntaxError, self.parser.parse, "udp:x")
        self.assertEqual(e.description, "udp:x")
        self.assertIn("'x'", e.reason)
        self.assertEqual(str(e), f"endpoint 'udp:x': {e.reason}")

    def test_thirdPartyDatagramType(self) -> None:
        """
        A third-party datagram parser handles its prefix, and any exception
        it raises becomes an L{EndpointSyntaxError}.
        """
        parser = EndpointParser(self.reactor, [_ThirdParty()])
        self.assertEqual(parser.parse("quic:443:x").endpoint, ("quic", ("443", "x")))
        e = self.assertRaises(EndpointSyntaxError, parser.parse, "quic:1:a=b")
        self.assertEqual(e.reason, "quic takes no options")

    def test_endpointTypes(self) -> None:
        """
        The listing has Twisted's stream types and the datagram types, each
        with an example of its own type.
        """
        types = {t.prefix: t for t in self.parser.endpointTypes()}
        for prefix in ("tcp", "tcp6", "unix", "ssl", "systemd", "haproxy"):
            self.assertIs(types[prefix].kind, TransportKind.STREAM)
        for prefix in ("udp", "unixgram"):
            self.assertIs(types[prefix].kind, TransportKind.DATAGRAM)
        for prefix, endpointType in types.items():
            self.assertTrue(endpointType.example.startswith(prefix + ":"), prefix)
            self.assertTrue(endpointType.summary)

    def test_examplesParse(self) -> None:
        """
        Every datagram example shown by C{--help} is a valid string.
        """
        for endpointType in self.parser.endpointTypes():
            if endpointType.kind is TransportKind.DATAGRAM:
                self.parser.parse(endpointType.example)
