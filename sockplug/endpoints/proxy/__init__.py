"""
The C{haproxy:} endpoint type: the PROXY protocol header in front of any
stream endpoint.
"""

from sockplug.endpoints.proxy._wrapper import ProxiedEndpoint

__all__ = [
    "ProxiedEndpoint",
]
