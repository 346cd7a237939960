"""
Tests for L{sockplug.endpoints._syntax}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from sockplug.compat import parseEndpointString as twistedParse
from sockplug.endpoints._syntax import (
    ListenerSpec,
    parseArguments,
    parseListenerSpec,
    prefixOf,
    unparseArguments,
)
from sockplug.errors import EndpointSyntaxError


class ParseArgumentsTests(SynchronousTestCase):
    """
    Tests for L{parseArguments}.
    """

    def test_positionalAndKeyword(self) -> None:
        """
        Colons separate arguments, and C{key=value} ones become keywords.
        """
        self.assertEqual(
            parseArguments("udp:53:interface=127.0.0.1"),
            (["udp", "53"], {"interface": "127.0.0.1"}),
        )

    def test_escapedColons(self) -> None:
        """
        A backslash makes the next character literal, so IPv6 addresses can
        be written with escaped colons.
        """
        self.assertEqual(
            parseArguments(r"udp:53:interface=\:\:1"),
            (["udp", "53"], {"interface": "::1"}),
        )

    def test_equalsInValue(self) -> None:
        """
        Only the first C{=} of an argument separates key from value.
        """
        self.assertEqual(parseArguments("x:a=b=c"), (["x"], {"a": "b=c"}))

    def test_escapedEquals(self) -> None:
        """
        An escaped C{=} does not make an argument a keyword.
        """
        self.assertEqual(
            parseArguments(r"unixgram:/tmp/a\=b"), (["unixgram", "/tmp/a=b"], {})
        )

    def test_emptyArguments(self) -> None:
        """
        Empty arguments are kept, as Twisted keeps them.
        """
        self.assertEqual(parseArguments("a::b:"), (["a", "", "b", ""], {}))

    def test_loneBackslash(self) -> None:
        """
        A string that ends inside an escape is an error naming the string.
        """
        e = self.assertRaises(EndpointSyntaxError, parseArguments, "tcp:80\\")
        self.assertEqual(e.description, "tcp:80\\")
        self.assertIn("backslash", e.reason)

    def test_sameAsTwisted(self) -> None:
        """
        Every string splits exactly as Twisted's own endpoint parser splits
        it.
        """
        samples = [
            "tcp:80",
            "tcp:port=80:interface=127.0.0.1",
            r"tcp6:8888:interface=\:\:1",
            r"unix:/tmp/a\:b:mode=660",
            "unixgram:/tmp/x@y",
            "a:b=c=d:e",
            r"x:\\:y",
            "haproxy:tcp:8888",
            "a::b:",
            "",
            "k=v",
            r"a:b\=c=d",
        ]
        for sample in samples:
            self.assertEqual(parseArguments(sample), twistedParse(sample), sample)


class PrefixOfTests(SynchronousTestCase):
    """
    Tests for L{prefixOf}.
    """

    def test_prefix(self) -> None:
        """
        The prefix is the first argument, lower-cased as Twisted matches it.
        """
        self.assertEqual(prefixOf("UDP:53"), "udp")

    def test_escapedColonInPrefix(self) -> None:
        """
        An escaped colon belongs to the prefix.
        """
        self.assertEqual(prefixOf(r"a\:b:1"), "a:b")


class PrefixOfKeywordFirstTests(SynchronousTestCase):
    """
    L{prefixOf} on a string with no endpoint type.
    """

    def test_keywordFirst(self) -> None:
        """
        A string that starts with C{key=value} has no endpoint type: an
        error naming it.
        """
        for description in ("x=1", "=", "a=b"):
            e = self.assertRaises(EndpointSyntaxError, prefixOf, description)
            self.assertEqual(e.description, description)
            self.assertIn("no endpoint type", e.reason)


class ParseListenerSpecTests(SynchronousTestCase):
    """
    Tests for L{parseListenerSpec}.
    """

    def test_defaultProtocol(self) -> None:
        """
        Without C{NAME@}, the default protocol is served.
        """
        self.assertEqual(
            parseListenerSpec("tcp:8888", "echo"), ListenerSpec("echo", "tcp:8888")
        )

    def test_namedProtocol(self) -> None:
        """
        C{NAME@ENDPOINT} picks the protocol, and leaves the endpoint string
        whole.
        """
        self.assertEqual(
            parseListenerSpec(r"hello@tcp6:8888:interface=\:\:1", "echo"),
            ListenerSpec("hello", r"tcp6:8888:interface=\:\:1"),
        )

    def test_atInPath(self) -> None:
        """
        An C{@} after the first colon is part of the endpoint, not a prefix.
        """
        self.assertEqual(
            parseListenerSpec("unix:/tmp/me@host.sock", "echo"),
            ListenerSpec("echo", "unix:/tmp/me@host.sock"),
        )

    def test_atInPathWithProtocol(self) -> None:
        """
        With a prefix, only the first C{@} before the first colon splits.
        """
        self.assertEqual(
            parseListenerSpec("line-print@unixgram:/tmp/a@b", "echo"),
            ListenerSpec("line-print", "unixgram:/tmp/a@b"),
        )

    def test_noArguments(self) -> None:
        """
        An endpoint type without arguments (C{stdio}) is kept as it is.
        """
        self.assertEqual(
            parseListenerSpec("hello@stdio", "echo"), ListenerSpec("hello", "stdio")
        )

    def test_emptyName(self) -> None:
        """
        An empty name before C{@} is an error that says how to write one.
        """
        e = self.assertRaises(EndpointSyntaxError, parseListenerSpec, "@tcp:1", "echo")
        self.assertIn("NAME@ENDPOINT", e.reason)

    def test_emptyType(self) -> None:
        """
        An empty endpoint type is an error naming the value.
        """
        e = self.assertRaises(EndpointSyntaxError, parseListenerSpec, "echo@:1", "echo")
        self.assertEqual(e.description, "echo@:1")
        self.assertIn("no endpoint type", e.reason)

    def test_str(self) -> None:
        """
        A spec shows as C{NAME@ENDPOINT}.
        """
        self.assertEqual(str(ListenerSpec("echo", "udp:1")), "echo@udp:1")


class UnparseArgumentsTests(SynchronousTestCase):
    """
    L{unparseArguments} writes back what L{parseArguments} took apart.
    """

    def test_roundTrip(self) -> None:
        """
        Escaped colons, equals signs and backslashes survive the round trip.
        """
        for description in (
            "tcp:8888:interface=\\:\\:1",
            "unix:/a\\=b\\:c:mode=660",
            "ssl:8443:privateKey=a\\\\b.pem:x=y=z",
        ):
            args, kwargs = parseArguments(description)
            self.assertEqual(
                parseArguments(unparseArguments(args, kwargs)), (args, kwargs)
            )

    def test_twistedReadsIt(self) -> None:
        """
        Twisted's own parser reads the written string the same way.
        """
        args, kwargs = ["tcp", "8888"], {"interface": "::1", "k": "a=b\\c"}
        self.assertEqual(twistedParse(unparseArguments(args, kwargs)), (args, kwargs))

    def test_escapesPositionalEquals(self) -> None:
        """
        An C{=} in a positional argument is escaped, so it is not read as a
        key.
        """
        self.assertEqual(unparseArguments(["unix", "/a=b"], {}), "unix:/a\\=b")
