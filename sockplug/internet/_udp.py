# -*- test-case-name: sockplug.internet.test.test_udp -*-
"""
Twisted's datagram ports with a leaner path per datagram: what every
sockplug UDP and UNIX datagram listener runs on a posix reactor.

Reading: Twisted's loop, with what stays the same for a whole read turn
looked up once (the socket's C{recvfrom}, the protocol, the packet size,
whether addresses are IPv6) and the same behaviour: datagrams are read
until the socket has none left or C{maxThroughput} bytes were read this
turn, an IPv6 source address is cut to C{(host, port)}, an exception from
the protocol is logged and the next datagram is read, C{ECONNREFUSED}
tells a connected port's protocol C{connectionRefused}, and a port closed
meanwhile stops reading.

A protocol that has a C{datagramsReceived(datagrams)} method (sockplug's
L{sockplug.defences._datagramguard.DatagramGuard} has) is given the datagrams read in
one go, up to L{BATCH} at a time, as a list of C{(datagram, address)},
instead of each through C{datagramReceived}: that saves the calls per
datagram (no more than L{FEW} read at once still go one at a time). It
may answer them in one go too, with C{writeMany}, which sends each as
C{write} would, in order, and says which failed and why. A UDP
port reads those batches with one C{recvmmsg} and sends C{writeMany}'s
datagrams with one C{sendmmsg} (Linux; see L{sockplug.internet._mmsg}): fewer
system calls, and no Python object made per datagram for an address seen
before.

Writing (UDP): Twisted checks the host of every datagram written, with up
to four calls of C{isIPAddress} (one of them raising inside), so that a
host name is refused rather than looked up. Here a host that passed those
checks once on this port (as every sender's address does on its first
reply) is remembered, and later datagrams to it are sent at once, with
Twisted's handling of send errors; C{writeMany} sends to an address read
by C{recvmmsg} without a check, as the kernel made it. Anything else, a
connected port included, goes through Twisted's own C{write}.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from errno import EAGAIN, ECONNREFUSED, EINTR, EMSGSIZE, EWOULDBLOCK
from socket import AF_INET6, AddressFamily
from socket import socket as Socket
from typing import Any

from twisted.internet import udp, unix
from twisted.internet.error import MessageLengthError
from twisted.python import log

from sockplug.compat import connectedAddressOf
from sockplug.internet import _mmsg
from sockplug.internet._mmsg import Addresses, Inbox, Outbox

__all__ = [
    "BATCH",
    "FEW",
    "MAX_KNOWN_HOSTS",
    "LeanUDPPort",
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
_READ_IGNORE = frozenset({EAGAIN, EINTR, EWOULDBLOCK})
_READ_REFUSE = ECONNREFUSED

# Hosts a UDP port remembers as checked; past this, it starts again (a
# flood of forged sources costs Twisted's checks, and no memory).
MAX_KNOWN_HOSTS = 4096

Datagrams = Sequence[tuple[bytes, Any]]


class _LeanDatagramPort:
    """
    Mixin for a Twisted datagram port (L{udp.Port} or a subclass): its
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
        read (then the reactor calls again), as L{udp.Port.doRead}.
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
                data, addr = recvfrom(size)
            except OSError as se:
                self._readFailed(se)
                return
            read += len(data)
            if ipv6:
                # As Twisted: (host, port), without flow and scope.
                addr = addr[:2]
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
                    data, addr = recvfrom(size)
                    read += len(data)
                    append((data, addr[:2] if ipv6 else addr))
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

    def _readFailed(self, se: OSError) -> None:
        """
        What Twisted's C{doRead} does when C{recvfrom} fails: nothing to
        read, or a connected port's peer refused, or raise.
        """
        no = se.args[0]
        if no in _READ_IGNORE:
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


class LeanUDPPort(_LeanDatagramPort, udp.Port):
    """
    A UDP port that reads as L{_LeanDatagramPort} and checks each
    destination host once. On Linux, it reads batches with C{recvmmsg} and
    sends L{writeMany}'s datagrams with C{sendmmsg} (see L{sockplug.internet._mmsg}).

    @ivar _knownHosts: hosts that passed Twisted's checks on this port
        while it was not connected; emptied when it connects.
    """

    _inbox: Inbox | None = None
    _outbox: Outbox | None = None
    _addresses: Addresses | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        udp.Port.__init__(self, *args, **kwargs)
        self._knownHosts: set[str] = set()

    def _vectors(self) -> Addresses | None:
        """
        The addresses of the datagrams read with C{recvmmsg}, once the
        port may use it; L{None} if it may not.
        """
        if self._addresses is None:
            # (_mmsg.AVAILABLE read here, for tests to change it.)
            if not _mmsg.AVAILABLE or self.maxPacketSize > _mmsg.SLOT:
                return None
            self._addresses = Addresses(self.addressFamily)
        return self._addresses

    def _readBatches(
        self, deliver: Callable[[list[tuple[bytes, Any]]], object]
    ) -> None:
        """
        See L{_LeanDatagramPort._readBatches}: with C{recvmmsg}.
        """
        addresses = self._vectors()
        if addresses is None:
            _LeanDatagramPort._readBatches(self, deliver)
            return
        inbox = self._inbox
        if inbox is None:
            inbox = self._inbox = Inbox(self.maxPacketSize, BATCH)
        fd = self.socket.fileno()
        data, names, words, found = (
            inbox.data,
            inbox.names,
            inbox.words,
            addresses.found,
        )
        first, last = addresses.key.start, addresses.key.stop
        read = 0
        # Until a read finds none, as Twisted's loop: what came while the
        # last ones were handled is read without a turn of the reactor.
        while read < self.maxThroughput:
            count = inbox.receive(fd)
            if count <= 0:
                if count < 0 and -count not in _READ_IGNORE:
                    self._readFailed(OSError(-count, os.strerror(-count)))
                return
            datagrams: list[tuple[bytes, Any]] = []
            append = datagrams.append
            for at, start, name in inbox.plan[:count]:
                length = words[at]
                key = names[name + first : name + last]
                addr = found.get(key)
                if addr is None:
                    addr = addresses.add(key)
                append((data[start : start + length], addr))
                read += length
            self._deliver(deliver, datagrams)

    def write(self, datagram: bytes, addr: Any = None) -> None:
        """
        Send a datagram, as L{udp.Port.write}.
        """
        if addr.__class__ is tuple:
            host = addr[0]
            if host.__class__ is str and host in self._knownHosts:
                try:
                    self.socket.sendto(datagram, addr)
                except OSError as se:
                    self._sendFailed(se, datagram, addr)
                return
            udp.Port.write(self, datagram, addr)
            if not connectedAddressOf(self):
                self._remember(host)
            return
        udp.Port.write(self, datagram, addr)

    def writeMany(self, datagrams: Datagrams) -> dict[int, Exception]:
        """
        See L{_LeanDatagramPort.writeMany}: those to an address a datagram
        was read from are sent with C{sendmmsg}, the others by L{write}.
        """
        addresses = self._addresses
        if addresses is None or connectedAddressOf(self):
            return _LeanDatagramPort.writeMany(self, datagrams)
        outbox = self._outbox
        if outbox is None:
            outbox = self._outbox = Outbox(addresses.length, BATCH)
        sockaddrs, plan, largest = addresses.sockaddrs, outbox.plan, _mmsg.SLOT
        data, lengths, pointers = outbox.data, outbox.iovecLengths, outbox.quads
        failed: dict[int, Exception] = {}
        staged: list[int] = []
        count = 0
        index = -1
        for datagram, addr in datagrams:
            index += 1
            size = len(datagram)
            pointer = sockaddrs.get(addr) if addr.__class__ is tuple else None
            if pointer is None or size > largest:
                if count:
                    self._flush(outbox, staged, datagrams, failed)
                    staged, count = [], 0
                try:
                    self.write(datagram, addr)
                except Exception as e:
                    failed[index] = e
                continue
            start, length, name = plan[count]
            data[start : start + size] = datagram
            lengths[length] = size
            pointers[name] = pointer
            staged.append(index)
            count += 1
            if count == BATCH:
                self._flush(outbox, staged, datagrams, failed)
                staged, count = [], 0
        if count:
            self._flush(outbox, staged, datagrams, failed)
        return failed

    def _flush(
        self,
        outbox: Outbox,
        staged: list[int],
        datagrams: Datagrams,
        failed: dict[int, Exception],
    ) -> None:
        """
        Send the datagrams staged in C{outbox} (C{staged} says which of
        C{datagrams} they are), and note those that failed, as L{write}
        would have failed.
        """
        fd = self.socket.fileno()
        first, count = 0, len(staged)
        while first < count:
            try:
                first += outbox.send(fd, first, count - first)
            except OSError as se:
                if se.errno == EINTR:
                    continue
                index = staged[first]
                try:
                    self._sendFailed(se, *datagrams[index])
                except Exception as e:
                    failed[index] = e
                first += 1

    def connectionLost(self, reason: object = None) -> None:
        """
        Close, as L{udp.Port.connectionLost}, and let go of the buffers.
        """
        udp.Port.connectionLost(self, reason)
        self._inbox = self._outbox = self._addresses = None

    def connect(self, host: str, port: int) -> None:
        """
        Connect, as L{udp.Port.connect}: from now on every write goes
        through Twisted's own C{write}, which sends to this address only.
        """
        udp.Port.connect(self, host, port)
        self._knownHosts.clear()

    def _remember(self, host: Any) -> None:
        """
        Remember C{host}, which passed Twisted's checks: it is an address
        of this port's family (or C{<broadcast>} on IPv4), not a name.
        """
        if host.__class__ is str:
            known = self._knownHosts
            if len(known) >= MAX_KNOWN_HOSTS:
                known.clear()
            known.add(host)

    def _sendFailed(self, se: OSError, datagram: bytes, addr: Any) -> None:
        """
        What Twisted's C{write} does when C{sendto} fails on a port that is
        not connected.
        """
        no = se.args[0]
        if no == EINTR:
            self.write(datagram, addr)
        elif no == EMSGSIZE:
            raise MessageLengthError("message too long")
        elif no != ECONNREFUSED:
            raise se
        # ECONNREFUSED: an earlier datagram's ICMP error; Twisted drops
        # this one.


class LeanUNIXDatagramPort(_LeanDatagramPort, unix.DatagramPort):
    """
    A UNIX datagram port that reads as L{_LeanDatagramPort} (and writes as
    Twisted's, which checks nothing).
    """
