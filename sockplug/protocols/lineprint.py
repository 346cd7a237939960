# -*- test-case-name: sockplug.protocols.test.test_lineprint,sockplug.protocols.test.test_lineprinter -*-  # noqa: E501
"""
The line-print protocol: prints each line it receives, prefixed with the
endpoint and the peer's address, escaped so that nothing a peer sends can
reach a terminal raw.
"""

from __future__ import annotations

import os
import sys
import weakref
from typing import IO, Any, ClassVar, cast

from twisted.internet.interfaces import IProtocolFactory
from twisted.logger import Logger
from twisted.python.failure import Failure

from sockplug.interfaces import IListenerInfo
from sockplug.logs import escapeLines, formatAddress
from sockplug.plugin import ProtocolOption
from sockplug.protocols.base import CountingDatagramProtocol, ListenerFactory
from sockplug.protocols.lines import LineProtocol

__all__ = [
    "OPTIONS",
    "LinePrint",
    "LinePrintDatagram",
    "LinePrinter",
    "buildDatagramProtocol",
    "buildStreamFactory",
]


STANDARD_OUTPUT = "-"


def checkOutput(output: str) -> str:
    """
    Check line-print's C{output}: C{-} (or C{stdout}) for standard output,
    or the absolute path of a file in a folder that exists (the file is
    created if need be, and appended to).

    @return: C{-} or the path.
    @raise ValueError: saying what is wrong.
    """
    if output in (STANDARD_OUTPUT, "stdout"):
        return STANDARD_OUTPUT
    if "\0" in output or not os.path.isabs(output):
        raise ValueError(
            f"{output!r} is not - (standard output) or an absolute file path"
        )
    if os.path.isdir(output):
        raise ValueError(f"{output!r} is a folder; give a file path in it")
    folder = os.path.dirname(output)
    if not os.path.isdir(folder):
        raise ValueError(f"the folder {folder!r} of {output!r} does not exist")
    return output


OPTIONS = (
    ProtocolOption(
        name="output",
        type=str,
        default=STANDARD_OUTPUT,
        help="where lines go: - for standard output, or an absolute file"
        " path, appended to",
        check=checkOutput,
    ),
)


class LinePrinter:
    """
    Writes lines to a binary file: one write and one flush per batch, so
    that each batch is whole and visible at once (a file being followed, a
    terminal), never held in a buffer until more comes.
    """

    log: ClassVar[Logger] = Logger()
    _files: ClassVar[weakref.WeakValueDictionary[str, LinePrinter]] = (
        weakref.WeakValueDictionary()
    )

    def __init__(self, output: IO[bytes]) -> None:
        self._output = output
        self._failed = False

    @classmethod
    def forOutput(cls, output: str) -> LinePrinter:
        """
        The printer for line-print's C{output} option: standard output, or
        a file opened for appending. Listeners printing to one file share
        one printer, and the file is closed once no listener or connection
        uses it.

        @raise OSError: if the file cannot be opened.
        """
        if output == STANDARD_OUTPUT:
            return cls.toStandardOutput()
        printer = cls._files.get(output)
        if printer is None:
            file = open(output, "ab")  # noqa: SIM115 - closed by the finalizer
            printer = cls._files[output] = cls(file)
            weakref.finalize(printer, file.close)
        return printer

    @classmethod
    def toStandardOutput(cls) -> LinePrinter:
        """
        A printer to the process's own standard output (not twistd's
        replacement of C{sys.stdout}, which turns each write into a log
        event).
        """
        stdout = sys.__stdout__
        assert stdout is not None, "line-print needs a standard output"
        return cls(cast(IO[bytes], stdout.buffer))

    def printLines(self, prefix: bytes, lines: list[bytes]) -> None:
        """
        Print each of C{lines} (without their LF; a trailing CR is dropped)
        after C{prefix}, escaped.
        """
        self.printBlock(prefix, b"".join([line + b"\n" for line in lines]))

    def printBlock(self, prefix: bytes, block: bytes) -> None:
        """
        Print each line of C{block} (each ended by LF; a CR before it is
        dropped) after C{prefix}, escaped, as L{printLines} prints them.

        The prefix goes in with one C{bytes.replace} on the whole block,
        not a step per line.
        """
        if not block:
            return
        body = escapeLines(block)
        # The LF ending each line but the last takes the next line's prefix:
        # the last LF too, then that prefix is cut off (not a copy).
        out = memoryview((prefix + body).replace(b"\n", b"\n" + prefix))
        self._write(out[: len(out) - len(prefix)])

    def _write(self, data: memoryview) -> None:
        try:
            self._output.write(data)
            self._output.flush()
        except OSError as e:
            if not self._failed:
                self._failed = True
                self.log.error("line-print cannot write its output: {e}", e=e)


class _LinePrintFactory(ListenerFactory):
    def __init__(self, listener: IListenerInfo, printer: LinePrinter) -> None:
        super().__init__(LinePrint, listener)
        self.printer = printer


class LinePrint(LineProtocol):
    """
    Prints each line received on a stream; an unterminated last line is
    printed when the peer disconnects. A line longer than the bound closes
    the connection, and is not printed at all.
    """

    factory: _LinePrintFactory
    _prefix = b""

    def connectionMade(self) -> None:
        super().connectionMade()
        self._prefix = f"{self.listener.description} {self.peer}: ".encode()

    def blockReceived(self, block: bytes) -> None:
        """
        Print the lines of one read at once: line-print sends nothing, so
        backpressure never holds them back.
        """
        self.factory.printer.printBlock(self._prefix, block)

    def connectionLost(self, reason: Failure = Failure(Exception())) -> None:  # noqa: B008
        rest = self.lineSplitter.rest()
        if rest:
            self.factory.printer.printBlock(self._prefix, rest + b"\n")
        super().connectionLost(reason)


class LinePrintDatagram(CountingDatagramProtocol):
    """
    Prints each line of each datagram, with its sender.
    """

    def __init__(self, listener: IListenerInfo, printer: LinePrinter) -> None:
        super().__init__(listener)
        self.printer = printer

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.count(datagram)
        if datagram:
            if not datagram.endswith(b"\n"):
                datagram += b"\n"
            prefix = f"{self.listener.description} {formatAddress(addr)}: "
            self.printer.printBlock(prefix.encode(), datagram)


def _printerFor(listener: IListenerInfo) -> LinePrinter:
    return LinePrinter.forOutput(listener.options.get("output", STANDARD_OUTPUT))


def buildStreamFactory(
    listener: IListenerInfo, printer: LinePrinter | None = None
) -> IProtocolFactory:
    """
    The factory for a stream listener, printing to C{printer} (by default,
    to the listener's C{output} option: standard output unless it says
    otherwise).
    """
    return _LinePrintFactory(listener, printer or _printerFor(listener))


def buildDatagramProtocol(
    listener: IListenerInfo, printer: LinePrinter | None = None
) -> LinePrintDatagram:
    """
    The protocol for a datagram listener, printing to C{printer} (by
    default, to the listener's C{output} option).
    """
    return LinePrintDatagram(listener, printer or _printerFor(listener))
