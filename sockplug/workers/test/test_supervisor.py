"""
Tests for L{sockplug.workers._supervisor}: the supervisor of C{--workers N}, with
worker processes and sockets in memory.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from twisted.internet.address import IPv4Address, UNIXAddress
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import CannotListenError, ProcessTerminated
from twisted.internet.interfaces import IListeningPort
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from sockplug.config._file import Configuration
from sockplug.errors import ListenFailed
from sockplug.plugin import ProtocolPlugin
from sockplug.server._listener import Listener
from sockplug.workers._process import ENVIRONMENT, Backoff, WorkerCommand
from sockplug.workers._sockets import SharedSocket
from sockplug.workers._supervisor import KILL_MARGIN, WorkersService
from sockplug.workers.test.test_process import FakeProcess
from sockplug.workers.test.test_sockets import listener

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
        super().__init__()
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
        spawned = [s for s in self.reactor.spawned if _numberOf(s) == number][-1]
        spawned["transport"].gone = True
        spawned["protocol"].processEnded(Failure(reason or ProcessTerminated(1)))

    def logged(self, level: LogLevel | None = None) -> list[str]:
        return [
            formatEvent(e)
            for e in self.events
            if level is None or e["log_level"] == level
        ]


def _numberOf(spawned: dict[str, Any]) -> int:
    return int(json.loads(spawned["env"][ENVIRONMENT])["worker"])


class StartTests(SupervisorCase):
    """
    Starting: the sockets first, then the workers.
    """

    def test_sockets(self) -> None:
        """
        Each listener's sockets are made for the workers, and its address
        logged once.
        """
        self.service().privilegedStartService()
        self.assertEqual(
            [(shared.kind, workers) for shared, workers in self.opened],
            [("tcp", 2), ("unix", 2)],
        )
        self.assertEqual([len(self.ports["tcp"]), len(self.ports["unix"])], [2, 1])
        listening = [line for line in self.logged() if "listening on" in line]
        self.assertEqual(
            listening,
            [
                "echo listening on tcp:0:interface=127.0.0.1 (127.0.0.1:4321)",
                "echo listening on unix:/tmp/sp-w.sock (/tmp/sp-w.sock)",
            ],
        )
        self.assertEqual(self.reactor.spawned, [])

    def test_listenFailure(self) -> None:
        """
        A listener that cannot listen fails the start in one line naming
        it; the sockets made already are closed, and no worker starts.
        """
        self.failFor = "unix"
        service = self.service()
        e = self.assertRaises(ListenFailed, service.privilegedStartService)
        self.assertIn("/tmp/sp-w.sock", str(e))
        self.assertEqual([port.lost for port in self.ports["tcp"]], [1, 1])
        self.assertEqual(len(self.logged(LogLevel.critical)), 1)
        self.assertEqual(self.reactor.spawned, [])

    def test_protocolCannotStart(self) -> None:
        """
        A protocol that cannot start fails the start before any socket is
        made, saying why.
        """
        broken = Listener(
            self.listeners[0].spec, self.listeners[0].endpoint, BROKEN, "b"
        )
        service = self.service([broken])
        e = self.assertRaises(ListenFailed, service.privilegedStartService)
        self.assertIn("cannot open /nope/out.log", str(e))
        self.assertEqual(self.opened, [])

    def test_spawn(self) -> None:
        """
        Each worker is the same Python, given its sockets (a TCP listener's
        own, a UNIX listener's shared) from descriptor 4 on, its
        environment, and the configuration's text.
        """
        self.started()
        self.assertEqual(len(self.reactor.spawned), 2)
        tcp, [unix] = self.ports["tcp"], self.ports["unix"]
        for number, spawned in enumerate(self.reactor.spawned, 1):
            self.assertEqual(spawned["executable"], "/usr/bin/python3")
            self.assertEqual(spawned["args"], COMMAND.args)
            self.assertEqual(spawned["env"]["A"], "b")
            description = json.loads(spawned["env"][ENVIRONMENT])
            self.assertEqual(description["worker"], number)
            self.assertEqual(
                spawned["childFDs"],
                {
                    0: "w",
                    1: "r",
                    2: "r",
                    3: "r",
                    4: tcp[number - 1].socket.fileno(),
                    5: unix.socket.fileno(),
                },
            )
            self.assertEqual(sorted(description["sockets"]), ["--endpoint #1", "u"])
            self.assertEqual(
                spawned["transport"].messages(), [{"config": "[listeners]\n"}]
            )
        self.assertIn("worker 2 started (pid 1001)", self.logged())

    def test_ready(self) -> None:
        """
        A worker that says it listens is logged as serving.
        """
        self.started()
        self.reactor.spawned[1]["protocol"].childDataReceived(3, b'{"ready":true}\n')
        self.assertIn("worker 2 (pid 1001) is serving", self.logged())


class RestartTests(SupervisorCase):
    """
    A worker that ends is started again.
    """

    def test_restart(self) -> None:
        """
        A worker that ends is logged with how it ended, and started again
        on the same sockets after a pause.
        """
        self.started(backoff=lambda: Backoff(initial=0.5, stable=10))
        self.reactor.advance(1)
        self.end(1, ProcessTerminated(signal=9))
        self.assertIn("worker 1 was killed by SIGKILL after 1.0 s", self.logged())
        self.reactor.advance(0.4)
        self.assertEqual(len(self.reactor.spawned), 2)
        self.reactor.advance(0.1)
        self.assertEqual(len(self.reactor.spawned), 3)
        again = self.reactor.spawned[2]
        self.assertEqual(_numberOf(again), 1)
        self.assertEqual(again["childFDs"], self.reactor.spawned[0]["childFDs"])

    def test_backoff(self) -> None:
        """
        A worker that keeps ending at once waits longer each time.
        """
        self.started(backoff=lambda: Backoff(initial=0.5, stable=10))
        delays = []
        for _ in range(3):
            self.end(2)
            before = len(self.reactor.spawned)
            waited = 0.0
            while len(self.reactor.spawned) == before:
                self.reactor.advance(0.25)
                waited += 0.25
            delays.append(waited)
        self.assertEqual(delays, [0.5, 1.0, 2.0])

    def test_spawnFails(self) -> None:
        """
        A worker that cannot be started is tried again later.
        """
        self.reactor.failSpawn = OSError(24, "Too many open files")
        self.started()
        self.assertEqual(self.reactor.spawned, [])
        self.assertEqual(len(self.logged(LogLevel.error)), 2)
        self.reactor.failSpawn = None
        self.reactor.advance(0.1)
        self.assertEqual(len(self.reactor.spawned), 2)


class ConfigureTests(SupervisorCase):
    """
    Tests for L{WorkersService.configure}.
    """

    def test_configure(self) -> None:
        """
        The text goes to each running worker, and to each started later;
        a shutdown timeout given is taken.
        """
        service = self.started()
        self.end(1)
        self.assertEqual(service.configure("new", 9.0), 1)
        self.assertEqual(service.shutdownTimeout, 9.0)
        self.assertEqual(
            self.reactor.spawned[1]["transport"].messages()[1:], [{"config": "new"}]
        )
        self.reactor.advance(1)
        self.assertEqual(
            self.reactor.spawned[2]["transport"].messages(), [{"config": "new"}]
        )

    def test_keepTimeout(self) -> None:
        """
        Without a shutdown timeout, the one in force stays.
        """
        service = self.started()
        service.configure("new")
        self.assertEqual(service.shutdownTimeout, 5.0)

    def test_identities(self) -> None:
        """
        The sockets held are named by listener.
        """
        service = self.started()
        self.assertEqual(list(service.identities), ["--endpoint #1", "u"])
        self.assertIn("port=0", service.identities["--endpoint #1"])


class StopTests(SupervisorCase):
    """
    Stopping: SIGTERM to every worker, a bounded wait.
    """

    def test_term(self) -> None:
        """
        Each worker is sent SIGTERM and the held sockets are closed; the
        stop is done once every worker has ended.
        """
        service = self.started()
        stopping = service.stopService()
        for spawned in self.reactor.spawned:
            self.assertEqual(spawned["transport"].signals, ["TERM"])
        self.assertEqual(
            [p.stopped for p in self.ports["tcp"] + self.ports["unix"]], [1, 1, 1]
        )
        self.end(1, ProcessTerminated(0))
        self.assertNoResult(stopping)
        self.end(2, ProcessTerminated(0))
        self.successResultOf(stopping)
        self.assertIn(
            "worker 2 (pid 1001) stopped: it exited with status 0", self.logged()
        )

    def test_noRestart(self) -> None:
        """
        A worker that ends while stopping, or was waiting to start again,
        is not started again.
        """
        service = self.started()
        self.end(1)
        stopping = service.stopService()
        self.end(2)
        self.reactor.advance(60)
        self.successResultOf(stopping)
        self.assertEqual(len(self.reactor.spawned), 2)

    def test_kill(self) -> None:
        """
        A worker that has not ended its shutdown timeout and a margin after
        SIGTERM is sent SIGKILL.
        """
        service = self.started(shutdownTimeout=2.0)
        stopping = service.stopService()
        self.end(1, ProcessTerminated(0))
        self.reactor.advance(2 + KILL_MARGIN - 0.1)
        self.assertEqual(self.reactor.spawned[1]["transport"].signals, ["TERM"])
        self.reactor.advance(0.1)
        self.assertEqual(self.reactor.spawned[1]["transport"].signals, ["TERM", "KILL"])
        self.assertNoResult(stopping)
        self.end(2, ProcessTerminated(signal=9))
        self.successResultOf(stopping)

    def test_giveUp(self) -> None:
        """
        If a killed worker is still not seen to end, the stop is done after
        another margin, saying so.
        """
        service = self.started(shutdownTimeout=1.0)
        stopping = service.stopService()
        self.reactor.advance(1 + KILL_MARGIN)
        self.assertNoResult(stopping)
        self.reactor.advance(KILL_MARGIN)
        self.successResultOf(stopping)
        self.assertEqual(len(self.logged(LogLevel.error)), 1)
