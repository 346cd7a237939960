"""
Tests for L{sockplug.options._setting}.
"""

from __future__ import annotations

import math

from twisted.trial.unittest import SynchronousTestCase

from sockplug.options._endpointkeys import ENDPOINT_ARGUMENTS
from sockplug.options._limits import LIMITS
from sockplug.options._process import PROCESS
from sockplug.options._setting import (
    FLAG_WORDS,
    Bounds,
    Flag,
    Number,
    Setting,
    Table,
    Value,
    commandLine,
    flagWords,
    keyValue,
    yesOrNo,
)
from sockplug.options._sockopts import SOCKET_OPTIONS


class BoundsTests(SynchronousTestCase):
    """
    Tests for L{Bounds}, the one check of a number written as text.
    """

    def test_onlyASCIIDigits(self) -> None:
        """
        Text that Python's int() and float() read but nobody writes as a
        number is refused: other scripts' digits, underscores, spaces, signs,
        nan and inf.
        """
        whole, fraction = Bounds(0, 100_000), Bounds(0, 100_000, whole=False)
        for text in ("\uff18\uff18", "1_0", " 5", "5 ", "+5", "-0", "", "0x10"):
            self.assertIsNone(whole.parse(text), text)
        for text in ("\uff18.5", "1_0.5", " 0.5", "+0.5", "nan", "inf", "1e"):
            self.assertIsNone(fraction.parse(text), text)
        self.assertEqual(whole.parse("0042"), 42)
        self.assertEqual(fraction.parse("1e2"), 100.0)
        self.assertEqual(fraction.parse(".5"), 0.5)

    def test_whole(self) -> None:
        """
        Whole numbers within the bounds are taken, as L{int}s, the bounds
        included.
        """
        bounds = Bounds(1, 10)
        self.assertEqual([bounds.parse(t) for t in ("1", "5", "10")], [1, 5, 10])
        self.assertIs(type(bounds.parse("5")), int)

    def test_wholeRefused(self) -> None:
        """
        Text that is no whole number, or one outside the bounds, gives
        L{None}.
        """
        bounds = Bounds(1, 10)
        for text in ("0", "11", "-1", "1.5", "x", "", "0x5", "1e1"):
            self.assertIsNone(bounds.parse(text), text)

    def test_huge(self) -> None:
        """
        A number too large for a float is outside the bounds, not an error.
        """
        self.assertIsNone(Bounds(1, 10).parse("9" * 400))
        self.assertIsNone(Bounds(1, 10, whole=False).parse("9" * 400))

    def test_fraction(self) -> None:
        """
        Bounds of any number take fractions, as L{float}s.
        """
        bounds = Bounds(0, 2.5, whole=False)
        self.assertEqual([bounds.parse(t) for t in ("0", "2.5", "1")], [0.0, 2.5, 1.0])
        self.assertIs(type(bounds.parse("1")), float)

    def test_notANumber(self) -> None:
        """
        C{nan} is within no bounds, and C{inf} is above any finite bound.
        """
        bounds = Bounds(0, 10, whole=False)
        self.assertEqual([bounds.parse(t) for t in ("nan", "inf", "-inf")], [None] * 3)

    def test_noUpperBound(self) -> None:
        """
        Without an upper bound, any number from the lower one is taken.
        """
        self.assertEqual(Bounds(1).parse("9" * 30), int("9" * 30))
        self.assertEqual(Bounds(1).high, math.inf)

    def test_base(self) -> None:
        """
        Whole numbers may be written in another base (a file mode, octal).
        """
        self.assertEqual(Bounds(0, 0o777, base=8).parse("660"), 0o660)
        self.assertIsNone(Bounds(0, 0o777, base=8).parse("8"))

    def test_admits(self) -> None:
        """
        A value already a number is of the right kind if it is an int, or a
        float where fractions are taken; a bool is no number.
        """
        whole, fraction = Bounds(0, 10), Bounds(0, 10, whole=False)
        self.assertEqual(
            [whole.admits(v) for v in (1, 1.0, True, "1")], [True, False, False, False]
        )
        self.assertEqual(
            [fraction.admits(v) for v in (1, 1.5, False, None)],
            [True, True, False, False],
        )

    def test_holds(self) -> None:
        """
        A number is held if it is within the bounds.
        """
        bounds = Bounds(1, 10)
        self.assertEqual(
            [bounds.holds(v) for v in (1, 10, 0, 10.5)], [True] * 2 + [False] * 2
        )

    def test_words(self) -> None:
        """
        The bounds say what they take, for messages, in digits.
        """
        self.assertEqual(
            (Bounds(1, 1_000_000).kind, Bounds(1, 1_000_000).range),
            ("a whole number", "from 1 to 1000000"),
        )
        self.assertEqual(
            (Bounds(0.001, 16 << 20, whole=False).kind, Bounds(0.001, 16 << 20).range),
            ("a number", "from 0.001 to 16777216"),
        )


def _setting(value: Value, **kwargs: object) -> Setting:
    return Setting("opt", value, **kwargs)  # type: ignore[arg-type]


class NumberTests(SynchronousTestCase):
    """
    Tests for L{Number}.
    """

    def test_parse(self) -> None:
        """
        A number within bounds is its value.
        """
        self.assertEqual(_setting(Number(Bounds(1, 9))).parse("7"), 7)

    def test_message(self) -> None:
        """
        A refused value names the option, the value and the bounds, in the
        option's spelling.
        """
        e = self.assertRaises(ValueError, _setting(Number(Bounds(1, 9))).parse, "0")
        self.assertEqual(str(e), "opt='0' is not a whole number from 1 to 9")
        setting = _setting(Number(Bounds(0, 5, False), "seconds"), spelling=commandLine)
        e = self.assertRaises(ValueError, setting.parse, "x")
        self.assertEqual(str(e), "--opt 'x' is not a number of seconds from 0 to 5")

    def test_show(self) -> None:
        """
        A number is written without a needless fraction.
        """
        number = Number(Bounds(0, 9, False))
        self.assertEqual(
            [number.show(v) for v in (300.0, 0.5, 10_000)], ["300", "0.5", "10000"]
        )

    def test_describe(self) -> None:
        """
        The README says the bounds, and the unit if there is one.
        """
        self.assertEqual(Number(Bounds(1, 9)).describe(), "1 to 9")
        self.assertEqual(Number(Bounds(0, 9), "seconds").describe(), "seconds, 0 to 9")


class FlagTests(SynchronousTestCase):
    """
    Tests for L{Flag} and L{yesOrNo}.
    """

    def test_spellings(self) -> None:
        """
        yes/no, true/false, on/off and 1/0 are taken, in any case.
        """
        self.assertEqual([yesOrNo(t) for t in ("yes", "TRUE", "On", "1")], [True] * 4)
        self.assertEqual([yesOrNo(t) for t in ("no", "False", "OFF", "0")], [False] * 4)
        self.assertIsNone(yesOrNo("maybe"))

    def test_message(self) -> None:
        """
        Anything else is refused, naming the option and the value.
        """
        e = self.assertRaises(ValueError, _setting(Flag()).parse, "maybe")
        self.assertEqual(str(e), "opt='maybe' is not yes or no")

    def test_show(self) -> None:
        """
        A flag's values are written in its spelling.
        """
        self.assertEqual((Flag().show(True), Flag().show(False)), ("yes", "no"))
        self.assertEqual(Flag(("1", "0")).show(True), "1")
        self.assertEqual(Flag(("1", "0")).describe(), "1 or 0")

    def test_messageInItsSpelling(self) -> None:
        """
        A flag spelled 1|0 says so when it refuses a value, as its help
        does.
        """
        e = self.assertRaises(ValueError, _setting(Flag(("1", "0"))).parse, "2")
        self.assertEqual(str(e), "opt='2' is not 1 or 0")

    def test_metavar(self) -> None:
        """
        A flag's setting is documented in its spelling unless told
        otherwise.
        """
        self.assertEqual(_setting(Flag(("1", "0"))).metavar, "1|0")
        self.assertEqual(_setting(Flag()).metavar, "yes|no")
        self.assertEqual(_setting(Number(Bounds(0))).metavar, "")

    def test_everyFlagAgrees(self) -> None:
        """
        Every yes-or-no option of every table is documented (metavar and
        help line) in the spelling its message uses.
        """
        flags = [
            setting
            for table in (LIMITS, SOCKET_OPTIONS, ENDPOINT_ARGUMENTS, PROCESS)
            for setting in table
            if isinstance(setting.value, Flag)
        ]
        self.assertTrue(flags)
        for setting in flags:
            assert isinstance(setting.value, Flag)
            words = "|".join(setting.value.spelling)
            self.assertEqual(setting.metavar, words, setting.name)
            self.assertIn(words, setting.describe(), setting.name)
            e = self.assertRaises(ValueError, setting.parse, "maybe")
            self.assertTrue(
                str(e).endswith(f" is not {' or '.join(setting.value.spelling)}"),
                str(e),
            )

    def test_flagWords(self) -> None:
        """
        The sentence of C{--help} lists every pair of words a flag takes,
        and each is taken.
        """
        sentence = flagWords()
        for yes, no in FLAG_WORDS:
            self.assertIn(f"{yes}/{no}", sentence)
            self.assertEqual((yesOrNo(yes.upper()), yesOrNo(no)), (True, False))


class SettingTests(SynchronousTestCase):
    """
    Tests for L{Setting}.
    """

    def test_describe(self) -> None:
        """
        The help line has the default written in where it says C{{default}}.
        """
        setting = _setting(
            Number(Bounds(1, 9)), default=5, help="five (default {default})"
        )
        self.assertEqual(setting.describe(), "five (default 5)")

    def test_shown(self) -> None:
        """
        A default the value cannot write is shown as declared.
        """
        setting = _setting(Flag(), default=None, help="(default {default})", shown="no")
        self.assertEqual(
            (setting.shownDefault, setting.describe()), ("no", "(default no)")
        )

    def test_key(self) -> None:
        """
        The configuration file's key is the option's name unless declared.
        """
        self.assertEqual(_setting(Flag()).key, "opt")
        self.assertIsNone(_setting(Flag(), key=None).key)

    def test_spellings(self) -> None:
        """
        A message names a value as C{key=value}, or as the command line
        writes it.
        """
        self.assertEqual(keyValue("idle", "x"), "idle='x'")
        self.assertEqual(commandLine("workers", "x"), "--workers 'x'")
        self.assertEqual(_setting(Flag()).subject("x"), "opt='x'")

    def test_appliesTo(self) -> None:
        """
        An option applies to the kinds it names.
        """
        setting = _setting(Flag(), kinds=frozenset({"stream"}))
        self.assertEqual(
            (setting.appliesTo("stream"), setting.appliesTo("datagram")), (True, False)
        )

    def test_bounds(self) -> None:
        """
        A numeric option has bounds; another has none.
        """
        self.assertEqual(_setting(Number(Bounds(1, 9))).bounds, Bounds(1, 9))
        self.assertRaises(TypeError, lambda: _setting(Flag()).bounds)

    def test_plainValue(self) -> None:
        """
        L{Value} itself takes any text as it is.
        """
        self.assertEqual(_setting(Value()).parse("x:y"), "x:y")
        self.assertEqual((Value().show(3), Value().describe()), ("3", "text"))


class TableTests(SynchronousTestCase):
    """
    Tests for L{Table}.
    """

    def setUp(self) -> None:
        self.a = Setting("a", Flag(), kinds=frozenset({"x"}))
        self.b = Setting("b", Flag(), kinds=frozenset({"y"}))
        self.table = Table((self.a, self.b))

    def test_lookup(self) -> None:
        """
        A table finds its options by name, and keeps their order.
        """
        self.assertIs(self.table["b"], self.b)
        self.assertEqual(
            (list(self.table), self.table.names()), ([self.a, self.b], ("a", "b"))
        )
        self.assertEqual(len(self.table), 2)
        self.assertIn("a", self.table)
        self.assertNotIn("c", self.table)

    def test_applyingTo(self) -> None:
        """
        L{Table.applyingTo} gives the options of one kind.
        """
        self.assertEqual(self.table.applyingTo("y"), (self.b,))

    def test_sameNameRefused(self) -> None:
        """
        Two options of one name cannot be in one table.
        """
        self.assertRaises(ValueError, Table, (self.a, Setting("a", Flag())))
