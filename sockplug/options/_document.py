# -*- test-case-name: sockplug.options.test.test_document -*-
"""
The option tables, written for people: the lines of C{twistd sockplug
--help}, and the README's tables (between C{<!-- options-table: NAME -->}
and C{<!-- /options-table -->}), so that neither is written by hand.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from sockplug.options._endpointkeys import ENDPOINT_ARGUMENTS
from sockplug.options._limits import LIMITS
from sockplug.options._process import PROCESS
from sockplug.options._protooptions import ProtocolOption, describeDefault, typeName
from sockplug.options._setting import Setting, Table
from sockplug.options._sockopts import SOCKET_OPTIONS

__all__ = ["fillReadme", "helpLines", "readmeTables"]


def helpLines(table: Table, width: int) -> list[str]:
    """
    The C{--help} lines of a table of listener options: C{  idle  seconds
    without traffic... [stream]}, the names padded to C{width}.
    """
    return [
        f"  {s.name:<{width}} {s.describe()} [{', '.join(sorted(s.kinds))}]"
        for s in table
    ]


def _cell(text: str) -> str:
    """
    Text in a cell of a markdown table: its pipes escaped.
    """
    return text.replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{_cell(text)}`"


def _markdown(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    columns = list(header)
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines) + "\n"


def _keyRow(setting: Setting) -> list[str]:
    metavar = f"={setting.metavar}" if setting.metavar else ""
    return [
        _code(f"{setting.name}{metavar}"),
        ", ".join(sorted(setting.kinds)),
        _cell(setting.value.describe()),
        _cell(setting.describe()),
    ]


def _keysTable(*tables: Table, applies: str) -> str:
    return _markdown(
        ["option", applies, "values", "what"],
        (_keyRow(setting) for table in tables for setting in table),
    )


def _processRow(setting: Setting) -> list[str]:
    short = f"-{setting.short}, " if setting.short else ""
    metavar = f" {setting.metavar}" if setting.metavar else ""
    return [
        _code(f"{short}--{setting.name}{metavar}"),
        _code(f"{setting.key} = {setting.metavar}") if setting.key else "",
        _cell(setting.value.describe()),
        _cell(setting.describe()),
    ]


def _protocolRows(
    plugins: Iterable[object],
) -> Iterable[list[str]]:
    for plugin in plugins:
        options: Iterable[ProtocolOption] = getattr(plugin, "options", ())
        for option in options:
            yield [
                _code(getattr(plugin, "name", "")),
                _code(option.name),
                typeName(option.type),
                _code(describeDefault(option.default)),
                _cell(option.help),
            ]


def readmeTables(protocols: Iterable[object]) -> Mapping[str, str]:
    """
    The README's option tables, by the name their markers give.

    @param protocols: the protocol plugins whose options the C{protocols}
        table lists (the built-in ones), in order.
    """
    return {
        "process": _markdown(
            ["command line", "configuration file", "values", "what"],
            (_processRow(setting) for setting in PROCESS),
        ),
        "sockets": _keysTable(SOCKET_OPTIONS, ENDPOINT_ARGUMENTS, applies="sockets"),
        "limits": _keysTable(LIMITS, applies="endpoints"),
        "protocols": _markdown(
            ["protocol", "option", "type", "default", "what"],
            _protocolRows(protocols),
        ),
    }


_MARKED = re.compile(
    r"(<!-- options-table: (?P<name>[a-z]+) -->\n)"
    r"(?P<table>.*?)"
    r"(<!-- /options-table -->)",
    re.DOTALL,
)


def fillReadme(text: str, tables: Mapping[str, str]) -> str:
    """
    C{text} (a README) with each table between its markers replaced by
    the one of C{tables} that its marker names.

    @raise KeyError: for a marker naming no table.
    """

    def fill(match: re.Match[str]) -> str:
        return match.group(1) + tables[match.group("name")] + match.group(4)

    return _MARKED.sub(fill, text)


def builtinProtocols() -> list[object]:
    """
    sockplug's built-in protocol plugins, by name: those whose options the
    README lists.
    """
    # (At run time: the plugins are above the options.)
    from sockplug.discovery import discover

    registry = discover(entryPoints=lambda group: [])
    return [
        registry.protocols[name]
        for name in sorted(registry.protocols)
        if registry.sources[name].startswith("sockplug.plugins.sockplug_builtins")
    ]


def main(argv: list[str]) -> int:
    """
    C{python -m sockplug.options [README]}: print the README's option
    tables; or, given the README's path, write them into it between its
    markers.

    @return: the exit status.
    """
    tables = readmeTables(builtinProtocols())
    if not argv:
        for name, table in tables.items():
            print(f"<!-- options-table: {name} -->\n{table}<!-- /options-table -->\n")
        return 0
    [path] = argv
    with open(path, encoding="utf-8") as f:
        text = f.read()
    filled = fillReadme(text, tables)
    if filled != text:
        with open(path, "w", encoding="utf-8") as f:
            f.write(filled)
        print(f"{path}: option tables written")
    return 0
