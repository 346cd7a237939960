"""
Tests for L{sockplug.options._limits}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from sockplug.options._access import AccessList
from sockplug.options._limits import (
    CLASSIC_UDP_PORTS,
    LIMITS,
    ListenerLimits,
    parseLimits,
)
from sockplug.testing._logs import ADDRESS_ERROR as _ADDRESS_ERROR
from sockplug.testing._logs import accessList as _access
from sockplug.testing._logs import network as _net

_STREAM_ONLY = (
    "backpressure",
    "evict",
    "idle",
    "maxconn",
    "maxline",
    "maxpending",
    "maxpersource",
    "sendbuffer",
)
_DATAGRAM_ONLY = ("blockports", "replyburst", "replygrowth", "replyrate")
_BOTH = ("allow", "deny", "loglines")

# A valid value of every option, for the tests of kinds.
_VALID = {
    "allow": "10.0.0.0/8",
    "deny": "10.0.0.5",
    "maxconn": "5",
    "maxpersource": "5",
    "maxpending": "5",
    "idle": "5",
    "backpressure": "no",
    "evict": "no",
    "sendbuffer": "8192",
    "maxline": "100",
    "replyrate": "5",
    "replyburst": "5",
    "replygrowth": "5",
    "blockports": "53",
    "loglines": "5",
}

# The numeric options: their attribute, whether they take whole numbers
# only, and their bounds as a user reads them.
_NUMBERS = {
    "maxconn": ("maxConnections", True, "1", "1000000"),
    "maxpersource": ("maxPerSource", True, "1", "1000000"),
    "maxpending": ("maxPending", True, "1", "1000000"),
    "idle": ("idleTimeout", False, "0", "604800"),
    "sendbuffer": ("sendBuffer", True, "4096", "16777216"),
    "maxline": ("maxLine", True, "1", "1073741824"),
    "replyrate": ("replyRate", False, "0.001", "1000000"),
    "replyburst": ("replyBurst", True, "1", "1000000"),
    "replygrowth": ("replyGrowth", True, "0", "65536"),
    "loglines": ("logLines", True, "1", "100000"),
}

# Just outside each option's bounds: (below, above).
_OUTSIDE = {
    "maxconn": ("0", "1000001"),
    "maxpersource": ("0", "1000001"),
    "maxpending": ("0", "1000001"),
    "idle": ("-0.001", "604800.5"),
    "sendbuffer": ("4095", "16777217"),
    "maxline": ("0", "1073741825"),
    "replyrate": ("0.0009", "1000000.5"),
    "replyburst": ("0", "1000001"),
    "replygrowth": ("-1", "65537"),
    "loglines": ("0", "100001"),
}


class ListenerLimitsTests(SynchronousTestCase):
    """
    Tests for L{ListenerLimits} and the tables beside it.
    """

    def test_defaults(self) -> None:
        """
        A listener whose endpoint string says nothing gets the documented
        defaults.
        """
        limits = ListenerLimits()
        self.assertEqual(
            (
                limits.access,
                limits.maxConnections,
                limits.maxPerSource,
                limits.idleTimeout,
                limits.backpressure,
                limits.sendBuffer,
                limits.maxLine,
                limits.replyRate,
                limits.replyBurst,
                limits.replyGrowth,
                limits.blockedPorts,
                limits.logLines,
            ),
            (
                AccessList(),
                None,
                256,
                300.0,
                True,
                65536,
                65536,
                100.0,
                200,
                64,
                frozenset({0, 7, 13, 17, 19, 37}),
                100,
            ),
        )

    def test_maxPendingDefault(self) -> None:
        """
        By default, 1,024 connections may wait for their PROXY header at once
        on a listener.
        """
        self.assertEqual(ListenerLimits().maxPending, 1024)

    def test_classicPorts(self) -> None:
        """
        The classic UDP services (and port 0) are the ports blocked by
        default.
        """
        self.assertEqual(CLASSIC_UDP_PORTS, frozenset({0, 7, 13, 17, 19, 37}))

    def test_helpListsEveryOption(self) -> None:
        """
        L{LIMITS} has exactly the defence options, each with its kinds
        and a help text.
        """
        self.assertEqual(
            set(LIMITS.names()), set(_STREAM_ONLY + _DATAGRAM_ONLY + _BOTH)
        )
        for setting in LIMITS:
            name, kinds, text = setting.name, setting.kinds, setting.describe()
            self.assertTrue(kinds, name)
            self.assertLessEqual(kinds, {"stream", "datagram"}, name)
            self.assertTrue(text.strip(), name)

    def test_helpKinds(self) -> None:
        """
        L{LIMITS} gives each option the kinds of endpoint it applies to.
        """
        kinds = {setting.name: setting.kinds for setting in LIMITS}
        expected = {name: frozenset({"stream"}) for name in _STREAM_ONLY}
        expected.update({name: frozenset({"datagram"}) for name in _DATAGRAM_ONLY})
        expected.update({name: frozenset({"stream", "datagram"}) for name in _BOTH})
        self.assertEqual(kinds, expected)


class LimitsTableTests(SynchronousTestCase):
    """
    Tests for L{LIMITS}, the table of the defence options.
    """

    def test_attributes(self) -> None:
        """
        Every option sets an attribute of L{ListenerLimits} (C{allow} and
        C{deny} both its access list), and every attribute is set by one.
        """
        self.assertEqual(
            {setting.attribute for setting in LIMITS},
            {a.name for a in ListenerLimits.__attrs_attrs__},
        )

    def test_defaults(self) -> None:
        """
        L{ListenerLimits}' defaults are the table's.
        """
        limits = ListenerLimits()
        for setting in LIMITS:
            if setting.attribute != "access":
                self.assertEqual(
                    getattr(limits, setting.attribute), setting.default, setting.name
                )
        self.assertEqual(limits.access, AccessList(LIMITS["allow"].default))

    def test_bounds(self) -> None:
        """
        The numeric options' bounds are the ones their messages give.
        """
        for name, (_, whole, low, high) in _NUMBERS.items():
            bounds = LIMITS[name].bounds
            self.assertEqual(
                (bounds.whole, f"{bounds.low:.15g}", f"{bounds.high:.15g}"),
                (whole, low, high),
                name,
            )

    def test_defaultsInHelp(self) -> None:
        """
        A help line that gives a default gives the table's.
        """
        self.assertEqual(
            [
                LIMITS[name].describe().rpartition("(default ")[2]
                for name in ("maxpersource", "idle", "backpressure", "replyrate")
            ],
            ["256)", "300)", "yes)", "100)"],
        )
        self.assertIn("(default 0,7,13,17,19,37;", LIMITS["blockports"].describe())


class ParseLimitsTests(SynchronousTestCase):
    """
    Tests for L{parseLimits}.
    """

    maxDiff = None

    def _one(self, name: str, value: str, kind: str = "") -> ListenerLimits:
        return parseLimits({name: value}, kind)

    def _error(self, name: str, value: str, kind: str = "") -> str:
        return str(self.assertRaises(ValueError, self._one, name, value, kind))

    def test_nothingGiven(self) -> None:
        """
        Without defence options the defaults hold.
        """
        self.assertEqual(parseLimits({"interface": "::1"}, "stream"), ListenerLimits())

    def test_takenOut(self) -> None:
        """
        The defence options are taken out of the keyword arguments; the
        others stay.
        """
        kwargs = {"interface": "127.0.0.1", "idle": "5", "allow": "any", "mode": "600"}
        parseLimits(kwargs, "stream")
        self.assertEqual(kwargs, {"interface": "127.0.0.1", "mode": "600"})

    def test_namesAreCaseSensitive(self) -> None:
        """
        Only the lower-case names are defence options; C{IDLE} is left to
        the type's own parser.
        """
        kwargs = {"IDLE": "5"}
        limits = parseLimits(kwargs, "stream")
        self.assertEqual((kwargs, limits), ({"IDLE": "5"}, ListenerLimits()))

    def test_allow(self) -> None:
        """
        C{allow=} sets the access list.
        """
        self.assertEqual(self._one("allow", "10.0.0.0/8").access, _access("10.0.0.0/8"))

    def test_deny(self) -> None:
        """
        C{deny=} alone sets an access list with no C{allow} entries.
        """
        self.assertEqual(
            self._one("deny", "10.0.0.5").access, AccessList((), (_net("10.0.0.5/32"),))
        )

    def test_allowAndDeny(self) -> None:
        """
        C{allow=} and C{deny=} together make one access list.
        """
        limits = parseLimits({"allow": "any", "deny": "10.0.0.0/8"}, "stream")
        self.assertEqual(limits.access, _access("any", "10.0.0.0/8"))

    def test_accessError(self) -> None:
        """
        A bad C{allow=} entry raises L{ValueError} naming it.
        """
        self.assertEqual(
            self._error("allow", "nowhere"), f"allow=: 'nowhere' {_ADDRESS_ERROR}"
        )

    def test_emptyAccessError(self) -> None:
        """
        An empty C{deny=} raises L{ValueError}.
        """
        self.assertEqual(
            self._error("deny", ""), "deny= is empty; give addresses or CIDR blocks"
        )

    def test_hugeNumberRefused(self) -> None:
        """
        A number too large for a float is refused with the usual message,
        for every numeric option.
        """
        for name in _NUMBERS:
            e = self.assertRaises(ValueError, self._one, name, "9" * 400)
            self.assertIn(f"{name}=", str(e))

    def test_eachNumber(self) -> None:
        """
        Each numeric option sets its attribute.
        """
        for name, (attribute, _, _, _) in _NUMBERS.items():
            self.assertEqual(getattr(self._one(name, "8192"), attribute), 8192, name)

    def test_wholeNumbersAreInts(self) -> None:
        """
        The options of whole numbers give L{int}s.
        """
        for name, (attribute, whole, _, _) in _NUMBERS.items():
            if whole:
                self.assertIs(
                    type(getattr(self._one(name, "8192"), attribute)), int, name
                )

    def test_lowestAccepted(self) -> None:
        """
        Each numeric option takes its lowest value.
        """
        for name, (attribute, _, low, _) in _NUMBERS.items():
            self.assertEqual(getattr(self._one(name, low), attribute), float(low), name)

    def test_highestAccepted(self) -> None:
        """
        Each numeric option takes its highest value.
        """
        for name, (attribute, _, _, high) in _NUMBERS.items():
            self.assertEqual(
                getattr(self._one(name, high), attribute), float(high), name
            )

    def test_belowLowestRefused(self) -> None:
        """
        A value just below an option's lowest is refused, naming the option
        and the value.
        """
        for name, (below, _) in _OUTSIDE.items():
            message = self._error(name, below)
            self.assertTrue(message.startswith(f"{name}={below!r} is not a"), message)

    def test_aboveHighestRefused(self) -> None:
        """
        A value just above an option's highest is refused, naming the
        option and the value.
        """
        for name, (_, above) in _OUTSIDE.items():
            message = self._error(name, above)
            self.assertTrue(message.startswith(f"{name}={above!r} is not a"), message)

    def test_boundsMessage(self) -> None:
        """
        A refused value's message gives the option's bounds exactly, in
        digits: C{maxconn='0' is not a whole number from 1 to 1000000}.
        """
        wrong = []
        for name, (_, whole, low, high) in _NUMBERS.items():
            value = _OUTSIDE[name][0]
            kind = "a whole number" if whole else "a number"
            expected = f"{name}={value!r} is not {kind} from {low} to {high}"
            message = self._error(name, value)
            if message != expected:
                wrong.append((message, expected))
        self.assertEqual(wrong, [])

    def test_smallBoundsMessage(self) -> None:
        """
        The message for a whole-number option names its bounds.
        """
        self.assertEqual(
            self._error("loglines", "0"),
            "loglines='0' is not a whole number from 1 to 100000",
        )

    def test_numberMessage(self) -> None:
        """
        The message for an option that takes fractions says "a number".
        """
        self.assertEqual(
            self._error("idle", "x"), "idle='x' is not a number from 0 to 604800"
        )

    def test_fractionRefusedForWholeNumbers(self) -> None:
        """
        An option of whole numbers refuses a fraction.
        """
        for name, (_, whole, _, _) in _NUMBERS.items():
            if whole:
                message = self._error(name, "10.5")
                self.assertTrue(
                    message.startswith(f"{name}='10.5' is not a whole number from "),
                    message,
                )

    def test_notANumberRefused(self) -> None:
        """
        Every numeric option refuses text that is no number.
        """
        for name in _NUMBERS:
            message = self._error(name, "many")
            self.assertTrue(message.startswith(f"{name}='many' is not a"), message)

    def test_emptyNumberRefused(self) -> None:
        """
        Every numeric option refuses an empty value.
        """
        for name in _NUMBERS:
            message = self._error(name, "")
            self.assertTrue(message.startswith(f"{name}='' is not a"), message)

    def test_hexRefused(self) -> None:
        """
        Whole numbers are decimal: C{0x10} is refused.
        """
        message = self._error("maxconn", "0x10")
        self.assertTrue(
            message.startswith("maxconn='0x10' is not a whole number"), message
        )

    def test_nanRefused(self) -> None:
        """
        C{nan} is no number within bounds.
        """
        for name in ("idle", "replyrate"):
            message = self._error(name, "nan")
            self.assertTrue(
                message.startswith(f"{name}='nan' is not a number"), message
            )

    def test_infinityRefused(self) -> None:
        """
        C{inf} is above every bound.
        """
        for name in ("idle", "replyrate"):
            message = self._error(name, "inf")
            self.assertTrue(
                message.startswith(f"{name}='inf' is not a number"), message
            )

    def test_fractionalIdle(self) -> None:
        """
        C{idle=} takes fractions of a second.
        """
        self.assertEqual(self._one("idle", "2.5").idleTimeout, 2.5)

    def test_idleZero(self) -> None:
        """
        C{idle=0} (never close idle connections) is taken.
        """
        self.assertEqual(self._one("idle", "0").idleTimeout, 0.0)

    def test_fractionalReplyRate(self) -> None:
        """
        C{replyrate=} takes fractions: one reply every two seconds.
        """
        self.assertEqual(self._one("replyrate", "0.5").replyRate, 0.5)

    def test_backpressureNo(self) -> None:
        """
        C{backpressure=no} turns back-pressure off.
        """
        self.assertIs(self._one("backpressure", "no").backpressure, False)

    def test_backpressureYes(self) -> None:
        """
        C{backpressure=yes} keeps back-pressure on.
        """
        self.assertIs(self._one("backpressure", "yes").backpressure, True)

    def test_backpressureSpellings(self) -> None:
        """
        C{backpressure=} takes true/false, on/off, 1/0 in any case too.
        """
        for value, expected in [
            ("true", True),
            ("ON", True),
            ("1", True),
            ("False", False),
            ("off", False),
            ("0", False),
            ("NO", False),
        ]:
            self.assertIs(
                self._one("backpressure", value).backpressure, expected, value
            )

    def test_backpressureBad(self) -> None:
        """
        Any other C{backpressure=} value is refused.
        """
        self.assertEqual(
            self._error("backpressure", "maybe"),
            "backpressure='maybe' is not yes or no",
        )

    def test_evictByDefault(self) -> None:
        """
        By default, slow connections make room for new ones.
        """
        self.assertIs(ListenerLimits().evict, True)

    def test_evictNo(self) -> None:
        """
        C{evict=no} turns making room off.
        """
        self.assertIs(self._one("evict", "no").evict, False)

    def test_evictBad(self) -> None:
        """
        Any C{evict=} value but yes or no is refused.
        """
        self.assertEqual(
            self._error("evict", "maybe"), "evict='maybe' is not yes or no"
        )

    def test_blockportsReplaces(self) -> None:
        """
        C{blockports=} replaces the default ports rather than adding to
        them.
        """
        self.assertEqual(self._one("blockports", "53").blockedPorts, frozenset({53}))

    def test_blockportsList(self) -> None:
        """
        C{blockports=} takes comma-separated ports, spaces allowed.
        """
        self.assertEqual(
            self._one("blockports", "1, 2 ,3").blockedPorts, frozenset({1, 2, 3})
        )

    def test_blockportsEmptyEntries(self) -> None:
        """
        Empty entries of C{blockports=} are skipped.
        """
        self.assertEqual(
            self._one("blockports", "7,,9,").blockedPorts, frozenset({7, 9})
        )

    def test_blockportsEmpty(self) -> None:
        """
        An empty C{blockports=} blocks no port of its own.
        """
        self.assertEqual(self._one("blockports", "").blockedPorts, frozenset())

    def test_blockportsBounds(self) -> None:
        """
        Ports 0 and 65535 may be blocked.
        """
        self.assertEqual(
            self._one("blockports", "0,65535").blockedPorts, frozenset({0, 65535})
        )

    def test_blockportsTooHigh(self) -> None:
        """
        A port above 65535 is refused, naming it.
        """
        self.assertEqual(
            self._error("blockports", "53,65536"),
            "blockports= holds '65536', which is not a port from 0 to 65535",
        )

    def test_blockportsNegative(self) -> None:
        """
        A negative port is refused.
        """
        self.assertEqual(
            self._error("blockports", "-1"),
            "blockports= holds '-1', which is not a port from 0 to 65535",
        )

    def test_blockportsNotANumber(self) -> None:
        """
        A port that is no number is refused, named without its spaces.
        """
        self.assertEqual(
            self._error("blockports", "7, echo"),
            "blockports= holds 'echo', which is not a port from 0 to 65535",
        )

    def test_streamOnlyOnDatagram(self) -> None:
        """
        Each stream-only option is refused on a datagram endpoint.
        """
        for name in _STREAM_ONLY:
            self.assertEqual(
                self._error(name, _VALID[name], "datagram"),
                f"{name} applies to stream endpoints only",
            )

    def test_datagramOnlyOnStream(self) -> None:
        """
        Each datagram-only option is refused on a stream endpoint.
        """
        for name in _DATAGRAM_ONLY:
            self.assertEqual(
                self._error(name, _VALID[name], "stream"),
                f"{name} applies to datagram endpoints only",
            )

    def test_bothKinds(self) -> None:
        """
        C{allow}, C{deny} and C{loglines} are taken on both kinds.
        """
        for kind in ("stream", "datagram"):
            kwargs = {name: _VALID[name] for name in _BOTH}
            limits = parseLimits(kwargs, kind)
            self.assertEqual(
                (limits.access, limits.logLines),
                (_access("10.0.0.0/8", "10.0.0.5"), 5),
                kind,
            )

    def test_unknownKindTakesAll(self) -> None:
        """
        With the kind not known yet, every option is taken.
        """
        kwargs = dict(_VALID)
        limits = parseLimits(kwargs, "")
        self.assertEqual((kwargs, limits.idleTimeout, limits.replyRate), ({}, 5.0, 5.0))

    def test_severalWrongKindsNamed(self) -> None:
        """
        All the options of the wrong kind are named, in order.
        """
        message = str(
            self.assertRaises(
                ValueError,
                parseLimits,
                {"replyrate": "5", "blockports": "1", "idle": "5"},
                "stream",
            )
        )
        self.assertTrue(message.startswith("blockports, replyrate "), message)
        self.assertTrue(message.endswith(" to datagram endpoints only"), message)

    def test_kindCheckedBeforeValue(self) -> None:
        """
        An option of the wrong kind is refused for its kind, whatever its
        value.
        """
        self.assertEqual(
            self._error("idle", "x", "datagram"),
            "idle applies to stream endpoints only",
        )
