"""
Tests for L{sockplug.protocols.lineprint}'s output that never waits: the
C{outputbuffer} option, each listener's share of its output, what it
drops, and the outputs refused (a FIFO without a reader, a symbolic link).
"""

from __future__ import annotations

import os

from attrs import evolve
from twisted.internet.address import IPv4Address
from twisted.internet.testing import (
    MemoryReactorClock,
    StringTransportWithDisconnection,
)
from twisted.trial.unittest import SynchronousTestCase

from sockplug.errors import OutputError, ProtocolStartError
from sockplug.interfaces import IProtocolOutput
from sockplug.options._protooptions import resolveOptions
from sockplug.plugin import ListenerInfo, TransportKind
from sockplug.plugins.sockplug_builtins import linePrintProtocol
from sockplug.protocols.lineprint import (
    DEFAULT_OUTPUT_BUFFER,
    OPTIONS,
    LinePrint,
    LinePrinter,
    buildDatagramProtocol,
    buildStreamFactory,
    checkOutput,
    checkOutputBuffer,
)
from sockplug.testing import connectDatagram
from sockplug.testing._lineprint import FakeSink, printerTo
from sockplug.testing._server import listenerOf


def _listener(
    options: dict[str, object],
    description: str = "tcp:8888",
    kind: TransportKind = TransportKind.STREAM,
    name: str = "printer",
) -> ListenerInfo:
    return ListenerInfo(
        description=description,
        kind=kind,
        protocolName="line-print",
        reactor=MemoryReactorClock(),
        options=options,
        name=name,
    )


class OutputBufferOptionTests(SynchronousTestCase):
    """
    Tests for line-print's C{outputbuffer} option.
    """

    def test_declared(self) -> None:
        """
        The plugin declares C{outputbuffer}: a whole number, 1 MiB by
        default, checked by L{checkOutputBuffer}.
        """
        option = OPTIONS[1]
        self.assertEqual(
            (option.name, option.type, option.default, option.check),
            ("outputbuffer", int, 1048576, checkOutputBuffer),
        )
        self.assertEqual(DEFAULT_OUTPUT_BUFFER, 1048576)

    def test_bounds(self) -> None:
        """
        From 0 to 1 GiB is taken.
        """
        for size in (0, 4096, 1 << 30):
            self.assertEqual(checkOutputBuffer(size), size)

    def test_outOfBounds(self) -> None:
        """
        Below 0 or past 1 GiB is refused, saying what is taken.
        """
        for size in (-1, (1 << 30) + 1):
            e = self.assertRaises(ValueError, checkOutputBuffer, size)
            self.assertEqual(
                str(e), f"{size} is not a number of bytes from 0 to 1073741824"
            )

    def test_resolved(self) -> None:
        """
        A listener that says nothing gets the default.
        """
        values, problems = resolveOptions(OPTIONS, {})
        self.assertEqual(
            (values, problems), ({"output": "-", "outputbuffer": 1048576}, {})
        )


class CheckOutputRefusesTests(SynchronousTestCase):
    """
    Tests for what L{checkOutput} (and so C{check-config}) refuses that
    the server could not open.
    """

    def setUp(self) -> None:
        self.folder = os.path.abspath(self.mktemp())
        os.makedirs(self.folder)
        self.path = os.path.join(self.folder, "lines.log")

    def test_symbolicLink(self) -> None:
        """
        A symbolic link is refused: line-print does not follow one.
        """
        os.symlink(os.path.join(self.folder, "target"), self.path)
        e = self.assertRaises(ValueError, checkOutput, self.path)
        self.assertEqual(
            str(e),
            f"{self.path!r} is a symbolic link, which line-print does not"
            " follow; name the file itself",
        )

    def test_fifo(self) -> None:
        """
        A FIFO is taken: whether it has a reader is seen when the server
        opens it.
        """
        os.mkfifo(self.path)
        self.assertEqual(checkOutput(self.path), self.path)

    def test_notWritable(self) -> None:
        """
        A file this user cannot write is refused.
        """
        if os.geteuid() == 0:
            self.skipTest("root writes any file")
        with open(self.path, "wb"):
            pass
        os.chmod(self.path, 0o444)
        e = self.assertRaises(ValueError, checkOutput, self.path)
        self.assertEqual(str(e), f"{self.path!r} is not writable")

    def test_folderNotWritable(self) -> None:
        """
        A new file in a folder this user cannot write is refused.
        """
        if os.geteuid() == 0:
            self.skipTest("root writes any folder")
        os.chmod(self.folder, 0o555)
        self.addCleanup(os.chmod, self.folder, 0o755)
        e = self.assertRaises(ValueError, checkOutput, self.path)
        self.assertEqual(
            str(e),
            f"{self.path!r} cannot be created: its folder {self.folder!r} is"
            " not writable",
        )


class OpenRefusedTests(SynchronousTestCase):
    """
    Tests for outputs the server refuses when it builds a listener (at
    start, or at a reload).
    """

    def setUp(self) -> None:
        self.folder = os.path.abspath(self.mktemp())
        os.makedirs(self.folder)
        self.path = os.path.join(self.folder, "lines.fifo")

    def test_fifoWithoutReader(self) -> None:
        """
        A FIFO no one reads is refused at once, with an L{OutputError}
        saying to start its reader.
        """
        os.mkfifo(self.path)
        e = self.assertRaises(
            OutputError, buildStreamFactory, _listener({"output": self.path})
        )
        self.assertEqual(
            str(e),
            f"output {self.path!r} is a FIFO that no one reads: start its reader first",
        )

    def test_symbolicLink(self) -> None:
        """
        A symbolic link put at the path after the file was checked is
        refused when it is opened.
        """
        os.symlink(os.path.join(self.folder, "target"), self.path)
        self.assertRaises(
            OutputError, buildDatagramProtocol, _listener({"output": self.path})
        )


class SharesTests(SynchronousTestCase):
    """
    Tests for each listener's share of its output, and what it dropped.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.sink = FakeSink()
        self.path = "/nonexistent/lines.log"
        self.printer = printerTo(self.sink, self.reactor, self.path)
        self.addCleanup(LinePrinter._files.pop, self.path, None)

    def connect(self, factory: object) -> LinePrint:
        transport = StringTransportWithDisconnection(
            peerAddress=IPv4Address("TCP", "127.0.0.1", 53422)
        )
        protocol = factory.buildProtocol(transport.getPeer())  # type: ignore[attr-defined]
        assert isinstance(protocol, LinePrint)
        transport.protocol = protocol
        protocol.makeConnection(transport)
        return protocol

    def test_streamShare(self) -> None:
        """
        A stream listener prints under a share named after it, bounded by
        its C{outputbuffer}.
        """
        factory = buildStreamFactory(
            _listener({"output": self.path, "outputbuffer": 64})
        )
        self.assertEqual(
            (factory.share.name, factory.share.bound),  # type: ignore[attr-defined]
            ("printer", 64),
        )

    def test_nameless(self) -> None:
        """
        A listener without a name (from the command line) shares under its
        endpoint string.
        """
        factory = buildStreamFactory(_listener({"output": self.path}, name=""))
        self.assertEqual(factory.share.name, "tcp:8888")  # type: ignore[attr-defined]

    def test_providesOutput(self) -> None:
        """
        The stream factory and the datagram protocol provide
        L{IProtocolOutput}.
        """
        stream = buildStreamFactory(_listener({"output": self.path}))
        datagram = buildDatagramProtocol(
            _listener({"output": self.path}, "udp:9999", TransportKind.DATAGRAM)
        )
        self.assertTrue(IProtocolOutput.providedBy(stream))
        self.assertTrue(IProtocolOutput.providedBy(datagram))

    def test_streamDropsCounted(self) -> None:
        """
        A stream listener's lines that do not fit while its output is
        stalled are dropped and counted; the connection goes on.
        """
        factory = buildStreamFactory(
            _listener({"output": self.path, "outputbuffer": 40})
        )
        protocol = self.connect(factory)
        self.sink.room = 0
        protocol.dataReceived(b"one\n")
        protocol.dataReceived(b"two\nthree\n")
        self.assertEqual(
            IProtocolOutput(factory).outputDropped(),
            (2, len(b"tcp:8888 127.0.0.1:53422: two\n" * 2) + 2),
        )
        self.assertTrue(protocol.transport.connected)  # type: ignore[attr-defined]

    def test_datagramDropsCounted(self) -> None:
        """
        A datagram listener's lines that do not fit are dropped and
        counted.
        """
        protocol = buildDatagramProtocol(
            _listener(
                {"output": self.path, "outputbuffer": 0},
                "udp:9999",
                TransportKind.DATAGRAM,
            )
        )
        connectDatagram(protocol)
        self.sink.room = 0
        protocol.datagramReceived(b"a\nb", ("127.0.0.1", 5000))
        self.assertEqual(protocol.outputDropped()[0], 2)

    def test_countsGoOn(self) -> None:
        """
        A listener built again (a reload) goes on counting from the counts
        of the one before.
        """
        options = {"output": self.path, "outputbuffer": 0}
        first = buildStreamFactory(_listener(options))
        self.sink.room = 0
        self.connect(first).dataReceived(b"one\n")
        again = buildStreamFactory(_listener(options))
        self.assertEqual(IProtocolOutput(again).outputDropped()[0], 1)

    def test_flushOutput(self) -> None:
        """
        C{flushOutput} lets what waits be written, then fires.
        """
        factory = buildStreamFactory(_listener({"output": self.path}))
        self.sink.room = 0
        self.connect(factory).dataReceived(b"one\n")
        d = IProtocolOutput(factory).flushOutput(5)
        self.assertNoResult(d)
        self.sink.room = None
        self.printer._output.doWrite()
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.sink.written, b"tcp:8888 127.0.0.1:53422: one\n")


class StandardOutputTests(SynchronousTestCase):
    """
    Tests for the printer to standard output.
    """

    def test_shared(self) -> None:
        """
        Every listener printing to standard output shares one printer, so
        that their lines are never interleaved within a line.
        """
        stream = buildStreamFactory(_listener({}))
        datagram = buildDatagramProtocol(
            _listener({}, "udp:9999", TransportKind.DATAGRAM)
        )
        self.assertIs(stream.printer, datagram.printer)  # type: ignore[attr-defined]


class ListenerStartTests(SynchronousTestCase):
    """
    Tests for what a listener says when line-print cannot open its output.
    """

    def test_oneLine(self) -> None:
        """
        The plugin's failure to open a FIFO without a reader is one line,
        naming the FIFO, as start-up and a reload show it.
        """
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        path = os.path.join(folder, "lines.fifo")
        os.mkfifo(path)
        listener = evolve(
            listenerOf("tcp:8888", None, TransportKind.STREAM, linePrintProtocol),
            options={"output": path},
        )
        e = self.assertRaises(ProtocolStartError, listener.build, MemoryReactorClock())
        self.assertEqual(
            str(e),
            f"protocol line-print could not start: output {path!r} is a FIFO"
            " that no one reads: start its reader first",
        )
