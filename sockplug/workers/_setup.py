# -*- test-case-name: sockplug.workers.test.test_setup -*-
"""
C{--workers N} on the command line: its value, what it can serve, and the
supervisor it builds (see L{sockplug.workers._supervisor}).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from twisted.application.service import MultiService
from twisted.logger import Logger
from twisted.python import usage

from sockplug.config import Configuration
from sockplug.logs import quoted
from sockplug.options import PROCESS
from sockplug.workers._process import BOOT, WorkerCommand
from sockplug.workers._reload import WorkersReloader
from sockplug.workers._site import WorkersMetricsService
from sockplug.workers._sockets import sharedSocketOf
from sockplug.workers._supervisor import WorkersService

if TYPE_CHECKING:
    from sockplug.tap import Options

__all__ = ["MAX_WORKERS", "checkWorkers", "supervise", "workerCommand"]

_log = Logger()

MAX_WORKERS = int(PROCESS["workers"].bounds.high)


def checkWorkers(options: Options) -> None:
    """
    Check that workers can serve what C{options} ask for.

    @raise usage.UsageError: naming what they cannot.
    """
    count = options["workers"]
    configuration = options["configuration"]
    listeners = (
        options["listeners"] if configuration is None else configuration.listeners
    )
    for listener in listeners:
        try:
            sharedSocketOf(listener.endpoint)
        except ValueError as e:
            raise usage.UsageError(
                f"--workers {count}: listener {quoted(listener.displayName)}: {e}"
            ) from None


def workerCommand(options: Options) -> list[str]:
    """
    The arguments that give a worker the sockplug options of C{options}
    (not C{--workers}: a worker is one process).
    """
    args = [f"--protocol={options['protocol']}"]
    args += [f"--endpoint={value}" for value in options["endpoint"]]
    if options["config"]:
        args.append(f"--config={options['config']}")
    for name in ("max-connections", "shutdown-timeout"):
        if name in options["given"]:
            args.append(f"--{name}={options[name]}")
    return args


def supervise(options: Options) -> MultiService:
    """
    The supervisor of C{options["workers"]} workers serving C{options};
    with C{--config}, what reloads the file on SIGHUP; with C{--metrics},
    the service of their metrics.
    """
    for failure in options.registry.failures:
        _log.warn("Protocol plugin failed to load: {failure}", failure=str(failure))
    configuration = options["configuration"] or Configuration(
        listeners=tuple(options["listeners"])
    )
    timeout = configuration.shutdownTimeout
    command = WorkerCommand(
        sys.executable,
        (sys.executable, "-c", BOOT, *workerCommand(options)),
        dict(os.environ),
    )

    def load() -> tuple[Configuration, str]:
        reloaded = options.loadConfiguration(True)
        return reloaded, options.configText or ""

    metrics = options["metrics-endpoint"]
    supervisor = WorkersService(
        options.reactor,
        configuration.listeners,
        options["workers"],
        command,
        shutdownTimeout=options["shutdown-timeout"] if timeout is None else timeout,
        config=options.configText,
        metrics=metrics is not None,
    )
    root = MultiService()
    root.addService(supervisor)
    if options["config"]:
        root.addService(WorkersReloader(options.reactor, load, supervisor))
    if metrics is not None:
        root.addService(WorkersMetricsService(options.reactor, metrics, supervisor))
    return root
