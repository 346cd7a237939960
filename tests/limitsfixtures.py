"""
Helpers shared by the end-to-end tests of a listener's limits
(C{tests/test_limits_*_e2e}): the server's log lines, and clients that
exchange a line, or find their connection closed at once or refused.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable

from twisted.trial.unittest import SynchronousTestCase

from tests.harness import Server, receive, sockName

TCP = "tcp:0:interface=127.0.0.1"

# The text of a log line: what follows "<timestamp> [<namespace>#<level>] ".
_LOG_LINE = re.compile(r"^\S+ \[[^\]]+\] (?P<text>.*)$")


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
