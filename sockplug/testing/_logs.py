# -*- test-case-name: sockplug.defences.test,sockplug.options.test.test_access -*-
"""
The text of what a test logged, for sockplug's own tests (not API: see
L{sockplug.testing}).

Peers' addresses and access lists, for sockplug's own tests (not API: see
L{sockplug.testing}).
"""

from __future__ import annotations

import ipaddress

from twisted.internet.address import IPv4Address
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import LogEvent, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from sockplug.options._access import AccessList


class LogTexts:
    """
    The text of the log events emitted during a test.
    """

    def __init__(self, case: SynchronousTestCase) -> None:
        self.events = EventLoggingObserver.createWithCleanup(
            case,  # type: ignore[arg-type]
            globalLogPublisher,
        )

    def __call__(self, containing: str = "") -> list[str]:
        return [
            text
            for text in (formatEvent(event) for event in self.events)
            if containing in text
        ]


def loggedBy(events: EventLoggingObserver, source: object) -> list[LogEvent]:
    """
    The events among C{events} logged by C{source}.
    """
    return [event for event in events if event.get("log_source") is source]


def peer(host: str = "192.0.2.1", port: int = 5000) -> IPv4Address:
    """
    A TCP peer's IPv4 address.
    """
    return IPv4Address("TCP", host, port)


# How an access list says that a value is not an address.
ADDRESS_ERROR = (
    "is not an address or CIDR block (such as 10.0.0.0/8, 192.0.2.7 or"
    " \\:\\:1/128), nor any or localhost"
)


def network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """
    The network written C{text}.
    """
    return ipaddress.ip_network(text)


def accessList(allow: str | None = None, deny: str | None = None) -> AccessList:
    """
    The access list of C{allow=} and C{deny=} written C{allow} and C{deny}.
    """
    return AccessList.parse(allow, deny)
