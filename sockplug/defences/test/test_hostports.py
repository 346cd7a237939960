"""
Tests for L{sockplug.defences._hostports}: the registry of sockplug's UDP
ports on this host, and the reply budget and guard that use it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from twisted.internet.address import UNIXAddress
from twisted.internet.epollreactor import EPollReactor
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from sockplug.defences._datagramguard import DatagramGuard
from sockplug.defences._hostports import REFRESH, TABLE, HostPorts, hostPortsFor
from sockplug.options._limits import ListenerLimits
from sockplug.testing import MemoryDatagramTransport, connectDatagram
from sockplug.testing._datagram import CLIENT, GuardedCase, Replier

# Lines of /proc/net/unix (each first field cut short): a header, sockets
# with and without names, and sockplug listeners: on every IPv4 address
# (twice, as two processes with one port register it), on every IPv6
# address, on two given addresses.
LISTING = b"""\
Num       RefCount Protocol Flags    Type St Inode Path
00000000: 00000002 00000000 00010000 0002 01 1001 /run/systemd/notify
00000000: 00000002 00000000 00010000 0002 01 1002 @sockplug-udp/0.0.0.0/7777/41/1
00000000: 00000002 00000000 00010000 0002 01 1003 @sockplug-udp/0.0.0.0/7777/42/1
00000000: 00000002 00000000 00010000 0002 01 1004 @sockplug-udp/::/7778/42/2
00000000: 00000002 00000000 00010000 0002 01 1005 @sockplug-udp/127.0.0.1/40123/42/3
00000000: 00000002 00000000 00010000 0002 01 1006 @sockplug-udp/::1/40124/42/4
00000000: 00000002 00000000 00010000 0001 01 1007
00000000: 00000002 00000000 00010000 0002 01 1008 @other-udp/1.2.3.4/5000/1/1
"""


class Registration:
    """
    What a L{FakeHostPorts} gives for a port registered: it can be closed.
    """

    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


class FakeHostPorts(HostPorts):
    """
    A registry in memory: the ports other servers hold are given, and the
    ports registered are recorded.
    """

    def __init__(self, held: set[tuple[str, int]]) -> None:
        HostPorts.__init__(self)
        self.held = held
        self.registered: list[tuple[str, int, Registration]] = []

    def register(self, host: str, port: int) -> Any:
        registration = Registration()
        self.registered.append((host, port, registration))
        return registration

    def _read(self) -> frozenset[tuple[str, int]]:
        return frozenset(self.held)


class TableTests(SynchronousTestCase):
    """
    Tests for L{HostPorts.holds}, reading a table written by the test.
    """

    def table(self, listing: bytes) -> str:
        path: str = self.mktemp()
        with open(path, "wb") as f:
            f.write(listing)
        return path

    def test_everyAddress(self) -> None:
        """
        The port of a listener on every address (IPv4 or IPv6) is held,
        whatever the address.
        """
        ports = HostPorts(self.table(LISTING))
        self.assertEqual(
            [
                ports.holds(host, port, 0.0)
                for host in ("127.0.0.1", "192.0.2.1", "::1")
                for port in (7777, 7778)
            ],
            [True] * 6,
        )

    def test_givenAddress(self) -> None:
        """
        The port of a listener on one address is held for that address
        only: a reply to another address's port cannot reach it.
        """
        ports = HostPorts(self.table(LISTING))
        self.assertEqual(
            [
                ports.holds("127.0.0.1", 40123, 0.0),
                ports.holds("::1", 40124, 0.0),
                ports.holds("127.0.0.2", 40123, 0.0),
                ports.holds("127.0.0.1", 40124, 0.0),
            ],
            [True, True, False, False],
        )

    def test_otherNames(self) -> None:
        """
        Other sockets' names, and numbers that are not sockplug ports, are
        not held.
        """
        ports = HostPorts(self.table(LISTING))
        self.assertEqual(
            [ports.holds(h, p, 0.0) for h, p in [("1.2.3.4", 5000), ("0.0.0.0", 41)]],
            [False, False],
        )

    def test_readOnce(self) -> None:
        """
        Within L{REFRESH} seconds of a reading, the table is not read again.
        """
        path = self.table(b"")
        ports = HostPorts(path)
        self.assertFalse(ports.holds("127.0.0.1", 7777, 10.0))
        with open(path, "wb") as f:
            f.write(LISTING)
        self.assertFalse(ports.holds("127.0.0.1", 7777, 10.0 + REFRESH - 0.01))
        self.assertTrue(ports.holds("127.0.0.1", 7777, 10.0 + REFRESH))

    def test_clockBack(self) -> None:
        """
        A clock that goes back makes the table be read again.
        """
        path = self.table(b"")
        ports = HostPorts(path)
        ports.holds("127.0.0.1", 7777, 10.0)
        with open(path, "wb") as f:
            f.write(LISTING)
        self.assertTrue(ports.holds("127.0.0.1", 7777, 5.0))

    def test_noTable(self) -> None:
        """
        Where there is no table, no port is held.
        """
        self.assertFalse(HostPorts(self.mktemp()).holds("0.0.0.0", 7777, 0.0))


class RegisterTests(SynchronousTestCase):
    """
    Tests for L{HostPorts.register}, on this host's real table.
    """

    if not sys.platform.startswith("linux") or not os.path.exists(TABLE):
        skip = "no abstract UNIX sockets here"

    def test_registered(self) -> None:
        """
        A registered port is held, for this process and any other, until
        its socket is closed.
        """
        # A port no test server uses: above the ephemeral range.
        port = 65123
        registration = HostPorts().register("127.0.0.1", port)
        assert registration is not None
        self.addCleanup(registration.close)
        self.assertTrue(HostPorts().holds("127.0.0.1", port, 0.0))
        self.assertFalse(HostPorts().holds("127.0.0.2", port, 0.0))
        registration.close()
        self.assertFalse(HostPorts().holds("127.0.0.1", port, 0.0))

    def test_twice(self) -> None:
        """
        One port may be registered twice (two listeners, or two processes,
        on one port): it is held until both are closed.
        """
        ports = HostPorts()
        first, second = ports.register("::", 65124), ports.register("::", 65124)
        assert first is not None and second is not None
        self.addCleanup(first.close)
        self.addCleanup(second.close)
        first.close()
        self.assertTrue(HostPorts().holds("192.0.2.1", 65124, 0.0))


class ForReactorTests(SynchronousTestCase):
    """
    Tests for L{hostPortsFor}.
    """

    def test_inMemory(self) -> None:
        """
        A reactor in memory has no host, and no registry.
        """
        self.assertIsNone(hostPortsFor(MemoryReactorClock()))

    def test_real(self) -> None:
        """
        A reactor on the host's sockets has the process's registry, the
        same for every listener.
        """
        # (Not started, nor even set up: only its type matters.)
        reactor = EPollReactor.__new__(EPollReactor)
        first = hostPortsFor(reactor)
        self.assertIsInstance(first, HostPorts)
        self.assertIs(hostPortsFor(reactor), first)


class BudgetTests(GuardedCase):
    """
    The reply budget with a host registry.
    """

    def test_heldPortBlocked(self) -> None:
        """
        No reply goes to a port another sockplug server on this host holds;
        the drop is counted and logged.
        """
        registry = FakeHostPorts({CLIENT})
        guard, _, transport = self.guard(hostPorts=registry)
        guard.datagramReceived(b"ping", CLIENT)
        self.assertEqual((transport.written, guard.dropped["port"]), ([], 1))
        self.assertEqual(
            self.texts("dropped"),
            [
                "udp:7777 dropped reply to 192.0.2.1:5000: source port 5000 is"
                " a sockplug server's on this host"
            ],
        )

    def test_otherPortAnswered(self) -> None:
        """
        An address no sockplug server listens on is answered.
        """
        held = {(CLIENT[0], 5001), ("192.0.2.99", CLIENT[1])}
        guard, _, transport = self.guard(hostPorts=FakeHostPorts(held))
        guard.datagramReceived(b"ping", CLIENT)
        self.assertEqual(len(transport.written), 1)

    def test_heldLater(self) -> None:
        """
        An address answered before is checked again L{REFRESH} seconds
        later: a server that has since started on its port is not answered.
        """
        registry = FakeHostPorts(set())
        guard, wrapped, _ = self.guard(hostPorts=registry)
        guard.datagramReceived(b"ping", CLIENT)
        registry.held.add(CLIENT)
        self.clock.advance(REFRESH)
        guard.datagramReceived(b"ping", CLIENT)
        self.assertEqual(wrapped.results, [None, False])


class GuardTests(GuardedCase):
    """
    A guard registers its port while it listens.
    """

    def test_registers(self) -> None:
        """
        A guard started on a UDP port registers that port, and lets go of
        it when it stops.
        """
        registry = FakeHostPorts(set())
        _, _, transport = self.guard(hostPorts=registry)
        [(host, port, registration)] = registry.registered
        self.assertEqual((host, port, registration.closed), ("127.0.0.1", 9999, False))
        transport.stopListening()
        self.assertTrue(registration.closed)

    def test_unixNotRegistered(self) -> None:
        """
        A guard on a UNIX datagram port has no port to register.
        """
        registry = FakeHostPorts(set())
        guard = DatagramGuard(
            self.clock, "unixgram:/s", ListenerLimits(), Replier(), hostPorts=registry
        )
        connectDatagram(guard, MemoryDatagramTransport(host=UNIXAddress("/s")))
        self.assertEqual(registry.registered, [])
