"""
Tests for L{sockplug.workers._worker}, the pieces of a worker process.
"""

from __future__ import annotations

import contextlib
import io
import os
from typing import Any

from twisted.application.service import MultiService, Service
from twisted.internet.main import CONNECTION_DONE, CONNECTION_LOST
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from sockplug.config._file import Configuration
from sockplug.config._settings import reloadFile
from sockplug.discovery import discover
from sockplug.errors import CommandLineError, ConfigError
from sockplug.options import CommandLine
from sockplug.server._hangup import ConfigReloader
from sockplug.testing import MemoryDatagramReactor
from sockplug.workers._adopt import InheritedSocket
from sockplug.workers._process import ENVIRONMENT
from sockplug.workers._worker import (
    GivenText,
    ParentPipe,
    _reloaders,
    configOf,
    inheritedSockets,
    main,
    readFirstLine,
    workerSettings,
)

_CONFIG = '[listeners.web]\nendpoint = "tcp:8001"\nprotocol = "hello"\n'


def _pipe(case: SynchronousTestCase) -> tuple[int, int]:
    read, write = os.pipe()
    for fd in (read, write):
        case.addCleanup(_closeQuietly, fd)
    return read, write


def _closeQuietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


class WorkerSettingsTests(SynchronousTestCase):
    """
    Tests for L{workerSettings} and L{GivenText}.
    """

    def test_givenText(self) -> None:
        """
        The configuration is read from the text the supervisor gave, not
        from the file, which problems still name.
        """
        given = GivenText(_CONFIG)
        settings = workerSettings(
            CommandLine(config="/nonexistent/sockplug.toml"),
            MemoryDatagramReactor(),
            given,
            discover(),
        )
        configuration = settings.configuration
        assert configuration is not None
        [web] = configuration.listeners
        self.assertEqual((web.name, web.plugin.name), ("web", "hello"))
        given.text = "[listeners.web]\n"
        e = self.assertRaises(
            ConfigError, reloadFile, settings, MemoryDatagramReactor(), given.read
        )
        self.assertIn("/nonexistent/sockplug.toml", str(e))

    def test_noText(self) -> None:
        """
        A worker given no text for its file cannot start.
        """
        self.assertRaises(
            CommandLineError,
            workerSettings,
            CommandLine(config="/x.toml"),
            MemoryDatagramReactor(),
            GivenText(None),
            discover(),
        )


class MessagesTests(SynchronousTestCase):
    """
    Tests for L{readFirstLine}, L{configOf} and L{inheritedSockets}.
    """

    def test_firstLine(self) -> None:
        """
        The first line is read whole, and what came after it is kept.
        """
        read, write = _pipe(self)
        os.write(write, b'{"config": null}\n{"con')
        self.assertEqual(readFirstLine(read), (b'{"config": null}', b'{"con'))

    def test_firstLineEnded(self) -> None:
        """
        A pipe that ends before its first line says so.
        """
        read, write = _pipe(self)
        os.write(write, b"{")
        os.close(write)
        self.assertRaises(EOFError, readFirstLine, read)

    def test_config(self) -> None:
        """
        A configuration line carries the file's text, or nothing.
        """
        self.assertEqual(configOf(b'{"config": "a = 1"}'), "a = 1")
        self.assertIsNone(configOf(b'{"config": null}'))
        for wrong in (b"[]", b'{"other": 1}', b'{"config": 3}', b"nope"):
            self.assertRaises(ValueError, configOf, wrong)

    def test_sockets(self) -> None:
        """
        The description names, by listener, each inherited descriptor and
        what it is.
        """
        description = {"sockets": {"web": {"fd": 4, "identity": "T(port=1)"}}}
        self.assertEqual(
            inheritedSockets(description), {"web": InheritedSocket(4, "T(port=1)")}
        )

    def test_noDescription(self) -> None:
        """
        Run without its description (not by a supervisor), a worker says
        so on standard error and ends with status 2.
        """
        saved = os.environ.pop(ENVIRONMENT, None)
        if saved is not None:
            self.addCleanup(os.environ.__setitem__, ENVIRONMENT, saved)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            self.assertEqual(main([]), 2)
        self.assertIn("twistd sockplug --workers N", err.getvalue())

    def test_noSettings(self) -> None:
        """
        Run with its description but not with the supervisor's settings as
        its argument, a worker says so on standard error and ends with
        status 2.
        """
        environ: dict[str, str] = {}
        self.patch(os, "environ", environ)
        for argv in ([], ["{"], ['{"workers": 1, "nope": 2}']):
            environ[ENVIRONMENT] = '{"sockets": {}}'
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                self.assertEqual(main(argv), 2)
            self.assertIn(
                "its argument is not the supervisor's settings", err.getvalue()
            )


class ParentPipeTests(SynchronousTestCase):
    """
    Tests for L{ParentPipe}.
    """

    def setUp(self) -> None:
        self.lines: list[bytes] = []
        self.closed: list[bool] = []
        self.read, self.write = _pipe(self)
        self.reactor = MemoryReactorClock()
        self.pipe = ParentPipe(
            self.reactor,
            self.read,
            self.lines.append,
            lambda: self.closed.append(True),
        )

    def test_lines(self) -> None:
        """
        Each whole line is handed on, as it comes.
        """
        self.pipe.received(b"a\nb")
        os.write(self.write, b"c\nd\n")
        self.pipe.doRead()
        self.assertEqual(self.lines, [b"a", b"bc", b"d"])
        self.assertEqual(self.closed, [])

    def test_end(self) -> None:
        """
        The pipe's end (the supervisor has gone) is told.
        """
        os.close(self.write)
        self.assertEqual(self.pipe.doRead(), CONNECTION_DONE)
        self.pipe.connectionLost(Failure(CONNECTION_DONE))
        self.assertEqual(self.closed, [True])

    def test_closedByTheStop(self) -> None:
        """
        Closed by the reactor once its shutdown has begun (the worker
        stops), the pipe's end is not told: the supervisor has not gone.
        """
        [trigger] = self.reactor.triggers["before"]["shutdown"]
        trigger[0](*trigger[1], **trigger[2])
        self.pipe.connectionLost(Failure(CONNECTION_LOST))
        self.assertEqual(self.closed, [])


class ReloadersTests(SynchronousTestCase):
    """
    Tests for L{_reloaders}.
    """

    def test_found(self) -> None:
        """
        The reloader of a service tree is found wherever it is.
        """
        reloader: Any = ConfigReloader(MemoryReactorClock(), Configuration, None)  # type: ignore[arg-type]
        inner = MultiService()
        inner.addService(reloader)
        root = MultiService()
        root.addService(Service())
        root.addService(inner)
        self.assertEqual(_reloaders(root), [reloader])
        self.assertEqual(_reloaders(Service()), [])
