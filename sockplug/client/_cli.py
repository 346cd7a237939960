# -*- test-case-name: sockplug.client.test.test_cli -*-
"""
The C{sockplug} command: a client for any endpoint, and the list of
protocols.

    sockplug connect ENDPOINT        send each line typed (or piped), print replies
    sockplug send ENDPOINT MESSAGE   send one message, print the reply
    sockplug protocols               the protocols twistd sockplug can serve
    sockplug check-config FILE       check a configuration file
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from twisted.internet import task
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IHalfCloseableProtocol, ITransport
from twisted.internet.protocol import Protocol
from twisted.python import usage
from twisted.python.failure import Failure
from zope.interface import implementer

import sockplug
from sockplug.client._endpoints import parseClientEndpoint
from sockplug.client._session import ClientError, Output, Session, Signal
from sockplug.discovery import discover
from sockplug.errors import EndpointSyntaxError
from sockplug.tap import checkConfig, describeProtocols

__all__ = ["Options", "main"]

ENDPOINTS = """\
Client endpoints:
  tcp:host=HOST:port=PORT          TCP (IPv4 or IPv6, as HOST resolves)
  unix:path=PATH                   UNIX stream socket
  tls:HOST:PORT                    TLS, the certificate checked against the
                                   system's trust store (trustRoots=FOLDER);
                                   HOST may be an IP address (tls:\\:\\:1:443)
  ssl:host=HOST:port=PORT:hostname=NAME[:caCertsDir=FOLDER]
                                   TLS, the certificate checked for NAME
  udp:host=HOST:port=PORT          UDP datagrams, one per line
  unixgram:path=PATH               UNIX datagrams, one per line (the client
                                   binds a temporary path so that the server
                                   can reply, and removes it afterwards)
Replies are printed as they arrive, with control characters and bytes that
are not UTF-8 escaped (\\x1b) unless --raw.
"""


def _seconds(value: str) -> float:
    number = float(value)
    if not number >= 0:
        raise ValueError(f"{value!r} is not a number of seconds")
    return number


def _count(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(f"{value!r} is negative")
    return number


class _Command(usage.Options):
    """
    What every C{sockplug} command's options share: C{--version} gives
    sockplug's, and the usage line is the command's own.
    """

    synopsis = ""

    def __init__(self) -> None:
        usage.Options.__init__(self)

    def opt_version(self) -> None:
        """
        Display sockplug's version and exit.
        """
        print(f"sockplug {sockplug.__version__}")
        sys.exit(0)

    def getSynopsis(self) -> str:
        # Twisted's own puts the parent's synopsis and the sub-command's
        # name before a sub-command's, naming every sub-command.
        return f"Usage: {self.synopsis}"


class _ClientOptions(_Command):
    optParameters: ClassVar[list[list[Any]]] = [
        [
            "wait",
            "w",
            2.0,
            "Seconds to wait for replies once the input has ended.",
            _seconds,
        ],
        ["retry", "r", 0, "Times to retry a connection that fails.", _count],
        ["retry-delay", None, 1.0, "Seconds between retries.", _seconds],
    ]
    optFlags: ClassVar[list[list[Any]]] = [
        ["raw", None, "Print replies as received, not escaped."],
    ]
    arguments: ClassVar[tuple[str, ...]] = ()

    def parseArgs(self, *args: str) -> None:
        if len(args) != len(self.arguments):
            given = f"{len(args)} argument{'' if len(args) == 1 else 's'}"
            raise usage.UsageError(
                f"expected {' '.join(self.arguments)}, got {given};"
                f" usage: {self.synopsis}"
            )
        for name, value in zip(self.arguments, args, strict=True):
            self[name.lower()] = value

    def getUsage(self, width: int | None = None) -> str:
        return str(super().getUsage(width)) + "\n" + ENDPOINTS


class ConnectOptions(_ClientOptions):
    """
    C{sockplug connect ENDPOINT}.
    """

    synopsis = "sockplug connect [options] ENDPOINT"
    arguments = ("ENDPOINT",)


class SendOptions(_ClientOptions):
    """
    C{sockplug send ENDPOINT MESSAGE}.
    """

    synopsis = "sockplug send [options] ENDPOINT MESSAGE"
    optFlags: ClassVar[list[list[Any]]] = [
        *_ClientOptions.optFlags,
        ["no-newline", "n", "Send MESSAGE without a line feed after it."],
    ]
    arguments = ("ENDPOINT", "MESSAGE")


class ProtocolsOptions(_Command):
    """
    C{sockplug protocols}.
    """

    synopsis = "sockplug protocols"


class CheckConfigOptions(_Command):
    """
    C{sockplug check-config FILE}.
    """

    synopsis = "sockplug check-config FILE"

    def parseArgs(self, *args: str) -> None:
        if len(args) != 1:
            raise usage.UsageError(
                f"expected FILE, got {len(args)} arguments; usage: {self.synopsis}"
            )
        self["file"] = args[0]

    def getUsage(self, width: int | None = None) -> str:
        return str(super().getUsage(width)) + (
            "\nChecks a configuration file of twistd sockplug --config, and"
            " names every\nproblem in it; exits 0 if there is none, 1 if there"
            " is.\n"
        )


class Options(_Command):
    """
    C{sockplug} options.
    """

    synopsis = "sockplug connect|send|protocols|check-config [options] ..."
    subCommands: ClassVar[list[list[Any]]] = [
        ["connect", None, ConnectOptions, "Send each line typed, print replies."],
        ["send", None, SendOptions, "Send one message, print the reply."],
        ["protocols", None, ProtocolsOptions, "List the protocols found."],
        ["check-config", None, CheckConfigOptions, "Check a configuration file."],
    ]

    def postOptions(self) -> None:
        if self.subCommand is None:
            raise usage.UsageError(
                "say what to do: connect, send, protocols or check-config"
            )


@implementer(IHalfCloseableProtocol)
class _Input(Protocol):
    """
    Standard input and output: hands each chunk read on, fires C{ended} at
    the end of the input (leaving the output open), and C{closed} once the
    output has been written out and closed.
    """

    transport: ITransport

    def __init__(self) -> None:
        self.ended = Signal()
        self.closed = Signal()
        self.sink: Callable[[bytes], None] | None = None
        self.pending: list[bytes] = []

    def dataReceived(self, data: bytes) -> None:
        if self.sink is None:
            self.pending.append(data)
        else:
            self.sink(data)

    def feed(self, sink: Callable[[bytes], None]) -> None:
        self.sink = sink
        pending, self.pending = self.pending, []
        for data in pending:
            sink(data)

    def readConnectionLost(self) -> None:
        self.ended.fire()

    def writeConnectionLost(self) -> None:
        pass

    def connectionLost(self, reason: Failure = Failure(Exception())) -> None:  # noqa: B008
        self.ended.fire()
        self.closed.fire()

    # The output side, for Output: StandardIO owns standard output (and
    # makes it non-blocking), so replies are written through it.
    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def flush(self) -> None:
        pass


async def _run(reactor: Any, options: Options) -> None:
    sub = options.subOptions
    try:
        endpoint = parseClientEndpoint(reactor, sub["endpoint"])
    except EndpointSyntaxError as e:
        raise ClientError(f"sockplug: {e}") from e
    stdio: Any = None
    if options.subCommand == "send":
        out: Any = sys.stdout.buffer
    else:
        from twisted.internet.stdio import StandardIO

        out = _Input()
        stdio = StandardIO(out, reactor=reactor)
    session = Session(
        reactor=reactor,
        endpoint=endpoint,
        output=Output(out, raw=sub["raw"]),
        wait=sub["wait"],
        retries=sub["retry"],
        delay=sub["retry-delay"],
        say=lambda line: print(line, file=sys.stderr, flush=True),
    )
    try:
        if stdio is None:
            message = sub["message"].encode("utf-8", "surrogateescape")
            if not sub["no-newline"]:
                message += b"\n"
            await session.sendOnce(message)
        else:
            await session.converse(out.ended, out.feed)
    finally:
        if stdio is not None:
            stdio.loseConnection()
            await out.closed.wait()


def main(argv: Sequence[str] | None = None) -> None:
    """
    Run the C{sockplug} command; exits with its status.
    """
    options = Options()
    try:
        usage.Options.parseOptions(
            options, list(sys.argv[1:] if argv is None else argv)
        )
    except usage.UsageError as e:
        sys.exit(f"sockplug: {e} (see sockplug --help)")
    if options.subCommand == "protocols":
        print("\n".join(describeProtocols(discover())))
        return
    if options.subCommand == "check-config":
        from twisted.internet import reactor

        sys.exit(checkConfig(options.subOptions["file"], reactor))

    def run(reactor: Any) -> Deferred[None]:
        async def guarded() -> None:
            try:
                await _run(reactor, options)
            except ClientError as e:
                print(e.message, file=sys.stderr, flush=True)
                raise SystemExit(1) from None

        return Deferred.fromCoroutine(guarded())

    task.react(run)
