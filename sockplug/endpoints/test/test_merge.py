"""
Tests for L{EndpointParser.build} and L{EndpointParser.merge}: parsed
arguments made into an endpoint, and keyword arguments added to a parsed
endpoint without parsing its string again.
"""

from __future__ import annotations

from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from sockplug.endpoints import _tls
from sockplug.endpoints._datagram import UDPParser, UDPServerEndpoint
from sockplug.endpoints._parser import EndpointParser
from sockplug.endpoints._stream import TCPServerEndpoint
from sockplug.endpoints._syntax import Arguments
from sockplug.endpoints.proxy._wrapper import ProxiedEndpoint
from sockplug.errors import EndpointSyntaxError
from sockplug.options._limits import ListenerLimits
from sockplug.options._sockopts import SocketOptions
from sockplug.testing import MemoryDatagramReactor


class BuildTests(SynchronousTestCase):
    """
    Tests for L{EndpointParser.build}.
    """

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()
        self.parser = EndpointParser(self.reactor, [UDPParser()])

    def test_described(self) -> None:
        """
        Parsed arguments make the endpoint the string they came from makes,
        named by that string.
        """
        parsed = self.parser.build(Arguments.parse("udp:53"), "UDP:port=53")
        self.assertEqual(
            (parsed.description, parsed.endpoint),
            ("UDP:port=53", UDPServerEndpoint(self.reactor, 53)),
        )

    def test_ownText(self) -> None:
        """
        Arguments given without their string are named by their own text.
        """
        e = self.assertRaises(
            EndpointSyntaxError, self.parser.build, Arguments("tcp", ("x",))
        )
        self.assertEqual(e.description, "tcp:x")


class MergeTests(SynchronousTestCase):
    """
    Tests for L{EndpointParser.merge}.
    """

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()
        self.parser = EndpointParser(self.reactor, [UDPParser()])

    def test_nothing(self) -> None:
        """
        No keywords leave the parsed endpoint as it is.
        """
        parsed = self.parser.parse("tcp:1")
        self.assertIs(self.parser.merge(parsed, {}), parsed)

    def test_limits(self) -> None:
        """
        Limits are added to the limits and written into the description;
        the endpoint is not made again.
        """
        parsed = self.parser.parse("tcp:1:maxconn=3")
        merged = self.parser.merge(parsed, {"idle": "60"})
        self.assertIs(merged.endpoint, parsed.endpoint)
        self.assertEqual(
            (merged.description, merged.limits, merged.arguments),
            (
                "tcp:1:maxconn=3:idle=60",
                ListenerLimits(maxConnections=3, idleTimeout=60.0),
                Arguments("tcp", ("1",), (("maxconn", "3"), ("idle", "60"))),
            ),
        )

    def test_socketOptions(self) -> None:
        """
        Socket options make the endpoint again, with them.
        """
        parsed = self.parser.parse("tcp:1:interface=127.0.0.1")
        merged = self.parser.merge(parsed, {"nodelay": "yes", "backlog": "7"})
        endpoint = TCPServerEndpoint(
            self.reactor, 1, "127.0.0.1", 7, SocketOptions(nodelay=True)
        )
        self.assertEqual(
            (merged.endpoint, merged.socket, merged.description),
            (endpoint, endpoint, "tcp:1:interface=127.0.0.1:nodelay=yes:backlog=7"),
        )
        self.assertNotEqual(merged.identity, parsed.identity)

    def test_proxied(self) -> None:
        """
        The socket options of a C{haproxy:} endpoint go to the endpoint
        after it, as in its string.
        """
        parsed = self.parser.parse("haproxy:tcp:1")
        merged = self.parser.merge(parsed, {"backlog": "7"})
        assert isinstance(merged.endpoint, ProxiedEndpoint)
        self.assertEqual(
            (merged.endpoint.wrapped, merged.layers),
            (TCPServerEndpoint(self.reactor, 1, backlog=7), ("haproxy",)),
        )

    def test_wrongValue(self) -> None:
        """
        A wrong value is refused as in the string, naming the string with
        the keywords written in.
        """
        parsed = self.parser.parse("udp:1")
        e = self.assertRaises(
            EndpointSyntaxError, self.parser.merge, parsed, {"idle": "5"}
        )
        self.assertEqual(
            (e.description, e.reason),
            ("udp:1:idle=5", "idle applies to stream endpoints only"),
        )

    def test_tlsFolderReadOnce(self) -> None:
        """
        A C{tls:} folder is read when the endpoint is parsed, and not again
        when limits are added.
        """
        read: list[FilePath[str]] = []
        self.patch(_tls, "domainMapping", read.append)
        parsed = self.parser.parse("tls:/pems:port=0")
        merged = self.parser.merge(parsed, {"idle": "60", "maxconn": "3"})
        self.assertEqual(read, [FilePath("/pems")])
        self.assertIs(merged.endpoint, parsed.endpoint)
        self.assertEqual(merged.limits.idleTimeout, 60.0)
