# -*- test-case-name: sockplug.server.test.test_earlylog -*-
"""
The log events of a start made before logging began, none lost.

Until twistd begins logging, Twisted keeps the events logged in a buffer of
its last 200 (L{twisted.logger.LogBeginner}), which it replays when logging
begins. A start made before then (see L{sockplug.server._start}) logs three
or so events for each listener: with more than about 60 listeners, the
first ones' lines would be lost. L{EarlyEvents} keeps every event of the
start; the replay goes through the publisher, where it watches: at the
first of its events replayed, those before it were dropped from the
buffer, and it publishes them then, so that the log has them all, in
order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from twisted.logger import ILogObserver, LogEvent, LogPublisher, globalLogPublisher
from zope.interface import implementer

__all__ = ["EarlyEvents"]


@implementer(ILogObserver)
class EarlyEvents:
    """
    An observer of C{publisher} that keeps the events logged while
    L{capturing}, and publishes those that Twisted's buffer dropped when it
    replays the others.
    """

    def __init__(self, publisher: LogPublisher = globalLogPublisher) -> None:
        self._publisher = publisher
        self._events: list[LogEvent] = []
        # Where each event kept is in _events, by identity (the replay
        # passes the very objects logged).
        self._places: dict[int, int] = {}
        self._capturing = False
        self._watching = False

    @contextlib.contextmanager
    def capturing(self) -> Iterator[None]:
        """
        Within it, keep each event logged; after it, watch for the replay
        until L{release}.
        """
        if not self._watching:
            self._publisher.addObserver(self)
            self._watching = True
        self._capturing = True
        try:
            yield
        finally:
            self._capturing = False

    def __call__(self, event: LogEvent) -> None:
        if self._capturing:
            self._places[id(event)] = len(self._events)
            self._events.append(event)
            return
        place = self._places.get(id(event))
        if place is None:
            return
        dropped = self._events[:place]
        self._events, self._places = [], {}
        for earlier in dropped:
            self._publisher(earlier)

    def release(self) -> None:
        """
        Stop watching (once logging has begun, or will not), and let the
        events go.
        """
        if self._watching:
            self._publisher.removeObserver(self)
            self._watching = False
        self._events, self._places = [], {}
