# -*- test-case-name: tests.test_bench_servers -*-
"""
The asyncio echo server the benchmark compares sockplug with: an
C{asyncio.Protocol} whose C{data_received} writes the data back, and a
C{DatagramProtocol} that sends each datagram back to its sender, on the
standard library's event loop or, with C{--uvloop}, on uvloop's.

    python bench/servers/asyncio_echo.py [--uvloop] --tcp 127.0.0.1:0
    python bench/servers/asyncio_echo.py [--uvloop] --unix PATH | --udp 127.0.0.1:0

Prints C{listening PORT} (or C{listening PATH}) once ready; serves until
SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal
import sys
from typing import Any, NoReturn, cast


class Echo(asyncio.Protocol):
    """Writes every byte it receives back."""

    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


class EchoDatagram(asyncio.DatagramProtocol):
    """Sends each datagram back to its sender."""

    transport: asyncio.DatagramTransport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.transport.sendto(data, addr)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(1, f"{self.prog}: {message}\n")


def _hostPort(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host, int(port)


async def serve(args: argparse.Namespace) -> None:
    """Listen where C{args} say, say so, and serve until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set_result, None)
    if args.tcp:
        server = await loop.create_server(Echo, args.tcp[0], args.tcp[1])
        where = server.sockets[0].getsockname()[1]
    elif args.unix:
        server = await loop.create_unix_server(Echo, args.unix)
        where = args.unix
    else:
        transport, _ = await loop.create_datagram_endpoint(
            EchoDatagram, local_addr=args.udp
        )
        where = transport.get_extra_info("sockname")[1]
    print(f"listening {where}", flush=True)
    await stop


def main(argv: list[str]) -> int:
    """Serve echo on the one address C{argv} names."""
    parser = _Parser(prog="asyncio_echo", description="asyncio echo.")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--tcp", type=_hostPort, metavar="HOST:PORT")
    where.add_argument("--unix", metavar="PATH")
    where.add_argument("--udp", type=_hostPort, metavar="HOST:PORT")
    args = parser.parse_args(argv)
    if args.uvloop:
        try:
            uvloop = importlib.import_module("uvloop")
        except ImportError:
            parser.exit(1, "asyncio_echo: uvloop is not installed\n")
        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(serve(args))
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
