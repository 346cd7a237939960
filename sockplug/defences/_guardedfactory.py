# -*- test-case-name: sockplug.defences.test.test_guardedfactory -*-
"""
A stream listener's L{sockplug.defences._streamguard.ConnectionGuard} put in
front of its protocol plugin.

A L{GuardedFactory} wraps the protocol plugin's factory and asks the guard
about every new connection before the protocol is built, so a refused peer
never reaches the protocol: its connection gets no protocol, or a
L{Refused} one, and is closed at once. Protocols built on
L{sockplug.protocols.base.CountingProtocol} report to the guard themselves,
at no cost per read; any other protocol is wrapped in a L{GuardedProtocol},
which counts its traffic.
"""

from __future__ import annotations

from typing import Any, cast

from twisted.internet.interfaces import (
    IAddress,
    IHalfCloseableProtocol,
    IHandshakeListener,
    IProtocol,
    IProtocolFactory,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure
from zope.interface import implementer

from sockplug.defences._streamguard import ConnectionGuard, Tracked

__all__ = ["GuardedFactory", "GuardedProtocol"]


class Refused(Protocol):
    """
    The protocol of a refused connection: closes it at once, unread.
    """

    def connectionMade(self) -> None:
        abort = getattr(self.transport, "abortConnection", None)
        if abort is not None:
            abort()
        else:
            self.transport.loseConnection()  # type: ignore[union-attr]


class GuardedFactory(Factory[Protocol]):
    """
    Wraps a protocol plugin's factory: asks the guard before building each
    protocol.

    A refused connection's socket should be closed at once: a flood must
    not hold descriptors until the next reactor turn (Twisted accepts
    hundreds of connections in one turn). Twisted's TCP and UNIX ports do
    that when C{buildProtocol} returns L{None}, but wrappers such as TLS
    fail on L{None}: C{refuseWithNone} says which the listener has.
    """

    noisy = False

    def __init__(
        self,
        wrappedFactory: IProtocolFactory,
        guard: ConnectionGuard,
        refuseWithNone: bool = False,
    ) -> None:
        self.wrappedFactory = wrappedFactory
        self.guard = guard
        self._refuseWithNone = refuseWithNone

    def logPrefix(self) -> str:
        prefix = getattr(self.wrappedFactory, "logPrefix", None)
        return prefix() if prefix is not None else type(self.wrappedFactory).__name__

    def _refuse(self) -> IProtocol | None:
        """
        What a refused connection gets: no protocol, where the factory's
        caller closes the socket at once for that (Twisted's TCP and UNIX
        ports, sockplug's PROXY wrapper); elsewhere (TLS, stdio) a protocol
        that aborts it.
        """
        return None if self._refuseWithNone else Refused()

    def doStart(self) -> None:
        self.wrappedFactory.doStart()
        self.guard.start()

    def doStop(self) -> None:
        self.wrappedFactory.doStop()

    def replaceWrapped(self, factory: IProtocolFactory) -> None:
        """
        Build new connections with C{factory} from now on (a reload changed
        the listener's protocol or its options): it is started, and the
        factory it replaces stopped, as when a port stops listening; the
        connections that factory built go on.
        """
        old, self.wrappedFactory = self.wrappedFactory, factory
        factory.doStart()
        old.doStop()

    def buildProtocol(self, addr: IAddress) -> IProtocol | None:  # type: ignore[override]
        if self.guard.admit(addr) is not None:
            return self._refuse()
        protocol = self.wrappedFactory.buildProtocol(addr)
        if protocol is None:
            return self._refuse()
        guardedBy = getattr(protocol, "guardedBy", None)
        if guardedBy is not None:
            guardedBy(self.guard)  # a CountingProtocol reports itself
            self.guard.track(cast(Tracked, protocol), addr)
            return protocol
        wrapper = GuardedProtocol(self, protocol)
        self.guard.track(wrapper, addr)
        return wrapper


class _Wrapping(WrappingFactory):
    """
    What L{ProtocolWrapper} expects of its factory.
    """

    def registerProtocol(self, p: Any) -> None:
        pass

    def unregisterProtocol(self, p: Any) -> None:
        pass


@implementer(IHalfCloseableProtocol, IHandshakeListener)
class GuardedProtocol(ProtocolWrapper):
    """
    Wraps a plugin protocol that does not report to the guard itself:
    counts its traffic, and tells the guard when it closes. Half-closes are
    passed on to a protocol that takes them; to any other, the peer's end
    of the stream closes the connection, as Twisted does.
    """

    bytesIn = 0
    bytesOut = 0

    def __init__(self, factory: GuardedFactory, wrappedProtocol: IProtocol) -> None:
        super().__init__(_Wrapping(factory), wrappedProtocol)  # type: ignore[no-untyped-call, arg-type]
        self.guard = factory.guard

    def activity(self) -> int:
        return self.bytesIn + self.bytesOut

    def closeGently(self) -> None:
        self.loseConnection()  # type: ignore[no-untyped-call]

    def abort(self) -> None:
        # Not every transport can abort (StandardIO cannot).
        abort = getattr(self.transport, "abortConnection", None)
        if abort is not None:
            abort()
        else:
            self.loseConnection()  # type: ignore[no-untyped-call]

    def handshakeCompleted(self) -> None:
        if IHandshakeListener.providedBy(self.wrappedProtocol):
            self.wrappedProtocol.handshakeCompleted()

    def dataReceived(self, data: bytes) -> None:
        self.bytesIn += len(data)
        self.wrappedProtocol.dataReceived(data)

    def write(self, data: bytes) -> None:
        self.bytesOut += len(data)
        self.transport.write(data)  # type: ignore[union-attr]

    def writeSequence(self, data: list[bytes]) -> None:
        self.bytesOut += sum(map(len, data))
        self.transport.writeSequence(data)  # type: ignore[union-attr]

    def readConnectionLost(self) -> None:
        if IHalfCloseableProtocol.providedBy(self.wrappedProtocol):
            self.wrappedProtocol.readConnectionLost()
        else:
            self.loseConnection()  # type: ignore[no-untyped-call]

    def writeConnectionLost(self) -> None:
        if IHalfCloseableProtocol.providedBy(self.wrappedProtocol):
            self.wrappedProtocol.writeConnectionLost()
        else:
            self.loseConnection()  # type: ignore[no-untyped-call]

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        self.guard.release(self, reason)
        super().connectionLost(reason)  # type: ignore[no-untyped-call]
