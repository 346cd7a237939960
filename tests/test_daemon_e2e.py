"""
End-to-end tests of C{twistd sockplug} started as a daemon (without
C{-n}): a start that fails is said in the same one line as with C{-n}
(never twistd's C{An error has occurred: b"..."}, cut to 100 bytes), and a
daemon that starts serves, and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import time

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.daemonrun import Daemon, alive
from tests.dropins import dropins
from tests.harness import (
    POLL_INTERVAL,
    START_TIMEOUT,
    STOP_TIMEOUT,
    TWISTD,
    Result,
    connect,
    exchangeDatagram,
    receiveLine,
    runTwistd,
    temporaryDirectory,
)

LOOPBACK = "tcp:0:interface=127.0.0.1"

BOOM = """\
from sockplug.plugin import ProtocolPlugin

def build(listener):
    raise RuntimeError("the boom plugin cannot start")

boom = ProtocolPlugin(name="boom", description="Fails.", stream=build)
"""

# Runs a command as nobody, without privileges.
AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def busyPort(testCase: SynchronousTestCase) -> int:
    """A port on 127.0.0.1 that a socket of this test listens on."""
    sock = socket.socket()
    testCase.addCleanup(sock.close)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port: int = sock.getsockname()[1]
    return port


class StartFailureTests(SynchronousTestCase):
    """
    Whatever stops the start, the daemon's start and the foreground one
    print the same one line on standard error and end with status 1.
    """

    def assertSameLine(
        self,
        args: list[str],
        expected: str,
        prefix: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        """
        C{twistd sockplug ARGS} and C{twistd -n sockplug ARGS} each end
        with status 1 after printing exactly the line C{expected} on
        standard error (and nothing on standard output), and leave no
        daemon running.
        """
        foreground = runTwistd(self, *args, prefix=prefix or (), env=env)
        daemon = Daemon(self)
        background = daemon.run(*args, prefix=prefix or (), env=env)
        self.assertOneLine(foreground, expected)
        self.assertOneLine(background, expected)
        self.assertEqual(background.stderr, foreground.stderr)
        self.assertFalse(daemon.pid is not None and alive(daemon.pid))
        self.assertFalse(os.path.exists(daemon.pidfile))

    def assertOneLine(self, result: Result, expected: str) -> None:
        self.assertEqual(
            (result.code, result.stdout, result.stderr),
            (1, "", expected + "\n"),
            result.output,
        )
        self.assertNotIn("An error has occurred", result.output)

    def test_missingFolder(self) -> None:
        """
        A UNIX socket in a folder that does not exist.
        """
        path = os.path.join(temporaryDirectory(self), "gone", "s.sock")
        self.assertSameLine(
            ["--endpoint", f"unix:{path}"],
            f"cannot listen on 'unix:{path}': no such file or directory"
            " (does its folder exist?)",
        )

    def test_addressInUse(self) -> None:
        """
        A port another socket listens on; a listener before it, which had
        started, is closed (its socket file removed).
        """
        port = busyPort(self)
        path = os.path.join(temporaryDirectory(self), "first.sock")
        endpoint = f"tcp:{port}:interface=127.0.0.1"
        self.assertSameLine(
            ["--endpoint", f"unix:{path}", "--endpoint", endpoint],
            f"cannot listen on {endpoint!r}: something is already listening there",
        )
        self.assertFalse(os.path.lexists(path))

    def test_permissionDenied(self) -> None:
        """
        A port below 1024, as a user without privileges.
        """
        if os.getuid() != 0 or shutil.which("setpriv") is None:
            raise SkipTest("needs root and setpriv, to run twistd as nobody")
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
            if int(f.read()) <= 80:
                raise SkipTest("anyone may listen on port 80 here")
        endpoint = "tcp:80:interface=127.0.0.1"
        self.assertSameLine(
            ["--endpoint", endpoint],
            f"cannot listen on {endpoint!r}: permission denied (ports below 1024"
            " need privileges; a socket file needs write access to its folder)",
            prefix=AS_NOBODY,
        )

    def test_metricsPortInUse(self) -> None:
        """
        A metrics endpoint on a port in use.
        """
        endpoint = f"tcp:{busyPort(self)}:interface=127.0.0.1"
        self.assertSameLine(
            ["--endpoint", LOOPBACK, "--metrics", endpoint],
            f"--metrics: cannot listen on {endpoint!r}: something is already"
            " listening there",
        )

    def test_pluginFails(self) -> None:
        """
        A protocol plugin whose factory raises when the listener starts.
        """
        self.assertSameLine(
            ["--protocol", "boom", "--endpoint", LOOPBACK],
            f"cannot listen on {LOOPBACK!r}: protocol boom could not start:"
            " the boom plugin cannot start",
            env=dropins(self, {"boom": BOOM}),
        )

    def test_workers(self) -> None:
        """
        With C{--workers 2}, a port in use for the supervisor's sockets.
        """
        endpoint = f"tcp:{busyPort(self)}:interface=127.0.0.1"
        self.assertSameLine(
            ["--workers", "2", "--endpoint", endpoint],
            f"cannot listen on {endpoint!r}: something is already listening there",
        )


class RunDirectoryTests(SynchronousTestCase):
    """
    A C{--rundir} that does not exist is refused in one line, by the
    daemon's start as by the foreground one (sockplug enters it to listen,
    before twistd does).
    """

    def test_noSuchFolder(self) -> None:
        """
        Exit status 1, the one line on standard error, nothing else.
        """
        folder = temporaryDirectory(self)
        gone = os.path.join(folder, "gone")
        for mode in (["-n", "--pidfile="], [f"--pidfile={folder}/twistd.pid"]):
            completed = subprocess.run(
                [TWISTD, *mode, f"--rundir={gone}", "sockplug", "-e", LOOPBACK],
                cwd=folder,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=START_TIMEOUT,
                check=False,
            )
            self.assertEqual(
                (completed.returncode, completed.stdout, completed.stderr),
                (
                    1,
                    b"",
                    f"twistd sockplug: --rundir {gone!r}: cannot go there: no such"
                    " file or directory\n".encode(),
                ),
            )


class LaterFailureTests(SynchronousTestCase):
    """
    When twistd fails after sockplug has listened (its log file, its PID
    file), the process that ends leaves no socket file and no lock file.
    """

    def assertNothingLeft(self, folder: str, *options: str) -> str:
        """
        C{twistd OPTIONS sockplug} with a UNIX stream and a UNIX datagram
        listener, and metrics on a UNIX socket, in C{folder} fails, and,
        once every process it started has ended, no file is left in
        C{folder} but its log.

        @return: what it printed.
        """
        listeners = [
            "--endpoint",
            f"unix:{folder}/s.sock",
            "--endpoint",
            f"unixgram:{folder}/d.sock",
            "--metrics",
            f"unix:{folder}/m.sock",
        ]
        for workers in ([], ["--workers", "2"]):
            completed = subprocess.run(
                [TWISTD, *options, "sockplug", *listeners, *workers],
                cwd=folder,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=START_TIMEOUT,
                check=False,
            )
            output = (completed.stdout + completed.stderr).decode("utf-8", "replace")
            self.assertNotEqual(completed.returncode, 0, output)
            # (A daemon's child ends after the process started has.)
            deadline = time.monotonic() + STOP_TIMEOUT
            while True:
                left = sorted(set(os.listdir(folder)) - {"twistd.log"})
                if not left or time.monotonic() > deadline:
                    break
                time.sleep(POLL_INTERVAL)
            self.assertEqual(left, [], output)
        return output

    def test_logFileCannotOpen(self) -> None:
        """
        With C{-n}, a C{--logfile} in a folder that does not exist.
        """
        folder = temporaryDirectory(self)
        self.assertNothingLeft(
            folder, "-n", "--pidfile=", f"--logfile={folder}/gone/x.log"
        )

    def test_pidFileCannotBeWritten(self) -> None:
        """
        As a daemon, a C{--pidfile} in a folder that does not exist (the
        daemon fails writing it, after it has forked).
        """
        folder = temporaryDirectory(self)
        self.assertNothingLeft(
            folder, f"--pidfile={folder}/gone/x.pid", f"--logfile={folder}/twistd.log"
        )


class ServingTests(SynchronousTestCase):
    """
    A daemon that starts serves what it listened on before it daemonised,
    and stops cleanly on SIGTERM.
    """

    def test_servesAndStops(self) -> None:
        """
        The daemon echoes on TCP, UNIX and UNIX datagram sockets; its lock
        file names it (not the process that started it); on SIGTERM it
        ends, removing its socket files, lock file and PID file.
        """
        folder = temporaryDirectory(self)
        stream = os.path.join(folder, "s.sock")
        datagram = os.path.join(folder, "d.sock")
        daemon = Daemon(self)
        unix = f"unix:{stream}:lockfile=1"
        result = daemon.run(
            "--protocol",
            "echo",
            *("--endpoint", LOOPBACK, "--endpoint", unix),
            *("--endpoint", f"unixgram:{datagram}"),
        )
        self.assertEqual((result.code, result.stderr), (0, ""), daemon.log())
        assert daemon.pid is not None
        self.assertEqual(os.readlink(stream + ".lock"), str(daemon.pid))
        addresses = daemon.addresses()
        for endpoint in (LOOPBACK, unix):
            sock = connect(self, addresses[endpoint])
            sock.sendall(b"ping\n")
            self.assertEqual(receiveLine(sock), b"ping\n")
        self.assertEqual(exchangeDatagram(self, datagram, b"ping"), b"ping")
        daemon.stop()
        for path in (stream, stream + ".lock", datagram, daemon.pidfile):
            self.assertFalse(os.path.lexists(path), path)
        self.assertIn("Server Shut Down.", daemon.log())
        self.assertNotIn("Traceback", daemon.log())

    def test_everyListenerLogged(self) -> None:
        """
        The log has the start's lines of every listener, though they were
        logged before logging began (where Twisted keeps only the last 200
        events).
        """
        daemon = Daemon(self)
        result = daemon.run("--protocol", "echo", *["--endpoint", LOOPBACK] * 100)
        self.assertEqual((result.code, result.stderr), (0, ""), daemon.log())
        lines = daemon.log().splitlines()
        self.assertEqual(
            len([line for line in lines if f"echo listening on {LOOPBACK} (" in line]),
            100,
        )
        self.assertEqual(len([line for line in lines if "socket options" in line]), 100)
        daemon.stop()

    def test_workers(self) -> None:
        """
        With C{--workers 2}, the daemon's workers serve on the sockets the
        supervisor made before it daemonised, and stop with it.
        """
        folder = temporaryDirectory(self)
        stream = os.path.join(folder, "s.sock")
        daemon = Daemon(self)
        result = daemon.run(
            "--workers", "2", "--protocol", "echo", "--endpoint", f"unix:{stream}"
        )
        self.assertEqual((result.code, result.stderr), (0, ""), daemon.log())
        self.assertTrue(stat.S_ISSOCK(os.lstat(stream).st_mode))
        sock = connect(self, stream)
        sock.sendall(b"ping\n")
        self.assertEqual(receiveLine(sock), b"ping\n")
        sock.close()
        daemon.stop()
        self.assertFalse(os.path.lexists(stream))
        self.assertFalse(os.path.lexists(daemon.pidfile))
