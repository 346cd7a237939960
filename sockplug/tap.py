# -*- test-case-name: sockplug.test.test_tap -*-
"""
The C{twistd sockplug} command line, and the service it builds.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, ClassVar

from twisted.application.service import IService, MultiService
from twisted.logger import Logger
from twisted.python import usage

from sockplug.config import Configuration, loadConfig, readConfig
from sockplug.discovery import Registry, discover
from sockplug.endpoints import EndpointParser, ParsedEndpoint, parseListenerSpec
from sockplug.errors import (
    CommandLineError,
    ConfigError,
    EndpointSyntaxError,
    UnknownProtocolError,
)
from sockplug.interfaces import TransportKind
from sockplug.internet import installIfNoneChosen
from sockplug.options import (
    LIMIT_HELP,
    OPTION_HELP,
    declaredOptions,
    describeOption,
    resolveOptions,
)
from sockplug.server import ConfigReloader, Listener, ListenersService

__all__ = ["Options", "checkConfig", "describeProtocols", "makeService"]

_log = Logger()

EXAMPLES = """\
Examples:
  twistd -n sockplug --endpoint tcp:8888
      echo on TCP port 8888, every interface
  twistd -n sockplug --protocol line-print --endpoint unix:/tmp/print.sock \\
                     --endpoint udp:9999
      print every line received on either endpoint
  twistd -n sockplug --endpoint hello@tcp:8000 --endpoint echo@udp:7777 \\
                     --endpoint echo@tcp6:8888:interface=\\:\\:1
      one process, several listeners, each with its own protocol
  twistd -n sockplug --config /etc/sockplug.toml
      the listeners of a configuration file (see the README); kill -HUP
      applies a changed file without a restart
  twistd sockplug --config /etc/sockplug.toml --check
      check the file and exit (0 if it is right)

In endpoint strings, ':' separates arguments and '\\' makes the next
character literal (so an IPv6 address is written \\:\\:1). Only the text
before the first ':' is looked at for NAME@, so paths may hold '@'.
"""


def _kinds(kinds: frozenset[TransportKind]) -> str:
    return ", ".join(k.value for k in TransportKind if k in kinds)


def describeProtocols(registry: Registry) -> list[str]:
    """
    The protocols found, with their descriptions and kinds, and the plugins
    that failed to load: lines for C{--help} and C{sockplug protocols}.
    """
    lines = ["Protocols (--protocol NAME, or --endpoint NAME@ENDPOINT):"]
    width = max((len(name) for name in registry.protocols), default=0)
    for name in sorted(registry.protocols):
        plugin = registry.protocols[name]
        lines.append(
            f"  {name:<{width}}  {plugin.description} [{_kinds(plugin.kinds)}]"
        )
        source = registry.sources[name]
        if not source.startswith("sockplug.plugins.sockplug_builtins"):
            lines.append(f"  {'':<{width}}  (from {source})")
        for option in declaredOptions(plugin):
            lines.append(f"  {'':<{width}}  option {describeOption(option)}")
    if registry.failures:
        lines.append("")
        lines.append("Plugins that failed to load:")
        lines.extend(f"  {failure}" for failure in registry.failures)
    return lines


class Options(usage.Options):
    """
    C{twistd sockplug} options.
    """

    synopsis = (
        "[--config FILE [--check]] [--protocol NAME] [--endpoint [NAME@]ENDPOINT ...]"
    )
    longdesc = ""

    optFlags: ClassVar[list[list[str | None]]] = [
        ["check", None, "Check the --config file (and the command line), then exit."],
    ]

    optParameters: ClassVar[list[list[str | None]]] = [
        [
            "protocol",
            "p",
            "echo",
            "The protocol served on endpoints given without NAME@.",
        ],
        [
            "config",
            "c",
            None,
            "A configuration file of listeners (TOML); SIGHUP re-reads it.",
        ],
    ]

    def __init__(self, reactor: Any = None, registry: Registry | None = None) -> None:
        usage.Options.__init__(self)
        self["endpoints"] = []
        self["listeners"] = []
        self["shutdown-timeout"] = 5.0
        self["max-connections"] = 10_000
        self["given"] = set()
        self["configuration"] = None
        self["metrics"] = None
        self["metrics-endpoint"] = None
        self["workers"] = 1
        self._reactor = reactor
        self._registry = registry

    # The --config file's text, as last read (the workers get it).
    configText: str | None = None

    def opt_endpoint(self, value: str) -> None:
        """[NAME@]ENDPOINT to listen on; repeat for more (see below)."""
        self["endpoints"].append(value)

    opt_e = opt_endpoint

    def opt_metrics(self, value: str) -> None:
        """Serve metrics (/metrics) and a status page (/) on this endpoint."""
        if self["metrics"] is not None:
            raise usage.UsageError(
                f"--metrics given twice ({self['metrics']!r}, {value!r});"
                " there is one metrics endpoint"
            )
        self["metrics"] = value

    def opt_workers(self, value: str) -> None:
        """Processes sharing the listening sockets [default: 1]."""
        # (--workers modules load only when asked for: start-up time.)
        from sockplug.workers import parseWorkers

        self["workers"] = parseWorkers(value)

    def opt_max_connections(self, value: str) -> None:
        """Open connections at once, all listeners together [default: 10000]."""
        try:
            number = int(value, 10)
        except ValueError:
            number = 0
        if not 1 <= number <= 1_000_000:
            raise usage.UsageError(
                f"--max-connections {value!r} is not a whole number from 1 to 1000000"
            )
        self["max-connections"] = number
        self["given"].add("max-connections")

    def opt_shutdown_timeout(self, value: str) -> None:
        """Seconds open connections get to finish on SIGTERM [default: 5]."""
        try:
            seconds = float(value)
        except ValueError:
            seconds = -1.0
        if not 0 <= seconds <= 86400:
            raise usage.UsageError(
                f"--shutdown-timeout {value!r} is not a number of seconds"
                " from 0 to 86400"
            )
        self["shutdown-timeout"] = seconds
        self["given"].add("shutdown-timeout")

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
            raise CommandLineError(
                f"twistd sockplug: {e} (see twistd sockplug --help)"
            ) from e

    def postOptions(self) -> None:
        if not self["endpoints"] and not self["config"]:
            raise usage.UsageError(
                "no --endpoint or --config given; say where to listen, e.g."
                " --endpoint tcp:8888"
            )
        if self["check"] and not self["config"]:
            raise usage.UsageError("--check checks a --config FILE; give one")
        try:
            self.registry.get(self["protocol"])
        except UnknownProtocolError as e:
            raise usage.UsageError(f"--protocol: {e}") from None
        self["listeners"] = self._commandLineListeners()
        self["metrics-endpoint"] = self._metricsEndpoint()
        if self["config"]:
            # twistd may change folder (--rundir) before a reload reads it.
            self["config"] = os.path.abspath(self["config"])
            try:
                configuration = self.loadConfiguration()
            except ConfigError as e:
                raise CommandLineError("\n".join(e.problems)) from None
            if not configuration.listeners:
                raise usage.UsageError(
                    f"no listeners: {self['config']} has no [listeners.NAME]"
                    " table, and no --endpoint was given"
                )
            self["configuration"] = configuration
        if self["workers"] > 1:
            from sockplug.workers import checkWorkers

            checkWorkers(self)
        if self["check"]:
            raise SystemExit(
                describeConfiguration(self["config"], self["configuration"])
            )

    def loadConfiguration(self, rediscover: bool = False) -> Configuration:
        """
        Read the C{--config} file: its listeners after those of the command
        line, and its settings where the command line does not give them.

        @param rediscover: look for protocol plugins again (a reload: a
            plugin installed since start-up can then be used).
        @raise ConfigError: naming every problem in the file.
        """
        registry = discover() if rediscover else self.registry
        parser = EndpointParser(self.reactor, registry.datagramParsers)
        fromFile = self.readConfigFile(registry, parser)
        given = self["given"]
        return Configuration(
            listeners=(*self["listeners"], *fromFile.listeners),
            maxConnections=(
                None if "max-connections" in given else fromFile.maxConnections
            ),
            shutdownTimeout=(
                None if "shutdown-timeout" in given else fromFile.shutdownTimeout
            ),
        )

    def readConfigFile(
        self, registry: Registry, parser: EndpointParser
    ) -> Configuration:
        """
        The C{--config} file's own listeners and settings; its text is kept
        in C{configText} (for workers, see L{sockplug.workers._supervisor}).

        @raise ConfigError: naming every problem in the file.
        """
        path = self["config"]
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise ConfigError([f"{path}: cannot read it: {e.strerror or e}"]) from e
        configuration = readConfig(data, path, registry, parser)
        self.configText = data.decode("utf-8")
        return configuration

    def _metricsEndpoint(self) -> ParsedEndpoint | None:
        value = self["metrics"]
        if value is None:
            return None
        parser = EndpointParser(self.reactor, self.registry.datagramParsers)
        try:
            endpoint = parser.parse(value)
        except EndpointSyntaxError as e:
            raise usage.UsageError(f"--metrics {value!r}: {e.reason}") from None
        if endpoint.kind is not TransportKind.STREAM:
            raise usage.UsageError(
                f"--metrics {value!r}: the metrics are served over HTTP, which"
                " needs a stream endpoint (tcp:, tcp6:, unix:, ssl:...)"
            )
        return endpoint

    def _commandLineListeners(self) -> list[Listener]:
        parser = EndpointParser(self.reactor, self.registry.datagramParsers)
        listeners = []
        for value in self["endpoints"]:
            try:
                spec = parseListenerSpec(value, self["protocol"])
                plugin = self.registry.get(spec.protocol)
                endpoint = parser.parse(spec.endpoint)
            except EndpointSyntaxError as e:
                raise usage.UsageError(f"--endpoint {value!r}: {e.reason}") from None
            except UnknownProtocolError as e:
                raise usage.UsageError(f"--endpoint {value!r}: {e}") from None
            if endpoint.kind not in plugin.kinds:
                raise usage.UsageError(
                    f"--endpoint {value!r}: protocol {plugin.name!r} does not"
                    f" serve {endpoint.kind.value} endpoints, only"
                    f" {_kinds(plugin.kinds)}"
                )
            options, _ = resolveOptions(declaredOptions(plugin), {})
            listeners.append(Listener(spec, endpoint, plugin, options=options))
        return listeners

    def getUsage(self, width: int | None = None) -> str:
        return super().getUsage(width) + "\n" + self.catalogue()

    def catalogue(self) -> str:
        """
        The protocols found, the endpoint types known, and examples.
        """
        lines = describeProtocols(self.registry)
        endpointTypes = EndpointParser(
            self.reactor, self.registry.datagramParsers
        ).endpointTypes()
        for kind in TransportKind:
            lines.append("")
            lines.append(f"Endpoint types ({kind.value}):")
            for t in (t for t in endpointTypes if t.kind is kind):
                lines.append(f"  {t.prefix:<9} {t.summary}")
                lines.append(f"  {'':<9}   e.g. {t.example}")
        lines.append("")
        lines.append(
            "Socket options (key=value after a tcp, tcp6, unix, udp or unixgram"
            " endpoint):"
        )
        for name, (kinds, text) in OPTION_HELP.items():
            lines.append(f"  {name:<10} {text} [{', '.join(sorted(kinds))}]")
        lines.extend(
            [
                "  backlog    listen queue length (default 50) [tcp, unix]",
                "  mode       socket file mode, octal (default 660) [unix, unixgram]",
                "  stale      a socket file no server is bound to is replaced"
                " (replace, default) or refused (fail); a live one never is"
                " [unix, unixgram]",
                "  lockfile   keep PATH.lock naming the server's PID"
                " (default 1, as Twisted) [unix]",
                "The log shows each listener's options as the kernel reports them.",
                "",
                "Defences (key=value after any endpoint; see README, Security"
                " and limits):",
            ]
        )
        for name, (kinds, text) in LIMIT_HELP.items():
            lines.append(f"  {name:<12} {text} [{', '.join(sorted(kinds))}]")
        lines.append(
            "  In allow= and deny=, write an IPv6 address's colons as \\:"
            " (allow=\\:\\:1/128), as everywhere in endpoint strings."
        )
        lines.append("")
        return "\n".join(lines) + "\n" + EXAMPLES


def describeConfiguration(path: str, configuration: Configuration) -> int:
    """
    Say that a configuration file is right, and what it holds.

    @return: 0, the exit status.
    """
    names = [listener.displayName for listener in configuration.listeners]
    count = f"{len(names)} listener{'' if len(names) == 1 else 's'}"
    print(f"{path}: ok, {count}{': ' if names else ''}{', '.join(names)}")
    return 0


def checkConfig(path: str, reactor: Any) -> int:
    """
    C{sockplug check-config FILE}: check a configuration file; print that
    it is right, or every problem in it (on standard error).

    @return: the exit status: 0 if right, 1 if not.
    """
    registry = discover()
    parser = EndpointParser(reactor, registry.datagramParsers)
    try:
        configuration = loadConfig(path, registry, parser)
    except ConfigError as e:
        print("\n".join(e.problems), file=sys.stderr)
        return 1
    return describeConfiguration(path, configuration)


def makeService(
    options: Options, adopt: Callable[[Configuration], Configuration] | None = None
) -> IService:
    """
    Build the service of every listener given in C{options}; with a
    configuration file, SIGHUP re-reads it. With C{--workers N}, the
    supervisor of N worker processes (see L{sockplug.workers._supervisor}).

    @param adopt: in a worker, gives each listener of a configuration the
        socket it inherited (see L{sockplug.workers._adopt}).
    """
    if options["workers"] > 1:
        from sockplug.workers import supervise

        return supervise(options)
    for failure in options.registry.failures:
        _log.warn("Protocol plugin failed to load: {failure}", failure=str(failure))
    configuration = options["configuration"]
    if configuration is None:
        configuration = Configuration(listeners=tuple(options["listeners"]))
    adopting = adopt or (lambda configuration: configuration)
    configuration = adopting(configuration)
    root = MultiService()
    listeners = ListenersService(
        options.reactor,
        configuration.listeners,
        configuration.shutdownTimeout
        if configuration.shutdownTimeout is not None
        else options["shutdown-timeout"],
        configuration.maxConnections
        if configuration.maxConnections is not None
        else options["max-connections"],
    )
    root.addService(listeners)
    reloader = None
    if options["config"]:
        reloader = ConfigReloader(
            options.reactor,
            lambda: adopting(options.loadConfiguration(True)),
            listeners,
        )
        root.addService(reloader)
    if options["metrics-endpoint"] is not None:
        # (prometheus_client and twisted.web load only when asked for:
        # start-up time.)
        from sockplug.metrics import MetricsService

        root.addService(
            MetricsService(
                options.reactor, options["metrics-endpoint"], listeners, reloader
            )
        )
    return root
