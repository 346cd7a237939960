"""
Tests for L{sockplug.endpoints._streamtypes}, and for how
L{EndpointParser} dispatches through its table; the parser's messages
for an interface that is not an address and a value an unescaped colon cut;
and C{stdio:} (L{sockplug.endpoints._stdio}).
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import twisted.test
from attrs import evolve
from twisted.internet.endpoints import StandardIOEndpoint, TCP6ServerEndpoint
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.stdio import PipeAddress
from twisted.internet.testing import MemoryReactor
from twisted.python.failure import Failure
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from sockplug.endpoints import _stdio, _tls
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
        Each of sockplug's stream types has a parser, C{stdio} included
        (it keeps standard output for its connection).
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
                "stdio": True,
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


class _Descriptors:
    """
    The descriptor calls L{_stdio.StandardStreams.separate} makes, recorded
    instead of done; descriptor 2 is the same file as C{sameAs}.
    """

    def __init__(self, sameAs: set[int]) -> None:
        self.sameAs = sameAs
        self.calls: list[tuple[Any, ...]] = []

    def streams(self) -> _stdio.StandardStreams:
        return _stdio.StandardStreams(
            dup=lambda fd: self._record(10, "dup", fd),
            dup2=lambda fd, to: self._record(None, "dup2", fd, to),
            same=lambda a, b: b in self.sameAs,
            null=lambda: self._record(20, "null"),
            close=lambda fd: self._record(None, "close", fd),
        )

    def _record(self, result: Any, *call: Any) -> Any:
        """
        Record C{call}, and give C{result}: what the call would return.
        """
        self.calls.append(call)
        return result


class StandardStreamsTests(SynchronousTestCase):
    """
    Tests for L{_stdio.StandardStreams}.
    """

    def test_untouched(self) -> None:
        """
        Until L{_stdio.StandardStreams.separate}, the connection writes
        descriptor 1.
        """
        streams = _stdio.StandardStreams()
        self.assertEqual((streams.input, streams.output, streams.moved), (0, 1, False))

    def test_separate(self) -> None:
        """
        The connection writes a copy of descriptor 1, and descriptor 1
        becomes standard error.
        """
        fds = _Descriptors(sameAs=set())
        streams = fds.streams()
        streams.separate()
        self.assertEqual(fds.calls, [("dup", 1), ("dup2", 2, 1)])
        self.assertEqual((streams.output, streams.moved), (10, True))

    def test_standardErrorIsTheConnection(self) -> None:
        """
        When standard error is the connection too, descriptors 1 and 2 both
        go to C{/dev/null}, so that no log line reaches the peer.
        """
        fds = _Descriptors(sameAs={10})
        streams = fds.streams()
        streams.separate()
        self.assertEqual(
            fds.calls,
            [("dup", 1), ("null",), ("dup2", 20, 2), ("dup2", 20, 1), ("close", 20)],
        )
        self.assertEqual(streams.output, 10)

    def test_once(self) -> None:
        """
        A second L{_stdio.StandardStreams.separate} changes nothing: descriptor 1
        is by then standard error, not the connection.
        """
        fds = _Descriptors(sameAs=set())
        streams = fds.streams()
        streams.separate()
        del fds.calls[:]
        streams.separate()
        self.assertEqual((fds.calls, streams.output), ([], 10))


class _Recorder(Protocol):
    def __init__(self) -> None:
        self.lost: list[Failure] = []

    def connectionLost(self, reason: Failure = Failure(ConnectionDone())) -> None:  # noqa: B008
        self.lost.append(reason)


class StandardIOEndpointTests(SynchronousTestCase):
    """
    Tests for L{_stdio.StandardIOEndpoint}, over a pipe each way.
    """

    def setUp(self) -> None:
        readIn, self.writeIn = os.pipe()
        self.readOut, writeOut = os.pipe()
        for fd in (readIn, self.writeIn, self.readOut, writeOut):
            self.addCleanup(self._close, fd)
        self.streams = _stdio.StandardStreams(input=readIn, output=writeOut)
        self.reactor = MemoryReactor()
        self.endpoint = _stdio.StandardIOEndpoint(self.reactor, self.streams)
        self.addresses: list[object] = []
        self.protocol = _Recorder()

    def _close(self, fd: int) -> None:
        with contextlib.suppress(OSError):  # (closed by the connection)
            os.close(fd)

    def _build(self, address: object) -> Protocol | None:
        self.addresses.append(address)
        return self.protocol

    def _listen(self) -> _stdio.StandardIOPort:
        factory = Factory()
        factory.buildProtocol = self._build  # type: ignore[method-assign,assignment]
        port = self.successResultOf(self.endpoint.listen(factory))
        assert isinstance(port, _stdio.StandardIOPort)
        return port

    def test_connects(self) -> None:
        """
        Listening makes the one connection at once, its peer a
        L{PipeAddress}, reading the streams' input and writing their
        output.
        """
        port = self._listen()
        [address] = self.addresses
        self.assertIsInstance(address, PipeAddress)
        assert self.protocol.transport is not None
        self.protocol.transport.write(b"x")
        [reader] = self.reactor.readers
        [writer] = self.reactor.writers
        self.assertEqual(
            (reader.fileno(), writer.fileno()),
            (self.streams.input, self.streams.output),
        )
        self.assertNoResult(port.closed)

    def test_closed(self) -> None:
        """
        L{_stdio.StandardIOPort.closed} fires once the connection is lost, after
        the protocol is told.
        """
        port = self._listen()
        assert self.protocol.transport is not None
        self.protocol.transport.connectionLost(Failure(ConnectionDone()))  # type: ignore[attr-defined]
        self.assertEqual(len(self.protocol.lost), 1)
        self.assertIsNone(self.successResultOf(port.closed))

    def test_refused(self) -> None:
        """
        A factory that gives no protocol leaves no connection:
        L{_stdio.StandardIOPort.closed} fires at once.
        """
        self.protocol = None  # type: ignore[assignment]
        port = self._listen()
        self.assertIsNone(self.successResultOf(port.closed))

    def test_stopListening(self) -> None:
        """
        Stopping the port leaves the connection open.
        """
        port = self._listen()
        self.successResultOf(port.stopListening())
        self.assertNoResult(port.closed)
        self.assertEqual(self.protocol.lost, [])

    def test_host(self) -> None:
        """
        The port's address is a L{PipeAddress}.
        """
        self.assertIsInstance(self._listen().getHost(), PipeAddress)


class StandardIOParseTests(SynchronousTestCase):
    """
    C{stdio:} as the endpoint parser reads it.
    """

    def test_parsed(self) -> None:
        """
        C{stdio:} is a L{_stdio.StandardIOEndpoint}.
        """
        parsed = EndpointParser(MemoryReactor(), []).parse("stdio:")
        self.assertIsInstance(parsed.endpoint, _stdio.StandardIOEndpoint)
        self.assertEqual(parsed.socketType, "stdio")

    def test_arguments(self) -> None:
        """
        C{stdio:} takes no arguments, and says so.
        """
        error = self.assertRaises(
            EndpointSyntaxError, EndpointParser(MemoryReactor(), []).parse, "stdio:x"
        )
        self.assertIn("stdio: takes no arguments", str(error))
