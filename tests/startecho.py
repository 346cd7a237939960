"""
The start-and-echo check: C{twistd -n sockplug} starts on the Twisted that
is installed, listens, echoes what it is sent, and stops on SIGTERM.

With L{sockplug.compat.test.test_twisted}, what to run against a new
Twisted release (see the README); CI runs both on the lowest Twisted
C{pyproject.toml} admits. From a checkout, with the venv to check::

    .venv/bin/python -m twisted.trial sockplug.compat tests.startecho

It is self-contained: it uses nothing of the end-to-end tests' harness.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from twisted.trial.unittest import SynchronousTestCase

import twisted

TWISTD = os.path.join(os.path.dirname(sys.executable), "twistd")
ENDPOINT = "tcp:0:interface=127.0.0.1"
TIMEOUT = 30.0
# "... echo listening on tcp:0:interface=127.0.0.1 (127.0.0.1:PORT)"
LISTENING = re.compile(r" listening on \S+ \(127\.0\.0\.1:(\d+)\)$", re.MULTILINE)
MESSAGE = b"hello, sockplug\n" * 100


class StartEchoTests(SynchronousTestCase):
    """
    C{twistd -n sockplug} on this Twisted, from start to stop.
    """

    def test_startEchoStop(self) -> None:
        """
        twistd sockplug listens, echoes what it is sent, and stops on SIGTERM.
        """
        folder = tempfile.mkdtemp(prefix="sp-echo-")
        self.addCleanup(shutil.rmtree, folder, True)
        output = os.path.join(folder, "output")
        with open(output, "wb") as out:
            process = subprocess.Popen(
                [TWISTD, "-n", "--pidfile=", "sockplug", "--endpoint", ENDPOINT],
                cwd=folder,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.addCleanup(_kill, process)

        def logged() -> str:
            with open(output, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            return f"Twisted {twisted.__version__}; twistd's output:\n{text}"

        port = _listeningPort(process, output)
        if port is None:
            self.fail(f"twistd sockplug did not start listening. {logged()}")
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(MESSAGE)
            received = b""
            while len(received) < len(MESSAGE):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        self.assertEqual(received, MESSAGE, f"no echo. {logged()}")
        process.send_signal(signal.SIGTERM)
        try:
            status = process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.fail(f"twistd sockplug did not stop on SIGTERM. {logged()}")
        # twistd stops, then raises SIGTERM again on itself.
        self.assertEqual(status, -signal.SIGTERM, logged())
        self.assertNotIn("Traceback", logged())


def _listeningPort(process: subprocess.Popen[bytes], output: str) -> int | None:
    """
    The port twistd logged it listens on; L{None} if it ended, or did not
    say within L{TIMEOUT} seconds.
    """
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        with open(output, "rb") as f:
            found = LISTENING.search(f.read().decode("utf-8", "replace"))
        if found:
            return int(found[1])
        if process.poll() is not None:
            return None
        time.sleep(0.05)
    return None


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(TIMEOUT)
