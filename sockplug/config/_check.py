# -*- test-case-name: sockplug.config.test.test_check -*-
"""
Checking a configuration file without serving it: C{sockplug check-config
FILE}, and C{twistd sockplug --config FILE --check}.
"""

from __future__ import annotations

import sys
from typing import Any

from sockplug.config._file import Configuration, loadConfig
from sockplug.discovery import discover
from sockplug.endpoints import EndpointParser
from sockplug.errors import ConfigError

__all__ = ["checkConfig", "describeConfiguration"]


def describeConfiguration(path: str, configuration: Configuration) -> int:
    """
    Say that a configuration file is right, and what it holds.

    @return: 0, the exit status.
    """
    names = [listener.displayName for listener in configuration.listeners]
    count = f"{len(names)} listener{'' if len(names) == 1 else 's'}"
    print(f"{path}: ok, {count}{': ' if names else ''}{', '.join(names)}")
    return 0


def checkConfig(path: str, reactor: Any) -> int:
    """
    C{sockplug check-config FILE}: check a configuration file; print that
    it is right, or every problem in it (on standard error).

    @return: the exit status: 0 if right, 1 if not.
    """
    registry = discover()
    parser = EndpointParser(reactor, registry.datagramParsers)
    try:
        configuration = loadConfig(path, registry, parser)
    except ConfigError as e:
        print("\n".join(e.problems), file=sys.stderr)
        return 1
    return describeConfiguration(path, configuration)
