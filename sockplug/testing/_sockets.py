# -*- test-case-name: sockplug.endpoints.test.test_systemd -*-
"""
Real sockets standing in for those systemd passes, for sockplug's own tests
(not API: see L{sockplug.testing}).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile

from twisted.python.systemd import ListenFDs
from twisted.trial.unittest import SynchronousTestCase

__all__ = ["WEB_DNS", "PassedSockets"]

# Two descriptors, named as a .socket unit's FileDescriptorName= names them.
WEB_DNS = ListenFDs([3, 4], ("web", "dns"))


class PassedSockets:
    """
    Real sockets standing in for those systemd passes, closed when the test
    ends.

    @ivar blocking: whether the sockets made are blocking (as systemd
        passes them) or not (as sockplug adopts them).
    """

    def __init__(self, testCase: SynchronousTestCase, blocking: bool = True) -> None:
        self._testCase = testCase
        self.blocking = blocking
        self.folder = tempfile.mkdtemp(prefix="sp-sd-")
        testCase.addCleanup(shutil.rmtree, self.folder, True)

    def make(self, family: int, kind: int) -> socket.socket:
        """A new unbound socket."""
        sock = socket.socket(family, kind)
        self._testCase.addCleanup(sock.close)
        sock.setblocking(self.blocking)
        return sock

    def unix(self, kind: int, name: str = "s.sock") -> socket.socket:
        """A UNIX socket bound to a path of the temporary folder."""
        sock = self.make(socket.AF_UNIX, kind)
        sock.bind(os.path.join(self.folder, name))
        return sock

    def passed(self, *socks: socket.socket, names: tuple[str, ...] = ()) -> ListenFDs:
        """What systemd passing C{socks} looks like to sockplug."""
        return ListenFDs(
            [s.fileno() for s in socks],
            names or tuple(f"s{i}" for i in range(len(socks))),
        )
