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
    shown,
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


class ShownTests(SynchronousTestCase):
    """
    Tests for L{shown}, how a message quotes what the user wrote.
    """

    def test_backslashesAsWritten(self) -> None:
        """
        Backslashes are shown once, as typed, not doubled as C{repr} does.
        """
        self.assertEqual(
            shown("tcp6:0:interface=\\:\\:1"), "'tcp6:0:interface=\\:\\:1'"
        )

    def test_quoteInside(self) -> None:
        """
        A single quote inside stays as written (C{repr} would switch to
        double quotes).
        """
        self.assertEqual(shown("it's"), "'it's'")

    def test_unprintable(self) -> None:
        """
        A line break or a terminal escape is written as an escape, so the
        message stays one harmless line.
        """
        self.assertEqual(shown("a\nb\x1b"), "'a\\nb\\x1b'")

    def test_cut(self) -> None:
        """
        Past C{limit}, the text is cut to its start and its length.
        """
        self.assertEqual(shown("1" * 50, 20), "'1111111111... (50 characters)'")

    def test_endpointSyntaxError(self) -> None:
        """
        An endpoint syntax error quotes its endpoint string as written.
        """
        e = EndpointSyntaxError("tcp:0:interface=\\:\\:1:x=1", "unknown option x")
        self.assertEqual(
            str(e), "endpoint 'tcp:0:interface=\\:\\:1:x=1': unknown option x"
        )


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
