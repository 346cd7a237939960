"""
Tests for L{sockplug.options._access}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from sockplug.options._access import AccessList, sourceOf
from sockplug.testing._logs import ADDRESS_ERROR as _ADDRESS_ERROR
from sockplug.testing._logs import accessList as _access
from sockplug.testing._logs import network as _net


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


class SourceOfTests(SynchronousTestCase):
    """
    L{sourceOf}: what counts as one source for the per-source limits.
    """

    def test_ipv4(self) -> None:
        """
        An IPv4 address is its own source.
        """
        self.assertEqual(sourceOf("192.0.2.7"), "192.0.2.7")

    def test_ipv6Network(self) -> None:
        """
        The addresses of one IPv6 /64 are one source, written the short way.
        """
        self.assertEqual(
            {sourceOf("2001:db8:0:0:0:0:0:7"), sourceOf("2001:db8::ffff:1")},
            {"2001:db8::/64"},
        )

    def test_ipv6OtherNetwork(self) -> None:
        """
        Addresses in different /64 networks are different sources.
        """
        self.assertNotEqual(sourceOf("2001:db8:0:1::7"), sourceOf("2001:db8::7"))

    def test_mapped(self) -> None:
        """
        An IPv4-mapped IPv6 address is its IPv4 address.
        """
        self.assertEqual(sourceOf("::ffff:192.0.2.7"), "192.0.2.7")

    def test_notAnAddress(self) -> None:
        """
        A socket path is its own source.
        """
        self.assertEqual(sourceOf("/tmp/client:sock"), "/tmp/client:sock")
