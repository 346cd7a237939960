# -*- test-case-name: sockplug.test.test_plugin -*-
"""
The interfaces of sockplug: what a protocol plugin provides and what it is
told of each listener, and what a datagram endpoint and its string parser
provide (the datagram counterparts of Twisted's L{IStreamServerEndpoint}
and L{IStreamServerEndpointStringParser}, which Twisted lacks:
twisted#4471); and the kinds of transport a listener can have.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from zope.interface import Attribute, Interface

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred
    from twisted.internet.interfaces import IListeningPort, IProtocolFactory
    from twisted.internet.protocol import DatagramProtocol

    from sockplug.options import ListenerLimits

__all__ = [
    "IDatagramServerEndpoint",
    "IDatagramServerEndpointStringParser",
    "IListenerInfo",
    "IProtocolOutput",
    "IProtocolPlugin",
    "TransportKind",
]


class TransportKind(enum.Enum):
    """
    The two kinds of transport a listener can have.
    """

    STREAM = "stream"
    DATAGRAM = "datagram"


class IListenerInfo(Interface):
    """
    What a protocol plugin is told about the listener it will serve
    (L{sockplug.plugin.ListenerInfo} provides it).
    """

    description: str = Attribute(
        """
        The endpoint string, as the user gave it (C{tcp:8888}).
        """
    )

    kind: TransportKind = Attribute(
        """
        Stream or datagram.
        """
    )

    protocolName: str = Attribute(
        """
        The name the protocol was picked by.
        """
    )

    reactor: Any = Attribute(
        """
        The reactor the listener runs in, for protocols that need time or
        other reactor services.
        """
    )

    limits: ListenerLimits = Attribute(
        """
        The listener's defences (L{sockplug.options.ListenerLimits}); a line
        protocol reads its longest line from C{limits.maxLine}.
        """
    )

    options: Mapping[str, Any] = Attribute(
        """
        The values of the protocol's declared options
        (L{sockplug.plugin.ProtocolOption}) for this listener, by name,
        defaults filled in; read-only.
        """
    )

    name: str = Attribute(
        """
        The listener's name in the configuration file, or its endpoint
        string if it was given on the command line.
        """
    )


class IProtocolPlugin(Interface):
    """
    A protocol that sockplug can serve, found by name.

    Plugins are found in the C{sockplug.plugins} dropin package and in the
    C{sockplug.protocols} entry-point group; see L{sockplug.plugin} for a
    ready-made implementation.
    """

    name = Attribute(
        """
        L{str}: the name a user picks the protocol by (C{--protocol NAME},
        C{--endpoint NAME@ENDPOINT}): lower-case letters, digits and C{.-_}.
        """
    )

    description = Attribute(
        """
        L{str}: one line saying what the protocol does, shown by
        C{twistd sockplug --help}.
        """
    )

    kinds = Attribute(
        """
        L{frozenset} of L{TransportKind}: the kinds of
        transport (stream, datagram) this protocol can serve. sockplug
        refuses at start-up to serve it on any other kind.
        """
    )

    options = Attribute(
        """
        Optional: a sequence of L{sockplug.plugin.ProtocolOption}, the
        options a listener of this protocol can set in the configuration
        file. sockplug checks the values given, fills in the defaults, and
        passes them as L{IListenerInfo.options}. A plugin
        without this attribute takes no options.
        """
    )

    def buildStreamFactory(listener: IListenerInfo) -> IProtocolFactory:
        """
        Build the protocol factory that serves one stream listener.

        Called once per listener, only if C{TransportKind.STREAM} is in
        C{kinds}.

        @param listener: what the factory will be serving.
        """

    def buildDatagramProtocol(listener: IListenerInfo) -> DatagramProtocol:
        """
        Build the datagram protocol that serves one datagram listener.

        Called once per listener, only if C{TransportKind.DATAGRAM} is in
        C{kinds}.

        @param listener: what the protocol will be serving.
        """


class IProtocolOutput(Interface):
    """
    Provided by what a protocol plugin builds for a listener (its stream
    factory, or its datagram protocol) when the protocol writes to an
    output of its own that holds back what the output cannot take at once
    (line-print's): sockplug shows what it dropped in C{/metrics}, and lets
    it finish writing when the server stops.
    """

    def outputDropped() -> tuple[int, int]:
        """
        The lines and bytes this listener's output dropped, ever: they did
        not fit in its queue, or the output failed. A listener built again
        by a reload goes on counting from where the one before left off.
        """

    def flushOutput(timeout: float) -> Deferred[None]:
        """
        The server stops: write what waits for up to C{timeout} seconds,
        then drop what is left.

        @return: fires once nothing waits, whatever was dropped.
        """


class IDatagramServerEndpoint(Interface):
    """
    A datagram endpoint that can be listened on: the datagram counterpart of
    L{twisted.internet.interfaces.IStreamServerEndpoint}.
    """

    def listen(protocol: DatagramProtocol) -> Deferred[IListeningPort]:
        """
        Start receiving datagrams with C{protocol}.

        @return: a L{Deferred} that fires with an L{IListeningPort} once
            listening, or fails with
            L{twisted.internet.error.CannotListenError}. Stopping that port
            undoes everything C{listen} did (a UNIX datagram endpoint
            removes its socket file).
        """


class IDatagramServerEndpointStringParser(Interface):
    """
    Builds a L{IDatagramServerEndpoint} from an endpoint string: the
    datagram counterpart of
    L{twisted.internet.interfaces.IStreamServerEndpointStringParser}.

    Providers are found as plugins in the C{sockplug.plugins} package, so a
    third party adds a datagram endpoint type by dropping a module there.
    """

    prefix = Attribute(
        """
        L{str}: the endpoint type this parser handles: the text before the
        first C{:} of an endpoint string (C{udp}, C{unixgram}).
        """
    )

    example = Attribute(
        """
        L{str}: an example endpoint string, shown by C{twistd sockplug
        --help}.
        """
    )

    def parseDatagramServer(
        reactor: Any, *args: str, **kwargs: str
    ) -> IDatagramServerEndpoint:
        """
        Parse the arguments of an endpoint string into an endpoint.

        @param reactor: the reactor the endpoint will listen with.
        @param args: the positional arguments of the string, after the
            prefix, unescaped as Twisted's endpoint strings are.
        @param kwargs: the C{key=value} arguments of the string.

        @raise ValueError: if the arguments are not valid; its message says
            what is wrong (sockplug adds the endpoint string).
        """
