"""
End-to-end tests of C{--workers N}: a real twistd supervisor and its real
worker processes, on real sockets, with third-party clients where one fits.
"""

from __future__ import annotations

import collections
import os
import re
import signal
import socket
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families
from twisted.trial.unittest import SynchronousTestCase

from tests.harness import (
    IO_TIMEOUT,
    STOP_TIMEOUT,
    Address,
    connect,
    datagramSocket,
    parseAddress,
    receiveLine,
    runClient,
    runTwistd,
    socketPath,
    temporaryDirectory,
)
from tests.workersrun import ORPHAN_TIMEOUT, START_TIMEOUT, Workers, alive, waitUntil

TCP = "tcp:0:interface=127.0.0.1"
UDP = "udp:0:interface=127.0.0.1"
# A protocol that says which process serves: the pid, as a line, to each
# stream connection (then echoes) and in answer to each datagram.
WHOAMI = """\
import os
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from sockplug.plugin import ProtocolPlugin

class WhoAmI(Protocol):
    def connectionMade(self):
        self.transport.write(b"%d\\n" % os.getpid())

    def dataReceived(self, data):
        self.transport.write(data)

class WhoAmIDatagram(DatagramProtocol):
    def datagramReceived(self, data, addr):
        self.transport.write(b"%d\\n" % os.getpid(), addr)

whoami = ProtocolPlugin(
    name="whoami",
    description="Says which process serves.",
    stream=lambda listener: Factory.forProtocol(WhoAmI),
    datagram=lambda listener: WhoAmIDatagram(),
)
"""


def whoamiEnvironment(testCase: SynchronousTestCase) -> dict[str, str]:
    """
    An environment in which the C{whoami} protocol is found: a dropin in a
    C{sockplug/plugins} folder on PYTHONPATH.
    """
    root = temporaryDirectory(testCase)
    plugins = os.path.join(root, "sockplug", "plugins")
    os.makedirs(plugins)
    with open(os.path.join(plugins, "whoami.py"), "w") as f:
        f.write(WHOAMI)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in [root, env.get("PYTHONPATH", "")] if p
    )
    return env


def whoServes(testCase: SynchronousTestCase, address: Address) -> int:
    """
    Connect to a C{whoami} listener; the pid of the process that served.
    """
    sock = connect(testCase, address)
    try:
        return int(receiveLine(sock))
    finally:
        sock.close()


def echoes(testCase: SynchronousTestCase, address: Address, data: bytes) -> bytes:
    """
    Send C{data} on a new connection; what comes back, as much as was sent.
    """
    sock = connect(testCase, address)
    try:
        sock.sendall(data)
        received = b""
        while len(received) < len(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received
    finally:
        sock.close()


class EchoTests(SynchronousTestCase):
    """
    Two workers serve echo over TCP, UDP, UNIX stream and UNIX datagram
    sockets.
    """

    def setUp(self) -> None:
        self.unix = socketPath(self, "s.sock")
        self.unixgram = socketPath(self, "s.dgram")
        self.server = Workers.run(
            self,
            *("-e", TCP, "-e", UDP),
            *("-e", f"unix:{self.unix}", "-e", f"unixgram:{self.unixgram}"),
        )

    def test_tcp(self) -> None:
        """
        nc gets its line back over TCP.
        """
        host, port = self.server.inet(TCP)
        result = runClient(["nc", "-q1", host, str(port)], b"hello workers\n")
        self.assertEqual(result.stdout, b"hello workers\n")

    def test_unix(self) -> None:
        """
        nc gets its line back over the UNIX socket the workers share.
        """
        result = runClient(["nc", "-q1", "-U", self.unix], b"over unix\n")
        self.assertEqual(result.stdout, b"over unix\n")

    def test_udp(self) -> None:
        """
        socat gets its datagram back over UDP.
        """
        host, port = self.server.inet(UDP)
        result = runClient(["socat", "-t2", "-", f"UDP:{host}:{port}"], b"dgram\n")
        self.assertEqual(result.stdout, b"dgram\n")

    def test_unixDatagram(self) -> None:
        """
        A datagram to the UNIX datagram socket comes back.
        """
        sock = datagramSocket(self, self.unixgram)
        sock.sendto(b"unix dgram", self.unixgram)
        self.assertEqual(sock.recv(100), b"unix dgram")

    def test_many(self) -> None:
        """
        Many connections at once, on each stream socket, all get their
        bytes back.
        """
        for address in (self.server.inet(TCP), self.unix):
            for n in range(50):
                payload = b"%d " % n * 1000
                self.assertEqual(echoes(self, address, payload), payload)

    def test_workersAreChildren(self) -> None:
        """
        The workers are the supervisor's children, and they are the ones
        that say they serve.
        """
        self.assertEqual(set(self.server.serving().values()), self.server.children())
        self.assertEqual(sorted(self.server.serving()), [1, 2])


class SpreadTests(SynchronousTestCase):
    """
    The kernel spreads connections and datagrams evenly over the workers.
    """

    def test_tcp(self) -> None:
        """
        Of 1000 TCP connections, each of two workers serves within 10% of
        500.
        """
        server = Workers.run(self, "-e", f"whoami@{TCP}", env=whoamiEnvironment(self))
        address = server.inet(TCP)
        counts = collections.Counter(whoServes(self, address) for _ in range(1000))
        self.assertEqual(set(counts), set(server.serving().values()))
        for pid, count in counts.items():
            self.assertTrue(450 <= count <= 550, f"worker {pid}: {count} of 1000")

    def test_udp(self) -> None:
        """
        Datagrams from 400 client sockets are answered by both workers,
        each within 15% of half of them.
        """
        endpoint = f"{UDP}:replyrate=100000:replyburst=100000"
        server = Workers.run(
            self, "-e", f"whoami@{endpoint}", env=whoamiEnvironment(self)
        )
        address = server.inet(endpoint)
        counts: collections.Counter[int] = collections.Counter()
        for _ in range(400):
            sock = datagramSocket(self, address)
            sock.sendto(b"who?", address)
            counts[int(sock.recv(100))] += 1
            sock.close()
        self.assertEqual(set(counts), set(server.serving().values()))
        for pid, count in counts.items():
            self.assertTrue(170 <= count <= 230, f"worker {pid}: {count} of 400")


class RestartTests(SynchronousTestCase):
    """
    A worker killed with SIGKILL is started again; meanwhile, the listeners
    go on serving.
    """

    def test_killed(self) -> None:
        """
        After kill -9 of a worker, a new one (a new pid) serves in its
        place, and every connection made meanwhile, on TCP and on UNIX, is
        served without a retry.
        """
        path = socketPath(self, "s.sock")
        server = Workers.run(
            self,
            "-e",
            f"whoami@{TCP}",
            "-e",
            f"whoami@unix:{path}",
            env=whoamiEnvironment(self),
        )
        address = server.inet(TCP)
        before = server.serving()
        os.kill(before[1], signal.SIGKILL)
        overTCP: collections.Counter[int] = collections.Counter()
        overUNIX: collections.Counter[int] = collections.Counter()
        deadline = time.monotonic() + START_TIMEOUT
        while server.serving().get(1) == before[1]:
            overUNIX[whoServes(self, path)] += 1
            overTCP[whoServes(self, address)] += 1
            self.assertLess(time.monotonic(), deadline, "not started again")
        after = server.serving()
        self.assertNotEqual(after[1], before[1])
        self.assertEqual(after[2], before[2])
        self.assertFalse(alive(before[1]))
        self.assertEqual(server.children(), set(after.values()))
        server.waitForLineMatching(
            lambda line: "worker 1 was killed by SIGKILL" in line, what="the kill"
        )
        # The UNIX socket's connections went to the other worker at once;
        # a TCP connection queued on the killed worker's socket waited for
        # the new worker, which served it: none was lost.
        self.assertIn(before[2], overUNIX)
        self.assertLessEqual(set(overUNIX), {before[2], after[1]})
        self.assertIn(after[1], overTCP)
        self.assertLessEqual(set(overTCP), {before[2], after[1]})


class StopTests(SynchronousTestCase):
    """
    Stopping: SIGTERM reaches every worker; nothing is left.
    """

    def test_sigterm(self) -> None:
        """
        On SIGTERM the supervisor and every worker end, and the socket
        files are removed; no worker says that its supervisor has gone.
        """
        unix = socketPath(self, "s.sock")
        unixgram = socketPath(self, "s.dgram")
        server = Workers.run(
            self,
            "-e",
            TCP,
            "-e",
            f"unix:{unix}",
            "-e",
            f"unixgram:{unixgram}",
            count=3,
        )
        workers = set(server.serving().values())
        self.assertEqual(len(workers), 3)
        server.process.send_signal(signal.SIGTERM)
        status = server.process.wait(STOP_TIMEOUT)
        self.assertIn(status, (-signal.SIGTERM, 128 + signal.SIGTERM))
        self.assertEqual({pid for pid in workers if alive(pid)}, set())
        for path in (unix, unix + ".lock", unixgram):
            self.assertFalse(os.path.lexists(path), path)
        for number in (1, 2, 3):
            self.assertIn(f"worker {number} (pid", server.stdout())
        self.assertEqual(server.stdout().count("stopped: it exited with status 0"), 3)
        self.assertNotIn("the supervisor has gone", server.stdout())

    def test_openConnectionFinishes(self) -> None:
        """
        A connection open on a worker when SIGTERM comes gets its
        --shutdown-timeout to finish: its echo still comes back.
        """
        server = Workers.run(self, "-e", TCP, "--shutdown-timeout", "10")
        sock = connect(self, server.inet(TCP))
        sock.sendall(b"before\n")
        self.assertEqual(receiveLine(sock), b"before\n")
        server.process.send_signal(signal.SIGTERM)
        server.waitForLineMatching(
            lambda line: "Received SIGTERM" in line and "worker" in line,
            what="a worker's SIGTERM",
        )
        sock.sendall(b"after\n")
        self.assertEqual(receiveLine(sock), b"after\n")
        sock.close()
        status = server.process.wait(STOP_TIMEOUT)
        self.assertIn(status, (-signal.SIGTERM, 128 + signal.SIGTERM))

    def test_supervisorKilled(self) -> None:
        """
        Workers whose supervisor is killed with SIGKILL end by themselves.
        """
        server = Workers.run(self, "-e", TCP)
        workers = set(server.serving().values())
        server.process.kill()
        server.process.wait(STOP_TIMEOUT)
        waitUntil(
            lambda: not any(alive(pid) for pid in workers),
            ORPHAN_TIMEOUT,
            "every worker gone",
        )


class FailureTests(SynchronousTestCase):
    """
    What cannot start is said once, and nothing starts.
    """

    def test_addressInUse(self) -> None:
        """
        A port in use: one line, exit status 1, no worker.
        """
        taken = socket.socket()
        self.addCleanup(taken.close)
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        unix = socketPath(self, "s.sock")
        result = runTwistd(
            self,
            *("-e", f"unix:{unix}", "-e", f"tcp:{port}:interface=127.0.0.1"),
            *("--workers", "2"),
        )
        self.assertEqual(result.code, 1)
        critical = result.stderr.splitlines()  # (logging has not begun)
        self.assertEqual(len(critical), 1)
        self.assertIn(f"cannot listen on 'tcp:{port}:interface=127.0.0.1'", critical[0])
        self.assertIn("something is already listening there", critical[0])
        self.assertNotIn("Traceback", result.output)
        self.assertNotIn("worker 1", result.output)
        self.assertFalse(os.path.lexists(unix))

    def test_secondSupervisor(self) -> None:
        """
        A second sockplug with workers on the port of the first does not
        join its SO_REUSEPORT sockets: port in use, exit status 1.
        """
        first = Workers.run(self, "-e", TCP)
        port = first.port(TCP)
        result = runTwistd(
            self, "-e", f"tcp:{port}:interface=127.0.0.1", "--workers", "2"
        )
        self.assertEqual(result.code, 1)
        self.assertIn("something is already listening there", result.output)
        self.assertNotIn("worker 1 started", result.output)

    def test_wrongCount(self) -> None:
        """
        A wrong --workers is one line, exit status 1.
        """
        result = runTwistd(self, "-e", TCP, "--workers", "0")
        self.assertEqual(result.code, 1)
        self.assertEqual(
            result.stderr.strip(),
            "twistd sockplug: --workers '0' is not a whole number from 1 to 64"
            " (see twistd sockplug --help)",
        )


def _greetingsFile(path: str, greeting: str, extra: str = "") -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(
            "[listeners.greet]\n"
            f'endpoint = "{TCP}"\n'
            'protocol = "hello"\n'
            f'greeting = "{greeting} {{peer}}"\n' + extra
        )


class ReloadTests(SynchronousTestCase):
    """
    SIGHUP with --config: the workers apply a file that needs the sockets
    held; one that needs another socket is refused, and stays refused
    for a worker started again.
    """

    def greetings(self, address: Address, count: int = 20) -> set[bytes]:
        found = set()
        for _ in range(count):
            sock = connect(self, address)
            found.add(receiveLine(sock).split(b" ")[0])
            sock.close()
        return found

    def reloadsDone(self, server: Workers) -> int:
        return server.stdout().count(": reload done: ")

    def test_reload(self) -> None:
        """
        A changed greeting reaches every worker; a new listener is refused
        with a line saying it needs a restart, and a worker killed after
        that comes back with the configuration in force.
        """
        path = os.path.join(temporaryDirectory(self), "sockplug.toml")
        _greetingsFile(path, "One")
        server = Workers.run(self, "--config", path)
        server.endpoints = [TCP]
        server.waitUntilListening()
        address = server.inet(TCP)
        self.assertEqual(self.greetings(address), {b"One"})

        _greetingsFile(path, "Two")
        server.process.send_signal(signal.SIGHUP)
        waitUntil(lambda: self.reloadsDone(server) == 2, START_TIMEOUT, "reloaded")
        self.assertEqual(self.greetings(address), {b"Two"})

        _greetingsFile(path, "Three", f'[listeners.extra]\nendpoint = "{UDP}"\n')
        server.process.send_signal(signal.SIGHUP)
        line = server.waitForLineMatching(
            lambda line: "reload failed" in line, what="the refusal"
        )
        self.assertIn("added: extra", line)
        self.assertIn("restart sockplug", line)
        self.assertEqual(self.greetings(address), {b"Two"})

        first = server.serving()[1]
        os.kill(first, signal.SIGKILL)
        waitUntil(lambda: server.serving()[1] != first, START_TIMEOUT, "restarted")
        self.assertEqual(self.greetings(address, 40), {b"Two"})
        self.assertEqual(self.reloadsDone(server), 2)

    def test_processGroup(self) -> None:
        """
        A SIGHUP to the whole process group (the supervisor and every
        worker) reloads each worker once, through the supervisor.
        """
        path = os.path.join(temporaryDirectory(self), "sockplug.toml")
        _greetingsFile(path, "One")
        server = Workers.run(self, "--config", path)
        server.endpoints = [TCP]
        server.waitUntilListening()
        _greetingsFile(path, "Two")
        for pid in [server.process.pid, *server.serving().values()]:
            os.kill(pid, signal.SIGHUP)
        waitUntil(lambda: self.reloadsDone(server) >= 2, START_TIMEOUT, "reloaded")
        # (A worker's own reload would have come at once, with the signal.)
        time.sleep(1.0)
        self.assertEqual(self.reloadsDone(server), 2, server.stdout())
        self.assertEqual(self.greetings(server.inet(TCP)), {b"Two"})


class LayersTests(SynchronousTestCase):
    """
    What stands in front of a protocol works in the workers as without.
    """

    def test_haproxy(self) -> None:
        """
        Behind haproxy:, each worker reads the PROXY header: the greeting
        names the client it gives.
        """
        endpoint = f"haproxy:{TCP}"
        server = Workers.run(self, "-e", f"hello@{endpoint}")
        for _ in range(10):
            sock = connect(self, server.inet(endpoint))
            sock.sendall(b"PROXY TCP4 192.0.2.7 192.0.2.1 4242 80\r\n")
            self.assertIn(b"192.0.2.7:4242", receiveLine(sock))
            sock.close()

    def test_linePrint(self) -> None:
        """
        line-print's lines, from both workers at once, reach the
        supervisor's standard output whole.
        """
        server = Workers.run(self, "-e", f"line-print@{TCP}")
        address = server.inet(TCP)
        socks = [connect(self, address) for _ in range(8)]
        for n, sock in enumerate(socks):
            sock.sendall(
                b"".join(b"c%d line %05d %s\n" % (n, i, b"x" * 60) for i in range(500))
            )
        for sock in socks:
            sock.close()
        waitUntil(
            lambda: len(server.linesStartingWith(TCP + " ")) >= 4000,
            START_TIMEOUT,
            "every line printed",
        )
        lines = server.linesStartingWith(TCP + " ")
        self.assertEqual(len(lines), 4000)
        pattern = re.compile(
            r"tcp:0:interface=127\.0\.0\.1 127\.0\.0\.1:\d+: c\d line \d{5} x{60}"
        )
        self.assertEqual([line for line in lines if not pattern.fullmatch(line)], [])


_METRICS_AT = re.compile(
    r"metrics of the workers listening on \S+ \((?P<address>[^()]*)\)$", re.MULTILINE
)
_WORKER_METRICS = re.compile(
    r"worker \d: metrics and status page listening on unix:(\S+)"
)


class MetricsTests(SynchronousTestCase):
    """
    --metrics with workers: the supervisor serves every worker's metrics,
    each labelled with its worker.
    """

    def setUp(self) -> None:
        self.server = Workers.run(
            self, "-e", TCP, "--metrics", "tcp:0:interface=127.0.0.1"
        )
        match = _METRICS_AT.search(self.server.stdout())
        assert match is not None
        address = parseAddress(match["address"])
        assert not isinstance(address, str), address
        self.base = f"http://{address[0]}:{address[1]}"

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.base + path, timeout=IO_TIMEOUT) as response:
            body: bytes = response.read()
            return body

    def samples(self, name: str) -> dict[str, float]:
        """
        The value of each worker's sample of metric C{name}.
        """
        found = {}
        text = self.get("/metrics").decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name:
                    found[sample.labels["worker"]] = sample.value
        return found

    def test_counts(self) -> None:
        """
        The connections counted by each worker add up to those made, and
        promtool finds the exposition right.
        """
        address = self.server.inet(TCP)
        for n in range(40):
            self.assertEqual(echoes(self, address, b"%d\n" % n), b"%d\n" % n)
        counts = self.samples("sockplug_connections_total")
        self.assertEqual(sorted(counts), ["1", "2"])
        self.assertEqual(sum(counts.values()), 40)
        self.assertTrue(all(count > 0 for count in counts.values()), counts)
        self.assertEqual(self.samples("sockplug_worker_up"), {"1": 1, "2": 1})
        result = runClient(["promtool", "check", "metrics"], self.get("/metrics"))
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_pages(self) -> None:
        """
        C{/} lists the workers; C{/worker/N/} is worker N's status page.
        """
        listing = self.get("/").decode()
        self.assertEqual(listing.count("<tr data-worker="), 2)
        self.assertIn('<a href="worker/2/">status</a>', listing)
        page = self.get("/worker/2/").decode()
        self.assertIn('<table id="listeners">', page)
        self.assertIn(str(self.server.serving()[2]), page)

    def test_restarts(self) -> None:
        """
        A worker started again is counted, and its metrics are read from
        its new process; the private folder is gone once stopped.
        """
        folder = os.path.dirname(_WORKER_METRICS.findall(self.server.stdout())[0])
        self.assertTrue(os.path.isdir(folder))
        first = self.server.serving()[1]
        os.kill(first, signal.SIGKILL)
        waitUntil(lambda: self.server.serving()[1] != first, START_TIMEOUT, "restarted")
        self.assertEqual(self.samples("sockplug_worker_restarts_total")["1"], 1)
        self.assertEqual(self.samples("sockplug_worker_up"), {"1": 1, "2": 1})
        self.server.process.send_signal(signal.SIGTERM)
        self.server.process.wait(STOP_TIMEOUT)
        self.assertFalse(os.path.exists(folder))
