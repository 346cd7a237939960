"""
Tests for L{sockplug.workers._reload}: SIGHUP with workers, in memory.
"""

from __future__ import annotations

import signal
from typing import Any

from twisted.logger import LogLevel

from sockplug.config._file import Configuration
from sockplug.errors import ConfigError
from sockplug.server._listener import Listener
from sockplug.testing._workers import BROKEN, SupervisorCase, listener
from sockplug.workers._reload import WorkersReloader
from sockplug.workers._supervisor import WorkersService


def _restoreHangup(handler: Any) -> None:
    signal.signal(signal.SIGHUP, signal.SIG_DFL if handler is None else handler)


class ReloaderTests(SupervisorCase):
    """
    SIGHUP: the file goes to the workers if they can apply it.
    """

    def configuration(self, *endpoints: str) -> Configuration:
        return Configuration(
            listeners=(
                listener(endpoints[0], self.reactor),
                *(
                    listener(e, self.reactor, name=f"n{i}")
                    for i, e in enumerate(endpoints[1:])
                ),
            ),
            shutdownTimeout=9.0,
        )

    def reloader(self) -> tuple[WorkersService, WorkersReloader]:
        """
        A started supervisor, and its reloader, which reads L{load}.
        """
        service = self.started()
        reloader = WorkersReloader(self.reactor, self.load, service)
        reloader.startService()
        self.addCleanup(_restoreHangup, signal.getsignal(signal.SIGHUP))
        return service, reloader

    def messages(self) -> list[list[Any]]:
        return [s["transport"].messages()[1:] for s in self.reactor.spawned]

    def test_passedOn(self) -> None:
        """
        A file whose listeners need the sockets held goes to each worker
        (a changed limit, say); a worker started later gets it too.
        """
        self.listeners[1] = listener("unix:/tmp/sp-w.sock", self.reactor, name="n0")
        service, reloader = self.reloader()
        self.loaded.append(
            (
                self.configuration(
                    "tcp:0:interface=127.0.0.1:idle=5", "unix:/tmp/sp-w.sock"
                ),
                "new",
            )
        )
        self.assertTrue(reloader.reload())
        self.assertEqual(self.messages(), [[{"config": "new"}], [{"config": "new"}]])
        self.assertEqual(service.shutdownTimeout, 9.0)
        self.end(1)
        self.reactor.advance(1)
        self.assertEqual(
            self.reactor.spawned[2]["transport"].messages(), [{"config": "new"}]
        )

    def test_newSocket(self) -> None:
        """
        A file that needs another socket is refused, naming the listeners;
        nothing goes to the workers.
        """
        service, reloader = self.reloader()
        self.loaded.append(
            (self.configuration("tcp:0:interface=127.0.0.1", "tcp:9"), "new")
        )
        self.assertFalse(reloader.reload())
        self.assertEqual(self.messages(), [[], []])
        [error] = self.logged(LogLevel.error)
        self.assertIn("added: n0; removed: u", error)
        self.assertIn("restart", error)
        self.assertEqual(service.shutdownTimeout, 5.0)

    def test_badFile(self) -> None:
        """
        A file with problems is refused, each problem logged.
        """
        _, reloader = self.reloader()
        self.loaded.append(ConfigError(["f: one", "f: two"]))
        self.assertFalse(reloader.reload())
        self.assertEqual(
            self.logged(LogLevel.error),
            [
                "reload: f: one",
                "reload: f: two",
                "reload failed: 2 problems in the file; nothing changed",
            ],
        )

    def test_cannotBuild(self) -> None:
        """
        A file whose protocol cannot start is refused.
        """
        _, reloader = self.reloader()
        first = self.listeners[0]
        broken = Listener(first.spec, first.endpoint, BROKEN)
        self.loaded.append((Configuration(listeners=(broken,)), "new"))
        self.assertFalse(reloader.reload())
        self.assertIn("/nope/out.log", self.logged(LogLevel.error)[0])

    def test_stopping(self) -> None:
        """
        While the supervisor stops, or once the reloader has stopped, a
        reload is ignored, and the handler stays (a SIGHUP does not end the
        process).
        """
        service, reloader = self.reloader()
        reloader.stopService()
        self.assertFalse(reloader.reload())
        self.assertTrue(callable(signal.getsignal(signal.SIGHUP)))
        reloader.startService()
        service.stopService()
        self.assertFalse(reloader.reload())
        self.assertEqual(
            self.logged().count("SIGHUP ignored: the server is stopping"), 2
        )

    def test_hangup(self) -> None:
        """
        Starting installs a SIGHUP handler that hands the reload to the
        reactor.
        """
        _, reloader = self.reloader()
        handler = signal.getsignal(signal.SIGHUP)
        assert callable(handler)
        calls: list[Any] = []
        self.reactor.callFromThread = lambda f, *a: calls.append(f)  # type: ignore[attr-defined]
        handler(signal.SIGHUP, None)
        self.assertEqual(calls, [reloader.reload])

    def test_counts(self) -> None:
        """
        Reloads done and failed are counted.
        """
        _, reloader = self.reloader()
        self.loaded.append(ConfigError(["f: one"]))
        self.loaded.append((Configuration(listeners=tuple(self.listeners)), "same"))
        reloader.reload()
        reloader.reload()
        self.assertEqual(reloader.reloads, {"done": 1, "failed": 1})
