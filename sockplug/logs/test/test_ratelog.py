"""
Tests for L{sockplug.logs._ratelog}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import Logger, LogLevel, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from sockplug.logs._ratelog import MAX_PEERS, RATE_LIMITED, RateLimitedLog

_FORMAT = "{peer} connected"


class RateLimitedLogTests(SynchronousTestCase):
    """
    Tests for L{RateLimitedLog}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.events = EventLoggingObserver()
        self.logger = Logger(namespace="sockplug.test.ratelog", observer=self.events)

    def _log(self, **kwargs: Any) -> RateLimitedLog:
        return RateLimitedLog(self.clock, self.logger, "tcp:8888", **kwargs)

    def _texts(self) -> list[str]:
        return [formatEvent(event) for event in self.events]

    def _emit(self, log: RateLimitedLog, peer: str, event: str = "connections") -> bool:
        return log.emit(event, peer, _FORMAT, peer=peer)

    def _summary(
        self, count: int, event: str = "connections", window: str = "10"
    ) -> str:
        lines = "line" if count == 1 else "lines"
        return (
            f"tcp:8888: {count} log {lines} about {event} held back in the last"
            f" {window}s (rate limit)"
        )

    def test_logs(self) -> None:
        """
        A line within the limits is logged with its format and keywords.
        """
        self._log().emit(
            "connections", "10.0.0.1", "{peer} connected", peer="10.0.0.1:5"
        )
        self.assertEqual(self._texts(), ["10.0.0.1:5 connected"])

    def test_admitLogsNothing(self) -> None:
        """
        L{RateLimitedLog.admit} says a line may be logged, and logs nothing
        itself.
        """
        self.assertIs(self._log().admit("connections", "10.0.0.1"), True)
        self.assertEqual(self._texts(), [])

    def test_admitSharesTheCount(self) -> None:
        """
        Lines admitted and lines emitted count against the same bound, and
        those refused are summed up at the end of the window.
        """
        log = self._log(perEvent=2)
        self.assertIs(log.admit("connections", "10.0.0.1"), True)
        self.assertIs(self._emit(log, "10.0.0.2"), True)
        self.assertIs(log.admit("connections", "10.0.0.3"), False)
        self.assertIs(self._emit(log, "10.0.0.4"), False)
        self.clock.advance(10)
        self.assertEqual(self._texts(), ["10.0.0.2 connected", self._summary(2)])

    def test_logsReturnsTrue(self) -> None:
        """
        L{RateLimitedLog.emit} says that it logged a line.
        """
        self.assertIs(self._emit(self._log(), "10.0.0.1"), True)

    def test_defaultLevel(self) -> None:
        """
        Lines are logged at level info unless told otherwise.
        """
        self._emit(self._log(), "10.0.0.1")
        self.assertEqual([e["log_level"] for e in self.events], [LogLevel.info])

    def test_level(self) -> None:
        """
        A line is logged at the level given.
        """
        self._log().emit("refused", "10.0.0.1", "refused", LogLevel.warn)
        self.assertEqual([e["log_level"] for e in self.events], [LogLevel.warn])

    def test_perPeerDefault(self) -> None:
        """
        Unless given, a peer's share is a fifth of the event's.
        """
        self.assertEqual(self._log(perEvent=100).perPeer, 20)

    def test_perPeerAtLeastOne(self) -> None:
        """
        A peer's default share is at least one line.
        """
        self.assertEqual(self._log(perEvent=3).perPeer, 1)

    def test_perPeerGiven(self) -> None:
        """
        A peer's share may be given.
        """
        self.assertEqual(self._log(perEvent=100, perPeer=7).perPeer, 7)

    def test_peerLimit(self) -> None:
        """
        One peer gets C{perPeer} lines of an event per window; the next is
        held back.
        """
        log = self._log(perEvent=100)
        results = [self._emit(log, "10.0.0.1") for _ in range(21)]
        self.assertEqual(results, [True] * 20 + [False])

    def test_heldBackNotLogged(self) -> None:
        """
        A line held back is not logged.
        """
        log = self._log(perEvent=10, perPeer=2)
        for _ in range(5):
            self._emit(log, "10.0.0.1")
        self.assertEqual(self._texts(), ["10.0.0.1 connected"] * 2)

    def test_otherPeerLogged(self) -> None:
        """
        A peer that has used up its share does not hold back another peer's
        lines.
        """
        log = self._log(perEvent=100, perPeer=1)
        self._emit(log, "10.0.0.1")
        self._emit(log, "10.0.0.1")
        self.assertIs(self._emit(log, "10.0.0.2"), True)

    def test_noPeerOnlyEventLimit(self) -> None:
        """
        Lines about no peer in particular (C{""}) are bounded by the event's
        share only, not a peer's.
        """
        log = self._log(perEvent=10, perPeer=2)
        logged = [self._emit(log, "") for _ in range(12)]
        self.assertEqual(logged, [True] * 10 + [False] * 2)

    def test_eventLimit(self) -> None:
        """
        An event gets C{perEvent} lines per window over all peers.
        """
        log = self._log(perEvent=5, perPeer=5)
        results = [self._emit(log, f"10.0.0.{n}") for n in range(6)]
        self.assertEqual(results, [True] * 5 + [False])

    def test_eventsApart(self) -> None:
        """
        An event that has used up its lines does not hold back another
        event's.
        """
        log = self._log(perEvent=1)
        self._emit(log, "10.0.0.1", "connections")
        self._emit(log, "10.0.0.2", "connections")
        self.assertIs(self._emit(log, "10.0.0.3", "refused"), True)

    def test_peerShareIsPerEvent(self) -> None:
        """
        A peer's share of one event does not count against its share of
        another.
        """
        log = self._log(perEvent=100, perPeer=1)
        self._emit(log, "10.0.0.1", "connections")
        self.assertIs(self._emit(log, "10.0.0.1", "refused"), True)

    def test_windowEnds(self) -> None:
        """
        Once the window is over, a peer that used up its share is logged
        again.
        """
        log = self._log(perEvent=100, perPeer=1)
        self._emit(log, "10.0.0.1")
        self.clock.advance(10)
        self.assertIs(self._emit(log, "10.0.0.1"), True)

    def test_windowNotOverEarly(self) -> None:
        """
        Until the window is over, a peer that used up its share stays held
        back.
        """
        log = self._log(perEvent=100, perPeer=1)
        self._emit(log, "10.0.0.1")
        self.clock.advance(9.999)
        self.assertIs(self._emit(log, "10.0.0.1"), False)

    def test_windowStartsAtFirstLine(self) -> None:
        """
        A window starts with the first line logged, not when the log is
        made.
        """
        log = self._log(perEvent=100, perPeer=1)
        self.clock.advance(5)
        self._emit(log, "10.0.0.1")
        self.clock.advance(9.5)
        self.assertIs(self._emit(log, "10.0.0.1"), False)

    def test_noTimerWithinLimits(self) -> None:
        """
        While nothing is held back, no timer is set.
        """
        log = self._log()
        for n in range(10):
            self._emit(log, f"10.0.0.{n}")
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_oneTimer(self) -> None:
        """
        However many lines are held back, one timer is set, for the window's
        end.
        """
        log = self._log(perEvent=1)
        self.clock.advance(1)
        for n in range(50):
            self._emit(log, f"10.0.0.{n}")
        self.assertEqual(
            [call.getTime() for call in self.clock.getDelayedCalls()], [11.0]
        )

    def test_summary(self) -> None:
        """
        At the window's end, the lines held back are counted in one line.
        """
        log = self._log(perEvent=100, perPeer=1)
        for _ in range(3):
            self._emit(log, "10.0.0.1")
        self.clock.advance(10)
        self.assertEqual(self._texts()[1:], [self._summary(2)])

    def test_summaryLevel(self) -> None:
        """
        The summary is a warning.
        """
        log = self._log(perEvent=1)
        self._emit(log, "10.0.0.1")
        self._emit(log, "10.0.0.2")
        self.clock.advance(10)
        self.assertEqual(self.events[-1]["log_level"], LogLevel.warn)

    def test_noSummaryBeforeWindowEnds(self) -> None:
        """
        No summary is logged before the window's end.
        """
        log = self._log(perEvent=1)
        self._emit(log, "10.0.0.1")
        self.clock.advance(3)
        self._emit(log, "10.0.0.2")
        self.clock.advance(6.999)
        self.assertEqual(len(self.events), 1)

    def test_summaryAtWindowEnd(self) -> None:
        """
        The summary is logged when the window in which lines were held back
        ends.
        """
        log = self._log(perEvent=1)
        self._emit(log, "10.0.0.1")
        self.clock.advance(3)
        self._emit(log, "10.0.0.2")
        self.clock.advance(7)
        self.assertEqual(self._texts()[1:], [self._summary(1)])

    def test_summaryPerEvent(self) -> None:
        """
        Each event held back gets its own summary line, in order of the
        events' names.
        """
        log = self._log(perEvent=1)
        for event in ("refused", "connections"):
            self._emit(log, "10.0.0.1", event)
            self._emit(log, "10.0.0.1", event)
            self._emit(log, "10.0.0.1", event)
        self.clock.advance(10)
        self.assertEqual(
            self._texts()[2:],
            [self._summary(2, "connections"), self._summary(2, "refused")],
        )

    def test_summaryOnce(self) -> None:
        """
        Held-back lines are summed up once: a later window without any adds
        no line.
        """
        log = self._log(perEvent=1)
        self._emit(log, "10.0.0.1")
        self._emit(log, "10.0.0.2")
        self.clock.advance(10)
        self.clock.advance(10)
        self.clock.advance(10)
        self.assertEqual(len(self.events), 2)

    def test_summaryPerWindow(self) -> None:
        """
        Lines held back in a later window are counted in that window's own
        summary.
        """
        log = self._log(perEvent=1)
        self._emit(log, "10.0.0.1")
        self._emit(log, "10.0.0.2")
        self.clock.advance(10)
        for n in range(4):
            self._emit(log, f"10.0.1.{n}")
        self.clock.advance(10)
        self.assertEqual(self._texts()[-1], self._summary(3))

    def test_window(self) -> None:
        """
        The window may be given; the summary comes at its end and names it.
        """
        log = self._log(perEvent=1, window=2.5)
        self._emit(log, "10.0.0.1")
        self._emit(log, "10.0.0.2")
        self.clock.advance(2.5)
        self.assertEqual(self._texts()[1:], [self._summary(1, window="2.5")])

    def test_stopSummarizes(self) -> None:
        """
        L{RateLimitedLog.stop} logs what is held back at once.
        """
        log = self._log(perEvent=1)
        self._emit(log, "10.0.0.1")
        self._emit(log, "10.0.0.2")
        log.stop()
        self.assertEqual(self._texts()[1:], [self._summary(1)])

    def test_stopCancelsTimer(self) -> None:
        """
        L{RateLimitedLog.stop} leaves no timer behind.
        """
        log = self._log(perEvent=1)
        self._emit(log, "10.0.0.1")
        self._emit(log, "10.0.0.2")
        log.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stopNothingHeldBack(self) -> None:
        """
        L{RateLimitedLog.stop} logs nothing when nothing is held back.
        """
        log = self._log()
        self._emit(log, "10.0.0.1")
        log.stop()
        self.assertEqual(len(self.events), 1)

    def test_knownPeerKeepsShareWhenFull(self) -> None:
        """
        A peer already counted keeps its own share once the table of peers
        is full.
        """
        log = self._log(perEvent=MAX_PEERS * 2, perPeer=2)
        self._emit(log, "known")
        for n in range(MAX_PEERS - 1):
            self._emit(log, f"peer{n}")
        self.assertEqual(
            [self._emit(log, "known"), self._emit(log, "known")], [True, False]
        )

    def test_newPeersShareOneCountWhenFull(self) -> None:
        """
        Once the table of peers is full, new peers share one count: a flood
        of forged sources gets one peer's share between them.
        """
        log = self._log(perEvent=MAX_PEERS * 2, perPeer=1)
        for n in range(MAX_PEERS):
            self._emit(log, f"peer{n}")
        self.assertEqual(
            [self._emit(log, "new1"), self._emit(log, "new2")], [True, False]
        )

    def test_emittedMarked(self) -> None:
        """
        A line L{RateLimitedLog.emit} logs is marked as counted already, so
        that the process's limit does not count it again.
        """
        self._emit(self._log(), "10.0.0.1")
        self.assertIs(self.events[0][RATE_LIMITED], True)

    def test_summaryMarked(self) -> None:
        """
        A summary line is marked as counted already.
        """
        log = self._log(perEvent=1)
        self._emit(log, "10.0.0.1")
        self._emit(log, "10.0.0.2")
        self.clock.advance(10)
        self.assertIs(self.events[-1][RATE_LIMITED], True)

    def test_summaryFormat(self) -> None:
        """
        The summary line's format may be given.
        """
        log = self._log(perEvent=1, summary="{count} {lines} of {event} in {window}")
        self._emit(log, "10.0.0.1")
        self._emit(log, "10.0.0.2")
        self.clock.advance(10)
        self.assertEqual(self._texts()[-1], "1 line of connections in 10.0")

    def test_eventsUnbounded(self) -> None:
        """
        Unless bounded, every kind of event has its own count.
        """
        log = self._log(perEvent=1)
        logged = [self._emit(log, "", f"event {n}") for n in range(50)]
        self.assertEqual(logged, [True] * 50)

    def test_maxEvents(self) -> None:
        """
        Past C{maxEvents} kinds in a window, new kinds share one count,
        summed up under the name given.
        """
        log = self._log(perEvent=1, maxEvents=2, others="others")
        logged = [self._emit(log, "", f"event {n}") for n in range(5)]
        self.assertEqual(logged, [True, True, True, False, False])
        self.clock.advance(10)
        self.assertEqual(self._texts()[-1], self._summary(2, "others"))

    def test_maxEventsKnownKeepShare(self) -> None:
        """
        A kind counted before the table filled keeps its own count.
        """
        log = self._log(perEvent=2, maxEvents=1)
        self._emit(log, "", "known")
        self._emit(log, "", "new")
        self.assertIs(self._emit(log, "", "known"), True)


class ConfigureTests(SynchronousTestCase):
    """
    Tests for L{RateLimitedLog.configure}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.events = EventLoggingObserver()
        self.logger = Logger(namespace="sockplug.test.ratelog", observer=self.events)
        self.log = RateLimitedLog(self.clock, self.logger, "tcp:8888", perEvent=100)

    def emit(self, peer: str) -> bool:
        return self.log.emit("connections", peer, _FORMAT, peer=peer)

    def test_perEvent(self) -> None:
        """
        The new bound on lines of one kind applies.
        """
        self.log.configure("tcp:8888", 2)
        logged = [self.emit(f"10.0.0.{n}") for n in range(3)]
        self.assertEqual(logged, [True, True, False])

    def test_perPeer(self) -> None:
        """
        A peer's share becomes a fifth of the new bound.
        """
        self.log.configure("tcp:8888", 10)
        self.assertEqual(self.log.perPeer, 2)

    def test_perPeerAtLeastOne(self) -> None:
        """
        A peer may always log one line.
        """
        self.log.configure("tcp:8888", 3)
        self.assertEqual(self.log.perPeer, 1)

    def test_prefix(self) -> None:
        """
        The summary names the listener by its new name.
        """
        self.log.configure("web", 1)
        self.emit("10.0.0.1")
        self.emit("10.0.0.2")
        self.clock.advance(10)
        self.assertEqual(
            formatEvent(self.events[-1]),
            "web: 1 log line about connections held back in the last 10s (rate limit)",
        )

    def test_windowCountsKept(self) -> None:
        """
        Lines logged earlier in the window count against the new bound.
        """
        self.emit("10.0.0.1")
        self.emit("10.0.0.2")
        self.log.configure("tcp:8888", 2)
        self.assertIs(self.emit("10.0.0.3"), False)

    def test_heldBackKept(self) -> None:
        """
        Lines held back before the change are still summed up when the
        window closes.
        """
        log = RateLimitedLog(self.clock, self.logger, "tcp:8888", perEvent=1)
        log.emit("connections", "10.0.0.1", _FORMAT, peer="a")
        log.emit("connections", "10.0.0.2", _FORMAT, peer="b")
        log.configure("tcp:8888", 100)
        self.clock.advance(10)
        self.assertEqual(
            formatEvent(self.events[-1]),
            "tcp:8888: 1 log line about connections held back in the last 10s"
            " (rate limit)",
        )
