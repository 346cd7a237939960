"""
Helpers for the end-to-end tests: a real twistd sockplug process, and
blocking clients that never wait without a bound.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from twisted.trial.unittest import SkipTest, SynchronousTestCase

TWISTD = os.path.join(os.path.dirname(sys.executable), "twistd")
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
IO_TIMEOUT = 10.0
POLL_INTERVAL = 0.02

# An address as sockplug logs it: (host, port) for IP, a path for UNIX.
Address: TypeAlias = "tuple[str, int] | str"

_LISTENING = re.compile(
    r"\[sockplug\.server\._service#info\] (?P<protocol>\S+) listening on"
    r" (?P<endpoint>.*) \((?P<address>[^()]*)\)$",
    re.MULTILINE,
)


# The servers under test inherit SIGINT's disposition from this process:
# a test run started as a background job ignores SIGINT, and so would every
# twistd it starts, whose Ctrl-C is under test. A handler (unlike "ignore")
# is not passed on through exec, so the servers get SIGINT's default, as a
# terminal's foreground job has it.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def temporaryDirectory(testCase: SynchronousTestCase) -> str:
    """A new, short-named temporary folder, removed when the test ends."""
    path = tempfile.mkdtemp(prefix="sockplug-e2e-")
    testCase.addCleanup(shutil.rmtree, path, True)
    return path


def socketPath(testCase: SynchronousTestCase, name: str = "test.sock") -> str:
    """
    A path for a UNIX socket in a new temporary folder (short enough for
    the 108-byte limit on socket paths).
    """
    return os.path.join(temporaryDirectory(testCase), name)


def endpointsOf(args: Sequence[str]) -> list[str]:
    """
    The endpoint strings (without C{NAME@}) of the C{--endpoint} options
    among C{args}.
    """
    values = []
    remaining = iter(args)
    for arg in remaining:
        if arg in ("--endpoint", "-e"):
            values.append(next(remaining))
        elif arg.startswith("--endpoint="):
            values.append(arg.partition("=")[2])
    endpoints = []
    for value in values:
        head, colon, rest = value.partition(":")
        _, at, kind = head.partition("@")
        endpoints.append((kind if at else head) + colon + rest)
    return endpoints


def parseAddress(text: str) -> Address:
    """
    Parse an address as sockplug logs it: C{127.0.0.1:1234}, C{[::1]:1234}
    or a path.
    """
    match = re.fullmatch(r"\[(.+)\]:(\d+)", text) or re.fullmatch(
        r"(\d+\.\d+\.\d+\.\d+):(\d+)", text
    )
    if match is None:
        return text
    return match.group(1), int(match.group(2))


@dataclass(frozen=True)
class Result:
    """How a twistd run that ended by itself ended."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """Standard output, then standard error."""
        return self.stdout + self.stderr


def _command(
    args: Sequence[str], prefix: Sequence[str], twistd: Sequence[str] = ()
) -> list[str]:
    return [*prefix, TWISTD, "-n", "--pidfile=", *twistd, "sockplug", *args]


def _read(path: str) -> str:
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def runTwistd(
    testCase: SynchronousTestCase,
    *args: str,
    env: Mapping[str, str] | None = None,
    prefix: Sequence[str] = (),
    cwd: str | None = None,
    timeout: float = START_TIMEOUT,
) -> Result:
    """
    Run C{twistd -n sockplug ARGS} to its end, which must come within
    C{timeout} seconds (a command-line error, a failure to listen, --help).
    """
    completed = subprocess.run(
        _command(args, prefix),
        cwd=cwd or temporaryDirectory(testCase),
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return Result(
        completed.returncode,
        completed.stdout.decode("utf-8", "replace"),
        completed.stderr.decode("utf-8", "replace"),
    )


class Server:
    """
    A running C{twistd -n sockplug} process, killed when the test ends.

    @ivar addresses: the address each endpoint string is listening on.
    """

    def __init__(
        self,
        testCase: SynchronousTestCase,
        *args: str,
        env: Mapping[str, str] | None = None,
        prefix: Sequence[str] = (),
        twistd: Sequence[str] = (),
    ) -> None:
        """
        @param prefix: what the command starts with, before twistd
            (C{prlimit --nofile=64:64}, say).
        @param twistd: more of twistd's own options (C{--uid=nobody}, say).
        """
        self._testCase = testCase
        self.endpoints = endpointsOf(args)
        self.directory = temporaryDirectory(testCase)
        self._stdout = os.path.join(self.directory, "stdout")
        self._stderr = os.path.join(self.directory, "stderr")
        self.addresses: dict[str, Address] = {}
        with open(self._stdout, "wb") as out, open(self._stderr, "wb") as err:
            self.process = subprocess.Popen(
                _command(args, prefix, twistd),
                cwd=self.directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        testCase.addCleanup(self.kill)

    @classmethod
    def start(
        cls,
        testCase: SynchronousTestCase,
        *args: str,
        env: Mapping[str, str] | None = None,
        prefix: Sequence[str] = (),
    ) -> Server:
        """Start a server and wait until every endpoint is listening."""
        server = cls(testCase, *args, env=env, prefix=prefix)
        server.waitUntilListening()
        return server

    def _fail(self, message: str) -> AssertionError:
        return self._testCase.failureException(
            f"{message}\n--- twistd output ---\n{self.output()}"
        )

    def waitUntilListening(self, timeout: float = START_TIMEOUT) -> None:
        """
        Wait until a "listening on" line has been logged for every
        endpoint, and note their addresses.
        """
        deadline = time.monotonic() + timeout
        while True:
            for match in _LISTENING.finditer(self.stdout()):
                self.addresses[match["endpoint"]] = parseAddress(match["address"])
            if all(endpoint in self.addresses for endpoint in self.endpoints):
                return
            if self.process.poll() is not None:
                raise self._fail(f"twistd exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                raise self._fail(f"not listening on all of {self.endpoints}")
            time.sleep(POLL_INTERVAL)

    def inet(self, endpoint: str) -> tuple[str, int]:
        """The (host, port) an IP endpoint listens on."""
        address = self.addresses[endpoint]
        assert not isinstance(address, str), address
        return address

    def port(self, endpoint: str) -> int:
        """The port number an IP endpoint listens on."""
        return self.inet(endpoint)[1]

    def path(self, endpoint: str) -> str:
        """The path a UNIX endpoint listens on."""
        address = self.addresses[endpoint]
        assert isinstance(address, str), address
        return address

    def stdout(self) -> str:
        """Everything written to standard output so far (log and line-print)."""
        return _read(self._stdout)

    def stderr(self) -> str:
        """Everything written to standard error so far."""
        return _read(self._stderr)

    def output(self) -> str:
        """Standard output, then standard error."""
        return self.stdout() + self.stderr()

    def waitForLine(self, line: str, timeout: float = IO_TIMEOUT) -> None:
        """Wait until C{line} is one of the lines of standard output."""
        self.waitForLineMatching(lambda found: found == line, timeout, repr(line))

    def waitForLineMatching(
        self,
        matches: Callable[[str], bool],
        timeout: float = IO_TIMEOUT,
        what: str = "such",
    ) -> str:
        """
        Wait until a line of standard output C{matches}; return it. Fail
        after C{timeout} seconds, or if the server exits, naming the line
        as C{what}.
        """
        deadline = time.monotonic() + timeout
        while True:
            for line in self.stdout().splitlines():
                if matches(line):
                    return line
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise self._fail(f"no {what} line in the output within {timeout}s")
            time.sleep(POLL_INTERVAL)

    def linesStartingWith(self, prefix: str) -> list[str]:
        """The lines of standard output so far that start with C{prefix}."""
        return [line for line in self.stdout().splitlines() if line.startswith(prefix)]

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """Send SIGTERM and wait for the process to end; return its status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise self._fail(f"still running {timeout}s after SIGTERM") from None

    def rss(self) -> int:
        """The process's resident memory now, in bytes (from /proc)."""
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise self._fail("no VmRSS in /proc/PID/status")

    def openFiles(self) -> int:
        """How many file descriptors the process has open now."""
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def kill(self) -> int:
        """Kill the process with SIGKILL unless it has ended; return its status."""
        if self.process.poll() is None:
            self.process.kill()
        return self.process.wait(STOP_TIMEOUT)


def _family(address: Address) -> socket.AddressFamily:
    if isinstance(address, str):
        return socket.AF_UNIX
    return socket.AF_INET6 if ":" in address[0] else socket.AF_INET


def connect(
    testCase: SynchronousTestCase, address: Address, timeout: float = IO_TIMEOUT
) -> socket.socket:
    """A stream socket connected to C{address}, closed when the test ends."""
    sock = socket.socket(_family(address), socket.SOCK_STREAM)
    testCase.addCleanup(sock.close)
    sock.settimeout(timeout)
    sock.connect(address)
    return sock


def connectFrom(
    testCase: SynchronousTestCase, address: Address, source: str
) -> socket.socket:
    """A TCP socket bound to C{source}, connected to C{address}."""
    sock = socket.socket(_family(address), socket.SOCK_STREAM)
    testCase.addCleanup(sock.close)
    sock.settimeout(IO_TIMEOUT)
    sock.bind((source, 0))
    sock.connect(address)
    return sock


def receiveUntilClosed(sock: socket.socket, timeout: float = IO_TIMEOUT) -> bytes:
    """
    What arrives until the peer closes or resets the connection; raise
    L{TimeoutError} if it does neither within C{timeout} seconds.
    """
    return receive(sock, None, timeout, resetEnds=True)


def receive(
    sock: socket.socket,
    until: Callable[[bytes], bool] | None = None,
    timeout: float = IO_TIMEOUT,
    resetEnds: bool = False,
) -> bytes:
    """
    Read from a stream until C{until(data)} is true, or, without C{until},
    until the peer closes (or resets the connection, with C{resetEnds});
    raise L{TimeoutError} after C{timeout} seconds.
    """
    data = b""
    deadline = time.monotonic() + timeout
    while until is None or not until(data):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"after {len(data)} bytes: {data[-200:]!r}")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            if not resetEnds:
                raise
            break
        if not chunk:
            break
        data += chunk
    return data


def fillUntilStalled(testCase: SynchronousTestCase, sock: socket.socket) -> None:
    """
    Send on C{sock} until nothing more can be sent: the server has stopped
    reading, as its queue towards a client that reads nothing is full (so
    the connection cannot close gently either).
    """
    sock.setblocking(False)
    chunk = b"x" * 65536
    deadline = time.monotonic() + IO_TIMEOUT
    refusals = 0
    for _ in range(10_000):
        try:
            sock.send(chunk)
        except BlockingIOError:
            refusals += 1
            if refusals >= 5:
                return
            time.sleep(0.1)
        else:
            refusals = 0
        if time.monotonic() > deadline:
            break
    testCase.fail("the server never stopped reading from a client that reads nothing")


def receiveLine(sock: socket.socket, timeout: float = IO_TIMEOUT) -> bytes:
    """Read until an LF has been received."""
    return receive(sock, lambda data: b"\n" in data, timeout)


def sendAndReceiveToEnd(
    sock: socket.socket, payload: bytes, timeout: float = 30.0
) -> bytes:
    """
    Send C{payload} from a thread, then end the sending side; meanwhile read
    until the peer closes, so that neither side blocks the other.
    """
    errors: list[BaseException] = []

    def send() -> None:
        try:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
        except BaseException as e:
            errors.append(e)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        received = receive(sock, None, timeout)
    finally:
        sender.join(timeout)
    if errors:
        raise errors[0]
    assert not sender.is_alive(), "the sender is still sending"
    return received


def datagramSocket(
    testCase: SynchronousTestCase,
    address: Address,
    bind: bool = True,
    timeout: float = IO_TIMEOUT,
) -> socket.socket:
    """
    A datagram socket to talk to C{address}. For UNIX, a bound one has a
    path of its own in a temporary folder (so that a reply can reach it),
    removed when the test ends; an unbound one has none.
    """
    sock = socket.socket(_family(address), socket.SOCK_DGRAM)
    testCase.addCleanup(sock.close)
    sock.settimeout(timeout)
    if not isinstance(address, str):
        sock.bind((address[0], 0))
    elif bind:
        path = socketPath(testCase, "client.sock")
        sock.bind(path)
        testCase.addCleanup(_unlinkQuietly, path)
    return sock


def _unlinkQuietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def exchangeDatagram(
    testCase: SynchronousTestCase, address: Address, datagram: bytes
) -> bytes:
    """Send one datagram to C{address} and return the one that comes back."""
    sock = datagramSocket(testCase, address)
    sock.sendto(datagram, address)
    return sock.recv(1 << 17)


def sockName(sock: socket.socket) -> str:
    """A socket's own address, shown the way sockplug shows a peer."""
    name = sock.getsockname()
    if isinstance(name, str):
        return name or "(unbound)"
    host, port = name[0], name[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def runClient(
    argv: Sequence[str], data: bytes, timeout: float = IO_TIMEOUT
) -> subprocess.CompletedProcess[bytes]:
    """
    Run a client program with C{data} on its standard input; skip the test
    if the program is not installed.
    """
    if shutil.which(argv[0]) is None:
        raise SkipTest(f"{argv[0]} is not installed")
    return subprocess.run(
        list(argv), input=data, capture_output=True, timeout=timeout, check=False
    )
