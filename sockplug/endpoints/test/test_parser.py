"""
Tests for L{sockplug.endpoints._parser}.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import twisted.test
from attrs import frozen
from cryptography.hazmat.primitives.asymmetric import ec
from twisted.internet.interfaces import IStreamServerEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.ssl import PrivateCertificate
from twisted.plugin import IPlugin
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from sockplug.endpoints._datagram import (
    UDPParser,
    UDPServerEndpoint,
    UNIXDatagramParser,
    UNIXDatagramServerEndpoint,
)
from sockplug.endpoints._parser import EndpointParser
from sockplug.endpoints._stdio import StandardIOEndpoint
from sockplug.endpoints._stream import TCPServerEndpoint, UNIXServerEndpoint
from sockplug.endpoints._tls import TLSFactory, TLSServerEndpoint
from sockplug.endpoints.proxy._wrapper import ProxiedEndpoint, ProxyHeaderFactory
from sockplug.errors import EndpointSyntaxError
from sockplug.interfaces import IDatagramServerEndpointStringParser
from sockplug.options._limits import ListenerLimits
from sockplug.plugin import TransportKind
from sockplug.testing import MemoryDatagramReactor
from sockplug.testing._logs import accessList as _access
from sockplug.testing._tls import PEMAuthority as Authority


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
        self.assertEqual(
            sorted(self.parser.datagramParsers),
            ["systemd-datagram", "udp", "unixgram"],
        )

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


class EndpointLimitsTests(SynchronousTestCase):
    """
    The defence options in endpoint strings, taken out by
    L{EndpointParser.parse} before the type's own parser sees them.
    """

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()
        self.parser = EndpointParser(self.reactor, [UDPParser(), UNIXDatagramParser()])

    def _reason(self, description: str) -> str:
        e = self.assertRaises(EndpointSyntaxError, self.parser.parse, description)
        self.assertEqual(e.description, description)
        return str(e.reason)

    def _pem(self, name: str) -> str:
        """
        A copy of Twisted's test key and certificate, at C{name} in a new
        folder.
        """
        folder = self.mktemp()
        os.mkdir(folder)
        path = os.path.join(folder, name)
        shutil.copy(
            os.path.join(os.path.dirname(twisted.test.__file__), "server.pem"), path
        )
        return path

    def test_tcp(self) -> None:
        """
        C{tcp:} is parsed without the defence options, which become the
        limits.
        """
        parsed = self.parser.parse("tcp:0:idle=5:interface=127.0.0.1:maxconn=9")
        self.assertEqual(
            (parsed.endpoint, parsed.limits),
            (
                TCPServerEndpoint(self.reactor, 0, "127.0.0.1"),
                ListenerLimits(idleTimeout=5.0, maxConnections=9),
            ),
        )

    def test_noOptionsDefaults(self) -> None:
        """
        An endpoint string without defence options gets the default limits.
        """
        self.assertEqual(self.parser.parse("tcp:0").limits, ListenerLimits())

    def test_unix(self) -> None:
        """
        C{unix:} is parsed without the defence options.
        """
        parsed = self.parser.parse("unix:/tmp/x.sock:maxpersource=3:mode=600")
        self.assertEqual(
            (parsed.endpoint, parsed.limits),
            (
                UNIXServerEndpoint(self.reactor, "/tmp/x.sock", 0o600),
                ListenerLimits(maxPerSource=3),
            ),
        )

    def test_udp(self) -> None:
        """
        C{udp:} is parsed without the defence options.
        """
        parsed = self.parser.parse(r"udp:0:replyrate=5:interface=\:\:1:allow=\:\:1/128")
        self.assertEqual(
            (parsed.endpoint, parsed.limits),
            (
                UDPServerEndpoint(self.reactor, 0, "::1"),
                ListenerLimits(access=_access("::1/128"), replyRate=5.0),
            ),
        )

    def test_unixgram(self) -> None:
        """
        C{unixgram:} is parsed without the defence options.
        """
        parsed = self.parser.parse("unixgram:/tmp/x.dgram:blockports=1:loglines=7")
        self.assertEqual(
            (parsed.endpoint, parsed.limits),
            (
                UNIXDatagramServerEndpoint(self.reactor, "/tmp/x.dgram"),
                ListenerLimits(blockedPorts=frozenset({1}), logLines=7),
            ),
        )

    def test_otherTwistedType(self) -> None:
        """
        A type parsed by Twisted (C{ssl:}) gets the string without the
        defence options, its own options kept.
        """
        pem = self._pem("server.pem")
        parsed = self.parser.parse(
            f"ssl:0:privateKey={pem}:idle=5:interface=127.0.0.1:maxline=80"
        )
        self.assertEqual(parsed.limits, ListenerLimits(idleTimeout=5.0, maxLine=80))
        assert isinstance(parsed.endpoint, TLSServerEndpoint)
        self.assertEqual(
            parsed.endpoint.endpoint, TCPServerEndpoint(self.reactor, 0, "127.0.0.1")
        )

    def test_otherTwistedTypeEscapes(self) -> None:
        """
        The string handed on to Twisted keeps its escapes: a C{:} in a
        value still reaches the type's parser as part of the value.
        """
        pem = self._pem("a:b=c.pem")
        escaped = pem.replace("\\", "\\\\").replace(":", "\\:")
        parsed = self.parser.parse(f"ssl:0:privateKey={escaped}:idle=5")
        self.assertIsInstance(parsed.endpoint, TLSServerEndpoint)

    def test_optionlessTwistedType(self) -> None:
        """
        A type that takes no options at all (C{stdio:}) accepts defence
        options.
        """
        parsed = self.parser.parse("stdio:idle=5")
        self.assertIsInstance(parsed.endpoint, StandardIOEndpoint)
        self.assertEqual(parsed.limits, ListenerLimits(idleTimeout=5.0))

    def test_haproxy(self) -> None:
        """
        C{haproxy:} takes the defence options, and its inner endpoint is
        parsed without them.
        """
        parsed = self.parser.parse("haproxy:tcp:0:idle=5")
        self.assertIsInstance(parsed.endpoint, ProxiedEndpoint)
        self.assertEqual(parsed.limits, ListenerLimits(idleTimeout=5.0))

    def test_haproxyUnixAllow(self) -> None:
        """
        C{allow=} is taken on C{haproxy:unix:}: the PROXY header gives the
        client's IP address.
        """
        parsed = self.parser.parse("haproxy:unix:/tmp/x.sock:allow=10.0.0.0/8")
        self.assertEqual(parsed.limits.access, _access("10.0.0.0/8"))

    def test_streamOptionOnUDP(self) -> None:
        """
        A stream-only option on a datagram endpoint is a syntax error.
        """
        self.assertEqual(
            self._reason("udp:0:idle=5"), "idle applies to stream endpoints only"
        )

    def test_streamOptionOnUnixgram(self) -> None:
        """
        A stream-only option on C{unixgram:} is a syntax error.
        """
        self.assertEqual(
            self._reason("unixgram:/tmp/x.dgram:maxconn=5"),
            "maxconn applies to stream endpoints only",
        )

    def test_datagramOptionOnTCP(self) -> None:
        """
        A datagram-only option on a stream endpoint is a syntax error.
        """
        self.assertEqual(
            self._reason("tcp:0:replyrate=5"),
            "replyrate applies to datagram endpoints only",
        )

    def test_datagramOptionOnTwistedType(self) -> None:
        """
        A type parsed by Twisted is a stream type: datagram-only options
        are refused.
        """
        self.assertEqual(
            self._reason("stdio:blockports=1"),
            "blockports applies to datagram endpoints only",
        )

    def test_datagramOptionOnHaproxy(self) -> None:
        """
        C{haproxy:} is a stream type: datagram-only options are refused.
        """
        self.assertEqual(
            self._reason("haproxy:tcp:0:replygrowth=5"),
            "replygrowth applies to datagram endpoints only",
        )

    def test_badValue(self) -> None:
        """
        A bad defence option value is a syntax error naming it.
        """
        self.assertEqual(
            self._reason("tcp:0:idle=soon"),
            "idle='soon' is not a number from 0 to 604800",
        )

    def test_unixAllow(self) -> None:
        """
        C{allow=} on C{unix:} is refused: its peers have no IP address.
        """
        self.assertEqual(
            self._reason("unix:/tmp/x.sock:allow=10.0.0.0/8"),
            "allow= and deny= take IP addresses; a UNIX socket's peers are"
            " let in by its mode=",
        )

    def test_unixDeny(self) -> None:
        """
        C{deny=} on C{unix:} is refused too.
        """
        self.assertEqual(
            self._reason("unix:/tmp/x.sock:deny=10.0.0.0/8"),
            "allow= and deny= take IP addresses; a UNIX socket's peers are"
            " let in by its mode=",
        )


class TLSEndpointTests(SynchronousTestCase):
    """
    C{ssl:} and C{tls:}, on their own and inside C{haproxy:}: sockplug's
    TLS layer on a plain TCP port; inside C{haproxy:}, the PROXY header
    comes first, in the clear, so TLS starts after it.
    """

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()
        self.parser = EndpointParser(self.reactor, [])
        self.pem = os.path.join(os.path.dirname(twisted.test.__file__), "server.pem")
        self.authority = Authority(self.mktemp())
        self.authority.chain()
        self.folder = self.authority.folder.replace(":", "\\:")

    def listen(self, description: str) -> Any:
        """
        Parse C{description} and listen on it; the factory its TCP port got.
        """
        factory = Factory.forProtocol(Protocol)
        endpoint = self.parser.parse(description).endpoint
        assert IStreamServerEndpoint.providedBy(endpoint)
        endpoint.listen(factory)
        self.assertEqual(self.reactor.sslServers, [])
        [(_, listening, _, _)] = self.reactor.tcpServers
        return listening

    def test_haproxySSLPlainPort(self) -> None:
        """
        C{haproxy:ssl:} listens on a plain TCP port, on its port, interface
        and backlog, with the PROXY header read first.
        """
        self.listen(f"haproxy:ssl:0:privateKey={self.pem}:interface=127.0.0.1")
        [(port, listening, backlog, interface)] = self.reactor.tcpServers
        self.assertIsInstance(listening, ProxyHeaderFactory)
        self.assertEqual((port, backlog, interface), (0, 50, "127.0.0.1"))

    def test_haproxySSLStartsTLS(self) -> None:
        """
        C{haproxy:ssl:} starts TLS after the header, with the string's key
        and certificate.
        """
        endpoint = self.parser.parse(f"haproxy:ssl:0:privateKey={self.pem}").endpoint
        assert isinstance(endpoint, ProxiedEndpoint)
        certificate = PrivateCertificate.loadPEM(FilePath(self.pem).getContent())
        self.assertEqual(
            endpoint.tls.certificate.to_cryptography(),
            certificate.original.to_cryptography(),
        )

    def test_haproxySSLLimits(self) -> None:
        """
        The defence options of a C{haproxy:ssl:} string are its limits.
        """
        parsed = self.parser.parse(f"haproxy:ssl:0:privateKey={self.pem}:idle=5")
        self.assertEqual(parsed.limits, ListenerLimits(idleTimeout=5.0))

    def test_haproxySSLUnknownOption(self) -> None:
        """
        An option C{ssl:} does not take is refused inside C{haproxy:} as
        on its own, naming it.
        """
        description = f"haproxy:ssl:0:privateKey={self.pem}:nodelay=yes"
        e = self.assertRaises(EndpointSyntaxError, self.parser.parse, description)
        self.assertEqual(
            (e.description, e.reason),
            (description, "got an unexpected keyword argument 'nodelay'"),
        )

    def test_sslPlainPort(self) -> None:
        """
        C{ssl:} listens on a plain TCP port, on its port, interface and
        backlog, with sockplug's TLS layer in front of the factory.
        """
        listening = self.listen(
            f"ssl:0:privateKey={self.pem}:interface=127.0.0.1:backlog=7"
        )
        [(port, _, backlog, interface)] = self.reactor.tcpServers
        self.assertIsInstance(listening, TLSFactory)
        self.assertEqual((port, backlog, interface), (0, 7, "127.0.0.1"))

    def test_sslKeyAndCertificate(self) -> None:
        """
        C{ssl:} serves the string's key and certificate.
        """
        endpoint = self.parser.parse(f"ssl:0:privateKey={self.pem}").endpoint
        assert isinstance(endpoint, TLSServerEndpoint)
        certificate = PrivateCertificate.loadPEM(FilePath(self.pem).getContent())
        self.assertEqual(
            endpoint.creator.certificate.to_cryptography(),
            certificate.original.to_cryptography(),
        )

    def test_sslUnknownOption(self) -> None:
        """
        An option C{ssl:} does not take is refused, naming it, as Twisted's
        parser says it.
        """
        description = f"ssl:0:privateKey={self.pem}:nodelay=yes"
        e = self.assertRaises(EndpointSyntaxError, self.parser.parse, description)
        self.assertEqual(
            (e.description, e.reason),
            (description, "got an unexpected keyword argument 'nodelay'"),
        )

    def test_haproxySSLTLSFactory(self) -> None:
        """
        C{haproxy:ssl:} starts TLS after the header with sockplug's TLS
        layer.
        """
        listening = self.listen(f"haproxy:ssl:0:privateKey={self.pem}")
        assert isinstance(listening, ProxyHeaderFactory)
        self.assertIsInstance(listening.tls, TLSFactory)

    def test_haproxyTLSPlainPort(self) -> None:
        """
        C{haproxy:tls:} listens on a plain TCP port, on its port and
        interface, with the PROXY header read first and TLS after it.
        """
        listening = self.listen(f"haproxy:tls:{self.folder}:port=0:interface=127.0.0.1")
        [(port, _, _, interface)] = self.reactor.tcpServers
        assert isinstance(listening, ProxyHeaderFactory)
        self.assertEqual((port, interface), (0, "127.0.0.1"))
        self.assertIsInstance(listening.tls, TLSFactory)

    def test_tlsFolder(self) -> None:
        """
        C{tls:} listens with sockplug's TLS layer on a TCP port.
        """
        listening = self.listen(f"tls:{self.folder}:port=0:idle=5")
        self.assertIsInstance(listening, TLSFactory)

    def test_tlsRootInFolder(self) -> None:
        """
        A C{tls:} folder that holds the root CA's certificate (on which
        Twisted's own parser loops for ever) is parsed.
        """
        self.assertIsInstance(
            self.parser.parse(f"tls:{self.folder}").endpoint, TLSServerEndpoint
        )

    def test_tlsRing(self) -> None:
        """
        A C{tls:} folder of certificates without keys that issue each other
        is refused, naming the string.
        """
        signer = ec.generate_private_key(ec.SECP256R1())
        for subject, issuer in (("a", "b"), ("b", "a")):
            _, certificate = self.authority.certificate(subject, issuer, signer)
            self.authority.write(f"{subject}.pem", certificate)
        _, certificate = self.authority.certificate("sub", "a", signer)
        self.authority.write("sub.pem", certificate)
        description = f"tls:{self.folder}"
        e = self.assertRaises(EndpointSyntaxError, self.parser.parse, description)
        self.assertEqual(e.description, description)
        self.assertIn("issue each other make Twisted loop for ever", e.reason)

    def test_tlsUnknownOption(self) -> None:
        """
        An option C{tls:} does not take is refused, naming it.
        """
        e = self.assertRaises(
            EndpointSyntaxError, self.parser.parse, f"tls:{self.folder}:x=1"
        )
        self.assertEqual(e.reason, "got an unexpected keyword argument 'x'")


class AcceptsDirectlyTests(SynchronousTestCase):
    """
    L{ParsedEndpoint.acceptsDirectly} says whose port calls the factory.
    """

    def test_directTypes(self) -> None:
        """
        TCP, UNIX, PROXY and systemd listeners accept directly; TLS, stdio
        and other types do not.
        """
        parser = EndpointParser(MemoryDatagramReactor(), [])
        direct = {
            text: parser.parse(text).acceptsDirectly
            for text in (
                "tcp:0",
                "tcp6:0",
                "unix:/tmp/x.sock",
                "haproxy:tcp:0",
                "stdio:",
            )
        }
        self.assertEqual(
            direct,
            {
                "tcp:0": True,
                "tcp6:0": True,
                "unix:/tmp/x.sock": True,
                "haproxy:tcp:0": True,
                "stdio:": False,
            },
        )

    def test_sslNotDirect(self) -> None:
        """
        An C{ssl:} listener does not accept directly (its TLS layer needs a
        protocol for a refused connection), though a TCP port is under it.
        """
        pem = os.path.join(os.path.dirname(twisted.test.__file__), "server.pem")
        parser = EndpointParser(MemoryDatagramReactor(), [])
        self.assertFalse(parser.parse(f"ssl:0:privateKey={pem}").acceptsDirectly)


class UnixgramAccessTests(SynchronousTestCase):
    """
    Access lists are refused where peers have no IP address.
    """

    def test_unixgramRefusesAllow(self) -> None:
        """
        C{allow=} on a C{unixgram:} endpoint is an error saying why.
        """
        parser = EndpointParser(MemoryDatagramReactor(), [UNIXDatagramParser()])
        e = self.assertRaises(
            EndpointSyntaxError, parser.parse, "unixgram:/tmp/x.sock:allow=any"
        )
        self.assertIn("mode=", e.reason)
