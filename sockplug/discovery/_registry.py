# -*- test-case-name: sockplug.discovery.test.test_registry -*-
"""
Finding protocol plugins: modules of the C{sockplug.plugins} dropin package
(Twisted's plugin layout: a package extended with L{pluginPackagePaths})
and objects named in the C{sockplug.protocols}
entry-point group (how pip-installed packages declare plugins; Twisted has
no entry-point support, twisted#9477).

A plugin that fails to load is reported by name with its error, never
silently dropped.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import ModuleType
from typing import Any

from attrs import field, frozen
from twisted.python.modules import getModule
from zope.interface.interface import InterfaceClass

from sockplug.errors import PluginError, UnknownProtocolError
from sockplug.interfaces import (
    IDatagramServerEndpointStringParser,
    IProtocolPlugin,
    TransportKind,
)
from sockplug.plugin import validName

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginFailure",
    "Registry",
    "discover",
    "loadDropins",
    "providers",
]

ENTRY_POINT_GROUP = "sockplug.protocols"


@frozen
class PluginFailure:
    """
    A plugin that could not be used.

    @ivar source: where it came from: a module name, or an entry point.
    @ivar error: what went wrong, one line.
    """

    source: str
    error: str

    def __str__(self) -> str:
        return f"{self.source}: {self.error}"


@frozen
class Registry:
    """
    The protocol plugins found, by name, the failures met on the way, and
    the datagram endpoint parsers found in the same dropin modules.
    """

    protocols: Mapping[str, IProtocolPlugin]
    sources: Mapping[str, str]
    failures: Sequence[PluginFailure] = field(factory=tuple)
    datagramParsers: Sequence[IDatagramServerEndpointStringParser] = field(
        factory=tuple
    )

    def get(self, name: str) -> IProtocolPlugin:
        """
        The protocol called C{name}.

        @raise UnknownProtocolError: naming the protocols there are, and the
            plugins that failed to load (one of them may be the one meant).
        """
        try:
            return self.protocols[name]
        except KeyError:
            pass
        message = (
            f"unknown protocol {name!r}; the protocols are:"
            f" {', '.join(sorted(self.protocols)) or 'none'}"
        )
        if self.failures:
            message += "; plugins that failed to load: " + "; ".join(
                str(f) for f in self.failures
            )
        raise UnknownProtocolError(message)


def _error(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _check(candidate: object) -> IProtocolPlugin:
    """
    Check that an object is a usable protocol plugin.

    @raise PluginError: saying what is wrong with it.
    """
    plugin = IProtocolPlugin(candidate, None)
    if plugin is None:
        raise PluginError(f"{candidate!r} does not provide IProtocolPlugin")
    validName(plugin.name)
    if not isinstance(plugin.description, str):
        raise PluginError(f"protocol {plugin.name!r}: its description is not text")
    kinds = plugin.kinds
    if not kinds or not all(isinstance(k, TransportKind) for k in kinds):
        raise PluginError(
            f"protocol {plugin.name!r}: kinds must be a non-empty set of"
            f" TransportKind, not {kinds!r}"
        )
    return plugin


EntryPoints = Callable[[str], Iterable[Any]]


def _entryPoints(group: str) -> Iterable[importlib.metadata.EntryPoint]:
    return importlib.metadata.entry_points(group=group)


def discover(
    package: ModuleType | None = None, entryPoints: EntryPoints = _entryPoints
) -> Registry:
    """
    Find every protocol plugin.

    @param package: the dropin package to search (C{sockplug.plugins}).
    @param entryPoints: gives the entry points of a group (for tests).
    """
    protocols: dict[str, IProtocolPlugin] = {}
    sources: dict[str, str] = {}

    def add(candidate: object, source: str) -> None:
        try:
            plugin = _check(candidate)
        except Exception as e:
            failures.append(PluginFailure(source, _error(e)))
            return
        existing = protocols.get(plugin.name)
        if existing is plugin:
            return
        if existing is not None:
            failures.append(
                PluginFailure(
                    source,
                    f"protocol name {plugin.name!r} is taken by"
                    f" {sources[plugin.name]}; ignored",
                )
            )
            return
        protocols[plugin.name] = plugin
        sources[plugin.name] = source

    modules, failures = loadDropins(package)
    for module in modules:
        for candidate in providers([module], IProtocolPlugin):
            add(candidate, module.__name__)

    for entryPoint in entryPoints(ENTRY_POINT_GROUP):
        source = f"entry point {entryPoint.name} = {entryPoint.value}"
        try:
            candidate = entryPoint.load()
        except Exception as e:
            failures.append(PluginFailure(source, _error(e)))
        else:
            add(candidate, source)

    parsers = providers(modules, IDatagramServerEndpointStringParser)
    return Registry(protocols, sources, tuple(failures), tuple(parsers))


def providers(modules: Iterable[ModuleType], interface: InterfaceClass) -> list[Any]:
    """
    The module-level objects of C{modules} that provide C{interface}, in
    the order the modules and their names come.
    """
    found: list[Any] = []
    for module in modules:
        for value in list(vars(module).values()):
            if interface.providedBy(value):
                found.append(value)
    return found


def loadDropins(
    package: ModuleType | None = None,
) -> tuple[list[ModuleType], list[PluginFailure]]:
    """
    Import every module of a dropin package (C{sockplug.plugins} by
    default): those in the package itself and in every C{sockplug/plugins/}
    folder on C{sys.path}, as Twisted's plugin system finds them.

    Unlike L{twisted.plugin.getPlugins}, which logs a module that fails to
    import as an unhandled error (a traceback on standard error, before
    twistd has started logging) and leaves it out, this names it.

    @return: the modules imported, and the failures.
    """
    if package is None:
        import sockplug.plugins

        package = sockplug.plugins
    modules: list[ModuleType] = []
    failures: list[PluginFailure] = []
    for info in getModule(package.__name__).iterModules():
        try:
            modules.append(info.load())
        except Exception as e:
            failures.append(PluginFailure(info.name, _error(e)))
    return modules, failures
