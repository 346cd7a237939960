# -*- test-case-name: sockplug.metrics.test.test_status -*-
"""
The status page at C{/} of the C{--metrics} endpoint: every listener on one
screen, for a person to read at a glance. It refreshes itself (a C{meta}
refresh, no script), every 5 seconds or every C{?refresh=N}.

Each figure is also in its cell's C{data-value}, exact, for a program.
"""

from __future__ import annotations

import html
import socket
from collections.abc import Callable
from typing import Any

from twisted.web.resource import Resource
from twisted.web.server import Request

from sockplug.interfaces import TransportKind
from sockplug.metrics._snapshot import ListenerReading, Reading

__all__ = ["StatusPage", "duration", "size"]

DEFAULT_REFRESH = 5
MAX_REFRESH = 3600
_NONE = "\N{EN DASH}"

_STYLE = """
body { font: 13px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; margin: 0 0 .2em; }
#process { color: #555; margin: 0 0 1em; }
table { border-collapse: collapse; }
th, td { padding: .25em .5em; border-bottom: 1px solid #ddd; text-align: right;
  white-space: nowrap; }
th { background: #f4f4f4; }
td.text, th.text { text-align: left; }
td[data-field="endpoint"] { white-space: normal; overflow-wrap: anywhere;
  min-width: 10em; max-width: 22em; font-family: ui-monospace, monospace;
  font-size: .9em; }
tr.down td { color: #a00; }
td.warn { color: #a60; font-weight: bold; }
"""

_COLUMNS = (
    ("listener", "Listener", True),
    ("protocol", "Protocol", True),
    ("endpoint", "Endpoint", True),
    ("kind", "Kind", True),
    ("uptime", "Up", False),
    ("open", "Open", False),
    ("connections", "Connections", False),
    ("bytes-in", "In", False),
    ("bytes-out", "Out", False),
    ("datagrams-in", "Dgrams in", False),
    ("datagrams-out", "Dgrams out", False),
    ("refused", "Refused", False),
    ("errors", "Errors", False),
)


def size(n: int) -> str:
    """
    A byte count as a person reads it: C{512 B}, C{1.5 KiB}, C{3.0 GiB}.
    """
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if round(value, 1) < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"


def duration(seconds: float) -> str:
    """
    A duration as a person reads it: C{42s}, C{5m 03s}, C{2h 05m}, C{3d 04h}.
    """
    s = max(0, int(seconds))
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {s:02d}s"
    return f"{s}s"


def _cell(field: str, text: str, value: object, css: str = "") -> str:
    attrs = f' class="{css}"' if css else ""
    return (
        f'<td data-field="{field}" data-value="{html.escape(str(value))}"{attrs}>'
        f"{html.escape(text)}</td>"
    )


def _count(field: str, n: int | None, warn: bool = False) -> str:
    if n is None:
        return _cell(field, _NONE, "")
    return _cell(field, f"{n:,}", n, "warn" if warn and n else "")


def _bytes(field: str, n: int) -> str:
    return _cell(field, size(n), n)


def _breakdown(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in counts.items() if v)


def _row(listener: ListenerReading, now: float) -> str:
    stream = listener.kind is TransportKind.STREAM
    up = None if listener.since is None else int(now - listener.since)
    refused = dict(listener.refused)
    errors = dict(listener.errors)
    cells = [
        _cell("listener", listener.name, listener.name, "text"),
        _cell("protocol", listener.protocol, listener.protocol, "text"),
        _cell("endpoint", listener.endpoint, listener.endpoint, "text"),
        _cell("kind", listener.kind.value, listener.kind.value, "text"),
        _cell(
            "uptime",
            "not listening"
            if not listener.listening
            else _NONE
            if up is None
            else duration(up),
            "" if up is None or not listener.listening else up,
        ),
        _count("open", listener.open if stream else None),
        _count("connections", listener.connections if stream else None),
        _bytes("bytes-in", listener.bytesIn),
        _bytes("bytes-out", listener.bytesOut),
        _count("datagrams-in", None if stream else listener.datagramsIn),
        _count("datagrams-out", None if stream else listener.datagramsOut),
        _count("refused", sum(refused.values()), warn=True).replace(
            "<td ", f'<td title="{html.escape(_breakdown(refused))}" ', 1
        ),
        _count("errors", sum(errors.values()), warn=True).replace(
            "<td ", f'<td title="{html.escape(_breakdown(errors))}" ', 1
        ),
    ]
    css = "" if listener.listening else ' class="down"'
    name = html.escape(listener.name)
    return f'<tr data-listener="{name}"{css}>{"".join(cells)}</tr>'


def render(reading: Reading, refresh: int, startedAt: float) -> str:
    """
    The page, for C{reading}.

    @param refresh: seconds until the browser asks again.
    @param startedAt: when the process started (C{reactor.seconds()}).
    """
    host = html.escape(socket.gethostname())
    header = "".join(
        f'<th class="{"text" if text else ""}">{html.escape(title)}</th>'
        for _, title, text in _COLUMNS
    )
    rows = "\n".join(_row(listener, reading.now) for listener in reading.listeners)
    reloads = ""
    if reading.reloads is not None:
        reloads = (
            f", reloads: {reading.reloads.get('done', 0):,} done,"
            f" {reading.reloads.get('failed', 0):,} failed"
        )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{refresh}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sockplug on {host}</title><style>{_STYLE}</style></head>
<body><h1>sockplug on {host}</h1>
<p id="process">pid {reading.pid}, up {duration(reading.now - startedAt)},
<span data-field="open" data-value="{reading.openConnections}">\
{reading.openConnections:,}</span> of {reading.maxConnections:,} connections open\
{reloads}; refreshes every {refresh}s. Metrics: <a href="metrics">/metrics</a></p>
<table id="listeners"><thead><tr>{header}</tr></thead>
<tbody>
{rows}
</tbody></table></body></html>
"""


class StatusPage(Resource):
    """
    The status page.

    @ivar read: takes a L{Reading} (in the reactor's thread, where pages
        are rendered).
    """

    isLeaf = True

    def __init__(self, read: Callable[[], Reading], reactor: Any) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.read = read
        self._reactor = reactor
        self._startedAt = reactor.seconds()

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"cache-control", b"no-store")
        request.setHeader(b"x-content-type-options", b"nosniff")
        refresh = DEFAULT_REFRESH
        given = request.args.get(b"refresh")
        if given:
            text = given[-1].decode("ascii", "replace")
            if not (
                text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_REFRESH
            ):
                request.setResponseCode(400)
                request.setHeader(b"content-type", b"text/plain; charset=utf-8")
                return (
                    f"refresh={text!r} is not a whole number of seconds"
                    f" from 1 to {MAX_REFRESH}\n"
                ).encode()
            refresh = int(text)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        request.setHeader(
            b"content-security-policy",
            b"default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        )
        return render(self.read(), refresh, self._startedAt).encode("utf-8")
