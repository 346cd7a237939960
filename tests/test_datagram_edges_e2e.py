"""
End-to-end tests of datagram edges on real twistd sockplug processes:
servers that would answer each other (two sockplug processes, and sockplug
and another kind of server), datagrams too long to be read whole, and
replies with no address to go to.

How a test forges a datagram's source (a server answers whatever source a
datagram claims; an attacker forges it on a raw socket): server B listens
with C{reuseport=yes}, so a socket of the test's, as the same user, may
bind B's very address with C{SO_REUSEPORT} too. That socket is connected
to an address nothing sends from (the discard port), so Linux hands it no
datagram but that address's: what A then sends to B's address reaches B,
not the test. From it the test sends (C{sendto} overrides the connected
address) one datagram to A, which A sees as coming from B's port.
"""

from __future__ import annotations

import select
import socket

from twisted.trial.unittest import SynchronousTestCase

from tests.abusefixtures import (
    QUIET,
    UDP,
    assertNothingReceived,
    stoppedCounts,
    udpSocket,
    waitForText,
)
from tests.dropins import dropins
from tests.harness import (
    Server,
    datagramSocket,
    socketPath,
    sockName,
)
from tests.scrape import (
    TCP,
    labelsOf,
    metricsAddress,
    startWithMetrics,
    waitForValues,
)

ANSWER_ANYONE = """\
from twisted.internet.protocol import DatagramProtocol
from sockplug.plugin import ProtocolPlugin

class Answer(DatagramProtocol):
    def datagramReceived(self, datagram, addr):
        self.transport.write(b"got " + datagram, addr)

answer = ProtocolPlugin(
    name="answer",
    description="Answers every datagram, whoever sent it.",
    datagram=lambda listener: Answer(),
)
"""

# Where a forging socket is connected: nothing sends from there.
NOWHERE = ("127.0.0.1", 9)
DROPPED = "sockplug_datagrams_dropped_total"


def forgeFrom(
    testCase: SynchronousTestCase, source: tuple[str, int], to: tuple[str, int]
) -> None:
    """
    Send one datagram to C{to} whose source is C{source}, the address of a
    server listening with C{reuseport=yes} (see the module's docstring).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    testCase.addCleanup(sock.close)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(source)
    sock.connect(NOWHERE)
    sock.sendto(b"hi", to)
    sock.close()


class TwoServersTests(SynchronousTestCase):
    """
    Two sockplug processes on one host, one datagram with a forged source
    address between them.
    """

    reusable = UDP + ":reuseport=yes"

    def servers(self, protocol: str) -> tuple[Server, Server]:
        """
        Start server A, and server B (which a forged datagram may claim
        to come from), both serving C{protocol}.
        """
        a = Server.start(self, "-e", f"{protocol}@{UDP}")
        b = Server.start(self, "-e", f"{protocol}@{self.reusable}")
        return a, b

    def test_helloNotAnswered(self) -> None:
        """One datagram to hello A claiming to come from hello B's port (which
        set them answering each other for 408 datagrams and 668 KB) gets no
        reply: A knows B's port as a sockplug server's, and says so."""
        a, b = self.servers("hello")
        bAddress = b.inet(self.reusable)
        forgeFrom(self, bAddress, a.inet(UDP))
        waitForText(
            a,
            f"] {UDP} dropped reply to 127.0.0.1:{bAddress[1]}: source port"
            f" {bAddress[1]} is a sockplug server's on this host",
        )
        self.assertEqual(stoppedCounts(self, a, UDP), (1, 2, 0, 0))
        self.assertEqual(stoppedCounts(self, b, self.reusable), (0, 0, 0, 0))

    def test_echoNotAnswered(self) -> None:
        """Two echo servers, whose replies never grow, are not set answering
        each other either."""
        a, b = self.servers("echo")
        forgeFrom(self, b.inet(self.reusable), a.inet(UDP))
        waitForText(a, " is a sockplug server's on this host")
        self.assertEqual(stoppedCounts(self, a, UDP), (1, 2, 0, 0))
        self.assertEqual(stoppedCounts(self, b, self.reusable), (0, 0, 0, 0))

    def test_clientsAnswered(self) -> None:
        """Ordinary clients of both servers are answered: replies of every
        size to one client, and 150 exchanges of one echo client sending the
        same datagram again each time it has its reply."""
        a, b = self.servers("hello")
        sock = udpSocket(self)
        for size in (1, 8, 56, 65, 1000, 30000):
            for address in (a.inet(UDP), b.inet(self.reusable)):
                sock.sendto(b"a" * size, address)
                self.assertEqual(sock.recv(1 << 17), b"Hello, " + b"a" * size + b"!")
        echo = Server.start(self, "-e", "echo@" + UDP)
        for _ in range(150):
            sock.sendto(b"same again", echo.inet(UDP))
            self.assertEqual(sock.recv(100), b"same again")
        for server in (a, b, echo):
            self.assertNotIn("dropped", server.stdout())


class OtherServerTests(SynchronousTestCase):
    """
    sockplug's hello and a server of another kind, which no registry names,
    that wraps each datagram it gets in a greeting, as hello does.
    """

    def test_exchangeEnds(self) -> None:
        """The exchange ends once hello's replies have grown by replygrowth
        (64) bytes over the datagram that began it: 4 replies, logged and
        counted as a loop; with the bound per reply alone it went on until
        the reply burst (200) ran out."""
        server, metrics = startWithMetrics(self, "-e", "hello@" + UDP)
        other = udpSocket(self)
        other.sendto(b"hi", server.inet(UDP))
        answered: list[int] = []
        for _ in range(500):
            if not select.select([other], [], [], QUIET * 2)[0]:
                break
            reply = other.recv(1 << 17)
            answered.append(len(reply))
            other.sendto(b"Hello, " + reply + b"!", server.inet(UDP))
        self.assertEqual(answered, [10, 26, 42, 58])
        waitForText(
            server,
            f"] {UDP} dropped reply to {sockName(other)}: reply of 74 bytes in an"
            " exchange of replies that began with a request of 2",
        )
        waitForValues(
            self, metrics, [(DROPPED, {**labelsOf(UDP, "hello"), "reason": "loop"}, 1)]
        )


class TooLongTests(SynchronousTestCase):
    """
    A datagram longer than the listener reads (C{maxPacketSize}) is dropped,
    counted and logged, never handed on cut.
    """

    def test_unixgramEcho(self) -> None:
        """A 100,000-byte UNIX datagram to echo (which came back as 65,536
        bytes) gets no reply; the next datagram does; /metrics counts it."""
        endpoint = "unixgram:" + socketPath(self)
        server, metrics = startWithMetrics(self, "-e", "echo@" + endpoint)
        address = server.path(endpoint)
        sock = datagramSocket(self, address)
        sock.sendto(b"x" * 100_000, address)
        sock.sendto(b"next", address)
        self.assertEqual(sock.recv(1 << 17), b"next")
        waitForText(
            server,
            f"] {endpoint} dropped datagram from {sockName(sock)}: longer than"
            " maxPacketSize=65536",
        )
        waitForValues(
            self,
            metrics,
            [(DROPPED, {**labelsOf(endpoint, "echo"), "reason": "truncated"}, 1)],
        )

    def test_unixgramLinePrint(self) -> None:
        """line-print prints nothing of a 100,000-byte line (it printed the
        first 65,536 bytes as if they were the line)."""
        endpoint = "unixgram:" + socketPath(self)
        server = Server.start(self, "-e", "line-print@" + endpoint)
        address = server.path(endpoint)
        sock = datagramSocket(self, address)
        sock.sendto(b"x" * 100_000 + b"\n", address)
        sock.sendto(b"short\n", address)
        server.waitForLine(f"{endpoint} {sockName(sock)}: short")
        self.assertNotIn("xxxxxxxx", server.stdout())
        waitForText(server, "longer than maxPacketSize=65536")

    def test_udpSize(self) -> None:
        """Over UDP, a datagram longer than maxPacketSize= is dropped and
        logged with its size; one of maxPacketSize bytes is echoed whole."""
        endpoint = UDP + ":maxPacketSize=1000"
        server = Server.start(self, "-e", "echo@" + endpoint)
        sock = udpSocket(self)
        sock.sendto(b"x" * 2000, server.inet(endpoint))
        sock.sendto(b"y" * 1000, server.inet(endpoint))
        self.assertEqual(sock.recv(1 << 17), b"y" * 1000)
        waitForText(
            server,
            f"] {endpoint} dropped datagram from {sockName(sock)}: 2000 bytes,"
            " longer than maxPacketSize=1000",
        )
        assertNothingReceived(self, sock)


class UnaddressedTests(SynchronousTestCase):
    """
    A plain C{DatagramProtocol} plugin that answers every datagram, on a
    UNIX datagram listener, sent one by an unbound socket (which has no
    address to answer).
    """

    def test_dropped(self) -> None:
        """The reply is dropped, logged and counted, with no traceback (it
        raised TypeError inside the guard, logged as "(UDP)"); a bound
        sender is still answered."""
        endpoint = "unixgram:" + socketPath(self)
        env = dropins(self, {"answer": ANSWER_ANYONE})
        server = Server.start(
            self, "--metrics", TCP, "-e", "answer@" + endpoint, env=env
        )
        metrics = metricsAddress(server, TCP)
        address = server.path(endpoint)
        unbound = datagramSocket(self, address, bind=False)
        unbound.sendto(b"anonymous", address)
        waitForText(
            server, f"] {endpoint} dropped reply to (unbound): no address to send it to"
        )
        bound = datagramSocket(self, address)
        bound.sendto(b"named", address)
        self.assertEqual(bound.recv(100), b"got named")
        waitForValues(
            self,
            metrics,
            [(DROPPED, {**labelsOf(endpoint, "answer"), "reason": "unaddressed"}, 1)],
        )
        output = server.output()
        for text in ("Traceback", "TypeError", "Unhandled", "(UDP)"):
            self.assertNotIn(text, output)
