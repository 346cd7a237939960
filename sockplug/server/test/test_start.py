"""
Tests for L{sockplug.server._start}: the services started before twistd
daemonises, and the state they are started in.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable

from twisted.application.service import Service
from twisted.logger import LogPublisher
from twisted.trial.unittest import SynchronousTestCase

from sockplug.errors import CommandLineError, ListenFailed
from sockplug.server._earlylog import EarlyEvents
from sockplug.server._service import ListenersService
from sockplug.server._start import ServerRoot, StartEnvironment
from sockplug.testing._server import ServiceReactor, configuration

TWO = """
[listeners.a]
endpoint = "tcp:8000"

[listeners.b]
endpoint = "tcp:8001"
"""


def _twistd(**given: object) -> dict[str, object]:
    """
    twistd's options as it gives them, with C{given} changed.
    """
    config: dict[str, object] = {
        "nodaemon": False,
        "debug": False,
        "chroot": None,
        "rundir": ".",
        "umask": None,
    }
    config.update(given)
    return config


class _Recording(Service):
    """
    A service that records its privileged starts and its starts.
    """

    def __init__(self) -> None:
        self.calls: list[str] = []

    def privilegedStartService(self) -> None:
        Service.privilegedStartService(self)
        self.calls.append("privileged")

    def startService(self) -> None:
        Service.startService(self)
        self.calls.append("start")


class _Events(EarlyEvents):
    """
    Early events that count their releases.
    """

    released = 0

    def release(self) -> None:
        EarlyEvents.release(self)
        self.released += 1


class _Abandoned(_Recording):
    """
    A service that records being abandoned too.
    """

    def abandon(self) -> None:
        self.calls.append("abandoned")


class _Failing(Service):
    def privilegedStartService(self) -> None:
        raise ListenFailed("sockplug: no")


def _sameFile(fd: int, path: str) -> bool:
    return os.path.samestat(os.fstat(fd), os.stat(path))


class StartEnvironmentTests(SynchronousTestCase):
    """
    Tests for L{StartEnvironment.ofTwistd}: the state twistd gives the
    services.
    """

    def test_outsideTwistd(self) -> None:
        """
        Outside twistd, the process is left as it is.
        """
        self.assertEqual(StartEnvironment.ofTwistd(None), StartEnvironment())

    def test_daemon(self) -> None:
        """
        A daemon's umask is 077 unless one is given, as twistd sets it.
        """
        self.assertEqual(
            StartEnvironment.ofTwistd(_twistd()),
            StartEnvironment(".", 0o077, daemon=True),
        )

    def test_daemonUmask(self) -> None:
        """
        A daemon keeps the umask given (C{--umask}).
        """
        environment = StartEnvironment.ofTwistd(_twistd(umask=0o022))
        assert environment is not None
        self.assertEqual(environment.umask, 0o022)

    def test_foreground(self) -> None:
        """
        With C{-n}, or C{--debug}, the process does not become a daemon,
        and its umask is left.
        """
        for config in (_twistd(nodaemon=True), _twistd(debug=True)):
            self.assertEqual(StartEnvironment.ofTwistd(config), StartEnvironment())

    def test_rundir(self) -> None:
        """
        The working folder is C{--rundir}'s.
        """
        environment = StartEnvironment.ofTwistd(_twistd(rundir="/srv"))
        assert environment is not None
        self.assertEqual(environment.directory, "/srv")

    def test_chroot(self) -> None:
        """
        With C{--chroot}, the services cannot start before twistd has
        changed the root.
        """
        self.assertIsNone(StartEnvironment.ofTwistd(_twistd(chroot="/jail")))


class AppliedTests(SynchronousTestCase):
    """
    Tests for L{StartEnvironment.applied}.
    """

    def test_umask(self) -> None:
        """
        The umask is set within, and as before after.
        """
        before = os.umask(0o022)
        self.addCleanup(os.umask, before)
        with StartEnvironment(umask=0o077).applied():
            self.assertEqual(os.umask(0o077), 0o077)
        self.assertEqual(os.umask(0o022), 0o022)

    def test_directory(self) -> None:
        """
        The working folder is changed within, and back after.
        """
        before = os.getcwd()
        folder = os.path.realpath(tempfile.mkdtemp())
        self.addCleanup(os.rmdir, folder)
        with StartEnvironment(folder).applied():
            self.assertEqual(os.getcwd(), folder)
        self.assertEqual(os.getcwd(), before)

    def test_noSuchDirectory(self) -> None:
        """
        A working folder that does not exist is refused in one line naming
        it (twistd's C{--rundir}), and the umask is as before.
        """
        before = os.umask(0o022)
        self.addCleanup(os.umask, before)
        folder = os.path.join(tempfile.mkdtemp(), "gone")
        self.addCleanup(os.rmdir, os.path.dirname(folder))
        environment = StartEnvironment(folder, umask=0o077)
        with self.assertRaises(CommandLineError) as caught, environment.applied():
            pass
        self.assertEqual(
            str(caught.exception),
            f"twistd sockplug: --rundir {folder!r}: cannot go there: no such"
            " file or directory",
        )
        self.assertEqual(os.umask(0o022), 0o022)

    def test_daemonStandardInputAndOutput(self) -> None:
        """
        For a daemon, standard input and output are C{/dev/null} within,
        as they will be in the daemon, and as before after; standard error
        is left.
        """
        before = [os.fstat(fd) for fd in (0, 1, 2)]
        with StartEnvironment(daemon=True).applied():
            inside = [_sameFile(fd, os.devnull) for fd in (0, 1)]
            self.assertTrue(os.path.samestat(os.fstat(2), before[2]))
        self.assertEqual(inside, [True, True])
        for fd in (0, 1):
            self.assertTrue(os.path.samestat(os.fstat(fd), before[fd]))

    def test_restoredOnError(self) -> None:
        """
        The process is as before after an error within.
        """
        before = os.getcwd()
        folder = os.path.realpath(tempfile.mkdtemp())
        self.addCleanup(os.rmdir, folder)
        with self.assertRaises(ListenFailed), StartEnvironment(folder).applied():
            raise ListenFailed("sockplug: no")
        self.assertEqual(os.getcwd(), before)


class ServerRootTests(SynchronousTestCase):
    """
    Tests for L{ServerRoot}.
    """

    def setUp(self) -> None:
        self.pid = 100
        self.renewed = 0
        self.root = ServerRoot(getpid=lambda: self.pid, renew=self.renew)
        self.child = _Recording()
        self.root.addService(self.child)

    def renew(self) -> None:
        self.renewed += 1

    def test_startNow(self) -> None:
        """
        L{ServerRoot.startNow} makes the privileged start of the services
        at once.
        """
        self.root.startNow()
        self.assertEqual(self.child.calls, ["privileged"])

    def test_notAgain(self) -> None:
        """
        Started early, twistd's privileged start and start start nothing
        again.
        """
        self.root.startNow()
        self.root.privilegedStartService()
        self.root.startService()
        self.assertEqual(self.child.calls, ["privileged", "start"])

    def test_notStartedEarly(self) -> None:
        """
        Not started early, twistd's privileged start starts the services.
        """
        self.root.privilegedStartService()
        self.root.startService()
        self.assertEqual(self.child.calls, ["privileged", "start"])

    def test_forked(self) -> None:
        """
        In a process forked since the early start (the daemon), the
        privileged start renews the lock files, once.
        """
        self.root.startNow()
        self.pid = 200
        self.root.privilegedStartService()
        self.root.privilegedStartService()
        self.assertEqual((self.child.calls, self.renewed), (["privileged"], 1))

    def test_notForked(self) -> None:
        """
        In the same process, the lock files are left.
        """
        self.root.startNow()
        self.root.privilegedStartService()
        self.assertEqual(self.renewed, 0)

    def test_againAfterStop(self) -> None:
        """
        Stopped, the services start again when asked.
        """
        self.root.startNow()
        self.root.startService()
        self.root.stopService()
        self.root.privilegedStartService()
        self.assertEqual(self.child.calls, ["privileged", "start", "privileged"])


class AbandonAtExitTests(SynchronousTestCase):
    """
    L{ServerRoot.abandonAtExit}: what a start made early opened is closed
    when the process exits without the services having stopped.
    """

    def setUp(self) -> None:
        self.pid = 100
        self.renewed = 0
        self.registered: list[Callable[[], None]] = []
        self.root = ServerRoot(getpid=lambda: self.pid, renew=self.renew)
        self.child = _Abandoned()
        self.root.addService(self.child)

    def renew(self) -> None:
        self.renewed += 1

    def test_registeredOnce(self) -> None:
        """
        L{ServerRoot.startNow} registers it with what it is given, once.
        """
        self.root.startNow(atExit=self.registered.append)
        self.root.stopService()
        self.root.startNow(atExit=self.registered.append)
        self.assertEqual(self.registered, [self.root.abandonAtExit])

    def test_notStopped(self) -> None:
        """
        Started and never stopped (twistd failed after the start), the
        services are abandoned, once.
        """
        self.root.startNow(atExit=self.registered.append)
        self.root.abandonAtExit()
        self.root.abandonAtExit()
        self.assertEqual(
            (self.child.calls, self.renewed), (["privileged", "abandoned"], 0)
        )

    def test_forked(self) -> None:
        """
        In a process forked since the start (a daemon that failed writing
        its PID file), the lock files are made to name it first.
        """
        self.root.startNow(atExit=self.registered.append)
        self.pid = 200
        self.root.abandonAtExit()
        self.assertEqual(
            (self.child.calls, self.renewed), (["privileged", "abandoned"], 1)
        )

    def test_stopped(self) -> None:
        """
        Stopped (the process ran and ended as it should), nothing is done.
        """
        self.root.startNow(atExit=self.registered.append)
        self.root.startService()
        self.root.stopService()
        self.root.abandonAtExit()
        self.assertEqual(self.child.calls, ["privileged", "start"])


class EarlyEventsReleaseTests(SynchronousTestCase):
    """
    L{ServerRoot} lets the early events go once logging has begun, or will
    not.
    """

    def setUp(self) -> None:
        self.events = _Events(LogPublisher())
        self.root = ServerRoot()

    def test_twistdStart(self) -> None:
        """
        At twistd's privileged start (logging has begun), not before.
        """
        self.root.addService(_Recording())
        self.root.startNow(events=self.events)
        self.assertEqual(self.events.released, 0)
        self.root.privilegedStartService()
        self.assertEqual(self.events.released, 1)

    def test_failure(self) -> None:
        """
        When the start fails.
        """
        self.root.addService(_Failing())
        self.assertRaises(ListenFailed, self.root.startNow, None, self.events)
        self.assertEqual(self.events.released, 1)


class ListenersStartNowTests(SynchronousTestCase):
    """
    L{ServerRoot.startNow} with the listeners' service, on a memory reactor.
    """

    def setUp(self) -> None:
        self.reactor = ServiceReactor()
        self.root = ServerRoot()
        listeners = configuration(self.reactor, TWO).listeners
        self.root.addService(ListenersService(self.reactor, listeners))

    def test_listensAtOnce(self) -> None:
        """
        Every listener listens when L{ServerRoot.startNow} returns, and
        twistd's start listens on nothing more.
        """
        self.root.startNow()
        self.assertEqual([p.number for p in self.reactor.ports], [8000, 8001])
        self.root.privilegedStartService()
        self.root.startService()
        self.assertEqual([p.number for p in self.reactor.ports], [8000, 8001])

    def test_failure(self) -> None:
        """
        A listener that cannot listen fails L{ServerRoot.startNow} with one
        line naming it; the one that had started is closed.
        """
        self.reactor.refuse.add(8001)
        e = self.assertRaises(ListenFailed, self.root.startNow)
        self.assertEqual(
            str(e),
            "sockplug: cannot listen on 'tcp:8001': something is already"
            " listening there",
        )
        self.assertEqual(self.reactor.listening(8000), [])
