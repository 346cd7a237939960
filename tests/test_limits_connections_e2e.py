"""
End-to-end tests of a listener's defences against a real twistd sockplug
process: connection limits (C{maxpersource=}, C{maxconn=},
C{--max-connections}), a connection flood, and rate-limited log lines.
"""

from __future__ import annotations

import errno
import re
import resource
import select
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.harness import Server, connect, connectFrom, sockName
from tests.limitsfixtures import (
    TCP,
    connectRefused,
    messages,
    roundTrip,
    waitForMessage,
)


class ConnectionLimitTests(SynchronousTestCase):
    """
    maxpersource=, maxconn= and --max-connections: connections over a
    bound are closed at once and logged; the others are served.
    """

    def startPerSource(self) -> tuple[Server, str, list[socket.socket]]:
        """An echo server with maxpersource=5, and 5 clients echoed by it."""
        endpoint = TCP + ":maxpersource=5"
        server = Server.start(self, "--endpoint", endpoint)
        clients = [connect(self, server.inet(endpoint)) for _ in range(5)]
        for index, sock in enumerate(clients):
            self.assertEqual(roundTrip(sock, b"%d\n" % index), b"%d\n" % index)
        return server, endpoint, clients

    def test_maxPerSourceRefusesSixth(self) -> None:
        """The 6th connection from 127.0.0.1 is closed at once and logged,
        and the 5 others are still echoed."""
        server, endpoint, clients = self.startPerSource()
        sixth = connectRefused(self, server.inet(endpoint))
        waitForMessage(
            server,
            f"{endpoint} refused {sixth}: maxpersource=5 reached for 127.0.0.1".__eq__,
        )
        for sock in clients:
            self.assertEqual(roundTrip(sock), b"ping\n")

    def test_maxPerSourceOtherSource(self) -> None:
        """While 127.0.0.1 has 5 connections, one from 127.0.0.2 is echoed."""
        server, endpoint, _ = self.startPerSource()
        other = connectFrom(self, server.inet(endpoint), "127.0.0.2")
        self.assertEqual(roundTrip(other), b"ping\n")

    def test_maxPerSourceSlotFreed(self) -> None:
        """Once one of the 5 has disconnected, a new one from 127.0.0.1 is
        echoed."""
        server, endpoint, clients = self.startPerSource()
        gone = sockName(clients[0])
        clients[0].close()
        waitForMessage(server, lambda t: f" {gone} disconnected after " in t)
        again = connect(self, server.inet(endpoint))
        self.assertEqual(roundTrip(again), b"ping\n")

    def test_maxConn(self) -> None:
        """With maxconn=3, clients from 127.0.0.2, .3 and .4 are echoed and one
        from 127.0.0.5 is closed at once and logged."""
        endpoint = TCP + ":maxconn=3"
        server = Server.start(self, "--endpoint", endpoint)
        address = server.inet(endpoint)
        clients = [connectFrom(self, address, f"127.0.0.{n}") for n in (2, 3, 4)]
        for sock in clients:
            self.assertEqual(roundTrip(sock), b"ping\n")
        fourth = connectRefused(self, address, "127.0.0.5")
        waitForMessage(server, f"{endpoint} refused {fourth}: maxconn=3 reached".__eq__)
        for sock in clients:
            self.assertEqual(roundTrip(sock), b"ping\n")

    def test_maxConnectionsAcrossListeners(self) -> None:
        """--max-connections 4 bounds two listeners together: with 2 clients
        on each, a 5th on either is refused, until one on the other closes."""
        first, second = TCP, "tcp:0:interface=127.0.0.2"
        server = Server.start(
            self, "--max-connections", "4", "--endpoint", first, "--endpoint", second
        )
        a = [connect(self, server.inet(first)) for _ in range(2)]
        b = [connect(self, server.inet(second)) for _ in range(2)]
        for sock in a + b:
            self.assertEqual(roundTrip(sock), b"ping\n")
        for endpoint in (first, second):
            extra = connectRefused(self, server.inet(endpoint))
            waitForMessage(
                server,
                f"{endpoint} refused {extra}: --max-connections 4 reached".__eq__,
            )
        gone = sockName(a[0])
        a[0].close()
        waitForMessage(server, lambda t: f" {gone} disconnected after " in t)
        self.assertEqual(roundTrip(connect(self, server.inet(second))), b"ping\n")

    def test_refusalLinesRateLimited(self) -> None:
        """With loglines=10, 6 refusals of 127.0.0.1 log 2 lines (a fifth),
        and a refusal of 127.0.0.2 is still logged."""
        endpoint = TCP + ":maxconn=1:loglines=10"
        server = Server.start(self, "--endpoint", endpoint)
        address = server.inet(endpoint)
        held = connect(self, address)
        self.assertEqual(roundTrip(held), b"ping\n")
        refused = [connectRefused(self, address) for _ in range(6)]
        other = connectRefused(self, address, "127.0.0.2")
        waitForMessage(server, lambda t: t.startswith(f"{endpoint} refused 127.0.0.2:"))
        lines = [t for t in messages(server) if t.startswith(f"{endpoint} refused ")]
        self.assertEqual(
            lines,
            [
                f"{endpoint} refused {name}: maxconn=1 reached"
                for name in [*refused[:2], other]
            ],
        )


def _setOwnFileLimit(soft: int) -> None:
    """Set this process's soft limit on open files (children inherit it)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < soft:
        raise SkipTest(f"the hard limit on open files is {hard}, below {soft}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class _FloodClient:
    """
    One socket of a flood: connects without blocking, then sends one byte
    and finds out whether it is echoed (served) or the connection is reset
    (refused).
    """

    def __init__(self, source: str, address: tuple[str, int]) -> None:
        self.source = source
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.bind((source, 0))
        self.state = "connecting"
        code = self.sock.connect_ex(address)
        if code == errno.ECONNRESET:
            self.state = "refused"
        elif code not in (0, errno.EINPROGRESS):
            raise OSError(code, f"connect from {source}")

    def step(self, events: int) -> None:
        """Move on after C{events} from poll."""
        try:
            if self.state == "connecting" and events & select.POLLOUT:
                code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code:
                    raise OSError(code, "connect")
                self.sock.send(b"x")
                self.state = "probing"
            elif self.state == "probing" and events & (
                select.POLLIN | select.POLLERR | select.POLLHUP
            ):
                data = self.sock.recv(1)
                self.state = "served" if data == b"x" else "refused"
        except OSError as e:
            if e.errno not in (errno.ECONNRESET, errno.EPIPE):
                raise
            self.state = "refused"

    @property
    def settled(self) -> bool:
        """Whether it is known to be served or refused."""
        return self.state in ("served", "refused")

    def interest(self) -> int:
        """The poll events it waits for."""
        if self.state == "connecting":
            return select.POLLOUT
        return select.POLLIN


class FloodTests(SynchronousTestCase):
    """
    2,000 connections at once, 400 from each of five addresses in turn,
    against --max-connections 1000 and maxpersource=256, while a client
    connected before (from a sixth address) keeps talking.

    The listen backlog is large enough for the whole burst, so that the
    kernel queues it in order instead of dropping SYNs (retried after 1 s,
    3 s, ... and so reordered): the first three addresses then reach
    maxpersource, and the fourth --max-connections.
    """

    ENDPOINT = TCP + ":maxpersource=256:backlog=4096"
    SOURCES = tuple(f"127.0.0.{n}" for n in range(10, 15))
    FLOOD = 400 * len(SOURCES)

    def startServer(self, softLimit: int | None = None) -> None:
        """
        Start the server (with C{softLimit} as its soft limit on open files,
        if given), connect the well-behaved client, and note the server's
        descriptors.
        """
        original = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if softLimit is not None:
            _setOwnFileLimit(softLimit)
        try:
            self.server = Server.start(
                self, "--max-connections", "1000", "--endpoint", self.ENDPOINT
            )
        finally:
            if softLimit is not None:
                _setOwnFileLimit(original)
        if original != resource.RLIM_INFINITY and original < self.FLOOD + 256:
            _setOwnFileLimit(self.FLOOD + 256)
            self.addCleanup(_setOwnFileLimit, original)
        self.address = self.server.inet(self.ENDPOINT)
        self.good = connectFrom(self, self.address, "127.0.0.99")
        self.assertEqual(roundTrip(self.good), b"ping\n")
        self.baseline = self.server.openFiles()
        self.highest = self.baseline

    def watchDescriptors(self) -> Callable[[], None]:
        """
        Sample the server's descriptors as often as possible, in a thread
        (a burst of refused connections holds them for a few milliseconds
        only), for at most 60 s; return the function that stops it and
        notes the highest count in C{self.highest}.
        """
        done = threading.Event()
        seen = [self.baseline]

        def watch() -> None:
            deadline = time.monotonic() + 60.0
            while not done.is_set() and time.monotonic() < deadline:
                seen.append(max(seen.pop(), self.server.openFiles()))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()

        def stop() -> None:
            done.set()
            watcher.join(5.0)
            self.highest = max(self.highest, *seen)

        self.addCleanup(done.set)
        return stop

    def flood(self) -> list[_FloodClient]:
        """
        Open the flood's connections as fast as possible, and wait until each
        is known to be served or refused; meanwhile, sample the server's
        descriptors and check that the well-behaved client is echoed.
        """
        flood: list[_FloodClient] = []

        def closeAll() -> None:
            for client in flood:
                client.sock.close()

        self.addCleanup(closeAll)
        stopWatching = self.watchDescriptors()
        for source in self.SOURCES:
            flood.extend(_FloodClient(source, self.address) for _ in range(400))
        self.assertEqual(roundTrip(self.good, b"opened\n"), b"opened\n")
        poller = select.poll()
        byFd = {client.sock.fileno(): client for client in flood}
        for fd, client in byFd.items():
            if not client.settled:
                poller.register(fd, client.interest())
        deadline = time.monotonic() + 30.0
        lastEcho = time.monotonic()
        while time.monotonic() < deadline and not all(c.settled for c in flood):
            for fd, events in poller.poll(50):
                client = byFd[fd]
                client.step(events)
                if client.settled:
                    poller.unregister(fd)
                else:
                    poller.modify(fd, client.interest())
            if time.monotonic() - lastEcho > 0.5:
                self.assertEqual(roundTrip(self.good, b"during\n"), b"during\n")
                lastEcho = time.monotonic()
        stopWatching()
        return flood

    def test_limitsHold(self) -> None:
        """Of 2,000 connections at once, exactly as many as the limits allow
        are served, the client connected before is still echoed, at most 100
        refusals are logged, and the server's descriptors come back to what
        they were once the flood is gone."""
        self.startServer()
        flood = self.flood()
        states = Counter(client.state for client in flood)
        served = Counter(c.source for c in flood if c.state == "served")
        self.assertEqual((states["served"], states["refused"]), (999, 1001))
        self.assertEqual(served[self.SOURCES[0]], 256, served)
        self.assertLessEqual(max(served.values()), 256, served)
        self.assertEqual(roundTrip(self.good, b"after\n"), b"after\n")
        prefix = f"{self.ENDPOINT} refused "
        refusals = [t for t in messages(self.server) if t.startswith(prefix)]
        self.assertLessEqual(len(refusals), 100)
        reasons = {t.partition(": ")[2].partition(" reached")[0] for t in refusals}
        self.assertEqual(reasons, {"maxpersource=256", "--max-connections 1000"})
        for client in flood:
            client.sock.close()
        deadline = time.monotonic() + 10.0
        while self.server.openFiles() > self.baseline and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.server.openFiles(), self.baseline)
        late = connectFrom(self, self.address, self.SOURCES[-1])
        self.assertEqual(roundTrip(late), b"ping\n")

    def test_descriptorsBounded(self) -> None:
        """During the flood the server never holds more than 64 descriptors
        beyond those of the connections its limits allow (a quarter of the
        headroom its own open-file limit has): refused sockets close at
        once."""
        self.startServer()
        self.flood()
        self.assertLessEqual(
            self.highest - self.baseline,
            999 + 64,
            f"{self.highest} descriptors at most, {self.baseline} before",
        )

    def test_ownFileLimitSuffices(self) -> None:
        """Started with a soft limit of 1024 open files, the server raises it
        for --max-connections 1000 and never runs out of descriptors during
        the flood."""
        self.startServer(softLimit=1024)
        self.assertIn(
            "raised the open-file limit from 1024 to 1257", messages(self.server)
        )
        flood = self.flood()
        self.assertEqual(len([c for c in flood if c.state == "served"]), 999)
        emfile = [t for t in messages(self.server) if "EMFILE" in t]
        self.assertEqual(emfile[:3], [], f"{len(emfile)} lines about EMFILE")


class LogFloodTests(SynchronousTestCase):
    """
    500 refused connections from ten addresses, fifty from each in turn:
    the refusal lines are bounded per window and per peer, and the rest is
    summed up in one line.
    """

    SOURCES = tuple(f"127.0.0.{n}" for n in range(16, 26))

    def refuse(self, server: Server, endpoint: str) -> float:
        """Make 500 refused connections; return how long that took."""
        address = server.inet(endpoint)
        start = time.monotonic()
        for source in self.SOURCES:
            for _ in range(50):
                connectRefused(self, address, source)
        return time.monotonic() - start

    def refusedHosts(self, server: Server, endpoint: str) -> Counter[str]:
        """How many refusal lines were logged about each address."""
        pattern = re.compile(
            re.escape(endpoint) + r" refused (\S+):\d+: not allowed by allow=/deny=$"
        )
        return Counter(
            match[1] for t in messages(server) if (match := pattern.match(t))
        )

    def test_summaryAtWindowEnd(self) -> None:
        """With loglines=10, 10 refusal lines are logged (2 for each of the
        first five peers), and 490 held back are summed up when the 10 s
        window ends."""
        endpoint = TCP + ":deny=127.0.0.16/28:loglines=10"
        server = Server.start(self, "--endpoint", endpoint)
        took = self.refuse(server, endpoint)
        self.assertLess(took, 8.0, "the refusals did not fit in one window")
        summary = waitForMessage(server, lambda t: "held back" in t, timeout=12.0)
        self.assertEqual(
            summary,
            f"{endpoint}: 490 log lines about refused connections held back in"
            " the last 10s (rate limit)",
        )
        self.assertEqual(
            self.refusedHosts(server, endpoint), dict.fromkeys(self.SOURCES[:5], 2)
        )

    def test_defaultSummaryAtStop(self) -> None:
        """By default, 100 refusal lines are logged (20 for each of the first
        five peers), and the 400 held back are summed up when the server
        stops."""
        endpoint = TCP + ":deny=127.0.0.16/28"
        server = Server.start(self, "--endpoint", endpoint)
        took = self.refuse(server, endpoint)
        self.assertLess(took, 8.0, "the refusals did not fit in one window")
        self.assertEqual(
            self.refusedHosts(server, endpoint), dict.fromkeys(self.SOURCES[:5], 20)
        )
        server.stop()
        self.assertIn(
            f"{endpoint}: 400 log lines about refused connections held back in"
            " the last 10s (rate limit)",
            messages(server),
        )
