# -*- test-case-name: sockplug.defences.test -*-
"""
A connection as a stream listener's guard sees it, for sockplug's own tests
of L{sockplug.defences._streamguard} (not API: see L{sockplug.testing}).
"""

from __future__ import annotations

__all__ = ["TrackedConnection"]


class TrackedConnection:
    """
    A connection as the guard sees it: a byte count that the test moves,
    and a record of the guard's requests to close.
    """

    def __init__(self) -> None:
        self.bytes = 0
        self.bytesIn = self.bytesOut = 0
        self.closedGently = 0
        self.aborted = 0

    def activity(self) -> int:
        return self.bytes

    def closeGently(self) -> None:
        self.closedGently += 1

    def abort(self) -> None:
        self.aborted += 1
