"""
Tests for L{sockplug.config._keys}: the keys of a listener's table, how
its limits and socket options are added to its parsed endpoint, and the
helpers that check one key.
"""

from __future__ import annotations

from textwrap import dedent

from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from sockplug.config._file import readConfig
from sockplug.config._keys import (
    Problems,
    asText,
    checkSetting,
    checkValue,
    fileValue,
    mergeEndpoint,
)
from sockplug.discovery._registry import discover
from sockplug.endpoints import _tls
from sockplug.endpoints._datagram import (
    UDPParser,
    UDPServerEndpoint,
    UNIXDatagramServerEndpoint,
)
from sockplug.endpoints._parser import EndpointParser
from sockplug.endpoints._stream import TCPServerEndpoint, UNIXServerEndpoint
from sockplug.endpoints._tls import TLSServerEndpoint
from sockplug.logs import quoted
from sockplug.options._access import AccessList
from sockplug.options._limits import ListenerLimits
from sockplug.testing import MemoryDatagramReactor
from sockplug.testing._config import ConfigTestCase


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


class ListenerKeysTests(ConfigTestCase):
    """
    Tests for the limits and socket options of a listener's table, written
    into its endpoint string.
    """

    def test_streamKeys(self) -> None:
        """
        Limits and socket options of a TCP listener are written into its
        endpoint string, which is parsed as on the command line; the
        listener's endpoint string stays as written.
        """
        listener = self.listener(
            """
            [listeners.a]
            endpoint = "tcp:1:interface=127.0.0.1"
            idle = 60
            maxconn = 3
            maxpersource = 2
            sendbuffer = 8192
            maxline = 100
            backpressure = false
            deny = "10.0.0.0/8"
            nodelay = true
            keepalive = true
            backlog = 128
            """
        )
        self.assertEqual(listener.spec.endpoint, "tcp:1:interface=127.0.0.1")
        self.assertEqual(
            listener.endpoint.description,
            "tcp:1:interface=127.0.0.1:idle=60:maxconn=3:maxpersource=2"
            ":sendbuffer=8192:maxline=100:backpressure=no:deny=10.0.0.0/8"
            ":nodelay=yes:keepalive=yes:backlog=128",
        )
        self.assertEqual(
            listener.endpoint.limits,
            ListenerLimits(
                access=AccessList.parse(None, "10.0.0.0/8"),
                maxConnections=3,
                maxPerSource=2,
                idleTimeout=60.0,
                backpressure=False,
                sendBuffer=8192,
                maxLine=100,
            ),
        )
        endpoint = listener.endpoint.endpoint
        assert isinstance(endpoint, TCPServerEndpoint)
        self.assertEqual(
            (endpoint.interface, endpoint.backlog, endpoint.options.nodelay),
            ("127.0.0.1", 128, True),
        )
        self.assertTrue(endpoint.options.keepalive)

    def test_lists(self) -> None:
        """
        C{allow} and C{deny} may be lists; an IPv6 address in them needs no
        escaping.
        """
        listener = self.listener(
            """
            [listeners.a]
            endpoint = "tcp6:1"
            allow = ["::1", "127.0.0.1", "10.0.0.0/8"]
            deny = ["10.1.0.0/16"]
            """
        )
        self.assertEqual(
            listener.endpoint.limits.access,
            AccessList.parse("::1,127.0.0.1,10.0.0.0/8", "10.1.0.0/16"),
        )

    def test_datagramKeys(self) -> None:
        """
        Limits and socket options of a UDP listener are applied to it;
        C{blockports} may be a list of numbers and text.
        """
        listener = self.listener(
            """
            [listeners.a]
            endpoint = "udp:1"
            replyrate = 2.5
            replyburst = 3
            replygrowth = 0
            blockports = [1, "2"]
            loglines = 7
            reuseaddr = true
            sndbuf = 4096
            """
        )
        limits = listener.endpoint.limits
        self.assertEqual(
            (
                limits.replyRate,
                limits.replyBurst,
                limits.replyGrowth,
                limits.blockedPorts,
                limits.logLines,
            ),
            (2.5, 3, 0, frozenset({1, 2}), 7),
        )
        endpoint = listener.endpoint.endpoint
        assert isinstance(endpoint, UDPServerEndpoint)
        self.assertEqual(
            (endpoint.options.reuseaddr, endpoint.options.sndbuf), (True, 4096)
        )

    def test_unixKeys(self) -> None:
        """
        The socket options of a UNIX stream listener are applied to it.
        """
        listener = self.listener(
            """
            [listeners.a]
            endpoint = "unix:/tmp/a.sock"
            mode = "600"
            backlog = 9
            lockfile = false
            stale = "fail"
            rcvbuf = "1K"
            """
        )
        endpoint = listener.endpoint.endpoint
        assert isinstance(endpoint, UNIXServerEndpoint)
        self.assertEqual(
            (
                endpoint.mode,
                endpoint.backlog,
                endpoint.lockfile,
                endpoint.replaceStale,
                endpoint.options.rcvbuf,
            ),
            (0o600, 9, False, False, 1024),
        )

    def test_unixDatagramKeys(self) -> None:
        """
        The socket options of a UNIX datagram listener are applied to it.
        """
        listener = self.listener(
            """
            [listeners.a]
            endpoint = "unixgram:/tmp/a.dgram"
            mode = "640"
            stale = "fail"
            """
        )
        endpoint = listener.endpoint.endpoint
        assert isinstance(endpoint, UNIXDatagramServerEndpoint)
        self.assertEqual((endpoint.mode, endpoint.replaceStale), (0o640, False))

    def test_proxied(self) -> None:
        """
        The socket options of C{haproxy:tcp:...} are those of TCP, the
        socket it listens on.
        """
        listener = self.listener(
            """
            [listeners.a]
            endpoint = "haproxy:tcp:1:interface=127.0.0.1"
            nodelay = true
            allow = "127.0.0.0/8"
            """
        )
        self.assertEqual(listener.spec.endpoint, "haproxy:tcp:1:interface=127.0.0.1")
        self.assertEqual(
            listener.endpoint.description,
            "haproxy:tcp:1:interface=127.0.0.1:nodelay=yes:allow=127.0.0.0/8",
        )
        self.assertEqual(
            listener.endpoint.limits.access, AccessList.parse("127.0.0.0/8", None)
        )

    def test_endpointStringLimits(self) -> None:
        """
        Limits may be written in the endpoint string instead.
        """
        listener = self.listener(
            '[listeners.a]\nendpoint = "tcp:1:idle=4:nodelay=yes"\n'
        )
        self.assertEqual(listener.endpoint.limits.idleTimeout, 4.0)
        self.assertEqual(listener.endpoint.description, "tcp:1:idle=4:nodelay=yes")

    def test_givenTwice(self) -> None:
        """
        A key given both in the endpoint string and as a key is refused.
        """
        self.assertEqual(
            self.problem('[listeners.a]\nendpoint = "tcp:1:idle=4"\nidle = 5\n'),
            'listener "a": "idle" is given twice: in "endpoint" and as a key',
        )

    def test_badValue(self) -> None:
        """
        A wrong limit value is named as the file gives it.
        """
        self.assertEqual(
            self.problem('[listeners.a]\nendpoint = "tcp:1"\nidle = -1\n'),
            'listener "a": idle = -1 is not a number from 0 to 604800',
        )

    def test_modeAsNumber(self) -> None:
        """
        C{mode} written as a number (which TOML reads as decimal) is
        refused, saying to write it as octal text.
        """
        self.assertEqual(
            self.problem('[listeners.a]\nendpoint = "unix:/tmp/a"\nmode = 660\n'),
            'listener "a": give "mode" as octal text, such as mode = "660"',
        )

    def test_listOfWrongValues(self) -> None:
        """
        A list for C{allow}, C{deny} or C{blockports} must hold text or
        numbers.
        """
        for key, value, endpoint in (
            ("allow", "[true]", "tcp:1"),
            ("deny", '[["10.0.0.0/8"]]', "tcp:1"),
            ("blockports", "[1.5]", "udp:1"),
        ):
            self.assertEqual(
                self.problem(
                    f'[listeners.a]\nendpoint = "{endpoint}"\n{key} = {value}\n'
                ),
                f'listener "a": "{key}" should be a list of text or numbers',
            )

    def test_listForOtherKey(self) -> None:
        """
        A list for a key that takes one value is refused.
        """
        self.assertEqual(
            self.problem('[listeners.a]\nendpoint = "tcp:1"\nidle = [1]\n'),
            'listener "a": "idle" is a list; it should be text or a number',
        )

    def test_tableForKey(self) -> None:
        """
        A table for a limit is refused, named.
        """
        self.assertTrue(
            self.problem(
                '[listeners.a]\nendpoint = "tcp:1"\nidle = {a = 1}\n'
            ).startswith('listener "a": "idle" is '),
        )


class ListenerKeyProblemsTests(ConfigTestCase):
    """
    Tests for the keys of a listener's table that are not its protocol's
    options, nor limits and socket options that apply to it.
    """

    def test_unknownOption(self) -> None:
        """
        An unknown key is named, with the nearest of the protocol's
        options.
        """
        self.assertEqual(
            self.problem(
                """
                [listeners.metrics-in]
                endpoint = "tcp:1"
                protocol = "hello"
                greting = "x"
                """
            ),
            'listener "metrics-in": unknown option "greting" for protocol hello;'
            ' did you mean "greeting"?',
        )

    def test_unknownOptionNearLimit(self) -> None:
        """
        The nearest key may be a limit or a socket option of the endpoint.
        """
        self.assertEqual(
            self.problems(
                """
                [listeners.a]
                endpoint = "tcp:1"
                maxcon = 3
                nodelai = true
                """
            ),
            [
                'listener "a": unknown option "maxcon" for protocol echo;'
                ' did you mean "maxconn"?',
                'listener "a": unknown option "nodelai" for protocol echo;'
                ' did you mean "nodelay"?',
            ],
        )

    def test_unknownOptionNoneNear(self) -> None:
        """
        An unknown key like no known one is named alone.
        """
        self.assertEqual(
            self.problem('[listeners.a]\nendpoint = "tcp:1"\nzzzzzz = 1\n'),
            'listener "a": unknown option "zzzzzz" for protocol echo',
        )

    def test_optionOfAnotherProtocol(self) -> None:
        """
        An option of another protocol than the listener's is unknown.
        """
        self.assertEqual(
            self.problem('[listeners.a]\nendpoint = "tcp:1"\ngreeting = "x"\n'),
            'listener "a": unknown option "greeting" for protocol echo',
        )

    def test_protocolTable(self) -> None:
        """
        The protocol's options given as a table of their own are refused,
        saying where they go.
        """
        self.assertEqual(
            self.problem(
                """
                [listeners.a]
                endpoint = "tcp:1"
                protocol = "hello"
                [listeners.a.hello]
                greeting = "x"
                """
            ),
            'listener "a": the options of protocol hello go straight into the'
            " listener's table (greeting)",
        )
        self.assertEqual(
            self.problem('[listeners.a]\nendpoint = "tcp:1"\necho = {}\n'),
            'listener "a": the options of protocol echo go straight into the'
            " listener's table (it has none)",
        )

    def test_limitOfOtherKind(self) -> None:
        """
        A stream limit on a datagram listener, or a datagram one on a
        stream listener, is refused.
        """
        self.assertEqual(
            self.problem('[listeners.a]\nendpoint = "udp:1"\nidle = 3\n'),
            'listener "a": "idle" applies to stream endpoints only, and "udp:1"'
            " is a datagram endpoint",
        )
        self.assertEqual(
            self.problem('[listeners.a]\nendpoint = "tcp:1"\nreplyrate = 3\n'),
            'listener "a": "replyrate" applies to datagram endpoints only, and'
            ' "tcp:1" is a stream endpoint',
        )

    def test_keyForOtherKindQuotesEndpoint(self) -> None:
        """
        The endpoint named by a key for the other kind is quoted as the file
        writes it: its terminal escape is shown escaped, never sent.
        """
        self.assertEqual(
            self.problem(
                '[listeners.a]\nendpoint = "unixgram:/tmp/\\u001b[31m"\nidle = 3\n'
            ),
            'listener "a": "idle" applies to stream endpoints only, and'
            ' "unixgram:/tmp/\\u001b[31m" is a datagram endpoint',
        )

    def test_socketOptionOfOtherType(self) -> None:
        """
        A socket option the endpoint type does not take is refused.
        """
        for key, value, endpoint, socketType in (
            ("nodelay", "true", "unix:/tmp/a", "unix"),
            ("mode", '"600"', "tcp:1", "tcp"),
            ("backlog", "5", "udp:1", "udp"),
            ("lockfile", "false", "unixgram:/tmp/a", "unixgram"),
            ("nodelay", "true", "haproxy:unix:/tmp/a", "unix"),
        ):
            self.assertEqual(
                self.problem(
                    f'[listeners.a]\nendpoint = "{endpoint}"\n{key} = {value}\n'
                ),
                f'listener "a": "{key}" does not apply to {socketType} endpoints',
            )

    def test_allowOnUnix(self) -> None:
        """
        C{allow} and C{deny} on a UNIX listener are refused, saying why.
        """
        for key, endpoint in (("allow", "unix:/tmp/a"), ("deny", "unixgram:/tmp/a")):
            self.assertEqual(
                self.problem(
                    f'[listeners.a]\nendpoint = "{endpoint}"\n{key} = "127.0.0.1"\n'
                ),
                f'listener "a": "{key}" takes IP addresses; a UNIX socket\'s peers'
                " are let in by its mode",
            )


class ConfigKeysTests(SynchronousTestCase):
    """
    Tests for the helpers of L{sockplug.config._keys}.
    """

    def test_quoted(self) -> None:
        """
        L{quoted} writes text as a TOML basic string.
        """
        self.assertEqual(quoted('a"b\\c'), '"a\\"b\\\\c"')

    def test_problems(self) -> None:
        """
        L{Problems.within} notes problems after where they are, in the one
        list.
        """
        problems = Problems()
        problems.add("top")
        inner = problems.within('listener "a"')
        inner.add("x")
        inner.within("deeper").add("y")
        self.assertEqual(
            list(problems), ["top", 'listener "a": x', 'listener "a": deeper: y']
        )
        self.assertEqual((len(problems), len(inner)), (3, 3))

    def test_unknown(self) -> None:
        """
        L{Problems.unknown} names the key, and the nearest candidate if one
        is near.
        """
        problems = Problems()
        problems.unknown("idel", ["idle", "maxline"])
        problems.unknown("q", ["idle"], "option", " for protocol x")
        self.assertEqual(
            list(problems),
            [
                'unknown key "idel"; did you mean "idle"?',
                'unknown option "q" for protocol x',
            ],
        )

    def test_checkSetting(self) -> None:
        """
        L{checkSetting} gives the value (a float for the timeout), or
        L{None} with the problem noted.
        """
        problems = Problems()
        self.assertEqual(checkSetting(problems, "max-connections", 7), 7)
        self.assertEqual(checkSetting(problems, "shutdown-timeout", 7), 7.0)
        self.assertIsInstance(checkSetting(problems, "shutdown-timeout", 7), float)
        self.assertEqual(list(problems), [])
        self.assertIsNone(checkSetting(problems, "max-connections", False))
        self.assertEqual(len(problems), 1)

    def test_asText(self) -> None:
        """
        L{asText} writes a value as an endpoint string does.
        """
        self.assertEqual(
            [
                asText("nodelay", True),
                asText("nodelay", False),
                asText("idle", 30),
                asText("replyrate", 2.5),
                asText("rcvbuf", "64K"),
                asText("mode", "660"),
                asText("allow", ["::1", "10.0.0.0/8"]),
                asText("blockports", [7, "19"]),
            ],
            ["yes", "no", "30", "2.5", "64K", "660", "::1,10.0.0.0/8", "7,19"],
        )

    def test_asTextRefuses(self) -> None:
        """
        L{asText} refuses a number for C{mode}, a list for a key that takes
        one value, and a list of other things than text and numbers.
        """
        for key, value in (
            ("mode", 660),
            ("idle", [1]),
            ("allow", [True]),
            ("allow", [None]),
            ("idle", None),
        ):
            self.assertRaises(ValueError, asText, key, value)

    def test_valuesAsTheFileWritesThem(self) -> None:
        """
        L{fileValue} writes a value back as the file gives it.
        """
        self.assertEqual(
            [
                fileValue(True),
                fileValue(False),
                fileValue(60),
                fileValue(1.5),
                fileValue('a"b'),
                fileValue(["::1", 5]),
            ],
            ["true", "false", "60", "1.5", '"a\\"b"', '["::1", 5]'],
        )

    def test_wrongKinds(self) -> None:
        """
        Each key refuses a kind of value it cannot take (true or false for
        a number or a list, a number for a flag) and a wrong value of its
        own kind, naming the value as the file gives it, never as sockplug
        turned it into text.
        """
        messages = []
        for key, value in (
            ("idle", True),
            ("maxconn", False),
            ("maxpersource", 1.5),
            ("idle", "abc"),
            ("rcvbuf", False),
            ("backlog", True),
            ("stale", False),
            ("allow", True),
            ("blockports", True),
            ("nodelay", 2),
            ("nodelay", 1.0),
            ("nodelay", "maybe"),
            ("lockfile", "maybe"),
        ):
            e = self.assertRaises(ValueError, checkValue, key, value)
            messages.append(str(e))
        self.assertEqual(
            messages,
            [
                "idle = true is not a number from 0 to 604800",
                "maxconn = false is not a whole number from 1 to 1000000",
                "maxpersource = 1.5 is not a whole number from 1 to 1000000",
                'idle = "abc" is not a number from 0 to 604800',
                "rcvbuf = false is not a positive number",
                "backlog = true is not a positive number",
                "stale = false is not replace or fail",
                "allow = true is not a list of addresses, CIDR blocks, any, localhost",
                "blockports = true is not a list of ports 0 to 65535",
                "nodelay = 2 is not true or false",
                "nodelay = 1.0 is not true or false",
                'nodelay = "maybe" is not yes or no',
                'lockfile = "maybe" is not 1 or 0',
            ],
        )

    def test_rightKinds(self) -> None:
        """
        A flag takes true or false, its words as text, and 1 or 0 (which
        lockfile's help writes).
        """
        for key, value, text in (
            ("nodelay", True, "yes"),
            ("nodelay", "off", "off"),
            ("keepalive", 1, "1"),
            ("lockfile", False, "0"),
            ("lockfile", 0, "0"),
        ):
            checkValue(key, value)
            self.assertEqual(asText(key, value), text)
