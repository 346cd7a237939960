"""
twistd's entry for sockplug. twistd imports every dropin on every start,
so this one imports nothing of sockplug: L{ServiceMaker} loads
C{sockplug.tap} only when C{twistd sockplug} runs.
"""

from twisted.application.service import ServiceMaker

sockplug = ServiceMaker(
    "sockplug",
    "sockplug.tap",
    "A pluggable protocol server: TCP, UDP and UNIX listeners, each serving"
    " a protocol picked by name from plugins (echo, line-print, hello, ...).",
    "sockplug",
)
