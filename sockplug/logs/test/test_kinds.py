"""
Tests for L{sockplug.logs._kinds}.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, cast

from twisted.internet import unix
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from twisted.internet.testing import EventLoggingObserver, MemoryReactor
from twisted.logger import LogEvent, Logger, LogPublisher, globalLogPublisher
from twisted.python import log as legacy
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from sockplug.logs._kinds import LOG_KIND, isTwistedNoise, kindOf


def _new(format: str, namespace: str = "sockplug.x", **kwargs: object) -> LogEvent:
    """The event a L{Logger} in C{namespace} makes of C{format}."""
    events = EventLoggingObserver()
    Logger(namespace=namespace, observer=events).info(format, **kwargs)
    return events[0]


def _legacy(*message: str, **kwargs: object) -> LogEvent:
    """The event Twisted makes of C{twisted.python.log.msg(*message)}."""
    return _legacyEvents(*message, **kwargs)[0]


def _legacyEvents(*message: str, **kwargs: object) -> EventLoggingObserver:
    """The events Twisted makes of C{twisted.python.log.msg(*message)}."""
    events = EventLoggingObserver()
    publisher = legacy.LogPublisher(publishPublisher=LogPublisher(events))
    publisher.msg(*message, **kwargs)
    return events


def _removeIfThere(path: str) -> None:
    if os.path.lexists(path):
        os.unlink(path)


def _failure() -> Failure:
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        return Failure()
    raise AssertionError("not reached")


class KindOfTests(SynchronousTestCase):
    """
    Tests for L{kindOf}.
    """

    def test_format(self) -> None:
        """
        A line's kind is its format, before its values, and its namespace.
        """
        self.assertEqual(
            kindOf(_new("{peer} connected", peer="10.0.0.1:5")),
            '"{peer} connected" (sockplug.x)',
        )

    def test_sameFormatOneKind(self) -> None:
        """
        Lines of one format with other values are of one kind.
        """
        self.assertEqual(
            kindOf(_new("{peer} connected", peer="a")),
            kindOf(_new("{peer} connected", peer="b")),
        )

    def test_namespacesApart(self) -> None:
        """
        One format in two namespaces is two kinds.
        """
        self.assertNotEqual(
            kindOf(_new("started", "sockplug.a")), kindOf(_new("started", "sockplug.b"))
        )

    def test_failure(self) -> None:
        """
        A failure's type is part of its line's kind: each kind of error has
        its own share.
        """
        events = EventLoggingObserver()
        Logger(namespace="sockplug.x", observer=events).failure("oops", _failure())
        self.assertEqual(
            kindOf(events[0]), '"oops" (sockplug.x, builtins.ZeroDivisionError)'
        )

    def test_legacyText(self) -> None:
        """
        A line of the old API is of the kind of its text, numbers masked.
        """
        self.assertEqual(
            kindOf(_legacy("EMFILE at 0x7f3a on port 8888")),
            '"EMFILE at 0x? on port N" (log_legacy)',
        )

    def test_legacyError(self) -> None:
        """
        An error logged with the old API is of the kind of its C{why} and
        its failure's type.
        """
        events = _legacyEvents(failure=_failure(), isError=1, why="accept failed")
        self.assertEqual(
            kindOf(events[0]),
            '"accept failed" (log_legacy, builtins.ZeroDivisionError)',
        )

    def test_legacyUnhandled(self) -> None:
        """
        An error logged with the old API without a C{why} is of the kind
        Twisted's text begins with.
        """
        events = _legacyEvents(failure=_failure(), isError=1)
        self.assertEqual(
            kindOf(events[0]),
            '"Unhandled Error" (log_legacy, builtins.ZeroDivisionError)',
        )

    def test_long(self) -> None:
        """
        A long format is cut to its first 77 characters and an ellipsis.
        """
        self.assertEqual(kindOf(_new("x" * 200)), f'"{"x" * 77}..." (sockplug.x)')

    def test_firstLine(self) -> None:
        """
        Only the first line of a format names the kind.
        """
        self.assertEqual(kindOf(_new("one\ntwo")), '"one" (sockplug.x)')

    def test_given(self) -> None:
        """
        An event that names its kind (a worker's, relayed) is of that kind.
        """
        self.assertEqual(kindOf(_new("worker {n}: {t}", **{LOG_KIND: "k"})), "k")


class IsTwistedNoiseTests(SynchronousTestCase):
    """
    Tests for L{isTwistedNoise}.
    """

    def test_portLines(self) -> None:
        """
        Twisted's lines about its ports starting and stopping are noise,
        whatever the port.
        """
        for text in (
            "ListenerFactory starting on 8888",
            "ListenerFactory (TLS) starting on 8443",
            "<class 'sockplug.x.Guard'> starting on '/tmp/a.sock'",
            "HeldForWorkers starting on '/tmp/b.sock'",
            "(TCP Port 8888 Closed)",
            "(UDP Port 53 Closed)",
            "(UNIX Port /tmp/a.sock Closed)",
            "(Port '/tmp/a.sock' Closed)",
            "Starting protocol <sockplug.x.Echo object at 0x7f00>",
            "Stopping protocol <sockplug.x.Echo object at 0x7f00>",
        ):
            self.assertIs(isTwistedNoise(_legacy(text)), True, text)

    def test_factoryLines(self) -> None:
        """
        A noisy factory's lines about starting and stopping are noise.
        """
        for format in ("Starting factory {factory!r}", "Stopping factory {factory!r}"):
            self.assertIs(isTwistedNoise(_new(format, factory=Factory())), True)

    def test_otherLegacy(self) -> None:
        """
        Other lines of the old API are not noise.
        """
        for text in ("EMFILE recovery", "starting on 8888", "the TCP Port is closed"):
            self.assertIs(isTwistedNoise(_legacy(text)), False, text)

    def test_newStyleLookalike(self) -> None:
        """
        A line of the new API that reads like a port's is not noise: only
        Twisted's old-API lines are.
        """
        self.assertIs(
            isTwistedNoise(_new("{name} starting on {port}", name="x", port=1)), False
        )

    def test_sockplugLines(self) -> None:
        """
        sockplug's own lines are not noise.
        """
        self.assertIs(
            isTwistedNoise(_new("{protocol} listening on {endpoint}", protocol="e")),
            False,
        )


class TwistedSaysTests(SynchronousTestCase):
    """
    What Twisted's own ports and factories log is all recognised as noise:
    these fail if Twisted changes its words.
    """

    def setUp(self) -> None:
        self.events = EventLoggingObserver.createWithCleanup(
            self,  # type: ignore[arg-type]
            globalLogPublisher,
        )
        self.folder = tempfile.mkdtemp()
        self.addCleanup(os.rmdir, self.folder)

    def assertAllNoise(self) -> None:
        self.assertNotEqual(list(self.events), [])
        self.assertEqual(
            [
                e.get("log_text", e.get("log_format"))
                for e in self.events
                if not isTwistedNoise(e)
            ],
            [],
        )

    def test_factory(self) -> None:
        """
        A plain C{Factory} starting and stopping.
        """
        factory = Factory.forProtocol(Protocol)
        factory.doStart()
        factory.doStop()
        self.assertAllNoise()

    def test_datagramProtocol(self) -> None:
        """
        A plain C{DatagramProtocol} starting and stopping.
        """
        protocol = DatagramProtocol()
        protocol.doStart()
        protocol.doStop()
        self.assertAllNoise()

    def test_unixPort(self) -> None:
        """
        A UNIX stream port starting and stopping (as TCP's, its code).
        """
        path = os.path.join(self.folder, "s")
        self.addCleanup(_removeIfThere, path)
        port = unix.Port(
            cast(Any, path), Factory.forProtocol(Protocol), reactor=MemoryReactor()
        )
        port.startListening()
        port.connectionLost(Failure(Exception()))
        self.assertAllNoise()

    def test_unixDatagramPort(self) -> None:
        """
        A UNIX datagram port starting and stopping.
        """
        path = os.path.join(self.folder, "d")
        self.addCleanup(_removeIfThere, path)
        port = unix.DatagramPort(path, DatagramProtocol(), reactor=MemoryReactor())
        port.startListening()
        port.connectionLost()
        self.assertAllNoise()
