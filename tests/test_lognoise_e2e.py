"""
End-to-end tests: the log of a real twistd sockplug holds sockplug's own
lines about its listeners, not Twisted's (issue 15 item 21): no
"X starting on ...", "(TCP Port N Closed)", "Starting factory <...>" for
any kind of listener, in one process or with workers; and counts in words
("1 open connection").
"""

from __future__ import annotations

import re
import socket

from twisted.trial.unittest import SynchronousTestCase

from tests.dropins import REVERSE, dropins
from tests.harness import (
    IO_TIMEOUT,
    Server,
    connect,
    receive,
    socketPath,
    temporaryDirectory,
)
from tests.tlscerts import selfSignedCertificate
from tests.workersrun import Workers

# What Twisted's ports, factories and datagram protocols say when they
# start and stop, whatever the listener.
NOISE = re.compile(
    r"starting on |Port .* Closed\)|(Starting|Stopping) (factory|protocol) |"
    r"object at 0x"
)


def _noise(output: str) -> list[str]:
    return [line for line in output.splitlines() if NOISE.search(line)]


class SingleProcessTests(SynchronousTestCase):
    """
    One process with a listener of every kind, stopped with a connection
    open.
    """

    def setUp(self) -> None:
        folder = temporaryDirectory(self)
        key, cert = selfSignedCertificate(folder)
        self.unix = socketPath(self, "s.sock")
        self.unixgram = socketPath(self, "d.sock")
        self.server = Server.start(
            self,
            "-e",
            "tcp:0:interface=127.0.0.1",
            "-e",
            "udp:0:interface=127.0.0.1",
            "-e",
            f"unix:{self.unix}",
            "-e",
            f"unixgram:{self.unixgram}",
            "-e",
            "reverse@tcp:0:interface=127.0.0.1:backlog=40",
            "-e",
            f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={cert}",
            "-e",
            "haproxy:tcp:0:interface=127.0.0.1",
            "--metrics",
            "tcp:0:interface=127.0.0.1",
            env=dropins(self, {"reverse": REVERSE}),
        )

    def test_noTwistedNoise(self) -> None:
        """
        Neither starting nor stopping, for no kind of listener, does the
        log hold Twisted's lines about ports and factories.
        """
        reverse = connect(
            self, self.server.inet("tcp:0:interface=127.0.0.1:backlog=40")
        )
        reverse.sendall(b"abc\n")
        self.assertEqual(receive(reverse, lambda got: got.endswith(b"\n")), b"cba\n")
        datagram = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(datagram.close)
        datagram.settimeout(IO_TIMEOUT)
        datagram.sendto(b"ping\n", self.server.inet("udp:0:interface=127.0.0.1"))
        self.assertEqual(datagram.recv(100), b"ping\n")
        self.server.stop()
        output = self.server.output()
        self.assertEqual(_noise(output), [])
        # sockplug's own lines are there.
        self.assertEqual(output.count(" listening on "), 8, output)

    def test_oneConnection(self) -> None:
        """
        One connection open at the stop is one connection, in words.
        """
        held = connect(self, self.server.inet("tcp:0:interface=127.0.0.1"))
        held.sendall(b"x\n")
        self.assertEqual(receive(held, lambda got: got == b"x\n"), b"x\n")
        self.server.stop()
        self.assertIn(
            "stopping: waiting up to 5s for 1 open connection\n", self.server.output()
        )


class WorkersTests(SynchronousTestCase):
    """
    A supervisor and two workers, each with a listener of every kind that
    workers share.
    """

    def test_noTwistedNoise(self) -> None:
        """
        Neither the supervisor nor its workers log Twisted's lines about
        ports and factories, starting or stopping.
        """
        unix = socketPath(self, "s.sock")
        unixgram = socketPath(self, "d.sock")
        server = Workers.run(
            self,
            "-e",
            "tcp:0:interface=127.0.0.1",
            "-e",
            "udp:0:interface=127.0.0.1",
            "-e",
            f"unix:{unix}",
            "-e",
            f"unixgram:{unixgram}",
            "-e",
            "reverse@tcp:0:interface=127.0.0.1:backlog=40",
            env=dropins(self, {"reverse": REVERSE}),
        )
        reverse = connect(self, server.inet("tcp:0:interface=127.0.0.1:backlog=40"))
        reverse.sendall(b"abc\n")
        self.assertEqual(receive(reverse, lambda got: got.endswith(b"\n")), b"cba\n")
        server.stopAll()
        output = server.output()
        self.assertEqual(_noise(output), [])
        self.assertIn("worker 2: reverse listening on", output)
