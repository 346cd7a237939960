"""
End-to-end tests of every endpoint kind and built-in protocol, against a
real twistd sockplug process, with Python sockets and real clients.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from typing import TYPE_CHECKING

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.harness import (
    IO_TIMEOUT,
    Address,
    Server,
    connect,
    datagramSocket,
    exchangeDatagram,
    receive,
    receiveLine,
    runClient,
    sendAndReceiveToEnd,
    socketPath,
    sockName,
)

TCP = "tcp:0:interface=127.0.0.1"
TCP6 = "tcp6:0:interface=\\:\\:1"
UDP = "udp:0:interface=127.0.0.1"
UDP6 = "udp:0:interface=\\:\\:1"
ALL_BYTES = bytes(range(256))

if TYPE_CHECKING:
    _Base = SynchronousTestCase
else:
    _Base = object


class _EchoMixin(_Base):
    """
    Starts an echo server on C{self.endpoint()}.
    """

    def endpoint(self) -> str:
        raise NotImplementedError()

    def setUp(self) -> None:
        self.description = self.endpoint()
        self.server = Server.start(self, "--endpoint", self.description)
        self.address: Address = self.server.addresses[self.description]


class _StreamEchoMixin(_EchoMixin):
    def test_allByteValues(self) -> None:
        """Every byte value comes back unchanged, in order."""
        sock = connect(self, self.address)
        sock.sendall(ALL_BYTES * 4)
        received = receive(sock, lambda data: len(data) >= len(ALL_BYTES) * 4)
        self.assertEqual(received, ALL_BYTES * 4)

    def test_largeTransfer(self) -> None:
        """Two megabytes sent while reading come back unchanged, then the
        server closes after the client ends its side."""
        payload = ALL_BYTES * (2 * 1024 * 1024 // 256)
        sock = connect(self, self.address)
        received = sendAndReceiveToEnd(sock, payload)
        self.assertEqual(len(received), len(payload))
        self.assertEqual(received, payload)


class TCPEchoTests(_StreamEchoMixin, SynchronousTestCase):
    """
    echo on TCP over IPv4.
    """

    def endpoint(self) -> str:
        return TCP


class TCP6EchoTests(_StreamEchoMixin, SynchronousTestCase):
    """
    echo on TCP over IPv6 (::1).
    """

    def endpoint(self) -> str:
        return TCP6

    def test_listensOnIPv6Loopback(self) -> None:
        """The logged address is the IPv6 loopback address."""
        self.assertEqual(self.server.inet(TCP6)[0], "::1")


class UNIXEchoTests(_StreamEchoMixin, SynchronousTestCase):
    """
    echo on a UNIX stream socket.
    """

    def endpoint(self) -> str:
        return "unix:" + socketPath(self)


class _DatagramEchoMixin(_EchoMixin):
    def test_allByteValues(self) -> None:
        """A datagram of every byte value comes back unchanged."""
        self.assertEqual(exchangeDatagram(self, self.address, ALL_BYTES), ALL_BYTES)

    def test_largeDatagram(self) -> None:
        """A datagram far larger than Twisted's default 8192-byte read
        comes back whole."""
        datagram = ALL_BYTES * 234  # 59904 bytes
        self.assertEqual(exchangeDatagram(self, self.address, datagram), datagram)

    def test_datagramsStaySeparate(self) -> None:
        """Each datagram comes back as a datagram of its own."""
        sock = datagramSocket(self, self.address)
        sock.sendto(b"first", self.address)
        sock.sendto(b"second\n", self.address)
        self.assertEqual([sock.recv(100), sock.recv(100)], [b"first", b"second\n"])


class UDPEchoTests(_DatagramEchoMixin, SynchronousTestCase):
    """
    echo on UDP over IPv4.
    """

    def endpoint(self) -> str:
        return UDP


class UDP6EchoTests(_DatagramEchoMixin, SynchronousTestCase):
    """
    echo on UDP over IPv6 (::1).
    """

    def endpoint(self) -> str:
        return UDP6


# A link-local address the tests give the loopback interface for a while:
# the datagrams sent to it never leave this machine's "lo".
LOOPBACK_LINK_LOCAL = "fe80::5:1"


def loopbackLinkLocal(testCase: SynchronousTestCase) -> str:
    """
    A link-local IPv6 address with its scope on the loopback interface
    (C{fe80::5:1%lo}), added for the test and removed after it; the test is
    skipped where it cannot be added (not root, no C{ip}).
    """
    if os.geteuid() != 0 or shutil.which("ip") is None:
        raise SkipTest("adding a link-local address to lo needs root and ip")
    command = ["ip", "-6", "addr", "add", f"{LOOPBACK_LINK_LOCAL}/64", "dev", "lo"]
    added = subprocess.run(
        [*command, "nodad"], capture_output=True, text=True, check=False
    )
    if added.returncode != 0:
        raise SkipTest(f"cannot add a link-local address to lo: {added.stderr}")
    testCase.addCleanup(
        subprocess.run,
        ["ip", "-6", "addr", "del", f"{LOOPBACK_LINK_LOCAL}/64", "dev", "lo"],
        check=False,
    )
    return f"{LOOPBACK_LINK_LOCAL}%lo"


class ScopedAddressTests(SynchronousTestCase):
    """
    A link-local IPv6 address with its scope (C{fe80::1%eth0}) can be
    listened on over UDP, as over TCP. The address is one the test gives
    the loopback interface: the datagrams stay on C{lo}.
    """

    def test_udpScoped(self) -> None:
        """
        echo listens on C{udp:0:interface=fe80\\:\\:...%IF} and answers
        there (the bind failed: Twisted's UDP port drops the scope).
        """
        address = loopbackLinkLocal(self)
        description = "udp:0:interface=" + address.replace(":", "\\:")
        server = Server.start(self, "--endpoint", description)
        port = server.port(description)
        [(_, _, _, _, target)] = socket.getaddrinfo(
            address, port, socket.AF_INET6, socket.SOCK_DGRAM, 0, socket.AI_NUMERICHOST
        )
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.settimeout(IO_TIMEOUT)
        sock.sendto(b"scoped\n", target)
        self.assertEqual(sock.recv(100), b"scoped\n")


class UNIXDatagramEchoTests(_DatagramEchoMixin, SynchronousTestCase):
    """
    echo on a UNIX datagram socket.
    """

    def endpoint(self) -> str:
        return "unixgram:" + socketPath(self)


class HelloTests(SynchronousTestCase):
    """
    The hello protocol on TCP and UDP.
    """

    def test_streamGreeting(self) -> None:
        """A TCP client is greeted by its own address first."""
        server = Server.start(self, "--endpoint", "hello@" + TCP)
        sock = connect(self, server.inet(TCP))
        self.assertEqual(
            receiveLine(sock),
            f"Hello, {sockName(sock)}! Send me your name, one per line.\r\n".encode(),
        )

    def test_streamIPv6Greeting(self) -> None:
        """An IPv6 client's greeting shows its address in brackets."""
        server = Server.start(self, "--endpoint", "hello@" + TCP6)
        sock = connect(self, server.inet(TCP6))
        greeting = receiveLine(sock)
        self.assertTrue(greeting.startswith(f"Hello, {sockName(sock)}!".encode()))
        self.assertIn(b"[::1]:", greeting)

    def test_streamAnswersKeepLineEndings(self) -> None:
        """Each line is answered with the line ending it was sent with."""
        server = Server.start(self, "--endpoint", "hello@" + TCP)
        sock = connect(self, server.inet(TCP))
        receiveLine(sock)
        sock.sendall(b"Alice\nBob\r\n")
        expected = b"Hello, Alice!\nHello, Bob!\r\n"
        self.assertEqual(receive(sock, lambda d: len(d) >= len(expected)), expected)

    def test_datagramAnswer(self) -> None:
        """A UDP datagram NAME is answered Hello, NAME! with its line ending."""
        server = Server.start(self, "--endpoint", "hello@" + UDP)
        address = server.inet(UDP)
        self.assertEqual(
            [
                exchangeDatagram(self, address, b"Alice\n"),
                exchangeDatagram(self, address, b"Bob\r\n"),
                exchangeDatagram(self, address, b"Carol"),
            ],
            [b"Hello, Alice!\n", b"Hello, Bob!\r\n", b"Hello, Carol!"],
        )


# (sent, printed) pairs: each line as line-print must show it.
ESCAPES = [
    (b"plain text", "plain text"),
    (b"tab\there", "tab\\x09here"),
    (b"back\\slash", "back\\\\slash"),
    (b"bad \xff\xfe bytes", "bad \\xff\\xfe bytes"),
    (b"caf\xc3\xa9", "caf\u00e9"),
    (b"esc \x1b[31m red", "esc \\x1b[31m red"),
    (b"nul\x00 del\x7f", "nul\\x00 del\\x7f"),
    (b"cr\rinside", "cr\\x0dinside"),
    (b"rlo \xe2\x80\xae x", "rlo \\u202e x"),
    (b"crlf line\r", "crlf line"),
]


class LinePrintTests(SynchronousTestCase):
    """
    The line-print protocol on every kind of endpoint it can serve.
    """

    def test_streamLinesEscaped(self) -> None:
        """Each TCP line is printed after the endpoint and peer, escaped."""
        server = Server.start(self, "--endpoint", "line-print@" + TCP)
        sock = connect(self, server.inet(TCP))
        sock.sendall(b"".join(sent + b"\n" for sent, _ in ESCAPES))
        prefix = f"{TCP} {sockName(sock)}: "
        server.waitForLine(prefix + ESCAPES[-1][1])
        self.assertEqual(
            server.linesStartingWith(prefix), [prefix + shown for _, shown in ESCAPES]
        )

    def test_unterminatedLastLine(self) -> None:
        """A last line without LF is printed when the client disconnects."""
        server = Server.start(self, "--endpoint", "line-print@" + TCP)
        sock = connect(self, server.inet(TCP))
        prefix = f"{TCP} {sockName(sock)}: "
        sock.sendall(b"complete\nunterminated")
        server.waitForLine(prefix + "complete")
        self.assertEqual(server.linesStartingWith(prefix), [prefix + "complete"])
        sock.close()
        server.waitForLine(prefix + "unterminated")
        self.assertEqual(
            server.linesStartingWith(prefix),
            [prefix + "complete", prefix + "unterminated"],
        )

    def test_unixStreamPeerUnbound(self) -> None:
        """A UNIX stream client, which has no address, is shown (unbound)."""
        endpoint = "unix:" + socketPath(self)
        server = Server.start(self, "--endpoint", "line-print@" + endpoint)
        sock = connect(self, server.path(endpoint))
        sock.sendall(b"over unix\n")
        server.waitForLine(f"{endpoint} (unbound): over unix")

    def test_udpEachLineOfDatagram(self) -> None:
        """Each line of a UDP datagram is printed with the sender's address."""
        server = Server.start(self, "--endpoint", "line-print@" + UDP)
        address = server.inet(UDP)
        sock = datagramSocket(self, address)
        sock.sendto(b"one\ntwo\r\nthree \xff", address)
        prefix = f"{UDP} {sockName(sock)}: "
        server.waitForLine(prefix + "three \\xff")
        self.assertEqual(
            server.linesStartingWith(prefix),
            [prefix + "one", prefix + "two", prefix + "three \\xff"],
        )

    def test_unixgramBoundSender(self) -> None:
        """A bound UNIX datagram sender is shown by its path."""
        endpoint = "unixgram:" + socketPath(self)
        server = Server.start(self, "--endpoint", "line-print@" + endpoint)
        address = server.path(endpoint)
        sock = datagramSocket(self, address)
        sock.sendto(b"from a path\n", address)
        server.waitForLine(f"{endpoint} {sockName(sock)}: from a path")

    def test_unixgramUnboundSender(self) -> None:
        """An unbound UNIX datagram sender is shown (unbound)."""
        endpoint = "unixgram:" + socketPath(self)
        server = Server.start(self, "--endpoint", "line-print@" + endpoint)
        address = server.path(endpoint)
        sock = datagramSocket(self, address, bind=False)
        sock.sendto(b"anonymous", address)
        server.waitForLine(f"{endpoint} (unbound): anonymous")


class MultipleListenersTests(SynchronousTestCase):
    """
    One process serving the README's mix of listeners, each its own protocol.
    """

    def setUp(self) -> None:
        self.unixgram = "unixgram:" + socketPath(self)
        self.server = Server.start(
            self,
            *("--endpoint", "hello@" + TCP),
            *("--endpoint", "echo@" + UDP),
            *("--endpoint", "line-print@" + self.unixgram),
            *("--endpoint", "echo@" + TCP6),
        )

    def test_helloOnTCP(self) -> None:
        """The TCP listener greets, as hello does."""
        sock = connect(self, self.server.inet(TCP))
        self.assertTrue(receiveLine(sock).startswith(b"Hello, 127.0.0.1:"))

    def test_echoOnUDP(self) -> None:
        """The UDP listener echoes, as echo does."""
        address = self.server.inet(UDP)
        self.assertEqual(exchangeDatagram(self, address, b"ping\n"), b"ping\n")

    def test_linePrintOnUnixgram(self) -> None:
        """The UNIX datagram listener prints, as line-print does."""
        address = self.server.path(self.unixgram)
        datagramSocket(self, address, bind=False).sendto(b"printed\n", address)
        self.server.waitForLine(f"{self.unixgram} (unbound): printed")

    def test_echoOnTCP6(self) -> None:
        """The IPv6 TCP listener echoes, as echo does."""
        sock = connect(self, self.server.inet(TCP6))
        sock.sendall(b"ping6\n")
        self.assertEqual(receiveLine(sock), b"ping6\n")


class ThirdPartyClientTests(SynchronousTestCase):
    """
    Real clients, nc (netcat-openbsd) and socat, against a real server.
    """

    def setUp(self) -> None:
        self.unix = "unix:" + socketPath(self, "stream.sock")
        self.unixgram = "unixgram:" + socketPath(self, "dgram.sock")
        self.server = Server.start(
            self,
            *("--endpoint", "echo@" + TCP),
            *("--endpoint", "hello@" + TCP6),
            *("--endpoint", "echo@" + self.unix),
            *("--endpoint", "echo@" + UDP),
            *("--endpoint", "line-print@" + self.unixgram),
        )

    def test_ncHalfClose(self) -> None:
        """nc -q1 gets the whole echo although it ends its sending side first."""
        payload = b"".join(b"line %d\n" % i for i in range(1000))
        result = runClient(
            ["nc", "-q1", "127.0.0.1", str(self.server.port(TCP))], payload
        )
        self.assertEqual((result.returncode, result.stdout), (0, payload))

    def test_ncHelloOverIPv6(self) -> None:
        """nc -N over ::1 gets the greeting and the answer, then the end."""
        result = runClient(["nc", "-N", "::1", str(self.server.port(TCP6))], b"nc\n")
        self.assertEqual(result.returncode, 0)
        greeting, answer = result.stdout.split(b"\r\n", 1)
        self.assertTrue(greeting.startswith(b"Hello, [::1]:"), greeting)
        self.assertEqual(answer, b"Hello, nc!\n")

    def test_ncUnix(self) -> None:
        """nc -U gets the echo from a UNIX stream socket."""
        result = runClient(
            ["nc", "-N", "-U", self.server.path(self.unix)], ALL_BYTES + b"\n"
        )
        self.assertEqual((result.returncode, result.stdout), (0, ALL_BYTES + b"\n"))

    def test_socatUDP(self) -> None:
        """socat gets a UDP datagram echoed."""
        result = runClient(
            ["socat", "-t1", "-", f"UDP:127.0.0.1:{self.server.port(UDP)}"],
            b"socat datagram\n",
        )
        self.assertEqual((result.returncode, result.stdout), (0, b"socat datagram\n"))

    def test_socatUnixConnect(self) -> None:
        """socat gets the echo from a UNIX stream socket."""
        result = runClient(
            ["socat", "-", f"UNIX-CONNECT:{self.server.path(self.unix)}"],
            b"socat stream\n",
        )
        self.assertEqual((result.returncode, result.stdout), (0, b"socat stream\n"))

    def test_socatUnixSendto(self) -> None:
        """Lines socat sends as a UNIX datagram are printed, sender (unbound)."""
        result = runClient(
            ["socat", "-t0.1", "-", f"UNIX-SENDTO:{self.server.path(self.unixgram)}"],
            b"first\tline\nsecond\n",
        )
        self.assertEqual(result.returncode, 0)
        prefix = f"{self.unixgram} (unbound): "
        self.server.waitForLine(prefix + "second")
        self.assertEqual(
            self.server.linesStartingWith(prefix),
            [prefix + "first\\x09line", prefix + "second"],
        )
