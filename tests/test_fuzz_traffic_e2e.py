"""
Fuzz tests against a real twistd sockplug process: random bytes, random
datagrams, resets and half-closes at every built-in protocol on every kind
of endpoint leave the server serving well-behaved clients, with no
traceback in its log. The traffic comes from C{random.Random(SEED)}; a
failure names the seed, and C{SOCKPLUG_FUZZ_SEED=N} runs with another one.
"""

from __future__ import annotations

import contextlib
import os
import random
import selectors
import signal
import socket
import struct
import time
from collections.abc import Iterator

from twisted.trial.unittest import SynchronousTestCase

from tests.harness import (
    IO_TIMEOUT,
    POLL_INTERVAL,
    Address,
    Server,
    connect,
    datagramSocket,
    receiveLine,
    sockName,
    temporaryDirectory,
)

SEED = int(os.environ.get("SOCKPLUG_FUZZ_SEED", "20261121"))
PROTOCOLS = ("echo", "hello", "line-print")
MAX_LINE = 65536  # the default maxline=
MAX_UDP = 65507  # the largest UDP payload over IPv4
CONNECTIONS = 8  # per stream listener and test
DATAGRAMS = 40  # per datagram listener and test (within replyburst=200)
TRAFFIC_TIMEOUT = 20.0  # for one connection's traffic
# How a process ended by SIGTERM ends (see test_lifecycle_e2e.SignalTests).
SIGTERM_STATUSES = (-signal.SIGTERM, 128 + signal.SIGTERM)
INVALID_UTF8 = [
    *[b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xf8\x88\x80\x80\x80"],
    b"\xed\xa0\x80",  # a surrogate
    b"\xc0\xaf",  # an overlong /
    b"\xe2\x82",  # cut short
    b"\xf4\x90\x80\x80",  # past U+10FFFF
]
TERMINAL_TRICKS = [
    *[b"\x1b[2J", b"\x1b]0;title\x07", b"\x1b[31m", b"\r", b"\x08\x08", b"\x7f"],
    b"\xe2\x80\xae",  # RIGHT-TO-LEFT OVERRIDE
    b"\xe2\x80\xa8",  # LINE SEPARATOR
    b"\xc2\x85",  # NEXT LINE
]


class Target:
    """
    One listener of the server under test: its protocol, kind and endpoint.
    """

    def __init__(self, protocol: str, kind: str, endpoint: str) -> None:
        self.protocol = protocol
        self.kind = kind
        self.endpoint = endpoint

    @property
    def stream(self) -> bool:
        return self.kind in ("tcp", "unix")

    def __repr__(self) -> str:
        return f"{self.protocol}@{self.endpoint}"


def randomPayload(rng: random.Random) -> bytes:
    """
    Bytes a hostile or broken client might send: random bytes, bytes that
    are not UTF-8, control characters, NULs, terminal escapes, many short
    lines, and now and then a line longer than maxline= (or just as long).
    """
    pieces = []
    for _ in range(rng.randint(1, 10)):
        kind = rng.randrange(8)
        if rng.random() < 0.03:
            size = rng.choice([MAX_LINE - 1, MAX_LINE, MAX_LINE + 1, 200_000])
            pieces.append(b"L" * size + rng.choice([b"", b"\n", b"\r\n"]))
        elif kind == 0:
            pieces.append(rng.randbytes(rng.randint(0, 4096)))
        elif kind == 1:
            pieces.append(b"".join(rng.choices(INVALID_UTF8, k=rng.randint(1, 50))))
        elif kind == 2:
            pieces.append(bytes(rng.choices(range(32), k=rng.randint(1, 200))))
        elif kind == 3:
            pieces.append(b"\x00" * rng.randint(1, 3000))
        elif kind == 4:
            pieces.append(b"".join(rng.choices(TERMINAL_TRICKS, k=rng.randint(1, 30))))
        elif kind == 5:
            ending = rng.choice([b"\n", b"\r\n", b"\n\n", b"\r"])
            pieces.append(b"name" * rng.randint(0, 3) + ending)
        elif kind == 6:
            text = "".join(chr(rng.randint(0x20, 0x2FFF)) for _ in range(100))
            pieces.append(text.encode("utf-8", "surrogatepass"))
        else:
            pieces.append(b"\n" * rng.randint(1, 20))
    return b"".join(pieces)


def randomDatagram(rng: random.Random) -> bytes:
    """
    A random datagram, 0 to 65507 bytes, sizes at the edges of Twisted's
    reads and of UDP more likely.
    """
    size = rng.choice(
        [
            *(0, 1, rng.randint(2, 512), rng.randint(513, 8191), 8192, 8193),
            *(rng.randint(8194, MAX_UDP), MAX_UDP),
        ]
    )
    body = rng.choice(
        [
            lambda: rng.randbytes(size),
            lambda: (b"line\r\n\xff\x00" * (size // 8 + 1))[:size],
            lambda: b"\x00" * size,
        ]
    )()
    return body + rng.choice([b"", b"\n", b"\r\n"]) if size < MAX_UDP - 2 else body


def lineLength(line: bytes) -> int:
    """
    The length of a line (without its LF) as maxline= bounds it: a CR at
    its end is part of its end (CR LF), not of the line.
    """
    return len(line) - 1 if line.endswith(b"\r") else len(line)


def lines(payload: bytes) -> list[bytes]:
    """
    The lines a line protocol takes out of C{payload}, the unterminated
    last one included, up to (not including) the first that is longer than
    maxline=, if any.
    """
    split = payload.split(b"\n")
    if not split[-1]:
        split.pop()
    for index, line in enumerate(split):
        if lineLength(line) > MAX_LINE:
            return split[:index]
    return split


def overflows(payload: bytes) -> bool:
    """Whether C{payload} holds a line longer than maxline=."""
    return any(lineLength(line) > MAX_LINE for line in payload.split(b"\n"))


def helloAnswers(peer: str, payload: bytes) -> bytes:
    """
    What hello sends to a client at C{peer} that sends C{payload} and then
    ends its side: the greeting, and an answer to every complete line
    before the first one longer than maxline=.
    """
    greeting = f"Hello, {peer}! Send me your name, one per line.\r\n".encode()
    complete = payload.split(b"\n")[:-1]
    answers = []
    for line in complete:
        if lineLength(line) > MAX_LINE:
            break
        name = line.strip() or b"stranger"
        answers.append(
            b"Hello, " + name + b"!" + (b"\r\n" if line[-1:] == b"\r" else b"\n")
        )
    return greeting + b"".join(answers)


def helloDatagramAnswer(datagram: bytes) -> bytes:
    """What hello answers to a datagram."""
    ending = b""
    for end in (b"\r\n", b"\n"):
        if datagram.endswith(end):
            datagram, ending = datagram[: -len(end)], end
            break
    return b"Hello, " + (datagram.strip() or b"stranger") + b"!" + ending


class Exchange:
    """
    What happened on one connection.

    @ivar received: the bytes received.
    @ivar sentAll: whether the whole payload went out.
    @ivar ended: whether the server ended the connection (an end of stream
        or a reset).
    @ivar reset: whether it ended with a reset (or a broken pipe).
    """

    def __init__(self) -> None:
        self.received = bytearray()
        self.sentAll = False
        self.ended = False
        self.reset = False


def spray(sock: socket.socket, payload: bytes, deadline: float) -> Exchange:
    """
    Send C{payload}, reading (and keeping) whatever comes back meanwhile, so
    that neither side blocks the other; stop early if the server ends the
    connection.
    """
    exchange = Exchange()
    sock.setblocking(False)
    view = memoryview(payload)
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
        for _ in range(1_000_000):
            if not view:
                exchange.sentAll = True
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{len(view)} bytes still to send")
            for _key, events in selector.select(remaining):
                if events & selectors.EVENT_READ:
                    _read(sock, exchange)
                if exchange.ended:
                    return exchange
                if events & selectors.EVENT_WRITE:
                    try:
                        view = view[sock.send(view[:65536]) :]
                    except BlockingIOError:
                        pass
                    except (BrokenPipeError, ConnectionResetError):
                        exchange.ended = exchange.reset = True
                        return exchange
    return exchange


def _read(sock: socket.socket, exchange: Exchange) -> None:
    try:
        chunk = sock.recv(65536)
    except (BlockingIOError, TimeoutError):
        return
    except ConnectionResetError:
        exchange.ended = exchange.reset = True
        return
    if chunk:
        exchange.received += chunk
    else:
        exchange.ended = True


def readToEnd(sock: socket.socket, exchange: Exchange, deadline: float) -> None:
    """
    Read until the server ends the connection.
    """
    for _ in range(1_000_000):
        if exchange.ended:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(
                f"the server did not end the connection: {exchange.received[-100:]!r}"
            )
        sock.settimeout(remaining)
        _read(sock, exchange)


def reset(sock: socket.socket) -> None:
    """
    Close abruptly: a TCP connection ends with a reset (SO_LINGER 0); a
    UNIX one just closes.
    """
    if sock.family != socket.AF_UNIX:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def printedLines(server: Server, prefix: str) -> int:
    """
    How many lines of line-print output start with C{prefix} (lines split
    on LF alone: the escaped output holds no other line break).
    """
    return sum(1 for line in server.stdout().split("\n") if line.startswith(prefix))


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """
    Name the seed in any failure raised inside.
    """
    try:
        yield
    except Exception as e:
        raise AssertionError(
            f"{type(e).__name__}: {e}\n[fuzz seed {seed}: rerun with"
            f" SOCKPLUG_FUZZ_SEED={seed}]"
        ) from e


class RandomTrafficTests(SynchronousTestCase):
    """
    Every built-in protocol on TCP, UNIX, UDP and UNIX datagram listeners of
    one process, hit with random traffic, still serves well-behaved clients
    afterwards, and logs no traceback.
    """

    def setUp(self) -> None:
        folder = temporaryDirectory(self)
        self.listeners = []
        for index, protocol in enumerate(PROTOCOLS, start=1):
            host = f"127.0.0.{index}"
            self.listeners += [
                Target(protocol, "tcp", f"tcp:0:interface={host}"),
                Target(protocol, "unix", f"unix:{folder}/{protocol}.sock"),
                Target(protocol, "udp", f"udp:0:interface={host}"),
                Target(protocol, "unixgram", f"unixgram:{folder}/{protocol}.dgram"),
            ]
        args = []
        for listener in self.listeners:
            args += ["-e", f"{listener.protocol}@{listener.endpoint}"]
        self.server = Server.start(self, *args)
        self.rng = random.Random(SEED)

    def address(self, listener: Target) -> Address:
        return self.server.addresses[listener.endpoint]

    def streams(self) -> list[Target]:
        return [listener for listener in self.listeners if listener.stream]

    def datagrams(self) -> list[Target]:
        return [listener for listener in self.listeners if not listener.stream]

    def assertStillServing(self) -> None:
        """
        Every listener serves a well-behaved client; the log holds no
        traceback, before or after a clean stop.
        """
        self.assertIsNone(self.server.process.poll(), "the server died")
        for listener in self.listeners:
            if listener.stream:
                self.assertStreamServes(listener)
            else:
                self.assertDatagramServes(listener)
        self.assertCleanLog()
        self.assertIn(self.server.stop(), SIGTERM_STATUSES)
        self.assertCleanLog()

    def assertCleanLog(self) -> None:
        for output in (self.server.stdout(), self.server.stderr()):
            for bad in ("Unhandled Error", "Traceback"):
                self.assertNotIn(bad, output, f"{bad} in the log:\n{output[-5000:]}")

    def assertStreamServes(self, listener: Target) -> None:
        sock = connect(self, self.address(listener))
        if listener.protocol == "echo":
            sock.sendall(b"well-behaved\n")
            self.assertEqual(receiveLine(sock), b"well-behaved\n", listener)
        elif listener.protocol == "hello":
            greeting = receiveLine(sock)
            self.assertTrue(greeting.startswith(b"Hello, "), (listener, greeting))
            sock.sendall(b"Alice\n")
            self.assertEqual(receiveLine(sock), b"Hello, Alice!\n", listener)
        else:
            marker = f"well-behaved on {listener.kind}"
            sock.sendall(marker.encode() + b"\n")
            self.server.waitForLine(f"{listener.endpoint} {sockName(sock)}: {marker}")
        sock.close()

    def assertDatagramServes(self, listener: Target) -> None:
        address = self.address(listener)
        sock = datagramSocket(self, address)
        if listener.protocol == "echo":
            sock.sendto(b"well-behaved", address)
            self.assertEqual(sock.recv(100), b"well-behaved", listener)
        elif listener.protocol == "hello":
            sock.sendto(b"Alice\n", address)
            self.assertEqual(sock.recv(100), b"Hello, Alice!\n", listener)
        else:
            marker = f"well-behaved on {listener.kind}"
            sock.sendto(marker.encode() + b"\n", address)
            self.server.waitForLine(f"{listener.endpoint} {sockName(sock)}: {marker}")

    def connection(self, listener: Target) -> socket.socket:
        sock = connect(self, self.address(listener))
        if listener.protocol == "hello":
            receiveLine(sock)  # the greeting: connected, and served
        return sock

    def test_randomBytes(self) -> None:
        """Random bytes (not UTF-8, control characters, NULs, huge lines),
        then a close, on every stream listener."""
        with seeded(SEED):
            for listener in self.streams():
                for _ in range(CONNECTIONS):
                    sock = self.connection(listener)
                    payload = randomPayload(self.rng)
                    spray(sock, payload, time.monotonic() + TRAFFIC_TIMEOUT)
                    sock.close()
            self.assertStillServing()

    def test_resetMidLine(self) -> None:
        """Random bytes ending inside a line, then a reset, on every stream
        listener."""
        with seeded(SEED):
            for listener in self.streams():
                for _ in range(CONNECTIONS):
                    sock = self.connection(listener)
                    payload = randomPayload(self.rng).rstrip(b"\n") + b"partial \xff"
                    spray(sock, payload, time.monotonic() + TRAFFIC_TIMEOUT)
                    reset(sock)
            self.assertStillServing()

    def test_halfClose(self) -> None:
        """Random bytes, then the end of the client's side: every stream
        listener answers all there is to answer (or, past maxline=, stops
        answering), and closes."""
        with seeded(SEED):
            for listener in self.streams():
                for _ in range(CONNECTIONS):
                    self.halfClose(listener, randomPayload(self.rng))
            self.assertStillServing()

    def halfClose(self, listener: Target, payload: bytes) -> None:
        """
        Send C{payload} to C{listener}, end the sending side, and read until
        the server closes; check what came back, and what was printed.
        """
        sock = connect(self, self.address(listener))
        peer = sockName(sock)
        deadline = time.monotonic() + TRAFFIC_TIMEOUT
        exchange = spray(sock, payload, deadline)
        if exchange.sentAll:
            sock.shutdown(socket.SHUT_WR)
        readToEnd(sock, exchange, deadline)
        sock.close()
        received = bytes(exchange.received)
        if listener.protocol == "echo":
            self.assertTrue(exchange.sentAll, listener)
            self.assertFalse(exchange.reset, listener)
            self.assertEqual(received, payload, listener)
        elif listener.protocol == "hello":
            expected = helloAnswers(peer, payload)
            if overflows(payload):
                self.assertEqual(received, expected[: len(received)], listener)
            else:
                self.assertFalse(exchange.reset, listener)
                self.assertEqual(received, expected, listener)
        elif listener.kind == "tcp":  # line-print, each client its own prefix
            prefix = f"{listener.endpoint} {peer}: "
            count = len(lines(payload))
            deadline = time.monotonic() + IO_TIMEOUT
            while printedLines(self.server, prefix) < count:
                if time.monotonic() > deadline:
                    break
                time.sleep(POLL_INTERVAL)
            self.assertEqual(printedLines(self.server, prefix), count, listener)

    def test_randomDatagrams(self) -> None:
        """Random datagrams of 0 to 65507 bytes, from bound and unbound
        senders, on every datagram listener; each answer is the right one."""
        with seeded(SEED):
            for listener in self.datagrams():
                address = self.address(listener)
                bound = datagramSocket(self, address, timeout=IO_TIMEOUT)
                unbound = datagramSocket(self, address, bind=False)
                for _ in range(DATAGRAMS):
                    datagram = randomDatagram(self.rng)
                    if isinstance(address, str) and self.rng.random() < 0.2:
                        unbound.sendto(datagram, address)  # no answer can come
                        continue
                    bound.sendto(datagram, address)
                    expected = self.answer(listener, datagram)
                    if expected is not None:
                        self.assertEqual(bound.recv(1 << 17), expected, listener)
            self.assertStillServing()

    def answer(self, listener: Target, datagram: bytes) -> bytes | None:
        """
        What C{listener} answers to C{datagram} from a bound sender, or
        L{None} if nothing.
        """
        if listener.protocol == "echo":
            return datagram
        if listener.protocol == "hello":
            answer = helloDatagramAnswer(datagram)
            if listener.kind == "udp" and len(answer) > MAX_UDP:
                return None  # too large to send: logged and dropped
            return answer
        return None
