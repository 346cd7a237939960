# -*- test-case-name: sockplug.config.test.test_catalogue -*-
"""
What C{twistd sockplug --help} lists after its options: the protocols
found and their options, the endpoint types known, the socket options and
defences a listener takes (from their tables, L{sockplug.options}), and
examples of whole commands.
"""

from __future__ import annotations

from sockplug.discovery import Registry
from sockplug.endpoints import EndpointParser
from sockplug.interfaces import TransportKind
from sockplug.options import (
    ENDPOINT_ARGUMENTS,
    LIMITS,
    SOCKET_OPTIONS,
    declaredOptions,
    describeOption,
    flagWords,
    helpLines,
)

__all__ = ["catalogue", "describeKinds", "describeProtocols"]

EXAMPLES = """\
Examples:
  twistd -n sockplug --endpoint tcp:8888
      echo on TCP port 8888, every interface
  twistd -n sockplug --protocol line-print --endpoint unix:/tmp/print.sock \\
                     --endpoint udp:9999
      print every line received on either endpoint
  twistd -n sockplug --endpoint hello@tcp:8000 --endpoint echo@udp:7777 \\
                     --endpoint echo@tcp6:8888:interface=\\:\\:1
      one process, several listeners, each with its own protocol
  twistd -n sockplug --config /etc/sockplug.toml
      the listeners of a configuration file (see the README); kill -HUP
      applies a changed file without a restart
  twistd sockplug --config /etc/sockplug.toml --check
      check the file and exit (0 if it is right)

In endpoint strings, ':' separates arguments and '\\' makes the next
character literal (so an IPv6 address is written \\:\\:1). Only the text
before the first ':' is looked at for NAME@, so paths may hold '@'.
"""


def describeKinds(kinds: frozenset[TransportKind]) -> str:
    """
    The kinds of transport a protocol serves, in words: C{stream, datagram}.
    """
    return ", ".join(k.value for k in TransportKind if k in kinds)


def describeProtocols(registry: Registry) -> list[str]:
    """
    The protocols found, with their descriptions and kinds, and the plugins
    that failed to load: lines for C{--help} and C{sockplug protocols}.
    """
    lines = ["Protocols (--protocol NAME, or --endpoint NAME@ENDPOINT):"]
    width = max((len(name) for name in registry.protocols), default=0)
    for name in sorted(registry.protocols):
        plugin = registry.protocols[name]
        lines.append(
            f"  {name:<{width}}  {plugin.description} [{describeKinds(plugin.kinds)}]"
        )
        source = registry.sources[name]
        if not source.startswith("sockplug.plugins.sockplug_builtins"):
            lines.append(f"  {'':<{width}}  (from {source})")
        for option in declaredOptions(plugin):
            lines.append(f"  {'':<{width}}  option {describeOption(option)}")
    if registry.failures:
        lines.append("")
        lines.append("Plugins that failed to load:")
        lines.extend(f"  {failure}" for failure in registry.failures)
    return lines


def catalogue(registry: Registry, parser: EndpointParser) -> str:
    """
    The protocols found, the endpoint types known, the socket options and
    defences, and examples.
    """
    lines = describeProtocols(registry)
    endpointTypes = parser.endpointTypes()
    for kind in TransportKind:
        lines.append("")
        lines.append(f"Endpoint types ({kind.value}):")
        for t in (t for t in endpointTypes if t.kind is kind):
            lines.append(f"  {t.prefix:<9} {t.summary}")
            lines.append(f"  {'':<9}   e.g. {t.example}")
    lines.append("")
    lines.append(
        "Socket options (key=value after a tcp, tcp6, unix, udp or unixgram endpoint):"
    )
    lines.extend(helpLines(SOCKET_OPTIONS, 10))
    lines.extend(helpLines(ENDPOINT_ARGUMENTS, 10))
    lines.append(f"  {flagWords()}")
    lines.extend(
        [
            "The log shows each listener's options as the kernel reports them.",
            "",
            "Defences (key=value after any endpoint; see README, Security and limits):",
        ]
    )
    lines.extend(helpLines(LIMITS, 12))
    lines.append(
        "  In allow= and deny=, write an IPv6 address's colons as \\:"
        " (allow=\\:\\:1/128), as everywhere in endpoint strings."
    )
    lines.append("")
    return "\n".join(lines) + "\n" + EXAMPLES
