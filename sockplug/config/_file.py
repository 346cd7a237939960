# -*- test-case-name: sockplug.config.test.test_file -*-
"""
The configuration file (C{--config sockplug.toml}): many listeners, each
with its protocol's options, its socket options and limits, in one file.

The file is TOML, read with the standard library's L{tomllib}::

    max-connections = 10000        # the process's settings
    shutdown-timeout = 5

    [defaults]                     # for every listener, unless it says
    protocol = "echo"              # otherwise
    idle = 300
    [defaults.hello]               # a protocol's options, for each of its
    greeting = "Hi {peer}!"        # listeners

    [listeners.greeter]            # one table per listener, by name
    endpoint = "tcp:8000:interface=127.0.0.1"
    protocol = "hello"
    greeting = "Welcome, {peer}."  # the protocol's own options
    maxpersource = 16              # limits and socket options

Every problem found is reported, each with its table and key, before
anything starts (L{ConfigError}); L{sockplug.config._keys} checks the keys,
L{sockplug.config._defaults} the C{[defaults]} table.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from typing import Any

from attrs import frozen

from sockplug.config._defaults import Defaults, checkDefaults
from sockplug.config._keys import (
    SETTINGS,
    Problems,
    checkSetting,
    knownProtocol,
    listenerKeys,
    mergeEndpoint,
)
from sockplug.discovery import Registry
from sockplug.endpoints import Arguments, EndpointParser, ListenerSpec
from sockplug.errors import ConfigError, EndpointSyntaxError
from sockplug.logs import quoted
from sockplug.options import declaredOptions, resolveOptions
from sockplug.server import Listener

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["Configuration", "loadConfig", "readConfig", "readFile"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")


@frozen
class Configuration:
    """
    What a configuration file (and the command line) asks for.

    @ivar listeners: every listener, in the file's order.
    @ivar maxConnections: C{max-connections}, or L{None} if not given.
    @ivar shutdownTimeout: C{shutdown-timeout}, or L{None} if not given.
    """

    listeners: tuple[Listener, ...] = ()
    maxConnections: int | None = None
    shutdownTimeout: float | None = None


def readFile(path: str) -> bytes:
    """
    The bytes of a configuration file.

    @raise ConfigError: saying why it cannot be read.
    """
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ConfigError([f"{path}: cannot read it: {e.strerror or e}"]) from e


def loadConfig(path: str, registry: Registry, parser: EndpointParser) -> Configuration:
    """
    Read and check a configuration file.

    @raise ConfigError: naming every problem, each line starting with
        C{path}.
    """
    return readConfig(readFile(path), path, registry, parser)


def _parsed(data: bytes, source: str) -> dict[str, Any]:
    """
    The TOML document C{data} holds.

    @raise ConfigError: in one line, if it is not one.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        raise ConfigError(
            [
                f"{source}: it starts with a byte order mark (U+FEFF), which the"
                " TOML reader refuses: save it as UTF-8 without one"
            ]
        )
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(
            [f"{source}: not UTF-8 text (byte {e.start}); TOML files are UTF-8"]
        ) from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([f"{source}: not valid TOML: {e}"]) from e
    except RecursionError:
        # (Python's reader recurses once per level of nesting.)
        raise ConfigError(
            [f"{source}: not read: its arrays or inline tables are nested too deeply"]
        ) from None


def readConfig(
    data: bytes, source: str, registry: Registry, parser: EndpointParser
) -> Configuration:
    """
    Check the text of a configuration file.

    @param source: what the problems name (the file's path).
    @raise ConfigError: naming every problem.
    """
    document = _parsed(data, source)
    problems = Problems()
    settings: dict[str, Any] = {}
    for key, value in document.items():
        if key in SETTINGS:
            settings[key] = checkSetting(problems, key, value)
        elif key not in ("defaults", "listeners"):
            problems.unknown(key, [*SETTINGS, "defaults", "listeners"])
    defaults = document.get("defaults", {})
    if not isinstance(defaults, dict):
        problems.add('"defaults" should be a table: [defaults]')
        defaults = {}
    checked = checkDefaults(problems, defaults, registry)
    tables = document.get("listeners", {})
    if not isinstance(tables, dict):
        problems.add('"listeners" should be tables: [listeners.NAME]')
        tables = {}
    listeners = []
    for name, table in tables.items():
        where = f"listener {quoted(name)}"
        if not _NAME.match(name):
            problems.add(
                f"{where}: a name is 1 to 64 letters, digits, '.', '-' and"
                " '_', starting with a letter or digit"
            )
            continue
        if not isinstance(table, dict):
            problems.add(f"{where} should be a table: [listeners.{name}]")
            continue
        listener = _listener(
            problems.within(where), name, table, registry, parser, defaults=checked
        )
        if listener is not None:
            listeners.append(listener)
    if problems:
        raise ConfigError([f"{source}: {problem}" for problem in problems])
    return Configuration(
        listeners=tuple(listeners),
        maxConnections=settings.get("max-connections"),
        shutdownTimeout=settings.get("shutdown-timeout"),
    )


def _listener(
    problems: Problems,
    name: str,
    table: Mapping[str, Any],
    registry: Registry,
    parser: EndpointParser,
    *,
    defaults: Defaults,
) -> Listener | None:
    """
    Check one listener's table.

    @return: the listener, or L{None} if it has problems (added to
        C{problems}).
    """
    endpointString = table.get("endpoint")
    protocolName = table.get("protocol", defaults.protocol)
    count = len(problems)
    if not isinstance(endpointString, str):
        problems.add(
            'needs "endpoint", an endpoint string such as "tcp:8888"'
            if endpointString is None
            else '"endpoint" should be text, such as "tcp:8888"'
        )
        return None
    if not isinstance(protocolName, str):
        problems.add('"protocol" should be text, the name of a protocol')
        return None
    try:
        arguments = Arguments.parse(endpointString)
        if "@" in arguments.type:
            raise EndpointSyntaxError(
                endpointString,
                'give the protocol as protocol = "NAME", not NAME@ in the endpoint',
            )
        bare = parser.build(arguments, endpointString)
    except EndpointSyntaxError as e:
        problems.add(f"endpoint {quoted(endpointString)}: {e.reason}")
        return None
    plugin = knownProtocol(problems, registry, protocolName)
    if plugin is None:
        return None
    if bare.kind not in plugin.kinds:
        problems.add(
            f"protocol {plugin.name} does not serve {bare.kind.value}"
            f" endpoints such as {quoted(endpointString)}"
        )
        return None
    declared = declaredOptions(plugin)
    endpointKeys, optionKeys = listenerKeys(
        problems, table, plugin.name, declared, bare
    )
    given = dict(defaults.protocols.get(plugin.name, {}))
    given.update(optionKeys)
    options, optionProblems = resolveOptions(declared, given)
    for key, problem in optionProblems.items():
        problems.add(f'option "{key}" of protocol {plugin.name}: {problem}')
    keywords = mergeEndpoint(problems, bare, endpointKeys, defaults.endpoint)
    if len(problems) != count:
        return None
    try:
        endpoint = parser.merge(bare, keywords)
    except EndpointSyntaxError as e:
        problems.add(e.reason)
        return None
    return Listener(
        spec=ListenerSpec(protocol=plugin.name, endpoint=endpointString),
        endpoint=endpoint,
        plugin=plugin,
        name=name,
        options=options,
    )
