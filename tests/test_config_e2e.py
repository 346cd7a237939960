"""
End-to-end tests of the configuration file: a real C{twistd -n sockplug
--config FILE} process on loopback, its file rewritten and applied with
SIGHUP (listeners added, removed, kept, changed, renamed; files that are
broken or cannot be applied), C{sockplug check-config}, C{--check}, and the
example file in C{contrib/}.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from sockplug.protocols.hello import DEFAULT_GREETING
from tests.harness import (
    IO_TIMEOUT,
    POLL_INTERVAL,
    START_TIMEOUT,
    Server,
    connect,
    exchangeDatagram,
    receive,
    receiveLine,
    receiveUntilClosed,
    runTwistd,
    sockName,
    temporaryDirectory,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SOCKPLUG = os.path.join(os.path.dirname(sys.executable), "sockplug")
CONTRIB = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "contrib",
    "sockplug.toml",
)

# What a reload ends with, as the log says it: done, or failed.
_OUTCOME = re.compile(
    r"\[sockplug\._reload#\w+\] (reload (?:done|failed)\b.*)$", re.MULTILINE
)
# How long a client of an unchanged listener keeps talking, at most.
TALK_LIMIT = 30.0
# Exchanges the client of an unchanged listener makes before the first
# SIGHUP and after the last one.
TALK_MARGIN = 20


def tcp(host: str = "127.0.0.1", port: int = 0) -> str:
    """A TCP endpoint string on a loopback address."""
    return f"tcp:{port}:interface={host}"


def udp(host: str = "127.0.0.1", port: int = 0) -> str:
    """A UDP endpoint string on a loopback address."""
    return f"udp:{port}:interface={host}"


def freePort(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A port of 127.0.0.1 that nothing is bound to now."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def listener(name: str, endpoint: str, protocol: str = "echo", **keys: Any) -> str:
    """The C{[listeners.NAME]} table of a configuration file."""
    lines = [
        f"[listeners.{name}]",
        f"endpoint = {json.dumps(endpoint)}",
        f"protocol = {json.dumps(protocol)}",
    ]
    lines += [f"{key} = {json.dumps(value)}" for key, value in keys.items()]
    return "\n".join(lines) + "\n\n"


def writeFile(testCase: SynchronousTestCase, name: str, text: str) -> str:
    """Write C{text} to a new file in a temporary folder; return its path."""
    path = os.path.join(temporaryDirectory(testCase), name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def catchesSignal(pid: int, signum: int) -> bool:
    """Whether process C{pid} has a handler for signal C{signum} (from /proc)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


def listeningSocket(pid: int, protocol: str, port: int) -> str:
    """
    The inode of the socket of process C{pid} that listens (TCP) or is bound
    (UDP) on C{port}, from /proc.
    """
    owned = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        if link.startswith("socket:["):
            owned.add(link[len("socket:[") : -1])
    found = []
    for table in (protocol, protocol + "6"):
        with open(f"/proc/net/{table}") as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                local, state, inode = fields[1], fields[3], fields[9]
                listening = protocol == "udp" or state == "0A"
                ours = listening and inode in owned
                if ours and int(local.rsplit(":", 1)[1], 16) == port:
                    found.append(inode)
    assert len(found) == 1, f"{protocol} port {port}: sockets {found}"
    return found[0]


class ConfiguredServer:
    """
    A C{twistd -n sockplug --config FILE} process; the test rewrites the
    file and applies it with SIGHUP.

    @ivar server: the process.
    @ivar path: the configuration file.
    """

    def __init__(
        self,
        testCase: SynchronousTestCase,
        config: str,
        *endpoints: str,
        args: Sequence[str] = (),
    ) -> None:
        """
        Start serving C{config}; wait until each of C{endpoints} (those of
        the file's listeners, as written there) is listening, and SIGHUP is
        caught.
        """
        self._testCase = testCase
        self.path = writeFile(testCase, "sockplug.toml", config)
        self.server = Server(testCase, "--config", self.path, *args)
        self.server.endpoints.extend(endpoints)
        self.server.waitUntilListening()
        self._waitForHangUpHandler()

    def _fail(self, message: str) -> AssertionError:
        return self._testCase.failureException(
            f"{message}\n--- twistd output ---\n{self.server.output()}"
        )

    def _waitForHangUpHandler(self) -> None:
        # A SIGHUP before the reloader has started would end the process.
        deadline = time.monotonic() + START_TIMEOUT
        while not catchesSignal(self.server.process.pid, signal.SIGHUP):
            if self.server.process.poll() is not None or time.monotonic() > deadline:
                raise self._fail("SIGHUP is not caught")
            time.sleep(POLL_INTERVAL)

    def write(self, config: str) -> None:
        """Replace the configuration file's text."""
        with open(self.path, "w", encoding="utf-8") as f:
            f.write(config)

    def outcomes(self) -> list[str]:
        """The lines saying how each reload so far ended."""
        return _OUTCOME.findall(self.server.stdout())

    def reload(self, config: str | None = None) -> str:
        """
        Write C{config} (if given) to the file, send SIGHUP, and wait for
        the line saying how the reload ended; return it (from C{reload}).
        """
        if config is not None:
            self.write(config)
        before = len(self.outcomes())
        self.server.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + IO_TIMEOUT
        while True:
            outcomes = self.outcomes()
            if len(outcomes) > before:
                return outcomes[before]
            if self.server.process.poll() is not None or time.monotonic() > deadline:
                raise self._fail("no end of the reload logged")
            time.sleep(POLL_INTERVAL)

    def reloaded(self, config: str, *endpoints: str) -> str:
        """
        Apply C{config}, which must succeed, and wait until each of
        C{endpoints} is listening; return what the log says was done.
        """
        line = self.reload(config)
        if not line.startswith("reload done: "):
            raise self._fail(f"the reload did not succeed: {line}")
        self.server.endpoints.extend(endpoints)
        self.server.waitUntilListening()
        return line[len("reload done: ") :]

    def inet(self, endpoint: str) -> tuple[str, int]:
        """The (host, port) an IP endpoint of the file listens on (last)."""
        return self.server.inet(endpoint)

    def socketOf(self, endpoint: str) -> str:
        """The inode of the listening socket of a TCP or UDP endpoint."""
        protocol = "udp" if endpoint.startswith("udp") else "tcp"
        return listeningSocket(
            self.server.process.pid, protocol, self.inet(endpoint)[1]
        )


def assertEchoes(
    testCase: SynchronousTestCase, sock: socket.socket, line: bytes = b"ping\n"
) -> None:
    """C{line} sent on C{sock} comes back."""
    sock.sendall(line)
    testCase.assertEqual(receiveLine(sock), line)


def openEcho(testCase: SynchronousTestCase, address: tuple[str, int]) -> socket.socket:
    """A connection to an echo listener, known to be served."""
    sock = connect(testCase, address)
    assertEchoes(testCase, sock, b"before\n")
    return sock


def assertRefused(testCase: SynchronousTestCase, address: tuple[str, int]) -> None:
    """A TCP connection to C{address} is refused."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    testCase.addCleanup(probe.close)
    probe.settimeout(IO_TIMEOUT)
    testCase.assertRaises(ConnectionRefusedError, probe.connect, address)


def greeting(text: str, sock: socket.socket) -> bytes:
    """The greeting C{text} as hello sends it to C{sock}."""
    return text.format(peer=sockName(sock)).encode() + b"\r\n"


class AddedListenerTests(SynchronousTestCase):
    """
    A listener added to the file starts on SIGHUP.
    """

    def test_addedDatagramListenerAnswers(self) -> None:
        """A UDP listener added to the file echoes datagrams after SIGHUP."""
        config = listener("stream", tcp())
        served = ConfiguredServer(self, config, tcp())
        done = served.reloaded(config + listener("datagrams", udp()), udp())
        self.assertEqual(done, "added datagrams; kept stream")
        self.assertEqual(exchangeDatagram(self, served.inet(udp()), b"ping"), b"ping")


class RemovedListenerTests(SynchronousTestCase):
    """
    A listener removed from the file stops listening on SIGHUP; its open
    connections go on.
    """

    def setUp(self) -> None:
        self.stay, self.gone = tcp("127.0.0.1"), tcp("127.0.0.2")
        config = listener("stay", self.stay)
        self.served = ConfiguredServer(
            self, config + listener("gone", self.gone), self.stay, self.gone
        )
        self.client = openEcho(self, self.served.inet(self.gone))
        self.done = self.served.reloaded(config)

    def test_reloadLogged(self) -> None:
        """The reload says the listener was removed."""
        self.assertEqual(self.done, "removed gone; kept stay")

    def test_newConnectionsRefused(self) -> None:
        """A new connection to the removed listener is refused."""
        assertRefused(self, self.served.inet(self.gone))

    def test_openConnectionStillEchoed(self) -> None:
        """A connection opened before the reload is still echoed."""
        assertEchoes(self, self.client, b"after the reload\n")

    def test_openConnectionLogged(self) -> None:
        """The log says the removed listener's connection goes on."""
        self.assertIn(
            "gone stopped listening; its 1 open connections go on",
            self.served.server.stdout(),
        )

    def test_openConnectionClosesNormally(self) -> None:
        """The connection, still echoed, ends cleanly when the client ends
        it."""
        assertEchoes(self, self.client, b"after the reload\n")
        peer = sockName(self.client)
        self.client.shutdown(socket.SHUT_WR)
        self.assertEqual(receive(self.client), b"")
        self.served.server.waitForLineMatching(
            lambda line: f"{self.gone} {peer} disconnected after " in line
        )


class KeptListenerTests(SynchronousTestCase):
    """
    A listener that the new file leaves as it was is not touched by a
    reload.
    """

    def setUp(self) -> None:
        self.steady, self.datagrams = tcp("127.0.0.1"), udp("127.0.0.1")
        self.base = listener("steady", self.steady) + listener(
            "datagrams", self.datagrams
        )
        self.served = ConfiguredServer(self, self.base, self.steady, self.datagrams)

    def reloadSeveralTimes(self) -> list[str]:
        """
        Apply three files that add, change and remove another listener,
        leaving the others as they were; return what each did.
        """
        other = tcp("127.0.0.2")
        return [
            self.served.reloaded(self.base + listener("other", other), other),
            self.served.reloaded(
                self.base + listener("other", other, "hello", greeting="hi")
            ),
            self.served.reloaded(self.base),
        ]

    def test_openConnectionUninterrupted(self) -> None:
        """A client talking without a pause through several reloads sees
        every line echoed, and no error."""
        client = openEcho(self, self.served.inet(self.steady))
        stop = threading.Event()
        exchanged = [0]
        wrong: list[bytes] = []
        errors: list[BaseException] = []

        def talk() -> None:
            deadline = time.monotonic() + TALK_LIMIT
            try:
                while not stop.is_set() and time.monotonic() < deadline:
                    line = b"message %d\n" % exchanged[0]
                    client.sendall(line)
                    received = receiveLine(client)
                    if received != line:
                        wrong.append(received)
                    exchanged[0] += 1
            except BaseException as e:
                errors.append(e)

        def waitForExchanges(count: int) -> None:
            deadline = time.monotonic() + IO_TIMEOUT
            while exchanged[0] < count and not errors:
                self.assertLess(time.monotonic(), deadline, "the client stalled")
                time.sleep(POLL_INTERVAL)

        talker = threading.Thread(target=talk, daemon=True)
        talker.start()
        try:
            waitForExchanges(TALK_MARGIN)
            before = exchanged[0]
            done = self.reloadSeveralTimes()
            waitForExchanges(exchanged[0] + TALK_MARGIN)
        finally:
            stop.set()
            talker.join(IO_TIMEOUT)
        self.assertFalse(talker.is_alive())
        self.assertEqual((errors, wrong), ([], []))
        self.assertGreater(exchanged[0], before + TALK_MARGIN)
        self.assertEqual(
            done,
            [
                "added other; kept steady, datagrams",
                "changed other; kept steady, datagrams",
                "removed other; kept steady, datagrams",
            ],
        )

    def test_newConnectionsServedAfterEachReload(self) -> None:
        """After each reload, a new connection to the same address is
        echoed."""
        address = self.served.inet(self.steady)
        for _ in self.reloadSeveralTimes():
            openEcho(self, address).close()
        self.assertEqual(self.served.inet(self.steady), address)

    def test_sameStreamSocket(self) -> None:
        """The TCP listener listens on the same socket after the reloads."""
        before = self.served.socketOf(self.steady)
        self.reloadSeveralTimes()
        self.assertEqual(self.served.socketOf(self.steady), before)
        self.assertEqual(
            self.served.server.stdout().count(f"listening on {self.steady} ("), 1
        )

    def test_sameDatagramSocket(self) -> None:
        """The UDP listener keeps its socket through the reloads, and answers."""
        before = self.served.socketOf(self.datagrams)
        self.reloadSeveralTimes()
        self.assertEqual(self.served.socketOf(self.datagrams), before)
        address = self.served.inet(self.datagrams)
        self.assertEqual(exchangeDatagram(self, address, b"ping"), b"ping")


class BrokenFileTests(SynchronousTestCase):
    """
    A file that does not load changes nothing; the log names its problems,
    and the next SIGHUP with a right file applies it.
    """

    def setUp(self) -> None:
        self.first, self.second = tcp("127.0.0.1"), tcp("127.0.0.2")
        self.added = tcp("127.0.0.3")
        self.config = listener("first", self.first) + listener("second", self.second)
        self.served = ConfiguredServer(self, self.config, self.first, self.second)
        self.client = openEcho(self, self.served.inet(self.first))
        # What the broken files try: remove "first", add "added".
        self.wanted = listener("second", self.second) + listener("added", self.added)

    def badTOML(self) -> str:
        """Load a file that is not TOML; return the reload's outcome."""
        return self.served.reload(self.wanted + "[listeners.broken\n")

    def unknownOption(self) -> str:
        """Load a file with an option no protocol has; return the outcome."""
        return self.served.reload(
            self.wanted + listener("odd", tcp("127.0.0.4"), colour="blue")
        )

    def assertNothingChanged(self) -> None:
        """
        Both old listeners still answer, on the same addresses; the
        connection open before still does; the new listener never started.
        """
        assertEchoes(self, self.client, b"still\n")
        for endpoint in (self.first, self.second):
            openEcho(self, self.served.inet(endpoint)).close()
        self.assertNotIn(f"listening on {self.added} (", self.served.server.stdout())

    def test_badTOMLChangesNothing(self) -> None:
        """After a file that is not TOML, every listener is as it was."""
        self.assertEqual(
            self.badTOML(), "reload failed: 1 problem in the file; nothing changed"
        )
        self.assertNothingChanged()

    def test_badTOMLNamed(self) -> None:
        """The log says which file is not TOML."""
        self.badTOML()
        self.assertIn(
            f"[sockplug._reload#error] reload: {self.served.path}: not valid TOML: ",
            self.served.server.stdout(),
        )

    def test_unknownOptionChangesNothing(self) -> None:
        """After a file naming an unknown option, every listener is as it
        was."""
        self.assertEqual(
            self.unknownOption(),
            "reload failed: 1 problem in the file; nothing changed",
        )
        self.assertNothingChanged()

    def test_unknownOptionNamed(self) -> None:
        """The log names the file, the listener and the unknown option."""
        self.unknownOption()
        self.assertIn(
            f'reload: {self.served.path}: listener "odd": unknown option "colour"'
            " for protocol echo",
            self.served.server.stdout(),
        )

    def test_fixedFileApplies(self) -> None:
        """After both broken files, a right one is applied by the next
        SIGHUP."""
        self.badTOML()
        self.unknownOption()
        done = self.served.reloaded(self.wanted, self.added)
        self.assertEqual(done, "added added; removed first; kept second")
        openEcho(self, self.served.inet(self.added)).close()
        assertRefused(self, self.served.inet(self.first))
        assertEchoes(self, self.client, b"still\n")


class BindFailureTests(SynchronousTestCase):
    """
    A reload in which a new listener cannot listen changes nothing.
    """

    def setUp(self) -> None:
        self.holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(self.holder.close)
        self.holder.bind(("127.0.0.1", 0))
        self.holder.listen()
        self.blocked = tcp(port=self.holder.getsockname()[1])
        self.otherAddress = ("127.0.0.3", freePort())
        self.other = tcp(*self.otherAddress)
        self.gone = tcp("127.0.0.2", freePort())
        self.keep = tcp("127.0.0.4")
        self.served = ConfiguredServer(
            self,
            listener("keep", self.keep) + listener("gone", self.gone),
            self.keep,
            self.gone,
        )
        self.client = openEcho(self, self.served.inet(self.gone))
        self.wanted = (
            listener("keep", self.keep)
            + listener("blocked", self.blocked)
            + listener("other", self.other)
        )
        self.outcome = self.served.reload(self.wanted)

    def test_failureLogged(self) -> None:
        """The log says the reload failed, which endpoint could not listen,
        and that nothing changed."""
        self.assertTrue(self.outcome.startswith("reload failed: "), self.outcome)
        self.assertIn(f"cannot listen on {self.blocked!r}: ", self.outcome)
        self.assertTrue(self.outcome.endswith("; nothing changed"), self.outcome)

    def test_otherAddedListenerNotListening(self) -> None:
        """The other listener added by the reload is not listening."""
        assertRefused(self, self.otherAddress)

    def test_removedListenerStillListening(self) -> None:
        """The listener the reload removed still serves new connections, and
        its open connection."""
        openEcho(self, self.served.inet(self.gone)).close()
        assertEchoes(self, self.client, b"still\n")

    def test_keptListenerStillListening(self) -> None:
        """The listener the reload kept still serves."""
        openEcho(self, self.served.inet(self.keep)).close()

    def test_appliedOnceFree(self) -> None:
        """Once the port is free, the same file is applied by the next
        SIGHUP."""
        self.holder.close()
        done = self.served.reloaded(self.wanted, self.blocked, self.other)
        self.assertEqual(done, "added blocked, other; removed gone; kept keep")
        for endpoint in (self.blocked, self.other, self.keep):
            openEcho(self, self.served.inet(endpoint)).close()
        assertRefused(self, self.served.inet(self.gone))


class ProtocolOptionTests(SynchronousTestCase):
    """
    A changed protocol option or limit applies to new connections; open
    ones keep what they started with.
    """

    def setUp(self) -> None:
        self.endpoint = tcp()
        self.served = ConfiguredServer(
            self,
            listener("greeter", self.endpoint, "hello", greeting="old {peer}"),
            self.endpoint,
        )
        self.old = connect(self, self.served.inet(self.endpoint))
        self.assertEqual(receiveLine(self.old), greeting("old {peer}", self.old))
        self.done = self.served.reloaded(
            listener("greeter", self.endpoint, "hello", greeting="new {peer}")
        )

    def test_reloadLogged(self) -> None:
        """The reload says the listener changed."""
        self.assertEqual(self.done, "changed greeter")

    def test_openConnectionKeepsWorking(self) -> None:
        """A connection greeted before the reload is answered after it, and
        is not greeted again."""
        self.old.sendall(b"alice\n")
        self.assertEqual(receiveLine(self.old), b"Hello, alice!\n")

    def test_newConnectionGetsNewGreeting(self) -> None:
        """A connection opened after the reload gets the new greeting."""
        new = connect(self, self.served.inet(self.endpoint))
        self.assertEqual(receiveLine(new), greeting("new {peer}", new))

    def test_sameSocket(self) -> None:
        """The listener listens on the socket it had."""
        self.assertEqual(
            self.served.server.stdout().count(f"listening on {self.endpoint} ("), 1
        )


class LimitTests(SynchronousTestCase):
    """
    A changed maxline applies to new connections; open ones keep theirs.
    """

    def setUp(self) -> None:
        self.endpoint = tcp()
        self.served = ConfiguredServer(
            self,
            listener("greeter", self.endpoint, "hello", greeting="", maxline=100),
            self.endpoint,
        )
        self.old = connect(self, self.served.inet(self.endpoint))
        self.assertEqual(self.answer(self.old, b"bob"), b"Hello, bob!\n")
        self.done = self.served.reloaded(
            listener("greeter", self.endpoint, "hello", greeting="", maxline=20)
        )
        self.name = b"n" * 50

    def answer(self, sock: socket.socket, name: bytes) -> bytes:
        """Send a name; return the answer."""
        sock.sendall(name + b"\n")
        return receiveLine(sock)

    def test_reloadLogged(self) -> None:
        """The reload says the listener changed."""
        self.assertEqual(self.done, "changed greeter")

    def test_openConnectionKeepsOldLimit(self) -> None:
        """A connection opened before the reload may still send a line longer
        than the new limit."""
        self.assertEqual(
            self.answer(self.old, self.name), b"Hello, " + self.name + b"!\n"
        )

    def test_newConnectionGetsNewLimit(self) -> None:
        """A connection opened after the reload is closed, unanswered, for a
        line longer than the new limit."""
        new = connect(self, self.served.inet(self.endpoint))
        new.sendall(self.name + b"\n")
        self.assertEqual(receiveUntilClosed(new), b"")

    def test_newConnectionShortLine(self) -> None:
        """A connection opened after the reload is answered for a line within
        the new limit."""
        new = connect(self, self.served.inet(self.endpoint))
        self.assertEqual(self.answer(new, b"carol"), b"Hello, carol!\n")


class EndpointChangeTests(SynchronousTestCase):
    """
    A listener whose endpoint changes listens on the new one, and its open
    connections go on.
    """

    def setUp(self) -> None:
        self.before, self.after = tcp(), tcp(port=freePort())
        self.served = ConfiguredServer(
            self, listener("mover", self.before), self.before
        )
        self.client = openEcho(self, self.served.inet(self.before))
        self.done = self.served.reloaded(listener("mover", self.after), self.after)

    def test_reloadLogged(self) -> None:
        """The reload says the listener changed, with a new socket."""
        self.assertEqual(self.done, "changed mover (new socket)")

    def test_newPortServes(self) -> None:
        """The new port is served."""
        openEcho(self, self.served.inet(self.after)).close()

    def test_oldPortRefuses(self) -> None:
        """A connection to the old port is refused."""
        assertRefused(self, self.served.inet(self.before))

    def test_openConnectionStillEchoed(self) -> None:
        """A connection to the old port opened before the reload is still
        echoed."""
        assertEchoes(self, self.client, b"after the reload\n")


class RenameTests(SynchronousTestCase):
    """
    A listener renamed with the same endpoint: the old one stops listening
    before the new one binds the same address.
    """

    def setUp(self) -> None:
        self.endpoint = tcp(port=freePort())
        self.served = ConfiguredServer(
            self, listener("before", self.endpoint), self.endpoint
        )
        self.client = openEcho(self, self.served.inet(self.endpoint))
        self.done = self.served.reloaded(
            listener("after", self.endpoint, "hello", greeting="renamed")
        )

    def test_reloadLogged(self) -> None:
        """The reload says one listener was added and one removed."""
        self.assertEqual(self.done, "added after; removed before")

    def test_renamedListenerServes(self) -> None:
        """A new connection to the address is served by the renamed
        listener."""
        new = connect(self, self.served.inet(self.endpoint))
        self.assertEqual(receiveLine(new), b"renamed\r\n")
        new.sendall(b"dave\n")
        self.assertEqual(receiveLine(new), b"Hello, dave!\n")

    def test_openConnectionStillEchoed(self) -> None:
        """A connection to the old listener is still echoed."""
        assertEchoes(self, self.client, b"after the reload\n")


class LinePrintOutputTests(SynchronousTestCase):
    """
    line-print's C{output} option sends its lines to a file.
    """

    def setUp(self) -> None:
        self.output = os.path.join(temporaryDirectory(self), "lines.txt")
        self.endpoint = tcp()
        self.served = ConfiguredServer(
            self,
            listener("printer", self.endpoint, "line-print", output=self.output),
            self.endpoint,
        )
        sock = connect(self, self.served.inet(self.endpoint))
        sock.sendall(b"first line\nsecond\n")
        prefix = f"{self.endpoint} {sockName(sock)}: "
        self.expected = f"{prefix}first line\n{prefix}second\n"

    def read(self) -> str:
        """The output file's text, once the lines expected are in it."""
        deadline = time.monotonic() + IO_TIMEOUT
        while True:
            text = ""
            if os.path.exists(self.output):
                with open(self.output, encoding="utf-8") as f:
                    text = f.read()
            if text.count("\n") >= 2 or time.monotonic() > deadline:
                return text
            time.sleep(POLL_INTERVAL)

    def test_linesWrittenToFile(self) -> None:
        """The lines received are appended to the file."""
        self.assertEqual(self.read(), self.expected)

    def test_linesNotOnStandardOutput(self) -> None:
        """The lines do not go to standard output."""
        self.read()
        self.assertNotIn("first line", self.served.server.output())


# A file with a problem of each kind, and the problems named.
BAD = (
    "max-connections = 0\n"
    "[defaults]\n"
    "idel = 5\n\n"
    + listener("a", tcp(), colour="blue")
    + listener("b", tcp("127.0.0.2"), "hello", greting="x")
    + listener("c", "tcp:notaport", "echo")
    + listener("d", tcp("127.0.0.3"), "nosuch")
)
BAD_PROBLEMS = (
    '"max-connections" is 0',
    'defaults: unknown key "idel"',
    'listener "a": unknown option "colour" for protocol echo',
    'listener "b": unknown option "greting" for protocol hello;'
    ' did you mean "greeting"?',
    'listener "c": endpoint "tcp:notaport": ',
    'listener "d": "protocol": ',
)
GOOD = listener("a", tcp()) + listener("b", udp())


class CheckTests(SynchronousTestCase):
    """
    C{sockplug check-config FILE} and C{twistd sockplug --config FILE
    --check} say a file is right, or name each of its problems.
    """

    def checkConfig(self, path: str) -> subprocess.CompletedProcess[str]:
        """Run C{sockplug check-config PATH} to its end."""
        return subprocess.run(
            [SOCKPLUG, "check-config", path],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            check=False,
        )

    def assertProblemsNamed(self, path: str, stderr: str) -> None:
        """
        C{stderr} is one line per problem of L{BAD}, each naming the file,
        and no traceback.
        """
        lines = stderr.splitlines()
        self.assertEqual(len(lines), len(BAD_PROBLEMS), stderr)
        for line, problem in zip(lines, BAD_PROBLEMS, strict=True):
            self.assertTrue(line.startswith(f"{path}: {problem}"), (line, problem))
        self.assertNotIn("Traceback", stderr)

    def test_checkConfigRight(self) -> None:
        """check-config says a right file is right, and exits 0."""
        path = writeFile(self, "good.toml", GOOD)
        result = self.checkConfig(path)
        self.assertEqual(
            (result.returncode, result.stdout, result.stderr),
            (0, f"{path}: ok, 2 listeners: a, b\n", ""),
        )

    def test_checkConfigWrong(self) -> None:
        """check-config names every problem of a wrong file, and exits 1."""
        path = writeFile(self, "bad.toml", BAD)
        result = self.checkConfig(path)
        self.assertEqual((result.returncode, result.stdout), (1, ""))
        self.assertProblemsNamed(path, result.stderr)

    def test_twistdCheckRight(self) -> None:
        """twistd sockplug --check says a right file is right, exits 0, and
        does not listen."""
        path = writeFile(self, "good.toml", GOOD)
        result = runTwistd(self, "--config", path, "--check")
        self.assertEqual(result.code, 0, result.output)
        self.assertEqual(result.stdout, f"{path}: ok, 2 listeners: a, b\n")
        self.assertNotIn("listening on", result.output)

    def test_twistdCheckWrong(self) -> None:
        """twistd sockplug --check names every problem of a wrong file on
        standard error, and exits 1."""
        path = writeFile(self, "bad.toml", BAD)
        result = runTwistd(self, "--config", path, "--check")
        self.assertEqual(result.code, 1, result.output)
        self.assertProblemsNamed(path, result.stderr)

    def test_twistdServeWrong(self) -> None:
        """twistd sockplug --config with a wrong file names every problem on
        standard error, exits 1, and never listens."""
        path = writeFile(self, "bad.toml", BAD)
        result = runTwistd(self, "--config", path)
        self.assertEqual(result.code, 1, result.output)
        self.assertProblemsNamed(path, result.stderr)
        self.assertNotIn("listening on", result.output)


def rewriteEndpoints(text: str, folder: str) -> str:
    """
    A configuration file's text with its listeners' ports made 0 and its
    paths (sockets, outputs) moved into C{folder}.
    """
    paths = iter(range(1000))

    def endpoint(match: re.Match[str]) -> str:
        value = re.sub(r"\b(tcp6?|udp6?):\d+", r"\1:0", match[2])
        value = re.sub(
            r"\b(unix|unixgram):[^:]+",
            lambda m: f"{m[1]}:{folder}/{next(paths)}.sock",
            value,
        )
        return f'{match[1]}{value}"'

    text = re.sub(r'(?m)^(endpoint\s*=\s*")([^"]*)"', endpoint, text)
    return re.sub(
        r'(?m)^(output\s*=\s*")/[^"]*"',
        lambda m: f'{m[1]}{folder}/{next(paths)}.out"',
        text,
    )


class ContribTests(SynchronousTestCase):
    """
    The example configuration in C{contrib/} is right, and serves.
    """

    def setUp(self) -> None:
        if not os.path.exists(CONTRIB):
            raise SkipTest(f"{CONTRIB} is not there (an installed copy)")
        with open(CONTRIB, encoding="utf-8") as f:
            self.text = f.read()

    def test_checks(self) -> None:
        """check-config says the example is right, naming its listeners."""
        names = list(tomllib.loads(self.text)["listeners"])
        result = subprocess.run(
            [SOCKPLUG, "check-config", CONTRIB],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            check=False,
        )
        self.assertEqual(
            (result.returncode, result.stdout, result.stderr),
            (0, f"{CONTRIB}: ok, {len(names)} listeners: {', '.join(names)}\n", ""),
        )

    def test_eachListenerAnswers(self) -> None:
        """Served on free ports and temporary paths, each listener of the
        example answers."""
        folder = temporaryDirectory(self)
        text = rewriteEndpoints(self.text, folder)
        document = tomllib.loads(text)
        tables = document["listeners"]
        endpoints = [table["endpoint"] for table in tables.values()]
        for endpoint in endpoints:
            fixed = re.search(r"\b(tcp6?|udp6?):[1-9]", endpoint)
            self.assertIsNone(fixed, f"{endpoint}: not rewritten; extend the test")
        if any("tcp6:" in endpoint for endpoint in endpoints):
            try:
                with socket.socket(socket.AF_INET6) as probe:
                    probe.bind(("::1", 0))
            except OSError:
                raise SkipTest("no IPv6 loopback") from None
        served = ConfiguredServer(self, text, *endpoints)
        defaults = document.get("defaults", {})
        for name, table in tables.items():
            protocol = table.get("protocol", defaults.get("protocol", "echo"))
            options = {**defaults.get(protocol, {}), **table}
            try:
                self.assertAnswers(served, name, protocol, options)
            except Exception as e:
                raise self.failureException(f"listener {name}: {e!r}") from e

    def assertAnswers(
        self,
        served: ConfiguredServer,
        name: str,
        protocol: str,
        options: dict[str, Any],
    ) -> None:
        """The listener C{name} answers as C{protocol} with C{options} does."""
        endpoint = options["endpoint"]
        address = served.server.addresses[endpoint]
        proxied = endpoint.startswith("haproxy:")
        datagram = re.match(r"(haproxy:)*(udp|unixgram)", endpoint) is not None
        marker = f"to {name}"
        if datagram and protocol == "echo":
            reply = exchangeDatagram(self, address, marker.encode())
            self.assertEqual(reply, marker.encode())
            return
        self.assertFalse(datagram, f"no check of {protocol} on {endpoint}")
        sock = connect(self, address)
        peer = sockName(sock)
        if proxied:
            peer = "127.0.0.1:5555"
            sock.sendall(b"PROXY TCP4 127.0.0.1 127.0.0.1 5555 80\r\n")
        if protocol == "echo":
            assertEchoes(self, sock, marker.encode() + b"\n")
        elif protocol == "hello":
            expected = options.get("greeting", DEFAULT_GREETING)
            self.assertEqual(
                receiveLine(sock), expected.format(peer=peer).encode() + b"\r\n"
            )
            sock.sendall(b"eve\n")
            self.assertEqual(receiveLine(sock), b"Hello, eve!\n")
        elif protocol == "line-print":
            self.assertIn(options.get("output", "-"), ("-", "stdout"))
            sock.sendall(marker.encode() + b"\n")
            served.server.waitForLine(f"{endpoint} {peer}: {marker}")
        else:
            self.fail(f"no check of {protocol} on {endpoint}")


class ReloadLogTests(SynchronousTestCase):
    """
    The log line of a reload names what it did to each listener.
    """

    def test_namesEachChange(self) -> None:
        """Added, removed, changed (with a new socket or not) and kept
        listeners are each named."""
        same, old, tuned = tcp("127.0.0.1"), tcp("127.0.0.2"), tcp("127.0.0.3")
        moved, moving, new = tcp("127.0.0.4"), tcp("127.0.0.5"), tcp("127.0.0.6")
        served = ConfiguredServer(
            self,
            listener("same", same)
            + listener("old", old)
            + listener("tuned", tuned, "hello", greeting="a")
            + listener("moved", moved),
            same,
            old,
            tuned,
            moved,
        )
        done = served.reloaded(
            listener("same", same)
            + listener("tuned", tuned, "hello", greeting="b")
            + listener("moved", moving)
            + listener("new", new),
            moving,
            new,
        )
        self.assertEqual(
            done, "added new; removed old; changed moved (new socket), tuned; kept same"
        )


class CommandLineListenerTests(SynchronousTestCase):
    """
    A listener given with --endpoint next to --config never changes on
    SIGHUP.
    """

    def setUp(self) -> None:
        self.commandLine, self.fromFile = tcp("127.0.0.1"), tcp("127.0.0.2")
        self.served = ConfiguredServer(
            self,
            listener("file", self.fromFile),
            self.fromFile,
            args=("--endpoint", self.commandLine),
        )
        self.client = openEcho(self, self.served.inet(self.commandLine))
        self.socket = self.served.socketOf(self.commandLine)
        self.done = self.served.reloaded("shutdown-timeout = 5\n")

    def test_reloadLogged(self) -> None:
        """The reload removes the file's listener and keeps the command
        line's."""
        self.assertEqual(self.done, "removed file; kept --endpoint #1")

    def test_commandLineListenerSurvives(self) -> None:
        """The command line's listener still listens, on the same socket, and
        its open connection goes on."""
        openEcho(self, self.served.inet(self.commandLine)).close()
        self.assertEqual(self.served.socketOf(self.commandLine), self.socket)
        assertEchoes(self, self.client, b"still\n")

    def test_fileListenerGone(self) -> None:
        """The file's listener no longer listens."""
        assertRefused(self, self.served.inet(self.fromFile))
