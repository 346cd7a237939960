"""
Tests for L{sockplug.compat._twisted}: every private name of Twisted that
sockplug uses is still there, called as sockplug calls it; the door's
accessors read and set what they say; and no other module of sockplug
spells one.

Run this module against a new Twisted release first: each failure names
what is gone and what sockplug used it for.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from attrs import frozen
from twisted.internet import abstract, tcp, udp, unix
from twisted.internet.address import IPv4Address
from twisted.internet.endpoints import (
    SSL4ServerEndpoint,
    TCP4ClientEndpoint,
)
from twisted.internet.epollreactor import EPollReactor
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactor
from twisted.python.filepath import FilePath
from twisted.python.systemd import ListenFDs
from twisted.trial.unittest import SynchronousTestCase

import twisted
from sockplug import compat
from sockplug.compat import _twisted

DOOR = "sockplug/compat/_twisted.py"


@frozen
class Private:
    """
    A private name of Twisted that sockplug uses.

    @ivar path: where it is, dotted: a module, then attributes.
    @ivar use: what sockplug uses it for.
    @ivar onInstance: whether it is set on each instance (looked up on one
        made by L{_SAMPLES}) rather than on the class.
    @ivar takes: the parameters sockplug passes it, by name and in order
        (without C{self}), if it is called.
    """

    path: str
    use: str
    onInstance: bool = False
    takes: tuple[str, ...] | None = None


# One line each: the group (a test below), the path after "twisted.", and
# what sockplug uses it for; a line ending in a backslash goes on in the
# next. "Class()." looks the rest up on an instance (see _SAMPLES);
# "(a,b)" at the end gives the parameters sockplug passes.
_TABLE = r"""
haproxy    protocols.haproxy._info.ProxyInfo                what a PROXY header says
haproxy    protocols.haproxy._v1parser.V1Parser             parsing PROXY v1 headers
haproxy    protocols.haproxy._v1parser.V1Parser.PROXYSTR    telling v1 headers
haproxy    protocols.haproxy._v1parser.V1Parser.parse(line) the short v1 form
haproxy    protocols.haproxy._v2parser.V2Parser             parsing PROXY v2 headers
haproxy    protocols.haproxy._v2parser.V2Parser.PREFIX      telling v2 headers
haproxy    protocols.haproxy._wrapper.HAProxyWrappingFactory  haproxy: listeners
haproxy    protocols.haproxy._wrapper.HAProxyProtocolWrapper  haproxy: connections
haproxy    protocols.haproxy._wrapper.HAProxyProtocolWrapper()._parser \
           split headers
haproxy    protocols.haproxy._wrapper.HAProxyProtocolWrapper()._proxyInfo \
           checking header addresses
endpoints  internet.endpoints._parse(description)           checking its parsing
endpoints  internet.endpoints._parseClientTCP               the client's ssl: strings
endpoints  internet.endpoints._parseTrustRootPath(pathName) trustRoots=
endpoints  internet.endpoints._privateCertFromPaths(certificatePath,keyPath) \
           the client's certificate= and privateKey=
endpoints  internet.endpoints._parseClientTLS               the client's tls: strings
endpoints  internet.endpoints.SSL4ServerEndpoint()._port      haproxy:ssl:
endpoints  internet.endpoints.SSL4ServerEndpoint()._interface haproxy:ssl:
endpoints  internet.endpoints.SSL4ServerEndpoint()._backlog   haproxy:ssl:
endpoints  internet.endpoints.SSL4ServerEndpoint()._sslContextFactory \
           haproxy:ssl:
endpoints  internet.endpoints.TCP4ClientEndpoint()._host    the client's tests
endpoints  internet.endpoints.TCP4ClientEndpoint()._port    the client's tests
systemd    internet.endpoints._SystemdParser                the sockets systemd passed
systemd    internet.endpoints._SystemdParser._sddaemon      the sockets systemd passed
systemd    python.systemd.ListenFDs()._names                the names systemd gave
sni        protocols._sni.SNIConnectionCreator              tls: listeners
sni        protocols._sni.PEMObjects.fromDirectory(directory)  reading tls: folders
sni        protocols._sni.PEMObjects.inferDomainMapping()   reading tls: folders
sni        protocols._sni.PEMObjects()._certificates        reading tls: folders
sni        protocols._sni.PEMObjects()._keyPairs            reading tls: folders
tls        protocols.tls.TLSMemoryBIOProtocol._shutdownTLS()  replies before close
tls        protocols.tls.TLSMemoryBIOProtocol._aborted      replies before close
tls        protocols.tls.BufferingTLSTransport()._aggregator.flush() \
           replies before close
tls        protocols.tls.TLSMemoryBIOFactory()._clock       the TLS tests
tls        internet._sslverify.IOpenSSLTrustRoot            the client's annotations
ports      internet.tcp.Port._fromListeningDescriptor(\
reactor,fd,addressFamily,factory) adopting TCP sockets
ports      internet.udp.Port._fromListeningDescriptor(\
reactor,fd,addressFamily,protocol,maxPacketSize) adopting UDP sockets
ports      internet.tcp.Port._shouldShutdown                closing shared sockets
ports      internet.udp.Port._bindSocket()                  adopting datagram sockets
ports      internet.unix.DatagramPort._bindSocket()         adopting UNIX datagram ones
ports      internet.udp.Port()._connectedAddr               UDP writes to checked hosts
transport  internet.abstract.FileDescriptor._writeDisconnecting  writing at once
transport  internet.abstract.FileDescriptor._writeDisconnected   writing at once
transport  internet.abstract.FileDescriptor()._tempDataLen  writing at once
transport  internet.abstract.FileDescriptor().dataBuffer    writing at once
transport  internet.abstract.FileDescriptor().offset        writing at once
transport  internet.tcp.Connection.TLS                      writing at once
transport  internet.tcp.Connection._dataReceived(data)      reading a shared buffer
reactor    internet.epollreactor.EPollReactor()._poller       sockplug's reactor
reactor    internet.epollreactor.EPollReactor()._selectables  sockplug's reactor
reactor    internet.epollreactor.EPollReactor()._reads        the reactor's tests
reactor    internet.epollreactor.EPollReactor()._writes       the reactor's tests
reactor    internet.epollreactor.EPollReactor._doReadOrWrite(selectable,fd,event) \
           sockplug's reactor
web        web.test._util._render(resource,request)         the tests of web pages
"""


def _private(path: str, use: str) -> Private:
    """
    A line of L{_TABLE} as a L{Private}.
    """
    takes = None
    if path.endswith(")"):
        path, _, given = path[:-1].rpartition("(")
        takes = tuple(name.strip() for name in given.split(",") if name.strip())
    return Private("twisted." + path.replace("()", ""), use, "()" in path, takes)


def _groups() -> dict[str, list[Private]]:
    """
    L{_TABLE}'s lines, by group.
    """
    groups: dict[str, list[Private]] = {}
    for line in _TABLE.replace("\\\n", "").strip().splitlines():
        group, path, use = line.split(None, 2)
        groups.setdefault(group, []).append(_private(path, use))
    return groups


GROUPS = _groups()


def _epollReactor(case: SynchronousTestCase) -> EPollReactor:
    reactor = EPollReactor()
    case.addCleanup(_twisted.pollerOf(reactor).close)
    case.addCleanup(reactor.waker.connectionLost, None)
    return reactor


def _tlsFactory(case: SynchronousTestCase) -> Any:
    from twisted.internet.ssl import CertificateOptions
    from twisted.protocols.tls import TLSMemoryBIOFactory

    return TLSMemoryBIOFactory(CertificateOptions(), False, Factory(), Clock())


def _bufferingTLS(case: SynchronousTestCase) -> Any:
    from twisted.protocols.tls import BufferingTLSTransport

    return BufferingTLSTransport(_tlsFactory(case), Protocol())


def _pemObjects(case: SynchronousTestCase) -> Any:
    from twisted.protocols._sni import PEMObjects

    return PEMObjects([], [])


def _proxyWrapper(case: SynchronousTestCase) -> Any:
    from twisted.protocols.haproxy._wrapper import HAProxyProtocolWrapper

    factory: Any = compat.HAProxyWrappingFactory(Factory())
    return HAProxyProtocolWrapper(factory, Protocol())


def _headerWrapper() -> compat.ProxyHeaderWrapper:
    factory: Any = compat.HAProxyWrappingFactory(Factory())
    return compat.ProxyHeaderWrapper(factory, Protocol())


# How to make an instance of each class whose private attributes are set
# in its __init__.
_SAMPLES: dict[str, Callable[[SynchronousTestCase], Any]] = {
    "twisted.protocols.haproxy._wrapper.HAProxyProtocolWrapper": _proxyWrapper,
    "twisted.internet.endpoints.SSL4ServerEndpoint": lambda c: SSL4ServerEndpoint(
        MemoryReactor(), 0, None
    ),
    "twisted.internet.endpoints.TCP4ClientEndpoint": lambda c: TCP4ClientEndpoint(
        MemoryReactor(), "localhost", 1
    ),
    "twisted.python.systemd.ListenFDs": lambda c: ListenFDs([]),
    "twisted.protocols._sni.PEMObjects": _pemObjects,
    "twisted.protocols.tls.BufferingTLSTransport": _bufferingTLS,
    "twisted.protocols.tls.TLSMemoryBIOFactory": _tlsFactory,
    "twisted.internet.udp.Port": lambda c: udp.Port(
        0, DatagramProtocol(), reactor=MemoryReactor()
    ),
    "twisted.internet.abstract.FileDescriptor": lambda c: abstract.FileDescriptor(
        MemoryReactor()
    ),
    "twisted.internet.epollreactor.EPollReactor": _epollReactor,
}


def _module(path: str) -> tuple[Any, list[str]]:
    """
    The longest importable module at the start of C{path}, and the
    attribute names after it.
    """
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            return importlib.import_module(".".join(parts[:cut])), parts[cut:]
        except ImportError:
            continue
    raise ImportError(path)


def _owner(case: SynchronousTestCase, path: str) -> tuple[Any, list[str]]:
    """
    What C{path}'s instance attributes are looked up on: an instance of its
    class (see L{_SAMPLES}), and the attribute names after the class.
    """
    for classPath, make in _SAMPLES.items():
        if path.startswith(classPath + "."):
            return make(case), path[len(classPath) + 1 :].split(".")
    raise KeyError(f"no sample instance for {path}")


def _problem(case: SynchronousTestCase, private: Private) -> str | None:
    """
    What is wrong with C{private} on this Twisted, in words; or L{None}.
    """
    version = twisted.__version__
    try:
        if private.onInstance:
            found, names = _owner(case, private.path)
        else:
            found, names = _module(private.path)
        for name in names:
            found = getattr(found, name)
    except (ImportError, AttributeError):
        return (
            f"Twisted {version} no longer has {private.path}, which sockplug"
            f" uses for {private.use}; see {DOOR}"
        )
    if private.takes is None:
        return None
    parameters = [
        p
        for p in inspect.signature(found).parameters.values()
        if p.name not in ("self", "cls")
    ]
    first = tuple(p.name for p in parameters[: len(private.takes)])
    rest = parameters[len(private.takes) :]
    if first != private.takes or any(
        p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        for p in rest
    ):
        taken = ", ".join(p.name for p in parameters)
        return (
            f"Twisted {version} changed {private.path}: it takes ({taken}), where"
            f" sockplug passes ({', '.join(private.takes)}) for {private.use};"
            f" see {DOOR}"
        )
    return None


class PrivateNamesTests(SynchronousTestCase):
    """
    Each private name of Twisted that the door uses is still there, and
    takes what sockplug passes it.
    """

    def assertAllThere(self, group: str) -> None:
        """
        Fail, naming each, if any private name of C{group} is missing or
        called differently.
        """
        problems = [
            problem
            for private in GROUPS[group]
            if (problem := _problem(self, private)) is not None
        ]
        if problems:
            self.fail("\n".join(problems))

    def test_haproxy(self) -> None:
        """The PROXY header parsers and wrapper, and what the wrapper keeps."""
        self.assertAllThere("haproxy")

    def test_endpoints(self) -> None:
        """The endpoint string parsers' helpers and what endpoints keep."""
        self.assertAllThere("endpoints")

    def test_systemd(self) -> None:
        """The sockets Twisted's systemd: read, and their names."""
        self.assertAllThere("systemd")

    def test_sni(self) -> None:
        """The tls: server type's connection creator and PEM folder reader."""
        self.assertAllThere("sni")

    def test_tls(self) -> None:
        """The TLS layer's shutdown, abort flag, held writes and clock."""
        self.assertAllThere("tls")

    def test_ports(self) -> None:
        """Adopting descriptors, closing without shutdown, connected UDP."""
        self.assertAllThere("ports")

    def test_transport(self) -> None:
        """The stream transport's write queue and its handler of reads."""
        self.assertAllThere("transport")

    def test_reactor(self) -> None:
        """The epoll reactor's poller, descriptors and event handler."""
        self.assertAllThere("reactor")

    def test_web(self) -> None:
        """The helper that renders a web resource in tests."""
        self.assertAllThere("web")

    def test_missingNamed(self) -> None:
        """A missing name is reported with its path, its use and the door."""
        problem = _problem(self, Private("twisted.internet.tcp._gone", "nothing"))
        self.assertEqual(
            problem,
            f"Twisted {twisted.__version__} no longer has twisted.internet.tcp._gone,"
            f" which sockplug uses for nothing; see {DOOR}",
        )

    def test_changedSignatureNamed(self) -> None:
        """A function called with other parameters is reported with both."""
        problem = _problem(
            self,
            Private("twisted.internet.endpoints._parse", "parsing", takes=("text",)),
        )
        self.assertEqual(
            problem,
            f"Twisted {twisted.__version__} changed twisted.internet.endpoints._parse:"
            " it takes (description), where sockplug passes (text) for parsing;"
            f" see {DOOR}",
        )

    def test_readsBoundOnce(self) -> None:
        """
        Twisted's stream transports handle reads with tcp.Connection's own
        method, which sockplug's binds once (L{connectionDataReceived}).
        """
        for transport in (tcp.Server, unix.Server):
            self.assertIs(
                transport._dataReceived,
                compat.connectionDataReceived,
            )


class AccessorTests(SynchronousTestCase):
    """
    The door's functions and mixins read and set what Twisted keeps.
    """

    def test_systemdSockets(self) -> None:
        """L{systemdSockets} is what Twisted's systemd: parser read."""
        sockets = ListenFDs([3, 4], ("a", "b"))
        self.patch(compat.SystemdParser, compat.SYSTEMD_SOCKETS, sockets)
        self.assertIs(compat.systemdSockets(), sockets)

    def test_systemdSocketsNone(self) -> None:
        """L{systemdSockets} is L{None} when the parser holds no sockets."""
        self.patch(compat.SystemdParser, compat.SYSTEMD_SOCKETS, None)
        self.assertIsNone(compat.systemdSockets())

    def test_inheritedNames(self) -> None:
        """L{inheritedNames} keeps the order, and names given twice."""
        sockets = ListenFDs([3, 4, 5], ("dns", "web", "dns"))
        self.assertEqual(compat.inheritedNames(sockets), ("dns", "web", "dns"))

    def test_serverEndpointParts(self) -> None:
        """L{serverEndpointParts} is what an SSL4 endpoint was made with."""
        endpoint = SSL4ServerEndpoint(MemoryReactor(), 8443, object(), 7, "127.0.0.1")
        self.assertEqual(compat.serverEndpointParts(endpoint), (8443, "127.0.0.1", 7))

    def test_sslContextFactoryOf(self) -> None:
        """L{sslContextFactoryOf} is the TLS settings of an SSL4 endpoint."""
        settings = object()
        endpoint = SSL4ServerEndpoint(MemoryReactor(), 443, settings)
        self.assertIs(compat.sslContextFactoryOf(endpoint), settings)

    def test_clientEndpointAddress(self) -> None:
        """L{clientEndpointAddress} is where a TCP4 client connects."""
        endpoint = TCP4ClientEndpoint(MemoryReactor(), "127.0.0.1", 8888)
        self.assertEqual(compat.clientEndpointAddress(endpoint), ("127.0.0.1", 8888))

    def test_parseEndpointString(self) -> None:
        """L{parseEndpointString} splits as Twisted's parsers do."""
        self.assertEqual(
            compat.parseEndpointString(r"tcp:80:interface=\:\:1"),
            (["tcp", "80"], {"interface": "::1"}),
        )

    def test_proxyInfo(self) -> None:
        """L{ProxyHeaderWrapper.proxyInfo} is what Twisted's wrapper parsed."""
        wrapper = _headerWrapper()
        self.assertIsNone(wrapper.proxyInfo)
        wrapper.dataReceived(b"PROXY TCP4 192.0.2.1 192.0.2.2 1234 80\r\n")
        assert wrapper.proxyInfo is not None
        self.assertEqual(wrapper.getPeer(), wrapper.proxyInfo.source)
        self.assertEqual(wrapper.proxyInfo.source.host, "192.0.2.1")  # type: ignore[union-attr]

    def test_proxyInfoSet(self) -> None:
        """What is set as L{ProxyHeaderWrapper.proxyInfo} is what Twisted uses."""
        wrapper = _headerWrapper()
        source = IPv4Address("TCP", "192.0.2.1", 1234)
        wrapper.proxyInfo = compat.ProxyInfo(b"", source, None)
        self.assertIs(wrapper.getPeer(), source)

    def test_headerParser(self) -> None:
        """A parser set as L{ProxyHeaderWrapper.headerParser} reads the header."""
        wrapper = _headerWrapper()
        self.assertIsNone(wrapper.headerParser)
        parser = compat.V1Parser()
        wrapper.headerParser = parser
        wrapper.dataReceived(b"PROXY TCP4 192.0.2.1 192.0.2.2 1234 80\r\n")
        self.assertIs(wrapper.headerParser, parser)
        self.assertIsNotNone(wrapper.proxyInfo)

    def test_tlsShutdownHook(self) -> None:
        """L{TLSShutdownHook} calls beforeCloseNotify, then Twisted's shutdown."""
        calls: list[str] = []

        class Twisted:
            def _shutdownTLS(self) -> None:
                calls.append("shutdown")

        class Layer(compat.TLSShutdownHook, Twisted):
            def beforeCloseNotify(self) -> None:
                calls.append("before")

        Layer()._shutdownTLS()
        self.assertEqual(calls, ["before", "shutdown"])

    def test_tlsAborted(self) -> None:
        """L{tlsAborted} is false until the TLS layer is aborted."""
        layer = _bufferingTLS(self)
        self.assertFalse(compat.tlsAborted(layer))
        layer._aborted = True
        self.assertTrue(compat.tlsAborted(layer))

    def test_flushHeldWrites(self) -> None:
        """L{flushHeldWrites} flushes the layer's held small writes."""
        layer = _bufferingTLS(self)
        flushed: list[bool] = []
        layer._aggregator.flush = lambda: flushed.append(True)
        compat.flushHeldWrites(layer)
        self.assertEqual(flushed, [True])

    def test_clockOf(self) -> None:
        """L{clockOf} is the clock a TLS factory was made with."""
        from twisted.internet.ssl import CertificateOptions
        from twisted.protocols.tls import TLSMemoryBIOFactory

        clock = Clock()
        factory = TLSMemoryBIOFactory(CertificateOptions(), False, Factory(), clock)
        self.assertIs(compat.clockOf(factory), clock)

    def test_readPEMFolder(self) -> None:
        """L{readPEMFolder} finds the certificate and key of a PEM file."""
        folder = self.pemFolder()
        certificates, keyPairs = compat.readPEMFolder(folder)
        self.assertEqual(
            ([path.basename() for path, _ in certificates], len(keyPairs)),
            (["server.pem"], 1),
        )

    def test_inferDomainMapping(self) -> None:
        """L{inferDomainMapping} has settings for the certificate's name."""
        certificates, keyPairs = compat.readPEMFolder(self.pemFolder())
        mapping = compat.inferDomainMapping(certificates, keyPairs)
        self.assertIn("localhost", mapping)

    def test_sni(self) -> None:
        """This Twisted has the tls: server type, whose creator is made."""
        self.assertTrue(compat.hasSNI())
        creator = compat.sniConnectionCreator(lambda name: None)
        self.assertEqual(type(creator).__name__, "SNIConnectionCreator")

    def pemFolder(self) -> FilePath[str]:
        """
        A folder holding a self-signed certificate for C{localhost}, with
        its key.
        """
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        now = datetime.now(timezone.utc)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(1)
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName("localhost")]), False
            )
            .sign(key, hashes.SHA256())
        )
        folder = FilePath(tempfile.mkdtemp())
        self.addCleanup(folder.remove)
        folder.child("server.pem").setContent(
            certificate.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return folder

    def test_skipShutdown(self) -> None:
        """L{skipShutdown} stops a stream port's shutdown() on close."""
        port = tcp.Port(0, Factory(), reactor=MemoryReactor())
        compat.skipShutdown(port)
        self.assertFalse(port._shouldShutdown)

    def test_skipShutdownOthers(self) -> None:
        """L{skipShutdown} leaves a port without shutdown() as it is."""
        port = udp.Port(0, DatagramProtocol(), reactor=MemoryReactor())
        compat.skipShutdown(port)
        self.assertFalse(hasattr(port, "_shouldShutdown"))

    def test_closesWithoutShutdown(self) -> None:
        """A stream port with L{ClosesWithoutShutdown} skips shutdown()."""

        class Port(compat.ClosesWithoutShutdown, tcp.Port):
            pass

        port = Port(0, Factory(), reactor=MemoryReactor())
        self.assertFalse(port._shouldShutdown)

    def test_datagramBindHook(self) -> None:
        """A datagram port with L{DatagramBindHook} calls bindSocket to bind."""
        bound: list[bool] = []

        class Port(compat.DatagramBindHook, udp.Port):
            def bindSocket(self) -> None:
                bound.append(True)

        Port(0, DatagramProtocol(), reactor=MemoryReactor())._bindSocket()
        self.assertEqual(bound, [True])

    def test_connectedAddressOf(self) -> None:
        """L{connectedAddressOf} is L{None} for a port not connected."""
        port = udp.Port(0, DatagramProtocol(), reactor=MemoryReactor())
        self.assertIsNone(compat.connectedAddressOf(port))

    def transport(self) -> abstract.FileDescriptor:
        """
        A connected Twisted transport that never writes to a socket, and
        has not started TLS (as L{tcp.Connection} says).
        """
        transport = abstract.FileDescriptor(MemoryReactor())
        transport.connected = True
        transport.TLS = False  # type: ignore[attr-defined]
        transport.startWriting = lambda: None  # type: ignore[method-assign]
        return transport

    def test_mayWriteNow(self) -> None:
        """L{mayWriteNow} holds for a connected transport with nothing queued."""
        transport = self.transport()
        self.assertTrue(compat.mayWriteNow(transport))

    def test_mayWriteNowQueued(self) -> None:
        """L{mayWriteNow} fails once a write is queued; L{queuedBytes} counts it."""
        transport = self.transport()
        transport.write(b"abc")
        self.assertEqual(
            (compat.mayWriteNow(transport), compat.queuedBytes(transport)), (False, 3)
        )

    def test_mayWriteNowClosing(self) -> None:
        """L{mayWriteNow} fails once the write side is closing."""
        transport = self.transport()
        transport.loseWriteConnection()
        self.assertFalse(compat.mayWriteNow(transport))

    def test_pollParts(self) -> None:
        """L{pollParts} is the reactor's poller, descriptors and handler."""
        reactor = _epollReactor(self)
        poller, selectables, handler = compat.pollParts(reactor)
        self.assertIs(poller, compat.pollerOf(reactor))
        self.assertIs(selectables, compat.selectablesOf(reactor))
        self.assertEqual(handler, reactor._doReadOrWrite)

    def test_replacePoller(self) -> None:
        """L{replacePoller} gives the reactor the poller it then polls."""
        reactor = _epollReactor(self)
        original = compat.pollerOf(reactor)
        self.addCleanup(original.close)
        stand = object()
        compat.replacePoller(reactor, stand)
        self.assertIs(compat.pollParts(reactor)[0], stand)
        compat.replacePoller(reactor, original)

    def test_registeredOf(self) -> None:
        """L{registeredOf} is what the reactor reads and writes."""
        reactor = _epollReactor(self)
        reads, writes = compat.registeredOf(reactor)
        self.assertIn(reactor.waker.fileno(), reads)
        self.assertEqual(writes, set())

    def test_renderResource(self) -> None:
        """L{renderResource} renders a resource into a test request."""
        from twisted.web.static import Data
        from twisted.web.test.requesthelper import DummyRequest

        request = DummyRequest([b""])
        self.successResultOf(compat.renderResource(Data(b"hi", "text/plain"), request))
        self.assertEqual(b"".join(request.written), b"hi")


def _doorSpells() -> set[str]:
    """
    The private names of Twisted that the door spells: the last part of
    each private module or name it imports, each C{_x} attribute it reads,
    sets or defines, and each C{"_x"} string.
    """
    tree = ast.parse(Path(_twisted.__file__).read_text())
    spelled: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "twisted"
        ):
            for alias in node.names:
                spelled.update(f"{node.module}.{alias.name}".split("."))
        elif isinstance(node, ast.Attribute):
            spelled.add(node.attr)
        elif isinstance(node, ast.FunctionDef):
            spelled.add(node.name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            spelled.add(node.value)
    return {name for name in spelled if name[:1] == "_" and name[1:2] != "_"}


class TableTests(SynchronousTestCase):
    """
    The table of this module lists every private name the door uses.
    """

    def test_complete(self) -> None:
        """Each private name the door spells is in the table."""
        listed = {
            part
            for group in GROUPS.values()
            for private in group
            for part in private.path.split(".")
        }
        spelled = _doorSpells()
        self.assertIn("_poller", spelled)
        self.assertEqual(spelled - listed, set())
