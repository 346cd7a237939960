"""
The twistd service: every listener of one process, one listener's
life, the SIGHUP reload (plan and service) and the graceful drain.
"""

from sockplug.server._hangup import ConfigReloader, HangupService, NothingToReload
from sockplug.server._listener import Listener, closeAtOnce, describeListenError
from sockplug.server._service import ListenersService, keysOf

__all__ = [
    "ConfigReloader",
    "HangupService",
    "Listener",
    "ListenersService",
    "NothingToReload",
    "closeAtOnce",
    "describeListenError",
    "keysOf",
]
