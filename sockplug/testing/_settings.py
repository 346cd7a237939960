# -*- test-case-name: sockplug.config.test.test_settings,sockplug.test.test_tap -*-
"""
What the tests of the command line and its settings share (not API: see
L{sockplug.testing}): a registry with a protocol that serves datagrams
only, and configuration files.
"""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from sockplug.discovery import Registry, discover
from sockplug.interfaces import IListenerInfo
from sockplug.plugin import ProtocolPlugin

__all__ = ["TWO_LISTENERS", "registry", "writeConfig"]

# A configuration file of two listeners (a, hello on TCP; b, echo on UDP)
# and both of the process's settings.
TWO_LISTENERS = """\
max-connections = 77
shutdown-timeout = 9

[listeners.a]
endpoint = "tcp:8001"
protocol = "hello"
greeting = "Hi {peer}"

[listeners.b]
endpoint = "udp:8002"
"""


def _onlyDatagram(listener: IListenerInfo) -> object:
    raise AssertionError("not built at parse time")


def writeConfig(case: SynchronousTestCase, text: str) -> str:
    """
    Write a configuration file for a test.

    @return: its path.
    """
    path = str(os.path.abspath(case.mktemp()))
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def registry() -> Registry:
    """
    The built-in protocols, and C{dgram-only}, which serves datagram
    endpoints alone.
    """
    builtins = discover(entryPoints=lambda group: [])
    datagramOnly = ProtocolPlugin(
        name="dgram-only",
        description="d",
        datagram=_onlyDatagram,  # type: ignore[arg-type]
    )
    return Registry(
        {**builtins.protocols, "dgram-only": datagramOnly},
        {**builtins.sources, "dgram-only": "tests"},
        datagramParsers=builtins.datagramParsers,
    )
