# -*- test-case-name: sockplug.internet.test.test_outputlog -*-
"""
twistd's own log, on standard output (C{twistd -n} without C{--logfile}),
written without ever blocking the reactor.

twistd's log observer writes each event to C{sys.stdout} at once, and a
pipe whose reader stops (a stalled journal, C{| less} left open) would
stop the whole process there. L{protectStandardLog} points C{sys.stdout}
at a L{LogStream} before twistd makes its observer: the lines go through
an L{OutputWriter} on the same standard output (a description of its
own: see L{openStandardOutput}), with up to L{LOG_BUFFER} bytes waiting;
what does not fit is dropped whole, counted (L{droppedLogLines}, in
C{/metrics}), and said in one line once the reader reads again. The
writer itself logs nothing: its lines would go where it drops them.

A C{--logfile} naming a FIFO or a socket (C{/dev/stdout} on a pipe) is
refused in one line (L{checkLogFile}): twistd opens it as a file it can
seek in, and stops with a traceback ("Illegal seek"); were it opened, it
would be written waiting for its reader.

When the reactor has stopped, what waits is written for at most
L{EXIT_TIMEOUT} seconds in all (the lines of the end too), then dropped,
so that a stalled reader never holds the process.
"""

from __future__ import annotations

import atexit
import io
import os
import select
import stat
import sys
import time
from collections.abc import Callable
from typing import Any

from twisted.logger import LogLevel, formatEventAsClassicLogText

from sockplug.errors import CommandLineError
from sockplug.internet._output import OutputWriter
from sockplug.internet._outputfile import openStandardOutput

__all__ = [
    "EXIT_TIMEOUT",
    "LOG_BUFFER",
    "LogStream",
    "checkLogFile",
    "droppedLogLines",
    "protectStandardLog",
    "waitWritable",
    "writeOut",
]

# The log's bytes that may wait for its reader.
LOG_BUFFER = 1024 * 1024

# How long, in all, the log's last lines may wait for its reader once the
# reactor has stopped.
EXIT_TIMEOUT = 2.0

SUMMARY = "{count} log lines dropped: the log's reader was not reading"

# The stream twistd's log goes to, once protectStandardLog made it.
_installed: list[LogStream] = []


def waitWritable(fd: int, timeout: float) -> None:
    """
    Wait up to C{timeout} seconds for C{fd} to take more (or to fail).
    """
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    poller.poll(max(0, int(timeout * 1000)))


def writeOut(
    writer: OutputWriter,
    deadline: float,
    clock: Callable[[], float],
    wait: Callable[[int, float], object] = waitWritable,
) -> None:
    """
    Once the reactor has stopped (it calls C{writer.doWrite} no more):
    write what waits, with C{wait} waiting for the descriptor to take more,
    until C{deadline} on C{clock}; then drop what is left.
    """
    while writer.waiting and not writer.closed:
        left = deadline - clock()
        if left <= 0:
            writer.flush(0)
            return
        wait(writer.fileno(), left)
        writer.doWrite()


class LogStream(io.TextIOBase):
    """
    A text file for twistd's log observer whose C{write} never waits:
    whole lines go to an L{OutputWriter}; what it drops is counted and,
    once what waited has been written, said in one line.

    @ivar dropped: log lines dropped, ever.
    """

    def __init__(
        self,
        writer: OutputWriter,
        bound: int = LOG_BUFFER,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[int, float], None] = waitWritable,
        now: Callable[[], float] = time.time,
    ) -> None:
        """
        @param writer: writes the lines; a quiet one (it must not log).
        @param bound: bytes that may wait.
        @param clock: seconds, for the bound on the last lines' wait.
        @param wait: waits up to some seconds for a descriptor to take
            more, once the reactor has stopped.
        @param now: the time of day, for the summary's line.
        """
        super().__init__()
        self._writer = writer
        self._share = writer.share("log", bound)
        self._clock = clock
        self._wait = wait
        self._now = now
        self._pending = ""
        self._reported = 0
        self._summarizing = False
        self._deadline: float | None = None
        self.dropped = 0

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._writer.fileno()

    def write(self, text: str) -> int:
        """
        Pass on the whole lines of C{text} (the rest waits for its line
        end), without waiting.
        """
        pending = self._pending + text
        end = pending.rfind("\n") + 1
        self._pending = pending[end:]
        if end:
            self._send(pending[:end])
        return len(text)

    def flush(self) -> None:
        """
        Nothing to do: lines are passed on as they come.
        """

    def _send(self, text: str) -> None:
        data = text.encode("utf-8", "backslashreplace")
        if not self._writer.write(data, self._share):
            self.dropped += data.count(b"\n") or 1
            if not self._summarizing:
                self._summarizing = True
                self._writer.drained().addCallback(self._summarize)
        if self._deadline is not None:
            self._drain()

    def _summarize(self, ignored: object) -> None:
        """
        What waited has been written: say how many lines were dropped
        (unless this line is dropped too: then the next drop says it).
        """
        self._summarizing = False
        count = self.dropped - self._reported
        if not count:
            return
        line = formatEventAsClassicLogText(
            {
                "log_format": SUMMARY,
                "count": count,
                "log_time": self._now(),
                "log_level": LogLevel.warn,
                "log_namespace": __name__,
            }
        )
        if self._writer.write((line or "").encode("utf-8"), self._share):
            self._reported += count

    def finish(self, timeout: float = EXIT_TIMEOUT) -> None:
        """
        The reactor has stopped: from now on, write what waits (and each
        line that comes) at once, waiting for the reader for at most
        C{timeout} seconds from the first call; then drop the rest.
        """
        if self._deadline is None:
            self._deadline = self._clock() + timeout
        if self._pending:
            pending, self._pending = self._pending, ""
            self._send(pending + "\n")
        else:
            self._drain()

    def _drain(self) -> None:
        assert self._deadline is not None
        writeOut(self._writer, self._deadline, self._clock, self._wait)


def droppedLogLines() -> int | None:
    """
    The log lines this process dropped, or L{None} if its log is not
    written by a L{LogStream}.
    """
    return _installed[-1].dropped if _installed else None


def protectStandardLog(reactor: Any, twistdOptions: Any) -> LogStream | None:
    """
    If twistd is to log to standard output (C{-n} without C{--logfile},
    or with C{--logfile -}) and standard output is a pipe, a FIFO, a
    terminal or a socket, make C{sys.stdout} a L{LogStream} on it, so that
    twistd's observer (made after the service) writes there. A regular
    file, a daemon (which logs to a file) or a log of one's own choice
    (C{--syslog}, C{--logger}) is left as it is.

    @param twistdOptions: twistd's options (C{Options.parent}), or
        L{None} outside twistd (nothing is done).
    @return: the stream, if it made one.
    """
    if twistdOptions is None or not _logsToStandardOutput(twistdOptions):
        return None
    try:
        fd = sys.stdout.fileno()
        mode = os.fstat(fd).st_mode
    except (AttributeError, OSError, ValueError):
        return None
    if stat.S_ISREG(mode):
        return None
    sys.stdout.flush()
    writer = OutputWriter(reactor, openStandardOutput(fd), "log", quiet=True)
    stream = LogStream(writer)
    _installed.append(stream)
    sys.stdout = stream
    reactor.addSystemEventTrigger("after", "shutdown", stream.finish)
    atexit.register(stream.finish)
    return stream


def _logsToStandardOutput(options: Any) -> bool:
    """
    Whether twistd's log goes to C{sys.stdout} (see twistd's
    C{UnixAppLogger._getLogObserver}).
    """
    get = options.get
    if get("syslog") or get("logger") or not get("nodaemon"):
        return False
    return get("logfile") in ("", "-", None)


def checkLogFile(twistdOptions: Any) -> None:
    """
    Refuse a C{--logfile} twistd cannot log to, and would write waiting
    for a reader if it could: a FIFO or a socket (as C{/dev/stdout} on a
    pipe is). A regular file, a
    file not there yet and a device (C{/dev/null}) are left to twistd.

    @param twistdOptions: twistd's options (C{Options.parent}), or
        L{None} outside twistd.
    @raise CommandLineError: saying what to give instead.
    """
    if twistdOptions is None:
        return
    path = twistdOptions.get("logfile")
    if not path or path == "-":
        return
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        kind = "a FIFO or pipe" if stat.S_ISFIFO(mode) else "a socket"
        raise CommandLineError(
            f"twistd sockplug: --logfile {path!r} is {kind}, which twistd"
            " cannot log to: give a regular file, or leave --logfile out with"
            " -n (the log then goes to standard output, never waiting for"
            " its reader)"
        )
