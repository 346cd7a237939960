"""
Tests for L{sockplug.config._file}: reading a configuration file, its
settings and its listeners.
"""

from __future__ import annotations

import operator
import os

from twisted.internet.testing import MemoryReactorClock

from sockplug.config._file import Configuration, loadConfig, readConfig
from sockplug.endpoints._stream import TCPServerEndpoint, UNIXServerEndpoint
from sockplug.errors import ConfigError
from sockplug.plugin import TransportKind
from sockplug.testing._config import SOURCE, ConfigTestCase


class ReadConfigTests(ConfigTestCase):
    """
    Tests for L{readConfig}: what a right file gives.
    """

    def test_empty(self) -> None:
        """
        An empty file gives no listener and no setting.
        """
        self.assertEqual(self.read(""), Configuration())

    def test_listener(self) -> None:
        """
        A listener's table gives a listener by its name, serving echo
        unless it says otherwise, on its endpoint.
        """
        listener = self.listener(
            """
            [listeners.front]
            endpoint = "tcp:8000:interface=127.0.0.1"
            """
        )
        self.assertEqual(listener.name, "front")
        self.assertEqual(listener.plugin.name, "echo")
        self.assertEqual(listener.spec.protocol, "echo")
        self.assertEqual(listener.spec.endpoint, "tcp:8000:interface=127.0.0.1")
        self.assertEqual(listener.options, {})
        endpoint = listener.endpoint.endpoint
        assert isinstance(endpoint, TCPServerEndpoint)
        self.assertEqual((endpoint.port, endpoint.interface), (8000, "127.0.0.1"))

    def test_order(self) -> None:
        """
        The listeners come in the file's order.
        """
        configuration = self.read(
            """
            [listeners.zeta]
            endpoint = "tcp:1"
            [listeners.alpha]
            endpoint = "udp:2"
            [listeners.mid]
            endpoint = "unix:/tmp/mid.sock"
            """
        )
        self.assertEqual(
            [listener.name for listener in configuration.listeners],
            ["zeta", "alpha", "mid"],
        )
        self.assertEqual(
            [listener.endpoint.kind for listener in configuration.listeners],
            [TransportKind.STREAM, TransportKind.DATAGRAM, TransportKind.STREAM],
        )

    def test_protocol(self) -> None:
        """
        C{protocol} picks the listener's protocol, whose options get their
        defaults.
        """
        listener = self.listener(
            """
            [listeners.greeter]
            endpoint = "tcp:8000"
            protocol = "hello"
            """
        )
        self.assertEqual(listener.plugin.name, "hello")
        self.assertEqual(listener.spec.protocol, "hello")
        self.assertEqual(
            dict(listener.options),
            {"greeting": "Hello, {peer}! Send me your name, one per line."},
        )

    def test_protocolOption(self) -> None:
        """
        A protocol's option is a key of the listener's table.
        """
        listener = self.listener(
            """
            [listeners.greeter]
            endpoint = "tcp:8000"
            protocol = "hello"
            greeting = "Hi {peer}"
            """
        )
        self.assertEqual(dict(listener.options), {"greeting": "Hi {peer}"})

    def test_optionConverted(self) -> None:
        """
        An option is given to the protocol as its check returns it.
        """
        listener = self.listener(
            """
            [listeners.printer]
            endpoint = "tcp:8000"
            protocol = "line-print"
            output = "stdout"
            """
        )
        self.assertEqual(
            dict(listener.options), {"output": "-", "outputbuffer": 1048576}
        )

    def test_listenerInfo(self) -> None:
        """
        The protocol is told the listener's name and options, read-only, and
        its endpoint string as written, with the limits of its table.
        """
        listener = self.listener(
            """
            [listeners.greeter]
            endpoint = "tcp:8000"
            protocol = "hello"
            greeting = "Hi"
            maxline = 100
            """
        )
        info = listener.info(MemoryReactorClock())
        self.assertEqual(info.name, "greeter")
        self.assertEqual(info.description, "tcp:8000")
        self.assertEqual(info.protocolName, "hello")
        self.assertEqual(info.limits.maxLine, 100)
        self.assertEqual(dict(info.options), {"greeting": "Hi"})
        self.assertRaises(TypeError, operator.setitem, info.options, "greeting", "x")

    def test_names(self) -> None:
        """
        A name may be letters, digits, C{.}, C{-} and C{_}, up to 64 of them.
        """
        names = ["a", "9", "A.b_c-1", "x" * 64]
        text = "".join(
            f'[listeners."{name}"]\nendpoint = "tcp:{port}"\n'
            for port, name in enumerate(names, 1)
        )
        self.assertEqual(
            [listener.name for listener in self.read(text).listeners], names
        )


class SettingsTests(ConfigTestCase):
    """
    Tests for the process's settings, C{max-connections} and
    C{shutdown-timeout}.
    """

    def test_settings(self) -> None:
        """
        The settings are read; the timeout is a float even if written whole.
        """
        configuration = self.read("max-connections = 5\nshutdown-timeout = 2\n")
        self.assertEqual(configuration.maxConnections, 5)
        self.assertEqual(configuration.shutdownTimeout, 2.0)
        self.assertIsInstance(configuration.shutdownTimeout, float)

    def test_notGiven(self) -> None:
        """
        A setting not given is L{None}, so that the command line's applies.
        """
        configuration = self.read('[listeners.a]\nendpoint = "tcp:1"\n')
        self.assertIsNone(configuration.maxConnections)
        self.assertIsNone(configuration.shutdownTimeout)

    def test_bounds(self) -> None:
        """
        The lowest and highest values are taken.
        """
        for text, expected in (
            ("max-connections = 1\nshutdown-timeout = 0\n", (1, 0.0)),
            (
                "max-connections = 1000000\nshutdown-timeout = 86400\n",
                (1000000, 86400.0),
            ),
            ("shutdown-timeout = 2.5\n", (None, 2.5)),
        ):
            configuration = self.read(text)
            self.assertEqual(
                (configuration.maxConnections, configuration.shutdownTimeout),
                expected,
            )

    def test_maxConnectionsOutOfRange(self) -> None:
        """
        C{max-connections} below 1 or above a million is refused, the value
        named.
        """
        for value in ("0", "-3", "1000001"):
            self.assertEqual(
                self.problem(f"max-connections = {value}\n"),
                f'"max-connections" is {value}; it should be from 1 to 1000000',
            )

    def test_shutdownTimeoutOutOfRange(self) -> None:
        """
        C{shutdown-timeout} below 0 or above a day is refused, the value
        named.
        """
        for value in ("-1", "86400.5", "nan", "inf"):
            self.assertEqual(
                self.problem(f"shutdown-timeout = {value}\n"),
                f'"shutdown-timeout" is {value}; it should be from 0 to 86400',
            )

    def test_maxConnectionsNotWhole(self) -> None:
        """
        C{max-connections} must be a whole number: not a float, text or
        true.
        """
        for value in ("1.5", "10.0", '"10"', "true", "[1]"):
            self.assertEqual(
                self.problem(f"max-connections = {value}\n"),
                '"max-connections" should be a whole number',
            )

    def test_shutdownTimeoutNotNumber(self) -> None:
        """
        C{shutdown-timeout} must be a number: not text, true or a list.
        """
        for value in ('"5"', "true", "[5]", "{a = 1}"):
            self.assertEqual(
                self.problem(f"shutdown-timeout = {value}\n"),
                '"shutdown-timeout" should be a number',
            )


class ListenerProblemsTests(ConfigTestCase):
    """
    Tests for the problems of a listener's table: its endpoint, its
    protocol and that protocol's options.
    """

    def test_unknownProtocol(self) -> None:
        """
        An unknown protocol is named with the protocols there are and the
        nearest of them.
        """
        self.assertEqual(
            self.problem('[listeners.a]\nendpoint = "tcp:1"\nprotocol = "helo"\n'),
            'listener "a": "protocol": unknown protocol \'helo\'; the protocols'
            ' are: echo, hello, line-print, stream-only; did you mean "hello"?',
        )

    def test_unknownProtocolNoneNear(self) -> None:
        """
        An unknown protocol like none known has no suggestion.
        """
        self.assertEqual(
            self.problem('[listeners.a]\nendpoint = "tcp:1"\nprotocol = "zzz"\n'),
            'listener "a": "protocol": unknown protocol \'zzz\'; the protocols'
            " are: echo, hello, line-print, stream-only",
        )

    def test_protocolNotForKind(self) -> None:
        """
        A protocol that does not serve the endpoint's kind is refused.
        """
        self.assertEqual(
            self.problem(
                '[listeners.a]\nendpoint = "udp:1"\nprotocol = "stream-only"\n'
            ),
            'listener "a": protocol stream-only does not serve datagram endpoints'
            ' such as "udp:1"',
        )

    def test_badEndpoint(self) -> None:
        """
        An endpoint string that does not parse is named, with why.
        """
        self.assertEqual(
            self.problem('[listeners.a]\nendpoint = "tcp:99999"\n'),
            'listener "a": endpoint "tcp:99999": port \'99999\' is not a number'
            " from 0 to 65535",
        )
        self.assertTrue(
            self.problem('[listeners.a]\nendpoint = "foo:1"\n').startswith(
                'listener "a": endpoint "foo:1": unknown endpoint type \'foo\';'
                " the types are tcp, tcp6, unix,"
            )
        )

    def test_badEndpointQuoted(self) -> None:
        """
        An endpoint string is shown as TOML writes it, its backslashes
        doubled.
        """
        self.assertEqual(
            self.problem('[listeners.a]\nendpoint = "tcp:1\\\\"\n'),
            'listener "a": endpoint "tcp:1\\\\": it ends with a lone backslash;'
            " write \\\\ for a literal one",
        )

    def test_protocolInEndpoint(self) -> None:
        """
        C{NAME@} in the endpoint string is refused, saying to use
        C{protocol}.
        """
        self.assertEqual(
            self.problem('[listeners.a]\nendpoint = "hello@tcp:1"\n'),
            'listener "a": endpoint "hello@tcp:1": give the protocol as protocol'
            ' = "NAME", not NAME@ in the endpoint',
        )

    def test_atInPath(self) -> None:
        """
        An C{@} after the endpoint type is part of the endpoint, not a
        protocol.
        """
        listener = self.listener('[listeners.a]\nendpoint = "unix:/tmp/a@b"\n')
        endpoint = listener.endpoint.endpoint
        assert isinstance(endpoint, UNIXServerEndpoint)
        self.assertEqual(endpoint.path, "/tmp/a@b")

    def test_missingEndpoint(self) -> None:
        """
        A listener without an endpoint is refused, with an example.
        """
        self.assertEqual(
            self.problem('[listeners.a]\nprotocol = "hello"\n'),
            'listener "a": needs "endpoint", an endpoint string such as "tcp:8888"',
        )

    def test_endpointNotText(self) -> None:
        """
        An endpoint that is not text is refused.
        """
        self.assertEqual(
            self.problem("[listeners.a]\nendpoint = 8888\n"),
            'listener "a": "endpoint" should be text, such as "tcp:8888"',
        )

    def test_protocolNotText(self) -> None:
        """
        A protocol that is not text is refused.
        """
        self.assertEqual(
            self.problem('[listeners.a]\nendpoint = "tcp:1"\nprotocol = ["echo"]\n'),
            'listener "a": "protocol" should be text, the name of a protocol',
        )

    def test_badNames(self) -> None:
        """
        A listener name that is empty, too long, or holds other characters
        than letters, digits, C{.}, C{-} and C{_} is refused, quoted.
        """
        for name, shown in (
            ("", '""'),
            ("-a", '"-a"'),
            ("_a", '"_a"'),
            ("a b", '"a b"'),
            ("a/b", '"a/b"'),
            ("x" * 65, '"' + "x" * 65 + '"'),
            ('a"b', '"a\\"b"'),
        ):
            self.assertEqual(
                self.problem(f"[listeners.'{name}']\nendpoint = \"tcp:1\"\n"),
                f"listener {shown}: a name is 1 to 64 letters, digits, '.', '-'"
                " and '_', starting with a letter or digit",
            )

    def test_notATable(self) -> None:
        """
        A listener that is not a table is refused.
        """
        self.assertEqual(
            self.problem("[listeners]\na = 1\n"),
            'listener "a" should be a table: [listeners.a]',
        )

    def test_listenersNotTables(self) -> None:
        """
        C{listeners} that is not a table of tables is refused.
        """
        self.assertEqual(
            self.problem("listeners = 1\n"),
            '"listeners" should be tables: [listeners.NAME]',
        )

    def test_optionWrongType(self) -> None:
        """
        An option of the wrong type is named with the protocol.
        """
        self.assertEqual(
            self.problem(
                '[listeners.a]\nendpoint = "tcp:1"\nprotocol = "hello"\ngreeting = 5\n'
            ),
            'listener "a": option "greeting" of protocol hello: is a whole number;'
            " it should be text",
        )

    def test_optionCheckFails(self) -> None:
        """
        An option its check refuses is named, with the check's message.
        """
        self.assertEqual(
            self.problem(
                """
                [listeners.a]
                endpoint = "tcp:1"
                protocol = "hello"
                greeting = "{x}"
                """
            ),
            'listener "a": option "greeting" of protocol hello: \'{x}\' may hold'
            " {peer} (the peer's address), with no format spec, and no other"
            " {...}; write {{ and }} for braces",
        )
        self.assertEqual(
            self.problem(
                """
                [listeners.a]
                endpoint = "tcp:1"
                protocol = "line-print"
                output = "lines.log"
                """
            ),
            'listener "a": option "output" of protocol line-print: \'lines.log\''
            " is not - (standard output) or an absolute file path",
        )


class EveryValueNamedTests(ConfigTestCase):
    """
    Every wrong limit or socket option of a listener is named, not only
    the first.
    """

    def test_everyWrongLimit(self) -> None:
        """
        A listener with two wrong limits and a wrong socket option gets
        three problems, each naming its option.
        """
        problems = self.problems(
            """
            [listeners.a]
            endpoint = "tcp:1"
            idle = -1
            maxconn = 0
            backlog = 0
            """
        )
        self.assertEqual(len(problems), 3, problems)
        for name in ("idle", "maxconn", "backlog"):
            self.assertTrue(
                any(p.startswith(f'listener "a": {name}') for p in problems),
                (name, problems),
            )

    def test_protocolNotATable(self) -> None:
        """
        A C{[defaults]} key named after a protocol must be a table of its
        options.
        """
        self.assertEqual(
            self.problem("[defaults]\nhello = 5\n"),
            'defaults: "hello" should be a table of protocol hello\'s options:'
            " [defaults.hello]",
        )

    def test_dateNamed(self) -> None:
        """
        A date given for a limit is called a date, not by Python's type
        name.
        """
        problem = self.problem('[listeners.a]\nendpoint = "tcp:1"\nidle = 1979-05-27\n')
        self.assertEqual(
            problem,
            'listener "a": "idle" is a date or time; it should be text or a number',
        )


class FileProblemsTests(ConfigTestCase):
    """
    Tests for the problems of a file as a whole.
    """

    def test_unknownKey(self) -> None:
        """
        An unknown top-level key is named, with the nearest known one.
        """
        self.assertEqual(
            self.problem("max-conections = 5\n"),
            'unknown key "max-conections"; did you mean "max-connections"?',
        )
        self.assertEqual(
            self.problem("listener = 5\n"),
            'unknown key "listener"; did you mean "listeners"?',
        )
        self.assertEqual(self.problem("zzzzzz = 5\n"), 'unknown key "zzzzzz"')

    def test_badTOML(self) -> None:
        """
        A file that is not TOML is refused, with the line and column.
        """
        [problem] = self.problems('[listeners.a]\nendpoint = "tcp:1"\nidle = \n')
        self.assertTrue(problem.startswith("not valid TOML: "), problem)
        self.assertIn("line 3, column 8", problem)

    def test_duplicateKey(self) -> None:
        """
        A key given twice is not TOML.
        """
        [problem] = self.problems(
            "[listeners.a]\nendpoint = 'tcp:1'\nendpoint = 'tcp:2'\n"
        )
        self.assertTrue(problem.startswith("not valid TOML: "), problem)
        self.assertIn("line 3", problem)

    def test_nestedTooDeeply(self) -> None:
        """
        Arrays or inline tables nested deeper than the reader goes are
        refused in one line (Python's reader raised RecursionError).
        """
        for value in ("[" * 5000 + "]" * 5000, "{a=" * 5000 + "1" + "}" * 5000):
            self.assertEqual(
                self.problems(f"x = {value}\n"),
                ["not read: its arrays or inline tables are nested too deeply"],
            )

    def test_byteOrderMark(self) -> None:
        """
        A file that starts with a UTF-8 byte order mark (as some editors
        save it) is refused saying so, not as an "Invalid statement".
        """
        [problem] = self.problems('\ufeff[listeners.a]\nendpoint = "tcp:1"\n')
        self.assertTrue(problem.startswith("it starts with a byte order mark"))

    def test_notUTF8(self) -> None:
        """
        A file that is not UTF-8 is refused, with the offset of the first
        wrong byte.
        """
        e = self.assertRaises(
            ConfigError,
            readConfig,
            b'[listeners.a]\nendpoint = "tcp:1\xff"\n',
            SOURCE,
            self.registry,
            self.parser,
        )
        self.assertEqual(
            e.problems, [f"{SOURCE}: not UTF-8 text (byte 31); TOML files are UTF-8"]
        )

    def test_everyProblem(self) -> None:
        """
        Every problem of a file is named at once, in the file's order, each
        after the source.
        """
        self.assertEqual(
            self.problems(
                """
                max-connections = 1.5
                bogus = 1
                [defaults]
                idel = 3
                [listeners.good]
                endpoint = "tcp:1"
                [listeners.b]
                endpoint = "udp:1"
                idle = 3
                [listeners.c]
                protocol = "hello"
                [listeners.metrics-in]
                endpoint = "tcp:2"
                protocol = "hello"
                greting = "x"
                [listeners."e f"]
                endpoint = "tcp:3"
                """
            ),
            [
                '"max-connections" should be a whole number',
                'unknown key "bogus"',
                'defaults: unknown key "idel"; did you mean "idle"?',
                'listener "b": "idle" applies to stream endpoints only, and'
                ' "udp:1" is a datagram endpoint',
                'listener "c": needs "endpoint", an endpoint string such as "tcp:8888"',
                'listener "metrics-in": unknown option "greting" for protocol'
                ' hello; did you mean "greeting"?',
                "listener \"e f\": a name is 1 to 64 letters, digits, '.', '-'"
                " and '_', starting with a letter or digit",
            ],
        )

    def test_everyProblemOfOneListener(self) -> None:
        """
        Every problem of one listener's keys and options is named.
        """
        self.assertEqual(
            self.problems(
                """
                [listeners.a]
                endpoint = "tcp:1:idle=3"
                protocol = "hello"
                bogus = 1
                replyrate = 3
                idle = 4
                greeting = "{x}"
                """
            ),
            [
                'listener "a": unknown option "bogus" for protocol hello',
                'listener "a": "replyrate" applies to datagram endpoints only,'
                ' and "tcp:1:idle=3" is a stream endpoint',
                'listener "a": option "greeting" of protocol hello: \'{x}\' may'
                " hold {peer} (the peer's address), with no format spec, and no"
                " other {...}; write {{ and }} for braces",
                'listener "a": "idle" is given twice: in "endpoint" and as a key',
            ],
        )

    def test_str(self) -> None:
        """
        The error's text is every problem, in one line.
        """
        e = self.assertRaises(
            ConfigError, self.read, "bogus = 1\n[defaults]\nidel = 3\n"
        )
        self.assertEqual(
            str(e),
            f'{SOURCE}: unknown key "bogus"; {SOURCE}: defaults: unknown key'
            ' "idel"; did you mean "idle"?',
        )


class LoadConfigTests(ConfigTestCase):
    """
    Tests for L{loadConfig}.
    """

    def test_load(self) -> None:
        """
        A file is read and checked.
        """
        path = self.mktemp()
        with open(path, "w", encoding="utf-8") as f:
            f.write('max-connections = 3\n[listeners.a]\nendpoint = "tcp:1"\n')
        configuration = loadConfig(path, self.registry, self.parser)
        self.assertEqual(configuration.maxConnections, 3)
        self.assertEqual([listener.name for listener in configuration.listeners], ["a"])

    def test_problemsNameThePath(self) -> None:
        """
        Each problem starts with the file's path.
        """
        path = self.mktemp()
        with open(path, "w", encoding="utf-8") as f:
            f.write("bogus = 1\n[listeners.a]\n")
        e = self.assertRaises(ConfigError, loadConfig, path, self.registry, self.parser)
        self.assertEqual(
            e.problems,
            [
                f'{path}: unknown key "bogus"',
                f'{path}: listener "a": needs "endpoint", an endpoint string such'
                ' as "tcp:8888"',
            ],
        )

    def test_missing(self) -> None:
        """
        A file that is not there is named, with why.
        """
        path = self.mktemp()
        e = self.assertRaises(ConfigError, loadConfig, path, self.registry, self.parser)
        self.assertEqual(
            e.problems, [f"{path}: cannot read it: No such file or directory"]
        )
        self.assertIsInstance(e.__cause__, FileNotFoundError)

    def test_folder(self) -> None:
        """
        A folder is named as one that cannot be read.
        """
        path = self.mktemp()
        os.mkdir(path)
        e = self.assertRaises(ConfigError, loadConfig, path, self.registry, self.parser)
        self.assertEqual(e.problems, [f"{path}: cannot read it: Is a directory"])
