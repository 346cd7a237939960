"""
End-to-end tests of a listener's defences against a real twistd sockplug
process: backpressure, line length, idle timeout, connection limits, a
connection flood, and rate-limited log lines.
"""

from __future__ import annotations

import errno
import random
import re
import resource
import select
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.harness import (
    Address,
    Server,
    connect,
    connectFrom,
    receive,
    receiveLine,
    socketPath,
    sockName,
)

TCP = "tcp:0:interface=127.0.0.1"
KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30

# The text of a log line: what follows "<timestamp> [<namespace>#<level>] ".
_LOG_LINE = re.compile(r"^\S+ \[[^\]]+\] (?P<text>.*)$")

# What a stalled sender sends: a pseudo-random stream, so that a byte lost,
# doubled or reordered shows; its block length is prime, so that it does not
# line up with any buffer size.
_BLOCK = random.Random(862).randbytes(65521)
_CHUNK = 256 * KiB
_STREAM = _BLOCK * (_CHUNK // len(_BLOCK) + 2)


def _pattern(offset: int, length: int) -> bytes:
    """The C{length} bytes of the test stream from C{offset} (at most _CHUNK)."""
    start = offset % len(_BLOCK)
    return _STREAM[start : start + length]


def messages(server: Server) -> list[str]:
    """The texts of the log lines written so far, without timestamp and level."""
    found = []
    for line in server.stdout().splitlines():
        match = _LOG_LINE.match(line)
        if match is not None:
            found.append(match["text"])
    return found


def waitForMessage(
    server: Server, matches: Callable[[str], bool], timeout: float = 10.0
) -> str:
    """Wait until a log line's text C{matches}; return that text."""

    def textMatches(line: str) -> bool:
        match = _LOG_LINE.match(line)
        return match is not None and matches(match["text"])

    line = server.waitForLineMatching(textMatches, timeout)
    match = _LOG_LINE.match(line)
    assert match is not None
    return match["text"]


def roundTrip(sock: socket.socket, payload: bytes = b"ping\n") -> bytes:
    """Send C{payload}; return as many bytes as come back within 5 s."""
    sock.sendall(payload)
    return receive(sock, lambda data: len(data) >= len(payload), 5.0)


def closedAtOnce(sock: socket.socket, timeout: float = 2.0) -> bool:
    """
    Whether the peer closes (an end of stream or a reset) within
    C{timeout} seconds, without sending anything.
    """
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def connectRefused(
    testCase: SynchronousTestCase, address: tuple[str, int], source: str = "127.0.0.1"
) -> str:
    """
    Connect from C{source} and check that the server closes the connection
    at once (a reset that comes before C{connect} returns counts too).
    Return the client's address, as the server logs it.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(10.0)
        sock.bind((source, 0))
        name = sockName(sock)
        try:
            sock.connect(address)
        except ConnectionResetError:
            return name
        if not closedAtOnce(sock):
            raise testCase.failureException(f"{name} was not refused")
        return name
    finally:
        sock.close()


def closedAfter(sock: socket.socket, timeout: float) -> float | None:
    """
    How many seconds until the peer closes (ignoring what it sends), or
    L{None} if it is still open after C{timeout}.
    """
    start = time.monotonic()
    deadline = start + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        sock.settimeout(remaining)
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - start
        except TimeoutError:
            return None
        except ConnectionResetError:
            return time.monotonic() - start
    return None


def sendUntilStalled(
    sock: socket.socket,
    limit: int,
    onWait: Callable[[], None],
    stall: float = 2.0,
    timeout: float = 30.0,
) -> int:
    """
    Send the test stream on a non-blocking socket, reading nothing, until
    C{limit} bytes are sent, nothing more goes for C{stall} seconds, or
    C{timeout} seconds have passed; call C{onWait} while waiting. Return the
    number of bytes sent.
    """
    sock.setblocking(False)
    sent = 0
    start = lastProgress = time.monotonic()
    while sent < limit:
        now = time.monotonic()
        if now - lastProgress >= stall or now - start >= timeout:
            break
        try:
            sent += sock.send(_pattern(sent, min(_CHUNK, limit - sent)))
        except BlockingIOError:
            select.select([], [sock], [], 0.05)
            onWait()
        else:
            lastProgress = time.monotonic()
    sock.settimeout(10.0)
    return sent


def receiveStream(sock: socket.socket, timeout: float = 30.0) -> tuple[int, int]:
    """
    Read the test stream until the peer closes. Return how many bytes came,
    and the offset of the first one that differs from the stream (-1 if
    none does).
    """
    received = 0
    firstWrong = -1
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        sock.settimeout(remaining)
        chunk = sock.recv(65536)
        if not chunk:
            return received, firstWrong
        if firstWrong < 0 and chunk != _pattern(received, len(chunk)):
            expected = _pattern(received, len(chunk))
            firstWrong = received + next(
                i
                for i, (a, b) in enumerate(zip(chunk, expected, strict=True))
                if a != b
            )
        received += len(chunk)
    raise TimeoutError(f"after {received} bytes")


class _RSSWatch:
    """The highest resident memory of a server seen so far."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.baseline = server.rss()
        self.highest = self.baseline

    def sample(self) -> None:
        """Note the server's resident memory now."""
        self.highest = max(self.highest, self.server.rss())

    @property
    def growth(self) -> int:
        """How much the highest seen exceeds the memory at the start."""
        return self.highest - self.baseline


class BackpressureTests(SynchronousTestCase):
    """
    A client that sends without reading what comes back is stalled, and
    does not make the server buffer what it sends.
    """

    def stallAndResume(self, endpoint: str) -> None:
        """
        Stall a sender on C{endpoint} of a new echo server, check that the
        server's memory stayed low and another client is served, then read
        everything back.
        """
        server = Server.start(self, "--endpoint", endpoint)
        address: Address = server.addresses[endpoint]
        rss = _RSSWatch(server)
        sender = connect(self, address)
        sent = sendUntilStalled(sender, GiB, rss.sample)
        rss.sample()
        other = connect(self, address)
        self.assertEqual(roundTrip(other, b"still served\n"), b"still served\n")
        rss.sample()
        self.assertLess(sent, 64 * MiB, "the sender was not stalled")
        self.assertLess(rss.growth, 32 * MiB, f"{sent} bytes sent")
        sender.shutdown(socket.SHUT_WR)
        self.assertEqual(receiveStream(sender), (sent, -1))

    def test_tcpStallAndResume(self) -> None:
        """A TCP sender that does not read is stalled far below 1 GiB while the
        server grows by less than 32 MiB and echoes another client, and then
        gets back exactly what it sent once it reads."""
        self.stallAndResume(TCP)

    def test_unixStallAndResume(self) -> None:
        """A UNIX stream sender that does not read is stalled far below 1 GiB
        while the server grows by less than 32 MiB and echoes another client,
        and then gets back exactly what it sent once it reads."""
        self.stallAndResume("unix:" + socketPath(self))

    def test_withoutBackpressureMemoryGrows(self) -> None:
        """With backpressure=no, 256 MiB sent by a client that does not read
        grow the server by over 128 MiB: the memory check can fail."""
        endpoint = TCP + ":backpressure=no"
        server = Server.start(self, "--endpoint", endpoint)
        rss = _RSSWatch(server)
        sender = connect(self, server.inet(endpoint))
        sent = sendUntilStalled(sender, 256 * MiB, rss.sample)
        self.assertEqual(sent, 256 * MiB)
        deadline = time.monotonic() + 10.0
        while rss.growth < 128 * MiB and time.monotonic() < deadline:
            time.sleep(0.05)
            rss.sample()
        self.assertGreater(rss.growth, 128 * MiB)


class LinePrintLengthTests(SynchronousTestCase):
    """
    line-print with maxline=1024: a longer line closes the connection and
    is not printed at all.
    """

    def setUp(self) -> None:
        self.endpoint = TCP + ":maxline=1024"
        self.server = Server.start(self, "--endpoint", "line-print@" + self.endpoint)
        self.address = self.server.inet(self.endpoint)

    def printed(self, sock: socket.socket) -> list[str]:
        """What has been printed for C{sock}, without the prefix."""
        prefix = f"{self.endpoint} {sockName(sock)}: "
        return [line[len(prefix) :] for line in self.server.linesStartingWith(prefix)]

    def tooLong(self, sock: socket.socket, limit: int = 1024) -> str:
        """The log line about C{sock}'s over-long line."""
        return (
            f"{self.endpoint} {sockName(sock)} sent a line longer than {limit}"
            " bytes; closing the connection"
        )

    def test_lineAtBoundPrinted(self) -> None:
        """A line of exactly 1024 bytes is printed and the connection stays."""
        sock = connect(self, self.address)
        sock.sendall(b"a" * 1024 + b"\nnext\n")
        self.server.waitForLine(f"{self.endpoint} {sockName(sock)}: next")
        self.assertEqual(self.printed(sock), ["a" * 1024, "next"])
        self.assertFalse(closedAtOnce(sock, 0.3))

    def test_longerLineCloses(self) -> None:
        """A line of 1025 bytes closes the connection with a log line; the
        lines before it are printed, nothing of it or after it is."""
        sock = connect(self, self.address)
        sock.sendall(b"before\n" + b"x" * 1025 + b"\nafter\n")
        self.assertTrue(closedAtOnce(sock))
        waitForMessage(self.server, self.tooLong(sock).__eq__)
        waitForMessage(self.server, lambda t: f"{sockName(sock)} disconn" in t)
        self.assertEqual(self.printed(sock), ["before"])
        self.assertNotIn("xxxx", self.server.stdout())

    def test_unterminatedLongLineNotPrinted(self) -> None:
        """An over-long line still without LF, sent in two parts, closes the
        connection and is not printed, not even when the connection ends."""
        sock = connect(self, self.address)
        sock.sendall(b"first\n" + b"y" * 600)
        self.server.waitForLine(f"{self.endpoint} {sockName(sock)}: first")
        sock.sendall(b"y" * 600)
        self.assertTrue(closedAtOnce(sock))
        waitForMessage(self.server, self.tooLong(sock).__eq__)
        waitForMessage(self.server, lambda t: f"{sockName(sock)} disconn" in t)
        self.assertEqual(self.printed(sock), ["first"])
        self.assertNotIn("yyyy", self.server.stdout())

    def test_newClientServedAfter(self) -> None:
        """After closing a client for its long line, the server prints the
        lines of a new client."""
        first = connect(self, self.address)
        first.sendall(b"z" * 2000 + b"\n")
        self.assertTrue(closedAtOnce(first))
        second = connect(self, self.address)
        second.sendall(b"served\n")
        self.server.waitForLine(f"{self.endpoint} {sockName(second)}: served")

    def test_defaultBound(self) -> None:
        """Without maxline=, a line of 65536 bytes is printed and one of
        65537 closes the connection."""
        server = Server.start(self, "--endpoint", "line-print@" + TCP)
        sock = connect(self, server.inet(TCP))
        prefix = f"{TCP} {sockName(sock)}: "
        sock.sendall(b"a" * 65536 + b"\n" + b"b" * 65537 + b"\n")
        self.assertTrue(closedAtOnce(sock, 5.0))
        waitForMessage(
            server,
            f"{TCP} {sockName(sock)} sent a line longer than 65536 bytes;"
            " closing the connection".__eq__,
        )
        self.assertEqual(server.linesStartingWith(prefix), [prefix + "a" * 65536])
        self.assertNotIn("bbbb", server.stdout())


class HelloLengthTests(SynchronousTestCase):
    """
    hello with maxline=1024: an over-long line gets no answer and closes
    the connection.
    """

    def setUp(self) -> None:
        self.endpoint = TCP + ":maxline=1024"
        self.server = Server.start(self, "--endpoint", "hello@" + self.endpoint)
        self.address = self.server.inet(self.endpoint)

    def test_longLineNotAnswered(self) -> None:
        """The lines before an over-long one are answered, it is not, and the
        connection closes with a log line."""
        sock = connect(self, self.address)
        greeting = receiveLine(sock)
        sock.sendall(b"Alice\n" + b"B" * 1025 + b"\nCarol\n")
        self.assertEqual(receive(sock), b"Hello, Alice!\n")
        self.assertTrue(greeting.startswith(b"Hello, 127.0.0.1:"))
        waitForMessage(
            self.server,
            f"{self.endpoint} {sockName(sock)} sent a line longer than 1024"
            " bytes; closing the connection".__eq__,
        )

    def test_newClientAnswered(self) -> None:
        """After closing a client for its long line, the server answers a
        new client."""
        first = connect(self, self.address)
        receiveLine(first)
        first.sendall(b"B" * 1025)
        self.assertEqual(receive(first), b"")
        second = connect(self, self.address)
        receiveLine(second)
        self.assertEqual(roundTrip(second, b"Dave\n"), b"Hello, Dave!\n")


class IdleTests(SynchronousTestCase):
    """
    idle=: a connection without traffic either way is closed.
    """

    def test_silentClosed(self) -> None:
        """With idle=1 a silent connection is closed between 0.9 and 1.5 s
        after it opened, with a log line."""
        endpoint = TCP + ":idle=1"
        server = Server.start(self, "--endpoint", endpoint)
        sock = connect(self, server.inet(endpoint))
        after = closedAfter(sock, 3.0)
        self.assertIsNotNone(after, "still open after 3 s")
        assert after is not None
        self.assertTrue(0.9 <= after <= 1.5, f"closed after {after:.3f}s")
        waitForMessage(
            server,
            f"{endpoint} {sockName(sock)} idle for 1s; closing".__eq__,
            timeout=2.0,
        )

    def test_activeKeptOpen(self) -> None:
        """With idle=1 a connection echoing a byte every 0.3 s for 3 s stays
        open."""
        endpoint = TCP + ":idle=1"
        server = Server.start(self, "--endpoint", endpoint)
        sock = connect(self, server.inet(endpoint))
        end = time.monotonic() + 3.0
        for count in range(20):
            if time.monotonic() >= end:
                break
            self.assertEqual(roundTrip(sock, b"%d\n" % count), b"%d\n" % count)
            time.sleep(0.3)
        self.assertEqual(roundTrip(sock, b"last\n"), b"last\n")
        self.assertNotIn(" idle for ", server.stdout())

    def test_defaultKeepsOpen(self) -> None:
        """Without idle=, a silent connection is still open and served after
        3 s."""
        server = Server.start(self, "--endpoint", TCP)
        sock = connect(self, server.inet(TCP))
        self.assertIsNone(closedAfter(sock, 3.0))
        self.assertEqual(roundTrip(sock), b"ping\n")


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
