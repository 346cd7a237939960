"""
Fuzz tests.

In process, with Hypothesis: the endpoint-string and command-line parsers
either accept what they are given or refuse it with their own error, never
another exception. Nothing here listens: strings are parsed only, for an
in-memory reactor.

Against a real twistd sockplug process: random bytes, random datagrams,
resets and half-closes at every built-in protocol on every kind of endpoint
leave the server serving well-behaved clients, with no traceback in its
log. The traffic comes from C{random.Random(SEED)}; a failure names the
seed, and C{SOCKPLUG_FUZZ_SEED=N} runs with another one.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import selectors
import signal
import socket
import struct
import time
from collections.abc import Iterator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet.testing import MemoryReactor
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from sockplug.client import _cli as cli
from sockplug.client._endpoints import ClientEndpoint, parseClientEndpoint
from sockplug.discovery._registry import Registry, discover
from sockplug.endpoints._parser import EndpointParser, ParsedEndpoint
from sockplug.endpoints._syntax import parseArguments, unparseArguments
from sockplug.errors import CommandLineError, EndpointSyntaxError
from sockplug.options import LIMITS, SOCKET_OPTIONS
from sockplug.tap import Options
from sockplug.testing import MemoryDatagramReactor
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

# Bounded so that the whole module runs in well under 30 seconds; the same
# examples every run (derandomize), so that a failure shows up again.
FUZZ = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    report_multiple_bugs=False,
)

# ---------------------------------------------------------------------------
# Parsers, in process.


@functools.cache
def registry() -> Registry:
    """The protocol plugins and datagram parsers, found once."""
    return discover()


def endpointParser() -> EndpointParser:
    """A parser of every endpoint type, for a reactor that listens nowhere."""
    return EndpointParser(MemoryDatagramReactor(), registry().datagramParsers)


def words(text: str) -> list[str]:
    """The words of C{text}: a list of values, written as one string."""
    return text.split()


# Any text at all, lone surrogates included (sys.argv holds them for bytes
# that are not UTF-8).
ANY_TEXT = st.text(st.characters(exclude_categories=[]), max_size=60)
SHORT_TEXT = st.text(
    st.sampled_from("aZ09 :=\\,./@[]%-_\t\n\x00\xff\u2028"), max_size=12
)
NUMBERS = st.one_of(
    st.integers(-10, 70_000).map(str),
    st.integers(0, 10**400).map(str),
    st.floats().map(repr),
    st.sampled_from(
        [
            *words("0 -0 +1 1_000 0x10 0o17 1.5 1e-9 1e999 -1e999 nan inf -inf 1K 64k"),
            *["", " 5", "5 "],
            "\u0663",  # ARABIC-INDIC DIGIT THREE, which int() takes
            "9" * 400,  # past the range of a float
            "9" * 5000,  # past Python's limit on the digits int() takes
        ]
    ),
)
FLAGS = st.sampled_from(["yes", "no", "YES", "true", "off", "on", "1", "0", "maybe"])
ADDRESSES = st.one_of(
    st.ip_addresses().map(str),
    # CIDR blocks, right and wrong
    st.builds("{}/{}".format, st.ip_addresses(), st.integers(-1, 129)),
    st.sampled_from(
        [
            *words("any localhost ANY [::1]/128 [::1 ::ffff:127.0.0.1 fe80::1%eth0"),
            *words("10.0.0.0/8 10.0.0.5/8 256.0.0.1 1.2.3 ,"),
            " ",
        ]
    ),
)
LISTS = st.lists(st.one_of(ADDRESSES, NUMBERS), max_size=4).map(",".join)
VALUES = st.one_of(NUMBERS, FLAGS, ADDRESSES, LISTS, SHORT_TEXT, ANY_TEXT)
OPTION_NAMES = sorted(LIMITS.names()) + sorted(SOCKET_OPTIONS.names())
KEYS = st.one_of(
    st.sampled_from(OPTION_NAMES),
    st.sampled_from(
        [
            *words("interface backlog mode lockfile stale port path address"),
            *words("maxPacketSize privateKey certKey domain index name ALLOW"),
            "",
        ]
    ),
    SHORT_TEXT,
)
PREFIXES = [
    *words("tcp tcp6 unix udp unixgram ssl haproxy systemd stdio"),
    *words("unknown TCP Udp = type=tcp"),  # not types, or not as such
    "",
]
# Strings that parse, to put options after.
VALID = {
    "stream": [
        "tcp:0",
        "tcp:0:interface=127.0.0.1",
        "tcp6:0:interface=\\:\\:1",
        "unix:/tmp/sockplug-fuzz.sock",
        "haproxy:tcp:0",
        "stdio:",
    ],
    "datagram": [
        "udp:0",
        "udp:0:interface=\\:\\:1",
        "unixgram:/tmp/sockplug-fuzz.dgram",
    ],
}


@st.composite
def endpointStrings(draw: st.DrawFn, nested: bool = True) -> str:
    """
    An endpoint string built from the grammar: a prefix, positional
    arguments and key=value options, escaped as the syntax says or just
    joined with colons.
    """
    if nested and draw(st.integers(0, 9)) == 0:
        return "haproxy:" + draw(endpointStrings(nested=False))
    prefix = draw(st.sampled_from(PREFIXES))
    args = draw(st.lists(st.one_of(NUMBERS, SHORT_TEXT, ANY_TEXT), max_size=3))
    kwargs = draw(st.dictionaries(KEYS, VALUES, max_size=6))
    if draw(st.booleans()):
        return unparseArguments([prefix, *args], kwargs)
    return ":".join([prefix, *args, *(f"{k}={v}" for k, v in kwargs.items())])


@st.composite
def optionedEndpoints(draw: st.DrawFn) -> str:
    """
    An endpoint string that parses, followed by defence and socket options
    with random values.
    """
    base = draw(st.sampled_from(VALID["stream"] + VALID["datagram"]))
    options = draw(st.dictionaries(st.sampled_from(OPTION_NAMES), VALUES, max_size=4))
    if not options:
        return base
    return base + ":" + unparseArguments([], options)


def shown(value: object) -> str:
    """C{repr(value)}, cut short for a failure message."""
    text = repr(value)
    return text if len(text) <= 300 else f"{text[:300]}... ({len(text)} characters)"


def isOneLine(text: str) -> bool:
    """Whether C{text} holds no line break (as C{str.splitlines} sees them)."""
    return len(("<" + text + ">").splitlines()) == 1


class EndpointParserTests(SynchronousTestCase):
    """
    L{EndpointParser.parse} returns a L{ParsedEndpoint} or raises
    L{EndpointSyntaxError}, whatever it is given.
    """

    def assertParsedOrRefused(self, description: str) -> None:
        """
        Parsing C{description} gives a L{ParsedEndpoint} for it, or an
        L{EndpointSyntaxError} naming it, with a one-line reason; any other
        exception fails the test, naming the string.
        """
        try:
            parsed = endpointParser().parse(description)
        except EndpointSyntaxError as e:
            self.assertEqual(e.description, description)
            self.assertTrue(e.reason, "an empty reason")
            self.assertTrue(isOneLine(e.reason), shown(e.reason))
            return
        except Exception as e:
            raise self.failureException(
                f"parse({shown(description)}) raised {type(e).__name__}: {e}"
            ) from e
        self.assertIsInstance(parsed, ParsedEndpoint)
        self.assertEqual(parsed.description, description)

    @FUZZ
    @given(ANY_TEXT)
    def test_anyText(self, description: str) -> None:
        """Any text is parsed or refused."""
        self.assertParsedOrRefused(description)

    @FUZZ
    @given(endpointStrings())
    def test_grammar(self, description: str) -> None:
        """Strings of known and unknown types, with random arguments and
        options, are parsed or refused."""
        self.assertParsedOrRefused(description)

    @FUZZ
    @given(optionedEndpoints())
    def test_defenceAndSocketOptions(self, description: str) -> None:
        """Valid endpoints with every defence and socket option, given random
        values, are parsed or refused."""
        self.assertParsedOrRefused(description)

    def test_hugeWholeNumbers(self) -> None:
        """A whole-number option far past any bound is refused, for every
        option that takes one."""
        huge = "9" * 400
        for name in ["maxconn", "maxpersource", "sendbuffer", "maxline", "loglines"]:
            self.assertParsedOrRefused(f"tcp:0:{name}={huge}")
        for name in ["replyburst", "replygrowth", "blockports"]:
            self.assertParsedOrRefused(f"udp:0:{name}={huge}")

    def test_keywordFirst(self) -> None:
        """A string that starts with key=value, so has no type, is refused."""
        for description in ["=", "x=1", "tcp=0:1", "haproxy:a=b"]:
            self.assertParsedOrRefused(description)

    def test_deeplyNested(self) -> None:
        """haproxy: wrapped in itself a thousand times is parsed or refused."""
        self.assertParsedOrRefused("haproxy:" * 1000 + "tcp:0")


class ArgumentSyntaxTests(SynchronousTestCase):
    """
    L{parseArguments} and L{unparseArguments} undo each other.
    """

    @FUZZ
    @given(
        st.lists(ANY_TEXT, min_size=1, max_size=5),
        st.dictionaries(ANY_TEXT, ANY_TEXT, max_size=5),
    )
    def test_unparseThenParse(self, args: list[str], kwargs: dict[str, str]) -> None:
        """Arguments written out by unparseArguments are parsed back the
        same."""
        self.assertEqual(parseArguments(unparseArguments(args, kwargs)), (args, kwargs))

    @FUZZ
    @given(st.one_of(ANY_TEXT, endpointStrings()))
    def test_parseThenUnparse(self, description: str) -> None:
        """What parseArguments takes out of any text, written out again,
        parses to the same arguments."""
        try:
            args, kwargs = parseArguments(description)
        except EndpointSyntaxError as e:
            self.assertTrue(description.endswith("\\"), e)
            return
        self.assertEqual(parseArguments(unparseArguments(args, kwargs)), (args, kwargs))


def asksForHelp(arg: str) -> bool:
    """
    Whether getopt takes C{arg} for --help or --version (as an unambiguous
    prefix of either), which print and exit by design.
    """
    if not arg.startswith("--") or arg == "--":
        return False
    name = arg[2:].partition("=")[0]
    return bool(name) and ("help".startswith(name) or "version".startswith(name))


LISTENER_SPECS = st.one_of(
    endpointStrings(),
    st.sampled_from(VALID["stream"] + VALID["datagram"]),
    st.builds(
        "{}@{}".format,
        st.sampled_from(["echo", "hello", "line-print", "nope", "Echo", "", "a@b"]),
        st.one_of(
            endpointStrings(), st.sampled_from(VALID["stream"] + VALID["datagram"])
        ),
    ),
)
SERVER_ARGS = st.lists(
    st.one_of(
        st.sampled_from(
            words(
                "-e --endpoint -p --protocol --shutdown-timeout --max-connections"
                " --max -- - -x --bogus echo hello line-print"
            )
        ),
        LISTENER_SPECS,
        NUMBERS,
        SHORT_TEXT,
        ANY_TEXT,
        st.builds(
            "{}={}".format,
            st.sampled_from(
                ["--endpoint", "--protocol", "--shutdown-timeout", "--max-connections"]
            ),
            st.one_of(LISTENER_SPECS, NUMBERS, ANY_TEXT),
        ),
    ).filter(lambda arg: not asksForHelp(arg)),
    max_size=8,
)


class ServerCommandLineTests(SynchronousTestCase):
    """
    C{twistd sockplug}'s options either parse or end in a
    L{CommandLineError}.
    """

    def assertParsedOrRefused(self, argv: list[str]) -> None:
        """
        The arguments parse into a listener per endpoint, or raise a
        L{CommandLineError} that starts with the program's name and is one
        line (unless the arguments hold line breaks of their own); any other
        exception fails the test, naming the arguments.
        """
        options = Options(reactor=MemoryDatagramReactor(), registry=registry())
        try:
            options.parseOptions(argv)
        except CommandLineError as e:
            self.assertTrue(str(e).startswith("twistd sockplug: "), str(e))
            if all(isOneLine(arg) for arg in argv):
                self.assertTrue(isOneLine(str(e)), str(e))
            return
        except Exception as e:
            raise self.failureException(
                f"parseOptions({shown(argv)}) raised {type(e).__name__}: {e}"
            ) from e
        settings = options.settings
        self.assertEqual(
            len(settings.commandLineListeners), len(settings.commandLine.endpoints)
        )
        self.assertTrue(settings.commandLineListeners)

    @FUZZ
    @given(SERVER_ARGS)
    def test_anyArguments(self, argv: list[str]) -> None:
        """Any arguments parse, or raise CommandLineError."""
        self.assertParsedOrRefused(argv)

    def test_endpointWithoutType(self) -> None:
        """An endpoint that starts with key=value is a command-line error."""
        self.assertParsedOrRefused(["-e", "x=1"])


CLIENT_PREFIXES = [
    *words("tcp unix tls ssl udp unixgram"),
    *words("unknown = host=x"),  # not types
    "",
]
CLIENT_KEYS = st.one_of(
    st.sampled_from(
        words(
            "host port path hostname timeout bindAddress caCertsDir trustRoots checkPID"
        )
    ),
    SHORT_TEXT,
)


@st.composite
def clientEndpointStrings(draw: st.DrawFn) -> str:
    """
    A client endpoint string built from the grammar.
    """
    prefix = draw(st.sampled_from(CLIENT_PREFIXES))
    args = draw(st.lists(st.one_of(NUMBERS, SHORT_TEXT), max_size=2))
    kwargs = draw(st.dictionaries(CLIENT_KEYS, VALUES, max_size=4))
    if draw(st.booleans()):
        return unparseArguments([prefix, *args], kwargs)
    return ":".join([prefix, *args, *(f"{k}={v}" for k, v in kwargs.items())])


CLIENT_ARGS = st.lists(
    st.one_of(
        st.sampled_from(
            words(
                "connect send protocols --wait -w --retry -r --retry-delay --raw"
                " --no-newline -n -- - --bogus"
            )
        ),
        clientEndpointStrings(),
        NUMBERS,
        SHORT_TEXT,
        ANY_TEXT,
    ).filter(lambda arg: not asksForHelp(arg)),
    max_size=7,
)


class ClientCommandLineTests(SynchronousTestCase):
    """
    The C{sockplug} client's options and endpoint strings either parse or
    are refused with their own errors.
    """

    def assertClientEndpoint(self, description: str) -> None:
        """
        Parsing C{description} as a client endpoint gives a
        L{ClientEndpoint}, or an L{EndpointSyntaxError} with a one-line
        reason; any other exception fails the test, naming the string.
        """
        try:
            endpoint = parseClientEndpoint(MemoryReactor(), description)
        except EndpointSyntaxError as e:
            self.assertEqual(e.description, description)
            self.assertTrue(isOneLine(e.reason), shown(e.reason))
            return
        except Exception as e:
            raise self.failureException(
                f"parseClientEndpoint({shown(description)}) raised"
                f" {type(e).__name__}: {e}"
            ) from e
        self.assertIsInstance(endpoint, ClientEndpoint)

    @FUZZ
    @given(st.one_of(ANY_TEXT, clientEndpointStrings()))
    def test_anyEndpoint(self, description: str) -> None:
        """Any client endpoint string is parsed or refused."""
        self.assertClientEndpoint(description)

    def test_endpointWithoutType(self) -> None:
        """A client endpoint that starts with key=value is refused."""
        self.assertClientEndpoint("host=localhost:port=7")

    @FUZZ
    @given(CLIENT_ARGS)
    def test_anyArguments(self, argv: list[str]) -> None:
        """Any arguments parse, or raise UsageError (which main turns into
        one line, unless the arguments hold line breaks of their own); the
        endpoint of a parsed connect or send is parsed or refused."""
        options = cli.Options()
        try:
            options.parseOptions(argv)
        except usage.UsageError as e:
            if all(isOneLine(arg) for arg in argv):
                self.assertTrue(isOneLine(str(e)), str(e))
            return
        except Exception as e:
            raise self.failureException(
                f"parseOptions({shown(argv)}) raised {type(e).__name__}: {e}"
            ) from e
        self.assertIn(options.subCommand, ("connect", "send", "protocols"))
        if options.subCommand != "protocols":
            self.assertClientEndpoint(options.subOptions["endpoint"])


# ---------------------------------------------------------------------------
# Random traffic at a real server.

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
        if len(line) > MAX_LINE:
            return split[:index]
    return split


def overflows(payload: bytes) -> bool:
    """Whether C{payload} holds a line longer than maxline=."""
    return any(len(line) > MAX_LINE for line in payload.split(b"\n"))


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
        if len(line) > MAX_LINE:
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
