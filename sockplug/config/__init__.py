"""
The configuration file (C{--config}): reading the TOML file, checking
its keys, and building the listeners it names; the command line and the
file resolved into the settings the service is built from; what
C{--help} lists; checking a file without serving it.
"""

from sockplug.config._catalogue import catalogue, describeKinds, describeProtocols
from sockplug.config._check import checkConfig, describeConfiguration
from sockplug.config._file import Configuration, loadConfig, readConfig, readFile
from sockplug.config._settings import (
    Settings,
    asCommandLineError,
    reloadFile,
    resolveSettings,
    settingsOf,
)

__all__ = [
    "Configuration",
    "Settings",
    "asCommandLineError",
    "catalogue",
    "checkConfig",
    "describeConfiguration",
    "describeKinds",
    "describeProtocols",
    "loadConfig",
    "readConfig",
    "readFile",
    "reloadFile",
    "resolveSettings",
    "settingsOf",
]
