# -*- test-case-name: tests.test_bench_procs -*-
"""
What the benchmark ran on: CPU, kernel, Python, Twisted, uvloop, the C
compiler, sockplug's commit, and when.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import re
import shlex
import subprocess
from collections.abc import Mapping

TOOL_TIMEOUT = 10.0


def parseCpuModel(cpuinfo: str) -> str:
    """The CPU model named in the text of C{/proc/cpuinfo}, or C{unknown}."""
    match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    return match.group(1).strip() if match else "unknown"


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _output(argv: list[str], cwd: str | None = None) -> str | None:
    """What C{argv} prints, or C{None} if it cannot run or fails."""
    try:
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT,
            check=False,
            cwd=cwd,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def _firstLine(argv: list[str], cwd: str | None = None) -> str:
    output = _output(argv, cwd)
    return output.splitlines()[0] if output else "unknown"


def machineInfo(root: str, environ: Mapping[str, str]) -> dict[str, str]:
    """What this machine and checkout are, for the results."""
    commit = _firstLine(["git", "rev-parse", "--short", "HEAD"], cwd=root)
    changes = _output(["git", "status", "--porcelain", "--untracked-files=no"], root)
    if commit != "unknown" and changes:
        commit += " (with changes)"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"
        ),
        "cpu": parseCpuModel(_read("/proc/cpuinfo")),
        "cpus": str(os.cpu_count() or 0),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "twisted": _version("twisted"),
        "uvloop": _version("uvloop"),
        "cc": _firstLine(
            [*(shlex.split(environ.get("CC", "")) or ["cc"]), "--version"]
        ),
        "sockplug": f"{_version('sockplug')}, commit {commit}",
    }


def machineLine(info: Mapping[str, str]) -> str:
    """The machine in one line."""
    return (
        f"{info['cpu']} ({info['cpus']} CPUs), {info['kernel']}, {info['python']},"
        f" Twisted {info['twisted']}, uvloop {info['uvloop']}, {info['cc']};"
        f" sockplug {info['sockplug']}; {info['date']}"
    )
