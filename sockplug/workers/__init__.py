"""
C{--workers N}: the supervisor, the sockets it makes, the worker
processes, and their logs, metrics and reloads.
"""

from sockplug.workers._setup import checkWorkers, supervise

__all__ = [
    "checkWorkers",
    "supervise",
]
