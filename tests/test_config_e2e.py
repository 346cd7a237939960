"""
End-to-end tests of the configuration file: line-print's output file,
C{sockplug check-config} and C{--check}, and the example file in
C{contrib/}.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from typing import Any

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from sockplug.protocols.hello import DEFAULT_GREETING
from tests.harness import (
    IO_TIMEOUT,
    POLL_INTERVAL,
    START_TIMEOUT,
    TWISTD,
    connect,
    exchangeDatagram,
    receiveLine,
    runTwistd,
    sockName,
    temporaryDirectory,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib
from tests.configured import (
    CONTRIB,
    SOCKPLUG,
    ConfiguredServer,
    assertEchoes,
    freePort,
    listener,
    tcp,
    udp,
    writeFile,
)


class LinePrintOutputTests(SynchronousTestCase):
    """
    line-print's C{output} option sends its lines to a file.
    """

    def setUp(self) -> None:
        self.output = os.path.join(temporaryDirectory(self), "lines.txt")
        self.endpoint = tcp()
        self.served = ConfiguredServer(
            self,
            listener("printer", self.endpoint, "line-print", output=self.output),
            self.endpoint,
        )
        sock = connect(self, self.served.inet(self.endpoint))
        sock.sendall(b"first line\nsecond\n")
        prefix = f"{self.endpoint} {sockName(sock)}: "
        self.expected = f"{prefix}first line\n{prefix}second\n"

    def read(self) -> str:
        """The output file's text, once the lines expected are in it."""
        deadline = time.monotonic() + IO_TIMEOUT
        while True:
            text = ""
            if os.path.exists(self.output):
                with open(self.output, encoding="utf-8") as f:
                    text = f.read()
            if text.count("\n") >= 2 or time.monotonic() > deadline:
                return text
            time.sleep(POLL_INTERVAL)

    def test_linesWrittenToFile(self) -> None:
        """The lines received are appended to the file."""
        self.assertEqual(self.read(), self.expected)

    def test_linesNotOnStandardOutput(self) -> None:
        """The lines do not go to standard output."""
        self.read()
        self.assertNotIn("first line", self.served.server.output())


# A file with a problem of each kind, and the problems named.
BAD = (
    "max-connections = 0\n"
    "[defaults]\n"
    "idel = 5\n\n"
    + listener("a", tcp(), colour="blue")
    + listener("b", tcp("127.0.0.2"), "hello", greting="x")
    + listener("c", "tcp:notaport", "echo")
    + listener("d", tcp("127.0.0.3"), "nosuch")
)
BAD_PROBLEMS = (
    '"max-connections" is 0',
    'defaults: unknown key "idel"',
    'listener "a": unknown option "colour" for protocol echo',
    'listener "b": unknown option "greting" for protocol hello;'
    ' did you mean "greeting"?',
    'listener "c": endpoint "tcp:notaport": ',
    'listener "d": "protocol": ',
)
GOOD = listener("a", tcp()) + listener("b", udp())


class CheckTests(SynchronousTestCase):
    """
    C{sockplug check-config FILE} and C{twistd sockplug --config FILE
    --check} say a file is right, or name each of its problems.
    """

    def checkConfig(self, path: str) -> subprocess.CompletedProcess[str]:
        """Run C{sockplug check-config PATH} to its end."""
        return subprocess.run(
            [SOCKPLUG, "check-config", path],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            check=False,
        )

    def assertProblemsNamed(self, path: str, stderr: str) -> None:
        """
        C{stderr} is one line per problem of L{BAD}, each naming the file,
        and no traceback.
        """
        lines = stderr.splitlines()
        self.assertEqual(len(lines), len(BAD_PROBLEMS), stderr)
        for line, problem in zip(lines, BAD_PROBLEMS, strict=True):
            self.assertTrue(line.startswith(f"{path}: {problem}"), (line, problem))
        self.assertNotIn("Traceback", stderr)

    def test_checkConfigRight(self) -> None:
        """check-config says a right file is right, and exits 0."""
        path = writeFile(self, "good.toml", GOOD)
        result = self.checkConfig(path)
        self.assertEqual(
            (result.returncode, result.stdout, result.stderr),
            (0, f"{path}: ok, 2 listeners: a, b\n", ""),
        )

    def test_checkConfigWrong(self) -> None:
        """check-config names every problem of a wrong file, and exits 1."""
        path = writeFile(self, "bad.toml", BAD)
        result = self.checkConfig(path)
        self.assertEqual((result.returncode, result.stdout), (1, ""))
        self.assertProblemsNamed(path, result.stderr)

    def test_twistdCheckRight(self) -> None:
        """twistd sockplug --check says a right file is right, exits 0, and
        does not listen."""
        path = writeFile(self, "good.toml", GOOD)
        result = runTwistd(self, "--config", path, "--check")
        self.assertEqual(result.code, 0, result.output)
        self.assertEqual(result.stdout, f"{path}: ok, 2 listeners: a, b\n")
        self.assertNotIn("listening on", result.output)

    def test_twistdCheckWrong(self) -> None:
        """twistd sockplug --check names every problem of a wrong file on
        standard error, and exits 1."""
        path = writeFile(self, "bad.toml", BAD)
        result = runTwistd(self, "--config", path, "--check")
        self.assertEqual(result.code, 1, result.output)
        self.assertProblemsNamed(path, result.stderr)

    def test_twistdServeWrong(self) -> None:
        """twistd sockplug --config with a wrong file names every problem on
        standard error, exits 1, and never listens."""
        path = writeFile(self, "bad.toml", BAD)
        result = runTwistd(self, "--config", path)
        self.assertEqual(result.code, 1, result.output)
        self.assertProblemsNamed(path, result.stderr)
        self.assertNotIn("listening on", result.output)


class RefusedByBothTests(SynchronousTestCase):
    """
    A file the server refuses is refused by C{sockplug check-config FILE}
    too, in the same one line: two listeners on one socket, a UNIX path too
    long for C{sun_path}, no listeners at all.
    """

    def assertRefusedByBoth(self, text: str, expected: str) -> None:
        """
        check-config and C{twistd sockplug --config FILE} both exit 1 with
        C{expected} (C{PATH} standing for the file) as their one line.
        """
        path = writeFile(self, "refused.toml", text)
        line = expected.replace("PATH", path) + "\n"
        checked = subprocess.run(
            [SOCKPLUG, "check-config", path],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            check=False,
        )
        self.assertEqual(
            (checked.returncode, checked.stdout, checked.stderr), (1, "", line)
        )
        served = runTwistd(self, "--config", path)
        self.assertEqual((served.code, served.stderr), (1, line), served.output)
        self.assertNotIn("listening on", served.output)

    def test_nestedTooDeeply(self) -> None:
        """A file nested deeper than Python's reader goes is refused in one
        line, no RecursionError traceback."""
        self.assertRefusedByBoth(
            "x = " + "[" * 5000 + "]" * 5000 + "\n",
            "PATH: not read: its arrays or inline tables are nested too deeply",
        )

    def test_control(self) -> None:
        """A NUL and a terminal escape in a file's endpoint are shown
        escaped, as TOML writes them, never raw."""
        self.assertRefusedByBoth(
            '[listeners.a]\nendpoint = "tcp:\\u0000\\u001b[2J"\n',
            'PATH: listener "a": endpoint "tcp:\\u0000\\u001b[2J": port'
            " '\\x00\\x1b[2J' is not a number from 0 to 65535",
        )

    def test_sameSocket(self) -> None:
        """Two listeners on one UNIX path are refused, naming both."""
        socketPath = os.path.join(temporaryDirectory(self), "s")
        self.assertRefusedByBoth(
            f'[listeners.a]\nendpoint = "unix:{socketPath}"\n'
            f'[listeners.b]\nendpoint = "unix:address={socketPath}"\n',
            f'PATH: listeners "a" and "b" listen on the same socket'
            f' ("unix:address={socketPath}")',
        )

    def test_overlappingAddresses(self) -> None:
        """
        Two listeners on overlapping addresses (all IPv4 addresses, and
        127.0.0.1, on one port) are refused before either listens.
        """
        port = freePort()
        self.assertRefusedByBoth(
            f'[listeners.a]\nendpoint = "tcp:{port}"\n'
            f'[listeners.b]\nendpoint = "tcp:{port}:interface=127.0.0.1"\n',
            f'PATH: listeners "a" ("tcp:{port}") and "b"'
            f' ("tcp:{port}:interface=127.0.0.1") listen on overlapping'
            " addresses: the second could not listen",
        )

    def test_pathTooLong(self) -> None:
        """A UNIX path longer than C{sun_path} holds is refused."""
        socketPath = "/tmp/" + "x" * 110
        self.assertRefusedByBoth(
            f'[listeners.a]\nendpoint = "unix:{socketPath}"\n',
            f'PATH: listener "a": endpoint "unix:{socketPath}": the path is'
            " 115 bytes long; a UNIX socket's path is at most 107 bytes",
        )

    def test_noListeners(self) -> None:
        """An empty file is refused: it gives the server nothing to serve."""
        self.assertRefusedByBoth(
            "",
            "no listeners: PATH has no [listeners.NAME] table, and no"
            " --endpoint was given",
        )


class MetricsClashTests(SynchronousTestCase):
    """
    A listener on the socket of C{--metrics} is refused by C{--check} as by
    the start, in one line (C{--check} said ok; the start failed at bind).
    """

    def test_checkAndStart(self) -> None:
        """
        C{twistd sockplug --config FILE --metrics tcp:P}, FILE listening on
        C{tcp:P}, is refused with and without C{--check}, before listening.
        """
        port = freePort()
        path = writeFile(
            self, "metrics.toml", f'[listeners.a]\nendpoint = "tcp:{port}"\n'
        )
        line = (
            f"{path}: --metrics 'tcp:{port}:interface=127.0.0.1' and listener"
            f' "a" ("tcp:{port}") listen on overlapping addresses: they cannot'
            " both listen\n"
        )
        metrics = ("--metrics", f"tcp:{port}:interface=127.0.0.1")
        for check in (("--check",), ()):
            result = runTwistd(self, "--config", path, *metrics, *check)
            self.assertEqual((result.code, result.stderr), (1, line), result.output)
            self.assertNotIn("listening on", result.output)


class RundirTests(SynchronousTestCase):
    """
    With twistd's C{--rundir}, a relative UNIX path is in that folder.
    """

    def test_relativeAndAbsoluteNotOne(self) -> None:
        """
        C{unix:s.sock} under C{--rundir D} and C{unix:HERE/s.sock}, HERE
        the folder twistd is started in, are two sockets: both listen
        (the start refused them as one path).
        """
        here, rundir = temporaryDirectory(self), temporaryDirectory(self)
        absolute = f"unix:{os.path.join(here, 's.sock')}"
        output = os.path.join(here, "output")
        twistd = [TWISTD, "-n", "--pidfile=", "--rundir", rundir, "sockplug"]
        with open(output, "wb") as out:
            process = subprocess.Popen(
                [*twistd, "-e", "unix:s.sock", "-e", absolute],
                cwd=here,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.addCleanup(process.wait, START_TIMEOUT)
        self.addCleanup(process.kill)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            with open(output, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            if text.count(" listening on unix:") == 2:
                break
            self.assertIsNone(process.poll(), text)
            self.assertLess(time.monotonic(), deadline, text)
            time.sleep(POLL_INTERVAL)
        for folder in (rundir, here):
            self.assertTrue(os.path.exists(os.path.join(folder, "s.sock")), folder)


def rewriteEndpoints(text: str, folder: str) -> str:
    """
    A configuration file's text with its listeners' ports made 0 and its
    paths (sockets, outputs) moved into C{folder}.
    """
    paths = iter(range(1000))

    def endpoint(match: re.Match[str]) -> str:
        value = re.sub(r"\b(tcp6?|udp6?):\d+", r"\1:0", match[2])
        value = re.sub(
            r"\b(unix|unixgram):[^:]+",
            lambda m: f"{m[1]}:{folder}/{next(paths)}.sock",
            value,
        )
        return f'{match[1]}{value}"'

    text = re.sub(r'(?m)^(endpoint\s*=\s*")([^"]*)"', endpoint, text)
    return re.sub(
        r'(?m)^(output\s*=\s*")/[^"]*"',
        lambda m: f'{m[1]}{folder}/{next(paths)}.out"',
        text,
    )


class ContribTests(SynchronousTestCase):
    """
    The example configuration in C{contrib/} is right, and serves.
    """

    def setUp(self) -> None:
        if not os.path.exists(CONTRIB):
            raise SkipTest(f"{CONTRIB} is not there (an installed copy)")
        with open(CONTRIB, encoding="utf-8") as f:
            self.text = f.read()

    def test_checks(self) -> None:
        """check-config says the example is right, naming its listeners."""
        names = list(tomllib.loads(self.text)["listeners"])
        result = subprocess.run(
            [SOCKPLUG, "check-config", CONTRIB],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            check=False,
        )
        self.assertEqual(
            (result.returncode, result.stdout, result.stderr),
            (0, f"{CONTRIB}: ok, {len(names)} listeners: {', '.join(names)}\n", ""),
        )

    def test_eachListenerAnswers(self) -> None:
        """Served on free ports and temporary paths, each listener of the
        example answers."""
        folder = temporaryDirectory(self)
        text = rewriteEndpoints(self.text, folder)
        document = tomllib.loads(text)
        tables = document["listeners"]
        endpoints = [table["endpoint"] for table in tables.values()]
        for endpoint in endpoints:
            fixed = re.search(r"\b(tcp6?|udp6?):[1-9]", endpoint)
            self.assertIsNone(fixed, f"{endpoint}: not rewritten; extend the test")
        if any("tcp6:" in endpoint for endpoint in endpoints):
            try:
                with socket.socket(socket.AF_INET6) as probe:
                    probe.bind(("::1", 0))
            except OSError:
                raise SkipTest("no IPv6 loopback") from None
        served = ConfiguredServer(self, text, *endpoints)
        defaults = document.get("defaults", {})
        for name, table in tables.items():
            protocol = table.get("protocol", defaults.get("protocol", "echo"))
            options = {**defaults.get(protocol, {}), **table}
            try:
                self.assertAnswers(served, name, protocol, options)
            except Exception as e:
                raise self.failureException(f"listener {name}: {e!r}") from e

    def assertAnswers(
        self,
        served: ConfiguredServer,
        name: str,
        protocol: str,
        options: dict[str, Any],
    ) -> None:
        """The listener C{name} answers as C{protocol} with C{options} does."""
        endpoint = options["endpoint"]
        address = served.server.addresses[endpoint]
        proxied = endpoint.startswith("haproxy:")
        datagram = re.match(r"(haproxy:)*(udp|unixgram)", endpoint) is not None
        marker = f"to {name}"
        if datagram and protocol == "echo":
            reply = exchangeDatagram(self, address, marker.encode())
            self.assertEqual(reply, marker.encode())
            return
        self.assertFalse(datagram, f"no check of {protocol} on {endpoint}")
        sock = connect(self, address)
        peer = sockName(sock)
        if proxied:
            peer = "127.0.0.1:5555"
            sock.sendall(b"PROXY TCP4 127.0.0.1 127.0.0.1 5555 80\r\n")
        if protocol == "echo":
            assertEchoes(self, sock, marker.encode() + b"\n")
        elif protocol == "hello":
            expected = options.get("greeting", DEFAULT_GREETING)
            self.assertEqual(
                receiveLine(sock), expected.format(peer=peer).encode() + b"\r\n"
            )
            sock.sendall(b"eve\n")
            self.assertEqual(receiveLine(sock), b"Hello, eve!\n")
        elif protocol == "line-print":
            self.assertIn(options.get("output", "-"), ("-", "stdout"))
            sock.sendall(marker.encode() + b"\n")
            served.server.waitForLine(f"{endpoint} {peer}: {marker}")
        else:
            self.fail(f"no check of {protocol} on {endpoint}")
