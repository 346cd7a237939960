"""
A real headless browser for the end-to-end tests: Debian's chromium, driven
through chromedriver with a minimal W3C WebDriver client (HTTP and JSON
over urllib, no other dependency).

Every request has a timeout; chromedriver, chromium and every process they
start are killed when the test ends, and L{Browser.leftovers} finds any that
outlived them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any

from twisted.trial.unittest import SkipTest, SynchronousTestCase

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
START_TIMEOUT = 60.0
REQUEST_TIMEOUT = 30.0
SCRIPT_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

# What chromedriver prints once it listens; with --port=0 it picks a free
# port itself, so no port is ever guessed (and none raced for).
_STARTED = re.compile(rb"ChromeDriver was started successfully on port (\d+)")

_ARGUMENTS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-breakpad",
    "--window-size=1024,768",
)

# Loopback only: never through a proxy named in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class WebDriverError(Exception):
    """
    chromedriver answered a command with an error.

    @ivar error: the W3C error code, such as C{"no such element"}.
    """

    def __init__(self, error: str, message: str) -> None:
        super().__init__(f"{error}: {message}")
        self.error = error


def _executable(path: str, package: str) -> str:
    if not os.access(path, os.X_OK):
        raise SkipTest(f"{path} is not installed (Debian package {package})")
    return path


def _processes() -> dict[int, tuple[str, str]]:
    """Every process's state letter and command line, by PID."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
            with open(f"/proc/{name}/stat", "rb") as f:
                state = f.read().rpartition(b")")[2].split()[0].decode()
        except (OSError, IndexError):
            continue
        found[int(name)] = (state, cmdline)
    return found


class Browser:
    """
    A chromedriver process and one session of headless chromium in it, with
    a fresh profile in a temporary folder; all of it ends with the test.

    @ivar directory: the test's temporary folder (under C{_trial_temp}):
        chromedriver's log and the screenshots, kept after the test; and
        chromium's home and profile, removed.
    """

    def __init__(self, testCase: SynchronousTestCase) -> None:
        chromium = _executable(CHROMIUM, "chromium")
        chromedriver = _executable(CHROMEDRIVER, "chromium-driver")
        self.directory = os.path.abspath(testCase.mktemp())
        home = os.path.join(self.directory, "home")
        os.makedirs(home)
        # The profile and everything else chromium writes (crash reports
        # too) go in a home of its own, so each of its processes names it on
        # its command line; screenshots and logs stay for a post-mortem.
        testCase.addCleanup(shutil.rmtree, home, True)
        self._session: str | None = None
        env = dict(os.environ, HOME=home)
        for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
            env.pop(name, None)
        log = os.path.join(self.directory, "chromedriver.log")
        with open(os.path.join(self.directory, "chromedriver.out"), "wb") as out:
            self._driver = subprocess.Popen(
                [chromedriver, "--port=0", f"--log-path={log}"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        testCase.addCleanup(self._kill)
        self._base = f"http://127.0.0.1:{self._waitForPort()}"
        self._startSession(chromium)

    def _waitForPort(self) -> int:
        deadline = time.monotonic() + START_TIMEOUT
        path = os.path.join(self.directory, "chromedriver.out")
        while True:
            with open(path, "rb") as f:
                match = _STARTED.search(f.read())
            if match is not None:
                return int(match.group(1))
            if self._driver.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chromedriver did not start: {self.logs()}")
            time.sleep(0.05)

    def _startSession(self, chromium: str) -> None:
        profile = os.path.join(self.directory, "home", "profile")
        options = {
            "binary": chromium,
            "args": [*_ARGUMENTS, f"--user-data-dir={profile}"],
        }
        capabilities = {
            "browserName": "chrome",
            "goog:chromeOptions": options,
            "timeouts": {
                "implicit": 0,
                "pageLoad": int(REQUEST_TIMEOUT * 1000),
                "script": int(SCRIPT_TIMEOUT * 1000),
            },
        }
        value = self._request(
            "POST",
            "/session",
            {"capabilities": {"alwaysMatch": capabilities}},
            START_TIMEOUT,
        )
        self._session = value["sessionId"]

    def _request(
        self,
        method: str,
        path: str,
        body: object = None,
        timeout: float = REQUEST_TIMEOUT,
    ) -> Any:
        """Send one WebDriver command; return its C{value}, or raise its error."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self._base + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        try:
            with _OPENER.open(request, timeout=timeout) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as e:
            try:
                error = json.load(e)["value"]
            except ValueError:
                error = {"error": f"HTTP {e.code}", "message": ""}
            raise WebDriverError(error["error"], error["message"]) from None
        return answer["value"]

    def _command(self, method: str, path: str, body: object = None) -> Any:
        if self._session is None:
            raise RuntimeError("the browser has quit")
        return self._request(method, f"/session/{self._session}{path}", body)

    def navigate(self, url: str) -> None:
        """Load C{url} and wait (bounded) until it has loaded."""
        self._command("POST", "/url", {"url": url})

    def currentURL(self) -> str:
        """The address of the page shown now."""
        url: str = self._command("GET", "/url")
        return url

    def execute(self, script: str, *args: object) -> Any:
        """
        Run C{script}, a JavaScript function body, in the page; return what
        it returns (as JSON gives it).
        """
        return self._command(
            "POST", "/execute/sync", {"script": script, "args": list(args)}
        )

    def screenshot(self, name: str = "screenshot.png") -> str:
        """Save a PNG of the page in L{directory}; return its path."""
        png = base64.b64decode(self._command("GET", "/screenshot"))
        path = os.path.join(self.directory, name)
        with open(path, "wb") as f:
            f.write(png)
        return path

    def leftovers(self) -> list[int]:
        """
        The PIDs of the live processes this browser started (chromedriver,
        or any process naming its temporary folder: every chromium one).
        """
        return sorted(
            pid
            for pid, (state, cmdline) in _processes().items()
            if state not in ("Z", "X")
            and pid != os.getpid()
            and (
                (pid == self._driver.pid and self._driver.poll() is None)
                or self.directory + os.sep in cmdline
            )
        )

    def quit(self, timeout: float = STOP_TIMEOUT) -> list[int]:
        """
        End the session (chromium quits) and stop chromedriver, then wait
        up to C{timeout} seconds for their processes to end by themselves.

        @return: the PIDs of those still alive (see L{leftovers}).
        """
        if self._session is not None:
            with contextlib.suppress(OSError, WebDriverError):
                self._command("DELETE", "")
            self._session = None
        if self._driver.poll() is None:
            self._driver.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._driver.wait(timeout)
        deadline = time.monotonic() + timeout
        while (pids := self.leftovers()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return pids

    def _kill(self) -> None:
        """Quit, and kill whatever of the browser is still alive."""
        deadline = time.monotonic() + STOP_TIMEOUT
        while pids := self.quit(timeout=1.0):
            if time.monotonic() > deadline:
                raise RuntimeError(f"browser processes will not end: {pids}")
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._driver.wait(1.0)

    def logs(self) -> str:
        """chromedriver's output and the end of its log, to explain a failure."""
        texts = []
        for name in ("chromedriver.out", "chromedriver.log"):
            path = os.path.join(self.directory, name)
            with contextlib.suppress(OSError), open(path, "rb") as f:
                texts.append(f.read()[-4000:].decode("utf-8", "replace"))
        return "\n".join(texts)
