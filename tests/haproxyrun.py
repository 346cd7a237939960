"""
Helpers for the end-to-end tests of contrib/haproxy/haproxy.cfg: HAProxy
run with the file (its addresses moved to free ports) in front of two real
C{twistd sockplug} processes on C{haproxy:} endpoints, and its statistics
read back.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.harness import (
    IO_TIMEOUT,
    POLL_INTERVAL,
    START_TIMEOUT,
    Server,
    connectFrom,
    receiveLine,
    sockName,
    temporaryDirectory,
)

CONFIG = Path(__file__).resolve().parent.parent / "contrib" / "haproxy" / "haproxy.cfg"
# The addresses in the file: frontend, the two servers, the stats page.
FRONTEND, SERVER1, SERVER2, STATS = 7000, 7001, 7002, 7080
SERVERS = ("sockplug1", "sockplug2")
# loglines=: every connection's log line is wanted (all clients are 127.0.0.1).
PROXIED = "haproxy:tcp:0:interface=127.0.0.1:loglines=1000"
# Long enough for at least two health checks of each server (inter 2s).
QUIET_WINDOW = 4.5


def haproxyPath() -> str:
    """Where C{haproxy} is; skip the test if it is not installed."""
    path = shutil.which("haproxy")
    if path is None:
        raise SkipTest("haproxy is not installed (Debian package haproxy)")
    return path


def freePort() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rewritten(text: str, ports: Mapping[int, int]) -> str:
    """
    The configuration C{text} with the port of each C{bind} and C{server}
    line on 127.0.0.1 changed as C{ports} says; each must be there.
    """
    found: list[int] = []

    def replace(match: re.Match[str]) -> str:
        old = int(match["port"])
        found.append(old)
        return f"{match['head']}127.0.0.1:{ports.get(old, old)}"

    pattern = (
        r"(?m)^(?P<head>[ \t]*(?:bind|server[ \t]+\S+)[ \t]+)127\.0\.0\.1:(?P<port>\d+)"
    )
    result = re.sub(pattern, replace, text)
    if not set(ports) <= set(found):
        raise AssertionError(f"{CONFIG}: listens on {found}, expected {sorted(ports)}")
    return result


def withServerOptions(text: str, options: str) -> str:
    """The configuration C{text} with C{options} added to its C{default-server}."""
    result, count = re.subn(
        r"(?m)^([ \t]*default-server[ \t].*)$", rf"\1 {options}", text
    )
    if count != 1:
        raise AssertionError(f"{CONFIG}: {count} default-server lines, expected 1")
    return result


def request(port: int, path: str) -> str:
    """The body of C{GET path} from HTTP on 127.0.0.1:C{port}."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}{path}", timeout=IO_TIMEOUT) as response:
        body: bytes = response.read()
        return body.decode("utf-8", "replace")


class HAProxy:
    """
    A running C{haproxy -db} with the contrib file, killed when the test
    ends.
    """

    def __init__(self, testCase: SynchronousTestCase, text: str, stats: int) -> None:
        self._testCase = testCase
        self.stats = stats
        folder = temporaryDirectory(testCase)
        self.configPath = Path(folder) / "haproxy.cfg"
        self.configPath.write_text(text)
        self._output = Path(folder) / "output"
        with open(self._output, "wb") as output:
            self.process = subprocess.Popen(
                [haproxyPath(), "-db", "-f", str(self.configPath)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        testCase.addCleanup(self.kill)

    def output(self) -> str:
        """What HAProxy wrote so far (its log and its warnings)."""
        return self._output.read_text("utf-8", "replace")

    def kill(self) -> None:
        """Kill HAProxy unless it has ended."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(IO_TIMEOUT)

    def servers(self) -> dict[str, dict[str, str]]:
        """Each server's row of HAProxy's statistics (CSV)."""
        rows = csv.DictReader(io.StringIO(request(self.stats, "/;csv").lstrip("# ")))
        return {
            row["svname"]: row
            for row in rows
            if row["pxname"] == "sockplug" and row["svname"] in SERVERS
        }

    def waitUntil(self, check: str, timeout: float = START_TIMEOUT) -> None:
        """
        Wait until each server's C{status} (and C{check_status}, after a
        slash) is as C{check} says: C{"sockplug1=DOWN sockplug2=UP/L4OK"}.
        """
        wanted = dict(item.split("=") for item in check.split())
        deadline = time.monotonic() + timeout
        seen: object = None
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                seen = {
                    n: (r["status"], r["check_status"])
                    for n, r in self.servers().items()
                }
            except OSError as e:
                seen = e
            else:
                if all(_matches(seen.get(name), want) for name, want in wanted.items()):
                    return
            time.sleep(POLL_INTERVAL * 5)
        raise self._testCase.failureException(
            f"HAProxy: not {check} within {timeout}s (saw {seen})\n{self.output()}"
        )

    def checksPassed(self) -> None:
        """
        Wait until both servers have passed a health check, then for
        L{QUIET_WINDOW} seconds of checks, after which both are still up.
        """
        self.waitUntil("sockplug1=UP/L4OK sockplug2=UP/L4OK")
        time.sleep(QUIET_WINDOW)
        self.waitUntil("sockplug1=UP/L4OK sockplug2=UP/L4OK")


def _matches(seen: tuple[str, str] | None, wanted: str) -> bool:
    status, _, checkStatus = wanted.partition("/")
    return seen is not None and seen[0] == status and checkStatus in ("", seen[1])


class HAProxyCase(SynchronousTestCase):
    """
    Two sockplug backends behind HAProxy.

    @cvar protocol: what the backends serve.
    @cvar endpoint: the backends' endpoint string.
    @cvar args: more command-line arguments for the backends.
    """

    protocol = "echo"
    endpoint = PROXIED
    args: tuple[str, ...] = ()

    def setUp(self) -> None:
        haproxyPath()
        self.config = CONFIG.read_text()
        self.backends = self.startBackends()

    def startBackends(self) -> list[Server]:
        """Two twistd sockplug processes on C{endpoint}, started together."""
        option = f"{self.protocol}@{self.endpoint}"
        backends = [Server(self, "--endpoint", option, *self.args) for _ in SERVERS]
        for backend in backends:
            backend.waitUntilListening()
        return backends

    def startHAProxy(
        self,
        text: str | None = None,
        more: Sequence[int] = (),
        until: str = "sockplug1=UP sockplug2=UP",
    ) -> HAProxy:
        """
        Run HAProxy with the file (or C{text}), its frontend, stats page and
        the C{bind} ports C{more} moved to free ports (noted in
        C{self.ports}), its servers to the backends'; wait until the
        servers are as C{until} says (see L{HAProxy.waitUntil}): up. A port
        taken in between is tried again.
        """
        for _ in range(3):
            self.ports = {old: freePort() for old in (FRONTEND, STATS, *more)}
            self.frontend, stats = self.ports[FRONTEND], self.ports[STATS]
            ports = dict(self.ports)
            for old, backend in zip((SERVER1, SERVER2), self.backends, strict=True):
                ports[old] = backend.port(self.endpoint)
            haproxy = HAProxy(self, rewritten(text or self.config, ports), stats)
            try:
                haproxy.waitUntil(until)
            except self.failureException:
                if "cannot bind socket" not in haproxy.output():
                    raise
                haproxy.kill()
                continue
            return haproxy
        raise self.failureException("HAProxy could not bind free ports three times")

    def client(self, source: str = "127.0.0.1") -> socket.socket:
        """A client connected to HAProxy's frontend."""
        return connectFrom(self, ("127.0.0.1", self.frontend), source)

    def assertEchoes(self, sock: socket.socket, line: bytes) -> None:
        """C{line} sent on C{sock} comes back."""
        sock.sendall(line)
        self.assertEqual(receiveLine(sock), line)

    def backendOf(self, sock: socket.socket) -> int:
        """Which backend (0 or 1) logged C{sock} connecting, by its address."""
        logged = f"] {self.endpoint} {sockName(sock)} connected"
        deadline = time.monotonic() + IO_TIMEOUT
        while time.monotonic() < deadline:
            found = [
                index
                for index, backend in enumerate(self.backends)
                if any(line.endswith(logged) for line in backend.stdout().splitlines())
            ]
            if found:
                self.assertEqual(len(found), 1, f"{logged!r} in both backends")
                return found[0]
            time.sleep(POLL_INTERVAL)
        raise self.failureException(f"no backend logged {logged!r}")

    def assertQuiet(self, haproxy: HAProxy) -> None:
        """
        Once both servers have passed a health check, the backends log
        nothing more over L{QUIET_WINDOW} seconds of checks, and both stay
        up.
        """
        haproxy.waitUntil("sockplug1=UP/L4OK sockplug2=UP/L4OK")
        before = [len(backend.stdout().splitlines()) for backend in self.backends]
        haproxy.checksPassed()
        for backend, count in zip(self.backends, before, strict=True):
            added = backend.stdout().splitlines()[count:]
            self.assertEqual(added, [], f"{len(added)} lines in {QUIET_WINDOW}s")
