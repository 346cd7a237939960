# -*- test-case-name: sockplug.internet.test.test_datagramport,sockplug.internet.test.test_truncation -*-  # noqa: E501
"""
Twisted's datagram ports with a leaner path per datagram read: what every
sockplug UDP and UNIX datagram listener reads with on a posix reactor.

Reading: Twisted's loop, with what stays the same for a whole read turn
looked up once (the socket's C{recvfrom}, the protocol, the packet size,
whether addresses are IPv6) and the same behaviour: datagrams are read
until the socket has none left or C{maxThroughput} bytes were read this
turn, an IPv6 source address is cut to C{(host, port)}, an exception from
the protocol is logged and the next datagram is read, C{ECONNREFUSED}
tells a connected port's protocol C{connectionRefused}, and a port closed
meanwhile stops reading.

Unlike Twisted's, it never hands on a datagram cut short: one longer than
C{maxPacketSize} (which the kernel cuts to the buffer it is read into,
silently) is dropped, and the protocol told, with its
C{datagramTruncated(address, maxPacketSize, size)} method if it has one
(sockplug's guard counts and logs it). Each read asks for one byte more
than C{maxPacketSize}: a datagram that fills it was longer.

A protocol that has a C{datagramsReceived(datagrams)} method (sockplug's
L{sockplug.defences.DatagramGuard} has) is given the datagrams read in
one go, up to L{BATCH} at a time, as a list of C{(datagram, address)},
instead of each through C{datagramReceived}: that saves the calls per
datagram (no more than L{FEW} read at once still go one at a time). It
may answer them in one go too, with C{writeMany}, which sends each as
C{write} would, in order, and says which failed and why. (A UDP port does
both with fewer system calls: see L{sockplug.internet._udp}.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from errno import EAGAIN, ECONNREFUSED, EINTR, EWOULDBLOCK
from socket import AF_INET6, AddressFamily
from socket import socket as Socket
from typing import Any

from twisted.internet import unix
from twisted.python import log

from sockplug.compat import connectedAddressOf

__all__ = [
    "BATCH",
    "FEW",
    "READ_IGNORE",
    "Datagrams",
    "LeanDatagramPort",
    "LeanUNIXDatagramPort",
]

# Datagrams handed to a protocol's datagramsReceived at once, at most (and
# read, and sent, per system call).
BATCH = 64
_BATCH = range(BATCH)
# Datagrams read at once that are still handed over one at a time: a call
# of datagramsReceived costs more than it saves for so few (as under light
# load, when each read finds one).
FEW = 2

# Twisted's udp._sockErrReadIgnore and _sockErrReadRefuse, on posix.
READ_IGNORE = frozenset({EAGAIN, EINTR, EWOULDBLOCK})
_READ_REFUSE = ECONNREFUSED

Datagrams = Sequence[tuple[bytes, Any]]


class LeanDatagramPort:
    """
    Mixin for a Twisted datagram port (L{twisted.internet.udp.Port} or a subclass): its
    C{doRead}, with less work per datagram, and L{writeMany}.
    """

    socket: Socket
    protocol: Any
    maxPacketSize: int
    maxThroughput: int
    addressFamily: AddressFamily
    write: Callable[..., None]

    _batchesFor: Any = None
    _batches: Callable[[list[tuple[bytes, Any]]], object] | None = None

    def doRead(self) -> None:
        """
        Read datagrams until none is left, or C{maxThroughput} bytes were
        read (then the reactor calls again), as L{twisted.internet.udp.Port.doRead}.
        """
        if self.protocol is not self._batchesFor:
            self._batchesFor = self.protocol
            self._batches = getattr(self.protocol, "datagramsReceived", None)
        deliver = self._batches
        if deliver is not None:
            self._readBatches(deliver)
            return
        recvfrom = self.socket.recvfrom
        size = self.maxPacketSize
        received = self.protocol.datagramReceived
        ipv6 = self.addressFamily == AF_INET6
        read = 0
        # maxThroughput is read again each time: closing the port makes
        # it -1, and stops the loop.
        while read < self.maxThroughput:
            try:
                data, addr = recvfrom(size + 1)
            except OSError as se:
                self._readFailed(se)
                return
            read += len(data)
            if ipv6:
                # As Twisted: (host, port), without flow and scope.
                addr = addr[:2]
            if len(data) > size:
                self._truncated(addr, None)
                continue
            try:
                received(data, addr)
            except BaseException:
                log.err()

    def _readBatches(
        self, deliver: Callable[[list[tuple[bytes, Any]]], object]
    ) -> None:
        """
        Read as L{doRead}, handing the datagrams to C{deliver} up to
        L{BATCH} at a time, each batch as soon as it is read.
        """
        recvfrom = self.socket.recvfrom
        size = self.maxPacketSize
        ipv6 = self.addressFamily == AF_INET6
        read = 0
        while read < self.maxThroughput:
            limit = self.maxThroughput
            datagrams: list[tuple[bytes, Any]] = []
            append = datagrams.append
            failure = None
            try:
                for _ in _BATCH:
                    data, addr = recvfrom(size + 1)
                    length = len(data)
                    read += length
                    if length <= size:
                        append((data, addr[:2] if ipv6 else addr))
                    else:
                        self._truncated(addr[:2] if ipv6 else addr, None)
                    if read >= limit:
                        break
            except OSError as se:
                failure = se
            if datagrams:
                self._deliver(deliver, datagrams)
            if failure is not None:
                self._readFailed(failure)
                return

    def _deliver(
        self,
        deliver: Callable[[list[tuple[bytes, Any]]], object],
        datagrams: list[tuple[bytes, Any]],
    ) -> None:
        """
        Hand C{datagrams} to C{deliver}, the protocol's C{datagramsReceived};
        or, when there are no more than L{FEW}, each to its
        C{datagramReceived}: for so few, that costs less. An exception is
        logged, as Twisted's C{doRead} logs it.
        """
        if len(datagrams) > FEW:
            try:
                deliver(datagrams)
            except BaseException:
                log.err()
            return
        received = self.protocol.datagramReceived
        for datagram, addr in datagrams:
            try:
                received(datagram, addr)
            except BaseException:
                log.err()

    def _truncated(self, addr: Any, size: int | None) -> None:
        """
        A datagram from C{addr} was longer than C{maxPacketSize}, and was
        read cut: it is dropped, and the protocol told (see above).

        @param size: its real size, if the read said.
        """
        told = getattr(self.protocol, "datagramTruncated", None)
        if told is not None:
            try:
                told(addr, self.maxPacketSize, size)
            except BaseException:
                log.err()

    def _readFailed(self, se: OSError) -> None:
        """
        What Twisted's C{doRead} does when C{recvfrom} fails: nothing to
        read, or a connected port's peer refused, or raise.
        """
        no = se.args[0]
        if no in READ_IGNORE:
            return
        if no == _READ_REFUSE:
            if connectedAddressOf(self):
                self.protocol.connectionRefused()
            return
        raise se

    def writeMany(self, datagrams: Datagrams) -> dict[int, Exception]:
        """
        Send each C{(datagram, address)} in turn, as C{write} would.

        @return: for each that failed, by its place in C{datagrams}, the
            exception C{write} raised.
        """
        failed: dict[int, Exception] = {}
        write = self.write
        for index, (datagram, addr) in enumerate(datagrams):
            try:
                write(datagram, addr)
            except Exception as e:
                failed[index] = e
        return failed


class LeanUNIXDatagramPort(LeanDatagramPort, unix.DatagramPort):
    """
    A UNIX datagram port that reads as L{LeanDatagramPort} (and writes as
    Twisted's, which checks nothing).
    """

    def setLogStr(self) -> None:
        """
        What the log says an exception came from: the protocol, by its
        C{logPrefix}, and the kind of port (Twisted's says C{"(UDP)"}, after
        the protocol's full class name).
        """
        logPrefix = getattr(self.protocol, "logPrefix", None)
        name = logPrefix() if logPrefix is not None else type(self.protocol).__name__
        self.logstr = f"{name} (UNIX datagram)"
