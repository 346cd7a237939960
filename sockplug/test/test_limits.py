"""
Tests for L{sockplug._limits}, and for the defence options being taken out
of endpoint strings by L{sockplug._endpoints.EndpointParser.parse}.
"""

from __future__ import annotations

import ipaddress
import os
import shutil

import twisted.test
from twisted.internet.endpoints import SSL4ServerEndpoint, StandardIOEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.trial.unittest import SynchronousTestCase

from sockplug._datagram import (
    UDPParser,
    UDPServerEndpoint,
    UNIXDatagramParser,
    UNIXDatagramServerEndpoint,
)
from sockplug._endpoints import EndpointParser
from sockplug._limits import (
    CLASSIC_UDP_PORTS,
    LIMIT_HELP,
    AccessList,
    ListenerLimits,
    parseLimits,
)
from sockplug._proxy import ProxiedEndpoint
from sockplug._stream import TCPServerEndpoint, UNIXServerEndpoint
from sockplug.errors import EndpointSyntaxError
from sockplug.testing import MemoryDatagramReactor

_STREAM_ONLY = (
    "backpressure",
    "idle",
    "maxconn",
    "maxline",
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
    "idle": "5",
    "backpressure": "no",
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
    "idle": ("-0.001", "604800.5"),
    "sendbuffer": ("4095", "16777217"),
    "maxline": ("0", "1073741825"),
    "replyrate": ("0.0009", "1000000.5"),
    "replyburst": ("0", "1000001"),
    "replygrowth": ("-1", "65537"),
    "loglines": ("0", "100001"),
}

_ADDRESS_ERROR = (
    "is not an address or CIDR block (such as 10.0.0.0/8, 192.0.2.7 or"
    " \\:\\:1/128), nor any or localhost"
)


def _net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text)


def _access(allow: str | None = None, deny: str | None = None) -> AccessList:
    return AccessList.parse(allow, deny)


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

    def test_classicPorts(self) -> None:
        """
        The classic UDP services (and port 0) are the ports blocked by
        default.
        """
        self.assertEqual(CLASSIC_UDP_PORTS, frozenset({0, 7, 13, 17, 19, 37}))

    def test_helpListsEveryOption(self) -> None:
        """
        L{LIMIT_HELP} has exactly the defence options, each with its kinds
        and a help text.
        """
        self.assertEqual(set(LIMIT_HELP), set(_STREAM_ONLY + _DATAGRAM_ONLY + _BOTH))
        for name, (kinds, text) in LIMIT_HELP.items():
            self.assertTrue(kinds, name)
            self.assertLessEqual(kinds, {"stream", "datagram"}, name)
            self.assertTrue(text.strip(), name)

    def test_helpKinds(self) -> None:
        """
        L{LIMIT_HELP} gives each option the kinds of endpoint it applies to.
        """
        kinds = {name: kinds for name, (kinds, _) in LIMIT_HELP.items()}
        expected = {name: frozenset({"stream"}) for name in _STREAM_ONLY}
        expected.update({name: frozenset({"datagram"}) for name in _DATAGRAM_ONLY})
        expected.update({name: frozenset({"stream", "datagram"}) for name in _BOTH})
        self.assertEqual(kinds, expected)


class AccessListParseTests(SynchronousTestCase):
    """
    Tests for L{AccessList.parse}: the text of C{allow=} and C{deny=}.
    """

    def test_network(self) -> None:
        """
        A CIDR block is one network.
        """
        self.assertEqual(_access("10.0.0.0/8").allow, (_net("10.0.0.0/8"),))

    def test_addressIsOneHost(self) -> None:
        """
        An address without a prefix length is a network of that one host.
        """
        self.assertEqual(_access("192.0.2.7").allow, (_net("192.0.2.7/32"),))

    def test_hostBitsIgnored(self) -> None:
        """
        A block with host bits set (C{10.0.0.5/8}) is taken as its network.
        """
        self.assertEqual(_access("10.0.0.5/8").allow, (_net("10.0.0.0/8"),))

    def test_ipv6(self) -> None:
        """
        IPv6 blocks are taken as they are.
        """
        self.assertEqual(_access("2001:db8::/32").allow, (_net("2001:db8::/32"),))

    def test_bracketedIPv6Block(self) -> None:
        """
        An IPv6 block may be written as in a URL, C{[::1]/128}.
        """
        self.assertEqual(_access("[::1]/128").allow, (_net("::1/128"),))

    def test_bracketedIPv6Address(self) -> None:
        """
        An IPv6 address may be written in brackets without a prefix
        length.
        """
        self.assertEqual(_access("[2001:db8::7]").allow, (_net("2001:db8::7/128"),))

    def test_unclosedBracket(self) -> None:
        """
        An opening bracket without a closing one is refused.
        """
        e = self.assertRaises(ValueError, _access, "[::1")
        self.assertEqual(str(e), f"allow=: '[::1' {_ADDRESS_ERROR}")

    def test_any(self) -> None:
        """
        C{any} is every IPv4 and every IPv6 address.
        """
        self.assertEqual(_access("any").allow, (_net("0.0.0.0/0"), _net("::/0")))

    def test_localhost(self) -> None:
        """
        C{localhost} is the IPv4 loopback network and the IPv6 loopback
        address.
        """
        self.assertEqual(
            _access("localhost").allow, (_net("127.0.0.0/8"), _net("::1/128"))
        )

    def test_namesIgnoreCase(self) -> None:
        """
        C{any} and C{localhost} may be written in any case.
        """
        self.assertEqual(_access("ANY,LocalHost"), _access("any,localhost"))

    def test_commaList(self) -> None:
        """
        Entries are separated by commas, kept in order.
        """
        self.assertEqual(
            _access("10.0.0.0/8,192.0.2.7,::1").allow,
            (_net("10.0.0.0/8"), _net("192.0.2.7/32"), _net("::1/128")),
        )

    def test_spacesAroundEntries(self) -> None:
        """
        Spaces around an entry are ignored.
        """
        self.assertEqual(
            _access(" 10.0.0.0/8 , any ").allow, _access("10.0.0.0/8,any").allow
        )

    def test_emptyEntriesSkipped(self) -> None:
        """
        Empty entries between or after commas are skipped.
        """
        self.assertEqual(
            _access("10.0.0.1,,10.0.0.2,").allow,
            (_net("10.0.0.1/32"), _net("10.0.0.2/32")),
        )

    def test_allowAndDenyApart(self) -> None:
        """
        C{allow} and C{deny} fill their own lists.
        """
        access = _access("10.0.0.0/8", "10.0.0.5")
        self.assertEqual(
            (access.allow, access.deny), ((_net("10.0.0.0/8"),), (_net("10.0.0.5/32"),))
        )

    def test_notGivenIsEmpty(self) -> None:
        """
        A list not given is empty.
        """
        self.assertEqual(_access(None, None), AccessList((), ()))

    def test_emptyAllow(self) -> None:
        """
        An empty C{allow=} is refused: it would not say which addresses.
        """
        e = self.assertRaises(ValueError, _access, "")
        self.assertEqual(str(e), "allow= is empty; give addresses or CIDR blocks")

    def test_onlyCommas(self) -> None:
        """
        An C{allow=} of commas and spaces only is as empty.
        """
        e = self.assertRaises(ValueError, _access, " , ,")
        self.assertEqual(str(e), "allow= is empty; give addresses or CIDR blocks")

    def test_emptyDeny(self) -> None:
        """
        An empty C{deny=} is refused, naming C{deny=}.
        """
        e = self.assertRaises(ValueError, _access, None, "")
        self.assertEqual(str(e), "deny= is empty; give addresses or CIDR blocks")

    def test_badEntry(self) -> None:
        """
        An entry that is no address names itself, its option, and the forms
        taken.
        """
        e = self.assertRaises(ValueError, _access, "10.0.0.0/8,bogus")
        self.assertEqual(str(e), f"allow=: 'bogus' {_ADDRESS_ERROR}")

    def test_badDenyEntry(self) -> None:
        """
        A bad C{deny=} entry names C{deny=}.
        """
        e = self.assertRaises(ValueError, _access, None, "10.0.0.256")
        self.assertEqual(str(e), f"deny=: '10.0.0.256' {_ADDRESS_ERROR}")

    def test_hostName(self) -> None:
        """
        Host names are refused: access lists are checked without DNS.
        """
        e = self.assertRaises(ValueError, _access, "example.com")
        self.assertEqual(str(e), f"allow=: 'example.com' {_ADDRESS_ERROR}")

    def test_prefixTooLong(self) -> None:
        """
        A prefix longer than the address is refused.
        """
        e = self.assertRaises(ValueError, _access, "10.0.0.0/33")
        self.assertEqual(str(e), f"allow=: '10.0.0.0/33' {_ADDRESS_ERROR}")

    def test_ipv6PrefixTooLong(self) -> None:
        """
        An IPv6 prefix longer than 128 is refused.
        """
        e = self.assertRaises(ValueError, _access, "[::1]/129")
        self.assertEqual(str(e), f"allow=: '[::1]/129' {_ADDRESS_ERROR}")

    def test_emptyIsFalse(self) -> None:
        """
        An access list with no entries is false: it restricts nothing.
        """
        self.assertFalse(AccessList())

    def test_allowIsTrue(self) -> None:
        """
        An access list with C{allow} entries is true.
        """
        self.assertTrue(_access("any"))

    def test_denyIsTrue(self) -> None:
        """
        An access list with C{deny} entries only is true.
        """
        self.assertTrue(_access(None, "10.0.0.1"))


class AccessListAdmitsTests(SynchronousTestCase):
    """
    Tests for L{AccessList.admits}.
    """

    def test_emptyAdmitsAll(self) -> None:
        """
        An empty access list admits every IPv4 and IPv6 peer and peers
        without an IP address.
        """
        access = AccessList()
        for host in ("192.0.2.1", "2001:db8::1", None):
            self.assertTrue(access.admits(host), host)

    def test_allowAdmitsInside(self) -> None:
        """
        A peer inside an C{allow} block is admitted.
        """
        self.assertTrue(_access("10.0.0.0/8").admits("10.200.3.4"))

    def test_allowRefusesOutside(self) -> None:
        """
        A peer outside every C{allow} block is refused.
        """
        self.assertFalse(_access("10.0.0.0/8,192.0.2.0/24").admits("198.51.100.1"))

    def test_allowRefusesOtherFamily(self) -> None:
        """
        IPv4 blocks do not admit IPv6 peers.
        """
        self.assertFalse(_access("0.0.0.0/0").admits("2001:db8::1"))

    def test_denyRefusesInside(self) -> None:
        """
        A peer inside a C{deny} block is refused.
        """
        self.assertFalse(_access(None, "10.0.0.0/8").admits("10.1.2.3"))

    def test_denyAdmitsOutside(self) -> None:
        """
        With C{deny} alone, a peer outside it is admitted.
        """
        self.assertTrue(_access(None, "10.0.0.0/8").admits("192.0.2.1"))

    def test_longerAllowWins(self) -> None:
        """
        A matching C{allow} block longer than the matching C{deny} block
        admits: C{deny=any:allow=192.0.2.0/24} serves that network.
        """
        self.assertTrue(_access("192.0.2.0/24", "any").admits("192.0.2.9"))

    def test_denyAnyAllowOneRefusesRest(self) -> None:
        """
        With C{deny=any:allow=192.0.2.0/24}, a peer outside the network is
        refused.
        """
        self.assertFalse(_access("192.0.2.0/24", "any").admits("198.51.100.9"))

    def test_denyAnyRefusesIPv6(self) -> None:
        """
        C{deny=any} holds IPv6 peers too.
        """
        self.assertFalse(_access("192.0.2.0/24", "any").admits("2001:db8::1"))

    def test_longerDenyWins(self) -> None:
        """
        A matching C{deny} block longer than the matching C{allow} block
        refuses: C{allow=10.0.0.0/8:deny=10.0.0.5} refuses that host.
        """
        self.assertFalse(_access("10.0.0.0/8", "10.0.0.5").admits("10.0.0.5"))

    def test_longerDenyLeavesRestOfAllow(self) -> None:
        """
        With C{allow=10.0.0.0/8:deny=10.0.0.5}, another host of the network
        is admitted.
        """
        self.assertTrue(_access("10.0.0.0/8", "10.0.0.5").admits("10.0.0.6"))

    def test_equalPrefixRefuses(self) -> None:
        """
        A C{deny} block as specific as the matching C{allow} block refuses:
        only a more specific C{allow} entry overrides a C{deny}.
        """
        self.assertFalse(_access("192.0.2.7", "192.0.2.7").admits("192.0.2.7"))

    def test_mostSpecificAllowCounts(self) -> None:
        """
        The longest matching C{allow} entry is weighed against C{deny}, not
        the first.
        """
        access = _access("10.0.0.0/8,10.1.2.3", "10.1.0.0/16")
        self.assertTrue(access.admits("10.1.2.3"))

    def test_mostSpecificAllowCountsElsewhere(self) -> None:
        """
        A peer matched only by a shorter C{allow} entry than the C{deny}
        entry holding it is refused.
        """
        access = _access("10.0.0.0/8,10.1.2.3", "10.1.0.0/16")
        self.assertFalse(access.admits("10.1.2.4"))

    def test_mostSpecificDenyCounts(self) -> None:
        """
        The longest matching C{deny} entry is weighed against C{allow}, not
        the first.
        """
        access = _access("10.1.0.0/16", "10.0.0.0/8,10.1.2.0/24")
        self.assertFalse(access.admits("10.1.2.3"))

    def test_shorterDenyLoses(self) -> None:
        """
        A peer whose C{allow} entry is longer than every C{deny} entry
        holding it is admitted.
        """
        access = _access("10.1.0.0/16", "10.0.0.0/8,10.1.2.0/24")
        self.assertTrue(access.admits("10.1.3.3"))

    def test_anyAdmitsBothFamilies(self) -> None:
        """
        C{allow=any} admits IPv4 and IPv6 peers.
        """
        access = _access("any")
        self.assertEqual(
            (access.admits("203.0.113.1"), access.admits("2001:db8::1")), (True, True)
        )

    def test_localhostAdmitsLoopback(self) -> None:
        """
        C{allow=localhost} admits the whole IPv4 loopback network and
        C{::1}.
        """
        access = _access("localhost")
        for host in ("127.0.0.1", "127.2.3.4", "::1"):
            self.assertTrue(access.admits(host), host)

    def test_localhostRefusesOthers(self) -> None:
        """
        C{allow=localhost} refuses other addresses.
        """
        access = _access("localhost")
        for host in ("10.0.0.1", "::2", "128.0.0.1"):
            self.assertFalse(access.admits(host), host)

    def test_mappedPeerMatchesIPv4Allow(self) -> None:
        """
        An IPv4-mapped IPv6 peer (a dual-stack socket's IPv4 client) is
        admitted by an IPv4 C{allow} block holding it.
        """
        self.assertTrue(_access("127.0.0.0/8").admits("::ffff:127.0.0.1"))

    def test_mappedPeerOutsideIPv4Allow(self) -> None:
        """
        An IPv4-mapped IPv6 peer outside the IPv4 C{allow} blocks is
        refused.
        """
        self.assertFalse(_access("127.0.0.0/8").admits("::ffff:10.0.0.1"))

    def test_mappedPeerMatchesIPv4Deny(self) -> None:
        """
        An IPv4-mapped IPv6 peer is refused by an IPv4 C{deny} block
        holding it.
        """
        self.assertFalse(_access(None, "10.0.0.5").admits("::ffff:10.0.0.5"))

    def test_scopedIPv6Peer(self) -> None:
        """
        A link-local peer with a zone (C{fe80::1%eth0}) is matched by its
        address.
        """
        self.assertTrue(_access("fe80::/10").admits("fe80::1%eth0"))

    def test_noAddressRefusedByAllow(self) -> None:
        """
        A peer without an IP address (a UNIX socket) is refused by a
        non-empty C{allow}, even C{allow=any}.
        """
        self.assertFalse(_access("any").admits(None))

    def test_noAddressAdmittedByDeny(self) -> None:
        """
        A peer without an IP address is not refused by C{deny}, even
        C{deny=any}.
        """
        self.assertTrue(_access(None, "any").admits(None))

    def test_nonAddressHostIsNoAddress(self) -> None:
        """
        A host that is no IP address (a UNIX socket path) is treated as a
        peer without one.
        """
        self.assertEqual(
            (
                _access(None, "any").admits("/run/app.sock"),
                _access("any").admits("/run/app.sock"),
            ),
            (True, False),
        )


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


class EndpointLimitsTests(SynchronousTestCase):
    """
    The defence options in endpoint strings, taken out by
    L{EndpointParser.parse} before the type's own parser sees them.
    """

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()
        self.parser = EndpointParser(self.reactor, [UDPParser(), UNIXDatagramParser()])

    def _reason(self, description: str) -> str:
        e = self.assertRaises(EndpointSyntaxError, self.parser.parse, description)
        self.assertEqual(e.description, description)
        return str(e.reason)

    def _pem(self, name: str) -> str:
        """
        A copy of Twisted's test key and certificate, at C{name} in a new
        folder.
        """
        folder = self.mktemp()
        os.mkdir(folder)
        path = os.path.join(folder, name)
        shutil.copy(
            os.path.join(os.path.dirname(twisted.test.__file__), "server.pem"), path
        )
        return path

    def test_tcp(self) -> None:
        """
        C{tcp:} is parsed without the defence options, which become the
        limits.
        """
        parsed = self.parser.parse("tcp:0:idle=5:interface=127.0.0.1:maxconn=9")
        self.assertEqual(
            (parsed.endpoint, parsed.limits),
            (
                TCPServerEndpoint(self.reactor, 0, "127.0.0.1"),
                ListenerLimits(idleTimeout=5.0, maxConnections=9),
            ),
        )

    def test_noOptionsDefaults(self) -> None:
        """
        An endpoint string without defence options gets the default limits.
        """
        self.assertEqual(self.parser.parse("tcp:0").limits, ListenerLimits())

    def test_unix(self) -> None:
        """
        C{unix:} is parsed without the defence options.
        """
        parsed = self.parser.parse("unix:/tmp/x.sock:maxpersource=3:mode=600")
        self.assertEqual(
            (parsed.endpoint, parsed.limits),
            (
                UNIXServerEndpoint(self.reactor, "/tmp/x.sock", 0o600),
                ListenerLimits(maxPerSource=3),
            ),
        )

    def test_udp(self) -> None:
        """
        C{udp:} is parsed without the defence options.
        """
        parsed = self.parser.parse(r"udp:0:replyrate=5:interface=\:\:1:allow=\:\:1/128")
        self.assertEqual(
            (parsed.endpoint, parsed.limits),
            (
                UDPServerEndpoint(self.reactor, 0, "::1"),
                ListenerLimits(access=_access("::1/128"), replyRate=5.0),
            ),
        )

    def test_unixgram(self) -> None:
        """
        C{unixgram:} is parsed without the defence options.
        """
        parsed = self.parser.parse("unixgram:/tmp/x.dgram:blockports=1:loglines=7")
        self.assertEqual(
            (parsed.endpoint, parsed.limits),
            (
                UNIXDatagramServerEndpoint(self.reactor, "/tmp/x.dgram"),
                ListenerLimits(blockedPorts=frozenset({1}), logLines=7),
            ),
        )

    def test_otherTwistedType(self) -> None:
        """
        A type parsed by Twisted (C{ssl:}) gets the string without the
        defence options, its own options kept.
        """
        pem = self._pem("server.pem")
        parsed = self.parser.parse(
            f"ssl:0:privateKey={pem}:idle=5:interface=127.0.0.1:maxline=80"
        )
        self.assertIsInstance(parsed.endpoint, SSL4ServerEndpoint)
        self.assertEqual(parsed.limits, ListenerLimits(idleTimeout=5.0, maxLine=80))
        assert isinstance(parsed.endpoint, SSL4ServerEndpoint)
        parsed.endpoint.listen(Factory.forProtocol(Protocol))
        [(port, _, _, _, interface)] = self.reactor.sslServers
        self.assertEqual((port, interface), (0, "127.0.0.1"))

    def test_otherTwistedTypeEscapes(self) -> None:
        """
        The string handed on to Twisted keeps its escapes: a C{:} in a
        value still reaches the type's parser as part of the value.
        """
        pem = self._pem("a:b=c.pem")
        escaped = pem.replace("\\", "\\\\").replace(":", "\\:")
        parsed = self.parser.parse(f"ssl:0:privateKey={escaped}:idle=5")
        self.assertIsInstance(parsed.endpoint, SSL4ServerEndpoint)

    def test_optionlessTwistedType(self) -> None:
        """
        A Twisted type that takes no options at all (C{stdio:}) accepts
        defence options.
        """
        parsed = self.parser.parse("stdio:idle=5")
        self.assertIsInstance(parsed.endpoint, StandardIOEndpoint)
        self.assertEqual(parsed.limits, ListenerLimits(idleTimeout=5.0))

    def test_haproxy(self) -> None:
        """
        C{haproxy:} takes the defence options, and its inner endpoint is
        parsed without them.
        """
        parsed = self.parser.parse("haproxy:tcp:0:idle=5")
        self.assertIsInstance(parsed.endpoint, ProxiedEndpoint)
        self.assertEqual(parsed.limits, ListenerLimits(idleTimeout=5.0))

    def test_haproxyUnixAllow(self) -> None:
        """
        C{allow=} is taken on C{haproxy:unix:}: the PROXY header gives the
        client's IP address.
        """
        parsed = self.parser.parse("haproxy:unix:/tmp/x.sock:allow=10.0.0.0/8")
        self.assertEqual(parsed.limits.access, _access("10.0.0.0/8"))

    def test_streamOptionOnUDP(self) -> None:
        """
        A stream-only option on a datagram endpoint is a syntax error.
        """
        self.assertEqual(
            self._reason("udp:0:idle=5"), "idle applies to stream endpoints only"
        )

    def test_streamOptionOnUnixgram(self) -> None:
        """
        A stream-only option on C{unixgram:} is a syntax error.
        """
        self.assertEqual(
            self._reason("unixgram:/tmp/x.dgram:maxconn=5"),
            "maxconn applies to stream endpoints only",
        )

    def test_datagramOptionOnTCP(self) -> None:
        """
        A datagram-only option on a stream endpoint is a syntax error.
        """
        self.assertEqual(
            self._reason("tcp:0:replyrate=5"),
            "replyrate applies to datagram endpoints only",
        )

    def test_datagramOptionOnTwistedType(self) -> None:
        """
        A type parsed by Twisted is a stream type: datagram-only options
        are refused.
        """
        self.assertEqual(
            self._reason("stdio:blockports=1"),
            "blockports applies to datagram endpoints only",
        )

    def test_datagramOptionOnHaproxy(self) -> None:
        """
        C{haproxy:} is a stream type: datagram-only options are refused.
        """
        self.assertEqual(
            self._reason("haproxy:tcp:0:replygrowth=5"),
            "replygrowth applies to datagram endpoints only",
        )

    def test_badValue(self) -> None:
        """
        A bad defence option value is a syntax error naming it.
        """
        self.assertEqual(
            self._reason("tcp:0:idle=soon"),
            "idle='soon' is not a number from 0 to 604800",
        )

    def test_unixAllow(self) -> None:
        """
        C{allow=} on C{unix:} is refused: its peers have no IP address.
        """
        self.assertEqual(
            self._reason("unix:/tmp/x.sock:allow=10.0.0.0/8"),
            "allow= and deny= take IP addresses; a UNIX socket's peers are"
            " let in by its mode=",
        )

    def test_unixDeny(self) -> None:
        """
        C{deny=} on C{unix:} is refused too.
        """
        self.assertEqual(
            self._reason("unix:/tmp/x.sock:deny=10.0.0.0/8"),
            "allow= and deny= take IP addresses; a UNIX socket's peers are"
            " let in by its mode=",
        )


class AcceptsDirectlyTests(SynchronousTestCase):
    """
    L{ParsedEndpoint.acceptsDirectly} says whose port calls the factory.
    """

    def test_directTypes(self) -> None:
        """
        TCP, UNIX, PROXY and systemd listeners accept directly; TLS, stdio
        and other types do not.
        """
        parser = EndpointParser(MemoryDatagramReactor(), [])
        direct = {
            text: parser.parse(text).acceptsDirectly
            for text in (
                "tcp:0",
                "tcp6:0",
                "unix:/tmp/x.sock",
                "haproxy:tcp:0",
                "stdio:",
            )
        }
        self.assertEqual(
            direct,
            {
                "tcp:0": True,
                "tcp6:0": True,
                "unix:/tmp/x.sock": True,
                "haproxy:tcp:0": True,
                "stdio:": False,
            },
        )
