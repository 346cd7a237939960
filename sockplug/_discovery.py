# -*- test-case-name: sockplug.test.test_discovery -*-
"""
Finding protocol plugins: modules of the C{sockplug.plugins} dropin package
(Twisted's plugin system) and objects named in the C{sockplug.protocols}
entry-point group (how pip-installed packages declare plugins; Twisted has
no entry-point support, twisted#9477).

A plugin that fails to load is reported by name with its error, never
silently dropped.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import ModuleType
from typing import Any

from attrs import field, frozen
from twisted.plugin import getCache
from twisted.python.modules import getModule

from sockplug.errors import PluginError, UnknownProtocolError
from sockplug.interfaces import IProtocolPlugin
from sockplug.plugin import TransportKind, validName

__all__ = ["ENTRY_POINT_GROUP", "PluginFailure", "Registry", "discover"]

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
    The protocol plugins found, by name, and the failures met on the way.
    """

    protocols: Mapping[str, IProtocolPlugin]
    sources: Mapping[str, str]
    failures: Sequence[PluginFailure] = field(factory=tuple)

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
    if package is None:
        import sockplug.plugins

        package = sockplug.plugins
    protocols: dict[str, IProtocolPlugin] = {}
    sources: dict[str, str] = {}
    failures: list[PluginFailure] = []

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

    for module, candidates in _dropins(package, failures):
        for candidate in candidates:
            add(candidate, module)

    for entryPoint in entryPoints(ENTRY_POINT_GROUP):
        source = f"entry point {entryPoint.name} = {entryPoint.value}"
        try:
            candidate = entryPoint.load()
        except Exception as e:
            failures.append(PluginFailure(source, _error(e)))
        else:
            add(candidate, source)

    return Registry(protocols, sources, tuple(failures))


def _dropins(
    package: ModuleType, failures: list[PluginFailure]
) -> Iterable[tuple[str, list[object]]]:
    """
    The protocol plugins of each module of a dropin package, through
    Twisted's plugin cache; a module that fails to import is added to
    C{failures} with its error.
    """
    cache = getCache(package)
    for dropin in cache.values():
        candidates: list[object] = []
        for cached in dropin.plugins:
            try:
                plugin = IProtocolPlugin(cached, None)
            except Exception as e:
                failures.append(PluginFailure(dropin.moduleName, _error(e)))
                break
            if plugin is not None:
                candidates.append(plugin)
        yield dropin.moduleName, candidates
    # getCache logs and leaves out a module that fails to import; import it
    # again to tell the user which one, and why.
    for module in getModule(package.__name__).iterModules():
        if module.name.rpartition(".")[2] not in cache:
            try:
                importlib.import_module(module.name)
            except Exception as e:
                failures.append(PluginFailure(module.name, _error(e)))
