# -*- test-case-name: sockplug.workers.test.test_supervisor -*-
"""
C{--workers N}: N processes share the listening sockets.

The twistd process becomes a supervisor. Before anything else (and before
twistd sheds privileges) it makes every listening socket itself (see
L{sockplug.workers._sockets}), and checks that every protocol can start, so
that a port in use or a protocol that cannot start is said once, in one
line, and nothing starts. Then it starts N workers, the same Python
running C{sockplug.workers._worker}, each serving every listener on the sockets
it inherits. A worker that ends is started again after a pause (doubling
while it keeps ending soon, up to 30 seconds), on the same sockets, so
that connections queued meanwhile are served then; so is a worker whose
reactor stops turning, once killed (see L{sockplug.workers._heartbeat}).
When the supervisor stops (SIGTERM, SIGINT), each worker is sent SIGTERM,
gets its C{--shutdown-timeout} to finish its connections, and is killed if
it has not ended a few seconds after that; the workers end by themselves
if the supervisor dies. SIGHUP (with C{--config}) passes the file on to the
workers, which apply it as without workers; a change that needs a socket
the supervisor does not hold is refused, naming it: that needs a restart.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IListeningPort
from twisted.logger import Logger
from twisted.python.failure import Failure

from sockplug.endpoints import unparseArguments
from sockplug.errors import ListenFailed, ProtocolStartError
from sockplug.internet import socketOf
from sockplug.logs import ALREADY_LIMITED, formatAddress
from sockplug.options import PROCESS
from sockplug.server import Listener, closeAtOnce, describeListenError, keysOf
from sockplug.workers._heartbeat import Heartbeats
from sockplug.workers._log import StandardOutputRelay
from sockplug.workers._process import (
    Backoff,
    Slot,
    WorkerCommand,
    WorkerProcess,
    describeEnd,
)
from sockplug.workers._sockets import (
    SharedSocket,
    closeHeld,
    describeSharing,
    openShared,
    sharedSocketOf,
)

__all__ = ["WorkersService"]

_log = Logger()

# A worker gets its --shutdown-timeout, then this long, before SIGKILL; and
# this long again to be reaped after it.
KILL_MARGIN = 5.0


class WorkersService(Service):
    """
    The supervisor of C{workers} worker processes.
    """

    def __init__(
        self,
        reactor: Any,
        listeners: Sequence[Listener],
        workers: int,
        command: WorkerCommand,
        *,
        shutdownTimeout: float = PROCESS["shutdown-timeout"].default,
        workerTimeout: float = PROCESS["worker-timeout"].default,
        config: str | None = None,
        writeOutput: Callable[[bytes], object] | None = None,
        backoff: Callable[[], Backoff] = Backoff,
        openSockets: Callable[
            [Any, SharedSocket, int], list[IListeningPort]
        ] = openShared,
        metrics: bool = False,
    ) -> None:
        """
        @param workerTimeout: how long a worker's heartbeat may be silent
            before it is killed and started again; 0: never.
        @param config: the configuration file's text, if any: what the
            workers get.
        @param writeOutput: where the workers' standard output goes.
        @param backoff: makes the restart delays of one worker.
        @param openSockets: makes the sockets of one listener (see
            L{openShared}).
        @param metrics: whether each worker serves its metrics on a UNIX
            socket of its own, in a private folder, for the supervisor to
            read (see L{sockplug.workers._metrics}).
        """
        self._reactor = reactor
        self._listeners = keysOf(listeners)
        self.workers = workers
        self._command = command
        self.shutdownTimeout = shutdownTimeout
        self._config = config
        self._writeOutput = writeOutput or StandardOutputRelay(reactor)
        self._openSockets = openSockets
        self._plan: dict[str, SharedSocket] = {}
        self._ports: dict[str, list[IListeningPort]] = {}
        self._slots = [Slot(n, backoff()) for n in range(1, workers + 1)]
        self._prepared = False
        self._stopping = False
        self._metrics = metrics
        self.metricsFolder: str | None = None
        self._heartbeats = Heartbeats(reactor, workerTimeout, self._unresponsive)

    @property
    def slots(self) -> tuple[Slot, ...]:
        """
        Every worker, running or not, by number.
        """
        return tuple(self._slots)

    def metricsSocket(self, number: int) -> str | None:
        """
        The path of worker C{number}'s metrics socket, if workers serve
        their metrics.
        """
        if self.metricsFolder is None:
            return None
        return os.path.join(self.metricsFolder, f"worker-{number}.sock")

    @property
    def processes(self) -> list[WorkerProcess]:
        """
        The worker processes running now.
        """
        return [slot.process for slot in self._slots if slot.process is not None]

    def privilegedStartService(self) -> None:
        Service.privilegedStartService(self)
        self._prepared = True
        for key, listener in self._listeners.items():
            try:
                self._plan[key] = sharedSocketOf(listener.endpoint)
                listener.build(self._reactor)
            except (ValueError, ProtocolStartError) as e:
                self._abandon(describeListenError(listener.spec.endpoint, Failure(e)))
        for key, listener in self._listeners.items():
            try:
                self._ports[key] = self._openSockets(
                    self._reactor, self._plan[key], self.workers
                )
            except Exception:
                self._abandon(describeListenError(listener.spec.endpoint, Failure()))
            self._listening(listener, self._plan[key], self._ports[key])

    def _abandon(self, reason: str) -> None:
        _log.critical("{reason}", reason=reason)
        self.abandon()
        raise ListenFailed(f"sockplug: {reason}")

    def abandon(self) -> None:
        """
        Start-up failed: close the sockets made, at once.
        """
        for ports in self._ports.values():
            for port in ports:
                closeAtOnce(port)
        self._ports = {}
        self._prepared = False

    def _listening(
        self, listener: Listener, shared: SharedSocket, ports: list[IListeningPort]
    ) -> None:
        _log.info(
            "{protocol} listening on {endpoint} ({address})",
            protocol=listener.plugin.name,
            endpoint=listener.spec.endpoint,
            address=formatAddress(ports[0].getHost()),
            **ALREADY_LIMITED,
        )
        _log.info(
            "{endpoint} socket options: {sharing}",
            endpoint=listener.spec.endpoint,
            sharing=describeSharing(shared, ports, self.workers),
            **ALREADY_LIMITED,
        )

    def startService(self) -> None:
        if not self._prepared:
            self.privilegedStartService()
        Service.startService(self)
        self._stopping = False
        if self._metrics and self.metricsFolder is None:
            # Made now, after twistd has dropped privileges: the workers
            # make their sockets in it.
            self.metricsFolder = tempfile.mkdtemp(prefix="sockplug-workers-")
        for slot in self._slots:
            self._start(slot)
        self._heartbeats.start()

    def _sockets(self, slot: Slot) -> dict[str, tuple[int, str]]:
        sockets = {}
        for key, shared in self._plan.items():
            ports = self._ports[key]
            port = ports[slot.number - 1] if shared.perWorker else ports[0]
            sock = socketOf(port)
            assert sock is not None
            sockets[key] = (sock.fileno(), shared.identity)
        return sockets

    def _start(self, slot: Slot) -> None:
        slot.restart = None
        if self._stopping:
            return
        reactor = type(self._reactor).__module__
        metrics = self.metricsSocket(slot.number)
        env, childFDs = self._command.forWorker(
            slot.number,
            self._sockets(slot),
            reactor,
            None
            if metrics is None
            else unparseArguments(["unix", metrics], {"mode": "600", "lockfile": "0"}),
            self._heartbeats.interval,
        )
        process = WorkerProcess(
            slot.number,
            self._config,
            writeOutput=self._writeOutput,
            onReady=self._ready,
            onEnded=self._ended,
            onBeat=self._heartbeats.beat,
        )
        slot.startedAt = self._reactor.seconds()
        slot.ended = Deferred()
        try:
            self._reactor.spawnProcess(
                process,
                self._command.executable,
                self._command.args,
                env=env,
                childFDs=childFDs,
            )
        except OSError as e:
            _log.error(
                "worker {worker} could not start: {error}", worker=slot.number, error=e
            )
            self._again(slot)
            return
        slot.process = process
        self._heartbeats.watch(process)
        _log.info(
            "worker {worker} started (pid {pid})", worker=slot.number, pid=process.pid
        )

    def _ready(self, process: WorkerProcess) -> None:
        self._heartbeats.ready(process)
        _log.info(
            "worker {worker} (pid {pid}) is serving",
            worker=process.number,
            pid=process.pid,
        )

    def _ended(self, process: WorkerProcess, reason: Failure) -> None:
        slot = self._slots[process.number - 1]
        if slot.process is not process:
            return
        slot.process = None
        self._heartbeats.forget(process)
        ranFor = self._reactor.seconds() - slot.startedAt
        how = describeEnd(reason)
        if self._stopping:
            _log.info(
                "worker {worker} (pid {pid}) stopped: it {how}",
                worker=process.number,
                pid=process.pid or "-",
                how=how,
            )
        else:
            _log.error(
                "worker {worker} {how} after {seconds:.1f} s",
                worker=process.number,
                how=how,
                seconds=ranFor,
            )
            slot.restarts += 1
            self._again(slot, ranFor)
        slot.ended.callback(None)

    def _unresponsive(self, process: WorkerProcess) -> None:
        # Killed for its silence: its end starts it again.
        self._slots[process.number - 1].unresponsive += 1

    def _again(self, slot: Slot, ranFor: float = 0.0) -> None:
        delay = slot.backoff.delay(ranFor)
        _log.info(
            "worker {worker} starts again in {delay:g} s",
            worker=slot.number,
            delay=delay,
        )
        slot.restart = self._reactor.callLater(delay, self._start, slot)

    @property
    def identities(self) -> dict[str, str]:
        """
        The socket each listener is served on, by name (its
        L{SharedSocket.identity}).
        """
        return {key: shared.identity for key, shared in self._plan.items()}

    @property
    def stopping(self) -> bool:
        """
        Whether the supervisor is stopping (or has stopped).
        """
        return self._stopping

    def configure(self, text: str, shutdownTimeout: float | None = None) -> int:
        """
        Give the workers the configuration file's C{text}: those running
        apply it now, those started later start with it.

        @param shutdownTimeout: the file's C{shutdown-timeout}, if it says.
        @return: how many workers were given it now.
        """
        self._config = text
        if shutdownTimeout is not None:
            self.shutdownTimeout = shutdownTimeout
        for process in self.processes:
            process.configure(text)
        return len(self.processes)

    def stopService(self) -> Deferred[None]:
        """
        Send each worker SIGTERM and close the sockets held for them; fires
        once every worker has ended (killed, if it has not ended within
        its shutdown timeout and a margin).
        """
        Service.stopService(self)
        self._stopping = True
        self._heartbeats.stop()
        for slot in self._slots:
            if slot.restart is not None and slot.restart.active():
                slot.restart.cancel()
            slot.restart = None
            if slot.process is not None:
                slot.process.signal("TERM")
        closing = [closeHeld(port) for ports in self._ports.values() for port in ports]
        self._ports = {}
        waiting: list[Deferred[object]] = [
            slot.ended for slot in self._slots if slot.process is not None
        ]
        done: Deferred[None] = Deferred()

        def finish(result: object = None) -> None:
            if not done.called:
                done.callback(None)

        defer.gatherResults(waiting + closing, consumeErrors=True).addBoth(finish)
        timer = self._reactor.callLater(
            self.shutdownTimeout + KILL_MARGIN, self._kill, finish
        )
        done.addBoth(lambda _: _cancel(timer))
        done.addBoth(lambda _: self._removeFolder())
        return done

    def _removeFolder(self) -> None:
        folder, self.metricsFolder = self.metricsFolder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def _kill(self, finish: Callable[[], None]) -> None:
        for slot in self._slots:
            if slot.process is not None and slot.process.signal("KILL"):
                _log.warn(
                    "worker {worker} (pid {pid}) has not stopped: killed",
                    worker=slot.number,
                    pid=slot.process.pid,
                )
        self._reactor.callLater(KILL_MARGIN, self._giveUp, finish)

    def _giveUp(self, finish: Callable[[], None]) -> None:
        if self.processes:
            _log.error(
                "{count} workers still running after SIGKILL; stopping without them",
                count=len(self.processes),
            )
        finish()


def _cancel(timer: IDelayedCall) -> None:
    if timer.active():
        timer.cancel()
