"""A real ``pserve`` on a free port and Debian's Chromium driven by Playwright.

Browsers cannot be downloaded here: Playwright drives ``/usr/bin/chromium``
(``.ci/run`` installs the ``chromium`` package when missing). The tests skip,
saying why, only when that browser cannot be started.
"""

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHROMIUM = os.environ.get("MEMBERSHIP_TEST_CHROMIUM", "/usr/bin/chromium")
ADMIN_PASSWORD = "browser-admin-password"
PASSWORD = "browser-password"
SCREENSHOTS = REPO / "docs" / "screenshots"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """``initialize_membership_db`` and ``pserve development.ini`` on a fresh FileStorage."""

    def __init__(self, tmp: Path, env: dict[str, str] | None = None) -> None:
        text = (REPO / "development.ini").read_text()
        text = text.replace("file://%(here)s/var/Data.fs", f"file://{tmp}/Data.fs")
        self.ini = tmp / "browser.ini"
        self.ini.write_text(text)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PORT": str(self.port),
            "MEMBERSHIP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            # cheap (still real) argon2: every login and Basic call pays it
            "MEMBERSHIP_ARGON2_TIME_COST": "1",
            "MEMBERSHIP_ARGON2_MEMORY_COST": "8",
            "MEMBERSHIP_ARGON2_PARALLELISM": "1",
            # live history: streams end (and the browser reconnects) often, so a test's
            # page never holds one of waitress's threads for long
            "MEMBERSHIP_CHANGES_STREAM_SECONDS": "5",
            **(env or {}),
        }
        self.proc = None

    def start(self) -> "LiveServer":
        subprocess.run(
            [str(BIN / "initialize_membership_db"), str(self.ini)],
            env=self.env,
            check=True,
            capture_output=True,
        )
        self.log = open(self.ini.with_suffix(".log"), "wb")
        self.proc = subprocess.Popen(
            [str(BIN / "pserve"), str(self.ini)],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.ini.with_suffix(".log").read_text())
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=1).read()
                return self
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        raise RuntimeError("pserve did not answer in 30 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()

    def api(self, method: str, path: str, body=None, auth=("admin", ADMIN_PASSWORD)):
        """The JSON API with Basic credentials: ``(status, body)``."""
        headers = {"Accept": "application/json"}
        token = base64.b64encode(":".join(auth).encode()).decode()
        headers["Authorization"] = f"Basic {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as res:
                raw = res.read()
                return res.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            raw = err.read()
            return err.code, json.loads(raw) if raw else None


def _chromium_problem() -> str | None:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    try:
        with sync_playwright() as p:
            p.chromium.launch(**launch_options()).close()
    except Exception as exc:  # any reason the browser cannot start is a reason to skip
        return f"Chromium cannot start here: {str(exc).splitlines()[0]}"
    return None


def launch_options() -> dict:
    return {
        "executable_path": CHROMIUM,
        "headless": True,
        "args": ["--no-sandbox", "--disable-gpu"],
    }


@pytest.fixture(scope="session")
def chromium_ok():
    problem = _chromium_problem()
    if problem:
        pytest.skip(problem)


@pytest.fixture(scope="module")
def live(tmp_path_factory, chromium_ok):
    server = LiveServer(tmp_path_factory.mktemp("ui")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(chromium_ok):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(**launch_options())
        yield instance
        instance.close()


@pytest.fixture
def page(browser, live):
    """A fresh browser context (no cookies) on the live server; console errors fail."""
    context = browser.new_context(base_url=live.base, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: _console(errors, msg))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(10_000)
    yield page
    context.close()
    assert not errors, errors


def login(page, user: str, password: str) -> None:
    page.goto("/ui/")
    page.get_by_label("User id", exact=True).fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/ui/")


def shot(page, name: str, *, reload: bool = False) -> None:
    """Save the page to docs/screenshots/<name>.png. ``reload``: load it again after, for a
    page htmx goes on to use with history: the screenshot leaves marks in the DOM that
    htmx's history snapshot copies, which the page's CSP then reports as an inline style."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    if reload:
        page.reload()


def _console(errors: list[str], message) -> None:
    """Console errors fail the test (a CSP violation is one), except the browser's note
    on a 4xx answer, which some tests expect."""
    if message.type == "error" and "Failed to load resource" not in message.text:
        errors.append(
            f"{message.text} at {message.location} on {message.page.url if message.page else None}"
        )
