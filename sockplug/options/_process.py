# -*- test-case-name: sockplug.options.test.test_process -*-
"""
The process's settings: the options of C{twistd sockplug} (L{PROCESS}),
the command line read from them (L{ProcessOptions}), and what it says, as
a value (L{CommandLine}) that passes to worker processes as JSON.

C{max-connections} and C{shutdown-timeout} are keys of the configuration
file too (L{Setting.key}); the command line's win over the file's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from attrs import asdict, field, frozen
from twisted.python import usage

from sockplug.options._setting import (
    Bounds,
    Number,
    Setting,
    Table,
    Value,
    commandLine,
)

__all__ = ["PROCESS", "CommandLine", "ProcessOptions"]


@frozen
class _Text(Value):
    """
    Text, taken as given.

    @ivar repeat: what giving it again does: C{"last"} (the last one
        counts), C{"append"} (each one counts: the value is a list), or
        C{"once"} (refused).
    @ivar one: what there is one of, for the message when it is given
        twice (with C{"once"}).
    @ivar what: what the text is, for the README.
    """

    repeat: str = "last"
    one: str = ""
    what: str = "text"

    def describe(self) -> str:
        return self.what


@frozen
class _Switch(Value):
    """
    An option without a value: given, or not.
    """

    def show(self, value: Any) -> str:
        return "on" if value else "off"

    def describe(self) -> str:
        return "no value"


def _number(low: float, high: float, whole: bool = True, unit: str = "") -> Number:
    return Number(Bounds(low, high, whole), unit)


# Every option of twistd sockplug, in the order the README lists them
# (--help sorts them by name).
PROCESS = Table(
    (
        Setting(
            "endpoint",
            _Text(repeat="append", what="an endpoint string, NAME@ first or not"),
            (),
            "[NAME@]ENDPOINT to listen on; repeat for more (see below).",
            attribute="endpoints",
            shown="none",
            key=None,
            short="e",
            metavar="[NAME@]ENDPOINT",
        ),
        Setting(
            "protocol",
            _Text(what="a protocol's name"),
            "echo",
            "The protocol served on endpoints given without NAME@."
            " [default: {default}]",
            attribute="protocol",
            key=None,
            short="p",
            metavar="NAME",
        ),
        Setting(
            "config",
            _Text(what="a file's path"),
            None,
            "A configuration file of listeners (TOML); SIGHUP re-reads it.",
            attribute="config",
            shown="none",
            key=None,
            short="c",
            metavar="FILE",
        ),
        Setting(
            "check",
            _Switch(),
            False,
            "Check the --config file (and the command line), then exit.",
            attribute="check",
            key=None,
        ),
        Setting(
            "max-connections",
            _number(1, 1_000_000),
            10_000,
            "Open connections at once, all listeners together [default: {default}].",
            attribute="maxConnections",
            spelling=commandLine,
            metavar="N",
        ),
        Setting(
            "shutdown-timeout",
            _number(0, 86400, whole=False, unit="seconds"),
            5.0,
            "Seconds open connections get to finish on SIGTERM [default: {default}].",
            attribute="shutdownTimeout",
            spelling=commandLine,
            metavar="SECONDS",
        ),
        Setting(
            "workers",
            _number(1, 64),
            1,
            "Processes sharing the listening sockets [default: {default}].",
            attribute="workers",
            key=None,
            spelling=commandLine,
            metavar="N",
        ),
        Setting(
            "worker-timeout",
            _number(0, 3600, whole=False, unit="seconds"),
            5.0,
            "With --workers: seconds a worker's reactor may stop turning (no"
            " heartbeat) before it is killed and started again, at least 1;"
            " 0: never [default: {default}].",
            attribute="workerTimeout",
            key=None,
            spelling=commandLine,
            metavar="SECONDS",
        ),
        Setting(
            "metrics",
            _Text(
                repeat="once", one="metrics endpoint", what="a stream endpoint string"
            ),
            None,
            "Serve metrics (/metrics) and a status page (/) on this endpoint.",
            attribute="metrics",
            shown="none",
            key=None,
            metavar="ENDPOINT",
        ),
    )
)


def _default(name: str) -> Any:
    return PROCESS[name].default


def _repeat(setting: Setting) -> str:
    """
    What giving C{setting} again does (see L{_Text.repeat}).
    """
    return setting.value.repeat if isinstance(setting.value, _Text) else "last"


def _texts(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _names(values: Iterable[str]) -> frozenset[str]:
    return frozenset(values)


@frozen
class CommandLine:
    """
    What the command line of C{twistd sockplug} says, each setting checked
    (L{PROCESS} declares them, and their defaults): plain values, written
    as JSON for a worker process (L{toJSON}, L{fromJSON}).

    @ivar given: the names of the settings given (those given win over the
        configuration file's).
    """

    endpoints: tuple[str, ...] = field(default=_default("endpoint"), converter=_texts)
    protocol: str = _default("protocol")
    config: str | None = _default("config")
    check: bool = _default("check")
    maxConnections: int = _default("max-connections")
    shutdownTimeout: float = _default("shutdown-timeout")
    workers: int = _default("workers")
    workerTimeout: float = _default("worker-timeout")
    metrics: str | None = _default("metrics")
    given: frozenset[str] = field(default=frozenset(), converter=_names)

    def toJSON(self) -> str:
        """
        The command line as JSON.
        """
        values = asdict(self)
        values["endpoints"] = list(self.endpoints)
        values["given"] = sorted(self.given)
        return json.dumps(values)

    @classmethod
    def fromJSON(cls, text: str) -> CommandLine:
        """
        The command line L{toJSON} wrote.

        @raise ValueError: if C{text} is not such JSON.
        """
        values = json.loads(text)
        if not isinstance(values, dict):
            raise ValueError("the settings are not a JSON object")
        try:
            return cls(**values)
        except TypeError as e:
            raise ValueError(f"the settings are wrong: {e}") from None


class ProcessOptions(usage.Options):
    """
    The options of L{PROCESS} on a command line: each one's value by its
    name (a list for C{--endpoint}), and C{given}, the names of those
    given.
    """

    def __init__(self) -> None:
        usage.Options.__init__(self)
        for setting in PROCESS:
            repeated = _repeat(setting) == "append"
            self[setting.name] = [] if repeated else setting.default
        self["given"] = set()

    def commandLine(self) -> CommandLine:
        """
        What the command line parsed says.
        """
        values = {setting.attribute: self[setting.name] for setting in PROCESS}
        return CommandLine(**values, given=self["given"])

    def take(self, setting: Setting, text: str) -> None:
        """
        Take C{text} given for C{setting}.

        @raise usage.UsageError: saying what is wrong with it.
        """
        repeat = _repeat(setting)
        if repeat == "once" and setting.name in self["given"]:
            assert isinstance(setting.value, _Text)
            raise usage.UsageError(
                f"--{setting.name} given twice ({self[setting.name]!r}, {text!r});"
                f" there is one {setting.value.one}"
            )
        try:
            value = setting.parse(text)
        except ValueError as e:
            raise usage.UsageError(str(e)) from None
        if repeat == "append":
            self[setting.name].append(value)
        else:
            self[setting.name] = value
        self["given"].add(setting.name)


def _handler(setting: Setting) -> Any:
    """
    The C{opt_} method of C{setting}, its docstring the help line.
    """
    if isinstance(setting.value, _Switch):

        def switch(self: ProcessOptions) -> None:
            self[setting.name] = True
            self["given"].add(setting.name)

        handler: Any = switch
    else:

        def option(self: ProcessOptions, value: str) -> None:
            self.take(setting, value)

        handler = option
    handler.__doc__ = setting.describe()
    return handler


for _setting in PROCESS:
    _method = _handler(_setting)
    setattr(ProcessOptions, "opt_" + _setting.name.replace("-", "_"), _method)
    if _setting.short is not None:
        setattr(ProcessOptions, "opt_" + _setting.short, _method)
del _setting, _method
