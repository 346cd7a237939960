"""
Tests for L{sockplug.protocols.lineprint}: the line-print stream and datagram
protocols.
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.trial.unittest import SynchronousTestCase

from sockplug.plugin import TransportKind
from sockplug.plugins.sockplug_builtins import linePrintProtocol
from sockplug.protocols.lineprint import (
    LinePrint,
    LinePrintDatagram,
    LinePrinter,
    buildDatagramProtocol,
)
from sockplug.protocols.lines import DEFAULT_MAX_LINE_LENGTH, LINE_BATCH
from sockplug.testing import connectDatagram, listenerInfo
from sockplug.testing._lineprint import CountingOutput, connectLinePrint


class LinePrintStreamTests(SynchronousTestCase):
    """
    Tests for L{LinePrint}.
    """

    def setUp(self) -> None:
        self.output = CountingOutput()

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
        protocol, _ = connectLinePrint(self.output, "tcp:7777")
        protocol.dataReceived(b"hello\n")
        self.assertEqual(self.output.getvalue(), b"tcp:7777 127.0.0.1:53422: hello\n")

    def test_ipv6Peer(self) -> None:
        """
        An IPv6 peer is shown bracketed.
        """
        protocol, _ = connectLinePrint(
            self.output, peer=IPv6Address("TCP", "::1", 4000)
        )
        protocol.dataReceived(b"hello\n")
        self.assertEqual(self.output.getvalue(), b"tcp:8888 [::1]:4000: hello\n")

    def test_unixUnboundPeer(self) -> None:
        """
        An unbound UNIX peer is shown as C{(unbound)}.
        """
        protocol, _ = connectLinePrint(
            self.output, "unix:/tmp/lp.sock", peer=UNIXAddress(None)
        )
        protocol.dataReceived(b"hello\n")
        self.assertEqual(
            self.output.getvalue(), b"unix:/tmp/lp.sock (unbound): hello\n"
        )

    def test_nothingSent(self) -> None:
        """
        Nothing is sent back to the peer.
        """
        protocol, transport = connectLinePrint(self.output)
        protocol.dataReceived(b"hello\n")
        self.assertEqual(transport.value(), b"")

    def test_nothingBeforeLineEnd(self) -> None:
        """
        Nothing is printed until a line is complete.
        """
        protocol, _ = connectLinePrint(self.output)
        protocol.dataReceived(b"hel")
        self.assertEqual(self.output.getvalue(), b"")

    def test_lineAcrossReads(self) -> None:
        """
        A line received over several reads is printed once, whole.
        """
        protocol, _ = connectLinePrint(self.output)
        protocol.dataReceived(b"hel")
        protocol.dataReceived(b"lo\n")
        self.assertEqual(self.output.getvalue(), b"tcp:8888 127.0.0.1:53422: hello\n")

    def test_crlf(self) -> None:
        """
        A line ended by CRLF is printed without its CR.
        """
        protocol, _ = connectLinePrint(self.output)
        protocol.dataReceived(b"hello\r\n")
        self.assertEqual(self.output.getvalue(), b"tcp:8888 127.0.0.1:53422: hello\n")

    def test_mixedEndings(self) -> None:
        """
        LF and CRLF both end a line.
        """
        protocol, _ = connectLinePrint(self.output)
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
        protocol, _ = connectLinePrint(self.output)
        protocol.dataReceived(b"safe\revil\n")
        self.assertEqual(
            self.output.getvalue(), b"tcp:8888 127.0.0.1:53422: safe\\x0devil\n"
        )

    def test_emptyLine(self) -> None:
        """
        An empty line is printed as the prefix alone.
        """
        protocol, _ = connectLinePrint(self.output)
        protocol.dataReceived(b"\n")
        self.assertEqual(self.output.getvalue(), b"tcp:8888 127.0.0.1:53422: \n")

    def test_escaped(self) -> None:
        """
        Control characters and invalid UTF-8 in a line are escaped.
        """
        protocol, _ = connectLinePrint(self.output)
        protocol.dataReceived(b"\x1b[2J\xff\\\n")
        self.assertEqual(
            self.output.getvalue(), b"tcp:8888 127.0.0.1:53422: \\x1b[2J\\xff\\\\\n"
        )

    def test_utf8Kept(self) -> None:
        """
        Printable UTF-8 is printed as it is.
        """
        protocol, _ = connectLinePrint(self.output)
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
        protocol, _ = connectLinePrint(
            self.output, "unix:/tmp/lp.sock", peer=UNIXAddress(b"/tmp/\x1b[2J")
        )
        protocol.dataReceived(b"hello\n")
        self.assertNotIn(b"\x1b", self.output.getvalue())

    def test_batchOneWrite(self) -> None:
        """
        The lines of one read are printed with one write and one flush.
        """
        protocol, _ = connectLinePrint(self.output)
        protocol.dataReceived(b"one\ntwo\nthree\n")
        self.assertEqual((self.output.writes, self.output.flushes), (1, 1))

    def test_writePerRead(self) -> None:
        """
        Each read with complete lines gives its own write, so lines are not
        held back.
        """
        protocol, _ = connectLinePrint(self.output)
        protocol.dataReceived(b"one\n")
        protocol.dataReceived(b"two\n")
        self.assertEqual(self.output.writes, 2)

    def test_bigReadOneWrite(self) -> None:
        """
        A read of more lines than a protocol that replies takes in one batch
        (L{LINE_BATCH}) is still printed with one write and one flush.
        """
        protocol, _ = connectLinePrint(self.output)
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
        protocol, _ = connectLinePrint(self.output)
        protocol.pauseProducing()
        protocol.dataReceived(b"one\n")
        self.assertEqual(self.output.getvalue(), b"tcp:8888 127.0.0.1:53422: one\n")

    def test_noWriteWithoutLine(self) -> None:
        """
        A read that completes no line writes nothing.
        """
        protocol, _ = connectLinePrint(self.output)
        protocol.dataReceived(b"partial")
        self.assertEqual(self.output.writes, 0)

    def test_unterminatedLastLine(self) -> None:
        """
        An unterminated last line is printed when the peer disconnects.
        """
        protocol, transport = connectLinePrint(self.output)
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
        protocol, transport = connectLinePrint(self.output)
        protocol.dataReceived(b"last\r")
        transport.loseConnection()
        self.assertEqual(self.output.getvalue(), b"tcp:8888 127.0.0.1:53422: last\n")

    def test_nothingLeftOnDisconnect(self) -> None:
        """
        When every line was complete, disconnecting prints nothing more.
        """
        protocol, transport = connectLinePrint(self.output)
        protocol.dataReceived(b"one\n")
        transport.loseConnection()
        self.assertEqual(self.output.writes, 1)

    def test_tooLongLineNotPrinted(self) -> None:
        """
        A line longer than the limit is not printed, in part or whole, even
        once the connection is closed.
        """
        protocol, _ = connectLinePrint(self.output)
        protocol.dataReceived(b"x" * (DEFAULT_MAX_LINE_LENGTH + 1) + b"\n")
        self.assertEqual(self.output.getvalue(), b"")

    def test_tooLongUnterminatedLineNotPrinted(self) -> None:
        """
        An unterminated line past the limit is not printed when the
        connection closes.
        """
        protocol, _ = connectLinePrint(self.output)
        protocol.dataReceived(b"x" * (DEFAULT_MAX_LINE_LENGTH + 1))
        self.assertEqual(self.output.getvalue(), b"")

    def test_tooLongLineCloses(self) -> None:
        """
        A line longer than the limit closes the connection.
        """
        protocol, transport = connectLinePrint(self.output)
        protocol.dataReceived(b"x" * (DEFAULT_MAX_LINE_LENGTH + 1) + b"\n")
        self.assertFalse(transport.connected)

    def test_linesBeforeTooLongLinePrinted(self) -> None:
        """
        The lines before a too-long line in the same read are printed; the
        lines after it are not.
        """
        protocol, _ = connectLinePrint(self.output)
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
        protocol, _ = connectLinePrint(self.output)
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
        self.output = CountingOutput()
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
