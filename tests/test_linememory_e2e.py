"""
End-to-end tests of what a connection costs a real twistd sockplug process
in memory, whatever its peer does: a line trickled a byte at a time, lines
at the bound and an unfinished line just under it, and peers that send
without reading. The server's resident memory (C{VmRSS}) is taken before
and after, once the server has gone idle, and divided by the connections:
it must stay within a few times C{maxline} plus C{sendbuffer} per
connection.
"""

from __future__ import annotations

import select
import socket
import time

from twisted.trial.unittest import SynchronousTestCase

from tests.harness import Address, Server, connect, receive
from tests.limitsfixtures import TCP, messages

KiB = 1 << 10
MiB = 1 << 20

# The listener settings of the tests with small bounds, and their values.
SMALL = ":maxline=4096:sendbuffer=4096"
SMALL_LINE = SMALL_SEND = 4096
DEFAULT_LINE = DEFAULT_SEND = 65536


def allowance(maxLine: int, sendBuffer: int) -> int:
    """
    The most a connection may grow the server by: 4 times its bounds, and
    16 KiB for the connection itself and the measure's noise.
    """
    return 4 * (maxLine + sendBuffer) + 16 * KiB


def cpuTicks(server: Server) -> int:
    """The process's CPU time so far (user and system), in clock ticks."""
    with open(f"/proc/{server.process.pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def waitUntilIdle(server: Server, timeout: float = 20.0) -> None:
    """
    Wait until the server has used no CPU for 0.3 s: it has handled all
    that it has read, and reads nothing more. Bounded by C{timeout}.
    """
    deadline = time.monotonic() + timeout
    ticks = cpuTicks(server)
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = cpuTicks(server)
        if now == ticks:
            return
        ticks = now
    raise AssertionError(f"the server was still busy after {timeout}s")


def connectMany(
    testCase: SynchronousTestCase, address: Address, count: int
) -> list[socket.socket]:
    """
    C{count} connections to C{address}, each sending every byte at once
    (C{TCP_NODELAY}), the greeting (if any) read.
    """
    socks = []
    for _ in range(count):
        sock = connect(testCase, address)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(sock)
    return socks


def sendUntilStalled(
    socks: list[socket.socket],
    unit: bytes,
    limit: int,
    stall: float = 1.5,
    timeout: float = 30.0,
) -> list[int]:
    """
    Send C{unit} over and over on every one of C{socks}, reading nothing,
    until each has sent C{limit} bytes or none can send more for C{stall}
    seconds, or C{timeout} seconds have passed. Return the bytes each sent.
    """
    stream = unit * (2 * 64 * KiB // len(unit) + 2)
    sent = [0] * len(socks)
    for sock in socks:
        sock.setblocking(False)
    start = lastProgress = time.monotonic()
    while time.monotonic() - lastProgress < stall:
        if time.monotonic() - start > timeout:
            break
        waiting = []
        for index, sock in enumerate(socks):
            if sent[index] >= limit:
                continue
            offset = sent[index] % len(unit)
            size = min(64 * KiB, limit - sent[index])
            try:
                sent[index] += sock.send(stream[offset : offset + size])
            except BlockingIOError:
                waiting.append(sock)
            else:
                lastProgress = time.monotonic()
        if all(count >= limit for count in sent):
            break
        if len(waiting) == len(socks):
            select.select([], waiting, [], 0.05)
    for sock in socks:
        sock.settimeout(10.0)
    return sent


class _MemoryTestCase(SynchronousTestCase):
    """
    Starts a server, measures its growth per connection, and checks it.
    """

    def start(self, protocol: str, endpoint: str) -> tuple[Server, Address]:
        """
        Start a server serving C{protocol} on C{endpoint}; return it and
        its address.
        """
        server = Server.start(self, "--endpoint", f"{protocol}@{endpoint}")
        return server, server.addresses[endpoint]

    def baseline(self, server: Server, address: Address) -> int:
        """
        Warm the server up (one connection sending a line, closed), then
        take its resident memory once it is idle.
        """
        sock = connect(self, address)
        sock.sendall(b"warm up\n")
        sock.close()
        waitUntilIdle(server)
        return server.rss()

    def assertGrowthWithin(
        self,
        server: Server,
        before: int,
        connections: int,
        allowed: int,
        what: str,
    ) -> int:
        """
        Once the server is idle, check that it grew by less than C{allowed}
        bytes per connection since C{before}; return the growth per
        connection.
        """
        waitUntilIdle(server)
        perConnection = (server.rss() - before) // connections
        self.assertLess(
            perConnection,
            allowed,
            f"{what}: {perConnection / KiB:.1f} KiB per connection,"
            f" allowed {allowed / KiB:.1f} KiB",
        )
        return perConnection


class TrickleTests(_MemoryTestCase):
    """
    Many connections each send an unfinished line one byte per send: the
    line costs about its bytes, not an object per read.
    """

    CONNECTIONS = 48
    BYTES = 16000
    ENDPOINT = TCP + ":maxline=16384:sendbuffer=4096"

    def trickle(self, protocol: str) -> None:
        """
        Trickle C{BYTES} bytes of a line, one per send, round the
        connections, to C{protocol}; check the growth.
        """
        server, address = self.start(protocol, self.ENDPOINT)
        before = self.baseline(server, address)
        socks = connectMany(self, address, self.CONNECTIONS)
        deadline = time.monotonic() + 60.0
        for _ in range(self.BYTES):
            for sock in socks:
                sock.send(b"x")
            self.assertLess(time.monotonic(), deadline, "trickling took too long")
        self.assertGrowthWithin(
            server,
            before,
            self.CONNECTIONS,
            allowance(16384, 4096),
            f"{self.BYTES} bytes trickled to {protocol}",
        )

    def test_linePrint(self) -> None:
        """48 connections trickling 16,000 bytes of a line, one per send, to
        line-print, grow the server by less than 4 x (maxline + sendbuffer)
        + 16 KiB each."""
        self.trickle("line-print")

    def test_hello(self) -> None:
        """48 connections trickling 16,000 bytes of a line, one per send, to
        hello, grow the server by less than 4 x (maxline + sendbuffer) + 16
        KiB each."""
        self.trickle("hello")


class AtTheBoundTests(_MemoryTestCase):
    """
    Connections send lines exactly as long as the bound, ended by LF and by
    CR LF, then hold an unfinished line one byte under it.
    """

    CONNECTIONS = 32

    def atTheBound(self, protocol: str) -> list[socket.socket]:
        """
        Send the lines at the bound and the unfinished line on every
        connection to C{protocol}; check the growth and that no line was
        found too long. Return the connections.
        """
        server, address = self.start(protocol, TCP)
        before = self.baseline(server, address)
        socks = connectMany(self, address, self.CONNECTIONS)
        line = b"n" * DEFAULT_LINE
        for sock in socks:
            sock.sendall(line + b"\n" + line + b"\r\n")
        waitUntilIdle(server)
        self.assertEqual(
            [text for text in messages(server) if "longer than" in text], []
        )
        held = b"h" * (DEFAULT_LINE - 1)
        for offset in range(0, len(held), 1000):
            for sock in socks:
                sock.sendall(held[offset : offset + 1000])
        self.assertGrowthWithin(
            server,
            before,
            self.CONNECTIONS,
            allowance(DEFAULT_LINE, DEFAULT_SEND),
            f"lines at the bound and one held, to {protocol}",
        )
        return socks

    def test_linePrint(self) -> None:
        """32 connections sending lines of 65,536 bytes (LF, CR LF) to
        line-print, then holding 65,535 bytes of a line, grow the server by
        less than 4 x (maxline + sendbuffer) + 16 KiB each; no line is too
        long."""
        self.atTheBound("line-print")

    def test_hello(self) -> None:
        """32 connections sending lines of 65,536 bytes (LF, CR LF) to hello,
        then holding 65,535 bytes of a line, grow the server by less than 4 x
        (maxline + sendbuffer) + 16 KiB each; both lines are answered, each
        ended as it was."""
        socks = self.atTheBound("hello")
        answer = b"Hello, " + b"n" * DEFAULT_LINE + b"!"
        received = receive(socks[0], lambda data: data.endswith(b"!\r\n"), 20.0)
        self.assertTrue(
            received.endswith(answer + b"\n" + answer + b"\r\n"), received[-100:]
        )


class NonReadingPeerTests(_MemoryTestCase):
    """
    Peers send short lines as fast as they can and never read: each costs
    a bounded buffer, with the default bounds and with small ones.
    """

    PEERS = 50
    LIMIT = 16 * MiB

    def nonReading(
        self,
        protocol: str,
        settings: str,
        bounds: tuple[int, int],
        limit: int = LIMIT,
    ) -> None:
        """
        Let C{PEERS} peers send lines to C{protocol} with C{settings},
        reading nothing, until they stall or have sent C{limit} bytes;
        check the growth.
        """
        server, address = self.start(protocol, TCP + settings)
        before = self.baseline(server, address)
        socks = connectMany(self, address, self.PEERS)
        sent = sendUntilStalled(socks, b"a\n", limit)
        self.assertGrowthWithin(
            server,
            before,
            self.PEERS,
            allowance(*bounds),
            f"{protocol}{settings}, {sum(sent) // self.PEERS} bytes sent per peer",
        )

    def test_hello(self) -> None:
        """50 hello peers that send lines and never read grow the server by
        less than 4 x (maxline + sendbuffer) + 16 KiB each."""
        self.nonReading("hello", "", (DEFAULT_LINE, DEFAULT_SEND))

    def test_helloSmall(self) -> None:
        """With maxline=4096 and sendbuffer=4096, 50 hello peers that send
        lines and never read grow the server by less than 4 x (maxline +
        sendbuffer) + 16 KiB each."""
        self.nonReading("hello", SMALL, (SMALL_LINE, SMALL_SEND))

    def test_echo(self) -> None:
        """50 echo peers that send and never read grow the server by less
        than 4 x (maxline + sendbuffer) + 16 KiB each."""
        self.nonReading("echo", "", (DEFAULT_LINE, DEFAULT_SEND))

    def test_echoSmall(self) -> None:
        """With maxline=4096 and sendbuffer=4096, 50 echo peers that send and
        never read grow the server by less than 4 x (maxline + sendbuffer) +
        16 KiB each."""
        self.nonReading("echo", SMALL, (SMALL_LINE, SMALL_SEND))

    def test_linePrint(self) -> None:
        """50 line-print peers sending 256 KiB of short lines each (printed,
        never answered) grow the server by less than 4 x (maxline +
        sendbuffer) + 16 KiB each."""
        self.nonReading("line-print", "", (DEFAULT_LINE, DEFAULT_SEND), limit=256 * KiB)

    def test_linePrintSmall(self) -> None:
        """With maxline=4096 and sendbuffer=4096, 50 line-print peers sending
        256 KiB of short lines each grow the server by less than 4 x
        (maxline + sendbuffer) + 16 KiB each."""
        self.nonReading("line-print", SMALL, (SMALL_LINE, SMALL_SEND), limit=256 * KiB)
