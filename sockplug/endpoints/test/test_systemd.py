"""
Tests for L{sockplug.endpoints._systemd}: the C{systemd:} and C{systemd-datagram:}
endpoint types, on real sockets made here as systemd would pass them.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from typing import Any

from twisted.internet.error import CannotListenError
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from twisted.python.systemd import ListenFDs
from twisted.trial.unittest import SkipTest, SynchronousTestCase
from zope.interface.verify import verifyObject

from sockplug.compat import SYSTEMD_SOCKETS, SystemdParser
from sockplug.endpoints._parser import EndpointParser
from sockplug.endpoints._systemd import (
    Selector,
    SystemdDatagramEndpoint,
    SystemdDatagramParser,
    SystemdStreamEndpoint,
    check,
    inheritedSockets,
    locate,
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

WEB_DNS = ListenFDs([3, 4], ("web", "dns"))


class _Echo(DatagramProtocol):
    """
    Sends each datagram back to its sender.
    """

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        assert self.transport is not None
        self.transport.write(datagram, addr)


class _Sockets:
    """
    Real sockets standing in for those systemd passes, closed when the test
    ends.
    """

    def __init__(self, testCase: SynchronousTestCase) -> None:
        self._testCase = testCase
        self.folder = tempfile.mkdtemp(prefix="sp-sd-")
        testCase.addCleanup(shutil.rmtree, self.folder, True)

    def make(self, family: int, kind: int) -> socket.socket:
        """A new unbound socket."""
        sock = socket.socket(family, kind)
        self._testCase.addCleanup(sock.close)
        return sock

    def unix(self, kind: int, name: str = "s.sock") -> socket.socket:
        """A UNIX socket bound to a path of the temporary folder."""
        sock = self.make(socket.AF_UNIX, kind)
        sock.bind(os.path.join(self.folder, name))
        return sock

    def passed(self, *socks: socket.socket, names: tuple[str, ...] = ()) -> ListenFDs:
        """What systemd passing C{socks} looks like to sockplug."""
        return ListenFDs(
            [s.fileno() for s in socks],
            names or tuple(f"s{i}" for i in range(len(socks))),
        )


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
        [listener] = options["listeners"]
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


class LocateTests(SynchronousTestCase):
    """
    Tests for L{locate}: which descriptor a selector picks, and what is
    said when it picks none.
    """

    def reason(self, sockets: ListenFDs, selector: Selector) -> str:
        return str(self.assertRaises(ValueError, locate, sockets, selector))

    def test_index(self) -> None:
        """
        An index picks the descriptor at that place, labelled with its
        number, index and name.
        """
        self.assertEqual(
            locate(WEB_DNS, Selector("INET", index=1)),
            (4, "descriptor 4 (index 1, named 'dns')"),
        )

    def test_name(self) -> None:
        """
        A name picks the descriptor of that name.
        """
        self.assertEqual(
            locate(WEB_DNS, Selector("INET", name="web")),
            (3, "descriptor 3 (index 0, named 'web')"),
        )

    def test_nothingPassed(self) -> None:
        """
        When systemd passed nothing, the message says what must be set, and
        how C{systemd-socket-activate} sets it.
        """
        self.patch(os, "environ", {})
        self.assertEqual(
            self.reason(ListenFDs([]), Selector("INET", index=0)),
            "systemd passed no sockets: LISTEN_FDS is not set for this process,"
            " or LISTEN_FDNAMES does not name each of them (systemd-socket-activate"
            " sets it only with --fdname=NAME)",
        )

    def test_otherProcess(self) -> None:
        """
        Sockets passed to another process (a shell that forked) are named as
        such.
        """
        self.patch(os, "environ", {"LISTEN_PID": "1", "LISTEN_FDS": "1"})
        self.assertEqual(
            self.reason(ListenFDs([]), Selector("INET", index=0)),
            "systemd passed its sockets to process 1 (LISTEN_PID), not to this one"
            f" ({os.getpid()}): start twistd with exec, not from a shell that forks",
        )

    def test_indexOutOfRange(self) -> None:
        """
        An index past the last socket is refused, listing those passed.
        """
        self.assertEqual(
            self.reason(WEB_DNS, Selector("INET", index=2)),
            "index=2 is out of range: systemd passed 2 sockets:"
            " index 0 named 'web', index 1 named 'dns'",
        )

    def test_indexOutOfRangeOne(self) -> None:
        """
        With one socket passed, the listing says so in the singular.
        """
        self.assertEqual(
            self.reason(
                ListenFDs([3], ("sockplug.socket",)), Selector("INET", index=1)
            ),
            "index=1 is out of range: systemd passed 1 socket:"
            " index 0 named 'sockplug.socket'",
        )

    def test_unknownName(self) -> None:
        """
        A name no socket has is refused, listing those passed.
        """
        self.assertEqual(
            self.reason(WEB_DNS, Selector("UNIX", name="lp")),
            "no socket named 'lp': systemd passed 2 sockets:"
            " index 0 named 'web', index 1 named 'dns'",
        )

    def test_sharedName(self) -> None:
        """
        A name several sockets share (those of one C{.socket} unit) picks
        none, and the message says to use C{index=}.
        """
        sockets = ListenFDs([3, 4, 5], ("sockplug.socket",) * 3)
        self.assertEqual(
            self.reason(sockets, Selector("INET", name="sockplug.socket")),
            "3 sockets are named 'sockplug.socket' (index 0, 1, 2): systemd names"
            " every socket of a .socket unit alike (FileDescriptorName=); pick one"
            " with index=",
        )

    def test_twistedsDescriptors(self) -> None:
        """
        The sockets are those Twisted's own C{systemd:} type read from the
        environment (and removed from it) when it was imported.
        """
        self.patch(SystemdParser, SYSTEMD_SOCKETS, WEB_DNS)
        self.assertIs(inheritedSockets(), WEB_DNS)
        self.assertIs(SystemdDatagramParser().sockets(), WEB_DNS)


class CheckTests(SynchronousTestCase):
    """
    Tests for L{check}: an inherited descriptor must be a socket of the
    type and family the endpoint string says.
    """

    def setUp(self) -> None:
        self.sockets = _Sockets(self)

    def reason(self, fd: int, selector: Selector, kind: socket.SocketKind) -> str:
        return str(
            self.assertRaises(ValueError, check, fd, "descriptor X", selector, kind)
        )

    def test_datagram(self) -> None:
        """
        A datagram socket of the family named passes for a datagram
        endpoint, and stays open.
        """
        for domain, family in (("INET", socket.AF_INET), ("INET6", socket.AF_INET6)):
            sock = self.sockets.make(family, socket.SOCK_DGRAM)
            check(sock.fileno(), "d", Selector(domain, index=0), socket.SOCK_DGRAM)
            self.assertEqual(sock.family, family)
        unix = self.sockets.unix(socket.SOCK_DGRAM)
        check(unix.fileno(), "d", Selector("UNIX", index=0), socket.SOCK_DGRAM)
        self.assertTrue(unix.getsockname().endswith("s.sock"))

    def test_listeningStream(self) -> None:
        """
        A listening stream socket passes for a stream endpoint.
        """
        sock = self.sockets.unix(socket.SOCK_STREAM)
        sock.listen(1)
        check(sock.fileno(), "d", Selector("UNIX", index=0), socket.SOCK_STREAM)

    def test_streamForDatagram(self) -> None:
        """
        A stream socket given to C{systemd-datagram:} is refused, naming the
        C{systemd:} string that serves it.
        """
        sock = self.sockets.make(socket.AF_INET, socket.SOCK_STREAM)
        self.assertEqual(
            self.reason(sock.fileno(), Selector("INET", index=0), socket.SOCK_DGRAM),
            "descriptor X is a stream socket, not a datagram socket:"
            " use systemd:domain=INET:index=0 for it",
        )

    def test_datagramForStream(self) -> None:
        """
        A datagram socket given to C{systemd:} is refused, naming the
        C{systemd-datagram:} string that serves it, in its real domain.
        """
        sock = self.sockets.make(socket.AF_INET6, socket.SOCK_DGRAM)
        self.assertEqual(
            self.reason(
                sock.fileno(), Selector("INET", name="dns"), socket.SOCK_STREAM
            ),
            "descriptor X is a datagram socket, not a stream socket:"
            " use systemd-datagram:domain=INET6:name=dns for it",
        )

    def test_seqpacket(self) -> None:
        """
        A sequential-packet socket (C{ListenSequentialPacket=}) is refused.
        """
        sock = self.sockets.make(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.assertEqual(
            self.reason(sock.fileno(), Selector("UNIX", index=0), socket.SOCK_DGRAM),
            "descriptor X is a seqpacket socket, not a datagram socket:"
            " sockplug serves stream and datagram sockets",
        )

    def test_wrongFamily(self) -> None:
        """
        A socket of another family than C{domain=} says is refused, naming
        the right domain.
        """
        sock = self.sockets.make(socket.AF_INET6, socket.SOCK_DGRAM)
        self.assertEqual(
            self.reason(sock.fileno(), Selector("INET", index=0), socket.SOCK_DGRAM),
            "descriptor X is an INET6 socket, not INET as domain=INET says:"
            " give domain=INET6",
        )

    def test_unixForInet(self) -> None:
        """
        A UNIX socket named as INET is refused, naming UNIX.
        """
        sock = self.sockets.unix(socket.SOCK_DGRAM)
        self.assertEqual(
            self.reason(sock.fileno(), Selector("INET", index=0), socket.SOCK_DGRAM),
            "descriptor X is a UNIX socket, not INET as domain=INET says:"
            " give domain=UNIX",
        )

    def test_otherFamily(self) -> None:
        """
        A socket of a family sockplug does not serve (C{ListenNetlink=}) is
        refused, naming the family.
        """
        try:
            sock = self.sockets.make(socket.AF_NETLINK, socket.SOCK_DGRAM)
        except OSError as e:
            raise SkipTest(f"no netlink sockets here: {e}") from e
        self.assertEqual(
            self.reason(sock.fileno(), Selector("INET", index=0), socket.SOCK_DGRAM),
            "descriptor X is an AF_NETLINK socket; sockplug serves INET, INET6"
            " and UNIX sockets",
        )

    def test_notListening(self) -> None:
        """
        A stream socket that is not listening (a connection, as with
        C{Accept=yes}) is refused.
        """
        sock = self.sockets.make(socket.AF_UNIX, socket.SOCK_STREAM)
        self.assertEqual(
            self.reason(sock.fileno(), Selector("UNIX", index=0), socket.SOCK_STREAM),
            "descriptor X is a stream socket that is not listening (a .socket unit"
            " with Accept=yes passes connections): sockplug needs Accept=no",
        )

    def test_notASocket(self) -> None:
        """
        A descriptor that is not a socket (C{ListenFIFO=}) is refused, and
        left open.
        """
        read, write = os.pipe()
        self.addCleanup(os.close, read)
        self.addCleanup(os.close, write)
        self.assertEqual(
            self.reason(read, Selector("UNIX", index=0), socket.SOCK_DGRAM),
            "descriptor X is not a socket",
        )
        os.fstat(read)

    def test_notOpen(self) -> None:
        """
        A descriptor that is not open is refused.
        """
        read, write = os.pipe()
        os.close(read)
        os.close(write)
        self.assertEqual(
            self.reason(read, Selector("UNIX", index=0), socket.SOCK_DGRAM),
            "descriptor X is not open",
        )


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
