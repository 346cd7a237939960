"""
Options of a listener: the checked values of endpoint-string arguments,
the defences' limits, access lists, socket options, and the options a
protocol plugin declares.
"""

from sockplug.options import _arguments as arguments
from sockplug.options._access import sourceOf
from sockplug.options._arguments import optionName
from sockplug.options._limits import LIMIT_HELP, ListenerLimits, parseLimits
from sockplug.options._protooptions import (
    ProtocolOption,
    checkOptionValue,
    declaredOptions,
    describeOption,
    describeValue,
    resolveOptions,
)
from sockplug.options._sockopts import (
    OPTION_HELP,
    SocketOptions,
    effectiveOptions,
    parseSocketOptions,
)

__all__ = [
    "LIMIT_HELP",
    "OPTION_HELP",
    "ListenerLimits",
    "ProtocolOption",
    "SocketOptions",
    "arguments",
    "checkOptionValue",
    "declaredOptions",
    "describeOption",
    "describeValue",
    "effectiveOptions",
    "optionName",
    "parseLimits",
    "parseSocketOptions",
    "resolveOptions",
    "sourceOf",
]
