"""
Tests for L{sockplug.errors}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from sockplug.errors import (
    CommandLineError,
    EndpointSyntaxError,
    ListenFailed,
    OutputError,
    SockplugError,
)


class FatalErrorTests(SynchronousTestCase):
    """
    Tests for the errors that end the program.
    """

    def test_caughtAsException(self) -> None:
        """
        They are caught by C{except Exception}, so that twistd's clean-up
        runs, and are L{SystemExit}s, so that no traceback is shown.
        """
        for error in (CommandLineError("m"), ListenFailed("m")):
            self.assertIsInstance(error, SystemExit)
            self.assertIsInstance(error, Exception)
            self.assertIsInstance(error, SockplugError)
            self.assertEqual(str(error), "m")

    def test_commandLineErrorPrints(self) -> None:
        """
        A command-line error's exit code is its message, which Python
        prints on its way out with exit status 1.
        """
        self.assertEqual(CommandLineError("bad").code, "bad")

    def test_listenFailedQuiet(self) -> None:
        """
        A listen failure exits with status 1 and prints nothing more: its
        message is already in the log.
        """
        self.assertEqual(ListenFailed("bad").code, 1)


class EndpointSyntaxErrorTests(SynchronousTestCase):
    """
    Tests for L{EndpointSyntaxError}.
    """

    def test_message(self) -> None:
        """
        It names the endpoint string and the reason.
        """
        e = EndpointSyntaxError("udp:x", "'x' is not a number")
        self.assertIsInstance(e, ValueError)
        self.assertEqual(str(e), "endpoint 'udp:x': 'x' is not a number")
        self.assertEqual((e.description, e.reason), ("udp:x", "'x' is not a number"))


class OutputErrorTests(SynchronousTestCase):
    """
    Tests for L{OutputError}.
    """

    def test_message(self) -> None:
        """
        It is an L{OSError} with its cause's C{errno}, shown as its message
        alone.
        """
        e = OutputError(6, "output '/x' is a FIFO that no one reads")
        self.assertIsInstance(e, OSError)
        self.assertIsInstance(e, SockplugError)
        self.assertEqual(
            (e.errno, str(e)), (6, "output '/x' is a FIFO that no one reads")
        )
