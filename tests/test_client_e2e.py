"""
End-to-end tests of the C{sockplug} client command, run as a real process
against real twistd sockplug servers, on loopback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time

from twisted.trial.unittest import SynchronousTestCase

import sockplug
from tests.clientcommand import SOCKPLUG, TIMEOUT, run
from tests.harness import Server, socketPath, temporaryDirectory
from tests.tlscerts import selfSignedCertificate

TCP = "tcp:0:interface=127.0.0.1"
UDP = "udp:0:interface=127.0.0.1"


def read(path: str) -> bytes:
    """The whole content of a file."""
    with open(path, "rb") as f:
        return f.read()


def killIfRunning(process: subprocess.Popen[bytes]) -> None:
    """Kill C{process} unless it has ended, and reap it."""
    if process.poll() is None:
        process.kill()
    process.wait(TIMEOUT)


def tmpdirEnv(folder: str) -> dict[str, str]:
    """The environment, with C{folder} as the temporary folder."""
    return {**os.environ, "TMPDIR": folder}


class _Case(SynchronousTestCase):
    def assertOneLineError(
        self, result: subprocess.CompletedProcess[bytes], *fragments: str
    ) -> None:
        """Exit status 1 and one line on standard error, holding C{fragments}."""
        err = result.stderr.decode("utf-8", "replace")
        self.assertEqual(result.returncode, 1, err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertTrue(err.startswith("sockplug: "), err)
        for fragment in fragments:
            self.assertIn(fragment, err)

    def assertReplies(
        self, result: subprocess.CompletedProcess[bytes], expected: bytes
    ) -> None:
        """Exit status 0 and C{expected} on standard output."""
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, expected)


class StreamTests(_Case):
    """C{sockplug connect} and C{send} over TCP and UNIX stream sockets."""

    def endpoint(self, spec: str = TCP) -> str:
        server = Server.start(self, "--endpoint", spec)
        host, port = server.inet(server.endpoints[0])
        host = host.replace(":", "\\:")
        return f"tcp:host={host}:port={port}"

    def test_connectTCP(self) -> None:
        """Lines piped to C{connect} over TCP come back from echo."""
        self.assertReplies(run("connect", self.endpoint(), data=b"a\nb\n"), b"a\nb\n")

    def test_connectTCP6(self) -> None:
        """C{connect} reaches echo on C{::1}, its colons escaped."""
        endpoint = self.endpoint("tcp6:0:interface=\\:\\:1")
        self.assertIn("host=\\:\\:1:", endpoint)
        self.assertReplies(run("connect", endpoint, data=b"a\nb\n"), b"a\nb\n")

    def test_connectUNIX(self) -> None:
        """Lines piped to C{connect} over a UNIX socket come back from echo."""
        path = socketPath(self)
        Server.start(self, "--endpoint", f"unix:{path}")
        result = run("connect", f"unix:path={path}", data=b"a\nb\n")
        self.assertReplies(result, b"a\nb\n")

    def test_sendHello(self) -> None:
        """C{send} over TCP prints hello's greeting and its answer."""
        result = run("send", self.endpoint("hello@" + TCP), "World")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(b"Hello, World!", result.stdout.splitlines())

    def test_escapedByDefault(self) -> None:
        """Control characters in a reply are printed escaped."""
        result = run("send", self.endpoint(), "\x1b[31m")
        self.assertReplies(result, b"\\x1b[31m\n")

    def test_raw(self) -> None:
        """With C{--raw} a reply is printed as received."""
        result = run("send", "--raw", self.endpoint(), "\x1b[31m")
        self.assertReplies(result, b"\x1b[31m\n")

    def test_noNewline(self) -> None:
        """With C{-n} the message goes without a line feed."""
        self.assertReplies(run("send", "-n", self.endpoint(), "hi"), b"hi")

    def test_largeRaw(self) -> None:
        """A megabyte of every byte value comes back unchanged through C{--raw}."""
        payload = bytes(range(256)) * 4096
        result = run("connect", "--raw", self.endpoint(), data=payload)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertTrue(result.stdout == payload, f"{len(result.stdout)} bytes")

    def test_refused(self) -> None:
        """A refused TCP connection exits 1 with one line, no traceback."""
        sock = socket.socket()
        self.addCleanup(sock.close)
        sock.bind(("127.0.0.1", 0))  # bound but not listening: refuses
        endpoint = f"tcp:host=127.0.0.1:port={sock.getsockname()[1]}"
        result = run("send", endpoint, "x")
        self.assertOneLineError(result, repr(endpoint), "connection refused")

    def test_bindAddressNotAnAddress(self) -> None:
        """
        A C{bindAddress=} that names no address exits 1 with one line in
        words (it said "unknown error -2").
        """
        endpoint = "tcp:host=127.0.0.1:port=1:bindAddress=abc"
        result = run("send", endpoint, "x")
        self.assertOneLineError(result, repr(endpoint), "name or service not known")


class TLSTests(_Case):
    """C{sockplug send} over TLS, to hello with a self-signed certificate."""

    def setUp(self) -> None:
        self.roots = temporaryDirectory(self)
        key, cert = selfSignedCertificate(temporaryDirectory(self))
        with open(cert, "rb") as f, open(os.path.join(self.roots, "ca.pem"), "wb") as g:
            g.write(f.read())
        spec = f"hello@ssl:0:interface=127.0.0.1:privateKey={key}:certKey={cert}"
        server = Server.start(self, "--endpoint", spec)
        self.port = server.port(server.endpoints[0])

    def test_trusted(self) -> None:
        """With the certificate trusted, hello's answer is printed."""
        endpoint = f"tls:localhost:{self.port}:trustRoots={self.roots}"
        result = run("send", endpoint, "World")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(b"Hello, World!", result.stdout.splitlines())

    def test_noReply(self) -> None:
        """
        A one-way send over TLS, which cannot half-close, closes at once and
        succeeds once the server has answered the close, printing nothing.
        """
        endpoint = f"tls:localhost:{self.port}:trustRoots={self.roots}"
        started = time.monotonic()
        result = run("send", "--no-reply", "--wait", "20", endpoint, "World")
        self.assertReplies(result, b"")
        self.assertLess(time.monotonic() - started, 15, "it waited for --wait")

    def test_untrusted(self) -> None:
        """A certificate that is not trusted fails with one line of error."""
        endpoint = f"tls:localhost:{self.port}"
        self.assertOneLineError(run("send", endpoint, "World"), repr(endpoint))


class RetryTests(_Case):
    """C{--retry} waits for a server that starts late."""

    def test_serverStartsLate(self) -> None:
        """A client started before its server connects once it listens."""
        path = socketPath(self)
        unix = f"unix:path={path}"
        folder = temporaryDirectory(self)
        outPath, errPath = (os.path.join(folder, n) for n in ("out", "err"))
        with open(outPath, "wb") as out, open(errPath, "wb") as err:
            client = subprocess.Popen(
                [SOCKPLUG, "connect", "-r", "30", "--retry-delay", "0.3", unix],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=err,
            )
        self.addCleanup(killIfRunning, client)
        assert client.stdin is not None
        client.stdin.write(b"late\n")
        client.stdin.close()
        deadline = time.monotonic() + TIMEOUT
        while b"retrying" not in read(errPath):
            self.assertIsNone(client.poll(), "the client ended before retrying")
            self.assertLess(time.monotonic(), deadline, "no retrying line")
            time.sleep(0.05)
        Server.start(self, "--endpoint", f"unix:{path}")
        self.assertEqual(client.wait(TIMEOUT), 0, read(errPath))
        self.assertEqual(read(outPath), b"late\n")
        lines = read(errPath).decode().splitlines()
        self.assertTrue(lines and all("retrying in 0.3 seconds" in x for x in lines))


class DatagramTests(_Case):
    """C{sockplug connect} and C{send} over UDP and UNIX datagram sockets."""

    def udp(self, spec: str = UDP) -> str:
        server = Server.start(self, "--endpoint", spec)
        return f"udp:host=127.0.0.1:port={server.port(server.endpoints[0])}"

    def unixgram(self) -> str:
        path = socketPath(self, "server.dgram")
        Server.start(self, "--endpoint", f"unixgram:{path}")
        return f"unixgram:path={path}"

    def refusingPort(self) -> int:
        """A UDP port that answers every datagram of ours with "unreachable"."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind(("127.0.0.1", 0))
        # Connected elsewhere, it takes no datagram from us: ICMP refuses.
        sock.connect(("127.0.0.1", 9))
        return int(sock.getsockname()[1])

    def test_connectUDP(self) -> None:
        """Each line is a datagram to echo over UDP, and each reply is printed."""
        result = run("connect", self.udp(), data=b"a\nb\n")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(sorted(result.stdout.splitlines()), [b"a", b"b"])

    def test_connectUnixgram(self) -> None:
        """Lines to echo over UNIX datagrams are answered and printed."""
        result = run("connect", self.unixgram(), data=b"a\nb\n")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(sorted(result.stdout.splitlines()), [b"a", b"b"])

    def test_unixgramLeavesNothing(self) -> None:
        """The UNIX datagram client removes its temporary folder."""
        folder = temporaryDirectory(self)
        result = run("send", self.unixgram(), "x", env=tmpdirEnv(folder))
        self.assertReplies(result, b"x\n")
        self.assertEqual(os.listdir(folder), [])

    def test_unixgramCannotBind(self) -> None:
        """A client that cannot bind its own path says so and leaves nothing."""
        folder = os.path.join(temporaryDirectory(self), "d" * 100)
        os.mkdir(folder)
        result = run("send", self.unixgram(), "x", env=tmpdirEnv(folder))
        self.assertOneLineError(result, "cannot open 'unixgram:path=")
        self.assertEqual(os.listdir(folder), [])

    def test_unixgramNothingListening(self) -> None:
        """Sending to a UNIX path where nothing listens is one line of error."""
        endpoint = f"unixgram:path={socketPath(self)}"
        result = run("send", endpoint, "x")
        self.assertOneLineError(result, f"cannot send to {endpoint!r}")

    def test_connectUnixgramNothingListening(self) -> None:
        """Lines to a UNIX path where nothing listens give one line of error."""
        endpoint = f"unixgram:path={socketPath(self)}"
        result = run("connect", endpoint, data=b"a\n")
        self.assertOneLineError(result, f"cannot send to {endpoint!r}")

    def test_sendHelloUDP(self) -> None:
        """C{send} over UDP prints hello's answer."""
        result = run("send", self.udp("hello@" + UDP), "World")
        self.assertReplies(result, b"Hello, World!\n")

    def test_noReply(self) -> None:
        """C{send} to a UDP server that never answers fails within C{--wait}."""
        endpoint = self.udp("line-print@" + UDP)
        result = run("send", "--wait", "0.5", endpoint, "x")
        self.assertOneLineError(result, f"no reply from {endpoint!r} within 0.5")

    def test_sendRefused(self) -> None:
        """C{send} to a UDP port with nothing there says it refused."""
        endpoint = f"udp:host=127.0.0.1:port={self.refusingPort()}"
        result = run("send", endpoint, "x")
        self.assertOneLineError(result, repr(endpoint), "refused the datagrams")

    def test_connectRefusedSlowInput(self) -> None:
        """Input that goes on after UDP refused still gives one line of error."""
        endpoint = f"udp:host=127.0.0.1:port={self.refusingPort()}"
        client = subprocess.Popen(
            [SOCKPLUG, "connect", endpoint],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.addCleanup(killIfRunning, client)
        assert client.stdin is not None
        client.stdin.write(b"a\n")
        client.stdin.flush()
        time.sleep(1.5)  # the refusal arrives meanwhile
        out, err = client.communicate(b"b\n", timeout=TIMEOUT)
        result = subprocess.CompletedProcess(client.args, client.returncode, out, err)
        self.assertOneLineError(result, "refused the datagrams")


class NoReplyTests(_Case):
    """C{sockplug send --no-reply} to line-print, which never answers."""

    def lineprint(self, spec: str) -> tuple[Server, str]:
        server = Server.start(self, "--endpoint", "line-print@" + spec)
        return server, server.endpoints[0]

    def test_udp(self) -> None:
        """Over UDP the message is sent, nothing printed, and the command
        succeeds at once (without it, it fails for want of a reply)."""
        server, spec = self.lineprint(UDP)
        endpoint = f"udp:host=127.0.0.1:port={server.port(spec)}"
        self.assertReplies(run("send", "--no-reply", endpoint, "one way"), b"")
        server.waitForLineMatching(lambda line: line.endswith(": one way"))

    def test_tcp(self) -> None:
        """Over TCP the message is delivered and the connection closed cleanly."""
        server, spec = self.lineprint(TCP)
        endpoint = f"tcp:host=127.0.0.1:port={server.port(spec)}"
        self.assertReplies(run("send", "--no-reply", endpoint, "one way"), b"")
        server.waitForLineMatching(lambda line: line.endswith(": one way"))
        server.waitForLineMatching(
            lambda line: "disconnected after" in line and "closed cleanly" in line
        )

    def test_unixgram(self) -> None:
        """Over UNIX datagrams the message is sent, and nothing is left behind."""
        path = socketPath(self, "server.dgram")
        server = Server.start(self, "--endpoint", f"line-print@unixgram:{path}")
        folder = temporaryDirectory(self)
        result = run(
            "send",
            "--no-reply",
            f"unixgram:path={path}",
            "one way",
            env=tmpdirEnv(folder),
        )
        self.assertReplies(result, b"")
        server.waitForLineMatching(lambda line: line.endswith(": one way"))
        self.assertEqual(os.listdir(folder), [])

    def test_repliesNotPrinted(self) -> None:
        """What a server answers a one-way send is not printed."""
        server = Server.start(self, "--endpoint", "hello@" + UDP)
        endpoint = f"udp:host=127.0.0.1:port={server.port(server.endpoints[0])}"
        self.assertReplies(run("send", "--no-reply", endpoint, "World"), b"")

    def test_notDelivered(self) -> None:
        """A message that cannot be delivered is one line of error."""
        endpoint = f"unixgram:path={socketPath(self)}"
        result = run("send", "--no-reply", endpoint, "x")
        self.assertOneLineError(result, f"cannot send to {endpoint!r}")

    def test_refused(self) -> None:
        """A refused TCP connection is one line of error."""
        sock = socket.socket()
        self.addCleanup(sock.close)
        sock.bind(("127.0.0.1", 0))
        endpoint = f"tcp:host=127.0.0.1:port={sock.getsockname()[1]}"
        result = run("send", "--no-reply", endpoint, "x")
        self.assertOneLineError(result, repr(endpoint), "connection refused")


class CommandLineTests(_Case):
    """The command line itself."""

    def test_version(self) -> None:
        """C{sockplug --version} prints sockplug's version."""
        result = run("--version")
        self.assertReplies(result, f"sockplug {sockplug.__version__}\n".encode())

    def test_sendHelp(self) -> None:
        """C{sockplug send --help} begins with that command's usage alone."""
        result = run("send", "--help")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(
            result.stdout.splitlines()[0],
            b"Usage: sockplug send [options] ENDPOINT MESSAGE",
        )
        self.assertIn(b"--no-reply", result.stdout)

    def test_wrongValues(self) -> None:
        """
        Each wrong value is one line naming it and saying what to write,
        with nothing of Python's or Twisted's in it.
        """
        wide = "\uff18" * 4  # fullwidth digits: Python's int() reads 8888
        for args, expected in [
            (["--retry", "abc"], "--retry 'abc' is not a whole number"),
            (["--wait", "abc"], "--wait 'abc' is not a number of seconds"),
            (["tcp:host=127.0.0.1:port=99999"], "port '99999' is not a number"),
            (["tcp:host=127.0.0.1:port=" + "9" * 5000], "(5000 characters)' is"),
            (["tcp:host=127.0.0.1"], "no port given; e.g. tcp:host=HOST:port="),
            (["tcp:host=::1:port=1"], "write host=\\:\\:1, in single quotes"),
            ([f"tcp:host=127.0.0.1:port={wide}"], f"port '{wide}' is not a"),
            ([f"udp:host=127.0.0.1:port={wide}"], f"port '{wide}' is not a"),
            ([f"tcp:host=12{wide}:port=1"], "has digits that are not ASCII"),
            (
                ["tcp:host=\\:\\:1:port=0"],
                "endpoint 'tcp:host=\\:\\:1:port=0': port '0'",
            ),
        ]:
            if not args[-1].startswith(("tcp:", "udp:")):
                args.append("tcp:host=127.0.0.1:port=1")
            result = run("send", *args, "x")
            self.assertOneLineError(result, expected)
            err = result.stderr.decode("utf-8", "replace")
            for internal in ("Traceback", "int()", "connect_ex", "max_str_digits"):
                self.assertNotIn(internal, err)
            self.assertLess(len(err), 400, err)  # not kilobytes

    def test_protocols(self) -> None:
        """C{sockplug protocols} lists the built-in protocols."""
        result = run("protocols")
        self.assertEqual(result.returncode, 0, result.stderr)
        for name in (b"echo", b"hello", b"line-print"):
            self.assertIn(b"  " + name + b" ", result.stdout)

    def test_noArguments(self) -> None:
        """C{sockplug} alone exits with one line saying what to do."""
        self.assertOneLineError(run(), "connect, send, protocols or check-config")

    def test_badEndpoint(self) -> None:
        """A malformed endpoint string exits 1 with one line naming it."""
        result = run("send", "udp:host=127.0.0.1:port=0", "x")
        self.assertOneLineError(result, "'udp:host=127.0.0.1:port=0'", "1 to 65535")

    def test_unknownEndpointType(self) -> None:
        """An unknown endpoint type exits 1 with one line naming it."""
        result = run("connect", "bogus:x")
        self.assertOneLineError(result, "'bogus:x'", "unknown endpoint type")
