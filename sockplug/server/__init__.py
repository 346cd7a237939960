"""
The twistd service: every listener of one process, one listener's
life, the SIGHUP reload (plan and service), the graceful drain, and the
end of a C{stdio:} process.
"""

from sockplug.server._hangup import ConfigReloader, HangupService, NothingToReload
from sockplug.server._listener import Listener, closeAtOnce, describeListenError
from sockplug.server._service import ListenersService, keysOf
from sockplug.server._stdio import (
    StandardIOWatcher,
    checkNoNewStandardIO,
    servesStandardIO,
    standardIOProblem,
)

__all__ = [
    "ConfigReloader",
    "HangupService",
    "Listener",
    "ListenersService",
    "NothingToReload",
    "StandardIOWatcher",
    "checkNoNewStandardIO",
    "closeAtOnce",
    "describeListenError",
    "keysOf",
    "servesStandardIO",
    "standardIOProblem",
]
