"""
Tests for L{sockplug.config._defaults}: the C{[defaults]} table.
"""

from __future__ import annotations

from sockplug.endpoints._stream import TCPServerEndpoint, UNIXServerEndpoint
from sockplug.options._access import AccessList
from sockplug.testing._config import ConfigTestCase


class DefaultsTests(ConfigTestCase):
    """
    Tests for the C{[defaults]} table.
    """

    def test_protocol(self) -> None:
        """
        The default protocol serves the listeners that name none.
        """
        configuration = self.read(
            """
            [defaults]
            protocol = "hello"
            [listeners.a]
            endpoint = "tcp:1"
            [listeners.b]
            endpoint = "tcp:2"
            protocol = "echo"
            """
        )
        self.assertEqual(
            [listener.plugin.name for listener in configuration.listeners],
            ["hello", "echo"],
        )

    def test_limits(self) -> None:
        """
        Default limits apply to every listener they fit.
        """
        listener = self.listener(
            """
            [defaults]
            idle = 30
            maxpersource = 4
            loglines = 10
            [listeners.a]
            endpoint = "tcp:1"
            """
        )
        limits = listener.endpoint.limits
        self.assertEqual(
            (limits.idleTimeout, limits.maxPerSource, limits.logLines), (30.0, 4, 10)
        )
        self.assertEqual(listener.spec.endpoint, "tcp:1")

    def test_socketOptions(self) -> None:
        """
        Default socket options apply to every listener they fit.
        """
        listener = self.listener(
            """
            [defaults]
            nodelay = true
            backlog = 9
            rcvbuf = "64K"
            [listeners.a]
            endpoint = "tcp:1"
            """
        )
        endpoint = listener.endpoint.endpoint
        assert isinstance(endpoint, TCPServerEndpoint)
        self.assertEqual(endpoint.backlog, 9)
        self.assertEqual(
            (endpoint.options.nodelay, endpoint.options.rcvbuf), (True, 65536)
        )

    def test_overriddenByKey(self) -> None:
        """
        A listener's own key wins over the default.
        """
        listener = self.listener(
            """
            [defaults]
            idle = 30
            nodelay = true
            [listeners.a]
            endpoint = "tcp:1"
            idle = 7
            nodelay = false
            """
        )
        self.assertEqual(listener.endpoint.limits.idleTimeout, 7.0)
        endpoint = listener.endpoint.endpoint
        assert isinstance(endpoint, TCPServerEndpoint)
        self.assertFalse(endpoint.options.nodelay)

    def test_overriddenByEndpointString(self) -> None:
        """
        A limit in the listener's endpoint string wins over the default.
        """
        listener = self.listener(
            """
            [defaults]
            idle = 30
            [listeners.a]
            endpoint = "tcp:1:idle=8"
            """
        )
        self.assertEqual(listener.endpoint.limits.idleTimeout, 8.0)

    def test_idleNotOnDatagram(self) -> None:
        """
        A stream limit (C{idle}) given as a default is not applied to a
        datagram listener, and is no error there; a datagram limit is not
        applied to a stream listener.
        """
        configuration = self.read(
            """
            [defaults]
            idle = 30
            replyrate = 5
            [listeners.udp]
            endpoint = "udp:1"
            [listeners.tcp]
            endpoint = "tcp:1"
            """
        )
        udp, tcp = configuration.listeners
        self.assertEqual(udp.endpoint.description, "udp:1:replyrate=5")
        self.assertEqual(udp.endpoint.limits.replyRate, 5.0)
        self.assertEqual(udp.endpoint.limits.idleTimeout, 300.0)
        self.assertEqual(tcp.endpoint.description, "tcp:1:idle=30")
        self.assertEqual(tcp.endpoint.limits.replyRate, 100.0)

    def test_nodelayNotOnUnix(self) -> None:
        """
        A TCP socket option given as a default is not applied to a UNIX
        listener, or a UDP one.
        """
        configuration = self.read(
            """
            [defaults]
            nodelay = true
            backlog = 7
            [listeners.unix]
            endpoint = "unix:/tmp/a.sock"
            [listeners.udp]
            endpoint = "udp:1"
            """
        )
        unix, udp = configuration.listeners
        self.assertEqual(unix.endpoint.description, "unix:/tmp/a.sock:backlog=7")
        endpoint = unix.endpoint.endpoint
        assert isinstance(endpoint, UNIXServerEndpoint)
        self.assertIsNone(endpoint.options.nodelay)
        self.assertEqual(udp.endpoint.description, "udp:1")

    def test_allowNotOnUnix(self) -> None:
        """
        A default C{allow} applies to IP listeners, not to UNIX ones, whose
        peers have no IP address.
        """
        configuration = self.read(
            """
            [defaults]
            allow = "127.0.0.1"
            [listeners.tcp]
            endpoint = "tcp:1"
            [listeners.udp]
            endpoint = "udp:1"
            [listeners.unix]
            endpoint = "unix:/tmp/a.sock"
            [listeners.unixgram]
            endpoint = "unixgram:/tmp/a.dgram"
            """
        )
        allowed = AccessList.parse("127.0.0.1", None)
        self.assertEqual(
            [listener.endpoint.limits.access for listener in configuration.listeners],
            [allowed, allowed, AccessList(), AccessList()],
        )

    def test_protocolOptions(self) -> None:
        """
        C{[defaults.PROTOCOL]} gives the options of that protocol's
        listeners; a listener's own key wins.
        """
        configuration = self.read(
            """
            [defaults]
            protocol = "hello"
            [defaults.hello]
            greeting = "Hi {peer}"
            [listeners.a]
            endpoint = "tcp:1"
            [listeners.b]
            endpoint = "tcp:2"
            greeting = "Yo"
            [listeners.c]
            endpoint = "tcp:3"
            protocol = "echo"
            """
        )
        self.assertEqual(
            [dict(listener.options) for listener in configuration.listeners],
            [{"greeting": "Hi {peer}"}, {"greeting": "Yo"}, {}],
        )

    def test_protocolOptionsConverted(self) -> None:
        """
        A default option is given to the protocol as its check returns it.
        """
        listener = self.listener(
            """
            [defaults.line-print]
            output = "stdout"
            [listeners.a]
            endpoint = "udp:1"
            protocol = "line-print"
            """
        )
        self.assertEqual(
            dict(listener.options), {"output": "-", "outputbuffer": 1048576}
        )

    def test_unknownKey(self) -> None:
        """
        An unknown key of C{[defaults]} is named, with the nearest known
        one.
        """
        self.assertEqual(
            self.problem("[defaults]\nidel = 3\n"),
            'defaults: unknown key "idel"; did you mean "idle"?',
        )
        self.assertEqual(
            self.problem("[defaults]\nzzzzzz = 3\n"), 'defaults: unknown key "zzzzzz"'
        )

    def test_unknownProtocolTable(self) -> None:
        """
        A table for a protocol there is not is an unknown key.
        """
        self.assertEqual(
            self.problem("[defaults.helo]\ngreeting = 'x'\n"),
            'defaults: unknown key "helo"; did you mean "hello"?',
        )

    def test_unknownProtocol(self) -> None:
        """
        An unknown default protocol is named, with the nearest known one.
        """
        self.assertEqual(
            self.problem('[defaults]\nprotocol = "helo"\n'),
            "defaults: \"protocol\": unknown protocol 'helo'; the protocols are:"
            ' echo, hello, line-print, stream-only; did you mean "hello"?',
        )

    def test_protocolNotText(self) -> None:
        """
        A default protocol that is not text is refused.
        """
        self.assertEqual(
            self.problem("[defaults]\nprotocol = 3\n"),
            'defaults: "protocol" should be text, the name of a protocol',
        )

    def test_badValues(self) -> None:
        """
        Each wrong default limit or socket option is named with what is
        wrong, all of them at once.
        """
        self.assertEqual(
            self.problems(
                """
                [defaults]
                idle = -1
                mode = 660
                backlog = 0
                stale = "x"
                lockfile = "maybe"
                nodelay = "perhaps"
                sndbuf = "lots"
                allow = ["nonsense"]
                idle2 = 1
                """
            ),
            [
                'defaults: "idle": idle = -1 is not a number from 0 to 604800',
                'defaults: "mode": give "mode" as octal text, such as mode = "660"',
                'defaults: "backlog": backlog = 0 is not a positive number',
                'defaults: "stale": stale = "x" is not replace or fail',
                'defaults: "lockfile": lockfile = "maybe" is not 1 or 0',
                'defaults: "nodelay": nodelay = "perhaps" is not yes or no',
                'defaults: "sndbuf": sndbuf = "lots" is not a positive number',
                "defaults: \"allow\": allow=: 'nonsense' is not an address or CIDR"
                r" block (such as 10.0.0.0/8, 192.0.2.7 or \:\:1/128), nor any or"
                " localhost",
                'defaults: unknown key "idle2"; did you mean "idle"?',
            ],
        )

    def test_notATable(self) -> None:
        """
        C{defaults} that is not a table is refused.
        """
        self.assertEqual(
            self.problem("defaults = 1\n"), '"defaults" should be a table: [defaults]'
        )

    def test_protocolOptionUnknown(self) -> None:
        """
        An unknown option in C{[defaults.PROTOCOL]} is named, with the
        nearest known one.
        """
        self.assertEqual(
            self.problem('[defaults.hello]\ngreting = "x"\n'),
            'defaults.hello: unknown option "greting" for protocol hello;'
            ' did you mean "greeting"?',
        )

    def test_protocolOptionWithoutOptions(self) -> None:
        """
        Any option in the table of a protocol that has none is unknown.
        """
        self.assertEqual(
            self.problem("[defaults.echo]\ngreeting = 'x'\n"),
            'defaults.echo: unknown option "greeting" for protocol echo',
        )

    def test_protocolOptionWrong(self) -> None:
        """
        A wrong value in C{[defaults.PROTOCOL]} is named once, with what is
        wrong, not once per listener.
        """
        self.assertEqual(
            self.problems(
                """
                [defaults.hello]
                greeting = 3
                [defaults.line-print]
                output = "relative.log"
                [listeners.a]
                endpoint = "tcp:1"
                protocol = "hello"
                [listeners.b]
                endpoint = "tcp:2"
                protocol = "hello"
                """
            ),
            [
                'defaults.hello: option "greeting": is a whole number; it should'
                " be text",
                "defaults.line-print: option \"output\": 'relative.log' is not -"
                " (standard output) or an absolute file path",
            ],
        )
