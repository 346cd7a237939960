"""
Tests for L{sockplug.endpoints._systemd}'s picking and checking of the
socket a C{systemd:} or C{systemd-datagram:} string names: which inherited
descriptor it picks (L{locate}), and whether that one is a socket sockplug
can serve as the string says (L{check}); on real sockets made here as
systemd would pass them.
"""

from __future__ import annotations

import os
import socket

from twisted.python.systemd import ListenFDs
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from sockplug.compat import SYSTEMD_SOCKETS, SystemdParser
from sockplug.endpoints._systemd import (
    Selector,
    SystemdDatagramParser,
    check,
    inheritedSockets,
    locate,
)
from sockplug.testing._sockets import WEB_DNS
from sockplug.testing._sockets import PassedSockets as _Sockets


class LocateTests(SynchronousTestCase):
    """
    Tests for L{locate}: which descriptor a selector picks, and what is
    said when it picks none.
    """

    def reason(self, sockets: ListenFDs, selector: Selector) -> str:
        return str(self.assertRaises(ValueError, locate, sockets, selector))

    def test_index(self) -> None:
        """
        An index picks the descriptor at that place, labelled with its
        number, index and name.
        """
        self.assertEqual(
            locate(WEB_DNS, Selector("INET", index=1)),
            (4, "descriptor 4 (index 1, named 'dns')"),
        )

    def test_name(self) -> None:
        """
        A name picks the descriptor of that name.
        """
        self.assertEqual(
            locate(WEB_DNS, Selector("INET", name="web")),
            (3, "descriptor 3 (index 0, named 'web')"),
        )

    def test_nothingPassed(self) -> None:
        """
        When systemd passed nothing, the message says what must be set, and
        how C{systemd-socket-activate} sets it.
        """
        self.patch(os, "environ", {})
        self.assertEqual(
            self.reason(ListenFDs([]), Selector("INET", index=0)),
            "systemd passed no sockets: LISTEN_FDS is not set for this process,"
            " or LISTEN_FDNAMES does not name each of them (systemd-socket-activate"
            " sets it only with --fdname=NAME)",
        )

    def test_otherProcess(self) -> None:
        """
        Sockets passed to another process (a shell that forked) are named as
        such.
        """
        self.patch(os, "environ", {"LISTEN_PID": "1", "LISTEN_FDS": "1"})
        self.assertEqual(
            self.reason(ListenFDs([]), Selector("INET", index=0)),
            "systemd passed its sockets to process 1 (LISTEN_PID), not to this one"
            f" ({os.getpid()}): start twistd with exec, not from a shell that forks",
        )

    def test_indexOutOfRange(self) -> None:
        """
        An index past the last socket is refused, listing those passed.
        """
        self.assertEqual(
            self.reason(WEB_DNS, Selector("INET", index=2)),
            "index=2 is out of range: systemd passed 2 sockets:"
            " index 0 named 'web', index 1 named 'dns'",
        )

    def test_indexOutOfRangeOne(self) -> None:
        """
        With one socket passed, the listing says so in the singular.
        """
        self.assertEqual(
            self.reason(
                ListenFDs([3], ("sockplug.socket",)), Selector("INET", index=1)
            ),
            "index=1 is out of range: systemd passed 1 socket:"
            " index 0 named 'sockplug.socket'",
        )

    def test_unknownName(self) -> None:
        """
        A name no socket has is refused, listing those passed.
        """
        self.assertEqual(
            self.reason(WEB_DNS, Selector("UNIX", name="lp")),
            "no socket named 'lp': systemd passed 2 sockets:"
            " index 0 named 'web', index 1 named 'dns'",
        )

    def test_sharedName(self) -> None:
        """
        A name several sockets share (those of one C{.socket} unit) picks
        none, and the message says to use C{index=}.
        """
        sockets = ListenFDs([3, 4, 5], ("sockplug.socket",) * 3)
        self.assertEqual(
            self.reason(sockets, Selector("INET", name="sockplug.socket")),
            "3 sockets are named 'sockplug.socket' (index 0, 1, 2): systemd names"
            " every socket of a .socket unit alike (FileDescriptorName=); pick one"
            " with index=",
        )

    def test_twistedsDescriptors(self) -> None:
        """
        The sockets are those Twisted's own C{systemd:} type read from the
        environment (and removed from it) when it was imported.
        """
        self.patch(SystemdParser, SYSTEMD_SOCKETS, WEB_DNS)
        self.assertIs(inheritedSockets(), WEB_DNS)
        self.assertIs(SystemdDatagramParser().sockets(), WEB_DNS)


class CheckTests(SynchronousTestCase):
    """
    Tests for L{check}: an inherited descriptor must be a socket of the
    type and family the endpoint string says.
    """

    def setUp(self) -> None:
        self.sockets = _Sockets(self)

    def reason(self, fd: int, selector: Selector, kind: socket.SocketKind) -> str:
        return str(
            self.assertRaises(ValueError, check, fd, "descriptor X", selector, kind)
        )

    def test_datagram(self) -> None:
        """
        A datagram socket of the family named passes for a datagram
        endpoint, and stays open.
        """
        for domain, family in (("INET", socket.AF_INET), ("INET6", socket.AF_INET6)):
            sock = self.sockets.make(family, socket.SOCK_DGRAM)
            check(sock.fileno(), "d", Selector(domain, index=0), socket.SOCK_DGRAM)
            self.assertEqual(sock.family, family)
        unix = self.sockets.unix(socket.SOCK_DGRAM)
        check(unix.fileno(), "d", Selector("UNIX", index=0), socket.SOCK_DGRAM)
        self.assertTrue(unix.getsockname().endswith("s.sock"))

    def test_listeningStream(self) -> None:
        """
        A listening stream socket passes for a stream endpoint.
        """
        sock = self.sockets.unix(socket.SOCK_STREAM)
        sock.listen(1)
        check(sock.fileno(), "d", Selector("UNIX", index=0), socket.SOCK_STREAM)

    def test_streamForDatagram(self) -> None:
        """
        A stream socket given to C{systemd-datagram:} is refused, naming the
        C{systemd:} string that serves it.
        """
        sock = self.sockets.make(socket.AF_INET, socket.SOCK_STREAM)
        self.assertEqual(
            self.reason(sock.fileno(), Selector("INET", index=0), socket.SOCK_DGRAM),
            "descriptor X is a stream socket, not a datagram socket:"
            " use systemd:domain=INET:index=0 for it",
        )

    def test_datagramForStream(self) -> None:
        """
        A datagram socket given to C{systemd:} is refused, naming the
        C{systemd-datagram:} string that serves it, in its real domain.
        """
        sock = self.sockets.make(socket.AF_INET6, socket.SOCK_DGRAM)
        self.assertEqual(
            self.reason(
                sock.fileno(), Selector("INET", name="dns"), socket.SOCK_STREAM
            ),
            "descriptor X is a datagram socket, not a stream socket:"
            " use systemd-datagram:domain=INET6:name=dns for it",
        )

    def test_seqpacket(self) -> None:
        """
        A sequential-packet socket (C{ListenSequentialPacket=}) is refused.
        """
        sock = self.sockets.make(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.assertEqual(
            self.reason(sock.fileno(), Selector("UNIX", index=0), socket.SOCK_DGRAM),
            "descriptor X is a seqpacket socket, not a datagram socket:"
            " sockplug serves stream and datagram sockets",
        )

    def test_wrongFamily(self) -> None:
        """
        A socket of another family than C{domain=} says is refused, naming
        the right domain.
        """
        sock = self.sockets.make(socket.AF_INET6, socket.SOCK_DGRAM)
        self.assertEqual(
            self.reason(sock.fileno(), Selector("INET", index=0), socket.SOCK_DGRAM),
            "descriptor X is an INET6 socket, not INET as domain=INET says:"
            " give domain=INET6",
        )

    def test_unixForInet(self) -> None:
        """
        A UNIX socket named as INET is refused, naming UNIX.
        """
        sock = self.sockets.unix(socket.SOCK_DGRAM)
        self.assertEqual(
            self.reason(sock.fileno(), Selector("INET", index=0), socket.SOCK_DGRAM),
            "descriptor X is a UNIX socket, not INET as domain=INET says:"
            " give domain=UNIX",
        )

    def test_otherFamily(self) -> None:
        """
        A socket of a family sockplug does not serve (C{ListenNetlink=}) is
        refused, naming the family.
        """
        try:
            sock = self.sockets.make(socket.AF_NETLINK, socket.SOCK_DGRAM)
        except OSError as e:
            raise SkipTest(f"no netlink sockets here: {e}") from e
        self.assertEqual(
            self.reason(sock.fileno(), Selector("INET", index=0), socket.SOCK_DGRAM),
            "descriptor X is an AF_NETLINK socket; sockplug serves INET, INET6"
            " and UNIX sockets",
        )

    def test_notListening(self) -> None:
        """
        A stream socket that is not listening (a connection, as with
        C{Accept=yes}) is refused.
        """
        sock = self.sockets.make(socket.AF_UNIX, socket.SOCK_STREAM)
        self.assertEqual(
            self.reason(sock.fileno(), Selector("UNIX", index=0), socket.SOCK_STREAM),
            "descriptor X is a stream socket that is not listening (a .socket unit"
            " with Accept=yes passes connections): sockplug needs Accept=no",
        )

    def test_notASocket(self) -> None:
        """
        A descriptor that is not a socket (C{ListenFIFO=}) is refused, and
        left open.
        """
        read, write = os.pipe()
        self.addCleanup(os.close, read)
        self.addCleanup(os.close, write)
        self.assertEqual(
            self.reason(read, Selector("UNIX", index=0), socket.SOCK_DGRAM),
            "descriptor X is not a socket",
        )
        os.fstat(read)

    def test_notOpen(self) -> None:
        """
        A descriptor that is not open is refused.
        """
        read, write = os.pipe()
        os.close(read)
        os.close(write)
        self.assertEqual(
            self.reason(read, Selector("UNIX", index=0), socket.SOCK_DGRAM),
            "descriptor X is not open",
        )
