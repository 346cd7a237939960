"""
Tests for L{sockplug.metrics._snapshot}: a reading of every listener of a running
L{ListenersService}, through start-up and reloads.
"""

from __future__ import annotations

import os
from typing import Any

from attrs import evolve
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionLost
from twisted.python.failure import Failure

from sockplug.config._file import Configuration
from sockplug.defences._datagramguard import DatagramGuard
from sockplug.endpoints._parser import EndpointParser
from sockplug.endpoints._syntax import ListenerSpec
from sockplug.errors import ConfigError
from sockplug.metrics._snapshot import ListenerReading, Reading, read
from sockplug.plugin import TransportKind
from sockplug.protocols.lineprint import LinePrinter
from sockplug.server._hangup import ConfigReloader
from sockplug.server._listener import Listener
from sockplug.server._service import ListenersService
from sockplug.testing._lineprint import FakeSink, printerTo
from sockplug.testing._server import ServiceCase, registryWithFragile

_CLIENT = ("192.0.2.1", 5000)

_A = '[listeners.a]\nendpoint = "tcp:8000"\n'
_U = '[listeners.u]\nendpoint = "udp:7000"\n'

# What a stream listener that has done nothing reads, started at time 0.
_FRESH = ListenerReading(
    name="a",
    endpoint="tcp:8000",
    protocol="echo",
    kind=TransportKind.STREAM,
    listening=True,
    since=0.0,
    open=0,
    connections=0,
    bytesIn=0,
    bytesOut=0,
    datagramsIn=0,
    datagramsOut=0,
    idleClosed=0,
    refused={"access": 0, "maxconn": 0, "global": 0, "maxpersource": 0, "proxy": 0},
    errors={"lost": 0, "tls": 0, "protocol": 0},
)


class _ReadingCase(ServiceCase):
    """
    Reads a service on the memory reactor of L{sockplug.testing._server}.
    """

    def read(
        self, service: ListenersService, reloader: ConfigReloader | None = None
    ) -> Reading:
        return read(self.reactor, service, reloader)

    def row(self, service: ListenersService, name: str = "a") -> ListenerReading:
        [found] = [r for r in self.read(service).listeners if r.name == name]
        return found

    def echo(self, number: int, data: bytes, host: str = "192.0.2.1") -> Any:
        """
        Connect to the echo listener on C{number} and send C{data}.

        @return: the connection's transport.
        """
        protocol, transport = self.connect(number, host)
        protocol.dataReceived(data)
        return transport

    def datagramGuard(self, number: int) -> DatagramGuard:
        [guard] = [
            p[1] for p in self.reactor.udpPorts if p[0] == number and p[4].listening
        ]
        assert isinstance(guard, DatagramGuard)
        return guard


class StreamReadingTests(_ReadingCase):
    """
    Readings of a stream listener.
    """

    def test_fresh(self) -> None:
        """
        A listener that has done nothing reads its name, endpoint, protocol
        and kind, that it listens, since when, and zeros.
        """
        self.assertEqual(self.read(self.start(_A)).listeners, (_FRESH,))

    def test_openConnection(self) -> None:
        """
        An open connection counts as open and let in, with the bytes it has
        moved so far.
        """
        service = self.start(_A)
        self.echo(8000, b"ping")
        self.assertEqual(
            self.row(service),
            evolve(_FRESH, open=1, connections=1, bytesIn=4, bytesOut=4),
        )

    def test_closedConnection(self) -> None:
        """
        A connection that has closed is no longer open; its bytes stay
        counted.
        """
        service = self.start(_A)
        self.echo(8000, b"ping").loseConnection()
        self.assertEqual(
            self.row(service),
            evolve(_FRESH, open=0, connections=1, bytesIn=4, bytesOut=4),
        )

    def test_openAndClosed(self) -> None:
        """
        The bytes of the connections open and of those closed are added.
        """
        service = self.start(_A)
        self.echo(8000, b"ping").loseConnection()
        self.echo(8000, b"hello", "192.0.2.2")
        self.assertEqual(
            self.row(service),
            evolve(_FRESH, open=1, connections=2, bytesIn=9, bytesOut=9),
        )

    def test_refused(self) -> None:
        """
        Refused connections are counted by reason, and are not let in.
        """
        service = self.start(
            '[listeners.a]\nendpoint = "tcp:8000:maxconn=1:allow=192.0.2.0/24"\n'
        )
        self.connect(8000, "192.0.2.1")
        guarded = self.port(8000).factory
        for host in ("192.0.2.2", "192.0.2.3", "198.51.100.1"):
            self.assertIsNone(guarded.buildProtocol(IPv4Address("TCP", host, 5000)))
        row = self.row(service)
        self.assertEqual(
            (row.connections, row.refused),
            (1, {**_FRESH.refused, "access": 1, "maxconn": 2}),
        )

    def test_errors(self) -> None:
        """
        A connection lost uncleanly is counted as an error, once closed.
        """
        service = self.start(_A)
        protocol, _ = self.connect(8000)
        protocol.connectionLost(Failure(ConnectionLost("reset")))
        self.assertEqual(
            (self.row(service).errors, self.row(service).open),
            ({"lost": 1, "tls": 0, "protocol": 0}, 0),
        )

    def test_idleClosed(self) -> None:
        """
        A connection closed for idling is counted, and is no error.
        """
        service = self.start('[listeners.a]\nendpoint = "tcp:8000:idle=10"\n')
        self.connect(8000)
        self.reactor.advance(10)
        self.reactor.advance(1)
        row = self.row(service)
        self.assertEqual((row.idleClosed, row.open, row.errors), (1, 0, _FRESH.errors))

    def test_evicted(self) -> None:
        """
        A connection closed to make room for a new one is counted, and is
        no error.
        """
        service = self.start('[listeners.a]\nendpoint = "tcp:8000:maxconn=1"\n')
        self.connect(8000)
        self.reactor.advance(60)
        self.connect(8000, "192.0.2.2")
        row = self.row(service)
        self.assertEqual((row.evicted, row.open, row.errors), (1, 1, _FRESH.errors))

    def test_since(self) -> None:
        """
        A listener's start is when it first listened.
        """
        self.reactor.advance(100)
        service = self.start(_A)
        self.reactor.advance(50)
        self.assertEqual(self.row(service).since, 100.0)

    def test_copied(self) -> None:
        """
        A reading does not change with the counts after it.
        """
        service = self.start(_A)
        before = self.read(service)
        self.echo(8000, b"ping").loseConnection()
        self.assertEqual(before.listeners, (_FRESH,))


class DatagramReadingTests(_ReadingCase):
    """
    Readings of a datagram listener.
    """

    def test_datagram(self) -> None:
        """
        A datagram listener reads its datagrams and bytes each way, and its
        drops by reason; it has no connections.
        """
        service = self.start(_U)
        guard = self.datagramGuard(7000)
        guard.datagramReceived(b"ping", _CLIENT)
        guard.datagramReceived(b"x", ("192.0.2.1", 19))
        self.assertEqual(
            self.read(service).listeners,
            (
                ListenerReading(
                    name="u",
                    endpoint="udp:7000",
                    protocol="echo",
                    kind=TransportKind.DATAGRAM,
                    listening=True,
                    since=0.0,
                    open=0,
                    connections=0,
                    bytesIn=5,
                    bytesOut=4,
                    datagramsIn=2,
                    datagramsOut=1,
                    idleClosed=0,
                    refused={
                        "access": 0,
                        "port": 1,
                        "size": 0,
                        "rate": 0,
                        "loop": 0,
                        "truncated": 0,
                        "unaddressed": 0,
                    },
                    errors={"protocol": 0, "send": 0},
                ),
            ),
        )

    def test_refusedSource(self) -> None:
        """
        A datagram from a refused source is read as received, and dropped
        for access.
        """
        service = self.start('[listeners.u]\nendpoint = "udp:7000:allow=10.0.0.0/8"\n')
        self.datagramGuard(7000).datagramReceived(b"ping", _CLIENT)
        row = self.row(service, "u")
        self.assertEqual(
            (row.datagramsIn, row.bytesIn, row.datagramsOut, row.refused),
            (
                1,
                4,
                0,
                {
                    "access": 1,
                    "port": 0,
                    "size": 0,
                    "rate": 0,
                    "loop": 0,
                    "truncated": 0,
                    "unaddressed": 0,
                },
            ),
        )

    def test_errors(self) -> None:
        """
        A reply that cannot be sent is counted as an error.
        """
        service = self.start(_U)
        [(_, guard, _, _, transport)] = self.reactor.udpPorts
        transport.failWith = OSError("No buffer space available")
        guard.datagramReceived(b"ping", _CLIENT)
        self.assertEqual(self.row(service, "u").errors, {"protocol": 0, "send": 1})


class OutputReadingTests(_ReadingCase):
    """
    Readings of what a listener's protocol output dropped.
    """

    def setUp(self) -> None:
        super().setUp()
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        self.path = os.path.join(folder, "lines.log")
        self.sink = FakeSink(room=0)
        self.printer = printerTo(self.sink, self.reactor, self.path)
        self.addCleanup(LinePrinter._files.pop, self.path, None)
        self.text = (
            '[listeners.a]\nendpoint = "tcp:8000"\nprotocol = "line-print"\n'
            f"output = {self.path!r}\noutputbuffer = 0\n"
        )

    def test_dropped(self) -> None:
        """
        The lines and bytes a line-print listener's output dropped are
        read.
        """
        service = self.start(self.text)
        self.echo(8000, b"one\ntwo\n")
        line = b"tcp:8000 192.0.2.1:5000: one\n"
        self.assertEqual(self.row(service).outputDropped, (2, 2 * len(line)))

    def test_keptByReload(self) -> None:
        """
        A listener whose protocol's options change goes on counting.
        """
        service = self.start(self.text)
        self.echo(8000, b"one\n")
        self.reload(service, self.text.replace("= 0", "= 10"))
        self.echo(8000, b"two\n")
        self.assertEqual(self.row(service).outputDropped[0], 2)  # type: ignore[index]

    def test_noOutput(self) -> None:
        """
        A listener whose protocol has no output of its own reads none.
        """
        self.assertIsNone(self.row(self.start(_A)).outputDropped)


class ProcessReadingTests(_ReadingCase):
    """
    What a reading says of the whole process.
    """

    def test_process(self) -> None:
        """
        A reading says when it was read, the process's pid, the connections
        open on every listener and their bound, and has no reloads without
        a reloader.
        """
        service = self.start(_A + '[listeners.b]\nendpoint = "tcp:8001"\n')
        self.connect(8000)
        self.connect(8001)
        self.reactor.advance(7)
        reading = self.read(service)
        self.assertEqual(
            (
                reading.now,
                reading.pid,
                reading.openConnections,
                reading.maxConnections,
                reading.reloads,
            ),
            (7.0, os.getpid(), 2, 10_000, None),
        )

    def test_maxConnections(self) -> None:
        """
        The bound on connections is the service's.
        """
        service = ListenersService(
            self.reactor, self.config(_A).listeners, maxConnections=50
        )
        self.assertEqual(self.read(service).maxConnections, 50)

    def test_order(self) -> None:
        """
        The listeners are read in the service's order.
        """
        service = self.start(_U + _A + '[listeners.b]\nendpoint = "tcp:8001"\n')
        self.assertEqual(
            [r.name for r in self.read(service).listeners], ["u", "a", "b"]
        )

    def test_commandLineName(self) -> None:
        """
        A command-line listener is named by its endpoint string.
        """
        parser = EndpointParser(self.reactor, registryWithFragile().datagramParsers)
        listener = Listener(
            ListenerSpec("hello", "tcp:9000"),
            parser.parse("tcp:9000"),
            registryWithFragile().get("hello"),
        )
        service = ListenersService(self.reactor, [listener])
        service.startService()
        [row] = self.read(service).listeners
        self.assertEqual(
            (row.name, row.endpoint, row.protocol), ("tcp:9000", "tcp:9000", "hello")
        )

    def test_reloads(self) -> None:
        """
        With a reloader, its reloads done and failed are read.
        """
        service = self.start(_A)
        texts = iter([_A + _U])

        def load() -> Configuration:
            text = next(texts, None)
            if text is None:
                raise ConfigError(["test.toml: broken"])
            return self.config(text)

        reloader = ConfigReloader(self.reactor, load, service)
        reloader.reload()
        reloader.reload()
        self.assertEqual(self.read(service, reloader).reloads, {"done": 1, "failed": 1})


class ReloadReadingTests(_ReadingCase):
    """
    Readings across reloads.
    """

    def test_replacedKeepsTotals(self) -> None:
        """
        A listener whose endpoint changes goes on counting from its totals;
        the connections still open on its old socket are counted in its
        row, bytes and all.
        """
        service = self.start(_A)
        self.echo(8000, b"ping").loseConnection()
        self.echo(8000, b"hello", "192.0.2.2")
        self.reload(service, _A.replace("8000", "8005"))
        self.echo(8005, b"abc", "192.0.2.3")
        self.assertEqual(
            self.read(service).listeners,
            (
                evolve(
                    _FRESH,
                    endpoint="tcp:8005",
                    open=2,
                    connections=3,
                    bytesIn=12,
                    bytesOut=12,
                ),
            ),
        )

    def test_replacedOldConnectionCloses(self) -> None:
        """
        When a connection of the old socket closes, its bytes stay in the
        listener's totals.
        """
        service = self.start(_A)
        old = self.echo(8000, b"ping")
        self.reload(service, _A.replace("8000", "8005"))
        old.protocol.dataReceived(b"more")
        old.loseConnection()
        self.assertEqual(
            self.row(service),
            evolve(_FRESH, endpoint="tcp:8005", connections=1, bytesIn=8, bytesOut=8),
        )

    def test_replacedKeepsRefusals(self) -> None:
        """
        The refusals before a listener was replaced stay counted.
        """
        service = self.start('[listeners.a]\nendpoint = "tcp:8000:maxconn=1"\n')
        self.connect(8000, "192.0.2.1")
        peer = IPv4Address("TCP", "192.0.2.2", 5000)
        self.assertIsNone(self.port(8000).factory.buildProtocol(peer))
        self.reload(service, '[listeners.a]\nendpoint = "tcp:8005:maxconn=1"\n')
        self.assertEqual(self.row(service).refused["maxconn"], 1)

    def test_replacedKeepsSince(self) -> None:
        """
        A replaced listener's start stays when it first listened.
        """
        self.reactor.advance(100)
        service = self.start(_A)
        self.reactor.advance(50)
        self.reload(service, _A.replace("8000", "8005"))
        self.assertEqual(self.row(service).since, 100.0)

    def test_reconfiguredKeepsTotals(self) -> None:
        """
        A listener whose protocol changes goes on counting from its totals.
        """
        service = self.start(_A)
        self.echo(8000, b"ping").loseConnection()
        self.reload(service, _A + 'protocol = "hello"\ngreeting = "hi"\n')
        self.assertEqual(
            self.row(service),
            evolve(_FRESH, protocol="hello", connections=1, bytesIn=4, bytesOut=4),
        )

    def test_datagramReplacedKeepsTotals(self) -> None:
        """
        A datagram listener whose endpoint changes goes on counting from
        its totals.
        """
        service = self.start(_U)
        self.datagramGuard(7000).datagramReceived(b"ping", _CLIENT)
        self.reload(service, _U.replace("7000", "7001"))
        self.datagramGuard(7001).datagramReceived(b"hello", _CLIENT)
        row = self.row(service, "u")
        self.assertEqual(
            (row.endpoint, row.datagramsIn, row.bytesIn, row.datagramsOut),
            ("udp:7001", 2, 9, 2),
        )

    def test_kindChangedStartsAgain(self) -> None:
        """
        A listener that becomes a datagram listener starts counting anew,
        from when it listens as one.
        """
        service = self.start(_A)
        self.echo(8000, b"ping")
        self.reactor.advance(30)
        self.reload(service, _A.replace("tcp", "udp"))
        row = self.row(service)
        self.assertEqual(
            (row.kind, row.since, row.bytesIn, row.open),
            (TransportKind.DATAGRAM, 30.0, 0, 0),
        )

    def test_lostNotListening(self) -> None:
        """
        A listener lost by a failed reload reads as not listening, with its
        totals and its start.
        """
        service = self.start(_A)
        self.echo(8000, b"ping").loseConnection()
        self.reactor.refuse.add(8000)
        self.refused(service, _A.replace("8000", "8000:interface=127.0.0.1"))
        self.assertEqual(
            self.row(service),
            evolve(_FRESH, listening=False, connections=1, bytesIn=4, bytesOut=4),
        )

    def test_lostListensAgain(self) -> None:
        """
        A lost listener that a later reload starts again listens, with its
        totals and its first start.
        """
        service = self.start(_A)
        self.echo(8000, b"ping").loseConnection()
        self.reactor.refuse.add(8000)
        self.refused(service, _A.replace("8000", "8000:interface=127.0.0.1"))
        self.reactor.refuse.clear()
        self.reactor.advance(20)
        self.reload(service, _A)
        self.assertEqual(
            self.row(service), evolve(_FRESH, connections=1, bytesIn=4, bytesOut=4)
        )

    def test_removedNotRead(self) -> None:
        """
        A removed listener is no longer read; its connections still open
        count among the process's.
        """
        service = self.start(_A + '[listeners.b]\nendpoint = "tcp:8001"\n')
        self.echo(8001, b"ping")
        self.reload(service, _A)
        reading = self.read(service)
        self.assertEqual(
            ([r.name for r in reading.listeners], reading.openConnections),
            (["a"], 1),
        )
