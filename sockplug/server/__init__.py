"""
The twistd service: every listener of one process, one listener's
life, the SIGHUP reload (plan and service), the graceful drain (hurried
by a second SIGINT or SIGTERM), the root of a process's services, started
before twistd daemonises, and the end of a C{stdio:} process.
"""

from sockplug.server._earlylog import EarlyEvents
from sockplug.server._hangup import ConfigReloader, HangupService, NothingToReload
from sockplug.server._listener import Listener, closeAtOnce, describeListenError
from sockplug.server._service import ListenersService, keysOf
from sockplug.server._start import ServerRoot, StartEnvironment
from sockplug.server._stdio import (
    StandardIOWatcher,
    checkNoNewStandardIO,
    servesStandardIO,
    standardIOProblem,
)
from sockplug.server._stopsignals import StopSignals, closeConnectionsNow

__all__ = [
    "ConfigReloader",
    "EarlyEvents",
    "HangupService",
    "Listener",
    "ListenersService",
    "NothingToReload",
    "ServerRoot",
    "StandardIOWatcher",
    "StartEnvironment",
    "StopSignals",
    "checkNoNewStandardIO",
    "closeAtOnce",
    "closeConnectionsNow",
    "describeListenError",
    "keysOf",
    "servesStandardIO",
    "standardIOProblem",
]
