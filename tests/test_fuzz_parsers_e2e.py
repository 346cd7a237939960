"""
Fuzz tests of the parsers, in process, with Hypothesis: the endpoint-string
and command-line parsers either accept what they are given or refuse it
with their own error, never another exception. Nothing here listens:
strings are parsed only, for an in-memory reactor.
"""

from __future__ import annotations

import functools

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
from sockplug.options._limits import LIMIT_HELP
from sockplug.options._sockopts import OPTION_HELP
from sockplug.tap import Options
from sockplug.testing import MemoryDatagramReactor

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
OPTION_NAMES = sorted(LIMIT_HELP) + sorted(OPTION_HELP)
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
        self.assertEqual(len(options["listeners"]), len(options["endpoints"]))
        self.assertTrue(options["listeners"])

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
