"""
Tests for L{sockplug.tap}.
"""

from __future__ import annotations

import io
import os
import sys

from twisted.application.service import IServiceCollection
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from sockplug.config._file import Configuration
from sockplug.discovery._registry import PluginFailure, Registry, discover
from sockplug.endpoints._datagram import UDPServerEndpoint
from sockplug.endpoints._stream import TCPServerEndpoint
from sockplug.errors import CommandLineError, ConfigError, ListenFailed
from sockplug.metrics._prometheus import MetricsService
from sockplug.plugin import ListenerInfo, ProtocolPlugin, TransportKind
from sockplug.server._hangup import ConfigReloader
from sockplug.server._service import ListenersService
from sockplug.tap import Options, checkConfig, describeProtocols, makeService
from sockplug.testing import MemoryDatagramReactor
from sockplug.testing._server import ServiceReactor as _Reactor


def _onlyDatagram(listener: ListenerInfo) -> object:
    raise AssertionError("not built at parse time")


def _writeConfig(case: SynchronousTestCase, text: str) -> str:
    """
    Write a configuration file for a test.

    @return: its path.
    """
    path = str(os.path.abspath(case.mktemp()))
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


_TWO = """\
max-connections = 77
shutdown-timeout = 9

[listeners.a]
endpoint = "tcp:8001"
protocol = "hello"
greeting = "Hi {peer}"

[listeners.b]
endpoint = "udp:8002"
"""


def _registry() -> Registry:
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


class OptionsTests(SynchronousTestCase):
    """
    Tests for L{Options}.
    """

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()
        self.registry = _registry()

    def parse(self, *args: str) -> Options:
        options = Options(reactor=self.reactor, registry=self.registry)
        options.parseOptions(list(args))
        return options

    def error(self, *args: str) -> str:
        e = self.assertRaises(CommandLineError, self.parse, *args)
        self.assertIsInstance(e, SystemExit)
        self.assertIsInstance(e.__cause__, usage.UsageError)
        message = str(e)
        self.assertNotIn("\n", message)
        self.assertTrue(message.startswith("twistd sockplug: "), message)
        return message

    def test_defaultProtocol(self) -> None:
        """
        An endpoint without C{NAME@} serves echo.
        """
        [listener] = self.parse("--endpoint", "tcp:8888")["listeners"]
        self.assertEqual(listener.plugin.name, "echo")
        self.assertIsInstance(listener.endpoint.endpoint, TCPServerEndpoint)

    def test_protocolOption(self) -> None:
        """
        C{--protocol} picks the protocol of endpoints without C{NAME@}, and
        C{NAME@} overrides it per endpoint.
        """
        listeners = self.parse(
            "--protocol",
            "line-print",
            "--endpoint",
            "unix:/tmp/p.sock",
            "-e",
            "hello@udp:9999",
        )["listeners"]
        self.assertEqual(
            [(listener.plugin.name, listener.spec.endpoint) for listener in listeners],
            [("line-print", "unix:/tmp/p.sock"), ("hello", "udp:9999")],
        )
        self.assertIsInstance(listeners[1].endpoint.endpoint, UDPServerEndpoint)

    def test_manyListeners(self) -> None:
        """
        The issue's example: four listeners, each with its own protocol, in
        the order given.
        """
        listeners = self.parse(
            "--endpoint",
            "hello@tcp:8000",
            "--endpoint",
            "echo@udp:7777",
            "--endpoint",
            "line-print@unixgram:/tmp/lp.dgram",
            "--endpoint",
            r"echo@tcp6:8888:interface=\:\:1",
        )["listeners"]
        self.assertEqual(
            [str(listener.spec) for listener in listeners],
            [
                "hello@tcp:8000",
                "echo@udp:7777",
                "line-print@unixgram:/tmp/lp.dgram",
                r"echo@tcp6:8888:interface=\:\:1",
            ],
        )
        self.assertEqual(
            [listener.endpoint.kind for listener in listeners],
            [
                TransportKind.STREAM,
                TransportKind.DATAGRAM,
                TransportKind.DATAGRAM,
                TransportKind.STREAM,
            ],
        )

    def test_noEndpoint(self) -> None:
        """
        No C{--endpoint} at all is an error that shows how to give one.
        """
        self.assertIn("--endpoint tcp:8888", self.error())

    def test_unknownProtocol(self) -> None:
        """
        An unknown protocol is an error naming the value and the protocols.
        """
        message = self.error("--endpoint", "nope@tcp:1")
        self.assertIn("--endpoint 'nope@tcp:1': unknown protocol 'nope'", message)
        self.assertIn("echo, hello", message)

    def test_unknownDefaultProtocol(self) -> None:
        """
        An unknown C{--protocol} is an error even if every endpoint names
        its own.
        """
        message = self.error("--protocol", "nope", "--endpoint", "echo@tcp:1")
        self.assertIn("--protocol: unknown protocol 'nope'", message)

    def test_unknownEndpointType(self) -> None:
        """
        An unknown endpoint type is an error naming the value.
        """
        message = self.error("--endpoint", "foo:1")
        self.assertIn("--endpoint 'foo:1': unknown endpoint type 'foo'", message)

    def test_malformedEndpoint(self) -> None:
        """
        A malformed endpoint is an error naming the value and the problem.
        """
        self.assertIn(
            "--endpoint 'udp:70000': port '70000' is not a number from 0 to 65535",
            self.error("--endpoint", "udp:70000"),
        )

    def test_unsupportedKind(self) -> None:
        """
        A protocol asked to serve a kind of endpoint it does not support is
        refused at start-up, before anything is built.
        """
        message = self.error("--endpoint", "dgram-only@tcp:1")
        self.assertIn(
            "protocol 'dgram-only' does not serve stream endpoints, only datagram",
            message,
        )

    def test_help(self) -> None:
        """
        The usage lists every protocol with its description and kinds, every
        endpoint type with an example, and examples of whole commands.
        """
        usage = Options(reactor=self.reactor, registry=self.registry).getUsage()
        self.assertIn(
            "echo        Sends back every byte it receives (RFC 862)."
            " [stream, datagram]",
            usage,
        )
        self.assertIn("dgram-only", usage)
        self.assertIn("(from tests)", usage)
        for example in (
            "e.g. tcp:8888:interface=127.0.0.1",
            r"e.g. tcp6:8888:interface=\:\:1",
            "e.g. udp:9999:interface=127.0.0.1",
            "e.g. unixgram:/tmp/sockplug.dgram:mode=660",
        ):
            self.assertIn(example, usage)
        self.assertIn("twistd -n sockplug --endpoint tcp:8888", usage)

    def test_helpFailures(self) -> None:
        """
        The usage lists the plugins that failed to load, with their errors.
        """
        registry = Registry(
            self.registry.protocols,
            self.registry.sources,
            (PluginFailure("sockplug.plugins.broken", "ZeroDivisionError: x"),),
            self.registry.datagramParsers,
        )
        usage = Options(reactor=self.reactor, registry=registry).getUsage()
        self.assertIn(
            "Plugins that failed to load:\n  sockplug.plugins.broken:"
            " ZeroDivisionError: x",
            usage,
        )


class ConfigOptionTests(SynchronousTestCase):
    """
    Tests for L{Options}' C{--config} and C{--check}.
    """

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()
        self.registry = _registry()
        self.stdout = io.StringIO()
        self.patch(sys, "stdout", self.stdout)

    def options(self) -> Options:
        return Options(reactor=self.reactor, registry=self.registry)

    def parse(self, *args: str) -> Options:
        options = self.options()
        options.parseOptions(list(args))
        return options

    def configuration(self, *args: str) -> Configuration:
        configuration = self.parse(*args)["configuration"]
        assert isinstance(configuration, Configuration)
        return configuration

    def test_listeners(self) -> None:
        """
        The file's listeners come after those of the command line.
        """
        path = _writeConfig(self, _TWO)
        configuration = self.configuration("--endpoint", "tcp:7000", "--config", path)
        self.assertEqual(
            [listener.displayName for listener in configuration.listeners],
            ["tcp:7000", "a", "b"],
        )
        self.assertEqual(
            dict(configuration.listeners[1].options), {"greeting": "Hi {peer}"}
        )

    def test_commandLineListenersKept(self) -> None:
        """
        C{listeners} holds the command line's listeners alone.
        """
        path = _writeConfig(self, _TWO)
        options = self.parse("-e", "tcp:7000", "-c", path)
        self.assertEqual(
            [listener.spec.endpoint for listener in options["listeners"]],
            ["tcp:7000"],
        )

    def test_commandLineListenerOptions(self) -> None:
        """
        A command-line listener's protocol gets its options' defaults.
        """
        [listener] = self.parse("--endpoint", "hello@tcp:7000")["listeners"]
        self.assertEqual(
            dict(listener.options),
            {"greeting": "Hello, {peer}! Send me your name, one per line."},
        )

    def test_fileSettings(self) -> None:
        """
        The file's settings apply when the command line does not give them.
        """
        configuration = self.configuration("--config", _writeConfig(self, _TWO))
        self.assertEqual(
            (configuration.maxConnections, configuration.shutdownTimeout),
            (77, 9.0),
        )

    def test_commandLineSettingsWin(self) -> None:
        """
        C{--max-connections} and C{--shutdown-timeout} win over the file.
        """
        options = self.parse(
            "--max-connections",
            "5",
            "--shutdown-timeout",
            "1",
            "--config",
            _writeConfig(self, _TWO),
        )
        configuration = options["configuration"]
        self.assertEqual(
            (configuration.maxConnections, configuration.shutdownTimeout),
            (None, None),
        )
        self.assertEqual(
            (options["max-connections"], options["shutdown-timeout"]), (5, 1.0)
        )

    def test_oneSettingEach(self) -> None:
        """
        A setting the command line gives wins; the other is the file's.
        """
        options = self.parse(
            "--shutdown-timeout", "1", "--config", _writeConfig(self, _TWO)
        )
        configuration = options["configuration"]
        self.assertEqual(
            (configuration.maxConnections, configuration.shutdownTimeout),
            (77, None),
        )

    def test_loadConfiguration(self) -> None:
        """
        L{Options.loadConfiguration} reads the file again, as it is now.
        """
        path = _writeConfig(self, _TWO)
        options = self.parse("--endpoint", "tcp:7000", "--config", path)
        with open(path, "w", encoding="utf-8") as f:
            f.write('[listeners.c]\nendpoint = "tcp:8003"\n')
        configuration = options.loadConfiguration()
        self.assertEqual(
            [listener.displayName for listener in configuration.listeners],
            ["tcp:7000", "c"],
        )
        self.assertEqual(
            (configuration.maxConnections, configuration.shutdownTimeout),
            (None, None),
        )

    def test_loadConfigurationProblems(self) -> None:
        """
        L{Options.loadConfiguration} raises L{ConfigError} for a file gone
        wrong since.
        """
        path = _writeConfig(self, _TWO)
        options = self.parse("--config", path)
        with open(path, "w", encoding="utf-8") as f:
            f.write("bogus = 1\n")
        e = self.assertRaises(ConfigError, options.loadConfiguration)
        self.assertEqual(e.problems, [f'{path}: unknown key "bogus"'])

    def test_rediscover(self) -> None:
        """
        L{Options.loadConfiguration} with C{rediscover} looks for the
        plugins again, rather than using those found at start-up.
        """
        path = _writeConfig(
            self, '[listeners.d]\nendpoint = "udp:1"\nprotocol = "dgram-only"\n'
        )
        options = self.parse("--config", path)
        self.assertEqual(len(options.loadConfiguration().listeners), 1)
        e = self.assertRaises(ConfigError, options.loadConfiguration, True)
        self.assertIn("unknown protocol 'dgram-only'", e.problems[0])

    def test_badFile(self) -> None:
        """
        A wrong file ends the program with every problem, one per line.
        """
        path = _writeConfig(
            self,
            '[listeners.a]\nendpoint = "tcp:1"\nbogus = 1\n'
            '[listeners.b]\nendpoint = "udp:1"\nidle = 3\n',
        )
        e = self.assertRaises(CommandLineError, self.parse, "--config", path)
        self.assertEqual(
            str(e).splitlines(),
            [
                f'{path}: listener "a": unknown option "bogus" for protocol echo',
                f'{path}: listener "b": "idle" applies to stream endpoints only,'
                " and udp:1 is a datagram endpoint",
            ],
        )

    def test_missingFile(self) -> None:
        """
        A file that cannot be read ends the program, naming it.
        """
        path = os.path.abspath(self.mktemp())
        e = self.assertRaises(CommandLineError, self.parse, "--config", path)
        self.assertEqual(str(e), f"{path}: cannot read it: No such file or directory")

    def test_absolutePath(self) -> None:
        """
        The file's path is made absolute, so that a reload finds it after
        twistd changes folder.
        """
        path = _writeConfig(self, _TWO)
        relative = os.path.relpath(path)
        self.assertNotEqual(relative, path)
        self.assertEqual(self.parse("--config", relative)["config"], path)

    def test_noListeners(self) -> None:
        """
        A file without listeners, and no C{--endpoint}, is an error.
        """
        path = _writeConfig(self, "max-connections = 5\n")
        e = self.assertRaises(CommandLineError, self.parse, "--config", path)
        self.assertEqual(
            str(e),
            f"twistd sockplug: no listeners: {path} has no [listeners.NAME]"
            " table, and no --endpoint was given (see twistd sockplug --help)",
        )

    def test_noFileListenersWithEndpoint(self) -> None:
        """
        A file without listeners is fine with an C{--endpoint}: it gives
        the settings.
        """
        path = _writeConfig(self, "max-connections = 5\n")
        configuration = self.configuration("-e", "tcp:1", "-c", path)
        self.assertEqual(len(configuration.listeners), 1)
        self.assertEqual(configuration.maxConnections, 5)

    def test_neitherEndpointNorConfig(self) -> None:
        """
        Neither C{--endpoint} nor C{--config} is an error naming both.
        """
        e = self.assertRaises(CommandLineError, self.parse)
        self.assertIn("no --endpoint or --config given", str(e))

    def test_noConfigByDefault(self) -> None:
        """
        Without C{--config} there is no configuration.
        """
        self.assertIsNone(self.parse("-e", "tcp:1")["configuration"])

    def test_check(self) -> None:
        """
        C{--check} with a right file says so, naming the listeners, and
        exits with status 0.
        """
        path = _writeConfig(self, _TWO)
        e = self.assertRaises(
            SystemExit, self.parse, "-e", "tcp:7000", "--config", path, "--check"
        )
        self.assertEqual(e.code, 0)
        self.assertEqual(
            self.stdout.getvalue(), f"{path}: ok, 3 listeners: tcp:7000, a, b\n"
        )

    def test_checkBadFile(self) -> None:
        """
        C{--check} with a wrong file ends with the problems, and says
        nothing on standard output.
        """
        path = _writeConfig(self, "bogus = 1\n[listeners.a]\n")
        e = self.assertRaises(CommandLineError, self.parse, "--config", path, "--check")
        self.assertEqual(
            str(e).splitlines(),
            [
                f'{path}: unknown key "bogus"',
                f'{path}: listener "a": needs "endpoint", an endpoint string such'
                ' as "tcp:8888"',
            ],
        )
        self.assertEqual(self.stdout.getvalue(), "")

    def test_checkWithoutConfig(self) -> None:
        """
        C{--check} without C{--config} is an error.
        """
        e = self.assertRaises(CommandLineError, self.parse, "-e", "tcp:1", "--check")
        self.assertEqual(
            str(e),
            "twistd sockplug: --check checks a --config FILE; give one (see"
            " twistd sockplug --help)",
        )

    def test_checkBadCommandLine(self) -> None:
        """
        C{--check} checks the command line too.
        """
        path = _writeConfig(self, _TWO)
        e = self.assertRaises(
            CommandLineError, self.parse, "-e", "udp:70000", "-c", path, "--check"
        )
        self.assertIn("--endpoint 'udp:70000'", str(e))
        self.assertEqual(self.stdout.getvalue(), "")


class DescribeProtocolsTests(SynchronousTestCase):
    """
    Tests for L{describeProtocols}.
    """

    def test_options(self) -> None:
        """
        Each protocol's options are listed under it, with type, default
        and help.
        """
        lines = describeProtocols(discover(entryPoints=lambda group: []))
        hello = next(i for i, line in enumerate(lines) if line.startswith("  hello "))
        self.assertEqual(
            lines[hello + 1].strip(),
            'option greeting (text, default "Hello, {peer}! Send me your name,'
            ' one per line."): sent to each peer when it connects (stream);'
            ' {peer} is its address; "" sends none',
        )
        printer = next(
            i for i, line in enumerate(lines) if line.startswith("  line-print ")
        )
        self.assertTrue(
            lines[printer + 1]
            .lstrip()
            .startswith('option output (text, default "-"): where lines go'),
            lines[printer + 1],
        )
        echo = next(i for i, line in enumerate(lines) if line.startswith("  echo "))
        self.assertFalse(lines[echo + 1].lstrip().startswith("option "))

    def test_optionsInHelp(self) -> None:
        """
        C{--help} lists the options.
        """
        usage = Options(
            reactor=MemoryDatagramReactor(),
            registry=discover(entryPoints=lambda group: []),
        ).getUsage()
        self.assertIn("option greeting (text, default", usage)
        self.assertIn("--config", usage)


class CheckConfigTests(SynchronousTestCase):
    """
    Tests for L{checkConfig}, C{sockplug check-config}.
    """

    def setUp(self) -> None:
        self.stdout = io.StringIO()
        self.stderr = io.StringIO()
        self.patch(sys, "stdout", self.stdout)
        self.patch(sys, "stderr", self.stderr)

    def test_right(self) -> None:
        """
        A right file gives status 0, and a line naming its listeners on
        standard output.
        """
        path = _writeConfig(self, _TWO)
        self.assertEqual(checkConfig(path, MemoryDatagramReactor()), 0)
        self.assertEqual(self.stdout.getvalue(), f"{path}: ok, 2 listeners: a, b\n")
        self.assertEqual(self.stderr.getvalue(), "")

    def test_noListeners(self) -> None:
        """
        A right file without listeners is right: it may be used with
        C{--endpoint}.
        """
        path = _writeConfig(self, "")
        self.assertEqual(checkConfig(path, MemoryDatagramReactor()), 0)
        self.assertEqual(self.stdout.getvalue(), f"{path}: ok, 0 listeners\n")

    def test_oneListener(self) -> None:
        """
        One listener is one listener, not "1 listeners".
        """
        path = _writeConfig(self, '[listeners.a]\nendpoint = "tcp:1"\n')
        self.assertEqual(checkConfig(path, MemoryDatagramReactor()), 0)
        self.assertEqual(self.stdout.getvalue(), f"{path}: ok, 1 listener: a\n")

    def test_wrong(self) -> None:
        """
        A wrong file gives status 1, and every problem on standard error.
        """
        path = _writeConfig(
            self,
            '[listeners.a]\nendpoint = "tcp:1"\nprotocol = "helo"\n'
            '[listeners.b]\nendpoint = "hello@tcp:2"\n',
        )
        self.assertEqual(checkConfig(path, MemoryDatagramReactor()), 1)
        self.assertEqual(self.stdout.getvalue(), "")
        lines = self.stderr.getvalue().splitlines()
        self.assertEqual(len(lines), 2, lines)
        self.assertTrue(
            lines[0].startswith(
                f'{path}: listener "a": "protocol": unknown protocol \'helo\''
            ),
            lines[0],
        )
        self.assertTrue(lines[0].endswith('; did you mean "hello"?'), lines[0])
        self.assertEqual(
            lines[1],
            f'{path}: listener "b": endpoint "hello@tcp:2": give the protocol as'
            ' protocol = "NAME", not NAME@ in the endpoint',
        )

    def test_missing(self) -> None:
        """
        A file that cannot be read gives status 1, naming it.
        """
        path = self.mktemp()
        self.assertEqual(checkConfig(path, MemoryDatagramReactor()), 1)
        self.assertEqual(
            self.stderr.getvalue(),
            f"{path}: cannot read it: No such file or directory\n",
        )


class MakeServiceTests(SynchronousTestCase):
    """
    Tests for L{makeService}.
    """

    def test_service(self) -> None:
        """
        The service holds one L{ListenersService} with every listener.
        """
        reactor = MemoryDatagramReactor()
        options = Options(reactor=reactor)
        options.parseOptions(["--endpoint", "tcp:1", "--endpoint", "udp:2"])
        service = makeService(options)
        [child] = list(IServiceCollection(service))
        self.assertIsInstance(child, ListenersService)
        assert isinstance(child, ListenersService)
        self.assertEqual(len(child.listeners), 2)
        service.privilegedStartService()
        self.assertEqual(len(reactor.tcpServers), 1)
        self.assertEqual(len(reactor.udpPorts), 1)

    def test_config(self) -> None:
        """
        With C{--config}, the service serves the file's listeners after the
        command line's, with the file's settings, and reloads on SIGHUP.
        """
        reactor = MemoryDatagramReactor()
        options = Options(reactor=reactor)
        options.parseOptions(
            ["--endpoint", "tcp:7000", "--config", _writeConfig(self, _TWO)]
        )
        service = makeService(options)
        children = list(IServiceCollection(service))
        self.assertEqual(
            [type(child) for child in children], [ListenersService, ConfigReloader]
        )
        listeners = children[0]
        assert isinstance(listeners, ListenersService)
        self.assertEqual(len(listeners.listeners), 3)
        self.assertEqual((listeners.budget.limit, listeners.shutdownTimeout), (77, 9.0))

    def test_commandLineSettings(self) -> None:
        """
        The command line's settings win over the file's in the service.
        """
        options = Options(reactor=MemoryDatagramReactor())
        options.parseOptions(
            [
                "--max-connections",
                "5",
                "--shutdown-timeout",
                "1",
                "--config",
                _writeConfig(self, _TWO),
            ]
        )
        [listeners, _] = list(IServiceCollection(makeService(options)))
        assert isinstance(listeners, ListenersService)
        self.assertEqual((listeners.budget.limit, listeners.shutdownTimeout), (5, 1.0))

    def test_noReloaderWithoutConfig(self) -> None:
        """
        Without C{--config}, nothing listens for SIGHUP.
        """
        options = Options(reactor=MemoryDatagramReactor())
        options.parseOptions(["--endpoint", "tcp:1"])
        self.assertEqual(
            [type(child) for child in IServiceCollection(makeService(options))],
            [ListenersService],
        )


class MetricsOptionTests(SynchronousTestCase):
    """
    Tests for C{--metrics}.
    """

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()

    def parse(self, *args: str) -> Options:
        options = Options(reactor=self.reactor, registry=_registry())
        options.parseOptions(["--endpoint", "tcp:1", *args])
        return options

    def error(self, *args: str) -> str:
        e = self.assertRaises(CommandLineError, self.parse, *args)
        self.assertIsInstance(e.__cause__, usage.UsageError)
        return str(e)

    def children(self, *args: str) -> list[object]:
        return list(IServiceCollection(makeService(self.parse(*args))))

    def test_endpoint(self) -> None:
        """
        C{--metrics} takes a stream endpoint string, parsed.
        """
        endpoint = self.parse("--metrics", "tcp:9100:interface=127.0.0.1")[
            "metrics-endpoint"
        ]
        self.assertEqual(
            (endpoint.description, endpoint.kind),
            ("tcp:9100:interface=127.0.0.1", TransportKind.STREAM),
        )
        self.assertIsInstance(endpoint.endpoint, TCPServerEndpoint)
        self.assertEqual(
            (endpoint.endpoint.port, endpoint.endpoint.interface), (9100, "127.0.0.1")
        )

    def test_limits(self) -> None:
        """
        The endpoint takes the limits a listener's does.
        """
        endpoint = self.parse("--metrics", "tcp:9100:maxconn=3")["metrics-endpoint"]
        self.assertEqual(endpoint.limits.maxConnections, 3)

    def test_none(self) -> None:
        """
        Without C{--metrics}, there is no metrics endpoint.
        """
        self.assertIsNone(self.parse()["metrics-endpoint"])

    def test_datagram(self) -> None:
        """
        A datagram endpoint is refused, in one line saying why.
        """
        self.assertEqual(
            self.error("--metrics", "udp:9100"),
            "twistd sockplug: --metrics 'udp:9100': the metrics are served over"
            " HTTP, which needs a stream endpoint (tcp:, tcp6:, unix:, ssl:...)"
            " (see twistd sockplug --help)",
        )

    def test_malformed(self) -> None:
        """
        A malformed endpoint is refused, in one line naming it and what is
        wrong.
        """
        self.assertEqual(
            self.error("--metrics", "tcp:99999"),
            "twistd sockplug: --metrics 'tcp:99999': port '99999' is not a number"
            " from 0 to 65535 (see twistd sockplug --help)",
        )

    def test_unknownType(self) -> None:
        """
        An endpoint of no known type is refused, in one line naming it.
        """
        message = self.error("--metrics", "foo:1")
        self.assertTrue(
            message.startswith(
                "twistd sockplug: --metrics 'foo:1': unknown endpoint type 'foo';"
            ),
            message,
        )
        self.assertNotIn("\n", message)

    def test_twice(self) -> None:
        """
        C{--metrics} given twice is refused, in one line naming both.
        """
        self.assertEqual(
            self.error("--metrics", "tcp:9100", "--metrics", "tcp:9101"),
            "twistd sockplug: --metrics given twice ('tcp:9100', 'tcp:9101');"
            " there is one metrics endpoint (see twistd sockplug --help)",
        )

    def test_service(self) -> None:
        """
        With C{--metrics}, the service has a L{MetricsService} after the
        listeners, reading them; without a file, no reloads.
        """
        children = self.children("--metrics", "tcp:9100")
        self.assertEqual(
            [type(child) for child in children], [ListenersService, MetricsService]
        )
        metrics = children[1]
        assert isinstance(metrics, MetricsService)
        reading = metrics.read()
        self.assertEqual(reading.reloads, None)
        self.assertEqual(reading.maxConnections, 10_000)

    def test_serviceWithConfig(self) -> None:
        """
        With C{--config} too, the metrics count the reloader's reloads.
        """
        children = self.children(
            "--metrics", "tcp:9100", "--config", _writeConfig(self, _TWO)
        )
        self.assertEqual(
            [type(child) for child in children],
            [ListenersService, ConfigReloader, MetricsService],
        )
        metrics = children[2]
        assert isinstance(metrics, MetricsService)
        self.assertEqual(metrics.read().reloads, {"done": 0, "failed": 0})

    def test_noService(self) -> None:
        """
        Without C{--metrics}, there is no L{MetricsService}.
        """
        self.assertNotIn(MetricsService, [type(child) for child in self.children()])

    def test_metricsFailureClosesListeners(self) -> None:
        """
        When the metrics endpoint cannot listen, start-up fails with one
        line, and the listeners are not left listening: as when a listener
        fails, a UNIX socket's file and lock must not outlive the process.
        """
        reactor = _Reactor()
        reactor.refuse.add(9100)
        options = Options(reactor=reactor, registry=_registry())
        options.parseOptions(["--endpoint", "tcp:8000", "--metrics", "tcp:9100"])
        service = makeService(options)
        e = self.assertRaises(ListenFailed, service.privilegedStartService)
        self.assertEqual(
            str(e),
            "sockplug: --metrics: cannot listen on 'tcp:9100': something is"
            " already listening there",
        )
        self.assertEqual(reactor.listening(8000), [])
