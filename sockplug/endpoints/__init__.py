"""
Endpoint strings: their syntax, and the parsers of every listening
type (C{tcp}, C{unix}, C{udp}, C{unixgram}, C{ssl}/C{tls}, C{systemd},
C{haproxy} in L{sockplug.endpoints.proxy}, C{stdio}).
"""

from sockplug.endpoints._datagram import (
    UDPParser,
    UDPServerEndpoint,
    UNIXDatagramParser,
    UNIXDatagramServerEndpoint,
)
from sockplug.endpoints._overlap import dualStack, overlapKey, overlapping
from sockplug.endpoints._parsed import ParsedEndpoint, SocketEndpoint
from sockplug.endpoints._parser import EndpointParser, describeParseError
from sockplug.endpoints._stdio import (
    STANDARD_STREAMS,
    StandardIOEndpoint,
    StandardIOPort,
    StandardStreams,
)
from sockplug.endpoints._stream import TCPServerEndpoint, UNIXServerEndpoint
from sockplug.endpoints._syntax import (
    Arguments,
    ListenerSpec,
    argumentsInOrder,
    parseArguments,
    parseListenerSpec,
    prefixOf,
    unparseArguments,
)
from sockplug.endpoints._systemd import SystemdDatagramParser
from sockplug.endpoints._tls import TLSFactory, TLSServerEndpoint

__all__ = [
    "STANDARD_STREAMS",
    "Arguments",
    "EndpointParser",
    "ListenerSpec",
    "ParsedEndpoint",
    "SocketEndpoint",
    "StandardIOEndpoint",
    "StandardIOPort",
    "StandardStreams",
    "SystemdDatagramParser",
    "TCPServerEndpoint",
    "TLSFactory",
    "TLSServerEndpoint",
    "UDPParser",
    "UDPServerEndpoint",
    "UNIXDatagramParser",
    "UNIXDatagramServerEndpoint",
    "UNIXServerEndpoint",
    "argumentsInOrder",
    "describeParseError",
    "dualStack",
    "overlapKey",
    "overlapping",
    "parseArguments",
    "parseListenerSpec",
    "prefixOf",
    "unparseArguments",
]
