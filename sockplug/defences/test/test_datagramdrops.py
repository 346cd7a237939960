"""
Tests for the datagram guard's drops at its edges (L{sockplug.defences._datagramguard},
L{sockplug.defences._datagramtransport}): a reply with no address to go to,
and a datagram its port read cut short.
"""

from __future__ import annotations

from twisted.internet.address import UNIXAddress

from sockplug.testing import MemoryDatagramTransport, connectDatagram
from sockplug.testing._datagram import CLIENT, GuardedCase, Replier


class UnaddressedTests(GuardedCase):
    """
    A reply with no address to go to: to an unbound UNIX datagram sender
    (whose address is L{None}), or without an address on a port that is not
    connected.
    """

    def test_unboundSender(self) -> None:
        """
        A plain protocol's reply to an unbound UNIX sender is dropped and
        counted: C{write} returns L{False}, raises nothing, and nothing
        reaches the port.
        """
        guard, wrapped, transport = self.guard()
        transport.host = UNIXAddress("/tmp/server.sock")
        guard.datagramReceived(b"ping", None)
        self.assertEqual(wrapped.results, [False])
        self.assertEqual((transport.written, transport.dropped), ([], []))
        self.assertEqual(guard.dropped["unaddressed"], 1)
        self.assertEqual(guard.counters.errors, {"protocol": 0, "send": 0})

    def test_logged(self) -> None:
        """
        The drop is logged as the other dropped replies are.
        """
        guard, _, _ = self.guard()
        guard.datagramReceived(b"ping", None)
        self.assertEqual(
            self.texts("dropped"),
            ["udp:7777 dropped reply to (unbound): no address to send it to"],
        )

    def test_logBounded(self) -> None:
        """
        Many such drops are logged at the bounded rate of the other dropped
        replies: unbound senders are no one peer, so up to C{loglines=}
        (100) lines in a window, then a summary when it ends.
        """
        guard, _, _ = self.guard()
        for _ in range(150):
            guard.datagramReceived(b"ping", None)
        self.assertEqual(guard.dropped["unaddressed"], 150)
        self.assertEqual(len(self.texts("dropped reply to (unbound)")), 100)
        self.clock.advance(10)
        self.assertEqual(
            self.texts("about dropped replies held back"),
            [
                "udp:7777: 50 log lines about dropped replies held back in the"
                " last 10s (rate limit)"
            ],
        )

    def test_emptyPath(self) -> None:
        """
        An empty path is no address either, even on a connected port.
        """
        guard, wrapped, transport = self.guard()
        wrapped.transport.connect("192.0.2.5", 6000)
        guard.datagramReceived(b"ping", "")
        self.assertEqual((wrapped.results, transport.written), ([False], []))
        self.assertEqual(guard.dropped["unaddressed"], 1)

    def test_noAddressUnconnected(self) -> None:
        """
        A write without an address on a port that is not connected is
        dropped the same way.
        """
        guard, wrapped, transport = self.guard()
        self.assertIs(wrapped.transport.write(b"hi"), False)
        self.assertEqual((transport.written, guard.dropped["unaddressed"]), ([], 1))

    def test_noAddressConnected(self) -> None:
        """
        A write without an address on a connected port goes to the
        connected address, checked by the budget as a reply to it.
        """
        _, wrapped, transport = self.guard(blockedPorts=frozenset({6000}))
        wrapped.transport.connect("192.0.2.5", 6000)
        self.assertIs(wrapped.transport.write(b"hi"), False)
        wrapped.transport.connect("192.0.2.5", 6001)
        self.assertIsNone(wrapped.transport.write(b"hi"))
        self.assertEqual(transport.written, [(b"hi", ("192.0.2.5", 6001))])

    def test_sameAsInMemory(self) -> None:
        """
        The public in-memory transport, without a guard, drops such a reply
        as the guard does: C{write} returns L{False}, nothing is written.
        """
        _, guarded, _ = self.guard()
        bare = Replier()
        transport = connectDatagram(bare, MemoryDatagramTransport())
        for protocol in (guarded, bare):
            protocol.datagramReceived(b"ping", None)
            protocol.datagramReceived(b"ping", "")
            protocol.datagramReceived(b"ping", CLIENT)
        self.assertEqual(guarded.results, bare.results)
        self.assertEqual(bare.results, [False, False, None])
        self.assertEqual(
            [reason for _, _, reason in transport.dropped], ["unaddressed"] * 2
        )


class TruncatedTests(GuardedCase):
    """
    A datagram the port dropped as longer than C{maxPacketSize}.
    """

    def test_counted(self) -> None:
        """
        It is counted as received and as dropped (not its bytes), and the
        protocol is handed nothing.
        """
        guard, wrapped, _ = self.guard()
        guard.datagramTruncated(CLIENT, 65536, 100000)
        counters = guard.counters
        self.assertEqual(
            (counters.datagramsIn, counters.bytesIn, counters.dropped["truncated"]),
            (1, 0, 1),
        )
        self.assertEqual(wrapped.received, [])

    def test_logged(self) -> None:
        """
        It is logged with its size when the port knew it, and the limit.
        """
        guard, _, _ = self.guard()
        guard.datagramTruncated(CLIENT, 65536, 100000)
        guard.datagramTruncated("/tmp/client.sock", 10, None)
        self.assertEqual(
            self.texts("dropped"),
            [
                "udp:7777 dropped datagram from 192.0.2.1:5000: 100000 bytes,"
                " longer than maxPacketSize=65536",
                "udp:7777 dropped datagram from /tmp/client.sock: longer than"
                " maxPacketSize=10",
            ],
        )

    def test_logBounded(self) -> None:
        """
        Its log lines are bounded as the other drops' are, under a kind of
        their own: 20 for one peer, then a summary when the window ends.
        """
        guard, _, _ = self.guard()
        for _ in range(30):
            guard.datagramTruncated(CLIENT, 10, None)
        self.assertEqual(len(self.texts("dropped datagram from")), 20)
        self.clock.advance(10)
        self.assertEqual(len(self.texts("about truncated datagrams held back")), 1)
