# -*- test-case-name: sockplug.workers.test.test_process -*-
"""
One worker process, as its supervisor sees it (C{--workers N}): how it is
started, what it says, how it ended, and when to start it again.

A worker gets, as its descriptors: 0, a pipe from the supervisor (the
configuration in force, one line of JSON each time it changes; its end
means the supervisor is gone); 1 and 2, pipes to the supervisor (standard
output and error); 3, a pipe for its log (see L{sockplug.workers._log}); and
from 4 on, the listening sockets it serves, one per listener.
"""

from __future__ import annotations

import contextlib
import json
import signal
from collections.abc import Callable, Mapping
from typing import Any

from attrs import frozen
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import ILogObserver, globalLogPublisher
from twisted.python.failure import Failure

from sockplug.workers._log import Lines, LogRelay

__all__ = [
    "ENVIRONMENT",
    "FIRST_SOCKET",
    "LOG_FD",
    "Backoff",
    "Slot",
    "WorkerCommand",
    "WorkerProcess",
    "describeEnd",
]

# The environment variable that describes a worker to itself (JSON).
ENVIRONMENT = "SOCKPLUG_WORKER"
LOG_FD = 3
FIRST_SOCKET = 4

# How a worker starts: the same Python, without the current folder that
# -c puts first on its path (twistd does not put it there: a folder named
# sockplug there would be imported instead of the installed one).
BOOT = (
    "import sys; sys.path[:1] == [''] and sys.path.pop(0);"
    " from sockplug.workers._worker import main; sys.exit(main(sys.argv[1:]))"
)


@frozen
class WorkerCommand:
    """
    What starts a worker: the program, its arguments (the supervisor's
    command line, as JSON: see L{sockplug.workers._setup.workerCommand})
    and its environment.
    """

    executable: str
    args: tuple[str, ...]
    env: Mapping[str, str]

    def forWorker(
        self,
        number: int,
        sockets: Mapping[str, tuple[int, str]],
        reactor: str,
        metrics: str | None = None,
        heartbeat: float | None = None,
    ) -> tuple[dict[str, str], dict[int, Any]]:
        """
        The environment and the descriptors of worker C{number}.

        @param sockets: by listener, the supervisor's descriptor of the
            socket this worker serves it on, and its identity.
        @param reactor: the module of the supervisor's reactor.
        @param metrics: the endpoint the worker serves its metrics on, for
            the supervisor to read (see L{sockplug.workers._metrics}).
        @param heartbeat: how often the worker's reactor beats, in
            seconds (see L{sockplug.workers._heartbeat}); L{None}: never.
        @return: the environment, and C{childFDs} for C{spawnProcess}.
        """
        childFDs: dict[int, Any] = {0: "w", 1: "r", 2: "r", LOG_FD: "r"}
        described = {}
        for place, (key, (fd, identity)) in enumerate(sockets.items()):
            childFDs[FIRST_SOCKET + place] = fd
            described[key] = {"fd": FIRST_SOCKET + place, "identity": identity}
        description: dict[str, object] = {
            "worker": number,
            "reactor": reactor,
            "sockets": described,
        }
        if metrics is not None:
            description["metrics"] = metrics
        if heartbeat is not None:
            description["heartbeat"] = heartbeat
        env = {**self.env, ENVIRONMENT: json.dumps(description)}
        return env, childFDs


class Backoff:
    """
    How long to wait before starting a worker again: doubling from
    C{initial} up to C{cap}, and back to C{initial} once a worker has run
    for C{stable} seconds.
    """

    def __init__(
        self, initial: float = 0.1, cap: float = 30.0, stable: float = 10.0
    ) -> None:
        self.initial = initial
        self.cap = cap
        self.stable = stable
        self._next = initial

    def delay(self, ranFor: float) -> float:
        """
        The wait before the next start, for a worker that ran C{ranFor}
        seconds.
        """
        if ranFor >= self.stable:
            self._next = self.initial
        delay = self._next
        self._next = min(self._next * 2, self.cap)
        return delay


class Slot:
    """
    Worker C{number}: its process now, and when it is to start again.

    @ivar restarts: how many times it has ended while the server ran.
    @ivar unresponsive: how many times it was killed for its heartbeat's
        silence (see L{sockplug.workers._heartbeat}).
    """

    def __init__(self, number: int, backoff: Backoff) -> None:
        self.number = number
        self.backoff = backoff
        self.process: WorkerProcess | None = None
        self.startedAt = 0.0
        self.restart: IDelayedCall | None = None
        self.ended: Deferred[object] = defer.succeed(None)
        self.restarts = 0
        self.unresponsive = 0


def describeEnd(reason: Failure) -> str:
    """
    How a process ended, in words: C{exited with status 1}, C{was killed
    by SIGKILL}.
    """
    value = reason.value
    number = getattr(value, "signal", None)
    if number:
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"was killed by {name}"
    return f"exited with status {getattr(value, 'exitCode', None)}"


class WorkerProcess(ProcessProtocol):
    """
    One run of a worker: passes on what it says, and tells the supervisor
    when it is ready, when its reactor beats, and when it has ended.

    @ivar number: the worker's number, from 1.
    @ivar ready: whether it has said it listens.
    @ivar pid: its process id (kept once it has ended).
    """

    def __init__(
        self,
        number: int,
        config: str | None,
        *,
        writeOutput: Callable[[bytes], object],
        onReady: Callable[[WorkerProcess], object],
        onEnded: Callable[[WorkerProcess, Failure], object],
        onBeat: Callable[[WorkerProcess], object] = lambda process: None,
        observer: ILogObserver = globalLogPublisher,
    ) -> None:
        self.number = number
        self.ready = False
        self._config = config
        self._writeOutput = writeOutput
        self._onReady = onReady
        self._onEnded = onEnded
        self._onBeat = onBeat
        self._relay = LogRelay(number, observer)
        self._streams = {1: Lines(), 2: Lines(), LOG_FD: Lines()}

    pid: int | None = None

    def connectionMade(self) -> None:
        self.pid = getattr(self.transport, "pid", None)
        self.configure(self._config)

    def configure(self, config: str | None) -> None:
        """
        Send the worker the configuration file's text in force (L{None}
        without C{--config}): the first time, it starts with it; later, it
        reloads it.
        """
        self._config = config
        line = json.dumps({"config": config}) + "\n"
        # It has ended, or is ending (its pipe is gone): processEnded says so.
        with contextlib.suppress(OSError, KeyError):
            self.transport.writeToChild(  # type: ignore[union-attr]
                0, line.encode("utf-8", "surrogateescape")
            )

    def signal(self, name: str) -> bool:
        """
        Send it a signal (C{"TERM"}, C{"KILL"}).

        @return: whether it was still running.
        """
        if self.transport is None:
            return False
        try:
            self.transport.signalProcess(name)
        except (ProcessExitedAlready, OSError):
            return False
        return True

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        lines = self._streams.get(childFD)
        if lines is None:
            return
        if childFD == 1:
            whole = lines.complete(data)
            if whole:
                self._writeOutput(whole)
            return
        for line in lines.lines(data):
            self._line(childFD, line)

    def _line(self, childFD: int, line: bytes) -> None:
        if childFD == 2:
            self._relay.stray(line, "stderr")
            return
        said = self._relay.record(line)
        if said == "beat":
            self._onBeat(self)
        elif said == "ready" and not self.ready:
            self.ready = True
            self._onReady(self)

    def childConnectionLost(self, childFD: int) -> None:
        lines = self._streams.get(childFD)
        rest = b"" if lines is None else lines.rest()
        if not rest:
            return
        if childFD == 1:
            self._writeOutput(rest + b"\n")
        else:
            self._line(childFD, rest)

    def processEnded(self, reason: Failure) -> None:
        for childFD in self._streams:
            self.childConnectionLost(childFD)
        self._onEnded(self, reason)
