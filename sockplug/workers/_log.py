# -*- test-case-name: sockplug.workers.test.test_log -*-
"""
What a worker process (C{--workers N}) tells its supervisor, and how the
supervisor passes it on.

A worker sends each of its log events down a pipe of its own as one line
of JSON (its level, namespace, system and text, traceback included, and
its kind for the rate limit), one C{ready} line once it listens, and a
C{beat} line every so often while its reactor turns (see
L{sockplug.workers._heartbeat}). The supervisor logs each event again at
the same level and in the same namespace, its text after C{worker N:}, so
that twistd's C{--logfile} and the like apply to the workers' lines too. A
worker's lines are bounded in the worker (L{sockplug.logs.ProcessLogLimit},
before the pipe) and again in the supervisor, by the kind the worker gave
them, over all its workers; lines a listener's own limit let through are
not counted again. What a worker writes to its standard output
(line-print's output) is passed on to the supervisor's in whole lines;
anything on its standard error (a crash before its log started) is logged
line by line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from twisted.logger import (
    ILogObserver,
    InvalidLogLevelError,
    LogEvent,
    Logger,
    LogLevel,
    eventAsText,
    globalLogPublisher,
)
from zope.interface import implementer

from sockplug.internet import (
    EXIT_TIMEOUT,
    OutputWriter,
    Share,
    openStandardOutput,
    waitWritable,
    writeOut,
)
from sockplug.logs import ALREADY_LIMITED, LOG_KIND, RATE_LIMITED, kindOf

__all__ = [
    "ChannelObserver",
    "ChannelWriter",
    "Lines",
    "LogRelay",
    "StandardOutputRelay",
]

# A line longer than this (a runaway write without a line end) is passed on
# in pieces of this size, so that nothing grows without bound.
MAX_LINE = 256 * 1024

# What the workers' standard output may have waiting for the supervisor's.
RELAY_BUFFER = 1024 * 1024


# What a worker says once its supervisor reads again after it dropped
# lines the supervisor did not read.
_DROPPED = "{count} log lines dropped: the supervisor was not reading them"


@implementer(ILogObserver)
class ChannelObserver:
    """
    In a worker: writes each log event to the supervisor, as one line of
    JSON. Lines the pipe did not take (the supervisor was not reading)
    are counted, and said in one line before the next line it takes.

    @ivar dropped: log lines dropped, ever.
    """

    def __init__(self, write: Callable[[bytes], object]) -> None:
        """
        @param write: writes bytes to the pipe, without waiting (see
            L{ChannelWriter}): returns C{False} if it dropped them; may
            raise L{OSError} once the supervisor is gone.
        """
        self._write = write
        self.dropped = 0
        self._reported = 0

    def __call__(self, event: LogEvent) -> None:
        count = self.dropped - self._reported
        if count and self._send(
            {
                "level": "warn",
                "namespace": __name__,
                "text": _DROPPED.format(count=count),
                "kind": f'"{_DROPPED}" ({__name__})',
                "limited": True,
            }
        ):
            self._reported += count
        level = event.get("log_level", LogLevel.info)
        record: dict[str, object] = {
            "level": str(getattr(level, "name", "info")),
            "namespace": str(event.get("log_namespace", "-")),
            "text": eventAsText(event, includeTimestamp=False, includeSystem=False),
            "kind": kindOf(event),
        }
        if event.get(RATE_LIMITED) is True:
            record["limited"] = True
        system = event.get("log_system")
        if system is not None:
            record["system"] = str(system)
        if not self._send(record):
            self.dropped += 1

    def ready(self) -> None:
        """
        Tell the supervisor that this worker listens.
        """
        self._send({"ready": True})

    def beat(self) -> None:
        """
        Tell the supervisor that this worker's reactor turns.
        """
        self._send({"beat": True})

    def _send(self, record: dict[str, Any]) -> bool:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        try:
            return self._write(line.encode("utf-8", "surrogateescape")) is not False
        except OSError:  # The supervisor is gone: this worker is stopping.
            return True


class ChannelWriter:
    """
    In a worker: writes to the pipe to its supervisor without ever
    waiting, so that a supervisor that does not read (stopped, or busy)
    never holds up the worker's reactor: up to L{RELAY_BUFFER} bytes wait,
    and what does not fit is dropped, whole lines (see L{ChannelObserver}).
    """

    def __init__(self, reactor: Any, fd: int, bound: int = RELAY_BUFFER) -> None:
        """
        @param fd: the worker's end of the pipe.
        """
        self._writer = OutputWriter(
            reactor, openStandardOutput(fd), "the supervisor's channel", quiet=True
        )
        self._share = self._writer.share("channel", bound)

    def __call__(self, data: bytes) -> bool:
        """
        Write C{data}, whole lines, or drop it.

        @return: whether it was written or waits (not dropped).
        """
        return self._writer.write(data, self._share)

    def finish(
        self,
        timeout: float = EXIT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[int, float], object] = waitWritable,
    ) -> None:
        """
        The worker ends: write what waits, waiting for the supervisor for
        at most C{timeout} seconds; drop what is left then.
        """
        writeOut(self._writer, clock() + timeout, clock, wait)


class Lines:
    """
    Cuts a stream of bytes into lines.
    """

    def __init__(self, limit: int = MAX_LINE) -> None:
        self._pending = b""
        self._limit = limit

    def complete(self, data: bytes) -> bytes:
        """
        Take C{data}; give back the whole lines (each with its line end)
        now complete, all at once.
        """
        data = self._pending + data
        end = data.rfind(b"\n") + 1
        if end == 0 and len(data) >= self._limit:
            end = len(data)
        self._pending = data[end:]
        return data[:end]

    def lines(self, data: bytes) -> list[bytes]:
        """
        Take C{data}; give back the lines now complete, without line ends.
        """
        whole = self.complete(data)
        if not whole:
            return []
        return whole.removesuffix(b"\n").split(b"\n")

    def rest(self) -> bytes:
        """
        What came after the last line end (at the end of the stream).
        """
        pending, self._pending = self._pending, b""
        return pending


class LogRelay:
    """
    In the supervisor: logs again what one worker logged.
    """

    def __init__(
        self, worker: int, observer: ILogObserver = globalLogPublisher
    ) -> None:
        self._worker = worker
        self._observer = observer
        self._loggers: dict[str, Logger] = {}
        self._own = Logger(namespace=__name__, observer=observer)

    def _logger(self, namespace: str) -> Logger:
        logger = self._loggers.get(namespace)
        if logger is None:
            logger = Logger(namespace=namespace, observer=self._observer)
            if len(self._loggers) < 1000:
                self._loggers[namespace] = logger
        return logger

    def record(self, line: bytes) -> str | None:
        """
        Log the event of one line the worker sent.

        @return: C{"ready"} or C{"beat"} for the worker's line saying so
            (which is not logged); L{None} for an event.
        """
        try:
            record = json.loads(line.decode("utf-8", "surrogateescape"))
        except ValueError:
            record = None
        if not isinstance(record, dict):
            self.stray(line, "log")
            return None
        for said in ("beat", "ready"):
            if record.get(said) is True:
                return said
        try:
            level = LogLevel.levelWithName(str(record.get("level")))
        except InvalidLogLevelError:
            level = LogLevel.info
        extra: dict[str, object] = {}
        if isinstance(record.get("system"), str):
            extra["log_system"] = record["system"]
        if isinstance(record.get("kind"), str):
            extra[LOG_KIND] = record["kind"]
        if record.get("limited") is True:
            extra.update(ALREADY_LIMITED)
        self._logger(str(record.get("namespace", "-"))).emit(
            level,
            "worker {worker}: {text}",
            worker=self._worker,
            text=str(record.get("text", "")),
            **extra,
        )
        return None

    def stray(self, line: bytes, stream: str) -> None:
        """
        Log a line the worker wrote outside its log (C{stream}: where):
        Python's own last words, say.
        """
        self._own.error(
            "worker {worker} ({stream}): {line}",
            worker=self._worker,
            stream=stream,
            line=line.decode("utf-8", "backslashreplace").rstrip("\r"),
        )


class StandardOutputRelay:
    """
    In the supervisor: passes the workers' standard output (line-print's
    lines, whole) on to this process's own without ever waiting for its
    reader: what it cannot take at once waits, up to L{RELAY_BUFFER}
    bytes; the rest is dropped, counted and logged at a bounded rate (see
    L{sockplug.internet.OutputWriter}).
    """

    def __init__(self, reactor: Any, fd: int = 1) -> None:
        self._reactor = reactor
        self._fd = fd
        self._writer: OutputWriter | None = None
        self._share: Share | None = None

    def __call__(self, data: bytes) -> None:
        if self._writer is None:
            # (At the first line: a supervisor that relays none opens none.)
            self._writer = OutputWriter(
                self._reactor, openStandardOutput(self._fd), "supervisor"
            )
            self._share = self._writer.share("workers", RELAY_BUFFER)
        assert self._share is not None
        self._writer.write(data, self._share)
