"""
Tests for L{sockplug.tap}: the C{twistd sockplug} command line and the
service built from it.
"""

from __future__ import annotations

import atexit
import io
import os
import sys

from twisted.application.service import IServiceCollection
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from sockplug import tap
from sockplug.discovery._registry import discover
from sockplug.errors import CommandLineError, ListenFailed
from sockplug.metrics._prometheus import MetricsService
from sockplug.options import ProcessOptions
from sockplug.server._hangup import ConfigReloader, NothingToReload
from sockplug.server._service import ListenersService
from sockplug.server._start import ServerRoot
from sockplug.tap import Options, makeService
from sockplug.testing import MemoryDatagramReactor
from sockplug.testing._config import TWO_LISTENERS, registry, writeConfig
from sockplug.testing._server import ServiceReactor as _Reactor


class OptionsTests(SynchronousTestCase):
    """
    Tests for L{Options}: C{--max-connections} and C{--shutdown-timeout},
    and the help.
    """

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()
        self.registry = discover(entryPoints=lambda group: [])

    def parse(self, *args: str) -> Options:
        options = Options(reactor=self.reactor, registry=self.registry)
        options.parseOptions(["--endpoint", "tcp:8888", *args])
        return options

    def error(self, *args: str) -> str:
        e = self.assertRaises(CommandLineError, self.parse, *args)
        self.assertIsInstance(e.__cause__, usage.UsageError)
        message = str(e)
        self.assertNotIn("\n", message)
        self.assertTrue(message.startswith("twistd sockplug: "), message)
        return message

    def test_defaults(self) -> None:
        """
        By default, 10000 connections are allowed, and shutdown waits 5 s.
        """
        settings = self.parse().settings
        self.assertEqual(
            (settings.maxConnections, settings.shutdownTimeout), (10_000, 5.0)
        )

    def test_maxConnections(self) -> None:
        """
        C{--max-connections N} sets the process-wide bound.
        """
        self.assertEqual(
            self.parse("--max-connections", "500").settings.maxConnections, 500
        )

    def test_maxConnectionsBounds(self) -> None:
        """
        C{--max-connections} takes 1 and 1000000.
        """
        self.assertEqual(
            [
                self.parse("--max-connections", value).settings.maxConnections
                for value in ("1", "1000000")
            ],
            [1, 1_000_000],
        )

    def test_maxConnectionsInvalid(self) -> None:
        """
        A C{--max-connections} that is not a whole number from 1 to 1000000
        is refused with one line naming the value and the range.
        """
        for value in ("0", "-5", "1000001", "ten", "1.5", ""):
            self.assertIn(
                f"--max-connections {value!r} is not a whole number from 1 to 1000000",
                self.error("--max-connections", value),
            )

    def test_shutdownTimeout(self) -> None:
        """
        C{--shutdown-timeout S} sets the seconds open connections get, and
        takes fractions.
        """
        self.assertEqual(
            self.parse("--shutdown-timeout", "2.5").settings.shutdownTimeout, 2.5
        )

    def test_shutdownTimeoutBounds(self) -> None:
        """
        C{--shutdown-timeout} takes 0 and 86400.
        """
        self.assertEqual(
            [
                self.parse("--shutdown-timeout", value).settings.shutdownTimeout
                for value in ("0", "86400")
            ],
            [0.0, 86400.0],
        )

    def test_shutdownTimeoutInvalid(self) -> None:
        """
        A C{--shutdown-timeout} that is not a number of seconds from 0 to
        86400 is refused with one line naming the value and the range.
        """
        for value in ("-1", "86400.5", "soon", "nan", "inf", ""):
            self.assertIn(
                f"--shutdown-timeout {value!r} is not a number of seconds from 0"
                " to 86400",
                self.error("--shutdown-timeout", value),
            )

    def test_passedToService(self) -> None:
        """
        The service built from the options uses both.
        """
        options = self.parse("--max-connections", "42", "--shutdown-timeout", "1.5")
        [service, _] = list(makeService(options))  # type: ignore[call-overload]
        assert isinstance(service, ListenersService)
        self.assertEqual((service.budget.limit, service.shutdownTimeout), (42, 1.5))

    def test_help(self) -> None:
        """
        The usage is the options' (from their table), then the catalogue.
        """
        options = Options(reactor=self.reactor, registry=self.registry)
        usage = options.getUsage(width=80)
        self.assertTrue(usage.startswith(ProcessOptions().getUsage(width=80)), usage)
        self.assertIn(
            "\nProtocols (--protocol NAME, or --endpoint NAME@ENDPOINT):\n", usage
        )

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


class CheckOptionTests(SynchronousTestCase):
    """
    Tests for C{--check}.
    """

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()
        self.registry = registry()
        self.stdout = io.StringIO()
        self.patch(sys, "stdout", self.stdout)

    def parse(self, *args: str) -> Options:
        options = Options(reactor=self.reactor, registry=self.registry)
        options.parseOptions(list(args))
        return options

    def test_check(self) -> None:
        """
        C{--check} with a right file says so, naming the listeners, and
        exits with status 0.
        """
        path = writeConfig(self, TWO_LISTENERS)
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
        path = writeConfig(self, "bogus = 1\n[listeners.a]\n")
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
        path = writeConfig(self, TWO_LISTENERS)
        e = self.assertRaises(
            CommandLineError, self.parse, "-e", "udp:70000", "-c", path, "--check"
        )
        self.assertIn("--endpoint 'udp:70000'", str(e))
        self.assertEqual(self.stdout.getvalue(), "")


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
        [child, hangup] = list(IServiceCollection(service))
        self.assertIsInstance(child, ListenersService)
        self.assertIsInstance(hangup, NothingToReload)
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
            ["--endpoint", "tcp:7000", "--config", writeConfig(self, TWO_LISTENERS)]
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
                writeConfig(self, TWO_LISTENERS),
            ]
        )
        [listeners, _] = list(IServiceCollection(makeService(options)))
        assert isinstance(listeners, ListenersService)
        self.assertEqual((listeners.budget.limit, listeners.shutdownTimeout), (5, 1.0))

    def test_logLimitUnderTwistd(self) -> None:
        """
        Under twistd (whose options are the parent of sockplug's), the log
        twistd begins next goes through the process's rate limit.
        """
        limited: list[object] = []
        self.patch(tap, "limitTwistdLog", limited.append)
        self.patch(atexit, "register", lambda f: None)
        reactor = MemoryDatagramReactor()
        options = Options(reactor=reactor)
        options.parseOptions(["--endpoint", "tcp:1"])
        options.parent = usage.Options()
        makeService(options)
        self.assertEqual(limited, [reactor])

    def test_abandonedAtExitUnderTwistd(self) -> None:
        """
        Under twistd, which can still fail after the service has started,
        the service's abandonment is registered to run at the process's
        exit.
        """
        registered: list[object] = []
        self.patch(tap, "limitTwistdLog", lambda reactor: None)
        self.patch(atexit, "register", registered.append)
        options = Options(reactor=MemoryDatagramReactor())
        options.parseOptions(["--endpoint", "tcp:1"])
        options.parent = usage.Options()
        root = makeService(options)
        assert isinstance(root, ServerRoot)
        self.assertEqual(registered, [root.abandonAtExit])

    def test_relativePathsInRundir(self) -> None:
        """
        Under twistd, a relative UNIX path is checked against others in
        the folder twistd will run the server in (C{--rundir}): the same
        name in the folder the command was given in is another socket.
        """
        folder = "/tmp"  # (short: a socket's path is at most 107 bytes)
        here = os.path.abspath("s.sock")
        parent = usage.Options()
        parent.update(rundir=folder, nodaemon=True)
        options = Options(reactor=MemoryDatagramReactor())
        options.parent = parent
        options.parseOptions(["-e", "unix:s.sock", "-e", f"unix:{here}"])
        self.assertEqual(len(options.settings.listeners), 2)
        options = Options(reactor=MemoryDatagramReactor())
        options.parent = parent
        e = self.assertRaises(
            CommandLineError,
            options.parseOptions,
            ["-e", "unix:s.sock", "-e", f"unix:{folder}/s.sock"],
        )
        self.assertIn("listen on the same path", str(e))

    def test_noLogLimitOtherwise(self) -> None:
        """
        Outside twistd, the log is left as it is.
        """
        limited: list[object] = []
        self.patch(tap, "limitTwistdLog", limited.append)
        options = Options(reactor=MemoryDatagramReactor())
        options.parseOptions(["--endpoint", "tcp:1"])
        makeService(options)
        self.assertEqual(limited, [])

    def test_noReloaderWithoutConfig(self) -> None:
        """
        Without C{--config}, nothing reloads: SIGHUP is only ignored.
        """
        options = Options(reactor=MemoryDatagramReactor())
        options.parseOptions(["--endpoint", "tcp:1"])
        self.assertEqual(
            [type(child) for child in IServiceCollection(makeService(options))],
            [ListenersService, NothingToReload],
        )


class MetricsOptionTests(SynchronousTestCase):
    """
    Tests for C{--metrics}.
    """

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()

    def parse(self, *args: str) -> Options:
        options = Options(reactor=self.reactor, registry=registry())
        options.parseOptions(["--endpoint", "tcp:1", *args])
        return options

    def error(self, *args: str) -> str:
        e = self.assertRaises(CommandLineError, self.parse, *args)
        self.assertIsInstance(e.__cause__, usage.UsageError)
        return str(e)

    def children(self, *args: str) -> list[object]:
        service = makeService(self.parse(*args))
        # (Started: its metrics are in the process's registry until it stops.)
        self.addCleanup(service.stopService)
        return list(IServiceCollection(service))

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
            [type(child) for child in children],
            [ListenersService, NothingToReload, MetricsService],
        )
        metrics = children[2]
        assert isinstance(metrics, MetricsService)
        reading = metrics.read()
        self.assertEqual(reading.reloads, None)
        self.assertEqual(reading.maxConnections, 10_000)

    def test_serviceWithConfig(self) -> None:
        """
        With C{--config} too, the metrics count the reloader's reloads.
        """
        children = self.children(
            "--metrics", "tcp:9100", "--config", writeConfig(self, TWO_LISTENERS)
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
        options = Options(reactor=reactor, registry=registry())
        options.parseOptions(["--endpoint", "tcp:8000", "--metrics", "tcp:9100"])
        e = self.assertRaises(ListenFailed, makeService, options)
        self.assertEqual(
            str(e),
            "sockplug: --metrics: cannot listen on 'tcp:9100': something is"
            " already listening there",
        )
        self.assertEqual(reactor.listening(8000), [])
