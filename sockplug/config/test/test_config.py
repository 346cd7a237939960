"""
Tests for L{sockplug.config._file} and L{sockplug.config._keys}.
"""

from __future__ import annotations

import operator
import os
from textwrap import dedent

from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from sockplug.config._file import Configuration, loadConfig, readConfig
from sockplug.config._keys import (
    Problems,
    asText,
    checkSetting,
)
from sockplug.discovery._registry import Registry, discover
from sockplug.endpoints._datagram import UDPServerEndpoint, UNIXDatagramServerEndpoint
from sockplug.endpoints._parser import EndpointParser
from sockplug.endpoints._stream import TCPServerEndpoint, UNIXServerEndpoint
from sockplug.errors import ConfigError
from sockplug.interfaces import IListenerInfo
from sockplug.logs import quoted
from sockplug.options._access import AccessList
from sockplug.options._limits import ListenerLimits
from sockplug.plugin import ProtocolPlugin, TransportKind
from sockplug.server._listener import Listener

SOURCE = "test.toml"


def _streamOnly(listener: IListenerInfo) -> Factory:
    return Factory.forProtocol(Protocol)


class _ConfigTestCase(SynchronousTestCase):
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
        e = self.assertRaises(ConfigError, self.read, text)
        self.assertIsInstance(e, ValueError)
        for problem in e.problems:
            self.assertTrue(problem.startswith(f"{SOURCE}: "), problem)
        return [problem[len(SOURCE) + 2 :] for problem in e.problems]

    def problem(self, text: str) -> str:
        """
        The one problem of C{text}, without the source.
        """
        problems = self.problems(text)
        self.assertEqual(len(problems), 1, problems)
        return problems[0]


class ReadConfigTests(_ConfigTestCase):
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


class SettingsTests(_ConfigTestCase):
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


class DefaultsTests(_ConfigTestCase):
    """
    Tests for the C{[defaults]} table.
    """

    def test_protocol(self) -> None:
        """
        The default protocol serves the listeners that name none.
        """
        configuration = self.read(
            """
            [defaults]
            protocol = "hello"
            [listeners.a]
            endpoint = "tcp:1"
            [listeners.b]
            endpoint = "tcp:2"
            protocol = "echo"
            """
        )
        self.assertEqual(
            [listener.plugin.name for listener in configuration.listeners],
            ["hello", "echo"],
        )

    def test_limits(self) -> None:
        """
        Default limits apply to every listener they fit.
        """
        listener = self.listener(
            """
            [defaults]
            idle = 30
            maxpersource = 4
            loglines = 10
            [listeners.a]
            endpoint = "tcp:1"
            """
        )
        limits = listener.endpoint.limits
        self.assertEqual(
            (limits.idleTimeout, limits.maxPerSource, limits.logLines), (30.0, 4, 10)
        )
        self.assertEqual(listener.spec.endpoint, "tcp:1")

    def test_socketOptions(self) -> None:
        """
        Default socket options apply to every listener they fit.
        """
        listener = self.listener(
            """
            [defaults]
            nodelay = true
            backlog = 9
            rcvbuf = "64K"
            [listeners.a]
            endpoint = "tcp:1"
            """
        )
        endpoint = listener.endpoint.endpoint
        assert isinstance(endpoint, TCPServerEndpoint)
        self.assertEqual(endpoint.backlog, 9)
        self.assertEqual(
            (endpoint.options.nodelay, endpoint.options.rcvbuf), (True, 65536)
        )

    def test_overriddenByKey(self) -> None:
        """
        A listener's own key wins over the default.
        """
        listener = self.listener(
            """
            [defaults]
            idle = 30
            nodelay = true
            [listeners.a]
            endpoint = "tcp:1"
            idle = 7
            nodelay = false
            """
        )
        self.assertEqual(listener.endpoint.limits.idleTimeout, 7.0)
        endpoint = listener.endpoint.endpoint
        assert isinstance(endpoint, TCPServerEndpoint)
        self.assertFalse(endpoint.options.nodelay)

    def test_overriddenByEndpointString(self) -> None:
        """
        A limit in the listener's endpoint string wins over the default.
        """
        listener = self.listener(
            """
            [defaults]
            idle = 30
            [listeners.a]
            endpoint = "tcp:1:idle=8"
            """
        )
        self.assertEqual(listener.endpoint.limits.idleTimeout, 8.0)

    def test_idleNotOnDatagram(self) -> None:
        """
        A stream limit (C{idle}) given as a default is not applied to a
        datagram listener, and is no error there; a datagram limit is not
        applied to a stream listener.
        """
        configuration = self.read(
            """
            [defaults]
            idle = 30
            replyrate = 5
            [listeners.udp]
            endpoint = "udp:1"
            [listeners.tcp]
            endpoint = "tcp:1"
            """
        )
        udp, tcp = configuration.listeners
        self.assertEqual(udp.endpoint.description, "udp:1:replyrate=5")
        self.assertEqual(udp.endpoint.limits.replyRate, 5.0)
        self.assertEqual(udp.endpoint.limits.idleTimeout, 300.0)
        self.assertEqual(tcp.endpoint.description, "tcp:1:idle=30")
        self.assertEqual(tcp.endpoint.limits.replyRate, 100.0)

    def test_nodelayNotOnUnix(self) -> None:
        """
        A TCP socket option given as a default is not applied to a UNIX
        listener, or a UDP one.
        """
        configuration = self.read(
            """
            [defaults]
            nodelay = true
            backlog = 7
            [listeners.unix]
            endpoint = "unix:/tmp/a.sock"
            [listeners.udp]
            endpoint = "udp:1"
            """
        )
        unix, udp = configuration.listeners
        self.assertEqual(unix.endpoint.description, "unix:/tmp/a.sock:backlog=7")
        endpoint = unix.endpoint.endpoint
        assert isinstance(endpoint, UNIXServerEndpoint)
        self.assertIsNone(endpoint.options.nodelay)
        self.assertEqual(udp.endpoint.description, "udp:1")

    def test_allowNotOnUnix(self) -> None:
        """
        A default C{allow} applies to IP listeners, not to UNIX ones, whose
        peers have no IP address.
        """
        configuration = self.read(
            """
            [defaults]
            allow = "127.0.0.1"
            [listeners.tcp]
            endpoint = "tcp:1"
            [listeners.udp]
            endpoint = "udp:1"
            [listeners.unix]
            endpoint = "unix:/tmp/a.sock"
            [listeners.unixgram]
            endpoint = "unixgram:/tmp/a.dgram"
            """
        )
        allowed = AccessList.parse("127.0.0.1", None)
        self.assertEqual(
            [listener.endpoint.limits.access for listener in configuration.listeners],
            [allowed, allowed, AccessList(), AccessList()],
        )

    def test_protocolOptions(self) -> None:
        """
        C{[defaults.PROTOCOL]} gives the options of that protocol's
        listeners; a listener's own key wins.
        """
        configuration = self.read(
            """
            [defaults]
            protocol = "hello"
            [defaults.hello]
            greeting = "Hi {peer}"
            [listeners.a]
            endpoint = "tcp:1"
            [listeners.b]
            endpoint = "tcp:2"
            greeting = "Yo"
            [listeners.c]
            endpoint = "tcp:3"
            protocol = "echo"
            """
        )
        self.assertEqual(
            [dict(listener.options) for listener in configuration.listeners],
            [{"greeting": "Hi {peer}"}, {"greeting": "Yo"}, {}],
        )

    def test_protocolOptionsConverted(self) -> None:
        """
        A default option is given to the protocol as its check returns it.
        """
        listener = self.listener(
            """
            [defaults.line-print]
            output = "stdout"
            [listeners.a]
            endpoint = "udp:1"
            protocol = "line-print"
            """
        )
        self.assertEqual(
            dict(listener.options), {"output": "-", "outputbuffer": 1048576}
        )

    def test_unknownKey(self) -> None:
        """
        An unknown key of C{[defaults]} is named, with the nearest known
        one.
        """
        self.assertEqual(
            self.problem("[defaults]\nidel = 3\n"),
            'defaults: unknown key "idel"; did you mean "idle"?',
        )
        self.assertEqual(
            self.problem("[defaults]\nzzzzzz = 3\n"), 'defaults: unknown key "zzzzzz"'
        )

    def test_unknownProtocolTable(self) -> None:
        """
        A table for a protocol there is not is an unknown key.
        """
        self.assertEqual(
            self.problem("[defaults.helo]\ngreeting = 'x'\n"),
            'defaults: unknown key "helo"; did you mean "hello"?',
        )

    def test_unknownProtocol(self) -> None:
        """
        An unknown default protocol is named, with the nearest known one.
        """
        self.assertEqual(
            self.problem('[defaults]\nprotocol = "helo"\n'),
            "defaults: \"protocol\": unknown protocol 'helo'; the protocols are:"
            ' echo, hello, line-print, stream-only; did you mean "hello"?',
        )

    def test_protocolNotText(self) -> None:
        """
        A default protocol that is not text is refused.
        """
        self.assertEqual(
            self.problem("[defaults]\nprotocol = 3\n"),
            'defaults: "protocol" should be text, the name of a protocol',
        )

    def test_badValues(self) -> None:
        """
        Each wrong default limit or socket option is named with what is
        wrong, all of them at once.
        """
        self.assertEqual(
            self.problems(
                """
                [defaults]
                idle = -1
                mode = 660
                backlog = 0
                stale = "x"
                lockfile = "maybe"
                nodelay = "perhaps"
                sndbuf = "lots"
                allow = ["nonsense"]
                idle2 = 1
                """
            ),
            [
                "defaults: \"idle\": idle='-1' is not a number from 0 to 604800",
                'defaults: "mode": give "mode" as octal text, such as mode = "660"',
                "defaults: \"backlog\": backlog '0' is not a positive number",
                "defaults: \"stale\": stale='x' is not replace or fail",
                "defaults: \"lockfile\": lockfile='maybe' is not yes or no",
                "defaults: \"nodelay\": nodelay='perhaps' is not yes or no",
                "defaults: \"sndbuf\": sndbuf='lots' is not a positive number",
                "defaults: \"allow\": allow=: 'nonsense' is not an address or CIDR"
                r" block (such as 10.0.0.0/8, 192.0.2.7 or \:\:1/128), nor any or"
                " localhost",
                'defaults: unknown key "idle2"; did you mean "idle"?',
            ],
        )

    def test_notATable(self) -> None:
        """
        C{defaults} that is not a table is refused.
        """
        self.assertEqual(
            self.problem("defaults = 1\n"), '"defaults" should be a table: [defaults]'
        )

    def test_protocolOptionUnknown(self) -> None:
        """
        An unknown option in C{[defaults.PROTOCOL]} is named, with the
        nearest known one.
        """
        self.assertEqual(
            self.problem('[defaults.hello]\ngreting = "x"\n'),
            'defaults.hello: unknown option "greting" for protocol hello;'
            ' did you mean "greeting"?',
        )

    def test_protocolOptionWithoutOptions(self) -> None:
        """
        Any option in the table of a protocol that has none is unknown.
        """
        self.assertEqual(
            self.problem("[defaults.echo]\ngreeting = 'x'\n"),
            'defaults.echo: unknown option "greeting" for protocol echo',
        )

    def test_protocolOptionWrong(self) -> None:
        """
        A wrong value in C{[defaults.PROTOCOL]} is named once, with what is
        wrong, not once per listener.
        """
        self.assertEqual(
            self.problems(
                """
                [defaults.hello]
                greeting = 3
                [defaults.line-print]
                output = "relative.log"
                [listeners.a]
                endpoint = "tcp:1"
                protocol = "hello"
                [listeners.b]
                endpoint = "tcp:2"
                protocol = "hello"
                """
            ),
            [
                'defaults.hello: option "greeting": is a whole number; it should'
                " be text",
                "defaults.line-print: option \"output\": 'relative.log' is not -"
                " (standard output) or an absolute file path",
            ],
        )


class ListenerKeysTests(_ConfigTestCase):
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
        A wrong limit value is named as on the command line.
        """
        self.assertEqual(
            self.problem('[listeners.a]\nendpoint = "tcp:1"\nidle = -1\n'),
            "listener \"a\": idle='-1' is not a number from 0 to 604800",
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


class ListenerProblemsTests(_ConfigTestCase):
    """
    Tests for the problems of one listener's table, each named with the
    listener.
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
            'listener "a": "idle" applies to stream endpoints only, and udp:1 is'
            " a datagram endpoint",
        )
        self.assertEqual(
            self.problem('[listeners.a]\nendpoint = "tcp:1"\nreplyrate = 3\n'),
            'listener "a": "replyrate" applies to datagram endpoints only, and'
            " tcp:1 is a stream endpoint",
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


class EveryValueNamedTests(_ConfigTestCase):
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


class FileProblemsTests(_ConfigTestCase):
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
                'listener "b": "idle" applies to stream endpoints only, and udp:1'
                " is a datagram endpoint",
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
                " and tcp:1:idle=3 is a stream endpoint",
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


class LoadConfigTests(_ConfigTestCase):
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
