"""
Tests for L{sockplug.config._check}.
"""

from __future__ import annotations

import io
import sys

from twisted.trial.unittest import SynchronousTestCase

from sockplug.config._check import checkConfig
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
        A right file without listeners is right: it may be used with
        C{--endpoint}.
        """
        path = writeConfig(self, "")
        self.assertEqual(checkConfig(path, MemoryDatagramReactor()), 0)
        self.assertEqual(self.stdout.getvalue(), f"{path}: ok, 0 listeners\n")

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
            f"{path}: cannot read it: No such file or directory\n",
        )
