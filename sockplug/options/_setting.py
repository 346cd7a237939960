# -*- test-case-name: sockplug.options.test.test_setting -*-
"""
How an option is declared: once, in a table of L{Setting}s, one table per
family (the limits of L{sockplug.options._limits}, the socket options of
L{sockplug.options._sockopts}, the process's settings of
L{sockplug.options._process}). Parsing, the configuration file's checks,
C{--help} and the README's tables are made from the tables, as gunicorn
makes its command line, its configuration and its documentation from its
C{Setting} classes.

L{Bounds} is the one check of a number written as text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

from attrs import Factory, field, frozen

from sockplug.errors import shown

# How a number is written: ASCII digits, for a fraction a point and
# an exponent (checked before int() or float() reads it).
_WHOLE = re.compile(r"[0-9]+")
_FRACTION = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

__all__ = [
    "FLAG_WORDS",
    "Bounds",
    "Flag",
    "Number",
    "Setting",
    "Table",
    "Value",
    "commandLine",
    "flagWords",
    "keyValue",
    "yesOrNo",
]


@frozen
class Bounds:
    """
    The numbers an option takes: from C{low} to C{high}, whole ones only
    or any.

    @ivar base: the base whole numbers are written in (8 for a file mode).
    """

    low: float
    high: float = math.inf
    whole: bool = True
    base: int = 10

    def parse(self, text: str) -> Any:
        """
        The number C{text} writes, if it is one within the bounds: an
        L{int} for whole numbers (written in C{base}), a L{float} for the
        others.

        @return: the number, or L{None} if C{text} is no number or one
            outside the bounds.
        """
        # Python's int() and float() also take digits of other scripts
        # (fullwidth digits), underscores ("1_000"), spaces around, and "nan" and
        # "inf": none of them is a number a user writes in an option.
        written = _WHOLE if self.whole else _FRACTION
        if not written.fullmatch(text):
            return None
        try:
            number: float = int(text, self.base) if self.whole else float(text)
        except ValueError:  # a digit beyond the base; 4,300 digits or more
            return None
        return number if self.low <= number <= self.high else None

    def admits(self, value: object) -> bool:
        """
        Whether C{value}, a number already (from a TOML file), is of the
        right kind: a whole number, or any number (a bool is neither).
        """
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (not self.whole and isinstance(value, float))

    def holds(self, value: float) -> bool:
        """
        Whether the number C{value} is within the bounds.
        """
        return self.low <= value <= self.high

    @property
    def kind(self) -> str:
        """
        C{a whole number} or C{a number}, for a message.
        """
        return "a whole number" if self.whole else "a number"

    @property
    def range(self) -> str:
        """
        C{from 1 to 1000000}, for a message.
        """
        return f"from {self.low:.15g} to {self.high:.15g}"


def keyValue(name: str, text: str) -> str:
    """
    How a message names a value given as C{key=value}: C{idle='x'}.
    """
    return f"{name}={shown(text)}"


def commandLine(name: str, text: str) -> str:
    """
    How a message names a value given on the command line: C{--workers
    'x'}.
    """
    return f"--{name} {shown(text)}"


class Value:
    """
    What an option takes: how its text is read, and how its values are
    written back for the user.

    @cvar listed: whether it is a comma-separated list, which a TOML file
        may give as a list.
    @cvar written: if a TOML file must give it as text, how (C{octal
        text}); empty if a number or true/false is taken too.
    """

    listed: ClassVar[bool] = False
    written: ClassVar[str] = ""

    def parse(self, setting: Setting, text: str) -> Any:
        """
        The value C{text} gives C{setting}.

        @raise ValueError: naming the value and saying what it should be.
        """
        return text

    def show(self, value: Any) -> str:
        """
        A value as the user writes it.
        """
        return str(value)

    def describe(self) -> str:
        """
        What the option takes, in a few words, for the README.
        """
        return "text"


@frozen
class Number(Value):
    """
    A number within bounds: C{maxconn='0' is not a whole number from 1 to
    1000000}.

    @ivar unit: what is counted, if the message says it (C{a number of
        seconds from 0 to 86400}).
    """

    bounds: Bounds
    unit: str = ""

    def parse(self, setting: Setting, text: str) -> Any:
        number = self.bounds.parse(text)
        if number is None:
            raise ValueError(f"{setting.subject(text)} is not {self.expected}")
        return number

    @property
    def expected(self) -> str:
        """
        What the number should be, as a message says it.
        """
        unit = f" of {self.unit}" if self.unit else ""
        return f"{self.bounds.kind}{unit} {self.bounds.range}"

    def show(self, value: Any) -> str:
        return f"{value:.15g}"

    def describe(self) -> str:
        unit = f"{self.unit}, " if self.unit else ""
        return f"{unit}{self.bounds.low:.15g} to {self.bounds.high:.15g}"


# The words a yes-or-no option takes, in any case: the first pair is how
# sockplug writes one (L{Flag.spelling} may choose another pair).
FLAG_WORDS = (("yes", "no"), ("true", "false"), ("on", "off"), ("1", "0"))


def yesOrNo(text: str) -> bool | None:
    """
    C{yes} or C{no} (or any pair of L{FLAG_WORDS}, in any case) as a
    bool; L{None} for any other text.
    """
    lowered = text.lower()
    for yes, no in FLAG_WORDS:
        if lowered == yes:
            return True
        if lowered == no:
            return False
    return None


def flagWords() -> str:
    """
    The sentence of C{--help} and the README saying which words a
    yes-or-no option takes.
    """
    pairs = ", ".join("/".join(pair) for pair in FLAG_WORDS)
    return f"A yes|no or 1|0 option takes any of {pairs}, in any case."


@frozen
class Flag(Value):
    """
    Yes or no (or any pair of L{FLAG_WORDS}, in any case).

    @ivar spelling: how its values are written back, and how C{--help}
        and a message name them: C{("yes", "no")}, or C{("1", "0")} for an
        option Twisted spells so.
    """

    spelling: tuple[str, str] = ("yes", "no")

    def parse(self, setting: Setting, text: str) -> bool:
        value = yesOrNo(text)
        if value is None:
            raise ValueError(f"{setting.subject(text)} is not {self.describe()}")
        return value

    def show(self, value: Any) -> str:
        return self.spelling[0] if value else self.spelling[1]

    def describe(self) -> str:
        return " or ".join(self.spelling)

    @property
    def metavar(self) -> str:
        """
        How C{--help} and the README write what it takes: C{yes|no}.
        """
        return "|".join(self.spelling)


def _byName(self: Table) -> Mapping[str, Setting]:
    named = {setting.name: setting for setting in self.entries}
    if len(named) != len(self.entries):
        raise ValueError("two settings of one table have the same name")
    return named


def _metavarOf(self: Setting) -> str:
    return self.value.metavar if isinstance(self.value, Flag) else ""


@frozen
class Setting:
    """
    One option, declared once.

    @ivar name: how it is written: a key of an endpoint string and of a
        listener's table, or the long option of the command line.
    @ivar value: what it takes (L{Number}, L{Flag}...).
    @ivar default: what applies when it is not given.
    @ivar help: one line saying what it does; C{{default}} in it stands
        for the default, as the user writes it.
    @ivar kinds: what it applies to: the kinds of endpoint (C{stream},
        C{datagram}) or of socket (C{tcp}, C{udp}, C{unix}...).
    @ivar attribute: the attribute of the value its family builds that it
        sets (L{sockplug.options.ListenerLimits.maxPerSource}).
    @ivar shown: the default as the user reads it, where the value cannot
        write it (L{None}: C{value.show(default)}).
    @ivar key: its key in the configuration file; L{None} if the file has
        none.
    @ivar spelling: how a message names a value given for it
        (L{keyValue}, L{commandLine}).
    @ivar short: its one-letter command-line option, if it has one.
    @ivar metavar: what its value is, in the README (C{N}, C{FILE}); a
        L{Flag}'s own (C{yes|no}) unless given.
    """

    name: str
    value: Value
    default: Any = None
    help: str = ""
    kinds: frozenset[str] = frozenset()
    attribute: str = ""
    shown: str | None = None
    key: str | None = field(default=Factory(lambda self: self.name, takes_self=True))
    spelling: Callable[[str, str], str] = keyValue
    short: str | None = None
    metavar: str = field(default=Factory(_metavarOf, takes_self=True))

    def parse(self, text: str) -> Any:
        """
        The value C{text} gives this option.

        @raise ValueError: naming the value and saying what it should be.
        """
        return self.value.parse(self, text)

    def subject(self, text: str) -> str:
        """
        How a message names C{text} given for this option.
        """
        return self.spelling(self.name, text)

    @property
    def shownDefault(self) -> str:
        """
        The default, as the user writes it.
        """
        if self.shown is not None:
            return self.shown
        return self.value.show(self.default)

    def describe(self) -> str:
        """
        The help line, its default written in.
        """
        return self.help.replace("{default}", self.shownDefault)

    @property
    def bounds(self) -> Bounds:
        """
        The bounds of a numeric option (its value a L{Number}).

        @raise TypeError: if it is not one.
        """
        if not isinstance(self.value, Number):
            raise TypeError(f"{self.name} takes no number")
        return self.value.bounds

    def appliesTo(self, kind: str) -> bool:
        """
        Whether this option applies to C{kind} (of endpoint or socket).
        """
        return kind in self.kinds


@frozen
class Table:
    """
    The options of one family, in the order C{--help} lists them.
    """

    entries: tuple[Setting, ...]
    _named: Mapping[str, Setting] = field(
        init=False, repr=False, eq=False, default=Factory(_byName, takes_self=True)
    )

    def __iter__(self) -> Iterator[Setting]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, name: object) -> bool:
        return name in self._named

    def __getitem__(self, name: str) -> Setting:
        return self._named[name]

    def names(self) -> tuple[str, ...]:
        """
        The names of the options, in order.
        """
        return tuple(self._named)

    def applyingTo(self, kind: str) -> tuple[Setting, ...]:
        """
        The options that apply to C{kind}, in order.
        """
        return tuple(s for s in self.entries if s.appliesTo(kind))
