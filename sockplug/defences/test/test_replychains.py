"""
Tests for L{sockplug.defences._replychains}: an exchange of replies (two
servers answering each other) grows by C{replygrowth} at most, and so ends;
ordinary clients are answered as before.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.protocol import DatagramProtocol
from twisted.trial.unittest import SynchronousTestCase

from sockplug.defences import _replychains
from sockplug.defences._replychains import EDGE, ReplyChains, carries
from sockplug.testing._datagram import (
    CLIENT,
    BatchCase,
    Batching,
    Echoing,
    GuardedCase,
    Replier,
)

# Two servers' addresses.
A = ("192.0.2.10", 7000)
B = ("192.0.2.20", 8000)


def kept(reply: bytes, base: int = 0) -> _replychains.Kept:
    """
    What L{ReplyChains} keeps of C{reply}.
    """
    chains = ReplyChains()
    chains.replied(reply, CLIENT, base)
    return chains.sent[CLIENT]


class Greeter(DatagramProtocol):
    """
    Answers each datagram as hello does: C{Hello, DATAGRAM!}.
    """

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        assert self.transport is not None
        self.transport.write(b"Hello, " + datagram + b"!", addr)


class CarriesTests(SynchronousTestCase):
    """
    Tests for L{carries}.
    """

    def test_within(self) -> None:
        """
        A datagram that holds the reply whole, anywhere in it, carries it.
        """
        reply = b"Hello, " + b"x" * 40 + b"!"
        for datagram in (reply, b"Hello, " + reply + b"!", reply + b"tail"):
            self.assertTrue(carries(datagram, kept(reply)), datagram)

    def test_short(self) -> None:
        """
        A reply shorter than both edges is carried only whole.
        """
        self.assertTrue(carries(b"<ab>", kept(b"ab")))
        self.assertFalse(carries(b"<a b>", kept(b"ab")))

    def test_shorterDatagram(self) -> None:
        """
        A datagram shorter than the reply does not carry it.
        """
        reply = b"r" * 100
        self.assertFalse(carries(reply[:99], kept(reply)))

    def test_edgesApart(self) -> None:
        """
        A datagram whose stretch of the reply's size does not end with the
        reply's last bytes does not carry it.
        """
        reply = b"a" * 20 + b"b" * 20
        self.assertFalse(carries(b"a" * 20 + b"c" * 20, kept(reply)))

    def test_laterPlace(self) -> None:
        """
        The reply is found after a place where only its head matches.
        """
        reply = b"Hello, Hello, x" * 3 + b"!!"
        self.assertTrue(carries(b"Hello, " + reply + b"!", kept(reply)))

    def test_boundedSearch(self) -> None:
        """
        The search gives up after a few places where the head matches and
        the rest does not: a datagram cannot make it cost more.
        """
        reply = b"h" * EDGE + b"-" + b"t" * EDGE
        datagram = b"h" * (EDGE + 10) + reply
        self.assertFalse(carries(datagram, kept(reply)))
        self.assertTrue(carries(b"h" * 3 + reply, kept(reply)))

    def test_empty(self) -> None:
        """
        An empty reply is carried by nothing.
        """
        self.assertFalse(carries(b"anything", kept(b"")))


class ReplyChainsTests(SynchronousTestCase):
    """
    Tests for L{ReplyChains}.
    """

    def test_continued(self) -> None:
        """
        A datagram carrying the last reply that grew sent to its address
        gives the size of the request that began the chain, remembered for
        its host.
        """
        chains = ReplyChains()
        chains.replied(b"Hello, Al!", CLIENT, 2)
        self.assertEqual(chains.note(b"Hello, Hello, Al!!", CLIENT, CLIENT[0]), 2)
        self.assertEqual(chains.bases, {CLIENT[0]: 2})

    def test_otherAddress(self) -> None:
        """
        The reply sent to one address is not looked for in what another
        sends.
        """
        chains = ReplyChains()
        chains.replied(b"Hello, Al!", CLIENT, 2)
        other = ("192.0.2.1", 5001)
        self.assertIsNone(chains.note(b"Hello, Al!", other, other[0]))

    def test_notCarried(self) -> None:
        """
        A datagram that does not carry it continues no chain: its host's
        replies are bounded by it alone again.
        """
        chains = ReplyChains()
        chains.replied(b"Hello, Al!", CLIENT, 2)
        chains.note(b"Hello, Hello, Al!!", CLIENT, CLIENT[0])
        self.assertIsNone(chains.note(b"Bob", CLIENT, CLIENT[0]))
        self.assertEqual(chains.bases, {})

    def test_bounded(self) -> None:
        """
        No more than L{MAX_CHAINS} addresses are remembered; those first
        remembered are forgotten first.
        """
        self.patch(_replychains, "MAX_CHAINS", 8)
        chains = ReplyChains()
        for n in range(20):
            chains.replied(b"reply", ("192.0.2.1", n), 0)
        self.assertLessEqual(len(chains.sent), 8)
        self.assertIn(("192.0.2.1", 19), chains.sent)
        self.assertNotIn(("192.0.2.1", 0), chains.sent)

    def test_basesBounded(self) -> None:
        """
        No more than L{MAX_CHAINS} hosts' bases are remembered.
        """
        self.patch(_replychains, "MAX_CHAINS", 8)
        chains = ReplyChains()
        for n in range(20):
            addr = (f"192.0.2.{n}", 5000)
            chains.replied(b"reply", addr, 0)
            chains.note(b"<reply>", addr, addr[0])
        self.assertLessEqual(len(chains.bases), 8)
        self.assertEqual(chains.bases["192.0.2.19"], 0)


class LoopTests(GuardedCase):
    """
    Two guarded servers that answer each other, set off by one datagram
    with a forged source address.
    """

    def exchange(
        self, first: bytes, batched: bool = False, **limits: Any
    ) -> list[bytes]:
        """
        Send C{first} to server A as if from server B, then carry what each
        sends to the other, until neither sends (or 1,000 datagrams). With
        C{batched}, A takes datagrams in one go (C{datagramsReceived}).

        @return: the datagrams the servers sent, in order.
        """
        greet = Batching(lambda datagram: b"Hello, " + datagram + b"!")
        a, _, toB = self.guard(greet if batched else Greeter(), **limits)
        b, _, toA = self.guard(Greeter(), **limits)
        sent: list[bytes] = []
        deliverToA = a.datagramsReceived if batched else None
        if deliverToA is not None:
            deliverToA([(first, B)])
        else:
            a.datagramReceived(first, B)
        while len(sent) < 1000:
            toAPending, toA.written[:] = list(toA.written), []
            if deliverToA is not None and toAPending:
                deliverToA([(datagram, B) for datagram, _ in toAPending])
            for datagram, _ in toAPending:
                sent.append(datagram)
                if deliverToA is None:
                    a.datagramReceived(datagram, B)
            toBPending, toB.written[:] = list(toB.written), []
            for datagram, _ in toBPending:
                sent.append(datagram)
                b.datagramReceived(datagram, A)
            if not (toAPending or toBPending):
                return sent
        self.fail(f"still going after {len(sent)} datagrams")

    def test_ends(self) -> None:
        """
        With replies bounded only per exchange, hello to hello would go on
        until the reply burst ran out (200 each way by default); bounded
        over the exchange, it ends once replies have grown by 64 bytes.
        """
        sent = self.exchange(b"hi", replyBurst=100000)
        self.assertEqual([len(d) for d in sent], list(range(10, 10 + 8 * 8, 8)))

    def test_batched(self) -> None:
        """
        A server that takes datagrams in one go stops the exchange where
        one that takes them one at a time does.
        """
        sent = self.exchange(b"hi", batched=True, replyBurst=100000)
        self.assertEqual([len(d) for d in sent], list(range(10, 10 + 8 * 8, 8)))

    def test_endLogged(self) -> None:
        """
        The reply that ends it is dropped, counted as a loop and logged.
        """
        self.exchange(b"hi")
        self.assertEqual(
            self.texts("dropped"),
            [
                "udp:7777 dropped reply to 192.0.2.20:8000: reply of 74 bytes in an"
                " exchange of replies that began with a request of 2"
            ],
        )

    def test_growthOption(self) -> None:
        """
        The bound over the exchange is C{replygrowth=}.
        """
        sent = self.exchange(b"hi", replyGrowth=24)
        self.assertEqual([len(d) for d in sent], [10, 18, 26, 34])


class ClientTests(GuardedCase):
    """
    Ordinary clients are answered as before.
    """

    def test_growingRequests(self) -> None:
        """
        A client whose requests grow, each larger than the last reply, is
        answered: its requests do not carry the replies.
        """
        guard, _, transport = self.guard(Greeter())
        for size in (1, 7, 8, 56, 63, 64, 65, 1000, 8192, 30000):
            guard.datagramReceived(b"a" * size, CLIENT)
        self.assertEqual(len(transport.written), 10)

    def test_sameRequest(self) -> None:
        """
        An echo client that sends the same datagram again and again, each
        once it has its reply, is answered each time: echo's replies do not
        grow, and none is remembered.
        """
        guard, _, transport = self.guard(Echoing(), replyBurst=1000)
        for _ in range(500):
            guard.datagramReceived(b"ping" * 100, CLIENT)
        self.assertEqual(len(transport.written), 500)
        self.assertEqual(guard.budget._chains.sent, {})

    def test_newChainEachRequest(self) -> None:
        """
        A request that does not carry the last reply begins a new exchange:
        its reply is bounded by it alone.
        """
        guard, wrapped, _ = self.guard(Replier(size=60))
        guard.datagramReceived(b"a", CLIENT)
        guard.datagramReceived(b"b" * 100, CLIENT)
        wrapped.size = 160
        guard.datagramReceived(b"c" * 100, CLIENT)
        self.assertEqual(wrapped.results, [None, None, None])

    def test_laterReply(self) -> None:
        """
        A reply sent later to a host whose last datagram continued an
        exchange is bounded by the exchange's first request.
        """
        guard, _, _ = self.guard(Greeter())
        guard.datagramReceived(b"hi", CLIENT)
        guard.datagramReceived(b"Hello, Hello, hi!!", CLIENT)
        transport: Any = guard.wrapped.transport
        self.assertIs(transport.write(b"x" * 67, CLIENT), False)
        self.assertIsNone(transport.write(b"x" * 66, CLIENT))
        self.assertEqual(guard.counters.dropped["loop"], 1)


class BatchTests(BatchCase):
    """
    Exchanges of replies through the batch path.
    """

    def test_bounded(self) -> None:
        """
        A datagram of a batch that carries the last reply sent to its
        sender is answered within the exchange's bound; the others of the
        batch by their own size.
        """
        protocol = Batching(lambda datagram: b"Hello, " + datagram + b"!")
        guard, port = self.guard(protocol, replyGrowth=16)
        other = ("192.0.2.9", 9)
        guard.datagramsReceived([(b"a", CLIENT)])
        guard.datagramsReceived([(b"Hello, a!", CLIENT), (b"x" * 40, other)])
        guard.datagramsReceived([(b"y", other), (b"Hello, Hello, a!!", CLIENT)])
        self.assertEqual(protocol.notSent, [{}, {}, {1: False}])
        self.assertEqual([len(reply) for reply, _ in port.written], [9, 17, 48, 9])
        self.assertEqual(guard.counters.dropped["loop"], 1)
