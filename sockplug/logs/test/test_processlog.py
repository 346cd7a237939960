"""
Tests for L{sockplug.logs._processlog}.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import Any

from twisted.application import app, service
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock
from twisted.logger import (
    ILogObserver,
    LogBeginner,
    Logger,
    LogLevel,
    LogPublisher,
    formatEvent,
)
from twisted.python import log as legacy
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from sockplug.logs._processlog import (
    MAX_KINDS,
    PER_KIND,
    WINDOW,
    ProcessLogLimit,
    limitTwistdLog,
)
from sockplug.logs._ratelog import ALREADY_LIMITED
from twisted import logger as twistedLogger


class _ThreadedReactor(MemoryReactorClock):
    """A memory reactor that records what is called from other threads."""

    def __init__(self) -> None:
        super().__init__()
        self.fromThreads: list[tuple[Callable[..., object], tuple[Any, ...]]] = []

    def callFromThread(self, f: Callable[..., object], *args: Any) -> None:
        self.fromThreads.append((f, args))


def _failure(error: Exception) -> Failure:
    try:
        raise error
    except Exception:
        return Failure()


class ProcessLogLimitTests(SynchronousTestCase):
    """
    Tests for L{ProcessLogLimit}.
    """

    def setUp(self) -> None:
        self.reactor = _ThreadedReactor()
        self.seen = EventLoggingObserver()
        self.limit = ProcessLogLimit(self.reactor, [self.seen], perKind=3)
        self.log = Logger(namespace="sockplug.x", observer=self.limit)

    def texts(self) -> list[str]:
        return [formatEvent(event) for event in self.seen]

    def test_passes(self) -> None:
        """
        A line within the bounds is passed on as it is.
        """
        self.log.info("{peer} connected", peer="a")
        self.assertEqual(self.texts(), ["a connected"])

    def test_defaults(self) -> None:
        """
        Unless told otherwise, a kind may log 100 lines per 10 s.
        """
        self.assertEqual((PER_KIND, WINDOW), (100, 10.0))
        limit = ProcessLogLimit(self.reactor, [self.seen])
        log = Logger(namespace="sockplug.x", observer=limit)
        for n in range(PER_KIND + 5):
            log.info("line {n}", n=n)
        self.assertEqual(len(self.seen), PER_KIND)

    def test_perKind(self) -> None:
        """
        Past its bound in a window, a kind's lines are held back.
        """
        for n in range(5):
            self.log.info("{n} connected", n=n)
        self.assertEqual(self.texts(), ["0 connected", "1 connected", "2 connected"])

    def test_kindsApart(self) -> None:
        """
        A kind that used up its lines does not hold back another's.
        """
        for n in range(5):
            self.log.info("{n} connected", n=n)
        self.log.info("something else")
        self.assertEqual(self.texts()[-1], "something else")

    def test_summary(self) -> None:
        """
        At the window's end, one warning per kind says how many of its
        lines were held back.
        """
        for n in range(5):
            self.log.info("{n} connected", n=n)
        self.reactor.advance(WINDOW)
        self.assertEqual(
            self.texts()[3:],
            [
                '2 log lines like "{n} connected" (sockplug.x) held back in the'
                " last 10s (rate limit)"
            ],
        )
        self.assertEqual(self.seen[-1]["log_level"], LogLevel.warn)

    def test_summaryOne(self) -> None:
        """
        One line held back is one line.
        """
        for n in range(4):
            self.log.info("{n} connected", n=n)
        self.reactor.advance(WINDOW)
        self.assertIn('1 log line like "{n} connected"', self.texts()[-1])

    def test_newWindow(self) -> None:
        """
        A new window gives a kind its lines again.
        """
        for n in range(4):
            self.log.info("{n} connected", n=n)
        self.reactor.advance(WINDOW)
        self.log.info("{n} connected", n=9)
        self.assertEqual(self.texts()[-1], "9 connected")

    def test_stop(self) -> None:
        """
        Stopping logs at once what is held back, and leaves no timer.
        """
        for n in range(4):
            self.log.info("{n} connected", n=n)
        self.limit.stop()
        self.assertIn("held back", self.texts()[-1])
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_noise(self) -> None:
        """
        Twisted's lines about ports starting and stopping are dropped.
        """
        publisher = legacy.LogPublisher(publishPublisher=LogPublisher(self.limit))
        publisher.msg("(TCP Port 8888 Closed)")
        self.assertEqual(self.texts(), [])

    def test_alreadyLimited(self) -> None:
        """
        Lines a listener's limit let through are passed on and not counted.
        """
        for n in range(5):
            self.log.info("{n} connected", n=n, **ALREADY_LIMITED)
        self.log.info("{n} connected", n=5)
        self.assertEqual(len(self.seen), 6)

    def test_failureKinds(self) -> None:
        """
        An error of another type reaches the log though the same format's
        lines are used up.
        """
        for _ in range(5):
            self.log.failure("accept failed", _failure(OSError()))
        self.log.failure("accept failed", _failure(ValueError()))
        self.assertEqual(len(self.seen), 4)
        self.assertIsInstance(self.seen[-1]["log_failure"].value, ValueError)

    def test_kindsBounded(self) -> None:
        """
        Past L{MAX_KINDS} kinds in a window, new kinds share one count.
        """
        limit = ProcessLogLimit(self.reactor, [self.seen], perKind=1)
        log = Logger(namespace="sockplug.x", observer=limit)
        for n in range(MAX_KINDS + 10):
            log.info(f"kind {n}")
        self.assertEqual(len(self.seen), MAX_KINDS + 1)

    def test_observers(self) -> None:
        """
        Each of several observers gets each line.
        """
        other = EventLoggingObserver()
        limit = ProcessLogLimit(self.reactor, [self.seen, other])
        Logger(observer=limit).info("hello")
        self.assertEqual((len(self.seen), len(other)), (1, 1))

    def test_otherThread(self) -> None:
        """
        A line held back in another thread sets the summary's timer through
        the reactor's C{callFromThread}.
        """
        for n in range(3):
            self.log.info("{n} connected", n=n)
        thread = threading.Thread(target=self.log.info, args=("{n} connected",))
        thread.start()
        thread.join()
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        [(call, args)] = self.reactor.fromThreads
        call(*args)
        self.reactor.advance(WINDOW)
        self.assertIn('1 log line like "{n} connected"', self.texts()[-1])


class _Stdio:
    """What a L{LogBeginner} redirects: C{stdout} and C{stderr}."""

    stdout: object = None
    stderr: object = None


class _Warnings:
    """What a L{LogBeginner} takes over of the warnings module."""

    @staticmethod
    def showwarning(*args: object) -> None:
        """Shows nothing."""


class LimitTwistdLogTests(SynchronousTestCase):
    """
    Tests for L{limitTwistdLog}.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.publisher = LogPublisher()
        self.beginner = LogBeginner(
            self.publisher, io.StringIO(), _Stdio(), _Warnings()
        )
        self.seen = EventLoggingObserver()

    def publish(self, format: str, **kwargs: object) -> None:
        Logger(namespace="sockplug.x", observer=self.publisher).info(format, **kwargs)

    def test_limited(self) -> None:
        """
        The observers logging begins with see the lines through the limit.
        """
        limitTwistdLog(self.reactor, self.beginner)
        self.beginner.beginLoggingTo([self.seen], redirectStandardIO=False)
        for n in range(PER_KIND + 1):
            self.publish("{n}", n=n)
        self.assertEqual(len(self.seen), PER_KIND)

    def test_buffered(self) -> None:
        """
        Lines logged before logging begins go through the limit too.
        """
        limitTwistdLog(self.reactor, self.beginner)
        for n in range(PER_KIND + 1):
            self.publish("{n}", n=n)
        self.beginner.beginLoggingTo([self.seen], redirectStandardIO=False)
        self.assertEqual(len(self.seen), PER_KIND)

    def test_everyTime(self) -> None:
        """
        Observers added by a later call are put behind a limit too.
        """
        limitTwistdLog(self.reactor, self.beginner)
        self.beginner.beginLoggingTo([EventLoggingObserver()], redirectStandardIO=False)
        self.beginner.beginLoggingTo([self.seen], redirectStandardIO=False)
        for n in range(PER_KIND + 1):
            self.publish("{n}", n=n)
        ours = [e for e in self.seen if e.get("log_namespace") == "sockplug.x"]
        self.assertEqual(len(ours), PER_KIND)

    def test_stopsWithReactor(self) -> None:
        """
        The limit sums up what it held back after the reactor's shutdown.
        """
        limitTwistdLog(self.reactor, self.beginner)
        self.beginner.beginLoggingTo([self.seen], redirectStandardIO=False)
        [(stop, args, kwargs)] = self.reactor.triggers["after"]["shutdown"]
        for n in range(PER_KIND + 1):
            self.publish("{n}", n=n)
        stop(*args, **kwargs)
        self.assertIn("held back", formatEvent(self.seen[-1]))

    def test_twistd(self) -> None:
        """
        twistd's C{AppLogger.start} (after C{makeService}) begins logging
        through C{globalLogBeginner.beginLoggingTo}, where the limit is put:
        this fails if Twisted changes how twistd begins logging.
        """
        self.patch(twistedLogger, "globalLogBeginner", self.beginner)
        limitTwistdLog(self.reactor, self.beginner)
        observer: ILogObserver = self.seen
        appLogger = app.AppLogger({"logger": lambda: observer})
        appLogger.start(service.Application("sockplug"))
        self.addCleanup(appLogger.stop)
        for n in range(PER_KIND + 1):
            self.publish("{n}", n=n)
        ours = [e for e in self.seen if e.get("log_namespace") == "sockplug.x"]
        self.assertEqual(len(ours), PER_KIND)
