"""
Helpers shared by the tests of sockplug's protocols.
"""

from __future__ import annotations

from twisted.internet.testing import EventLoggingObserver
from twisted.logger import LogEvent

__all__ = ["loggedBy"]


def loggedBy(events: EventLoggingObserver, source: object) -> list[LogEvent]:
    """
    The events logged by C{source}.
    """
    return [event for event in events if event.get("log_source") is source]
