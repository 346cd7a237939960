"""
Tests for L{sockplug.defences._datagramtransport}: the transport a guarded
datagram protocol sends with.

Also tests for the datagram guard's drops at its edges
(L{sockplug.defences._datagramguard},
L{sockplug.defences._datagramtransport}): a reply with no address to go
to, and a datagram its port read cut short.
"""

from __future__ import annotations

from twisted.internet.address import UNIXAddress
from twisted.internet.interfaces import IListeningPort, IUDPTransport

from sockplug.defences._datagramguard import DatagramGuard
from sockplug.defences._datagramtransport import GuardedDatagramTransport
from sockplug.options._limits import ListenerLimits
from sockplug.plugin import ListenerInfo, TransportKind
from sockplug.protocols.echo import EchoDatagram
from sockplug.testing import (
    MemoryDatagramReactor,
    MemoryDatagramTransport,
    connectDatagram,
)
from sockplug.testing._datagram import (
    CLIENT,
    OTHER_CLIENT,
    BatchCase,
    Batching,
    FailingTransport,
    GuardedCase,
    Quiet,
    Replier,
    WritingMany,
)


class TransportTests(GuardedCase):
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
        guard.datagramReceived(b"ping", CLIENT)
        self.assertEqual(transport.written, [(b"rrrr", CLIENT)])
        self.assertEqual(wrapped.results, [None])

    def test_droppedReturnsFalse(self) -> None:
        """
        C{write} returns L{False} for a reply it dropped.
        """
        guard, wrapped, _ = self.guard()
        guard.datagramReceived(b"ping", ("192.0.2.1", 7))
        self.assertEqual(wrapped.results, [False])

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
        wrapped = Replier()
        guard = DatagramGuard(reactor, "udp:7777", ListenerLimits(), wrapped)
        transport = reactor.listenUDP(7777, guard)
        guard.datagramReceived(b"x", ("192.0.2.1", 19))
        guard.datagramReceived(b"y", ("192.0.2.1", 5000))
        self.assertEqual(transport.written, [(b"r", ("192.0.2.1", 5000))])


class BypassTests(GuardedCase):
    """
    The other ways a plugin can send are checked as C{write} is.
    """

    def test_laterReplyToSilentRequest(self) -> None:
        """
        A reply sent later to a host whose request got no reply at once is
        still bound by that request's size.
        """
        guard, wrapped, _ = self.guard(Quiet())
        guard.datagramReceived(b"x", CLIENT)
        wrapped.send(b"r" * 1000, CLIENT)
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


class CountersTests(GuardedCase):
    """
    What L{GuardedDatagramTransport} counts in the guard's
    L{DatagramCounters}.
    """

    def test_sent(self) -> None:
        """
        Each reply sent is counted, with its bytes.
        """
        guard, _, _ = self.guard(Replier(size=3))
        guard.datagramReceived(b"ping", CLIENT)
        guard.datagramReceived(b"hello", CLIENT)
        counters = guard.counters
        self.assertEqual((counters.datagramsOut, counters.bytesOut), (2, 6))

    def test_writeSequenceSent(self) -> None:
        """
        C{writeSequence} counts one datagram, of all its parts' bytes.
        """
        guard, wrapped, _ = self.guard()
        wrapped.transport.writeSequence([b"ab", b"cde"], CLIENT)
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

    def test_sendError(self) -> None:
        """
        A datagram the port cannot send is counted as a send error, not as
        sent, and the exception goes on to the protocol.
        """
        guard, wrapped, transport = self.guard()
        transport.failWith = OSError("No buffer space available")
        self.assertRaises(OSError, wrapped.transport.write, b"hi", CLIENT)
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
        guard.datagramReceived(b"ping", CLIENT)
        self.assertEqual(guard.counters.errors, {"protocol": 0, "send": 1})


class BatchTests(BatchCase):
    """
    Tests for L{GuardedDatagramTransport.writeReplies}.
    """

    def test_answered(self) -> None:
        """
        Each reply goes to the sender of the datagram it answers, in order;
        nothing is reported as not sent.
        """
        protocol = Batching()
        guard, port = self.guard(protocol)
        guard.datagramsReceived([(b"a", CLIENT), (b"b", OTHER_CLIENT), (b"c", CLIENT)])
        self.assertEqual(
            port.written, [(b"a", CLIENT), (b"b", OTHER_CLIENT), (b"c", CLIENT)]
        )
        self.assertEqual(protocol.notSent, [{}])

    def test_counted(self) -> None:
        """
        Datagrams in and replies out are counted.
        """
        guard, _ = self.guard(Batching())
        guard.datagramsReceived([(b"a", CLIENT), (b"bbb", OTHER_CLIENT)])
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
        protocol = Batching(lambda datagram: None if datagram == b"q" else datagram)
        guard, port = self.guard(protocol)
        guard.datagramsReceived([(b"q", CLIENT), (b"a", OTHER_CLIENT)])
        self.assertEqual(
            (port.written, protocol.notSent), ([(b"a", OTHER_CLIENT)], [{}])
        )

    def test_sendFailure(self) -> None:
        """
        A reply the port fails to send is reported with the port's
        exception, and counted as a send error, not as sent.
        """
        transport = FailingTransport()
        transport.failFor = OTHER_CLIENT
        protocol = Batching()
        guard, port = self.guard(protocol, transport)
        guard.datagramsReceived([(b"a", CLIENT), (b"b", OTHER_CLIENT), (b"c", CLIENT)])
        self.assertEqual(port.written, [(b"a", CLIENT), (b"c", CLIENT)])
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
        transport = WritingMany()
        protocol = Batching(lambda datagram: None if datagram == b"q" else datagram)
        guard, port = self.guard(protocol, transport)
        guard.datagramsReceived(
            [(b"q", CLIENT), (b"a", CLIENT), (b"fail", OTHER_CLIENT), (b"c", CLIENT)]
        )
        self.assertEqual(transport.calls, 1)
        self.assertEqual(port.written, [(b"a", CLIENT), (b"c", CLIENT)])
        [notSent] = protocol.notSent
        self.assertEqual(list(notSent), [2])
        self.assertIsInstance(notSent[2], BlockingIOError)
        self.assertEqual((guard.counters.datagramsOut, guard.counters.bytesOut), (2, 2))


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
