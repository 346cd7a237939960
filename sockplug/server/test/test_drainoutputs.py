"""
Tests for L{sockplug.server._drain.flushOutputs}, as
L{sockplug.server._service.ListenersService} stops: the protocols' outputs
(line-print's) write what waits within the shutdown timeout, then drop it.
"""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from sockplug.protocols.lineprint import LinePrinter
from sockplug.server._drain import flushOutputs
from sockplug.server._service import ListenersService
from sockplug.testing import MemoryDatagramReactor
from sockplug.testing._lineprint import FakeSink, printerTo
from sockplug.testing._server import ServiceCase


class FlushOutputsTests(SynchronousTestCase):
    """
    Tests for L{flushOutputs} alone.
    """

    def test_noOutputs(self) -> None:
        """
        With no protocol that has an output, it fires at once.
        """
        reactor = MemoryDatagramReactor()
        self.assertEqual(self.successResultOf(flushOutputs(reactor, [object()], 5)), [])


class ServiceFlushTests(ServiceCase):
    """
    Tests for the outputs of a stopping service's line-print listeners.
    """

    def setUp(self) -> None:
        super().setUp()
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        self.path = os.path.join(folder, "lines.log")
        self.sink = FakeSink()
        self.printer = printerTo(self.sink, self.reactor, self.path)
        self.addCleanup(LinePrinter._files.pop, self.path, None)

    def startPrinting(self, timeout: float = 5.0) -> ListenersService:
        text = (
            '[listeners.p]\nendpoint = "tcp:8000"\nprotocol = "line-print"\n'
            f"output = {self.path!r}\n"
        )
        service = ListenersService(
            self.reactor, self.config(text).listeners, shutdownTimeout=timeout
        )
        service.startService()
        return service

    def test_waitsForOutput(self) -> None:
        """
        The stop waits for the output to write what waits.
        """
        service = self.startPrinting()
        self.sink.room = 0
        protocol, transport = self.connect(8000)
        protocol.dataReceived(b"one\n")
        transport.loseConnection()
        stopped = service.stopService()
        self.assertNoResult(stopped)
        self.sink.room = None
        self.printer._output.doWrite()
        self.successResultOf(stopped)
        self.assertEqual(self.sink.written, b"tcp:8000 192.0.2.1:5000: one\n")

    def test_givesUpAtTimeout(self) -> None:
        """
        An output that takes nothing holds the stop up for the shutdown
        timeout at most; what it did not take is dropped and counted.
        """
        service = self.startPrinting(timeout=3)
        self.sink.room = 0
        protocol, transport = self.connect(8000)
        protocol.dataReceived(b"one\n")
        transport.loseConnection()
        stopped = service.stopService()
        self.reactor.advance(2.9)
        self.assertNoResult(stopped)
        self.reactor.advance(0.1)
        self.successResultOf(stopped)
        self.assertEqual(self.printer._output.share("p", 0).droppedLines, 1)

    def test_connectionsFirst(self) -> None:
        """
        Connections still open at the timeout are closed, and their last
        lines dropped at once if the output cannot take them: the whole
        stop stays within the timeout.
        """
        service = self.startPrinting(timeout=3)
        self.sink.room = 0
        protocol, _ = self.connect(8000)
        protocol.dataReceived(b"unfinished")
        stopped = service.stopService()
        self.reactor.advance(3)
        self.successResultOf(stopped)
        self.assertEqual(self.printer._output.share("p", 0).droppedLines, 1)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_notHeldUpWhenWritten(self) -> None:
        """
        An output with nothing waiting does not hold the stop up.
        """
        service = self.startPrinting()
        protocol, transport = self.connect(8000)
        protocol.dataReceived(b"one\n")
        transport.loseConnection()
        self.successResultOf(service.stopService())
