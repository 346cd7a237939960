# -*- test-case-name: sockplug.internet.test.test_reactor -*-
"""
sockplug's reactor: Twisted's epoll reactor, dispatching events for less.

For every ready descriptor, Twisted's L{EPollReactor.doPoll} calls
C{log.callWithLogger}, which sets the legacy log context's C{system} key to
the descriptor's C{logPrefix()} for the length of the call. It does so
through four layers of calls, a thread-local lookup and two dictionary
copies, and on a server that answers each read at once that costs about as
much as all the rest of the reactor's work on the event (measured in
C{bench/}).

L{SockplugReactor} does the same for each event, with the same effect and
the same error handling, in one loop: it looks the context tracker up once
per poll rather than per event, and pushes the event's context onto it
directly. Everything else is Twisted's L{EPollReactor} unchanged.

C{twistd sockplug} installs it unless a reactor was chosen (C{-r epoll}
keeps Twisted's own); C{twistd -r sockplug} names it for any twistd plugin.
"""

from __future__ import annotations

import errno
import select
import sys
from collections.abc import Callable
from typing import Any

from twisted.internet.epollreactor import EPollReactor
from twisted.python import context, log
from twisted.python.log import ILogContext

from sockplug.compat import pollParts

__all__ = ["SockplugReactor", "install", "installIfNoneChosen"]


class SockplugReactor(EPollReactor):
    """
    Twisted's epoll reactor with a cheaper dispatch of ready descriptors.
    """

    def doPoll(self, timeout: float | None) -> None:
        """
        Poll for ready descriptors and handle each, as
        L{EPollReactor.doPoll} does.
        """
        if timeout is None:
            timeout = -1  # Wait indefinitely.
        poller, selectables, doReadOrWrite = pollParts(self)
        try:
            ready = poller.poll(timeout, len(selectables))
        except OSError as err:
            if err.errno == errno.EINTR:
                return
            raise
        if not ready:
            return
        # What log.callWithLogger does per event, with the lookups done
        # once: the handlers leave the context stack as they found it.
        contexts = context.theContextTracker.currentContext().contexts
        outer = context.get(ILogContext)
        for fd, event in ready:
            selectable = selectables.get(fd)
            if selectable is None:
                continue
            try:
                system = selectable.logPrefix()
            except KeyboardInterrupt:
                raise
            except BaseException:
                system = "(buggy logPrefix method)"
                log.err(system=system)
            logContext = outer.copy()
            logContext["system"] = system
            contexts.append({ILogContext: logContext})
            try:
                doReadOrWrite(selectable, fd, event)
            except KeyboardInterrupt:
                raise
            except BaseException:
                log.err(system=system)
            finally:
                contexts.pop()

    doIteration = doPoll


def install() -> None:
    """
    Install L{SockplugReactor} as the global reactor.
    """
    from twisted.internet.main import installReactor

    installReactor(SockplugReactor())  # type: ignore[no-untyped-call]


def installIfNoneChosen(
    modules: Any = None, installer: Callable[[], None] = install
) -> bool:
    """
    Install L{SockplugReactor} unless a reactor is installed already (one
    chosen with C{twistd -r}, or imported by something before), or epoll
    is missing (not Linux).

    @param modules: C{sys.modules}, or a stand-in for tests.
    @param installer: what installs it (a stand-in for tests).
    @return: whether it was installed.
    """
    if modules is None:
        modules = sys.modules
    if "twisted.internet.reactor" in modules or not hasattr(select, "epoll"):
        return False
    installer()
    return True
