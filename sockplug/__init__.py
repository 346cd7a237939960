"""
sockplug: a Twisted-based pluggable protocol server.

One C{twistd sockplug} process hosts any number of listeners (TCP, UDP,
UNIX stream and datagram, TLS), each serving a protocol picked by name from
plugins. Plugin authors start at L{sockplug.plugin}; the interfaces are in
L{sockplug.interfaces}; L{sockplug.testing} has fakes for their tests.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
