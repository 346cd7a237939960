# -*- test-case-name: sockplug.config.test.test_config -*-
"""
The keys of a configuration file, checked one by one: the process's
settings, the C{[defaults]} table, and the keys of a listener's table
(the protocol's options, the limits and the socket options).

Limits and socket options are added to the listener's parsed endpoint as
keyword arguments (see L{sockplug.endpoints.EndpointParser.merge}), so
that they are checked by the same code as on the command line, with the
same messages.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from attrs import field, frozen

from sockplug.discovery import Registry
from sockplug.endpoints import ParsedEndpoint
from sockplug.errors import UnknownProtocolError
from sockplug.interfaces import IProtocolPlugin
from sockplug.logs import quoted
from sockplug.options import (
    LIMIT_HELP,
    OPTION_HELP,
    ProtocolOption,
    arguments,
    checkOptionValue,
    declaredOptions,
    describeValue,
    parseLimits,
    parseSocketOptions,
)

__all__ = [
    "SETTINGS",
    "SOCKET_OPTIONS",
    "Defaults",
    "Problems",
    "checkDefaults",
    "checkSetting",
    "knownProtocol",
    "listenerKeys",
    "mergeEndpoint",
]

# The process's settings: (lowest, highest, whole number?).
SETTINGS: Mapping[str, tuple[float, float, bool]] = {
    "max-connections": (1, 1_000_000, True),
    "shutdown-timeout": (0, 86400, False),
}

# The socket options a listener's table may give, by endpoint type (those
# of sockplug's own types; other types take theirs in the endpoint string).
_TCP = frozenset(
    {"backlog", *(k for k, (kinds, _) in OPTION_HELP.items() if "tcp" in kinds)}
)
SOCKET_OPTIONS: Mapping[str, frozenset[str]] = {
    "tcp": _TCP,
    "tcp6": _TCP,
    "unix": frozenset({"mode", "backlog", "lockfile", "stale", "rcvbuf", "sndbuf"}),
    "udp": frozenset({"reuseaddr", "reuseport", "rcvbuf", "sndbuf"}),
    "unixgram": frozenset({"mode", "stale", "rcvbuf", "sndbuf"}),
}
_ALL_SOCKET_OPTIONS = frozenset().union(*SOCKET_OPTIONS.values())
_LISTS = frozenset({"allow", "deny", "blockports"})


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
    low, high, whole = SETTINGS[key]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (whole and not isinstance(value, int))
    ):
        problems.add(f'"{key}" should be {"a whole number" if whole else "a number"}')
        return None
    if not low <= value <= high:
        problems.add(f'"{key}" is {value}; it should be from {low:.15g} to {high:.15g}')
        return None
    return value if whole else float(value)


def asText(key: str, value: object) -> str:
    """
    A limit or socket option's value from the file, as the endpoint string
    writes it.

    @raise ValueError: if the file gives a kind of value the option cannot
        take.
    """
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "mode" and not isinstance(value, str):
        raise ValueError('give "mode" as octal text, such as mode = "660"')
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list) and key in _LISTS:
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
    if key in LIMIT_HELP:
        kinds = LIMIT_HELP[key][0]
        if endpoint.kind.value not in kinds:
            return (
                f"applies to {'/'.join(sorted(kinds))} endpoints only, and"
                f" {endpoint.description} is a {endpoint.kind.value} endpoint"
            )
        if key in ("allow", "deny") and socketType in ("unix", "unixgram"):
            return "takes IP addresses; a UNIX socket's peers are let in by its mode"
        return None
    if key not in SOCKET_OPTIONS.get(socketType, ()):
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
        elif key in LIMIT_HELP or key in _ALL_SOCKET_OPTIONS:
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
            candidates = [*optionNames, "endpoint", "protocol", *LIMIT_HELP]
            candidates += SOCKET_OPTIONS.get(socketType, ())
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
            checkValue(key, text)  # each one, so that all are named
        except ValueError as e:
            problems.add(str(e))
            continue
        added[key] = text
    for key, value in defaults.items():
        if key not in present and key not in added and _applies(key, endpoint) is None:
            added[key] = asText(key, value)  # checked by checkDefaults
    return added


@frozen
class Defaults:
    """
    The C{[defaults]} table, checked.

    @ivar protocol: the protocol of a listener that names none.
    @ivar endpoint: limits and socket options, for each listener they
        apply to.
    @ivar protocols: each protocol's options, by protocol.
    """

    protocol: str = "echo"
    endpoint: Mapping[str, Any] = field(factory=dict)
    protocols: Mapping[str, Mapping[str, Any]] = field(factory=dict)


def checkDefaults(
    problems: Problems, defaults: Mapping[str, Any], registry: Registry
) -> Defaults:
    """
    Check the C{[defaults]} table.
    """
    within = problems.within("defaults")
    protocol = "echo"
    endpointDefaults: dict[str, Any] = {}
    protocolDefaults: dict[str, dict[str, Any]] = {}
    for key, value in defaults.items():
        if key == "protocol":
            if not isinstance(value, str):
                within.add('"protocol" should be text, the name of a protocol')
            elif knownProtocol(within, registry, value) is not None:
                protocol = value
        elif key in LIMIT_HELP or key in _ALL_SOCKET_OPTIONS:
            try:
                checkValue(key, asText(key, value))
            except ValueError as e:
                within.add(f"{quoted(key)}: {e}")
            else:
                endpointDefaults[key] = value
        elif key in registry.protocols:
            if not isinstance(value, dict):
                within.add(
                    f"{quoted(key)} should be a table of protocol {key}'s"
                    f" options: [defaults.{key}]"
                )
                continue
            protocolDefaults[key] = _protocolDefaults(
                problems.within(f"defaults.{key}"), registry, key, value
            )
        else:
            candidates = ["protocol", *LIMIT_HELP, *_ALL_SOCKET_OPTIONS]
            candidates += registry.protocols
            within.unknown(key, candidates)
    return Defaults(protocol, endpointDefaults, protocolDefaults)


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


def checkValue(key: str, text: str) -> None:
    """
    Check a limit or socket option on its own.

    @raise ValueError: saying what is wrong.
    """
    if key in LIMIT_HELP:
        parseLimits({key: text}, "")
    elif key == "backlog":
        arguments.positive(key, text)
    elif key == "mode":
        arguments.mode(text)
    elif key == "stale":
        arguments.stale(text)
    elif key == "lockfile":
        arguments.flag(key, text)
    else:
        kind = sorted(OPTION_HELP[key][0])[0]
        parseSocketOptions({key: text}, kind)


def _protocolDefaults(
    problems: Problems, registry: Registry, protocol: str, table: Mapping[str, Any]
) -> dict[str, Any]:
    declared = {o.name: o for o in declaredOptions(registry.get(protocol))}
    values = {}
    for key, value in table.items():
        option = declared.get(key)
        if option is None:
            problems.unknown(key, declared, "option", f" for protocol {protocol}")
            continue
        try:
            checkOptionValue(option, value)
        except ValueError as e:
            problems.add(f'option "{key}": {e}')
        else:
            values[key] = value
    return values
