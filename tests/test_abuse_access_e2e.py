"""
End-to-end tests of a real twistd sockplug process's defences against
abuse by who the peer is: access lists, and the PROXY protocol's real
client address.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import time

from twisted.trial.unittest import SynchronousTestCase

from tests.abusefixtures import (
    TCP,
    UDP,
    assertNothingReceived,
    portOf,
    stoppedCounts,
    udpSocket,
    waitForText,
)
from tests.harness import (
    IO_TIMEOUT,
    Server,
    connect,
    connectFrom,
    exchangeDatagram,
    receive,
    receiveUntilClosed,
    runClient,
    sendAndReceiveToEnd,
    sockName,
)

PROXY_V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def socketFrom(
    testCase: SynchronousTestCase, address: tuple[str, int], source: str
) -> socket.socket:
    """A TCP socket bound to C{source}, to talk to C{address}."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    testCase.addCleanup(sock.close)
    sock.settimeout(IO_TIMEOUT)
    sock.bind((source, 0))
    return sock


def sendQuietly(sock: socket.socket, data: bytes) -> None:
    """Send C{data}, unless the peer has already reset the connection."""
    with contextlib.suppress(ConnectionResetError, BrokenPipeError):
        sock.sendall(data)


def assertRefused(
    testCase: SynchronousTestCase,
    address: tuple[str, int],
    source: str,
    data: bytes = b"hello\n",
) -> socket.socket:
    """
    A client from C{source} is closed at once, its C{data} unanswered;
    return its socket. (The reset may come before C{connect} returns.)
    """
    sock = socketFrom(testCase, address, source)
    try:
        sock.connect(address)
    except ConnectionResetError:
        return sock
    sendQuietly(sock, data)
    testCase.assertEqual(receiveUntilClosed(sock), b"")
    return sock


def assertEchoed(
    testCase: SynchronousTestCase, sock: socket.socket, data: bytes = b"hello\n"
) -> None:
    """The server echoes C{data} on C{sock}'s connection."""
    sock.sendall(data)
    testCase.assertEqual(receive(sock, lambda got: len(got) >= len(data)), data)


def refusedLine(endpoint: str, sock: socket.socket) -> str:
    """The end of the line that logs the refusal of C{sock}'s connection."""
    return f"] {endpoint} refused {sockName(sock)}: not allowed by allow=/deny="


class AccessListTests(SynchronousTestCase):
    """
    allow= and deny= on stream and datagram listeners.
    """

    def test_tcpDeny(self) -> None:
        """deny=127.0.0.2: a client from 127.0.0.2 is closed at once, with
        nothing echoed and a log line; one from 127.0.0.1 is served."""
        endpoint = TCP + ":deny=127.0.0.2"
        server = Server.start(self, "-e", "echo@" + endpoint)
        address = server.inet(endpoint)
        denied = assertRefused(self, address, "127.0.0.2")
        waitForText(server, refusedLine(endpoint, denied))
        assertEchoed(self, connectFrom(self, address, "127.0.0.1"))

    def test_tcpAllow(self) -> None:
        """allow=127.0.0.1: a client from 127.0.0.1 is served, one from
        127.0.0.2 closed at once, with a log line."""
        endpoint = TCP + ":allow=127.0.0.1"
        server = Server.start(self, "-e", "echo@" + endpoint)
        address = server.inet(endpoint)
        assertEchoed(self, connectFrom(self, address, "127.0.0.1"))
        other = assertRefused(self, address, "127.0.0.2")
        waitForText(server, refusedLine(endpoint, other))

    def test_netcat(self) -> None:
        """nc -s 127.0.0.2 gets nothing back from a deny=127.0.0.2 echo
        server; nc -s 127.0.0.1 gets its line back."""
        endpoint = TCP + ":deny=127.0.0.2"
        server = Server.start(self, "-e", "echo@" + endpoint)
        host, port = server.inet(endpoint)
        denied = runClient(["nc", "-N", "-s", "127.0.0.2", host, str(port)], b"hi\n")
        self.assertEqual(denied.stdout, b"")
        served = runClient(["nc", "-N", "-s", "127.0.0.1", host, str(port)], b"hi\n")
        self.assertEqual((served.returncode, served.stdout), (0, b"hi\n"))
        refused = waitForText(server, ": not allowed by allow=/deny=")
        self.assertIn(f"] {endpoint} refused 127.0.0.2:", refused)

    def test_udpDeny(self) -> None:
        """deny=127.0.0.2 on UDP: datagrams from 127.0.0.2 are dropped
        before the protocol, with a log line; 127.0.0.1 is answered."""
        endpoint = UDP + ":deny=127.0.0.2"
        server = Server.start(self, "-e", "echo@" + endpoint)
        address = server.inet(endpoint)
        denied = udpSocket(self, "127.0.0.2")
        denied.sendto(b"denied", address)
        self.assertEqual(exchangeDatagram(self, address, b"served"), b"served")
        waitForText(
            server,
            f"] {endpoint} dropped datagram from {sockName(denied)}:"
            " not allowed by allow=/deny=",
        )
        assertNothingReceived(self, denied)
        self.assertEqual(stoppedCounts(self, server, endpoint), (1, 6, 1, 6))

    def test_tcp6Deny(self) -> None:
        """deny=::1 on a ::1 listener refuses ::1 clients, while a listener
        beside it with deny=::2 serves them."""
        denying = "tcp6:0:interface=\\:\\:1:deny=\\:\\:1"
        other = "tcp6:0:interface=\\:\\:1:deny=\\:\\:2"
        server = Server.start(self, "-e", "echo@" + denying, "-e", "echo@" + other)
        denied = assertRefused(self, server.inet(denying), "::1")
        waitForText(server, refusedLine(denying, denied))
        assertEchoed(self, connect(self, server.inet(other)))

    def test_ipv4MappedPeers(self) -> None:
        """On an IPv6 socket taking IPv4 (bound to ::ffff:127.0.0.1), a
        127.0.0.1 client matches IPv4 rules: allow=::1 refuses it, while
        allow=127.0.0.1 serves it."""
        mapped = "tcp6:0:interface=\\:\\:ffff\\:127.0.0.1"
        refusing, serving = mapped + ":allow=\\:\\:1", mapped + ":allow=127.0.0.1"
        server = Server.start(self, "-e", "echo@" + refusing, "-e", "echo@" + serving)
        refused = assertRefused(self, ("127.0.0.1", server.port(refusing)), "127.0.0.1")
        port = portOf(refused)
        waitForText(
            server,
            f"] {refusing} refused [::ffff:127.0.0.1]:{port}:"
            " not allowed by allow=/deny=",
        )
        assertEchoed(self, connect(self, ("127.0.0.1", server.port(serving))))


def proxyV1(source: str, port: int) -> bytes:
    """A PROXY protocol version 1 header for a TCP4 client."""
    return f"PROXY TCP4 {source} 127.0.0.1 {port} 80\r\n".encode()


def proxyV2(source: str, port: int) -> bytes:
    """A PROXY protocol version 2 header (command PROXY, over TCP)."""
    client = ipaddress.ip_address(source)
    if client.version == 4:
        family, server = 0x11, ipaddress.ip_address("127.0.0.1")
    else:
        family, server = 0x21, ipaddress.ip_address("::1")
    addresses = client.packed + server.packed + struct.pack("!HH", port, 80)
    return (
        PROXY_V2_SIGNATURE
        + bytes([0x21, family])
        + struct.pack("!H", len(addresses))
        + addresses
    )


class ProxyTests(SynchronousTestCase):
    """
    The haproxy: endpoint: access lists and protocols see the client the
    PROXY header names.
    """

    endpoint = "haproxy:" + TCP + ":deny=10.0.0.0/8"
    echo = "haproxy:" + TCP

    def setUp(self) -> None:
        self.server = Server.start(
            self, "-e", "line-print@" + self.endpoint, "-e", "echo@" + self.echo
        )
        self.address = self.server.inet(self.endpoint)

    def assertPrinted(self, header: bytes, peer: str) -> None:
        """
        A client sending C{header} then a line has the line printed with
        C{peer} as its address.
        """
        sock = connect(self, self.address)
        sock.sendall(header + b"through the proxy\n")
        self.server.waitForLine(f"{self.endpoint} {peer}: through the proxy")

    def assertRefusedClient(self, header: bytes, peer: str) -> None:
        """
        A client sending C{header} then a line is closed, the refusal of
        C{peer} is logged, and the line is never printed (while a later
        client's is).
        """
        sock = connect(self, self.address)
        sendQuietly(sock, header + b"must not be printed\n")
        self.assertEqual(receiveUntilClosed(sock), b"")
        waitForText(
            self.server,
            f"] {self.endpoint} refused {peer}: not allowed by allow=/deny=",
        )
        self.assertPrinted(proxyV1("192.0.2.9", 4444), "192.0.2.9:4444")
        self.assertNotIn("must not be printed", self.server.stdout())

    def test_v1DeniedClientRefused(self) -> None:
        """A v1 header naming 10.1.2.3 (denied) closes the connection
        unprinted, and the log names 10.1.2.3."""
        self.assertRefusedClient(proxyV1("10.1.2.3", 5555), "10.1.2.3:5555")

    def test_v1ClientAddressPrinted(self) -> None:
        """A v1 header naming 192.0.2.7 is served; line-print shows
        192.0.2.7:5555, not the proxy's own address."""
        self.assertPrinted(proxyV1("192.0.2.7", 5555), "192.0.2.7:5555")

    def test_v2DeniedClientRefused(self) -> None:
        """A v2 header naming 10.9.8.7 (denied) closes the connection
        unprinted."""
        self.assertRefusedClient(proxyV2("10.9.8.7", 6000), "10.9.8.7:6000")

    def test_v2ClientAddressPrinted(self) -> None:
        """A v2 header naming 192.0.2.8 is served and shown as that
        client."""
        self.assertPrinted(proxyV2("192.0.2.8", 6666), "192.0.2.8:6666")

    def test_v2IPv6ClientAddressPrinted(self) -> None:
        """A v2 header naming an IPv6 client shows it in brackets."""
        self.assertPrinted(proxyV2("2001:db8::7", 7777), "[2001:db8::7]:7777")

    def test_echoHalfClose(self) -> None:
        """Echo behind the PROXY header: a client that ends its side after
        sending a megabyte still gets all of it back."""
        payload = bytes(range(256)) * 4096
        sock = connect(self, self.server.inet(self.echo))
        received = sendAndReceiveToEnd(sock, proxyV1("192.0.2.7", 5555) + payload)
        self.assertEqual(len(received), len(payload))
        self.assertEqual(received, payload)

    def test_headerAddressCannotForgeLines(self) -> None:
        """A v1 header whose source address is not an address, but text
        with a line feed and a terminal escape, cannot start a line of
        its own nor put the escape raw in the output."""
        sock = connect(self, self.address)
        forged = b"1.2.3.4\nforged-line\x1b[31m"
        sock.sendall(b"PROXY TCP4 " + forged + b" 127.0.0.1 5555 80\r\nline\n")
        sock.shutdown(socket.SHUT_WR)
        receiveUntilClosed(sock)
        self.assertPrinted(proxyV1("192.0.2.9", 4444), "192.0.2.9:4444")
        output = self.server.stdout()
        self.assertEqual(
            [line for line in output.splitlines() if line.startswith("forged")], []
        )
        self.assertNotIn("\x1b", output)

    def test_noHeaderClosed(self) -> None:
        """A client that sends no header is closed about 10 s later, with
        a log line."""
        sock = connect(self, self.address)
        started = time.monotonic()
        peer = sockName(sock)
        self.assertEqual(receiveUntilClosed(sock, timeout=15.0), b"")
        self.assertGreaterEqual(time.monotonic() - started, 9.5)
        waitForText(self.server, f"] {peer}: no PROXY header within 10s; closing")
