"""
Tests for L{sockplug.protocols.lineprint}.
"""

from __future__ import annotations

import gc
import io
import os
import sys
from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.testing import (
    EventLoggingObserver,
    StringTransportWithDisconnection,
)
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from sockplug.options._protooptions import declaredOptions
from sockplug.plugin import ListenerInfo, TransportKind
from sockplug.plugins.sockplug_builtins import linePrintProtocol
from sockplug.protocols.lineprint import (
    OPTIONS,
    LinePrint,
    LinePrintDatagram,
    LinePrinter,
    buildDatagramProtocol,
    buildStreamFactory,
    checkOutput,
)
from sockplug.protocols.lines import DEFAULT_MAX_LINE_LENGTH, LINE_BATCH
from sockplug.testing import MemoryDatagramReactor, connectDatagram, listenerInfo


class _CountingOutput(io.BytesIO):
    """
    A binary file in memory that counts the calls to C{write} and C{flush}.
    """

    writes = 0
    flushes = 0

    def write(self, data: Any) -> int:
        self.writes += 1
        return super().write(data)

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


class _FailingOutput(io.BytesIO):
    """
    A binary file whose every write fails, as standard output does once the
    pipe it goes to is closed.
    """

    writes = 0

    def write(self, data: Any) -> int:
        self.writes += 1
        raise BrokenPipeError(32, "Broken pipe")


def _connect(
    output: io.BytesIO,
    description: str = "tcp:8888",
    peer: Any = None,
) -> tuple[LinePrint, StringTransportWithDisconnection]:
    """
    Connect a line-print stream protocol, printing to C{output}, to an
    in-memory transport.
    """
    factory = buildStreamFactory(
        listenerInfo(description, protocolName="line-print"),
        printer=LinePrinter(output),
    )
    transport = StringTransportWithDisconnection(
        peerAddress=peer or IPv4Address("TCP", "127.0.0.1", 53422)
    )
    protocol = factory.buildProtocol(transport.getPeer())
    assert isinstance(protocol, LinePrint)
    transport.protocol = protocol
    protocol.makeConnection(transport)
    return protocol, transport


class LinePrintStreamTests(SynchronousTestCase):
    """
    Tests for L{LinePrint}.
    """

    def setUp(self) -> None:
        self.output = _CountingOutput()

    def test_pluginBuildsLinePrint(self) -> None:
        """
        The C{line-print} plugin's stream factory builds L{LinePrint}
        protocols.
        """
        factory = linePrintProtocol.buildStreamFactory(listenerInfo())
        self.assertIsInstance(
            factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1)), LinePrint
        )

    def test_format(self) -> None:
        """
        A line is printed as C{<endpoint> <peer>: <line>}.
        """
        protocol, _ = _connect(self.output, "tcp:7777")
        protocol.dataReceived(b"hello\n")
        self.assertEqual(self.output.getvalue(), b"tcp:7777 127.0.0.1:53422: hello\n")

    def test_ipv6Peer(self) -> None:
        """
        An IPv6 peer is shown bracketed.
        """
        protocol, _ = _connect(self.output, peer=IPv6Address("TCP", "::1", 4000))
        protocol.dataReceived(b"hello\n")
        self.assertEqual(self.output.getvalue(), b"tcp:8888 [::1]:4000: hello\n")

    def test_unixUnboundPeer(self) -> None:
        """
        An unbound UNIX peer is shown as C{(unbound)}.
        """
        protocol, _ = _connect(self.output, "unix:/tmp/lp.sock", peer=UNIXAddress(None))
        protocol.dataReceived(b"hello\n")
        self.assertEqual(
            self.output.getvalue(), b"unix:/tmp/lp.sock (unbound): hello\n"
        )

    def test_nothingSent(self) -> None:
        """
        Nothing is sent back to the peer.
        """
        protocol, transport = _connect(self.output)
        protocol.dataReceived(b"hello\n")
        self.assertEqual(transport.value(), b"")

    def test_nothingBeforeLineEnd(self) -> None:
        """
        Nothing is printed until a line is complete.
        """
        protocol, _ = _connect(self.output)
        protocol.dataReceived(b"hel")
        self.assertEqual(self.output.getvalue(), b"")

    def test_lineAcrossReads(self) -> None:
        """
        A line received over several reads is printed once, whole.
        """
        protocol, _ = _connect(self.output)
        protocol.dataReceived(b"hel")
        protocol.dataReceived(b"lo\n")
        self.assertEqual(self.output.getvalue(), b"tcp:8888 127.0.0.1:53422: hello\n")

    def test_crlf(self) -> None:
        """
        A line ended by CRLF is printed without its CR.
        """
        protocol, _ = _connect(self.output)
        protocol.dataReceived(b"hello\r\n")
        self.assertEqual(self.output.getvalue(), b"tcp:8888 127.0.0.1:53422: hello\n")

    def test_mixedEndings(self) -> None:
        """
        LF and CRLF both end a line.
        """
        protocol, _ = _connect(self.output)
        protocol.dataReceived(b"one\r\ntwo\nthree\r\n")
        self.assertEqual(
            self.output.getvalue(),
            b"tcp:8888 127.0.0.1:53422: one\n"
            b"tcp:8888 127.0.0.1:53422: two\n"
            b"tcp:8888 127.0.0.1:53422: three\n",
        )

    def test_innerCarriageReturnEscaped(self) -> None:
        """
        A CR inside a line (not before its LF) is escaped, not printed raw.
        """
        protocol, _ = _connect(self.output)
        protocol.dataReceived(b"safe\revil\n")
        self.assertEqual(
            self.output.getvalue(), b"tcp:8888 127.0.0.1:53422: safe\\x0devil\n"
        )

    def test_emptyLine(self) -> None:
        """
        An empty line is printed as the prefix alone.
        """
        protocol, _ = _connect(self.output)
        protocol.dataReceived(b"\n")
        self.assertEqual(self.output.getvalue(), b"tcp:8888 127.0.0.1:53422: \n")

    def test_escaped(self) -> None:
        """
        Control characters and invalid UTF-8 in a line are escaped.
        """
        protocol, _ = _connect(self.output)
        protocol.dataReceived(b"\x1b[2J\xff\\\n")
        self.assertEqual(
            self.output.getvalue(), b"tcp:8888 127.0.0.1:53422: \\x1b[2J\\xff\\\\\n"
        )

    def test_utf8Kept(self) -> None:
        """
        Printable UTF-8 is printed as it is.
        """
        protocol, _ = _connect(self.output)
        protocol.dataReceived("caf\u00e9 \u4e2d\n".encode())
        self.assertEqual(
            self.output.getvalue(),
            "tcp:8888 127.0.0.1:53422: caf\u00e9 \u4e2d\n".encode(),
        )

    def test_unixPeerEscaped(self) -> None:
        """
        A UNIX peer's address, which the peer picks, cannot put control
        characters on the terminal either.
        """
        protocol, _ = _connect(
            self.output, "unix:/tmp/lp.sock", peer=UNIXAddress(b"/tmp/\x1b[2J")
        )
        protocol.dataReceived(b"hello\n")
        self.assertNotIn(b"\x1b", self.output.getvalue())

    def test_batchOneWrite(self) -> None:
        """
        The lines of one read are printed with one write and one flush.
        """
        protocol, _ = _connect(self.output)
        protocol.dataReceived(b"one\ntwo\nthree\n")
        self.assertEqual((self.output.writes, self.output.flushes), (1, 1))

    def test_writePerRead(self) -> None:
        """
        Each read with complete lines gives its own write, so lines are not
        held back.
        """
        protocol, _ = _connect(self.output)
        protocol.dataReceived(b"one\n")
        protocol.dataReceived(b"two\n")
        self.assertEqual(self.output.writes, 2)

    def test_bigReadOneWrite(self) -> None:
        """
        A read of more lines than a protocol that replies takes in one batch
        (L{LINE_BATCH}) is still printed with one write and one flush.
        """
        protocol, _ = _connect(self.output)
        protocol.dataReceived(b"line\n" * (LINE_BATCH * 4))
        self.assertEqual((self.output.writes, self.output.flushes), (1, 1))
        self.assertEqual(
            self.output.getvalue(),
            b"tcp:8888 127.0.0.1:53422: line\n" * (LINE_BATCH * 4),
        )

    def test_printsWhilePaused(self) -> None:
        """
        Lines are printed even while the transport has paused the protocol:
        line-print sends nothing, so there is nothing to wait for.
        """
        protocol, _ = _connect(self.output)
        protocol.pauseProducing()
        protocol.dataReceived(b"one\n")
        self.assertEqual(self.output.getvalue(), b"tcp:8888 127.0.0.1:53422: one\n")

    def test_noWriteWithoutLine(self) -> None:
        """
        A read that completes no line writes nothing.
        """
        protocol, _ = _connect(self.output)
        protocol.dataReceived(b"partial")
        self.assertEqual(self.output.writes, 0)

    def test_unterminatedLastLine(self) -> None:
        """
        An unterminated last line is printed when the peer disconnects.
        """
        protocol, transport = _connect(self.output)
        protocol.dataReceived(b"one\nlast")
        transport.loseConnection()
        self.assertEqual(
            self.output.getvalue(),
            b"tcp:8888 127.0.0.1:53422: one\ntcp:8888 127.0.0.1:53422: last\n",
        )

    def test_unterminatedLastLineCR(self) -> None:
        """
        An unterminated last line ending in CR is printed without it.
        """
        protocol, transport = _connect(self.output)
        protocol.dataReceived(b"last\r")
        transport.loseConnection()
        self.assertEqual(self.output.getvalue(), b"tcp:8888 127.0.0.1:53422: last\n")

    def test_nothingLeftOnDisconnect(self) -> None:
        """
        When every line was complete, disconnecting prints nothing more.
        """
        protocol, transport = _connect(self.output)
        protocol.dataReceived(b"one\n")
        transport.loseConnection()
        self.assertEqual(self.output.writes, 1)

    def test_tooLongLineNotPrinted(self) -> None:
        """
        A line longer than the limit is not printed, in part or whole, even
        once the connection is closed.
        """
        protocol, _ = _connect(self.output)
        protocol.dataReceived(b"x" * (DEFAULT_MAX_LINE_LENGTH + 1) + b"\n")
        self.assertEqual(self.output.getvalue(), b"")

    def test_tooLongUnterminatedLineNotPrinted(self) -> None:
        """
        An unterminated line past the limit is not printed when the
        connection closes.
        """
        protocol, _ = _connect(self.output)
        protocol.dataReceived(b"x" * (DEFAULT_MAX_LINE_LENGTH + 1))
        self.assertEqual(self.output.getvalue(), b"")

    def test_tooLongLineCloses(self) -> None:
        """
        A line longer than the limit closes the connection.
        """
        protocol, transport = _connect(self.output)
        protocol.dataReceived(b"x" * (DEFAULT_MAX_LINE_LENGTH + 1) + b"\n")
        self.assertFalse(transport.connected)

    def test_linesBeforeTooLongLinePrinted(self) -> None:
        """
        The lines before a too-long line in the same read are printed; the
        lines after it are not.
        """
        protocol, _ = _connect(self.output)
        protocol.dataReceived(
            b"one\ntwo\n" + b"x" * (DEFAULT_MAX_LINE_LENGTH + 1) + b"\nthree\n"
        )
        self.assertEqual(
            self.output.getvalue(),
            b"tcp:8888 127.0.0.1:53422: one\ntcp:8888 127.0.0.1:53422: two\n",
        )

    def test_longestLinePrinted(self) -> None:
        """
        A line of exactly the limit is printed.
        """
        protocol, _ = _connect(self.output)
        protocol.dataReceived(b"x" * DEFAULT_MAX_LINE_LENGTH + b"\n")
        self.assertEqual(
            self.output.getvalue(),
            b"tcp:8888 127.0.0.1:53422: " + b"x" * DEFAULT_MAX_LINE_LENGTH + b"\n",
        )


class LinePrintDatagramTests(SynchronousTestCase):
    """
    Tests for L{LinePrintDatagram}.
    """

    def setUp(self) -> None:
        self.output = _CountingOutput()
        self.protocol = buildDatagramProtocol(
            listenerInfo("udp:9999", TransportKind.DATAGRAM, "line-print"),
            printer=LinePrinter(self.output),
        )
        self.transport = connectDatagram(self.protocol)

    def _listenUNIX(self) -> None:
        """
        Replace the UDP listener by a UNIX datagram one.
        """
        self.protocol = buildDatagramProtocol(
            listenerInfo("unixgram:/tmp/lp.sock", TransportKind.DATAGRAM),
            printer=LinePrinter(self.output),
        )
        self.transport = connectDatagram(self.protocol)

    def test_pluginBuildsLinePrintDatagram(self) -> None:
        """
        The C{line-print} plugin's datagram builder builds a
        L{LinePrintDatagram}.
        """
        self.assertIsInstance(
            linePrintProtocol.buildDatagramProtocol(
                listenerInfo("udp:9999", TransportKind.DATAGRAM)
            ),
            LinePrintDatagram,
        )

    def test_format(self) -> None:
        """
        A datagram's line is printed as C{<endpoint> <sender>: <line>}.
        """
        self.protocol.datagramReceived(b"hello", ("127.0.0.1", 5000))
        self.assertEqual(self.output.getvalue(), b"udp:9999 127.0.0.1:5000: hello\n")

    def test_trailingNewline(self) -> None:
        """
        A newline ending the datagram does not give an extra empty line.
        """
        self.protocol.datagramReceived(b"hello\n", ("127.0.0.1", 5000))
        self.assertEqual(self.output.getvalue(), b"udp:9999 127.0.0.1:5000: hello\n")

    def test_trailingCRLF(self) -> None:
        """
        A CRLF ending the datagram is dropped whole.
        """
        self.protocol.datagramReceived(b"hello\r\n", ("127.0.0.1", 5000))
        self.assertEqual(self.output.getvalue(), b"udp:9999 127.0.0.1:5000: hello\n")

    def test_eachLine(self) -> None:
        """
        Each line of a datagram is printed with the sender, in one write.
        """
        self.protocol.datagramReceived(b"one\r\ntwo\nthree", ("::1", 5000, 0, 0))
        self.assertEqual(
            self.output.getvalue(),
            b"udp:9999 [::1]:5000: one\n"
            b"udp:9999 [::1]:5000: two\n"
            b"udp:9999 [::1]:5000: three\n",
        )
        self.assertEqual(self.output.writes, 1)

    def test_innerEmptyLine(self) -> None:
        """
        An empty line inside a datagram is printed.
        """
        self.protocol.datagramReceived(b"one\n\ntwo", ("127.0.0.1", 5000))
        self.assertEqual(
            self.output.getvalue(),
            b"udp:9999 127.0.0.1:5000: one\n"
            b"udp:9999 127.0.0.1:5000: \n"
            b"udp:9999 127.0.0.1:5000: two\n",
        )

    def test_eachDatagram(self) -> None:
        """
        Each datagram is printed with its own sender; no line runs from one
        datagram into the next.
        """
        self.protocol.datagramReceived(b"one", ("127.0.0.1", 5000))
        self.protocol.datagramReceived(b"two", ("127.0.0.2", 5001))
        self.assertEqual(
            self.output.getvalue(),
            b"udp:9999 127.0.0.1:5000: one\nudp:9999 127.0.0.2:5001: two\n",
        )

    def test_emptyDatagram(self) -> None:
        """
        An empty datagram prints nothing.
        """
        self.protocol.datagramReceived(b"", ("127.0.0.1", 5000))
        self.assertEqual(self.output.writes, 0)

    def test_escaped(self) -> None:
        """
        A datagram's lines are escaped.
        """
        self.protocol.datagramReceived(b"\x1b]0;pwned\x07\n", ("127.0.0.1", 5000))
        self.assertEqual(
            self.output.getvalue(), b"udp:9999 127.0.0.1:5000: \\x1b]0;pwned\\x07\n"
        )

    def test_unboundUNIXSender(self) -> None:
        """
        A datagram from an unbound UNIX sender is printed, with the sender
        shown as C{(unbound)}.
        """
        self._listenUNIX()
        self.protocol.datagramReceived(b"hello", None)
        self.protocol.datagramReceived(b"again", "")
        self.assertEqual(
            self.output.getvalue(),
            b"unixgram:/tmp/lp.sock (unbound): hello\n"
            b"unixgram:/tmp/lp.sock (unbound): again\n",
        )

    def test_unixSender(self) -> None:
        """
        A bound UNIX sender is shown by its path.
        """
        self._listenUNIX()
        self.protocol.datagramReceived(b"hello", "/tmp/client.sock")
        self.assertEqual(
            self.output.getvalue(), b"unixgram:/tmp/lp.sock /tmp/client.sock: hello\n"
        )

    def test_abstractUNIXSender(self) -> None:
        """
        An abstract-namespace UNIX sender (given as bytes by C{recvfrom}) is
        shown with C{@}.
        """
        self._listenUNIX()
        self.protocol.datagramReceived(b"hello", b"\0client")
        self.assertEqual(
            self.output.getvalue(), b"unixgram:/tmp/lp.sock @client: hello\n"
        )

    def test_unixSenderEscaped(self) -> None:
        """
        A UNIX sender's path, which the sender picks, cannot put control
        characters on the terminal.
        """
        self._listenUNIX()
        self.protocol.datagramReceived(b"hello", "/tmp/\x1b[2J\x1b]0;pwned\x07")
        self.assertNotIn(b"\x1b", self.output.getvalue())
        self.assertNotIn(b"\x07", self.output.getvalue())

    def test_unixSenderNotUTF8(self) -> None:
        """
        A sender path that is not UTF-8 (which C{recvfrom} gives with lone
        surrogates in place of the odd bytes) does not stop the line being
        printed.
        """
        self._listenUNIX()
        self.protocol.datagramReceived(b"hello", "/tmp/\udcff.sock")
        self.assertTrue(self.output.getvalue().endswith(b": hello\n"))

    def test_nothingSent(self) -> None:
        """
        Nothing is sent back.
        """
        self.protocol.datagramReceived(b"hello", ("127.0.0.1", 5000))
        self.assertEqual(self.transport.written, [])

    def test_counted(self) -> None:
        """
        Datagrams received are counted.
        """
        self.protocol.datagramReceived(b"one\ntwo\n", ("127.0.0.1", 5000))
        self.assertEqual((self.protocol.datagramsIn, self.protocol.bytesIn), (1, 8))


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
        output = _CountingOutput()
        LinePrinter(output).printBlock(b"p: ", b"one\ntwo\nthree\n")
        self.assertEqual((output.writes, output.flushes), (1, 1))

    def test_emptyBlockNotWritten(self) -> None:
        """
        An empty block (no line) writes and flushes nothing.
        """
        output = _CountingOutput()
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
        output = _CountingOutput()
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
        protocol, transport = _connect(output)
        protocol.dataReceived(b"one\n")
        protocol.dataReceived(b"two\n")
        self.assertTrue(transport.connected)
        self.assertEqual(output.writes, 2)

    def test_toStandardOutput(self) -> None:
        """
        L{LinePrinter.toStandardOutput} prints to the process's own standard
        output, in binary.
        """
        assert sys.__stdout__ is not None
        self.assertIs(LinePrinter.toStandardOutput()._output, sys.__stdout__.buffer)


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
        [option] = OPTIONS
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
        A path with a NUL in it is refused.
        """
        e = self.assertRaises(ValueError, checkOutput, "/tmp/a\0b.log")
        self.assertEqual(
            str(e),
            "'/tmp/a\\x00b.log' is not - (standard output) or an absolute file path",
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

    def printer(self, output: str) -> LinePrinter:
        """
        L{LinePrinter.forOutput}, its file closed when the test ends.
        """
        printer = LinePrinter.forOutput(output)
        if output != "-":
            self.addCleanup(printer._output.close)
        return printer

    def test_standardOutput(self) -> None:
        """
        C{-} prints to the process's own standard output.
        """
        assert sys.__stdout__ is not None
        self.assertIs(LinePrinter.forOutput("-")._output, sys.__stdout__.buffer)

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
        self.assertIs(LinePrinter.forOutput(self.path), printer)

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
        printer = LinePrinter.forOutput(self.path)
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
        file = LinePrinter.forOutput(self.path)._output
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
        self.assertRaises(OSError, LinePrinter.forOutput, path)

    def test_streamBuilderUsesOutput(self) -> None:
        """
        The stream builder prints to the listener's C{output}.
        """
        factory = linePrintProtocol.buildStreamFactory(_withOutput(self.path))
        self.addCleanup(LinePrinter.forOutput(self.path)._output.close)
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
        self.addCleanup(LinePrinter.forOutput(self.path)._output.close)
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
        assert sys.__stdout__ is not None
        protocol = buildDatagramProtocol(
            listenerInfo("udp:9999", TransportKind.DATAGRAM, "line-print")
        )
        self.assertIs(protocol.printer._output, sys.__stdout__.buffer)
