"""
Helpers for the end-to-end tests of the configuration file and live
reload: a twistd sockplug process serving a file the test rewrites, and
small clients.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Sequence
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from tests.harness import (
    IO_TIMEOUT,
    POLL_INTERVAL,
    START_TIMEOUT,
    Server,
    connect,
    receiveLine,
    sockName,
    temporaryDirectory,
)

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover - Python 3.10
    pass


SOCKPLUG = os.path.join(os.path.dirname(sys.executable), "sockplug")
CONTRIB = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "contrib",
    "sockplug.toml",
)

# What a reload ends with, as the log says it: done, or failed.
_OUTCOME = re.compile(
    r"\[sockplug\.server\._reload#\w+\] (reload (?:done|failed)\b.*)$", re.MULTILINE
)
# How long a client of an unchanged listener keeps talking, at most.
TALK_LIMIT = 30.0
# Exchanges the client of an unchanged listener makes before the first
# SIGHUP and after the last one.
TALK_MARGIN = 20


def tcp(host: str = "127.0.0.1", port: int = 0) -> str:
    """A TCP endpoint string on a loopback address."""
    return f"tcp:{port}:interface={host}"


def udp(host: str = "127.0.0.1", port: int = 0) -> str:
    """A UDP endpoint string on a loopback address."""
    return f"udp:{port}:interface={host}"


def freePort(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A port of 127.0.0.1 that nothing is bound to now."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def listener(name: str, endpoint: str, protocol: str = "echo", **keys: Any) -> str:
    """The C{[listeners.NAME]} table of a configuration file."""
    lines = [
        f"[listeners.{name}]",
        f"endpoint = {json.dumps(endpoint)}",
        f"protocol = {json.dumps(protocol)}",
    ]
    lines += [f"{key} = {json.dumps(value)}" for key, value in keys.items()]
    return "\n".join(lines) + "\n\n"


def writeFile(testCase: SynchronousTestCase, name: str, text: str) -> str:
    """Write C{text} to a new file in a temporary folder; return its path."""
    path = os.path.join(temporaryDirectory(testCase), name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def catchesSignal(pid: int, signum: int) -> bool:
    """Whether process C{pid} has a handler for signal C{signum} (from /proc)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


def listeningSocket(pid: int, protocol: str, port: int) -> str:
    """
    The inode of the socket of process C{pid} that listens (TCP) or is bound
    (UDP) on C{port}, from /proc.
    """
    owned = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        if link.startswith("socket:["):
            owned.add(link[len("socket:[") : -1])
    found = []
    for table in (protocol, protocol + "6"):
        with open(f"/proc/net/{table}") as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                local, state, inode = fields[1], fields[3], fields[9]
                listening = protocol == "udp" or state == "0A"
                ours = listening and inode in owned
                if ours and int(local.rsplit(":", 1)[1], 16) == port:
                    found.append(inode)
    assert len(found) == 1, f"{protocol} port {port}: sockets {found}"
    return found[0]


class ConfiguredServer:
    """
    A C{twistd -n sockplug --config FILE} process; the test rewrites the
    file and applies it with SIGHUP.

    @ivar server: the process.
    @ivar path: the configuration file.
    """

    def __init__(
        self,
        testCase: SynchronousTestCase,
        config: str,
        *endpoints: str,
        args: Sequence[str] = (),
        twistd: Sequence[str] = (),
    ) -> None:
        """
        Start serving C{config}; wait until each of C{endpoints} (those of
        the file's listeners, as written there) is listening, and SIGHUP is
        caught.

        @param twistd: more of twistd's own options.
        """
        self._testCase = testCase
        self.path = writeFile(testCase, "sockplug.toml", config)
        self.server = Server(testCase, "--config", self.path, *args, twistd=twistd)
        self.server.endpoints.extend(endpoints)
        self.server.waitUntilListening()
        self._waitForHangUpHandler()

    def _fail(self, message: str) -> AssertionError:
        return self._testCase.failureException(
            f"{message}\n--- twistd output ---\n{self.server.output()}"
        )

    def _waitForHangUpHandler(self) -> None:
        # A SIGHUP before the reloader has started would end the process.
        deadline = time.monotonic() + START_TIMEOUT
        while not catchesSignal(self.server.process.pid, signal.SIGHUP):
            if self.server.process.poll() is not None or time.monotonic() > deadline:
                raise self._fail("SIGHUP is not caught")
            time.sleep(POLL_INTERVAL)

    def write(self, config: str) -> None:
        """Replace the configuration file's text."""
        with open(self.path, "w", encoding="utf-8") as f:
            f.write(config)

    def outcomes(self) -> list[str]:
        """The lines saying how each reload so far ended."""
        return _OUTCOME.findall(self.server.stdout())

    def reload(self, config: str | None = None) -> str:
        """
        Write C{config} (if given) to the file, send SIGHUP, and wait for
        the line saying how the reload ended; return it (from C{reload}).
        """
        if config is not None:
            self.write(config)
        before = len(self.outcomes())
        self.server.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + IO_TIMEOUT
        while True:
            outcomes = self.outcomes()
            if len(outcomes) > before:
                return outcomes[before]
            if self.server.process.poll() is not None or time.monotonic() > deadline:
                raise self._fail("no end of the reload logged")
            time.sleep(POLL_INTERVAL)

    def reloaded(self, config: str, *endpoints: str) -> str:
        """
        Apply C{config}, which must succeed, and wait until each of
        C{endpoints} is listening; return what the log says was done.
        """
        line = self.reload(config)
        if not line.startswith("reload done: "):
            raise self._fail(f"the reload did not succeed: {line}")
        self.server.endpoints.extend(endpoints)
        self.server.waitUntilListening()
        return line[len("reload done: ") :]

    def inet(self, endpoint: str) -> tuple[str, int]:
        """The (host, port) an IP endpoint of the file listens on (last)."""
        return self.server.inet(endpoint)

    def socketOf(self, endpoint: str) -> str:
        """The inode of the listening socket of a TCP or UDP endpoint."""
        protocol = "udp" if endpoint.startswith("udp") else "tcp"
        return listeningSocket(
            self.server.process.pid, protocol, self.inet(endpoint)[1]
        )


def assertEchoes(
    testCase: SynchronousTestCase, sock: socket.socket, line: bytes = b"ping\n"
) -> None:
    """C{line} sent on C{sock} comes back."""
    sock.sendall(line)
    testCase.assertEqual(receiveLine(sock), line)


def openEcho(testCase: SynchronousTestCase, address: tuple[str, int]) -> socket.socket:
    """A connection to an echo listener, known to be served."""
    sock = connect(testCase, address)
    assertEchoes(testCase, sock, b"before\n")
    return sock


def assertRefused(testCase: SynchronousTestCase, address: tuple[str, int]) -> None:
    """A TCP connection to C{address} is refused."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    testCase.addCleanup(probe.close)
    probe.settimeout(IO_TIMEOUT)
    testCase.assertRaises(ConnectionRefusedError, probe.connect, address)


def greeting(text: str, sock: socket.socket) -> bytes:
    """The greeting C{text} as hello sends it to C{sock}."""
    return text.format(peer=sockName(sock)).encode() + b"\r\n"
