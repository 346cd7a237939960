"""
Helpers shared by the end-to-end tests of defences against abuse
(C{tests/test_abuse_*_e2e}): the server's log, its counts of what it
stopped, and UDP sockets that expect nothing back.
"""

from __future__ import annotations

import re
import select
import socket

from twisted.trial.unittest import SynchronousTestCase

from tests.harness import IO_TIMEOUT, Server, sockName

UDP = "udp:0:interface=127.0.0.1"
TCP = "tcp:0:interface=127.0.0.1"
# How long to look for a datagram that must not come, once a later reply
# from the same server socket has shown that the server got that far.
QUIET = 0.2


def waitForText(server: Server, text: str, timeout: float = IO_TIMEOUT) -> str:
    """
    Wait until a line of the server's standard output ends with C{text};
    return that line.
    """
    return server.waitForLineMatching(
        lambda line: line.endswith(text), timeout, f"ending {text!r}"
    )


def stoppedCounts(
    testCase: SynchronousTestCase, server: Server, endpoint: str
) -> tuple[int, int, int, int]:
    """
    Stop the server, and return what its datagram listener on C{endpoint}
    logged when it stopped: datagrams and bytes in, datagrams and bytes out.
    """
    server.stop()
    pattern = re.compile(
        rf"\] {re.escape(endpoint)} stopped: (\d+) datagrams \((\d+) bytes\) in,"
        r" (\d+) datagrams \((\d+) bytes\) out$"
    )
    for line in server.stdout().splitlines():
        match = pattern.search(line)
        if match is not None:
            return (
                int(match[1]),
                int(match[2]),
                int(match[3]),
                int(match[4]),
            )
    raise testCase.failureException(
        f"no 'stopped' line for {endpoint} in:\n{server.output()}"
    )


def udpSocket(
    testCase: SynchronousTestCase, host: str = "127.0.0.1", port: int = 0
) -> socket.socket:
    """A UDP socket bound to C{host}:C{port}, closed when the test ends."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    testCase.addCleanup(sock.close)
    sock.settimeout(IO_TIMEOUT)
    sock.bind((host, port))
    return sock


def portOf(sock: socket.socket) -> int:
    """The port a socket is bound to."""
    port: int = sock.getsockname()[1]
    return port


def assertNothingReceived(testCase: SynchronousTestCase, *socks: socket.socket) -> None:
    """No datagram is waiting on any of C{socks}, nor comes within L{QUIET}."""
    readable, _, _ = select.select(list(socks), [], [], QUIET)
    testCase.assertEqual(
        [(sockName(s), s.recv(1 << 17)) for s in readable],
        [],
        "a reply came that should have been dropped",
    )
