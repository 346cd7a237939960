"""
Third-party protocol plugins for the end-to-end tests: dropin modules
written to a folder that a server's environment puts on its path.
"""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from tests.harness import temporaryDirectory

REVERSE = """\
from twisted.internet.protocol import Factory
from twisted.protocols.basic import LineOnlyReceiver
from sockplug.plugin import ProtocolPlugin

class Reverse(LineOnlyReceiver):
    delimiter = b"\\n"
    def lineReceived(self, line):
        self.sendLine(line[::-1])

reverse = ProtocolPlugin(
    name="reverse",
    description="Sends each line back reversed.",
    stream=lambda listener: Factory.forProtocol(Reverse),
)
"""


def withPath(path: str) -> dict[str, str]:
    """
    This process's environment with C{path} first on PYTHONPATH.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in [path, env.get("PYTHONPATH", "")] if p
    )
    return env


def dropins(testCase: SynchronousTestCase, modules: dict[str, str]) -> dict[str, str]:
    """
    Write plugin modules into C{<tmp>/sockplug/plugins/} (no C{__init__.py}
    files) and return an environment with C{<tmp>} on PYTHONPATH.
    """
    root = temporaryDirectory(testCase)
    plugins = os.path.join(root, "sockplug", "plugins")
    os.makedirs(plugins)
    for name, source in modules.items():
        with open(os.path.join(plugins, name + ".py"), "w") as f:
            f.write(source)
    return withPath(root)
