# -*- test-case-name: sockplug.workers.test.test_worker -*-
"""
A worker process of C{twistd sockplug --workers N}: the same listeners as
its supervisor, served on the sockets it inherited from it (see
L{sockplug.workers._process} for what it is given, L{sockplug.workers._adopt} for
how it listens).

It is not a twistd process: it logs to its supervisor (which logs again
what it says, and hears its reactor's heartbeat on the same channel: see
L{sockplug.workers._heartbeat}), reads the configuration file's text from it rather than
from the file (so that every worker serves what the supervisor checked,
even one started again after the file changed), and stops, as on SIGTERM,
when the supervisor goes away.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import signal
import sys
from collections.abc import Callable, Mapping
from typing import Any

from attrs import evolve
from twisted.application.service import IService, IServiceCollection
from twisted.internet import abstract, fdesc
from twisted.internet.error import ReactorNotRunning
from twisted.logger import Logger, globalLogBeginner
from twisted.python.failure import Failure

from sockplug.config import Settings, settingsOf
from sockplug.discovery import Registry, discover
from sockplug.errors import ConfigError, ListenFailed
from sockplug.logs import ProcessLogLimit
from sockplug.options import CommandLine
from sockplug.server import ConfigReloader
from sockplug.tap import buildService
from sockplug.workers._adopt import InheritedSocket, adoptConfiguration
from sockplug.workers._heartbeat import beating, canWrite
from sockplug.workers._log import ChannelObserver, ChannelWriter, Lines
from sockplug.workers._process import ENVIRONMENT, LOG_FD

__all__ = ["GivenText", "ParentPipe", "inheritedSockets", "main", "workerSettings"]

_log = Logger()


class GivenText:
    """
    The configuration file's text, as the supervisor last passed it: what
    a worker reads instead of the file.

    @ivar text: that text; L{None} if none was passed.
    """

    def __init__(self, text: str | None) -> None:
        self.text = text

    def read(self, path: str) -> bytes:
        """
        The text, as the file at C{path} would give it.

        @raise ConfigError: if the supervisor passed none.
        """
        if self.text is None:
            raise ConfigError([f"{path}: the supervisor passed no text"])
        return self.text.encode("utf-8", "surrogateescape")


def workerSettings(
    commandLine: CommandLine, reactor: Any, given: GivenText, registry: Registry
) -> Settings:
    """
    The supervisor's command line, resolved as the supervisor did, with
    the configuration file's text it passed.

    @raise CommandLineError: as C{twistd sockplug} would.
    """
    return settingsOf(commandLine, registry, reactor, given.read)


class ParentPipe(abstract.FileDescriptor):
    """
    The pipe from the supervisor: each line is a configuration to apply;
    its end means that the supervisor has gone. Once the worker stops
    (the reactor's shutdown has begun), the reactor closes the pipe
    itself: that is not told.
    """

    def __init__(
        self,
        reactor: Any,
        fd: int,
        onLine: Callable[[bytes], object],
        onClosed: Callable[[], object],
    ) -> None:
        super().__init__(reactor)
        self._fd = fd
        self._onLine = onLine
        self._onClosed = onClosed
        self._lines = Lines()
        self._stopping = False
        fdesc.setNonBlocking(fd)
        reactor.addSystemEventTrigger("before", "shutdown", self._shutdownBegins)

    def _shutdownBegins(self) -> None:
        self._stopping = True

    def fileno(self) -> int:
        return self._fd

    def doRead(self) -> Any:
        return fdesc.readFromFD(self._fd, self.received)

    def received(self, data: bytes) -> None:
        """
        Take bytes from the pipe.
        """
        for line in self._lines.lines(data):
            self._onLine(line)

    def connectionLost(self, reason: Failure) -> None:
        abstract.FileDescriptor.connectionLost(self, reason)
        if not self._stopping:
            self._onClosed()


def readFirstLine(fd: int, limit: int = 16 * 1024 * 1024) -> tuple[bytes, bytes]:
    """
    Read the first line from C{fd}, blocking.

    @return: the line (without its end), and what came after it.
    @raise EOFError: if the pipe ends first.
    """
    data = b""
    while b"\n" not in data:
        chunk = os.read(fd, 65536)
        if not chunk or len(data) > limit:
            raise EOFError("the supervisor went away")
        data += chunk
    line, _, rest = data.partition(b"\n")
    return line, rest


def configOf(line: bytes) -> str | None:
    """
    The configuration file's text a line from the supervisor carries.

    @raise ValueError: if it is not such a line.
    """
    message = json.loads(line)
    if not isinstance(message, dict) or "config" not in message:
        raise ValueError(f"not a configuration: {line[:80]!r}")
    config = message["config"]
    if config is not None and not isinstance(config, str):
        raise ValueError("the configuration is not text")
    return config


def inheritedSockets(description: Mapping[str, Any]) -> dict[str, InheritedSocket]:
    """
    The sockets a worker inherited, by listener, from its description.
    """
    sockets = description.get("sockets", {})
    return {
        str(key): InheritedSocket(int(value["fd"]), str(value["identity"]))
        for key, value in sockets.items()
    }


def _installReactor(name: object) -> None:
    """
    Install the reactor the supervisor runs (its module's C{install}).
    """
    if not isinstance(name, str):
        return
    try:
        importlib.import_module(name).install()
    except Exception as e:
        _log.warn(
            "reactor {name} not installed ({e}); the default one runs", name=name, e=e
        )


def _reloaders(service: IService) -> list[ConfigReloader]:
    if isinstance(service, ConfigReloader):
        return [service]
    found = []
    for child in IServiceCollection(service, []):
        found.extend(_reloaders(child))
    return found


def _described(
    argv: list[str],
) -> tuple[Mapping[str, Any], dict[str, InheritedSocket], CommandLine] | None:
    """
    What a worker is told: its description (from the environment), the
    sockets it inherited, and the supervisor's command line (its
    argument); L{None} if it is not told (said on standard error).
    """
    raw = os.environ.pop(ENVIRONMENT, "")
    try:
        description = json.loads(raw)
        inherited = inheritedSockets(description)
    except (ValueError, KeyError, TypeError, AttributeError):
        print(
            f"sockplug worker: no ${ENVIRONMENT}; workers are started by"
            " twistd sockplug --workers N",
            file=sys.stderr,
        )
        return None
    try:
        [text] = argv
        commandLine = CommandLine.fromJSON(text)
    except ValueError as e:
        print(
            f"sockplug worker: its argument is not the supervisor's settings ({e});"
            " workers are started by twistd sockplug --workers N",
            file=sys.stderr,
        )
        return None
    metrics = description.get("metrics")
    if isinstance(metrics, str):
        commandLine = evolve(commandLine, metrics=metrics)
    return description, inherited, commandLine


def _beginLogging(reactor: Any) -> ChannelObserver:
    """
    Send the worker's log to the supervisor, through the channel returned,
    bounded here, before the pipe, by the process's log limit (and counted
    again by kind in the supervisor: see L{sockplug.workers._log.LogRelay}).
    The pipe is written without ever waiting for the supervisor (stopped,
    or busy): when it is full, lines are dropped, and the reactor goes on
    serving (L{ChannelWriter}); what waits at the end is written for a
    bounded time.
    """
    pipe = ChannelWriter(reactor, LOG_FD)
    atexit.register(pipe.finish)
    channel = ChannelObserver(pipe)
    limit = ProcessLogLimit(reactor, [channel])
    globalLogBeginner.beginLoggingTo([limit], redirectStandardIO=True)
    reactor.addSystemEventTrigger("after", "shutdown", limit.stop)
    return channel


def main(argv: list[str]) -> int:
    """
    Run a worker: C{argv} is the supervisor's command line, as JSON (see
    L{sockplug.workers._setup.workerCommand}); the environment describes
    the rest.

    @return: the exit status.
    """
    described = _described(argv)
    if described is None:
        return 2
    description, inherited, commandLine = described
    _installReactor(description.get("reactor"))  # (its lines wait for the log)
    from twisted.internet import reactor

    channel = _beginLogging(reactor)

    try:
        first, pending = readFirstLine(0)
        given = GivenText(configOf(first))
        registry = discover()
        settings = workerSettings(commandLine, reactor, given, registry)
    except EOFError:
        return 1
    except (ValueError, SystemExit) as e:
        _log.critical("{why}", why=str(e))
        return 1
    try:
        service = buildService(
            settings,
            reactor,
            registry,
            given.read,
            adopt=lambda c: adoptConfiguration(c, inherited, reactor),
        )
        service.privilegedStartService()
    except ConfigError as e:
        for problem in e.problems:
            _log.critical("{problem}", problem=problem)
        return 1
    except ListenFailed:
        return 1  # said already

    def reconfigure(line: bytes) -> None:
        try:
            given.text = configOf(line)
        except ValueError as e:
            _log.error("from the supervisor: {e}", e=e)
            return
        for reloader in _reloaders(service):
            reloader.reload()

    def orphaned() -> None:
        _log.info("the supervisor has gone: stopping")
        with contextlib.suppress(ReactorNotRunning):  # stopping already
            reactor.stop()

    def start() -> None:
        service.startService()
        # Reloads come from the supervisor, through the pipe: a SIGHUP to
        # the process group (a terminal's, a shell's kill -HUP -PGID) is
        # the supervisor's to act on, not each worker's again.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        pipe = ParentPipe(reactor, 0, reconfigure, orphaned)
        pipe.startReading()  # type: ignore[no-untyped-call]
        pipe.received(pending)
        channel.ready()
        interval = description.get("heartbeat")
        if isinstance(interval, (int, float)) and interval > 0:
            beating(reactor, beat, interval)

    def beat() -> None:
        if canWrite(LOG_FD):
            channel.beat()

    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    # The supervisor says when to stop (SIGTERM): a Ctrl-C reaches the
    # whole process group, and would otherwise stop each worker twice.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    reactor.run()
    return 0
