# -*- test-case-name: sockplug.server.test.test_shutdown -*-
"""
The process's bound on open files, raised to fit the connections the
limits allow.
"""

from __future__ import annotations

from twisted.logger import Logger

__all__ = ["FILE_HEADROOM", "raiseFileLimit"]

_log = Logger()


# Descriptors beyond the connections: listening sockets, the log, standard
# I/O, and refused connections between accept and close.
FILE_HEADROOM = 256


def raiseFileLimit(maxConnections: int, listeners: int) -> None:
    """
    Make room for the connections the limits allow: raise the soft limit
    on open files up to the hard limit if need be (a stream listener that
    runs out of descriptors cannot even accept a connection to refuse it,
    and Twisted then retries at once, forever), and warn if even that is
    not enough.
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return
    need = maxConnections + listeners + FILE_HEADROOM
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    target = need if hard == resource.RLIM_INFINITY else min(need, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (OSError, ValueError):
            target = soft
        else:
            _log.info(
                "raised the open-file limit from {soft} to {target}",
                soft=soft,
                target=target,
            )
    if target < need:
        _log.warn(
            "--max-connections needs {need} open files, but the limit is"
            " {target}: lower --max-connections or raise it (ulimit -n)",
            need=need,
            target=target,
        )
