# -*- test-case-name: sockplug.internet.test.test_mmsg -*-
"""
Many UDP datagrams per system call, with Linux's C{recvmmsg} and
C{sendmmsg}: Python's socket module has neither, so they are called
through C{ctypes}, on buffers that stay in place for the life of a port.

L{Inbox} holds a number of received datagrams, each in its own slot of
one memory map, with its sender's address in another; L{Outbox} the
datagrams to send, each with a pointer to its destination's C{sockaddr},
which L{Addresses} keeps for every address it made from one received.
Where this is not Linux, or the C library lacks the calls, L{AVAILABLE} is
false and ports read and send one datagram at a time.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import socket
import struct
import sys
from typing import Any

__all__ = ["AVAILABLE", "SLOT", "Addresses", "Inbox", "Outbox"]

# Room for any sender's address (sizeof(struct sockaddr_storage)).
NAME = 128
# An outgoing datagram's room: the largest a UDP datagram can be.
SLOT = 65536


class _IOVec(ctypes.Structure):
    _fields_ = (("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t))


class _MsgHdr(ctypes.Structure):
    _fields_ = (
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.c_void_p),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    )


class _MMsgHdr(ctypes.Structure):
    _fields_ = (("msg_hdr", _MsgHdr), ("msg_len", ctypes.c_uint))


_HEADER = ctypes.sizeof(_MMsgHdr)
# Where, in 32-bit words, each header's msg_len and msg_namelen are; and,
# in 64-bit words, its msg_name pointer and its iovec's iov_len.
_LEN = _MMsgHdr.msg_len.offset // 4
_NAMELEN = _MsgHdr.msg_namelen.offset // 4
_NAMEPTR = _MsgHdr.msg_name.offset // 8
_IOVLEN = _IOVec.iov_len.offset // 8


def _calls() -> tuple[Any, Any] | None:
    """
    C{recvmmsg} and C{sendmmsg}, called without converting their arguments
    (each is passed as a ctypes object, or an int that fits a C int) and
    without letting go of the GIL: on a non-blocking socket they return at
    once, and each conversion, and taking the GIL back, cost more than the
    call itself.
    """
    if not sys.platform.startswith("linux") or ctypes.sizeof(ctypes.c_void_p) != 8:
        return None
    try:
        libc = ctypes.PyDLL(None, use_errno=True)
        recvmmsg, sendmmsg = libc.recvmmsg, libc.sendmmsg
    except (OSError, AttributeError):
        return None
    recvmmsg.restype = sendmmsg.restype = ctypes.c_int
    return recvmmsg, sendmmsg


_found = _calls()
AVAILABLE = _found is not None
# recvmmsg's flags: each message's length is the datagram's own, even when
# it was longer than its buffer (Linux, for UDP).
_TRUNC = getattr(socket, "MSG_TRUNC", 0)


def _failed() -> OSError:
    """
    The error of the call that just failed, as Python's socket methods
    raise it (C{OSError(EAGAIN, ...)} is a L{BlockingIOError}).
    """
    no = ctypes.get_errno()
    return OSError(no, os.strerror(no))


class _Headers:
    """
    C{count} message headers, each with one buffer of C{slot} bytes in
    C{data} and room for an address in C{names}.
    """

    def __init__(self, slot: int, count: int) -> None:
        self.count = count
        self.data = mmap.mmap(-1, count * slot)
        self.names = mmap.mmap(-1, count * NAME)
        self._iovecs = (_IOVec * count)()
        self._raw = bytearray(_HEADER * count)
        headers = (_MMsgHdr * count).from_buffer(self._raw)
        dataAt = ctypes.addressof(ctypes.c_char.from_buffer(self.data))
        namesAt = ctypes.addressof(ctypes.c_char.from_buffer(self.names))
        for i in range(count):
            self._iovecs[i].iov_base = dataAt + i * slot
            self._iovecs[i].iov_len = slot
            header = headers[i].msg_hdr
            header.msg_name = namesAt + i * NAME
            header.msg_namelen = NAME
            header.msg_iov = ctypes.addressof(self._iovecs[i])
            header.msg_iovlen = 1
        self.address = ctypes.addressof(headers)
        # A pointer to each header, to pass (see _calls).
        self._at = [ctypes.c_void_p(self.address + i * _HEADER) for i in range(count)]
        self.template = memoryview(bytes(self._raw))
        self.words = memoryview(self._raw).cast("I")
        self.quads = memoryview(self._raw).cast("Q")
        self.iovecLengths = memoryview(self._iovecs).cast("B").cast("Q")


class Inbox(_Headers):
    """
    Up to C{count} datagrams (of up to C{slot} bytes) received by one
    L{receive}: the i-th is C{data[start:start + words[at]]} for
    C{(at, start, name)} the i-th of L{plan}, from the sender whose address
    is at C{names[name:]}. A datagram longer than C{slot} was cut to it:
    its C{words[at]} is then its real length (C{MSG_TRUNC}), more than
    C{slot}.
    """

    def __init__(self, slot: int, count: int) -> None:
        _Headers.__init__(self, slot, count)
        stride = _HEADER // 4
        self.plan = [(i * stride + _LEN, i * slot, i * NAME) for i in range(count)]

    def receive(self, fd: int) -> int:
        """
        Read up to C{count} datagrams from the non-blocking socket C{fd}.

        @return: how many; or, if the call failed, minus its C{errno}
            (C{-EAGAIN} when there are none): raising would cost more than
            the call, and every read turn ends with one that finds none.
        """
        used = self._used
        if used:
            # The headers the kernel wrote to last time (their name
            # lengths, and one past, in case it began on it), as new.
            self._raw[:used] = self.template[:used]
        assert _found is not None
        received: int = _found[0](fd, self._at[0], self.count, _TRUNC, None)
        if received < 0:
            self._used = _HEADER
            return -ctypes.get_errno()
        self._used = min(received + 1, self.count) * _HEADER
        return received

    _used = 0


class Outbox(_Headers):
    """
    Up to C{count} datagrams to send by one L{send}, to addresses of one
    family: the i-th is put in place by writing it to
    C{data[start:start + len(datagram)]}, its length to
    C{iovecLengths[length]} and the pointer to its destination's
    C{sockaddr} to C{quads[name]}, for C{(start, length, name)} the i-th of
    L{plan}.
    """

    def __init__(self, namelen: int, count: int) -> None:
        _Headers.__init__(self, SLOT, count)
        for i in range(count):
            self.words[i * (_HEADER // 4) + _NAMELEN] = namelen
        self.plan = [
            (i * SLOT, i * 2 + _IOVLEN, i * (_HEADER // 8) + _NAMEPTR)
            for i in range(count)
        ]

    def send(self, fd: int, first: int, count: int) -> int:
        """
        Send the staged datagrams C{first} to C{first + count - 1} on the
        non-blocking socket C{fd}.

        @return: how many were sent, from C{first}: if fewer than
            C{count}, the next one failed, or would have.
        @raise OSError: as C{sendto} would, for datagram C{first} (when not
            even that one was sent).
        """
        assert _found is not None
        sent: int = _found[1](fd, self._at[first], count, 0)
        if sent < 0:
            raise _failed()
        if sent == 0:  # (Linux never says so for count > 0; never loop on it.)
            raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
        return sent


class Addresses:
    """
    The addresses of one family that received datagrams came from: each
    as Python's C{recvfrom} (and Twisted) shows it, C{(host, port)}, made
    once; and, to send to it, a C{sockaddr} as C{sendto((host, port))}
    would make it.

    @ivar found: address as shown, by the bytes of C{sockaddr} that make
        it (see L{key}).
    @ivar sockaddrs: a pointer to the C{sockaddr} for each address shown,
        and its length.
    @ivar scope: the scope the C{sockaddr}s carry (IPv6): that of the
        port's own address, 0 if it has none, as C{LeanUDPPort.write}
        sends.
    """

    # Forgotten, past this many (a flood of forged sources costs a little
    # more, and no memory).
    LIMIT = 4096

    def __init__(self, family: int, scope: int = 0) -> None:
        self.family = family
        self.scope = scope
        # The bytes of a sockaddr that tell one address from another: the
        # port and the host, after the 2 bytes of the family.
        self.key = slice(2, 8) if family == socket.AF_INET else slice(2, 24)
        self.length = 16 if family == socket.AF_INET else 28
        self.found: dict[bytes, tuple[str, int]] = {}
        self.sockaddrs: dict[tuple[str, int], int] = {}
        self._buffers: list[Any] = []

    def add(self, key: bytes) -> tuple[str, int]:
        """
        The address the key bytes of a received C{sockaddr} stand for,
        remembered.
        """
        if len(self.found) >= self.LIMIT:
            self.found.clear()
            self.sockaddrs.clear()
            self._buffers.clear()
        port = int.from_bytes(key[0:2], "big")
        packed = key[2:6] if self.family == socket.AF_INET else key[6:22]
        address = (socket.inet_ntop(self.family, packed), port)
        self.found[key] = address
        raw = struct.pack("=H", self.family) + key[0:2]
        if self.family == socket.AF_INET:
            raw += packed + bytes(8)
        else:
            # No flow; the port's own scope (see LeanUDPPort.scope).
            raw += bytes(4) + packed + struct.pack("=I", self.scope)
        buffer = ctypes.create_string_buffer(raw, len(raw))
        self._buffers.append(buffer)
        self.sockaddrs[address] = ctypes.addressof(buffer)
        return address
