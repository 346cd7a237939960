# -*- test-case-name: sockplug.options.test.test_protooptions -*-
"""
Options a protocol plugin declares (hello's greeting, line-print's output),
set per listener in the configuration file.

A plugin lists its options as L{ProtocolOption}s; sockplug checks each
value given for it when the file is read, fills in the defaults, and hands
the result to the plugin's builders as L{sockplug.plugin.ListenerInfo}'s
C{options}.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from attrs import field, frozen

from sockplug.errors import PluginError
from sockplug.options._endpointkeys import ENDPOINT_ARGUMENTS
from sockplug.options._limits import LIMITS
from sockplug.options._sockopts import SOCKET_OPTIONS

__all__ = [
    "RESERVED_NAMES",
    "ProtocolOption",
    "checkOptionValue",
    "declaredOptions",
    "describeDefault",
    "describeOption",
    "describeValue",
    "resolveOptions",
    "typeName",
]

# Keys of a listener's table that are not protocol options: a protocol
# option may not take one of these names.
RESERVED_NAMES = frozenset(
    {"endpoint", "protocol", "interface"}
    | set(ENDPOINT_ARGUMENTS.names())
    | set(LIMITS.names())
    | set(SOCKET_OPTIONS.names())
)

_TYPES: Mapping[type, str] = {
    str: "text",
    int: "a whole number",
    float: "a number",
    bool: "true or false",
}

_NAME = re.compile(r"[a-z][a-z0-9-]*\Z")


def _checkName(option: ProtocolOption, attribute: object, name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise PluginError(
            f"{name!r} is not a valid option name: use lower-case letters,"
            " digits and '-', starting with a letter"
        )
    if name in RESERVED_NAMES:
        raise PluginError(
            f"option name {name!r} is taken by sockplug (a listener key,"
            " socket option or limit); pick another"
        )


def _checkType(option: ProtocolOption, attribute: object, kind: type) -> None:
    if kind not in _TYPES:
        raise PluginError(
            f"option {option.name!r} has type {kind!r}; an option is str,"
            " int, float or bool"
        )


@frozen
class ProtocolOption:
    """
    One option of a protocol, set per listener in the configuration file.

    @ivar name: the key in a listener's table (C{greeting}): lower-case
        letters, digits and C{-}; never a listener key, socket option or
        limit name.
    @ivar type: L{str}, L{int}, L{float} or L{bool}: what the file must
        give (an integer is taken for a float).
    @ivar default: the value a listener gets if the file says nothing.
    @ivar help: one line saying what the option does, for C{--help}.
    @ivar check: called with a value of the right type; returns what the
        protocol gets (the value, or a converted one), or raises
        L{ValueError} whose message says what is wrong and how to fix it.
        The default is checked too, when the plugin is built.
    """

    name: str = field(validator=_checkName)
    type: type = field(validator=_checkType)
    default: Any
    help: str
    check: Callable[[Any], Any] | None = None

    def __attrs_post_init__(self) -> None:
        try:
            checkOptionValue(self, self.default)
        except ValueError as e:
            raise PluginError(f"option {self.name!r}: its default: {e}") from None


def declaredOptions(plugin: object) -> tuple[ProtocolOption, ...]:
    """
    The options a protocol plugin declares (none, if it has no C{options}
    attribute: it is optional in L{sockplug.interfaces.IProtocolPlugin}).
    """
    return tuple(getattr(plugin, "options", ()))


def checkOptionValue(option: ProtocolOption, value: object) -> Any:
    """
    Check a value given for C{option}.

    @return: what the protocol gets.
    @raise ValueError: saying what is wrong.
    """
    kind = option.type
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"is {describeValue(value)}; it should be {_TYPES[kind]}")
    if option.check is not None:
        return option.check(value)
    return value


def describeValue(value: object) -> str:
    """
    What kind of TOML value C{value} is, for a message: C{a table}.
    """
    if isinstance(value, bool):
        return "true or false"
    for kind, text in ((int, "a whole number"), (float, "a number"), (str, "text")):
        if isinstance(value, kind):
            return text
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime.date | datetime.time):
        return "a date or time"
    return type(value).__name__


def resolveOptions(
    declared: Iterable[ProtocolOption], given: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """
    The options a listener's protocol gets: each declared option's given
    value, checked, or its default.

    @param given: the values given, by name; every name must be declared.
    @return: the values by name, and the problems found by name (a value
        with a problem keeps its default).
    """
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for option in declared:
        if option.name in given:
            try:
                values[option.name] = checkOptionValue(option, given[option.name])
                continue
            except ValueError as e:
                problems[option.name] = str(e)
        values[option.name] = checkOptionValue(option, option.default)
    return values, problems


def typeName(kind: type) -> str:
    """
    What a protocol option of type C{kind} takes, in words: C{text}.
    """
    return _TYPES[kind]


def describeDefault(default: object) -> str:
    """
    A protocol option's default as a TOML file writes it: C{"-"}, C{true},
    C{5}.
    """
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, str):
        shown = '"' + default.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return shown.replace("\n", "\\n")
    return repr(default)


def describeOption(option: ProtocolOption) -> str:
    """
    One line for C{--help}: C{greeting (text, default "..."): help}.
    """
    return (
        f"{option.name} ({typeName(option.type)},"
        f" default {describeDefault(option.default)}): {option.help}"
    )
