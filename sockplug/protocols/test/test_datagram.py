"""
Tests for L{sockplug.protocols._datagram}.
"""

from __future__ import annotations

from twisted.internet.error import MessageLengthError
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from sockplug.plugin import ListenerLimits, TransportKind
from sockplug.protocols.base import CountingDatagramProtocol
from sockplug.testing import (
    MemoryDatagramReactor,
    MemoryDatagramTransport,
    connectDatagram,
    listenerInfo,
)
from sockplug.testing._logs import loggedBy


class CountingDatagramProtocolTests(SynchronousTestCase):
    """
    Tests for L{CountingDatagramProtocol}.
    """

    def setUp(self) -> None:
        self.events = EventLoggingObserver.createWithCleanup(
            self,  # type: ignore[arg-type]
            globalLogPublisher,
        )
        self.protocol = CountingDatagramProtocol(
            listenerInfo("udp:9999", TransportKind.DATAGRAM)
        )
        self.transport = connectDatagram(self.protocol, MemoryDatagramTransport())

    def _texts(self) -> list[str]:
        return [formatEvent(event) for event in loggedBy(self.events, self.protocol)]

    def test_quiet(self) -> None:
        """
        The protocol does not log Twisted's own start and stop lines.
        """
        self.assertFalse(self.protocol.noisy)

    def test_count(self) -> None:
        """
        L{CountingDatagramProtocol.count} adds up datagrams and their bytes.
        """
        self.protocol.count(b"abc")
        self.protocol.count(b"")
        self.assertEqual((self.protocol.datagramsIn, self.protocol.bytesIn), (2, 3))

    def test_reply(self) -> None:
        """
        L{CountingDatagramProtocol.reply} sends the datagram to the address.
        """
        self.protocol.reply(b"pong", ("127.0.0.1", 5000))
        self.assertEqual(self.transport.written, [(b"pong", ("127.0.0.1", 5000))])

    def test_replyCounted(self) -> None:
        """
        Replies are counted, datagrams and bytes.
        """
        self.protocol.reply(b"pong", ("127.0.0.1", 5000))
        self.protocol.reply(b"!", ("127.0.0.1", 5001))
        self.assertEqual((self.protocol.datagramsOut, self.protocol.bytesOut), (2, 5))

    def test_replyToUNIXPath(self) -> None:
        """
        A bound UNIX datagram sender, a path, is replied to.
        """
        self.protocol.reply(b"pong", "/tmp/client.sock")
        self.assertEqual(self.transport.written, [(b"pong", "/tmp/client.sock")])

    def test_noReplyToNone(self) -> None:
        """
        No reply goes to an unbound UNIX datagram sender given as L{None},
        and none is counted.
        """
        self.protocol.reply(b"pong", None)
        self.assertEqual(self.transport.written, [])
        self.assertEqual((self.protocol.datagramsOut, self.protocol.bytesOut), (0, 0))

    def test_noReplyToEmpty(self) -> None:
        """
        No reply goes to an unbound UNIX datagram sender given as C{''}.
        """
        self.protocol.reply(b"pong", "")
        self.assertEqual(self.transport.written, [])

    def test_noReplyToUnboundLogged(self) -> None:
        """
        Not replying to an unbound sender is logged.
        """
        self.protocol.reply(b"pong", None)
        self.assertEqual(
            self._texts(),
            ["udp:9999: not replying to an unbound UNIX datagram sender"],
        )

    def test_noReplyToUnboundRateLimited(self) -> None:
        """
        A flood of unbound senders logs no more lines than the listener's
        C{loglines} allow in a window, then one line summing up the rest.
        """
        reactor = MemoryDatagramReactor()
        protocol = CountingDatagramProtocol(
            listenerInfo(
                "udp:9999",
                TransportKind.DATAGRAM,
                reactor=reactor,
                limits=ListenerLimits(logLines=5),
            )
        )
        connectDatagram(protocol, MemoryDatagramTransport())
        for _ in range(50):
            protocol.reply(b"pong", None)
        reactor.advance(10)
        texts = [formatEvent(e) for e in loggedBy(self.events, protocol)]
        self.assertEqual(
            (len(texts), texts[-1]),
            (
                6,
                "udp:9999: 45 log lines about unanswerable datagrams held back"
                " in the last 10s (rate limit)",
            ),
        )

    def test_replyToPathNamedLikeUnbound(self) -> None:
        """
        A sender bound to the relative path C{(unbound)} has an address, and
        is replied to: the decision goes by the address, not by how it is
        shown.
        """
        self.protocol.reply(b"pong", "(unbound)")
        self.assertEqual(self.transport.written, [(b"pong", "(unbound)")])

    def test_replyRefused(self) -> None:
        """
        A reply the system refuses (a UNIX sender whose socket is gone) is
        dropped without an exception, and not counted.
        """
        self.transport.failWith = ConnectionRefusedError(111, "Connection refused")
        self.protocol.reply(b"pong", "/tmp/gone.sock")
        self.assertEqual((self.protocol.datagramsOut, self.protocol.bytesOut), (0, 0))

    def test_replyRefusedLogged(self) -> None:
        """
        A refused reply is logged with its address and the error.
        """
        self.transport.failWith = ConnectionRefusedError(111, "Connection refused")
        self.protocol.reply(b"pong", "/tmp/gone.sock")
        self.assertEqual(
            self._texts(),
            [
                "udp:9999: reply to /tmp/gone.sock failed:"
                " [Errno 111] Connection refused"
            ],
        )

    def test_replyOSError(self) -> None:
        """
        Any L{OSError} from the transport drops the reply without an
        exception.
        """
        self.transport.failWith = OSError(105, "No buffer space available")
        self.protocol.reply(b"pong", ("127.0.0.1", 5000))
        self.assertEqual(self.protocol.datagramsOut, 0)

    def test_replyTooLong(self) -> None:
        """
        A reply too long for the transport (L{MessageLengthError}) is dropped
        without an exception, and not counted.
        """
        self.transport.failWith = MessageLengthError("message too long")
        self.protocol.reply(b"x" * 70000, ("127.0.0.1", 5000))
        self.assertEqual((self.protocol.datagramsOut, self.protocol.bytesOut), (0, 0))

    def test_replyTooLongLogged(self) -> None:
        """
        A reply too long for the transport is logged with its address and the
        error.
        """
        self.transport.failWith = MessageLengthError("message too long")
        self.protocol.reply(b"x" * 70000, ("127.0.0.1", 5000))
        self.assertEqual(
            self._texts(),
            [
                "udp:9999: reply to 127.0.0.1:5000 failed:"
                " Message is too long to send: message too long."
            ],
        )

    def test_replyAfterFailure(self) -> None:
        """
        A failed reply does not stop later replies.
        """
        self.transport.failWith = ConnectionRefusedError()
        self.protocol.reply(b"lost", "/tmp/gone.sock")
        self.transport.failWith = None
        self.protocol.reply(b"pong", ("127.0.0.1", 5000))
        self.assertEqual(self.transport.written, [(b"pong", ("127.0.0.1", 5000))])

    def test_stopLogged(self) -> None:
        """
        Stopping logs the listener and the counts each way.
        """
        self.protocol.count(b"abc")
        self.protocol.count(b"de")
        self.protocol.reply(b"xyz", ("127.0.0.1", 5000))
        self.transport.stopListening()
        self.assertEqual(
            self._texts()[-1],
            "udp:9999 stopped: 2 datagrams (5 bytes) in, 1 datagrams (3 bytes) out",
        )
