# -*- test-case-name: sockplug.logs.test.test_kinds -*-
"""
What kind of line a log event is, for the process's rate limit (see
L{sockplug.logs._processlog}), and which of Twisted's lines are noise.

A kind is where the line comes from and what it says before its values
are put in: the event's namespace and format (C{"EMFILE recovery: Closed
socket from {address}"}), and the type of its failure if it has one, so
that every kind of error gets its own share. A line of the old
C{twisted.python.log} API has no format, only its text: its first line
stands for it, numbers masked (C{"(TCP Port N Closed)"}).

Twisted's ports and factories say when they start and stop, for every
listener: C{"Factory starting on 8888"}, C{"(TCP Port 8888 Closed)"},
C{"Starting factory <...Factory object at 0x...>"}. sockplug says in its
own words what it listens on; those lines (L{isTwistedNoise}) are not
logged at all.
"""

from __future__ import annotations

import re
from typing import Final

from twisted.logger import LogEvent
from twisted.python.reflect import qual

__all__ = ["LOG_KIND", "isTwistedNoise", "kindOf"]

# The key of an event that names its kind itself: a worker's line relayed
# by the supervisor, which has the format of the relay, not its own.
LOG_KIND: Final = "sockplug_logkind"

# How much of a format or a line names a kind: the summary line quotes it.
_KIND_TEXT = 80

# The format of a line of the old API, as Twisted bridges it.
_LEGACY_FORMAT = "{log_text}"

# What Twisted's Factory.doStart and doStop log (twisted.internet.protocol),
# unless the factory's noisy is false: a plugin's plain Factory is noisy.
_NOISY_FORMATS = frozenset(
    {"Starting factory {factory!r}", "Stopping factory {factory!r}"}
)

# What Twisted's ports log with the old API (twisted.internet.tcp, unix,
# udp: "%s starting on %s", "(TCP Port %s Closed)", "(UNIX Port %s Closed)",
# "(Port %r Closed)", "(UDP Port %s Closed)"), and its DatagramProtocol's
# doStart and doStop ("Starting protocol %s").
_NOISY_TEXT = re.compile(
    r".+ starting on (?:\d+|'.*'|b'.*')"
    r"|\((?:TCP |UDP |UNIX )?Port .+ Closed\)"
    r"|(?:Starting|Stopping) protocol .+",
    re.DOTALL,
)

# Numbers in a line of the old API: addresses in memory, then the rest.
_NUMBERS = re.compile(r"(0x[0-9a-fA-F]+)|\d+")


def _legacyText(event: LogEvent) -> str | None:
    """
    The text of a line logged with C{twisted.python.log.msg}, if it is
    one (its C{message}, without a format of its own).
    """
    message = event.get("message")
    if event.get("log_format") != _LEGACY_FORMAT or not message:
        return None
    if not isinstance(message, tuple):
        return None
    return " ".join(str(part) for part in message)


def isTwistedNoise(event: LogEvent) -> bool:
    """
    Whether C{event} is one of Twisted's lines about a port or a factory
    starting or stopping (which sockplug says in its own words, or not at
    all).
    """
    if event.get("log_format") in _NOISY_FORMATS:
        return True
    text = _legacyText(event)
    return text is not None and _NOISY_TEXT.fullmatch(text) is not None


def _masked(number: re.Match[str]) -> str:
    return "0x?" if number.group(1) else "N"


def _shortened(text: str) -> str:
    first = text.strip().partition("\n")[0]
    if len(first) > _KIND_TEXT:
        first = first[: _KIND_TEXT - 3] + "..."
    return first


def kindOf(event: LogEvent) -> str:
    """
    The kind of line C{event} is, as a summary line names it:
    C{'"{peer} connected" (sockplug.protocols.echo.Echo)'}.
    """
    given = event.get(LOG_KIND)
    if isinstance(given, str):
        return given
    namespace = str(event.get("log_namespace", "-"))
    text = event.get("log_format")
    if text == _LEGACY_FORMAT or not isinstance(text, str):
        # The old API: the text itself, or the "why" of an error.
        legacy = (
            event.get("why")
            or _legacyText(event)
            or event.get("format")
            or event.get("log_text")
        )
        text = _NUMBERS.sub(_masked, str(legacy or ""))
    where = namespace
    failure = event.get("log_failure", event.get("failure"))
    kind = getattr(failure, "type", None)
    if isinstance(kind, type):
        where = f"{namespace}, {qual(kind)}"
    return f'"{_shortened(text)}" ({where})'
