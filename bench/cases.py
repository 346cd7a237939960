# -*- test-case-name: tests.test_bench_stats -*-
"""
The benchmark's cases, its servers, the figures it reports and the
settings of a run (full or quick).
"""

from __future__ import annotations

from dataclasses import dataclass

SERVERS = ("sockplug", "twisted", "asyncio", "uvloop", "c")
REFERENCES = SERVERS[1:]


@dataclass(frozen=True)
class Figure:
    """
    One figure a run reports.

    @ivar key: its name in the runs' figures.
    @ivar title: its column title.
    @ivar higherIsBetter: which way is better, for the ratios.
    """

    key: str
    title: str
    higherIsBetter: bool


RATE = Figure("rate", "rate (/s)", True)
CPU = Figure("cpu_us", "server CPU us/msg", False)
MEMORY = Figure("kib_per_conn", "KiB per connection", False)
STARTUP = Figure("startup_ms", "start-up ms", False)


@dataclass(frozen=True)
class Case:
    """
    One benchmark case.

    @ivar kind: C{loadgen} (the load generator's steady-state modes),
        C{idle}, C{lines}, C{startup} or C{workers} (sockplug with 1
        and 2 worker processes under other cases' loads): how it is
        measured.
    @ivar transport: C{tcp}, C{unix} or C{udp}.
    @ivar mode: the load generator's C{--mode}.
    @ivar servers: the servers it runs against; C{twisted} is the bare
        Twisted reference, whatever form it takes in this case
        (C{references} names it).
    @ivar ratios: the figures compared between servers.
    @ivar twistedIs: what the C{twisted} server is in this case.
    @ivar twistedLabel: its name in this case's rows.
    @ivar unit: what the rate counts, singular (C{msg}, C{line}, ...).
    """

    name: str
    kind: str
    description: str
    transport: str = "tcp"
    mode: str = "stream"
    conns: int = 0
    quickConns: int = 0
    size: int = 0
    inflight: int = 1
    lines: int = 0
    quickLines: int = 0
    servers: tuple[str, ...] = SERVERS
    ratios: tuple[Figure, ...] = (RATE, CPU)
    twistedIs: str = "bare Twisted echo"
    twistedLabel: str = "Twisted"
    unit: str = "msg"


CASES = (
    Case(
        "tcp-pingpong",
        "loadgen",
        "TCP, 50 connections, 1 KiB messages, one in flight per connection",
        conns=50,
        quickConns=10,
        size=1024,
        inflight=1,
    ),
    Case(
        "tcp-pipelined",
        "loadgen",
        "TCP, 50 connections, 1 KiB messages, 16 in flight per connection",
        conns=50,
        quickConns=10,
        size=1024,
        inflight=16,
    ),
    Case(
        "unix-pipelined",
        "loadgen",
        "UNIX stream socket, 50 connections, 1 KiB messages, 16 in flight",
        transport="unix",
        conns=50,
        quickConns=10,
        size=1024,
        inflight=16,
    ),
    Case(
        "tcp-bulk",
        "loadgen",
        "TCP, 1 connection, 64 KiB chunks, 4 in flight (also MB/s)",
        mode="bulk",
        conns=1,
        quickConns=1,
        size=65536,
        inflight=4,
        unit="chunk",
    ),
    Case(
        "udp",
        "loadgen",
        "UDP, 16 sockets, 512 B datagrams, 8 in flight each (also lost)",
        transport="udp",
        mode="udp",
        conns=16,
        quickConns=4,
        size=512,
        inflight=8,
        unit="datagram",
    ),
    Case(
        "connect",
        "loadgen",
        "new TCP connections per second, 50 clients each connecting, sending"
        " 64 B, reading them back and closing",
        mode="connect",
        conns=50,
        quickConns=10,
        size=64,
        inflight=1,
        unit="connection",
    ),
    Case(
        "idle-memory",
        "idle",
        "server RSS grown by 10,000 idle TCP connections (quick: 1,000),"
        " per connection",
        mode="idle",
        conns=10000,
        quickConns=1000,
        size=1,
        ratios=(MEMORY,),
    ),
    Case(
        "line-print",
        "lines",
        "TCP lines of 64 B, 8 connections x 200,000 lines (quick: 4 x"
        " 20,000), written to a file",
        mode="lines",
        conns=8,
        quickConns=4,
        size=64,
        lines=200000,
        quickLines=20000,
        servers=("sockplug", "twisted"),
        twistedIs="a bare Twisted LineOnlyReceiver writing each line to a file",
        twistedLabel="Twisted LineOnlyReceiver",
        unit="line",
    ),
    Case(
        "startup",
        "startup",
        "time from starting twistd to its first accepted TCP connection",
        servers=("sockplug", "twisted"),
        ratios=(STARTUP,),
        twistedIs="twistd web --listen",
        twistedLabel="twistd web",
    ),
    Case(
        "workers",
        "workers",
        "sockplug --workers 1 against --workers 2 under the tcp-pingpong,"
        " tcp-pipelined and connect loads: messages per server CPU-second"
        " (supervisor and workers), and how evenly the kernel spreads the"
        " connections over the workers",
        servers=("sockplug",),
        ratios=(),
    ),
)


def caseNamed(name: str) -> Case:
    """
    The case called C{name}.

    @raise KeyError: if there is none.
    """
    for case in CASES:
        if case.name == name:
            return case
    raise KeyError(name)


@dataclass(frozen=True)
class Settings:
    """
    How a benchmark run runs.

    @ivar duration: seconds of each measured window.
    @ivar warmup: seconds of traffic before it, not counted.
    @ivar repeat: runs of each case against each server.
    @ivar startupRepeat: start-ups timed per server.
    @ivar serverCpu: the CPU the servers are pinned to.
    @ivar loadCpu: the CPU the load generator is pinned to.
    """

    quick: bool
    duration: float
    warmup: float
    repeat: int
    startupRepeat: int
    serverCpu: int
    loadCpu: int

    @classmethod
    def make(
        cls,
        quick: bool,
        cpus: tuple[int, int],
        repeat: int | None = None,
        duration: float | None = None,
    ) -> Settings:
        """
        The settings of a full run (5 s windows after 1 s of warm-up, 3
        repetitions) or a quick one (0.5 s after 0.2 s, 1 repetition),
        with C{repeat} and C{duration} overriding them when given.
        """
        return cls(
            quick=quick,
            duration=duration if duration is not None else 0.5 if quick else 5.0,
            warmup=0.2 if quick else 1.0,
            repeat=repeat if repeat is not None else 1 if quick else 3,
            startupRepeat=2 if quick else 5,
            serverCpu=cpus[0],
            loadCpu=cpus[1],
        )

    def conns(self, case: Case) -> int:
        """The connections C{case} opens under these settings."""
        return case.quickConns if self.quick else case.conns

    def lines(self, case: Case) -> int:
        """The lines each connection sends in C{case} under these settings."""
        return case.quickLines if self.quick else case.lines
