"""
The configuration file (C{--config}): reading the TOML file, checking
its keys, and building the listeners it names.
"""

from sockplug.config._file import Configuration, loadConfig, readConfig

__all__ = [
    "Configuration",
    "loadConfig",
    "readConfig",
]
