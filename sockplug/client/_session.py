# -*- test-case-name: sockplug.client.test.test_session -*-
"""
What the C{sockplug connect} and C{sockplug send} commands do: connect (with
retries), send what is typed or given, and print what comes back.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from attrs import define
from twisted.internet import defer, task
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import connectProtocol
from twisted.internet.error import (
    ConnectError,
    ConnectionRefusedError,
    DNSLookupError,
    NoRouteError,
    TCPTimedOutError,
    TimeoutError,
)
from twisted.internet.protocol import DatagramProtocol

from sockplug.client._endpoints import ClientEndpoint, DatagramClient
from sockplug.client._protocols import (
    DatagramReplies,
    Nowhere,
    Output,
    Signal,
    StreamClient,
)
from sockplug.client._tlsfailures import describeVerificationFailure
from sockplug.client._values import shown
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


_CONNECT_REASONS: list[tuple[type[Exception], str]] = [
    (ConnectionRefusedError, "connection refused (is the server running?)"),
    (DNSLookupError, "no such host"),
    (NoRouteError, "no route to host"),
    (TCPTimedOutError, "timed out"),
    (TimeoutError, "timed out"),
]


async def _first(*waits: Deferred[Any]) -> int:
    """
    Wait for the first of C{waits} to fire (L{defer.race}, which cancels
    the others); its index.

    @raise defer.CancelledError: if cancelled meanwhile (where C{race}
        would fail with a L{defer.FailureGroup} of the cancelled waits).
    """
    try:
        index, _ = await defer.race(list(waits))
    except defer.FailureGroup as e:
        if all(f.check(defer.CancelledError) for f in e.failures):
            raise defer.CancelledError() from None
        raise
    return index


def _reason(error: BaseException) -> str:
    """
    One line saying why a connection or a datagram failed.
    """
    for errorType, reason in _CONNECT_REASONS:
        if isinstance(error, errorType):
            return reason
    if isinstance(error, ConnectError) and isinstance(error.osError, int):
        if error.osError < 0 and error.args and error.args[0]:
            # getaddrinfo's codes, which strerror does not know.
            return " ".join(str(error.args[0]).split()).lower()
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

    async def connectStream(self, output: Output | None = None) -> StreamClient:
        """
        Connect, retrying a refused or failed connection C{retries} times,
        C{delay} seconds apart, saying so each time.

        @param output: where the replies go, if not to the session's
            C{output}.
        """
        stream = self.endpoint.stream
        assert stream is not None
        where = shown(self.endpoint.description)
        attempt = 0
        while True:
            protocol = StreamClient(self.output if output is None else output)
            try:
                await connectProtocol(stream, protocol)
            except defer.CancelledError:
                raise
            except Exception as e:
                reason = _reason(e)
                if attempt >= self.retries:
                    raise ClientError(
                        f"sockplug: cannot connect to {where}: {reason}"
                    ) from e
                attempt += 1
                self.say(
                    f"sockplug: cannot connect to {where} ({reason});"
                    f" retrying in {self.delay:g} seconds"
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
        index = await _first(timer, *waits)
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
        with _hangingUpIfCancelled(protocol):
            feed(protocol.transport.write)
            index = await _first(ended.wait(), protocol.closed.wait())
            if index == 0:
                await self._finish(protocol)
        self.output.end()
        self._checkClosed(protocol)

    async def _finish(self, protocol: StreamClient, replies: bool = True) -> None:
        """
        Nothing more is to be sent: half-close, and let the replies come and
        the server close, at most C{wait} seconds; then close, and if that
        close is not done within C{wait} seconds more (TLS waits for the
        server to answer it), abort.

        @param replies: whether replies are awaited; if not, a connection
            that cannot be half-closed (TLS) is closed at once.
        """
        if not protocol.endInput() and not replies:
            _hangUp(protocol)
        if await self._within(protocol.closed.wait()):
            return
        if not protocol.closingOurselves:
            _hangUp(protocol)
            if await self._within(protocol.closed.wait()):
                return
        transport = protocol.transport
        getattr(transport, "abortConnection", transport.loseConnection)()
        await protocol.closed.wait()

    def _checkClosed(self, protocol: StreamClient) -> None:
        failure = protocol.failure()
        if failure is None:
            return
        assert protocol.reason is not None
        description = self.endpoint.description
        refused = describeVerificationFailure(
            protocol.reason, protocol.tlsConnection, description
        )
        if refused is not None:
            raise ClientError(
                f"sockplug: connection to {shown(description)} failed verification:"
                f" {refused}"
            )
        raise ClientError(
            f"sockplug: connection to {shown(description)} failed: {failure}"
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
            await _first(ended.wait(), stopped.wait())
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
            with _hangingUpIfCancelled(protocol):
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
                    f"sockplug: no reply from {shown(client.description)} within"
                    f" {self.wait:g} seconds"
                )
        finally:
            replies.stopping = True
            self.output.end()
            await client.stop()

    async def sendOneWay(self, message: bytes) -> None:
        """
        Send one message, and neither wait for a reply nor print one: done once
        the message is delivered. Over a stream, that is once it is written and
        the connection has closed cleanly, the server closing after our
        half-close or, if it does not within C{wait} seconds (or where there is
        no half-close, as over TLS), after our own close; a connection reset
        or refused is an error. Over datagrams, once the datagram is sent.
        """
        client = self.endpoint.datagram
        if client is None:
            protocol = await self.connectStream(Output(Nowhere()))
            with _hangingUpIfCancelled(protocol):
                protocol.transport.write(message)
                await self._finish(protocol, replies=False)
            self._checkClosed(protocol)
            return
        replies = DatagramReplies(Output(Nowhere()))
        _start(self.reactor, client, replies)
        try:
            _send(client, message)
        finally:
            replies.stopping = True
            await client.stop()


def _hangUp(protocol: StreamClient) -> None:
    """
    Close the connection of C{protocol} ourselves: a clean close, whatever
    TLS makes of a server that does not answer its close_notify.
    """
    protocol.closingOurselves = True
    protocol.transport.loseConnection()


@contextmanager
def _hangingUpIfCancelled(protocol: StreamClient) -> Iterator[None]:
    """
    If the session is cancelled (Ctrl-C, the output gone) within, close the
    connection before the cancellation goes on.
    """
    try:
        yield
    except defer.CancelledError:
        _hangUp(protocol)
        raise


def _checkRefused(client: DatagramClient, protocol: DatagramReplies) -> None:
    if protocol.refused:
        raise ClientError(
            f"sockplug: {shown(client.description)} refused the datagrams"
            " (is anything listening there?)"
        )


def _start(reactor: Any, client: DatagramClient, protocol: DatagramProtocol) -> None:
    try:
        client.start(reactor, protocol)
    except Exception as e:
        raise ClientError(
            f"sockplug: cannot open {shown(client.description)}: {_reason(e)}"
        ) from e


def _send(client: DatagramClient, datagram: bytes) -> None:
    try:
        client.send(datagram)
    except Exception as e:
        raise ClientError(
            f"sockplug: cannot send to {shown(client.description)}: {_reason(e)}"
        ) from e
