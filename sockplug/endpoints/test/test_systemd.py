"""
Tests for L{sockplug.endpoints._systemd}: the C{systemd:} and C{systemd-datagram:}
endpoint types, on real sockets made here as systemd would pass them. Which
socket a string picks, and its checks: C{test_systemdcheck}; listening on
it: L{sockplug.internet.test.test_adopted}.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from twisted.internet.error import CannotListenError
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from twisted.python.systemd import ListenFDs
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from sockplug.compat import SYSTEMD_SOCKETS, SystemdParser
from sockplug.endpoints._parser import EndpointParser
from sockplug.endpoints._systemd import (
    Selector,
    SystemdDatagramEndpoint,
    SystemdDatagramParser,
    SystemdStreamEndpoint,
)
from sockplug.errors import EndpointSyntaxError
from sockplug.interfaces import (
    IDatagramServerEndpoint,
    IDatagramServerEndpointStringParser,
)
from sockplug.plugin import TransportKind
from sockplug.server._listener import describeListenError
from sockplug.tap import Options
from sockplug.testing import MemoryDatagramReactor
from sockplug.testing._sockets import WEB_DNS
from sockplug.testing._sockets import PassedSockets as _Sockets


class _Echo(DatagramProtocol):
    """
    Sends each datagram back to its sender.
    """

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        assert self.transport is not None
        self.transport.write(datagram, addr)


class SystemdDatagramParserTests(SynchronousTestCase):
    """
    Tests for L{SystemdDatagramParser}: the syntax of C{systemd-datagram:}.
    """

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()
        self.parser = SystemdDatagramParser(lambda: WEB_DNS)

    def parse(self, *args: str, **kwargs: str) -> SystemdDatagramEndpoint:
        return self.parser.parseDatagramServer(self.reactor, *args, **kwargs)

    def reason(self, *args: str, **kwargs: str) -> str:
        return str(self.assertRaises(ValueError, self.parse, *args, **kwargs))

    def test_interface(self) -> None:
        """
        The parser provides L{IDatagramServerEndpointStringParser} for
        C{systemd-datagram}, with an example of that type.
        """
        self.assertTrue(verifyObject(IDatagramServerEndpointStringParser, self.parser))
        self.assertEqual(self.parser.prefix, "systemd-datagram")
        self.assertTrue(self.parser.example.startswith("systemd-datagram:"))

    def test_index(self) -> None:
        """
        C{domain=} and C{index=} pick a socket by its place, and datagrams
        are read whole (up to 64 KiB).
        """
        endpoint = self.parse(domain="INET", index="1")
        self.assertEqual(endpoint.selector, Selector("INET", index=1))
        self.assertEqual(endpoint.maxPacketSize, 65536)
        self.assertTrue(verifyObject(IDatagramServerEndpoint, endpoint))

    def test_name(self) -> None:
        """
        C{name=} picks a socket by its C{FileDescriptorName=}.
        """
        self.assertEqual(
            self.parse(domain="UNIX", name="dns").selector, Selector("UNIX", name="dns")
        )

    def test_positional(self) -> None:
        """
        The domain, index and name may be given by position, as Twisted's
        C{systemd:} allows.
        """
        self.assertEqual(self.parse("INET6", "2").selector, Selector("INET6", index=2))
        self.assertEqual(
            self.parse("INET", name="dns").selector, Selector("INET", name="dns")
        )

    def test_domainCase(self) -> None:
        """
        The domain is read whatever its case.
        """
        self.assertEqual(self.parse(domain="inet6", index="0").selector.domain, "INET6")

    def test_maxPacketSize(self) -> None:
        """
        C{maxPacketSize=} bounds the datagrams read.
        """
        self.assertEqual(
            self.parse(domain="INET", index="0", maxPacketSize="512").maxPacketSize,
            512,
        )

    def test_socketsPassedOn(self) -> None:
        """
        The endpoint looks up the sockets where its parser does.
        """
        self.assertEqual(self.parse(domain="INET", index="0").sockets(), WEB_DNS)

    def test_noDomain(self) -> None:
        """
        A missing domain is refused, listing the domains.
        """
        self.assertEqual(
            self.reason(index="0"), "no domain given: domain=INET, INET6 or UNIX"
        )

    def test_badDomain(self) -> None:
        """
        A domain other than INET, INET6 and UNIX is refused, naming it.
        """
        self.assertEqual(
            self.reason(domain="PACKET", index="0"),
            "domain='PACKET' is not INET, INET6 or UNIX",
        )

    def test_neitherIndexNorName(self) -> None:
        """
        Without C{index=} or C{name=} no socket is picked: refused.
        """
        self.assertEqual(
            self.reason(domain="INET"), "give exactly one of index= and name="
        )

    def test_indexAndName(self) -> None:
        """
        Both C{index=} and C{name=} is refused.
        """
        self.assertEqual(
            self.reason(domain="INET", index="0", name="dns"),
            "give exactly one of index= and name=",
        )

    def test_badIndex(self) -> None:
        """
        An index that is not a whole number is refused, naming it.
        """
        for bad in ("x", "-1", "1.5", ""):
            self.assertEqual(
                self.reason(domain="INET", index=bad), f"{bad!r} is not a whole number"
            )

    def test_emptyName(self) -> None:
        """
        An empty name is refused.
        """
        self.assertEqual(self.reason(domain="INET", name=""), "name= is empty")

    def test_tooManyArguments(self) -> None:
        """
        More than three positional arguments are refused.
        """
        self.assertEqual(
            self.reason("INET", "0", "x", "y"),
            "too many arguments 'INET:0:x:y'; give domain=, then index= or name=",
        )

    def test_givenTwice(self) -> None:
        """
        A domain given by position and as a keyword is refused.
        """
        self.assertEqual(
            self.reason("INET", domain="INET", index="0"), "the domain is given twice"
        )

    def test_unknownOption(self) -> None:
        """
        An unknown option is refused, listing the options (socket options
        are the C{.socket} unit's).
        """
        self.assertEqual(
            self.reason(domain="INET", index="0", rcvbuf="1M"),
            "unknown option rcvbuf; the options are domain, index, name, maxPacketSize",
        )

    def test_badMaxPacketSize(self) -> None:
        """
        A C{maxPacketSize} that is not a positive number is refused.
        """
        self.assertEqual(
            self.reason(domain="INET", index="0", maxPacketSize="0"),
            "maxPacketSize '0' is not a positive number",
        )


class EndpointStringTests(SynchronousTestCase):
    """
    The C{systemd-datagram:} and C{systemd:} types in endpoint strings,
    through L{EndpointParser}.
    """

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()
        self.parser = EndpointParser.fromPlugins(self.reactor)

    def test_datagramPlugin(self) -> None:
        """
        C{systemd-datagram:} is found as a plugin and parses to a datagram
        endpoint.
        """
        parsed = self.parser.parse("systemd-datagram:domain=INET:index=1")
        self.assertIs(parsed.kind, TransportKind.DATAGRAM)
        self.assertIsInstance(parsed.endpoint, SystemdDatagramEndpoint)

    def test_commandLine(self) -> None:
        """
        C{--endpoint NAME@systemd-datagram:...} picks the protocol for it.
        """
        options = Options(reactor=self.reactor)
        options.parseOptions(
            ["--endpoint", "hello@systemd-datagram:domain=UNIX:name=lp"]
        )
        [listener] = options.settings.commandLineListeners
        self.assertEqual(listener.plugin.name, "hello")
        self.assertIsInstance(listener.endpoint.endpoint, SystemdDatagramEndpoint)

    def test_escaping(self) -> None:
        """
        C{\\:} in a name is a literal colon, by Twisted's quoting rules.
        """
        parsed = self.parser.parse(r"systemd-datagram:domain=UNIX:name=lp\:1")
        assert isinstance(parsed.endpoint, SystemdDatagramEndpoint)
        self.assertEqual(parsed.endpoint.selector, Selector("UNIX", name="lp:1"))

    def test_datagramLimits(self) -> None:
        """
        The datagram defence options are taken as for C{udp:}.
        """
        parsed = self.parser.parse(
            "systemd-datagram:domain=INET:index=0:replyrate=5:allow=127.0.0.1"
        )
        self.assertEqual(parsed.limits.replyRate, 5.0)
        self.assertTrue(parsed.limits.access.admits("127.0.0.1"))
        self.assertFalse(parsed.limits.access.admits("10.0.0.1"))

    def test_streamLimitRefused(self) -> None:
        """
        A stream-only defence option is refused, as for C{udp:}.
        """
        e = self.assertRaises(
            EndpointSyntaxError,
            self.parser.parse,
            "systemd-datagram:domain=INET:index=0:idle=5",
        )
        self.assertEqual(e.reason, "idle applies to stream endpoints only")

    def test_datagramError(self) -> None:
        """
        A bad C{systemd-datagram:} string is one line naming it.
        """
        e = self.assertRaises(
            EndpointSyntaxError, self.parser.parse, "systemd-datagram:domain=INET"
        )
        self.assertEqual(
            str(e),
            "endpoint 'systemd-datagram:domain=INET':"
            " give exactly one of index= and name=",
        )

    def test_stream(self) -> None:
        """
        C{systemd:} parses to sockplug's stream endpoint, with its limits.
        """
        parsed = self.parser.parse("systemd:domain=INET6:name=web:idle=5")
        self.assertIs(parsed.kind, TransportKind.STREAM)
        self.assertEqual(
            parsed.endpoint,
            SystemdStreamEndpoint(self.reactor, Selector("INET6", name="web")),
        )
        self.assertEqual(parsed.limits.idleTimeout, 5.0)
        self.assertTrue(parsed.acceptsDirectly)

    def test_parsedOutsideSystemd(self) -> None:
        """
        Parsing looks up no descriptor, so that a configuration is checked
        (C{sockplug check-config}) where systemd passed none; listening
        does.
        """
        self.patch(SystemdParser, SYSTEMD_SOCKETS, ListenFDs([]))
        stream = self.parser.parse("systemd:domain=INET:index=3").endpoint
        datagram = self.parser.parse("systemd-datagram:INET:name=x").endpoint
        assert isinstance(stream, SystemdStreamEndpoint)
        assert isinstance(datagram, SystemdDatagramEndpoint)
        self.failureResultOf(stream.listen(Factory()), CannotListenError)
        self.failureResultOf(datagram.listen(_Echo()), CannotListenError)

    def test_streamUnknownOption(self) -> None:
        """
        An unknown option of C{systemd:} is refused, listing the options.
        """
        e = self.assertRaises(
            EndpointSyntaxError, self.parser.parse, "systemd:domain=INET:index=0:x=1"
        )
        self.assertEqual(
            e.reason, "unknown option x; the options are domain, index, name"
        )

    def test_unixDatagramAllowRefused(self) -> None:
        """
        C{allow=} on a UNIX C{systemd-datagram:} socket is refused, as on
        C{unixgram:}: its peers have no IP address, so every one would be
        turned away.
        """
        e = self.assertRaises(
            EndpointSyntaxError,
            self.parser.parse,
            "systemd-datagram:domain=UNIX:index=0:allow=127.0.0.1",
        )
        self.assertIn("mode=", e.reason)

    def test_unixStreamAllowRefused(self) -> None:
        """
        C{allow=} on a UNIX C{systemd:} socket is refused, as on C{unix:}.
        """
        e = self.assertRaises(
            EndpointSyntaxError,
            self.parser.parse,
            "systemd:domain=UNIX:index=0:allow=127.0.0.1",
        )
        self.assertIn("mode=", e.reason)

    def test_endpointTypes(self) -> None:
        """
        The listing of endpoint types has C{systemd-datagram}, a datagram
        type, with its example and summary.
        """
        types = {t.prefix: t for t in self.parser.endpointTypes()}
        listed = types["systemd-datagram"]
        self.assertIs(listed.kind, TransportKind.DATAGRAM)
        self.assertEqual(listed.example, "systemd-datagram:domain=INET:index=1")
        self.assertEqual(
            listed.summary,
            "A datagram socket handed over by systemd socket activation.",
        )

    def test_help(self) -> None:
        """
        C{twistd sockplug --help} lists the type and its example.
        """
        usage = Options(reactor=self.reactor).getUsage()
        self.assertIn(
            "systemd-datagram A datagram socket handed over by systemd socket"
            " activation.",
            usage,
        )
        self.assertIn("e.g. systemd-datagram:domain=INET:index=1", usage)


class DatagramListenTests(SynchronousTestCase):
    """
    Tests for L{SystemdDatagramEndpoint.listen}: adopting the socket.
    """

    def setUp(self) -> None:
        self.sockets = _Sockets(self)
        self.reactor = MemoryDatagramReactor()

    def endpoint(
        self, passed: ListenFDs, selector: Selector, size: int = 65536
    ) -> SystemdDatagramEndpoint:
        return SystemdDatagramEndpoint(self.reactor, selector, size, lambda: passed)

    def test_udp(self) -> None:
        """
        A UDP socket is adopted by the reactor, with the packet size, after
        being made non-blocking (systemd passes blocking sockets, and
        Twisted reads until a read would block).
        """
        sock = self.sockets.make(socket.AF_INET6, socket.SOCK_DGRAM)
        protocol = _Echo()
        endpoint = self.endpoint(
            self.sockets.passed(sock), Selector("INET6", index=0), 512
        )
        self.successResultOf(endpoint.listen(protocol))
        self.assertEqual(
            self.reactor.adoptedPorts, [(sock.fileno(), socket.AF_INET6, protocol, 512)]
        )
        self.assertFalse(os.get_blocking(sock.fileno()))

    def test_refused(self) -> None:
        """
        A socket of the wrong type fails the listen with a
        L{CannotListenError} that sockplug reports as one line naming the
        descriptor.
        """
        sock = self.sockets.make(socket.AF_INET, socket.SOCK_STREAM)
        passed = self.sockets.passed(sock, names=("web",))
        failure = self.failureResultOf(
            self.endpoint(passed, Selector("INET", name="web")).listen(_Echo()),
            CannotListenError,
        )
        self.assertEqual(
            describeListenError("systemd-datagram:domain=INET:name=web", failure),
            "cannot listen on 'systemd-datagram:domain=INET:name=web':"
            f" descriptor {sock.fileno()} (index 0, named 'web') is a stream"
            " socket, not a datagram socket: use systemd:domain=INET:name=web for it",
        )
        self.assertEqual(self.reactor.adoptedPorts, [])


class StreamListenTests(SynchronousTestCase):
    """
    Tests for L{SystemdStreamEndpoint.listen}, and for what a C{systemd:}
    string handed a datagram socket does.
    """

    def setUp(self) -> None:
        self.sockets = _Sockets(self)
        self.reactor = MemoryDatagramReactor()

    def test_adopted(self) -> None:
        """
        A listening stream socket is adopted, made non-blocking, and the
        inherited descriptor is left open (Twisted's own endpoint closes
        it, so it could not be adopted again after a reload).
        """
        sock = self.sockets.make(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        factory = Factory.forProtocol(Protocol)
        endpoint = SystemdStreamEndpoint(
            self.reactor, Selector("INET", index=0), lambda: self.sockets.passed(sock)
        )
        self.successResultOf(endpoint.listen(factory))
        self.successResultOf(endpoint.listen(factory))
        self.assertEqual(
            self.reactor.adoptedPorts, [(sock.fileno(), socket.AF_INET, factory)] * 2
        )
        self.assertFalse(os.get_blocking(sock.fileno()))
        os.fstat(sock.fileno())

    def test_datagramDescriptor(self) -> None:
        """
        A C{systemd:} string whose descriptor is a datagram socket does not
        listen (Twisted's would, then fail every C{accept()}), and says which
        string serves it.
        """
        sock = self.sockets.make(socket.AF_INET, socket.SOCK_DGRAM)
        self.patch(
            SystemdParser, SYSTEMD_SOCKETS, self.sockets.passed(sock, names=("dns",))
        )
        parsed = EndpointParser(self.reactor, []).parse("systemd:domain=INET:index=0")
        assert isinstance(parsed.endpoint, SystemdStreamEndpoint)
        failure = self.failureResultOf(
            parsed.endpoint.listen(Factory.forProtocol(Protocol)), CannotListenError
        )
        self.assertEqual(
            describeListenError(parsed.description, failure),
            "cannot listen on 'systemd:domain=INET:index=0':"
            f" descriptor {sock.fileno()} (index 0, named 'dns') is a datagram"
            " socket, not a stream socket: use systemd-datagram:domain=INET:index=0"
            " for it",
        )
        self.assertEqual(self.reactor.adoptedPorts, [])
