# -*- test-case-name: sockplug.logs.test.test_ratelog -*-
"""
Log lines that a flood cannot multiply: each kind of event may log a
bounded number of lines per window, and each peer a smaller number within
that; what is held back is counted and summed up in one line when the
window closes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from twisted.logger import Logger, LogLevel

__all__ = ["ALREADY_LIMITED", "RATE_LIMITED", "RateLimitedLog"]

# Distinct peers remembered in one window; past this, peers share one count
# (a flood of forged datagram sources cannot grow the table).
MAX_PEERS = 4096
_OVERFLOW = "\0others"

# The key of a log event that a rate limit has let through already (its
# summary lines too): the process's own limit (L{sockplug.logs._processlog})
# does not count it again, so that a listener's C{loglines=} holds as given.
RATE_LIMITED: Final = "sockplug_ratelimited"

# What a caller that logs a line L{RateLimitedLog.admit} admitted adds to
# the line's keywords.
ALREADY_LIMITED: Final[Mapping[str, object]] = {RATE_LIMITED: True}

SUMMARY: Final = (
    "{prefix}: {count} log {lines} about {event} held back in the last"
    " {window:g}s (rate limit)"
)


class RateLimitedLog:
    """
    Rate-limits log lines by event kind and by peer.

    @ivar perEvent: lines of one kind per window.
    @ivar perPeer: lines of one kind about one peer per window (a fifth of
        C{perEvent} unless given).
    @ivar window: the window, in seconds.
    """

    def __init__(
        self,
        reactor: Any,
        log: Logger,
        prefix: str,
        *,
        perEvent: int = 100,
        perPeer: int | None = None,
        window: float = 10.0,
        maxEvents: int | None = None,
        others: str = "other events",
        summary: str = SUMMARY,
    ) -> None:
        """
        @param maxEvents: how many kinds of event one window tells apart,
            if bounded; past it, new kinds share one count, named
            C{others} (kinds that are not a fixed set cannot grow the
            table).
        @param summary: the format of a summary line, with C{prefix},
            C{count}, C{lines} (C{line} or C{lines}), C{event} and
            C{window}.
        """
        self._reactor = reactor
        self._log = log
        self._prefix = prefix
        self.perEvent = perEvent
        self.perPeer = max(1, perEvent // 5) if perPeer is None else perPeer
        self.window = window
        self._maxEvents = maxEvents
        self._others = others
        self._summary = summary
        self._windowEnds = 0.0
        self._events: dict[str, int] = {}
        self._peers: dict[tuple[str, str], int] = {}
        self._suppressed: dict[str, int] = {}
        self._flush: Any = None

    def configure(self, prefix: str, perEvent: int) -> None:
        """
        Name the listener anew and set the bound (a listener reconfigured
        by a reload); the window under way keeps its counts.
        """
        self._prefix = prefix
        self.perEvent = perEvent
        self.perPeer = max(1, perEvent // 5)

    def emit(
        self,
        event: str,
        peer: str,
        format: str,
        level: LogLevel = LogLevel.info,
        logger: Logger | None = None,
        /,
        **kwargs: object,
    ) -> bool:
        """
        Log C{format} unless the event's or the peer's lines are used up
        for this window.

        @param event: the kind of event, as the summary line names it
            (C{"refused connections"}).
        @param peer: the peer's address without its port (so that a peer
            cannot escape its share by changing port), or C{""} for a line
            about no peer in particular (only the event's bound applies).
        @param logger: the logger to log it with, if not the one given when
            this was made (a protocol's own, say, so that the line carries
            its namespace).
        @return: whether the line was logged.
        """
        if not self.admit(event, peer):
            return False
        (self._log if logger is None else logger).emit(
            level, format, **kwargs, **ALREADY_LIMITED
        )
        return True

    def admit(self, event: str, peer: str) -> bool:
        """
        Count a line about C{event} and C{peer} (as L{emit} does), and say
        whether it may be logged: a caller whose line is costly to build
        builds it only then, and logs it itself.

        @return: whether the line may be logged; if not, it is counted as
            held back.
        """
        now = self._reactor.seconds()
        if now >= self._windowEnds:
            self._newWindow(now)
        if (
            self._maxEvents is not None
            and event not in self._events
            and len(self._events) >= self._maxEvents
        ):
            event = self._others  # the table is full: new kinds share a count
        events = self._events.get(event, 0)
        key = (event, peer)
        if key not in self._peers and len(self._peers) >= MAX_PEERS:
            key = (event, _OVERFLOW)  # the table is full: new peers share a count
        peers = self._peers.get(key, 0) if peer else 0
        if events >= self.perEvent or peers >= self.perPeer:
            self._suppressed[event] = self._suppressed.get(event, 0) + 1
            if self._flush is None:
                self._flush = self._reactor.callLater(
                    self._windowEnds - now, self._summarize
                )
            return False
        self._events[event] = events + 1
        if peer:
            self._peers[key] = peers + 1
        return True

    def _newWindow(self, now: float) -> None:
        self._windowEnds = now + self.window
        self._events.clear()
        self._peers.clear()

    def _summarize(self) -> None:
        """
        Log how many lines were held back in the window just closed.
        """
        self._flush = None
        suppressed, self._suppressed = self._suppressed, {}
        for event, count in sorted(suppressed.items()):
            self._log.warn(
                self._summary,
                prefix=self._prefix,
                count=count,
                lines="line" if count == 1 else "lines",
                event=event,
                window=self.window,
                **ALREADY_LIMITED,
            )

    def stop(self) -> None:
        """
        Log what is still held back, at once, and stop the timer.
        """
        if self._flush is not None:
            self._flush.cancel()
            self._summarize()
