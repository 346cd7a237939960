"""
End-to-end tests of C{evict=}: slow connections from many addresses fill a
listener's table (C{maxconn=200}), each sending one byte a second, so that
the idle timeout never fires, and reconnecting a second after each close,
as a slowloris tool does; meanwhile well-behaved clients connect, send a
line and wait for its echo.

The attack runs in a thread of the test process (400 sockets from
127.0.0.2 to 127.0.0.50, bound before they connect), for a bounded time.
"""

from __future__ import annotations

import errno
import resource
import select
import socket
import threading
import time
from collections import Counter

from twisted.trial.unittest import SynchronousTestCase

from tests.harness import Address
from tests.limitsfixtures import TCP, messages
from tests.scrape import labelsOf, scrape, startWithMetrics

ENDPOINT = TCP + ":maxconn=200"
SOURCES = tuple(f"127.0.0.{n}" for n in range(2, 51))
SLOW = 400
# How old a connection must be before it may be closed to make room (the
# documented default: sockplug.defences._eviction.GRACE), with a margin.
GRACE = 10.0 + 1.0
# The longest an attack may run: it stops by itself.
ATTACK_LIMIT = 50.0


class _SlowClient:
    """
    One socket of the attack: connects from its source, then sends one
    byte a second and reads what comes back; once closed, it connects again
    a second later.
    """

    def __init__(self, source: str, address: tuple[str, int], now: float) -> None:
        self.source = source
        self.address = address
        self.sock: socket.socket | None = None
        self.connected = False
        self.due = now  # when it next sends, or connects again
        self.closes = 0

    def open(self, now: float) -> None:
        """Start connecting."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.bind((self.source, 0))
        self.sock, self.connected = sock, False
        code = sock.connect_ex(self.address)
        if code not in (0, errno.EINPROGRESS):
            self.close(now)

    def close(self, now: float) -> None:
        """The server closed (or refused) it: connect again in a second."""
        if self.sock is not None:
            self.sock.close()
        self.sock, self.connected = None, False
        self.closes += 1
        self.due = now + 1.0

    def step(self, events: int, now: float) -> None:
        """Move on after C{events} from poll."""
        assert self.sock is not None
        try:
            if not self.connected and events & select.POLLOUT:
                if self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    self.close(now)
                    return
                self.connected = True
                self.due = now
            readable = events & (select.POLLIN | select.POLLERR | select.POLLHUP)
            if readable and not self.sock.recv(4096):
                self.close(now)
        except OSError:
            self.close(now)

    def tick(self, now: float) -> None:
        """Send this second's byte, or connect again, when due."""
        if now < self.due:
            return
        if self.sock is None:
            self.open(now)
            return
        if not self.connected:
            return
        try:
            self.sock.send(b"x")
        except OSError:
            self.close(now)
            return
        self.due = now + 1.0


class _Attack:
    """
    L{SLOW} slow clients, run by a thread until stopped (or for at most
    L{ATTACK_LIMIT} seconds).
    """

    def __init__(self, address: tuple[str, int]) -> None:
        now = time.monotonic()
        # Spread over the sources in turn, and over the first second.
        self.clients = [
            _SlowClient(SOURCES[i % len(SOURCES)], address, now + i / SLOW)
            for i in range(SLOW)
        ]
        self.started = now
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, testCase: SynchronousTestCase) -> None:
        """Start the attack; it ends with the test at the latest."""
        self._thread.start()
        testCase.addCleanup(self.stop)

    def stop(self) -> None:
        """End the attack and close its sockets."""
        self._stop.set()
        self._thread.join(10.0)
        for client in self.clients:
            if client.sock is not None:
                client.sock.close()
                client.sock = None

    def _run(self) -> None:
        deadline = self.started + ATTACK_LIMIT
        while not self._stop.is_set() and time.monotonic() < deadline:
            now = time.monotonic()
            for client in self.clients:
                client.tick(now)
            poller = select.poll()
            byFd = {}
            for client in self.clients:
                if client.sock is not None:
                    byFd[client.sock.fileno()] = client
                    wanted = select.POLLIN
                    if not client.connected:
                        wanted |= select.POLLOUT
                    poller.register(client.sock, wanted)
            for fd, events in poller.poll(50):
                client = byFd[fd]
                if client.sock is not None and client.sock.fileno() == fd:
                    client.step(events, time.monotonic())


def _raiseFileLimit(testCase: SynchronousTestCase, need: int) -> None:
    """Let this process hold C{need} descriptors (the attack's sockets)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
        testCase.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))


def _served(address: tuple[str, int], line: bytes) -> bool:
    """
    Whether a client from 127.0.0.1 that sends C{line} gets it back within
    5 s (not refused, reset or kept waiting).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(5.0)
        sock.connect(address)
        sock.sendall(line)
        received = b""
        while not received.endswith(b"\n"):
            data = sock.recv(4096)
            if not data:
                return False
            received += data
        return received == line
    except OSError:
        return False
    finally:
        sock.close()


class SlowlorisTests(SynchronousTestCase):
    """
    400 slow connections from 49 addresses against C{maxconn=200}.
    """

    def attack(
        self, endpoint: str, *args: str
    ) -> tuple[tuple[str, int], Address, _Attack]:
        """
        Start a server listening on C{endpoint} (with C{args}), with
        metrics; fill its table with the attack; wait until the attack's
        first connections are old enough to be closed to make room.
        """
        _raiseFileLimit(self, SLOW + 256)
        server, metrics = startWithMetrics(self, *args, "--endpoint", endpoint)
        self.server = server
        address = server.inet(endpoint)
        attack = _Attack(address)
        attack.start(self)
        labels = labelsOf(endpoint, "echo")
        deadline = time.monotonic() + 10.0
        while scrape(metrics).value("sockplug_connections_open", **labels) < 200:
            self.assertLess(time.monotonic(), deadline, "the table never filled")
            time.sleep(0.1)
        time.sleep(max(0.0, attack.started + GRACE - time.monotonic()))
        return address, metrics, attack

    def legitimate(self, address: tuple[str, int], count: int) -> Counter[bool]:
        """
        C{count} well-behaved clients, one after another, ten a second;
        how many were served.
        """
        results: Counter[bool] = Counter()
        for n in range(count):
            results[_served(address, b"hello %d\n" % n)] += 1
            time.sleep(0.1)
        return results

    def test_wellBehavedServed(self) -> None:
        """
        Under the attack, at least 49 of 50 well-behaved clients are
        echoed; each made room by closing a slow connection, counted in
        C{/metrics} and logged, at most 100 lines per 10 s window.
        """
        address, metrics, attack = self.attack(ENDPOINT)
        results = self.legitimate(address, 50)
        self.assertGreaterEqual(results[True], 49, results)
        labels = labelsOf(ENDPOINT, "echo")
        current = scrape(metrics)
        evicted = current.value("sockplug_connections_evicted_total", **labels)
        self.assertGreaterEqual(evicted, results[True])
        self.assertGreater(current.value("sockplug_connections_open", **labels), 150)
        attack.stop()
        windows = 1 + int((time.monotonic() - attack.started) // 10)
        lines = [t for t in messages(self.server) if " closed to make room " in t]
        self.assertTrue(lines)
        self.assertTrue(
            all(
                t.startswith(f"{ENDPOINT} 127.0.0.")
                and "(maxconn=200 nearly reached): " in t
                for t in lines
            ),
            lines[:3],
        )
        self.assertLessEqual(len(lines), 100 * windows)

    def test_processTable(self) -> None:
        """
        The same holds for the process's table: with C{--max-connections
        200} and no C{maxconn=}, at least 19 of 20 well-behaved clients are
        echoed, and the lines name that bound.
        """
        address, metrics, attack = self.attack(TCP, "--max-connections", "200")
        results = self.legitimate(address, 20)
        self.assertGreaterEqual(results[True], 19, results)
        evicted = scrape(metrics).value(
            "sockplug_connections_evicted_total", **labelsOf(TCP, "echo")
        )
        self.assertGreaterEqual(evicted, results[True])
        attack.stop()
        lines = [t for t in messages(self.server) if " closed to make room " in t]
        self.assertIn("(--max-connections 200 nearly reached): ", lines[0])

    def test_evictNoRefuses(self) -> None:
        """
        With C{evict=no}, as before there was eviction, the attack keeps
        well-behaved clients out: most of 20 are refused, and no connection
        is closed to make room.
        """
        endpoint = ENDPOINT + ":evict=no"
        address, metrics, _ = self.attack(endpoint)
        results = self.legitimate(address, 20)
        self.assertGreaterEqual(results[False], 15, results)
        labels = labelsOf(endpoint, "echo")
        self.assertEqual(
            scrape(metrics).value("sockplug_connections_evicted_total", **labels), 0
        )
