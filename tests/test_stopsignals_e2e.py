"""
End-to-end tests of a second SIGINT or SIGTERM while a real twistd
sockplug process stops: the open connections are closed at once, and
nothing is logged as a crash (Twisted's own handler raised
C{ReactorNotRunning}, logged as a critical traceback); with C{--workers},
a Ctrl-C (SIGINT to the whole process group) stops the workers once,
through their supervisor.
"""

from __future__ import annotations

import os
import signal
import time

from twisted.trial.unittest import SynchronousTestCase

from tests.harness import (
    IO_TIMEOUT,
    Server,
    connect,
    fillUntilStalled,
    receive,
    receiveLine,
)
from tests.workersrun import Workers

TCP = "tcp:0:interface=127.0.0.1"
# A grace period no test here waits out.
LONG_GRACE = 30
# How long after the second signal the process must have ended: the
# gentle close at once, the abort a second later, and slack.
HURRIED = 6.0


def waitFor(server: Server, text: str) -> None:
    """Wait until C{text} is in the server's output."""
    server.waitForLineMatching(lambda line: text in line, IO_TIMEOUT, repr(text))


def assertNoCrash(testCase: SynchronousTestCase, output: str) -> None:
    """Nothing in C{output} is a traceback or a critical line."""
    for bad in ("Traceback", "#critical]", "ReactorNotRunning"):
        testCase.assertNotIn(bad, output)


class SecondSignalTests(SynchronousTestCase):
    """
    One process: SIGTERM, then SIGTERM or SIGINT again.
    """

    def setUp(self) -> None:
        self.server = Server.start(
            self, "--shutdown-timeout", str(LONG_GRACE), "-e", TCP
        )
        self.client = connect(self, self.server.inet(TCP))
        self.client.sendall(b"before\n")
        self.assertEqual(receiveLine(self.client), b"before\n")
        self.server.process.send_signal(signal.SIGTERM)
        waitFor(self.server, "stopping: waiting up to")

    def assertHurried(self, again: signal.Signals) -> None:
        sent = time.monotonic()
        self.server.process.send_signal(again)
        self.assertEqual(receive(self.client, None, HURRIED), b"")
        self.server.process.wait(HURRIED)
        self.assertLess(time.monotonic() - sent, HURRIED)
        output = self.server.output()
        self.assertIn(f"stopping: {again.name} again: no more waiting", output)
        self.assertIn("stopping: closing 1 open connection at once", output)
        assertNoCrash(self, output)

    def test_sigterm(self) -> None:
        """
        A second SIGTERM closes the open connection at once, and the
        process ends, without a traceback.
        """
        self.assertHurried(signal.SIGTERM)

    def test_sigint(self) -> None:
        """
        A SIGINT after SIGTERM does the same.
        """
        self.assertHurried(signal.SIGINT)

    def test_third(self) -> None:
        """
        A third signal, while a connection that cannot close gently waits
        for its abort, is ignored, saying so.
        """
        fillUntilStalled(self, self.client)
        self.server.process.send_signal(signal.SIGTERM)
        waitFor(self.server, "no more waiting")
        self.server.process.send_signal(signal.SIGTERM)
        waitFor(self.server, "SIGTERM ignored, already closing connections")
        self.server.process.wait(HURRIED)
        assertNoCrash(self, self.server.output())


class WorkersTests(SynchronousTestCase):
    """
    C{--workers 2}: Ctrl-C, and a second one.
    """

    def setUp(self) -> None:
        self.workers = Workers.run(
            self, "--shutdown-timeout", str(LONG_GRACE), "-e", TCP
        )
        self.client = connect(self, self.workers.inet(TCP))
        self.client.sendall(b"before\n")
        self.assertEqual(receiveLine(self.client), b"before\n")

    def interrupt(self) -> None:
        """
        A Ctrl-C: SIGINT to the supervisor and to every worker, as a
        terminal sends it to the process group.
        """
        pids = [self.workers.process.pid, *self.workers.serving().values()]
        for pid in pids:
            os.kill(pid, signal.SIGINT)

    def test_ctrlCIsGraceful(self) -> None:
        """
        A Ctrl-C stops the workers once, gracefully: the open connection is
        still echoed, and nothing crashes.
        """
        self.interrupt()
        waitFor(self.workers, "stopping: waiting up to")
        self.client.sendall(b"during\n")
        self.assertEqual(receiveLine(self.client), b"during\n")
        assertNoCrash(self, self.workers.output())

    def test_secondCtrlC(self) -> None:
        """
        A second Ctrl-C closes the open connection at once, and everything
        ends, without a traceback.
        """
        self.interrupt()
        waitFor(self.workers, "stopping: waiting up to")
        sent = time.monotonic()
        self.interrupt()
        self.assertEqual(receive(self.client, None, HURRIED), b"")
        self.workers.process.wait(HURRIED)
        self.assertLess(time.monotonic() - sent, HURRIED)
        output = self.workers.output()
        self.assertIn("stopping: SIGINT again: no more waiting", output)
        assertNoCrash(self, output)
