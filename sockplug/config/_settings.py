# -*- test-case-name: sockplug.config.test.test_settings -*-
"""
The command line and the configuration file, resolved once into one
frozen value, L{Settings}: the listeners to serve, the process's settings,
the metrics endpoint. The service is built from it; a worker process is
given its command line as JSON and the file's text, and resolves them the
same way (see L{sockplug.workers._worker}).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from attrs import evolve, frozen
from twisted.python import usage

from sockplug.config._catalogue import describeKinds
from sockplug.config._file import Configuration, readConfig, readFile
from sockplug.discovery import Registry, discover
from sockplug.endpoints import (
    EndpointParser,
    ParsedEndpoint,
    dualStack,
    overlapKey,
    overlapping,
    parseListenerSpec,
)
from sockplug.errors import (
    CommandLineError,
    ConfigError,
    EndpointSyntaxError,
    UnknownProtocolError,
    shown,
)
from sockplug.interfaces import TransportKind
from sockplug.logs import quoted
from sockplug.options import CommandLine, declaredOptions, resolveOptions
from sockplug.server import Listener

__all__ = [
    "Settings",
    "asCommandLineError",
    "reloadFile",
    "resolveSettings",
    "settingsOf",
]

# Reads the configuration file at a path (see readFile).
Read = Callable[[str], bytes]


@frozen
class Settings:
    """
    What C{twistd sockplug} serves: its command line and its configuration
    file, resolved.

    @ivar commandLine: the command line (its C{config} path absolute).
    @ivar commandLineListeners: the listeners of C{--endpoint}, in order.
    @ivar configuration: with C{--config}, every listener (the command
        line's, then the file's), and the file's settings where the command
        line does not give them; L{None} without.
    @ivar metrics: the endpoint of C{--metrics}, if given.
    @ivar configText: the file's text, as read (what workers are given).
    """

    commandLine: CommandLine
    commandLineListeners: tuple[Listener, ...] = ()
    configuration: Configuration | None = None
    metrics: ParsedEndpoint | None = None
    configText: str | None = None

    @property
    def listeners(self) -> tuple[Listener, ...]:
        """
        Every listener: the command line's, then the file's.
        """
        if self.configuration is None:
            return self.commandLineListeners
        return self.configuration.listeners

    @property
    def maxConnections(self) -> int:
        """
        C{--max-connections}: the command line's, or the file's, or the
        default.
        """
        if self.configuration is None or self.configuration.maxConnections is None:
            return self.commandLine.maxConnections
        return self.configuration.maxConnections

    @property
    def shutdownTimeout(self) -> float:
        """
        C{--shutdown-timeout}: the command line's, or the file's, or the
        default.
        """
        if self.configuration is None or self.configuration.shutdownTimeout is None:
            return self.commandLine.shutdownTimeout
        return self.configuration.shutdownTimeout


def resolveSettings(
    commandLine: CommandLine,
    registry: Registry,
    reactor: Any,
    read: Read = readFile,
    folder: str | None = None,
) -> Settings:
    """
    Check the command line, and read the configuration file it names.

    @param registry: the protocol plugins and datagram endpoint types.
    @param reactor: the reactor the endpoints are for.
    @param read: reads the file (a worker's gives the text its supervisor
        passed).
    @param folder: the folder the server will listen in (twistd's
        C{--rundir}), where relative UNIX paths are; L{None}, the current
        one.
    @raise usage.UsageError: for a mistake on the command line.
    @raise ConfigError: naming every problem in the file.
    """
    if not commandLine.endpoints and not commandLine.config:
        raise usage.UsageError(
            "no --endpoint or --config given; say where to listen, e.g."
            " --endpoint tcp:8888"
        )
    if commandLine.check and not commandLine.config:
        raise usage.UsageError("--check checks a --config FILE; give one")
    try:
        registry.get(commandLine.protocol)
    except UnknownProtocolError as e:
        raise usage.UsageError(f"--protocol: {e}") from None
    parser = EndpointParser(reactor, registry.datagramParsers)
    listeners = _commandLineListeners(commandLine, registry, parser)
    try:
        refuseSharedSockets(None, listeners, folder)
    except ConfigError as e:
        raise usage.UsageError(f"--endpoint: {e.problems[0]}") from None
    metrics = _metricsEndpoint(commandLine.metrics, parser)
    try:
        refuseMetricsClash(None, metrics, listeners, folder)
    except ConfigError as e:
        raise usage.UsageError(e.problems[0]) from None
    settings = Settings(commandLine, listeners, metrics=metrics)
    if commandLine.config is None:
        return settings
    # twistd may change folder (--rundir) before a reload reads it.
    path = os.path.abspath(commandLine.config)
    settings = evolve(settings, commandLine=evolve(commandLine, config=path))
    configuration, text = reloadFile(
        settings, reactor, read, lambda: registry, folder=folder
    )
    if not configuration.listeners:
        raise ConfigError(
            [
                f"no listeners: {path} has no [listeners.NAME] table, and no"
                " --endpoint was given"
            ]
        )
    return evolve(settings, configuration=configuration, configText=text)


def reloadFile(
    settings: Settings,
    reactor: Any,
    read: Read = readFile,
    plugins: Callable[[], Registry] = discover,
    *,
    folder: str | None = None,
) -> tuple[Configuration, str]:
    """
    Read the C{--config} file again: its listeners after those of the
    command line, and its settings where the command line does not give
    them.

    @param plugins: finds the protocol plugins (on a reload, they are
        looked for again: a plugin installed since start-up can then be
        used).
    @param folder: where relative UNIX paths are (see L{resolveSettings});
        on a reload, the current folder, twistd's C{--rundir}.
    @return: that, and the file's text.
    @raise ConfigError: naming every problem in the file.
    """
    path = settings.commandLine.config
    assert path is not None
    registry = plugins()
    data = read(path)
    fromFile = readConfig(
        data, path, registry, EndpointParser(reactor, registry.datagramParsers)
    )
    given = settings.commandLine.given
    listeners = (*settings.commandLineListeners, *fromFile.listeners)
    refuseSharedSockets(path, listeners, folder)
    refuseMetricsClash(path, settings.metrics, fromFile.listeners, folder)
    configuration = Configuration(
        listeners=listeners,
        maxConnections=(
            None if "max-connections" in given else fromFile.maxConnections
        ),
        shutdownTimeout=(
            None if "shutdown-timeout" in given else fromFile.shutdownTimeout
        ),
    )
    return configuration, data.decode("utf-8")


def refuseSharedSockets(
    path: str | None, listeners: Sequence[Listener], folder: str | None = None
) -> None:
    """
    Refuse two listeners on one socket (the same
    L{sockplug.endpoints.ParsedEndpoint.identity}), or on sockets the
    kernel would not let both be bound (L{sockplug.endpoints.overlapping}:
    C{tcp:80} and C{tcp:80:interface=127.0.0.1}, say): the second could
    not listen. A TCP or UDP port 0 is a new port each time, never shared.

    @param path: the configuration file, for the messages; L{None} for
        the command line's listeners alone.
    @param folder: where relative UNIX paths are (see L{resolveSettings}).
    @raise ConfigError: a line for each listener that clashes with an
        earlier one, naming both.
    """
    where = "" if path is None else f"{path}: "
    # A file's names as the file writes them; the command line's as typed.
    show = shown if path is None else quoted
    dual = dualStack()
    problems = []
    # Only listeners of one identity, or of one overlap key, can clash:
    # compare those alone, the earlier in order.
    byIdentity: dict[str, list[int]] = {}
    byKey: dict[object, list[int]] = {}
    for i, listener in enumerate(listeners):
        # (A port 0 is a new port each time: see _sameSocket.)
        fresh = getattr(listener.endpoint.socket, "port", None) == 0
        sameIdentity = (
            [] if fresh else byIdentity.setdefault(listener.endpoint.identity, [])
        )
        key = overlapKey(listener.endpoint, folder)
        sameKey = [] if key is None else byKey.setdefault(key, [])
        candidates = sorted({*sameIdentity, *sameKey})
        sameIdentity.append(i)
        sameKey.append(i)
        for earlier in (listeners[j] for j in candidates):
            if _sameSocket(earlier, listener):
                problems.append(
                    f"{where}listeners {show(earlier.displayName)} and"
                    f" {show(listener.displayName)} listen on the same socket"
                    f" ({show(listener.endpoint.description)})"
                )
            elif overlapping(
                earlier.endpoint, listener.endpoint, dual=dual, folder=folder
            ):
                problems.append(
                    f"{where}listeners {_named(earlier, show)} and"
                    f" {_named(listener, show)}"
                    f" listen on {_clash(listener)}: the second could not"
                    " listen"
                )
            else:
                continue
            break
    if problems:
        raise ConfigError(problems)


def refuseMetricsClash(
    path: str | None,
    metrics: ParsedEndpoint | None,
    listeners: Sequence[Listener],
    folder: str | None = None,
) -> None:
    """
    Refuse listeners on the socket of C{--metrics}, or on one the kernel
    would not let be bound beside it (see L{refuseSharedSockets}): the
    metrics could not listen, or the listener.

    @param path: the configuration file the listeners are from, for the
        messages; L{None} for the command line's.
    @raise ConfigError: a line for each such listener.
    """
    if metrics is None:
        return
    where = "" if path is None else f"{path}: "
    show = shown if path is None else quoted
    dual = dualStack()
    problems = []
    for listener in listeners:
        port = getattr(listener.endpoint.socket, "port", None)
        if port != 0 and metrics.identity == listener.endpoint.identity:
            clash = "the same socket"
        elif overlapping(metrics, listener.endpoint, dual=dual, folder=folder):
            clash = _clash(listener)
        else:
            continue
        problems.append(
            f"{where}--metrics {shown(metrics.description)} and listener"
            f" {_named(listener, show)} listen on {clash}: they cannot both"
            " listen"
        )
    if problems:
        raise ConfigError(problems)


def _clash(listener: Listener) -> str:
    if hasattr(listener.endpoint.socket, "path"):
        return "the same path"
    return "overlapping addresses"


def _named(listener: Listener, show: Callable[[str], str]) -> str:
    name, description = listener.displayName, listener.endpoint.description
    if name == description:
        return show(name)
    return f"{show(name)} ({show(description)})"


def _sameSocket(a: Listener, b: Listener) -> bool:
    if getattr(b.endpoint.socket, "port", None) == 0:
        return False
    return a.endpoint.identity == b.endpoint.identity


def asCommandLineError(e: usage.UsageError | ConfigError) -> CommandLineError:
    """
    A mistake on the command line, or in the file it names, as the one
    error that ends C{twistd sockplug}: one line for the command line,
    a line per problem for the file.
    """
    if isinstance(e, ConfigError):
        return CommandLineError("\n".join(e.problems))
    return CommandLineError(f"twistd sockplug: {e} (see twistd sockplug --help)")


def settingsOf(
    commandLine: CommandLine,
    registry: Registry,
    reactor: Any,
    read: Read = readFile,
    folder: str | None = None,
) -> Settings:
    """
    L{resolveSettings}, a mistake raised as the L{CommandLineError} that
    ends the program (see L{asCommandLineError}).
    """
    try:
        return resolveSettings(commandLine, registry, reactor, read, folder)
    except usage.UsageError as e:
        raise asCommandLineError(e) from e
    except ConfigError as e:
        raise asCommandLineError(e) from None


def _metricsEndpoint(
    value: str | None, parser: EndpointParser
) -> ParsedEndpoint | None:
    if value is None:
        return None
    try:
        endpoint = parser.parse(value)
    except EndpointSyntaxError as e:
        raise usage.UsageError(f"--metrics {shown(value)}: {e.reason}") from None
    if endpoint.kind is not TransportKind.STREAM:
        raise usage.UsageError(
            f"--metrics {shown(value)}: the metrics are served over HTTP, which"
            " needs a stream endpoint (tcp:, tcp6:, unix:, ssl:...)"
        )
    return endpoint


def _commandLineListeners(
    commandLine: CommandLine, registry: Registry, parser: EndpointParser
) -> tuple[Listener, ...]:
    listeners = []
    for value in commandLine.endpoints:
        try:
            spec = parseListenerSpec(value, commandLine.protocol)
            plugin = registry.get(spec.protocol)
            endpoint = parser.parse(spec.endpoint)
        except EndpointSyntaxError as e:
            raise usage.UsageError(f"--endpoint {shown(value)}: {e.reason}") from None
        except UnknownProtocolError as e:
            raise usage.UsageError(f"--endpoint {shown(value)}: {e}") from None
        if endpoint.kind not in plugin.kinds:
            raise usage.UsageError(
                f"--endpoint {shown(value)}: protocol {plugin.name!r} does not"
                f" serve {endpoint.kind.value} endpoints, only"
                f" {describeKinds(plugin.kinds)}"
            )
        options, _ = resolveOptions(declaredOptions(plugin), {})
        listeners.append(Listener(spec, endpoint, plugin, options=options))
    return tuple(listeners)
