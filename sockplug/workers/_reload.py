# -*- test-case-name: sockplug.workers.test.test_reload -*-
"""
SIGHUP with C{--config} and C{--workers N}.

The supervisor reads and checks the file as sockplug does without workers,
and checks that each of its listeners still needs the socket the
supervisor holds for it and that each protocol can start. If so, it gives
the file's text to the workers (see
L{sockplug.workers._supervisor.WorkersService.configure}),
which apply it as without workers: new protocols, options and limits, a
renewed certificate. A change that needs another socket (a listener added
or removed, a new address or socket option) is refused, naming it: the
sockets are made before twistd drops privileges, so that needs a restart.
Nothing else changes then, not even for a worker started again later,
which gets the text in force, not the file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.logger import Logger

from sockplug.errors import ConfigError, ProtocolStartError
from sockplug.logs import quoted
from sockplug.server import HangupService, keysOf
from sockplug.workers._sockets import describeChanges, sharedSocketOf

if TYPE_CHECKING:
    from sockplug.config import Configuration
    from sockplug.workers._supervisor import WorkersService

__all__ = ["WorkersReloader", "refusal"]

_log = Logger()


def refusal(
    configuration: Configuration, held: dict[str, str], reactor: Any
) -> str | None:
    """
    Why workers serving on the sockets C{held} (each listener's identity,
    by name) cannot apply C{configuration}, if they cannot.
    """
    new: dict[str, str] = {}
    for key, listener in keysOf(configuration.listeners).items():
        try:
            new[key] = sharedSocketOf(listener.endpoint).identity
            listener.build(reactor)
        except (ValueError, ProtocolStartError) as e:
            return f"listener {quoted(key)}: {e}"
    changes = describeChanges(held, new)
    if not changes:
        return None
    return (
        f"with --workers, the listening sockets are made at start ({changes}):"
        " restart sockplug to apply that"
    )


class WorkersReloader(HangupService):
    """
    Reads the configuration file again on SIGHUP, and gives it to the
    workers if they can apply it.

    @ivar reloads: how many reloads were C{"done"} (given to the workers)
        and how many C{"failed"}.
    """

    def __init__(
        self,
        reactor: Any,
        load: Callable[[], tuple[Configuration, str]],
        supervisor: WorkersService,
    ) -> None:
        """
        @param load: reads the file, giving its listeners and its text.
        """
        super().__init__(reactor)
        self._load = load
        self._supervisor = supervisor

    def reload(self) -> bool:
        """
        Read the file; give it to the workers if they can apply it.

        @return: whether they were given it.
        """
        if self._stopped or self._supervisor.stopping:
            _log.info("SIGHUP ignored: the server is stopping")
            return False
        _log.info("SIGHUP: reloading the configuration")
        try:
            configuration, text = self._load()
        except ConfigError as e:
            for problem in e.problems:
                _log.error("reload: {problem}", problem=problem)
            count = len(e.problems)
            return self._failed(
                f"{count} {'problem' if count == 1 else 'problems'} in the file"
            )
        why = refusal(configuration, self._supervisor.identities, self._reactor)
        if why is not None:
            return self._failed(why)
        count = self._supervisor.configure(text, configuration.shutdownTimeout)
        self.reloads["done"] += 1
        _log.info(
            "reload: the file goes to the {count} workers running, which apply it",
            count=count,
        )
        return True

    def _failed(self, why: str) -> bool:
        self.reloads["failed"] += 1
        _log.error("reload failed: {why}; nothing changed", why=why)
        return False
