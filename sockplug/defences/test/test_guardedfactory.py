"""
Tests for L{sockplug.defences._guardedfactory}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import (
    IHalfCloseableProtocol,
    IHandshakeListener,
    IProtocolFactory,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import (
    MemoryReactorClock,
    StringTransport,
    StringTransportWithDisconnection,
)
from twisted.logger import formatEvent
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from sockplug.defences._guardedfactory import GuardedFactory, GuardedProtocol, Refused
from sockplug.defences._streamguard import ConnectionGuard
from sockplug.options._access import AccessList
from sockplug.options._limits import ListenerLimits
from sockplug.plugin import ListenerInfo, TransportKind
from sockplug.protocols.echo import Echo, buildStreamFactory
from sockplug.testing._logs import LogTexts as _Texts
from sockplug.testing._logs import peer as _peer


class _Plain(Protocol):
    """
    A third-party protocol that knows nothing of the guard: it echoes, and
    records what happens to it.
    """

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.lost: list[Failure] = []

    def dataReceived(self, data: bytes) -> None:
        self.received.append(data)
        assert self.transport is not None
        self.transport.write(data)

    def connectionLost(self, reason: Failure = Failure(ConnectionDone())) -> None:  # noqa: B008
        self.lost.append(reason)


@implementer(IHalfCloseableProtocol)
class _HalfCloseable(_Plain):
    """
    A third-party protocol that takes half-closes.
    """

    def __init__(self) -> None:
        super().__init__()
        self.halfClosed: list[str] = []

    def readConnectionLost(self) -> None:
        self.halfClosed.append("read")

    def writeConnectionLost(self) -> None:
        self.halfClosed.append("write")


def _inner(wrapper: GuardedProtocol) -> Any:
    """
    The protocol a L{GuardedProtocol} wraps.
    """
    return wrapper.wrappedProtocol


class _CountingFactory(Factory[Protocol]):
    """
    A factory of L{_Plain} protocols that counts the protocols it builds,
    and can be told to refuse (build L{None}).
    """

    def __init__(self, protocol: type[_Plain] = _Plain) -> None:
        self.protocol = protocol
        self.built = 0
        self.refuse = False

    def buildProtocol(self, addr: Any) -> Protocol | None:
        self.built += 1
        if self.refuse:
            return None
        return super().buildProtocol(addr)


class RefusedTests(SynchronousTestCase):
    """
    Tests for L{Refused}.
    """

    def test_aborts(self) -> None:
        """
        A refused connection is aborted as soon as it is made.
        """
        transport = StringTransport()
        Refused().makeConnection(transport)
        self.assertTrue(transport.disconnected)

    def test_closesWithoutAbort(self) -> None:
        """
        A transport that cannot abort is closed.
        """

        class NoAbort(StringTransport):
            abortConnection = None  # type: ignore[assignment]

        transport = NoAbort()
        Refused().makeConnection(transport)
        self.assertTrue(transport.disconnecting)

    def test_readsNothing(self) -> None:
        """
        What a refused peer sends is not written back or acted on.
        """
        transport = StringTransport()
        protocol = Refused()
        protocol.makeConnection(transport)
        protocol.dataReceived(b"GET / HTTP/1.0\r\n\r\n")
        self.assertEqual(transport.value(), b"")


class GuardedFactoryTests(SynchronousTestCase):
    """
    Tests for L{GuardedFactory} with a plugin built on
    L{sockplug.protocols.base.CountingProtocol} (echo).
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.texts = _Texts(self)

    def factory(self, **limits: Any) -> GuardedFactory:
        info = ListenerInfo(
            "tcp:8888",
            TransportKind.STREAM,
            "echo",
            self.clock,
            ListenerLimits(**limits),
        )
        guard = ConnectionGuard(self.clock, "tcp:8888", info.limits)
        return GuardedFactory(buildStreamFactory(info), guard)

    def connect(
        self, factory: GuardedFactory, peer: IPv4Address | None = None
    ) -> tuple[Any, StringTransportWithDisconnection]:
        transport = StringTransportWithDisconnection(peerAddress=peer or _peer())
        protocol = factory.buildProtocol(transport.getPeer())
        assert protocol is not None
        transport.protocol = protocol
        protocol.makeConnection(transport)
        return protocol, transport

    def test_refusedWithNoneWhereThePortCloses(self) -> None:
        """
        With C{refuseWithNone} (a TCP or UNIX port calls the factory), a
        refused connection gets no protocol, so the port closes its socket
        at once.
        """
        plain = self.factory(maxPerSource=1)
        direct = GuardedFactory(plain.wrappedFactory, plain.guard, True)
        self.connect(direct)
        self.assertIsNone(direct.buildProtocol(_peer()))

    def test_refusedWithProtocolByDefault(self) -> None:
        """
        Without C{refuseWithNone} (a TLS wrapper calls the factory, and
        cannot take L{None}), a refused connection gets a L{Refused}
        protocol.
        """
        factory = self.factory(maxPerSource=1)
        self.connect(factory)
        self.assertIsInstance(factory.buildProtocol(_peer()), Refused)

    def test_connectLineFromProtocol(self) -> None:
        """
        A guarded protocol's connection line, rate-limited by the guard,
        still carries the protocol's own log namespace.
        """
        self.connect(self.factory())
        namespaces = [
            event["log_namespace"]
            for event in self.texts.events
            if formatEvent(event).endswith(" connected")
        ]
        self.assertEqual(namespaces, ["sockplug.protocols.echo.Echo"])

    def test_peerShared(self) -> None:
        """
        A counting protocol and the guard hold one string for the peer's
        address, not one each.
        """
        factory = self.factory()
        protocol, _ = self.connect(factory)
        self.assertEqual(protocol.peer, "192.0.2.1:5000")
        self.assertIs(protocol.peer, factory.guard.peerOf(protocol))

    def test_buildsPluginProtocol(self) -> None:
        """
        An admitted connection gets the plugin's own protocol, unwrapped.
        """
        protocol, _ = self.connect(self.factory())
        self.assertIsInstance(protocol, Echo)

    def test_tracksPluginProtocol(self) -> None:
        """
        The plugin's protocol is tracked by the guard.
        """
        factory = self.factory()
        self.connect(factory)
        self.assertEqual(
            (factory.guard.openConnections, factory.guard.accepted), (1, 1)
        )

    def test_pluginProtocolReleases(self) -> None:
        """
        A counting protocol tells the guard when its connection closes.
        """
        factory = self.factory()
        _, transport = self.connect(factory)
        transport.loseConnection()
        self.assertEqual(
            (factory.guard.openConnections, factory.guard.budget.open), (0, 0)
        )

    def test_pluginProtocolWorks(self) -> None:
        """
        The guarded plugin protocol serves its peer as usual.
        """
        protocol, transport = self.connect(self.factory())
        protocol.dataReceived(b"ping")
        self.assertEqual(transport.value(), b"ping")

    def test_refusedProtocol(self) -> None:
        """
        A refused connection gets a L{Refused} protocol.
        """
        factory = self.factory(access=AccessList.parse(None, "any"))
        self.assertIsInstance(factory.buildProtocol(_peer()), Refused)

    def test_refusedAborted(self) -> None:
        """
        A refused connection is aborted at once, and nothing is sent to it.
        """
        _, transport = self.connect(self.factory(access=AccessList.parse(None, "any")))
        self.assertTrue(transport.disconnected)
        self.assertEqual(transport.value(), b"")

    def test_refusedNotBuilt(self) -> None:
        """
        The plugin's factory is not asked for a protocol for a refused
        connection, and the guard does not track it.
        """
        wrapped = _CountingFactory()
        guard = ConnectionGuard(
            self.clock, "tcp:8888", ListenerLimits(access=AccessList.parse(None, "any"))
        )
        GuardedFactory(wrapped, guard).buildProtocol(_peer())
        self.assertEqual((wrapped.built, guard.openConnections), (0, 0))

    def test_refusedByPlugin(self) -> None:
        """
        A plugin factory that builds no protocol gets the connection
        refused, and it is not tracked.
        """
        wrapped = _CountingFactory()
        wrapped.refuse = True
        guard = ConnectionGuard(self.clock, "tcp:8888", ListenerLimits())
        protocol = GuardedFactory(wrapped, guard).buildProtocol(_peer())
        self.assertIsInstance(protocol, Refused)
        self.assertEqual((guard.openConnections, guard.budget.open), (0, 0))

    def test_refusedAfterLimit(self) -> None:
        """
        Past C{maxconn=}, connections are refused until one closes.
        """
        factory = self.factory(maxConnections=1)
        _, first = self.connect(factory, _peer("192.0.2.1"))
        self.assertIsInstance(factory.buildProtocol(_peer("192.0.2.2")), Refused)
        first.loseConnection()
        self.assertIsInstance(factory.buildProtocol(_peer("192.0.2.2")), Echo)

    def test_pluginLogLinesRateLimited(self) -> None:
        """
        A counting protocol's log lines go through the guard's rate limit:
        one peer gets a fifth of C{loglines=} lines of a kind.
        """
        factory = self.factory(logLines=5)
        for port in (1, 2, 3):
            self.connect(factory, _peer("192.0.2.1", port))
        self.assertEqual(self.texts(" connected"), ["tcp:8888 192.0.2.1:1 connected"])

    def test_doStart(self) -> None:
        """
        Starting the factory starts the plugin's factory and the guard's
        idle sweep.
        """
        wrapped = _CountingFactory()
        guard = ConnectionGuard(self.clock, "tcp:8888", ListenerLimits(idleTimeout=10))
        GuardedFactory(wrapped, guard).doStart()
        self.assertEqual(wrapped.numPorts, 1)
        [call] = self.clock.getDelayedCalls()
        self.assertEqual(call.getTime(), 1.0)

    def test_doStop(self) -> None:
        """
        Stopping the factory stops the plugin's factory.
        """
        wrapped = _CountingFactory()
        factory = GuardedFactory(
            wrapped, ConnectionGuard(self.clock, "tcp:8888", ListenerLimits())
        )
        factory.doStart()
        factory.doStop()
        self.assertEqual(wrapped.numPorts, 0)

    def test_logPrefix(self) -> None:
        """
        The factory's log prefix is the plugin factory's.
        """

        class Named(_CountingFactory):
            def logPrefix(self) -> str:
                return "named"

        factory = GuardedFactory(
            Named(), ConnectionGuard(self.clock, "tcp:8888", ListenerLimits())
        )
        self.assertEqual(factory.logPrefix(), "named")

    def test_logPrefixWithout(self) -> None:
        """
        A plugin factory without a log prefix is named by its class.
        """

        @implementer(IProtocolFactory)
        class Bare:
            def buildProtocol(self, addr: Any) -> None:
                return None

            def doStart(self) -> None:
                pass

            def doStop(self) -> None:
                pass

        factory = GuardedFactory(
            Bare(), ConnectionGuard(self.clock, "tcp:8888", ListenerLimits())
        )
        self.assertEqual(factory.logPrefix(), "Bare")

    def test_quiet(self) -> None:
        """
        The factory does not log Twisted's start and stop lines.
        """
        self.assertFalse(GuardedFactory.noisy)


class GuardedProtocolTests(SynchronousTestCase):
    """
    Tests for L{GuardedFactory} with a third-party protocol, which it wraps
    in a L{GuardedProtocol}.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.guard = ConnectionGuard(self.clock, "tcp:8888", ListenerLimits())

    def connect(
        self, protocol: type[_Plain] = _Plain
    ) -> tuple[GuardedProtocol, StringTransportWithDisconnection]:
        factory = GuardedFactory(_CountingFactory(protocol), self.guard)
        transport = StringTransportWithDisconnection(peerAddress=_peer())
        wrapper = factory.buildProtocol(transport.getPeer())
        assert isinstance(wrapper, GuardedProtocol)
        transport.protocol = wrapper
        wrapper.makeConnection(transport)
        return wrapper, transport

    def test_wrapped(self) -> None:
        """
        A protocol that does not report to the guard is wrapped, and the
        wrapper is tracked.
        """
        wrapper, _ = self.connect()
        self.assertIsInstance(_inner(wrapper), _Plain)
        self.assertEqual(self.guard.openConnections, 1)

    def test_abortWithoutAbortConnection(self) -> None:
        """
        On a transport that cannot abort (StandardIO), C{abort} closes it
        the gentle way instead of failing.
        """
        factory = GuardedFactory(_CountingFactory(_Plain), self.guard)
        transport = _CannotAbort(peerAddress=_peer())
        wrapper = factory.buildProtocol(transport.getPeer())
        assert isinstance(wrapper, GuardedProtocol)
        transport.protocol = wrapper
        wrapper.makeConnection(transport)
        wrapper.abort()
        self.assertFalse(transport.connected)

    def test_handshakeForwarded(self) -> None:
        """
        A TLS handshake's completion reaches a wrapped protocol that listens
        for it.
        """
        wrapper, _ = self.connect(_Handshaking)
        wrapper.handshakeCompleted()
        self.assertEqual(_inner(wrapper).handshakes, 1)

    def test_handshakeNotForwardedToOthers(self) -> None:
        """
        A wrapped protocol that does not listen for handshakes is not told.
        """
        wrapper, _ = self.connect()
        wrapper.handshakeCompleted()
        self.assertFalse(hasattr(_inner(wrapper), "handshakes"))

    def test_dataDelivered(self) -> None:
        """
        What the peer sends reaches the wrapped protocol, and its replies
        reach the peer.
        """
        wrapper, transport = self.connect()
        wrapper.dataReceived(b"ping")
        self.assertEqual(_inner(wrapper).received, [b"ping"])
        self.assertEqual(transport.value(), b"ping")

    def test_peerSeen(self) -> None:
        """
        The wrapped protocol sees the peer's address.
        """
        wrapper, _ = self.connect()
        self.assertEqual(_inner(wrapper).transport.getPeer(), _peer())

    def test_countsBytesIn(self) -> None:
        """
        The wrapper counts the bytes received.
        """
        wrapper, _ = self.connect()
        wrapper.dataReceived(b"abc")
        wrapper.dataReceived(b"de")
        self.assertEqual(wrapper.bytesIn, 5)

    def test_countsBytesOut(self) -> None:
        """
        The wrapper counts the bytes the wrapped protocol writes, with
        C{write} and C{writeSequence}.
        """
        wrapper, transport = self.connect()
        _inner(wrapper).transport.write(b"abc")
        _inner(wrapper).transport.writeSequence([b"de", b"f"])
        self.assertEqual(wrapper.bytesOut, 6)
        self.assertEqual(transport.value(), b"abcdef")

    def test_activity(self) -> None:
        """
        The wrapper's activity is the bytes moved either way.
        """
        wrapper, _ = self.connect()
        wrapper.dataReceived(b"abc")
        self.assertEqual(wrapper.activity(), 6)

    def test_releasedOnConnectionLost(self) -> None:
        """
        When the connection closes, the guard is told, and the wrapped
        protocol too.
        """
        wrapper, transport = self.connect()
        plain = _inner(wrapper)
        transport.loseConnection()
        self.assertEqual((self.guard.openConnections, self.guard.budget.open), (0, 0))
        self.assertEqual(len(plain.lost), 1)

    def test_closeGently(self) -> None:
        """
        Closing gently loses the connection (after what is queued).
        """
        wrapper, transport = self.connect()
        wrapper.closeGently()
        self.assertFalse(transport.connected)
        self.assertFalse(transport.disconnected)

    def test_abort(self) -> None:
        """
        Aborting aborts the transport.
        """
        transport = StringTransport()
        factory = GuardedFactory(_CountingFactory(), self.guard)
        wrapper = factory.buildProtocol(_peer())
        assert isinstance(wrapper, GuardedProtocol)
        wrapper.makeConnection(transport)
        wrapper.abort()
        self.assertTrue(transport.disconnected)

    def test_halfCloseableWrapper(self) -> None:
        """
        The wrapper takes half-closes, whatever it wraps.
        """
        wrapper, _ = self.connect()
        self.assertTrue(IHalfCloseableProtocol.providedBy(wrapper))

    def test_readConnectionLostForwarded(self) -> None:
        """
        The peer's half-close reaches a wrapped protocol that takes
        half-closes, and the connection stays open.
        """
        wrapper, transport = self.connect(_HalfCloseable)
        wrapper.readConnectionLost()
        self.assertEqual(_inner(wrapper).halfClosed, ["read"])
        self.assertTrue(transport.connected)

    def test_writeConnectionLostForwarded(self) -> None:
        """
        The end of our side of the stream reaches a wrapped protocol that
        takes half-closes, and the connection stays open.
        """
        wrapper, transport = self.connect(_HalfCloseable)
        wrapper.writeConnectionLost()
        self.assertEqual(_inner(wrapper).halfClosed, ["write"])
        self.assertTrue(transport.connected)

    def test_readConnectionLostCloses(self) -> None:
        """
        The peer's half-close closes the connection of a wrapped protocol
        that does not take half-closes.
        """
        wrapper, transport = self.connect()
        plain = _inner(wrapper)
        wrapper.readConnectionLost()
        self.assertFalse(transport.connected)
        self.assertEqual(len(plain.lost), 1)

    def test_writeConnectionLostCloses(self) -> None:
        """
        The end of our side of the stream closes the connection of a wrapped
        protocol that does not take half-closes.
        """
        wrapper, transport = self.connect()
        wrapper.writeConnectionLost()
        self.assertFalse(transport.connected)


@implementer(IHandshakeListener)
class _Handshaking(_Plain):
    """
    A third-party protocol that counts the TLS handshakes it is told of.
    """

    handshakes = 0

    def handshakeCompleted(self) -> None:
        self.handshakes += 1


class _CannotAbort(StringTransportWithDisconnection):
    """
    A transport without C{abortConnection}, as L{StandardIO}.
    """

    abortConnection = None  # type: ignore[assignment]


class ReplaceWrappedTests(SynchronousTestCase):
    """
    Tests for L{GuardedFactory.replaceWrapped}.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.guard = ConnectionGuard(self.clock, "tcp:8888", ListenerLimits())
        self.old = _CountingFactory()
        self.new = _CountingFactory()
        self.factory = GuardedFactory(self.old, self.guard)
        self.factory.doStart()

    def connect(self) -> tuple[GuardedProtocol, StringTransportWithDisconnection]:
        transport = StringTransportWithDisconnection(peerAddress=_peer())
        wrapper = self.factory.buildProtocol(transport.getPeer())
        assert isinstance(wrapper, GuardedProtocol)
        transport.protocol = wrapper
        wrapper.makeConnection(transport)
        return wrapper, transport

    def test_startsNew(self) -> None:
        """
        The new factory is started.
        """
        self.factory.replaceWrapped(self.new)
        self.assertEqual(self.new.numPorts, 1)

    def test_stopsOld(self) -> None:
        """
        The factory replaced is stopped.
        """
        self.factory.replaceWrapped(self.new)
        self.assertEqual(self.old.numPorts, 0)

    def test_newConnections(self) -> None:
        """
        Connections made after the replacement are built by the new
        factory.
        """
        self.factory.replaceWrapped(self.new)
        self.connect()
        self.assertEqual((self.old.built, self.new.built), (0, 1))

    def test_wrappedFactory(self) -> None:
        """
        The new factory is the one wrapped.
        """
        self.factory.replaceWrapped(self.new)
        self.assertIs(self.factory.wrappedFactory, self.new)

    def test_oldConnectionsServed(self) -> None:
        """
        A connection the old factory built is still served.
        """
        wrapper, transport = self.connect()
        self.factory.replaceWrapped(self.new)
        wrapper.dataReceived(b"ping")
        self.assertEqual(transport.value(), b"ping")
        self.assertIsInstance(_inner(wrapper), _Plain)

    def test_oldConnectionsTracked(self) -> None:
        """
        A connection the old factory built is still tracked by the guard,
        and released when it closes.
        """
        _, transport = self.connect()
        self.factory.replaceWrapped(self.new)
        self.assertEqual(self.guard.openConnections, 1)
        transport.loseConnection()
        self.assertEqual(self.guard.openConnections, 0)

    def test_guardKept(self) -> None:
        """
        The guard stays: a refused connection is refused before the new
        factory is asked.
        """
        self.factory.replaceWrapped(self.new)
        self.guard.reconfigure(
            "tcp:8888", ListenerLimits(access=AccessList.parse(None, "any"))
        )
        self.assertIsInstance(self.factory.buildProtocol(_peer()), Refused)
        self.assertEqual(self.new.built, 0)
