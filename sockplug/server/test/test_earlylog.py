"""
Tests for L{sockplug.server._earlylog}: the events of a start made before
logging began reach the log, all of them, in order.
"""

from __future__ import annotations

import io
import types
from typing import cast

from twisted.logger import ILogObserver, LogBeginner, LogEvent, Logger, LogPublisher
from twisted.trial.unittest import SynchronousTestCase

from sockplug.server._earlylog import EarlyEvents


class EarlyEventsTests(SynchronousTestCase):
    """
    Tests for L{EarlyEvents}, with a L{LogBeginner} that buffers 3 events.
    """

    def setUp(self) -> None:
        self.publisher = LogPublisher()
        self.errors = io.StringIO()
        stdio = types.SimpleNamespace(stdout=io.StringIO(), stderr=io.StringIO())
        warnings = types.SimpleNamespace(showwarning=None)
        self.beginner = LogBeginner(
            self.publisher, self.errors, stdio, warnings, initialBufferSize=3
        )
        self.log = Logger(namespace="test", observer=self.publisher)
        self.logged: list[LogEvent] = []

    def begin(self) -> list[str]:
        """
        Begin logging; the texts of the events the log got.
        """
        observer = cast(ILogObserver, self.logged.append)
        self.beginner.beginLoggingTo([observer], redirectStandardIO=False)
        return [event["log_format"] for event in self.logged]

    def test_dropped(self) -> None:
        """
        Events the buffer dropped reach the log when logging begins, before
        those it kept, each once.
        """
        events = EarlyEvents(self.publisher)
        with events.capturing():
            for n in range(5):
                self.log.info(f"event {n}")
        self.assertEqual(self.begin(), [f"event {n}" for n in range(5)])

    def test_noneDropped(self) -> None:
        """
        When the buffer kept every event, each reaches the log once.
        """
        events = EarlyEvents(self.publisher)
        with events.capturing():
            self.log.info("one")
            self.log.info("two")
        self.assertEqual(self.begin(), ["one", "two"])

    def test_onlyCaptured(self) -> None:
        """
        Events logged before the capture that the buffer dropped are not
        brought back.
        """
        self.log.info("before")
        self.log.info("also before")
        events = EarlyEvents(self.publisher)
        with events.capturing():
            for n in range(3):
                self.log.info(f"event {n}")
        self.assertEqual(self.begin(), [f"event {n}" for n in range(3)])

    def test_afterLoggingBegan(self) -> None:
        """
        Events logged once logging has begun are not repeated.
        """
        events = EarlyEvents(self.publisher)
        with events.capturing():
            self.log.info("early")
        self.begin()
        self.log.info("later")
        self.assertEqual(
            [event["log_format"] for event in self.logged], ["early", "later"]
        )

    def test_released(self) -> None:
        """
        Released, it observes nothing more: logging that begins then gets
        only what the buffer kept.
        """
        events = EarlyEvents(self.publisher)
        with events.capturing():
            for n in range(5):
                self.log.info(f"event {n}")
        events.release()
        self.assertEqual(self.begin(), ["event 2", "event 3", "event 4"])
