# -*- test-case-name: sockplug.test.test_guard -*-
"""
The defences of a stream listener: which connections are let in (access
lists, connection limits), which are closed for idling, and how they are
all closed when the server stops.

A L{ConnectionGuard} serves one listener. A L{GuardedFactory} wraps the
protocol plugin's factory and asks the guard about every new connection
before the protocol is built, so a refused peer never reaches the protocol.
Protocols built on L{sockplug.protocols.base.CountingProtocol} report to the
guard themselves, at no cost per read; any other protocol is wrapped in a
L{GuardedProtocol}, which counts its traffic.

Idle connections are found lazily: no timer is reset on each read. Every
tenth of the idle timeout, the guard compares each connection's byte counts
with those it saw last; a connection whose counts have not moved for the
whole timeout is closed.
"""

from __future__ import annotations

import ipaddress
from typing import Any, cast
from typing import Protocol as TypingProtocol

from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IAddress,
    IHalfCloseableProtocol,
    IProtocol,
    IProtocolFactory,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger, LogLevel
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure
from zope.interface import implementer

from sockplug._address import formatAddress
from sockplug._limits import ListenerLimits
from sockplug._ratelog import RateLimitedLog

__all__ = [
    "ConnectionBudget",
    "ConnectionGuard",
    "GuardedFactory",
    "GuardedProtocol",
    "Tracked",
    "hostOf",
]

_log = Logger()


class Tracked(TypingProtocol):
    """
    What the guard needs of a connection it tracks.
    """

    def activity(self) -> int:
        """
        A number that changes whenever bytes move either way (a byte count).
        """

    def closeGently(self) -> None:
        """
        Close once what is queued is sent.
        """

    def abort(self) -> None:
        """
        Close now, dropping what is queued.
        """


def hostOf(address: IAddress | None) -> str | None:
    """
    The IP address of a peer, or L{None} if it has none (a UNIX socket).
    """
    if isinstance(address, IPv4Address):
        return address.host
    if isinstance(address, IPv6Address):
        # One spelling per address (a PROXY v2 header gives them uncompressed).
        try:
            return ipaddress.ip_address(address.host.partition("%")[0]).compressed
        except ValueError:
            return address.host
    return None


class _Entry:
    __slots__ = ("closing", "peer", "seen", "seenAt", "source")

    def __init__(self, source: str | None, peer: str, now: float) -> None:
        self.source = source
        self.peer = peer
        self.seen = 0
        self.seenAt = now
        self.closing = False


class ConnectionBudget:
    """
    The connections open at once in the whole process, and their bound
    (C{--max-connections}): shared by every stream listener's guard.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self.open = 0


class ConnectionGuard:
    """
    Admits, counts and closes the connections of one stream listener.

    @ivar refused: connections refused, by reason (C{"access"},
        C{"maxconn"} for this listener's bound, C{"global"} for the
        process's, C{"maxpersource"}).
    @ivar idleClosed: connections closed for idling.
    @ivar accepted: connections let in.
    """

    def __init__(
        self,
        reactor: Any,
        description: str,
        limits: ListenerLimits,
        budget: ConnectionBudget | None = None,
    ) -> None:
        self._reactor = reactor
        self.budget = ConnectionBudget() if budget is None else budget
        self.description = description
        self.limits = limits
        self.log = RateLimitedLog(reactor, _log, description, perEvent=limits.logLines)
        self._open: dict[Tracked, _Entry] = {}
        self._perSource: dict[str, int] = {}
        self.refused = {"access": 0, "global": 0, "maxconn": 0, "maxpersource": 0}
        self.idleClosed = 0
        self.accepted = 0
        self._sweep: Any = None
        self._empty: list[Deferred[None]] = []

    @property
    def openConnections(self) -> int:
        """
        How many connections are open now.
        """
        return len(self._open)

    def start(self) -> None:
        """
        Start looking for idle connections, if there is an idle timeout.
        """
        if self.limits.idleTimeout > 0 and self._sweep is None:
            self._sweep = self._reactor.callLater(self.sweepInterval, self.sweep)

    @property
    def sweepInterval(self) -> float:
        """
        How often idle connections are looked for.
        """
        return min(max(self.limits.idleTimeout / 10, 0.05), 30.0)

    def stop(self) -> None:
        """
        Stop looking for idle connections; log what the rate limit held back.
        """
        if self._sweep is not None:
            if self._sweep.active():
                self._sweep.cancel()
            self._sweep = None
        self.log.stop()

    def admit(self, address: IAddress | None) -> str | None:
        """
        Whether a new connection from C{address} may come in.

        @return: L{None} if it may, or why not (a key of C{refused}); the
            refusal is counted and logged.
        """
        host = hostOf(address)
        limits = self.limits
        why = None
        if limits.access and not limits.access.admits(host):
            why, text = "access", "not allowed by allow=/deny="
        elif self.budget.open >= self.budget.limit:
            why, text = "global", f"--max-connections {self.budget.limit} reached"
        elif (
            limits.maxConnections is not None
            and len(self._open) >= limits.maxConnections
        ):
            why, text = "maxconn", f"maxconn={limits.maxConnections} reached"
        elif host is not None and self._perSource.get(host, 0) >= limits.maxPerSource:
            why, text = (
                "maxpersource",
                f"maxpersource={limits.maxPerSource} reached for {host}",
            )
        if why is None:
            return None
        self.refused[why] += 1
        self.log.emit(
            "refused connections",
            host or "",
            "{listener} refused {peer}: {why}",
            LogLevel.warn,
            listener=self.description,
            peer=formatAddress(address),
            why=text,
        )
        return why

    def track(self, connection: Tracked, address: IAddress | None) -> None:
        """
        Count a connection let in, until L{release}.
        """
        host = hostOf(address)
        self._open[connection] = _Entry(
            host, formatAddress(address), self._reactor.seconds()
        )
        if host is not None:
            self._perSource[host] = self._perSource.get(host, 0) + 1
        self.accepted += 1
        self.budget.open += 1

    def release(self, connection: Tracked) -> None:
        """
        A connection has closed.
        """
        entry = self._open.pop(connection, None)
        if entry is None:
            return
        self.budget.open -= 1
        if entry.source is not None:
            left = self._perSource[entry.source] - 1
            if left:
                self._perSource[entry.source] = left
            else:
                del self._perSource[entry.source]
        if not self._open:
            waiting, self._empty = self._empty, []
            for d in waiting:
                d.callback(None)

    def sweep(self) -> None:
        """
        Close the connections idle for the whole timeout (and abort those
        asked to close at the last sweep that are still open); then look
        again later.
        """
        self._sweep = None
        now = self._reactor.seconds()
        timeout = self.limits.idleTimeout
        for connection, entry in list(self._open.items()):
            if entry.closing:
                connection.abort()
                continue
            activity = connection.activity()
            if activity != entry.seen:
                entry.seen, entry.seenAt = activity, now
            elif now - entry.seenAt >= timeout:
                entry.closing = True
                self.idleClosed += 1
                self.log.emit(
                    "idle connections",
                    entry.source or "",
                    "{listener} {peer} idle for {seconds:.0f}s; closing",
                    listener=self.description,
                    peer=entry.peer,
                    seconds=now - entry.seenAt,
                )
                connection.closeGently()
        self.start()

    def whenEmpty(self) -> Deferred[None]:
        """
        A L{Deferred} that fires once no connection is open.
        """
        if not self._open:
            return defer.succeed(None)
        d: Deferred[None] = Deferred()
        self._empty.append(d)
        return d

    def closeAll(self, gently: bool) -> None:
        """
        Close every open connection: gently (once what is queued is sent) or
        at once.
        """
        for connection in list(self._open):
            if gently:
                connection.closeGently()
            else:
                connection.abort()


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
        self._refused: Any = None if refuseWithNone else Refused

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
        return None if self._refused is None else self._refused()

    def doStart(self) -> None:
        self.wrappedFactory.doStart()
        self.guard.start()

    def doStop(self) -> None:
        self.wrappedFactory.doStop()

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


@implementer(IHalfCloseableProtocol)
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
        self.transport.abortConnection()  # type: ignore[union-attr]

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
        self.guard.release(self)
        super().connectionLost(reason)  # type: ignore[no-untyped-call]
