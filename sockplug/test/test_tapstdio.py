"""
Tests for L{sockplug.tap} with a C{stdio:} listener.
"""

from __future__ import annotations

from typing import ClassVar

from twisted.application.service import IServiceCollection
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from sockplug.errors import CommandLineError
from sockplug.server._stdio import StandardIOWatcher
from sockplug.tap import Options, buildService
from sockplug.testing import MemoryDatagramReactor
from sockplug.testing._config import registry


class _Twistd(usage.Options):
    """
    The flags of twistd's command line that say it stays in the foreground.
    """

    optFlags: ClassVar = [["nodaemon", "n", "no daemon"], ["debug", "b", "debug"]]


def _options(twistd: list[str] | None) -> Options:
    """
    sockplug's options, under a twistd command line of C{twistd}'s flags
    (none: not under twistd).
    """
    options = Options(reactor=MemoryDatagramReactor(), registry=registry())
    if twistd is not None:
        options.parent = _Twistd()
        options.parent.parseOptions(twistd)
    return options


class DaemonTests(SynchronousTestCase):
    """
    C{stdio:} and twistd's daemon mode.
    """

    def test_refusedAsDaemon(self) -> None:
        """
        A daemon closes its standard input and output: C{stdio:} without
        C{-n} is refused with one line saying to give it.
        """
        options = _options([])
        error = self.assertRaises(
            CommandLineError, options.parseOptions, ["--endpoint", "stdio:"]
        )
        self.assertIn("run twistd with -n (--nodaemon)", str(error))

    def test_foreground(self) -> None:
        """
        With C{-n}, C{stdio:} is accepted.
        """
        options = _options(["-n"])
        options.parseOptions(["--endpoint", "stdio:"])
        self.assertEqual(len(options.settings.listeners), 1)

    def test_debug(self) -> None:
        """
        With C{-b} (debug, which twistd runs in the foreground), C{stdio:}
        is accepted.
        """
        options = _options(["-b"])
        options.parseOptions(["--endpoint", "stdio:"])
        self.assertEqual(len(options.settings.listeners), 1)

    def test_otherListenersAsDaemon(self) -> None:
        """
        A daemon without C{stdio:} is accepted.
        """
        options = _options([])
        options.parseOptions(["--endpoint", "tcp:8888"])
        self.assertEqual(len(options.settings.listeners), 1)


class BuildServiceTests(SynchronousTestCase):
    """
    L{buildService} with and without C{stdio:}.
    """

    def _children(self, *endpoints: str) -> list[object]:
        options = _options(None)
        arguments = [a for e in endpoints for a in ("--endpoint", e)]
        options.parseOptions(arguments)
        service = buildService(options.settings, options.reactor, options.registry)
        return list(IServiceCollection(service))

    def test_watcher(self) -> None:
        """
        With a C{stdio:} listener, the service watches its connection, to
        stop when nothing is left to serve.
        """
        children = self._children("stdio:", "tcp:8888")
        self.assertEqual(
            [type(c) for c in children if isinstance(c, StandardIOWatcher)],
            [StandardIOWatcher],
        )

    def test_noWatcher(self) -> None:
        """
        Without one, there is nothing to watch.
        """
        children = self._children("tcp:8888")
        self.assertFalse([c for c in children if isinstance(c, StandardIOWatcher)])
