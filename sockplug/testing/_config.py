# -*- test-case-name: sockplug.config.test,sockplug.config.test.test_settings,sockplug.test.test_tap -*-  # noqa: E501
"""
Configuration files read in memory, for the tests of sockplug.config (not
API: see L{sockplug.testing}).

What the tests of the command line and its settings share (not API: see
L{sockplug.testing}): a registry with a protocol that serves datagrams
only, and configuration files.
"""

from __future__ import annotations

import os
from textwrap import dedent

from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from sockplug.config._file import Configuration, readConfig
from sockplug.discovery import Registry, discover
from sockplug.endpoints._parser import EndpointParser
from sockplug.errors import ConfigError
from sockplug.interfaces import IListenerInfo
from sockplug.plugin import ProtocolPlugin
from sockplug.server._listener import Listener

__all__ = [
    "SOURCE",
    "TWO_LISTENERS",
    "ConfigTestCase",
    "registry",
    "writeConfig",
]


SOURCE = "test.toml"


def _streamOnly(listener: IListenerInfo) -> Factory:
    return Factory.forProtocol(Protocol)


class ConfigTestCase(SynchronousTestCase):
    """
    Reads configuration files, in memory, with the built-in protocols and
    C{stream-only}, a protocol that serves stream endpoints alone.
    """

    def setUp(self) -> None:
        builtins = discover(entryPoints=lambda group: [])
        streamOnly = ProtocolPlugin(
            name="stream-only", description="d", stream=_streamOnly
        )
        self.registry = Registry(
            {**builtins.protocols, "stream-only": streamOnly},
            {**builtins.sources, "stream-only": "tests"},
            datagramParsers=builtins.datagramParsers,
        )
        self.parser = EndpointParser(
            MemoryReactorClock(), self.registry.datagramParsers
        )

    def read(self, text: str) -> Configuration:
        """
        Read C{text}, a configuration file (indented as the test is).
        """
        return readConfig(
            dedent(text).encode("utf-8"), SOURCE, self.registry, self.parser
        )

    def listener(self, text: str) -> Listener:
        """
        The one listener of C{text}.
        """
        [listener] = self.read(text).listeners
        return listener

    def problems(self, text: str) -> list[str]:
        """
        The problems of C{text}, each checked to start with the source, and
        given without it.
        """
        e = self.assertRaises(ConfigError, self.read, text)  # type: ignore[no-untyped-call]
        self.assertIsInstance(e, ValueError)  # type: ignore[no-untyped-call]
        for problem in e.problems:
            self.assertTrue(  # type: ignore[no-untyped-call]
                problem.startswith(f"{SOURCE}: "), problem
            )
        return [problem[len(SOURCE) + 2 :] for problem in e.problems]

    def problem(self, text: str) -> str:
        """
        The one problem of C{text}, without the source.
        """
        problems = self.problems(text)
        self.assertEqual(len(problems), 1, problems)  # type: ignore[no-untyped-call]
        return problems[0]


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
