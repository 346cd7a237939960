"""
Options, each declared once in a table of its family (L{Setting}s): the
defences' limits, socket options, the process's settings, and the options
a protocol plugin declares; the checked values of endpoint-string
arguments, access lists, and the option tables written for --help and the
README.
"""

from sockplug.options import _arguments as arguments
from sockplug.options._access import sourceOf
from sockplug.options._arguments import optionName
from sockplug.options._document import fillReadme, helpLines, readmeTables
from sockplug.options._endpointkeys import (
    ENDPOINT_ARGUMENTS,
    endpointKeys,
    optionNames,
    takeArgument,
)
from sockplug.options._limits import LIMITS, ListenerLimits, parseLimits
from sockplug.options._process import PROCESS, CommandLine, ProcessOptions
from sockplug.options._protooptions import (
    ProtocolOption,
    checkOptionValue,
    declaredOptions,
    describeOption,
    describeValue,
    resolveOptions,
)
from sockplug.options._setting import Bounds, Flag, Setting, Table, flagWords
from sockplug.options._sockopts import (
    SOCKET_OPTIONS,
    SocketOptions,
    effectiveOptions,
    parseSocketOptions,
)

__all__ = [
    "ENDPOINT_ARGUMENTS",
    "LIMITS",
    "PROCESS",
    "SOCKET_OPTIONS",
    "Bounds",
    "CommandLine",
    "Flag",
    "ListenerLimits",
    "ProcessOptions",
    "ProtocolOption",
    "Setting",
    "SocketOptions",
    "Table",
    "arguments",
    "checkOptionValue",
    "declaredOptions",
    "describeOption",
    "describeValue",
    "effectiveOptions",
    "endpointKeys",
    "fillReadme",
    "flagWords",
    "helpLines",
    "optionName",
    "optionNames",
    "parseLimits",
    "parseSocketOptions",
    "readmeTables",
    "resolveOptions",
    "sourceOf",
    "takeArgument",
]
