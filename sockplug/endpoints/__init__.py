"""
Endpoint strings: their syntax, and the parsers of every listening
type (C{tcp}, C{unix}, C{udp}, C{unixgram}, C{ssl}/C{tls}, C{systemd},
C{haproxy} in L{sockplug.endpoints.proxy}).
"""

from sockplug.endpoints._datagram import (
    UDPParser,
    UDPServerEndpoint,
    UNIXDatagramParser,
    UNIXDatagramServerEndpoint,
)
from sockplug.endpoints._parser import (
    EndpointParser,
    ParsedEndpoint,
    describeParseError,
)
from sockplug.endpoints._stream import TCPServerEndpoint, UNIXServerEndpoint
from sockplug.endpoints._syntax import (
    ListenerSpec,
    innermostType,
    parseArguments,
    parseListenerSpec,
    prefixOf,
    unparseArguments,
)
from sockplug.endpoints._systemd import SystemdDatagramParser
from sockplug.endpoints._tls import TLSFactory, TLSServerEndpoint

__all__ = [
    "EndpointParser",
    "ListenerSpec",
    "ParsedEndpoint",
    "SystemdDatagramParser",
    "TCPServerEndpoint",
    "TLSFactory",
    "TLSServerEndpoint",
    "UDPParser",
    "UDPServerEndpoint",
    "UNIXDatagramParser",
    "UNIXDatagramServerEndpoint",
    "UNIXServerEndpoint",
    "describeParseError",
    "innermostType",
    "parseArguments",
    "parseListenerSpec",
    "prefixOf",
    "unparseArguments",
]
