"""
End-to-end tests of the status page of C{--metrics}, read the way a person
reads it: in a real headless chromium (see L{tests.browser}), against a
real twistd sockplug process to which the test sends known traffic.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from tests.browser import Browser, WebDriverError
from tests.harness import Address, Server
from tests.scrape import (
    TCP,
    UDP,
    echoConnections,
    echoDatagrams,
    echoOpen,
    get,
    labelsOf,
    refusedFrom,
    startWithMetrics,
    url,
    waitForValues,
)

PAGE_TIMEOUT = 15.0
# A datagram listener whose reply budget fits the test's 1,000 datagrams.
MANY = f"{UDP}:replyburst=2000"
LIMITED = f"{TCP}:maxconn=1"
DASH = "\N{EN DASH}"
PNG = b"\x89PNG\r\n\x1a\n"

# Reads the page as a person sees it: each listener's cells (their exact
# data-value and their visible text), the title, the process line, the
# refresh interval, the whole visible text; and whether the mark the test
# may set on the window is still there (it is not once the page reloaded).
READ_PAGE = """
const rows = {};
for (const tr of document.querySelectorAll("#listeners tr[data-listener]")) {
  const cells = {};
  for (const td of tr.querySelectorAll("td[data-field]")) {
    cells[td.dataset.field] = [td.getAttribute("data-value"), td.innerText];
  }
  cells.shown = tr.getBoundingClientRect().height > 0;
  rows[tr.dataset.listener] = cells;
}
const refresh = document.querySelector('meta[http-equiv="refresh"]');
const process = document.getElementById("process");
return {
  rows: rows,
  title: document.title,
  process: process === null ? null : process.innerText,
  refresh: refresh === null ? null : refresh.content,
  text: document.body.innerText,
  marked: window.sockplugTestMark === true,
  url: location.href,
};
"""

Page = dict[str, Any]


def humanBytes(n: int) -> str:
    """A byte count as the spec shows it: C{512 B}, C{1.2 KiB}, C{3.0 MiB}."""
    if n < 1024:
        return f"{n} B"
    value, unit = float(n), "B"
    for bigger in ("KiB", "MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}"


def count(n: int | None) -> list[str]:
    """A count's cell: exact value and grouped text, or the dash for none."""
    return ["", DASH] if n is None else [str(n), f"{n:,}"]


def row(
    endpoint: str,
    protocol: str,
    kind: str,
    *,
    bytesIn: int,
    bytesOut: int,
    refused: int,
    open: int | None = None,
    connections: int | None = None,
    datagramsIn: int | None = None,
    datagramsOut: int | None = None,
) -> dict[str, list[str]]:
    """What a listener's row shows, but for its uptime."""
    return {
        "listener": [endpoint, endpoint],
        "protocol": [protocol, protocol],
        "endpoint": [endpoint, endpoint],
        "kind": [kind, kind],
        "open": count(open),
        "connections": count(connections),
        "bytes-in": [str(bytesIn), humanBytes(bytesIn)],
        "bytes-out": [str(bytesOut), humanBytes(bytesOut)],
        "datagrams-in": count(datagramsIn),
        "datagrams-out": count(datagramsOut),
        "refused": count(refused),
        "errors": count(0),
    }


def withoutUptime(cells: dict[str, Any]) -> dict[str, Any]:
    """A row read from the page, without its uptime and visibility."""
    return {k: v for k, v in cells.items() if k not in ("uptime", "shown")}


def uptime(page: Page, listener: str) -> int:
    """A listener's uptime in seconds, as its cell's data-value says."""
    return int(page["rows"][listener]["uptime"][0])


def pngSize(path: str) -> tuple[bytes, int, int, int]:
    """A file's first 8 bytes, its PNG width and height, and its length."""
    with open(path, "rb") as f:
        data = f.read()
    width, height = struct.unpack(">II", data[16:24])
    return data[:8], width, height, len(data)


class _Meta(HTMLParser):
    """The C{content} of each C{<meta http-equiv=refresh>}."""

    def __init__(self) -> None:
        super().__init__()
        self.refresh: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "meta" and (values.get("http-equiv") or "").lower() == "refresh":
            self.refresh.append(values.get("content"))


class StatusPageTests(SynchronousTestCase):
    """
    The status page in headless chromium shows the traffic the test sent,
    and refreshes itself.
    """

    def setUp(self) -> None:
        self.server: Server
        self.server, self.metrics = startWithMetrics(
            self,
            "-e",
            f"echo@{TCP}",
            "-e",
            f"echo@{MANY}",
            "-e",
            f"echo@{LIMITED}",
            "--max-connections",
            "500",
        )
        self.page = url(self.metrics, "/?refresh=1")

    def sendTraffic(self) -> None:
        """
        Two 1,000-byte echo connections and one left open with 10 bytes; 1,000
        datagrams of 100 bytes; on the limited listener, one connection held
        open (5 bytes) and two refused. Wait until the server has counted it.
        """
        echoConnections(self, self.server.inet(TCP), 2, 1000)
        echoOpen(self, self.server.inet(TCP), 10)
        echoDatagrams(self, self.server.inet(MANY), 1000, 100)
        echoOpen(self, self.server.inet(LIMITED), 5)
        for _ in range(2):
            refusedFrom(self, self.server.inet(LIMITED))
        limited = labelsOf(LIMITED, "echo")
        waitForValues(
            self,
            self.metrics,
            [
                ("sockplug_received_bytes_total", labelsOf(TCP, "echo"), 2010),
                ("sockplug_datagrams_sent_total", labelsOf(MANY, "echo"), 1000),
                (
                    "sockplug_connections_refused_total",
                    {**limited, "reason": "maxconn"},
                    2,
                ),
            ],
        )

    def expectedRows(self, extra: int = 0) -> dict[str, dict[str, list[str]]]:
        """
        The rows after L{sendTraffic} and C{extra} more 1,000-byte echo
        connections.
        """
        echoed = 2010 + 1000 * extra
        return {
            TCP: row(
                TCP,
                "echo",
                "stream",
                bytesIn=echoed,
                bytesOut=echoed,
                refused=0,
                open=1,
                connections=3 + extra,
            ),
            MANY: row(
                MANY,
                "echo",
                "datagram",
                bytesIn=100_000,
                bytesOut=100_000,
                refused=0,
                datagramsIn=1000,
                datagramsOut=1000,
            ),
            LIMITED: row(
                LIMITED,
                "echo",
                "stream",
                bytesIn=5,
                bytesOut=5,
                refused=2,
                open=1,
                connections=1,
            ),
        }

    def browse(self) -> Browser:
        """A browser showing the status page, refreshed every second."""
        browser = Browser(self)
        browser.navigate(self.page)
        return browser

    def read(self, browser: Browser) -> Page:
        """The page as it is shown now (once a refresh in progress is done)."""
        return self.waitForPage(browser, lambda page: True, "at all")

    def waitForPage(
        self, browser: Browser, ready: Callable[[Page], bool], what: str
    ) -> Page:
        """
        Read the page until C{ready(page)}, without navigating, retrying
        when a read meets a reload; fail after L{PAGE_TIMEOUT} seconds.
        """
        deadline = time.monotonic() + PAGE_TIMEOUT
        page: Page | None = None
        while True:
            try:
                page = browser.execute(READ_PAGE)
            except WebDriverError:
                pass  # The page was being replaced by its refresh.
            else:
                if page is not None and ready(page):
                    return page
            if time.monotonic() > deadline:
                self.fail(f"the page did not show {what}: {page}")
            time.sleep(0.1)

    def test_numbersMatchTraffic(self) -> None:
        """Each listener's row shows the exact counts of the traffic sent."""
        self.sendTraffic()
        page = self.read(self.browse())
        shown = {name: withoutUptime(cells) for name, cells in page["rows"].items()}
        self.assertEqual(shown, self.expectedRows())
        self.assertTrue(all(cells["shown"] for cells in page["rows"].values()))

    def test_visibleText(self) -> None:
        """The visible text has the grouped counts and the sizes in units."""
        self.sendTraffic()
        text = self.read(self.browse())["text"]
        for figure in ("2.0 KiB", "97.7 KiB", "1,000", "5 B", "echo", MANY, LIMITED):
            self.assertIn(figure, text)

    def test_uptime(self) -> None:
        """Each listener's uptime is whole seconds, shown, and grows."""
        browser = self.browse()
        first = self.read(browser)
        later = self.waitForPage(
            browser,
            lambda page: uptime(page, TCP) >= uptime(first, TCP) + 2,
            "a later uptime",
        )
        for name in (TCP, MANY, LIMITED):
            self.assertGreaterEqual(uptime(later, name), uptime(first, name) + 1)
            self.assertTrue(later["rows"][name]["uptime"][1], later)

    def test_refreshesItself(self) -> None:
        """With the browser left on the page, it soon shows new traffic."""
        self.sendTraffic()
        browser = self.browse()
        shown = {n: withoutUptime(c) for n, c in self.read(browser)["rows"].items()}
        self.assertEqual(shown, self.expectedRows())
        browser.execute("window.sockplugTestMark = true;")
        echoConnections(self, self.server.inet(TCP), 1, 1000)
        expected = self.expectedRows(extra=1)
        page = self.waitForPage(
            browser,
            lambda page: (
                {n: withoutUptime(c) for n, c in page["rows"].items()} == expected
            ),
            "the new traffic",
        )
        self.assertFalse(page["marked"])
        self.assertEqual(page["url"], self.page)
        self.assertIn("2.9 KiB", page["text"])

    def test_refreshInterval(self) -> None:
        """?refresh=1 sets the page's refresh to one second."""
        self.assertEqual(self.read(self.browse())["refresh"], "1")

    def test_titleAndProcess(self) -> None:
        """The title names the host; the process line its pid and its bound."""
        page = self.read(self.browse())
        self.assertEqual(page["title"], f"sockplug on {socket.gethostname()}")
        for figure in (str(self.server.process.pid), "500"):
            self.assertRegex(page["process"], rf"\b{figure}\b")

    def test_screenshot(self) -> None:
        """A screenshot of the page is a PNG with more in it than a blank page."""
        browser = Browser(self)
        blank = pngSize(browser.screenshot("blank.png"))
        browser.navigate(self.page)
        self.waitForPage(browser, lambda page: TCP in page["rows"], "the listeners")
        magic, width, height, length = pngSize(browser.screenshot())
        self.assertEqual(magic, PNG)
        self.assertEqual((width, height), blank[1:3])
        self.assertGreater(length, 2 * blank[3])

    def test_browserLeavesNothing(self) -> None:
        """Once the browser quits, none of its processes is left."""
        browser = self.browse()
        self.assertTrue(browser.leftovers())
        self.assertEqual(browser.quit(), [])


class StatusRequestTests(SynchronousTestCase):
    """
    What the status page answers to plain HTTP requests.
    """

    def setUp(self) -> None:
        self.metrics: Address
        _, self.metrics = startWithMetrics(self, "-e", f"echo@{TCP}")

    def test_defaultRefresh(self) -> None:
        """Without ?refresh=, the page refreshes every 5 seconds."""
        response = get(self.metrics, "/")
        self.assertEqual(response.status, 200)
        self.assertTrue(response.headers["Content-Type"].startswith("text/html"))
        meta = _Meta()
        meta.feed(response.body.decode("utf-8"))
        self.assertEqual(meta.refresh, ["5"])

    def test_badRefresh(self) -> None:
        """?refresh=abc is a 400 with a one-line plain-text message naming it."""
        response = get(self.metrics, "/?refresh=abc")
        self.assertEqual(response.status, 400)
        self.assertTrue(response.headers["Content-Type"].startswith("text/plain"))
        text = response.body.decode("utf-8")
        self.assertEqual(len(text.splitlines()), 1, text)
        self.assertIn("abc", text)

    def test_refreshOutOfRange(self) -> None:
        """?refresh=0 and ?refresh=3601 are 400s; 3600 is served."""
        self.assertEqual(get(self.metrics, "/?refresh=0").status, 400)
        self.assertEqual(get(self.metrics, "/?refresh=3601").status, 400)
        self.assertEqual(get(self.metrics, "/?refresh=3600").status, 200)

    def test_postNotAllowed(self) -> None:
        """A POST to the page is a 405."""
        self.assertEqual(get(self.metrics, "/", method="POST").status, 405)
