# -*- test-case-name: sockplug.internet.test.test_udp,sockplug.internet.test.test_truncation -*-  # noqa: E501
"""
sockplug's UDP port: Twisted's, reading as L{sockplug.internet._datagramport}
reads, with fewer system calls and fewer checks per datagram.

Batches: a UDP port reads the batches it hands to a protocol's
C{datagramsReceived} with one C{recvmmsg}, and sends C{writeMany}'s
datagrams with one C{sendmmsg} (Linux; see L{sockplug.internet._mmsg}):
fewer system calls, and no Python object made per datagram for an address
seen before.

Writing: Twisted checks the host of every datagram written, with up
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
from collections.abc import Callable
from errno import ECONNREFUSED, EINTR, EMSGSIZE
from typing import Any

from twisted.internet import udp
from twisted.internet.error import MessageLengthError

from sockplug.compat import connectedAddressOf
from sockplug.internet import _mmsg
from sockplug.internet._datagramport import (
    BATCH,
    READ_IGNORE,
    Datagrams,
    LeanDatagramPort,
)
from sockplug.internet._mmsg import Addresses, Inbox, Outbox

__all__ = ["MAX_KNOWN_HOSTS", "LeanUDPPort"]

# Hosts a UDP port remembers as checked; past this, it starts again (a
# flood of forged sources costs Twisted's checks, and no memory).
MAX_KNOWN_HOSTS = 4096


class LeanUDPPort(LeanDatagramPort, udp.Port):
    """
    A UDP port that reads as L{LeanDatagramPort} and checks each
    destination host once. On Linux, it reads batches with C{recvmmsg} and
    sends L{writeMany}'s datagrams with C{sendmmsg} (see L{sockplug.internet._mmsg}).

    @ivar _knownHosts: hosts that passed Twisted's checks on this port
        while it was not connected; emptied when it connects.
    @ivar scope: the scope (interface index) of the IPv6 address the port
        is bound to (C{fe80::1%eth0}), 0 if it has none: its replies carry
        it, since Twisted hands on a peer's address without its scope, and
        a link-local peer cannot be reached without one.
    """

    _inbox: Inbox | None = None
    _outbox: Outbox | None = None
    _addresses: Addresses | None = None
    scope = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        udp.Port.__init__(self, *args, **kwargs)
        self._knownHosts: set[str] = set()

    def startListening(self) -> None:
        """
        Listen, as L{udp.Port.startListening}, and note the scope of the
        address listened on.
        """
        udp.Port.startListening(self)
        name = self.socket.getsockname()
        self.scope = name[3] if len(name) == 4 else 0

    def _vectors(self) -> Addresses | None:
        """
        The addresses of the datagrams read with C{recvmmsg}, once the
        port may use it; L{None} if it may not.
        """
        if self._addresses is None:
            # (_mmsg.AVAILABLE read here, for tests to change it.)
            if not _mmsg.AVAILABLE or self.maxPacketSize > _mmsg.SLOT:
                return None
            self._addresses = Addresses(self.addressFamily, self.scope)
        return self._addresses

    def _readBatches(
        self, deliver: Callable[[list[tuple[bytes, Any]]], object]
    ) -> None:
        """
        See L{LeanDatagramPort._readBatches}: with C{recvmmsg}.
        """
        addresses = self._vectors()
        if addresses is None:
            LeanDatagramPort._readBatches(self, deliver)
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
        size = self.maxPacketSize
        read = 0
        # Until a read finds none, as Twisted's loop: what came while the
        # last ones were handled is read without a turn of the reactor.
        while read < self.maxThroughput:
            count = inbox.receive(fd)
            if count <= 0:
                if count < 0 and -count not in READ_IGNORE:
                    self._readFailed(OSError(-count, os.strerror(-count)))
                return
            datagrams: list[tuple[bytes, Any]] = []
            append = datagrams.append
            for at, start, name in inbox.plan[:count]:
                # (The datagram's own length, however long: see Inbox.)
                length = words[at]
                key = names[name + first : name + last]
                addr = found.get(key)
                if addr is None:
                    addr = addresses.add(key)
                read += length
                if length > size:
                    self._truncated(addr, length)
                    continue
                append((data[start : start + length], addr))
            if datagrams:
                self._deliver(deliver, datagrams)

    def write(self, datagram: bytes, addr: Any = None) -> None:
        """
        Send a datagram, as L{udp.Port.write}; to the port's scope, if
        it has one (see C{scope}).
        """
        if self.scope and addr.__class__ is tuple and len(addr) == 2:
            addr = (addr[0], addr[1], 0, self.scope)
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
        See L{LeanDatagramPort.writeMany}: those to an address a datagram
        was read from are sent with C{sendmmsg}, the others by L{write}.
        """
        addresses = self._addresses
        if addresses is None or connectedAddressOf(self):
            return LeanDatagramPort.writeMany(self, datagrams)
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
