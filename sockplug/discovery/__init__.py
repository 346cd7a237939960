"""
Finding plugins: protocols and datagram endpoint types, from the
C{sockplug.plugins} dropin package and from entry points.
"""

from sockplug.discovery._registry import Registry, discover, loadDropins, providers

__all__ = [
    "Registry",
    "discover",
    "loadDropins",
    "providers",
]
