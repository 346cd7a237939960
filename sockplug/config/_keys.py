# -*- test-case-name: sockplug.config.test.test_keys -*-
"""
The keys of a configuration file, checked one by one: the process's
settings and the keys of a listener's table (the protocol's options, the
limits and the socket options, as their tables in L{sockplug.options}
declare them); the C{[defaults]} table is L{sockplug.config._defaults}'s.

Limits and socket options are added to the listener's parsed endpoint as
keyword arguments (see L{sockplug.endpoints.EndpointParser.merge}), so
that they are checked by the same code as on the command line, with the
same messages.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from attrs import evolve

from sockplug.discovery import Registry
from sockplug.endpoints import ParsedEndpoint
from sockplug.errors import UnknownProtocolError
from sockplug.interfaces import IProtocolPlugin
from sockplug.logs import quoted
from sockplug.options import (
    ENDPOINT_ARGUMENTS,
    LIMITS,
    PROCESS,
    SOCKET_OPTIONS,
    Flag,
    ProtocolOption,
    Setting,
    describeValue,
    endpointKeys,
)

__all__ = [
    "ENDPOINT_KEYS",
    "SETTINGS",
    "Problems",
    "asText",
    "checkSetting",
    "checkValue",
    "fileValue",
    "inFile",
    "knownProtocol",
    "listenerKeys",
    "mergeEndpoint",
]

# The process's settings the file may give, by key.
SETTINGS: Mapping[str, Setting] = {s.key: s for s in PROCESS if s.key is not None}

# The limits, socket options and endpoint arguments a listener's table or
# [defaults] may give, by key (which of them apply depends on the endpoint:
# see endpointKeys).
ENDPOINT_KEYS: Mapping[str, Setting] = {
    s.name: s for table in (LIMITS, SOCKET_OPTIONS, ENDPOINT_ARGUMENTS) for s in table
}


def _socketKeys(socketType: str) -> list[str]:
    """
    The socket options and arguments a listener of C{socketType} (the type
    of its innermost endpoint) may give as keys.
    """
    return [setting.name for setting in endpointKeys(socketType)]


class Problems:
    """
    The problems found in a file, each one line naming where it is.
    """

    def __init__(self, lines: list[str] | None = None, prefix: str = "") -> None:
        self._lines = [] if lines is None else lines
        self._prefix = prefix

    def add(self, text: str) -> None:
        """
        Note a problem, after where it is.
        """
        self._lines.append(self._prefix + text)

    def within(self, where: str) -> Problems:
        """
        Problems found within C{where} (C{listener "a"}), noted here.
        """
        return Problems(self._lines, f"{self._prefix}{where}: ")

    def unknown(
        self, key: str, candidates: Iterable[str], what: str = "key", after: str = ""
    ) -> None:
        """
        Note an unknown key, with the nearest known one if there is one:
        C{unknown option "greting" for protocol hello; did you mean
        "greeting"?}
        """
        close = difflib.get_close_matches(key, list(candidates), 1)
        hint = f'; did you mean "{close[0]}"?' if close else ""
        self.add(f"unknown {what} {quoted(key)}{after}{hint}")

    def __len__(self) -> int:
        return len(self._lines)

    def __iter__(self) -> Iterator[str]:
        return iter(self._lines)


def checkSetting(problems: Problems, key: str, value: object) -> float | int | None:
    """
    Check one of the process's settings.
    """
    bounds = SETTINGS[key].bounds
    if not bounds.admits(value):
        problems.add(f'"{key}" should be {bounds.kind}')
        return None
    assert isinstance(value, int | float)
    if not bounds.holds(value):
        problems.add(f'"{key}" is {value}; it should be {bounds.range}')
        return None
    return value if bounds.whole else float(value)


def fileValue(value: object) -> str:
    """
    A value from the file written back as the file writes it, for a
    message: C{true}, C{60}, C{"abc"}, C{["::1", 5]}.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return quoted(value)
    if isinstance(value, list):
        return "[" + ", ".join(fileValue(item) for item in value) + "]"
    return describeValue(value)


def inFile(key: str, value: object) -> Setting:
    """
    The limit, socket option or endpoint argument C{key}, its messages
    naming C{value} as the file gives it (C{idle = true}), not as the
    endpoint string would write it.
    """
    written = fileValue(value)
    return evolve(ENDPOINT_KEYS[key], spelling=lambda name, _: f"{name} = {written}")


def asText(key: str, value: object) -> str:
    """
    A limit or socket option's value from the file, as the endpoint string
    writes it.

    @raise ValueError: if the file gives a kind of value the option cannot
        take, naming it as the file gives it.
    """
    setting = ENDPOINT_KEYS[key]
    if isinstance(setting.value, Flag):
        # true or false; or text, as an endpoint string writes it; or 1 or
        # 0, which lockfile's help writes
        if isinstance(value, bool):
            return setting.value.show(value)
        if isinstance(value, str):
            return value
        if isinstance(value, int) and value in (0, 1):
            return str(value)
        raise ValueError(f"{key} = {fileValue(value)} is not true or false")
    if setting.value.written and not isinstance(value, str):
        raise ValueError(
            f'give "{key}" as {setting.value.written}, such as'
            f' {key} = "{setting.shownDefault}"'
        )
    if isinstance(value, bool) and setting.value.listed:
        raise ValueError(
            f"{key} = {fileValue(value)} is not a list of {setting.value.describe()}"
        )
    if isinstance(value, bool):
        # Its own message names it: idle = true is not a number...
        return fileValue(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list) and setting.value.listed:
        if all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
            return ",".join(str(v) for v in value)
        raise ValueError(f'"{key}" should be a list of text or numbers')
    raise ValueError(
        f'"{key}" is {describeValue(value)}; it should be text or a number'
    )


def _applies(key: str, endpoint: ParsedEndpoint) -> str | None:
    """
    Why a limit or socket option does not apply to an endpoint, or L{None}
    if it does.
    """
    socketType = endpoint.socketType
    if key in LIMITS:
        kinds = LIMITS[key].kinds
        if endpoint.kind.value not in kinds:
            return (
                f"applies to {'/'.join(sorted(kinds))} endpoints only, and"
                f" {quoted(endpoint.description)} is a {endpoint.kind.value} endpoint"
            )
        if key in ("allow", "deny") and socketType in ("unix", "unixgram"):
            return "takes IP addresses; a UNIX socket's peers are let in by its mode"
        return None
    if key not in _socketKeys(socketType):
        return f"does not apply to {socketType} endpoints"
    return None


def listenerKeys(
    problems: Problems,
    table: Mapping[str, Any],
    protocol: str,
    declared: Sequence[ProtocolOption],
    endpoint: ParsedEndpoint,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """
    Sort the keys of a listener's table.

    @return: the limits and socket options; the protocol's options.
    """
    socketType = endpoint.socketType
    optionNames = [option.name for option in declared]
    endpointKeys: dict[str, Any] = {}
    optionKeys: dict[str, Any] = {}
    for key, value in table.items():
        if key in ("endpoint", "protocol"):
            continue
        if key in optionNames:
            optionKeys[key] = value
        elif key in ENDPOINT_KEYS:
            why = _applies(key, endpoint)
            if why is not None:
                problems.add(f"{quoted(key)} {why}")
            else:
                endpointKeys[key] = value
        elif key == protocol and isinstance(value, dict):
            problems.add(
                f"the options of protocol {protocol} go straight into the"
                f" listener's table ({', '.join(optionNames) or 'it has none'})"
            )
        else:
            candidates = [*optionNames, "endpoint", "protocol", *LIMITS.names()]
            candidates += _socketKeys(socketType)
            problems.unknown(key, candidates, "option", f" for protocol {protocol}")
    return endpointKeys, optionKeys


def mergeEndpoint(
    problems: Problems,
    endpoint: ParsedEndpoint,
    given: Mapping[str, Any],
    defaults: Mapping[str, Any],
) -> dict[str, str]:
    """
    The keyword arguments that the limits and socket options of the
    listener's table, and the defaults that apply to it, add to its parsed
    endpoint, each value as an endpoint string writes it; a wrong one is
    noted and left out.
    """
    present = endpoint.arguments.kwargs
    added: dict[str, str] = {}
    for key, value in given.items():
        if key in present:
            problems.add(f'{quoted(key)} is given twice: in "endpoint" and as a key')
            continue
        try:
            text = asText(key, value)
            checkValue(key, value)  # each one, so that all are named
        except ValueError as e:
            problems.add(str(e))
            continue
        added[key] = text
    for key, value in defaults.items():
        if key not in present and key not in added and _applies(key, endpoint) is None:
            added[key] = asText(key, value)  # checked by checkDefaults
    return added


def knownProtocol(
    problems: Problems, registry: Registry, name: str
) -> IProtocolPlugin | None:
    """
    The protocol called C{name}, or L{None} if there is none (noted, with
    the nearest name if there is one).
    """
    try:
        return registry.get(name)
    except UnknownProtocolError as e:
        close = difflib.get_close_matches(name, list(registry.protocols), 1)
        hint = f'; did you mean "{close[0]}"?' if close else ""
        problems.add(f'"protocol": {e}{hint}')
        return None


def checkValue(key: str, value: object) -> None:
    """
    Check a limit or socket option from the file on its own.

    @raise ValueError: saying what is wrong, naming the value as the file
        gives it.
    """
    inFile(key, value).parse(asText(key, value))
