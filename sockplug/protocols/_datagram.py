# -*- test-case-name: sockplug.protocols.test.test_datagram -*-
"""
The datagram protocol every built-in protocol's datagram side is, and a
plugin may reuse (from L{sockplug.protocols.base}): it counts datagrams and
bytes each way, replies only where a reply can go, and logs when it starts
and stops.
"""

from __future__ import annotations

from typing import Any, ClassVar

from twisted.internet.error import MessageLengthError
from twisted.internet.interfaces import IUDPTransport
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger

from sockplug.interfaces import IListenerInfo
from sockplug.logs import RateLimitedLog, formatAddress

__all__ = ["CountingDatagramProtocol"]


class CountingDatagramProtocol(DatagramProtocol):
    """
    A datagram protocol that counts datagrams and bytes each way, replies
    only where a reply can go, and logs when it starts and stops.

    A subclass may also take the datagrams a port read in one go, with a
    C{datagramsReceived(datagrams)} method given a list of C{(datagram,
    address)}, and answer them with L{replyTo}: under load, that costs
    less per datagram than C{datagramReceived} and L{reply} for each (see
    L{sockplug.internet._datagramport}; L{sockplug.protocols.echo.EchoDatagram} does).

    @ivar listener: the listener it serves.
    """

    log: ClassVar[Logger] = Logger()
    transport: IUDPTransport
    noisy = False

    def __init__(self, listener: IListenerInfo) -> None:
        self.listener = listener
        self.datagramsIn = self.bytesIn = 0
        self.datagramsOut = self.bytesOut = 0
        self.ratelog = RateLimitedLog(
            listener.reactor,
            self.log,
            listener.description,
            perEvent=listener.limits.logLines,
        )

    def count(self, data: bytes) -> None:
        """
        Count a received datagram.
        """
        self.datagramsIn += 1
        self.bytesIn += len(data)

    def reply(self, data: bytes, address: Any) -> None:
        """
        Send C{data} to C{address}, counting it. A reply that cannot go (an
        unbound UNIX datagram sender has no address; the sender may be gone)
        is logged and dropped.
        """
        if not address:
            self._unanswerable()
            return
        try:
            # A guarded transport says False for a reply it dropped.
            if self.transport.write(data, address) is False:  # type: ignore[func-returns-value]
                return
        except (OSError, MessageLengthError) as e:
            self._replyFailed(address, e)
            return
        self.datagramsOut += 1
        self.bytesOut += len(data)

    def replyTo(
        self, requests: list[tuple[bytes, Any]], replies: list[bytes | None]
    ) -> None:
        """
        Send C{replies[i]} (unless it is L{None}) to the sender of
        C{requests[i]}, each as L{reply} would, in one go: for a protocol
        whose C{datagramsReceived} is handed C{requests} (see
        L{sockplug.internet._datagramport}). Through sockplug's guard, each reply is
        bounded by the size of the datagram it answers.

        @raise Exception: what L{reply} would raise (not a failed send:
            that is logged), once every reply is sent or dropped.
        """
        writeReplies = getattr(self.transport, "writeReplies", None)
        if writeReplies is None:
            for (_, address), data in zip(requests, replies, strict=True):
                if data is not None:
                    self.reply(data, address)
            return
        notSent = writeReplies(requests, replies)
        self.datagramsOut += len(replies) - replies.count(None)
        # (filter(None) leaves empty replies out too: they add no bytes.)
        self.bytesOut += sum(map(len, filter(None, replies)))
        unexpected = None
        for index, outcome in notSent.items():
            data = replies[index]
            assert data is not None
            self.datagramsOut -= 1
            self.bytesOut -= len(data)
            if outcome is None:
                self._unanswerable()
            elif isinstance(outcome, (OSError, MessageLengthError)):
                self._replyFailed(requests[index][1], outcome)
            elif outcome is not False and unexpected is None:
                unexpected = outcome
        if unexpected is not None:
            raise unexpected

    def _unanswerable(self) -> None:
        self.ratelog.emit(
            "unanswerable datagrams",
            "",
            "{listener}: not replying to an unbound UNIX datagram sender",
            listener=self.listener.description,
        )

    def _replyFailed(self, address: Any, error: Exception) -> None:
        self.ratelog.emit(
            "failed replies",
            formatAddress(address).rpartition(":")[0],
            "{listener}: reply to {peer} failed: {error}",
            listener=self.listener.description,
            peer=formatAddress(address),
            error=error,
        )

    def stopProtocol(self) -> None:
        self.ratelog.stop()
        self.log.info(
            "{listener} stopped: {datagramsIn} datagrams ({bytesIn} bytes) in,"
            " {datagramsOut} datagrams ({bytesOut} bytes) out",
            listener=self.listener.description,
            datagramsIn=self.datagramsIn,
            bytesIn=self.bytesIn,
            datagramsOut=self.datagramsOut,
            bytesOut=self.bytesOut,
        )
