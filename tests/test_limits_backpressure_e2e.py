"""
End-to-end tests of a listener's defences against a real twistd sockplug
process: backpressure, a client that sends without reading not making the
server buffer what it sends.
"""

from __future__ import annotations

import random
import select
import socket
import time
from collections.abc import Callable

from twisted.trial.unittest import SynchronousTestCase

from tests.harness import Address, Server, connect, socketPath
from tests.limitsfixtures import TCP, roundTrip

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30

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
