"""
End-to-end tests of a real C{twistd sockplug} process's C{haproxy:}
listeners at their edges: headers longer than sockplug reads, bursts of
clients through a real HAProxy, and floods of connections that send no
header.
"""

from __future__ import annotations

import contextlib
import resource
import selectors
import signal
import socket
import struct
import time
from collections.abc import Callable

from twisted.trial.unittest import SynchronousTestCase

from tests.abusefixtures import waitForText
from tests.haproxyrun import PROXIED as BEHIND_HAPROXY
from tests.haproxyrun import HAProxyCase
from tests.harness import (
    IO_TIMEOUT,
    POLL_INTERVAL,
    Server,
    connect,
    receiveLine,
    receiveUntilClosed,
    sockName,
)

PROXIED = "haproxy:tcp:0:interface=127.0.0.1"
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
# How many clients come through HAProxy at once, each from its own loopback
# address; how long the backends are stopped while they arrive; and how long
# they all get to be echoed on a loaded machine.
BURST = 2000
STALL = 2.0
BURST_TIMEOUT = 120.0


def sendQuietly(sock: socket.socket, data: bytes) -> None:
    """Send C{data}, unless the peer has already closed or reset."""
    with contextlib.suppress(ConnectionResetError, BrokenPipeError):
        sock.sendall(data)


class HeaderLengthTests(SynchronousTestCase):
    """
    An echo listener on C{haproxy:} sent headers longer than it reads.
    """

    def setUp(self) -> None:
        self.server = Server.start(self, "--endpoint", f"echo@{PROXIED}")
        self.address = self.server.inet(PROXIED)

    def assertStillServing(self) -> None:
        """A client with a proper header is echoed."""
        sock = connect(self, self.address)
        sock.sendall(b"PROXY TCP4 192.0.2.7 127.0.0.1 5555 80\r\nstill here\n")
        self.assertEqual(receiveLine(sock), b"still here\n")

    def test_hugeV1Closed(self) -> None:
        """A 60 KB v1 header line, then a line of data, is closed unanswered,
        with a log line saying why; the server goes on serving."""
        sock = connect(self, self.address)
        peer = sockName(sock)
        header = b"PROXY TCP4 192.0.2.7 127.0.0.1 5555 80 " + b"x" * 60_000
        sendQuietly(sock, header + b"\r\nping\n")
        self.assertEqual(receiveUntilClosed(sock), b"")
        waitForText(
            self.server,
            f"] {peer}: bad PROXY header (a v1 header longer than 107 bytes,"
            " the most the specification allows); closing",
        )
        self.assertStillServing()

    def test_longV2Closed(self) -> None:
        """A v2 header that says it is 60 KB long is closed on its first 16
        bytes, with a log line saying why; the server goes on serving."""
        sock = connect(self, self.address)
        peer = sockName(sock)
        sendQuietly(sock, V2_SIGNATURE + b"\x21\x11" + struct.pack("!H", 60_000))
        self.assertEqual(receiveUntilClosed(sock), b"")
        waitForText(
            self.server,
            f"] {peer}: bad PROXY header (a v2 header of 60016 bytes, more than"
            " the 4096 sockplug accepts); closing",
        )
        self.assertStillServing()


def raiseFileLimit(needed: int) -> None:
    """
    Raise this process's soft limit on open files to C{needed} (the test
    holds a socket per client), if the hard limit allows.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed <= hard or (soft < needed and hard == resource.RLIM_INFINITY):
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def burst(
    address: tuple[str, int],
    count: int,
    timeout: float,
    connected: Callable[[], None],
) -> tuple[int, int]:
    """
    Connect C{count} clients to C{address} at once, each from its own
    loopback address (127.1.0.1 on), call C{connected}, then have each send
    a line of its own and read it back, and close; give up after
    C{timeout} seconds.

    @return: how many were echoed, and how many were closed or reset
        before their echo came back.
    """
    selector = selectors.DefaultSelector()
    echoed = closed = 0
    try:
        for number in range(count):
            sock = socket.socket()
            sock.setblocking(False)
            sock.bind((f"127.1.{number // 250}.{number % 250 + 1}", 0))
            sock.connect_ex(address)
            selector.register(sock, selectors.EVENT_WRITE, [b"%d\n" % number, b""])
        connected()
        deadline = time.monotonic() + timeout
        while selector.get_map() and time.monotonic() < deadline:
            for key, events in selector.select(POLL_INTERVAL * 10):
                client, (line, received) = key.fileobj, key.data
                assert isinstance(client, socket.socket)
                try:
                    if events & selectors.EVENT_WRITE:
                        client.send(line)  # a few bytes: the buffer takes them
                        selector.modify(client, selectors.EVENT_READ, [line, b""])
                        continue
                    chunk = client.recv(4096)
                except OSError:
                    chunk = b""
                if chunk and (received + chunk) != line:
                    key.data[1] = received + chunk
                    continue
                if chunk:
                    echoed += 1
                else:
                    closed += 1
                selector.unregister(client)
                client.close()
    finally:
        for key in list(selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        selector.close()
    return echoed, closed


class BurstTests(HAProxyCase):
    """
    Two echo backends with a listen queue of 512 (C{backlog=512}) behind
    HAProxy, and a burst of clients that arrives while they are busy.
    """

    endpoint = f"{BEHIND_HAPROXY}:backlog=512"

    def stall(self) -> None:
        """
        Stop the backends for L{STALL} seconds (as a busy machine can), so
        that HAProxy's connections fill their listen queues; then let them
        run on. They accept more connections at each turn of the reactor
        than they read headers of, so that several hundred wait for their
        headers at once, all from HAProxy's address.
        """
        for backend in self.backends:
            backend.process.send_signal(signal.SIGSTOP)
            self.addCleanup(backend.process.send_signal, signal.SIGCONT)
        time.sleep(STALL)
        for backend in self.backends:
            backend.process.send_signal(signal.SIGCONT)

    def test_burstNotRefused(self) -> None:
        """2,000 clients at once, each from its own address, are all echoed:
        none is refused for maxpersource= because its connection waited for
        its header at HAProxy's address (issue 15, item 8: before, 43 to 184
        were, in runs of this test)."""
        raiseFileLimit(BURST + 1024)
        self.startHAProxy()
        address = ("127.0.0.1", self.frontend)
        echoed, closed = burst(address, BURST, BURST_TIMEOUT, self.stall)
        refusals = [
            line
            for backend in self.backends
            for line in backend.stdout().splitlines()
            if "refused" in line
        ]
        self.assertEqual((refusals[:5], echoed, closed), ([], BURST, 0))


class FloodTests(SynchronousTestCase):
    """
    A flood of connections straight to a C{haproxy:} listener (no HAProxy),
    none of which sends a header.
    """

    endpoint = f"{PROXIED}:maxpending=50:maxpersource=10:backlog=128"

    def setUp(self) -> None:
        self.server = Server.start(self, "--endpoint", f"echo@{self.endpoint}")
        self.address = self.server.inet(self.endpoint)

    def closedOf(self, socks: list[socket.socket]) -> int:
        """How many of C{socks} the server has closed or reset."""
        closed = 0
        for sock in socks:
            sock.setblocking(False)
            try:
                closed += sock.recv(1) == b""
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
        return closed

    def test_floodBounded(self) -> None:
        """80 connections that send no header: 50 wait (maxpending=50, past
        maxpersource=10 of their one address), 30 are closed at once with a
        log line; once the flood ends, a client is served."""
        started = time.monotonic()
        socks = [connect(self, self.address) for _ in range(80)]
        deadline = started + 5.0
        while self.closedOf(socks) < 30 and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL)
        time.sleep(0.5)
        closed = self.closedOf(socks)
        self.assertLess(time.monotonic() - started, 9.0, "too slow to tell")
        self.assertEqual(closed, 30)
        waitForText(
            self.server,
            "maxpending=50 reached (connections waiting for their PROXY header)",
        )
        for sock in socks:
            sock.close()
        self.assertEqual(self.echoSoon(b"served\n"), b"served\n")

    def echoSoon(self, line: bytes) -> bytes:
        """
        What a client with a header gets back for C{line}, once the server
        has seen the flood's connections close (until then it is refused).
        """
        deadline = time.monotonic() + IO_TIMEOUT
        while True:
            sock = connect(self, self.address)
            sendQuietly(sock, b"PROXY TCP4 192.0.2.7 127.0.0.1 5555 80\r\n" + line)
            try:
                received = receiveLine(sock)
            except ConnectionResetError:
                received = b""
            if received or time.monotonic() > deadline:
                return received
            time.sleep(POLL_INTERVAL)
