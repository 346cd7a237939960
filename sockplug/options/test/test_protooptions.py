"""
Tests for L{sockplug.options._protooptions}.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from sockplug.errors import PluginError
from sockplug.options._protooptions import (
    RESERVED_NAMES,
    ProtocolOption,
    checkOptionValue,
    declaredOptions,
    describeOption,
    resolveOptions,
)
from sockplug.plugins.sockplug_builtins import echoProtocol, helloProtocol


def _option(
    name: str = "x",
    kind: type = str,
    default: Any = "",
    check: Any = None,
) -> ProtocolOption:
    return ProtocolOption(name=name, type=kind, default=default, help="h", check=check)


def _upper(value: str) -> str:
    if value == "bad":
        raise ValueError(f"{value!r} is bad; give a good one")
    return value.upper()


class ProtocolOptionTests(SynchronousTestCase):
    """
    Tests for L{ProtocolOption}'s checks, made when a plugin is built.
    """

    def test_valid(self) -> None:
        """
        An option with a good name, type and default keeps what it is given.
        """
        option = _option("max-items2", int, 3)
        self.assertEqual(
            (option.name, option.type, option.default, option.help, option.check),
            ("max-items2", int, 3, "h", None),
        )

    def test_badName(self) -> None:
        """
        A name that is not lower-case letters, digits and C{-} starting with a
        letter is refused, named in the message.
        """
        for bad in ("", "Greeting", "2nd", "-x", "a_b", "a b", "a.b", "é"):
            e = self.assertRaises(PluginError, _option, bad)
            self.assertIn(f"{bad!r} is not a valid option name", str(e))

    def test_nameNotText(self) -> None:
        """
        A name that is not text is refused.
        """
        e = self.assertRaises(PluginError, _option, b"greeting")
        self.assertIn("b'greeting' is not a valid option name", str(e))

    def test_reservedName(self) -> None:
        """
        A listener key, limit or socket option name cannot name an option.
        """
        for name in ("endpoint", "protocol", "interface", "mode", "idle", "nodelay"):
            e = self.assertRaises(PluginError, _option, name)
            self.assertEqual(
                str(e),
                f"option name {name!r} is taken by sockplug (a listener key,"
                " socket option or limit); pick another",
            )

    def test_reservedNames(self) -> None:
        """
        The reserved names are the listener keys, every limit and every
        socket option.
        """
        self.assertTrue(
            {"endpoint", "protocol", "backlog", "stale", "lockfile"} <= RESERVED_NAMES
        )
        self.assertTrue({"allow", "maxline", "replyrate", "loglines"} <= RESERVED_NAMES)
        self.assertTrue({"reuseaddr", "rcvbuf", "keepcnt"} <= RESERVED_NAMES)
        self.assertNotIn("greeting", RESERVED_NAMES)

    def test_badType(self) -> None:
        """
        A type other than str, int, float or bool is refused.
        """
        e = self.assertRaises(PluginError, _option, "x", list, [])
        self.assertEqual(
            str(e),
            "option 'x' has type <class 'list'>; an option is str, int, float or bool",
        )

    def test_defaultWrongType(self) -> None:
        """
        A default not of the option's type is refused when the option is
        made.
        """
        e = self.assertRaises(PluginError, _option, "x", int, "3")
        self.assertEqual(
            str(e), "option 'x': its default: is text; it should be a whole number"
        )

    def test_defaultChecked(self) -> None:
        """
        The default goes through the option's check too.
        """
        e = self.assertRaises(PluginError, _option, "x", str, "bad", _upper)
        self.assertEqual(
            str(e), "option 'x': its default: 'bad' is bad; give a good one"
        )


class CheckOptionValueTests(SynchronousTestCase):
    """
    Tests for L{checkOptionValue}.
    """

    def test_rightType(self) -> None:
        """
        A value of the option's type is taken as it is.
        """
        for kind, value in ((str, "a"), (int, 7), (float, 2.5), (bool, False)):
            self.assertEqual(checkOptionValue(_option("x", kind, value), value), value)

    def test_intForFloat(self) -> None:
        """
        A whole number is taken for a float option, as a float.
        """
        value = checkOptionValue(_option("x", float, 1.0), 3)
        self.assertEqual(value, 3.0)
        self.assertIsInstance(value, float)

    def test_floatNotInt(self) -> None:
        """
        A float is not taken for a whole number.
        """
        e = self.assertRaises(ValueError, checkOptionValue, _option("x", int, 1), 2.5)
        self.assertEqual(str(e), "is a number; it should be a whole number")

    def test_boolNotInt(self) -> None:
        """
        C{true} is not taken for a whole number, though Python's bool is an
        int.
        """
        e = self.assertRaises(ValueError, checkOptionValue, _option("x", int, 1), True)
        self.assertEqual(str(e), "is true or false; it should be a whole number")

    def test_boolNotFloat(self) -> None:
        """
        C{false} is not taken for a number either.
        """
        e = self.assertRaises(
            ValueError, checkOptionValue, _option("x", float, 1.0), False
        )
        self.assertEqual(str(e), "is true or false; it should be a number")

    def test_intNotBool(self) -> None:
        """
        C{1} is not taken for true or false.
        """
        e = self.assertRaises(ValueError, checkOptionValue, _option("x", bool, True), 1)
        self.assertEqual(str(e), "is a whole number; it should be true or false")

    def test_describesValue(self) -> None:
        """
        The message says what kind of value was given: text, a list, a
        table, or the type's name.
        """
        option = _option("x", int, 1)
        for value, text in (
            ("1", "text"),
            ([1], "a list"),
            ({"a": 1}, "a table"),
            (None, "NoneType"),
        ):
            e = self.assertRaises(ValueError, checkOptionValue, option, value)
            self.assertEqual(str(e), f"is {text}; it should be a whole number")

    def test_checkConverts(self) -> None:
        """
        What the option's check returns is what the protocol gets.
        """
        self.assertEqual(checkOptionValue(_option("x", str, "", _upper), "ab"), "AB")

    def test_checkRefuses(self) -> None:
        """
        The check's L{ValueError} is raised as it is.
        """
        e = self.assertRaises(
            ValueError, checkOptionValue, _option("x", str, "", _upper), "bad"
        )
        self.assertEqual(str(e), "'bad' is bad; give a good one")

    def test_checkNotCalledOnWrongType(self) -> None:
        """
        A value of the wrong type is refused before the check sees it.
        """
        seen: list[object] = []

        def check(value: object) -> object:
            seen.append(value)
            return value

        option = _option("x", str, "", check)
        del seen[:]
        self.assertRaises(ValueError, checkOptionValue, option, 3)
        self.assertEqual(seen, [])


class ResolveOptionsTests(SynchronousTestCase):
    """
    Tests for L{resolveOptions}.
    """

    def test_defaults(self) -> None:
        """
        With nothing given, each option gets its default, checked.
        """
        declared = [_option("a", str, "x", _upper), _option("b", float, 2)]
        self.assertEqual(resolveOptions(declared, {}), ({"a": "X", "b": 2.0}, {}))

    def test_given(self) -> None:
        """
        A value given is checked and replaces the default.
        """
        declared = [_option("a", str, "x", _upper), _option("b", int, 2)]
        self.assertEqual(
            resolveOptions(declared, {"a": "y", "b": 5}), ({"a": "Y", "b": 5}, {})
        )

    def test_problems(self) -> None:
        """
        Each value with a problem is named with it, and keeps its default;
        the others are taken.
        """
        declared = [
            _option("a", str, "x", _upper),
            _option("b", int, 2),
            _option("c", bool, False),
        ]
        values, problems = resolveOptions(declared, {"a": "bad", "b": "2", "c": True})
        self.assertEqual(values, {"a": "X", "b": 2, "c": True})
        self.assertEqual(
            problems,
            {
                "a": "'bad' is bad; give a good one",
                "b": "is text; it should be a whole number",
            },
        )

    def test_nothingDeclared(self) -> None:
        """
        A plugin with no options gets none.
        """
        self.assertEqual(resolveOptions([], {}), ({}, {}))


class DeclaredOptionsTests(SynchronousTestCase):
    """
    Tests for L{declaredOptions}.
    """

    def test_declared(self) -> None:
        """
        A plugin's options are given in its order.
        """
        self.assertEqual(
            [option.name for option in declaredOptions(helloProtocol)], ["greeting"]
        )

    def test_none(self) -> None:
        """
        A L{sockplug.plugin.ProtocolPlugin} that declares none has none.
        """
        self.assertEqual(declaredOptions(echoProtocol), ())

    def test_noAttribute(self) -> None:
        """
        A plugin without an C{options} attribute (it is optional in
        L{sockplug.interfaces.IProtocolPlugin}) has none.
        """
        self.assertEqual(declaredOptions(object()), ())

    def test_tuple(self) -> None:
        """
        Options given as a list come back as a tuple.
        """

        class Plugin:
            def __init__(self) -> None:
                self.options = [_option("a"), _option("b")]

        plugin = Plugin()
        self.assertEqual(declaredOptions(plugin), tuple(plugin.options))


class DescribeOptionTests(SynchronousTestCase):
    """
    Tests for L{describeOption}.
    """

    def test_text(self) -> None:
        """
        A text default is shown quoted, as TOML writes it.
        """
        self.assertEqual(
            describeOption(_option("g", str, 'say "hi"\\now\nthen')),
            r'g (text, default "say \"hi\"\\now\nthen"): h',
        )

    def test_bool(self) -> None:
        """
        A true-or-false default is shown as TOML writes it.
        """
        self.assertEqual(
            describeOption(_option("g", bool, False)),
            "g (true or false, default false): h",
        )
        self.assertEqual(
            describeOption(_option("g", bool, True)),
            "g (true or false, default true): h",
        )

    def test_numbers(self) -> None:
        """
        A number default is shown as it is.
        """
        self.assertEqual(
            describeOption(_option("g", int, 3)), "g (a whole number, default 3): h"
        )
        self.assertEqual(
            describeOption(_option("g", float, 1.5)), "g (a number, default 1.5): h"
        )

    def test_hello(self) -> None:
        """
        hello's greeting is described with its default and help.
        """
        [option] = declaredOptions(helloProtocol)
        self.assertEqual(
            describeOption(option),
            'greeting (text, default "Hello, {peer}! Send me your name, one per'
            ' line."): sent to each peer when it connects (stream); {peer} is its'
            ' address; "" sends none',
        )
