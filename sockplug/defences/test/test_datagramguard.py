"""
Tests for L{sockplug.defences._datagramguard}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IListeningPort, IUDPTransport
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from sockplug.defences import _datagramguard as _dgramguard
from sockplug.defences._counters import DatagramCounters
from sockplug.defences._datagramguard import DatagramGuard, GuardedDatagramTransport
from sockplug.options._access import AccessList
from sockplug.options._limits import CLASSIC_UDP_PORTS, ListenerLimits
from sockplug.plugin import ListenerInfo, TransportKind
from sockplug.protocols.echo import EchoDatagram
from sockplug.testing import (
    MemoryDatagramReactor,
    MemoryDatagramTransport,
    connectDatagram,
)

_CLIENT = ("192.0.2.1", 5000)


class _Replier(DatagramProtocol):
    """
    A plugin protocol that answers each datagram with C{size} bytes (the
    datagram's own size if L{None}), remembers where the last datagram came
    from and what each write returned, and records the calls it gets.
    """

    def __init__(self, size: int | None = None) -> None:
        self.size = size
        self.received: list[tuple[bytes, Any]] = []
        self.results: list[object] = []
        self.refused = 0
        self.stopped = 0

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.received.append((datagram, addr))
        size = len(datagram) if self.size is None else self.size
        self.send(b"r" * size, addr)

    def send(self, data: bytes, addr: Any) -> None:
        assert self.transport is not None
        self.results.append(self.transport.write(data, addr))  # type: ignore[func-returns-value]

    def connectionRefused(self) -> None:
        self.refused += 1

    def stopProtocol(self) -> None:
        self.stopped += 1


class _Guarded(SynchronousTestCase):
    """
    Connects a plugin protocol, behind a L{DatagramGuard}, to an in-memory
    datagram transport.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.events = EventLoggingObserver.createWithCleanup(
            self,  # type: ignore[arg-type]
            globalLogPublisher,
        )

    def guard(
        self,
        protocol: DatagramProtocol | None = None,
        ownPorts: Any = frozenset(),
        **limits: Any,
    ) -> tuple[DatagramGuard, Any, MemoryDatagramTransport]:
        wrapped = _Replier() if protocol is None else protocol
        guard = DatagramGuard(
            self.clock, "udp:7777", ListenerLimits(**limits), wrapped, ownPorts
        )
        transport = connectDatagram(guard, MemoryDatagramTransport())
        return guard, wrapped, transport

    def texts(self, containing: str = "") -> list[str]:
        return [
            text
            for text in (formatEvent(event) for event in self.events)
            if containing in text
        ]


class TransportTests(_Guarded):
    """
    Tests for L{GuardedDatagramTransport} as the plugin sees it.
    """

    def test_pluginGetsGuardedTransport(self) -> None:
        """
        The plugin's protocol is given a guarded transport, over the port's.
        """
        _, wrapped, _ = self.guard()
        self.assertIsInstance(wrapped.transport, GuardedDatagramTransport)

    def test_interfacesKept(self) -> None:
        """
        The guarded transport provides what the port's transport provides.
        """
        _, wrapped, _ = self.guard()
        self.assertTrue(IUDPTransport.providedBy(wrapped.transport))
        self.assertTrue(IListeningPort.providedBy(wrapped.transport))

    def test_otherMethodsPassed(self) -> None:
        """
        Methods other than C{write} are the port transport's own.
        """
        _, wrapped, transport = self.guard()
        self.assertIs(wrapped.transport.getHost(), transport.host)

    def test_replySent(self) -> None:
        """
        A reply within every bound is sent, and C{write} returns L{None}.
        """
        guard, wrapped, transport = self.guard()
        guard.datagramReceived(b"ping", _CLIENT)
        self.assertEqual(transport.written, [(b"rrrr", _CLIENT)])
        self.assertEqual(wrapped.results, [None])

    def test_droppedReturnsFalse(self) -> None:
        """
        C{write} returns L{False} for a reply it dropped.
        """
        guard, wrapped, _ = self.guard()
        guard.datagramReceived(b"ping", ("192.0.2.1", 7))
        self.assertEqual(wrapped.results, [False])

    def test_noDropsAtStart(self) -> None:
        """
        A new guard has dropped nothing.
        """
        guard, _, _ = self.guard()
        self.assertEqual(guard.dropped, {"access": 0, "port": 0, "size": 0, "rate": 0})

    def test_writeWithoutAddress(self) -> None:
        """
        A write without an address (a connected port) goes to the
        connected address.
        """
        _, wrapped, transport = self.guard()
        transport.connect("192.0.2.5", 6000)
        self.assertIsNone(wrapped.transport.write(b"hi"))
        self.assertEqual(transport.written, [(b"hi", ("192.0.2.5", 6000))])

    def test_listenUDP(self) -> None:
        """
        A guard listened on with C{listenUDP} guards the replies of the
        protocol it wraps.
        """
        reactor = MemoryDatagramReactor()
        wrapped = _Replier()
        guard = DatagramGuard(reactor, "udp:7777", ListenerLimits(), wrapped)
        transport = reactor.listenUDP(7777, guard)
        guard.datagramReceived(b"x", ("192.0.2.1", 19))
        guard.datagramReceived(b"y", ("192.0.2.1", 5000))
        self.assertEqual(transport.written, [(b"r", ("192.0.2.1", 5000))])


class BlockedPortTests(_Guarded):
    """
    Tests for the blocked source ports.
    """

    def test_classicPortsBlocked(self) -> None:
        """
        By default, no reply goes to source port 0 or to the classic
        services that answer anything (7, 13, 17, 19, 37).
        """
        guard, _, transport = self.guard()
        for port in sorted(CLASSIC_UDP_PORTS):
            guard.datagramReceived(b"ping", ("192.0.2.1", port))
        self.assertEqual(transport.written, [])
        self.assertEqual(guard.dropped["port"], 6)

    def test_blockPortsReplaces(self) -> None:
        """
        C{blockports=} replaces the default list.
        """
        guard, _, transport = self.guard(blockedPorts=frozenset({9}))
        guard.datagramReceived(b"a", ("192.0.2.1", 9))
        guard.datagramReceived(b"b", ("192.0.2.1", 7))
        self.assertEqual(transport.written, [(b"r", ("192.0.2.1", 7))])

    def test_ownPortsBlocked(self) -> None:
        """
        No reply goes to one of this process's own datagram ports, even
        one not in C{blockports=}.
        """
        guard, _, transport = self.guard(ownPorts={7777}, blockedPorts=frozenset())
        guard.datagramReceived(b"ping", ("192.0.2.1", 7777))
        self.assertEqual(transport.written, [])
        self.assertEqual(guard.dropped["port"], 1)

    def test_ownPortsAddedLater(self) -> None:
        """
        A port added to the own-ports set after the guard was built (a
        listener that started later) is blocked too.
        """
        ownPorts: set[int] = set()
        guard, _, transport = self.guard(ownPorts=ownPorts)
        ownPorts.add(9999)
        guard.datagramReceived(b"ping", ("192.0.2.1", 9999))
        self.assertEqual(transport.written, [])

    def test_otherPortAnswered(self) -> None:
        """
        A port neither blocked nor our own is answered.
        """
        guard, _, transport = self.guard(ownPorts={7777})
        guard.datagramReceived(b"ping", ("192.0.2.1", 7778))
        self.assertEqual(len(transport.written), 1)

    def test_blockedPortIPv6(self) -> None:
        """
        A blocked port is blocked for an IPv6 sender too.
        """
        guard, _, transport = self.guard()
        guard.datagramReceived(b"ping", ("2001:db8::1", 19, 0, 0))
        self.assertEqual(transport.written, [])

    def test_unixSenderNoPort(self) -> None:
        """
        A UNIX datagram sender has no port, and is answered.
        """
        guard, _, transport = self.guard()
        guard.datagramReceived(b"ping", "/tmp/client.sock")
        self.assertEqual(transport.written, [(b"rrrr", "/tmp/client.sock")])

    def test_blockedPortLogged(self) -> None:
        """
        A reply dropped for its port is logged as a warning.
        """
        guard, _, _ = self.guard()
        guard.datagramReceived(b"ping", ("192.0.2.1", 19))
        [event] = [e for e in self.events if "dropped" in formatEvent(e)]
        self.assertEqual(
            formatEvent(event),
            "udp:7777 dropped reply to 192.0.2.1:19: source port 19 is blocked",
        )
        self.assertEqual(event["log_level"], LogLevel.warn)


class SizeTests(_Guarded):
    """
    Tests for the bound on a reply's growth over its request.
    """

    def test_growthAllowed(self) -> None:
        """
        A reply up to C{replygrowth=} bytes larger than its request is sent.
        """
        guard, _, transport = self.guard(_Replier(size=74))
        guard.datagramReceived(b"x" * 10, _CLIENT)
        self.assertEqual(len(transport.written), 1)

    def test_tooLarge(self) -> None:
        """
        A reply more than C{replygrowth=} bytes larger than its request is
        dropped, and counted.
        """
        guard, wrapped, transport = self.guard(_Replier(size=75))
        guard.datagramReceived(b"x" * 10, _CLIENT)
        self.assertEqual(transport.written, [])
        self.assertEqual((guard.dropped["size"], wrapped.results), (1, [False]))

    def test_growthOption(self) -> None:
        """
        With C{replygrowth=0}, a reply may be as large as its request, not
        larger.
        """
        guard, wrapped, _ = self.guard(_Replier(size=10), replyGrowth=0)
        guard.datagramReceived(b"x" * 10, _CLIENT)
        guard.datagramReceived(b"x" * 9, _CLIENT)
        self.assertEqual(wrapped.results, [None, False])

    def test_tooLargeLogged(self) -> None:
        """
        A reply dropped for its size is logged with both sizes.
        """
        guard, _, _ = self.guard(_Replier(size=100))
        guard.datagramReceived(b"x" * 10, _CLIENT)
        self.assertEqual(
            self.texts("dropped"),
            [
                "udp:7777 dropped reply to 192.0.2.1:5000: reply of 100 bytes"
                " to a request of 10"
            ],
        )

    def test_emptyRequest(self) -> None:
        """
        An empty request may get a reply of up to C{replygrowth=} bytes.
        """
        guard, wrapped, _ = self.guard(_Replier(size=64))
        guard.datagramReceived(b"", _CLIENT)
        self.assertEqual(wrapped.results, [None])

    def test_laterReplyBound(self) -> None:
        """
        A reply sent later, outside the handling of a request, is bound by
        the size of the last datagram from that host.
        """
        guard, wrapped, _ = self.guard(_Replier(size=10))
        guard.datagramReceived(b"x" * 10, _CLIENT)
        wrapped.send(b"r" * 75, _CLIENT)
        wrapped.send(b"r" * 74, _CLIENT)
        self.assertEqual(wrapped.results, [None, False, None])

    def test_laterReplyOtherPort(self) -> None:
        """
        The later-reply bound is per host: another port of the same host
        is held to it too.
        """
        guard, wrapped, _ = self.guard(_Replier(size=10))
        guard.datagramReceived(b"x" * 10, ("192.0.2.1", 5000))
        wrapped.send(b"r" * 75, ("192.0.2.1", 5001))
        self.assertEqual(wrapped.results, [None, False])

    def test_laterReplyLastRequest(self) -> None:
        """
        The later-reply bound follows the last datagram from the host.
        """
        guard, wrapped, _ = self.guard(_Replier(size=1))
        guard.datagramReceived(b"x" * 100, _CLIENT)
        guard.datagramReceived(b"x" * 10, _CLIENT)
        wrapped.send(b"r" * 100, _CLIENT)
        self.assertEqual(wrapped.results, [None, None, False])

    def test_unsolicitedUnbound(self) -> None:
        """
        A datagram to a host that never sent one is not a reply: no size
        bound applies, only the rate.
        """
        _, wrapped, transport = self.guard()
        wrapped.send(b"r" * 1000, _CLIENT)
        self.assertEqual(len(transport.written), 1)

    def test_unsolicitedAgainUnbound(self) -> None:
        """
        A second datagram to a host that never sent one is not held to the
        size of a request it never sent either.
        """
        _, wrapped, _ = self.guard()
        wrapped.send(b"r" * 1000, _CLIENT)
        wrapped.send(b"r" * 1000, _CLIENT)
        self.assertEqual(wrapped.results, [None, None])

    def test_sizeDropKeepsToken(self) -> None:
        """
        A reply dropped for its size does not use up one of the host's
        replies.
        """
        guard, wrapped, _ = self.guard(_Replier(size=100), replyBurst=1)
        guard.datagramReceived(b"x", _CLIENT)
        wrapped.size = 1
        guard.datagramReceived(b"x", _CLIENT)
        self.assertEqual(wrapped.results, [False, None])


class RateTests(_Guarded):
    """
    Tests for the reply rate per source host.
    """

    def test_burst(self) -> None:
        """
        A host gets C{replyburst=} replies at once; the next is dropped, and
        counted.
        """
        guard, wrapped, transport = self.guard(replyBurst=3, replyRate=1)
        for _ in range(4):
            guard.datagramReceived(b"x", _CLIENT)
        self.assertEqual(len(transport.written), 3)
        self.assertEqual((guard.dropped["rate"], wrapped.results[-1]), (1, False))

    def test_ipv6NetworkOneBucket(self) -> None:
        """
        The addresses of one IPv6 /64 share one bucket, so that spreading
        forged sources over a victim's network gains nothing.
        """
        guard, _, transport = self.guard(replyBurst=2, replyRate=1)
        for n in range(1, 5):
            guard.datagramReceived(b"x", (f"2001:db8::{n}", 5000, 0, 0))
        self.assertEqual((len(transport.written), guard.dropped["rate"]), (2, 2))

    def test_refill(self) -> None:
        """
        Replies come back at C{replyrate=} per second.
        """
        guard, wrapped, _ = self.guard(replyBurst=1, replyRate=2)
        guard.datagramReceived(b"x", _CLIENT)
        self.clock.advance(0.25)
        guard.datagramReceived(b"x", _CLIENT)
        self.clock.advance(0.25)
        guard.datagramReceived(b"x", _CLIENT)
        self.assertEqual(wrapped.results, [None, False, None])

    def test_refillCapped(self) -> None:
        """
        However long a host was quiet, it gets no more than
        C{replyburst=} replies at once.
        """
        guard, _, transport = self.guard(replyBurst=2, replyRate=10)
        self.clock.advance(1000)
        for _ in range(5):
            guard.datagramReceived(b"x", _CLIENT)
        self.assertEqual(len(transport.written), 2)

    def test_perHostNotPort(self) -> None:
        """
        The ports of one host share its replies.
        """
        guard, _, transport = self.guard(replyBurst=2, replyRate=1)
        for port in (5000, 5001, 5002, 5003):
            guard.datagramReceived(b"x", ("192.0.2.1", port))
        self.assertEqual(len(transport.written), 2)

    def test_otherHostOwnBucket(self) -> None:
        """
        A host at its rate does not stop another host's replies.
        """
        guard, wrapped, _ = self.guard(replyBurst=1, replyRate=1)
        guard.datagramReceived(b"x", ("192.0.2.1", 5000))
        guard.datagramReceived(b"x", ("192.0.2.1", 5000))
        guard.datagramReceived(b"x", ("192.0.2.2", 5000))
        self.assertEqual(wrapped.results, [None, False, None])

    def test_laterRepliesCounted(self) -> None:
        """
        Replies sent later share the host's rate with the immediate ones.
        """
        guard, wrapped, _ = self.guard(replyBurst=2, replyRate=1)
        guard.datagramReceived(b"x", _CLIENT)
        wrapped.send(b"r", _CLIENT)
        wrapped.send(b"r", _CLIENT)
        self.assertEqual(wrapped.results, [None, None, False])

    def test_rateLogged(self) -> None:
        """
        A reply dropped for the rate is logged with the rate.
        """
        guard, _, _ = self.guard(replyBurst=1, replyRate=5)
        guard.datagramReceived(b"x", _CLIENT)
        guard.datagramReceived(b"x", _CLIENT)
        self.assertEqual(
            self.texts("dropped"),
            ["udp:7777 dropped reply to 192.0.2.1:5000: more than 5 replies a second"],
        )

    def test_dropLogPerPeer(self) -> None:
        """
        One host gets a fifth of C{loglines=} lines about dropped replies
        per window; the rest are summed up at its end.
        """
        guard, _, _ = self.guard(replyBurst=1, replyRate=0.001, logLines=5)
        for _ in range(5):
            guard.datagramReceived(b"x", _CLIENT)
        self.assertEqual(len(self.texts("dropped reply")), 1)
        self.clock.advance(10)
        self.assertEqual(
            self.texts("held back"),
            [
                "udp:7777: 3 log lines about dropped replies held back in the last"
                " 10s (rate limit)"
            ],
        )


class SourceTableTests(_Guarded):
    """
    Tests for the bound on the sources whose reply rate is remembered.
    """

    def setUp(self) -> None:
        super().setUp()
        self.patch(_dgramguard, "MAX_SOURCES", 8)

    def test_bounded(self) -> None:
        """
        However many hosts are answered, no more than C{MAX_SOURCES} are
        remembered.
        """
        guard, _, transport = self.guard()
        for n in range(1, 41):
            guard.datagramReceived(b"x", (f"192.0.2.{n}", 5000))
        self.assertEqual(len(transport.written), 40)
        self.assertLessEqual(len(guard._buckets), 8)

    def test_oldestForgotten(self) -> None:
        """
        When the table is full of busy hosts, the oldest are forgotten: the
        first host answered starts afresh.
        """
        guard, wrapped, _ = self.guard(replyBurst=1, replyRate=0.001)
        for n in range(1, 10):
            guard.datagramReceived(b"x", (f"192.0.2.{n}", 5000))
        guard.datagramReceived(b"x", ("192.0.2.1", 5000))
        self.assertEqual(wrapped.results, [None] * 10)

    def test_fullBucketsForgottenFirst(self) -> None:
        """
        When the table is full, hosts whose replies have come back in full
        are forgotten before busy ones, however old.
        """
        guard, wrapped, _ = self.guard(replyBurst=2, replyRate=1)
        guard.datagramReceived(b"x", ("192.0.2.1", 5000))
        self.clock.advance(3)
        for n in range(2, 9):
            guard.datagramReceived(b"x", (f"192.0.2.{n}", 5000))
        guard.datagramReceived(b"x", ("192.0.2.9", 5000))
        del wrapped.results[:]
        guard.datagramReceived(b"x", ("192.0.2.2", 5000))
        guard.datagramReceived(b"x", ("192.0.2.2", 5000))
        self.assertEqual(wrapped.results, [None, False])
        self.assertNotIn("192.0.2.1", guard._buckets)


class AccessTests(_Guarded):
    """
    Tests for the access lists of a datagram listener.
    """

    def test_refusedNotDelivered(self) -> None:
        """
        A datagram from a refused source never reaches the protocol, and is
        counted.
        """
        guard, wrapped, transport = self.guard(
            access=AccessList.parse("10.0.0.0/8", None)
        )
        guard.datagramReceived(b"ping", ("192.0.2.1", 5000))
        self.assertEqual((wrapped.received, transport.written), ([], []))
        self.assertEqual(guard.dropped["access"], 1)

    def test_allowedDelivered(self) -> None:
        """
        A datagram from an allowed source reaches the protocol.
        """
        guard, wrapped, _ = self.guard(access=AccessList.parse("10.0.0.0/8", None))
        guard.datagramReceived(b"ping", ("10.0.0.1", 5000))
        self.assertEqual(wrapped.received, [(b"ping", ("10.0.0.1", 5000))])

    def test_denied(self) -> None:
        """
        A datagram from a denied source is dropped.
        """
        guard, wrapped, _ = self.guard(access=AccessList.parse(None, "192.0.2.0/24"))
        guard.datagramReceived(b"ping", ("192.0.2.1", 5000))
        self.assertEqual(wrapped.received, [])

    def test_unixSenderRefusedByAllow(self) -> None:
        """
        A UNIX datagram sender, with no IP address, is refused by a
        non-empty C{allow=}.
        """
        guard, wrapped, _ = self.guard(access=AccessList.parse("127.0.0.1", None))
        guard.datagramReceived(b"ping", "/tmp/client.sock")
        self.assertEqual(wrapped.received, [])

    def test_unixSenderNotRefusedByDeny(self) -> None:
        """
        A UNIX datagram sender is not refused by C{deny=} alone.
        """
        guard, wrapped, _ = self.guard(access=AccessList.parse(None, "any"))
        guard.datagramReceived(b"ping", "/tmp/client.sock")
        self.assertEqual(len(wrapped.received), 1)

    def test_refusedLogged(self) -> None:
        """
        A dropped datagram is logged as a warning with its sender.
        """
        guard, _, _ = self.guard(access=AccessList.parse(None, "any"))
        guard.datagramReceived(b"ping", ("192.0.2.1", 5000))
        self.assertEqual(
            self.texts("dropped"),
            [
                "udp:7777 dropped datagram from 192.0.2.1:5000:"
                " not allowed by allow=/deny="
            ],
        )

    def test_refusedUsesNoToken(self) -> None:
        """
        Datagrams dropped for access do not use up the source's replies.
        """
        guard, _, transport = self.guard(
            access=AccessList.parse(None, "192.0.2.0/24"), replyBurst=1
        )
        guard.datagramReceived(b"x", ("192.0.2.1", 5000))
        self.assertEqual(guard.dropped, {"access": 1, "port": 0, "size": 0, "rate": 0})
        self.assertEqual(transport.written, [])


class EchoDatagramTests(_Guarded):
    """
    The echo datagram protocol behind a guard.
    """

    def echo(self, **limits: Any) -> tuple[DatagramGuard, EchoDatagram, Any]:
        info = ListenerInfo(
            "udp:7777",
            TransportKind.DATAGRAM,
            "echo",
            self.clock,
            ListenerLimits(**limits),
        )
        echo = EchoDatagram(info)
        guard, _, transport = self.guard(echo, **limits)
        return guard, echo, transport

    def test_echoed(self) -> None:
        """
        A datagram is echoed, and counted both ways.
        """
        guard, echo, transport = self.echo()
        guard.datagramReceived(b"ping", _CLIENT)
        self.assertEqual(transport.written, [(b"ping", _CLIENT)])
        self.assertEqual((echo.datagramsOut, echo.bytesOut), (1, 4))

    def test_droppedNotCounted(self) -> None:
        """
        A reply the guard dropped is not counted as sent; its request is
        counted as received.
        """
        guard, echo, _ = self.echo()
        guard.datagramReceived(b"ping", ("192.0.2.1", 7))
        self.assertEqual((echo.datagramsIn, echo.bytesIn), (1, 4))
        self.assertEqual((echo.datagramsOut, echo.bytesOut), (0, 0))

    def test_rateDroppedNotCounted(self) -> None:
        """
        Replies dropped for the rate are not counted as sent.
        """
        guard, echo, _ = self.echo(replyBurst=2, replyRate=1)
        for _ in range(5):
            guard.datagramReceived(b"ping", _CLIENT)
        self.assertEqual((echo.datagramsIn, echo.datagramsOut), (5, 2))

    def test_refusedNotCounted(self) -> None:
        """
        A datagram dropped for access is not counted by echo at all.
        """
        guard, echo, _ = self.echo(access=AccessList.parse(None, "any"))
        guard.datagramReceived(b"ping", _CLIENT)
        self.assertEqual((echo.datagramsIn, echo.datagramsOut), (0, 0))


class ForwardingTests(_Guarded):
    """
    Tests for what L{DatagramGuard} passes on to the protocol it wraps.
    """

    def test_connectionRefused(self) -> None:
        """
        C{connectionRefused} reaches the wrapped protocol.
        """
        guard, wrapped, _ = self.guard()
        guard.connectionRefused()
        self.assertEqual(wrapped.refused, 1)

    def test_doStop(self) -> None:
        """
        Stopping the port stops the wrapped protocol.
        """
        _, wrapped, transport = self.guard()
        transport.stopListening()
        self.assertEqual(wrapped.stopped, 1)

    def test_doStopSummarizes(self) -> None:
        """
        Stopping logs at once what the rate limit held back, and leaves no
        timer behind.
        """
        guard, _, transport = self.guard(logLines=5)
        for _ in range(3):
            guard.datagramReceived(b"x", ("192.0.2.1", 7))
        transport.stopListening()
        self.assertEqual(
            self.texts("held back"),
            [
                "udp:7777: 2 log lines about dropped replies held back in the last"
                " 10s (rate limit)"
            ],
        )
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_logPrefix(self) -> None:
        """
        The guard's log prefix is the wrapped protocol's.
        """
        info = ListenerInfo("udp:7777", TransportKind.DATAGRAM, "echo", self.clock)
        guard, _, _ = self.guard(EchoDatagram(info))
        self.assertEqual(guard.logPrefix(), "EchoDatagram")

    def test_logPrefixWithout(self) -> None:
        """
        A wrapped protocol without a log prefix is named by its class.
        """

        class Bare:
            pass

        guard = DatagramGuard(self.clock, "udp:7777", ListenerLimits(), Bare())  # type: ignore[arg-type]
        self.assertEqual(guard.logPrefix(), "Bare")

    def test_quiet(self) -> None:
        """
        The guard does not log Twisted's start and stop lines.
        """
        self.assertFalse(DatagramGuard.noisy)

    def test_exceptionStillBoundsLaterReplies(self) -> None:
        """
        A datagram whose handling raises still bounds the replies sent to
        its host later: by its size and C{replygrowth}.
        """

        class Flaky(_Replier):
            def datagramReceived(self, datagram: bytes, addr: Any) -> None:
                if datagram.startswith(b"boom"):
                    raise RuntimeError("plugin bug")
                super().datagramReceived(datagram, addr)

        guard, wrapped, _ = self.guard(Flaky(size=1))
        guard.datagramReceived(b"x", _CLIENT)
        self.assertRaises(RuntimeError, guard.datagramReceived, b"boom" * 250, _CLIENT)
        wrapped.send(b"r" * 1064, _CLIENT)
        wrapped.send(b"r" * 1065, _CLIENT)
        self.assertEqual(wrapped.results, [None, None, False])


class BypassTests(_Guarded):
    """
    The other ways a plugin can send are checked as C{write} is.
    """

    def test_laterReplyToSilentRequest(self) -> None:
        """
        A reply sent later to a host whose request got no reply at once is
        still bound by that request's size.
        """
        guard, wrapped, _ = self.guard(_Quiet())
        guard.datagramReceived(b"x", _CLIENT)
        wrapped.send(b"r" * 1000, _CLIENT)
        self.assertEqual(wrapped.results, [False])

    def test_writeSequenceChecked(self) -> None:
        """
        C{writeSequence} to a blocked port is dropped, as C{write} is.
        """
        _, wrapped, transport = self.guard()
        assert wrapped.transport is not None
        result = wrapped.transport.writeSequence([b"a", b"b"], ("192.0.2.1", 19))
        self.assertEqual((result, transport.written), (False, []))

    def test_writeSequenceSends(self) -> None:
        """
        C{writeSequence} sends its parts as one datagram.
        """
        _, wrapped, transport = self.guard()
        assert wrapped.transport is not None
        wrapped.transport.writeSequence([b"a", b"b"], ("192.0.2.1", 5000))
        self.assertEqual(transport.written, [(b"ab", ("192.0.2.1", 5000))])

    def test_connectedWriteChecked(self) -> None:
        """
        Once connected, a write without an address is checked as a reply to
        the connected address.
        """
        _, wrapped, transport = self.guard()
        assert wrapped.transport is not None
        wrapped.transport.connect("192.0.2.1", 7)
        result = wrapped.transport.write(b"x")
        self.assertEqual((result, transport.written), (False, []))


class _Quiet(_Replier):
    """
    Answers nothing at once (a plugin that answers later, from a timer).
    """

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.received.append((datagram, addr))


class ReplaceWrappedTests(_Guarded):
    """
    Tests for L{DatagramGuard.replaceWrapped}.
    """

    def replace(
        self, new: _Replier | None = None, description: str = "udp:7777", **limits: Any
    ) -> tuple[DatagramGuard, _Replier, _Replier, MemoryDatagramTransport]:
        """
        Guard a L{_Replier}, then replace it.

        @return: the guard, the old protocol, the new one, and the port's
            transport.
        """
        guard, old, transport = self.guard()
        new = _Replier() if new is None else new
        guard.replaceWrapped(description, ListenerLimits(**limits), new)
        return guard, old, new, transport

    def test_neverListened(self) -> None:
        """
        A guard that never listened (or whose port stopped) takes a new
        protocol without stopping the old one, which was never started.
        """
        old = _Replier()
        guard = DatagramGuard(self.clock, "udp:7777", ListenerLimits(), old)
        new = _Replier()
        guard.replaceWrapped("udp:7777", ListenerLimits(), new)
        self.assertIs(guard.wrapped, new)
        self.assertEqual((old.stopped, new.transport), (0, None))

    def test_newGetsTransport(self) -> None:
        """
        The new protocol is given a guarded transport over the port's.
        """
        _, _, new, transport = self.replace()
        self.assertIsInstance(new.transport, GuardedDatagramTransport)
        assert new.transport is not None
        self.assertIs(new.transport.getHost(), transport.host)

    def test_newStarted(self) -> None:
        """
        The new protocol is started.
        """
        _, _, new, _ = self.replace()
        self.assertEqual(new.numPorts, 1)

    def test_newGetsDatagrams(self) -> None:
        """
        Datagrams go to the new protocol, and its replies are sent.
        """
        guard, old, new, transport = self.replace()
        guard.datagramReceived(b"ping", _CLIENT)
        self.assertEqual((old.received, new.received), ([], [(b"ping", _CLIENT)]))
        self.assertEqual(transport.written, [(b"rrrr", _CLIENT)])

    def test_oldStopped(self) -> None:
        """
        The protocol replaced is stopped.
        """
        _, old, _, _ = self.replace()
        self.assertEqual((old.stopped, old.transport), (1, None))

    def test_newStoppedWithPort(self) -> None:
        """
        When the port stops, the new protocol is stopped.
        """
        _, old, new, transport = self.replace()
        transport.stopListening()
        self.assertEqual((old.stopped, new.stopped), (1, 1))

    def test_newLimits(self) -> None:
        """
        The new limits apply to the new protocol's replies.
        """
        guard, _, new, transport = self.replace(_Replier(size=200), replyGrowth=1000)
        guard.datagramReceived(b"ping", _CLIENT)
        self.assertEqual(new.results, [None])
        self.assertEqual(len(transport.written), 1)

    def test_newBlockedPorts(self) -> None:
        """
        The new blocked ports apply.
        """
        guard, _, new, _ = self.replace(blockedPorts=frozenset({5000}))
        guard.datagramReceived(b"ping", _CLIENT)
        self.assertEqual(new.results, [False])

    def test_newAccess(self) -> None:
        """
        The new access lists apply to the datagrams received.
        """
        guard, _, new, _ = self.replace(access=AccessList.parse(None, "192.0.2.1"))
        guard.datagramReceived(b"ping", _CLIENT)
        self.assertEqual((new.received, guard.dropped["access"]), ([], 1))

    def test_description(self) -> None:
        """
        Log lines name the listener by its new description.
        """
        guard, _, _, _ = self.replace(description="udp:7777:replyrate=1")
        guard.datagramReceived(b"ping", ("192.0.2.1", 7))
        self.assertEqual(
            self.texts("dropped"),
            [
                "udp:7777:replyrate=1 dropped reply to 192.0.2.1:7: source port 7"
                " is blocked"
            ],
        )

    def test_logLines(self) -> None:
        """
        The new bound on log lines applies.
        """
        guard, _, _, _ = self.replace(logLines=5)
        for _ in range(3):
            guard.datagramReceived(b"x", ("192.0.2.1", 7))
        self.assertEqual(len(self.texts("dropped reply")), 1)

    def test_countsKept(self) -> None:
        """
        What was dropped before the replacement stays counted.
        """
        guard, _, _ = self.guard()
        guard.datagramReceived(b"x", ("192.0.2.1", 7))
        guard.replaceWrapped("udp:7777", ListenerLimits(), _Replier())
        self.assertEqual(guard.dropped["port"], 1)


class CountersTests(_Guarded):
    """
    What L{DatagramGuard} counts in its L{DatagramCounters}.
    """

    def test_ownCountersByDefault(self) -> None:
        """
        A guard has counters of its own unless given some.
        """
        first, _, _ = self.guard()
        second, _, _ = self.guard()
        self.assertIsInstance(first.counters, DatagramCounters)
        self.assertIsNot(first.counters, second.counters)

    def test_givenCounters(self) -> None:
        """
        A guard given counters counts in them.
        """
        counters = DatagramCounters()
        guard = DatagramGuard(
            self.clock, "udp:7777", ListenerLimits(), _Replier(), counters=counters
        )
        connectDatagram(guard, MemoryDatagramTransport())
        guard.datagramReceived(b"ping", _CLIENT)
        self.assertEqual((guard.counters, counters.datagramsIn), (counters, 1))

    def test_droppedIsCounters(self) -> None:
        """
        C{dropped} is the counters' drops.
        """
        guard, _, _ = self.guard()
        self.assertIs(guard.dropped, guard.counters.dropped)

    def test_received(self) -> None:
        """
        Each datagram received is counted, with its bytes.
        """
        guard, _, _ = self.guard(_Quiet())
        guard.datagramReceived(b"ping", _CLIENT)
        guard.datagramReceived(b"hello", _CLIENT)
        counters = guard.counters
        self.assertEqual((counters.datagramsIn, counters.bytesIn), (2, 9))

    def test_sent(self) -> None:
        """
        Each reply sent is counted, with its bytes.
        """
        guard, _, _ = self.guard(_Replier(size=3))
        guard.datagramReceived(b"ping", _CLIENT)
        guard.datagramReceived(b"hello", _CLIENT)
        counters = guard.counters
        self.assertEqual((counters.datagramsOut, counters.bytesOut), (2, 6))

    def test_droppedReplyNotSent(self) -> None:
        """
        A reply dropped is not counted as sent; its request is counted as
        received.
        """
        guard, _, _ = self.guard()
        guard.datagramReceived(b"ping", ("192.0.2.1", 19))
        counters = guard.counters
        self.assertEqual(
            (
                counters.datagramsIn,
                counters.bytesIn,
                counters.datagramsOut,
                counters.bytesOut,
                counters.dropped,
            ),
            (1, 4, 0, 0, {"access": 0, "port": 1, "size": 0, "rate": 0}),
        )

    def test_refusedReceived(self) -> None:
        """
        A datagram from a refused source is counted as received, and as
        dropped for access.
        """
        guard, _, _ = self.guard(access=AccessList.parse("10.0.0.0/8", None))
        guard.datagramReceived(b"ping", _CLIENT)
        counters = guard.counters
        self.assertEqual(
            (counters.datagramsIn, counters.bytesIn, counters.dropped["access"]),
            (1, 4, 1),
        )

    def test_writeSequenceSent(self) -> None:
        """
        C{writeSequence} counts one datagram, of all its parts' bytes.
        """
        guard, wrapped, _ = self.guard()
        wrapped.transport.writeSequence([b"ab", b"cde"], _CLIENT)
        counters = guard.counters
        self.assertEqual((counters.datagramsOut, counters.bytesOut), (1, 5))

    def test_connectedWriteSent(self) -> None:
        """
        A write without an address on a connected port is counted as sent.
        """
        guard, wrapped, _ = self.guard()
        wrapped.transport.connect("192.0.2.5", 6000)
        wrapped.transport.write(b"hi")
        counters = guard.counters
        self.assertEqual((counters.datagramsOut, counters.bytesOut), (1, 2))

    def test_protocolError(self) -> None:
        """
        A protocol that raises on a datagram is counted as an error, and
        the exception goes on to the port.
        """

        class Failing(_Replier):
            def datagramReceived(self, datagram: bytes, addr: Any) -> None:
                raise RuntimeError("plugin bug")

        guard, _, _ = self.guard(Failing())
        self.assertRaises(RuntimeError, guard.datagramReceived, b"x", _CLIENT)
        self.assertEqual(guard.counters.errors, {"protocol": 1, "send": 0})

    def test_sendError(self) -> None:
        """
        A datagram the port cannot send is counted as a send error, not as
        sent, and the exception goes on to the protocol.
        """
        guard, wrapped, transport = self.guard()
        transport.failWith = OSError("No buffer space available")
        self.assertRaises(OSError, wrapped.transport.write, b"hi", _CLIENT)
        counters = guard.counters
        self.assertEqual(
            (counters.errors, counters.datagramsOut, counters.bytesOut),
            ({"protocol": 0, "send": 1}, 0, 0),
        )

    def test_echoSendError(self) -> None:
        """
        A reply of echo that cannot be sent (echo logs it and goes on) is
        counted as a send error only.
        """
        info = ListenerInfo("udp:7777", TransportKind.DATAGRAM, "echo", self.clock)
        guard, _, transport = self.guard(EchoDatagram(info))
        transport.failWith = OSError("No buffer space available")
        guard.datagramReceived(b"ping", _CLIENT)
        self.assertEqual(guard.counters.errors, {"protocol": 0, "send": 1})

    def test_countsKeptOnReplace(self) -> None:
        """
        A protocol replaced by a reload leaves the counts as they were.
        """
        guard, _, _ = self.guard()
        guard.datagramReceived(b"ping", _CLIENT)
        guard.replaceWrapped("udp:7777", ListenerLimits(), _Replier())
        guard.datagramReceived(b"hello", _CLIENT)
        counters = guard.counters
        self.assertEqual(
            (counters.datagramsIn, counters.bytesIn, counters.datagramsOut),
            (2, 9, 2),
        )
