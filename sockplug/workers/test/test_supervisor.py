"""
Tests for L{sockplug.workers._supervisor}: the supervisor of C{--workers N}, with
worker processes and sockets in memory.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.error import ProcessTerminated
from twisted.logger import LogLevel, formatEvent

from sockplug.errors import ListenFailed
from sockplug.logs import RATE_LIMITED
from sockplug.server._listener import Listener
from sockplug.testing._workers import (
    BROKEN,
    COMMAND,
    SupervisorCase,
)
from sockplug.testing._workers import numberOf as _numberOf
from sockplug.workers._process import ENVIRONMENT, Backoff
from sockplug.workers._supervisor import KILL_MARGIN, WorkersService


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

    def test_startLinesNotHeldBack(self) -> None:
        """
        The lines saying where each listener listens, and how its sockets
        are shared, are marked as limited already: the process's log
        limit lets them through, however many listeners there are.
        """
        self.service().privilegedStartService()
        lines = [
            e
            for e in self.events
            if "listening on" in formatEvent(e) or "socket options" in formatEvent(e)
        ]
        self.assertEqual([e.get(RATE_LIMITED) for e in lines], [True] * 4)

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


class UnresponsiveTests(SupervisorCase):
    """
    A worker whose reactor stops turning (its heartbeat falls silent) is
    killed and started again.
    """

    def serving(self, **kwargs: Any) -> WorkersService:
        """
        A supervisor of two workers that both say they serve.
        """
        service = self.started(
            workerTimeout=2.0, backoff=lambda: Backoff(initial=0.5), **kwargs
        )
        self.say(1, {"ready": True})
        self.say(2, {"ready": True})
        return service

    def test_heartbeatGiven(self) -> None:
        """
        Each worker is told how often to beat: four times per timeout, at
        most every second.
        """
        self.started(workerTimeout=2.0)
        for spawned in self.reactor.spawned:
            description = json.loads(spawned["env"][ENVIRONMENT])
            self.assertEqual(description["heartbeat"], 0.5)

    def test_beatsKeepAlive(self) -> None:
        """
        Workers that beat are never killed.
        """
        self.serving()
        for _ in range(100):
            self.reactor.advance(0.5)
            self.say(1, {"beat": True})
            self.say(2, {"beat": True})
        signals = [s["transport"].signals for s in self.reactor.spawned]
        self.assertEqual(signals, [[], []])
        self.assertEqual(self.logged(LogLevel.error), [])

    def test_silentRestarted(self) -> None:
        """
        A worker silent past the timeout is logged once, sent SIGKILL,
        counted, and once reaped started again on the same sockets after
        the usual pause; the other one is left alone.
        """
        service = self.serving()
        for _ in range(5):
            self.reactor.advance(0.5)
            self.say(2, {"beat": True})
        first, second = (s["transport"] for s in self.reactor.spawned)
        self.assertEqual((first.signals, second.signals), (["KILL"], []))
        self.assertEqual(
            self.logged(LogLevel.error),
            [
                "worker 1 (pid 1000) is unresponsive: no heartbeat for 2.5 s"
                " (--worker-timeout 2); killing it"
            ],
        )
        self.assertEqual(service.slots[0].unresponsive, 1)
        self.end(1, ProcessTerminated(signal=9))
        self.assertIn("worker 1 was killed by SIGKILL after 2.5 s", self.logged())
        self.reactor.advance(0.5)
        [again] = self.reactor.spawned[2:]
        self.assertEqual(_numberOf(again), 1)
        self.assertEqual(again["childFDs"], self.reactor.spawned[0]["childFDs"])
        self.assertEqual(
            (service.slots[0].restarts, service.slots[1].unresponsive), (1, 0)
        )

    def test_newWorkerWatched(self) -> None:
        """
        The worker started in place of a killed one is watched in its turn.
        """
        service = self.serving()
        self.reactor.pump([0.5] * 5)
        self.end(1, ProcessTerminated(signal=9))
        self.end(2, ProcessTerminated(signal=9))
        self.reactor.advance(0.5)
        self.say(1, {"ready": True})
        self.reactor.pump([0.5] * 5)
        self.assertEqual(self.reactor.spawned[2]["transport"].signals, ["KILL"])
        self.assertEqual([s.unresponsive for s in service.slots], [2, 1])

    def test_notDuringStop(self) -> None:
        """
        While the supervisor stops, a silent worker is left to the stop's
        own SIGTERM and SIGKILL.
        """
        service = self.serving(shutdownTimeout=30.0)
        stopping = service.stopService()
        self.reactor.advance(20)
        signals = [s["transport"].signals for s in self.reactor.spawned]
        self.assertEqual(signals, [["TERM"], ["TERM"]])
        self.assertEqual(self.logged(LogLevel.error), [])
        self.end(1, ProcessTerminated(0))
        self.end(2, ProcessTerminated(0))
        self.successResultOf(stopping)

    def test_disabled(self) -> None:
        """
        With a timeout of 0, workers are not told to beat, and a silent one
        is never killed.
        """
        self.started(workerTimeout=0.0)
        self.say(1, {"ready": True})
        self.reactor.advance(3600)
        spawned = self.reactor.spawned[0]
        self.assertNotIn("heartbeat", json.loads(spawned["env"][ENVIRONMENT]))
        self.assertEqual(spawned["transport"].signals, [])
