"""
Tests for L{sockplug.defences._datagrambatch}: the datagram guard for datagrams read,
and replies sent, in one go.
"""

from __future__ import annotations

import random
from typing import Any

from twisted.internet.protocol import DatagramProtocol
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from sockplug.defences import _datagramguard as _dgramguard
from sockplug.defences._datagramguard import DatagramGuard
from sockplug.options._access import AccessList
from sockplug.options._limits import ListenerLimits
from sockplug.testing import MemoryDatagramTransport, connectDatagram

_A = ("192.0.2.1", 5000)
_B = ("192.0.2.2", 6000)


class _Each(DatagramProtocol):
    """
    A plugin protocol that takes datagrams one at a time, answering each
    with itself; it raises for a datagram C{b"boom"}.
    """

    def __init__(self) -> None:
        self.received: list[tuple[bytes, Any]] = []

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.received.append((datagram, addr))
        if datagram == b"boom":
            raise RuntimeError("boom")
        assert self.transport is not None
        self.transport.write(datagram, addr)


class _Batch(DatagramProtocol):
    """
    A protocol that takes datagrams in one go: it answers each with
    C{reply(datagram)} through C{writeReplies}, and records what it got and
    what C{writeReplies} said.
    """

    def __init__(self, reply: Any = None) -> None:
        self.reply = reply if reply is not None else (lambda datagram: datagram)
        self.batches: list[list[tuple[bytes, Any]]] = []
        self.notSent: list[dict[int, object]] = []

    def datagramsReceived(self, datagrams: list[tuple[bytes, Any]]) -> None:
        self.batches.append(list(datagrams))
        replies = [self.reply(datagram) for datagram, _ in datagrams]
        transport: Any = self.transport
        self.notSent.append(transport.writeReplies(datagrams, replies))


class _Failing(MemoryDatagramTransport):
    """
    A port's transport whose writes to one address fail.
    """

    failFor: Any = None

    def write(self, packet: bytes, addr: Any = None) -> None:
        if addr == self.failFor:
            raise OSError(101, "Network is unreachable")
        MemoryDatagramTransport.write(self, packet, addr)


class _WritingMany(MemoryDatagramTransport):
    """
    A port's transport with C{writeMany}, as sockplug's ports have.
    """

    calls = 0

    def writeMany(self, datagrams: list[tuple[bytes, Any]]) -> dict[int, Exception]:
        self.calls += 1
        failed: dict[int, Exception] = {}
        for index, (datagram, addr) in enumerate(datagrams):
            if datagram == b"fail":
                failed[index] = OSError(11, "Resource temporarily unavailable")
            else:
                self.written.append((datagram, addr))
        return failed


class _Guarded(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.events = EventLoggingObserver.createWithCleanup(
            self,  # type: ignore[arg-type]
            globalLogPublisher,
        )

    def guard(
        self,
        protocol: DatagramProtocol,
        transport: MemoryDatagramTransport | None = None,
        ownPorts: Any = frozenset(),
        **limits: Any,
    ) -> tuple[DatagramGuard, MemoryDatagramTransport]:
        guard = DatagramGuard(
            self.clock, "udp:7777", ListenerLimits(**limits), protocol, ownPorts
        )
        port = connectDatagram(guard, transport or MemoryDatagramTransport())
        return guard, port

    def texts(self, containing: str) -> list[str]:
        return [
            text
            for text in (formatEvent(event) for event in self.events)
            if containing in text
        ]


class EachTests(_Guarded):
    """
    Tests for L{DatagramGuard.datagramsReceived} with a protocol that takes
    datagrams one at a time.
    """

    def test_each(self) -> None:
        """
        Each datagram is handed to C{datagramReceived}, in order, and
        answered.
        """
        protocol = _Each()
        guard, port = self.guard(protocol)
        guard.datagramsReceived([(b"a", _A), (b"bb", _B)])
        self.assertEqual(protocol.received, [(b"a", _A), (b"bb", _B)])
        self.assertEqual(port.written, [(b"a", _A), (b"bb", _B)])

    def test_eachBoundedByItself(self) -> None:
        """
        A reply written while a datagram is handled is bounded by that
        datagram's size, not by a later one from the same host in the batch.
        """
        protocol = _Each()
        guard, port = self.guard(protocol, replyGrowth=0)
        guard.datagramsReceived([(b"x" * 100, _A), (b"y", _A)])
        self.assertEqual(port.written, [(b"x" * 100, _A), (b"y", _A)])

    def test_errorLoggedAndNextHandled(self) -> None:
        """
        An exception from the protocol is counted and logged, and the next
        datagram is still handled.
        """
        protocol = _Each()
        guard, port = self.guard(protocol)
        guard.datagramsReceived([(b"boom", _A), (b"after", _A)])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(port.written, [(b"after", _A)])
        self.assertEqual(guard.counters.errors["protocol"], 1)

    def test_counted(self) -> None:
        """
        Every datagram is counted in, and every reply out.
        """
        guard, _ = self.guard(_Each())
        guard.datagramsReceived([(b"a", _A), (b"bb", _B)])
        counters = guard.counters
        self.assertEqual(
            (counters.datagramsIn, counters.bytesIn),
            (2, 3),
        )
        self.assertEqual((counters.datagramsOut, counters.bytesOut), (2, 3))


class BatchTests(_Guarded):
    """
    Tests for L{DatagramGuard.datagramsReceived} with a protocol that takes
    datagrams in one go, and C{writeReplies}.
    """

    def test_oneCall(self) -> None:
        """
        The protocol gets the datagrams in one call, in order.
        """
        protocol = _Batch()
        guard, _ = self.guard(protocol)
        guard.datagramsReceived([(b"a", _A), (b"b", _B)])
        self.assertEqual(protocol.batches, [[(b"a", _A), (b"b", _B)]])

    def test_answered(self) -> None:
        """
        Each reply goes to the sender of the datagram it answers, in order;
        nothing is reported as not sent.
        """
        protocol = _Batch()
        guard, port = self.guard(protocol)
        guard.datagramsReceived([(b"a", _A), (b"b", _B), (b"c", _A)])
        self.assertEqual(port.written, [(b"a", _A), (b"b", _B), (b"c", _A)])
        self.assertEqual(protocol.notSent, [{}])

    def test_counted(self) -> None:
        """
        Datagrams in and replies out are counted.
        """
        guard, _ = self.guard(_Batch())
        guard.datagramsReceived([(b"a", _A), (b"bbb", _B)])
        counters = guard.counters
        self.assertEqual(
            (
                counters.datagramsIn,
                counters.bytesIn,
                counters.datagramsOut,
                counters.bytesOut,
            ),
            (2, 4, 2, 4),
        )

    def test_noReply(self) -> None:
        """
        A reply of L{None} sends nothing, and is not reported.
        """
        protocol = _Batch(lambda datagram: None if datagram == b"q" else datagram)
        guard, port = self.guard(protocol)
        guard.datagramsReceived([(b"q", _A), (b"a", _B)])
        self.assertEqual((port.written, protocol.notSent), ([(b"a", _B)], [{}]))

    def test_eachBoundedByItsRequest(self) -> None:
        """
        Each reply is bounded by the size of the datagram it answers: a
        host's larger datagram is answered even when a smaller one from it
        comes later in the batch.
        """
        protocol = _Batch()
        guard, port = self.guard(protocol, replyGrowth=0)
        guard.datagramsReceived([(b"x" * 100, _A), (b"y", _A)])
        self.assertEqual(port.written, [(b"x" * 100, _A), (b"y", _A)])

    def test_tooLarge(self) -> None:
        """
        A reply larger than its request by more than C{replygrowth} is
        dropped, reported as L{False}, counted and logged.
        """
        protocol = _Batch(lambda datagram: datagram * 3)
        guard, port = self.guard(protocol, replyGrowth=2)
        guard.datagramsReceived([(b"a", _A), (b"bb", _B)])
        self.assertEqual(port.written, [(b"aaa", _A)])
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
        protocol = _Batch()
        guard, port = self.guard(protocol, ownPorts=own)
        guard.datagramsReceived([(b"a", _A), (b"b", ("192.0.2.3", 7))])
        own.add(_A[1])
        guard.datagramsReceived([(b"c", _A)])
        self.assertEqual(port.written, [(b"a", _A)])
        self.assertEqual(protocol.notSent, [{1: False}, {0: False}])
        self.assertEqual(guard.counters.dropped["port"], 2)

    def test_blockedAfterReload(self) -> None:
        """
        Ports blocked by new limits apply to addresses replied to before.
        """
        guard, port = self.guard(_Batch())
        guard.datagramsReceived([(b"a", _A)])
        guard.replaceWrapped(
            "udp:7777", ListenerLimits(blockedPorts=frozenset({_A[1]})), _Batch()
        )
        guard.datagramsReceived([(b"b", _A)])
        self.assertEqual(port.written, [(b"a", _A)])

    def test_rate(self) -> None:
        """
        Replies past the burst are dropped, counted and logged, whichever
        way the check goes (the first to a host, or a later one).
        """
        protocol = _Batch()
        guard, port = self.guard(protocol, replyBurst=2, replyRate=1.0)
        guard.datagramsReceived([(b"1", _A), (b"2", _A), (b"3", _A)])
        guard.datagramsReceived([(b"4", _A)])
        self.assertEqual(port.written, [(b"1", _A), (b"2", _A)])
        self.assertEqual(protocol.notSent, [{2: False}, {0: False}])
        self.assertEqual(guard.counters.dropped["rate"], 2)
        self.assertEqual(len(self.texts("more than 1 replies a second")), 2)

    def test_refill(self) -> None:
        """
        Tokens come back with time, as for replies sent one at a time.
        """
        protocol = _Batch()
        guard, port = self.guard(protocol, replyBurst=1, replyRate=10.0)
        guard.datagramsReceived([(b"1", _A)])
        self.clock.advance(0.1)
        guard.datagramsReceived([(b"2", _A), (b"3", _A)])
        self.assertEqual(port.written, [(b"1", _A), (b"2", _A)])

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
        protocol = _Batch()
        guard, port = self.guard(protocol, replyBurst=2, replyRate=0.001)
        guard.datagramsReceived([(b"1", _A), (b"2", _A), (b"3", _A)])
        self.assertEqual(port.written, [(b"1", _A), (b"2", _A)])
        self.assertEqual(guard.counters.dropped["rate"], 1)

    def test_ipv6(self) -> None:
        """
        Replies to IPv6 addresses are checked too, an IPv6 /64 sharing one
        bucket.
        """
        protocol = _Batch()
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
        protocol = _Batch()
        guard, port = self.guard(protocol)
        guard.datagramsReceived([(b"a", ""), (b"b", "/tmp/client")])
        self.assertEqual(port.written, [(b"b", "/tmp/client")])
        self.assertEqual(protocol.notSent, [{0: None}])

    def test_refusedLeftOut(self) -> None:
        """
        Datagrams from sources the access lists refuse are counted, dropped
        and not handed to the protocol.
        """
        protocol = _Batch()
        guard, _ = self.guard(protocol, access=AccessList.parse(None, "192.0.2.2"))
        guard.datagramsReceived([(b"a", _A), (b"b", _B)])
        self.assertEqual(protocol.batches, [[(b"a", _A)]])
        self.assertEqual(guard.counters.dropped["access"], 1)
        self.assertEqual(guard.counters.datagramsIn, 2)

    def test_protocolError(self) -> None:
        """
        An exception from the protocol is counted, and raised for the port
        to log.
        """

        class Failing(_Batch):
            def datagramsReceived(self, datagrams: list[tuple[bytes, Any]]) -> None:
                raise RuntimeError("boom")

        guard, _ = self.guard(Failing())
        self.assertRaises(RuntimeError, guard.datagramsReceived, [(b"a", _A)])
        self.assertEqual(guard.counters.errors["protocol"], 1)

    def test_otherListLater(self) -> None:
        """
        Replies to a list that is not the batch being handled (so nothing
        says which datagram each answers) are bounded as later replies: by
        the host's last datagram.
        """
        protocol = _Batch()
        guard, port = self.guard(protocol, replyGrowth=0)
        guard.datagramsReceived([(b"x" * 10, _A)])
        transport: Any = protocol.transport
        notSent = transport.writeReplies([(b"x" * 100, _A)], [b"y" * 100])
        self.assertEqual(notSent, {0: False})
        self.assertEqual(port.written, [(b"x" * 10, _A)])

    def test_sendFailure(self) -> None:
        """
        A reply the port fails to send is reported with the port's
        exception, and counted as a send error, not as sent.
        """
        transport = _Failing()
        transport.failFor = _B
        protocol = _Batch()
        guard, port = self.guard(protocol, transport)
        guard.datagramsReceived([(b"a", _A), (b"b", _B), (b"c", _A)])
        self.assertEqual(port.written, [(b"a", _A), (b"c", _A)])
        [notSent] = protocol.notSent
        self.assertEqual(list(notSent), [1])
        self.assertIsInstance(notSent[1], OSError)
        counters = guard.counters
        self.assertEqual(
            (counters.datagramsOut, counters.bytesOut, counters.errors["send"]),
            (2, 2, 1),
        )

    def test_writeMany(self) -> None:
        """
        A port with C{writeMany} is given the replies in one call; one it
        fails to send is reported at the place of its reply.
        """
        transport = _WritingMany()
        protocol = _Batch(lambda datagram: None if datagram == b"q" else datagram)
        guard, port = self.guard(protocol, transport)
        guard.datagramsReceived([(b"q", _A), (b"a", _A), (b"fail", _B), (b"c", _A)])
        self.assertEqual(transport.calls, 1)
        self.assertEqual(port.written, [(b"a", _A), (b"c", _A)])
        [notSent] = protocol.notSent
        self.assertEqual(list(notSent), [2])
        self.assertIsInstance(notSent[2], BlockingIOError)
        self.assertEqual((guard.counters.datagramsOut, guard.counters.bytesOut), (2, 2))


class EquivalenceTests(_Guarded):
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

        protocol: DatagramProtocol = _Batch(reply) if batched else Each()
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
            guard._buckets,
            guard._requests,
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
        With more hosts than L{_dgramguard.MAX_SOURCES}, the hosts whose
        last datagram is remembered are the same either way.
        """
        self.patch(_dgramguard, "MAX_SOURCES", 8)
        for batched in (True, False):
            protocol: DatagramProtocol = _Batch() if batched else _Each()
            guard, _ = self.guard(protocol)
            for round in range(5):
                guard.datagramsReceived(
                    [(b"x", (f"192.0.2.{round * 5 + n}", 5000)) for n in range(5)]
                )
            remembered = sorted(guard._requests)
            self.assertLessEqual(len(remembered), 8)
            if batched:
                fromBatches = remembered
        self.assertEqual(fromBatches, remembered)
