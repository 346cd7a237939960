# -*- test-case-name: tests.test_bench_servers -*-
"""
The bare Twisted reference for line-print: a C{LineOnlyReceiver} whose
C{lineReceived} writes C{line + b"\\n"} to a file opened for appending
(buffered, as Python opens it), with no prefix and no escaping. When the
client half-closes, the file is flushed and the connection closed, as
sockplug's line-print does.

    python bench/servers/twisted_lines.py --tcp 127.0.0.1:0 --lines-to FILE

Prints C{listening PORT} once ready; serves until SIGTERM, then closes the
file.
"""

from __future__ import annotations

import argparse
import sys
from typing import IO, Any, NoReturn, cast

from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import Factory
from twisted.protocols.basic import LineOnlyReceiver
from twisted.python.failure import Failure
from zope.interface import implementer


@implementer(IHalfCloseableProtocol)
class LineWriter(LineOnlyReceiver):
    """Writes each line to the factory's file; closes on the peer's EOF."""

    delimiter = b"\n"
    MAX_LENGTH = 65536
    factory: LineWriterFactory

    def lineReceived(self, line: bytes) -> None:
        self.factory.output.write(line + b"\n")

    def readConnectionLost(self) -> None:
        self.factory.output.flush()
        assert self.transport is not None
        self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        pass

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.factory.output.flush()


class LineWriterFactory(Factory[LineWriter]):
    """Builds L{LineWriter}s writing to one file."""

    protocol = LineWriter

    def __init__(self, output: IO[bytes]) -> None:
        self.output = output


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(1, f"{self.prog}: {message}\n")


def _hostPort(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host, int(port)


def main(argv: list[str]) -> int:
    """Serve on the TCP address C{argv} names, writing to C{--lines-to}."""
    parser = _Parser(prog="twisted_lines", description="Bare Twisted lines.")
    parser.add_argument("--tcp", type=_hostPort, metavar="HOST:PORT", required=True)
    parser.add_argument("--lines-to", metavar="FILE", required=True)
    args = parser.parse_args(argv)

    from twisted.internet import reactor as _reactor

    reactor = cast(Any, _reactor)
    with open(args.lines_to, "ab") as output:
        factory = LineWriterFactory(output)
        port = reactor.listenTCP(args.tcp[1], factory, interface=args.tcp[0])
        print(f"listening {port.getHost().port}", flush=True)
        reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
