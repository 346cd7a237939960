"""
Tests for L{sockplug.metrics._status}: the status page of C{--metrics}.
"""

from __future__ import annotations

import socket
from html.parser import HTMLParser
from typing import Any

from attrs import evolve, frozen
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyRequest

from sockplug.compat import renderResource
from sockplug.metrics._snapshot import ListenerReading, Reading
from sockplug.metrics._status import StatusPage, duration, render, size
from sockplug.plugin import TransportKind
from sockplug.testing._metrics import exchange

_STREAM = ListenerReading(
    name="a",
    endpoint="tcp:8000",
    protocol="echo",
    kind=TransportKind.STREAM,
    listening=True,
    since=875.0,
    open=3,
    connections=12345,
    bytesIn=1536,
    bytesOut=512,
    datagramsIn=0,
    datagramsOut=0,
    idleClosed=4,
    refused={"access": 2, "maxconn": 1, "global": 0, "maxpersource": 0, "proxy": 0},
    errors={"lost": 1, "tls": 0, "protocol": 2},
)

_DATAGRAM = ListenerReading(
    name="u",
    endpoint="udp:7000",
    protocol="hello",
    kind=TransportKind.DATAGRAM,
    listening=True,
    since=1000.0 - (3 * 86400 + 4 * 3600),
    open=0,
    connections=0,
    bytesIn=3 * 1024**3,
    bytesOut=0,
    datagramsIn=1234567,
    datagramsOut=7,
    idleClosed=0,
    refused={"access": 0, "port": 5, "size": 0, "rate": 1},
    errors={"protocol": 0, "send": 0},
)


def _reading(*listeners: ListenerReading, **changes: Any) -> Reading:
    reading = Reading(
        now=1000.0,
        pid=4242,
        listeners=listeners,
        openConnections=1234,
        maxConnections=10_000,
        reloads=None,
    )
    return evolve(reading, **changes)


@frozen
class _Cell:
    """
    A cell of the listeners' table: its C{data-value}, its text, its
    C{title} and its C{class}.
    """

    value: str | None
    text: str
    title: str | None = None
    css: str | None = None


class _Page(HTMLParser):
    """
    What a status page shows, parsed (entities decoded).

    @ivar rows: each row's cells by field, by C{data-listener}.
    @ivar rowClass: each row's C{class}, by C{data-listener}.
    @ivar fields: each row's fields, in order, by C{data-listener}.
    @ivar spans: the C{data-value} of each C{span}, by C{data-field}.
    """

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.refresh: list[str | None] = []
        self.title = ""
        self.process = ""
        self.headers: list[str] = []
        self.rows: dict[str, dict[str, _Cell]] = {}
        self.rowClass: dict[str, str | None] = {}
        self.fields: dict[str, list[str]] = {}
        self.spans: dict[str, str | None] = {}
        self._row = ""
        self._cell: dict[str, str | None] | None = None
        self._text: list[str] | None = None
        self._inProcess = False
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "meta" and found.get("http-equiv") == "refresh":
            self.refresh.append(found.get("content"))
        elif tag == "tr" and "data-listener" in found:
            self._row = found["data-listener"] or ""
            self.rows[self._row] = {}
            self.fields[self._row] = []
            self.rowClass[self._row] = found.get("class")
        elif tag == "td":
            self._cell = found
            self._text = []
        elif tag in ("title", "th"):
            self._text = []
        elif tag == "p" and found.get("id") == "process":
            self._inProcess = True
            self._text = []
        elif tag == "span" and "data-field" in found:
            self.spans[found["data-field"] or ""] = found.get("data-value")

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        text = "".join(self._text or [])
        if tag == "td" and self._cell is not None:
            field = self._cell.get("data-field") or ""
            self.rows[self._row][field] = _Cell(
                self._cell.get("data-value"),
                text,
                self._cell.get("title"),
                self._cell.get("class"),
            )
            self.fields[self._row].append(field)
            self._cell, self._text = None, None
        elif tag == "title":
            self.title, self._text = text, None
        elif tag == "th":
            self.headers.append(text)
            self._text = None
        elif tag == "p" and self._inProcess:
            self.process = " ".join(text.split())
            self._inProcess, self._text = False, None


def _page(*listeners: ListenerReading, **changes: Any) -> _Page:
    return _Page(render(_reading(*listeners, **changes), 5, 0.0))


class SizeTests(SynchronousTestCase):
    """
    Tests for L{size}.
    """

    def test_cases(self) -> None:
        """
        Below 1 KiB a size is in bytes; above, in the largest binary unit
        that keeps it below 1024, to one decimal; TiB is the largest.
        """
        cases = {
            0: "0 B",
            1: "1 B",
            512: "512 B",
            1023: "1023 B",
            1024: "1.0 KiB",
            1536: "1.5 KiB",
            10 * 1024 + 100: "10.1 KiB",
            1024**2: "1.0 MiB",
            5 * 1024**2 + 1024**2 // 4: "5.2 MiB",
            3 * 1024**3: "3.0 GiB",
            1024**4: "1.0 TiB",
            2048 * 1024**4: "2048.0 TiB",
        }
        self.assertEqual({n: size(n) for n in cases}, cases)

    def test_roundedUpToNextUnit(self) -> None:
        """
        A size that rounds to 1024 of a unit is shown in the next unit, not
        as C{1024.0 KiB}.
        """
        self.assertEqual([size(1024**2 - 1), size(1024**3 - 1)], ["1.0 MiB", "1.0 GiB"])


class DurationTests(SynchronousTestCase):
    """
    Tests for L{duration}.
    """

    def test_cases(self) -> None:
        """
        A duration is shown in its two largest units, the second one padded
        to two digits; fractions of a second are dropped; a negative one is
        C{0s}.
        """
        cases = {
            -5.0: "0s",
            0.0: "0s",
            0.9: "0s",
            42.0: "42s",
            59.99: "59s",
            60.0: "1m 00s",
            303.0: "5m 03s",
            3599.0: "59m 59s",
            3600.0: "1h 00m",
            7500.0: "2h 05m",
            86399.0: "23h 59m",
            86400.0: "1d 00h",
            3 * 86400.0 + 4 * 3600 + 59: "3d 04h",
            400 * 86400.0: "400d 00h",
        }
        self.assertEqual({s: duration(s) for s in cases}, cases)


class RenderTests(SynchronousTestCase):
    """
    Tests for L{render}.
    """

    def test_streamRow(self) -> None:
        """
        A stream listener's row shows every figure, with the exact one in
        C{data-value}; the datagram columns are not applicable.
        """
        row = _page(_STREAM).rows["a"]
        self.assertEqual(
            {field: (cell.value, cell.text) for field, cell in row.items()},
            {
                "listener": ("a", "a"),
                "protocol": ("echo", "echo"),
                "endpoint": ("tcp:8000", "tcp:8000"),
                "kind": ("stream", "stream"),
                "uptime": ("125", "2m 05s"),
                "open": ("3", "3"),
                "connections": ("12345", "12,345"),
                "bytes-in": ("1536", "1.5 KiB"),
                "bytes-out": ("512", "512 B"),
                "datagrams-in": ("", "\N{EN DASH}"),
                "datagrams-out": ("", "\N{EN DASH}"),
                "refused": ("3", "3"),
                "errors": ("3", "3"),
            },
        )

    def test_datagramRow(self) -> None:
        """
        A datagram listener's row shows its datagrams, its drops as
        refused, and no connections.
        """
        row = _page(_DATAGRAM).rows["u"]
        self.assertEqual(
            {field: (cell.value, cell.text) for field, cell in row.items()},
            {
                "listener": ("u", "u"),
                "protocol": ("hello", "hello"),
                "endpoint": ("udp:7000", "udp:7000"),
                "kind": ("datagram", "datagram"),
                "uptime": ("273600", "3d 04h"),
                "open": ("", "\N{EN DASH}"),
                "connections": ("", "\N{EN DASH}"),
                "bytes-in": ("3221225472", "3.0 GiB"),
                "bytes-out": ("0", "0 B"),
                "datagrams-in": ("1234567", "1,234,567"),
                "datagrams-out": ("7", "7"),
                "refused": ("6", "6"),
                "errors": ("0", "0"),
            },
        )

    def test_columns(self) -> None:
        """
        The table has a header per column, and every row a cell per column,
        in the same order.
        """
        page = _page(_STREAM, _DATAGRAM)
        self.assertEqual(
            page.headers,
            [
                "Listener",
                "Protocol",
                "Endpoint",
                "Kind",
                "Up",
                "Open",
                "Connections",
                "In",
                "Out",
                "Dgrams in",
                "Dgrams out",
                "Refused",
                "Errors",
            ],
        )
        fields = [
            "listener",
            "protocol",
            "endpoint",
            "kind",
            "uptime",
            "open",
            "connections",
            "bytes-in",
            "bytes-out",
            "datagrams-in",
            "datagrams-out",
            "refused",
            "errors",
        ]
        self.assertEqual(page.fields, {"a": fields, "u": fields})

    def test_rowsInOrder(self) -> None:
        """
        The rows are in the reading's order.
        """
        page = _page(_DATAGRAM, _STREAM, evolve(_STREAM, name="b"))
        self.assertEqual(list(page.rows), ["u", "a", "b"])

    def test_refusedBreakdown(self) -> None:
        """
        The refused cell's title says how many were refused for each reason
        that refused any, and the cell is marked.
        """
        cell = _page(_STREAM).rows["a"]["refused"]
        self.assertEqual((cell.title, cell.css), ("access 2, maxconn 1", "warn"))

    def test_droppedBreakdown(self) -> None:
        """
        A datagram listener's refused cell breaks its drops down by reason.
        """
        cell = _page(_DATAGRAM).rows["u"]["refused"]
        self.assertEqual((cell.title, cell.css), ("port 5, rate 1", "warn"))

    def test_errorsBreakdown(self) -> None:
        """
        The errors cell's title says how many of each kind there were, and
        the cell is marked.
        """
        cell = _page(_STREAM).rows["a"]["errors"]
        self.assertEqual((cell.title, cell.css), ("lost 1, protocol 2", "warn"))

    def test_noneRefusedNotMarked(self) -> None:
        """
        With nothing refused and no error, the cells have an empty title and
        are not marked.
        """
        row = _page(_DATAGRAM).rows["u"]
        self.assertEqual(
            [(row[f].title, row[f].css) for f in ("errors",)], [("", None)]
        )
        quiet = evolve(_STREAM, refused=dict.fromkeys(_STREAM.refused, 0))
        cell = _page(quiet).rows["a"]["refused"]
        self.assertEqual((cell.value, cell.title, cell.css), ("0", "", None))

    def test_largeBreakdownGrouped(self) -> None:
        """
        The counts in a breakdown are grouped by thousands.
        """
        busy = evolve(_STREAM, errors={"lost": 12345, "tls": 0, "protocol": 0})
        cell = _page(busy).rows["a"]["errors"]
        self.assertEqual(
            (cell.value, cell.text, cell.title), ("12345", "12,345", "lost 12,345")
        )

    def test_textCellsMarked(self) -> None:
        """
        The cells of text (listener, protocol, endpoint, kind) are marked as
        such; the figures are not.
        """
        row = _page(_STREAM).rows["a"]
        self.assertEqual(
            [field for field, cell in row.items() if cell.css == "text"],
            ["listener", "protocol", "endpoint", "kind"],
        )

    def test_notListening(self) -> None:
        """
        A listener that does not listen is marked down, and says so in
        place of its uptime.
        """
        page = _page(evolve(_STREAM, listening=False, since=None), _DATAGRAM)
        self.assertEqual(page.rows["a"]["uptime"], _Cell("", "not listening"))
        self.assertEqual(page.rowClass, {"a": "down", "u": None})

    def test_neverListened(self) -> None:
        """
        A listener that has not listened yet has no uptime.
        """
        page = _page(evolve(_STREAM, since=None))
        self.assertEqual(page.rows["a"]["uptime"], _Cell("", "\N{EN DASH}"))

    def test_escaped(self) -> None:
        """
        A listener's name and endpoint are escaped, in the text and in
        attributes, and read back as they are.
        """
        name = "<b>\"x\" & 'y'</b>"
        endpoint = "unix:/tmp/<i>&\"'.sock"
        html = render(_reading(evolve(_STREAM, name=name, endpoint=endpoint)), 5, 0)
        self.assertNotIn("<b>", html)
        self.assertNotIn("<i>", html)
        self.assertNotIn('"x"', html)
        row = _Page(html).rows[name]
        self.assertEqual(
            [row["listener"], row["endpoint"]],
            [_Cell(name, name, None, "text"), _Cell(endpoint, endpoint, None, "text")],
        )

    def test_refresh(self) -> None:
        """
        The page asks the browser to load it again after C{refresh} seconds.
        """
        page = _Page(render(_reading(_STREAM), 42, 0.0))
        self.assertEqual(page.refresh, ["42"])

    def test_title(self) -> None:
        """
        The title names the machine.
        """
        self.assertEqual(_page().title, f"sockplug on {socket.gethostname()}")

    def test_process(self) -> None:
        """
        The process line gives the pid, how long the process has been up,
        the connections open and their bound, and how often the page
        refreshes.
        """
        page = _page()
        self.assertEqual(
            page.process,
            "pid 4242, up 16m 40s, 1,234 of 10,000 connections open;"
            " refreshes every 5s. Metrics: /metrics",
        )
        self.assertEqual(page.spans, {"open": "1234"})

    def test_processUpSinceStart(self) -> None:
        """
        The process's uptime is counted from C{startedAt}.
        """
        page = _Page(render(_reading(), 5, 100.0))
        self.assertIn("up 15m 00s,", page.process)

    def test_reloads(self) -> None:
        """
        With a configuration file, the process line counts its reloads.
        """
        page = _page(reloads={"done": 1234, "failed": 1})
        self.assertEqual(
            page.process,
            "pid 4242, up 16m 40s, 1,234 of 10,000 connections open, reloads:"
            " 1,234 done, 1 failed; refreshes every 5s. Metrics: /metrics",
        )

    def test_noListeners(self) -> None:
        """
        With no listener, the table has no row.
        """
        self.assertEqual(_page().rows, {})


class StatusPageTests(SynchronousTestCase):
    """
    Tests for L{StatusPage}.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.reads = 0
        self.page = StatusPage(self.read, self.clock)

    def read(self) -> Reading:
        self.reads += 1
        return _reading(_STREAM)

    def get(self, *refresh: bytes, method: bytes = b"GET") -> DummyRequest:
        request = DummyRequest([b""])
        request.method = method
        if refresh:
            request.args = {b"refresh": list(refresh)}
        self.successResultOf(renderResource(self.page, request))
        return request

    def body(self, request: DummyRequest) -> bytes:
        return b"".join(request.written)

    def header(self, request: DummyRequest, name: bytes) -> list[bytes] | None:
        headers = request.responseHeaders.getRawHeaders(name)
        return None if headers is None else list(headers)

    def test_page(self) -> None:
        """
        A GET renders the page of a fresh reading, as UTF-8 HTML.
        """
        request = self.get()
        page = _Page(self.body(request).decode("utf-8"))
        self.assertEqual((request.responseCode, self.reads), (None, 1))
        self.assertEqual(list(page.rows), ["a"])
        self.assertEqual(
            self.header(request, b"content-type"), [b"text/html; charset=utf-8"]
        )

    def test_readEachTime(self) -> None:
        """
        Each request reads the listeners anew.
        """
        self.get()
        self.get()
        self.assertEqual(self.reads, 2)

    def test_defaultRefresh(self) -> None:
        """
        By default the page refreshes every 5 seconds.
        """
        page = _Page(self.body(self.get()).decode("utf-8"))
        self.assertEqual(page.refresh, ["5"])

    def test_refreshGiven(self) -> None:
        """
        C{?refresh=N} sets the refresh, from 1 to 3600 seconds.
        """
        pages = [_Page(self.body(self.get(n)).decode()) for n in (b"1", b"30", b"3600")]
        self.assertEqual([p.refresh for p in pages], [["1"], ["30"], ["3600"]])

    def test_badRefresh(self) -> None:
        """
        A refresh that is not a whole number of seconds from 1 to 3600 is
        answered with 400 and one line of plain text saying so, and nothing
        is read.
        """
        answers = []
        for value in (b"0", b"3601", b"abc", b"-1", b"", b"1.5", b" 5"):
            request = self.get(value)
            answers.append(
                (
                    request.responseCode,
                    self.header(request, b"content-type"),
                    self.body(request),
                )
            )
        plain = [b"text/plain; charset=utf-8"]
        tail = b" is not a whole number of seconds from 1 to 3600\n"
        self.assertEqual(
            answers,
            [
                (400, plain, b"refresh='0'" + tail),
                (400, plain, b"refresh='3601'" + tail),
                (400, plain, b"refresh='abc'" + tail),
                (400, plain, b"refresh='-1'" + tail),
                (400, plain, b"refresh=''" + tail),
                (400, plain, b"refresh='1.5'" + tail),
                (400, plain, b"refresh=' 5'" + tail),
            ],
        )
        self.assertEqual(self.reads, 0)

    def test_badRefreshOneLine(self) -> None:
        """
        A refresh holding a line break, or bytes other than ASCII, is
        refused on one line, the line break escaped and the bytes it cannot
        show replaced.
        """
        answers = [
            self.body(self.get(value))
            for value in (b"1\r\n<b>", "\N{SUPERSCRIPT TWO}".encode())
        ]
        tail = " is not a whole number of seconds from 1 to 3600\n"
        self.assertEqual(
            answers,
            [
                ("refresh='1\\r\\n<b>'" + tail).encode(),
                ("refresh='\ufffd\ufffd'" + tail).encode(),
            ],
        )

    def test_lastRefreshWins(self) -> None:
        """
        Of several C{refresh} values, the last is used.
        """
        page = _Page(self.body(self.get(b"abc", b"7")).decode())
        self.assertEqual(page.refresh, ["7"])

    def test_securityHeaders(self) -> None:
        """
        The page is not cached, not sniffed, not framed, and runs nothing
        but its own inline style.
        """
        request = self.get()
        self.assertEqual(
            [
                self.header(request, name)
                for name in (
                    b"cache-control",
                    b"x-content-type-options",
                    b"content-security-policy",
                )
            ],
            [
                [b"no-store"],
                [b"nosniff"],
                [
                    b"default-src 'none'; style-src 'unsafe-inline';"
                    b" frame-ancestors 'none'"
                ],
            ],
        )

    def test_noScript(self) -> None:
        """
        The page holds no script.
        """
        self.assertNotIn(b"<script", self.body(self.get()).lower())

    def test_head(self) -> None:
        """
        A HEAD request is answered with the GET's headers and no body.
        """
        status, headers, body = exchange(self.page, b"HEAD / HTTP/1.0\r\n\r\n")
        self.assertEqual(
            (status, headers[b"content-type"], body),
            (b"HTTP/1.0 200 OK", b"text/html; charset=utf-8", b""),
        )

    def test_post(self) -> None:
        """
        A POST is answered with 405, naming the methods allowed.
        """
        status, headers, _ = exchange(
            self.page, b"POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n"
        )
        self.assertEqual(status, b"HTTP/1.0 405 Method Not Allowed")
        self.assertEqual(sorted(headers[b"allow"].split(b", ")), [b"GET", b"HEAD"])
        self.assertEqual(self.reads, 0)

    def test_emptyRefreshOverHTTP(self) -> None:
        """
        C{?refresh=} with no value, as a browser sends it, is refused.
        """
        status, _, body = exchange(self.page, b"GET /?refresh= HTTP/1.0\r\n\r\n")
        self.assertEqual(
            (status, body),
            (
                b"HTTP/1.0 400 Bad Request",
                b"refresh='' is not a whole number of seconds from 1 to 3600\n",
            ),
        )

    def test_startedAt(self) -> None:
        """
        The process's uptime is counted from when the page was made.
        """
        self.clock.advance(100)
        page = StatusPage(self.read, self.clock)
        request = DummyRequest([b""])
        self.successResultOf(renderResource(page, request))
        self.assertIn("up 15m 00s,", _Page(self.body(request).decode()).process)
