# -*- test-case-name: sockplug.internet.test.test_transport -*-
"""
The stream transport of sockplug's own TCP and UNIX ports: Twisted's, but a
write sends at once.

Twisted's socket transport queues every C{write()}, asks the reactor to
watch the socket for writing (an C{epoll_ctl}), and sends on the next turn
of the reactor, after which it stops watching (another C{epoll_ctl}). For a
server that answers each read with a write, that is twice the work per
message: an extra reactor turn and two system calls. L{ImmediateWrite} sends
what is written at once when nothing is queued before it; only what the
socket does not take (a partial send, C{EAGAIN}) is queued, the Twisted way,
and sent when the socket is writable again.

Twisted's guarantees hold, because anything but the simple case is left to
Twisted's own code:
  - Ordering: once anything is queued, every later write queues behind it
    until the queue is empty.
  - Producers: nothing queued means nothing to pause for; a partial send
    queues the rest through Twisted's C{write}, which pauses a streaming
    producer past C{bufferSize}, and the queue draining resumes it.
  - Closing: a write after C{loseConnection} (or a half-close) goes through
    Twisted's C{write}, which queues or drops it as it always has.
  - Errors: a send that fails with anything but C{EAGAIN}/C{ENOBUFS} queues
    the data instead, so that Twisted's next send meets the same error and
    reports the lost connection as it always does, from the reactor and not
    from inside the protocol's C{write} call.
  - A transport that has started TLS in place (C{startTLS}) writes through
    Twisted's code.

L{SharedReadBuffer} reads into one buffer shared by every connection (the
reactor runs one read at a time) and hands on a copy of exactly the bytes
read. Twisted's C{recv(bufferSize)} allocates 64 KiB for each read and
shrinks it: that costs more than the copy, even for 64 KiB reads, and when
a burst of connections reads at once the 64 KiB blocks scatter the heap,
which then keeps hundreds of bytes per connection for good. A read takes
up to 256 KiB, as asyncio's do: Twisted reads at most C{bufferSize} (64
KiB), which is also the bound of the write queue at which a producer is
paused, and a 64 KiB read cost a bulk transfer twice the CPU per byte.
(TCP and UNIX streams have no message boundaries: how much one read hands
on was never promised.) A read takes at most 4 times C{bufferSize},
though: what a read brings in may have to wait, in the write queue past
C{bufferSize} or in a paused protocol, so a connection's memory stays
within a few times the bound it was given (C{sendbuffer}), a smaller one
too. A C{bufferSize} larger than the shared buffer still reads
C{bufferSize} at once, Twisted's way; so does a protocol that takes
descriptors passed over a UNIX socket (L{IFileDescriptorReceiver}).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from twisted.internet import main, tcp, unix
from twisted.internet.interfaces import IFileDescriptorReceiver

from sockplug.compat import connectionDataReceived, mayWriteNow

__all__ = ["ImmediateWrite", "SharedReadBuffer", "TCPServer", "UNIXServer"]

# Shared by every connection: the reactor runs one read at a time.
_SHARED = bytearray(256 * 1024)
_SHARED_VIEW = memoryview(_SHARED)
_SHARED_SIZE = len(_SHARED)
# A read takes at most this many times the transport's bufferSize.
READ_FACTOR = 4
# A bufferSize larger than the shared buffer reads bufferSize, Twisted's way.
_LARGEST_SHARED = _SHARED_SIZE * READ_FACTOR


class ImmediateWrite:
    """
    Mixin for a Twisted socket transport (L{tcp.Connection}): a write that
    finds nothing queued before it is sent at once.
    """

    # What the mixin reads of the Twisted transport it is mixed into.
    socket: Any

    # Whether a write may go straight to the socket: connected, not closing
    # either way, not under in-place TLS, and nothing queued (bound once
    # here: it is asked on every write).
    _idle = mayWriteNow

    def write(self, data: bytes) -> None:
        if type(data) is not bytes or not data or not self._idle():
            super().write(data)  # type: ignore[misc]
            return
        try:
            sent = self.socket.send(data)
        except OSError:
            # EAGAIN: the socket is full, and the data waits its turn.
            # Anything else: the connection is broken; queued, the data
            # meets the same error in Twisted's own send, from the reactor,
            # which reports the lost connection as it always does.
            sent = 0
        if sent < len(data):
            super().write(data[sent:])  # type: ignore[misc]

    def writeSequence(self, iovec: Iterable[bytes]) -> None:
        chunks = list(iovec)
        if chunks and self._idle() and all(type(c) is bytes for c in chunks):
            self.write(b"".join(chunks))
        else:
            super().writeSequence(chunks)  # type: ignore[misc]


class SharedReadBuffer:
    """
    Mixin for a Twisted socket transport (L{tcp.Connection}): reads go
    through one buffer shared by every connection.
    """

    socket: Any
    bufferSize: int
    protocol: Any

    # What Twisted's transport does with the bytes read (bound once here:
    # it is called on every read).
    _received = connectionDataReceived

    def _readsShared(self) -> bool:
        """
        Whether this connection's reads may go through the shared buffer,
        whatever its C{bufferSize}.
        """
        return True

    def doRead(self) -> Any:
        # One look-up of bufferSize per read, and recv_into's size only
        # where it bounds the read: each costs hundreds of instructions.
        size = self.bufferSize * READ_FACTOR
        if size > _LARGEST_SHARED or not self._readsShared():
            return super().doRead()  # type: ignore[misc]
        view = _SHARED_VIEW
        try:
            if size < _SHARED_SIZE:
                count = self.socket.recv_into(view, size)
            else:
                count = self.socket.recv_into(view)
        except BlockingIOError:
            return None
        except OSError:
            return main.CONNECTION_LOST
        return self._received(view[:count].tobytes())


class TCPServer(SharedReadBuffer, ImmediateWrite, tcp.Server):
    """
    The transport of a connection accepted by sockplug's TCP port.
    """


class UNIXServer(SharedReadBuffer, ImmediateWrite, unix.Server):
    """
    The transport of a connection accepted by sockplug's UNIX stream port.
    """

    def _readsShared(self) -> bool:
        # Descriptors passed to a protocol that does not take them are
        # closed by the kernel, where Twisted's recvmsg closes them itself
        # and logs a line.
        return not IFileDescriptorReceiver.providedBy(self.protocol)
