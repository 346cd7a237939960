# -*- test-case-name: sockplug.server.test.test_service,sockplug.server.test.test_servicereload -*-  # noqa: E501
"""
The twistd service: every listener of one sockplug process.

All listeners start in L{ListenersService.privilegedStartService}, before
twistd sheds privileges, as Twisted's own endpoint services do. Unlike a
hand-built L{StreamServerEndpointService}, which only logs a failure to
listen and leaves twistd running without listening, a listener that cannot
start stops the whole start-up with one line naming it.

L{ListenersService.reload} applies a new set of listeners to the running
service (see L{sockplug.server._reload} for what changes how): all of it, or,
if a new listener cannot start, none of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.defer import Deferred, DeferredLock
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger
from twisted.python.failure import Failure

from sockplug.defences import ConnectionBudget, ConnectionGuard, DatagramGuard
from sockplug.errors import ListenFailed, ProtocolStartError, ReloadFailed
from sockplug.interfaces import TransportKind
from sockplug.internet import raiseFileLimit
from sockplug.logs import quoted
from sockplug.options import PROCESS
from sockplug.server._drain import describeConnections, drain, flushOutputs
from sockplug.server._listener import (
    Listener,
    RunningListener,
    closeAtOnce,
    describeListenError,
    logListening,
)
from sockplug.server._reload import ReloadPlan, ReloadReport, holdersOf, planReload

if TYPE_CHECKING:
    from sockplug.config import Configuration

__all__ = [
    "Listener",
    "ListenersService",
    "closeAtOnce",
    "describeListenError",
    "raiseFileLimit",
]

_log = Logger()


def keysOf(listeners: Iterable[Listener]) -> dict[str, Listener]:
    """
    The listeners by the name a reload matches them by: a file's listener
    by its table's name, a command-line listener by its place on the
    command line (those never change).
    """
    keyed: dict[str, Listener] = {}
    for index, listener in enumerate(listeners):
        keyed[listener.name or f"--endpoint #{index + 1}"] = listener
    return keyed


class ListenersService(Service):
    """
    Starts every listener, and stops them all again: on stop, listening
    ends at once, and open connections get C{shutdownTimeout} seconds to
    finish before they are closed.
    """

    def __init__(
        self,
        reactor: Any,
        listeners: Sequence[Listener],
        shutdownTimeout: float = PROCESS["shutdown-timeout"].default,
        maxConnections: int = PROCESS["max-connections"].default,
    ) -> None:
        self._reactor = reactor
        self._keyed = keysOf(listeners)
        self.shutdownTimeout = shutdownTimeout
        self.budget = ConnectionBudget(maxConnections)
        self._running: dict[str, RunningListener] = {}
        # Guards of listeners a reload removed, while their connections finish.
        self._retired: list[ConnectionGuard] = []
        self._ownPorts: set[int] = set()
        self._lock = DeferredLock()
        self._started = False
        self._starting = False
        self._failure: str | None = None

    @property
    def listeners(self) -> tuple[Listener, ...]:
        """
        The listeners of the configuration in force.
        """
        return tuple(self._keyed.values())

    @property
    def ports(self) -> list[IListeningPort]:
        """
        The listening ports.
        """
        return [r.port for r in self._running.values() if r.port is not None]

    @property
    def runningListeners(self) -> tuple[RunningListener, ...]:
        """
        The listeners in force and what serves them, in order (one a
        failed reload lost has no port).
        """
        return tuple(self._running.values())

    @property
    def guards(self) -> list[ConnectionGuard | DatagramGuard]:
        """
        Every guard: of each listener, and of removed listeners whose
        connections are still open.
        """
        guards = [r.started.guard for r in self._running.values()]
        return [*guards, *self._retired]

    def privilegedStartService(self) -> None:
        Service.privilegedStartService(self)
        self._started = True
        self._starting = True
        self._failure = None
        raiseFileLimit(self.budget.limit, len(self._keyed))
        for key, listener in self._keyed.items():
            try:
                running = RunningListener(
                    listener,
                    listener.prepare(self._reactor, self._ownPorts, self.budget),
                )
            except ProtocolStartError:
                self._failed(Failure(), listener)
                break
            self._running[key] = running
            running.listen().addCallbacks(
                self._listening, self._failed, (running,), errbackArgs=(listener,)
            )
            if self._failure is not None:
                break
        self._starting = False
        if self._failure is not None:
            self.abandon()
            raise ListenFailed(f"sockplug: {self._failure}")

    def startService(self) -> None:
        if not self._started:
            self.privilegedStartService()
        Service.startService(self)

    def _listening(self, port: IListeningPort, running: RunningListener) -> None:
        running.port = port
        listener = running.listener
        guard = running.started.guard
        if guard.counters.since is None:
            guard.counters.since = self._reactor.seconds()
        if isinstance(guard, ConnectionGuard):
            # Also where no port starts the factory (stdio:).
            guard.start()
        logListening(_log, listener, port)
        address = port.getHost()
        if listener.endpoint.kind is TransportKind.DATAGRAM:
            portNumber = getattr(address, "port", None)
            if isinstance(portNumber, int) and portNumber:
                self._ownPorts.add(portNumber)

    def _failed(self, failure: Failure, listener: Listener) -> None:
        """
        A listener failed to start. During start-up, that fails the
        start-up; later (a listener that did not start at once), the
        reactor is already running, so stop it.
        """
        reason = describeListenError(listener.spec.endpoint, failure)
        if self._starting:
            self._failure = reason
            _log.critical("{reason}", reason=reason)
        else:
            _log.critical("{reason}; stopping", reason=reason)
            self._reactor.stop()

    def abandon(self) -> None:
        """
        Start-up failed: close what did start, at once.
        """
        for port in self.ports:
            closeAtOnce(port)
        self._stopGuards()
        self._started = False

    def _stopGuards(self) -> None:
        guards = self.guards
        self._running, self._retired = {}, []
        for guard in guards:
            if isinstance(guard, ConnectionGuard):
                guard.stop()

    def reload(self, configuration: Configuration) -> Deferred[ReloadReport]:
        """
        Apply a new configuration: start, stop, change and keep listeners
        as L{planReload} says, and take its process settings. All of it is
        applied, or, if a new listener cannot start, none of it. Reloads
        are applied one at a time.

        @return: fires with what was done, or fails with L{ReloadFailed}.
        """
        return self._lock.run(self._reloadNow, configuration)

    def _reloadNow(self, configuration: Configuration) -> Deferred[ReloadReport]:
        return Deferred.fromCoroutine(self._apply(configuration))

    async def _apply(self, configuration: Configuration) -> ReloadReport:
        if not self.running:
            raise ReloadFailed("the server is stopping")
        new = keysOf(configuration.listeners)
        # A listener lost by a failed reload (see _listenAll) starts again.
        lost = {key for key, r in self._running.items() if r.port is None}
        plan = planReload(self._keyed, new, lost)
        rebuilt, fresh = self._prepare(plan, new)
        going = [self._running[key] for key in plan.going]
        failed = await self._listenAll(fresh.values())
        # An address may be one a listener that goes away holds (a renamed
        # listener, a new certificate): free it, and try again.
        stoppedEarly = holdersOf(going, [r.listener for r, _ in failed])
        if stoppedEarly:
            await self._stopPorts(stoppedEarly)
            failed = await self._listenAll(r for r, _ in failed)
        if not failed and self.running:
            await self._stopPorts(going)
        if failed or not self.running:  # (stopped while this reload waited)
            await self._stopPorts(fresh.values())
            for running in fresh.values():
                running.retire()  # no connection yet: its guard stops
            if stoppedEarly and self.running:
                await self._listenAll(stoppedEarly, again=True)
            self._recountOwnPorts()
            raise ReloadFailed(
                "; ".join(
                    describeListenError(r.listener.spec.endpoint, f) for r, f in failed
                )
                or "the server is stopping"
            )
        for running in going:
            self._retire(running)
        for key in plan.reconfigured:
            self._running[key].reconfigure(new[key], rebuilt[key])
        self._running = {key: fresh.get(key) or self._running[key] for key in new}
        self._keyed = new
        self._recountOwnPorts()
        self._settings(configuration)
        return ReloadReport(plan)

    def _prepare(
        self, plan: ReloadPlan, new: dict[str, Listener]
    ) -> tuple[dict[str, Any], dict[str, RunningListener]]:
        """
        Build what serves the changed and the new listeners, before any
        of it is used.

        @return: the new factory or protocol of each reconfigured
            listener; each new listener, ready to listen.
        @raise ReloadFailed: if a plugin fails to build.
        """
        rebuilt: dict[str, Any] = {}
        fresh: dict[str, RunningListener] = {}
        key = ""
        try:
            for key in plan.reconfigured:
                rebuilt[key] = new[key].build(self._reactor)
            for key in plan.starting:
                # A replaced listener's counts go on.
                old = self._running.get(key)
                started = new[key].prepare(
                    self._reactor,
                    self._ownPorts,
                    self.budget,
                    None if old is None else old.started.guard.counters,
                )
                fresh[key] = RunningListener(new[key], started)
        except ProtocolStartError as e:
            raise ReloadFailed(f"listener {quoted(key)}: {e}") from e
        return rebuilt, fresh

    async def _listenAll(
        self, records: Iterable[RunningListener], again: bool = False
    ) -> list[tuple[RunningListener, Failure]]:
        """
        Start listening for each record.

        @param again: the records are of listeners stopped for a reload
            that failed: a failure to listen again is logged.
        @return: those that failed, with why.
        """
        failed = []
        for running in records:
            try:
                port = await running.listen()
            except Exception:
                failure = Failure()
                if again:
                    _log.critical(
                        "reload: {reason}; that listener is lost",
                        reason=describeListenError(
                            running.listener.spec.endpoint, failure
                        ),
                    )
                failed.append((running, failure))
            else:
                self._listening(port, running)
        return failed

    async def _stopPorts(self, records: Iterable[RunningListener]) -> None:
        await defer.gatherResults(
            [running.stopListening() for running in records], consumeErrors=True
        )

    def _retire(self, running: RunningListener) -> None:
        guard = running.started.guard
        if isinstance(guard, ConnectionGuard) and guard.openConnections:
            self._retired.append(guard)
            _log.info(
                "{listener} stopped listening; its {open} {go} on",
                listener=running.listener.displayName,
                open=describeConnections(guard.openConnections, "open"),
                go="goes" if guard.openConnections == 1 else "go",
            )
        running.retire().addCallback(
            lambda _: self._retired.remove(guard) if guard in self._retired else None
        )

    def _recountOwnPorts(self) -> None:
        """
        The ports of this process's datagram listeners, after a reload (the
        set is shared with every datagram guard).
        """
        self._ownPorts.clear()
        for running in self._running.values():
            if running.port is None:
                continue
            if running.listener.endpoint.kind is TransportKind.DATAGRAM:
                number = getattr(running.port.getHost(), "port", None)
                if isinstance(number, int) and number:
                    self._ownPorts.add(number)

    def _settings(self, configuration: Configuration) -> None:
        if configuration.maxConnections is not None:
            self.budget.limit = configuration.maxConnections
            raiseFileLimit(self.budget.limit, len(self._keyed))
        if configuration.shutdownTimeout is not None:
            self.shutdownTimeout = configuration.shutdownTimeout

    def stopService(self) -> Deferred[None]:
        """
        Stop listening, then let open connections finish for up to
        C{shutdownTimeout} seconds; close those still open then (at once,
        a second later, those that do not close when asked).
        """
        Service.stopService(self)
        self._started = False
        ports = self.ports
        for running in self._running.values():
            running.port = None
        stopping = [defer.maybeDeferred(port.stopListening) for port in ports]
        d = defer.gatherResults(stopping, consumeErrors=True)
        return d.addBoth(lambda _: self._drain())

    def _drain(self) -> Deferred[None]:
        deadline = self._reactor.seconds() + self.shutdownTimeout
        served = [r.started.served for r in self._running.values()]
        streams = [g for g in self.guards if isinstance(g, ConnectionGuard)]
        drained = drain(self._reactor, streams, self.shutdownTimeout)
        drained.addBoth(lambda _: flushOutputs(self._reactor, served, deadline))
        return drained.addBoth(lambda _: self._stopGuards())
