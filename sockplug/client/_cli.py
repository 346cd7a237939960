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
from collections.abc import Sequence
from typing import Any, ClassVar

from twisted.internet import task
from twisted.internet.defer import Deferred
from twisted.python import usage

import sockplug
from sockplug.client._endpoints import parseClientEndpoint
from sockplug.client._run import (
    Interruption,
    closedStreamProblem,
    reopenClosedStreams,
    run,
)
from sockplug.client._values import count, seconds, shown
from sockplug.config import checkConfig, describeProtocols
from sockplug.discovery import discover
from sockplug.errors import EndpointSyntaxError

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
The colons of an IPv6 address are escaped, the string in single quotes:
'tcp:host=\\:\\:1:port=8888'.
Replies are printed as they arrive, with control characters and bytes that
are not UTF-8 escaped (\\x1b) unless --raw.
Exit status: 0 done; 1 an error, said in one line on standard error; 141 the
output went away (| head -1); 130 Ctrl-C, 143 SIGTERM.
"""


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
            seconds("wait"),
        ],
        ["retry", "r", 0, "Times to retry a connection that fails.", count("retry")],
        ["retry-delay", None, 1.0, "Seconds between retries.", seconds("retry-delay")],
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
        [
            "no-reply",
            None,
            "Wait for no reply, print none: succeed once MESSAGE is delivered"
            " (over a stream, written and the connection closed cleanly; over"
            " datagrams, sent).",
        ],
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


def main(argv: Sequence[str] | None = None) -> None:
    """
    Run the C{sockplug} command; exits with its status.
    """
    closed = reopenClosedStreams()
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
    from twisted.internet import reactor

    if options.subCommand == "check-config":
        sys.exit(checkConfig(options.subOptions["file"], reactor))
    sub, command = options.subOptions, str(options.subCommand)
    problem = closedStreamProblem(command, sub, closed)
    if problem is not None:
        sys.exit(f"sockplug: {problem}")
    try:
        endpoint = parseClientEndpoint(reactor, sub["endpoint"])
    except EndpointSyntaxError as e:
        sys.exit(f"sockplug: endpoint {shown(e.description)}: {e.reason}")
    interruption = Interruption()

    def start(reactor: Any) -> Deferred[None]:
        interruption.install(reactor)
        return Deferred.fromCoroutine(
            run(reactor, command, sub, endpoint, interruption)
        )

    task.react(start)
