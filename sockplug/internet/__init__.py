"""
sockplug's ports, transports and reactor: TCP, UNIX and UDP ports, the
stream transport that sends at once, C{recvmmsg}/C{sendmmsg}, listening on
inherited sockets, socket files, the file limit, the reactor C{twistd
sockplug} runs on, and outputs (a file, a FIFO, standard output, twistd's
log on standard output) written without blocking it.
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
from sockplug.internet._output import OutputWriter, Share
from sockplug.internet._outputfile import (
    OUTPUT_MODE,
    FileObjectSink,
    Sink,
    openOutputFile,
    openStandardOutput,
)
from sockplug.internet._outputlog import (
    EXIT_TIMEOUT,
    LogStream,
    checkLogFile,
    droppedLogLines,
    protectStandardLog,
    waitWritable,
    writeOut,
)
from sockplug.internet._ports import (
    TCPPort,
    UDPPort,
    UNIXDatagramPort,
    UNIXPort,
    renewLocks,
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
    "EXIT_TIMEOUT",
    "OUTPUT_MODE",
    "AdoptedUNIXDatagramPort",
    "AdoptedUNIXPort",
    "FileIdentity",
    "FileObjectSink",
    "InheritedDatagramEndpoint",
    "InheritedStreamEndpoint",
    "LogStream",
    "OutputWriter",
    "Share",
    "Sink",
    "TCPPort",
    "UDPPort",
    "UNIXDatagramPort",
    "UNIXPort",
    "UNIXServer",
    "adoptDatagram",
    "adoptStream",
    "boundFile",
    "checkLogFile",
    "droppedLogLines",
    "installIfNoneChosen",
    "openOutputFile",
    "openStandardOutput",
    "prepareSocketPath",
    "protectStandardLog",
    "raiseFileLimit",
    "releaseOwnLock",
    "removeOwnFile",
    "renewLocks",
    "socketOf",
    "startPort",
    "waitWritable",
    "watchesDescriptors",
    "writeOut",
]
