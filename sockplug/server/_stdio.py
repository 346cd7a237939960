# -*- test-case-name: sockplug.server.test.test_stdio -*-
"""
A process serving C{stdio:}, as inetd runs a server: when it can
(L{standardIOProblem}: not as a daemon, not without standard input or
output; L{checkNoNewStandardIO}: not added by a reload), and its end
(L{StandardIOWatcher}): once its one connection has closed, a process
whose every listener is C{stdio:} has nothing left to serve, and stops (as
twistd stops, exit status 0). Beside other listeners, it goes on serving
them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from twisted.application.service import Service
from twisted.logger import Logger

from sockplug.endpoints import StandardIOPort
from sockplug.errors import ConfigError
from sockplug.logs import quoted
from sockplug.server._listener import Listener
from sockplug.server._service import ListenersService, keysOf

__all__ = [
    "StandardIOWatcher",
    "checkNoNewStandardIO",
    "servesStandardIO",
    "standardIOProblem",
]

_log = Logger()


def servesStandardIO(listeners: Iterable[Listener]) -> bool:
    """
    Whether one of C{listeners} is C{stdio:} (under any C{haproxy:}).
    """
    return any(listener.endpoint.socketType == "stdio" for listener in listeners)


def checkNoNewStandardIO(inForce: Iterable[Listener], new: Iterable[Listener]) -> None:
    """
    A reload keeps, changes or removes a C{stdio:} listener, but cannot
    start one: standard input and output are one connection, made at
    start, and standard output is kept for it only then.

    @raise ConfigError: if C{new} has a C{stdio:} listener that is not one
        of C{inForce}'s (by its name, see L{keysOf}).
    """
    running = keysOf(inForce)
    problems = [
        f"listener {quoted(key)}: stdio: can only be started with the server,"
        " not by a reload"
        for key, listener in keysOf(new).items()
        if servesStandardIO([listener])
        and not (key in running and servesStandardIO([running[key]]))
    ]
    if problems:
        raise ConfigError(problems)


def standardIOProblem(
    daemon: bool,
    stdin: object = sys.__stdin__,
    stdout: object = sys.__stdout__,
) -> str | None:
    """
    Why C{stdio:} cannot be served, if it cannot: a daemon closes its
    standard input and output; a process started with either closed (Python
    then has no C{sys.__stdin__} or C{sys.__stdout__}) would take the first
    file it opens for it.

    @param stdin: Python's standard input, as the process started.
    @param stdout: Python's standard output, as the process started.
    """
    if daemon:
        return (
            "stdio: serves standard input and output, which a daemon"
            " closes: run twistd with -n (--nodaemon)"
        )
    if stdin is None or stdout is None:
        which = "input" if stdin is None else "output"
        return f"stdio: standard {which} is closed; give it one (a pipe, a socket)"
    return None


class StandardIOWatcher(Service):
    """
    Stops the reactor once every C{stdio:} connection of C{listeners} has
    closed, if nothing else listens; added after the listeners' service,
    so that their ports are there when this starts.
    """

    def __init__(self, reactor: Any, listeners: ListenersService) -> None:
        self._reactor = reactor
        self._listeners = listeners

    def startService(self) -> None:
        Service.startService(self)
        for running in self._listeners.runningListeners:
            port = running.port
            if isinstance(port, StandardIOPort):
                name = running.listener.displayName
                port.closed.addCallback(lambda _, name=name: self._closed(name))

    def _closed(self, name: str) -> None:
        """
        The connection of the C{stdio:} listener called C{name} closed.
        """
        if not self.running:
            return  # (the process is stopping, and closed it)
        ports = [r.port for r in self._listeners.runningListeners]
        if all(isinstance(p, StandardIOPort) and p.closed.called for p in ports):
            _log.info("{name} closed: nothing left to serve, stopping", name=name)
            self._reactor.stop()
        else:
            _log.info("{name} closed; the other listeners go on", name=name)
