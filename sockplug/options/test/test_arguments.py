"""
Tests for L{sockplug.options._arguments}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from sockplug.options import _arguments as arguments


class ArgumentsTests(SynchronousTestCase):
    """
    Each checker gives the value of good text, and refuses bad text with a
    message naming it.
    """

    def test_one(self) -> None:
        """
        The argument may come by position or by name, once.
        """
        self.assertEqual(arguments.one(("8",), {}, "port"), "8")
        kwargs = {"port": "9"}
        self.assertEqual(arguments.one((), kwargs, "port"), "9")
        self.assertEqual(kwargs, {})
        self.assertRaises(ValueError, arguments.one, ("1", "2"), {}, "port")
        self.assertRaises(ValueError, arguments.one, ("1",), {"port": "2"}, "port")
        e = self.assertRaises(ValueError, arguments.one, (), {}, "path")
        self.assertEqual(str(e), "no path given")

    def test_noOthers(self) -> None:
        """
        Left-over keywords are refused, named, with the known ones listed.
        """
        arguments.noOthers({}, "a, b")
        e = self.assertRaises(ValueError, arguments.noOthers, {"z": "1", "y": "2"}, "a")
        self.assertEqual(str(e), "unknown option y, z; the options are a")

    def test_port(self) -> None:
        """
        Ports are 0 to 65535.
        """
        self.assertEqual([arguments.port("0"), arguments.port("65535")], [0, 65535])
        for bad in ("-1", "65536", "x", ""):
            e = self.assertRaises(ValueError, arguments.port, bad)
            self.assertIn(repr(bad), str(e))

    def test_positive(self) -> None:
        """
        Positive numbers only.
        """
        self.assertEqual(arguments.positive("backlog", "1"), 1)
        e = self.assertRaises(ValueError, arguments.positive, "backlog", "0")
        self.assertEqual(str(e), "backlog '0' is not a positive number")

    def test_mode(self) -> None:
        """
        Modes are octal, up to 777.
        """
        self.assertEqual(arguments.mode("660"), 0o660)
        for bad in ("8", "1000", "rw"):
            self.assertRaises(ValueError, arguments.mode, bad)

    def test_flag(self) -> None:
        """
        yes/no and their usual spellings.
        """
        for yes in ("yes", "YES", "true", "on", "1"):
            self.assertTrue(arguments.flag("x", yes))
        for no in ("no", "false", "off", "0"):
            self.assertFalse(arguments.flag("x", no))
        e = self.assertRaises(ValueError, arguments.flag, "x", "maybe")
        self.assertEqual(str(e), "x='maybe' is not yes or no")

    def test_stale(self) -> None:
        """
        replace or fail.
        """
        self.assertTrue(arguments.stale("replace"))
        self.assertFalse(arguments.stale("fail"))
        self.assertRaises(ValueError, arguments.stale, "keep")

    def test_path(self) -> None:
        """
        Paths are not empty and hold no NUL.
        """
        self.assertEqual(arguments.path("/x"), "/x")
        self.assertRaises(ValueError, arguments.path, "")
        self.assertRaises(ValueError, arguments.path, "/a\0b")

    def test_pathLongest(self) -> None:
        """
        A path of 107 bytes fits C{sun_path} (108 bytes with its NUL).
        """
        longest = "/" + "x" * 106
        self.assertEqual(arguments.path(longest), longest)

    def test_pathTooLong(self) -> None:
        """
        A path of 108 bytes, counted encoded, does not fit C{sun_path}.
        """
        e = self.assertRaises(ValueError, arguments.path, "/" + "\u00e9" * 54)
        self.assertEqual(
            str(e),
            "the path is 109 bytes long; a UNIX socket's path is at most 107 bytes",
        )


class OptionNameTests(SynchronousTestCase):
    """
    L{arguments.optionName} keeps error messages on one line.
    """

    def test_plain(self) -> None:
        """
        A plain name is shown as it is.
        """
        self.assertEqual(arguments.optionName("mode"), "mode")

    def test_quoted(self) -> None:
        """
        A name with a line break, a space or nothing at all is quoted.
        """
        self.assertEqual(
            [arguments.optionName(n) for n in ("a\nb", "a b", "")],
            ["'a\\nb'", "'a b'", "''"],
        )

    def test_noOthersOneLine(self) -> None:
        """
        An unknown option holding a line break is named on one line.
        """
        e = self.assertRaises(ValueError, arguments.noOthers, {"a\nb": "1"}, "x")
        self.assertNotIn("\n", str(e))


class InterfaceTests(SynchronousTestCase):
    """
    Tests for L{arguments.interface}.
    """

    def test_addresses(self) -> None:
        """
        IPv4 and IPv6 addresses, with a scope, and none at all are taken.
        """
        for value in ("127.0.0.1", "::1", "fe80::1%lo", "0.0.0.0", "::", ""):
            self.assertEqual(arguments.interface(value), value)

    def test_linkLocalNeedsScope(self) -> None:
        """
        A link-local IPv6 address without its scope, which no socket can be
        bound to (C{EINVAL}), is refused, saying how to write it.
        """
        e = self.assertRaises(ValueError, arguments.interface, "fe80::1")
        self.assertEqual(
            str(e),
            "interface 'fe80::1' is a link-local address: name its network"
            " interface too, as fe80\\:\\:1%eth0",
        )

    def test_notAddresses(self) -> None:
        """
        Names, three-part and out-of-range addresses, and digits that are
        not ASCII are refused, named as written.
        """
        for value in ("abc", "localhost", "1.2.3", "999.1.1.1", "\uff11.2.3.4"):
            e = self.assertRaises(ValueError, arguments.interface, value)
            self.assertEqual(
                str(e),
                f"interface '{value}' is not an IP address, such as 127.0.0.1"
                " or \\:\\:1 (IPv6 colons are escaped)",
            )
