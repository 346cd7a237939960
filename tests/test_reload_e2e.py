"""
End-to-end tests of live reload: a real C{twistd -n sockplug --config FILE}
process on loopback, its file rewritten and applied with SIGHUP: listeners
added, removed and kept, files that are broken or cannot be applied, and
what the log says.
"""

from __future__ import annotations

import socket
import sys
import threading
import time

from twisted.trial.unittest import SynchronousTestCase

from tests.harness import (
    IO_TIMEOUT,
    POLL_INTERVAL,
    exchangeDatagram,
    receive,
    receiveLine,
    sockName,
)

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover - Python 3.10
    pass
from tests.configured import (
    TALK_LIMIT,
    TALK_MARGIN,
    ConfiguredServer,
    assertEchoes,
    assertRefused,
    freePort,
    listener,
    openEcho,
    tcp,
    udp,
)


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
            "gone stopped listening; its 1 open connection goes on",
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
            f"[sockplug.server._reload#error] reload: {self.served.path}:"
            " not valid TOML: ",
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
