"""
Tests for L{sockplug.endpoints.proxy._wrapper}: how long a PROXY header may
be before the connection is closed.
"""

from __future__ import annotations

import struct

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from sockplug.testing._logs import LogTexts
from sockplug.testing._proxy import V2_SIGNATURE, connectFromBalancer, guardedEcho


class HeaderLengthTests(SynchronousTestCase):
    """
    A header longer than sockplug reads (a v1 one past the specification's
    107 bytes, a v2 one past 4 KiB) closes the connection, with a log line
    saying why, before any protocol is built.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.logged = LogTexts(self)
        self.factory, self.guard = guardedEcho(self.clock)
        self.protocol, self.transport = connectFromBalancer(self.factory)

    def test_hugeV1Closes(self) -> None:
        """
        A 60 KB v1 header whole in one read (past Twisted's check, which
        looks only for a missing CRLF) closes the connection.
        """
        line = b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 443 " + b"x" * 60_000
        self.protocol.dataReceived(line + b"\r\nping\n")
        self.assertEqual(
            (self.transport.connected, self.guard.accepted, self.transport.value()),
            (False, 0, b""),
        )

    def test_hugeV1Logged(self) -> None:
        """
        The log line says that the v1 header is longer than 107 bytes, and
        the refusal is counted for C{"proxy"}.
        """
        self.protocol.dataReceived(b"PROXY UNKNOWN " + b"x" * 60_000 + b"\r\n")
        self.assertEqual(
            (self.logged("bad PROXY header"), self.guard.refused["proxy"]),
            (
                [
                    "10.9.9.9:4000: bad PROXY header (a v1 header longer than 107"
                    " bytes, the most the specification allows); closing"
                ],
                1,
            ),
        )

    def test_v1NoEndLogged(self) -> None:
        """
        107 bytes of a v1 header without its CRLF close the connection with
        the same log line.
        """
        self.protocol.dataReceived(b"PROXY TCP4 " + b"1" * 96)
        self.assertEqual(
            self.logged("bad PROXY header"),
            [
                "10.9.9.9:4000: bad PROXY header (a v1 header longer than 107"
                " bytes, the most the specification allows); closing"
            ],
        )

    def test_longV2ClosesAtOnce(self) -> None:
        """
        A v2 header that says it is longer than 4 KiB closes the connection
        on its first 16 bytes, with a log line saying why.
        """
        start = V2_SIGNATURE + b"\x21\x11" + struct.pack("!H", 60_000)
        self.protocol.dataReceived(start)
        self.assertEqual(
            (self.transport.connected, self.logged("bad PROXY header")),
            (
                False,
                [
                    "10.9.9.9:4000: bad PROXY header (a v2 header of 60016 bytes,"
                    " more than the 4096 sockplug accepts); closing"
                ],
            ),
        )
