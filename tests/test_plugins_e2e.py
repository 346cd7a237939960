"""
End-to-end tests of third-party protocol plugins in a real twistd process:
a dropin module, a broken dropin, and a pip-installed entry point.
"""

from __future__ import annotations

import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from tests.dropins import REVERSE, dropins, withPath
from tests.harness import (
    Result,
    Server,
    connect,
    receive,
    runTwistd,
    temporaryDirectory,
)

TCP = "tcp:0:interface=127.0.0.1"


BROKEN = "1/0\n"

UPPER = """\
from twisted.internet.protocol import Factory, Protocol
from sockplug.plugin import ProtocolPlugin

class Upper(Protocol):
    def dataReceived(self, data):
        self.transport.write(data.upper())

upper = ProtocolPlugin(
    name="upper",
    description="Sends every byte back upper-cased.",
    stream=lambda listener: Factory.forProtocol(Upper),
)
"""

PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "sockplug-upper"
version = "1.0"

[project.entry-points."sockplug.protocols"]
upper = "sockplug_upper:upper"

[tool.hatch.build.targets.wheel]
only-include = ["sockplug_upper.py"]
"""


def _installUpper(testCase: SynchronousTestCase) -> dict[str, str]:
    """
    Build and pip-install a project declaring the C{upper} protocol in the
    C{sockplug.protocols} entry-point group into C{<tmp>/site}, and return
    an environment with that folder on PYTHONPATH.
    """
    root = temporaryDirectory(testCase)
    project = os.path.join(root, "project")
    os.makedirs(project)
    for name, text in [("pyproject.toml", PYPROJECT), ("sockplug_upper.py", UPPER)]:
        with open(os.path.join(project, name), "w") as f:
            f.write(text)
    site = os.path.join(root, "site")
    installed = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--no-build-isolation"),
            *("--no-deps", "--no-index", "--disable-pip-version-check"),
            *("--target", site, project),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    testCase.assertEqual(installed.returncode, 0, installed.stdout + installed.stderr)
    return withPath(site)


def _protocolLine(result: Result, name: str) -> str:
    """
    The line of --help that lists protocol C{name}.
    """
    for line in result.stdout.splitlines():
        if line.split()[:1] == [name]:
            return line
    raise AssertionError(f"no protocol {name!r} in --help:\n{result.output}")


def _exchange(testCase: SynchronousTestCase, server: Server, data: bytes) -> bytes:
    """
    Send C{data} on the TCP listener and read as many bytes back.
    """
    sock = connect(testCase, server.inet(TCP))
    sock.sendall(data)
    return receive(sock, lambda received: len(received) >= len(data))


class DropinTests(SynchronousTestCase):
    """
    A plugin module dropped into a sockplug/plugins folder on PYTHONPATH.
    """

    def test_listedInHelp(self) -> None:
        """--help lists the dropped-in protocol, its description and module."""
        result = runTwistd(self, "--help", env=dropins(self, {"reverse": REVERSE}))
        self.assertEqual(result.code, 0, result.output)
        self.assertIn("Sends each line back reversed. [stream]", result.stdout)
        self.assertIn(
            "Sends each line back reversed.", _protocolLine(result, "reverse")
        )
        self.assertIn("(from sockplug.plugins.reverse)", result.stdout)

    def test_serves(self) -> None:
        """The dropped-in protocol serves: each line comes back reversed."""
        env = dropins(self, {"reverse": REVERSE})
        server = Server.start(self, "-e", "reverse@" + TCP, env=env)
        self.assertEqual(_exchange(self, server, b"hello\nabc\n"), b"olleh\ncba\n")

    def test_unsupportedKindRefused(self) -> None:
        """A stream-only dropin asked to serve UDP is a command-line error."""
        env = dropins(self, {"reverse": REVERSE})
        result = runTwistd(self, "-e", "reverse@udp:0:interface=127.0.0.1", env=env)
        self.assertEqual(result.code, 1, result.output)
        self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)
        self.assertIn("'reverse' does not serve datagram", result.stderr)


class BrokenDropinTests(SynchronousTestCase):
    """
    A plugin module that raises on import, beside a good one.
    """

    def setUp(self) -> None:
        self.env = dropins(self, {"reverse": REVERSE, "broken": BROKEN})

    def test_reportedInHelp(self) -> None:
        """--help names the broken module and its error under its own heading."""
        result = runTwistd(self, "--help", env=self.env)
        self.assertEqual(result.code, 0, result.output)
        failed = result.stdout.partition("Plugins that failed to load:\n")[2]
        self.assertTrue(
            failed.startswith("  sockplug.plugins.broken: ZeroDivisionError"),
            result.stdout,
        )

    def test_othersStillListed(self) -> None:
        """--help still lists the good dropin and the built-ins."""
        result = runTwistd(self, "--help", env=self.env)
        for name in ["echo", "hello", "line-print", "reverse"]:
            _protocolLine(result, name)

    def test_othersStillServe(self) -> None:
        """A server with the broken dropin beside it serves the good one."""
        server = Server.start(self, "-e", "reverse@" + TCP, env=self.env)
        self.assertEqual(_exchange(self, server, b"stressed\n"), b"desserts\n")

    def test_commandLineErrorOneLine(self) -> None:
        """A command-line error is still one line on stderr, naming the
        broken module, and no traceback."""
        result = runTwistd(self, "-e", "nope@" + TCP, env=self.env)
        self.assertEqual(result.code, 1, result.output)
        self.assertIn("sockplug.plugins.broken: ZeroDivisionError", result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)

    def test_loggedAtStart(self) -> None:
        """The server logs the broken module and its error when it starts."""
        server = Server.start(self, "-e", "reverse@" + TCP, env=self.env)
        self.assertIn(
            "Protocol plugin failed to load: sockplug.plugins.broken:"
            " ZeroDivisionError",
            server.stdout(),
        )


class EntryPointTests(SynchronousTestCase):
    """
    A pip-installed package declaring a protocol as an entry point.
    """

    def test_listedInHelp(self) -> None:
        """--help lists the entry point's protocol and where it came from."""
        result = runTwistd(self, "--help", env=_installUpper(self))
        self.assertEqual(result.code, 0, result.output)
        self.assertIn(
            "Sends every byte back upper-cased.", _protocolLine(result, "upper")
        )
        self.assertIn("(from entry point upper = sockplug_upper:upper)", result.stdout)

    def test_serves(self) -> None:
        """The entry point's protocol serves: bytes come back upper-cased."""
        server = Server.start(self, "-e", "upper@" + TCP, env=_installUpper(self))
        self.assertEqual(
            _exchange(self, server, b"shout, please\n"), b"SHOUT, PLEASE\n"
        )
