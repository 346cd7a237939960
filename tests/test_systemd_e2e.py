"""
End-to-end tests of systemd socket activation: real sockets made by
C{systemd-socket-activate} (Debian's systemd package) and handed to
C{twistd -n sockplug}, and the units of C{contrib/systemd/} checked with
C{systemd-analyze} and served as their C{ExecStart=} says.

C{systemd-socket-activate} binds its sockets, waits for the first
connection or datagram, then execs the command with C{LISTEN_FDS}; its
C{--datagram} applies to all its sockets, so a stream and a datagram socket
come from two of them, one execing the other (the inner one passes the
outer one's socket on first). It sets C{LISTEN_FDNAMES} only with
C{--fdname}, and Twisted reads no descriptor without it.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Sequence

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.configured import catchesSignal, freePort
from tests.harness import (
    POLL_INTERVAL,
    START_TIMEOUT,
    TWISTD,
    Server,
    connect,
    datagramSocket,
    endpointsOf,
    exchangeDatagram,
    parseAddress,
    receive,
    receiveLine,
    runClient,
    runTwistd,
    temporaryDirectory,
)
from tests.tlscerts import selfSignedCertificate

CONTRIB = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "contrib", "systemd"
)
_SOCKETS = re.compile(r"^Listening on (\S+) as (\d+)\.$", re.MULTILINE)
# What systemd-socket-activate says on standard error.
_ACTIVATE_LINES = ("Listening on ", "Communication attempt on fd ", "Execing ")
_EXPOSURE = re.compile(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)")

# Run the command given after it under a seccomp filter that refuses what
# systemd 252's MemoryDenyWriteExecute=yes refuses (x86-64): mmap() of
# memory both writable and executable, mprotect()/pkey_mprotect() making
# memory executable.
MDWE = """
import ctypes, os, struct, sys
LD, JEQ, JSET, AND, RET = 0x20, 0x15, 0x45, 0x54, 0x06
ALLOW, EPERM = 0x7FFF0000, 0x00050000 | 1
def op(code, k, jt=0, jf=0):
    return struct.pack("=HBBI", code, jt, jf, k)
program = b"".join([
    op(LD, 4), op(JEQ, 0xC000003E, 1, 0), op(RET, ALLOW),
    op(LD, 0), op(JEQ, 9, 3, 0), op(JEQ, 10, 5, 0), op(JEQ, 329, 4, 0),
    op(RET, ALLOW),
    op(LD, 32), op(AND, 6), op(JEQ, 6, 3, 2),
    op(LD, 32), op(JSET, 4, 1, 0),
    op(RET, ALLOW), op(RET, EPERM),
])
class Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]
libc = ctypes.CDLL(None, use_errno=True)
prog = Prog(len(program) // 8, program)
if libc.prctl(38, 1, 0, 0, 0) or libc.prctl(22, 2, ctypes.byref(prog), 0, 0):
    sys.exit("seccomp: " + os.strerror(ctypes.get_errno()))
os.execv(sys.argv[1], sys.argv[1:])
"""


def need(tool: str) -> str:
    """The path of C{tool}; skip the test if it is not installed."""
    path = shutil.which(tool)
    if path is None:
        raise SkipTest(f"{tool} is not installed (Debian's systemd package)")
    return path


def mdwe() -> list[str]:
    """The command prefix that runs a program as MemoryDenyWriteExecute=yes."""
    if platform.machine() != "x86_64":
        raise SkipTest("the MemoryDenyWriteExecute filter is written for x86-64")
    return [sys.executable, "-c", MDWE]


class Activated(Server):
    """
    A C{twistd -n sockplug} run by nested C{systemd-socket-activate}s, one
    per layer of options; it starts on the first traffic to the sockets of
    the outermost one.
    """

    def __init__(
        self,
        testCase: SynchronousTestCase,
        layers: Sequence[Sequence[str]],
        *args: str,
        prefix: Sequence[str] = (),
    ) -> None:
        # As Server.__init__, with the activation command in front.
        self._testCase = testCase
        self.endpoints = endpointsOf(args)
        self.directory = temporaryDirectory(testCase)
        self._stdout = os.path.join(self.directory, "stdout")
        self._stderr = os.path.join(self.directory, "stderr")
        self.addresses = {}
        activate = need("systemd-socket-activate")
        command = [part for layer in layers for part in (activate, *layer)]
        if layers:  # it passes on none of its environment but what -E says
            command += [f"--setenv={k}={v}" for k, v in sorted(os.environ.items())]
        command += [*prefix, TWISTD, "-n", "--pidfile=", "sockplug", *args]
        with open(self._stdout, "wb") as out, open(self._stderr, "wb") as err:
            self.process = subprocess.Popen(
                command,
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        testCase.addCleanup(self.kill)

    def socketsBound(self, count: int) -> bool:
        """
        Wait until the outermost activation has bound its C{count} sockets;
        false if it could not (an address already in use).
        """
        deadline = time.monotonic() + START_TIMEOUT
        while len(_SOCKETS.findall(self.stderr())) < count:
            if self.process.poll() is not None:
                if "already in use" in self.output():
                    return False
                raise self._fail(f"exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                raise self._fail("its sockets are not bound")
            time.sleep(POLL_INTERVAL)
        return True

    def exitStatus(self) -> int:
        """Wait for the process to end by itself; its status."""
        try:
            return self.process.wait(START_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise self._fail(f"still running after {START_TIMEOUT}s") from None

    def failure(self) -> list[str]:
        """
        The lines twistd printed on standard error (where a start that
        fails says why: logging has not begun), without those of
        systemd-socket-activate.
        """
        return [
            line
            for line in self.stderr().splitlines()
            if not line.startswith(_ACTIVATE_LINES)
        ]


def activate(
    testCase: SynchronousTestCase,
    layers: Sequence[Sequence[str]],
    *args: str,
    prefix: Sequence[str] = (),
) -> tuple[Activated, dict[str, int]]:
    """
    Start an L{Activated} server. In C{layers}, C{{tcp}} and C{{udp}} stand
    for free loopback ports, picked again if one is taken before the
    outermost activation binds it; return them too.
    """
    for _ in range(3):
        ports = {"tcp": freePort(), "udp": freePort(socket.SOCK_DGRAM)}
        filled = [[part.format(**ports) for part in layer] for layer in layers]
        server = Activated(testCase, filled, *args, prefix=prefix)
        if server.socketsBound(filled[0].count("-l")):
            return server, ports
        server.kill()
    raise testCase.failureException("no free port in 3 tries")


def loopback(port: int) -> tuple[str, int]:
    """The address of C{port} on 127.0.0.1."""
    return ("127.0.0.1", port)


def echoes(testCase: SynchronousTestCase, sock: socket.socket, line: bytes) -> None:
    """C{line} sent on C{sock} comes back."""
    sock.sendall(line)
    testCase.assertEqual(receiveLine(sock), line)


class HelpTests(SynchronousTestCase):
    """
    C{twistd sockplug --help}.
    """

    def test_listed(self) -> None:
        """
        The help lists C{systemd-datagram} among the datagram types, with
        its example.
        """
        result = runTwistd(self, "--help")
        self.assertEqual(result.code, 0, result.output)
        datagram = result.stdout.split("Endpoint types (datagram):")[1]
        self.assertIn("  systemd-datagram A datagram socket handed over", datagram)
        self.assertIn("e.g. systemd-datagram:domain=INET:index=1", datagram)


class StreamTests(SynchronousTestCase):
    """
    A TCP socket passed by systemd to C{systemd:}.
    """

    def test_echoByName(self) -> None:
        """
        A connection made before sockplug started is echoed once it has
        adopted the socket picked by name, and so are those of nc and
        socat.
        """
        server, ports = activate(
            self,
            [["-l", "127.0.0.1:{tcp}", "--fdname=web"]],
            "--endpoint",
            "systemd:domain=INET:name=web",
        )
        address = loopback(ports["tcp"])
        echoes(self, connect(self, address), b"first\n")
        server.waitUntilListening()
        self.assertEqual(server.inet("systemd:domain=INET:name=web"), address)
        nc = runClient(["nc", "-q1", "127.0.0.1", str(ports["tcp"])], b"nc\n")
        self.assertEqual(nc.stdout, b"nc\n")
        socat = runClient(["socat", "-", f"TCP:127.0.0.1:{ports['tcp']}"], b"socat\n")
        self.assertEqual(socat.stdout, b"socat\n")


class DatagramTests(SynchronousTestCase):
    """
    A UDP socket passed by systemd (C{--datagram}) to C{systemd-datagram:}.
    """

    def test_echo(self) -> None:
        """
        A datagram sent before sockplug started is answered once it has
        adopted the socket, and so is socat's.
        """
        server, ports = activate(
            self,
            [["--datagram", "-l", "127.0.0.1:{udp}", "--fdname=dns"]],
            "--endpoint",
            "systemd-datagram:domain=INET:index=0",
        )
        address = loopback(ports["udp"])
        self.assertEqual(exchangeDatagram(self, address, b"first"), b"first")
        server.waitUntilListening()
        self.assertEqual(server.inet("systemd-datagram:domain=INET:index=0"), address)
        socat = runClient(["socat", "-", f"UDP:127.0.0.1:{ports['udp']}"], b"socat\n")
        self.assertEqual(socat.stdout, b"socat\n")


class StreamAndDatagramTests(SynchronousTestCase):
    """
    A stream and a datagram socket handed to one sockplug (by two nested
    C{systemd-socket-activate}s, since C{--datagram} applies to all the
    sockets of one).
    """

    def setUp(self) -> None:
        self.server, self.ports = activate(
            self,
            [
                ["-l", "127.0.0.1:{tcp}", "--fdname=web"],
                ["--datagram", "-l", "127.0.0.1:{udp}", "--fdname=web:dns"],
            ],
            "--endpoint",
            "echo@systemd:domain=INET:index=0",
            "--endpoint",
            "hello@systemd-datagram:domain=INET:name=dns",
        )
        echoes(self, connect(self, loopback(self.ports["tcp"])), b"first\n")
        self.server.waitUntilListening()

    def test_both(self) -> None:
        """
        Each endpoint serves its own socket with its own protocol.
        """
        self.assertEqual(
            self.server.inet("systemd:domain=INET:index=0"), loopback(self.ports["tcp"])
        )
        udp = loopback(self.ports["udp"])
        self.assertEqual(self.server.inet("systemd-datagram:domain=INET:name=dns"), udp)
        self.assertEqual(exchangeDatagram(self, udp, b"bob"), b"Hello, bob!")

    def test_stop(self) -> None:
        """
        SIGTERM stops sockplug as it stops without systemd.
        """
        self.assertEqual(self.server.stop(), -signal.SIGTERM)


class UNIXTests(SynchronousTestCase):
    """
    UNIX stream and datagram sockets passed by systemd.
    """

    def test_stream(self) -> None:
        """
        A UNIX stream socket is served, and its file keeps its mode while
        sockplug serves and after it stops (Twisted's adopted port made it
        world-writable and removed it, so a restarted sockplug could not be
        reached).
        """
        path = os.path.join(temporaryDirectory(self), "hello.sock")
        server, _ = activate(
            self,
            [["-l", path, "--fdname=hello"]],
            "--endpoint",
            "hello@systemd:domain=UNIX:name=hello",
        )
        os.chmod(path, 0o600)
        sock = connect(self, path)
        sock.sendall(b"bob\n")
        received = receive(sock, lambda data: b"Hello, bob!" in data)
        self.assertIn(b"Hello, bob!\n", received)
        server.waitUntilListening()
        self.assertEqual(server.path("systemd:domain=UNIX:name=hello"), path)
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        server.stop()
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)

    def test_datagram(self) -> None:
        """
        A UNIX datagram socket (which Twisted cannot adopt) is served.
        """
        path = os.path.join(temporaryDirectory(self), "echo.dgram")
        server, _ = activate(
            self,
            [["--datagram", "-l", path, "--fdname=echo"]],
            "--endpoint",
            "systemd-datagram:domain=UNIX:index=0",
        )
        client = datagramSocket(self, path)
        client.sendto(b"first", path)
        self.assertEqual(client.recv(100), b"first")
        server.waitUntilListening()
        self.assertEqual(server.path("systemd-datagram:domain=UNIX:index=0"), path)
        server.stop()
        self.assertTrue(os.path.exists(path))


class RefusedTests(SynchronousTestCase):
    """
    A string that does not fit the socket systemd passed stops sockplug
    with one line naming the descriptor, and a non-zero exit.
    """

    def assertRefused(self, server: Activated, reason: str) -> None:
        self.assertEqual(server.exitStatus(), 1)
        self.assertEqual(server.failure(), [reason])
        self.assertNotIn("Traceback", server.output())

    def test_datagramForStream(self) -> None:
        """
        A UDP socket given to C{systemd:} is refused (Twisted's type would
        listen on it and log an error for every datagram, forever).
        """
        server, ports = activate(
            self,
            [["--datagram", "-l", "127.0.0.1:{udp}", "--fdname=dns"]],
            "--endpoint",
            "systemd:domain=INET:index=0",
        )
        datagramSocket(self, loopback(0)).sendto(b"x", loopback(ports["udp"]))
        self.assertRefused(
            server,
            "cannot listen on 'systemd:domain=INET:index=0': descriptor 3 (index 0,"
            " named 'dns') is a datagram socket, not a stream socket: use"
            " systemd-datagram:domain=INET:index=0 for it",
        )

    def test_streamForDatagram(self) -> None:
        """
        A TCP socket given to C{systemd-datagram:} is refused.
        """
        server, ports = activate(
            self,
            [["-l", "127.0.0.1:{tcp}", "--fdname=web"]],
            "--endpoint",
            "systemd-datagram:domain=INET:name=web",
        )
        connect(self, loopback(ports["tcp"]))
        self.assertRefused(
            server,
            "cannot listen on 'systemd-datagram:domain=INET:name=web': descriptor 3"
            " (index 0, named 'web') is a stream socket, not a datagram socket: use"
            " systemd:domain=INET:name=web for it",
        )

    def test_noNames(self) -> None:
        """
        Without C{--fdname} no C{LISTEN_FDNAMES} is set, and the message
        says so.
        """
        server, ports = activate(
            self,
            [["-l", "127.0.0.1:{tcp}"]],
            "--endpoint",
            "systemd:domain=INET:index=0",
        )
        connect(self, loopback(ports["tcp"]))
        self.assertRefused(
            server,
            "cannot listen on 'systemd:domain=INET:index=0': systemd passed no"
            " sockets: LISTEN_FDS is not set for this process, or LISTEN_FDNAMES"
            " does not name each of them (systemd-socket-activate sets it only"
            " with --fdname=NAME)",
        )


class ReloadTests(SynchronousTestCase):
    """
    Inherited sockets across a SIGHUP reload.
    """

    def test_replacedListenerAdoptsAgain(self) -> None:
        """
        Listeners whose strings change adopt the same inherited sockets
        again (Twisted's C{systemd:} type had closed its descriptor), and
        serve on.
        """
        config = os.path.join(temporaryDirectory(self), "sockplug.toml")
        tables = (
            '[listeners.web]\nendpoint = "systemd:domain=INET:{0}"\n'
            '[listeners.dns]\nendpoint = "systemd-datagram:domain=INET:{1}"\n'
        )
        with open(config, "w") as f:
            f.write(tables.format("index=0", "index=1"))
        server, ports = activate(
            self,
            [
                ["-l", "127.0.0.1:{tcp}", "--fdname=web"],
                ["--datagram", "-l", "127.0.0.1:{udp}", "--fdname=web:dns"],
            ],
            "--config",
            config,
        )
        tcp, udp = loopback(ports["tcp"]), loopback(ports["udp"])
        echoes(self, connect(self, tcp), b"before\n")
        deadline = time.monotonic() + START_TIMEOUT
        while not catchesSignal(server.process.pid, signal.SIGHUP):
            self.assertLess(time.monotonic(), deadline, "SIGHUP is not caught")
            time.sleep(POLL_INTERVAL)
        with open(config, "w") as f:
            f.write(tables.format("name=web", "name=dns"))
        server.process.send_signal(signal.SIGHUP)
        done = server.waitForLineMatching(lambda line: "reload " in line)
        self.assertTrue(
            done.endswith("reload done: changed web (new socket), dns (new socket)"),
            server.output(),
        )
        echoes(self, connect(self, tcp), b"after\n")
        self.assertEqual(exchangeDatagram(self, udp, b"after"), b"after")


class ContribUnitTests(SynchronousTestCase):
    """
    The units of C{contrib/systemd/}.
    """

    def units(self) -> str:
        """
        A folder with copies of the units, their C{ExecStart=} running this
        virtual environment's twistd (verify wants a command that exists).
        """
        folder = temporaryDirectory(self)
        for name in ("sockplug.socket", "sockplug.service"):
            with open(os.path.join(CONTRIB, name)) as f:
                text = f.read().replace("/opt/sockplug/bin/twistd", TWISTD)
            with open(os.path.join(folder, name), "w") as f:
                f.write(text)
        return folder

    def analyze(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run C{systemd-analyze ARGS} on the copies of the units."""
        return subprocess.run(
            [need("systemd-analyze"), *args],
            cwd=self.units(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def test_verify(self) -> None:
        """
        C{systemd-analyze verify} finds nothing to say about the units.
        """
        result = self.analyze("verify", "sockplug.socket", "sockplug.service")
        self.assertEqual((result.returncode, result.stdout + result.stderr), (0, ""))

    def test_security(self) -> None:
        """
        C{systemd-analyze security} rates the service's exposure 2.0 or
        lower, "OK".
        """
        result = self.analyze("security", "--offline=true", "sockplug.service")
        match = _EXPOSURE.search(result.stdout)
        assert match is not None, result
        print(f"\n{match.group(0)}")
        self.assertLessEqual(float(match.group(1)), 2.0)
        self.assertEqual(match.group(2), "OK")

    def test_served(self) -> None:
        """
        Sockets made as the socket unit's Listen lines say, in their order
        and all named as systemd names them, are served by the service's
        C{ExecStart=} command, each endpoint on the socket of its index,
        under the memory restriction the service sets.
        """
        folder = temporaryDirectory(self)
        listens = _listens(os.path.join(CONTRIB, "sockplug.socket"))
        layers = []
        for kind, listen in listens:
            flags = ["--datagram"] if kind == "Datagram" else []
            if listen.startswith("/"):
                where = os.path.join(folder, os.path.basename(listen))
            else:
                where = "127.0.0.1:{%s}" % ("udp" if flags else "tcp")
            layers.append([*flags, "-l", where, "--fdname=sockplug.socket"])
        self.assertEqual(layers[0][0], "-l", "the first socket is a stream one")
        argv = _execStart(os.path.join(CONTRIB, "sockplug.service"))
        self.assertEqual(
            argv[:4],
            ["/opt/sockplug/bin/twistd", "--nodaemon", "--pidfile=", "sockplug"],
        )
        server, ports = activate(self, layers, *argv[4:], prefix=mdwe())
        echoes(self, connect(self, loopback(ports["tcp"])), b"first\n")
        server.waitUntilListening()
        expected = [parseAddress(layer[-2].format(**ports)) for layer in layers]
        self.assertEqual(len(server.addresses), len(expected))
        for endpoint, address in server.addresses.items():
            index = re.search(r":index=(\d+)", endpoint)
            assert index is not None, endpoint
            self.assertEqual(address, expected[int(index.group(1))], endpoint)


def _listens(path: str) -> list[tuple[str, str]]:
    """The C{ListenStream=}/C{ListenDatagram=} lines of a socket unit, in order."""
    with open(path) as f:
        return re.findall(r"^Listen(Stream|Datagram)=(\S+)$", f.read(), re.MULTILINE)


def _execStart(path: str) -> list[str]:
    """The C{ExecStart=} command of a service unit, its lines joined."""
    with open(path) as f:
        text = f.read().replace("\\\n", " ")
    match = re.search(r"^ExecStart=(.*)$", text, re.MULTILINE)
    assert match is not None, path
    return shlex.split(match.group(1))


class MemoryDenyWriteExecuteTests(SynchronousTestCase):
    """
    sockplug under the restriction of C{MemoryDenyWriteExecute=yes}.
    """

    def test_filterBites(self) -> None:
        """
        Under the filter, memory both writable and executable is refused,
        so that the tests run under it show something.
        """
        code = "import mmap; mmap.mmap(-1, 4096, prot=7)"
        run = [sys.executable, "-c", code]
        refused = subprocess.run(
            [*mdwe(), *run], capture_output=True, timeout=60, check=False
        )
        self.assertIn(b"PermissionError", refused.stderr)
        self.assertEqual(subprocess.run(run, timeout=60, check=False).returncode, 0)

    def test_tlsNeedsWriteExecute(self) -> None:
        """
        TLS does not work under it: pyOpenSSL's cffi callbacks need memory
        both writable and executable (the service unit says so). (Where the
        handshake works, the test skips rather than fails: the unit's note
        can then go.)
        """
        key, certificate = selfSignedCertificate(temporaryDirectory(self))
        endpoint = f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={certificate}"
        server = Activated(self, [], "--endpoint", endpoint, prefix=mdwe())
        server.waitUntilListening()
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        sock = connect(self, server.inet(endpoint))
        try:
            context.wrap_socket(sock).sendall(b"x\n")
        except OSError:
            pass  # the handshake failed, as expected
        else:
            raise SkipTest("TLS works under MemoryDenyWriteExecute=yes here")
        server.waitForLineMatching(
            lambda line: (
                "Cannot allocate write+execute memory for ffi.callback()" in line
            )
        )
