"""
What stands in front of every protocol: the stream and datagram guards
(connection limits, access lists, idle timeouts, slow connections making
room for new ones, reply checks), the guarded factory, the counters the
metrics read, and the registry of sockplug's UDP ports on this host.
"""

from sockplug.defences._counters import (
    DROP_REASONS,
    REFUSAL_REASONS,
    DatagramCounters,
    StreamCounters,
)
from sockplug.defences._datagramguard import DatagramGuard
from sockplug.defences._eviction import ConnectionBudget
from sockplug.defences._guardedfactory import GuardedFactory
from sockplug.defences._hostports import hostPortsFor
from sockplug.defences._streamguard import ConnectionGuard

__all__ = [
    "DROP_REASONS",
    "REFUSAL_REASONS",
    "ConnectionBudget",
    "ConnectionGuard",
    "DatagramCounters",
    "DatagramGuard",
    "GuardedFactory",
    "StreamCounters",
    "hostPortsFor",
]
