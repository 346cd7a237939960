# -*- test-case-name: sockplug.test.test_tap -*-
"""
The C{twistd sockplug} entry: its command line (L{Options}), resolved into
L{sockplug.config.Settings}, and the service built from them
(L{makeService}).

The options are declared in L{sockplug.options.PROCESS}; what C{--help}
lists after them is L{sockplug.config.catalogue}.
"""

from __future__ import annotations

import atexit
from collections.abc import Callable
from typing import Any

from twisted.application.service import IService
from twisted.logger import Logger
from twisted.python import usage

from sockplug.config import (
    Configuration,
    Settings,
    asCommandLineError,
    catalogue,
    describeConfiguration,
    readFile,
    reloadFile,
    settingsOf,
)
from sockplug.discovery import Registry, discover
from sockplug.endpoints import STANDARD_STREAMS, EndpointParser
from sockplug.internet import checkLogFile, installIfNoneChosen, protectStandardLog
from sockplug.logs import limitTwistdLog
from sockplug.options import ProcessOptions
from sockplug.server import (
    ConfigReloader,
    EarlyEvents,
    ListenersService,
    NothingToReload,
    ServerRoot,
    StandardIOWatcher,
    StartEnvironment,
    StopSignals,
    checkNoNewStandardIO,
    closeConnectionsNow,
    servesStandardIO,
    standardIOProblem,
)

__all__ = ["Options", "buildService", "makeService"]

_log = Logger()


class Options(ProcessOptions):
    """
    C{twistd sockplug} options.

    @ivar settings: what they ask for, once parsed.
    """

    synopsis = (
        "[--config FILE [--check]] [--protocol NAME] [--endpoint [NAME@]ENDPOINT ...]"
    )
    longdesc = ""

    settings: Settings

    def __init__(self, reactor: Any = None, registry: Registry | None = None) -> None:
        ProcessOptions.__init__(self)
        self._reactor = reactor
        self._registry = registry

    @property
    def registry(self) -> Registry:
        """
        The protocol plugins, found on first use.
        """
        if self._registry is None:
            self._registry = discover()
        return self._registry

    @property
    def reactor(self) -> Any:
        """
        The reactor the endpoints are for: the global one unless given.
        Unless a reactor was chosen (C{twistd -r}), the global one is
        sockplug's (L{sockplug.internet._reactor}: Twisted's epoll reactor with a
        cheaper dispatch).
        """
        if self._reactor is None:
            installIfNoneChosen()
            from twisted.internet import reactor

            self._reactor = reactor
        return self._reactor

    def parseOptions(self, options: list[str] | None = None) -> None:
        """
        Parse the command line; a mistake in it ends the program with one
        line saying what is wrong (see L{CommandLineError}).
        """
        try:
            usage.Options.parseOptions(self, options)
        except usage.UsageError as e:
            raise asCommandLineError(e) from e

    def postOptions(self) -> None:
        checkLogFile(getattr(self, "parent", None))
        # Relative UNIX paths are bound in twistd's --rundir.
        parent = getattr(self, "parent", None)
        environment = StartEnvironment.ofTwistd(parent) if parent is not None else None
        self.settings = settingsOf(
            self.commandLine(),
            self.registry,
            self.reactor,
            folder=None if environment is None else environment.directory,
        )
        if self.settings.commandLine.workers > 1:
            from sockplug.workers import checkWorkers

            checkWorkers(self.settings)
        if servesStandardIO(self.settings.listeners):
            daemon = self.parent is not None and not (
                self.parent.get("nodaemon") or self.parent.get("debug")
            )
            problem = standardIOProblem(daemon)
            if problem is not None:
                raise usage.UsageError(problem)
        path = self.settings.commandLine.config
        if self.settings.commandLine.check and path is not None:
            configuration = self.settings.configuration
            assert configuration is not None
            raise SystemExit(describeConfiguration(path, configuration))

    def getUsage(self, width: int | None = None) -> str:
        parser = EndpointParser(self.reactor, self.registry.datagramParsers)
        return super().getUsage(width) + "\n" + catalogue(self.registry, parser)


def buildService(
    settings: Settings,
    reactor: Any,
    registry: Registry,
    read: Callable[[str], bytes] = readFile,
    adopt: Callable[[Configuration], Configuration] | None = None,
) -> ServerRoot:
    """
    The service of one process serving C{settings}; with a configuration
    file, SIGHUP reads it again (with C{read}); without one, SIGHUP is
    ignored.

    @param adopt: in a worker, gives each listener of a configuration the
        socket it inherited (see L{sockplug.workers._adopt}).
    """
    for failure in registry.failures:
        _log.warn("Protocol plugin failed to load: {failure}", failure=str(failure))
    adopting = adopt or (lambda configuration: configuration)
    configuration = adopting(Configuration(listeners=settings.listeners))
    root = ServerRoot()
    listeners = ListenersService(
        reactor,
        configuration.listeners,
        settings.shutdownTimeout,
        settings.maxConnections,
    )
    root.addService(listeners)
    hurry = closeConnectionsNow(reactor, lambda: listeners.guards)
    root.stopSignals = StopSignals(reactor, hurry)
    if servesStandardIO(configuration.listeners):
        root.addService(StandardIOWatcher(reactor, listeners))
    reloader = None
    if settings.commandLine.config is not None:

        def load() -> Configuration:
            new = adopting(reloadFile(settings, reactor, read)[0])
            checkNoNewStandardIO(listeners.listeners, new.listeners)
            return new

        reloader = ConfigReloader(reactor, load, listeners)
        root.addService(reloader)
    else:
        root.addService(NothingToReload(reactor))
    if settings.metrics is not None:
        # (prometheus_client and twisted.web load only when asked for:
        # start-up time.)
        from sockplug.metrics import MetricsService

        root.addService(MetricsService(reactor, settings.metrics, listeners, reloader))
    return root


def makeService(options: Options) -> IService:
    """
    Build the service of every listener given in C{options}; with a
    configuration file, SIGHUP re-reads it. With C{--workers N}, the
    supervisor of N worker processes (see L{sockplug.workers._supervisor}).
    Under twistd, every line the process logs goes through the process's
    rate limit (see L{sockplug.logs.ProcessLogLimit}). With C{stdio:},
    standard output is kept for its connection alone (see
    L{sockplug.endpoints.StandardStreams.separate}).

    The service starts listening now, before twistd daemonises (see
    L{sockplug.server._start}): a listener that cannot start ends the
    program here, with one line, with C{-n} or without; if twistd fails
    after it (its log file, its PID file), what listens is closed as the
    process exits (L{ServerRoot.abandonAtExit}).

    twistd makes its log observer after this: on standard output, it is
    given a file that never blocks the reactor (L{protectStandardLog}).

    @raise sockplug.errors.ListenFailed: if a listener cannot start.
    """
    if options.parent is not None:  # twistd's sub-command: twistd logs next
        limitTwistdLog(options.reactor)
    root: ServerRoot
    if options.settings.commandLine.workers > 1:
        from sockplug.workers import supervise

        root = supervise(options.settings, options.reactor, options.registry)
    else:
        if servesStandardIO(options.settings.listeners):
            # Before the log starts, and before stdio: listens: standard
            # output is the connection's.
            STANDARD_STREAMS.separate()
        root = buildService(options.settings, options.reactor, options.registry)
    twistd = getattr(options, "parent", None)
    environment = StartEnvironment.ofTwistd(twistd)
    if environment is not None:
        # (Under twistd, logging begins once this returns.)
        if twistd is None:
            root.startNow(environment)
        else:
            root.startNow(environment, EarlyEvents(), atexit.register)
    protectStandardLog(options.reactor, twistd)
    return root
