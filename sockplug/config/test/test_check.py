"""
Tests for L{sockplug.config._check}.
"""

from __future__ import annotations

import io
import os
import sys
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from sockplug.config import _settings
from sockplug.config._check import checkConfig
from sockplug.endpoints import overlapping
from sockplug.errors import CommandLineError
from sockplug.tap import Options
from sockplug.testing import MemoryDatagramReactor
from sockplug.testing._config import TWO_LISTENERS, writeConfig


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
        path = writeConfig(self, TWO_LISTENERS)
        self.assertEqual(checkConfig(path, MemoryDatagramReactor()), 0)
        self.assertEqual(self.stdout.getvalue(), f"{path}: ok, 2 listeners: a, b\n")
        self.assertEqual(self.stderr.getvalue(), "")

    def test_noListeners(self) -> None:
        """
        A file without listeners gives status 1, saying so, as
        C{twistd sockplug --config FILE} does.
        """
        path = writeConfig(self, "")
        self.assertEqual(checkConfig(path, MemoryDatagramReactor()), 1)
        self.assertEqual(self.stdout.getvalue(), "")
        self.assertEqual(
            self.stderr.getvalue(),
            f"no listeners: {path} has no [listeners.NAME] table, and no"
            " --endpoint was given\n",
        )

    def test_sameSocket(self) -> None:
        """
        Two listeners on one socket give status 1 and one line naming both.
        """
        path = writeConfig(
            self,
            '[listeners.a]\nendpoint = "tcp:7:interface=127.0.0.1"\n'
            '[listeners.b]\nendpoint = "tcp:port=7:interface=127.0.0.1"\n'
            'protocol = "hello"\n',
        )
        self.assertEqual(checkConfig(path, MemoryDatagramReactor()), 1)
        self.assertEqual(
            self.stderr.getvalue(),
            f'{path}: listeners "a" and "b" listen on the same socket'
            ' ("tcp:port=7:interface=127.0.0.1")\n',
        )

    def test_overlapping(self) -> None:
        """
        Two listeners on overlapping addresses give status 1 and one line
        naming both and their endpoints.
        """
        path = writeConfig(
            self,
            '[listeners.a]\nendpoint = "tcp:7"\n'
            '[listeners.b]\nendpoint = "tcp:7:interface=127.0.0.1"\n',
        )
        self.assertEqual(checkConfig(path, MemoryDatagramReactor()), 1)
        self.assertEqual(
            self.stderr.getvalue(),
            f'{path}: listeners "a" ("tcp:7") and "b"'
            ' ("tcp:7:interface=127.0.0.1") listen on overlapping addresses:'
            " the second could not listen\n",
        )

    def test_portZeroNotShared(self) -> None:
        """
        Two listeners on port 0 are two sockets: each gets a port of its own.
        """
        path = writeConfig(
            self,
            '[listeners.a]\nendpoint = "tcp:0"\n[listeners.b]\nendpoint = "tcp:0"\n',
        )
        self.assertEqual(checkConfig(path, MemoryDatagramReactor()), 0)
        self.assertEqual(self.stdout.getvalue(), f"{path}: ok, 2 listeners: a, b\n")

    def test_pathTooLong(self) -> None:
        """
        A UNIX socket path longer than C{sun_path} holds gives status 1,
        saying so.
        """
        long = "/tmp/" + "x" * 103
        path = writeConfig(self, f'[listeners.a]\nendpoint = "unix:{long}"\n')
        self.assertEqual(checkConfig(path, MemoryDatagramReactor()), 1)
        self.assertEqual(
            self.stderr.getvalue(),
            f'{path}: listener "a": endpoint "unix:{long}": the path is 108'
            " bytes long; a UNIX socket's path is at most 107 bytes\n",
        )

    def test_oneListener(self) -> None:
        """
        One listener is one listener, not "1 listeners".
        """
        path = writeConfig(self, '[listeners.a]\nendpoint = "tcp:1"\n')
        self.assertEqual(checkConfig(path, MemoryDatagramReactor()), 0)
        self.assertEqual(self.stdout.getvalue(), f"{path}: ok, 1 listener: a\n")

    def test_wrong(self) -> None:
        """
        A wrong file gives status 1, and every problem on standard error.
        """
        path = writeConfig(
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
            f"{os.path.abspath(path)}: cannot read it: No such file or directory\n",
        )


# Files the server refuses: each is refused the same way by both checks.
_REFUSED = {
    "empty": "",
    "settings only": "max-connections = 5\n",
    "same socket": (
        '[listeners.a]\nendpoint = "tcp:7"\n[listeners.b]\nendpoint = "tcp:7"\n'
    ),
    "same unix path": (
        '[listeners.a]\nendpoint = "unix:/tmp/s"\n'
        '[listeners.b]\nendpoint = "unix:address=/tmp/s"\n'
    ),
    "overlapping addresses": (
        '[listeners.a]\nendpoint = "tcp:7"\n'
        '[listeners.b]\nendpoint = "tcp:7:interface=127.0.0.1"\n'
    ),
    "one path, stream and datagram": (
        '[listeners.a]\nendpoint = "unix:/tmp/s"\n'
        '[listeners.b]\nendpoint = "unixgram:/tmp/./s"\nprotocol = "echo"\n'
    ),
    "path too long": f'[listeners.a]\nendpoint = "unixgram:/{"x" * 107}"\n'
    'protocol = "echo"\n',
    "unknown protocol": '[listeners.a]\nendpoint = "tcp:7"\nprotocol = "helo"\n',
}


class AgreementTests(SynchronousTestCase):
    """
    C{sockplug check-config FILE} and the start of C{twistd sockplug --config
    FILE} (L{sockplug.tap.Options}) give the same verdict in the same words.
    """

    def setUp(self) -> None:
        self.stderr = io.StringIO()
        self.patch(sys, "stdout", io.StringIO())
        self.patch(sys, "stderr", self.stderr)

    def serverStart(self, path: str) -> str:
        """
        What C{twistd sockplug --config FILE} says when it refuses the file.
        """
        options = Options(MemoryDatagramReactor())
        e = self.assertRaises(
            CommandLineError, options.parseOptions, ["--config", path]
        )
        return str(e)

    def test_refusedByBoth(self) -> None:
        """
        Every file in the table is refused by both, with the same message.
        """
        for name, text in _REFUSED.items():
            path = writeConfig(self, text)
            self.stderr.seek(0)
            self.stderr.truncate()
            self.assertEqual(checkConfig(path, MemoryDatagramReactor()), 1, name)
            self.assertEqual(
                self.stderr.getvalue(), self.serverStart(path) + "\n", name
            )

    def test_rightForBoth(self) -> None:
        """
        A right file passes both: check-config says ok, the server's start
        makes its listeners.
        """
        path = writeConfig(self, TWO_LISTENERS)
        self.assertEqual(checkConfig(path, MemoryDatagramReactor()), 0)
        options = Options(MemoryDatagramReactor())
        options.parseOptions(["--config", path])
        self.assertEqual(len(options.settings.listeners), 2)

    def test_sameOkLine(self) -> None:
        """
        For a file named by a relative path, check-config's line saying it
        is right is C{--check}'s, naming the file by its absolute path.
        """
        path = writeConfig(self, TWO_LISTENERS)
        relative = os.path.relpath(path)
        stdout = io.StringIO()
        self.patch(sys, "stdout", stdout)
        self.assertEqual(checkConfig(relative, MemoryDatagramReactor()), 0)
        options = Options(MemoryDatagramReactor())
        e = self.assertRaises(
            SystemExit, options.parseOptions, ["--config", relative, "--check"]
        )
        self.assertEqual(e.code, 0)
        lines = stdout.getvalue().splitlines()
        self.assertEqual(lines, [f"{path}: ok, 2 listeners: a, b"] * 2)


class ManyListenersTests(SynchronousTestCase):
    """
    The check of shared sockets costs in proportion to the listeners, not
    to their pairs: a reload of a large file is read in the reactor's
    thread (3,000 listeners took 18 s, every listener waiting).
    """

    def setUp(self) -> None:
        self.patch(sys, "stdout", io.StringIO())

    def test_pairsNotCompared(self) -> None:
        """
        Listeners on distinct ports and paths, or on port 0, are not
        compared pair by pair; those on one port still are, and clash.
        """
        compared: list[object] = []

        def counting(*args: Any, **kwargs: Any) -> bool:
            compared.append(args)
            return overlapping(*args, **kwargs)

        self.patch(_settings, "overlapping", counting)
        sameSocket = _settings._sameSocket

        def countingSame(*args: Any) -> bool:
            compared.append(args)
            return sameSocket(*args)

        self.patch(_settings, "_sameSocket", countingSame)
        count = 400
        text = "".join(
            f'[listeners.t{i}]\nendpoint = "tcp:{10000 + i}"\n'
            f'[listeners.u{i}]\nendpoint = "unix:/tmp/s{i}"\n'
            f'[listeners.z{i}]\nendpoint = "udp:0"\n'
            for i in range(count)
        )
        path = writeConfig(self, text)
        self.assertEqual(checkConfig(path, MemoryDatagramReactor()), 0)
        self.assertLess(len(compared), count)
        stderr = io.StringIO()
        self.patch(sys, "stderr", stderr)
        path = writeConfig(
            self, text + '[listeners.x]\nendpoint = "tcp:10007:interface=127.0.0.1"\n'
        )
        self.assertEqual(checkConfig(path, MemoryDatagramReactor()), 1)
        self.assertIn('"t7" ("tcp:10007") and "x"', stderr.getvalue())
