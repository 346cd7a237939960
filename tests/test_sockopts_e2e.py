"""
End-to-end tests of the socket options of the tcp, udp, unix and unixgram
endpoint strings, and of UNIX socket files (modes, stale files), against real
twistd sockplug processes on loopback. The keepalive tests need `ss`
(iproute2).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import subprocess
import time

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.harness import (
    IO_TIMEOUT,
    POLL_INTERVAL,
    Result,
    Server,
    connect,
    datagramSocket,
    receiveLine,
    runTwistd,
    socketPath,
)

TCP = "tcp:0:interface=127.0.0.1"
UDP = "udp:0:interface=127.0.0.1"
TCP_SHARED = TCP + ":reuseport=yes"
UDP_SHARED = UDP + ":reuseport=yes"
# Connections or datagrams spread over two SO_REUSEPORT servers: the kernel
# picks a server by a hash of the 4-tuple, so one of them getting none of 64
# has a probability of 2**-63.
CLIENTS = 64
# A start-up that must fail does so in well under a second; past this it is
# taken as hanging.
FAIL_WITHIN = 5.0

_OPTIONS = re.compile(
    r"\[sockplug\.server\._service#info\]"
    r" (?P<endpoint>\S+) socket options: (?P<options>.*)$",
    re.MULTILINE,
)


def loggedOptions(server: Server, endpoint: str) -> dict[str, str]:
    """The options logged for C{endpoint} at start-up, by name."""
    deadline = time.monotonic() + IO_TIMEOUT
    while True:
        for match in _OPTIONS.finditer(server.stdout()):
            if match["endpoint"] == endpoint:
                pairs = (part.split("=", 1) for part in match["options"].split())
                return {name: value for name, value in pairs}
        if time.monotonic() > deadline:
            raise AssertionError(f"no socket options logged for {endpoint}")
        time.sleep(POLL_INTERVAL)


def kernelValue(family: int, kind: int, option: int, value: int) -> str:
    """What the kernel reports for a SOL_SOCKET option set to C{value} on a
    plain socket (Linux doubles buffer sizes, and caps them)."""
    with socket.socket(family, kind) as sock:
        sock.setsockopt(socket.SOL_SOCKET, option, value)
        return str(sock.getsockopt(socket.SOL_SOCKET, option))


def startExpectingFailure(
    testCase: SynchronousTestCase, *args: str, timeout: float = FAIL_WITHIN
) -> Result:
    """Start C{twistd -n sockplug ARGS}, which should fail to start, and
    return how it ended; fail if it listens or still runs after C{timeout}."""
    server = Server(testCase, *args)
    deadline = time.monotonic() + timeout
    while server.process.poll() is None:
        if "listening on" in server.stdout():
            raise testCase.failureException(f"twistd started:\n{server.output()}")
        if time.monotonic() > deadline:
            raise testCase.failureException(
                f"twistd still starting after {timeout}s:\n{server.output()}"
            )
        time.sleep(POLL_INTERVAL)
    return Result(server.process.returncode, server.stdout(), server.stderr())


def waitForTotal(
    testCase: SynchronousTestCase, servers: list[Server], marker: str, total: int
) -> list[int]:
    """Wait until C{marker} is in the servers' output C{total} times in all;
    return the count of each."""
    deadline = time.monotonic() + IO_TIMEOUT
    while True:
        counts = [server.stdout().count(marker) for server in servers]
        if sum(counts) >= total:
            return counts
        if time.monotonic() > deadline:
            testCase.fail(f"{marker!r} {counts} times, not {total}")
        time.sleep(POLL_INTERVAL)


def liveUnixListener(
    testCase: SynchronousTestCase, path: str, backlog: int = 16
) -> socket.socket:
    """A listening UNIX stream socket at C{path}, held by this test."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    testCase.addCleanup(sock.close)
    sock.bind(path)
    sock.listen(backlog)
    sock.settimeout(IO_TIMEOUT)
    return sock


def staleSocketFile(path: str, kind: int) -> None:
    """Leave a UNIX socket file at C{path} that nothing is bound to."""
    sock = socket.socket(socket.AF_UNIX, kind)
    sock.bind(path)
    sock.close()


class _Assertions(SynchronousTestCase):
    def assertListenFailure(self, result: Result, endpoint: str) -> None:
        """twistd exited 1 after one line naming C{endpoint}, with
        no traceback."""
        critical = result.stderr.splitlines()  # (logging has not begun)
        self.assertEqual(result.code, 1, result.output)
        self.assertEqual(len(critical), 1, result.output)
        self.assertIn(f"cannot listen on {endpoint!r}: ", critical[0])
        self.assertNotIn("Traceback", result.output)

    def assertStillServes(self, listener: socket.socket, path: str) -> None:
        """A client connecting to C{path} reaches C{listener}."""
        client = connect(self, path)
        client.sendall(b"ping")
        # Connections already queued (a probe that closed) come first.
        for _ in range(8):
            peer, _ = listener.accept()
            self.addCleanup(peer.close)
            peer.settimeout(IO_TIMEOUT)
            if peer.recv(16) == b"ping":
                return
        self.fail("the live listener never got the client's connection")


class EffectiveOptionsTests(SynchronousTestCase):
    """The start-up log shows each listener's options as the kernel has them."""

    def test_tcpAsked(self) -> None:
        """Buffer sizes, reuseaddr, reuseport, nodelay, keepalive asked show."""
        endpoint = TCP + ":rcvbuf=256K:sndbuf=64K:reuseaddr=no:reuseport=yes"
        endpoint += ":nodelay=yes:keepalive=yes"
        options = loggedOptions(Server.start(self, "-e", endpoint), endpoint)
        inet, stream = socket.AF_INET, socket.SOCK_STREAM
        self.assertEqual(
            options,
            {
                "rcvbuf": kernelValue(inet, stream, socket.SO_RCVBUF, 256 * 1024),
                "sndbuf": kernelValue(inet, stream, socket.SO_SNDBUF, 64 * 1024),
                "reuseaddr": "0",
                "reuseport": "1",
                "nodelay": "1",
                "keepalive": "1",
            },
        )

    def test_defaults(self) -> None:
        """Plain tcp and udp listeners show reuseport, nodelay, keepalive off."""
        server = Server.start(self, "-e", TCP, "-e", UDP)
        tcp, udp = loggedOptions(server, TCP), loggedOptions(server, UDP)
        self.assertEqual(
            (tcp["reuseport"], tcp["nodelay"], tcp["keepalive"], udp["reuseport"]),
            ("0", "0", "0", "0"),
        )

    def test_udpAsked(self) -> None:
        """rcvbuf and reuseport asked on udp show, with no TCP-only options."""
        endpoint = UDP + ":rcvbuf=1M:reuseport=yes"
        options = loggedOptions(Server.start(self, "-e", endpoint), endpoint)
        rcvbuf = kernelValue(
            socket.AF_INET, socket.SOCK_DGRAM, socket.SO_RCVBUF, 1 << 20
        )
        self.assertEqual(
            (sorted(options), options["rcvbuf"], options["reuseport"]),
            (["rcvbuf", "reuseaddr", "reuseport", "sndbuf"], rcvbuf, "1"),
        )

    def test_unixBuffers(self) -> None:
        """unix and unixgram show only their buffer sizes, as asked."""
        stream = "unix:" + socketPath(self) + ":rcvbuf=64K"
        dgram = "unixgram:" + socketPath(self) + ":rcvbuf=64K"
        server = Server.start(self, "-e", stream, "-e", dgram)
        expected = [
            kernelValue(socket.AF_UNIX, kind, socket.SO_RCVBUF, 64 * 1024)
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM)
        ]
        logged = [loggedOptions(server, endpoint) for endpoint in (stream, dgram)]
        self.assertEqual(
            [sorted(options) for options in logged], [["rcvbuf", "sndbuf"]] * 2
        )
        self.assertEqual([options["rcvbuf"] for options in logged], expected)


class AcceptedConnectionTests(SynchronousTestCase):
    """Options of a tcp listener reach its connections, as `ss` shows them."""

    def serverSide(self, endpoint: str) -> str:
        """The `ss` line of the server's side of a connection to a new server
        on C{endpoint}."""
        if shutil.which("ss") is None:
            raise SkipTest("ss (from iproute2) is not installed")
        port = Server.start(self, "-e", endpoint).port(endpoint)
        client = connect(self, ("127.0.0.1", port))
        clientName = "{}:{}".format(*client.getsockname())
        command = ["ss", "-tno", "state", "established", f"( sport = :{port} )"]
        deadline = time.monotonic() + IO_TIMEOUT
        while True:
            listing = subprocess.check_output(command, text=True, timeout=IO_TIMEOUT)
            for line in listing.splitlines():
                if clientName in line.split():
                    return line
            if time.monotonic() > deadline:
                self.fail(f"no server side of {clientName} in ss output:\n{listing}")
            time.sleep(POLL_INTERVAL)

    def test_keepalive(self) -> None:
        """keepalive=yes:keepidle=30 runs a keepalive timer of at most 30s."""
        line = self.serverSide(TCP + ":nodelay=yes:keepalive=yes:keepidle=30")
        match = re.search(r"timer:\(keepalive,(\d+)sec", line)
        self.assertIsNotNone(match, line)
        assert match is not None
        self.assertLessEqual(int(match.group(1)), 30, line)

    def test_noKeepaliveByDefault(self) -> None:
        """A plain tcp listener's connections run no keepalive timer."""
        self.assertNotIn("keepalive", self.serverSide(TCP))


class ReusePortTests(_Assertions):
    """Two processes share a port with reuseport=yes, and only then."""

    def test_tcpShared(self) -> None:
        """Two tcp servers with reuseport=yes on one port both get
        connections."""
        # Every connection is counted from its log line: lift the rate limit
        # on connection lines above the connections made.
        shared = TCP_SHARED + f":loglines={CLIENTS * 10}"
        first = Server.start(self, "-e", shared)
        port = first.port(shared)
        second = Server.start(self, "-e", shared.replace(":0:", f":{port}:"))
        for _ in range(CLIENTS):
            connect(self, ("127.0.0.1", port)).close()
        counts = waitForTotal(self, [first, second], " connected", CLIENTS)
        self.assertNotIn(0, counts, counts)

    def test_udpShared(self) -> None:
        """Two udp servers with reuseport=yes on one port both get datagrams
        from 64 client ports."""
        first = Server.start(self, "-e", "line-print@" + UDP_SHARED)
        port = first.port(UDP_SHARED)
        shared = UDP_SHARED.replace(":0:", f":{port}:")
        second = Server.start(self, "-e", "line-print@" + shared)
        for n in range(CLIENTS):
            sock = datagramSocket(self, ("127.0.0.1", port))
            sock.sendto(b"dgram-%d\n" % n, ("127.0.0.1", port))
            sock.close()
        counts = waitForTotal(self, [first, second], ": dgram-", CLIENTS)
        self.assertNotIn(0, counts, counts)

    def test_tcpRefusedWithoutReuseport(self) -> None:
        """A second tcp server without reuseport fails, naming its endpoint."""
        port = Server.start(self, "-e", TCP_SHARED).port(TCP_SHARED)
        endpoint = f"tcp:{port}:interface=127.0.0.1"
        self.assertListenFailure(startExpectingFailure(self, "-e", endpoint), endpoint)

    def test_udpRefusedWithoutReuseport(self) -> None:
        """A second udp server without reuseport fails, naming its endpoint."""
        port = Server.start(self, "-e", UDP_SHARED).port(UDP_SHARED)
        endpoint = f"udp:{port}:interface=127.0.0.1"
        self.assertListenFailure(startExpectingFailure(self, "-e", endpoint), endpoint)


class SocketModeTests(SynchronousTestCase):
    """The permission bits of UNIX socket files."""

    def modeOf(self, kind: str, options: str = "") -> int:
        """The mode of the socket file of a new server on C{kind:PATH}."""
        path = socketPath(self)
        Server.start(self, "-e", f"{kind}:{path}{options}")
        return stat.S_IMODE(os.stat(path).st_mode)

    def test_unixDefault(self) -> None:
        """A unix socket file is 0660 by default."""
        self.assertEqual(oct(self.modeOf("unix")), oct(0o660))

    def test_unixgramDefault(self) -> None:
        """A unixgram socket file is 0660 by default."""
        self.assertEqual(oct(self.modeOf("unixgram")), oct(0o660))

    def test_unix600(self) -> None:
        """mode=600 makes a unix socket file 0600."""
        self.assertEqual(oct(self.modeOf("unix", ":mode=600")), oct(0o600))

    def test_unix666(self) -> None:
        """mode=666 makes a unix socket file 0666."""
        self.assertEqual(oct(self.modeOf("unix", ":mode=666")), oct(0o666))

    def test_unixDefaultWithOptions(self) -> None:
        """A unix socket file with socket options is 0660 by default too."""
        self.assertEqual(oct(self.modeOf("unix", ":rcvbuf=64K")), oct(0o660))

    def test_unixgram600WithOptions(self) -> None:
        """mode=600 holds for a unixgram socket with socket options."""
        mode = self.modeOf("unixgram", ":mode=600:sndbuf=64K")
        self.assertEqual(oct(mode), oct(0o600))


class StaleSocketTests(_Assertions):
    """Stale socket files are replaced unless stale=fail; live ones never."""

    def setUp(self) -> None:
        self.path = socketPath(self)

    def test_staleReplaced(self) -> None:
        """unix:PATH:lockfile=0 replaces a stale socket file and serves."""
        staleSocketFile(self.path, socket.SOCK_STREAM)
        server = Server.start(self, "-e", f"unix:{self.path}:lockfile=0")
        sock = connect(self, self.path)
        sock.sendall(b"fresh\n")
        self.assertEqual(receiveLine(sock), b"fresh\n")
        self.assertIn(f"Removing stale UNIX stream socket {self.path}", server.stdout())

    def test_staleFail(self) -> None:
        """stale=fail refuses a stale unix socket file with one line, and
        leaves it."""
        staleSocketFile(self.path, socket.SOCK_STREAM)
        endpoint = f"unix:{self.path}:lockfile=0:stale=fail"
        self.assertListenFailure(startExpectingFailure(self, "-e", endpoint), endpoint)
        self.assertTrue(stat.S_ISSOCK(os.lstat(self.path).st_mode))

    def test_unixgramStaleFail(self) -> None:
        """stale=fail refuses a stale unixgram socket file with one line."""
        staleSocketFile(self.path, socket.SOCK_DGRAM)
        endpoint = f"unixgram:{self.path}:stale=fail"
        self.assertListenFailure(startExpectingFailure(self, "-e", endpoint), endpoint)

    def test_liveNotTakenOver(self) -> None:
        """A live listener's socket is refused with one line, and still
        serves."""
        listener = liveUnixListener(self, self.path)
        endpoint = f"unix:{self.path}:lockfile=0"
        self.assertListenFailure(startExpectingFailure(self, "-e", endpoint), endpoint)
        self.assertStillServes(listener, self.path)

    def test_failureLeavesNoLockFile(self) -> None:
        """Failing on a live socket leaves no PATH.lock behind."""
        liveUnixListener(self, self.path)
        endpoint = "unix:" + self.path
        self.assertListenFailure(startExpectingFailure(self, "-e", endpoint), endpoint)
        self.assertFalse(os.path.lexists(self.path + ".lock"))

    def test_liveNotTakenOverOnRetry(self) -> None:
        """A second attempt on a live listener's socket fails as the first
        did."""
        listener = liveUnixListener(self, self.path)
        endpoint = "unix:" + self.path
        self.assertEqual(runTwistd(self, "-e", endpoint).code, 1)
        self.assertListenFailure(startExpectingFailure(self, "-e", endpoint), endpoint)
        self.assertStillServes(listener, self.path)

    def test_liveWithFullBacklog(self) -> None:
        """A live listener whose backlog is full is refused, without hanging."""
        liveUnixListener(self, self.path, backlog=0)
        for _ in range(256):
            waiting = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.addCleanup(waiting.close)
            waiting.setblocking(False)
            try:
                waiting.connect(self.path)
            except BlockingIOError:
                break
        endpoint = f"unix:{self.path}:lockfile=0"
        self.assertListenFailure(startExpectingFailure(self, "-e", endpoint), endpoint)


class BadOptionTests(SynchronousTestCase):
    """A bad socket option is a one-line command-line error."""

    def assertCommandLineError(self, endpoint: str, *offending: str) -> None:
        """twistd exits 1 with one line on stderr naming the endpoint and
        each of C{offending}, no traceback, and nothing started."""
        result = runTwistd(self, "-e", endpoint)
        self.assertEqual(result.code, 1, result.output)
        lines = result.stderr.splitlines()
        self.assertEqual(len(lines), 1, result.output)
        self.assertTrue(lines[0].startswith("twistd sockplug: "), lines[0])
        for text in (repr(endpoint), *offending):
            self.assertIn(text, lines[0])
        self.assertNotIn("Traceback", result.output)
        self.assertNotIn("listening on", result.output)

    def test_rcvbufNotANumber(self) -> None:
        """rcvbuf=abc is named."""
        self.assertCommandLineError(TCP + ":rcvbuf=abc", "'abc'")

    def test_rcvbufTooLarge(self) -> None:
        """rcvbuf=4096M, more than a socket option can hold, is named."""
        self.assertCommandLineError(TCP + ":rcvbuf=4096M", "rcvbuf", "'4096M'")

    def test_reuseportNotAFlag(self) -> None:
        """reuseport=maybe is named."""
        self.assertCommandLineError(TCP + ":reuseport=maybe", "'maybe'")

    def test_nodelayOnUDP(self) -> None:
        """nodelay on udp is refused as not applying."""
        self.assertCommandLineError(UDP + ":nodelay=yes", "nodelay", "does not apply")

    def test_unixModeNotOctal(self) -> None:
        """mode=9 on unix is named."""
        self.assertCommandLineError(f"unix:{socketPath(self)}:mode=9", "'9'")

    def test_staleUnknown(self) -> None:
        """stale=whatever is named."""
        self.assertCommandLineError(
            f"unix:{socketPath(self)}:stale=whatever", "'whatever'"
        )

    def test_unknownOption(self) -> None:
        """foo=1 is named, with the options tcp takes."""
        names = "interface backlog reuseaddr reuseport rcvbuf sndbuf nodelay"
        names += " keepalive keepidle keepintvl keepcnt"
        self.assertCommandLineError(TCP + ":foo=1", "foo", *names.split())


class HelpTests(SynchronousTestCase):
    """twistd sockplug --help documents the socket options."""

    def test_everyOption(self) -> None:
        """Every option name starts a line of the socket options section."""
        result = runTwistd(self, "--help")
        self.assertEqual(result.code, 0, result.output)
        section = result.stdout.partition("\nSocket options")[2].split("\n\n")[0]
        documented = {line.split()[0] for line in section.splitlines() if line.strip()}
        names = "reuseaddr reuseport rcvbuf sndbuf nodelay keepalive keepidle"
        names += " keepintvl keepcnt backlog mode stale lockfile"
        self.assertEqual(set(names.split()) - documented, set())
