"""
The C{sockplug} client command, run to its end by the end-to-end tests.
"""

from __future__ import annotations

import os
import subprocess
import sys

SOCKPLUG = os.path.join(os.path.dirname(sys.executable), "sockplug")
TIMEOUT = 30.0


def run(
    *args: str, data: bytes = b"", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run C{sockplug ARGS} with C{data} as its input, to its end."""
    return subprocess.run(
        [SOCKPLUG, *args],
        input=data,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
        env=env,
    )
