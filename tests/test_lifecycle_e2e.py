"""
End-to-end tests of starting and stopping a real twistd sockplug process:
signals, socket files, failures to listen, and command-line errors.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.harness import (
    Result,
    Server,
    connect,
    exchangeDatagram,
    receiveLine,
    runTwistd,
    socketPath,
    temporaryDirectory,
)

# Root without the capabilities that let it write anywhere: file permissions
# then apply to it as to anyone. (Running as nobody instead would need a
# Python that nobody can read, which a venv under /root is not.)
WITHOUT_DAC_OVERRIDE = [
    "setpriv",
    "--bounding-set=-dac_override,-dac_read_search",
    "--",
]


def _isSocket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _traced(testCase: SynchronousTestCase, path: str, *args: str) -> Result:
    """
    Run C{twistd -n sockplug ARGS} under strace; check that it bound the
    UNIX socket C{path} (the log, which would say so, never begins when the
    start fails).
    """
    if shutil.which("strace") is None:
        raise SkipTest("strace is not installed")
    trace = os.path.join(temporaryDirectory(testCase), "trace")
    prefix = ["strace", "-f", "-qq", "-e", "trace=bind", "-o", trace]
    result = runTwistd(testCase, *args, prefix=prefix)
    with open(trace, encoding="utf-8", errors="replace") as f:
        traced = f.read()
    if not traced:
        raise SkipTest("strace cannot trace here")
    testCase.assertIn(f'sun_path="{path}"}}, {len(path) + 3}) = 0', traced)
    return result


def _busyPort(testCase: SynchronousTestCase, kind: socket.SocketKind) -> int:
    """
    A port on 127.0.0.1 that a socket of this test holds.
    """
    sock = socket.socket(socket.AF_INET, kind)
    testCase.addCleanup(sock.close)
    sock.bind(("127.0.0.1", 0))
    if kind == socket.SOCK_STREAM:
        sock.listen()
    port: int = sock.getsockname()[1]
    return port


class _FailureAssertions(SynchronousTestCase):
    def assertListenFailure(
        self, result: Result, endpoint: str, reason: str | None
    ) -> None:
        """
        twistd ended with status 1 after printing one line naming
        the endpoint and the reason, and no traceback.
        """
        critical = result.stderr.splitlines()  # (logging has not begun)
        self.assertEqual(result.code, 1, result.output)
        self.assertEqual(len(critical), 1, result.output)
        self.assertIn(f"cannot listen on {endpoint!r}: ", critical[0])
        if reason is not None:
            self.assertIn(reason, critical[0])
        self.assertNotIn("Traceback", result.output)


class SignalTests(SynchronousTestCase):
    """
    SIGTERM ends the server cleanly.
    """

    def setUp(self) -> None:
        self.unix = socketPath(self, "stream.sock")
        self.unixgram = socketPath(self, "dgram.sock")
        self.server = Server.start(
            self, "-e", "unix:" + self.unix, "-e", "unixgram:" + self.unixgram
        )

    def test_exitStatus(self) -> None:
        """The exit status is that of a process ended by SIGTERM."""
        code = self.server.stop()
        self.assertIn(code, (-signal.SIGTERM, 128 + signal.SIGTERM))

    def test_unixSocketRemoved(self) -> None:
        """The UNIX stream socket file is there while serving, gone after."""
        self.assertTrue(_isSocket(self.unix))
        self.server.stop()
        self.assertFalse(os.path.lexists(self.unix))

    def test_unixgramSocketRemoved(self) -> None:
        """The UNIX datagram socket file is there while serving, gone after."""
        self.assertTrue(_isSocket(self.unixgram))
        self.server.stop()
        self.assertFalse(os.path.lexists(self.unixgram))

    def test_nothingLeftBehind(self) -> None:
        """The sockets' folders hold nothing once the server has stopped."""
        self.server.stop()
        leftovers = os.listdir(os.path.dirname(self.unix)) + os.listdir(
            os.path.dirname(self.unixgram)
        )
        self.assertEqual(leftovers, [])


class UnixgramPathTests(_FailureAssertions):
    """
    Starting again on a UNIX datagram path: after a clean stop, after a
    crash, and while another server still has it.
    """

    def setUp(self) -> None:
        self.path = socketPath(self)
        self.endpoint = "unixgram:" + self.path

    def test_restart(self) -> None:
        """A server started on the path of one stopped by SIGTERM serves."""
        Server.start(self, "-e", self.endpoint).stop()
        server = Server.start(self, "-e", self.endpoint)
        self.assertEqual(
            exchangeDatagram(self, server.path(self.endpoint), b"again"), b"again"
        )

    def test_staleSocketReplaced(self) -> None:
        """The socket file of a server killed by SIGKILL is replaced."""
        Server.start(self, "-e", self.endpoint).kill()
        self.assertTrue(_isSocket(self.path))
        server = Server.start(self, "-e", self.endpoint)
        self.assertEqual(exchangeDatagram(self, self.path, b"fresh"), b"fresh")
        self.assertIn(
            f"Removing stale UNIX datagram socket {self.path}", server.stdout()
        )

    def test_liveSocketNotTakenOver(self) -> None:
        """A second server on the path of a live one fails with one line."""
        Server.start(self, "-e", self.endpoint)
        result = runTwistd(self, "-e", self.endpoint)
        self.assertListenFailure(
            result, self.endpoint, "something is already listening there"
        )

    def test_liveServerUndisturbed(self) -> None:
        """The live server still serves on its path after a second one failed."""
        Server.start(self, "-e", self.endpoint)
        self.assertEqual(runTwistd(self, "-e", self.endpoint).code, 1)
        self.assertEqual(exchangeDatagram(self, self.path, b"still"), b"still")


class UnixPathTests(_FailureAssertions):
    """
    Starting again on a UNIX stream path: after a crash, and while another
    server still has it.
    """

    def setUp(self) -> None:
        self.path = socketPath(self)
        self.endpoint = "unix:" + self.path

    def test_staleSocketReplaced(self) -> None:
        """The socket file of a server killed by SIGKILL is replaced."""
        Server.start(self, "-e", self.endpoint).kill()
        self.assertTrue(_isSocket(self.path))
        server = Server.start(self, "-e", self.endpoint)
        sock = connect(self, server.path(self.endpoint))
        sock.sendall(b"fresh\n")
        self.assertEqual(receiveLine(sock), b"fresh\n")

    def test_liveSocketNotTakenOver(self) -> None:
        """A second server on the path of a live one fails with one line."""
        Server.start(self, "-e", self.endpoint)
        result = runTwistd(self, "-e", self.endpoint)
        self.assertListenFailure(result, self.endpoint, None)
        self.assertTrue(_isSocket(self.path))


class ListenFailureTests(_FailureAssertions):
    """
    A listener that cannot start ends the process with one line.
    """

    def test_tcpPortInUse(self) -> None:
        """A TCP port already taken is reported by its endpoint string."""
        endpoint = f"tcp:{_busyPort(self, socket.SOCK_STREAM)}:interface=127.0.0.1"
        self.assertListenFailure(
            runTwistd(self, "-e", endpoint),
            endpoint,
            "something is already listening there",
        )

    def test_udpPortInUse(self) -> None:
        """A UDP port already taken is reported by its endpoint string."""
        endpoint = f"udp:{_busyPort(self, socket.SOCK_DGRAM)}:interface=127.0.0.1"
        self.assertListenFailure(
            runTwistd(self, "-e", endpoint),
            endpoint,
            "something is already listening there",
        )

    def test_unixFolderMissing(self) -> None:
        """A UNIX socket path in a missing folder is reported."""
        path = os.path.join(temporaryDirectory(self), "missing", "s.sock")
        self.assertListenFailure(
            runTwistd(self, "-e", "unix:" + path),
            "unix:" + path,
            "no such file or directory",
        )

    def test_unixgramFolderMissing(self) -> None:
        """A UNIX datagram socket path in a missing folder is reported."""
        path = os.path.join(temporaryDirectory(self), "missing", "s.sock")
        self.assertListenFailure(
            runTwistd(self, "-e", "unixgram:" + path),
            "unixgram:" + path,
            "no such file or directory",
        )

    def test_permissionDenied(self) -> None:
        """A socket in a folder the server may not write to fails start-up
        with a message that says permission was denied."""
        if os.geteuid() != 0:
            raise SkipTest("needs root, to drop the right to write anywhere")
        if shutil.which("setpriv") is None:
            raise SkipTest("setpriv is not installed")
        folder = temporaryDirectory(self)
        os.chown(folder, 65534, 65534)
        os.chmod(folder, 0o755)
        endpoint = "unix:" + os.path.join(folder, "s.sock")
        result = runTwistd(self, "-e", endpoint, prefix=WITHOUT_DAC_OVERRIDE)
        self.assertListenFailure(result, endpoint, "permission denied")

    def test_earlierUnixgramRemoved(self) -> None:
        """A UNIX datagram socket made before a later listener failed is
        removed."""
        path = socketPath(self)
        port = _busyPort(self, socket.SOCK_STREAM)
        result = _traced(
            self,
            path,
            "-e",
            "unixgram:" + path,
            "-e",
            f"tcp:{port}:interface=127.0.0.1",
        )
        self.assertEqual(result.code, 1)
        self.assertFalse(os.path.lexists(path))

    def test_earlierUnixRemoved(self) -> None:
        """A UNIX stream socket made before a later listener failed is removed."""
        path = socketPath(self)
        port = _busyPort(self, socket.SOCK_STREAM)
        result = _traced(
            self, path, "-e", "unix:" + path, "-e", f"tcp:{port}:interface=127.0.0.1"
        )
        self.assertEqual(result.code, 1)
        self.assertFalse(os.path.lexists(path))

    def test_earlierUnixLeavesNothing(self) -> None:
        """A failed start-up leaves nothing in an earlier UNIX socket's folder
        (neither the socket nor its lock file)."""
        path = socketPath(self)
        port = _busyPort(self, socket.SOCK_STREAM)
        result = runTwistd(
            self, "-e", "unix:" + path, "-e", f"tcp:{port}:interface=127.0.0.1"
        )
        self.assertEqual(result.code, 1)
        self.assertEqual(os.listdir(os.path.dirname(path)), [])


class CommandLineTests(SynchronousTestCase):
    """
    A mistake on the command line ends twistd with one line on stderr.
    """

    def assertCommandLineError(self, offending: str, *args: str) -> None:
        """
        twistd ends with status 1 and one line on stderr, starting
        "twistd sockplug:" and naming the offending value, without a
        traceback or starting to serve.
        """
        result = runTwistd(self, *args)
        self.assertEqual(result.code, 1, result.output)
        lines = result.stderr.splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertTrue(lines[0].startswith("twistd sockplug: "), lines[0])
        self.assertIn(offending, lines[0])
        self.assertNotIn("Traceback", result.output)
        self.assertNotIn("listening on", result.output)

    def test_unknownProtocol(self) -> None:
        """An unknown NAME@ is named."""
        self.assertCommandLineError("'nope'", "-e", "nope@tcp:0:interface=127.0.0.1")

    def test_unknownDefaultProtocol(self) -> None:
        """An unknown --protocol is named."""
        self.assertCommandLineError(
            "'nope'", "--protocol", "nope", "-e", "tcp:0:interface=127.0.0.1"
        )

    def test_upperCaseProtocol(self) -> None:
        """A protocol name in the wrong case is not found, and named."""
        self.assertCommandLineError("'Echo'", "-e", "Echo@tcp:0:interface=127.0.0.1")

    def test_unknownEndpointType(self) -> None:
        """An unknown endpoint type is named."""
        self.assertCommandLineError("'foo'", "-e", "foo:0")

    def test_malformedPort(self) -> None:
        """A TCP port that is not a number is named."""
        self.assertCommandLineError("'abc'", "-e", "tcp:abc")

    def test_malformedUDPPort(self) -> None:
        """A UDP port out of range is named."""
        self.assertCommandLineError("'99999'", "-e", "udp:99999")

    def test_udpInterfaceNotAnAddress(self) -> None:
        """A UDP interface that is not an IP address is named."""
        self.assertCommandLineError("'localhost'", "-e", "udp:0:interface=localhost")

    def test_unixgramBadMode(self) -> None:
        """A UNIX datagram mode that is not octal is named."""
        self.assertCommandLineError("'999'", "-e", "unixgram:/tmp/x.sock:mode=999")

    def test_noEndpoint(self) -> None:
        """Leaving out --endpoint is an error that names the option."""
        self.assertCommandLineError("--endpoint")

    def test_emptyProtocolName(self) -> None:
        """An empty NAME before '@' is named."""
        self.assertCommandLineError("'@tcp:0'", "-e", "@tcp:0")

    def test_nameWithoutEndpoint(self) -> None:
        """NAME@ with no endpoint after it is named."""
        self.assertCommandLineError("'line-print@'", "-e", "line-print@")

    def test_unknownOption(self) -> None:
        """An unknown option is named."""
        self.assertCommandLineError("bogus", "--bogus", "-e", "tcp:0")


class HelpTests(SynchronousTestCase):
    """
    twistd sockplug --help.
    """

    def test_help(self) -> None:
        """--help exits 0, listing the protocols and the endpoint types."""
        result = runTwistd(self, "--help")
        self.assertEqual(result.code, 0, result.output)
        lines = [line.split() for line in result.stdout.splitlines()]
        firstWords = {words[0] for words in lines if words}
        for name in ["echo", "hello", "line-print", "tcp", "tcp6", "unix", "udp"]:
            self.assertIn(name, firstWords)
        self.assertIn("unixgram", firstWords)
        self.assertNotIn("Traceback", result.output)
