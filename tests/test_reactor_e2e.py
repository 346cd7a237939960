"""
Twisted's own reactor tests, run against sockplug's reactor
(L{sockplug.internet._reactor.SockplugReactor}): TCP, UNIX and UDP sockets, TLS,
timed calls, threads, descriptors and processes, as Twisted checks each of
its reactors. These use real loopback sockets and processes.
"""

from __future__ import annotations

import os
import stat
import sys
from typing import Any

from twisted.internet.test import (
    test_core,
    test_fdset,
    test_process,
    test_tcp,
    test_threads,
    test_time,
    test_tls,
    test_udp,
    test_unix,
)
from twisted.internet.test.reactormixins import ReactorBuilder

REACTOR = "sockplug.internet._reactor.SockplugReactor"


def _builders(module: Any) -> list[type[ReactorBuilder]]:
    """
    The test builders of one of Twisted's reactor test modules: the bases
    of the test cases it made for Twisted's epoll reactor.
    """
    builders = []
    for name, value in sorted(vars(module).items()):
        if name.endswith("_EPollReactorTests") and isinstance(value, type):
            builders.append(value.__bases__[0])
    return builders


def _othersCanRun(path: str) -> bool:
    """
    Whether a user other than the owner can run the program at C{path}
    (every folder above it searchable by others).
    """
    path = os.path.realpath(path)
    while path != os.path.dirname(path):
        path = os.path.dirname(path)
        if not os.stat(path).st_mode & stat.S_IXOTH:
            return False
    return True


# Tests that Twisted's own epoll reactor does not pass here either, and why.
_SKIPS = {
    # Twisted skips it for its EPollReactor by class name: closing a
    # descriptor removes it from the epoll set silently.
    "test_lostFileDescriptor": "epoll cannot detect lost file descriptors"
    " (Twisted skips this test for its EPollReactor)",
}
if os.getuid() == 0 and not _othersCanRun(sys.executable):
    # The child runs this Python as uid/gid 1, which cannot reach it.
    for _name in ("test_changeUID", "test_changeGID"):
        _SKIPS[_name] = f"uid 1 cannot run {sys.executable} (a folder above is private)"


# Builders left out, and why.
_SKIPPED_BUILDERS = {
    # Each test listens on a port found free a moment before, on every
    # interface: another process can take it meanwhile (it failed once so
    # in CI on a busy machine). It checks bind addresses, not the dispatch.
    "TestBindAddressBuilder",
}


def _ours(builder: type[ReactorBuilder]) -> dict[str, type]:
    """
    The test cases of C{builder}, for sockplug's reactor only.
    """
    skips: dict[str, Any] = {}
    for name, why in _SKIPS.items():
        if hasattr(builder, name):
            test = getattr(builder, name)

            def skipped(self: Any, test: Any = test) -> None:
                test(self)

            skipped.skip = why  # type: ignore[attr-defined]
            skips[name] = skipped
    mine: Any = type(builder.__name__, (builder,), {"_reactors": [REACTOR], **skips})
    mine.__module__ = __name__
    return mine.makeTestCaseClasses()  # type: ignore[no-any-return]


for _module in (
    test_core,
    test_fdset,
    test_process,
    test_tcp,
    test_threads,
    test_time,
    test_tls,
    test_udp,
    test_unix,
):
    for _builder in _builders(_module):
        if _builder.__name__ in _SKIPPED_BUILDERS:
            continue
        globals().update(_ours(_builder))
