"""
twistd's entry for sockplug. twistd imports every dropin on every start,
so this one imports nothing of sockplug: L{ServiceMaker} loads
C{sockplug.tap} only when C{twistd sockplug} runs.
"""

from twisted.application.reactors import Reactor
from twisted.application.service import ServiceMaker

sockplug = ServiceMaker(
    "sockplug",
    "sockplug.tap",
    "A pluggable protocol server: TCP, UDP and UNIX listeners, each serving"
    " a protocol picked by name from plugins (echo, line-print, hello, ...).",
    "sockplug",
)

# Twisted's epoll reactor with a cheaper dispatch (sockplug.internet._reactor):
# twistd sockplug uses it unless -r names another; twistd -r sockplug names it.
sockplugReactor = Reactor(
    "sockplug",
    "sockplug.internet._reactor",
    "epoll(4) based reactor, as Twisted's, with a cheaper dispatch (Linux).",
)
