"""
Tests for L{sockplug.endpoints._parsed}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from sockplug.endpoints._datagram import UDPParser, UNIXDatagramParser
from sockplug.endpoints._parsed import ParsedEndpoint
from sockplug.endpoints._parser import EndpointParser
from sockplug.endpoints._stream import TCPServerEndpoint
from sockplug.endpoints._syntax import Arguments
from sockplug.endpoints._systemd import SystemdDatagramParser
from sockplug.options._sockopts import SocketOptions
from sockplug.plugin import TransportKind
from sockplug.testing import MemoryDatagramReactor


class _Parsing(SynchronousTestCase):
    """
    Parses endpoint strings with the built-in types.
    """

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()
        self.parser = EndpointParser(
            self.reactor, [UDPParser(), UNIXDatagramParser(), SystemdDatagramParser()]
        )

    def parse(self, description: str) -> ParsedEndpoint:
        return self.parser.parse(description)


class TypeTests(_Parsing):
    """
    Tests for L{ParsedEndpoint.prefix} and L{ParsedEndpoint.socketType}.
    """

    def test_prefix(self) -> None:
        """
        The prefix is the outermost type, lower-cased.
        """
        self.assertEqual(self.parse("HAPROXY:tcp:0").prefix, "haproxy")

    def test_socketType(self) -> None:
        """
        The socket type is the one under any C{haproxy:}.
        """
        self.assertEqual(
            [self.parse(text).socketType for text in ("haproxy:UNIX:/a", "udp:0")],
            ["unix", "udp"],
        )

    def test_arguments(self) -> None:
        """
        The arguments are the string's, taken apart once, limits included.
        """
        self.assertEqual(
            self.parse("tcp:0:idle=5:backlog=7").arguments,
            Arguments("tcp", ("0",), (("idle", "5"), ("backlog", "7"))),
        )


class IdentityTests(_Parsing):
    """
    Tests for L{ParsedEndpoint.identity}: which socket an endpoint needs.
    """

    def assertSame(self, *descriptions: str) -> None:
        identities = {self.parse(text).identity for text in descriptions}
        self.assertEqual(len(identities), 1, descriptions)

    def assertDifferent(self, *descriptions: str) -> None:
        identities = {self.parse(text).identity for text in descriptions}
        self.assertEqual(len(identities), len(descriptions), descriptions)

    def test_limitsAndOrder(self) -> None:
        """
        Neither the limits nor the order of the options count.
        """
        self.assertSame(
            "tcp:80:interface=127.0.0.1:backlog=9",
            "tcp:80:backlog=9:idle=5:interface=127.0.0.1:maxconn=3",
        )

    def test_spelling(self) -> None:
        """
        How the string spells the socket's settings does not count: a port
        by position or by key, a default given or not, a flag as C{yes} or
        C{1}, the type's case.
        """
        self.assertSame("tcp:80", "TCP:port=80", "tcp:80:backlog=50")
        self.assertSame("tcp:80:nodelay=yes", "tcp:80:nodelay=1")

    def test_layersDoNotCount(self) -> None:
        """
        The PROXY header served over a socket is not another socket.
        """
        self.assertSame("tcp:80", "haproxy:tcp:80")

    def test_settingsCount(self) -> None:
        """
        Another port, interface, socket option, backlog, kind or path is
        another socket.
        """
        self.assertDifferent(
            "tcp:80",
            "tcp:81",
            "tcp:80:interface=127.0.0.1",
            "tcp:80:reuseport=yes",
            "tcp:80:backlog=5",
            "udp:80",
            "unix:/tmp/a.sock",
            "unix:/tmp/a.sock:mode=600",
            "unixgram:/tmp/a.sock",
        )

    def test_reactorDoesNotCount(self) -> None:
        """
        Endpoints parsed for different reactors need the same socket.
        """
        other = EndpointParser(MemoryDatagramReactor(), [])
        self.assertEqual(self.parse("tcp:80").identity, other.parse("tcp:80").identity)

    def test_notSockplugs(self) -> None:
        """
        A socket sockplug does not make is known by its string under any
        C{haproxy:}, without the limits, its keywords in order.
        """
        self.assertEqual(
            [
                self.parse(text).identity
                for text in (
                    "systemd:index=0:domain=INET:idle=5",
                    "haproxy:systemd:domain=INET:index=0",
                    "SYSTEMD-DATAGRAM:domain=INET:index=1",
                )
            ],
            [
                "systemd:domain=INET:index=0",
                "systemd:domain=INET:index=0",
                "systemd-datagram:domain=INET:index=1",
            ],
        )


class SocketTests(_Parsing):
    """
    Tests for L{ParsedEndpoint.socket} and L{ParsedEndpoint.socketOptions}.
    """

    def test_ownSocket(self) -> None:
        """
        A C{tcp:} endpoint makes its socket itself, with its socket options.
        """
        parsed = self.parse("tcp:80:nodelay=yes")
        self.assertIs(parsed.socket, parsed.endpoint)
        self.assertEqual(parsed.socketOptions, SocketOptions(nodelay=True))

    def test_underProxy(self) -> None:
        """
        The socket of a C{haproxy:} endpoint is made by the endpoint after
        it.
        """
        self.assertEqual(
            self.parse("haproxy:tcp:80").socket, TCPServerEndpoint(self.reactor, 80)
        )

    def test_notSockplugs(self) -> None:
        """
        sockplug makes no socket for C{systemd:} or C{stdio:}.
        """
        for text in ("systemd:domain=INET:index=0", "stdio:"):
            parsed = self.parse(text)
            self.assertEqual((parsed.socket, parsed.socketOptions), (None, None))


class FilesTests(_Parsing):
    """
    Tests for L{ParsedEndpoint.files}.
    """

    def test_ownTypes(self) -> None:
        """
        sockplug's own socket types read no files, under C{haproxy:} too.
        """
        for text in ("tcp:0", "unix:/tmp/a.sock", "udp:0", "haproxy:tcp6:0"):
            self.assertEqual(self.parse(text).files, (), text)

    def test_otherTypes(self) -> None:
        """
        Every argument of any other type may name a file it read.
        """
        parsed = ParsedEndpoint(
            "ssl:443:privateKey=k.pem:idle=5",
            TransportKind.STREAM,
            TCPServerEndpoint(self.reactor, 443),
            arguments=Arguments.parse("ssl:443:privateKey=k.pem:idle=5"),
        )
        self.assertEqual(parsed.files, ("443", "k.pem", "5"))
