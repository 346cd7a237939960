# -*- test-case-name: sockplug.protocols.test.test_lineprint,sockplug.protocols.test.test_lineprinter,sockplug.protocols.test.test_lineprintoutput -*-  # noqa: E501
"""
The line-print protocol: prints each line it receives, prefixed with the
endpoint and the peer's address, escaped so that nothing a peer sends can
reach a terminal raw.
"""

from __future__ import annotations

import os
import stat
import weakref
from typing import IO, Any, ClassVar

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IProtocolFactory
from twisted.python.failure import Failure
from zope.interface import implementer

from sockplug.interfaces import IListenerInfo, IProtocolOutput
from sockplug.internet import (
    FileObjectSink,
    OutputWriter,
    Share,
    openOutputFile,
    openStandardOutput,
)
from sockplug.logs import escapeLines, formatAddress
from sockplug.plugin import ProtocolOption
from sockplug.protocols.base import CountingDatagramProtocol, ListenerFactory
from sockplug.protocols.lines import LineProtocol

# Who writes, as the output's log lines say.
NAME = "line-print"

__all__ = [
    "DEFAULT_OUTPUT_BUFFER",
    "OPTIONS",
    "LinePrint",
    "LinePrintDatagram",
    "LinePrinter",
    "buildDatagramProtocol",
    "buildStreamFactory",
]


STANDARD_OUTPUT = "-"

# What one listener's lines may have waiting for a slow output, in bytes.
DEFAULT_OUTPUT_BUFFER = 1024 * 1024
MAX_OUTPUT_BUFFER = 1024 * 1024 * 1024


def checkOutput(output: str) -> str:
    """
    Check line-print's C{output}: C{-} (or C{stdout}) for standard output,
    or the absolute path of a file (or FIFO) that can be written, in a
    folder that exists (the file is created if need be, and appended to).
    What the server would refuse to open is refused here, so that
    C{check-config} refuses it too: a folder, a symbolic link (never
    followed), a socket, a file or folder this user cannot write.

    @return: C{-} or the path.
    @raise ValueError: saying what is wrong.
    """
    if output in (STANDARD_OUTPUT, "stdout"):
        return STANDARD_OUTPUT
    if "\0" in output:
        raise ValueError(f"{output!r} holds a NUL character, which no file path can")
    if not os.path.isabs(output):
        raise ValueError(
            f"{output!r} is not - (standard output) or an absolute file path"
        )
    if os.path.isdir(output):
        raise ValueError(f"{output!r} is a folder; give a file path in it")
    folder = os.path.dirname(output)
    if not os.path.isdir(folder):
        raise ValueError(f"the folder {folder!r} of {output!r} does not exist")
    try:
        mode: int | None = os.lstat(output).st_mode
    except OSError:
        mode = None
    if mode is None:
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ValueError(
                f"{output!r} cannot be created: its folder {folder!r} is not writable"
            )
    elif stat.S_ISLNK(mode):
        raise ValueError(
            f"{output!r} is a symbolic link, which line-print does not"
            " follow; name the file itself"
        )
    elif stat.S_ISSOCK(mode):
        raise ValueError(f"{output!r} is a socket; give a file or a FIFO")
    elif not os.access(output, os.W_OK):
        raise ValueError(f"{output!r} is not writable")
    return output


def checkOutputBuffer(size: int) -> int:
    """
    Check line-print's C{outputbuffer}: bytes, from 0 (drop what the
    output cannot take at once) to 1 GiB.

    @raise ValueError: saying what is wrong.
    """
    if not 0 <= size <= MAX_OUTPUT_BUFFER:
        raise ValueError(
            f"{size} is not a number of bytes from 0 to {MAX_OUTPUT_BUFFER}"
        )
    return size


OPTIONS = (
    ProtocolOption(
        name="output",
        type=str,
        default=STANDARD_OUTPUT,
        help="where lines go: - for standard output, or an absolute file"
        " path, appended to",
        check=checkOutput,
    ),
    ProtocolOption(
        name="outputbuffer",
        type=int,
        default=DEFAULT_OUTPUT_BUFFER,
        help="bytes of this listener's lines that may wait for a slow output;"
        " lines past it are dropped and counted",
        check=checkOutputBuffer,
    ),
)


class LinePrinter:
    """
    Writes lines to an output, one write per batch, so that each batch is
    whole and visible at once (a file being followed, a terminal), never
    held in a buffer until more comes; and never waits for the output: what
    it cannot take at once waits in a bounded queue (see
    L{sockplug.internet.OutputWriter}), and what does not fit there is
    dropped and counted.
    """

    _files: ClassVar[weakref.WeakValueDictionary[str, LinePrinter]] = (
        weakref.WeakValueDictionary()
    )

    def __init__(
        self,
        output: IO[bytes] | OutputWriter,
        bound: int = DEFAULT_OUTPUT_BUFFER,
    ) -> None:
        """
        @param output: where lines go: an L{OutputWriter}, or a binary file
            object, written and flushed at once (a file in memory).
        @param bound: the bound of the lines printed without naming whose
            they are (L{printBlock} without C{share}).
        """
        if not isinstance(output, OutputWriter):
            output = OutputWriter(None, FileObjectSink(output), NAME)
        self._output = output
        self._share = output.share("", bound)

    @classmethod
    def forOutput(cls, output: str, reactor: Any) -> LinePrinter:
        """
        The printer for line-print's C{output} option: standard output, or
        a file opened for appending, without waiting (a FIFO must have a
        reader). Listeners printing to one output share one printer, and
        the file is closed once no listener or connection uses it.

        @raise OSError: if the file cannot be opened (an
            L{sockplug.errors.OutputError} saying why).
        """
        printer = cls._files.get(output)
        if printer is None:
            if output == STANDARD_OUTPUT:
                sink = openStandardOutput()
            else:
                sink = openOutputFile(output)
            writer = OutputWriter(reactor, sink, NAME)
            printer = cls._files[output] = cls(writer)
            weakref.finalize(printer, writer.close)
        return printer

    @classmethod
    def toStandardOutput(cls, reactor: Any) -> LinePrinter:
        """
        The printer to the process's own standard output (not twistd's
        replacement of C{sys.stdout}, which turns each write into a log
        event), written without waiting for its reader.
        """
        return cls.forOutput(STANDARD_OUTPUT, reactor)

    def shareFor(self, name: str, bound: int) -> Share:
        """
        The part of the output of the listener called C{name}: it may have
        C{bound} bytes waiting, and counts what it dropped.
        """
        return self._output.share(name, bound)

    def flush(self, timeout: float) -> Deferred[None]:
        """
        Let what waits be written for up to C{timeout} seconds, then drop
        it (the server stops).
        """
        return self._output.flush(timeout)

    def printLines(self, prefix: bytes, lines: list[bytes]) -> None:
        """
        Print each of C{lines} (without their LF; a trailing CR is dropped)
        after C{prefix}, escaped.
        """
        self.printBlock(prefix, b"".join([line + b"\n" for line in lines]))

    def printBlock(
        self, prefix: bytes, block: bytes, share: Share | None = None
    ) -> None:
        """
        Print each line of C{block} (each ended by LF; a CR before it is
        dropped) after C{prefix}, escaped, as L{printLines} prints them.

        The prefix goes in with one C{bytes.replace} on the whole block,
        not a step per line.

        @param share: whose lines they are (see L{shareFor}).
        """
        if not block:
            return
        body = escapeLines(block)
        # The LF ending each line but the last takes the next line's prefix:
        # the last LF too, then that prefix is cut off (not a copy).
        out = memoryview((prefix + body).replace(b"\n", b"\n" + prefix))
        self._output.write(out[: len(out) - len(prefix)], share or self._share)


@implementer(IProtocolOutput)
class _PrintsToOutput:
    """
    The part of line-print's factory and datagram protocol that shows
    sockplug what their output dropped, and lets it finish at shutdown.
    """

    printer: LinePrinter
    share: Share

    def _printTo(self, listener: IListenerInfo, printer: LinePrinter) -> None:
        self.printer = printer
        self.share = printer.shareFor(
            listener.name or listener.description,
            listener.options.get("outputbuffer", DEFAULT_OUTPUT_BUFFER),
        )

    def outputDropped(self) -> tuple[int, int]:
        """
        See L{IProtocolOutput.outputDropped}.
        """
        return self.share.droppedLines, self.share.droppedBytes

    def flushOutput(self, timeout: float) -> Deferred[None]:
        """
        See L{IProtocolOutput.flushOutput}.
        """
        return self.printer.flush(timeout)


class _LinePrintFactory(ListenerFactory, _PrintsToOutput):
    def __init__(self, listener: IListenerInfo, printer: LinePrinter) -> None:
        super().__init__(LinePrint, listener)
        self._printTo(listener, printer)


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
        factory = self.factory
        factory.printer.printBlock(self._prefix, block, factory.share)

    def connectionLost(self, reason: Failure = Failure(Exception())) -> None:  # noqa: B008
        rest = self.lineSplitter.rest()
        if rest:
            factory = self.factory
            factory.printer.printBlock(self._prefix, rest + b"\n", factory.share)
        super().connectionLost(reason)


class LinePrintDatagram(CountingDatagramProtocol, _PrintsToOutput):
    """
    Prints each line of each datagram, with its sender.
    """

    def __init__(self, listener: IListenerInfo, printer: LinePrinter) -> None:
        super().__init__(listener)
        self._printTo(listener, printer)

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.count(datagram)
        if datagram:
            if not datagram.endswith(b"\n"):
                datagram += b"\n"
            prefix = f"{self.listener.description} {formatAddress(addr)}: "
            self.printer.printBlock(prefix.encode(), datagram, self.share)


def _printerFor(listener: IListenerInfo) -> LinePrinter:
    return LinePrinter.forOutput(
        listener.options.get("output", STANDARD_OUTPUT), listener.reactor
    )


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
