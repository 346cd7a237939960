"""
Tests for L{sockplug.endpoints.proxy._wrapper} with TLS: a TLS layer
outside the header, and TLS started after it (C{haproxy:ssl:},
C{haproxy:tls:}).
"""

from __future__ import annotations

from twisted.internet.interfaces import IHandshakeListener, IProtocolFactory
from twisted.internet.ssl import CertificateOptions
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransportWithDisconnection
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.test.iosim import FakeTransport, IOPump, connect
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from sockplug.defences._guardedfactory import GuardedFactory
from sockplug.defences._streamguard import ConnectionGuard
from sockplug.endpoints.proxy._wrapper import ProxyHeaderFactory
from sockplug.options._limits import ListenerLimits
from sockplug.plugin import ListenerInfo, TransportKind
from sockplug.protocols.echo import buildStreamFactory
from sockplug.testing._proxy import BALANCER as _BALANCER
from sockplug.testing._proxy import CLIENT as _CLIENT
from sockplug.testing._proxy import LISTENER as _LISTENER
from sockplug.testing._proxy import LOCAL as _LOCAL
from sockplug.testing._proxy import V1 as _V1
from sockplug.testing._proxy import HalfCloseable as _HalfCloseable
from sockplug.testing._proxy import Recorder as _Recorder
from sockplug.testing._proxy import RecordingFactory as _Factory
from sockplug.testing._proxy import serverTLS as _serverTLS


@implementer(IHandshakeListener)
class _Handshaking(_Recorder):
    """
    Counts the handshakes it is told of.
    """

    handshakes = 0

    def handshakeCompleted(self) -> None:
        self.handshakes += 1


class ProxyHandshakeTests(SynchronousTestCase):
    """
    A TLS layer outside the header (a third-party TLS type inside
    C{haproxy:}, which sockplug cannot start after the header) tells the
    protocol of its handshake.
    """

    def test_handshakeBeforeHeader(self) -> None:
        """
        A handshake done before the header is passed to the protocol once it
        is built.
        """
        factory = _Factory(_Handshaking)
        protocol = ProxyHeaderFactory(factory, Clock()).buildProtocol(_BALANCER)
        assert protocol is not None
        protocol.makeConnection(StringTransportWithDisconnection(_LISTENER, _BALANCER))
        protocol.handshakeCompleted()
        protocol.dataReceived(_V1)
        [built] = factory.built
        assert isinstance(built, _Handshaking)
        self.assertEqual(built.handshakes, 1)

    def test_handshakeAfterHeader(self) -> None:
        """
        A handshake done after the protocol is built is passed on.
        """
        factory = _Factory(_Handshaking)
        protocol = ProxyHeaderFactory(factory, Clock()).buildProtocol(_BALANCER)
        assert protocol is not None
        protocol.makeConnection(StringTransportWithDisconnection(_LISTENER, _BALANCER))
        protocol.dataReceived(_V1)
        protocol.handshakeCompleted()
        [built] = factory.built
        assert isinstance(built, _Handshaking)
        self.assertEqual(built.handshakes, 1)


class ProxiedTLSTests(SynchronousTestCase):
    """
    TLS started after the header (C{haproxy:ssl:}, C{haproxy:tls:}): the
    header comes first, in the clear, then the TLS handshake, as HAProxy
    sends them.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.factory = _Factory(_Handshaking)
        self.clients = _Factory(_Recorder)

    def server(self, factory: IProtocolFactory | None = None) -> None:
        """
        A connection from the balancer to a L{ProxyHeaderFactory} with TLS
        in front of C{factory} (C{self.factory} unless given).
        """
        headers = ProxyHeaderFactory(
            self.factory if factory is None else factory, self.clock, _serverTLS()
        )
        protocol = headers.buildProtocol(_BALANCER)
        assert protocol is not None
        self.protocol = protocol
        self.transport = FakeTransport(protocol, True, _LISTENER, _BALANCER)

    def connect(
        self, first: bytes = _V1, factory: IProtocolFactory | None = None
    ) -> IOPump:
        """
        A TLS client that sends C{first} in the clear, then its handshake,
        connected to L{server}; pumped until both are quiet.
        """
        self.server(factory)
        tls = TLSMemoryBIOFactory(CertificateOptions(), True, self.clients, self.clock)
        client = tls.buildProtocol(_BALANCER)
        clientTransport = FakeTransport(client, False, _BALANCER, _LISTENER)
        clientTransport.write(first)
        pump: IOPump = connect(
            self.protocol,
            self.transport,
            client,
            clientTransport,
            greet=False,
            clock=self.clock,
        )
        pump.flush()
        return pump

    def built(self) -> _Handshaking:
        [built] = self.factory.built
        assert isinstance(built, _Handshaking)
        return built

    def client(self) -> _Recorder:
        [client] = self.clients.built
        return client

    def test_handshakeCompleted(self) -> None:
        """
        The handshake after the header completes, and the protocol is told
        of it once.
        """
        self.connect()
        self.assertEqual(self.built().handshakes, 1)

    def test_clientNamed(self) -> None:
        """
        The protocol under TLS sees the client the header names.
        """
        self.connect()
        self.assertEqual(self.built().peers, [_CLIENT])

    def test_dataDecrypted(self) -> None:
        """
        What the client sends over TLS reaches the protocol decrypted.
        """
        pump = self.connect()
        transport = self.client().transport
        assert transport is not None
        transport.write(b"hello")
        pump.flush()
        self.assertEqual(b"".join(self.built().received), b"hello")

    def test_replyEncrypted(self) -> None:
        """
        What the protocol writes reaches the client over TLS.
        """
        pump = self.connect()
        transport = self.built().transport
        assert transport is not None
        transport.write(b"reply")
        pump.flush()
        self.assertEqual(b"".join(self.client().received), b"reply")

    def test_localThenTLS(self) -> None:
        """
        After a v2 C{LOCAL} header, the handshake builds the protocol (for
        the balancer), and completes.
        """
        self.connect(_LOCAL)
        self.assertEqual(
            (self.built().peers, self.built().handshakes), ([_BALANCER], 1)
        )

    def test_headerInsideTLSCloses(self) -> None:
        """
        A client whose handshake comes first (a header inside TLS, as
        Twisted's C{haproxy:ssl:} expected) is closed, and no protocol is
        built.
        """
        self.connect(b"")
        self.assertEqual(
            (self.transport.disconnected, self.factory.addresses), (True, [])
        )

    def test_refusedAborts(self) -> None:
        """
        A client the wrapped factory refuses (no protocol) is aborted
        without a handshake.
        """
        self.connect(factory=_Factory(None))
        self.assertEqual(
            (self.transport.disconnected, self.clients.built[0].lost != []),
            (True, True),
        )

    def test_halfCloseCloses(self) -> None:
        """
        The peer's half-close under TLS closes the connection (as on an
        C{ssl:} listener), even for a protocol that takes half-closes.
        """
        factory = _Factory(_HalfCloseable)
        pump = self.connect(factory=factory)
        self.protocol.readConnectionLost()
        pump.flush()
        [built] = factory.built
        assert isinstance(built, _HalfCloseable)
        self.assertEqual((built.halfClosed, len(built.lost)), ([], 1))

    def test_backpressureAfterHandshake(self) -> None:
        """
        A counting protocol (echo) registers for backpressure on the
        socket's transport once the handshake is done.
        """
        self.connect(factory=self.echo())
        self.assertIsNotNone(self.transport.producer)

    def test_noBackpressureBeforeHandshake(self) -> None:
        """
        Before the handshake, a counting protocol (echo) has not registered
        for backpressure, which would stall the handshake.
        """
        self.server(self.echo())
        self.protocol.makeConnection(self.transport)
        self.protocol.dataReceived(_V1)
        self.assertIsNone(self.transport.producer)

    def test_echoLetIn(self) -> None:
        """
        A guarded listener lets the client in once, and echoes under TLS.
        """
        pump = self.connect(factory=self.echo())
        transport = self.client().transport
        assert transport is not None
        transport.write(b"ping\n")
        pump.flush()
        self.assertEqual(
            (b"".join(self.client().received), self.guard.accepted),
            (b"ping\n", 1),
        )

    def echo(self) -> GuardedFactory:
        """
        A guarded echo listener's factory.
        """
        info = ListenerInfo(
            "haproxy:ssl:8443",
            TransportKind.STREAM,
            "echo",
            self.clock,
            ListenerLimits(),
        )
        self.guard = ConnectionGuard(self.clock, "haproxy:ssl:8443", info.limits)
        return GuardedFactory(buildStreamFactory(info), self.guard, True)
