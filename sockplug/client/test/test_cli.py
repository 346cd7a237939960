"""
Tests for L{sockplug.client._cli}.
"""

from __future__ import annotations

import io
import os
import sys

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

import sockplug
from sockplug.client import _cli as cli


class OptionsTests(SynchronousTestCase):
    """L{cli.Options} parses the subcommands and their options."""

    def parse(self, *argv: str) -> cli.Options:
        options = cli.Options()
        usage.Options.parseOptions(options, list(argv))
        return options

    def error(self, *argv: str) -> str:
        return str(self.assertRaises(usage.UsageError, self.parse, *argv))

    def test_connectDefaults(self) -> None:
        """C{connect ENDPOINT} takes the endpoint, with the default options."""
        options = self.parse("connect", "tcp:host=h:port=1")
        self.assertEqual(options.subCommand, "connect")
        sub = options.subOptions
        self.assertEqual(
            (
                sub["endpoint"],
                sub["wait"],
                sub["retry"],
                sub["retry-delay"],
                sub["raw"],
            ),
            ("tcp:host=h:port=1", 2.0, 0, 1.0, False),
        )

    def test_sendOptions(self) -> None:
        """C{send} takes the endpoint, the message and every option."""
        sub = self.parse(
            "send",
            "-n",
            "--raw",
            "-w",
            "0.5",
            "-r",
            "3",
            "--retry-delay",
            "0",
            "udp:host=h:port=1",
            "hi",
        ).subOptions
        self.assertEqual(
            (sub["endpoint"], sub["message"], sub["no-newline"], sub["raw"]),
            ("udp:host=h:port=1", "hi", True, True),
        )
        self.assertEqual((sub["wait"], sub["retry"], sub["retry-delay"]), (0.5, 3, 0.0))

    def test_protocols(self) -> None:
        """C{protocols} takes no arguments."""
        self.assertEqual(self.parse("protocols").subCommand, "protocols")

    def test_noSubcommand(self) -> None:
        """No subcommand is an error listing them."""
        self.assertIn("connect, send, protocols or check-config", self.error())

    def test_connectArgumentCount(self) -> None:
        """C{connect} with no endpoint, or two, is an error showing the usage."""
        self.assertIn("expected ENDPOINT, got 0 arguments", self.error("connect"))
        self.assertIn("got 2 arguments", self.error("connect", "a", "b"))

    def test_sendArgumentCount(self) -> None:
        """C{send} without a message is an error showing the usage."""
        message = self.error("send", "tcp:host=h:port=1")
        self.assertIn("expected ENDPOINT MESSAGE, got 1 argument;", message)
        self.assertIn("sockplug send [options] ENDPOINT MESSAGE", message)

    def test_checkConfig(self) -> None:
        """C{check-config FILE} takes the file."""
        options = self.parse("check-config", "/etc/sockplug.toml")
        self.assertEqual(options.subCommand, "check-config")
        self.assertEqual(options.subOptions["file"], "/etc/sockplug.toml")

    def test_checkConfigArgumentCount(self) -> None:
        """C{check-config} with no file, or two, is an error showing the usage."""
        self.assertEqual(
            self.error("check-config"),
            "expected FILE, got 0 arguments; usage: sockplug check-config FILE",
        )
        self.assertIn("got 2 arguments", self.error("check-config", "a", "b"))

    def test_negativeWait(self) -> None:
        """A negative or not-a-number C{--wait} is refused."""
        for value in ("-1", "nan"):
            self.error("connect", "--wait", value, "tcp:host=h:port=1")

    def test_notNumbers(self) -> None:
        """A C{--retry}, C{--wait} or C{--retry-delay} that is not a number is
        refused in one line naming the option, nothing of Python's."""
        for option, value, expected in [
            ("--retry", "abc", "--retry 'abc' is not a whole number from 0 to"),
            ("--wait", "abc", "--wait 'abc' is not a number of seconds; give one"),
            ("--retry-delay", "x", "--retry-delay 'x' is not a number of seconds"),
        ]:
            message = self.error("connect", option, value, "tcp:host=h:port=1")
            self.assertTrue(message.startswith(expected), message)
            self.assertNotIn("enforcement", message)

    def test_negativeRetry(self) -> None:
        """A negative C{--retry} or C{--retry-delay} is refused."""
        self.error("connect", "--retry", "-1", "tcp:host=h:port=1")
        self.error("connect", "--retry-delay", "-1", "tcp:host=h:port=1")


class MainTests(SynchronousTestCase):
    """L{cli.main} lists protocols and reports usage errors in one line."""

    def test_protocols(self) -> None:
        """C{protocols} prints the built-in protocols."""
        out = io.StringIO()
        self.patch(sys, "stdout", out)
        cli.main(["protocols"])
        names = {line.split()[0] for line in out.getvalue().splitlines()[1:] if line}
        self.assertTrue({"echo", "hello", "line-print"} <= names, names)

    def test_usageErrors(self) -> None:
        """No subcommand, or no endpoint, exits with one C{sockplug:} line."""
        for argv in ([], ["connect"]):
            code = str(self.assertRaises(SystemExit, cli.main, argv).code)
            self.assertTrue(code.startswith("sockplug: "), code)
            self.assertNotIn("\n", code)


class EndpointErrorTests(SynchronousTestCase):
    """A client string that is wrong ends the command with one line."""

    def test_quotedAsWritten(self) -> None:
        """The endpoint is quoted back with its backslashes as written."""
        argv = ["send", "tcp:host=\\:\\:1:port=99999", "x"]
        self.assertEqual(
            self.assertRaises(SystemExit, cli.main, argv).code,
            "sockplug: endpoint 'tcp:host=\\:\\:1:port=99999': port '99999'"
            " is not a number from 1 to 65535",
        )

    def test_longPort(self) -> None:
        """A port of 5,000 digits is refused in one short line."""
        argv = ["send", "tcp:host=h:port=" + "9" * 5000, "x"]
        code = str(self.assertRaises(SystemExit, cli.main, argv).code)
        self.assertEqual(
            code,
            f"sockplug: endpoint 'tcp:host=h:port={'9' * 174}... (5016 characters)':"
            f" port '{'9' * 30}... (5000 characters)' is not a number from 1 to 65535",
        )

    def test_colonsUnescaped(self) -> None:
        """An IPv6 host with its colons unescaped is refused, saying so."""
        argv = ["send", "tcp:host=::1:port=1", "x"]
        self.assertEqual(
            self.assertRaises(SystemExit, cli.main, argv).code,
            "sockplug: endpoint 'tcp:host=::1:port=1': the colons of the IPv6"
            " address in host=::1 must be escaped: write host=\\:\\:1, in"
            " single quotes in a shell",
        )


class VersionAndHelpTests(SynchronousTestCase):
    """C{--version} and C{--help} speak of sockplug and of the one command."""

    def setUp(self) -> None:
        self.stdout = io.StringIO()
        self.patch(sys, "stdout", self.stdout)

    def test_version(self) -> None:
        """C{--version} prints sockplug's version, not Twisted's, and exits 0."""
        e = self.assertRaises(SystemExit, cli.main, ["--version"])
        self.assertEqual(e.code, 0)
        self.assertEqual(self.stdout.getvalue(), f"sockplug {sockplug.__version__}\n")

    def test_commandVersion(self) -> None:
        """A command's C{--version} prints sockplug's version too."""
        e = self.assertRaises(SystemExit, cli.main, ["send", "--version"])
        self.assertEqual(e.code, 0)
        self.assertEqual(self.stdout.getvalue(), f"sockplug {sockplug.__version__}\n")

    def test_versionHelp(self) -> None:
        """C{--help} describes C{--version} as sockplug's."""
        self.assertRaises(SystemExit, cli.main, ["--help"])
        self.assertIn("--version  Display sockplug's version", self.stdout.getvalue())
        self.assertNotIn("Twisted", self.stdout.getvalue())

    def test_exitStatuses(self) -> None:
        """A client command's C{--help} names its exit statuses."""
        self.assertRaises(SystemExit, cli.main, ["connect", "--help"])
        self.assertIn(
            "Exit status: 0 done; 1 an error, said in one line on standard error;"
            " 141 the\noutput went away (| head -1); 130 Ctrl-C, 143 SIGTERM.",
            self.stdout.getvalue(),
        )

    def test_usageLines(self) -> None:
        """Each command's C{--help} begins with that command's usage alone."""
        for argv, first in [
            ([], "Usage: sockplug connect|send|protocols|check-config [options] ..."),
            (["connect"], "Usage: sockplug connect [options] ENDPOINT"),
            (["send"], "Usage: sockplug send [options] ENDPOINT MESSAGE"),
            (["protocols"], "Usage: sockplug protocols"),
            (["check-config"], "Usage: sockplug check-config FILE"),
        ]:
            self.stdout.seek(0)
            self.stdout.truncate()
            e = self.assertRaises(SystemExit, cli.main, [*argv, "--help"])
            self.assertEqual(e.code, 0)
            self.assertEqual(self.stdout.getvalue().splitlines()[0], first, argv)


class CheckConfigTests(SynchronousTestCase):
    """C{sockplug check-config FILE} through L{cli.main}."""

    def setUp(self) -> None:
        self.stdout = io.StringIO()
        self.stderr = io.StringIO()
        self.patch(sys, "stdout", self.stdout)
        self.patch(sys, "stderr", self.stderr)

    def write(self, text: str) -> str:
        path = str(os.path.abspath(self.mktemp()))
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def test_right(self) -> None:
        """A right file exits 0, naming its listeners on standard output."""
        path = self.write(
            '[listeners.a]\nendpoint = "tcp:1"\n[listeners.b]\nendpoint = "udp:1"\n'
        )
        e = self.assertRaises(SystemExit, cli.main, ["check-config", path])
        self.assertEqual(e.code, 0)
        self.assertEqual(self.stdout.getvalue(), f"{path}: ok, 2 listeners: a, b\n")
        self.assertEqual(self.stderr.getvalue(), "")

    def test_wrong(self) -> None:
        """A wrong file exits 1, with every problem on standard error."""
        path = self.write("bogus = 1\n[listeners.a]\n")
        e = self.assertRaises(SystemExit, cli.main, ["check-config", path])
        self.assertEqual(e.code, 1)
        self.assertEqual(self.stdout.getvalue(), "")
        self.assertEqual(
            self.stderr.getvalue().splitlines(),
            [
                f'{path}: unknown key "bogus"',
                f'{path}: listener "a": needs "endpoint", an endpoint string such'
                ' as "tcp:8888"',
            ],
        )

    def test_missing(self) -> None:
        """A file that cannot be read exits 1, naming it."""
        path = os.path.abspath(self.mktemp())
        e = self.assertRaises(SystemExit, cli.main, ["check-config", path])
        self.assertEqual(e.code, 1)
        self.assertEqual(
            self.stderr.getvalue(),
            f"{path}: cannot read it: No such file or directory\n",
        )

    def test_noClientOptions(self) -> None:
        """
        The client's options (C{--wait}) are not check-config's.
        """
        path = self.write("")
        code = self.assertRaises(
            SystemExit, cli.main, ["check-config", "--wait", "1", path]
        ).code
        self.assertIn("option --wait not recognized", str(code))

    def test_argumentCount(self) -> None:
        """No file exits with one C{sockplug:} line showing the usage."""
        code = str(self.assertRaises(SystemExit, cli.main, ["check-config"]).code)
        self.assertEqual(
            code,
            "sockplug: expected FILE, got 0 arguments; usage: sockplug"
            " check-config FILE (see sockplug --help)",
        )
