# -*- test-case-name: sockplug.test.test_plugin -*-
"""
What a protocol plugin author needs: L{ProtocolPlugin}, a ready-made
L{IProtocolPlugin}, and the L{ListenerInfo} (an L{IListenerInfo}) it is
handed for each listener.

A plugin module is a module in a C{sockplug/plugins/} folder on C{sys.path}
(or an object named in the C{sockplug.protocols} entry-point group) that
holds a L{ProtocolPlugin}::

    reverse = ProtocolPlugin(
        name="reverse",
        description="Sends each line back reversed.",
        stream=lambda listener: Factory.forProtocol(Reverse),
    )
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from attrs import field, frozen
from twisted.internet.interfaces import IProtocolFactory
from twisted.internet.protocol import DatagramProtocol
from twisted.plugin import IPlugin
from zope.interface import implementer

from sockplug.errors import PluginError, UnsupportedTransportError
from sockplug.interfaces import IListenerInfo, IProtocolPlugin, TransportKind
from sockplug.options import ListenerLimits, ProtocolOption

__all__ = [
    "ListenerInfo",
    "ListenerLimits",
    "ProtocolOption",
    "ProtocolPlugin",
    "TransportKind",
    "validName",
]


def _readOnly(options: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(options))


def _options(options: Iterable[ProtocolOption]) -> tuple[ProtocolOption, ...]:
    return tuple(options)


@implementer(IListenerInfo)
@frozen
class ListenerInfo:
    """
    What a protocol plugin is told about the listener it will serve: each
    attribute is described by L{IListenerInfo}. Listeners equal in all but
    their reactor are equal; the options are left out of the hash.
    """

    description: str
    kind: TransportKind
    protocolName: str
    reactor: Any = field(eq=False, repr=False)
    limits: ListenerLimits = field(factory=ListenerLimits)
    options: Mapping[str, Any] = field(factory=dict, converter=_readOnly, hash=False)
    name: str = ""


_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")


def validName(name: object) -> str:
    """
    Check that C{name} can name a protocol: lower-case letters, digits and
    C{.-_}, starting with a letter or digit (so never C{@} or C{:}, which
    C{--endpoint NAME@ENDPOINT} uses).

    @return: C{name}.
    @raise PluginError: if it cannot.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise PluginError(
            f"{name!r} is not a valid protocol name: use lower-case letters,"
            " digits, '.', '-' and '_', starting with a letter or digit"
        )
    return name


StreamBuilder = Callable[[IListenerInfo], IProtocolFactory]
DatagramBuilder = Callable[[IListenerInfo], DatagramProtocol]


@implementer(IPlugin, IProtocolPlugin)
@frozen
class ProtocolPlugin:
    """
    A protocol plugin made of one builder per transport kind it supports.

    @ivar name: see L{IProtocolPlugin.name}.
    @ivar description: see L{IProtocolPlugin.description}.
    @ivar stream: builds the factory for a stream listener, or L{None} if
        the protocol does not speak over streams.
    @ivar datagram: builds the protocol for a datagram listener, or L{None}
        if the protocol does not speak over datagrams.
    @ivar options: see L{IProtocolPlugin.options}.
    """

    name: str = field(converter=validName)
    description: str
    stream: StreamBuilder | None = None
    datagram: DatagramBuilder | None = None
    options: tuple[ProtocolOption, ...] = field(default=(), converter=_options)

    def __attrs_post_init__(self) -> None:
        if self.stream is None and self.datagram is None:
            raise PluginError(
                f"protocol plugin {self.name!r} must give a stream or a"
                " datagram builder (or both)"
            )
        for option in self.options:
            if not isinstance(option, ProtocolOption):
                raise PluginError(
                    f"protocol plugin {self.name!r}: {option!r} is not a ProtocolOption"
                )
        names = [option.name for option in self.options]
        for option in self.options:
            if names.count(option.name) > 1:
                raise PluginError(
                    f"protocol plugin {self.name!r} declares option"
                    f" {option.name!r} twice"
                )

    @property
    def kinds(self) -> frozenset[TransportKind]:
        """
        The transport kinds that have a builder.
        """
        kinds = set()
        if self.stream is not None:
            kinds.add(TransportKind.STREAM)
        if self.datagram is not None:
            kinds.add(TransportKind.DATAGRAM)
        return frozenset(kinds)

    def buildStreamFactory(self, listener: IListenerInfo) -> IProtocolFactory:
        """
        See L{IProtocolPlugin.buildStreamFactory}.
        """
        if self.stream is None:
            raise UnsupportedTransportError(
                f"protocol {self.name!r} does not serve stream endpoints"
            )
        return self.stream(listener)

    def buildDatagramProtocol(self, listener: IListenerInfo) -> DatagramProtocol:
        """
        See L{IProtocolPlugin.buildDatagramProtocol}.
        """
        if self.datagram is None:
            raise UnsupportedTransportError(
                f"protocol {self.name!r} does not serve datagram endpoints"
            )
        return self.datagram(listener)
