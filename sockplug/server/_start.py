# -*- test-case-name: sockplug.server.test.test_start -*-
"""
The root of a process's services, which starts them (its listeners listen)
before twistd daemonises, so that a start that fails is said by the process
the user started, in the one line it is said in with C{-n}.

twistd (C{UnixApplicationRunner}) calls C{makeService}, begins logging,
then forks twice to become a daemon, and only then calls
C{privilegedStartService}, where sockplug's services listen. A failure
there, in the forked child, reaches the user only through twistd's status
pipe, printed by the parent as C{An error has occurred: b"..."} and cut to
100 bytes: a format sockplug cannot change from the child. So
C{twistd sockplug} starts its services in C{makeService}, as nginx binds
its sockets before it daemonises (L{ServerRoot.startNow}); twistd's later
call finds them started. Logging has not begun then, and Twisted prints a
critical log event on standard error until it has: the line naming what
could not start is the one line printed, in both modes, and the process
ends with status 1 (see L{sockplug.errors.ListenFailed}). The other events
of the start reach the log once it begins, all of them
(L{sockplug.server._earlylog}).

What is made then lives on in the daemon: the sockets, registered with the
reactor (epoll's registrations belong to the open files, which the daemon
holds; a kqueue reactor makes its queue again after the fork, through
C{IReactorDaemonize}), and the files opened. So the start is made in the
state twistd gives the daemon (L{StartEnvironment}): its umask, its
working folder (C{--rundir}), and, for a daemon, C{/dev/null} as standard
input and output. Only C{PATH.lock} files name a process, the one that
took them: the daemon renames them to itself (L{renewLocks}) when twistd
calls it to start. With C{--chroot}, paths would be read before the root
changes: the services start after it, as Twisted starts them.

twistd can still fail after the early start (its log file, its PID file,
dropping privileges): then the process ends, with the services never
stopped. What they opened is closed as the process exits
(L{ServerRoot.abandonAtExit}, registered with C{atexit}), so that no socket
file or lock file is left behind by a start that failed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from attrs import frozen
from twisted.application.service import IService, MultiService

from sockplug.errors import CommandLineError
from sockplug.internet import renewLocks
from sockplug.server._earlylog import EarlyEvents
from sockplug.server._stopsignals import StopSignals

__all__ = ["ServerRoot", "StartEnvironment"]


@frozen
class StartEnvironment:
    """
    The state twistd puts the process in before it starts the services
    (its C{setupEnvironment}), which an early start is made in.

    @ivar directory: the working folder (C{--rundir}).
    @ivar umask: the umask, if one is set.
    @ivar daemon: whether twistd daemonises (standard input and output
        become C{/dev/null}).
    """

    directory: str = "."
    umask: int | None = None
    daemon: bool = False

    @classmethod
    def ofTwistd(cls, config: Mapping[str, Any] | None) -> StartEnvironment | None:
        """
        The environment twistd's options C{config} give the services (as
        C{UnixApplicationRunner.setupEnvironment} sets it up: a daemon's
        umask is 077 unless one is given); L{None} where the services must
        start after twistd has set it up itself (C{--chroot}).

        @param config: twistd's options; L{None} outside twistd, which
            gives the environment as it is.
        """
        if config is None:
            return cls()
        if config.get("chroot") is not None:
            return None
        daemon = not (config.get("nodaemon") or config.get("debug"))
        umask = config.get("umask")
        if daemon and umask is None:
            umask = 0o077
        return cls(str(config.get("rundir") or "."), umask, daemon)

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """
        Within it, the process is in this environment; after it, as before.

        @raise CommandLineError: if the working folder cannot be entered.
        """
        with contextlib.ExitStack() as stack:
            if self.umask is not None:
                old = os.umask(self.umask)
                stack.callback(os.umask, old)
            if self.directory != ".":
                stack.callback(os.chdir, os.getcwd())
                try:
                    os.chdir(self.directory)
                except OSError as e:
                    raise CommandLineError(
                        f"twistd sockplug: --rundir {self.directory!r}: cannot go"
                        f" there: {(e.strerror or str(e)).lower()}"
                    ) from None
            if self.daemon:
                for fd in (0, 1):
                    _redirected(stack, fd)
            yield


def _redirected(stack: contextlib.ExitStack, fd: int) -> None:
    """
    Make C{fd} C{/dev/null} until C{stack} closes, which restores it.
    """
    try:
        saved = os.dup(fd)
    except OSError:  # (closed: it stays so)
        return
    stack.callback(os.close, saved)
    stack.callback(os.dup2, saved, fd)
    null = os.open(os.devnull, os.O_RDWR)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


class ServerRoot(MultiService):
    """
    The services of one process, which can be started before twistd
    starts them (L{startNow}); started so, twistd's
    C{privilegedStartService} does not start them again, and in a process
    forked since (the daemon), takes the lock files over.

    @ivar stopSignals: what a second SIGINT or SIGTERM does while the
        services stop, if anything.
    """

    def __init__(
        self,
        getpid: Callable[[], int] = os.getpid,
        renew: Callable[[], None] = renewLocks,
    ) -> None:
        """
        @param getpid: this process's ID.
        @param renew: makes the lock files of this process's ports name it.
        """
        MultiService.__init__(self)
        self._getpid = getpid
        self._renew = renew
        self._registered = False
        self._startedIn: int | None = None
        self._events: EarlyEvents | None = None
        self.stopSignals: StopSignals | None = None

    def startNow(
        self,
        environment: StartEnvironment | None = None,
        events: EarlyEvents | None = None,
        atExit: Callable[[Callable[[], None]], object] | None = None,
    ) -> None:
        """
        Start the services now (their privileged start: listening), in
        C{environment}.

        @param events: what keeps the log events of the start until
            logging has begun (when twistd starts the services), if it has
            not begun yet.
        @param atExit: registers what to call when the process exits
            (C{atexit.register} in twistd's process, which may fail after
            this start: see L{abandonAtExit}), if anything.
        @raise sockplug.errors.ListenFailed: if one cannot start; those
            started are closed again.
        """
        self._events = events
        try:
            with contextlib.ExitStack() as stack:
                if events is not None:
                    stack.enter_context(events.capturing())
                stack.enter_context((environment or StartEnvironment()).applied())
                self.privilegedStartService()
        except BaseException:
            self._release()
            raise
        if atExit is not None and not self._registered:
            self._registered = True
            atExit(self.abandonAtExit)

    def abandonAtExit(self) -> None:
        """
        The process exits: if the services were started and never stopped
        (twistd failed after the early start), close what they opened at
        once (each service's C{abandon}), removing their socket files and
        lock files; in a process forked since (the daemon), the locks are
        first made to name it, so that they go too.
        """
        startedIn, self._startedIn = self._startedIn, None
        if startedIn is None:
            return
        if startedIn != self._getpid():
            self._renew()
        for service in self:
            abandon = getattr(service, "abandon", None)
            if abandon is not None:
                abandon()

    def _release(self) -> None:
        events, self._events = self._events, None
        if events is not None:
            events.release()

    def addService(self, service: IService) -> None:
        MultiService.addService(self, service)  # (typed: see pyproject.toml)

    def privilegedStartService(self) -> None:
        startedIn, self._startedIn = self._startedIn, self._getpid()
        if startedIn is None:
            try:
                MultiService.privilegedStartService(self)
            except BaseException:
                self._startedIn = None
                raise
        else:
            # (twistd's call: logging has begun.)
            self._release()
            if startedIn != self._startedIn:
                self._renew()

    def startService(self) -> None:
        MultiService.startService(self)

    def stopService(self) -> Any:
        if self.stopSignals is not None:
            self.stopSignals.install()
        self._startedIn = None
        self._release()
        return MultiService.stopService(self)
