"""
Tests for L{sockplug.workers._setup}: C{--workers N} on the command line,
and the service C{makeService} builds for it.
"""

from __future__ import annotations

import json
import os
import sys

from twisted.application.service import IServiceCollection, MultiService
from twisted.trial.unittest import SynchronousTestCase

from sockplug.config import settingsOf
from sockplug.errors import CommandLineError
from sockplug.options import CommandLine
from sockplug.server._hangup import NothingToReload
from sockplug.server._service import ListenersService
from sockplug.tap import Options, makeService
from sockplug.testing import MemoryDatagramReactor
from sockplug.workers._process import BOOT
from sockplug.workers._reload import WorkersReloader
from sockplug.workers._setup import supervise, workerCommand
from sockplug.workers._site import WorkersMetricsService
from sockplug.workers._supervisor import WorkersService

_CONFIG = """\
shutdown-timeout = 7

[listeners.web]
endpoint = "tcp:8001"
"""


class OptionTests(SynchronousTestCase):
    """
    C{--workers} among the other options of C{twistd sockplug}.
    """

    def parse(self, *args: str) -> Options:
        options = Options(reactor=MemoryDatagramReactor())
        options.parseOptions(list(args))
        return options

    def error(self, *args: str) -> str:
        e = self.assertRaises(CommandLineError, self.parse, *args)
        message = str(e)
        self.assertNotIn("\n", message)
        return message

    def config(self, text: str = _CONFIG) -> str:
        path = str(os.path.abspath(self.mktemp()))
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def services(self, *args: str) -> list[object]:
        """
        The services C{makeService} builds for C{args}, the supervisor
        first.
        """
        root = makeService(self.parse(*args))
        self.assertIsInstance(root, MultiService)
        services = list(IServiceCollection(root))
        self.assertIsInstance(services[0], WorkersService)
        return services

    def supervisor(self, *args: str) -> WorkersService:
        """
        The supervisor C{makeService} builds for C{args}.
        """
        supervisor = self.services(*args)[0]
        assert isinstance(supervisor, WorkersService)
        return supervisor

    def test_default(self) -> None:
        """
        Without C{--workers}, there is one process: the service is the one
        of old.
        """
        options = self.parse("-e", "tcp:0")
        self.assertEqual(options.settings.commandLine.workers, 1)
        [listeners, hangup] = list(IServiceCollection(makeService(options)))
        self.assertIsInstance(listeners, ListenersService)
        self.assertIsInstance(hangup, NothingToReload)

    def test_one(self) -> None:
        """
        C{--workers 1} is the same single process.
        """
        options = self.parse("-e", "tcp:0", "--workers", "1")
        [listeners, hangup] = list(IServiceCollection(makeService(options)))
        self.assertIsInstance(listeners, ListenersService)
        self.assertIsInstance(hangup, NothingToReload)

    def test_supervisor(self) -> None:
        """
        C{--workers 3} makes the supervisor of three workers, and what ignores
        SIGHUP (there is no file to reload).
        """
        [supervisor, hangup] = self.services("-e", "tcp:0", "--workers", "3")
        assert isinstance(supervisor, WorkersService)
        self.assertIsInstance(hangup, NothingToReload)
        self.assertEqual(supervisor.workers, 3)

    def test_wrongValue(self) -> None:
        """
        A wrong value is one line.
        """
        message = self.error("-e", "tcp:0", "--workers", "100")
        self.assertIn("--workers '100' is not a whole number from 1 to 64", message)

    def test_workerTimeout(self) -> None:
        """
        C{--worker-timeout} is how long the supervisor lets a worker's
        heartbeat be silent (5 s by default; 0 for never).
        """
        for given, timeout, interval in (
            ((), 5.0, 1.0),
            (("--worker-timeout", "2"), 2.0, 0.5),
            (("--worker-timeout", "1"), 1.0, 0.25),
            (("--worker-timeout", "0"), 0.0, None),
        ):
            [supervisor, _] = self.services("-e", "tcp:0", "--workers", "2", *given)
            assert isinstance(supervisor, WorkersService)
            self.assertEqual(
                (supervisor._heartbeats.timeout, supervisor._heartbeats.interval),
                (timeout, interval),
            )

    def test_workerTimeoutWrong(self) -> None:
        """
        A C{--worker-timeout} that is not a number of seconds from 0 to an
        hour is refused in one line.
        """
        for value in ("-1", "abc", "3601"):
            message = self.error(
                "-e", "tcp:0", "--workers", "2", "--worker-timeout", value
            )
            self.assertIn(f"--worker-timeout '{value}'", message)
            self.assertIn("from 0 to 3600", message)

    def test_workerTimeoutTooShort(self) -> None:
        """
        A C{--worker-timeout} above 0 but under a second is refused in one
        line: it would kill workers that are only briefly busy.
        """
        message = self.error(
            "-e", "tcp:0", "--workers", "2", "--worker-timeout", "0.01"
        )
        self.assertIn(
            "--worker-timeout 0.01: give 0 (no heartbeat check) or at least 1 second",
            message,
        )

    def test_metrics(self) -> None:
        """
        With C{--metrics}, the workers serve theirs for the supervisor, and
        the supervisor serves them all on the endpoint given.
        """
        [supervisor, hangup, metrics] = self.services(
            "-e", "tcp:0", "--metrics", "tcp:9100", "--workers", "2"
        )
        assert isinstance(supervisor, WorkersService)
        assert isinstance(metrics, WorkersMetricsService)
        self.assertIsInstance(hangup, NothingToReload)
        self.assertEqual(metrics._endpoint.description, "tcp:9100")
        self.assertTrue(supervisor._metrics)

    def test_notShareable(self) -> None:
        """
        An endpoint whose socket workers cannot share is refused, naming it.
        """
        for endpoint in ("stdio:", "systemd:domain=INET:index=0"):
            message = self.error("-e", endpoint, "--workers", "2")
            self.assertIn(f'listener "{endpoint}"', message)

    def test_notShareableInFile(self) -> None:
        """
        A listener of the configuration file whose socket workers cannot
        share is refused too, by name, also by C{--check}.
        """
        path = self.config('[listeners.io]\nendpoint = "stdio:"\n')
        for check in ((), ("--check",)):
            message = self.error("--config", path, "--workers", "2", *check)
            self.assertIn('listener "io"', message)

    def test_supervisorOfFile(self) -> None:
        """
        With a file, the supervisor has its text for the workers and its
        shutdown timeout, and a reloader reads it again on SIGHUP.
        """
        options = self.parse("--config", self.config(), "--workers", "2")
        [service, reloader] = list(
            IServiceCollection(
                supervise(options.settings, options.reactor, options.registry)
            )
        )
        assert isinstance(service, WorkersService)
        self.assertIsInstance(reloader, WorkersReloader)
        self.assertEqual(options.settings.configText, _CONFIG)
        self.assertEqual(service.shutdownTimeout, 7)
        self.assertEqual(service._config, _CONFIG)

    def test_workerCommand(self) -> None:
        """
        A worker is given the options that say what to serve, as given
        (as JSON), and not C{--workers} or C{--worker-timeout}.
        """
        path = self.config()
        options = self.parse(
            *("--protocol", "hello", "-e", "tcp:1", "-e", "echo@udp:2"),
            *("--config", path, "--workers", "2", "--shutdown-timeout", "3"),
            *("--worker-timeout", "2"),
        )
        self.assertEqual(
            json.loads(workerCommand(options.settings)),
            {
                "protocol": "hello",
                "endpoints": ["tcp:1", "echo@udp:2"],
                "config": path,
                "check": False,
                "maxConnections": 10_000,
                "shutdownTimeout": 3.0,
                "workers": 1,
                "workerTimeout": 5.0,
                "metrics": None,
                "given": ["config", "endpoint", "protocol", "shutdown-timeout"],
            },
        )

    def test_workerOptionsParse(self) -> None:
        """
        What a worker is given parses to the same listeners.
        """
        options = self.parse(
            *("-e", "hello@tcp:1", "--max-connections", "9", "--workers", "2")
        )
        again = settingsOf(
            CommandLine.fromJSON(workerCommand(options.settings)),
            options.registry,
            options.reactor,
        )
        self.assertEqual(
            [(each.spec, each.endpoint.description) for each in again.listeners],
            [
                (each.spec, each.endpoint.description)
                for each in options.settings.listeners
            ],
        )
        self.assertEqual(again.commandLine.workers, 1)
        self.assertEqual(again.maxConnections, 9)

    def test_sameInterpreter(self) -> None:
        """
        The supervisor starts its workers with its own Python.
        """
        command = self.supervisor("-e", "tcp:0", "--workers", "2")._command
        self.assertEqual(command.executable, sys.executable)
        self.assertEqual(command.args[:3], (sys.executable, "-c", BOOT))
        self.assertEqual(dict(command.env), dict(os.environ))

    def test_workerArgument(self) -> None:
        """
        A worker's one argument is the supervisor's command line, as JSON.
        """
        command = self.supervisor("-e", "tcp:0", "--workers", "2")._command
        self.assertEqual(len(command.args), 4)
        self.assertEqual(CommandLine.fromJSON(command.args[3]).endpoints, ("tcp:0",))
