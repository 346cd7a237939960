"""
Tests for L{sockplug.endpoints.proxy._wrapper}: the connections waiting for
their PROXY header are bounded by C{maxpending=}, not by the per-source
limit of the balancer's address; once the header names the client, the
client's per-source limit applies.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from sockplug.defences import ConnectionBudget
from sockplug.endpoints.proxy._wrapper import HEADER_TIMEOUT
from sockplug.options import ListenerLimits
from sockplug.testing._logs import LogTexts
from sockplug.testing._proxy import (
    BALANCER,
    LOCAL,
    V1,
    connectFromBalancer,
    guardedEcho,
)


def _v1From(host: str) -> bytes:
    """
    A v1 header naming a client at C{host}.
    """
    return f"PROXY TCP4 {host} 198.51.100.1 56324 443\r\n".encode()


class PendingTests(SynchronousTestCase):
    """
    A guarded echo listener behind L{ProxyHeaderFactory} and a burst of
    connections from one balancer.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.logged = LogTexts(self)

    def listen(self, **limits: Any) -> None:
        self.factory, self.guard = guardedEcho(self.clock, **limits)

    def waiting(self, count: int) -> list[Any]:
        """
        C{count} connections from the balancer, none of them refused, each
        waiting for its header.
        """
        return [connectFromBalancer(self.factory) for _ in range(count)]

    def test_waitingNotPerSource(self) -> None:
        """
        More connections than C{maxpersource} may wait for their header
        from the balancer's one address.
        """
        self.listen(maxPerSource=2)
        self.waiting(3)
        self.assertEqual(
            (self.guard.openConnections, self.guard.refused["maxpersource"]), (3, 0)
        )

    def test_burstLetIn(self) -> None:
        """
        A burst of more clients than C{maxpersource}, each from its own
        address, all waiting for their headers at once through one
        balancer, are all let in.
        """
        self.listen(maxPerSource=2)
        connections = self.waiting(5)
        for number, (protocol, _) in enumerate(connections):
            protocol.dataReceived(_v1From(f"192.0.2.{number + 1}"))
        self.assertEqual(
            (self.guard.accepted, self.guard.openConnections, self.guard.refused),
            (5, 5, dict.fromkeys(self.guard.refused, 0)),
        )

    def test_clientPerSource(self) -> None:
        """
        Once headers name the clients, C{maxpersource} applies to each
        client's address.
        """
        self.listen(maxPerSource=1)
        connections = self.waiting(2)
        for protocol, _ in connections:
            protocol.dataReceived(V1)
        self.assertEqual(
            (self.guard.accepted, self.guard.refused["maxpersource"]), (1, 1)
        )

    def test_waitingNotCountedForClient(self) -> None:
        """
        Connections waiting for their header at the balancer's address do
        not count against a client at that address (a C{PROXY UNKNOWN}
        header, which names none).
        """
        self.listen(maxPerSource=1)
        protocol, _ = self.waiting(3)[0]
        protocol.dataReceived(b"PROXY UNKNOWN\r\n")
        self.assertEqual(
            (self.guard.accepted, self.guard.refused["maxpersource"]), (1, 0)
        )

    def test_boundRefuses(self) -> None:
        """
        Past C{maxpending}, a connection gets no protocol (the port closes
        its socket at once), counted as refused for C{"proxy"}.
        """
        self.listen(maxPending=2)
        self.waiting(2)
        self.assertEqual(
            (self.factory.buildProtocol(BALANCER), self.guard.refused["proxy"]),
            (None, 1),
        )

    def test_boundLogged(self) -> None:
        """
        A refusal past C{maxpending} is logged, naming the bound.
        """
        self.listen(maxPending=1)
        self.waiting(1)
        self.factory.buildProtocol(BALANCER)
        self.assertEqual(
            self.logged("refused"),
            [
                "haproxy:tcp:8888 refused 10.9.9.9:4000: maxpending=1 reached"
                " (connections waiting for their PROXY header)"
            ],
        )

    def test_boundPerListener(self) -> None:
        """
        The bound counts one listener's waiting connections, not another's
        in the same process.
        """
        self.listen(maxPending=1)
        other, _ = guardedEcho(self.clock, maxPending=1)
        self.waiting(1)
        self.assertIsNotNone(connectFromBalancer(other)[0])

    def test_headerFreesPlace(self) -> None:
        """
        A connection whose header has come no longer waits.
        """
        self.listen(maxPending=1)
        [(protocol, _)] = self.waiting(1)
        protocol.dataReceived(V1)
        self.assertIsNotNone(self.factory.buildProtocol(BALANCER))

    def test_refusedClientFreesPlace(self) -> None:
        """
        A connection whose client is refused (here for C{maxpersource})
        no longer waits.
        """
        self.listen(maxPending=1, maxPerSource=1)
        connectFromBalancer(self.factory)[0].dataReceived(V1)
        protocol, transport = connectFromBalancer(self.factory)
        protocol.dataReceived(V1)
        self.assertEqual(
            (transport.connected, self.guard.refused["maxpersource"]), (False, 1)
        )
        self.assertIsNotNone(self.factory.buildProtocol(BALANCER))

    def test_closeFreesPlace(self) -> None:
        """
        A connection that closes before its header no longer waits.
        """
        self.listen(maxPending=1)
        [(_, transport)] = self.waiting(1)
        transport.loseConnection()
        self.assertIsNotNone(self.factory.buildProtocol(BALANCER))

    def test_timeoutFreesPlace(self) -> None:
        """
        A connection closed by the header timeout no longer waits.
        """
        self.listen(maxPending=1)
        self.waiting(1)
        self.clock.advance(HEADER_TIMEOUT)
        self.assertIsNotNone(self.factory.buildProtocol(BALANCER))

    def test_badHeaderFreesPlace(self) -> None:
        """
        A connection closed for a bad header no longer waits.
        """
        self.listen(maxPending=1)
        [(protocol, _)] = self.waiting(1)
        protocol.dataReceived(b"GET / HTTP/1.0\r\n\r\n")
        self.assertIsNotNone(self.factory.buildProtocol(BALANCER))

    def test_localStillWaits(self) -> None:
        """
        A connection after its v2 C{LOCAL} header, before data, still
        waits (it is the balancer's, let in only once data comes).
        """
        self.listen(maxPending=1)
        [(protocol, _)] = self.waiting(1)
        protocol.dataReceived(LOCAL)
        self.assertIsNone(self.factory.buildProtocol(BALANCER))

    def test_localDataFreesPlace(self) -> None:
        """
        Data after a v2 C{LOCAL} header lets the connection in: it no
        longer waits.
        """
        self.listen(maxPending=1)
        [(protocol, _)] = self.waiting(1)
        protocol.dataReceived(LOCAL)
        protocol.dataReceived(b"ping\n")
        self.assertIsNotNone(self.factory.buildProtocol(BALANCER))

    def test_reloadChangesBound(self) -> None:
        """
        A reload that changes C{maxpending} applies to the next connection.
        """
        self.listen(maxPending=1)
        self.waiting(1)
        self.guard.reconfigure("haproxy:tcp:8888", ListenerLimits(maxPending=2))
        self.assertIsNotNone(self.factory.buildProtocol(BALANCER))

    def test_waitingCountsInProcess(self) -> None:
        """
        Waiting connections still count against the process's bound
        (C{--max-connections}): each holds a descriptor.
        """
        self.listen()
        self.guard.budget = ConnectionBudget(2)
        self.waiting(2)
        self.assertEqual(
            (self.factory.buildProtocol(BALANCER), self.guard.refused["global"]),
            (None, 1),
        )

    def test_waitingFromOtherAddresses(self) -> None:
        """
        Connections waiting for their header from several addresses (not
        through one balancer) share the one bound.
        """
        self.listen(maxPending=2)
        for host in ("10.9.9.1", "10.9.9.2"):
            self.assertIsNotNone(
                self.factory.buildProtocol(IPv4Address("TCP", host, 4000))
            )
        self.assertIsNone(
            self.factory.buildProtocol(IPv4Address("TCP", "10.9.9.3", 4000))
        )
