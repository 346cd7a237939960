"""
End-to-end tests of a real twistd sockplug process's defences against
datagram abuse: reflection and amplification, and reply rates.
"""

from __future__ import annotations

import os
import re
import select
import socket
import struct
import time

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.abusefixtures import (
    QUIET,
    UDP,
    assertNothingReceived,
    portOf,
    stoppedCounts,
    udpSocket,
    waitForText,
)
from tests.dropins import dropins
from tests.harness import Server, sockName

CLASSIC_PORTS = (7, 13, 17, 19, 37)

AMPLIFY = """\
from twisted.internet.protocol import DatagramProtocol
from sockplug.plugin import ProtocolPlugin

class Amplify(DatagramProtocol):
    def datagramReceived(self, datagram, addr):
        self.transport.write(datagram * 10, addr)

amplify = ProtocolPlugin(
    name="amplify",
    description="Answers each datagram with ten copies of it.",
    datagram=lambda listener: Amplify(),
)
"""


def _isRoot() -> bool:
    """Whether this test runs as root (as in CI), who may bind ports below
    1024 and open raw sockets."""
    return os.geteuid() == 0


def linesEnding(server: Server, text: str) -> list[str]:
    """The lines of the server's standard output that end with C{text}."""
    return [line for line in server.stdout().splitlines() if line.endswith(text)]


def heldBack(server: Server, endpoint: str, event: str) -> int:
    """
    How many log lines about C{event} the summary lines say were held back.
    """
    pattern = re.compile(
        rf"\] {re.escape(endpoint)}: (\d+) log lines? about {re.escape(event)}"
        r" held back in the last 10s \(rate limit\)$"
    )
    return sum(
        int(match[1])
        for match in map(pattern.search, server.stdout().splitlines())
        if match is not None
    )


def drain(sock: socket.socket, limit: int = 1000) -> list[bytes]:
    """
    Every datagram waiting on C{sock} (or coming within L{QUIET}), up to
    C{limit}.
    """
    received: list[bytes] = []
    while len(received) < limit and select.select([sock], [], [], QUIET)[0]:
        received.append(sock.recv(1 << 17))
    return received


def _checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of C{data}."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def sendFromPortZero(host: str, port: int, payload: bytes) -> None:
    """
    Send a UDP datagram whose source port is 0, as only a forged one can
    be: IPv4 and UDP headers built by hand on a raw socket (root only). A
    UDP checksum of 0 means none, which IPv4 allows.
    """
    address = socket.inet_aton(host)
    udp = struct.pack("!HHHH", 0, port, 8 + len(payload), 0) + payload
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,  # version 4, 5 words of header
        0,
        20 + len(udp),
        0,
        0,
        64,
        socket.IPPROTO_UDP,
        0,
        address,
        address,
    )
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as raw:
        raw.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        raw.sendto(header + udp, (host, 0))


class ReflectionTests(SynchronousTestCase):
    """
    A UDP echo server does not reply to the source ports that would make it
    a reflector: the classic answering services, port 0, and its own
    datagram listeners.
    """

    def test_classicSourcePortsNotAnswered(self) -> None:
        """Datagrams from source ports 7, 13, 17, 19 and 37 get no reply and
        a log line each, while an ordinary port is answered. (Not as root:
        the same with high ports given to blockports=.)"""
        if _isRoot():
            senders = [udpSocket(self, port=port) for port in CLASSIC_PORTS]
            endpoint = UDP
        else:
            senders = [udpSocket(self) for _ in range(2)]
            endpoint = UDP + ":blockports=" + ",".join(str(portOf(s)) for s in senders)
        server = Server.start(self, "-e", "echo@" + endpoint)
        address = server.inet(endpoint)
        for sender in senders:
            sender.sendto(b"reflect me", address)
        ordinary = udpSocket(self)
        ordinary.sendto(b"ordinary", address)
        self.assertEqual(ordinary.recv(100), b"ordinary")
        for sender in senders:
            port = portOf(sender)
            waitForText(
                server,
                f"] {endpoint} dropped reply to 127.0.0.1:{port}:"
                f" source port {port} is blocked",
            )
        assertNothingReceived(self, *senders)
        self.assertEqual(
            stoppedCounts(self, server, endpoint),
            (len(senders) + 1, 10 * len(senders) + 8, 1, 8),
        )

    def test_sourcePortZeroNotAnswered(self) -> None:
        """A forged datagram from source port 0 reaches the server, whose
        reply is dropped and logged: nothing is sent."""
        if not _isRoot():
            raise SkipTest("forging a datagram from port 0 needs a raw socket")
        server = Server.start(self, "-e", "echo@" + UDP)
        host, port = server.inet(UDP)
        sendFromPortZero(host, port, b"from port zero")
        waitForText(
            server,
            f"] {UDP} dropped reply to 127.0.0.1:0: source port 0 is blocked",
        )
        self.assertEqual(stoppedCounts(self, server, UDP), (1, 14, 0, 0))

    def test_ownListenerPortsNotAnswered(self) -> None:
        """A datagram from the port number of another datagram listener of
        the same process (started before or after) gets no reply, even on
        a listener with a blockports= list of its own."""
        first, second = UDP + ":blockports=9", "udp:0:interface=127.0.0.3"
        server = Server.start(self, "-e", "echo@" + first, "-e", "echo@" + second)
        firstAddress, secondAddress = server.inet(first), server.inet(second)
        fromSecond = udpSocket(self, "127.0.0.2", secondAddress[1])
        fromFirst = udpSocket(self, "127.0.0.2", firstAddress[1])
        fromSecond.sendto(b"loop?", firstAddress)
        fromFirst.sendto(b"loop?", secondAddress)
        ordinary = udpSocket(self, "127.0.0.2")
        for address in [firstAddress, secondAddress]:
            ordinary.sendto(b"ordinary", address)
            self.assertEqual(ordinary.recv(100), b"ordinary")
        for endpoint, port in [(first, secondAddress[1]), (second, firstAddress[1])]:
            waitForText(
                server,
                f"] {endpoint} dropped reply to 127.0.0.2:{port}:"
                f" source port {port} is blocked",
            )
        assertNothingReceived(self, fromFirst, fromSecond)

    def test_customBlockedPorts(self) -> None:
        """blockports= drops replies to the ports it lists, and replaces the
        default list: (as root) port 7 is answered then."""
        blocked = udpSocket(self)
        endpoint = f"{UDP}:blockports={portOf(blocked)}"
        server = Server.start(self, "-e", "echo@" + endpoint)
        address = server.inet(endpoint)
        blocked.sendto(b"blocked", address)
        ordinary = udpSocket(self)
        ordinary.sendto(b"ordinary", address)
        self.assertEqual(ordinary.recv(100), b"ordinary")
        waitForText(
            server,
            f"] {endpoint} dropped reply to 127.0.0.1:{portOf(blocked)}:"
            f" source port {portOf(blocked)} is blocked",
        )
        assertNothingReceived(self, blocked)
        if _isRoot():
            # Not 127.0.0.1:7, which another test binds.
            echoPort = udpSocket(self, "127.0.0.4", 7)
            echoPort.sendto(b"now answered", address)
            self.assertEqual(echoPort.recv(100), b"now answered")


class ReplyRateTests(SynchronousTestCase):
    """
    replyrate=10:replyburst=20: replies to one source address are limited
    to a burst of 20, then 10 a second.
    """

    endpoint = UDP + ":replyrate=10:replyburst=20"

    def setUp(self) -> None:
        self.server = Server.start(self, "-e", "echo@" + self.endpoint)
        self.address = self.server.inet(self.endpoint)
        self.flooder = udpSocket(self)
        self.other = udpSocket(self, "127.0.0.2")

    def flood(self, count: int = 100) -> tuple[list[bytes], float]:
        """
        Send C{count} datagrams at once from C{self.flooder}; once a
        datagram from another address has been answered after them, return
        the replies the flooder got and the seconds it all took.
        """
        started = time.monotonic()
        for i in range(count):
            self.flooder.sendto(b"%03d" % (i,), self.address)
        self.other.sendto(b"barrier", self.address)
        self.assertEqual(self.other.recv(100), b"barrier")
        elapsed = time.monotonic() - started
        return drain(self.flooder), elapsed

    def assertLimited(self, replies: list[bytes], elapsed: float) -> None:
        """
        At least the burst was answered, and no more than the burst and
        what 10 replies a second refilled over C{elapsed}.
        """
        self.assertLess(elapsed, 5.0, "too slow for the bound to mean anything")
        self.assertGreaterEqual(len(replies), 20)
        self.assertLessEqual(len(replies), 20 + int(10 * elapsed) + 1)

    def test_floodAnsweredUpToBurst(self) -> None:
        """100 datagrams sent at once get the burst of replies, plus what
        the rate refills meanwhile; the replies are the first datagrams."""
        replies, elapsed = self.flood()
        self.assertLimited(replies, elapsed)
        self.assertEqual(replies[:20], [b"%03d" % (i,) for i in range(20)])

    def test_dropsLoggedAndRateLimited(self) -> None:
        """Each dropped reply is logged up to 20 lines for one peer; the
        rest are summed up in one line when the listener stops."""
        replies, _ = self.flood()
        dropped = 100 - len(replies)
        peer = f"127.0.0.1:{portOf(self.flooder)}"
        waitForText(
            self.server,
            f"] {self.endpoint} dropped reply to {peer}: more than 10 replies a second",
        )
        counts = stoppedCounts(self, self.server, self.endpoint)
        self.assertEqual(counts[0::2], (101, len(replies) + 1))
        self.assertEqual(
            len(
                linesEnding(
                    self.server,
                    f"] {self.endpoint} dropped reply to {peer}:"
                    " more than 10 replies a second",
                )
            ),
            20,
        )
        self.assertEqual(
            heldBack(self.server, self.endpoint, "dropped replies"), dropped - 20
        )

    def test_otherAddressStillAnswered(self) -> None:
        """While one address is being limited, another still gets every
        reply of its own burst."""
        replies, elapsed = self.flood()
        self.assertLimited(replies, elapsed)
        for i in range(15):
            self.other.sendto(b"other %d" % (i,), self.address)
        self.assertEqual(
            [self.other.recv(100) for _ in range(15)],
            [b"other %d" % (i,) for i in range(15)],
        )

    def test_sameAddressOtherPortLimited(self) -> None:
        """The bucket is the address's, not the port's: another socket of
        the flooding address gets only what the rate refilled."""
        started = time.monotonic()
        replies, _ = self.flood()
        sibling = udpSocket(self)
        for i in range(20):
            sibling.sendto(b"sibling %d" % (i,), self.address)
        self.other.sendto(b"barrier", self.address)
        self.assertEqual(self.other.recv(100), b"barrier")
        elapsed = time.monotonic() - started
        self.assertLess(elapsed, 1.5, "too slow for the bound to mean anything")
        self.assertLessEqual(
            len(replies) + len(drain(sibling)), 20 + int(10 * elapsed) + 1
        )

    def test_repliesResume(self) -> None:
        """Two seconds after a flood, the address gets a burst of replies
        again."""
        replies, elapsed = self.flood()
        self.assertLimited(replies, elapsed)
        time.sleep(2.0)
        for i in range(15):
            self.flooder.sendto(b"again %d" % (i,), self.address)
        self.assertEqual(
            [self.flooder.recv(100) for _ in range(15)],
            [b"again %d" % (i,) for i in range(15)],
        )


class AmplificationTests(SynchronousTestCase):
    """
    A datagram reply may be at most replygrowth (64) bytes larger than the
    request it answers.
    """

    def test_helloRepliesBounded(self) -> None:
        """hello over UDP answers requests of every size, each reply at most
        64 bytes larger than its request."""
        server = Server.start(self, "-e", "hello@" + UDP)
        address = server.inet(UDP)
        requests = [b"", b" ", b"\n", b"\r\n", b" \t \r\n"] + [
            b"a" * size for size in (1, 7, 8, 56, 63, 64, 65, 1000, 8192, 30000)
        ]
        sock = udpSocket(self)
        for request in requests:
            sock.sendto(request, address)
            reply = sock.recv(1 << 17)
            self.assertTrue(reply.startswith(b"Hello, "), reply[:100])
            self.assertLessEqual(len(reply), len(request) + 64, request[:100])
        self.assertNotIn("dropped reply", server.stdout())

    def test_amplifyingPluginDropped(self) -> None:
        """A plugin that answers with ten times its request has the replies
        more than 64 bytes larger dropped and logged; smaller ones pass."""
        env = dropins(self, {"amplify": AMPLIFY})
        server = Server.start(self, "-e", "amplify@" + UDP, env=env)
        address = server.inet(UDP)
        sock = udpSocket(self)
        for size in (8, 7, 100, 1, 6000, 0):
            sock.sendto(b"x" * size, address)
        # In order: a dropped reply, had it been sent, would come first.
        self.assertEqual(
            [sock.recv(1 << 17) for _ in range(3)], [b"x" * 70, b"x" * 10, b""]
        )
        for request in (8, 100, 6000):
            waitForText(
                server,
                f"] {UDP} dropped reply to {sockName(sock)}:"
                f" reply of {10 * request} bytes to a request of {request}",
            )
        assertNothingReceived(self, sock)

    def test_replyGrowthZero(self) -> None:
        """With replygrowth=0, hello's reply (8 bytes larger) is dropped and
        logged; with replygrowth=8 it is sent."""
        strict, exact = UDP + ":replygrowth=0", UDP + ":replygrowth=8"
        server = Server.start(self, "-e", "hello@" + strict, "-e", "hello@" + exact)
        sock = udpSocket(self)
        sock.sendto(b"Alice", server.inet(strict))
        waitForText(
            server,
            f"] {strict} dropped reply to {sockName(sock)}:"
            " reply of 13 bytes to a request of 5",
        )
        assertNothingReceived(self, sock)
        sock.sendto(b"Alice", server.inet(exact))
        self.assertEqual(sock.recv(100), b"Hello, Alice!")
        self.assertEqual(stoppedCounts(self, server, strict), (1, 5, 0, 0))
