# -*- test-case-name: sockplug.workers.test -*-
"""
The workers in memory, for sockplug's own tests (not API: see
L{sockplug.testing}): worker processes, a reactor whose ports are real
sockets, a reactor that starts processes in memory, a test case of a
supervisor of two workers, and the metrics texts of two workers.
"""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
from functools import cache
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import tcp, udp, unix
from twisted.internet.address import IPv4Address, UNIXAddress
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import (
    CannotListenError,
    ProcessExitedAlready,
    ProcessTerminated,
)
from twisted.internet.interfaces import IListeningPort
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from sockplug.config._file import Configuration
from sockplug.discovery._registry import Registry, discover
from sockplug.endpoints._parser import EndpointParser
from sockplug.endpoints._syntax import ListenerSpec
from sockplug.internet._ports import UNIXPort
from sockplug.plugin import ProtocolPlugin
from sockplug.server._listener import Listener, closeAtOnce
from sockplug.workers._process import ENVIRONMENT, WorkerCommand
from sockplug.workers._sockets import SharedSocket
from sockplug.workers._supervisor import WorkersService


class FakeProcess:
    """
    A process transport in memory: it records what is written to the
    child and the signals sent, and can be made to have ended.
    """

    def __init__(self, pid: int) -> None:
        self.pid: int | None = pid
        self.written: list[tuple[int, bytes]] = []
        self.signals: list[str] = []
        self.gone = False

    def writeToChild(self, childFD: int, data: bytes) -> None:
        if self.gone:
            raise KeyError(childFD)
        self.written.append((childFD, data))

    def signalProcess(self, name: str) -> None:
        if self.gone:
            raise ProcessExitedAlready()
        self.signals.append(name)

    def messages(self) -> list[Any]:
        """
        The lines written to the child's standard input, decoded.
        """
        data = b"".join(data for fd, data in self.written if fd == 0)
        return [json.loads(line) for line in data.splitlines()]


class SocketReactor(MemoryReactorClock):
    """
    A reactor in memory whose C{listen} calls make real, bound sockets (as
    the reactor's own ports do), so that what is made of them can be
    looked at; nothing is read or accepted unless a test says so.
    """

    def __init__(self) -> None:
        MemoryReactorClock.__init__(self)

    def listenTCP(
        self, port: int, factory: Any, backlog: int = 50, interface: str = ""
    ) -> Any:
        listening = tcp.Port(port, factory, backlog, interface, self)
        listening.startListening()
        return listening

    def listenUNIX(
        self,
        address: str,
        factory: Any,
        backlog: int = 50,
        mode: int = 0o666,
        wantPID: int = 0,
    ) -> Any:
        # sockplug's own port, as a posix reactor's UNIX endpoint makes.
        listening = UNIXPort(address, factory, backlog, mode, self, wantPID)
        listening.startListening()
        return listening

    def listenUDP(
        self, port: int, protocol: Any, interface: str = "", maxPacketSize: int = 8192
    ) -> Any:
        listening = udp.Port(port, protocol, interface, maxPacketSize, self)
        listening.startListening()
        return listening

    def listenUNIXDatagram(
        self, address: str, protocol: Any, maxPacketSize: int = 8192, mode: int = 0o666
    ) -> Any:
        listening = unix.DatagramPort(address, protocol, maxPacketSize, mode, self)
        listening.startListening()
        return listening


@cache
def registry() -> Registry:
    """
    The protocols sockplug finds.
    """
    return discover()


def listener(
    endpoint: str, reactor: Any = None, name: str = "", protocol: str = "echo"
) -> Listener:
    """
    A listener of C{protocol} on C{endpoint}, parsed for C{reactor}.
    """
    found = registry()
    parser = EndpointParser(reactor or SocketReactor(), found.datagramParsers)
    return Listener(
        ListenerSpec(protocol, endpoint),
        parser.parse(endpoint),
        found.get(protocol),
        name,
    )


def folder(case: SynchronousTestCase) -> str:
    """
    A new temporary folder with a short name, removed after the test.
    """
    path = tempfile.mkdtemp(prefix="sp-")
    case.addCleanup(shutil.rmtree, path, True)
    return path


def closing(case: SynchronousTestCase, ports: list[IListeningPort]) -> None:
    """
    Close C{ports} at once when the test ends.
    """
    for port in ports:
        case.addCleanup(closeIfOpen, port)


def closeIfOpen(port: IListeningPort) -> None:
    if getattr(port, "connected", True):
        closeAtOnce(port)


COMMAND = WorkerCommand("/usr/bin/python3", ("/usr/bin/python3", "-c", "w"), {"A": "b"})


@implementer(IListeningPort)
class HeldPort:
    """
    A socket held for the workers, in memory (its socket is real, never
    bound, for its descriptor).
    """

    def __init__(self, case: SynchronousTestCase, host: Any) -> None:
        self.socket = socket.socket()
        case.addCleanup(self.socket.close)
        self.host = host
        self.stopped = 0
        self.lost = 0

    def startListening(self) -> None:
        pass

    def stopListening(self) -> Deferred[None]:
        self.stopped += 1
        return succeed(None)

    def getHost(self) -> Any:
        return self.host

    def connectionLost(self, reason: object) -> None:
        self.lost += 1


class ProcessReactor(MemoryReactorClock):
    """
    A reactor in memory that starts processes in memory: each is a
    L{FakeProcess}, numbered from pid 1000.
    """

    def __init__(self) -> None:
        MemoryReactorClock.__init__(self)
        self.spawned: list[dict[str, Any]] = []
        self.failSpawn: OSError | None = None

    def spawnProcess(
        self,
        processProtocol: Any,
        executable: Any,
        args: Any = (),
        env: Any = None,
        *,
        path: Any = None,
        uid: Any = None,
        gid: Any = None,
        usePTY: Any = False,
        childFDs: Any = None,
    ) -> Any:
        if self.failSpawn is not None:
            raise self.failSpawn
        transport = FakeProcess(1000 + len(self.spawned))
        self.spawned.append(
            {
                "protocol": processProtocol,
                "executable": executable,
                "args": args,
                "env": env,
                "childFDs": childFDs,
                "transport": transport,
            }
        )
        processProtocol.makeConnection(transport)
        return transport


def _cannotBuild(info: object) -> object:
    raise RuntimeError("cannot open /nope/out.log")


BROKEN = ProtocolPlugin(name="broken", description="b", stream=_cannotBuild)  # type: ignore[arg-type]


class SupervisorCase(SynchronousTestCase):
    """
    A supervisor of two workers, of a TCP and a UNIX listener.
    """

    def setUp(self) -> None:
        self.reactor = ProcessReactor()
        self.events = EventLoggingObserver.createWithCleanup(
            self,  # type: ignore[arg-type]
            globalLogPublisher,
        )
        self.opened: list[tuple[SharedSocket, int]] = []
        self.ports: dict[str, list[HeldPort]] = {}
        self.failFor: str | None = None
        self.loaded: list[Any] = []
        self.listeners = [
            listener("tcp:0:interface=127.0.0.1", self.reactor),
            listener("unix:/tmp/sp-w.sock", self.reactor, name="u"),
        ]

    def openSockets(
        self, reactor: Any, shared: SharedSocket, workers: int
    ) -> list[HeldPort]:
        self.opened.append((shared, workers))
        if shared.kind == self.failFor:
            raise CannotListenError(None, 1, OSError(98, "in use"))
        if shared.kind == "tcp":
            host: Any = IPv4Address("TCP", "127.0.0.1", 4321)
        else:
            host = UNIXAddress(b"/tmp/sp-w.sock")
        ports = [HeldPort(self, host) for _ in range(shared.count(workers))]
        self.ports[shared.kind] = ports
        return ports

    def load(self) -> tuple[Configuration, str]:
        result = self.loaded.pop(0)
        if isinstance(result, Exception):
            raise result
        return result  # type: ignore[no-any-return]

    def service(
        self, listeners: list[Listener] | None = None, **kwargs: Any
    ) -> WorkersService:
        kwargs.setdefault("shutdownTimeout", 5.0)
        return WorkersService(
            self.reactor,
            self.listeners if listeners is None else listeners,
            2,
            COMMAND,
            config="[listeners]\n",
            writeOutput=lambda data: None,
            openSockets=self.openSockets,  # type: ignore[arg-type]
            **kwargs,
        )

    def started(self, **kwargs: Any) -> WorkersService:
        service = self.service(**kwargs)
        service.privilegedStartService()
        service.startService()
        return service

    def end(self, number: int, reason: BaseException | None = None) -> None:
        """
        The latest process of worker C{number} ends.
        """
        spawned = [s for s in self.reactor.spawned if numberOf(s) == number][-1]
        spawned["transport"].gone = True
        spawned["protocol"].processEnded(Failure(reason or ProcessTerminated(1)))

    def say(self, number: int, *records: dict[str, object]) -> None:
        """
        The latest process of worker C{number} sends C{records} on its log
        channel (C{{"ready": True}}, C{{"beat": True}}).
        """
        spawned = [s for s in self.reactor.spawned if numberOf(s) == number][-1]
        data = b"".join(json.dumps(r).encode() + b"\n" for r in records)
        spawned["protocol"].childDataReceived(3, data)

    def logged(self, level: LogLevel | None = None) -> list[str]:
        return [
            formatEvent(e)
            for e in self.events
            if level is None or e["log_level"] == level
        ]


def numberOf(spawned: dict[str, Any]) -> int:
    return int(json.loads(spawned["env"][ENVIRONMENT])["worker"])


WORKER_ONE_METRICS = """\
# HELP sockplug_connections_total Connections let in
# TYPE sockplug_connections_total counter
sockplug_connections_total{listener="a"} 3.0
# HELP process_open_fds Open files
# TYPE process_open_fds gauge
process_open_fds 12.0
"""


WORKER_TWO_METRICS = """\
# HELP sockplug_connections_total Connections let in
# TYPE sockplug_connections_total counter
sockplug_connections_total{listener="a"} 5.0
"""


def samplesOf(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """
    Every sample of a text, by name and labels.
    """
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
