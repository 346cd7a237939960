"""
Tests for L{sockplug.options._sockopts} and L{sockplug.internet._ports}.
"""

from __future__ import annotations

import socket

from twisted.internet.address import IPv4Address
from twisted.trial.unittest import SynchronousTestCase

from sockplug.internet._ports import socketOf
from sockplug.options._sockopts import (
    SOCKET_OPTIONS,
    SocketOptions,
    effectiveOptions,
    parseSocketOptions,
)


class _RecordingSocket:
    """
    Records C{setsockopt} calls, and answers C{getsockopt} from them.
    """

    def __init__(self) -> None:
        self.set: list[tuple[int, int, int]] = []

    def setsockopt(self, level: int, option: int, value: int) -> None:
        self.set.append((level, option, value))

    def getsockopt(self, level: int, option: int) -> int:
        for setLevel, setOption, value in reversed(self.set):
            if (setLevel, setOption) == (level, option):
                return value
        raise OSError("not set")


class ParseSocketOptionsTests(SynchronousTestCase):
    """
    Tests for L{parseSocketOptions}.
    """

    def test_none(self) -> None:
        """
        No options leave every default alone, and the other keywords.
        """
        kwargs = {"interface": "::1"}
        self.assertEqual(parseSocketOptions(kwargs, "tcp"), SocketOptions())
        self.assertEqual(kwargs, {"interface": "::1"})

    def test_all(self) -> None:
        """
        Every TCP option is parsed and taken out of the keywords.
        """
        kwargs = {
            "reuseaddr": "no",
            "reuseport": "yes",
            "rcvbuf": "256K",
            "sndbuf": "1M",
            "nodelay": "on",
            "keepalive": "true",
            "keepidle": "30",
            "keepintvl": "5",
            "keepcnt": "3",
        }
        self.assertEqual(
            parseSocketOptions(kwargs, "tcp"),
            SocketOptions(
                reuseaddr=False,
                reuseport=True,
                rcvbuf=262144,
                sndbuf=1048576,
                nodelay=True,
                keepalive=True,
                keepidle=30,
                keepintvl=5,
                keepcnt=3,
            ),
        )
        self.assertEqual(kwargs, {})

    def test_badFlag(self) -> None:
        """
        A flag that is not yes or no is refused, naming it.
        """
        e = self.assertRaises(
            ValueError, parseSocketOptions, {"reuseport": "maybe"}, "tcp"
        )
        self.assertEqual(str(e), "reuseport='maybe' is not yes or no")

    def test_badSize(self) -> None:
        """
        A size that is not a positive number (with K or M) is refused.
        """
        for bad in ("abc", "0", "-1", "K", "1G"):
            self.assertRaises(ValueError, parseSocketOptions, {"rcvbuf": bad}, "udp")

    def test_notForKind(self) -> None:
        """
        An option that does not apply to the kind of socket is refused.
        """
        e = self.assertRaises(ValueError, parseSocketOptions, {"nodelay": "1"}, "udp")
        self.assertEqual(str(e), "nodelay= does not apply to udp sockets")
        self.assertRaises(ValueError, parseSocketOptions, {"reuseport": "1"}, "unix")

    def test_helpForEvery(self) -> None:
        """
        Every field of L{SocketOptions} has help text, and nothing else does.
        """
        self.assertEqual(
            set(SOCKET_OPTIONS.names()),
            {a.name for a in SocketOptions.__attrs_attrs__},
        )
        for setting in SOCKET_OPTIONS:
            self.assertTrue(setting.describe().strip(), setting.name)


class TablesTests(SynchronousTestCase):
    """
    Tests for L{SOCKET_OPTIONS}.
    """

    def test_defaults(self) -> None:
        """
        L{SocketOptions}' defaults are the table's.
        """
        options = SocketOptions()
        for setting in SOCKET_OPTIONS:
            self.assertEqual(
                getattr(options, setting.attribute), setting.default, setting.name
            )

    def test_sizeMessages(self) -> None:
        """
        A size that is not a positive number, or is too large, is refused,
        naming it as given.
        """
        messages = []
        for name, text in (("rcvbuf", "0K"), ("sndbuf", "2048M"), ("keepcnt", "128")):
            e = self.assertRaises(ValueError, SOCKET_OPTIONS[name].parse, text)
            messages.append(str(e))
        self.assertEqual(
            messages,
            [
                "rcvbuf='0K' is not a positive number",
                "sndbuf='2048M' is more than 2147483647",
                "keepcnt='128' is more than 127",
            ],
        )


class ApplyTests(SynchronousTestCase):
    """
    Tests for L{SocketOptions.apply}.
    """

    def test_defaultsSetNothing(self) -> None:
        """
        Default options set nothing, leaving Twisted's and the system's.
        """
        sock = _RecordingSocket()
        SocketOptions().apply(sock)  # type: ignore[arg-type]
        self.assertEqual(sock.set, [])

    def test_setsWhatWasAsked(self) -> None:
        """
        Each option given is set, at its level, with its value.
        """
        sock = _RecordingSocket()
        SocketOptions(
            reuseaddr=False, reuseport=True, rcvbuf=4096, nodelay=True, keepcnt=3
        ).apply(sock)  # type: ignore[arg-type]
        self.assertEqual(
            sock.set,
            [
                (socket.SOL_SOCKET, socket.SO_REUSEADDR, 0),
                (socket.SOL_SOCKET, socket.SO_REUSEPORT, 1),
                (socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),
                (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),
                (socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3),
            ],
        )

    def test_realSocket(self) -> None:
        """
        On a real (unbound, unconnected) socket, the kernel reports the
        options set; Linux reports at least the receive buffer asked for.
        """
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(sock.close)
        SocketOptions(reuseport=True, rcvbuf=65536, keepalive=True).apply(sock)
        self.assertEqual(sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT), 1)
        self.assertEqual(sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE), 1)
        self.assertGreaterEqual(
            sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF), 65536
        )


class EffectiveOptionsTests(SynchronousTestCase):
    """
    Tests for L{effectiveOptions}.
    """

    def test_tcp(self) -> None:
        """
        A TCP socket reports buffers, reuse flags, nodelay and keepalive.
        """
        sock = _RecordingSocket()
        SocketOptions(
            reuseaddr=True,
            reuseport=True,
            rcvbuf=10,
            sndbuf=20,
            nodelay=True,
            keepalive=False,
        ).apply(sock)  # type: ignore[arg-type]
        self.assertEqual(
            effectiveOptions(sock, "tcp"),  # type: ignore[arg-type]
            "rcvbuf=10 sndbuf=20 reuseaddr=1 reuseport=1 nodelay=1 keepalive=0",
        )

    def test_unix(self) -> None:
        """
        A UNIX socket reports its buffers only; one that cannot be read is
        shown as C{?}.
        """
        sock = _RecordingSocket()
        SocketOptions(rcvbuf=10).apply(sock)  # type: ignore[arg-type]
        self.assertEqual(
            effectiveOptions(sock, "unix"),  # type: ignore[arg-type]
            "rcvbuf=10 sndbuf=?",
        )


class SocketOfTests(SynchronousTestCase):
    """
    Tests for L{socketOf}.
    """

    def test_socket(self) -> None:
        """
        A port's C{socket} attribute is its socket, if it is one.
        """

        class Port:
            socket = socket.socket()

        self.addCleanup(Port.socket.close)
        self.assertIs(socketOf(Port()), Port.socket)
        self.assertIsNone(socketOf(IPv4Address("TCP", "127.0.0.1", 1)))
