# -*- test-case-name: tests.test_bench_servers -*-
"""
Compiling the benchmark's C programs (the load generator and the C echo
server) with the machine's C compiler, when their binaries are missing or
older than their sources.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence

PROGRAMS = ("loadgen", "cecho")
FLAGS = ("-O2", "-Wall", "-Wextra", "-std=gnu11")
COMPILE_TIMEOUT = 120.0


class BuildError(Exception):
    """A C program could not be built; the message is one line."""


def compilerCommand(environ: Mapping[str, str]) -> list[str]:
    """
    The C compiler to run: C{$CC} (which may carry arguments) or C{cc}.

    @raise BuildError: if it is not found.
    """
    command = shlex.split(environ.get("CC", "")) or ["cc"]
    if shutil.which(command[0], path=environ.get("PATH")) is None:
        raise BuildError(
            f"no C compiler: {command[0]!r} not found (install one, e.g. Debian's"
            " gcc, or set CC)"
        )
    return command


def isStale(source: str, binary: str) -> bool:
    """
    Whether C{binary} must be (re)built from C{source}: it is missing or
    older than its source.
    """
    try:
        built = os.stat(binary).st_mtime_ns
    except FileNotFoundError:
        return True
    return built < os.stat(source).st_mtime_ns


def firstError(output: str) -> str:
    """
    The line of a compiler's C{output} worth showing: the first that says
    C{error}, else the first that says anything.
    """
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line]
    return (errors or lines or ["no output"])[0]


def build(
    sourceDir: str,
    buildDir: str,
    environ: Mapping[str, str],
    programs: Sequence[str] = PROGRAMS,
) -> dict[str, str]:
    """
    Build each of C{programs} (C{NAME.c} in C{sourceDir}) into C{buildDir}
    unless its binary is up to date.

    @return: the path of each program's binary, by name.
    @raise BuildError: if a source is missing, there is no compiler, or
        compiling fails (naming the first error the compiler printed).
    """
    binaries = {}
    for name in programs:
        source = os.path.join(sourceDir, name + ".c")
        binary = os.path.join(buildDir, name)
        binaries[name] = binary
        if not os.path.exists(source):
            raise BuildError(f"{source} is missing")
        if not isStale(source, binary):
            continue
        command = [*compilerCommand(environ), *FLAGS, "-o", binary, source]
        os.makedirs(buildDir, exist_ok=True)
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=COMPILE_TIMEOUT,
                check=False,
                env=dict(environ),
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise BuildError(f"compiling {source} failed: {e}") from None
        if result.returncode != 0:
            raise BuildError(
                f"compiling {source} failed ({shlex.join(command)}):"
                f" {firstError(result.stderr + result.stdout)}"
            )
    return binaries
