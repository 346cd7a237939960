"""
Tests for L{sockplug.defences._counters}.
"""

from __future__ import annotations

import errno

from OpenSSL import SSL
from twisted.internet.error import ConnectionAborted, ConnectionDone, ConnectionLost
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from sockplug.defences._counters import (
    DROP_REASONS,
    REFUSAL_REASONS,
    DatagramCounters,
    StreamCounters,
    errorKind,
)


class ErrorKindTests(SynchronousTestCase):
    """
    Tests for L{errorKind}.
    """

    def kind(self, error: BaseException) -> str | None:
        return errorKind(Failure(error))

    def test_noReason(self) -> None:
        """
        No reason at all is no error.
        """
        self.assertIsNone(errorKind(None))

    def test_connectionDone(self) -> None:
        """
        A clean close is no error.
        """
        self.assertIsNone(self.kind(ConnectionDone()))

    def test_connectionAborted(self) -> None:
        """
        A connection sockplug aborted itself (a refusal, an idle connection
        that did not close, a shutdown) is no error, though Twisted's
        L{ConnectionAborted} is a kind of L{ConnectionLost}.
        """
        self.assertIsNone(self.kind(ConnectionAborted()))

    def test_connectionLost(self) -> None:
        """
        A connection lost uncleanly is C{"lost"}.
        """
        self.assertEqual(self.kind(ConnectionLost("reset")), "lost")

    def test_socketErrors(self) -> None:
        """
        A socket error (a reset, a refusal, a timeout) is C{"lost"}.
        """
        errors: list[OSError] = [
            ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
            ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
            TimeoutError(errno.ETIMEDOUT, "Connection timed out"),
            OSError(errno.EPIPE, "Broken pipe"),
        ]
        self.assertEqual([self.kind(e) for e in errors], ["lost"] * 4)

    def test_tls(self) -> None:
        """
        An error of OpenSSL (a failed handshake) is C{"tls"}.
        """
        error = SSL.Error([("SSL routines", "", "no shared cipher")])
        self.assertEqual(self.kind(error), "tls")

    def test_tlsSysCallError(self) -> None:
        """
        A socket error that OpenSSL reports is C{"tls"} too: it is
        OpenSSL's exception, though about the socket.
        """
        error = SSL.SysCallError(errno.ECONNRESET, "ECONNRESET")
        self.assertEqual(self.kind(error), "tls")

    def test_protocol(self) -> None:
        """
        Any other exception (the protocol raised it) is C{"protocol"}.
        """
        self.assertEqual(self.kind(ValueError("bad line")), "protocol")

    def test_everyKindIsCounted(self) -> None:
        """
        Every kind it gives is a key of L{StreamCounters.errors}.
        """
        kinds = {
            self.kind(ConnectionLost()),
            self.kind(SSL.Error([])),
            self.kind(RuntimeError()),
        }
        self.assertEqual(kinds, set(StreamCounters().errors))


class StreamCountersTests(SynchronousTestCase):
    """
    Tests for L{StreamCounters}.
    """

    def test_reasons(self) -> None:
        """
        A stream connection is refused by the access lists, the listener's
        bound, the process's, the bound per source, or for its PROXY
        header.
        """
        self.assertEqual(
            REFUSAL_REASONS, ("access", "maxconn", "global", "maxpersource", "proxy")
        )

    def test_initial(self) -> None:
        """
        New counters have counted nothing, and have no start time.
        """
        counters = StreamCounters()
        self.assertEqual(
            (
                counters.accepted,
                counters.refused,
                counters.idleClosed,
                counters.bytesIn,
                counters.bytesOut,
                counters.errors,
                counters.since,
            ),
            (
                0,
                {"access": 0, "maxconn": 0, "global": 0, "maxpersource": 0, "proxy": 0},
                0,
                0,
                0,
                {"lost": 0, "tls": 0, "protocol": 0},
                None,
            ),
        )

    def test_ownCounts(self) -> None:
        """
        Each listener's counters are its own: counting in one leaves
        another's as they were.
        """
        one, other = StreamCounters(), StreamCounters()
        one.refused["access"] += 1
        one.errors["lost"] += 1
        self.assertEqual((other.refused["access"], other.errors["lost"]), (0, 0))

    def test_noOtherAttributes(self) -> None:
        """
        A misspelt count cannot be set (it would count nothing).
        """
        self.assertRaises(AttributeError, setattr, StreamCounters(), "acepted", 1)


class DatagramCountersTests(SynchronousTestCase):
    """
    Tests for L{DatagramCounters}.
    """

    def test_reasons(self) -> None:
        """
        A datagram is dropped for its source (access), or a reply for its
        port, its size or the rate.
        """
        self.assertEqual(
            DROP_REASONS,
            ("access", "port", "size", "rate", "loop", "truncated", "unaddressed"),
        )

    def test_initial(self) -> None:
        """
        New counters have counted nothing, and have no start time.
        """
        counters = DatagramCounters()
        self.assertEqual(
            (
                counters.datagramsIn,
                counters.bytesIn,
                counters.datagramsOut,
                counters.bytesOut,
                counters.dropped,
                counters.errors,
                counters.since,
            ),
            (
                0,
                0,
                0,
                0,
                {
                    "access": 0,
                    "port": 0,
                    "size": 0,
                    "rate": 0,
                    "loop": 0,
                    "truncated": 0,
                    "unaddressed": 0,
                },
                {"protocol": 0, "send": 0},
                None,
            ),
        )

    def test_ownCounts(self) -> None:
        """
        Each listener's counters are its own: counting in one leaves
        another's as they were.
        """
        one, other = DatagramCounters(), DatagramCounters()
        one.dropped["rate"] += 1
        one.errors["send"] += 1
        self.assertEqual((other.dropped["rate"], other.errors["send"]), (0, 0))

    def test_noOtherAttributes(self) -> None:
        """
        A misspelt count cannot be set (it would count nothing).
        """
        self.assertRaises(AttributeError, setattr, DatagramCounters(), "datagramIn", 1)
