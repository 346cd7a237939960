# -*- test-case-name: sockplug.workers.test.test_heartbeat -*-
"""
C{--worker-timeout}: the supervisor notices a worker whose reactor has
stopped turning.

A worker's reactor beats: a timer of its own (L{beating}) sends a C{beat}
line on its log channel to the supervisor (see L{sockplug.workers._log})
every L{beatInterval}. A reactor that is blocked (a protocol looping in
its thread), or a process that is stopped (SIGSTOP), sends none. The
supervisor's own timer (L{Heartbeats}) looks at each worker's last beat:
one silent for longer than the timeout is logged, once, and killed with
SIGKILL (SIGTERM does nothing to a stopped process, and a blocked reactor
never gets to it); the supervisor reaps it and starts a new one on the
same sockets, as for a worker that died (with the same pause).

Until a worker says it serves, it is given L{STARTUP_ALLOWANCE} (or the
timeout, if longer): it imports, reads and checks its settings before its
reactor runs, and a loaded machine makes that slow. When the supervisor's
own timer comes late (its own reactor stalled, the machine was suspended,
the clock jumped), every worker's silence is counted again from then: that
silence proves nothing about the workers.
"""

from __future__ import annotations

import select
from collections.abc import Callable
from typing import Any

from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from sockplug.workers._process import WorkerProcess

__all__ = [
    "STARTUP_ALLOWANCE",
    "Heartbeats",
    "beatInterval",
    "beating",
    "canWrite",
]

_log = Logger()

# The most a worker waits between beats, and how many beats fit in one
# timeout at least (so that one late beat is never taken for silence).
MAX_INTERVAL = 1.0
BEATS_PER_TIMEOUT = 4

# How long a worker may take to say it serves.
STARTUP_ALLOWANCE = 60.0

# The shortest --worker-timeout other than 0: below it, a healthy
# worker's beats, a quarter of it apart, are late whenever its reactor
# or the machine is briefly busy (a garbage collection, a loaded host).
MIN_TIMEOUT = 1.0


def beatInterval(timeout: float) -> float | None:
    """
    How often a worker beats (and the supervisor looks), for a timeout of
    C{timeout} seconds; L{None} for a timeout of 0: no heartbeat.
    """
    if timeout <= 0:
        return None
    return min(MAX_INTERVAL, timeout / BEATS_PER_TIMEOUT)


def beating(reactor: Any, beat: Callable[[], object], interval: float) -> LoopingCall:
    """
    In a worker: call C{beat} now and every C{interval} seconds, on
    C{reactor}'s clock, for as long as its reactor turns.
    """
    loop = LoopingCall(beat)
    loop.clock = reactor
    loop.start(interval, now=True)
    return loop


def canWrite(fd: int) -> bool:
    """
    Whether the pipe C{fd} takes a beat at once: a worker whose supervisor
    does not read (stopped itself) skips its beats rather than wait.
    """
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return bool(poller.poll(0))


class _Watched:
    """
    What the supervisor knows of one worker's heartbeat.
    """

    def __init__(self, since: float) -> None:
        self.last = since
        self.ready = False


class Heartbeats:
    """
    In the supervisor: which workers' reactors are turning.

    Each worker is told of with L{watch} when it starts, L{beat} at each
    beat (L{ready} when it says it serves), and L{forget} when it ends.
    One silent too long is logged, killed with SIGKILL and forgotten; its
    end (reaped as any other) starts it again.
    """

    def __init__(
        self,
        reactor: Any,
        timeout: float,
        onKilled: Callable[[WorkerProcess], object] = lambda process: None,
        startup: float = STARTUP_ALLOWANCE,
    ) -> None:
        """
        @param timeout: seconds of silence after which a serving worker is
            killed; 0: never.
        @param onKilled: called with each worker killed for its silence.
        @param startup: the silence allowed before a worker says it serves
            (the timeout, if longer).
        """
        self._reactor = reactor
        self.timeout = timeout
        self.interval = beatInterval(timeout)
        self._startup = max(startup, timeout)
        self._onKilled = onKilled
        self._watched: dict[WorkerProcess, _Watched] = {}
        self._loop: LoopingCall | None = None
        self._checkedAt = 0.0

    def start(self) -> None:
        """
        Start looking, every L{interval} seconds (unless the timeout is 0).
        """
        if self.interval is None or self._loop is not None:
            return
        self._checkedAt = self._reactor.seconds()
        self._loop = LoopingCall(self.check)
        self._loop.clock = self._reactor
        self._loop.start(self.interval, now=False)

    def stop(self) -> None:
        """
        Stop looking (the supervisor stops: its own path ends the workers).
        """
        loop, self._loop = self._loop, None
        if loop is not None and loop.running:
            loop.stop()

    def watch(self, worker: WorkerProcess) -> None:
        """
        C{worker} has started: its silence counts from now.
        """
        self._watched[worker] = _Watched(self._reactor.seconds())

    def beat(self, worker: WorkerProcess) -> None:
        """
        C{worker}'s reactor has turned.
        """
        watched = self._watched.get(worker)
        if watched is not None:
            watched.last = self._reactor.seconds()

    def ready(self, worker: WorkerProcess) -> None:
        """
        C{worker} says it serves: from now on, the timeout applies.
        """
        watched = self._watched.get(worker)
        if watched is not None:
            watched.ready = True
            watched.last = self._reactor.seconds()

    def forget(self, worker: WorkerProcess) -> None:
        """
        C{worker} has ended.
        """
        self._watched.pop(worker, None)

    def check(self) -> None:
        """
        Kill each worker silent for too long.
        """
        now = self._reactor.seconds()
        late = now - self._checkedAt > self.timeout / 2
        self._checkedAt = now
        if late:
            # This process was not turning either: count from now.
            for watched in self._watched.values():
                watched.last = max(watched.last, now)
            return
        for worker, watched in list(self._watched.items()):
            silent = now - watched.last
            if silent > (self.timeout if watched.ready else self._startup):
                del self._watched[worker]
                self._kill(worker, silent, watched.ready)

    def _kill(self, worker: WorkerProcess, silent: float, ready: bool) -> None:
        if ready:
            _log.error(
                "worker {worker} (pid {pid}) is unresponsive: no heartbeat for"
                " {silent:.1f} s (--worker-timeout {timeout:g}); killing it",
                worker=worker.number,
                pid=worker.pid,
                silent=silent,
                timeout=self.timeout,
            )
        else:
            _log.error(
                "worker {worker} (pid {pid}) has not started serving in"
                " {silent:.1f} s; killing it",
                worker=worker.number,
                pid=worker.pid,
                silent=silent,
            )
        worker.signal("KILL")
        self._onKilled(worker)
