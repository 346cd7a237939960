"""
Tests for L{sockplug.internet._reactor}: the same dispatch as Twisted's epoll
reactor, event for event.

Each test runs one poll's worth of events through L{SockplugReactor} and,
where it compares, through Twisted's L{EPollReactor}, on stand-in
descriptors and a poller that returns given events: no real socket.
(Twisted's own reactor tests run against it in C{tests/test_reactor_e2e}.)
"""

from __future__ import annotations

import errno
import select
from typing import Any

from twisted.internet.epollreactor import EPollReactor
from twisted.python import context, log
from twisted.python.log import ILogContext
from twisted.trial.unittest import SynchronousTestCase

from sockplug.compat import pollerOf, registeredOf, replacePoller, selectablesOf
from sockplug.internet._reactor import SockplugReactor, installIfNoneChosen

IN, OUT, HUP = select.EPOLLIN, select.EPOLLOUT, select.EPOLLHUP


class Poller:
    """
    Returns the events it is given, once; or raises an error.
    """

    def __init__(self, events: list[tuple[int, int]], error: int = 0) -> None:
        self.events = events
        self.error = error
        self.calls: list[tuple[Any, int]] = []

    def poll(self, timeout: Any, most: int) -> list[tuple[int, int]]:
        self.calls.append((timeout, most))
        if self.error:
            raise OSError(self.error, "poll failed")
        events, self.events = self.events, []
        return events

    def register(self, fd: int, events: int) -> None:
        pass

    def modify(self, fd: int, events: int) -> None:
        pass

    def unregister(self, fd: int) -> None:
        pass

    def close(self) -> None:
        pass


class Descriptor:
    """
    A descriptor that records what the reactor does with it, the legacy log
    context's C{system} it sees, and can fail.
    """

    def __init__(
        self, fd: int, journal: list[tuple[Any, ...]], prefix: str = "desc"
    ) -> None:
        self.fd = fd
        self.journal = journal
        self.prefix = prefix
        self.readFails = False
        self.readReturns: Any = None

    def fileno(self) -> int:
        return self.fd

    def logPrefix(self) -> str:
        if self.prefix == "!":
            raise RuntimeError("no prefix")
        return self.prefix

    def _note(self, what: str) -> None:
        self.journal.append((what, self.fd, context.get(ILogContext)["system"]))

    def doRead(self) -> Any:
        self._note("read")
        if self.readFails:
            raise ValueError("read failed")
        return self.readReturns

    def doWrite(self) -> None:
        self._note("write")

    def connectionLost(self, reason: Any) -> None:
        self.journal.append(("lost", self.fd, reason.type.__name__))


def run(
    reactorType: type[Any], events: list[tuple[int, int]], setup: Any = None
) -> list[tuple[Any, ...]]:
    """
    One poll of C{events} through a reactor of C{reactorType}, with
    descriptors 10, 11 and 12 reading (11 also writing); what happened.
    """
    reactor = reactorType()
    reads, writes = registeredOf(reactor)
    journal: list[tuple[Any, ...]] = []
    try:
        descriptors = {fd: Descriptor(fd, journal, f"d{fd}") for fd in (10, 11, 12)}
        if setup is not None:
            setup(descriptors)
        pollerOf(reactor).close()
        replacePoller(reactor, Poller(events))
        for fd, descriptor in descriptors.items():
            selectablesOf(reactor)[fd] = descriptor
            reads.add(fd)
        writes.add(11)
        reactor.doPoll(0.5)
    finally:
        selectablesOf(reactor).clear()
        reads.clear()
        writes.clear()
    journal.append(("after", context.get(ILogContext)["system"]))
    return journal


class DispatchTests(SynchronousTestCase):
    """
    L{SockplugReactor.doPoll} does what L{EPollReactor.doPoll} does.
    """

    def assertSame(self, events: list[tuple[int, int]], setup: Any = None) -> None:
        ours = run(SockplugReactor, events, setup)
        twisted = run(EPollReactor, events, setup)
        self.assertEqual(ours, twisted)

    def test_readsAndWritesInOrder(self) -> None:
        """
        Each ready descriptor is read or written, in the poller's order,
        with the legacy log context's C{system} set to its C{logPrefix()}
        during the call and restored after.
        """
        journal = run(SockplugReactor, [(12, IN), (10, IN), (11, OUT)])
        self.assertEqual(
            journal,
            [
                ("read", 12, "d12"),
                ("read", 10, "d10"),
                ("write", 11, "d11"),
                ("after", "-"),
            ],
        )
        self.assertSame([(12, IN), (10, IN), (11, OUT)])

    def test_readThenWrite(self) -> None:
        """
        A descriptor ready both ways is read, then written.
        """
        self.assertSame([(11, IN | OUT)])

    def test_unknownDescriptor(self) -> None:
        """
        An event for a descriptor no longer watched is skipped.
        """
        journal = run(SockplugReactor, [(99, IN), (10, IN)])
        self.assertEqual(journal, [("read", 10, "d10"), ("after", "-")])
        self.assertSame([(99, IN), (10, IN)])

    def test_hangUp(self) -> None:
        """
        A hang-up with nothing to read closes the descriptor as done.
        """
        journal = run(SockplugReactor, [(10, HUP)])
        self.assertEqual(journal, [("lost", 10, "ConnectionDone"), ("after", "-")])
        self.assertSame([(10, HUP)])

    def test_readFails(self) -> None:
        """
        A read that raises is logged and closes that descriptor, and the
        next one is still served.
        """

        def failing(descriptors: dict[int, Descriptor]) -> None:
            descriptors[10].readFails = True

        journal = run(SockplugReactor, [(10, IN), (12, IN)], failing)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
        self.assertEqual(
            journal,
            [
                ("read", 10, "d10"),
                ("lost", 10, "ValueError"),
                ("read", 12, "d12"),
                ("after", "-"),
            ],
        )
        self.assertSame([(10, IN), (12, IN)], failing)
        self.flushLoggedErrors(ValueError)

    def test_buggyLogPrefix(self) -> None:
        """
        A descriptor whose C{logPrefix} raises is still served, under
        Twisted's C{(buggy logPrefix method)} system, and the error logged.
        """

        def buggy(descriptors: dict[int, Descriptor]) -> None:
            descriptors[10].prefix = "!"

        journal = run(SockplugReactor, [(10, IN)], buggy)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(
            journal, [("read", 10, "(buggy logPrefix method)"), ("after", "-")]
        )
        self.assertSame([(10, IN)], buggy)
        self.flushLoggedErrors(RuntimeError)

    def test_outerContextKept(self) -> None:
        """
        Keys of the log context around the poll are seen by the handlers,
        with C{system} replaced, as Twisted's C{callWithLogger} does.
        """
        seen: list[Any] = []

        class Peeking(Descriptor):
            def doRead(self) -> None:
                seen.append(dict(context.get(ILogContext)))

        def peek(descriptors: dict[int, Descriptor]) -> None:
            descriptors[10].__class__ = Peeking

        log.callWithContext({"request": "r1"}, run, SockplugReactor, [(10, IN)], peek)
        self.assertEqual(seen, [{"system": "d10", "request": "r1"}])

    def test_interrupted(self) -> None:
        """
        A poll interrupted by a signal (EINTR) handles nothing and returns.
        """
        reactor = SockplugReactor()
        pollerOf(reactor).close()
        replacePoller(reactor, Poller([], error=errno.EINTR))
        reactor.doPoll(1.0)
        self.assertEqual(pollerOf(reactor).calls, [(1.0, len(selectablesOf(reactor)))])

    def test_pollFails(self) -> None:
        """
        Any other error of the poll is raised, as Twisted raises it.
        """
        reactor = SockplugReactor()
        pollerOf(reactor).close()
        replacePoller(reactor, Poller([], error=errno.EBADF))
        self.assertRaises(OSError, reactor.doPoll, 1.0)

    def test_waitForever(self) -> None:
        """
        No timeout means waiting until something is ready (-1).
        """
        reactor = SockplugReactor()
        pollerOf(reactor).close()
        replacePoller(reactor, Poller([]))
        reactor.doIteration(None)
        self.assertEqual(pollerOf(reactor).calls, [(-1, len(selectablesOf(reactor)))])


class InstallTests(SynchronousTestCase):
    """
    L{installIfNoneChosen} installs the reactor only where none is.
    """

    def setUp(self) -> None:
        self.installed: list[bool] = []

    def installer(self) -> None:
        self.installed.append(True)

    def test_noneYet(self) -> None:
        """
        With no reactor installed, it installs sockplug's.
        """
        self.assertTrue(installIfNoneChosen({}, self.installer))
        self.assertEqual(self.installed, [True])

    def test_chosen(self) -> None:
        """
        With a reactor installed (C{twistd -r}, or imported before), it
        leaves it.
        """
        modules = {"twisted.internet.reactor": object()}
        self.assertFalse(installIfNoneChosen(modules, self.installer))
        self.assertEqual(self.installed, [])
