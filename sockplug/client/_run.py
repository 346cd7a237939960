# -*- test-case-name: sockplug.client.test.test_run -*-
"""
One run of C{sockplug connect} or C{sockplug send} to its end: standard
input and output, the signals that end it early, and its exit status.

Two ends are no error, and the command ends quietly on them, at once,
saying nothing:
  - Its output has gone away, as C{| head -1} makes it go once it has its
    line: exit status 141, what C{seq}, C{cat} or C{yes} in the same place
    give (killed by SIGPIPE), so that a pipeline reads the same whichever
    command stood there.
  - It is interrupted, by Ctrl-C (SIGINT) or SIGTERM: it closes the
    connection and exits with status 128 plus the signal's number, 130 for
    Ctrl-C and 143 for SIGTERM, as C{socat} does.
"""

from __future__ import annotations

import os
import signal
import stat
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IHalfCloseableProtocol, ITransport
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from zope.interface import implementer

from sockplug.client._endpoints import ClientEndpoint
from sockplug.client._session import (
    ClientError,
    Output,
    Session,
    Signal,
)

__all__ = [
    "OUTPUT_GONE",
    "Interruption",
    "StandardStreams",
    "closedStreamProblem",
    "ending",
    "reopenClosedStreams",
    "run",
]

OUTPUT_GONE = 128 + signal.SIGPIPE


def reopenClosedStreams() -> frozenset[int]:
    """
    Open C{/dev/null} on each of standard input, output and error that the
    command was started without (C{<&-}, C{>&-}), before anything else
    takes its number: a socket or the reactor's own descriptor would
    otherwise become "standard input" (Twisted then failed with a
    traceback). Called first, before the reactor is made.

    @return: the descriptors that were closed.
    """
    closed = set()
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            closed.add(fd)
    # Python starts with sys.stdout (...) None for a closed descriptor;
    # these files are the process's, for its whole life (SIM115).
    if sys.stdin is None:
        sys.stdin = open(0, closefd=False)  # noqa: SIM115
    if sys.stdout is None:
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    if sys.stderr is None:
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    return frozenset(closed)


def closedStreamProblem(
    command: str, options: dict[str, Any], closed: frozenset[int]
) -> str | None:
    """
    What is wrong with running C{command} without the standard streams
    that were C{closed} (see L{reopenClosedStreams}), as C{cat} refuses to
    run without them; L{None} if it needs none of them.
    """
    if command == "connect" and 0 in closed:
        return (
            "standard input is closed: give it the lines to send (</dev/null for none)"
        )
    if 1 in closed and not (command == "send" and options.get("no-reply")):
        return (
            "standard output is closed: give it one for the replies"
            " (>/dev/null to throw them away)"
        )
    return None


@implementer(IHalfCloseableProtocol)
class StandardStreams(Protocol):
    """
    Standard input and output: hands each chunk read on, fires C{ended} at
    the end of the input (leaving the output open), C{gone} if the output
    goes away (its reader has ended), and C{closed} once the output has
    been written out and closed, or has gone.
    """

    transport: ITransport

    def __init__(self) -> None:
        self.ended = Signal()
        self.gone = Signal()
        self.closed = Signal()
        self.sink: Callable[[bytes], None] | None = None
        self.pending: list[bytes] = []

    def dataReceived(self, data: bytes) -> None:
        if self.sink is None:
            self.pending.append(data)
        else:
            self.sink(data)

    def feed(self, sink: Callable[[bytes], None]) -> None:
        """
        Hand what was read so far, and each chunk read from now on, to
        C{sink}.
        """
        self.sink = sink
        pending, self.pending = self.pending, []
        for data in pending:
            sink(data)

    def readConnectionLost(self) -> None:
        self.ended.fire()

    def writeConnectionLost(self) -> None:
        # Twisted's StandardIO calls this when writing failed (EPIPE: the
        # reader has gone), and then never calls connectionLost.
        self.gone.fire()
        self.closed.fire()

    def connectionLost(self, reason: Failure = Failure(Exception())) -> None:  # noqa: B008
        self.ended.fire()
        self.closed.fire()

    # The output side, for Output: StandardIO owns standard output (and
    # makes it non-blocking), so replies are written through it.
    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def flush(self) -> None:
        pass


class Interruption:
    """
    The signals that end the command early (SIGINT, SIGTERM), caught.

    @ivar signal: fires when the first of them arrives.
    @ivar number: which one it was.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signal = Signal()
        self.number = 0

    def caught(self, number: int) -> None:
        """
        The signal C{number} arrived.
        """
        if not self.signal.fired:
            self.number = number
            self.signal.fire()

    def install(self, reactor: Any) -> None:
        """
        Catch the signals once C{reactor} runs, in place of its own
        handlers (which stop it, and the connection with it, uncleanly).
        """

        def handler(number: int, frame: FrameType | None) -> None:
            reactor.callFromThread(self.caught, number)

        def install() -> None:
            for number in self.SIGNALS:
                signal.signal(number, handler)

        reactor.callWhenRunning(install)


async def ending(
    work: Deferred[None],
    gone: Signal,
    interruption: Interruption,
    say: Callable[[str], None],
) -> int:
    """
    Wait for C{work} to end, cancelling it if the output goes or the
    command is interrupted.

    @param say: shows an error's line (on standard error).
    @return: the exit status: 0 if C{work} succeeded, 1 if it failed with a
        L{ClientError} (said), C{128 + N} if interrupted by signal N,
        L{OUTPUT_GONE} if the output went away.
    """
    for stop in (gone, interruption.signal):
        stop.wait().addCallback(lambda _: work.cancel())
    try:
        await work
    except defer.CancelledError:
        if interruption.signal.fired:
            return 128 + interruption.number
        if gone.fired:
            return OUTPUT_GONE
        raise
    except ClientError as e:
        if gone.fired:
            return OUTPUT_GONE
        say(e.message)
        return 1
    return 0


def _connectOutput(streams: StandardStreams, raw: bool) -> Output:
    """
    Where C{sockplug connect} prints: through standard output's transport,
    which never blocks the reactor, unless writing never waits (see
    L{_neverWaits}): Twisted's C{StandardIO} reads any failed write as its
    reader gone, and a full disk would end the command as quietly as
    C{| head -1}.
    """
    if _neverWaits(sys.stdout.fileno()):
        return Output(sys.stdout.buffer, raw=raw)
    return Output(streams, raw=raw, gone=streams.gone)


def _neverWaits(fd: int) -> bool:
    """
    Whether writing to C{fd} never waits, and so needs no reactor: a file,
    or a device that is not a terminal (C{/dev/null}, C{/dev/full}). Its
    writes then fail with their reason (C{ENOSPC}), and never because a
    reader has gone.
    """
    mode = os.fstat(fd).st_mode
    return stat.S_ISREG(mode) or (stat.S_ISCHR(mode) and not os.isatty(fd))


def _silenceStandardOutput() -> None:
    """
    Point standard output at C{/dev/null}, so that Python's last flush of
    it at exit does not fail (and say so) on the pipe that has gone.
    """
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, sys.stdout.fileno())
    finally:
        os.close(null)


async def run(
    reactor: Any,
    command: str,
    options: dict[str, Any],
    endpoint: ClientEndpoint,
    interruption: Interruption,
) -> None:
    """
    Run C{sockplug connect} or C{sockplug send} to its end.

    @param options: the command's options, as its L{usage.Options} holds
        them.
    @raise SystemExit: with the exit status, unless 0.
    """

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    streams: StandardStreams | None = None
    stdio: Any = None
    if command == "send":
        output = Output(sys.stdout.buffer, raw=options["raw"])
    else:
        from twisted.internet.stdio import StandardIO

        streams = StandardStreams()
        stdio = StandardIO(streams, reactor=reactor)
        output = _connectOutput(streams, raw=options["raw"])
    session = Session(
        reactor=reactor,
        endpoint=endpoint,
        output=output,
        wait=options["wait"],
        retries=options["retry"],
        delay=options["retry-delay"],
        say=say,
    )
    if streams is not None:
        work = Deferred.fromCoroutine(session.converse(streams.ended, streams.feed))
    else:
        message = options["message"].encode("utf-8", "surrogateescape")
        if not options["no-newline"]:
            message += b"\n"
        if options["no-reply"]:
            work = Deferred.fromCoroutine(session.sendOneWay(message))
        else:
            work = Deferred.fromCoroutine(session.sendOnce(message))
    try:
        status = await ending(work, output.gone, interruption, say)
    finally:
        if stdio is not None and streams is not None:
            stdio.loseConnection()
            await streams.closed.wait()
    if output.failure is not None:
        _silenceStandardOutput()
        say(
            "sockplug: cannot write to standard output:"
            f" {output.failure.strerror or output.failure}"
        )
        status = 1
    elif status == OUTPUT_GONE:
        _silenceStandardOutput()
    if status:
        raise SystemExit(status)
