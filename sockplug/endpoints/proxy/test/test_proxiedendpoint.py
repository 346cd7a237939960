"""
Tests for L{sockplug.endpoints.proxy._wrapper}: the C{haproxy:} endpoint
type, L{ProxiedEndpoint}, and the endpoint strings that make one.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import (
    IAddress,
    IListeningPort,
    IProtocolFactory,
    IStreamServerEndpoint,
)
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from sockplug.compat import clockOf
from sockplug.endpoints._parser import EndpointParser
from sockplug.endpoints.proxy._wrapper import (
    ProxiedEndpoint,
    ProxyHeaderFactory,
    ProxyHeaderProtocol,
)
from sockplug.errors import EndpointSyntaxError
from sockplug.options._access import AccessList
from sockplug.options._limits import ListenerLimits
from sockplug.testing._proxy import BALANCER as _BALANCER
from sockplug.testing._proxy import LISTENER as _LISTENER
from sockplug.testing._proxy import RecordingFactory as _Factory
from sockplug.testing._proxy import serverTLS as _serverTLS


@implementer(IStreamServerEndpoint)
class _Endpoint:
    """
    A stream endpoint that records the factory it listens with.
    """

    def __init__(self, port: IListeningPort) -> None:
        self.port = port
        self.factories: list[IProtocolFactory] = []

    def listen(self, protocolFactory: IProtocolFactory) -> Deferred[IListeningPort]:
        self.factories.append(protocolFactory)
        return succeed(self.port)


@implementer(IListeningPort)
class _Port:
    def startListening(self) -> None:
        pass

    def stopListening(self) -> Deferred[None]:
        return succeed(None)

    def getHost(self) -> IAddress:
        return _LISTENER


class ProxiedEndpointTests(SynchronousTestCase):
    """
    Tests for L{ProxiedEndpoint} and L{ProxyHeaderFactory}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.port = _Port()
        self.inner = _Endpoint(self.port)
        self.factory = _Factory()

    def _listen(self) -> ProxyHeaderFactory:
        ProxiedEndpoint(self.clock, self.inner).listen(self.factory)
        [factory] = self.inner.factories
        assert isinstance(factory, ProxyHeaderFactory)
        return factory

    def test_provides(self) -> None:
        """
        L{ProxiedEndpoint} is a stream server endpoint.
        """
        self.assertTrue(
            verifyObject(IStreamServerEndpoint, ProxiedEndpoint(self.clock, self.inner))
        )

    def test_listenWraps(self) -> None:
        """
        Listening listens on the wrapped endpoint with a
        L{ProxyHeaderFactory} in front of the factory given.
        """
        ProxiedEndpoint(self.clock, self.inner).listen(self.factory)
        [factory] = self.inner.factories
        self.assertIsInstance(factory, ProxyHeaderFactory)
        assert isinstance(factory, ProxyHeaderFactory)
        self.assertIs(factory.wrappedFactory, self.factory)

    def test_listenReactor(self) -> None:
        """
        The factory's header timeouts run on the endpoint's reactor.
        """
        self.assertIs(self._listen().reactor, self.clock)

    def test_listenResult(self) -> None:
        """
        Listening gives the wrapped endpoint's port.
        """
        result = ProxiedEndpoint(self.clock, self.inner).listen(self.factory)
        self.assertIs(self.successResultOf(result), self.port)

    def test_buildsHeaderProtocol(self) -> None:
        """
        The factory builds a L{ProxyHeaderProtocol} without asking the
        wrapped factory.
        """
        protocol = self._listen().buildProtocol(_BALANCER)
        self.assertEqual(
            (type(protocol), self.factory.addresses), (ProxyHeaderProtocol, [])
        )

    def test_quiet(self) -> None:
        """
        The factory does not log its own start and stop.
        """
        self.assertFalse(self._listen().noisy)

    def test_noTLS(self) -> None:
        """
        Without TLS settings, the factory starts no TLS.
        """
        self.assertIsNone(self._listen().tls)

    def test_listenTLS(self) -> None:
        """
        With TLS settings, the factory starts TLS after the header, with
        those settings, on the endpoint's reactor.
        """
        options = _serverTLS()
        ProxiedEndpoint(self.clock, self.inner, options).listen(self.factory)
        [factory] = self.inner.factories
        assert isinstance(factory, ProxyHeaderFactory)
        assert factory.tls is not None
        self.assertEqual(
            (factory.tls.wrappedFactory, clockOf(factory.tls)),
            (self.factory, self.clock),
        )


class ParseHaproxyTests(SynchronousTestCase):
    """
    Tests for C{haproxy:} endpoint strings with defence options.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.parsed = EndpointParser(self.reactor, []).parse(
            "haproxy:tcp:0:allow=10.0.0.0/8"
        )

    def test_nestedRefused(self) -> None:
        """
        C{haproxy:} inside C{haproxy:} is refused, naming the whole string
        (and a thousand of them do not exhaust the stack).
        """
        description = "haproxy:" * 1000 + "tcp:0"
        e = self.assertRaises(
            EndpointSyntaxError, EndpointParser(self.reactor, []).parse, description
        )
        self.assertEqual(e.description, description)
        self.assertIn("inside a PROXY header", e.reason)

    def test_endpoint(self) -> None:
        """
        A C{haproxy:} string is a L{ProxiedEndpoint}.
        """
        self.assertIsInstance(self.parsed.endpoint, ProxiedEndpoint)

    def test_limits(self) -> None:
        """
        The defence options of a C{haproxy:} string are its limits.
        """
        self.assertEqual(
            self.parsed.limits,
            ListenerLimits(access=AccessList.parse("10.0.0.0/8", None)),
        )

    def test_listensOnInner(self) -> None:
        """
        The endpoint listens on the inner TCP endpoint, port 0 on every
        interface, with a L{ProxyHeaderFactory} in front of the factory
        given.
        """
        factory = _Factory()
        endpoint = self.parsed.endpoint
        assert isinstance(endpoint, ProxiedEndpoint)
        endpoint.listen(factory)
        [(port, listening, _, interface)] = self.reactor.tcpServers
        self.assertIsInstance(listening, ProxyHeaderFactory)
        assert isinstance(listening, ProxyHeaderFactory)
        self.assertEqual(
            (port, interface, listening.wrappedFactory, listening.reactor),
            (0, "", factory, self.reactor),
        )
