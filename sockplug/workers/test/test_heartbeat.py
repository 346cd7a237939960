"""
Tests for L{sockplug.workers._heartbeat}: a worker's reactor beats, and
the supervisor kills one whose beats stop, on a fake clock.
"""

from __future__ import annotations

import os

from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from sockplug.testing._workers import FakeProcess
from sockplug.workers._heartbeat import (
    STARTUP_ALLOWANCE,
    Heartbeats,
    beating,
    beatInterval,
    canWrite,
)
from sockplug.workers._process import WorkerProcess


class IntervalTests(SynchronousTestCase):
    """
    Tests for L{beatInterval}.
    """

    def test_interval(self) -> None:
        """
        A worker beats every second, or four times per timeout if that is
        shorter; a timeout of 0 means no heartbeat.
        """
        self.assertEqual(
            [beatInterval(t) for t in (30.0, 5.0, 2.0, 0.4, 0.0)],
            [1.0, 1.0, 0.5, 0.1, None],
        )


class BeatingTests(SynchronousTestCase):
    """
    Tests for L{beating}, the worker's end.
    """

    def test_beats(self) -> None:
        """
        A worker beats at once, then every interval while its reactor
        turns.
        """
        clock = MemoryReactorClock()
        beats: list[float] = []
        beating(clock, lambda: beats.append(clock.seconds()), 0.5)
        clock.pump([0.5] * 4)
        self.assertEqual(beats, [0.0, 0.5, 1.0, 1.5, 2.0])

    def test_stalled(self) -> None:
        """
        A reactor that stalls beats once when it turns again, not once per
        interval missed.
        """
        clock = MemoryReactorClock()
        beats: list[float] = []
        beating(clock, lambda: beats.append(clock.seconds()), 0.5)
        clock.advance(8)
        self.assertEqual(beats, [0.0, 8.0])

    def test_fullPipe(self) -> None:
        """
        A pipe with room takes a beat; a full one (its reader has stopped)
        does not, so that a beat never waits.
        """
        reader, writer = os.pipe()
        self.addCleanup(os.close, reader)
        self.addCleanup(os.close, writer)
        self.assertTrue(canWrite(writer))
        os.set_blocking(writer, False)
        while True:
            try:
                os.write(writer, b"x" * 4096)
            except BlockingIOError:
                break
        self.assertFalse(canWrite(writer))
        os.read(reader, 65536)
        self.assertTrue(canWrite(writer))


class HeartbeatsTests(SynchronousTestCase):
    """
    Tests for L{Heartbeats}, the supervisor's end.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.events = EventLoggingObserver.createWithCleanup(
            self,  # type: ignore[arg-type]
            globalLogPublisher,
        )
        self.killed: list[WorkerProcess] = []
        self.heartbeats = Heartbeats(self.clock, 2.0, self.killed.append)
        self.heartbeats.start()

    def worker(self, number: int = 1, ready: bool = True) -> WorkerProcess:
        """
        A worker process (in memory) just started, said serving if
        C{ready}.
        """
        process = WorkerProcess(
            number,
            None,
            writeOutput=lambda data: None,
            onReady=lambda p: None,
            onEnded=lambda p, r: None,
        )
        process.makeConnection(FakeProcess(1000 + number))
        self.heartbeats.watch(process)
        if ready:
            self.heartbeats.ready(process)
        return process

    def signals(self, process: WorkerProcess) -> list[str]:
        transport = process.transport
        assert isinstance(transport, FakeProcess)
        return transport.signals

    def errors(self) -> list[str]:
        return [formatEvent(e) for e in self.events if e["log_level"] == LogLevel.error]

    def test_beatsKeepAlive(self) -> None:
        """
        A worker that beats within the timeout is left alone, however long
        it runs.
        """
        process = self.worker()
        for _ in range(200):
            self.clock.advance(0.5)
            self.heartbeats.beat(process)
        self.assertEqual(
            (self.signals(process), self.killed, self.errors()), ([], [], [])
        )

    def test_silentKilled(self) -> None:
        """
        A serving worker silent for longer than the timeout is sent
        SIGKILL, told of, and logged in one line naming it, its pid and
        its silence.
        """
        process = self.worker(2)
        self.clock.pump([0.5] * 4)
        self.assertEqual(self.signals(process), [])
        self.clock.advance(0.5)
        self.assertEqual(self.signals(process), ["KILL"])
        self.assertEqual(self.killed, [process])
        self.assertEqual(
            self.errors(),
            [
                "worker 2 (pid 1002) is unresponsive: no heartbeat for 2.5 s"
                " (--worker-timeout 2); killing it"
            ],
        )

    def test_killedOnce(self) -> None:
        """
        A worker killed for its silence is killed and logged once, however
        long it takes to end.
        """
        process = self.worker()
        self.clock.pump([0.5] * 20)
        self.assertEqual(self.signals(process), ["KILL"])
        self.assertEqual((len(self.killed), len(self.errors())), (1, 1))

    def test_onlySilentOne(self) -> None:
        """
        Of two workers, only the silent one is killed.
        """
        silent, beating = self.worker(1), self.worker(2)
        for _ in range(10):
            self.clock.advance(0.5)
            self.heartbeats.beat(beating)
        self.assertEqual((self.signals(silent), self.signals(beating)), (["KILL"], []))

    def test_startup(self) -> None:
        """
        Before it says it serves, a worker gets L{STARTUP_ALLOWANCE}
        rather than the timeout, and is logged as not started when that
        has passed.
        """
        process = self.worker(ready=False)
        self.clock.pump([0.5] * int(STARTUP_ALLOWANCE * 2))
        self.assertEqual(self.signals(process), [])
        self.clock.advance(0.5)
        self.assertEqual(self.signals(process), ["KILL"])
        self.assertEqual(
            self.errors(),
            ["worker 1 (pid 1001) has not started serving in 60.5 s; killing it"],
        )

    def test_readyStartsTimeout(self) -> None:
        """
        Once a worker says it serves, the timeout counts from then.
        """
        process = self.worker(ready=False)
        self.clock.pump([0.5] * 20)
        self.heartbeats.ready(process)
        self.clock.pump([0.5] * 4)
        self.assertEqual(self.signals(process), [])
        self.clock.advance(0.5)
        self.assertEqual(self.signals(process), ["KILL"])

    def test_forgotten(self) -> None:
        """
        A worker that has ended is not watched any more.
        """
        process = self.worker()
        self.heartbeats.forget(process)
        self.clock.pump([0.5] * 10)
        self.assertEqual((self.signals(process), self.killed), ([], []))

    def test_stopped(self) -> None:
        """
        Once stopped (the supervisor stops), no worker is killed for its
        silence.
        """
        process = self.worker()
        self.heartbeats.stop()
        self.clock.pump([0.5] * 10)
        self.assertEqual((self.signals(process), self.killed), ([], []))

    def test_supervisorStalled(self) -> None:
        """
        When the supervisor's own timer comes late (its reactor stalled,
        the machine slept, the clock jumped), silence counts again from
        then: a worker that beats on is not killed.
        """
        process = self.worker()
        self.clock.advance(30)
        self.heartbeats.beat(process)
        self.clock.advance(0.5)
        self.assertEqual(self.signals(process), [])

    def test_silentAfterStall(self) -> None:
        """
        After the supervisor stalled, a worker that stays silent is killed
        one timeout later.
        """
        process = self.worker()
        self.clock.advance(30)
        self.clock.pump([0.5] * 4)
        self.assertEqual(self.signals(process), [])
        self.clock.advance(0.5)
        self.assertEqual(self.signals(process), ["KILL"])

    def test_disabled(self) -> None:
        """
        With a timeout of 0, nothing is watched: no worker is ever killed.
        """
        self.heartbeats.stop()
        self.heartbeats = Heartbeats(self.clock, 0.0, self.killed.append)
        self.heartbeats.start()
        process = self.worker()
        self.clock.pump([10.0] * 100)
        self.assertEqual((self.signals(process), self.killed), ([], []))
        self.assertEqual(self.clock.getDelayedCalls(), [])
