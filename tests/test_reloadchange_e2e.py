"""
End-to-end tests of listeners changed by a reload: a protocol option or a
limit, an endpoint, a name; and the command line's listeners, which a
reload keeps.
"""

from __future__ import annotations

import socket
import sys

from twisted.trial.unittest import SynchronousTestCase

from tests.harness import (
    connect,
    receiveLine,
    receiveUntilClosed,
)

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover - Python 3.10
    pass
from tests.configured import (
    ConfiguredServer,
    assertEchoes,
    assertRefused,
    freePort,
    greeting,
    listener,
    openEcho,
    tcp,
)


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
