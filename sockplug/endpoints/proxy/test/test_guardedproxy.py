"""
Tests for L{sockplug.endpoints.proxy._wrapper} in front of a listener's
guard: what a connection counts against the limits before and after its
header, a v2 C{LOCAL} header, and what is counted.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.error import ConnectionLost
from twisted.internet.testing import (
    EventLoggingObserver,
    MemoryReactorClock,
    StringTransport,
    StringTransportWithDisconnection,
)
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from sockplug.defences._guardedfactory import GuardedFactory
from sockplug.defences._streamguard import ConnectionGuard
from sockplug.endpoints.proxy._wrapper import (
    HEADER_TIMEOUT,
    ProxyHeaderFactory,
    ProxyHeaderProtocol,
)
from sockplug.options._access import AccessList
from sockplug.options._limits import ListenerLimits
from sockplug.plugin import ListenerInfo, TransportKind
from sockplug.protocols.echo import buildStreamFactory
from sockplug.testing._proxy import BALANCER as _BALANCER
from sockplug.testing._proxy import LISTENER as _LISTENER
from sockplug.testing._proxy import LOCAL as _LOCAL
from sockplug.testing._proxy import V1 as _V1
from sockplug.testing._proxy import V2_PROXY as _V2_PROXY
from sockplug.testing._proxy import connectFromBalancer as _connectFromBalancer
from sockplug.testing._proxy import v2 as _v2


class GuardedProxyTests(SynchronousTestCase):
    """
    L{ProxyHeaderFactory} in front of a listener's L{GuardedFactory}: what
    waits for its header counts against the limits, as the balancer's.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()

    def _factory(self, **limits: Any) -> ProxyHeaderFactory:
        info = ListenerInfo(
            "haproxy:tcp:8888",
            TransportKind.STREAM,
            "echo",
            self.clock,
            ListenerLimits(**limits),
        )
        guard = ConnectionGuard(self.clock, "haproxy:tcp:8888", info.limits)
        return ProxyHeaderFactory(
            GuardedFactory(buildStreamFactory(info), guard, True), self.clock
        )

    def _connect(
        self, factory: ProxyHeaderFactory
    ) -> tuple[ProxyHeaderProtocol, StringTransportWithDisconnection]:
        return _connectFromBalancer(factory)

    def test_waitingCounted(self) -> None:
        """
        A connection waiting for its header is counted as open.
        """
        factory = self._factory()
        self._connect(factory)
        assert factory.guard is not None
        self.assertEqual(factory.guard.openConnections, 1)

    def test_waitingRefusedPastLimit(self) -> None:
        """
        Past C{maxconn}, a connection gets no protocol at all, so the port
        closes its socket at once.
        """
        factory = self._factory(maxConnections=2)
        self._connect(factory)
        self._connect(factory)
        self.assertIsNone(factory.buildProtocol(_BALANCER))

    def test_waitingNotCheckedAgainstAccess(self) -> None:
        """
        The access lists are not checked against the balancer's address.
        """
        factory = self._factory(access=AccessList.parse("192.0.2.0/24", None))
        self.assertIsNotNone(factory.buildProtocol(_BALANCER))

    def test_headerHandsOver(self) -> None:
        """
        Once the header is read, the waiting connection is released and the
        client's is counted instead, from the client's address: one
        connection open, let in once.
        """
        factory = self._factory()
        protocol, _ = self._connect(factory)
        protocol.dataReceived(_V1)
        assert factory.guard is not None
        self.assertEqual(
            (factory.guard.openConnections, factory.guard.accepted), (1, 1)
        )

    def test_closedWhileWaitingReleased(self) -> None:
        """
        A connection that closes before its header is released.
        """
        factory = self._factory()
        _, transport = self._connect(factory)
        transport.loseConnection()
        assert factory.guard is not None
        self.assertEqual(factory.guard.openConnections, 0)

    def test_badPortClosesQuietly(self) -> None:
        """
        A v1 header with a port that is not a number (which Twisted's parser
        lets out as a ValueError) closes the connection with one log line.
        """
        events = EventLoggingObserver.createWithCleanup(
            self,  # type: ignore[arg-type]
            globalLogPublisher,
        )
        factory = self._factory()
        protocol, transport = self._connect(factory)
        protocol.dataReceived(b"PROXY TCP4 1.2.3.4 5.6.7.8 abc 80\r\n")
        self.assertFalse(transport.connected)
        self.assertEqual(
            [formatEvent(e) for e in events if "bad PROXY header" in formatEvent(e)],
            [
                "10.9.9.9:4000: bad PROXY header (invalid literal for int() with"
                " base 10: b'abc'); closing"
            ],
        )

    def test_badHeaderCounted(self) -> None:
        """
        A header that is bad is counted as a refusal for C{"proxy"}, and
        not as a connection let in.
        """
        factory = self._factory()
        protocol, _ = self._connect(factory)
        protocol.dataReceived(b"PROXY TCP4 1.2.3.4 5.6.7.8 abc 80\r\n")
        assert factory.guard is not None
        self.assertEqual(
            (factory.guard.refused["proxy"], factory.guard.accepted), (1, 0)
        )

    def test_noHeaderLoggedAndCounted(self) -> None:
        """
        Bytes that are no PROXY header at all (which Twisted's wrapper
        closes on without a word) close the connection with one log line,
        and are counted as a refusal for C{"proxy"}.
        """
        events = EventLoggingObserver.createWithCleanup(
            self,  # type: ignore[arg-type]
            globalLogPublisher,
        )
        factory = self._factory()
        protocol, transport = self._connect(factory)
        protocol.dataReceived(b"GET / HTTP/1.0\r\n\r\n")
        self.assertFalse(transport.connected)
        self.assertEqual(
            [formatEvent(e) for e in events if "bad PROXY header" in formatEvent(e)],
            ["10.9.9.9:4000: bad PROXY header (not a PROXY header); closing"],
        )
        assert factory.guard is not None
        self.assertEqual(factory.guard.refused["proxy"], 1)

    def test_headerTimeoutCounted(self) -> None:
        """
        A connection whose header does not come in time is counted as a
        refusal for C{"proxy"}.
        """
        factory = self._factory()
        self._connect(factory)
        self.clock.advance(HEADER_TIMEOUT)
        assert factory.guard is not None
        self.assertEqual(factory.guard.refused["proxy"], 1)

    def test_scopeIdCloses(self) -> None:
        """
        An IPv6 source with a scope id (free text) closes the connection.
        """
        factory = self._factory()
        protocol, transport = self._connect(factory)
        protocol.dataReceived(b"PROXY TCP6 2001:db8::1%evil ::1 1234 80\r\n")
        self.assertFalse(transport.connected)

    def test_unixSourceUsesConnection(self) -> None:
        """
        A v2 header naming a UNIX-socket client leaves the connection's own
        address as the peer, so the access lists still apply to it.
        """
        factory = self._factory(access=AccessList.parse(None, "10.0.0.0/8"))
        protocol, transport = self._connect(factory)
        body = b"/tmp/client".ljust(108, b"\0") + b"/tmp/server".ljust(108, b"\0")
        protocol.dataReceived(_v2(_V2_PROXY, 0x31, body))
        self.assertFalse(transport.connected)


class LocalHeaderTests(SynchronousTestCase):
    """
    A listener behind L{ProxyHeaderFactory} and a v2 C{LOCAL} header
    (HAProxy's health checks send one, then reset or close): nothing is
    logged or counted unless data follows.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.events = EventLoggingObserver.createWithCleanup(
            self,  # type: ignore[arg-type]
            globalLogPublisher,
        )

    def connect(self, **limits: Any) -> tuple[ProxyHeaderProtocol, StringTransport]:
        """
        A connection from the balancer to a guarded echo listener, its
        C{LOCAL} header read.
        """
        info = ListenerInfo(
            "haproxy:tcp:8888",
            TransportKind.STREAM,
            "echo",
            self.clock,
            ListenerLimits(**limits),
        )
        self.guard = ConnectionGuard(self.clock, "haproxy:tcp:8888", info.limits)
        factory = ProxyHeaderFactory(
            GuardedFactory(buildStreamFactory(info), self.guard, True), self.clock
        )
        protocol = factory.buildProtocol(_BALANCER)
        assert protocol is not None
        transport = StringTransportWithDisconnection(_LISTENER, _BALANCER)
        transport.protocol = protocol
        protocol.makeConnection(transport)
        protocol.dataReceived(_LOCAL)
        return protocol, transport

    def logged(self) -> list[str]:
        return [formatEvent(e) for e in self.events]

    def counts(self) -> tuple[int, dict[str, int], dict[str, int]]:
        counters = self.guard.counters
        return counters.accepted, counters.refused, counters.errors

    def test_waitingTracked(self) -> None:
        """
        A connection waiting for data after its header is still tracked,
        as the balancer's, and not let in.
        """
        self.connect()
        self.assertEqual((self.guard.openConnections, self.guard.accepted), (1, 0))

    def test_resetQuiet(self) -> None:
        """
        A reset after the header logs nothing.
        """
        protocol, _ = self.connect()
        protocol.connectionLost(Failure(ConnectionLost("reset")))
        self.assertEqual(self.logged(), [])

    def test_resetNotCounted(self) -> None:
        """
        A reset after the header releases the connection, and counts it as
        neither let in, nor refused, nor an error.
        """
        protocol, _ = self.connect()
        protocol.connectionLost(Failure(ConnectionLost("reset")))
        self.assertEqual(
            (self.guard.openConnections, self.counts()),
            (
                0,
                (
                    0,
                    dict.fromkeys(self.guard.refused, 0),
                    {"lost": 0, "tls": 0, "protocol": 0},
                ),
            ),
        )

    def test_closeQuiet(self) -> None:
        """
        A clean close after the header logs nothing and is released.
        """
        _, transport = self.connect()
        transport.loseConnection()
        self.assertEqual((self.logged(), self.guard.openConnections), ([], 0))

    def test_refusedListQuiet(self) -> None:
        """
        An access list that leaves out the balancer logs and counts nothing
        for a check that closes after its header.
        """
        _, transport = self.connect(access=AccessList.parse("192.0.2.0/24", None))
        transport.loseConnection()
        self.assertEqual((self.logged(), self.guard.refused["access"]), ([], 0))

    def test_dataLetIn(self) -> None:
        """
        Data after the header lets the connection in, as the balancer's:
        counted once, and logged as connected.
        """
        protocol, _ = self.connect()
        protocol.dataReceived(b"ping\n")
        self.assertEqual((self.guard.accepted, self.guard.openConnections), (1, 1))
        self.assertIn("haproxy:tcp:8888 10.9.9.9:4000 connected", self.logged())

    def test_dataChecksAccess(self) -> None:
        """
        Data after the header is refused if the access lists leave out the
        balancer, counted as refused for access.
        """
        protocol, transport = self.connect(
            access=AccessList.parse("192.0.2.0/24", None)
        )
        protocol.dataReceived(b"ping\n")
        self.assertEqual(
            (transport.connected, self.guard.refused["access"]), (False, 1)
        )


class ProxyCountersTests(SynchronousTestCase):
    """
    What a listener behind L{ProxyHeaderFactory} counts: the client's
    connection and its bytes, not the balancer's framing.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()

    def factory(self, **limits: Any) -> ProxyHeaderFactory:
        info = ListenerInfo(
            "haproxy:tcp:8888",
            TransportKind.STREAM,
            "echo",
            self.clock,
            ListenerLimits(**limits),
        )
        self.guard = ConnectionGuard(self.clock, "haproxy:tcp:8888", info.limits)
        return ProxyHeaderFactory(
            GuardedFactory(buildStreamFactory(info), self.guard, True), self.clock
        )

    def connect(
        self, factory: ProxyHeaderFactory
    ) -> tuple[ProxyHeaderProtocol, StringTransportWithDisconnection]:
        return _connectFromBalancer(factory)

    def test_headerNotCounted(self) -> None:
        """
        The header's bytes are not counted as the client's; what comes
        with it and after it is.
        """
        protocol, transport = self.connect(self.factory())
        protocol.dataReceived(_V1 + b"ping")
        protocol.dataReceived(b"hello")
        transport.loseConnection()
        counters = self.guard.counters
        self.assertEqual((counters.bytesIn, counters.bytesOut), (9, 9))

    def test_openTraffic(self) -> None:
        """
        A connection open after its header counts the client's bytes so
        far.
        """
        protocol, _ = self.connect(self.factory())
        protocol.dataReceived(_V1 + b"ping")
        self.assertEqual(self.guard.openTraffic(), (4, 4))

    def test_waitingNoTraffic(self) -> None:
        """
        A connection waiting for its header has moved no bytes of its own.
        """
        protocol, _ = self.connect(self.factory())
        protocol.dataReceived(_V1[:10])
        self.assertEqual(self.guard.openTraffic(), (0, 0))

    def test_closedOnce(self) -> None:
        """
        A client's connection that closes is let in once, and counted
        closed once.
        """
        protocol, transport = self.connect(self.factory())
        protocol.dataReceived(_V1 + b"ping")
        transport.loseConnection()
        counters = self.guard.counters
        self.assertEqual(
            (counters.accepted, self.guard.openConnections, counters.bytesIn),
            (1, 0, 4),
        )

    def test_clientRefusedForAccess(self) -> None:
        """
        A client the access lists refuse, named by its header, is counted
        as refused for access, not for its header, and not let in.
        """
        protocol, _ = self.connect(
            self.factory(access=AccessList.parse("10.0.0.0/8", None))
        )
        protocol.dataReceived(_V1)
        counters = self.guard.counters
        self.assertEqual(
            (counters.refused["access"], counters.refused["proxy"], counters.accepted),
            (1, 0, 0),
        )

    def test_lostWhileWaiting(self) -> None:
        """
        A connection lost uncleanly while waiting for its header is counted
        as lost.
        """
        protocol, _ = self.connect(self.factory())
        protocol.connectionLost(Failure(ConnectionLost("reset")))
        self.assertEqual(
            self.guard.counters.errors, {"lost": 1, "tls": 0, "protocol": 0}
        )

    def test_badHeaderNoError(self) -> None:
        """
        A connection closed for its bad header is a refusal, not an error.
        """
        protocol, _ = self.connect(self.factory())
        protocol.dataReceived(b"PROXY TCP4 1.2.3.4 5.6.7.8 abc 80\r\n")
        self.assertEqual(
            (self.guard.counters.errors, self.guard.openConnections),
            ({"lost": 0, "tls": 0, "protocol": 0}, 0),
        )

    def test_refusedWaitingNotCounted(self) -> None:
        """
        A balancer's connection refused past C{maxconn} is counted as
        refused for C{maxconn}, not let in.
        """
        factory = self.factory(maxConnections=1)
        self.connect(factory)
        self.assertIsNone(factory.buildProtocol(_BALANCER))
        counters = self.guard.counters
        self.assertEqual((counters.refused["maxconn"], counters.accepted), (1, 0))
