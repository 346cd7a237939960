"""
The twistd service: every listener of one process, one listener's
life, the SIGHUP reload (plan and service), the graceful drain, and the
root of a process's services, started before twistd daemonises.
"""

from sockplug.server._earlylog import EarlyEvents
from sockplug.server._hangup import ConfigReloader, HangupService, NothingToReload
from sockplug.server._listener import Listener, closeAtOnce, describeListenError
from sockplug.server._service import ListenersService, keysOf
from sockplug.server._start import ServerRoot, StartEnvironment

__all__ = [
    "ConfigReloader",
    "EarlyEvents",
    "HangupService",
    "Listener",
    "ListenersService",
    "NothingToReload",
    "ServerRoot",
    "StartEnvironment",
    "closeAtOnce",
    "describeListenError",
    "keysOf",
]
