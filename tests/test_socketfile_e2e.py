"""
End-to-end tests of what a real twistd sockplug does with what is at a UNIX
stream socket's path: when it stops (SIGTERM, a reload that removes the
listener, with and without workers) it removes the socket file it made and
nothing else; and it never takes over a live server's socket, nor follows
or removes a symbolic link at the path.
"""

from __future__ import annotations

import os
import signal
import stat

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from sockplug.testing._sockets import answers, liveServer, putFile, staleLock
from tests.configured import ConfiguredServer, listener, tcp
from tests.harness import Result, Server, runTwistd, socketPath
from tests.workersrun import START_TIMEOUT, Workers

# The machine may be busy: a stop waits this long at most.
STOP_TIMEOUT = 30.0
SOMEONE_ELSES = "someone else's file\n"


def _isSocket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


class _Assertions(SynchronousTestCase):
    def assertStoppedBySIGTERM(self, server: Server) -> None:
        """
        The server ends as SIGTERM ends it, within L{STOP_TIMEOUT}.
        """
        code = server.stop(STOP_TIMEOUT)
        self.assertIn(code, (-signal.SIGTERM, 128 + signal.SIGTERM), server.output())

    def assertLeftInPlace(self, server: Server, path: str) -> None:
        """
        The server said that it left what is at C{path}, and did not remove
        its lock file.
        """
        self.assertIn(
            f"Leaving {path}: it is no longer the socket file this server made",
            server.stdout(),
        )
        self.assertFalse(os.path.lexists(path + ".lock"))

    def assertRefused(self, result: Result, endpoint: str, reason: str) -> None:
        """
        twistd ended with status 1 after one line naming the
        endpoint and the reason, without a traceback.
        """
        critical = result.stderr.splitlines()  # (logging has not begun)
        self.assertEqual(result.code, 1, result.output)
        self.assertEqual(len(critical), 1, result.output)
        self.assertIn(f"cannot listen on {endpoint!r}: {reason}", critical[0])
        self.assertNotIn("Traceback", result.output)


class StopTests(_Assertions):
    """
    At SIGTERM, a server removes its UNIX socket file only if it is still
    the one it made.
    """

    def setUp(self) -> None:
        self.path = socketPath(self)
        self.server = Server.start(self, "-e", "unix:" + self.path)
        self.assertTrue(_isSocket(self.path))

    def test_ownFileRemoved(self) -> None:
        """The socket file the server made, and its lock file, are removed."""
        self.assertStoppedBySIGTERM(self.server)
        self.assertEqual(os.listdir(os.path.dirname(self.path)), [])

    def test_regularFileKept(self) -> None:
        """A regular file put in the socket file's place is left as it is."""
        putFile(self.path, SOMEONE_ELSES)
        self.assertStoppedBySIGTERM(self.server)
        self.assertEqual(_read(self.path), SOMEONE_ELSES)
        self.assertLeftInPlace(self.server, self.path)

    def test_otherServerKept(self) -> None:
        """The socket of a second server, bound at the path after the first's
        file was removed, is left, and still answers."""
        os.unlink(self.path)
        liveServer(self, self.path)
        self.assertStoppedBySIGTERM(self.server)
        self.assertTrue(answers(self.path))
        self.assertLeftInPlace(self.server, self.path)


class HAProxyStopTests(_Assertions):
    """
    A C{haproxy:unix:} listener's socket file is the C{unix:} one's: at
    SIGTERM it is removed only if it is still the one the server made.
    """

    def test_regularFileKept(self) -> None:
        """A regular file put in the socket file's place is left as it is."""
        path = socketPath(self)
        server = Server.start(self, "-e", "haproxy:unix:" + path)
        self.assertTrue(_isSocket(path))
        putFile(path, SOMEONE_ELSES)
        self.assertStoppedBySIGTERM(server)
        self.assertEqual(_read(path), SOMEONE_ELSES)
        self.assertLeftInPlace(server, path)


class StartTests(_Assertions):
    """
    At start, a live server's socket is never taken over, even with a stale
    lock file beside it, and a symbolic link at the path is refused.
    """

    def setUp(self) -> None:
        self.path = socketPath(self)
        self.endpoint = "unix:" + self.path
        self.other = os.path.join(os.path.dirname(self.path), "other.sock")

    def test_symlinkWithStaleLockRefused(self) -> None:
        """A symbolic link to another server's live socket, with a stale lock
        beside it, is refused in one line; the link, the lock and the other
        server are left as they were."""
        liveServer(self, self.other)
        os.symlink(self.other, self.path)
        staleLock(self.path)
        lock = os.readlink(self.path + ".lock")
        result = runTwistd(self, "-e", self.endpoint, timeout=START_TIMEOUT)
        self.assertRefused(result, self.endpoint, "a symbolic link is at that path")
        self.assertEqual(os.readlink(self.path), self.other)
        self.assertEqual(os.readlink(self.path + ".lock"), lock)
        self.assertTrue(answers(self.other))

    def test_symlinkWithStaleLockRefusedWithWorkers(self) -> None:
        """With workers, the supervisor refuses such a link as well."""
        liveServer(self, self.other)
        os.symlink(self.other, self.path)
        staleLock(self.path)
        result = runTwistd(
            self, "-e", self.endpoint, "--workers", "2", timeout=START_TIMEOUT
        )
        self.assertEqual(result.code, 1, result.output)
        self.assertIn("a symbolic link is at that path", result.output)
        self.assertEqual(os.readlink(self.path), self.other)
        self.assertTrue(answers(self.other))

    def test_liveSocketWithStaleLockRefused(self) -> None:
        """A live server's socket with a stale lock beside it is refused in
        one line, and still answers."""
        liveServer(self, self.path)
        staleLock(self.path)
        result = runTwistd(self, "-e", self.endpoint, timeout=START_TIMEOUT)
        self.assertRefused(
            result, self.endpoint, "something is already listening there"
        )
        self.assertTrue(answers(self.path))


class ReloadTests(_Assertions):
    """
    A reload that removes a UNIX listener removes its socket file only if
    it is still the one it made.
    """

    def setUp(self) -> None:
        self.path = socketPath(self)
        self.kept = listener("stay", tcp())
        self.served = ConfiguredServer(
            self,
            self.kept + listener("gone", "unix:" + self.path),
            tcp(),
            "unix:" + self.path,
        )

    def removeListener(self) -> None:
        """Reload without the UNIX listener, which must succeed."""
        self.assertEqual(self.served.reloaded(self.kept), "removed gone; kept stay")

    def test_ownFileRemoved(self) -> None:
        """The socket file the listener made, and its lock file, are removed."""
        self.removeListener()
        self.assertEqual(os.listdir(os.path.dirname(self.path)), [])

    def test_regularFileKept(self) -> None:
        """A regular file put in the socket file's place is left as it is."""
        putFile(self.path, SOMEONE_ELSES)
        self.removeListener()
        self.assertEqual(_read(self.path), SOMEONE_ELSES)
        self.assertLeftInPlace(self.served.server, self.path)

    def test_otherServerKept(self) -> None:
        """Another server's socket bound at the path since is left, and
        answers."""
        os.unlink(self.path)
        liveServer(self, self.path)
        self.removeListener()
        self.assertTrue(answers(self.path))


class WorkersStopTests(_Assertions):
    """
    With workers, the supervisor made the socket and removes its file at
    SIGTERM, only if it is still the one it made; no worker removes it.
    """

    def setUp(self) -> None:
        self.path = socketPath(self)
        self.server = Workers.run(self, "-e", "unix:" + self.path)
        self.assertTrue(_isSocket(self.path))

    def test_ownFileRemoved(self) -> None:
        """The socket file the supervisor made, and its lock, are removed."""
        self.assertStoppedBySIGTERM(self.server)
        self.assertEqual(os.listdir(os.path.dirname(self.path)), [])

    def test_regularFileKept(self) -> None:
        """A regular file put in the socket file's place is left as it is."""
        putFile(self.path, SOMEONE_ELSES)
        self.assertStoppedBySIGTERM(self.server)
        self.assertEqual(_read(self.path), SOMEONE_ELSES)
        self.assertLeftInPlace(self.server, self.path)

    def test_otherServerKept(self) -> None:
        """The socket of a second server, bound at the path after the
        supervisor's file was removed, is left, and still answers."""
        os.unlink(self.path)
        liveServer(self, self.path)
        self.assertStoppedBySIGTERM(self.server)
        self.assertTrue(answers(self.path))
        self.assertLeftInPlace(self.server, self.path)


class DroppedPrivilegesTests(_Assertions):
    """
    With twistd's C{--uid}, the server listens as root and then serves as
    another user, who may not remove the socket file from its folder: a
    reload that removes the listener still succeeds and closes its socket,
    and the file left is said so.
    """

    def test_reloadRemoves(self) -> None:
        """
        The reload is done, the removed listener's socket refuses
        connections, one line says why its file is left, and SIGTERM
        stops the server.
        """
        if os.getuid() != 0:
            raise SkipTest("needs root, to drop privileges with --uid")
        self.path = socketPath(self)
        os.chmod(os.path.dirname(self.path), 0o755)  # (nobody may look)
        kept = listener("stay", tcp())
        served = ConfiguredServer(
            self,
            kept + listener("gone", "unix:" + self.path),
            tcp(),
            "unix:" + self.path,
            twistd=["--uid=nobody", "--gid=nogroup"],
        )
        os.chmod(os.path.dirname(served.path), 0o755)  # (nobody reads it)
        os.chmod(served.path, 0o644)
        self.assertEqual(served.reloaded(kept), "removed gone; kept stay")
        self.assertTrue(_isSocket(self.path))
        self.assertFalse(answers(self.path))
        self.assertIn(
            f"Leaving {self.path}: cannot remove it: permission denied",
            served.server.stdout(),
        )
        self.assertStoppedBySIGTERM(served.server)
        self.assertNotIn("Traceback", served.server.output())
