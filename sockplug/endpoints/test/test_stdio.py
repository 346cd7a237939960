"""
Tests for L{sockplug.endpoints._stdio}.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.stdio import PipeAddress
from twisted.internet.testing import MemoryReactor
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from sockplug.endpoints._parser import EndpointParser
from sockplug.endpoints._stdio import (
    StandardIOEndpoint,
    StandardIOPort,
    StandardStreams,
)
from sockplug.errors import EndpointSyntaxError


class _Descriptors:
    """
    The descriptor calls L{StandardStreams.separate} makes, recorded
    instead of done; descriptor 2 is the same file as C{sameAs}.
    """

    def __init__(self, sameAs: set[int]) -> None:
        self.sameAs = sameAs
        self.calls: list[tuple[Any, ...]] = []

    def streams(self) -> StandardStreams:
        return StandardStreams(
            dup=lambda fd: self._record(10, "dup", fd),
            dup2=lambda fd, to: self._record(None, "dup2", fd, to),
            same=lambda a, b: b in self.sameAs,
            null=lambda: self._record(20, "null"),
            close=lambda fd: self._record(None, "close", fd),
        )

    def _record(self, result: Any, *call: Any) -> Any:
        """
        Record C{call}, and give C{result}: what the call would return.
        """
        self.calls.append(call)
        return result


class StandardStreamsTests(SynchronousTestCase):
    """
    Tests for L{StandardStreams}.
    """

    def test_untouched(self) -> None:
        """
        Until L{StandardStreams.separate}, the connection writes
        descriptor 1.
        """
        streams = StandardStreams()
        self.assertEqual((streams.input, streams.output, streams.moved), (0, 1, False))

    def test_separate(self) -> None:
        """
        The connection writes a copy of descriptor 1, and descriptor 1
        becomes standard error.
        """
        fds = _Descriptors(sameAs=set())
        streams = fds.streams()
        streams.separate()
        self.assertEqual(fds.calls, [("dup", 1), ("dup2", 2, 1)])
        self.assertEqual((streams.output, streams.moved), (10, True))

    def test_standardErrorIsTheConnection(self) -> None:
        """
        When standard error is the connection too, descriptors 1 and 2 both
        go to C{/dev/null}, so that no log line reaches the peer.
        """
        fds = _Descriptors(sameAs={10})
        streams = fds.streams()
        streams.separate()
        self.assertEqual(
            fds.calls,
            [("dup", 1), ("null",), ("dup2", 20, 2), ("dup2", 20, 1), ("close", 20)],
        )
        self.assertEqual(streams.output, 10)

    def test_once(self) -> None:
        """
        A second L{StandardStreams.separate} changes nothing: descriptor 1
        is by then standard error, not the connection.
        """
        fds = _Descriptors(sameAs=set())
        streams = fds.streams()
        streams.separate()
        del fds.calls[:]
        streams.separate()
        self.assertEqual((fds.calls, streams.output), ([], 10))


class _Recorder(Protocol):
    def __init__(self) -> None:
        self.lost: list[Failure] = []

    def connectionLost(self, reason: Failure = Failure(ConnectionDone())) -> None:  # noqa: B008
        self.lost.append(reason)


class StandardIOEndpointTests(SynchronousTestCase):
    """
    Tests for L{StandardIOEndpoint}, over a pipe each way.
    """

    def setUp(self) -> None:
        readIn, self.writeIn = os.pipe()
        self.readOut, writeOut = os.pipe()
        for fd in (readIn, self.writeIn, self.readOut, writeOut):
            self.addCleanup(self._close, fd)
        self.streams = StandardStreams(input=readIn, output=writeOut)
        self.reactor = MemoryReactor()
        self.endpoint = StandardIOEndpoint(self.reactor, self.streams)
        self.addresses: list[object] = []
        self.protocol = _Recorder()

    def _close(self, fd: int) -> None:
        with contextlib.suppress(OSError):  # (closed by the connection)
            os.close(fd)

    def _build(self, address: object) -> Protocol | None:
        self.addresses.append(address)
        return self.protocol

    def _listen(self) -> StandardIOPort:
        factory = Factory()
        factory.buildProtocol = self._build  # type: ignore[method-assign,assignment]
        port = self.successResultOf(self.endpoint.listen(factory))
        assert isinstance(port, StandardIOPort)
        return port

    def test_connects(self) -> None:
        """
        Listening makes the one connection at once, its peer a
        L{PipeAddress}, reading the streams' input and writing their
        output.
        """
        port = self._listen()
        [address] = self.addresses
        self.assertIsInstance(address, PipeAddress)
        assert self.protocol.transport is not None
        self.protocol.transport.write(b"x")
        [reader] = self.reactor.readers
        [writer] = self.reactor.writers
        self.assertEqual(
            (reader.fileno(), writer.fileno()),
            (self.streams.input, self.streams.output),
        )
        self.assertNoResult(port.closed)

    def test_closed(self) -> None:
        """
        L{StandardIOPort.closed} fires once the connection is lost, after
        the protocol is told.
        """
        port = self._listen()
        assert self.protocol.transport is not None
        self.protocol.transport.connectionLost(Failure(ConnectionDone()))  # type: ignore[attr-defined]
        self.assertEqual(len(self.protocol.lost), 1)
        self.assertIsNone(self.successResultOf(port.closed))

    def test_refused(self) -> None:
        """
        A factory that gives no protocol leaves no connection:
        L{StandardIOPort.closed} fires at once.
        """
        self.protocol = None  # type: ignore[assignment]
        port = self._listen()
        self.assertIsNone(self.successResultOf(port.closed))

    def test_stopListening(self) -> None:
        """
        Stopping the port leaves the connection open.
        """
        port = self._listen()
        self.successResultOf(port.stopListening())
        self.assertNoResult(port.closed)
        self.assertEqual(self.protocol.lost, [])

    def test_host(self) -> None:
        """
        The port's address is a L{PipeAddress}.
        """
        self.assertIsInstance(self._listen().getHost(), PipeAddress)


class ParseTests(SynchronousTestCase):
    """
    C{stdio:} as the endpoint parser reads it.
    """

    def test_parsed(self) -> None:
        """
        C{stdio:} is a L{StandardIOEndpoint}.
        """
        parsed = EndpointParser(MemoryReactor(), []).parse("stdio:")
        self.assertIsInstance(parsed.endpoint, StandardIOEndpoint)
        self.assertEqual(parsed.socketType, "stdio")

    def test_arguments(self) -> None:
        """
        C{stdio:} takes no arguments, and says so.
        """
        error = self.assertRaises(
            EndpointSyntaxError, EndpointParser(MemoryReactor(), []).parse, "stdio:x"
        )
        self.assertIn("stdio: takes no arguments", str(error))
