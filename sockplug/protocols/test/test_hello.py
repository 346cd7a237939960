"""
Tests for L{sockplug.protocols.hello}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.interfaces import IAddress
from twisted.internet.testing import StringTransportWithDisconnection
from twisted.trial.unittest import SynchronousTestCase

from sockplug.options._protooptions import declaredOptions, resolveOptions
from sockplug.plugin import ListenerInfo, TransportKind
from sockplug.plugins.sockplug_builtins import helloProtocol
from sockplug.protocols.hello import (
    DEFAULT_GREETING,
    MAX_GREETING,
    OPTIONS,
    Hello,
    HelloDatagram,
    answer,
    checkGreeting,
)
from sockplug.testing import (
    MemoryDatagramReactor,
    connectDatagram,
    connectStream,
    listenerInfo,
)


def _connectWith(
    options: dict[str, Any], peer: IAddress | None = None
) -> tuple[Any, StringTransportWithDisconnection]:
    """
    Connect a hello stream protocol, on a listener with C{options}, to an
    in-memory transport.
    """
    info = ListenerInfo(
        description="tcp:8888",
        kind=TransportKind.STREAM,
        protocolName="hello",
        reactor=MemoryDatagramReactor(),
        options=options,
    )
    factory = helloProtocol.buildStreamFactory(info)
    transport = StringTransportWithDisconnection(
        peerAddress=peer or IPv4Address("TCP", "127.0.0.1", 53422)
    )
    protocol = factory.buildProtocol(transport.getPeer())
    assert protocol is not None
    transport.protocol = protocol
    protocol.makeConnection(transport)
    return protocol, transport


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


class GreetingOptionTests(SynchronousTestCase):
    """
    Tests for hello's C{greeting} option.
    """

    def test_declared(self) -> None:
        """
        The plugin declares C{greeting}, text, checked by L{checkGreeting}.
        """
        self.assertEqual(declaredOptions(helloProtocol), OPTIONS)
        [option] = OPTIONS
        self.assertEqual(
            (option.name, option.type, option.default, option.check),
            ("greeting", str, DEFAULT_GREETING, checkGreeting),
        )

    def test_default(self) -> None:
        """
        A listener that sets no greeting greets with the default.
        """
        options, _ = resolveOptions(OPTIONS, {})
        _, transport = _connectWith(options)
        self.assertEqual(
            transport.value(),
            b"Hello, 127.0.0.1:53422! Send me your name, one per line.\r\n",
        )

    def test_custom(self) -> None:
        """
        A listener's greeting is sent instead, with C{{peer}} replaced by the
        peer's address, ended with CRLF.
        """
        _, transport = _connectWith({"greeting": "Welcome, {peer}. Who are you?"})
        self.assertEqual(
            transport.value(), b"Welcome, 127.0.0.1:53422. Who are you?\r\n"
        )

    def test_withoutPeer(self) -> None:
        """
        A greeting need not name the peer.
        """
        _, transport = _connectWith({"greeting": "Hi."})
        self.assertEqual(transport.value(), b"Hi.\r\n")

    def test_braces(self) -> None:
        """
        C{{{{} and C{}}}} are sent as braces.
        """
        _, transport = _connectWith({"greeting": "{{{peer}}}"})
        self.assertEqual(transport.value(), b"{127.0.0.1:53422}\r\n")

    def test_peerNotFormatted(self) -> None:
        """
        Braces in the peer's address (a UNIX path it picked) are sent as
        they are, not read as fields.
        """
        _, transport = _connectWith(
            {"greeting": "Hi {peer}"}, peer=UNIXAddress(b"/tmp/{peer}{0}")
        )
        self.assertEqual(transport.value(), b"Hi /tmp/{peer}{0}\r\n")

    def test_utf8(self) -> None:
        """
        A greeting is sent in UTF-8.
        """
        _, transport = _connectWith({"greeting": "Gr\u00fc\u00df dich"})
        self.assertEqual(transport.value(), "Gr\u00fc\u00df dich\r\n".encode())

    def test_empty(self) -> None:
        """
        An empty greeting sends nothing; lines are answered as ever.
        """
        protocol, transport = _connectWith({"greeting": ""})
        self.assertEqual(transport.value(), b"")
        protocol.dataReceived(b"Alice\n")
        self.assertEqual(transport.value(), b"Hello, Alice!\n")

    def test_multiLine(self) -> None:
        """
        Each line of a multi-line greeting is sent ended with CRLF, whether
        it was written with LF or CRLF.
        """
        _, transport = _connectWith({"greeting": "one {peer}\ntwo\r\nthree"})
        self.assertEqual(transport.value(), b"one 127.0.0.1:53422\r\ntwo\r\nthree\r\n")

    def test_countsGreeting(self) -> None:
        """
        The greeting is counted as sent.
        """
        protocol, transport = _connectWith({"greeting": "Hi"})
        self.assertEqual(protocol.bytesOut, len(transport.value()))
        self.assertEqual(protocol.bytesOut, 4)

    def test_datagramNotGreeted(self) -> None:
        """
        A datagram listener sends no greeting, whatever it is set to.
        """
        protocol = helloProtocol.buildDatagramProtocol(
            ListenerInfo(
                description="udp:9999",
                kind=TransportKind.DATAGRAM,
                protocolName="hello",
                reactor=MemoryDatagramReactor(),
                options={"greeting": "Hi {peer}"},
            )
        )
        transport = connectDatagram(protocol)
        protocol.datagramReceived(b"Alice", ("127.0.0.1", 5000))
        self.assertEqual(transport.written, [(b"Hello, Alice!", ("127.0.0.1", 5000))])


class CheckGreetingTests(SynchronousTestCase):
    """
    Tests for L{checkGreeting}.
    """

    def test_accepted(self) -> None:
        """
        Text with C{{peer}}, doubled braces, or none at all is taken as it
        is.
        """
        for greeting in (
            DEFAULT_GREETING,
            "",
            "Hi {peer}, {peer}",
            "{{not a field}}",
            "line one\nline two",
        ):
            self.assertEqual(checkGreeting(greeting), greeting)

    def test_unknownField(self) -> None:
        """
        A field other than C{{peer}} is refused, saying what may be used.
        """
        e = self.assertRaises(ValueError, checkGreeting, "Hi {name}")
        self.assertEqual(
            str(e),
            "'Hi {name}' may hold {peer} (the peer's address), with no format"
            " spec, and no other {...}; write {{ and }} for braces",
        )

    def test_formatSpecRefused(self) -> None:
        """
        C{{peer}} with a format spec or a conversion is refused: a width
        would make every greeting as long as it says.
        """
        for greeting in ("{peer:>100000000}", "{peer!r}", "{peer:x}"):
            e = self.assertRaises(ValueError, checkGreeting, greeting)
            self.assertIn("with no format spec", str(e))

    def test_otherFields(self) -> None:
        """
        Positional, indexed and attribute fields are refused.
        """
        for greeting in ("{}", "{0}", "{peer.real}", "{peer[0]}", "{ peer}"):
            e = self.assertRaises(ValueError, checkGreeting, greeting)
            self.assertIn("may hold {peer}", str(e))

    def test_badBraces(self) -> None:
        """
        A lone brace is refused, saying to double it.
        """
        for greeting in ("Hi {peer", "Hi }", "{", "a } b"):
            e = self.assertRaises(ValueError, checkGreeting, greeting)
            self.assertIn("write {{ and }} for braces", str(e))

    def test_longest(self) -> None:
        """
        A greeting of 4096 bytes is taken.
        """
        self.assertEqual(MAX_GREETING, 4096)
        greeting = "x" * MAX_GREETING
        self.assertEqual(checkGreeting(greeting), greeting)

    def test_tooLong(self) -> None:
        """
        A greeting over 4096 bytes is refused.
        """
        e = self.assertRaises(ValueError, checkGreeting, "x" * (MAX_GREETING + 1))
        self.assertEqual(str(e), "is longer than 4096 bytes")

    def test_tooLongInBytes(self) -> None:
        """
        The bound is on the bytes sent, not the characters: 2049 two-byte
        characters are too many.
        """
        e = self.assertRaises(ValueError, checkGreeting, "\u00e9" * 2049)
        self.assertEqual(str(e), "is longer than 4096 bytes")
