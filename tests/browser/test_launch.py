"""The launch buttons of the built chapters: Colab points at the generated notebook, Binder at the chapter, and
"Live Code" (Thebe), clicked with the network blocked, says within a few seconds that it cannot start."""

from __future__ import annotations

import html
import os
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html")).resolve()
CHAPTER_PAGES = sorted(HTML.glob("chapters/*.html")) if HTML.is_dir() else []
OFFLINE_WITHIN_S = 8


@pytest.mark.parametrize("page_path", CHAPTER_PAGES, ids=lambda p: p.stem)
def test_colab_and_binder_buttons_point_at_files_that_exist(page_path):
    text = page_path.read_text(encoding="utf-8")
    links = [html.unescape(h) for h in re.findall(r'href="(https://(?:colab|mybinder)[^"]+)"', text)]
    colab = [u for u in links if "colab.research.google.com" in u]
    binder = [u for u in links if "mybinder.org" in u]
    assert colab and binder, f"{page_path.name}: no Colab or Binder button"
    for url in colab:
        path = url.split("/blob/", 1)[1].split("/", 1)[1]
        assert path == f"notebooks/{page_path.stem}.ipynb" and (ROOT / path).is_file(), url
    for url in binder:
        path = parse_qs(urlparse(url).query)["urlpath"][0].removeprefix("lab/tree/")
        assert (ROOT / path).is_file(), url


def test_live_code_says_it_is_offline_within_seconds(browser, site_url):
    if not CHAPTER_PAGES:
        pytest.fail(f"No built chapter under {HTML}: run `make book` first.")
    host = urlparse(site_url).netloc
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    blocked: list[str] = []
    errors: list[str] = []

    def route(request_route):
        url = urlparse(request_route.request.url)
        if url.netloc == host or url.scheme in ("data", "blob"):
            request_route.continue_()
        else:  # no network: everything outside the local server fails, as offline
            blocked.append(request_route.request.url)
            request_route.abort("internetdisconnected")

    context.route("**/*", route)
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(site_url + CHAPTER_PAGES[0].relative_to(HTML).as_posix(), wait_until="load")
        page.locator(".dropdown-launch-buttons button").first.click()
        start = time.monotonic()
        page.locator("button.btn-launch-thebe, [onclick*='initThebe']").first.click()
        note = page.locator("#thebe-offline-note")
        note.wait_for(timeout=OFFLINE_WITHIN_S * 1000)
        elapsed = time.monotonic() - start
        assert "could not start" in note.inner_text()
        assert "offline" in page.locator(".thebe-launch-button").inner_text()
    finally:
        context.close()
    assert any("thebe" in url for url in blocked), blocked
    assert elapsed < OFFLINE_WITHIN_S
    assert errors == []
