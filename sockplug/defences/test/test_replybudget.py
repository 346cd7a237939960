"""
Tests for L{sockplug.defences._replybudget}: which replies a guarded datagram
protocol may send.
"""

from __future__ import annotations

import random
from typing import Any

from twisted.internet.protocol import DatagramProtocol
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import LogLevel, formatEvent

from sockplug.defences import _replybudget
from sockplug.options._limits import CLASSIC_UDP_PORTS, ListenerLimits
from sockplug.testing._datagram import (
    CLIENT,
    OTHER_CLIENT,
    BatchCase,
    Batching,
    Echoing,
    GuardedCase,
    Replier,
)


class BlockedPortTests(GuardedCase):
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


class SizeTests(GuardedCase):
    """
    Tests for the bound on a reply's growth over its request.
    """

    def test_growthAllowed(self) -> None:
        """
        A reply up to C{replygrowth=} bytes larger than its request is sent.
        """
        guard, _, transport = self.guard(Replier(size=74))
        guard.datagramReceived(b"x" * 10, CLIENT)
        self.assertEqual(len(transport.written), 1)

    def test_tooLarge(self) -> None:
        """
        A reply more than C{replygrowth=} bytes larger than its request is
        dropped, and counted.
        """
        guard, wrapped, transport = self.guard(Replier(size=75))
        guard.datagramReceived(b"x" * 10, CLIENT)
        self.assertEqual(transport.written, [])
        self.assertEqual((guard.dropped["size"], wrapped.results), (1, [False]))

    def test_growthOption(self) -> None:
        """
        With C{replygrowth=0}, a reply may be as large as its request, not
        larger.
        """
        guard, wrapped, _ = self.guard(Replier(size=10), replyGrowth=0)
        guard.datagramReceived(b"x" * 10, CLIENT)
        guard.datagramReceived(b"x" * 9, CLIENT)
        self.assertEqual(wrapped.results, [None, False])

    def test_tooLargeLogged(self) -> None:
        """
        A reply dropped for its size is logged with both sizes.
        """
        guard, _, _ = self.guard(Replier(size=100))
        guard.datagramReceived(b"x" * 10, CLIENT)
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
        guard, wrapped, _ = self.guard(Replier(size=64))
        guard.datagramReceived(b"", CLIENT)
        self.assertEqual(wrapped.results, [None])

    def test_laterReplyBound(self) -> None:
        """
        A reply sent later, outside the handling of a request, is bound by
        the size of the last datagram from that host.
        """
        guard, wrapped, _ = self.guard(Replier(size=10))
        guard.datagramReceived(b"x" * 10, CLIENT)
        wrapped.send(b"r" * 75, CLIENT)
        wrapped.send(b"r" * 74, CLIENT)
        self.assertEqual(wrapped.results, [None, False, None])

    def test_laterReplyOtherPort(self) -> None:
        """
        The later-reply bound is per host: another port of the same host
        is held to it too.
        """
        guard, wrapped, _ = self.guard(Replier(size=10))
        guard.datagramReceived(b"x" * 10, ("192.0.2.1", 5000))
        wrapped.send(b"r" * 75, ("192.0.2.1", 5001))
        self.assertEqual(wrapped.results, [None, False])

    def test_laterReplyLastRequest(self) -> None:
        """
        The later-reply bound follows the last datagram from the host.
        """
        guard, wrapped, _ = self.guard(Replier(size=1))
        guard.datagramReceived(b"x" * 100, CLIENT)
        guard.datagramReceived(b"x" * 10, CLIENT)
        wrapped.send(b"r" * 100, CLIENT)
        self.assertEqual(wrapped.results, [None, None, False])

    def test_unsolicitedUnbound(self) -> None:
        """
        A datagram to a host that never sent one is not a reply: no size
        bound applies, only the rate.
        """
        _, wrapped, transport = self.guard()
        wrapped.send(b"r" * 1000, CLIENT)
        self.assertEqual(len(transport.written), 1)

    def test_unsolicitedAgainUnbound(self) -> None:
        """
        A second datagram to a host that never sent one is not held to the
        size of a request it never sent either.
        """
        _, wrapped, _ = self.guard()
        wrapped.send(b"r" * 1000, CLIENT)
        wrapped.send(b"r" * 1000, CLIENT)
        self.assertEqual(wrapped.results, [None, None])

    def test_sizeDropKeepsToken(self) -> None:
        """
        A reply dropped for its size does not use up one of the host's
        replies.
        """
        guard, wrapped, _ = self.guard(Replier(size=100), replyBurst=1)
        guard.datagramReceived(b"x", CLIENT)
        wrapped.size = 1
        guard.datagramReceived(b"x", CLIENT)
        self.assertEqual(wrapped.results, [False, None])


class RateTests(GuardedCase):
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
            guard.datagramReceived(b"x", CLIENT)
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
        guard.datagramReceived(b"x", CLIENT)
        self.clock.advance(0.25)
        guard.datagramReceived(b"x", CLIENT)
        self.clock.advance(0.25)
        guard.datagramReceived(b"x", CLIENT)
        self.assertEqual(wrapped.results, [None, False, None])

    def test_refillCapped(self) -> None:
        """
        However long a host was quiet, it gets no more than
        C{replyburst=} replies at once.
        """
        guard, _, transport = self.guard(replyBurst=2, replyRate=10)
        self.clock.advance(1000)
        for _ in range(5):
            guard.datagramReceived(b"x", CLIENT)
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
        guard.datagramReceived(b"x", CLIENT)
        wrapped.send(b"r", CLIENT)
        wrapped.send(b"r", CLIENT)
        self.assertEqual(wrapped.results, [None, None, False])

    def test_rateLogged(self) -> None:
        """
        A reply dropped for the rate is logged with the rate.
        """
        guard, _, _ = self.guard(replyBurst=1, replyRate=5)
        guard.datagramReceived(b"x", CLIENT)
        guard.datagramReceived(b"x", CLIENT)
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
            guard.datagramReceived(b"x", CLIENT)
        self.assertEqual(len(self.texts("dropped reply")), 1)
        self.clock.advance(10)
        self.assertEqual(
            self.texts("held back"),
            [
                "udp:7777: 3 log lines about dropped replies held back in the last"
                " 10s (rate limit)"
            ],
        )


class SourceTableTests(GuardedCase):
    """
    Tests for the bound on the sources whose reply rate is remembered.
    """

    def setUp(self) -> None:
        super().setUp()
        self.patch(_replybudget, "MAX_SOURCES", 8)

    def test_bounded(self) -> None:
        """
        However many hosts are answered, no more than C{MAX_SOURCES} are
        remembered.
        """
        guard, _, transport = self.guard()
        for n in range(1, 41):
            guard.datagramReceived(b"x", (f"192.0.2.{n}", 5000))
        self.assertEqual(len(transport.written), 40)
        self.assertLessEqual(len(guard.budget._buckets), 8)

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
        self.assertNotIn("192.0.2.1", guard.budget._buckets)


class BatchTests(BatchCase):
    """
    Tests for L{ReplyBudget.allowMany}: the replies to datagrams handed over
    in one go, sent with C{writeReplies}.
    """

    def test_eachBoundedByItsRequest(self) -> None:
        """
        Each reply is bounded by the size of the datagram it answers: a
        host's larger datagram is answered even when a smaller one from it
        comes later in the batch.
        """
        protocol = Batching()
        guard, port = self.guard(protocol, replyGrowth=0)
        guard.datagramsReceived([(b"x" * 100, CLIENT), (b"y", CLIENT)])
        self.assertEqual(port.written, [(b"x" * 100, CLIENT), (b"y", CLIENT)])

    def test_tooLarge(self) -> None:
        """
        A reply larger than its request by more than C{replygrowth} is
        dropped, reported as L{False}, counted and logged.
        """
        protocol = Batching(lambda datagram: datagram * 3)
        guard, port = self.guard(protocol, replyGrowth=2)
        guard.datagramsReceived([(b"a", CLIENT), (b"bb", OTHER_CLIENT)])
        self.assertEqual(port.written, [(b"aaa", CLIENT)])
        self.assertEqual(protocol.notSent, [{1: False}])
        self.assertEqual(guard.counters.dropped["size"], 1)
        self.assertEqual(len(self.texts("reply of 6 bytes to a request of 2")), 1)

    def test_blockedPort(self) -> None:
        """
        A reply to a blocked source port is dropped, also once replies to
        that address were sent, when the port becomes one of this process's
        own.
        """
        own: set[int] = set()
        protocol = Batching()
        guard, port = self.guard(protocol, ownPorts=own)
        guard.datagramsReceived([(b"a", CLIENT), (b"b", ("192.0.2.3", 7))])
        own.add(CLIENT[1])
        guard.datagramsReceived([(b"c", CLIENT)])
        self.assertEqual(port.written, [(b"a", CLIENT)])
        self.assertEqual(protocol.notSent, [{1: False}, {0: False}])
        self.assertEqual(guard.counters.dropped["port"], 2)

    def test_blockedAfterReload(self) -> None:
        """
        Ports blocked by new limits apply to addresses replied to before.
        """
        guard, port = self.guard(Batching())
        guard.datagramsReceived([(b"a", CLIENT)])
        guard.replaceWrapped(
            "udp:7777", ListenerLimits(blockedPorts=frozenset({CLIENT[1]})), Batching()
        )
        guard.datagramsReceived([(b"b", CLIENT)])
        self.assertEqual(port.written, [(b"a", CLIENT)])

    def test_rate(self) -> None:
        """
        Replies past the burst are dropped, counted and logged, whichever
        way the check goes (the first to a host, or a later one).
        """
        protocol = Batching()
        guard, port = self.guard(protocol, replyBurst=2, replyRate=1.0)
        guard.datagramsReceived([(b"1", CLIENT), (b"2", CLIENT), (b"3", CLIENT)])
        guard.datagramsReceived([(b"4", CLIENT)])
        self.assertEqual(port.written, [(b"1", CLIENT), (b"2", CLIENT)])
        self.assertEqual(protocol.notSent, [{2: False}, {0: False}])
        self.assertEqual(guard.counters.dropped["rate"], 2)
        self.assertEqual(len(self.texts("more than 1 replies a second")), 2)

    def test_refill(self) -> None:
        """
        Tokens come back with time, as for replies sent one at a time.
        """
        protocol = Batching()
        guard, port = self.guard(protocol, replyBurst=1, replyRate=10.0)
        guard.datagramsReceived([(b"1", CLIENT)])
        self.clock.advance(0.1)
        guard.datagramsReceived([(b"2", CLIENT), (b"3", CLIENT)])
        self.assertEqual(port.written, [(b"1", CLIENT), (b"2", CLIENT)])

    def test_oneInstant(self) -> None:
        """
        The replies of a batch are checked at one instant: however the
        clock moves meanwhile, a host's first replies within the burst are
        all sent.
        """

        class Ticking(MemoryReactorClock):
            def seconds(self) -> float:
                self.advance(0.001)
                return MemoryReactorClock.seconds(self)

        self.clock = Ticking()
        protocol = Batching()
        guard, port = self.guard(protocol, replyBurst=2, replyRate=0.001)
        guard.datagramsReceived([(b"1", CLIENT), (b"2", CLIENT), (b"3", CLIENT)])
        self.assertEqual(port.written, [(b"1", CLIENT), (b"2", CLIENT)])
        self.assertEqual(guard.counters.dropped["rate"], 1)

    def test_ipv6(self) -> None:
        """
        Replies to IPv6 addresses are checked too, an IPv6 /64 sharing one
        bucket.
        """
        protocol = Batching()
        guard, port = self.guard(protocol, replyBurst=1, replyRate=1.0)
        guard.datagramsReceived(
            [(b"a", ("2001:db8::1", 5000)), (b"b", ("2001:db8::2", 5000))]
        )
        self.assertEqual(port.written, [(b"a", ("2001:db8::1", 5000))])

    def test_unanswerable(self) -> None:
        """
        A reply to a sender without an address (an unbound UNIX datagram
        socket) is not sent, and reported as L{None}.
        """
        protocol = Batching()
        guard, port = self.guard(protocol)
        guard.datagramsReceived([(b"a", ""), (b"b", "/tmp/client")])
        self.assertEqual(port.written, [(b"b", "/tmp/client")])
        self.assertEqual(protocol.notSent, [{0: None}])

    def test_otherListLater(self) -> None:
        """
        Replies to a list that is not the batch being handled (so nothing
        says which datagram each answers) are bounded as later replies: by
        the host's last datagram.
        """
        protocol = Batching()
        guard, port = self.guard(protocol, replyGrowth=0)
        guard.datagramsReceived([(b"x" * 10, CLIENT)])
        transport: Any = protocol.transport
        notSent = transport.writeReplies([(b"x" * 100, CLIENT)], [b"y" * 100])
        self.assertEqual(notSent, {0: False})
        self.assertEqual(port.written, [(b"x" * 10, CLIENT)])


class EquivalenceTests(BatchCase):
    """
    The batch path decides as the one-at-a-time path does.
    """

    def feed(self, batched: bool, seed: int) -> tuple[object, ...]:
        """
        Feed a random mix of datagrams (hosts, ports, sizes, some blocked,
        some over the bounds) through one path, answering each with a reply
        of random size, with time advancing between batches.

        @return: what was sent, and the counters and buckets.
        """
        rng = random.Random(seed)
        self.clock = MemoryReactorClock()
        sizes: dict[bytes, int] = {}

        def reply(datagram: bytes) -> bytes:
            return b"r" * sizes[datagram]

        class Each(DatagramProtocol):
            def datagramReceived(self, datagram: bytes, addr: Any) -> None:
                assert self.transport is not None
                self.transport.write(reply(datagram), addr)

        protocol: DatagramProtocol = Batching(reply) if batched else Each()
        guard, port = self.guard(protocol, replyBurst=3, replyRate=20.0, replyGrowth=4)
        hosts = ["192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2:1"]
        for round in range(40):
            batch = []
            for n in range(rng.randrange(1, 8)):
                datagram = f"{round}.{n}".encode() * rng.randrange(1, 4)
                sizes[datagram] = len(datagram) + rng.randrange(-2, 8)
                addr = (rng.choice(hosts), rng.choice([7, 5000, 5001]))
                batch.append((datagram, addr))
            guard.datagramsReceived(batch)
            self.clock.advance(rng.choice([0, 0.01, 0.05, 0.2]))
        counters = guard.counters
        return (
            port.written,
            counters.datagramsIn,
            counters.bytesIn,
            counters.datagramsOut,
            counters.bytesOut,
            dict(counters.dropped),
            guard.budget._buckets,
            guard.budget._requests,
        )

    def test_same(self) -> None:
        """
        The same datagrams and replies give the same replies sent, counts,
        drops and buckets either way.
        """
        for seed in range(20):
            self.assertEqual(self.feed(True, seed), self.feed(False, seed))

    def test_forgetting(self) -> None:
        """
        With more hosts than L{_replybudget.MAX_SOURCES}, the hosts whose
        last datagram is remembered are the same either way.
        """
        self.patch(_replybudget, "MAX_SOURCES", 8)
        for batched in (True, False):
            protocol: DatagramProtocol = Batching() if batched else Echoing()
            guard, _ = self.guard(protocol)
            for round in range(5):
                guard.datagramsReceived(
                    [(b"x", (f"192.0.2.{round * 5 + n}", 5000)) for n in range(5)]
                )
            remembered = sorted(guard.budget._requests)
            self.assertLessEqual(len(remembered), 8)
            if batched:
                fromBatches = remembered
        self.assertEqual(fromBatches, remembered)
