# -*- test-case-name: sockplug.config.test.test_check -*-
"""
Checking a configuration file without serving it: C{sockplug check-config
FILE}, and C{twistd sockplug --config FILE --check}.
"""

from __future__ import annotations

import sys
from typing import Any

from sockplug.config._file import Configuration, readFile
from sockplug.config._settings import Read, settingsOf
from sockplug.discovery import discover
from sockplug.errors import CommandLineError
from sockplug.options import CommandLine

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


def checkConfig(path: str, reactor: Any, read: Read = readFile) -> int:
    """
    C{sockplug check-config FILE}: check a configuration file by the very
    check C{twistd sockplug --config FILE} starts with (L{settingsOf}), so
    that whatever one refuses the other refuses, in the same words; print
    that it is right, or every problem in it (on standard error).

    @param read: reads the file.
    @return: the exit status: 0 if right, 1 if not.
    """
    commandLine = CommandLine(config=path, check=True)
    try:
        settings = settingsOf(commandLine, discover(), reactor, read)
    except CommandLineError as e:
        print(str(e), file=sys.stderr)
        return 1
    assert settings.configuration is not None
    # The absolute path, as the server's --check names the file.
    assert settings.commandLine.config is not None
    return describeConfiguration(settings.commandLine.config, settings.configuration)
