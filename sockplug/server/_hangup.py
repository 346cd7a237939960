# -*- test-case-name: sockplug.server.test.test_hangup -*-
"""
SIGHUP: the service that re-reads the configuration file and applies it
(L{ConfigReloader}), on the signal handling it shares with the workers'
reloader (L{HangupService}); without a configuration file, the service that
only ignores it (L{NothingToReload}).
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from sockplug.errors import ConfigError, ReloadFailed
from sockplug.server._reload import ReloadReport

if TYPE_CHECKING:
    from sockplug.config import Configuration
    from sockplug.server._service import ListenersService

__all__ = ["ConfigReloader", "HangupService", "NothingToReload"]

# The reload's log lines keep the namespace they had when this service
# lived beside the planner (sockplug.server._reload): users and their
# scripts read them (README.md shows one, tests/configured.py matches it).
_log = Logger(namespace="sockplug.server._reload")


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


class NothingToReload(HangupService):
    """
    Ignores SIGHUP, saying so, in a server without a configuration file:
    the signal's default action would end the process at once, open
    connections and all, even while they finish after SIGTERM.
    """

    def reload(self) -> None:
        """
        Say that the SIGHUP is ignored, and why.
        """
        if self._stopped:
            _log.info("SIGHUP ignored: the server is stopping")
        else:
            _log.info("SIGHUP ignored: nothing to reload without --config")


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
