# -*- test-case-name: sockplug.options.test.test_endpointkeys -*-
"""
The other arguments of sockplug's own endpoint types that a configuration
file may give as keys (C{backlog}, C{mode}, C{stale}, C{lockfile}), in
L{ENDPOINT_ARGUMENTS}; and, with the socket options of
L{sockplug.options._sockopts}, which keys each of sockplug's own types
takes (L{endpointKeys}).
"""

from __future__ import annotations

from typing import Any

from attrs import frozen

from sockplug.options._arguments import MODES, POSITIVE
from sockplug.options._setting import Flag, Setting, Table, Value
from sockplug.options._sockopts import SOCKET_OPTIONS

# The longest listen queue sockplug asks for (Linux caps it at somaxconn).
MAX_BACKLOG = 65535

__all__ = [
    "ENDPOINT_ARGUMENTS",
    "SOCKET_KINDS",
    "endpointKeys",
    "optionNames",
    "takeArgument",
]


@frozen
class _Positive(Value):
    """
    A whole number above 0 (C{backlog}), at most L{MAX_BACKLOG}: listen()
    takes a C int, and the kernel caps the queue far below it anyway, so a
    larger value is refused here rather than when the socket is made.
    """

    def parse(self, setting: Setting, text: str) -> Any:
        number: int | None = POSITIVE.parse(text)
        if number is None:
            raise ValueError(f"{setting.subject(text)} is not a positive number")
        if number > MAX_BACKLOG:
            raise ValueError(
                f"{setting.subject(text)} is more than {MAX_BACKLOG},"
                " the longest listen queue sockplug asks for"
            )
        return number

    def describe(self) -> str:
        return f"1 to {MAX_BACKLOG}"


@frozen
class _Mode(Value):
    """
    An octal file mode (C{mode}).
    """

    written = "octal text"

    def parse(self, setting: Setting, text: str) -> Any:
        number = MODES.parse(text)
        if number is None:
            raise ValueError(
                f"{setting.subject(text)} is not an octal file mode such as 660"
            )
        return number

    def show(self, value: Any) -> str:
        return f"{value:o}"

    def describe(self) -> str:
        return "octal, 0 to 777"


@frozen
class _Stale(Value):
    """
    C{replace} (true) or C{fail} (C{stale}).
    """

    def parse(self, setting: Setting, text: str) -> Any:
        if text not in ("replace", "fail"):
            raise ValueError(f"{setting.subject(text)} is not replace or fail")
        return text == "replace"

    def show(self, value: Any) -> str:
        return "replace" if value else "fail"

    def describe(self) -> str:
        return "replace or fail"


# The other arguments of sockplug's own endpoint types that a listener's
# table may give as keys, and the types they apply to (tcp: tcp and tcp6).
ENDPOINT_ARGUMENTS = Table(
    (
        Setting(
            "backlog",
            _Positive(),
            50,
            "listen queue length (default {default})",
            frozenset({"tcp", "unix"}),
            "backlog",
            metavar="N",
        ),
        Setting(
            "mode",
            _Mode(),
            0o660,
            "socket file mode, octal (default {default})",
            frozenset({"unix", "unixgram"}),
            "mode",
            metavar="OCTAL",
        ),
        Setting(
            "stale",
            _Stale(),
            True,
            "a socket file no server is bound to is replaced (replace, default)"
            " or refused (fail); a live one never is",
            frozenset({"unix", "unixgram"}),
            "replaceStale",
            metavar="replace|fail",
        ),
        Setting(
            "lockfile",
            Flag(("1", "0")),
            True,
            "1|0: keep PATH.lock naming the server's PID (default {default}, as"
            " Twisted)",
            frozenset({"unix"}),
            "lockfile",
        ),
    )
)

# The kind of socket of each of sockplug's own endpoint types.
SOCKET_KINDS = {
    "tcp": "tcp",
    "tcp6": "tcp",
    "unix": "unix",
    "udp": "udp",
    "unixgram": "unix",
}


def endpointKeys(endpointType: str) -> tuple[Setting, ...]:
    """
    The arguments and socket options of one of sockplug's own endpoint
    types (C{tcp}, C{tcp6}, C{unix}, C{udp}, C{unixgram}) that a listener's
    table may give as keys; none for any other type (which takes its own in
    the endpoint string).
    """
    kind = SOCKET_KINDS.get(endpointType)
    if kind is None:
        return ()
    own = "tcp" if kind == "tcp" else endpointType
    return ENDPOINT_ARGUMENTS.applyingTo(own) + SOCKET_OPTIONS.applyingTo(kind)


def optionNames(endpointType: str, *own: str) -> str:
    """
    The keyword options of one of sockplug's endpoint types, as a message
    lists them: C{own} (C{interface}...), then its arguments and socket
    options (L{endpointKeys}).
    """
    return ", ".join([*own, *(s.name for s in endpointKeys(endpointType))])


def takeArgument(kwargs: dict[str, str], name: str) -> Any:
    """
    Take the argument C{name} of L{ENDPOINT_ARGUMENTS} (C{backlog},
    C{mode}...) out of an endpoint string's keyword arguments: its value,
    or its default if not given.

    @raise ValueError: saying what is wrong with it.
    """
    setting = ENDPOINT_ARGUMENTS[name]
    if name not in kwargs:
        return setting.default
    return setting.parse(kwargs.pop(name))
