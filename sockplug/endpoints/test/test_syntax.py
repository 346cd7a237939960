"""
Tests for L{sockplug.endpoints._syntax}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from sockplug.compat import parseEndpointString as twistedParse
from sockplug.endpoints._syntax import (
    Arguments,
    ListenerSpec,
    colonHint,
    cutValue,
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


class ArgumentsTests(SynchronousTestCase):
    """
    Tests for L{Arguments}.
    """

    def test_parse(self) -> None:
        """
        The type, the positional arguments after it and the keywords are
        taken apart once, unescaped.
        """
        self.assertEqual(
            Arguments.parse(r"UDP:53:interface=\:\:1:x"),
            Arguments("UDP", ("53", "x"), (("interface", "::1"),)),
        )

    def test_parseNoType(self) -> None:
        """
        A string that starts with C{key=value} has no type, and says so.
        """
        e = self.assertRaises(EndpointSyntaxError, Arguments.parse, "x=1:y=2")
        self.assertEqual(
            (e.description, e.reason),
            ("x=1:y=2", "it has no endpoint type; write TYPE:ARGS, e.g. tcp:8888"),
        )

    def test_parseLoneBackslash(self) -> None:
        """
        A string ending inside an escape is refused, as by L{parseArguments}.
        """
        self.assertRaises(EndpointSyntaxError, Arguments.parse, "tcp:80\\")

    def test_prefix(self) -> None:
        """
        The prefix is the type lower-cased; the type stays as written.
        """
        arguments = Arguments.parse("TCP:80")
        self.assertEqual((arguments.type, arguments.prefix), ("TCP", "tcp"))

    def test_kwargsAndValues(self) -> None:
        """
        The keywords read as a dictionary; the values are the positional
        arguments' and then the keywords', without the type.
        """
        arguments = Arguments.parse("ssl:443:privateKey=k.pem:certKey=c.pem")
        self.assertEqual(
            (arguments.kwargs, arguments.values),
            (
                {"privateKey": "k.pem", "certKey": "c.pem"},
                ("443", "k.pem", "c.pem"),
            ),
        )

    def test_text(self) -> None:
        """
        The text of parsed arguments is the string, escaped again.
        """
        for description in ("tcp6:8888:interface=\\:\\:1", "unix:/a\\=b:mode=660"):
            self.assertEqual(Arguments.parse(description).text, description)

    def test_canonical(self) -> None:
        """
        The canonical text is the same for strings that differ only in the
        type's case and the keywords' order.
        """
        self.assertEqual(
            Arguments.parse("SYSTEMD:index=0:domain=INET").canonical,
            Arguments.parse("systemd:domain=INET:index=0").canonical,
        )
        self.assertEqual(Arguments.parse("X:b=1:a=2").canonical, "x:a=2:b=1")

    def test_withKeywords(self) -> None:
        """
        Keywords are added after those given, in order.
        """
        arguments = Arguments.parse("tcp:80:interface=127.0.0.1")
        self.assertEqual(
            arguments.withKeywords({"idle": "60", "nodelay": "yes"}).text,
            "tcp:80:interface=127.0.0.1:idle=60:nodelay=yes",
        )

    def test_without(self) -> None:
        """
        Keywords can be left out by name; the others keep their order.
        """
        arguments = Arguments.parse("tcp:80:idle=5:backlog=7:maxconn=3")
        self.assertEqual(
            arguments.without({"idle", "maxconn"}),
            Arguments("tcp", ("80",), (("backlog", "7"),)),
        )

    def test_inner(self) -> None:
        """
        The endpoint after the type takes every keyword along.
        """
        self.assertEqual(
            Arguments.parse("haproxy:tcp:80:backlog=7").inner(),
            Arguments("tcp", ("80",), (("backlog", "7"),)),
        )

    def test_innerNothing(self) -> None:
        """
        Nothing after the type (or only an empty argument) is no endpoint.
        """
        for description in ("haproxy", "haproxy:"):
            self.assertIsNone(Arguments.parse(description).inner())

    def test_innerNoType(self) -> None:
        """
        Keywords after the type with no endpoint type are refused, naming
        the endpoint after the type.
        """
        e = self.assertRaises(EndpointSyntaxError, Arguments.parse("haproxy:x=1").inner)
        self.assertEqual(
            (e.description, e.reason),
            ("x=1", "it has no endpoint type; write TYPE:ARGS, e.g. tcp:8888"),
        )

    def test_socketType(self) -> None:
        """
        The type that makes the socket is the one under any C{haproxy:}.
        """
        self.assertEqual(
            [
                Arguments.parse(description).socketType
                for description in (
                    "tcp:1",
                    "haproxy:TCP6:1",
                    "haproxy:haproxy:unix:/tmp/a",
                    "haproxy",
                    "haproxy:x=1",
                )
            ],
            ["tcp", "tcp6", "unix", "haproxy", "haproxy"],
        )

    def test_innermost(self) -> None:
        """
        The endpoint under any C{haproxy:} keeps every keyword.
        """
        self.assertEqual(
            Arguments.parse("haproxy:haproxy:tcp:80:backlog=7").innermost(),
            Arguments("tcp", ("80",), (("backlog", "7"),)),
        )

    def test_innermostType(self) -> None:
        """
        L{Arguments.socketType} is the type that makes the socket, under any
        C{haproxy:}.
        """
        self.assertEqual(
            [
                Arguments.parse("tcp:1").socketType,
                Arguments.parse("haproxy:tcp6:1").socketType,
                Arguments.parse("haproxy:unix:/tmp/a").socketType,
                Arguments.parse("haproxy").socketType,
                Arguments.parse("unixgram:/tmp/a").socketType,
            ],
            ["tcp", "tcp6", "unix", "haproxy", "unixgram"],
        )


class ColonHintTests(SynchronousTestCase):
    """
    Tests for L{colonHint} and L{cutValue}: a value an unescaped C{:}
    cut.
    """

    def test_emptyValue(self) -> None:
        """
        allow=::1 (read as an empty allow= and two stray arguments) is
        named, with the escaped form to write.
        """
        self.assertEqual(
            colonHint("tcp:0:allow=::1"),
            "the colons of the IPv6 address in allow=::1 must be escaped:"
            " write allow=\\:\\:1, in single quotes in a shell",
        )

    def test_cutValue(self) -> None:
        """
        deny=fe80::1 (read as deny=fe80 and two stray arguments) is named
        whole.
        """
        self.assertIn("write deny=fe80\\:\\:1,", colonHint("tcp:0:deny=fe80::1") or "")

    def test_followedByKeywords(self) -> None:
        """
        The address ends where the next key=value starts.
        """
        self.assertIn(
            "interface=::1 must", colonHint("tcp6:0:interface=::1:backlog=5") or ""
        )

    def test_list(self) -> None:
        """
        An IPv6 block in a list of allow= is found, the list named whole.
        """
        self.assertIn(
            "write allow=10.0.0.0/8,\\:\\:1/128,",
            colonHint("tcp:0:allow=10.0.0.0/8,::1/128") or "",
        )

    def test_escaped(self) -> None:
        """
        Colons escaped as they should be give no hint.
        """
        self.assertIsNone(colonHint("tcp:0:allow=\\:\\:1"))

    def test_notAnAddress(self) -> None:
        """
        Stray arguments that make no IPv6 address give no hint.
        """
        self.assertIsNone(colonHint("tcp:0:interface=127.0.0.1:8080"))

    def test_positionalNotJoined(self) -> None:
        """
        Positional arguments before any key are not taken for an address.
        """
        self.assertIsNone(colonHint("unix:::1"))

    def test_cutValueKey(self) -> None:
        """
        L{cutValue} names the first key followed by positional arguments.
        """
        self.assertEqual(cutValue("tcp:0:interface=127.0.0.1:8080"), "interface")
        self.assertIsNone(cutValue("tcp:0:interface=127.0.0.1:backlog=5"))
        self.assertIsNone(cutValue("unix:/a:b"))
