"""The built site, page by page, in Chromium with the network closed (except the local server)."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html")).resolve()

SKIPPED_PAGES = {"genindex.html", "search.html", "index.html"}  # index.html is a redirect to intro.html


def built_pages() -> list[str]:
    if not HTML.is_dir():
        return []
    return sorted(
        path.relative_to(HTML).as_posix()
        for path in HTML.rglob("*.html")
        if not path.relative_to(HTML).parts[0].startswith("_") and path.name not in SKIPPED_PAGES
    )


def toc_pages() -> list[str]:
    toc = yaml.safe_load((HTML.parents[1] / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return [f"{file}.html" for file in files]


@functools.cache
def soup(page: str) -> BeautifulSoup:
    return BeautifulSoup((HTML / page).read_text(encoding="utf-8"), "html.parser")


@functools.cache
def element_ids(page: str) -> frozenset[str]:
    return frozenset(element["id"] for element in soup(page).find_all(id=True))


def test_every_toc_entry_is_built(site_dir):
    missing = [page for page in toc_pages() if not (site_dir / page).is_file()]
    assert not missing, f"pages in _toc.yml that were not built: {missing}"


def test_build_log_is_clean():
    log = (HTML.parent / "book.log").read_text(encoding="utf-8", errors="replace")
    assert "build succeeded" in log
    # Sphinx's "WARNING: " / "ERROR: " lines (a kernel's own "[IPKernelApp] WARNING | ..." log line is not one).
    warnings = [line for line in log.splitlines() if re.search(r"(^|: )(WARNING|ERROR): ", line)]
    assert not warnings, "the -W build logged:\n" + "\n".join(warnings)


@pytest.mark.parametrize("page_name", built_pages())
def test_no_outside_script_link_or_image(page_name):
    outside = []
    for tag, attribute in (("script", "src"), ("link", "href"), ("img", "src"), ("iframe", "src")):
        for element in soup(page_name).find_all(tag):
            value = element.get(attribute) or ""
            if re.match(r"^(https?:)?//", value):
                outside.append(f"<{tag} {attribute}={value}>")
    assert not outside, f"{page_name} loads from outside the site: {outside}"


@pytest.mark.parametrize("page_name", built_pages())
def test_internal_links_resolve(page_name):
    broken = []
    page_path = HTML / page_name
    for anchor in soup(page_name).find_all("a", href=True):
        href = anchor["href"]
        parsed = urlparse(href)
        if parsed.scheme or href.startswith(("mailto:", "javascript:")):
            continue
        target = page_path if not parsed.path else (page_path.parent / unquote(parsed.path)).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            broken.append(href)
            continue
        if parsed.fragment and target.suffix == ".html":
            if unquote(parsed.fragment) not in element_ids(target.relative_to(HTML).as_posix()):
                broken.append(href)
    assert not broken, f"{page_name} has broken internal links: {sorted(set(broken))}"


def test_launch_buttons_point_at_the_configured_repository(site_dir):
    config = yaml.safe_load((HTML.parents[1] / "_config.yml").read_text())
    repository = config["repository"]["url"].rstrip("/")
    org_repo = "/".join(repository.split("/")[-2:])
    notebook_pages = [page for page in built_pages() if soup(page).select(".cell")]
    assert notebook_pages, "no executed notebook page in the book"
    for page_name in notebook_pages:
        links = [anchor["href"] for anchor in soup(page_name).find_all("a", href=True)]
        binder = [href for href in links if "mybinder.org/v2/gh/" + org_repo in href]
        colab = [href for href in links if "colab.research.google.com/github/" + org_repo in href]
        assert binder and colab, f"{page_name}: Binder/Colab launch buttons missing or not at {repository}"
        assert soup(page_name).select('[aria-label="Launch Thebe"], .thebe-launch-button, [onclick*="initThebe"]')


@pytest.mark.parametrize("page_name", built_pages())
def test_page_renders_offline_without_errors(page, site_url, screenshot_dir: Path, page_name):
    page.goto(site_url + page_name, wait_until="networkidle")
    expected_math = page.locator("div.math, span.math").count()
    if expected_math:
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=180_000)
        page.evaluate("() => MathJax.startup.promise")
        rendered = page.locator("mjx-container").count()
        assert rendered >= expected_math, f"{page_name}: {rendered} of {expected_math} formulas rendered"
        assert page.locator("mjx-merror, merror").count() == 0, f"{page_name}: MathJax reported a TeX error"
    assert page.title(), f"{page_name} has no title"
    page.screenshot(path=str(screenshot_dir / (page_name.replace("/", "__")[: -len(".html")] + ".png")),
                    full_page=True)
