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
            ("tcp:host=h", "missing 1 required positional argument: 'port'"),
            ("unix:timeout=5", "missing 1 required positional argument: 'path'"),
            ("udp:host=h:port=0", "port '0' is not a number from 1 to 65535"),
            ("udp:host=h:port=65536", "port '65536' is not a number from 1 to"),
            ("udp:host=h:port=x", "port 'x' is not a number from 1 to 65535"),
            ("tcp:host=h:port=x", "'x' is not a whole number"),
            ("udp:host=h:port=5:ttl=1", "unknown option ttl; the options are host"),
            ("tcp:host=h:port=5:bogus=1", "unexpected keyword argument 'bogus'"),
            ("ssl:host=h:port=443", "only with hostname=NAME; add it, or use tls:"),
            ("tls:\\:\\:1:x", "'x' is not a whole number"),
            ("tls:\\:\\:1:443:timeout=x", "'x' is not a whole number"),
            ("tls:\\:\\:1", "missing 1 required positional argument: 'port'"),
            ("tls:\\:\\:1:443:bogus=1", "unrecognized keyword arguments present"),
            ("tls:\\:\\:1:443:port=1", "got multiple values for argument 'port'"),
            ("ssl:host=h:port=x:hostname=\\:\\:1", "'x' is not a whole number"),
            ("ssl:host=h:port=1:hostname=\\:\\:1:bogus=1", "keyword argument 'bogus'"),
            ("tls:example.com", "missing 1 required positional argument: 'port'"),
            ("tls:example.com:x", "'x' is not a whole number"),
            ("tls:example.com:443:bogus=1", "unrecognized keyword arguments present"),
            ("tls:example.com:443:port=1", "got multiple values for argument 'port'"),
            ("tls:-bad-.com:443", "Label must not start or end with a hyphen"),
            ("tls::443", "Empty domain"),
            ("tls:h:1:1:2:3:4:5:6:7", "takes from 3 to 9 positional arguments but"),
            ("ssl:host=h:port=1:hostname=h:bogus=1", "keyword argument 'bogus'"),
            ("ssl:host=h:port=1:hostname=-bad-", "Label must not start or end with"),
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
