"""
sockplug's plugin package: a Twisted dropin package.

Every module in a C{sockplug/plugins/} folder on C{sys.path} (without an
C{__init__.py} of its own) is a plugin module: a module-level object
providing L{sockplug.interfaces.IProtocolPlugin} is a protocol, one
providing L{sockplug.interfaces.IDatagramServerEndpointStringParser} a
datagram endpoint type. sockplug's built-ins are found the same way.
"""

from twisted.plugin import pluginPackagePaths

__path__.extend(pluginPackagePaths(__name__))
__all__: list[str] = []
