"""
A soak test: a minute of mixed traffic on every kind of endpoint at once,
against one real twistd sockplug process, which must serve all of it and
end with no more memory than a bound over what it had after warming up,
and the file descriptors it started with.

The traffic comes from one thread per listener, each driven by
C{random.Random(SEED + n)}: connections that do nothing, short and long
messages, half-closes, resets, datagrams of every size, datagrams from
new and unbound senders.
"""

from __future__ import annotations

import random
import signal
import socket
import struct
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable

from twisted.trial.unittest import SynchronousTestCase

from tests.harness import (
    IO_TIMEOUT,
    POLL_INTERVAL,
    Address,
    Server,
    datagramSocket,
    receive,
    receiveLine,
    socketPath,
)

SOAK_SECONDS = 60
WARM_UP = 5.0
SEED = 4471
# The bound on memory growth from the end of the warm-up to the end. Runs
# measured 49.4 MiB after warming up, 0.3 MiB more at the end of 60 s, and
# 0.35 MiB more after 300 s: it levels off. The soak makes about 35,000
# connections a minute; a leak of 256 bytes per connection would add more
# than this in a minute.
RSS_GROWTH = 8 * 1024 * 1024
# At least this much of each kind of traffic per second of soak, or it did
# not really flow (runs measured 73 a second for the paced datagrams, and
# 750 to 11,000 for the streams).
MIN_PER_SECOND = 10
# Datagram replies are bounded to replyrate=100 a second per source: send
# no more than this, so that none is dropped for the rate.
DATAGRAMS_PER_SECOND = 80
# Stream connections per thread and datagrams per thread, whatever the
# duration.
MAX_ITERATIONS = 100_000
# How long the server may take to close its side of connections that have
# ended.
SETTLE = 10.0
SIGTERM_STATUSES = (-signal.SIGTERM, 128 + signal.SIGTERM)

TCP = "tcp:0:interface=127.0.0.1"
TCP6 = "tcp6:0:interface=\\:\\:1"
UDP = "udp:0:interface=127.0.0.1"


class Soak:
    """
    The client threads and what they counted.

    @ivar counts: traffic done, by kind (C{"echo tcp round trips"}, ...).
    @ivar errors: a traceback for each thread that failed.
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.counts: Counter[str] = Counter()
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def count(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self.counts[kind] += n

    def running(self, iteration: int) -> bool:
        """Whether to go on: within the duration and the count."""
        return (
            iteration < MAX_ITERATIONS
            and time.monotonic() < self.deadline
            and not self.errors
        )

    def thread(
        self, name: str, work: Callable[[random.Random], None], seed: int
    ) -> threading.Thread:
        """A thread running C{work}, noting the traceback if it fails."""

        def run() -> None:
            try:
                work(random.Random(seed))
            except BaseException:
                with self._lock:
                    self.errors.append(
                        f"{name} (seed {seed}):\n{traceback.format_exc()}"
                    )

        return threading.Thread(target=run, name=name, daemon=True)


def end(sock: socket.socket, how: str) -> None:
    """
    End a client's connection: C{close}, C{half} (end the sending side,
    read to the server's end, which must come with nothing more), or
    C{reset} (SO_LINGER 0: a reset for TCP).
    """
    if how == "half":
        sock.shutdown(socket.SHUT_WR)
        rest = receive(sock, None)
        if rest:
            raise AssertionError(f"unexpected bytes after a half-close: {rest[:100]!r}")
    elif how == "reset" and sock.family != socket.AF_UNIX:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def receiveBytes(sock: socket.socket, size: int) -> bytes:
    """Read until C{size} bytes have come (or more, or the end)."""
    return receive(sock, lambda data: len(data) >= size)


def rawConnect(address: Address) -> socket.socket:
    """A connected stream socket, closed by the caller."""
    family = (
        socket.AF_UNIX
        if isinstance(address, str)
        else socket.AF_INET6
        if ":" in address[0]
        else socket.AF_INET
    )
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(IO_TIMEOUT)
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


def echoStream(soak: Soak, address: Address, rng: random.Random) -> None:
    """
    echo over TCP: connections that send nothing, short and long messages
    (up to 64 KiB) each read back whole, then a close, a half-close, or a
    reset in the middle of a message.
    """
    iteration = 0
    while soak.running(iteration):
        iteration += 1
        sock = rawConnect(address)
        try:
            soak.count("echo tcp connections")
            for _ in range(rng.choice([0, 1, rng.randint(2, 20)])):
                size = rng.choice([rng.randint(1, 100), rng.randint(101, 65536)])
                message = rng.randbytes(size)
                sock.sendall(message)
                echoed = receiveBytes(sock, size)
                if echoed != message:
                    raise AssertionError(f"echo of {size} bytes came back wrong")
                soak.count("echo tcp round trips")
            how = rng.choice(["close", "half", "reset"])
            if how == "reset":
                sock.sendall(rng.randbytes(rng.randint(1, 5000)))
            end(sock, how)
        finally:
            sock.close()


def helloStream(soak: Soak, address: Address, rng: random.Random) -> None:
    """
    hello over TCP on ::1: the greeting, then batches of names (with LF or
    CRLF, some blank) each answered in order, then a close, a half-close or
    a reset.
    """
    iteration = 0
    while soak.running(iteration):
        iteration += 1
        sock = rawConnect(address)
        try:
            greeting = receiveLine(sock)
            if not greeting.startswith(b"Hello, [::1]:"):
                raise AssertionError(f"greeting {greeting!r}")
            soak.count("hello tcp6 connections")
            for _ in range(rng.choice([0, 1, rng.randint(2, 10)])):
                names = [
                    rng.choice([b"", b" ", b"\t"])
                    + bytes(rng.choices(b"abcdefghij", k=rng.randint(0, 300)))
                    + rng.choice([b"\n", b"\r\n"])
                    for _ in range(rng.randint(1, 50))
                ]
                expected = b"".join(
                    b"Hello, "
                    + (name.strip() or b"stranger")
                    + b"!"
                    + (b"\r\n" if name.endswith(b"\r\n") else b"\n")
                    for name in names
                )
                sock.sendall(b"".join(names))
                answers = receiveBytes(sock, len(expected))
                if answers != expected:
                    raise AssertionError(f"answers {answers[:200]!r}")
                soak.count("hello tcp6 answers", len(names))
            end(sock, rng.choice(["close", "half", "reset"]))
        finally:
            sock.close()


def linePrintStream(soak: Soak, address: Address, rng: random.Random) -> None:
    """
    line-print over a UNIX socket: lines sent whole or in pieces, some
    connections ending inside a line, then a close or a half-close. Every
    line is counted, to be found printed at the end.
    """
    iteration = 0
    while soak.running(iteration):
        iteration += 1
        sock = rawConnect(address)
        try:
            soak.count("line-print unix connections")
            lines = [
                b"soak-%d-%d " % (iteration, n)
                + bytes(rng.choices(b"xyz \t\xff", k=rng.randint(0, 200)))
                for n in range(rng.choice([0, 1, rng.randint(2, 30)]))
            ]
            partial = rng.random() < 0.3 and bool(lines)
            data = b"\n".join(lines) + (b"" if partial or not lines else b"\n")
            while data:
                cut = rng.randint(1, len(data))
                sock.sendall(data[:cut])
                data = data[cut:]
            end(sock, rng.choice(["close", "half"]))
            soak.count("line-print unix lines", len(lines))
        finally:
            sock.close()
        time.sleep(0.002)  # keep the printed output to some megabytes


def echoDatagrams(
    soak: Soak,
    testCase: SynchronousTestCase,
    address: Address,
    name: str,
    rng: random.Random,
) -> None:
    """
    echo over UDP or UNIX datagrams, at most L{DATAGRAMS_PER_SECOND}: short
    and long datagrams (up to 60000 bytes), each echoed; now and then from
    a new socket, and on UNIX, from an unbound sender (no echo can come).
    """
    sock = datagramSocket(testCase, address)
    last = 0.0
    iteration = 0
    while soak.running(iteration):
        iteration += 1
        time.sleep(max(0.0, last + 1 / DATAGRAMS_PER_SECOND - time.monotonic()))
        last = time.monotonic()
        sender = sock
        if rng.random() < 0.01:
            sender = datagramSocket(testCase, address)  # a new source
        if isinstance(address, str) and rng.random() < 0.01:
            unbound = datagramSocket(testCase, address, bind=False)
            unbound.sendto(b"unbound", address)
            unbound.close()
            continue
        size = rng.choice([0, rng.randint(1, 100), rng.randint(101, 60000)])
        datagram = rng.randbytes(size)
        sender.sendto(datagram, address)
        echoed = sender.recv(1 << 17)
        if echoed != datagram:
            raise AssertionError(f"{name}: echo of {size} bytes came back wrong")
        soak.count(f"echo {name} round trips")
        if sender is not sock:
            sender.close()


class SoakTests(SynchronousTestCase):
    """
    A process serving mixed traffic for L{SOAK_SECONDS}.
    """

    def setUp(self) -> None:
        self.unix = "unix:" + socketPath(self, "print.sock")
        self.unixgram = "unixgram:" + socketPath(self, "echo.dgram")
        self.server = Server.start(
            self,
            *("-e", "echo@" + TCP),
            *("-e", "hello@" + TCP6),
            *("-e", "line-print@" + self.unix),
            *("-e", "echo@" + UDP),
            *("-e", "echo@" + self.unixgram),
        )

    def test_soak(self) -> None:
        """Traffic flows on every listener for the whole soak; afterwards the
        process holds the descriptors it started with, no more memory than
        RSS_GROWTH over what it held after warming up, has logged no
        traceback, and stops cleanly.

        (One test, as the soak takes a minute: each check says which part
        failed.)
        """
        server = self.server
        startFiles = server.openFiles()
        started = time.monotonic()
        soak = Soak(started + SOAK_SECONDS)
        address = server.addresses
        threads = [
            soak.thread(
                "echo tcp", lambda rng: echoStream(soak, address[TCP], rng), SEED
            ),
            soak.thread(
                "hello tcp6",
                lambda rng: helloStream(soak, address[TCP6], rng),
                SEED + 1,
            ),
            soak.thread(
                "line-print unix",
                lambda rng: linePrintStream(soak, address[self.unix], rng),
                SEED + 2,
            ),
            soak.thread(
                "echo udp",
                lambda rng: echoDatagrams(soak, self, address[UDP], "udp", rng),
                SEED + 3,
            ),
            soak.thread(
                "echo unixgram",
                lambda rng: echoDatagrams(
                    soak, self, address[self.unixgram], "unixgram", rng
                ),
                SEED + 4,
            ),
        ]
        for thread in threads:
            thread.start()
        samples = self.sampleMemory(started, threads)
        for thread in threads:
            thread.join(IO_TIMEOUT)
        self.assertEqual(soak.errors, [], "\n".join(soak.errors))
        self.assertEqual([t.name for t in threads if t.is_alive()], [])

        elapsed = time.monotonic() - started
        minimum = MIN_PER_SECOND * SOAK_SECONDS
        for kind in [
            "echo tcp round trips",
            "hello tcp6 answers",
            "line-print unix lines",
            "echo udp round trips",
            "echo unixgram round trips",
        ]:
            self.assertGreater(soak.counts[kind], minimum, (kind, dict(soak.counts)))
        self.assertGreaterEqual(elapsed, SOAK_SECONDS)

        files = self.settledFiles(startFiles)
        self.assertEqual(files, startFiles, "open descriptors, start and end")
        endRSS = server.rss()
        warmRSS = samples[0][1]
        self.assertLessEqual(
            endRSS - warmRSS,
            RSS_GROWTH,
            f"RSS after warm-up {warmRSS}, at the end {endRSS};"
            f" samples (s, bytes): {samples}",
        )

        self.assertEqual(
            self.printedLines(soak.counts["line-print unix lines"]),
            soak.counts["line-print unix lines"],
        )

        for output in (server.stdout(), server.stderr()):
            self.assertNotIn("Traceback", output)
            self.assertNotIn("Unhandled Error", output)
        self.assertIn(server.stop(), SIGTERM_STATUSES)
        self.assertNotIn("Traceback", server.output())

    def sampleMemory(
        self, started: float, threads: list[threading.Thread]
    ) -> list[tuple[float, int]]:
        """
        Note the server's RSS at the end of the warm-up, then every five
        seconds while the threads run.
        """
        samples = []
        nextSample = started + WARM_UP
        for _ in range(SOAK_SECONDS * 100):
            if not any(thread.is_alive() for thread in threads):
                break
            if time.monotonic() >= nextSample:
                samples.append(
                    (round(time.monotonic() - started, 1), self.server.rss())
                )
                nextSample += 5.0
            time.sleep(0.1)
        self.assertTrue(samples, "the threads ended before the warm-up did")
        return samples

    def printedLines(self, expected: int) -> int:
        """
        How many lines line-print has printed for the soak, once that is
        C{expected}, or after L{SETTLE} seconds.
        """
        prefix = f"{self.unix} (unbound): soak-"

        def printed() -> int:
            output = self.server.stdout().split("\n")
            return sum(1 for line in output if line.startswith(prefix))

        deadline = time.monotonic() + SETTLE
        while printed() < expected and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL)
        return printed()

    def settledFiles(self, expected: int) -> int:
        """
        The server's open descriptors, once they are back to C{expected},
        or after L{SETTLE} seconds.
        """
        deadline = time.monotonic() + SETTLE
        while self.server.openFiles() != expected and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL)
        return self.server.openFiles()
