# -*- test-case-name: tests.test_bench_cli -*-
"""
sockplug's benchmark: C{python -m bench} compiles a C load generator and a
C echo server, runs each case against sockplug and the reference servers
(bare Twisted, asyncio, uvloop, C epoll), and writes tables of medians and
ratios, the raw runs and a plot to C{bench/results/}.
"""

__all__: list[str] = []
