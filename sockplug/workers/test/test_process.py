"""
Tests for L{sockplug.workers._process}.
"""

from __future__ import annotations

import json
from typing import cast

from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.logger import ILogObserver, LogEvent, formatEvent
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from sockplug.testing._workers import FakeProcess
from sockplug.workers._process import (
    ENVIRONMENT,
    Backoff,
    WorkerCommand,
    WorkerProcess,
    describeEnd,
)


class WorkerCommandTests(SynchronousTestCase):
    """
    Tests for L{WorkerCommand.forWorker}.
    """

    def test_forWorker(self) -> None:
        """
        A worker gets pipes on descriptors 0 to 3, then its sockets from 4
        on in the listeners' order; its environment adds its description
        (number, reactor, and where each listener's socket is) to the
        supervisor's.
        """
        command = WorkerCommand("python", ("python", "-c", "x"), {"A": "1"})
        env, childFDs = command.forWorker(
            2, {"b": (17, "id-b"), "a": (9, "id-a")}, "r.mod"
        )
        self.assertEqual(childFDs, {0: "w", 1: "r", 2: "r", 3: "r", 4: 17, 5: 9})
        self.assertEqual(env["A"], "1")
        self.assertEqual(
            json.loads(env[ENVIRONMENT]),
            {
                "worker": 2,
                "reactor": "r.mod",
                "sockets": {
                    "b": {"fd": 4, "identity": "id-b"},
                    "a": {"fd": 5, "identity": "id-a"},
                },
            },
        )

    def test_heartbeat(self) -> None:
        """
        A worker is told how often to beat, if it is to.
        """
        command = WorkerCommand("python", ("python", "-c", "x"), {})
        env, _ = command.forWorker(1, {}, "r.mod", heartbeat=0.25)
        self.assertEqual(json.loads(env[ENVIRONMENT])["heartbeat"], 0.25)
        env, _ = command.forWorker(1, {}, "r.mod")
        self.assertNotIn("heartbeat", json.loads(env[ENVIRONMENT]))


class BackoffTests(SynchronousTestCase):
    """
    Tests for L{Backoff}.
    """

    def test_doubling(self) -> None:
        """
        A worker that keeps ending soon waits twice as long each time, up
        to the cap.
        """
        backoff = Backoff(initial=0.5, cap=3, stable=10)
        self.assertEqual([backoff.delay(1) for _ in range(5)], [0.5, 1, 2, 3, 3])

    def test_reset(self) -> None:
        """
        A worker that ran for a while starts again after the first wait.
        """
        backoff = Backoff(initial=0.5, cap=30, stable=10)
        backoff.delay(0)
        backoff.delay(0)
        self.assertEqual(backoff.delay(10), 0.5)
        self.assertEqual(backoff.delay(1), 1)


class DescribeEndTests(SynchronousTestCase):
    """
    Tests for L{describeEnd}.
    """

    def test_status(self) -> None:
        """
        An exit says its status.
        """
        self.assertEqual(
            describeEnd(Failure(ProcessTerminated(exitCode=3))),
            "exited with status 3",
        )
        self.assertEqual(describeEnd(Failure(ProcessDone(0))), "exited with status 0")

    def test_signal(self) -> None:
        """
        A death by a signal names it.
        """
        self.assertEqual(
            describeEnd(Failure(ProcessTerminated(signal=9))), "was killed by SIGKILL"
        )
        self.assertEqual(
            describeEnd(Failure(ProcessTerminated(signal=200))),
            "was killed by signal 200",
        )


class WorkerProcessTests(SynchronousTestCase):
    """
    Tests for L{WorkerProcess}.
    """

    def setUp(self) -> None:
        self.output: list[bytes] = []
        self.readied: list[WorkerProcess] = []
        self.beats: list[WorkerProcess] = []
        self.ended: list[tuple[WorkerProcess, Failure]] = []
        self.events: list[LogEvent] = []
        self.process = WorkerProcess(
            3,
            "[listeners]\n",
            writeOutput=self.output.append,
            onReady=self.readied.append,
            onEnded=lambda p, r: self.ended.append((p, r)),
            onBeat=self.beats.append,
            observer=cast(ILogObserver, self.events.append),
        )
        self.transport = FakeProcess(77)
        self.process.makeConnection(self.transport)

    def test_configuration(self) -> None:
        """
        A worker is sent the configuration at once, and each new one.
        """
        self.process.configure(None)
        self.assertEqual(
            self.transport.messages(), [{"config": "[listeners]\n"}, {"config": None}]
        )
        self.assertEqual(self.process.pid, 77)

    def test_configurationAfterEnd(self) -> None:
        """
        A configuration for a worker whose pipe is gone is dropped.
        """
        self.transport.gone = True
        self.process.configure("x")
        self.assertEqual(len(self.transport.messages()), 1)

    def test_output(self) -> None:
        """
        Its standard output is passed on in whole lines, and what is left
        at its end with a line end.
        """
        self.process.childDataReceived(1, b"a\nb")
        self.process.childDataReceived(1, b"c\n")
        self.process.childDataReceived(1, b"d")
        self.process.childConnectionLost(1)
        self.assertEqual(self.output, [b"a\n", b"bc\n", b"d\n"])

    def test_log(self) -> None:
        """
        Its log lines are logged again, after its number.
        """
        record = {"level": "info", "namespace": "n", "text": "hello"}
        self.process.childDataReceived(3, json.dumps(record).encode() + b"\n")
        self.assertEqual(formatEvent(self.events[0]), "worker 3: hello")

    def test_stderr(self) -> None:
        """
        Lines of its standard error are logged, saying so.
        """
        self.process.childDataReceived(2, b"Fatal Python error\nmore")
        self.process.processEnded(Failure(ProcessDone(0)))
        self.assertEqual(
            [formatEvent(e) for e in self.events],
            ["worker 3 (stderr): Fatal Python error", "worker 3 (stderr): more"],
        )

    def test_ready(self) -> None:
        """
        Its ready line is told once.
        """
        self.process.childDataReceived(3, b'{"ready": true}\n{"ready": true}\n')
        self.assertEqual(self.readied, [self.process])
        self.assertTrue(self.process.ready)

    def test_beat(self) -> None:
        """
        Each beat line is told, and neither logged nor taken for ready.
        """
        self.process.childDataReceived(3, b'{"beat": true}\n{"beat": true}\n')
        self.assertEqual(self.beats, [self.process, self.process])
        self.assertEqual((self.readied, self.events), ([], []))

    def test_ended(self) -> None:
        """
        Its end is told, with why.
        """
        reason = Failure(ProcessTerminated(signal=9))
        self.process.processEnded(reason)
        self.assertEqual(self.ended, [(self.process, reason)])

    def test_signal(self) -> None:
        """
        A signal is sent while it runs; after its end, sending one says
        it was not running.
        """
        self.assertTrue(self.process.signal("TERM"))
        self.transport.gone = True
        self.assertFalse(self.process.signal("KILL"))
        self.assertEqual(self.transport.signals, ["TERM"])

    def test_otherDescriptors(self) -> None:
        """
        Data on a descriptor it was not given is ignored.
        """
        self.process.childDataReceived(9, b"x\n")
        self.assertEqual((self.output, self.events), ([], []))
