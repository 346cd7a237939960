"""
Tests for L{sockplug.config._keys}: how a listener table's limits and
socket options are added to its parsed endpoint.
"""

from __future__ import annotations

from textwrap import dedent

from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from sockplug.config._file import readConfig
from sockplug.config._keys import Problems, mergeEndpoint
from sockplug.discovery._registry import discover
from sockplug.endpoints import _tls
from sockplug.endpoints._datagram import UDPParser
from sockplug.endpoints._parser import EndpointParser
from sockplug.endpoints._tls import TLSServerEndpoint
from sockplug.testing import MemoryDatagramReactor


class MergeEndpointTests(SynchronousTestCase):
    """
    Tests for L{mergeEndpoint}.
    """

    def setUp(self) -> None:
        self.parser = EndpointParser(MemoryDatagramReactor(), [UDPParser()])
        self.problems = Problems()

    def test_keywords(self) -> None:
        """
        The table's keys come first, as an endpoint string writes their
        values, then the defaults that apply and are not given.
        """
        added = mergeEndpoint(
            self.problems,
            self.parser.parse("tcp:1:maxconn=2"),
            {"nodelay": True, "idle": 60},
            {"idle": 30, "maxconn": 5, "backlog": 7, "replyrate": 9},
        )
        self.assertEqual(
            (added, list(self.problems)),
            ({"nodelay": "yes", "idle": "60", "backlog": "7"}, []),
        )

    def test_givenTwice(self) -> None:
        """
        A key the endpoint string gives already is noted, and not added.
        """
        added = mergeEndpoint(
            self.problems, self.parser.parse("tcp:1:idle=5"), {"idle": 60}, {}
        )
        self.assertEqual(
            (added, list(self.problems)),
            ({}, ['"idle" is given twice: in "endpoint" and as a key']),
        )

    def test_wrongValue(self) -> None:
        """
        A wrong value is noted, and not added; the others are.
        """
        added = mergeEndpoint(
            self.problems,
            self.parser.parse("tcp:1"),
            {"idle": "soon", "maxconn": 3},
            {},
        )
        self.assertEqual(added, {"maxconn": "3"})
        self.assertEqual(len(self.problems), 1)


class FolderReadOnceTests(SynchronousTestCase):
    """
    A configuration file's C{tls:} listener reads its folder once.
    """

    def test_readOnce(self) -> None:
        """
        The keys of a C{tls:} listener's table and the defaults are added
        to its parsed endpoint: its folder is read once, when its string is
        parsed.
        """
        read: list[FilePath[str]] = []
        self.patch(_tls, "domainMapping", read.append)
        registry = discover(entryPoints=lambda group: [])
        parser = EndpointParser(MemoryDatagramReactor(), registry.datagramParsers)
        text = """
            [defaults]
            maxconn = 5
            [listeners.secure]
            endpoint = "tls:/pems:port=0"
            idle = 60
            """
        configuration = readConfig(
            dedent(text).encode("utf-8"), "test.toml", registry, parser
        )
        [listener] = configuration.listeners
        self.assertEqual(read, [FilePath("/pems")])
        self.assertIsInstance(listener.endpoint.endpoint, TLSServerEndpoint)
        self.assertEqual(
            (
                listener.endpoint.limits.idleTimeout,
                listener.endpoint.limits.maxConnections,
            ),
            (60.0, 5),
        )
        self.assertEqual(
            listener.endpoint.description, "tls:/pems:port=0:idle=60:maxconn=5"
        )
