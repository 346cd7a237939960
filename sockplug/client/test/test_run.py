"""
Tests for L{sockplug.client._run}.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from sockplug.client._run import (
    OUTPUT_GONE,
    Interruption,
    StandardStreams,
    closedStreamProblem,
    ending,
)
from sockplug.client._session import ClientError, Signal


class StandardStreamsTests(SynchronousTestCase):
    """L{StandardStreams} reports the ends of standard input and output."""

    def setUp(self) -> None:
        self.streams = StandardStreams()
        self.streams.makeConnection(StringTransport())

    def fired(self) -> tuple[bool, bool, bool]:
        s = self.streams
        return (s.ended.fired, s.gone.fired, s.closed.fired)

    def test_feed(self) -> None:
        """What was read before C{feed} is handed on first, then the rest."""
        chunks: list[bytes] = []
        self.streams.dataReceived(b"a")
        self.streams.feed(chunks.append)
        self.streams.dataReceived(b"b")
        self.assertEqual(chunks, [b"a", b"b"])

    def test_inputEnds(self) -> None:
        """The end of input fires C{ended} alone."""
        self.streams.readConnectionLost()
        self.assertEqual(self.fired(), (True, False, False))

    def test_outputGone(self) -> None:
        """Output whose reader has gone fires C{gone} and C{closed}."""
        self.streams.writeConnectionLost()
        self.assertEqual(self.fired(), (False, True, True))

    def test_closed(self) -> None:
        """Both closed fires C{ended} and C{closed}, and not C{gone}."""
        self.streams.connectionLost()
        self.assertEqual(self.fired(), (True, False, True))

    def test_write(self) -> None:
        """Output is written to standard output's transport."""
        self.streams.write(b"hi")
        self.streams.flush()
        transport: Any = self.streams.transport
        self.assertEqual(transport.value(), b"hi")


class ThreadlessReactor(MemoryReactorClock):
    """A memory reactor that runs what is called from a thread next turn."""

    def callFromThread(self, f: Callable[..., object], *args: object) -> None:
        self.callLater(0, f, *args)


class InterruptionTests(SynchronousTestCase):
    """L{Interruption} catches SIGINT and SIGTERM once the reactor runs."""

    def test_caught(self) -> None:
        """The first signal caught fires C{signal} and is remembered."""
        interruption = Interruption()
        interruption.caught(signal.SIGINT)
        interruption.caught(signal.SIGTERM)
        self.assertEqual(
            (interruption.signal.fired, interruption.number), (True, signal.SIGINT)
        )

    def test_install(self) -> None:
        """
        Once the reactor runs, SIGINT and SIGTERM are caught in its thread.
        """
        for number in Interruption.SIGNALS:
            self.addCleanup(signal.signal, number, signal.getsignal(number))
        before = signal.getsignal(signal.SIGINT)
        reactor = ThreadlessReactor()
        interruption = Interruption()
        interruption.install(reactor)
        self.assertIs(signal.getsignal(signal.SIGINT), before)
        reactor.run()
        handler: Any = signal.getsignal(signal.SIGTERM)
        self.assertIs(signal.getsignal(signal.SIGINT), handler)
        handler(signal.SIGTERM, None)
        self.assertFalse(interruption.signal.fired)
        reactor.advance(0)
        self.assertEqual(interruption.number, signal.SIGTERM)


class EndingTests(SynchronousTestCase):
    """L{ending} turns how the work ended into the exit status."""

    def setUp(self) -> None:
        self.cancelled: list[Deferred[None]] = []
        self.work: Deferred[None] = Deferred(self.cancelled.append)
        self.gone = Signal()
        self.interruption = Interruption()
        self.said: list[str] = []
        self.status = Deferred.fromCoroutine(
            ending(self.work, self.gone, self.interruption, self.said.append)
        )

    def test_done(self) -> None:
        """Work done is status 0."""
        self.work.callback(None)
        self.assertEqual(self.successResultOf(self.status), 0)

    def test_error(self) -> None:
        """A client error is said, and is status 1."""
        self.work.errback(ClientError("sockplug: cannot connect"))
        self.assertEqual(self.successResultOf(self.status), 1)
        self.assertEqual(self.said, ["sockplug: cannot connect"])

    def test_interrupted(self) -> None:
        """Ctrl-C cancels the work, and is status 130, said nowhere."""
        self.interruption.caught(signal.SIGINT)
        self.assertEqual(self.cancelled, [self.work])
        self.assertEqual((self.successResultOf(self.status), self.said), (130, []))

    def test_terminated(self) -> None:
        """SIGTERM cancels the work, and is status 143."""
        self.interruption.caught(signal.SIGTERM)
        self.assertEqual(self.successResultOf(self.status), 143)

    def test_outputGone(self) -> None:
        """Output gone cancels the work, and is status 141, as SIGPIPE gives."""
        self.gone.fire()
        self.assertEqual(self.cancelled, [self.work])
        self.assertEqual((self.successResultOf(self.status), OUTPUT_GONE), (141, 141))

    def test_errorAfterOutputGone(self) -> None:
        """An error the output's going led to is not said: status 141."""
        work: Deferred[None] = Deferred(
            lambda d: d.errback(ClientError("sockplug: connection failed"))
        )
        status = Deferred.fromCoroutine(
            ending(work, self.gone, self.interruption, self.said.append)
        )
        self.gone.fire()
        self.assertEqual((self.successResultOf(status), self.said), (141, []))

    def test_otherErrors(self) -> None:
        """Any other failure of the work is left to fail."""
        self.work.errback(ZeroDivisionError())
        self.failureResultOf(self.status, ZeroDivisionError)


class ClosedStreamProblemTests(SynchronousTestCase):
    """
    L{closedStreamProblem} refuses a command the standard stream it needs,
    when that stream was closed.
    """

    def test_connectNeedsInput(self) -> None:
        """C{connect} without its input is refused, naming standard input."""
        problem = closedStreamProblem("connect", {}, frozenset({0}))
        assert problem is not None
        self.assertTrue(problem.startswith("standard input is closed"), problem)

    def test_repliesNeedOutput(self) -> None:
        """C{connect} and C{send} without their output are refused."""
        for command in ("connect", "send"):
            problem = closedStreamProblem(command, {"no-reply": False}, frozenset({1}))
            assert problem is not None
            self.assertTrue(problem.startswith("standard output is closed"), problem)

    def test_oneWayNeedsNothing(self) -> None:
        """C{send --no-reply} needs neither input nor output, nor anything
        needs standard error."""
        closed = frozenset({0, 1, 2})
        self.assertIsNone(closedStreamProblem("send", {"no-reply": True}, closed))
        self.assertIsNone(closedStreamProblem("connect", {}, frozenset({2})))
