# -*- test-case-name: sockplug.client.test.test_session -*-
"""
What the C{sockplug connect} and C{sockplug send} commands do: connect (with
retries), send what is typed or given, and print what comes back.
"""

from __future__ import annotations

import os
from collections.abc import Callable
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
from sockplug.client._protocols import DatagramReplies, Output, Signal, StreamClient
from sockplug.client._tlsfailures import describeVerificationFailure
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
        if failure is None:
            return
        assert protocol.reason is not None
        description = self.endpoint.description
        refused = describeVerificationFailure(
            protocol.reason, protocol.tlsConnection, description
        )
        if refused is not None:
            raise ClientError(
                f"sockplug: connection to {description!r} failed verification:"
                f" {refused}"
            )
        raise ClientError(f"sockplug: connection to {description!r} failed: {failure}")

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
