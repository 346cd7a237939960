"""
Tests for L{sockplug.protocols.lineprint}: L{LinePrinter}, and line-print's
C{output} option.
"""

from __future__ import annotations

import gc
import io
import os
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.testing import (
    EventLoggingObserver,
    MemoryReactorClock,
    StringTransportWithDisconnection,
)
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from sockplug.options._protooptions import declaredOptions
from sockplug.plugin import ListenerInfo, TransportKind
from sockplug.plugins.sockplug_builtins import linePrintProtocol
from sockplug.protocols.lineprint import (
    OPTIONS,
    LinePrinter,
    buildDatagramProtocol,
    buildStreamFactory,
    checkOutput,
)
from sockplug.testing import MemoryDatagramReactor, connectDatagram, listenerInfo
from sockplug.testing._lineprint import CountingOutput, connectLinePrint


class _FailingOutput(io.BytesIO):
    """
    A binary file whose every write fails, as standard output does once the
    pipe it goes to is closed.
    """

    writes = 0

    def write(self, data: Any) -> int:
        self.writes += 1
        raise BrokenPipeError(32, "Broken pipe")


class LinePrinterTests(SynchronousTestCase):
    """
    Tests for L{LinePrinter}.
    """

    def setUp(self) -> None:
        self.events = EventLoggingObserver.createWithCleanup(
            self,  # type: ignore[arg-type]
            globalLogPublisher,
        )

    def test_printLines(self) -> None:
        """
        Each line is printed after the prefix, ended with LF.
        """
        output = io.BytesIO()
        LinePrinter(output).printLines(b"p: ", [b"one", b"two"])
        self.assertEqual(output.getvalue(), b"p: one\np: two\n")

    def test_printBlock(self) -> None:
        """
        Each line of a block is printed after the prefix, with its LF.
        """
        output = io.BytesIO()
        LinePrinter(output).printBlock(b"p: ", b"one\ntwo\n\n")
        self.assertEqual(output.getvalue(), b"p: one\np: two\np: \n")

    def test_printBlockEscapes(self) -> None:
        """
        A block's lines are escaped, and lose the CR before their LF.
        """
        output = io.BytesIO()
        LinePrinter(output).printBlock(b"p: ", b"one\r\n\x1b\\\n")
        self.assertEqual(output.getvalue(), b"p: one\np: \\x1b\\\\\n")

    def test_printBlockOneWriteOneFlush(self) -> None:
        """
        A block is written with one write and flushed once.
        """
        output = CountingOutput()
        LinePrinter(output).printBlock(b"p: ", b"one\ntwo\nthree\n")
        self.assertEqual((output.writes, output.flushes), (1, 1))

    def test_emptyBlockNotWritten(self) -> None:
        """
        An empty block (no line) writes and flushes nothing.
        """
        output = CountingOutput()
        LinePrinter(output).printBlock(b"p: ", b"")
        self.assertEqual((output.writes, output.flushes), (0, 0))

    def test_printBlockNoPrefix(self) -> None:
        """
        With an empty prefix, the lines are printed alone.
        """
        output = io.BytesIO()
        LinePrinter(output).printBlock(b"", b"one\ntwo\n")
        self.assertEqual(output.getvalue(), b"one\ntwo\n")

    def test_trailingCarriageReturnDropped(self) -> None:
        """
        One CR at the end of a line is dropped.
        """
        output = io.BytesIO()
        LinePrinter(output).printLines(b"p: ", [b"one\r"])
        self.assertEqual(output.getvalue(), b"p: one\n")

    def test_secondCarriageReturnEscaped(self) -> None:
        """
        Only the last CR is a line ending; one before it is escaped.
        """
        output = io.BytesIO()
        LinePrinter(output).printLines(b"p: ", [b"one\r\r"])
        self.assertEqual(output.getvalue(), b"p: one\\x0d\n")

    def test_oneWriteOneFlush(self) -> None:
        """
        A batch of lines is written with one write and flushed once.
        """
        output = CountingOutput()
        LinePrinter(output).printLines(b"p: ", [b"one", b"two", b"three"])
        self.assertEqual((output.writes, output.flushes), (1, 1))

    def test_writeErrorNotRaised(self) -> None:
        """
        An L{OSError} from the output (a closed pipe) does not propagate.
        """
        output = _FailingOutput()
        LinePrinter(output).printLines(b"p: ", [b"one"])
        self.assertEqual(output.writes, 1)

    def test_writeErrorLogged(self) -> None:
        """
        A write error is logged as an error, with its cause.
        """
        LinePrinter(_FailingOutput()).printLines(b"p: ", [b"one"])
        errors = [e for e in self.events if e["log_level"] == LogLevel.error]
        self.assertEqual(
            [formatEvent(e) for e in errors],
            ["line-print cannot write its output: [Errno 32] Broken pipe"],
        )

    def test_writeErrorLoggedOnce(self) -> None:
        """
        Repeated write errors are logged only once, not once per batch.
        """
        output = _FailingOutput()
        printer = LinePrinter(output)
        for _ in range(3):
            printer.printLines(b"p: ", [b"one"])
        self.assertEqual(output.writes, 3)
        self.assertEqual(len(self.events), 1)

    def test_flushErrorNotRaised(self) -> None:
        """
        An L{OSError} from flushing does not propagate, and is logged.
        """

        class FailingFlush(io.BytesIO):
            def flush(self) -> None:
                raise BrokenPipeError(32, "Broken pipe")

        LinePrinter(FailingFlush()).printLines(b"p: ", [b"one"])
        self.assertEqual(len(self.events), 1)

    def test_streamProtocolSurvivesWriteError(self) -> None:
        """
        A line-print connection whose output fails stays open and keeps
        reading.
        """
        output = _FailingOutput()
        protocol, transport = connectLinePrint(output)
        protocol.dataReceived(b"one\n")
        protocol.dataReceived(b"two\n")
        self.assertTrue(transport.connected)
        self.assertEqual(output.writes, 2)

    def test_toStandardOutput(self) -> None:
        """
        L{LinePrinter.toStandardOutput} prints to the process's own standard
        output (descriptor 1, not C{sys.stdout}), the one printer all its
        listeners share.
        """
        printer = LinePrinter.toStandardOutput(MemoryReactorClock())
        self.assertEqual(printer._output.sink.description, "standard output")
        self.assertEqual(_fileOf(printer._output.fileno()), _fileOf(1))
        self.assertIs(LinePrinter.forOutput("-", MemoryReactorClock()), printer)


def _fileOf(fd: int) -> tuple[int, int]:
    """
    The file (device and inode) a descriptor is open on.
    """
    info = os.fstat(fd)
    return info.st_dev, info.st_ino


def _withOutput(
    output: str,
    description: str = "tcp:8888",
    kind: TransportKind = TransportKind.STREAM,
) -> ListenerInfo:
    """
    A line-print listener whose C{output} option is C{output}.
    """
    return ListenerInfo(
        description=description,
        kind=kind,
        protocolName="line-print",
        reactor=MemoryDatagramReactor(),
        options={"output": output},
    )


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


class CheckOutputTests(SynchronousTestCase):
    """
    Tests for L{checkOutput}, line-print's C{output} option.
    """

    def test_declared(self) -> None:
        """
        The plugin declares C{output}, text, standard output by default,
        checked by L{checkOutput}.
        """
        self.assertEqual(declaredOptions(linePrintProtocol), OPTIONS)
        option = OPTIONS[0]
        self.assertEqual(
            (option.name, option.type, option.default, option.check),
            ("output", str, "-", checkOutput),
        )

    def test_standardOutput(self) -> None:
        """
        C{-} and C{stdout} both stand for standard output, given as C{-}.
        """
        self.assertEqual((checkOutput("-"), checkOutput("stdout")), ("-", "-"))

    def test_absolutePath(self) -> None:
        """
        An absolute path in a folder that exists is taken, whether the file
        exists or not.
        """
        path = os.path.abspath(self.mktemp())
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.assertEqual(checkOutput(path), path)
        with open(path, "wb"):
            pass
        self.assertEqual(checkOutput(path), path)

    def test_relative(self) -> None:
        """
        A relative path is refused: twistd changes folder when it
        daemonises.
        """
        for output in ("lines.log", "./lines.log", "", "STDOUT"):
            e = self.assertRaises(ValueError, checkOutput, output)
            self.assertEqual(
                str(e),
                f"{output!r} is not - (standard output) or an absolute file path",
            )

    def test_nul(self) -> None:
        """
        A path with a NUL in it is refused, saying so (it is absolute: the
        NUL is what is wrong).
        """
        e = self.assertRaises(ValueError, checkOutput, "/tmp/a\0b.log")
        self.assertEqual(
            str(e),
            "'/tmp/a\\x00b.log' holds a NUL character, which no file path can",
        )

    def test_folder(self) -> None:
        """
        A folder is refused, saying to give a file in it.
        """
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        e = self.assertRaises(ValueError, checkOutput, folder)
        self.assertEqual(str(e), f"{folder!r} is a folder; give a file path in it")

    def test_missingFolder(self) -> None:
        """
        A file in a folder that does not exist is refused, naming the
        folder.
        """
        folder = os.path.abspath(self.mktemp())
        path = os.path.join(folder, "lines.log")
        e = self.assertRaises(ValueError, checkOutput, path)
        self.assertEqual(str(e), f"the folder {folder!r} of {path!r} does not exist")


class ForOutputTests(SynchronousTestCase):
    """
    Tests for L{LinePrinter.forOutput} and the builders' use of the
    C{output} option.
    """

    def setUp(self) -> None:
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        self.path = os.path.join(folder, "lines.log")
        self.reactor = MemoryReactorClock()

    def printer(self, output: str) -> LinePrinter:
        """
        L{LinePrinter.forOutput}, its file closed when the test ends.
        """
        printer = LinePrinter.forOutput(output, self.reactor)
        if output != "-":
            self.addCleanup(printer._output.close)
        return printer

    def test_standardOutput(self) -> None:
        """
        C{-} prints to the process's own standard output.
        """
        printer = LinePrinter.forOutput("-", self.reactor)
        self.assertIs(printer, LinePrinter.toStandardOutput(self.reactor))
        self.assertEqual(_fileOf(printer._output.fileno()), _fileOf(1))

    def test_appends(self) -> None:
        """
        A file is appended to, not truncated, and written at once.
        """
        with open(self.path, "wb") as f:
            f.write(b"old\n")
        self.printer(self.path).printLines(b"p: ", [b"new"])
        self.assertEqual(_read(self.path), b"old\np: new\n")

    def test_creates(self) -> None:
        """
        A file that is not there is created.
        """
        self.printer(self.path).printLines(b"p: ", [b"one"])
        self.assertEqual(_read(self.path), b"p: one\n")

    def test_shared(self) -> None:
        """
        Every listener printing to one file shares one printer.
        """
        printer = self.printer(self.path)
        self.assertIs(LinePrinter.forOutput(self.path, self.reactor), printer)

    def test_notSharedAcrossFiles(self) -> None:
        """
        Each file has its own printer.
        """
        other = os.path.join(os.path.dirname(self.path), "other.log")
        self.assertIsNot(self.printer(self.path), self.printer(other))

    def test_closedWhenUnused(self) -> None:
        """
        Once no one holds the printer, its file is closed, and the next
        listener printing there gets a new printer.
        """
        printer = LinePrinter.forOutput(self.path, self.reactor)
        file = printer._output
        self.addCleanup(file.close)
        del printer
        gc.collect()
        self.assertTrue(file.closed)
        again = self.printer(self.path)
        self.assertIsNot(again._output, file)
        again.printLines(b"p: ", [b"again"])
        self.assertEqual(_read(self.path), b"p: again\n")

    def test_openWhileHeld(self) -> None:
        """
        While a printer is held, its file stays open.
        """
        printer = self.printer(self.path)
        gc.collect()
        self.assertFalse(printer._output.closed)

    def test_factoryHoldsPrinter(self) -> None:
        """
        A stream listener's factory holds its printer: the file is closed
        once the factory is gone.
        """
        factory = linePrintProtocol.buildStreamFactory(_withOutput(self.path))
        file = LinePrinter.forOutput(self.path, self.reactor)._output
        self.addCleanup(file.close)
        gc.collect()
        self.assertFalse(file.closed)
        del factory
        gc.collect()
        self.assertTrue(file.closed)

    def test_missingFolder(self) -> None:
        """
        A file that cannot be opened raises L{OSError}.
        """
        path = os.path.join(self.path, "below-a-file.log")
        with open(self.path, "wb"):
            pass
        self.assertRaises(OSError, LinePrinter.forOutput, path, self.reactor)

    def test_streamBuilderUsesOutput(self) -> None:
        """
        The stream builder prints to the listener's C{output}.
        """
        factory = linePrintProtocol.buildStreamFactory(_withOutput(self.path))
        self.addCleanup(LinePrinter.forOutput(self.path, self.reactor)._output.close)
        transport = StringTransportWithDisconnection(
            peerAddress=IPv4Address("TCP", "127.0.0.1", 53422)
        )
        protocol = factory.buildProtocol(transport.getPeer())
        assert protocol is not None
        transport.protocol = protocol
        protocol.makeConnection(transport)
        protocol.dataReceived(b"hello\n")
        self.assertEqual(_read(self.path), b"tcp:8888 127.0.0.1:53422: hello\n")

    def test_datagramBuilderUsesOutput(self) -> None:
        """
        The datagram builder prints to the listener's C{output}.
        """
        protocol = linePrintProtocol.buildDatagramProtocol(
            _withOutput(self.path, "udp:9999", TransportKind.DATAGRAM)
        )
        self.addCleanup(LinePrinter.forOutput(self.path, self.reactor)._output.close)
        connectDatagram(protocol)
        protocol.datagramReceived(b"hello", ("127.0.0.1", 5000))
        self.assertEqual(_read(self.path), b"udp:9999 127.0.0.1:5000: hello\n")

    def test_listenersShareFile(self) -> None:
        """
        Two listeners printing to one file share its printer, so their
        lines go to it in order.
        """
        stream = buildStreamFactory(_withOutput(self.path))
        datagram = buildDatagramProtocol(
            _withOutput(self.path, "udp:9999", TransportKind.DATAGRAM)
        )
        self.addCleanup(datagram.printer._output.close)
        self.assertIs(stream.printer, datagram.printer)  # type: ignore[attr-defined]

    def test_builderDefaultStandardOutput(self) -> None:
        """
        A listener with no C{output} option prints to standard output.
        """
        protocol = buildDatagramProtocol(
            listenerInfo("udp:9999", TransportKind.DATAGRAM, "line-print")
        )
        self.assertIs(protocol.printer, LinePrinter.toStandardOutput(self.reactor))
