# -*- test-case-name: sockplug.server.test.test_reload -*-
"""
Live reload: what a new configuration changes.

Listeners are matched by name (a table of the configuration file; the
listeners of the command line never change). L{planReload} sorts them:

  - B{kept}: nothing changed; not touched at all (same socket, no gap);
  - B{reconfigured}: the protocol, its options or the limits changed, but
    not the socket: the same listening socket serves on, new connections
    get the new protocol and options, open ones keep theirs, and the
    limits apply to all;
  - B{replaced}: the endpoint changed: a new socket, and the old one stops
    listening while its open connections finish;
  - B{added}, B{removed}: a removed listener's open connections finish.

The planner knows no service: it is given the listeners running and those
asked for, as values, and says what to do with each.
L{sockplug.server._service.ListenersService.reload} applies its plan (all of
it, or nothing); L{sockplug.server._hangup.ConfigReloader} re-reads the file
on SIGHUP and hands the result to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from typing import TYPE_CHECKING

from attrs import frozen

if TYPE_CHECKING:
    from sockplug.server._listener import Listener, RunningListener

__all__ = [
    "ReloadPlan",
    "ReloadReport",
    "holdersOf",
    "planReload",
    "socketKey",
]


def socketKey(listener: Listener) -> tuple[object, ...]:
    """
    What says which socket a listener needs: the socket its endpoint
    listens on (L{sockplug.endpoints.ParsedEndpoint.identity}: not the
    limits, which sockplug applies, nor how the string spelled its
    options); what is served over it (C{haproxy:}, the TLS settings); and
    the state of the files it read when it was made (L{Listener.files}: a
    renewed certificate needs a new socket).
    """
    endpoint = listener.endpoint
    return (endpoint.identity, endpoint.layers, listener.files)


def holdersOf(
    going: Sequence[RunningListener], failed: Sequence[Listener]
) -> list[RunningListener]:
    """
    Which of the listeners a reload stops may hold an address that
    listeners it starts failed to get: those whose port number or socket
    path one of theirs names (never a port-0 one).
    """
    wanted: set[str] = set()
    for listener in failed:
        wanted.update(listener.endpoint.arguments.values)
    holders = []
    for running in going:
        if running.port is None:
            continue
        host = running.port.getHost()
        where = getattr(host, "port", None) or getattr(host, "name", None)
        if isinstance(where, bytes):
            where = where.decode("utf-8", "surrogateescape")
        if where and str(where) in wanted:
            holders.append(running)
    return holders


def _same(a: Listener, b: Listener) -> bool:
    return (
        a.spec == b.spec
        and a.endpoint.description == b.endpoint.description
        and a.plugin == b.plugin
        and dict(a.options) == dict(b.options)
        and a.endpoint.limits == b.endpoint.limits
    )


@frozen
class ReloadPlan:
    """
    What a reload does to each listener, by name (see the module's
    docstring).
    """

    kept: tuple[str, ...] = ()
    reconfigured: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    @property
    def going(self) -> tuple[str, ...]:
        """
        The listeners whose socket stops listening.
        """
        return self.removed + self.replaced

    @property
    def starting(self) -> tuple[str, ...]:
        """
        The listeners that need a new socket.
        """
        return self.added + self.replaced


def planReload(
    current: Mapping[str, Listener],
    new: Mapping[str, Listener],
    lost: Set[str] = frozenset(),
) -> ReloadPlan:
    """
    Sort the listeners of a reload, by name.

    @param current: the listeners running now.
    @param new: those the new configuration asks for.
    @param lost: those of C{current} that are not listening (a failed
        reload could not start them again): each is replaced, so that it
        gets a socket again.
    """
    kept, reconfigured, replaced = [], [], []
    for name, listener in new.items():
        old = current.get(name)
        if old is None:
            continue
        if name in lost or socketKey(old) != socketKey(listener):
            replaced.append(name)
        elif _same(old, listener):
            kept.append(name)
        else:
            reconfigured.append(name)
    return ReloadPlan(
        kept=tuple(kept),
        reconfigured=tuple(reconfigured),
        replaced=tuple(replaced),
        added=tuple(name for name in new if name not in current),
        removed=tuple(name for name in current if name not in new),
    )


@frozen
class ReloadReport:
    """
    What a reload did.
    """

    plan: ReloadPlan

    def describe(self) -> str:
        """
        One line for the log: C{added a; removed b; changed c (new
        socket), d; kept e}.
        """
        plan = self.plan
        changed = [f"{name} (new socket)" for name in plan.replaced]
        changed += list(plan.reconfigured)
        parts = [
            (what, names)
            for what, names in (
                ("added", list(plan.added)),
                ("removed", list(plan.removed)),
                ("changed", changed),
                ("kept", list(plan.kept)),
            )
            if names
        ]
        if not parts:
            return "no listeners"
        return "; ".join(f"{what} {', '.join(names)}" for what, names in parts)
