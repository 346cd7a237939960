# -*- test-case-name: tests.test_bench_servers -*-
"""
The bare Twisted echo server the benchmark compares sockplug with: a
C{Protocol} whose C{dataReceived} writes the data back, and a
C{DatagramProtocol} that sends each datagram back to its sender, on
Twisted's default reactor (epoll on Linux). Nothing else: no limits, no
counters, no logging.

    python bench/servers/twisted_echo.py --tcp 127.0.0.1:0 | --unix PATH
    python bench/servers/twisted_echo.py --udp 127.0.0.1:0

Prints C{listening PORT} (or C{listening PATH}) once ready; serves until
SIGTERM.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn, cast

from twisted.internet.protocol import DatagramProtocol, Factory, Protocol


class Echo(Protocol):
    """Writes every byte it receives back."""

    def dataReceived(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)


class EchoDatagram(DatagramProtocol):
    """Sends each datagram back to its sender."""

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        assert self.transport is not None
        self.transport.write(datagram, addr)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(1, f"{self.prog}: {message}\n")


def _hostPort(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host, int(port)


def main(argv: list[str]) -> int:
    """Serve echo on the one address C{argv} names."""
    parser = _Parser(prog="twisted_echo", description="Bare Twisted echo.")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--tcp", type=_hostPort, metavar="HOST:PORT")
    where.add_argument("--unix", metavar="PATH")
    where.add_argument("--udp", type=_hostPort, metavar="HOST:PORT")
    args = parser.parse_args(argv)

    from twisted.internet import reactor as _reactor

    reactor = cast(Any, _reactor)
    if args.tcp:
        port = reactor.listenTCP(
            args.tcp[1], Factory.forProtocol(Echo), interface=args.tcp[0]
        )
        print(f"listening {port.getHost().port}", flush=True)
    elif args.unix:
        reactor.listenUNIX(args.unix, Factory.forProtocol(Echo))
        print(f"listening {args.unix}", flush=True)
    else:
        port = reactor.listenUDP(args.udp[1], EchoDatagram(), interface=args.udp[0])
        print(f"listening {port.getHost().port}", flush=True)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
