# -*- test-case-name: sockplug.workers.test.test_setup -*-
"""
C{--workers N}: what workers can serve, what each is given, and the
supervisor built for them (see L{sockplug.workers._supervisor}).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from attrs import evolve
from twisted.logger import Logger
from twisted.python import usage

from sockplug.config import Configuration, Settings, reloadFile
from sockplug.discovery import Registry
from sockplug.logs import quoted
from sockplug.options import PROCESS, CommandLine
from sockplug.server import NothingToReload, ServerRoot, StopSignals
from sockplug.workers._heartbeat import MIN_TIMEOUT
from sockplug.workers._process import BOOT, WorkerCommand
from sockplug.workers._reload import WorkersReloader
from sockplug.workers._site import WorkersMetricsService
from sockplug.workers._sockets import sharedSocketOf
from sockplug.workers._supervisor import WorkersService

__all__ = ["checkWorkers", "supervise", "workerCommand"]

_log = Logger()

# What a worker is not given: it is one process, serves its metrics on a
# socket of its own (see sockplug.workers._metrics), and checks nothing.
_SUPERVISORS = frozenset({"workers", "worker-timeout", "metrics", "check"})


def checkWorkers(settings: Settings) -> None:
    """
    Check that workers can serve what C{settings} ask for.

    @raise usage.UsageError: naming what they cannot.
    """
    count = settings.commandLine.workers
    timeout = settings.commandLine.workerTimeout
    if 0 < timeout < MIN_TIMEOUT:
        raise usage.UsageError(
            f"--worker-timeout {timeout:g}: give 0 (no heartbeat check) or at"
            f" least {MIN_TIMEOUT:g} second; a shorter one kills workers that are"
            " only briefly busy"
        )
    for listener in settings.listeners:
        try:
            sharedSocketOf(listener.endpoint)
        except ValueError as e:
            raise usage.UsageError(
                f"--workers {count}: listener {quoted(listener.displayName)}: {e}"
            ) from None


def workerCommand(settings: Settings) -> str:
    """
    The command line a worker is given, as JSON: the supervisor's (its
    configuration file's path absolute), without C{--workers},
    C{--worker-timeout}, C{--metrics} and C{--check}.
    """
    commandLine = settings.commandLine
    forWorker: CommandLine = evolve(
        commandLine,
        workers=1,
        workerTimeout=PROCESS["worker-timeout"].default,
        metrics=None,
        check=False,
        given=commandLine.given - _SUPERVISORS,
    )
    return forWorker.toJSON()


def supervise(settings: Settings, reactor: Any, registry: Registry) -> ServerRoot:
    """
    The supervisor of the workers serving C{settings}; with C{--config},
    what reloads the file on SIGHUP (without it, what ignores SIGHUP);
    with C{--metrics}, the service of their metrics.
    """
    for failure in registry.failures:
        _log.warn("Protocol plugin failed to load: {failure}", failure=str(failure))
    command = WorkerCommand(
        sys.executable,
        (sys.executable, "-c", BOOT, workerCommand(settings)),
        dict(os.environ),
    )

    def load() -> tuple[Configuration, str]:
        return reloadFile(settings, reactor)

    supervisor = WorkersService(
        reactor,
        settings.listeners,
        settings.commandLine.workers,
        command,
        shutdownTimeout=settings.shutdownTimeout,
        workerTimeout=settings.commandLine.workerTimeout,
        config=settings.configText,
        metrics=settings.metrics is not None,
    )
    root = ServerRoot()
    root.addService(supervisor)

    def hurry() -> None:
        # A second SIGINT or SIGTERM: each worker is sent SIGTERM again,
        # and closes its connections at once.
        for process in supervisor.processes:
            process.signal("TERM")

    root.stopSignals = StopSignals(reactor, hurry)
    if settings.commandLine.config is not None:
        root.addService(WorkersReloader(reactor, load, supervisor))
    else:
        root.addService(NothingToReload(reactor))
    if settings.metrics is not None:
        root.addService(WorkersMetricsService(reactor, settings.metrics, supervisor))
    return root
