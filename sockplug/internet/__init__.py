"""
sockplug's ports, transports and reactor: TCP, UNIX and UDP ports, the
stream transport that sends at once, C{recvmmsg}/C{sendmmsg}, socket files,
the file limit, and the reactor C{twistd sockplug} runs on.
"""

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
from sockplug.internet._socketfile import prepareSocketPath, releaseOwnLock
from sockplug.internet._transport import UNIXServer

__all__ = [
    "TCPPort",
    "UDPPort",
    "UNIXDatagramPort",
    "UNIXPort",
    "UNIXServer",
    "installIfNoneChosen",
    "prepareSocketPath",
    "raiseFileLimit",
    "releaseOwnLock",
    "socketOf",
    "startPort",
    "watchesDescriptors",
]
