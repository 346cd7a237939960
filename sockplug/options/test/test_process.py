"""
Tests for L{sockplug.options._process}.
"""

from __future__ import annotations

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from sockplug.options._process import PROCESS, CommandLine, ProcessOptions


def _parse(*args: str) -> ProcessOptions:
    options = ProcessOptions()
    options.parseOptions(list(args))
    return options


class ParseWorkersTests(SynchronousTestCase):
    """
    Tests for C{--workers}.
    """

    def test_numbers(self) -> None:
        """
        A whole number from 1 to 64 is taken.
        """
        self.assertEqual(
            [_parse("--workers", v)["workers"] for v in ("1", "2", "64")], [1, 2, 64]
        )

    def test_wrong(self) -> None:
        """
        Anything else is refused, naming the value and the bounds.
        """
        for value in ("0", "65", "-1", "two", "1.5", ""):
            e = self.assertRaises(usage.UsageError, _parse, "--workers", value)
            self.assertEqual(
                str(e), f"--workers {value!r} is not a whole number from 1 to 64"
            )


class ProcessOptionsTests(SynchronousTestCase):
    """
    Tests for L{ProcessOptions}.
    """

    def test_defaults(self) -> None:
        """
        Each setting not given has its default, and nothing is given.
        """
        options = _parse()
        self.assertEqual(
            {setting.name: options[setting.name] for setting in PROCESS},
            {
                "endpoint": [],
                "protocol": "echo",
                "config": None,
                "check": False,
                "max-connections": 10_000,
                "shutdown-timeout": 5.0,
                "workers": 1,
                "worker-timeout": 5.0,
                "metrics": None,
            },
        )
        self.assertEqual(options["given"], set())

    def test_given(self) -> None:
        """
        The settings given are named in C{given}, with their values parsed.
        """
        options = _parse("-p", "hello", "--shutdown-timeout", "2.5", "--check")
        self.assertEqual(
            (options["protocol"], options["shutdown-timeout"], options["check"]),
            ("hello", 2.5, True),
        )
        self.assertEqual(options["given"], {"protocol", "shutdown-timeout", "check"})

    def test_repeated(self) -> None:
        """
        C{--endpoint} (or C{-e}) may be given again: each one counts, in order.
        """
        options = _parse("-e", "tcp:1", "--endpoint", "udp:2")
        self.assertEqual(options["endpoint"], ["tcp:1", "udp:2"])

    def test_lastWins(self) -> None:
        """
        A setting given twice takes the last value.
        """
        self.assertEqual(
            _parse("-c", "a.toml", "--config", "b.toml")["config"], "b.toml"
        )

    def test_once(self) -> None:
        """
        C{--metrics} given twice is refused, naming both.
        """
        e = self.assertRaises(
            usage.UsageError, _parse, "--metrics", "tcp:1", "--metrics", "tcp:2"
        )
        self.assertEqual(
            str(e),
            "--metrics given twice ('tcp:1', 'tcp:2'); there is one metrics endpoint",
        )

    def test_help(self) -> None:
        """
        Each option's help line is its table's, with the default written in.
        """
        usage = ProcessOptions().getUsage(width=200)
        for line in (
            "Open connections at once, all listeners together [default: 10000].",
            "Seconds open connections get to finish on SIGTERM [default: 5].",
            "Processes sharing the listening sockets [default: 1].",
            "The protocol served on endpoints given without NAME@. [default: echo]",
        ):
            self.assertIn(line, usage)

    def test_shortOptions(self) -> None:
        """
        The one-letter options of the table are synonyms of the long ones.
        """
        usage = ProcessOptions().getUsage(width=200)
        for setting in PROCESS:
            if setting.short is not None:
                self.assertIn(f"-{setting.short}, --{setting.name}=", usage)

    def test_fileKeys(self) -> None:
        """
        The configuration file gives C{max-connections} and
        C{shutdown-timeout}, under their names; the others are the
        command line's alone.
        """
        self.assertEqual(
            [setting.key for setting in PROCESS if setting.key is not None],
            ["max-connections", "shutdown-timeout"],
        )


class CommandLineTests(SynchronousTestCase):
    """
    Tests for L{CommandLine}.
    """

    def test_everySetting(self) -> None:
        """
        Each setting of the table has its attribute, with the table's
        default, and there is no other but C{given}.
        """
        fields = {a.name: a.default for a in CommandLine.__attrs_attrs__}
        self.assertEqual(set(fields) - {"given"}, {s.attribute for s in PROCESS})
        for setting in PROCESS:
            self.assertEqual(fields[setting.attribute], setting.default, setting.name)

    def test_parsed(self) -> None:
        """
        L{ProcessOptions.commandLine} gives what was parsed, and what was
        given.
        """
        commandLine = _parse(
            "-e", "tcp:1", "-e", "udp:2", "--max-connections", "3"
        ).commandLine()
        self.assertEqual(
            commandLine,
            CommandLine(
                endpoints=("tcp:1", "udp:2"),
                maxConnections=3,
                given=frozenset({"endpoint", "max-connections"}),
            ),
        )

    def test_json(self) -> None:
        """
        A command line written as JSON reads back the same.
        """
        commandLine = CommandLine(
            endpoints=("hello@tcp:1",),
            config="/etc/s.toml",
            shutdownTimeout=2.5,
            metrics="tcp:9100",
            given=frozenset({"endpoint", "config", "shutdown-timeout"}),
        )
        self.assertEqual(CommandLine.fromJSON(commandLine.toJSON()), commandLine)

    def test_wrongJSON(self) -> None:
        """
        Text that is not a command line's JSON is refused with
        L{ValueError}.
        """
        for text in ("", "[]", '{"nope": 1}', "{"):
            self.assertRaises(ValueError, CommandLine.fromJSON, text)

    def test_frozen(self) -> None:
        """
        A command line cannot be changed.
        """
        self.assertRaises(AttributeError, setattr, CommandLine(), "workers", 2)
