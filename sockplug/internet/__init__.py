"""
sockplug's ports, transports and reactor: TCP, UNIX and UDP ports, the
stream transport that sends at once, C{recvmmsg}/C{sendmmsg}, listening on
inherited sockets, socket files, the file limit, and the reactor C{twistd
sockplug} runs on.
"""

from sockplug.internet._adopted import (
    AdoptedUNIXDatagramPort,
    AdoptedUNIXPort,
    InheritedDatagramEndpoint,
    InheritedStreamEndpoint,
    adoptDatagram,
    adoptStream,
)
from sockplug.internet._filelimit import raiseFileLimit
from sockplug.internet._ports import (
    TCPPort,
    UDPPort,
    UNIXDatagramPort,
    UNIXPort,
    socketOf,
    startPort,
    watchesDescriptors,
)
from sockplug.internet._reactor import installIfNoneChosen
from sockplug.internet._socketfile import (
    FileIdentity,
    boundFile,
    prepareSocketPath,
    releaseOwnLock,
    removeOwnFile,
)
from sockplug.internet._transport import UNIXServer

__all__ = [
    "AdoptedUNIXDatagramPort",
    "AdoptedUNIXPort",
    "FileIdentity",
    "InheritedDatagramEndpoint",
    "InheritedStreamEndpoint",
    "TCPPort",
    "UDPPort",
    "UNIXDatagramPort",
    "UNIXPort",
    "UNIXServer",
    "adoptDatagram",
    "adoptStream",
    "boundFile",
    "installIfNoneChosen",
    "prepareSocketPath",
    "raiseFileLimit",
    "releaseOwnLock",
    "removeOwnFile",
    "socketOf",
    "startPort",
    "watchesDescriptors",
]
