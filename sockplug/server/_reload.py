# -*- test-case-name: sockplug.server.test.test_reload -*-
"""
Live reload: what a new configuration changes, and SIGHUP.

Listeners are matched by name (a table of the configuration file; the
listeners of the command line never change). L{planReload} sorts them:

  - B{kept}: nothing changed; not touched at all (same socket, no gap);
  - B{reconfigured}: the protocol, its options or the limits changed, but
    not the socket: the same listening socket serves on, new connections
    get the new protocol and options, open ones keep theirs, and the
    limits apply to all;
  - B{replaced}: the endpoint changed: a new socket, and the old one stops
    listening while its open connections finish;
  - B{added}, B{removed}: a removed listener's open connections finish.

L{ConfigReloader} re-reads the file on SIGHUP and hands the result to
L{sockplug.server._service.ListenersService.reload}, which applies all of it or
nothing.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping, Sequence, Set
from typing import TYPE_CHECKING, Any

from attrs import frozen
from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from sockplug.errors import ConfigError, ReloadFailed

if TYPE_CHECKING:
    from sockplug.config import Configuration
    from sockplug.server._listener import Listener, RunningListener
    from sockplug.server._service import ListenersService

__all__ = [
    "ConfigReloader",
    "HangupService",
    "ReloadPlan",
    "ReloadReport",
    "holdersOf",
    "planReload",
    "socketKey",
]

_log = Logger()


def socketKey(listener: Listener) -> tuple[object, ...]:
    """
    What says which socket a listener needs: the socket its endpoint
    listens on (L{sockplug.endpoints.ParsedEndpoint.identity}: not the
    limits, which sockplug applies, nor how the string spelled its
    options); what is served over it (C{haproxy:}, the TLS settings); and
    the state of the files it read when it was made (L{Listener.files}: a
    renewed certificate needs a new socket).
    """
    endpoint = listener.endpoint
    return (endpoint.identity, endpoint.layers, listener.files)


def holdersOf(
    going: Sequence[RunningListener], failed: Sequence[Listener]
) -> list[RunningListener]:
    """
    Which of the listeners a reload stops may hold an address that
    listeners it starts failed to get: those whose port number or socket
    path one of theirs names (never a port-0 one).
    """
    wanted: set[str] = set()
    for listener in failed:
        wanted.update(listener.endpoint.arguments.values)
    holders = []
    for running in going:
        if running.port is None:
            continue
        host = running.port.getHost()
        where = getattr(host, "port", None) or getattr(host, "name", None)
        if isinstance(where, bytes):
            where = where.decode("utf-8", "surrogateescape")
        if where and str(where) in wanted:
            holders.append(running)
    return holders


def _same(a: Listener, b: Listener) -> bool:
    return (
        a.spec == b.spec
        and a.endpoint.description == b.endpoint.description
        and a.plugin == b.plugin
        and dict(a.options) == dict(b.options)
        and a.endpoint.limits == b.endpoint.limits
    )


@frozen
class ReloadPlan:
    """
    What a reload does to each listener, by name (see the module's
    docstring).
    """

    kept: tuple[str, ...] = ()
    reconfigured: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    @property
    def going(self) -> tuple[str, ...]:
        """
        The listeners whose socket stops listening.
        """
        return self.removed + self.replaced

    @property
    def starting(self) -> tuple[str, ...]:
        """
        The listeners that need a new socket.
        """
        return self.added + self.replaced


def planReload(
    current: Mapping[str, Listener],
    new: Mapping[str, Listener],
    lost: Set[str] = frozenset(),
) -> ReloadPlan:
    """
    Sort the listeners of a reload, by name.

    @param current: the listeners running now.
    @param new: those the new configuration asks for.
    @param lost: those of C{current} that are not listening (a failed
        reload could not start them again): each is replaced, so that it
        gets a socket again.
    """
    kept, reconfigured, replaced = [], [], []
    for name, listener in new.items():
        old = current.get(name)
        if old is None:
            continue
        if name in lost or socketKey(old) != socketKey(listener):
            replaced.append(name)
        elif _same(old, listener):
            kept.append(name)
        else:
            reconfigured.append(name)
    return ReloadPlan(
        kept=tuple(kept),
        reconfigured=tuple(reconfigured),
        replaced=tuple(replaced),
        added=tuple(name for name in new if name not in current),
        removed=tuple(name for name in current if name not in new),
    )


@frozen
class ReloadReport:
    """
    What a reload did.
    """

    plan: ReloadPlan

    def describe(self) -> str:
        """
        One line for the log: C{added a; removed b; changed c (new
        socket), d; kept e}.
        """
        plan = self.plan
        changed = [f"{name} (new socket)" for name in plan.replaced]
        changed += list(plan.reconfigured)
        parts = [
            (what, names)
            for what, names in (
                ("added", list(plan.added)),
                ("removed", list(plan.removed)),
                ("changed", changed),
                ("kept", list(plan.kept)),
            )
            if names
        ]
        if not parts:
            return "no listeners"
        return "; ".join(f"{what} {', '.join(names)}" for what, names in parts)


class HangupService(Service):
    """
    A service that calls its C{reload} on SIGHUP, from the reactor (never
    inside the signal handler), while it runs.

    The handler stays in place once the service stops: a SIGHUP while open
    connections finish (a log rotation's, say) is ignored, rather than
    ending the process at once as its default action would.

    @ivar reloads: how many reloads were C{"done"} and how many
        C{"failed"}.
    """

    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor
        self._stopped = False
        self.reloads = {"done": 0, "failed": 0}

    def startService(self) -> None:
        Service.startService(self)
        self._stopped = False
        signal.signal(signal.SIGHUP, self._hangup)

    def stopService(self) -> None:
        Service.stopService(self)
        self._stopped = True

    def _hangup(self, signum: int, frame: object) -> None:
        # In a signal handler: only hand the work to the reactor.
        self._reactor.callFromThread(self.reload)

    def reload(self) -> object:
        """
        Re-read the configuration and apply it.
        """
        raise NotImplementedError()


class ConfigReloader(HangupService):
    """
    Re-reads the configuration file on SIGHUP and applies it.

    A file that does not load, or a listener that cannot start, changes
    nothing: the problems are logged, and the next SIGHUP tries again.

    SIGHUP and the handler are L{HangupService}'s.
    """

    def __init__(
        self,
        reactor: Any,
        load: Callable[[], Configuration],
        listeners: ListenersService,
    ) -> None:
        super().__init__(reactor)
        self._load = load
        self._listeners = listeners

    def reload(self) -> Deferred[ReloadReport | None]:
        """
        Re-read the file and apply it.

        @return: fires with what was done, or L{None} if nothing was.
        """
        if self._stopped:
            _log.info("SIGHUP ignored: the server is stopping")
            return defer.succeed(None)
        _log.info("SIGHUP: reloading the configuration")
        try:
            configuration = self._load()
        except ConfigError as e:
            self.reloads["failed"] += 1
            for problem in e.problems:
                _log.error("reload: {problem}", problem=problem)
            count = len(e.problems)
            _log.error(
                "reload failed: {count} {problems} in the file; nothing changed",
                count=count,
                problems="problem" if count == 1 else "problems",
            )
            d: Deferred[ReloadReport | None] = Deferred()
            d.callback(None)
            return d
        applying = self._listeners.reload(configuration)

        def done(report: ReloadReport) -> ReloadReport:
            self.reloads["done"] += 1
            _log.info("reload done: {what}", what=report.describe())
            return report

        def failed(failure: Failure) -> None:
            self.reloads["failed"] += 1
            if failure.check(ReloadFailed):
                _log.error("reload failed: {why}; nothing changed", why=failure.value)
            else:
                _log.failure("reload failed", failure)

        return applying.addCallbacks(done, failed)
