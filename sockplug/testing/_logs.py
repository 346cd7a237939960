# -*- test-case-name: sockplug.defences.test -*-
"""
The text of what a test logged, for sockplug's own tests (not API: see
L{sockplug.testing}).
"""

from __future__ import annotations

from twisted.internet.testing import EventLoggingObserver
from twisted.logger import LogEvent, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase


class LogTexts:
    """
    The text of the log events emitted during a test.
    """

    def __init__(self, case: SynchronousTestCase) -> None:
        self.events = EventLoggingObserver.createWithCleanup(
            case,  # type: ignore[arg-type]
            globalLogPublisher,
        )

    def __call__(self, containing: str = "") -> list[str]:
        return [
            text
            for text in (formatEvent(event) for event in self.events)
            if containing in text
        ]


def loggedBy(events: EventLoggingObserver, source: object) -> list[LogEvent]:
    """
    The events among C{events} logged by C{source}.
    """
    return [event for event in events if event.get("log_source") is source]
