"""
Tests of the benchmark runner's own logic (C{bench/}): real reference servers
started and stopped by the runner's code, and the compile step and how it
fails.
"""

from __future__ import annotations

import os
import shutil
import socket

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from bench.build import BuildError, build, isStale
from bench.cases import caseNamed
from bench.procs import ProcessError
from bench.targets import Listening, runningAll
from tests.benchfixtures import TOOLS, temporaryFolder


class ReferenceServerTests(SynchronousTestCase):
    """Real reference servers, started and stopped by the runner's code."""

    def _listening(self, server: Listening | ProcessError) -> Listening:
        if isinstance(server, ProcessError):
            self.fail(str(server))
        return server

    def _connect(self, server: Listening) -> socket.socket:
        host, port = server.loadgenArgs()[1::2]
        return socket.create_connection((host, int(port)), timeout=10)

    def test_echoServers(self) -> None:
        """The Twisted and asyncio servers echo, pinned to the CPU given."""
        folder = temporaryFolder(self)
        workdirs = {s: os.path.join(folder, s) for s in ("twisted", "asyncio")}
        for workdir in workdirs.values():
            os.mkdir(workdir)
        cpu = min(os.sched_getaffinity(0))
        with runningAll(caseNamed("tcp-pingpong"), workdirs, TOOLS, cpu) as started:
            servers = [self._listening(server) for server in started.values()]
            for server in servers:
                with self._connect(server) as s:
                    s.sendall(b"ping")
                    self.assertEqual(
                        (s.recv(4), os.sched_getaffinity(server.process.pid)),
                        (b"ping", {cpu}),
                    )
        self.assertEqual(
            [server.process.poll() is not None for server in servers], [True, True]
        )

    def test_linesServerHalfClose(self) -> None:
        """The Twisted lines server writes every line and closes on EOF."""
        folder = temporaryFolder(self)
        case = caseNamed("line-print")
        cpu = min(os.sched_getaffinity(0))
        with (
            runningAll(case, {"twisted": folder}, TOOLS, cpu) as got,
            self._connect(self._listening(got["twisted"])) as s,
        ):
            s.sendall(b"one\ntwo\n")
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(s.recv(10), b"")
        with open(os.path.join(folder, "lines.txt"), "rb") as f:
            self.assertEqual(f.read(), b"one\ntwo\n")


class BuildTests(SynchronousTestCase):
    """The compile step, and how it fails."""

    def _sources(self, text: str = "int main(void) { return 0; }\n") -> str:
        folder = temporaryFolder(self)
        with open(os.path.join(folder, "prog.c"), "w") as f:
            f.write(text)
        return folder

    def test_noCompiler(self) -> None:
        """Without a compiler, the build fails with one line saying so."""
        folder = self._sources()
        environ = {"CC": "no-such-cc-anywhere", "PATH": os.environ["PATH"]}
        error = self.assertRaises(
            BuildError, build, folder, folder + "/build", environ, ("prog",)
        )
        self.assertIn("no C compiler: 'no-such-cc-anywhere' not found", str(error))

    def test_compileFails(self) -> None:
        """A compile error fails the build with the compiler's first line."""
        if shutil.which("cc") is None:
            raise SkipTest("no cc on this machine")
        folder = self._sources("int main(void) { return nope; }\n")
        error = self.assertRaises(
            BuildError, build, folder, folder + "/build", os.environ, ("prog",)
        )
        self.assertEqual((str(error).count("\n"), "nope" in str(error)), (0, True))

    def test_missingSource(self) -> None:
        """A missing source fails the build, naming it."""
        folder = self._sources()
        error = self.assertRaises(BuildError, build, folder, folder, os.environ, ("x",))
        self.assertEqual(str(error), f"{folder}/x.c is missing")

    def test_upToDate(self) -> None:
        """A binary newer than its source is not rebuilt (no compiler needed)."""
        folder = self._sources()
        binary = os.path.join(folder, "prog")
        with open(binary, "w") as f:
            f.write("")
        os.utime(binary, ns=(os.stat(folder + "/prog.c").st_mtime_ns + 10**9,) * 2)
        environ = {"CC": "no-such-cc-anywhere", "PATH": ""}
        self.assertEqual(build(folder, folder, environ, ("prog",)), {"prog": binary})

    def test_stale(self) -> None:
        """A missing binary is stale."""
        folder = self._sources()
        self.assertTrue(isStale(folder + "/prog.c", folder + "/prog"))
