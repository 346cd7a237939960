"""
Tests for L{sockplug.options._endpointkeys}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from sockplug.options._endpointkeys import (
    ENDPOINT_ARGUMENTS,
    endpointKeys,
    optionNames,
    takeArgument,
)


class EndpointKeysTests(SynchronousTestCase):
    """
    Tests for L{ENDPOINT_ARGUMENTS}, L{endpointKeys}, L{optionNames} and
    L{takeArgument}.
    """

    def test_keysOfEachType(self) -> None:
        """
        Each of sockplug's own endpoint types takes the keys that fit it;
        other types take none.
        """
        tcp = [
            "backlog",
            "reuseaddr",
            "reuseport",
            "rcvbuf",
            "sndbuf",
            "nodelay",
            "keepalive",
            "keepidle",
            "keepintvl",
            "keepcnt",
        ]
        self.assertEqual(
            {
                kind: [setting.name for setting in endpointKeys(kind)]
                for kind in ("tcp", "tcp6", "unix", "udp", "unixgram", "ssl")
            },
            {
                "tcp": tcp,
                "tcp6": tcp,
                "unix": ["backlog", "mode", "stale", "lockfile", "rcvbuf", "sndbuf"],
                "udp": ["reuseaddr", "reuseport", "rcvbuf", "sndbuf"],
                "unixgram": ["mode", "stale", "rcvbuf", "sndbuf"],
                "ssl": [],
            },
        )

    def test_argumentDefaults(self) -> None:
        """
        The arguments' defaults are sockplug's: backlog 50, mode 660 (not
        Twisted's 666), stale files replaced, a lock file.
        """
        self.assertEqual(
            {s.name: (s.default, s.shownDefault) for s in ENDPOINT_ARGUMENTS},
            {
                "backlog": (50, "50"),
                "mode": (0o660, "660"),
                "stale": (True, "replace"),
                "lockfile": (True, "1"),
            },
        )

    def test_backlogBound(self) -> None:
        """
        A backlog past the longest listen queue is refused when the string
        is read, not when the socket is made; the bound itself is taken.
        """
        backlog = ENDPOINT_ARGUMENTS["backlog"]
        e = self.assertRaises(ValueError, backlog.parse, "99999999999")
        self.assertEqual(
            str(e),
            "backlog='99999999999' is more than 65535, the longest listen queue"
            " sockplug asks for",
        )
        self.assertEqual(backlog.parse("65535"), 65535)

    def test_argumentMessages(self) -> None:
        """
        Each argument refuses a wrong value, naming it as key='value'.
        """
        messages = []
        for name in ("backlog", "mode", "stale", "lockfile"):
            e = self.assertRaises(ValueError, ENDPOINT_ARGUMENTS[name].parse, "x")
            messages.append(str(e))
        self.assertEqual(
            messages,
            [
                "backlog='x' is not a positive number",
                "mode='x' is not an octal file mode such as 660",
                "stale='x' is not replace or fail",
                "lockfile='x' is not 1 or 0",
            ],
        )

    def test_optionNames(self) -> None:
        """
        The options of an endpoint type are listed as a message lists them:
        its own first, then its arguments and socket options.
        """
        self.assertEqual(
            optionNames("udp", "interface", "maxPacketSize"),
            "interface, maxPacketSize, reuseaddr, reuseport, rcvbuf, sndbuf",
        )

    def test_takeArgument(self) -> None:
        """
        An argument given is taken out of the keywords and parsed; one not
        given is its default.
        """
        kwargs = {"mode": "600", "x": "1"}
        self.assertEqual(
            (takeArgument(kwargs, "mode"), takeArgument(kwargs, "backlog")),
            (0o600, 50),
        )
        self.assertEqual(kwargs, {"x": "1"})
