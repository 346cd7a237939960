"""
Tests for L{sockplug.defences._datagramguard}: the guard in front of a
datagram protocol, for datagrams handed over one at a time and in one go.
"""

from __future__ import annotations

from typing import Any

from sockplug.defences._counters import DatagramCounters
from sockplug.defences._datagramguard import DatagramGuard
from sockplug.defences._datagramtransport import GuardedDatagramTransport
from sockplug.options._access import AccessList
from sockplug.options._limits import ListenerLimits
from sockplug.plugin import ListenerInfo, TransportKind
from sockplug.protocols.echo import EchoDatagram
from sockplug.testing import MemoryDatagramTransport, connectDatagram
from sockplug.testing._datagram import (
    CLIENT,
    OTHER_CLIENT,
    BatchCase,
    Batching,
    Echoing,
    GuardedCase,
    Quiet,
    Replier,
)


class AccessTests(GuardedCase):
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
        self.assertEqual(
            guard.dropped,
            {
                "access": 1,
                "port": 0,
                "size": 0,
                "rate": 0,
                "loop": 0,
                "truncated": 0,
                "unaddressed": 0,
            },
        )
        self.assertEqual(transport.written, [])


class EchoDatagramTests(GuardedCase):
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
        guard.datagramReceived(b"ping", CLIENT)
        self.assertEqual(transport.written, [(b"ping", CLIENT)])
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
            guard.datagramReceived(b"ping", CLIENT)
        self.assertEqual((echo.datagramsIn, echo.datagramsOut), (5, 2))

    def test_refusedNotCounted(self) -> None:
        """
        A datagram dropped for access is not counted by echo at all.
        """
        guard, echo, _ = self.echo(access=AccessList.parse(None, "any"))
        guard.datagramReceived(b"ping", CLIENT)
        self.assertEqual((echo.datagramsIn, echo.datagramsOut), (0, 0))


class ForwardingTests(GuardedCase):
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

        class Flaky(Replier):
            def datagramReceived(self, datagram: bytes, addr: Any) -> None:
                if datagram.startswith(b"boom"):
                    raise RuntimeError("plugin bug")
                super().datagramReceived(datagram, addr)

        guard, wrapped, _ = self.guard(Flaky(size=1))
        guard.datagramReceived(b"x", CLIENT)
        self.assertRaises(RuntimeError, guard.datagramReceived, b"boom" * 250, CLIENT)
        wrapped.send(b"r" * 1064, CLIENT)
        wrapped.send(b"r" * 1065, CLIENT)
        self.assertEqual(wrapped.results, [None, None, False])


class ReplaceWrappedTests(GuardedCase):
    """
    Tests for L{DatagramGuard.replaceWrapped}.
    """

    def replace(
        self, new: Replier | None = None, description: str = "udp:7777", **limits: Any
    ) -> tuple[DatagramGuard, Replier, Replier, MemoryDatagramTransport]:
        """
        Guard a L{Replier}, then replace it.

        @return: the guard, the old protocol, the new one, and the port's
            transport.
        """
        guard, old, transport = self.guard()
        new = Replier() if new is None else new
        guard.replaceWrapped(description, ListenerLimits(**limits), new)
        return guard, old, new, transport

    def test_neverListened(self) -> None:
        """
        A guard that never listened (or whose port stopped) takes a new
        protocol without stopping the old one, which was never started.
        """
        old = Replier()
        guard = DatagramGuard(self.clock, "udp:7777", ListenerLimits(), old)
        new = Replier()
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
        guard.datagramReceived(b"ping", CLIENT)
        self.assertEqual((old.received, new.received), ([], [(b"ping", CLIENT)]))
        self.assertEqual(transport.written, [(b"rrrr", CLIENT)])

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
        guard, _, new, transport = self.replace(Replier(size=200), replyGrowth=1000)
        guard.datagramReceived(b"ping", CLIENT)
        self.assertEqual(new.results, [None])
        self.assertEqual(len(transport.written), 1)

    def test_newBlockedPorts(self) -> None:
        """
        The new blocked ports apply.
        """
        guard, _, new, _ = self.replace(blockedPorts=frozenset({5000}))
        guard.datagramReceived(b"ping", CLIENT)
        self.assertEqual(new.results, [False])

    def test_newAccess(self) -> None:
        """
        The new access lists apply to the datagrams received.
        """
        guard, _, new, _ = self.replace(access=AccessList.parse(None, "192.0.2.1"))
        guard.datagramReceived(b"ping", CLIENT)
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
        guard.replaceWrapped("udp:7777", ListenerLimits(), Replier())
        self.assertEqual(guard.dropped["port"], 1)


class CountersTests(GuardedCase):
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
            self.clock, "udp:7777", ListenerLimits(), Replier(), counters=counters
        )
        connectDatagram(guard, MemoryDatagramTransport())
        guard.datagramReceived(b"ping", CLIENT)
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
        guard, _, _ = self.guard(Quiet())
        guard.datagramReceived(b"ping", CLIENT)
        guard.datagramReceived(b"hello", CLIENT)
        counters = guard.counters
        self.assertEqual((counters.datagramsIn, counters.bytesIn), (2, 9))

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
            (
                1,
                4,
                0,
                0,
                {
                    "access": 0,
                    "port": 1,
                    "size": 0,
                    "rate": 0,
                    "loop": 0,
                    "truncated": 0,
                    "unaddressed": 0,
                },
            ),
        )

    def test_refusedReceived(self) -> None:
        """
        A datagram from a refused source is counted as received, and as
        dropped for access.
        """
        guard, _, _ = self.guard(access=AccessList.parse("10.0.0.0/8", None))
        guard.datagramReceived(b"ping", CLIENT)
        counters = guard.counters
        self.assertEqual(
            (counters.datagramsIn, counters.bytesIn, counters.dropped["access"]),
            (1, 4, 1),
        )

    def test_protocolError(self) -> None:
        """
        A protocol that raises on a datagram is counted as an error, and
        the exception goes on to the port.
        """

        class Failing(Replier):
            def datagramReceived(self, datagram: bytes, addr: Any) -> None:
                raise RuntimeError("plugin bug")

        guard, _, _ = self.guard(Failing())
        self.assertRaises(RuntimeError, guard.datagramReceived, b"x", CLIENT)
        self.assertEqual(guard.counters.errors, {"protocol": 1, "send": 0})

    def test_countsKeptOnReplace(self) -> None:
        """
        A protocol replaced by a reload leaves the counts as they were.
        """
        guard, _, _ = self.guard()
        guard.datagramReceived(b"ping", CLIENT)
        guard.replaceWrapped("udp:7777", ListenerLimits(), Replier())
        guard.datagramReceived(b"hello", CLIENT)
        counters = guard.counters
        self.assertEqual(
            (counters.datagramsIn, counters.bytesIn, counters.datagramsOut),
            (2, 9, 2),
        )

    def test_noDropsAtStart(self) -> None:
        """
        A new guard has dropped nothing.
        """
        guard, _, _ = self.guard()
        self.assertEqual(
            guard.dropped,
            {
                "access": 0,
                "port": 0,
                "size": 0,
                "rate": 0,
                "loop": 0,
                "truncated": 0,
                "unaddressed": 0,
            },
        )


class EachTests(BatchCase):
    """
    Tests for L{DatagramGuard.datagramsReceived} with a protocol that takes
    datagrams one at a time.
    """

    def test_each(self) -> None:
        """
        Each datagram is handed to C{datagramReceived}, in order, and
        answered.
        """
        protocol = Echoing()
        guard, port = self.guard(protocol)
        guard.datagramsReceived([(b"a", CLIENT), (b"bb", OTHER_CLIENT)])
        self.assertEqual(protocol.received, [(b"a", CLIENT), (b"bb", OTHER_CLIENT)])
        self.assertEqual(port.written, [(b"a", CLIENT), (b"bb", OTHER_CLIENT)])

    def test_eachBoundedByItself(self) -> None:
        """
        A reply written while a datagram is handled is bounded by that
        datagram's size, not by a later one from the same host in the batch.
        """
        protocol = Echoing()
        guard, port = self.guard(protocol, replyGrowth=0)
        guard.datagramsReceived([(b"x" * 100, CLIENT), (b"y", CLIENT)])
        self.assertEqual(port.written, [(b"x" * 100, CLIENT), (b"y", CLIENT)])

    def test_errorLoggedAndNextHandled(self) -> None:
        """
        An exception from the protocol is counted and logged, and the next
        datagram is still handled.
        """
        protocol = Echoing()
        guard, port = self.guard(protocol)
        guard.datagramsReceived([(b"boom", CLIENT), (b"after", CLIENT)])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(port.written, [(b"after", CLIENT)])
        self.assertEqual(guard.counters.errors["protocol"], 1)

    def test_counted(self) -> None:
        """
        Every datagram is counted in, and every reply out.
        """
        guard, _ = self.guard(Echoing())
        guard.datagramsReceived([(b"a", CLIENT), (b"bb", OTHER_CLIENT)])
        counters = guard.counters
        self.assertEqual(
            (counters.datagramsIn, counters.bytesIn),
            (2, 3),
        )
        self.assertEqual((counters.datagramsOut, counters.bytesOut), (2, 3))


class BatchTests(BatchCase):
    """
    Tests for L{DatagramGuard.datagramsReceived} with a protocol that takes
    datagrams in one go, and C{writeReplies}.
    """

    def test_oneCall(self) -> None:
        """
        The protocol gets the datagrams in one call, in order.
        """
        protocol = Batching()
        guard, _ = self.guard(protocol)
        guard.datagramsReceived([(b"a", CLIENT), (b"b", OTHER_CLIENT)])
        self.assertEqual(protocol.batches, [[(b"a", CLIENT), (b"b", OTHER_CLIENT)]])

    def test_refusedLeftOut(self) -> None:
        """
        Datagrams from sources the access lists refuse are counted, dropped
        and not handed to the protocol.
        """
        protocol = Batching()
        guard, _ = self.guard(protocol, access=AccessList.parse(None, "192.0.2.2"))
        guard.datagramsReceived([(b"a", CLIENT), (b"b", OTHER_CLIENT)])
        self.assertEqual(protocol.batches, [[(b"a", CLIENT)]])
        self.assertEqual(guard.counters.dropped["access"], 1)
        self.assertEqual(guard.counters.datagramsIn, 2)

    def test_protocolError(self) -> None:
        """
        An exception from the protocol is counted, and raised for the port
        to log.
        """

        class Failing(Batching):
            def datagramsReceived(self, datagrams: list[tuple[bytes, Any]]) -> None:
                raise RuntimeError("boom")

        guard, _ = self.guard(Failing())
        self.assertRaises(RuntimeError, guard.datagramsReceived, [(b"a", CLIENT)])
        self.assertEqual(guard.counters.errors["protocol"], 1)
