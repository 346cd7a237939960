# -*- test-case-name: sockplug.test.test_errors -*-
"""
The errors sockplug raises, each a subclass of the builtin that fits it.

Every message names the offending value and says what to do about it, so
that it can be shown to a user as one line.
"""

from __future__ import annotations

__all__ = [
    "CommandLineError",
    "ConfigError",
    "EndpointSyntaxError",
    "FatalError",
    "ListenFailed",
    "OutputError",
    "PluginError",
    "ProtocolStartError",
    "ReloadFailed",
    "SockplugError",
    "UnknownProtocolError",
    "UnsupportedTransportError",
    "shown",
]


def shown(text: str, limit: int | None = None) -> str:
    """
    C{text} quoted back in a message as the user wrote it: in single
    quotes, its backslashes as typed (not doubled, as C{repr} doubles
    them, so that C{tcp6:0:interface=\\:\\:1} reads as it was typed),
    characters that cannot be printed escaped (a line break would split a
    one-line message, a terminal escape would act).

    @param limit: if given and C{text} is longer, it is cut to its start
        and its length is said.
    """
    cut = ""
    if limit is not None and len(text) > limit:
        cut = f"... ({len(text)} characters)"
        text = text[: limit - 10]
    # repr of one character: \x1b, \u202e
    body = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return f"'{body}{cut}'"


class SockplugError(Exception):
    """
    Base class of every error sockplug raises on purpose.
    """


class EndpointSyntaxError(SockplugError, ValueError):
    """
    An endpoint string (C{--endpoint}) could not be parsed.

    @ivar description: the endpoint string.
    @ivar reason: what is wrong with it, and how to fix it.
    """

    def __init__(self, description: str, reason: str) -> None:
        super().__init__(description, reason)
        self.description = description
        self.reason = reason

    def __str__(self) -> str:
        return f"endpoint {shown(self.description)}: {self.reason}"


class UnknownProtocolError(SockplugError, LookupError):
    """
    No protocol plugin has the name that was asked for.
    """


class UnsupportedTransportError(SockplugError, ValueError):
    """
    A protocol was asked to serve a kind of transport (stream or datagram)
    that it does not support.
    """


class PluginError(SockplugError):
    """
    A protocol plugin is broken: it failed to import, or does not provide
    what it should.
    """


class ConfigError(SockplugError, ValueError):
    """
    A configuration file is not right.

    @ivar problems: one line per problem, each naming the file, the table
        and the key (C{sockplug.toml: listener "greeter": unknown option
        "greting" for protocol hello; did you mean "greeting"?}).
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems)
        self.problems = problems

    def __str__(self) -> str:
        return "; ".join(self.problems)


class OutputError(SockplugError, OSError):
    """
    An output (line-print's file or FIFO, say) cannot be opened: a FIFO
    that no one reads, a symbolic link, a folder.

    Its message is the whole text, naming the path and saying what to do
    (not Python's C{[Errno N] ...: 'path'}); C{errno} is the cause's.
    """

    def __init__(self, errno: int, message: str) -> None:
        super().__init__(errno, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ProtocolStartError(SockplugError):
    """
    A protocol plugin could not build what serves a listener (line-print
    could not open its output file, say).
    """


class ReloadFailed(SockplugError):
    """
    A reload could not be applied (a new listener could not start), so
    nothing was changed.
    """


class FatalError(SystemExit, SockplugError):
    """
    An error that ends the program with its message alone, one line on
    standard error and exit status 1.

    This is a L{SystemExit} so that twistd, which shows a usage screen or a
    traceback for any other exception, lets Python print the message alone;
    and an L{Exception} (through L{SockplugError}) so that twistd's
    C{except Exception} clean-up (its PID file, the status pipe of a
    daemonising parent) still runs on the way out.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class CommandLineError(FatalError):
    """
    The command line is wrong: an option, an endpoint string, a protocol
    name.
    """


class ListenFailed(FatalError):
    """
    A listener could not start, so the server must not start either.

    It exits with status 1 and prints nothing: the message has been logged
    already (once), as critical. C{twistd sockplug} starts its listeners
    before logging begins (see L{sockplug.server._start}), when Twisted
    prints a critical event on standard error: that is the one line a
    start that fails prints, with C{-n} or without. Where they start
    later (a worker, C{--chroot}), the line is in the log.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.code = 1
