"""
Tests for L{sockplug.server._hangup}: reloading the configuration on SIGHUP.
"""

from __future__ import annotations

import signal
from collections.abc import Callable

from twisted.internet.defer import Deferred, fail
from twisted.logger import LogLevel

from sockplug.config._file import Configuration
from sockplug.errors import ConfigError
from sockplug.server._hangup import ConfigReloader, NothingToReload
from sockplug.server._reload import (
    ReloadPlan,
    ReloadReport,
)
from sockplug.server._service import ListenersService
from sockplug.testing._server import RELOAD_ONE as _ONE
from sockplug.testing._server import RELOAD_TWO as _TWO
from sockplug.testing._server import RELOAD_TWO_AND_B as _TWO_AND_B
from sockplug.testing._server import ServiceCase as _ServiceCase


class _Listeners(ListenersService):
    """
    A service whose reload fails with an unexpected error.
    """

    def reload(self, configuration: Configuration) -> Deferred[ReloadReport]:
        return fail(RuntimeError("unexpected"))


def _previous(signum: int, frame: object) -> None:
    """
    A SIGHUP handler installed before the reloader's.
    """


class ConfigReloaderTests(_ServiceCase):
    """
    Tests for L{ConfigReloader}.
    """

    def setUp(self) -> None:
        super().setUp()
        original = signal.getsignal(signal.SIGHUP)
        self.addCleanup(
            signal.signal,
            signal.SIGHUP,
            signal.SIG_DFL if original is None else original,
        )
        self.loads = 0

    def reloader(
        self, load: Callable[[], Configuration], service: ListenersService | None = None
    ) -> ConfigReloader:
        def counting() -> Configuration:
            self.loads += 1
            return load()

        if service is None:
            service = self.start(_ONE)
        return ConfigReloader(self.reactor, counting, service)

    def brokenFile(self) -> Configuration:
        raise ConfigError(
            ['test.toml: listener "a": no', 'test.toml: listener "b": no']
        )

    def test_configErrorLogged(self) -> None:
        """
        A file that does not load logs each problem, then that nothing
        changed.
        """
        self.reloader(self.brokenFile).reload()
        self.assertEqual(
            self.texts("reload"),
            [
                "SIGHUP: reloading the configuration",
                'reload: test.toml: listener "a": no',
                'reload: test.toml: listener "b": no',
                "reload failed: 2 problems in the file; nothing changed",
            ],
        )

    def test_configErrorLevel(self) -> None:
        """
        The problems of a file that does not load are logged as errors.
        """
        self.reloader(self.brokenFile).reload()
        levels = {
            event["log_level"]
            for event in self.texts.events
            if event.get("log_format", "").startswith("reload")
        }
        self.assertEqual(levels, {LogLevel.error})

    def test_oneProblem(self) -> None:
        """
        A single problem is counted in the singular.
        """

        def load() -> Configuration:
            raise ConfigError(["test.toml: bad"])

        self.reloader(load).reload()
        self.assertIn(
            "reload failed: 1 problem in the file; nothing changed", self.texts()
        )

    def test_configErrorNothingChanged(self) -> None:
        """
        A file that does not load changes nothing, and the reload fires
        with L{None}.
        """
        service = self.start(_ONE)
        ports = service.ports
        result = self.reloader(self.brokenFile, service).reload()
        self.assertIsNone(self.successResultOf(result))
        self.assertEqual(service.ports, ports)

    def test_done(self) -> None:
        """
        A reload applied fires with its report, and logs what it did.
        """
        result = self.reloader(lambda: self.config(_TWO_AND_B)).reload()
        report = self.successResultOf(result)
        assert report is not None
        self.assertEqual(report.plan, ReloadPlan(reconfigured=("a",), added=("b",)))
        self.assertIn("reload done: added b; changed a", self.texts())

    def test_applied(self) -> None:
        """
        What the file says is applied to the listeners service.
        """
        service = self.start(_ONE)
        self.reloader(lambda: self.config(_TWO_AND_B), service).reload()
        self.assertEqual(len(service.ports), 2)

    def test_reloadFailed(self) -> None:
        """
        A reload that cannot be applied logs why and that nothing changed,
        and fires with L{None}.
        """
        self.reactor.refuse.add(8001)
        result = self.reloader(lambda: self.config(_TWO_AND_B)).reload()
        self.assertIsNone(self.successResultOf(result))
        self.assertIn(
            "reload failed: cannot listen on 'tcp:8001': something is already"
            " listening there; nothing changed",
            self.texts(),
        )

    def test_unexpectedFailure(self) -> None:
        """
        An unexpected error is logged with its traceback, and the reload
        fires with L{None}.
        """
        service = _Listeners(self.reactor, [])
        result = self.reloader(lambda: self.config(_ONE), service).reload()
        self.assertIsNone(self.successResultOf(result))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_startInstallsHandler(self) -> None:
        """
        Starting installs a SIGHUP handler that hands a reload to the
        reactor, as a call from another thread: a signal handler must not
        do the work itself.
        """
        reloader = self.reloader(lambda: self.config(_ONE))
        reloader.startService()
        self.addCleanup(reloader.stopService)
        handler = signal.getsignal(signal.SIGHUP)
        assert callable(handler)
        handler(signal.SIGHUP, None)
        self.assertEqual(self.reactor.threadCalls, [(reloader.reload, ())])
        self.assertEqual(self.loads, 0)

    def test_queuedCallReloads(self) -> None:
        """
        The call the handler hands the reactor reloads.
        """
        reloader = self.reloader(lambda: self.config(_TWO_AND_B))
        reloader.startService()
        self.addCleanup(reloader.stopService)
        handler = signal.getsignal(signal.SIGHUP)
        assert callable(handler)
        handler(signal.SIGHUP, None)
        [(call, args)] = self.reactor.threadCalls
        call(*args)
        self.assertEqual(self.loads, 1)
        self.assertEqual(len(self.reactor.listening(8001)), 1)

    def test_stopKeepsHandler(self) -> None:
        """
        Stopping leaves the handler in place, so that a SIGHUP while open
        connections finish does not end the process at once.
        """
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        reloader = self.reloader(lambda: self.config(_ONE))
        reloader.startService()
        handler = signal.getsignal(signal.SIGHUP)
        reloader.stopService()
        self.assertIs(signal.getsignal(signal.SIGHUP), handler)
        self.assertIsNot(handler, signal.SIG_DFL)

    def test_ignoredWhenStopped(self) -> None:
        """
        A SIGHUP after the service stopped reads nothing, changes nothing,
        and says it was ignored.
        """
        reloader = self.reloader(lambda: self.config(_TWO))
        reloader.startService()
        reloader.stopService()
        self.assertIsNone(self.successResultOf(reloader.reload()))
        self.assertEqual(self.loads, 0)
        self.assertIn("SIGHUP ignored: the server is stopping", self.texts())

    def test_running(self) -> None:
        """
        The reloader runs between start and stop, as any service.
        """
        reloader = self.reloader(lambda: self.config(_ONE))
        reloader.startService()
        running = reloader.running
        reloader.stopService()
        self.assertEqual((running, reloader.running), (True, False))


class ReloadCountTests(_ServiceCase):
    """
    Tests for L{ConfigReloader.reloads}.
    """

    def setUp(self) -> None:
        super().setUp()
        original = signal.getsignal(signal.SIGHUP)
        self.addCleanup(
            signal.signal,
            signal.SIGHUP,
            signal.SIG_DFL if original is None else original,
        )

    def reloader(
        self, load: Callable[[], Configuration], service: ListenersService | None = None
    ) -> ConfigReloader:
        return ConfigReloader(
            self.reactor, load, self.start(_ONE) if service is None else service
        )

    def test_none(self) -> None:
        """
        A new reloader has done no reload, and failed none.
        """
        reloader = self.reloader(lambda: self.config(_ONE))
        self.assertEqual(reloader.reloads, {"done": 0, "failed": 0})

    def test_done(self) -> None:
        """
        A reload applied is counted as done.
        """
        reloader = self.reloader(lambda: self.config(_TWO_AND_B))
        reloader.reload()
        reloader.reload()
        self.assertEqual(reloader.reloads, {"done": 2, "failed": 0})

    def test_badFile(self) -> None:
        """
        A file that does not load is counted as a failed reload.
        """

        def load() -> Configuration:
            raise ConfigError(["test.toml: bad"])

        reloader = self.reloader(load)
        reloader.reload()
        self.assertEqual(reloader.reloads, {"done": 0, "failed": 1})

    def test_notApplied(self) -> None:
        """
        A reload that cannot be applied is counted as failed.
        """
        self.reactor.refuse.add(8001)
        reloader = self.reloader(lambda: self.config(_TWO_AND_B))
        reloader.reload()
        self.assertEqual(reloader.reloads, {"done": 0, "failed": 1})

    def test_unexpectedFailure(self) -> None:
        """
        A reload that fails unexpectedly is counted as failed.
        """
        reloader = self.reloader(
            lambda: self.config(_ONE), _Listeners(self.reactor, [])
        )
        reloader.reload()
        self.flushLoggedErrors(RuntimeError)
        self.assertEqual(reloader.reloads, {"done": 0, "failed": 1})

    def test_ignoredNotCounted(self) -> None:
        """
        A SIGHUP ignored once the service has stopped is not counted.
        """
        reloader = self.reloader(lambda: self.config(_TWO))
        reloader.startService()
        reloader.stopService()
        reloader.reload()
        self.assertEqual(reloader.reloads, {"done": 0, "failed": 0})

    def test_countedWhenDone(self) -> None:
        """
        A reload is counted once it has been applied, not when it starts.
        """
        service = self.start(_ONE)
        reloader = self.reloader(
            lambda: self.config(_ONE.replace("8000", "8005")), service
        )
        self.reactor.slowStops = True
        reloading = reloader.reload()
        counted = dict(reloader.reloads)
        self.reactor.finishStops()
        self.successResultOf(reloading)
        self.assertEqual(
            (counted, reloader.reloads),
            ({"done": 0, "failed": 0}, {"done": 1, "failed": 0}),
        )


class NothingToReloadTests(_ServiceCase):
    """
    Tests for L{NothingToReload}.
    """

    def setUp(self) -> None:
        super().setUp()
        original = signal.getsignal(signal.SIGHUP)
        self.addCleanup(
            signal.signal,
            signal.SIGHUP,
            signal.SIG_DFL if original is None else original,
        )

    def test_startInstallsHandler(self) -> None:
        """
        Starting replaces SIGHUP's default action, which ends the process,
        with a handler that hands the signal to the reactor.
        """
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        hangup = NothingToReload(self.reactor)
        hangup.startService()
        self.addCleanup(hangup.stopService)
        handler = signal.getsignal(signal.SIGHUP)
        assert callable(handler)
        handler(signal.SIGHUP, None)
        self.assertEqual(self.reactor.threadCalls, [(hangup.reload, ())])

    def test_stopKeepsHandler(self) -> None:
        """
        Stopping leaves the handler in place, so that a SIGHUP while open
        connections finish after SIGTERM does not end the process.
        """
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        hangup = NothingToReload(self.reactor)
        hangup.startService()
        handler = signal.getsignal(signal.SIGHUP)
        hangup.stopService()
        self.assertIs(signal.getsignal(signal.SIGHUP), handler)
        self.assertIsNot(handler, signal.SIG_DFL)

    def test_nothingToReload(self) -> None:
        """
        A SIGHUP while the server runs says there is nothing to reload.
        """
        hangup = NothingToReload(self.reactor)
        hangup.startService()
        self.addCleanup(hangup.stopService)
        hangup.reload()
        self.assertIn(
            "SIGHUP ignored: nothing to reload without --config", self.texts()
        )

    def test_ignoredWhenStopping(self) -> None:
        """
        A SIGHUP once the server is stopping says it was ignored for that.
        """
        hangup = NothingToReload(self.reactor)
        hangup.startService()
        hangup.stopService()
        hangup.reload()
        self.assertIn("SIGHUP ignored: the server is stopping", self.texts())
