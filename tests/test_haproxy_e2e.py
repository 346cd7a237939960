"""
End-to-end tests of contrib/haproxy/haproxy.cfg, as docs/scale-out.md uses
it: HAProxy on loopback, in TCP mode, in front of two real C{twistd
sockplug} processes listening on C{haproxy:} endpoints, with the PROXY
protocol v2. The file is run as it is, with only its addresses moved to
free ports.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.harness import (
    IO_TIMEOUT,
    POLL_INTERVAL,
    START_TIMEOUT,
    Server,
    connect,
    connectFrom,
    receive,
    receiveLine,
    receiveUntilClosed,
    runClient,
    sockName,
    temporaryDirectory,
)
from tests.test_client_e2e import selfSignedCertificate

CONFIG = Path(__file__).resolve().parent.parent / "contrib" / "haproxy" / "haproxy.cfg"
# The addresses in the file: frontend, the two servers, the stats page.
FRONTEND, SERVER1, SERVER2, STATS = 7000, 7001, 7002, 7080
SERVERS = ("sockplug1", "sockplug2")
# loglines=: every connection's log line is wanted (all clients are 127.0.0.1).
PROXIED = "haproxy:tcp:0:interface=127.0.0.1:loglines=1000"
# Long enough for at least two health checks of each server (inter 2s).
QUIET_WINDOW = 4.5
FAILOVER_TIMEOUT = 15.0
# The lines of the file that make health checks send no PROXY header.
HEADERLESS_CHECKS = re.compile(r"(?m)^\s*(option tcp-check|tcp-check connect)\s*$\n")


def _haproxy() -> str:
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
                [_haproxy(), "-db", "-f", str(self.configPath)],
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


def _matches(seen: tuple[str, str] | None, wanted: str) -> bool:
    status, _, checkStatus = wanted.partition("/")
    return seen is not None and seen[0] == status and checkStatus in ("", seen[1])


def tlsClient(testCase: SynchronousTestCase, port: int) -> ssl.SSLSocket:
    """A TLS client connected to 127.0.0.1:C{port} (any certificate)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        sock = context.wrap_socket(connect(testCase, ("127.0.0.1", port)))
    except (ssl.SSLError, OSError) as e:
        raise testCase.failureException(f"TLS handshake failed: {e}") from e
    testCase.addCleanup(sock.close)
    return sock


class _HAProxyCase(SynchronousTestCase):
    """
    Two sockplug backends behind HAProxy.
    """

    protocol = "echo"
    endpoint = PROXIED

    def setUp(self) -> None:
        _haproxy()
        self.config = CONFIG.read_text()
        self.backends = self.startBackends()

    def startBackends(self) -> list[Server]:
        """Two twistd sockplug processes on C{endpoint}, started together."""
        option = f"{self.protocol}@{self.endpoint}"
        backends = [Server(self, "--endpoint", option) for _ in SERVERS]
        for backend in backends:
            backend.waitUntilListening()
        return backends

    def startHAProxy(self, text: str | None = None) -> HAProxy:
        """
        Run HAProxy with the file (or C{text}), its frontend and stats page
        moved to free ports, its servers to the backends'; wait until both
        servers are up. A port taken in between is tried again.
        """
        for _ in range(3):
            self.frontend, stats = freePort(), freePort()
            ports = {FRONTEND: self.frontend, STATS: stats}
            for old, backend in zip((SERVER1, SERVER2), self.backends, strict=True):
                ports[old] = backend.port(self.endpoint)
            haproxy = HAProxy(self, rewritten(text or self.config, ports), stats)
            try:
                haproxy.waitUntil("sockplug1=UP sockplug2=UP")
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
        nothing more over L{QUIET_WINDOW} seconds of checks.
        """
        haproxy.waitUntil("sockplug1=UP/L4OK sockplug2=UP/L4OK")
        before = [len(backend.stdout().splitlines()) for backend in self.backends]
        time.sleep(QUIET_WINDOW)
        haproxy.waitUntil("sockplug1=UP/L4OK sockplug2=UP/L4OK")
        for backend, count in zip(self.backends, before, strict=True):
            added = backend.stdout().splitlines()[count:]
            self.assertEqual(added, [], f"{len(added)} lines in {QUIET_WINDOW}s")


class ConfigTests(SynchronousTestCase):
    """
    The contrib file as it is.
    """

    def test_valid(self) -> None:
        """C{haproxy -c} accepts the file unchanged, with no warning."""
        result = subprocess.run(
            [_haproxy(), "-c", "-f", str(CONFIG)],
            capture_output=True,
            timeout=IO_TIMEOUT,
            check=False,
        )
        output = (result.stdout + result.stderr).decode("utf-8", "replace")
        self.assertEqual(
            (result.returncode, output.strip()), (0, "Configuration file is valid")
        )


class EchoTests(_HAProxyCase):
    """
    Echo served by two backends through HAProxy.
    """

    def setUp(self) -> None:
        super().setUp()
        self.haproxy = self.startHAProxy()

    def test_echo(self) -> None:
        """A line sent to HAProxy's frontend comes back from a backend."""
        self.assertEchoes(self.client(), b"through haproxy\n")

    def test_nc(self) -> None:
        """nc's input comes back through HAProxy, after nc ends its side."""
        result = runClient(["nc", "-N", "127.0.0.1", str(self.frontend)], b"nc\n")
        self.assertEqual((result.returncode, result.stdout), (0, b"nc\n"))

    def test_socat(self) -> None:
        """socat's input comes back through HAProxy, after socat ends its side."""
        address = f"TCP:127.0.0.1:{self.frontend}"
        result = runClient(["socat", "-t", "5", "-", address], b"socat\n")
        self.assertEqual((result.returncode, result.stdout), (0, b"socat\n"))

    def test_spreadEvenly(self) -> None:
        """20 connections held open split 10/10: leastconn gives each new one
        to the server with fewer open (taking turns among equals)."""
        clients = [self.client() for _ in range(20)]
        for number, sock in enumerate(clients):
            self.assertEchoes(sock, b"%d\n" % number)
        counts = [0, 0]
        for sock in clients:
            counts[self.backendOf(sock)] += 1
        self.assertEqual(counts, [10, 10])

    def test_killOneBackend(self) -> None:
        """SIGKILL of one backend closes its clients only; the other's go on,
        and new connections all go to it, at once and after the health checks
        mark the dead one down."""
        clients = [self.client() for _ in range(10)]
        for sock in clients:
            self.assertEchoes(sock, b"before\n")
        placed = [self.backendOf(sock) for sock in clients]
        self.assertEqual(sorted(set(placed)), [0, 1])
        self.backends[0].kill()
        for sock, backend in zip(clients, placed, strict=True):
            if backend == 0:
                self.assertEqual(receiveUntilClosed(sock), b"")
            else:
                self.assertEchoes(sock, b"after\n")
        for sock in [self.client() for _ in range(4)]:
            self.assertEchoes(sock, b"redispatched\n")
            self.assertEqual(self.backendOf(sock), 1)
        self.haproxy.waitUntil("sockplug1=DOWN sockplug2=UP", FAILOVER_TIMEOUT)
        for sock in [self.client() for _ in range(4)]:
            self.assertEchoes(sock, b"down\n")
            self.assertEqual(self.backendOf(sock), 1)

    def test_healthChecksQuiet(self) -> None:
        """The file's health checks (no PROXY header) log nothing in the
        backends."""
        self.assertQuiet(self.haproxy)


class LinePrintTests(_HAProxyCase):
    """
    line-print served by two backends through HAProxy.
    """

    protocol = "line-print"

    def test_clientAddressPrinted(self) -> None:
        """line-print prefixes a line with the client's own address and port
        (127.0.0.2, where HAProxy connects from 127.0.0.1)."""
        self.startHAProxy()
        sock = self.client("127.0.0.2")
        sock.sendall(b"where am I\n")
        printed = f"{self.endpoint} {sockName(sock)}: where am I"
        backend = self.backendOf(sock)
        self.backends[backend].waitForLine(printed)
        self.assertNotIn(printed, self.backends[1 - backend].stdout())


class LocalHealthCheckTests(_HAProxyCase):
    """
    HAProxy's default health checks on a send-proxy-v2 server: a PROXY v2
    header with the LOCAL command, then a reset.
    """

    def test_localHealthChecksQuiet(self) -> None:
        """Health checks that send a LOCAL header (the file without its
        tcp-check lines) log nothing in the backends."""
        text, removed = HEADERLESS_CHECKS.subn("", self.config)
        self.assertEqual(removed, 2)
        self.assertQuiet(self.startHAProxy(text))


class TLSTerminationTests(_HAProxyCase):
    """
    TLS ended by HAProxy (a frontend added to the file), plain to sockplug.
    """

    def test_echoOverTLS(self) -> None:
        """A TLS client's line comes back, and the backend logs the client's
        own address."""
        key, certificate = selfSignedCertificate(temporaryDirectory(self))
        pem = Path(temporaryDirectory(self)) / "haproxy.pem"
        pem.write_text(Path(certificate).read_text() + Path(key).read_text())
        port = freePort()
        self.startHAProxy(
            f"{self.config}\nfrontend sockplug-tls\n"
            f"    bind 127.0.0.1:{port} ssl crt {pem}\n"
            "    default_backend sockplug\n"
        )
        sock = tlsClient(self, port)
        sock.sendall(b"encrypted\n")
        self.assertEqual(receive(sock, lambda data: b"\n" in data), b"encrypted\n")
        self.backendOf(sock)  # fails unless a backend logged sockName(sock)


class TLSPassThroughTests(_HAProxyCase):
    """
    TLS through HAProxy's TCP mode to C{haproxy:ssl:} backends.
    """

    def setUp(self) -> None:
        key, certificate = selfSignedCertificate(temporaryDirectory(self))
        self.endpoint = (
            f"haproxy:ssl:0:interface=127.0.0.1:privateKey={key}:certKey={certificate}"
        )
        super().setUp()

    def test_echoOverTLS(self) -> None:
        """A TLS client's line comes back: HAProxy sends the PROXY header
        before the client's TLS handshake, as the PROXY protocol says."""
        self.startHAProxy()
        sock = tlsClient(self, self.frontend)
        sock.sendall(b"encrypted\n")
        self.assertEqual(receive(sock, lambda data: b"\n" in data), b"encrypted\n")
