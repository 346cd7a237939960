"""
Tests for L{sockplug.protocols.hello}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv6Address, UNIXAddress
from twisted.trial.unittest import SynchronousTestCase

from sockplug.plugin import TransportKind
from sockplug.plugins.sockplug_builtins import helloProtocol
from sockplug.protocols.hello import Hello, HelloDatagram, answer
from sockplug.testing import connectDatagram, connectStream, listenerInfo


class AnswerTests(SynchronousTestCase):
    """
    Tests for L{answer}.
    """

    def test_name(self) -> None:
        """
        A name is answered with C{Hello, NAME!}.
        """
        self.assertEqual(answer(b"Alice"), b"Hello, Alice!")

    def test_stripped(self) -> None:
        """
        White space (a CR among it) around the name is dropped.
        """
        self.assertEqual(answer(b" \tAlice \r"), b"Hello, Alice!")

    def test_innerSpaceKept(self) -> None:
        """
        White space inside the name is kept.
        """
        self.assertEqual(answer(b"Alice  Smith"), b"Hello, Alice  Smith!")

    def test_empty(self) -> None:
        """
        An empty line is answered C{Hello, stranger!}.
        """
        self.assertEqual(answer(b""), b"Hello, stranger!")

    def test_blank(self) -> None:
        """
        A line of white space alone is answered C{Hello, stranger!}.
        """
        self.assertEqual(answer(b" \t\r"), b"Hello, stranger!")


class HelloStreamTests(SynchronousTestCase):
    """
    Tests for L{Hello}, built through the C{hello} plugin.
    """

    def _connect(self, **kwargs: Any) -> tuple[Any, Any]:
        """
        Connect, and forget the greeting.
        """
        protocol, transport = connectStream(helloProtocol, **kwargs)
        transport.clear()
        return protocol, transport

    def test_builds(self) -> None:
        """
        The plugin's stream factory builds L{Hello} protocols.
        """
        protocol, _ = connectStream(helloProtocol)
        self.assertIsInstance(protocol, Hello)

    def test_greeting(self) -> None:
        """
        On connecting, the peer is greeted by its address, with CRLF.
        """
        _, transport = connectStream(helloProtocol)
        self.assertEqual(
            transport.value(),
            b"Hello, 127.0.0.1:53422! Send me your name, one per line.\r\n",
        )

    def test_greetingIPv6(self) -> None:
        """
        An IPv6 peer is greeted by its bracketed address.
        """
        _, transport = connectStream(
            helloProtocol, "tcp6:8888", peer=IPv6Address("TCP", "::1", 4000)
        )
        self.assertTrue(transport.value().startswith(b"Hello, [::1]:4000! "))

    def test_greetingUnboundUNIX(self) -> None:
        """
        An unbound UNIX peer is greeted as C{(unbound)}.
        """
        _, transport = connectStream(
            helloProtocol, "unix:/tmp/hello.sock", peer=UNIXAddress(None)
        )
        self.assertTrue(transport.value().startswith(b"Hello, (unbound)! "))

    def test_lineLF(self) -> None:
        """
        A line ended by LF is answered with a line ended by LF.
        """
        protocol, transport = self._connect()
        protocol.dataReceived(b"Alice\n")
        self.assertEqual(transport.value(), b"Hello, Alice!\n")

    def test_lineCRLF(self) -> None:
        """
        A line ended by CRLF is answered with a line ended by CRLF.
        """
        protocol, transport = self._connect()
        protocol.dataReceived(b"Alice\r\n")
        self.assertEqual(transport.value(), b"Hello, Alice!\r\n")

    def test_whitespaceStripped(self) -> None:
        """
        White space around the name is dropped.
        """
        protocol, transport = self._connect()
        protocol.dataReceived(b"  Alice\t\n")
        self.assertEqual(transport.value(), b"Hello, Alice!\n")

    def test_emptyLine(self) -> None:
        """
        An empty line is answered C{Hello, stranger!}.
        """
        protocol, transport = self._connect()
        protocol.dataReceived(b"\r\n")
        self.assertEqual(transport.value(), b"Hello, stranger!\r\n")

    def test_manyLinesInOrder(self) -> None:
        """
        The lines of one read are answered in order, each with its own
        ending.
        """
        protocol, transport = self._connect()
        protocol.dataReceived(b"Alice\nBob\r\n\nCarol\n")
        self.assertEqual(
            transport.value(),
            b"Hello, Alice!\nHello, Bob!\r\nHello, stranger!\nHello, Carol!\n",
        )

    def test_manyLinesOneWrite(self) -> None:
        """
        The answers to the lines of one read are sent with one write.
        """
        protocol, transport = self._connect()
        writes: list[bytes] = []
        transport.write = writes.append
        protocol.dataReceived(b"Alice\nBob\nCarol\n")
        self.assertEqual(writes, [b"Hello, Alice!\nHello, Bob!\nHello, Carol!\n"])

    def test_lineAcrossReads(self) -> None:
        """
        A line received over several reads is answered once it is complete.
        """
        protocol, transport = self._connect()
        protocol.dataReceived(b"Al")
        self.assertEqual(transport.value(), b"")
        protocol.dataReceived(b"ice\r")
        self.assertEqual(transport.value(), b"")
        protocol.dataReceived(b"\nBo")
        self.assertEqual(transport.value(), b"Hello, Alice!\r\n")

    def test_utf8Name(self) -> None:
        """
        A UTF-8 name is answered as it was sent.
        """
        protocol, transport = self._connect()
        protocol.dataReceived("Zo\u00e9\n".encode())
        self.assertEqual(transport.value(), "Hello, Zo\u00e9!\n".encode())

    def test_countsAnswers(self) -> None:
        """
        The greeting and the answers are counted as sent.
        """
        protocol, transport = connectStream(helloProtocol)
        protocol.dataReceived(b"Alice\n")
        self.assertEqual(
            (protocol.bytesIn, protocol.bytesOut), (6, len(transport.value()))
        )


class HelloDatagramTests(SynchronousTestCase):
    """
    Tests for L{HelloDatagram}, built through the C{hello} plugin.
    """

    def setUp(self) -> None:
        protocol = helloProtocol.buildDatagramProtocol(
            listenerInfo("udp:9999", TransportKind.DATAGRAM, "hello")
        )
        assert isinstance(protocol, HelloDatagram)
        self.protocol = protocol
        self.transport = connectDatagram(protocol)

    def test_noTrailingNewline(self) -> None:
        """
        A datagram without a line ending is answered without one.
        """
        self.protocol.datagramReceived(b"Alice", ("127.0.0.1", 5000))
        self.assertEqual(
            self.transport.written, [(b"Hello, Alice!", ("127.0.0.1", 5000))]
        )

    def test_trailingLF(self) -> None:
        """
        A datagram ended by LF is answered with LF.
        """
        self.protocol.datagramReceived(b"Alice\n", ("127.0.0.1", 5000))
        self.assertEqual(
            self.transport.written, [(b"Hello, Alice!\n", ("127.0.0.1", 5000))]
        )

    def test_trailingCRLF(self) -> None:
        """
        A datagram ended by CRLF is answered with CRLF.
        """
        self.protocol.datagramReceived(b"Alice\r\n", ("127.0.0.1", 5000))
        self.assertEqual(
            self.transport.written, [(b"Hello, Alice!\r\n", ("127.0.0.1", 5000))]
        )

    def test_whitespaceStripped(self) -> None:
        """
        White space around the name is dropped.
        """
        self.protocol.datagramReceived(b" Alice \n", ("127.0.0.1", 5000))
        self.assertEqual(
            self.transport.written, [(b"Hello, Alice!\n", ("127.0.0.1", 5000))]
        )

    def test_empty(self) -> None:
        """
        An empty datagram is answered C{Hello, stranger!}.
        """
        self.protocol.datagramReceived(b"", ("127.0.0.1", 5000))
        self.assertEqual(
            self.transport.written, [(b"Hello, stranger!", ("127.0.0.1", 5000))]
        )

    def test_eachSender(self) -> None:
        """
        Each datagram is answered to its own sender.
        """
        self.protocol.datagramReceived(b"Alice", ("127.0.0.1", 5000))
        self.protocol.datagramReceived(b"Bob\n", "/tmp/bob.sock")
        self.assertEqual(
            self.transport.written,
            [
                (b"Hello, Alice!", ("127.0.0.1", 5000)),
                (b"Hello, Bob!\n", "/tmp/bob.sock"),
            ],
        )

    def test_unboundUNIXSender(self) -> None:
        """
        A datagram from an unbound UNIX sender is not answered.
        """
        self.protocol.datagramReceived(b"Alice\n", None)
        self.protocol.datagramReceived(b"Bob\n", "")
        self.assertEqual(self.transport.written, [])
