"""
Tests for L{sockplug.client._endpoints}.
"""

from __future__ import annotations

import io
import os
import tempfile
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IStreamClientEndpoint as IStreamEndpoint
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.testing import (
    MemoryReactorClock,
)
from twisted.trial.unittest import SynchronousTestCase

from sockplug.client._endpoints import (
    ClientEndpoint,
    UDPClient,
    UNIXDatagramClient,
    parseClientEndpoint,
)
from sockplug.client._session import (
    ClientError,
    Output,
    Session,
)
from sockplug.compat import clientEndpointAddress
from sockplug.errors import EndpointSyntaxError
from sockplug.plugin import TransportKind
from sockplug.testing import (
    MemoryDatagramReactor,
)

UDP = "udp:host=127.0.0.1:port=7"


# Fullwidth digits, as a keyboard set for Chinese or Japanese types them,
# U+FF18 and U+FF11, U+FF12, U+FF17. Python's int() takes them as 8888 and 127.
WIDE_8888 = "\uff18" * 4
WIDE_127 = "\uff11\uff12\uff17"


class ParseClientEndpointTests(SynchronousTestCase):
    """L{parseClientEndpoint} parses every client type and names what is wrong."""

    def parse(self, description: str) -> ClientEndpoint:
        return parseClientEndpoint(MemoryReactorClock(), description)

    def test_streamTypes(self) -> None:
        """C{tcp:}, C{unix:}, C{tls:} and C{ssl:} with C{hostname=} are streams."""
        for description in (
            "tcp:host=127.0.0.1:port=8888",
            "unix:path=/run/x.sock",
            "tls:example.com:443",
            "ssl:host=example.com:port=443:hostname=example.com",
        ):
            parsed = self.parse(description)
            self.assertEqual(parsed.kind, TransportKind.STREAM, description)
            self.assertTrue(IStreamEndpoint.providedBy(parsed.stream), description)
            self.assertIsNone(parsed.datagram)

    def test_escapedIPv6(self) -> None:
        """An IPv6 address with its colons escaped is taken whole."""
        stream: Any = self.parse("tcp:host=\\:\\:1:port=8888").stream
        self.assertEqual((stream._host, stream._port), ("::1", 8888))

    def test_longPortCut(self) -> None:
        """A port of 5,000 digits is refused, quoted back cut to its length."""
        description = "tcp:host=h:port=" + "9" * 5000
        error = self.assertRaises(EndpointSyntaxError, self.parse, description)
        self.assertEqual(
            error.reason,
            f"port '{'9' * 30}... (5000 characters)' is not a number from 1 to 65535",
        )

    def test_tcp(self) -> None:
        """C{tcp:host=H:port=P} connects to that host and port."""
        stream: Any = self.parse("tcp:host=127.0.0.1:port=8888").stream
        self.assertEqual(clientEndpointAddress(stream), ("127.0.0.1", 8888))

    def test_udp(self) -> None:
        """C{udp:host=H:port=P} is a UDP datagram client, the type in any case."""
        parsed = self.parse("UDP:host=localhost:port=53")
        self.assertEqual((parsed.kind, parsed.stream), (TransportKind.DATAGRAM, None))
        self.assertEqual(
            parsed.datagram, UDPClient(parsed.description, "localhost", 53)
        )

    def test_udpBracketedIPv6(self) -> None:
        """A bracketed IPv6 UDP host loses its brackets."""
        parsed = self.parse("udp:host=[\\:\\:1]:port=53")
        self.assertEqual(parsed.datagram, UDPClient(parsed.description, "::1", 53))

    def test_unixgram(self) -> None:
        """C{unixgram:path=P} is a UNIX datagram client sending to P."""
        parsed = self.parse("unixgram:path=/run/x.dgram")
        self.assertEqual(parsed.kind, TransportKind.DATAGRAM)
        self.assertEqual(
            parsed.datagram, UNIXDatagramClient(parsed.description, "/run/x.dgram")
        )

    def test_errors(self) -> None:
        """Each malformed string is refused, naming it and what is wrong."""
        for description, reason in [
            ("bogus:1", "unknown endpoint type 'bogus'; the client types are tcp,"),
            ("udp:localhost:53", "give host=, port= by name, e.g. udp:host=...:port"),
            ("unixgram:/run/x", "give path= by name, e.g. unixgram:path=..."),
            ("udp:port=53", "no host= given"),
            ("udp:host=h", "no port= given"),
            ("unixgram:path=", "no path= given"),
            ("tcp:host=h", "no port given; e.g. tcp:host=HOST:port=PORT"),
            ("unix:timeout=5", "no path given; e.g. unix:path=PATH"),
            ("udp:host=h:port=0", "port '0' is not a number from 1 to 65535"),
            ("udp:host=h:port=65536", "port '65536' is not a number from 1 to"),
            ("udp:host=h:port=x", "port 'x' is not a number from 1 to 65535"),
            ("tcp:host=h:port=x", "port 'x' is not a number from 1 to 65535"),
            ("udp:host=h:port=5:ttl=1", "unknown option ttl; the options are host"),
            ("tcp:host=h:port=5:bogus=1", "unexpected keyword argument 'bogus'"),
            ("ssl:host=h:port=443", "only with hostname=NAME; add it, or use tls:"),
            ("tls:\\:\\:1:x", "port 'x' is not a number from 1 to 65535"),
            ("tls:\\:\\:1:443:timeout=x", "'x' is not a whole number"),
            ("tls:\\:\\:1", "no port given; e.g. tls:HOST:PORT"),
            ("tls:\\:\\:1:443:bogus=1", "got an unexpected keyword argument 'bogus'"),
            ("tls:\\:\\:1:443:port=1", "got multiple values for argument 'port'"),
            ("ssl:host=h:port=x:hostname=\\:\\:1", "port 'x' is not a number from"),
            ("ssl:host=h:port=1:hostname=\\:\\:1:bogus=1", "keyword argument 'bogus'"),
            ("tls:example.com", "no port given; e.g. tls:HOST:PORT"),
            ("tls:example.com:x", "port 'x' is not a number from 1 to 65535"),
            (
                "tls:example.com:443:bogus=1:x=2",
                "unexpected keyword arguments 'bogus', 'x'",
            ),
            ("tls:example.com:443:port=1", "got multiple values for argument 'port'"),
            ("tls:-bad-.com:443", "Label must not start or end with a hyphen"),
            ("tls::443", "no host given; e.g. tls:HOST:PORT"),
            ("tls:h:1:1:2:3:4:5:6:7", "takes from 3 to 9 positional arguments but"),
            ("ssl:host=h:port=1:hostname=h:bogus=1", "keyword argument 'bogus'"),
            ("ssl:host=h:port=1:hostname=-bad-", "Label must not start or end with"),
            ("unix:", "no path given; e.g. unix:path=PATH"),
            ("tcp:port=1", "no host given; e.g. tcp:host=HOST:port=PORT"),
            ("tcp:host=h:port=99999", "port '99999' is not a number from 1 to 65535"),
            ("ssl:h:0:hostname=h", "port '0' is not a number from 1 to 65535"),
            (
                f"tcp:host=h:port={WIDE_8888}",
                f"port '{WIDE_8888}' is not a number from 1 to",
            ),
            (
                f"udp:host=h:port={WIDE_8888}",
                f"port '{WIDE_8888}' is not a number from 1 to",
            ),
            (
                f"tls:h:{WIDE_8888}",
                f"port '{WIDE_8888}' is not a number from 1 to 65535",
            ),
            (
                f"tcp:host={WIDE_127}.0.0.1:port=1",
                f"host '{WIDE_127}.0.0.1' has digits that are",
            ),
            (
                f"udp:host={WIDE_127}.0.0.1:port=1",
                f"host '{WIDE_127}.0.0.1' has digits that are",
            ),
            (
                "tls:\uff11.1.1.1:443",
                "host '\uff11.1.1.1' has digits that are not ASCII",
            ),
            ("tcp:host=::1:port=5", "in host=::1 must be escaped: write host=\\:\\:1,"),
            ("udp:host=::1:port=5", "in host=::1 must be escaped: write host=\\:\\:1,"),
            ("tls:::1:443", "IPv6 address in ::1 must be escaped: write \\:\\:1,"),
        ]:
            error = self.assertRaises(EndpointSyntaxError, self.parse, description)
            self.assertEqual(error.description, description)
            self.assertIn(reason, error.reason, description)


class DatagramClientTests(SynchronousTestCase):
    """L{UDPClient} and L{UNIXDatagramClient} bind their own socket."""

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()
        self.folder = os.path.abspath(self.mktemp())
        os.makedirs(self.folder)
        self.patch(tempfile, "tempdir", self.folder)

    def test_udpIPv4(self) -> None:
        """An IPv4 UDP client binds any IPv4 address and sends to the server."""
        client = UDPClient(UDP, "127.0.0.1", 7)
        client.start(self.reactor, DatagramProtocol())
        [(port, _, interface, _, transport)] = self.reactor.udpPorts
        self.assertEqual((port, interface), (0, ""))
        client.send(b"x")
        self.assertEqual(transport.written, [(b"x", ("127.0.0.1", 7))])

    def test_udpIPv6(self) -> None:
        """An IPv6 UDP client binds any IPv6 address."""
        UDPClient(UDP, "::1", 7).start(self.reactor, DatagramProtocol())
        self.assertEqual(self.reactor.udpPorts[0][2], "::")

    def test_unixgramBindsAndRemoves(self) -> None:
        """A UNIX datagram client binds a private path and removes its folder."""
        client = UNIXDatagramClient("unixgram:path=/s", "/s")
        client.start(self.reactor, DatagramProtocol())
        [(own, _, _, mode, transport)] = self.reactor.unixDatagramPorts
        self.assertEqual(os.path.dirname(os.path.dirname(own)), self.folder)
        self.assertEqual(mode, 0o600)
        client.send(b"x")
        self.assertEqual(transport.written, [(b"x", "/s")])
        self.successResultOf(client.stop())
        self.assertEqual(os.listdir(self.folder), [])

    def test_unixgramBindFailureLeavesNoFolder(self) -> None:
        """A UNIX datagram client that cannot bind leaves no temporary folder."""

        def refuse(*args: object, **kwargs: object) -> None:
            raise CannotListenError("", "x", OSError("AF_UNIX path too long"))

        self.patch(self.reactor, "listenUNIXDatagram", refuse)
        endpoint = parseClientEndpoint(self.reactor, "unixgram:path=/s")
        session = Session(self.reactor, endpoint, Output(io.BytesIO()))
        self.failureResultOf(
            Deferred.fromCoroutine(session.sendOnce(b"x")), ClientError
        )
        self.assertEqual(os.listdir(self.folder), [])
