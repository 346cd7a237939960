# -*- test-case-name: sockplug.test.test_client -*-
"""
What the C{sockplug connect} and C{sockplug send} commands do: connect (with
retries), send what is typed or given, and print what comes back.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import IO, Any

from attrs import define, field
from twisted.internet import defer, task
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import connectProtocol
from twisted.internet.error import (
    ConnectError,
    ConnectionDone,
    ConnectionLost,
    ConnectionRefusedError,
    DNSLookupError,
    NoRouteError,
    TCPTimedOutError,
    TimeoutError,
)
from twisted.internet.interfaces import (
    IHalfCloseableProtocol,
    ISSLTransport,
    ITransport,
)
from twisted.internet.protocol import DatagramProtocol, Protocol
from twisted.python.failure import Failure
from zope.interface import implementer

from sockplug._clientendpoints import ClientEndpoint, DatagramClient
from sockplug._escape import OutputEscaper
from sockplug.errors import FatalError

__all__ = [
    "ClientError",
    "DatagramReplies",
    "Output",
    "Session",
    "Signal",
    "StreamClient",
]


class ClientError(FatalError):
    """
    The client cannot do what it was asked: its message is the one line
    the user sees.
    """


class Signal:
    """
    Something that happens once, that any number of waiters can wait for.

    L{defer.race} cancels the Deferreds that lose; each waiter gets a
    Deferred of its own, so that cancelling it loses nothing.
    """

    def __init__(self) -> None:
        self.fired = False
        self._waiters: list[Deferred[None]] = []

    def wait(self) -> Deferred[None]:
        """
        A new Deferred that fires when this happens (at once if it has).
        """
        if self.fired:
            return defer.succeed(None)
        waiter: Deferred[None] = Deferred()
        self._waiters.append(waiter)
        return waiter

    def fire(self) -> None:
        """
        It happened: fire every waiter, once.
        """
        if self.fired:
            return
        self.fired = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(None)


@define
class Output:
    """
    Where replies go: escaped for a terminal unless raw.
    """

    out: IO[bytes]
    raw: bool = False
    received: int = 0
    _escaper: OutputEscaper = field(factory=OutputEscaper)

    def write(self, data: bytes) -> None:
        self.received += len(data)
        self.out.write(data if self.raw else self._escaper.feed(data))
        self.out.flush()

    def end(self) -> None:
        if not self.raw:
            self.out.write(self._escaper.flush())
            self.out.flush()


@implementer(IHalfCloseableProtocol)
class StreamClient(Protocol):
    """
    Prints what the server sends; C{closed} fires when the connection ends.
    """

    transport: ITransport

    def __init__(self, output: Output) -> None:
        self.output = output
        self.closed = Signal()
        self.reason: Failure | None = None
        self.closingOurselves = False

    def dataReceived(self, data: bytes) -> None:
        self.output.write(data)

    def readConnectionLost(self) -> None:
        self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        pass

    def connectionLost(self, reason: Failure = Failure(Exception())) -> None:  # noqa: B008
        self.reason = reason
        self.closed.fire()

    def endInput(self) -> bool:
        """
        Tell the server nothing more is coming, by half-closing, so that
        replies still in flight arrive. A transport that cannot half-close
        (TLS) is left open, for the caller to close once the replies had
        their time.

        @return: whether the connection was half-closed.
        """
        lose = getattr(self.transport, "loseWriteConnection", None)
        if lose is None or ISSLTransport.providedBy(self.transport):
            # Twisted's TLS wrapper hands unknown attributes on to the TCP
            # connection under it: its loseWriteConnection would end TCP
            # under TLS's feet, and the server would see a broken TLS.
            return False
        lose()
        return True

    def failure(self) -> str | None:
        """
        Why the connection failed, if it did not end cleanly: a TLS
        handshake or certificate check that failed, a reset.
        """
        if self.reason is None or self.reason.check(ConnectionDone):
            return None
        if self.closingOurselves and self.reason.check(ConnectionLost):
            # We closed it; TLS calls that unclean when the server does
            # not answer our close_notify.
            return None
        return (
            " ".join(str(self.reason.value).split()) or type(self.reason.value).__name__
        )


class DatagramReplies(DatagramProtocol):
    """
    Prints each reply datagram; a refused connected UDP port is noted.
    """

    def __init__(self, output: Output) -> None:
        self.output = output
        self.replies = 0
        self.refused = False
        self.stopping = False
        self.changed: Callable[[], None] = lambda: None

    def datagramReceived(self, datagram: bytes, addr: Any = None) -> None:
        self.replies += 1
        self.output.write(datagram)
        self.changed()

    def connectionRefused(self) -> None:
        self.refused = True
        self.changed()

    def stopProtocol(self) -> None:
        # A connected UDP port whose datagram drew an ICMP "port
        # unreachable" reads as an error; the epoll reactor then drops the
        # port instead of calling connectionRefused. Stopping before we
        # stopped it means just that.
        if not self.stopping:
            self.connectionRefused()


_CONNECT_REASONS: list[tuple[type[Exception], str]] = [
    (ConnectionRefusedError, "connection refused (is the server running?)"),
    (DNSLookupError, "no such host"),
    (NoRouteError, "no route to host"),
    (TCPTimedOutError, "timed out"),
    (TimeoutError, "timed out"),
]


def _reason(error: BaseException) -> str:
    """
    One line saying why a connection or a datagram failed.
    """
    for errorType, reason in _CONNECT_REASONS:
        if isinstance(error, errorType):
            return reason
    if isinstance(error, ConnectError) and isinstance(error.osError, int):
        return os.strerror(error.osError).lower()
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return " ".join(str(error).split()) or type(error).__name__


@define
class Session:
    """
    One run of the client against one endpoint.

    @ivar wait: how long to wait for replies once the input has ended.
    @ivar retries: how many times to retry a stream connection that fails.
    @ivar delay: seconds between retries.
    @ivar say: shows a progress line (on standard error).
    """

    reactor: Any
    endpoint: ClientEndpoint
    output: Output
    wait: float = 2.0
    retries: int = 0
    delay: float = 1.0
    say: Callable[[str], None] = lambda line: None

    async def connectStream(self) -> StreamClient:
        """
        Connect, retrying a refused or failed connection C{retries} times,
        C{delay} seconds apart, saying so each time.
        """
        stream = self.endpoint.stream
        assert stream is not None
        attempt = 0
        while True:
            protocol = StreamClient(self.output)
            try:
                await connectProtocol(stream, protocol)
            except Exception as e:
                reason = _reason(e)
                if attempt >= self.retries:
                    raise ClientError(
                        f"sockplug: cannot connect to {self.endpoint.description!r}:"
                        f" {reason}"
                    ) from e
                attempt += 1
                self.say(
                    f"sockplug: cannot connect to {self.endpoint.description!r}"
                    f" ({reason}); retrying in {self.delay:g} seconds"
                    f" ({attempt} of {self.retries})"
                )
                await task.deferLater(self.reactor, self.delay, lambda: None)
            else:
                return protocol

    async def _within(self, *waits: Deferred[Any]) -> bool:
        """
        Wait for the first of C{waits}, at most C{wait} seconds. Whether one
        fired.
        """
        timer: Deferred[None] = task.deferLater(self.reactor, self.wait, lambda: None)
        index, _ = await defer.race([timer, *waits])
        if not timer.called:
            timer.cancel()
        return index != 0

    async def converse(
        self, ended: Signal, feed: Callable[[Callable[[bytes], None]], None]
    ) -> None:
        """
        Send what is read until C{ended} fires (the input ended), then wait
        at most C{wait} seconds for the replies, and stop. Over datagrams,
        each line read is one datagram.

        @param feed: called with the function to call with each chunk read.
        """
        if self.endpoint.datagram is not None:
            await self._converseDatagram(self.endpoint.datagram, ended, feed)
            return
        protocol = await self.connectStream()
        feed(protocol.transport.write)
        index, _ = await defer.race([ended.wait(), protocol.closed.wait()])
        if index == 0:
            await self._finish(protocol)
        self.output.end()
        self._checkClosed(protocol)

    async def _finish(self, protocol: StreamClient) -> None:
        """
        The input has ended: let the replies come, at most C{wait} seconds,
        then close.
        """
        protocol.endInput()
        if not await self._within(protocol.closed.wait()):
            protocol.closingOurselves = True
            protocol.transport.loseConnection()
            await protocol.closed.wait()

    def _checkClosed(self, protocol: StreamClient) -> None:
        failure = protocol.failure()
        if failure is not None:
            raise ClientError(
                f"sockplug: connection to {self.endpoint.description!r} failed:"
                f" {failure}"
            )

    async def _converseDatagram(
        self,
        client: DatagramClient,
        ended: Signal,
        feed: Callable[[Callable[[bytes], None]], None],
    ) -> None:
        protocol = DatagramReplies(self.output)
        sent = 0
        allIn = Signal()
        stopped = Signal()  # refused, or a datagram could not be sent
        errors: list[ClientError] = []

        def changed() -> None:
            if protocol.refused:
                stopped.fire()
            if ended.fired and (protocol.refused or protocol.replies >= sent):
                allIn.fire()

        partial = b""

        def sendLines(data: bytes) -> None:
            nonlocal sent
            if stopped.fired:
                return
            try:
                _send(client, data)
            except ClientError as e:
                errors.append(e)
                stopped.fire()
            else:
                sent += 1

        def send(data: bytes) -> None:
            # One datagram per line, however the input was cut into reads.
            nonlocal partial
            *lines, partial = (partial + data).split(b"\n")
            for line in lines:
                sendLines(line + b"\n")

        protocol.changed = changed
        _start(self.reactor, client, protocol)
        try:
            feed(send)
            await defer.race([ended.wait(), stopped.wait()])
            if partial and not stopped.fired:
                sendLines(partial)
            if errors:
                raise errors[0]
            _checkRefused(client, protocol)
            changed()
            await self._within(allIn.wait())
            _checkRefused(client, protocol)
        finally:
            protocol.stopping = True
            self.output.end()
            await client.stop()

    async def sendOnce(self, message: bytes) -> None:
        """
        Send one message and print the reply: on a stream, everything until
        the server closes (or C{wait} seconds pass); over datagrams, one
        reply, which must come within C{wait} seconds.
        """
        client = self.endpoint.datagram
        if client is None:
            protocol = await self.connectStream()
            protocol.transport.write(message)
            await self._finish(protocol)
            self.output.end()
            self._checkClosed(protocol)
            return
        replies = DatagramReplies(self.output)
        arrived = Signal()
        replies.changed = arrived.fire
        _start(self.reactor, client, replies)
        try:
            _send(client, message)
            await self._within(arrived.wait())
            _checkRefused(client, replies)
            if not replies.replies:
                raise ClientError(
                    f"sockplug: no reply from {client.description!r} within"
                    f" {self.wait:g} seconds"
                )
        finally:
            replies.stopping = True
            self.output.end()
            await client.stop()


def _checkRefused(client: DatagramClient, protocol: DatagramReplies) -> None:
    if protocol.refused:
        raise ClientError(
            f"sockplug: {client.description!r} refused the datagrams"
            " (is anything listening there?)"
        )


def _start(reactor: Any, client: DatagramClient, protocol: DatagramProtocol) -> None:
    try:
        client.start(reactor, protocol)
    except Exception as e:
        raise ClientError(
            f"sockplug: cannot open {client.description!r}: {_reason(e)}"
        ) from e


def _send(client: DatagramClient, datagram: bytes) -> None:
    try:
        client.send(datagram)
    except Exception as e:
        raise ClientError(
            f"sockplug: cannot send to {client.description!r}: {_reason(e)}"
        ) from e
