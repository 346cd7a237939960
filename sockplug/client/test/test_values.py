"""
Tests for L{sockplug.client._values}.
"""

from __future__ import annotations

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from sockplug.client._values import (
    checkColons,
    checkHostAndPort,
    count,
    seconds,
    shown,
)
from sockplug.endpoints import parseArguments, prefixOf
from sockplug.errors import EndpointSyntaxError

# Fullwidth digits, as a keyboard set for Chinese or Japanese types them,
# U+FF18 and U+FF11, U+FF12, U+FF17. Python's int() takes them as 8888 and 127.
WIDE_8888 = "\uff18" * 4
WIDE_127 = "\uff11\uff12\uff17"


class ShownTests(SynchronousTestCase):
    """L{shown} quotes a value back as the user wrote it."""

    def test_asWritten(self) -> None:
        """A value is quoted with its backslashes as typed, not doubled."""
        self.assertEqual(shown("tcp:host=\\:\\:1:port=1"), "'tcp:host=\\:\\:1:port=1'")

    def test_unprintable(self) -> None:
        """Characters that cannot be printed are escaped."""
        self.assertEqual(shown("a\x1b\u202eb"), "'a\\x1b\\u202eb'")

    def test_longValue(self) -> None:
        """A value longer than its limit is cut to its start and its length."""
        self.assertEqual(shown("1" * 5000, 40), f"'{'1' * 30}... (5000 characters)'")

    def test_valueAtTheBound(self) -> None:
        """A value as long as its limit is shown whole."""
        self.assertEqual(shown("x" * 40, 40), f"'{'x' * 40}'")

    def test_endpoint(self) -> None:
        """By default the limit is an endpoint string's, 200 characters."""
        self.assertEqual(shown("x" * 200), f"'{'x' * 200}'")
        self.assertEqual(shown("x" * 201), f"'{'x' * 190}... (201 characters)'")


class SecondsTests(SynchronousTestCase):
    """L{seconds} checks an option's number of seconds."""

    def test_numbers(self) -> None:
        """Whole and decimal numbers of seconds are taken."""
        check = seconds("wait")
        self.assertEqual(
            [check(v) for v in ("0", "2", "0.5", ".5", "3.")], [0, 2, 0.5, 0.5, 3]
        )

    def test_refused(self) -> None:
        """What is not a number of seconds is refused naming the option."""
        check = seconds("wait")
        for value in (
            "abc",
            "-1",
            "nan",
            "inf",
            "1e3",
            "1_0",
            "\uff12",
            " 1",
            "9" * 400,
        ):
            error = self.assertRaises(usage.UsageError, check, value)
            self.assertEqual(
                str(error),
                f"--wait {shown(value, 40)} is not a number of seconds; give one"
                " such as --wait 2 or --wait 0.5",
            )


class CountTests(SynchronousTestCase):
    """L{count} checks an option's whole number."""

    def test_numbers(self) -> None:
        """Whole numbers from 0 are taken."""
        check = count("retry")
        self.assertEqual([check(v) for v in ("0", "3", "999999999")], [0, 3, 999999999])

    def test_refused(self) -> None:
        """What is not a whole number from 0 is refused naming the option."""
        check = count("retry")
        for value in ("abc", "-1", "1.5", "+1", "1_0", "\uff13", "1" * 10, "9" * 5000):
            error = self.assertRaises(usage.UsageError, check, value)
            self.assertEqual(
                str(error),
                f"--retry {shown(value, 40)} is not a whole number from 0 to"
                " 999999999; give one such as --retry 3",
            )


class CheckColonsTests(SynchronousTestCase):
    """L{checkColons} refuses IPv6 addresses with their colons unescaped."""

    def reason(self, description: str) -> str:
        error = self.assertRaises(EndpointSyntaxError, checkColons, description)
        self.assertEqual(error.description, description)
        return str(error.reason)

    def test_byName(self) -> None:
        """A host given by name says how to write it escaped."""
        self.assertEqual(
            self.reason("tcp:host=::1:port=5"),
            "the colons of the IPv6 address in host=::1 must be escaped:"
            " write host=\\:\\:1, in single quotes in a shell",
        )

    def test_byPosition(self) -> None:
        """A host given by position is told apart from the port after it."""
        self.assertEqual(
            self.reason("tls:fe80::1:443"),
            "the colons of the IPv6 address in fe80::1 must be escaped:"
            " write fe80\\:\\:1, in single quotes in a shell",
        )

    def test_otherHosts(self) -> None:
        """C{bindAddress=} and C{hostname=} are hosts too."""
        for key in ("bindAddress", "hostname"):
            reason = self.reason(f"ssl:host=h:port=1:{key}=::1")
            self.assertIn(f"{key}=::1 must be escaped: write {key}=\\:\\:1", reason)

    def test_escaped(self) -> None:
        """Escaped colons, host names and positional ports pass."""
        for description in (
            "tcp:host=\\:\\:1:port=5",
            "tls:\\:\\:1:443",
            "tls:[\\:\\:1]:443",
            "tcp:host=localhost:5",
            "tls:example.com:443:timeout=5",
            "unix:path=/run/a\\:b",
        ):
            checkColons(description)


class CheckHostAndPortTests(SynchronousTestCase):
    """L{checkHostAndPort} checks a client string's host and port."""

    def check(self, description: str) -> None:
        args, kwargs = parseArguments(description)
        checkHostAndPort(description, prefixOf(description), args, kwargs)

    def reason(self, description: str) -> str:
        error = self.assertRaises(EndpointSyntaxError, self.check, description)
        return str(error.reason)

    def test_right(self) -> None:
        """Hosts and ports by name or by position, in ASCII, pass."""
        for description in (
            "tcp:host=h:port=1",
            "tcp:h:65535",
            "tcp:5:host=h",
            "tls:bücher.example:443",
            "udp:host=h:port=53",
            "ssl:host=h:port=443:hostname=h",
        ):
            self.check(description)

    def test_otherTypes(self) -> None:
        """Types without a host and a port are left alone."""
        self.check("unix:path=/run/x")

    def test_missing(self) -> None:
        """A missing host or port says so, with an example of the type."""
        self.assertEqual(
            self.reason("tcp:host=h"), "no port given; e.g. tcp:host=HOST:port=PORT"
        )
        self.assertEqual(self.reason("tls:"), "no host given; e.g. tls:HOST:PORT")
        self.assertEqual(
            self.reason("ssl:port=1"),
            "no host given; e.g. ssl:host=HOST:port=PORT:hostname=NAME",
        )

    def test_ports(self) -> None:
        """A port that is not 1 to 65535 in ASCII digits is refused."""
        for port in (
            "0",
            "65536",
            "99999",
            "-1",
            "+1",
            "1_0",
            WIDE_8888,
            "000001",
        ):
            self.assertEqual(
                self.reason(f"tcp:host=h:port={port}"),
                f"port {shown(port, 40)} is not a number from 1 to 65535",
            )

    def test_nonASCIIDigits(self) -> None:
        """An address with digits that are not ASCII is refused, naming them."""
        self.assertEqual(
            self.reason(f"udp:host={WIDE_127}.0.0.1:port=1"),
            f"host '{WIDE_127}.0.0.1' has digits that are not ASCII ({WIDE_127}); write"
            " addresses with the digits 0 to 9",
        )
        self.assertIn(
            "bindAddress '\u0661.1.1.1'",
            self.reason("tcp:h:1:bindAddress=\u0661.1.1.1"),
        )
