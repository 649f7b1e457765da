"""Fixtures for the real-browser tests of the built site.

The site in `_build/html` is served on localhost by a server in this process. Pages are opened in Debian's
Chromium driven by playwright (never a browser downloaded by `playwright install`). Every request that does
not go to that server is aborted and recorded, and every console error is recorded: a test fails at teardown
if there was either, so each page is also checked for working offline.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html")).resolve()
SCREENSHOTS = HTML.parent / "screenshots"
GALLERY = HTML.parent / "gallery"  # 1280 and 390 px, light and dark: tests/browser/test_reader.py
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture(scope="session")
def site_dir() -> Path:
    if not (HTML / "index.html").is_file():
        pytest.fail(f"No built site at {HTML}: run `make book` first.")
    return HTML


@pytest.fixture(scope="session")
def site_url(site_dir: Path):
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed: `apt-get install -y chromium` (see .ci/run).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class PageProblems:
    """What went wrong while a page was open: requests to the outside and console errors."""

    def __init__(self) -> None:
        self.outside_requests: list[str] = []
        self.console_errors: list[str] = []
        self.failed_requests: list[str] = []

    def report(self) -> str:
        parts = []
        for title, items in (
            ("requests outside localhost", self.outside_requests),
            ("console errors", self.console_errors),
            ("failed requests", self.failed_requests),
        ):
            if items:
                parts.append(f"{title}:\n  " + "\n  ".join(items))
        return "\n".join(parts)


@pytest.fixture
def page_problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def page(browser, site_url, page_problems: PageProblems):
    """A Chromium page that may talk only to the local server; fails the test on any console error."""
    yield from _watched_page(browser, site_url, page_problems, width=1280, height=900, color_scheme="light")


@pytest.fixture
def open_page(browser, site_url, page_problems: PageProblems):
    """``open_page(width, height, color_scheme)``: a page like ``page``'s at another size or colour scheme."""
    opened = []

    def open_(width: int, height: int, color_scheme: str):
        generator = _watched_page(browser, site_url, page_problems, width=width, height=height,
                                  color_scheme=color_scheme)
        opened.append(generator)
        return next(generator)

    yield open_
    for generator in opened:
        for _ in generator:
            pass


def _watched_page(browser, site_url, page_problems: PageProblems, *, width: int, height: int, color_scheme: str):
    host = urlparse(site_url).netloc
    context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1,
                                  color_scheme=color_scheme)

    def route(route_request):
        url = route_request.request.url
        parsed = urlparse(url)
        if parsed.scheme in ("data", "blob") or parsed.netloc == host:
            route_request.continue_()
        else:
            page_problems.outside_requests.append(url)
            route_request.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on(
        "console",
        lambda message: message.type == "error"
        and page_problems.console_errors.append(f"{page.url}: {message.text}"),
    )
    page.on("pageerror", lambda error: page_problems.console_errors.append(f"{page.url}: {error}"))
    page.on(
        "requestfailed",
        lambda request: urlparse(request.url).netloc == host
        and page_problems.failed_requests.append(f"{request.url}: {request.failure}"),
    )
    yield page
    context.close()
    problems = page_problems.report()
    if problems:
        pytest.fail(problems)


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
