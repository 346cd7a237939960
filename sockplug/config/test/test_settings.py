"""
Tests for L{sockplug.config._settings}: the command line and the
configuration file, resolved.
"""

from __future__ import annotations

import os

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from sockplug.config._file import Configuration
from sockplug.config._settings import (
    Settings,
    asCommandLineError,
    reloadFile,
    resolveSettings,
    settingsOf,
)
from sockplug.discovery import Registry
from sockplug.endpoints._datagram import UDPServerEndpoint
from sockplug.endpoints._stream import TCPServerEndpoint
from sockplug.errors import CommandLineError, ConfigError
from sockplug.options import CommandLine, ProcessOptions
from sockplug.plugin import TransportKind
from sockplug.testing import MemoryDatagramReactor
from sockplug.testing._config import TWO_LISTENERS, registry, writeConfig


class _SettingsTestCase(SynchronousTestCase):
    """
    Resolves command lines as C{twistd sockplug} does, with the built-in
    protocols and C{dgram-only}.
    """

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()
        self.registry = registry()

    def parse(self, *args: str) -> Settings:
        options = ProcessOptions()
        options.parseOptions(list(args))
        return settingsOf(options.commandLine(), self.registry, self.reactor)

    def error(self, *args: str) -> str:
        e = self.assertRaises(CommandLineError, self.parse, *args)
        self.assertIsInstance(e, SystemExit)
        self.assertIsInstance(e.__cause__, usage.UsageError)
        message = str(e)
        self.assertNotIn("\n", message)
        self.assertTrue(message.startswith("twistd sockplug: "), message)
        return message

    def configuration(self, *args: str) -> Configuration:
        configuration = self.parse(*args).configuration
        assert isinstance(configuration, Configuration)
        return configuration


class CommandLineListenersTests(_SettingsTestCase):
    """
    Tests for the listeners of C{--endpoint}.
    """

    def test_defaultProtocol(self) -> None:
        """
        An endpoint without C{NAME@} serves echo.
        """
        [listener] = self.parse("--endpoint", "tcp:8888").commandLineListeners
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
        ).commandLineListeners
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
        ).commandLineListeners
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


class ConfigFileTests(_SettingsTestCase):
    """
    Tests for C{--config}: the file's listeners and settings, with the
    command line's.
    """

    def plugins(self) -> Registry:
        return self.registry

    def test_listeners(self) -> None:
        """
        The file's listeners come after those of the command line.
        """
        path = writeConfig(self, TWO_LISTENERS)
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
        path = writeConfig(self, TWO_LISTENERS)
        settings = self.parse("-e", "tcp:7000", "-c", path)
        self.assertEqual(
            [listener.spec.endpoint for listener in settings.commandLineListeners],
            ["tcp:7000"],
        )

    def test_commandLineListenerOptions(self) -> None:
        """
        A command-line listener's protocol gets its options' defaults.
        """
        [listener] = self.parse("--endpoint", "hello@tcp:7000").commandLineListeners
        self.assertEqual(
            dict(listener.options),
            {"greeting": "Hello, {peer}! Send me your name, one per line."},
        )

    def test_fileSettings(self) -> None:
        """
        The file's settings apply when the command line does not give them.
        """
        configuration = self.configuration("--config", writeConfig(self, TWO_LISTENERS))
        self.assertEqual(
            (configuration.maxConnections, configuration.shutdownTimeout),
            (77, 9.0),
        )

    def test_commandLineSettingsWin(self) -> None:
        """
        C{--max-connections} and C{--shutdown-timeout} win over the file.
        """
        settings = self.parse(
            "--max-connections",
            "5",
            "--shutdown-timeout",
            "1",
            "--config",
            writeConfig(self, TWO_LISTENERS),
        )
        configuration = settings.configuration
        assert configuration is not None
        self.assertEqual(
            (configuration.maxConnections, configuration.shutdownTimeout),
            (None, None),
        )
        self.assertEqual(
            (settings.commandLine.maxConnections, settings.commandLine.shutdownTimeout),
            (5, 1.0),
        )

    def test_oneSettingEach(self) -> None:
        """
        A setting the command line gives wins; the other is the file's.
        """
        settings = self.parse(
            "--shutdown-timeout", "1", "--config", writeConfig(self, TWO_LISTENERS)
        )
        configuration = settings.configuration
        assert configuration is not None
        self.assertEqual(
            (configuration.maxConnections, configuration.shutdownTimeout),
            (77, None),
        )

    def test_loadConfiguration(self) -> None:
        """
        L{reloadFile} reads the file again, as it is now.
        """
        path = writeConfig(self, TWO_LISTENERS)
        settings = self.parse("--endpoint", "tcp:7000", "--config", path)
        with open(path, "w", encoding="utf-8") as f:
            f.write('[listeners.c]\nendpoint = "tcp:8003"\n')
        configuration, _ = reloadFile(settings, self.reactor, plugins=self.plugins)
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
        L{reloadFile} raises L{ConfigError} for a file gone wrong since.
        """
        path = writeConfig(self, TWO_LISTENERS)
        settings = self.parse("--config", path)
        with open(path, "w", encoding="utf-8") as f:
            f.write("bogus = 1\n")
        e = self.assertRaises(
            ConfigError, reloadFile, settings, self.reactor, plugins=self.plugins
        )
        self.assertEqual(e.problems, [f'{path}: unknown key "bogus"'])

    def test_rediscover(self) -> None:
        """
        L{reloadFile} looks for the plugins again (by default), rather than
        using those found at start-up.
        """
        path = writeConfig(
            self, '[listeners.d]\nendpoint = "udp:1"\nprotocol = "dgram-only"\n'
        )
        settings = self.parse("--config", path)
        configuration, _ = reloadFile(settings, self.reactor, plugins=self.plugins)
        self.assertEqual(len(configuration.listeners), 1)
        e = self.assertRaises(ConfigError, reloadFile, settings, self.reactor)
        self.assertIn("unknown protocol 'dgram-only'", e.problems[0])

    def test_badFile(self) -> None:
        """
        A wrong file ends the program with every problem, one per line.
        """
        path = writeConfig(
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
                ' and "udp:1" is a datagram endpoint',
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
        path = writeConfig(self, TWO_LISTENERS)
        relative = os.path.relpath(path)
        self.assertNotEqual(relative, path)
        self.assertEqual(self.parse("--config", relative).commandLine.config, path)

    def test_noListeners(self) -> None:
        """
        A file without listeners, and no C{--endpoint}, is an error.
        """
        path = writeConfig(self, "max-connections = 5\n")
        e = self.assertRaises(CommandLineError, self.parse, "--config", path)
        self.assertEqual(
            str(e),
            f"no listeners: {path} has no [listeners.NAME] table, and no"
            " --endpoint was given",
        )

    def test_sameSocketAsEndpoint(self) -> None:
        """
        A file's listener on the socket of an C{--endpoint} is refused, in
        one line naming both.
        """
        path = writeConfig(self, '[listeners.a]\nendpoint = "tcp:port=1"\n')
        e = self.assertRaises(
            CommandLineError, self.parse, "--endpoint", "tcp:1", "--config", path
        )
        self.assertEqual(
            str(e),
            f'{path}: listeners "tcp:1" and "a" listen on the same socket'
            ' ("tcp:port=1")',
        )

    def test_overlappingEndpoints(self) -> None:
        """
        Two C{--endpoint}s the kernel would not both bind are refused, in
        one line naming both.
        """
        e = self.assertRaises(
            CommandLineError,
            self.parse,
            "--endpoint",
            "tcp:1",
            "--endpoint",
            "tcp:1:interface=127.0.0.1",
        )
        self.assertEqual(
            str(e),
            "twistd sockplug: --endpoint: listeners 'tcp:1' and"
            " 'tcp:1:interface=127.0.0.1' listen on overlapping addresses: the"
            " second could not listen (see twistd sockplug --help)",
        )

    def test_endpointsQuotedAsTyped(self) -> None:
        """
        Two C{--endpoint}s on one socket are named as typed: an escaped
        colon is shown with one backslash, not doubled as in a file.
        """
        e = self.assertRaises(
            CommandLineError,
            self.parse,
            "--endpoint",
            "tcp6:1:interface=\\:\\:1",
            "--endpoint",
            "tcp6:1:interface=\\:\\:1",
        )
        self.assertEqual(
            str(e),
            "twistd sockplug: --endpoint: listeners 'tcp6:1:interface=\\:\\:1'"
            " and 'tcp6:1:interface=\\:\\:1' listen on the same socket"
            " ('tcp6:1:interface=\\:\\:1') (see twistd sockplug --help)",
        )

    def test_samePathEndpoints(self) -> None:
        """
        A UNIX stream and a UNIX datagram C{--endpoint} on one path are
        refused: they share the file.
        """
        e = self.assertRaises(
            CommandLineError,
            self.parse,
            "--endpoint",
            "unix:/tmp/s",
            "--endpoint",
            "echo@unixgram:/tmp/s",
        )
        self.assertIn("listen on the same path", str(e))

    def test_noFileListenersWithEndpoint(self) -> None:
        """
        A file without listeners is fine with an C{--endpoint}: it gives
        the settings.
        """
        path = writeConfig(self, "max-connections = 5\n")
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
        self.assertIsNone(self.parse("-e", "tcp:1").configuration)


class MetricsEndpointTests(_SettingsTestCase):
    """
    Tests for the endpoint of C{--metrics}.
    """

    def parse(self, *args: str) -> Settings:
        return super().parse("--endpoint", "tcp:1", *args)

    def test_endpoint(self) -> None:
        """
        C{--metrics} takes a stream endpoint string, parsed.
        """
        endpoint = self.parse("--metrics", "tcp:9100:interface=127.0.0.1").metrics
        assert endpoint is not None
        self.assertEqual(
            (endpoint.description, endpoint.kind),
            ("tcp:9100:interface=127.0.0.1", TransportKind.STREAM),
        )
        self.assertIsInstance(endpoint.endpoint, TCPServerEndpoint)
        assert isinstance(endpoint.endpoint, TCPServerEndpoint)
        self.assertEqual(
            (endpoint.endpoint.port, endpoint.endpoint.interface), (9100, "127.0.0.1")
        )

    def test_limits(self) -> None:
        """
        The endpoint takes the limits a listener's does.
        """
        endpoint = self.parse("--metrics", "tcp:9100:maxconn=3").metrics
        assert endpoint is not None
        self.assertEqual(endpoint.limits.maxConnections, 3)

    def test_none(self) -> None:
        """
        Without C{--metrics}, there is no metrics endpoint.
        """
        self.assertIsNone(self.parse().metrics)

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


class MetricsClashTests(_SettingsTestCase):
    """
    C{--metrics} on a listener's socket, which one of them could not listen
    on, is refused before anything listens.
    """

    def test_sameSocket(self) -> None:
        """
        An C{--endpoint} on the metrics' own socket is refused, in one line.
        """
        self.assertEqual(
            self.error("--endpoint", "tcp:1", "--metrics", "tcp:port=1"),
            "twistd sockplug: --metrics 'tcp:port=1' and listener 'tcp:1'"
            " listen on the same socket: they cannot both listen (see twistd"
            " sockplug --help)",
        )

    def test_overlapping(self) -> None:
        """
        An C{--endpoint} on an address overlapping the metrics' is refused.
        """
        message = self.error(
            "--endpoint", "tcp:1", "--metrics", "tcp:1:interface=127.0.0.1"
        )
        self.assertIn("listen on overlapping addresses", message)

    def test_portZero(self) -> None:
        """
        Port 0 is a new port each time: no clash.
        """
        settings = self.parse("--endpoint", "tcp:0", "--metrics", "tcp:0")
        self.assertIsNotNone(settings.metrics)

    def test_fileListener(self) -> None:
        """
        A file's listener on the metrics' socket is refused, naming the file.
        """
        path = writeConfig(self, '[listeners.a]\nendpoint = "unix:/tmp/m"\n')
        e = self.assertRaises(
            CommandLineError,
            self.parse,
            "--config",
            path,
            "--metrics",
            "unix:/tmp/./m",
        )
        self.assertEqual(
            str(e),
            f"{path}: --metrics 'unix:/tmp/./m' and listener \"a\""
            ' ("unix:/tmp/m") listen on the same path: they cannot both listen',
        )


class SettingsTests(_SettingsTestCase):
    """
    Tests for L{Settings} and L{resolveSettings} themselves.
    """

    def test_listenersWithoutFile(self) -> None:
        """
        Without a file, the listeners are the command line's, and the
        settings the command line's (or their defaults).
        """
        settings = self.parse("-e", "tcp:1", "--max-connections", "5")
        self.assertEqual(settings.listeners, settings.commandLineListeners)
        self.assertEqual((settings.maxConnections, settings.shutdownTimeout), (5, 5.0))
        self.assertIsNone(settings.configText)

    def test_listenersWithFile(self) -> None:
        """
        With a file, the listeners are the command line's and the file's,
        the settings the file's where the command line gives none, and its
        text is kept.
        """
        path = writeConfig(self, TWO_LISTENERS)
        settings = self.parse("-e", "tcp:1", "-c", path, "--shutdown-timeout", "2")
        self.assertEqual(len(settings.listeners), 3)
        self.assertEqual((settings.maxConnections, settings.shutdownTimeout), (77, 2.0))
        self.assertEqual(settings.configText, TWO_LISTENERS)

    def test_frozen(self) -> None:
        """
        The settings cannot be changed once resolved.
        """
        settings = self.parse("-e", "tcp:1")
        self.assertRaises(AttributeError, setattr, settings, "metrics", None)

    def test_readGiven(self) -> None:
        """
        The file is read with the reader given (a worker's gives the text
        its supervisor passed), and the problems name its path.
        """
        read: list[str] = []

        def fromMemory(path: str) -> bytes:
            read.append(path)
            return b"bogus = 1\n"

        e = self.assertRaises(
            ConfigError,
            resolveSettings,
            CommandLine(config="/nowhere/s.toml"),
            self.registry,
            self.reactor,
            fromMemory,
        )
        self.assertEqual(read, ["/nowhere/s.toml"])
        self.assertEqual(e.problems, ['/nowhere/s.toml: unknown key "bogus"'])

    def test_usageErrors(self) -> None:
        """
        L{resolveSettings} raises a mistake on the command line as
        L{usage.UsageError}, without the program's name.
        """
        e = self.assertRaises(
            usage.UsageError,
            resolveSettings,
            CommandLine(),
            self.registry,
            self.reactor,
        )
        self.assertTrue(str(e).startswith("no --endpoint or --config given"), str(e))

    def test_asCommandLineError(self) -> None:
        """
        A mistake on the command line becomes one line naming the program;
        the problems of a file, one line each.
        """
        self.assertEqual(
            str(asCommandLineError(usage.UsageError("x"))),
            "twistd sockplug: x (see twistd sockplug --help)",
        )
        self.assertEqual(str(asCommandLineError(ConfigError(["a", "b"]))), "a\nb")

    def test_workerResolvesTheSame(self) -> None:
        """
        A command line written as JSON (as a worker is given it) resolves to
        the same listeners.
        """
        path = writeConfig(self, TWO_LISTENERS)
        settings = self.parse("-e", "hello@tcp:1", "-c", path, "--max-connections", "9")
        again = settingsOf(
            CommandLine.fromJSON(settings.commandLine.toJSON()),
            self.registry,
            self.reactor,
        )
        self.assertEqual(
            [(each.spec, each.endpoint.description) for each in again.listeners],
            [(each.spec, each.endpoint.description) for each in settings.listeners],
        )
        self.assertEqual(again.maxConnections, 9)
