"""
Tests for L{sockplug.tap}.
"""

from __future__ import annotations

from twisted.application.service import IServiceCollection
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from sockplug._datagram import UDPServerEndpoint
from sockplug._discovery import PluginFailure, Registry, discover
from sockplug._service import ListenersService
from sockplug._stream import TCPServerEndpoint
from sockplug.errors import CommandLineError
from sockplug.plugin import ListenerInfo, ProtocolPlugin, TransportKind
from sockplug.tap import Options, makeService
from sockplug.testing import MemoryDatagramReactor


def _onlyDatagram(listener: ListenerInfo) -> object:
    raise AssertionError("not built at parse time")


class OptionsTests(SynchronousTestCase):
    """
    Tests for L{Options}.
    """

    def setUp(self) -> None:
        self.reactor = MemoryDatagramReactor()
        builtins = discover(entryPoints=lambda group: [])
        datagramOnly = ProtocolPlugin(
            name="dgram-only",
            description="d",
            datagram=_onlyDatagram,  # type: ignore[arg-type]
        )
        self.registry = Registry(
            {**builtins.protocols, "dgram-only": datagramOnly},
            {**builtins.sources, "dgram-only": "tests"},
            datagramParsers=builtins.datagramParsers,
        )

    def parse(self, *args: str) -> Options:
        options = Options(reactor=self.reactor, registry=self.registry)
        options.parseOptions(list(args))
        return options

    def error(self, *args: str) -> str:
        e = self.assertRaises(CommandLineError, self.parse, *args)
        self.assertIsInstance(e, SystemExit)
        self.assertIsInstance(e.__cause__, usage.UsageError)
        message = str(e)
        self.assertNotIn("\n", message)
        self.assertTrue(message.startswith("twistd sockplug: "), message)
        return message

    def test_defaultProtocol(self) -> None:
        """
        An endpoint without C{NAME@} serves echo.
        """
        [listener] = self.parse("--endpoint", "tcp:8888")["listeners"]
        self.assertEqual(listener.plugin.name, "echo")
        self.assertIsInstance(listener.endpoint.endpoint, TCPServerEndpoint)

    def test_protocolOption(self) -> None:
        """
        C{--protocol} picks the protocol of endpoints without C{NAME@}, and
        C{NAME@} overrides it per endpoint.
        """
        listeners = self.parse(
            "--protocol",
            "line-print",
            "--endpoint",
            "unix:/tmp/p.sock",
            "-e",
            "hello@udp:9999",
        )["listeners"]
        self.assertEqual(
            [(listener.plugin.name, listener.spec.endpoint) for listener in listeners],
            [("line-print", "unix:/tmp/p.sock"), ("hello", "udp:9999")],
        )
        self.assertIsInstance(listeners[1].endpoint.endpoint, UDPServerEndpoint)

    def test_manyListeners(self) -> None:
        """
        The issue's example: four listeners, each with its own protocol, in
        the order given.
        """
        listeners = self.parse(
            "--endpoint",
            "hello@tcp:8000",
            "--endpoint",
            "echo@udp:7777",
            "--endpoint",
            "line-print@unixgram:/tmp/lp.dgram",
            "--endpoint",
            r"echo@tcp6:8888:interface=\:\:1",
        )["listeners"]
        self.assertEqual(
            [str(listener.spec) for listener in listeners],
            [
                "hello@tcp:8000",
                "echo@udp:7777",
                "line-print@unixgram:/tmp/lp.dgram",
                r"echo@tcp6:8888:interface=\:\:1",
            ],
        )
        self.assertEqual(
            [listener.endpoint.kind for listener in listeners],
            [
                TransportKind.STREAM,
                TransportKind.DATAGRAM,
                TransportKind.DATAGRAM,
                TransportKind.STREAM,
            ],
        )

    def test_noEndpoint(self) -> None:
        """
        No C{--endpoint} at all is an error that shows how to give one.
        """
        self.assertIn("--endpoint tcp:8888", self.error())

    def test_unknownProtocol(self) -> None:
        """
        An unknown protocol is an error naming the value and the protocols.
        """
        message = self.error("--endpoint", "nope@tcp:1")
        self.assertIn("--endpoint 'nope@tcp:1': unknown protocol 'nope'", message)
        self.assertIn("echo, hello", message)

    def test_unknownDefaultProtocol(self) -> None:
        """
        An unknown C{--protocol} is an error even if every endpoint names
        its own.
        """
        message = self.error("--protocol", "nope", "--endpoint", "echo@tcp:1")
        self.assertIn("--protocol: unknown protocol 'nope'", message)

    def test_unknownEndpointType(self) -> None:
        """
        An unknown endpoint type is an error naming the value.
        """
        message = self.error("--endpoint", "foo:1")
        self.assertIn("--endpoint 'foo:1': unknown endpoint type 'foo'", message)

    def test_malformedEndpoint(self) -> None:
        """
        A malformed endpoint is an error naming the value and the problem.
        """
        self.assertIn(
            "--endpoint 'udp:70000': port '70000' is not a number from 0 to 65535",
            self.error("--endpoint", "udp:70000"),
        )

    def test_unsupportedKind(self) -> None:
        """
        A protocol asked to serve a kind of endpoint it does not support is
        refused at start-up, before anything is built.
        """
        message = self.error("--endpoint", "dgram-only@tcp:1")
        self.assertIn(
            "protocol 'dgram-only' does not serve stream endpoints, only datagram",
            message,
        )

    def test_help(self) -> None:
        """
        The usage lists every protocol with its description and kinds, every
        endpoint type with an example, and examples of whole commands.
        """
        usage = Options(reactor=self.reactor, registry=self.registry).getUsage()
        self.assertIn(
            "echo        Sends back every byte it receives (RFC 862)."
            " [stream, datagram]",
            usage,
        )
        self.assertIn("dgram-only", usage)
        self.assertIn("(from tests)", usage)
        for example in (
            "e.g. tcp:8888:interface=127.0.0.1",
            r"e.g. tcp6:8888:interface=\:\:1",
            "e.g. udp:9999:interface=127.0.0.1",
            "e.g. unixgram:/tmp/sockplug.dgram:mode=660",
        ):
            self.assertIn(example, usage)
        self.assertIn("twistd -n sockplug --endpoint tcp:8888", usage)

    def test_helpFailures(self) -> None:
        """
        The usage lists the plugins that failed to load, with their errors.
        """
        registry = Registry(
            self.registry.protocols,
            self.registry.sources,
            (PluginFailure("sockplug.plugins.broken", "ZeroDivisionError: x"),),
            self.registry.datagramParsers,
        )
        usage = Options(reactor=self.reactor, registry=registry).getUsage()
        self.assertIn(
            "Plugins that failed to load:\n  sockplug.plugins.broken:"
            " ZeroDivisionError: x",
            usage,
        )


class MakeServiceTests(SynchronousTestCase):
    """
    Tests for L{makeService}.
    """

    def test_service(self) -> None:
        """
        The service holds one L{ListenersService} with every listener.
        """
        reactor = MemoryDatagramReactor()
        options = Options(reactor=reactor)
        options.parseOptions(["--endpoint", "tcp:1", "--endpoint", "udp:2"])
        service = makeService(options)
        [child] = list(IServiceCollection(service))
        self.assertIsInstance(child, ListenersService)
        assert isinstance(child, ListenersService)
        self.assertEqual(len(child.listeners), 2)
        service.privilegedStartService()
        self.assertEqual(len(reactor.tcpServers), 1)
        self.assertEqual(len(reactor.udpPorts), 1)
