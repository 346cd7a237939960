# -*- test-case-name: sockplug.config.test.test_defaults -*-
"""
The C{[defaults]} table of a configuration file: the protocol of a
listener that names none, limits and socket options for each listener
they apply to, and each protocol's options.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import field, frozen

from sockplug.config._keys import (
    ENDPOINT_KEYS,
    Problems,
    checkValue,
    knownProtocol,
)
from sockplug.discovery import Registry
from sockplug.logs import quoted
from sockplug.options import PROCESS, checkOptionValue, declaredOptions

__all__ = ["Defaults", "checkDefaults"]


@frozen
class Defaults:
    """
    The C{[defaults]} table, checked.

    @ivar protocol: the protocol of a listener that names none.
    @ivar endpoint: limits and socket options, for each listener they
        apply to.
    @ivar protocols: each protocol's options, by protocol.
    """

    protocol: str = PROCESS["protocol"].default
    endpoint: Mapping[str, Any] = field(factory=dict)
    protocols: Mapping[str, Mapping[str, Any]] = field(factory=dict)


def checkDefaults(
    problems: Problems, defaults: Mapping[str, Any], registry: Registry
) -> Defaults:
    """
    Check the C{[defaults]} table.
    """
    within = problems.within("defaults")
    protocol: str = PROCESS["protocol"].default
    endpointDefaults: dict[str, Any] = {}
    protocolDefaults: dict[str, dict[str, Any]] = {}
    for key, value in defaults.items():
        if key == "protocol":
            if not isinstance(value, str):
                within.add('"protocol" should be text, the name of a protocol')
            elif knownProtocol(within, registry, value) is not None:
                protocol = value
        elif key in ENDPOINT_KEYS:
            try:
                checkValue(key, value)
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
            candidates = ["protocol", *ENDPOINT_KEYS]
            candidates += registry.protocols
            within.unknown(key, candidates)
    return Defaults(protocol, endpointDefaults, protocolDefaults)


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
