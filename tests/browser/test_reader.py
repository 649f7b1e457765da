"""Every built page as a reader sees it: on a phone (390 px) and a desktop (1280 px), in light and dark mode.

For each page, width and colour scheme (the theme follows the operating system's, as a reader's browser would):

- no page scrolls sideways, at the two widths above and at the laptop widths between the theme's breakpoints
  (1000, 1100, 1200 px); wide content (a display equation, a table) scrolls inside its own box, and that box
  shows a cue (a shadow at the edge with more content). On a phone MathJax 4 breaks long display equations, so
  the few that still scroll are listed in ``WIDE_EQUATIONS`` with the reason;
- table cells never break a number inside (``9.73e-`` / ``03``);
- axe-core (from npm, ``node_modules/axe-core``; injected into the page by the test, not shipped with the site)
  reports no serious or critical violation of the WCAG 2 A/AA rules (contrast included, so dark mode is checked);
- at 1280 px, no figure's text renders smaller than the page's caption text: each figure's PNG carries the size
  of its smallest text in points (``lib.viz.legibility``) and its dpi, and the page gives its width as shown;
- a screenshot lands in ``_build/gallery/<width>-<scheme>/`` so that the next person can look at the pages.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from PIL import Image

from lib.viz.legibility import TEXT_SIZE_KEY

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html")).resolve()
GALLERY = HTML.parent / "gallery"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SKIPPED_PAGES = {"genindex.html", "search.html", "index.html"}
VIEWPORTS = {"phone": (390, 844), "desktop": (1280, 900)}
LAPTOP_WIDTHS = (1000, 1100, 1200)
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

# Display equations allowed to be wider than a 390-px column (they scroll in their box, with the cue), by page and
# the start of their TeX source, with the reason MathJax cannot break them there.
# The source is compared with its white space collapsed. MathJax 4 breaks a display equation only at a top-level
# operator of one row; it does not break inside an alignment (``aligned``, ``pmatrix``) nor inside a \left...\right
# group, so these scroll in their box, with the cue, on a phone (rewriting them is the chapters' business).
WIDE_EQUATIONS: dict[str, dict[str, str]] = {
    "chapters/adaptive.html": {
        r"\left(\sigma^t\right)^2 = \alpha^t": "MathJax 4 leaves the unrolled sum whole (to split in the chapter)",
    },
    "chapters/critical_points.html": {
        r"\begin{split} \begin{aligned} \mH(0, 0) &=": "aligned rows of 2x2 matrices: an alignment is not broken",
    },
    "chapters/initialization.html": {
        r"\begin{split} \begin{aligned} \text{Xavier/Glorot:}": "an aligned table of the three rules, not broken",
    },
}

def built_pages() -> list[str]:
    if not HTML.is_dir():
        return []
    return sorted(
        path.relative_to(HTML).as_posix()
        for path in HTML.rglob("*.html")
        if not path.relative_to(HTML).parts[0].startswith("_") and path.name not in SKIPPED_PAGES
    )


PAGES = built_pages()

SETTLE = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  await document.fonts.ready;
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
}"""

# What sticks out of the viewport without an ancestor that clips or scrolls it.
SIDEWAYS = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  if (document.scrollingElement.scrollWidth <= width + 1) return out;
  for (const el of document.querySelectorAll('.bd-page-width *')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= width + 1) continue;
    let clipped = false;
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.overflowX !== 'visible' || s.position === 'fixed') { clipped = true; break; }
    }
    if (!clipped) out.push(`${el.tagName.toLowerCase()}.${el.className} (right edge ${Math.round(r.right)} px)`);
    if (out.length > 8) break;
  }
  return out.length ? out : [`the page is ${document.scrollingElement.scrollWidth} px wide`];
}"""

# Display equations wider than their column: their TeX, whether their box scrolls and shows the cue.
WIDE_MATH = """() => {
  const out = [];
  for (const box of document.querySelectorAll('div.math')) {  // 5 px below: a glyph's overhang
    const wide = [box, ...box.querySelectorAll('mjx-container')].some(e => e.scrollWidth > e.clientWidth + 5);
    if (!wide) continue;
    const s = getComputedStyle(box);
    const item = window.MathJax && MathJax.startup.document.getMathItemsWithin(box)[0];
    out.push({tex: item ? item.math.trim() : box.textContent.trim(), scrolls: ['auto', 'scroll'].includes(s.overflowX),
              cue: s.backgroundImage.includes('gradient')});
  }
  return out;
}"""

# Table cells whose numbers are split over two lines, and tables wider than a box that does not scroll.
TABLES = """() => {
  const broken = [], cut = [];
  for (const cell of document.querySelectorAll('.bd-article td, .bd-article th')) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const m of node.data.matchAll(/[-+\u2212]?\\d[\\d.,]*(?:e[-+\u2212]?\\d+)?%?/gi)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const tops = new Set(Array.from(range.getClientRects()).filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (tops.size > 1) broken.push(m[0]);
      }
    }
  }
  for (const table of document.querySelectorAll('.bd-article table')) {
    const box = table.parentElement;
    if (table.getBoundingClientRect().width <= box.clientWidth + 1) continue;
    const s = getComputedStyle(box);
    if (!['auto', 'scroll'].includes(s.overflowX) || !s.backgroundImage.includes('gradient'))
      cut.push(table.textContent.trim().slice(0, 60));
  }
  return {broken, cut};
}"""


# The caption text size (a probe with the structure Sphinx gives a figure's caption) and each figure image's natural
# and shown width; explorers draw their own text and are left out.
FIGURES = """() => {
  const probe = document.createElement('figure');
  probe.innerHTML = '<figcaption><p><span class="caption-text">Figure</span></p></figcaption>';
  document.querySelector('.bd-article').appendChild(probe);
  const caption = parseFloat(getComputedStyle(probe.querySelector('.caption-text')).fontSize);
  probe.remove();
  const figures = [];
  for (const img of document.querySelectorAll('.bd-article img')) {
    if (img.closest('.lx-explorer') || !new URL(img.currentSrc).pathname.endsWith('.png')) continue;
    figures.push({src: img.currentSrc, natural: img.naturalWidth, shown: img.getBoundingClientRect().width});
  }
  return {caption, figures};
}"""


def _small_figure_text(page) -> list[str]:
    """Figures whose smallest text, as shown on the page, is smaller than the page's caption text."""
    found = page.evaluate(FIGURES)
    small = []
    for figure in found["figures"]:
        name = unquote(urlparse(figure["src"]).path).lstrip("/")
        with Image.open(HTML / name) as image:
            points, dpi = image.info.get(TEXT_SIZE_KEY), image.info.get("dpi", (72.0,))[0]
        if points is None:
            small.append(f"{name}: the PNG does not record its text size (drawn without lib.viz?)")
            continue
        if not figure["natural"]:
            small.append(f"{name}: the image did not load")
            continue
        shown = float(points) * dpi / 72 * figure["shown"] / figure["natural"]
        if shown < found["caption"] - 0.05:
            small.append(f"{name}: {float(points):g} pt at {dpi:.0f} dpi shown at {figure['shown']:.0f} of "
                         f"{figure['natural']} px is {shown:.1f} px, below the caption's {found['caption']:.1f} px")
    return small


def _open(open_page, site_url, page_name: str, viewport: str, scheme: str):
    width, height = VIEWPORTS[viewport]
    page = open_page(width, height, scheme)
    page.set_default_timeout(120_000)  # MathJax on the longest page, on a busy two-core machine
    page.goto(site_url + page_name, wait_until="networkidle")
    page.evaluate(SETTLE)
    page.wait_for_function("() => ['light', 'dark'].includes(document.documentElement.dataset.theme)")
    theme = page.evaluate("() => document.documentElement.dataset.theme")
    assert theme == scheme, f"{page_name}: the theme shows {theme!r} for a {scheme} operating system"
    return page


def _axe(page) -> list[str]:
    if not AXE.is_file():
        pytest.fail(f"axe-core is missing at {AXE}: run `npm ci` (make book does).")
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        "async tags => (await axe.run({exclude: [['.lx-bg'], ['.lx-fg']]},"
        " {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']}))"
        ".violations.filter(v => ['serious', 'critical'].includes(v.impact))"
        ".map(v => ({id: v.id, help: v.help, nodes: v.nodes.slice(0, 4).map(n => n.target.join(' ') + ': ' + "
        "(n.failureSummary || '').split('\\n').slice(1, 2).join(''))}))",
        AXE_TAGS,
    )
    return [f"{v['id']} ({v['help']}):\n    " + "\n    ".join(v["nodes"]) for v in result]


def _gallery(page, page_name: str, viewport: str, scheme: str) -> None:
    folder = GALLERY / f"{VIEWPORTS[viewport][0]}-{scheme}"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / (page_name.replace("/", "__")[: -len(".html")] + ".png")), full_page=True)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", ["phone", "desktop"])
@pytest.mark.parametrize("page_name", PAGES)
def test_page_reads_well(open_page, site_url, page_name, viewport, scheme):
    page = _open(open_page, site_url, page_name, viewport, scheme)
    problems = []
    sideways = page.evaluate(SIDEWAYS)
    if sideways:
        problems.append("the page scrolls sideways: " + "; ".join(sideways))
    allowed = WIDE_EQUATIONS.get(page_name, {})
    for equation in page.evaluate(WIDE_MATH):
        if not (equation["scrolls"] and equation["cue"]):
            problems.append(f"a display equation is cut off (no scroll box with a cue): {equation['tex'][:80]}")
        elif viewport == "phone" and not any(" ".join(equation["tex"].split()).startswith(start) for start in allowed):
            problems.append(f"a display equation is wider than the column at 390 px (break it, or list it in "
                            f"WIDE_EQUATIONS with the reason): {equation['tex'][:80]}")
    tables = page.evaluate(TABLES)
    if tables["broken"]:
        problems.append(f"table cells break inside a word or number: {tables['broken'][:6]}")
    if tables["cut"]:
        problems.append(f"tables wider than the column without a scroll box with a cue: {tables['cut'][:3]}")
    if viewport == "desktop" and scheme == "light":
        small = _small_figure_text(page)
        if small:
            problems.append("figure text smaller than the caption text:\n  " + "\n  ".join(small))
    # axe-core once per page and mode (phone light, desktop dark): it takes seconds on a page with explorers.
    if (viewport, scheme) in (("phone", "light"), ("desktop", "dark")):
        violations = _axe(page)
        if violations:
            problems.append("axe-core: serious or critical WCAG 2 A/AA violations:\n  " + "\n  ".join(violations))
    _gallery(page, page_name, viewport, scheme)
    assert not problems, f"{page_name} at {VIEWPORTS[viewport][0]} px, {scheme}:\n" + "\n".join(problems)


@pytest.mark.parametrize("page_name", PAGES)
def test_no_page_scrolls_sideways_at_laptop_widths(open_page, site_url, page_name):
    """Between 992 px (the theme widens full-width cells into the right margin) and 1280 px (the margin exists)."""
    page = _open(open_page, site_url, page_name, "desktop", "light")
    problems = []
    for width in LAPTOP_WIDTHS:
        page.set_viewport_size({"width": width, "height": VIEWPORTS["desktop"][1]})
        page.evaluate(SETTLE)
        sideways = page.evaluate(SIDEWAYS)
        if sideways:
            problems.append(f"at {width} px: " + "; ".join(sideways))
    assert not problems, f"{page_name} scrolls sideways:\n" + "\n".join(problems)


@pytest.mark.parametrize("page_name", [p for p in PAGES if p.startswith("chapters/")])
def test_an_explorer_sits_on_the_page_in_dark_mode(open_page, site_url, page_name):
    """The theme's light grey box for HTML outputs showed as a strip around each explorer's white card."""
    page = _open(open_page, site_url, page_name, "desktop", "dark")
    boxed = page.evaluate("""() => [...document.querySelectorAll('figure.lx')].flatMap(f => {
      const out = [];
      for (let a = f.parentElement; a && !a.matches('article'); a = a.parentElement) {
        const bg = getComputedStyle(a).backgroundColor;
        if (!['transparent', 'rgba(0, 0, 0, 0)'].includes(bg)) out.push(`${f.dataset.explorer}: ${a.className} ${bg}`);
      }
      return out;
    })""")
    assert boxed == [], f"{page_name}: an explorer sits in a coloured box in dark mode: {boxed}"


# Each explorer on the page: the smallest text of its drawing as shown (px), and whether its plot box scrolls and
# which edges show the fade that says there is more.
EXPLORER_TEXT = """() => [...document.querySelectorAll('figure.lx')].map(f => {
  const sizes = [...f.querySelectorAll('.lx-plot svg')].flatMap(svg => {
    const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    // a text's size is that of its largest part: "10" of a tick label "10⁻⁴", not the superscript
    return [...svg.querySelectorAll('text')].filter(t => t.textContent.trim())
      .map(t => Math.max(...[t, ...t.querySelectorAll('tspan')].map(e => parseFloat(getComputedStyle(e).fontSize)))
        * scale);
  });
  const box = f.querySelector('.lx-scroll');
  return {name: f.dataset.explorer, smallest: Math.min(...sizes), scrolls: box.scrollWidth > box.clientWidth + 1,
          right: box.classList.contains('lx-more-right'), left: box.classList.contains('lx-more-left')};
})"""
PHONE_TEXT_PX = 11.0  # the text of a plot 530 px wide; at 1280 px it is 14 px (lib.viz.figure.MIN_TEXT_PX)


@pytest.mark.parametrize("page_name", [p for p in PAGES if p.startswith("chapters/")])
def test_explorers_on_a_phone_keep_readable_text_and_scroll_with_a_cue(open_page, site_url, page_name):
    """Scaled into a 358-px column an explorer's text was 7 px; its plot now keeps 530 px and scrolls sideways in
    its own box, fading out at the edge that has more."""
    page = _open(open_page, site_url, page_name, "phone", "light")
    problems = []
    for found in page.evaluate(EXPLORER_TEXT):
        if found["smallest"] < PHONE_TEXT_PX - 0.05:
            problems.append(f"{found['name']}: text {found['smallest']:.1f} px")
        if not (found["scrolls"] and found["right"] and not found["left"]):
            problems.append(f"{found['name']}: the plot does not scroll with the cue at its right edge: {found}")
    boxes = page.locator("figure.lx .lx-scroll")
    for k in range(boxes.count()):
        box = boxes.nth(k)
        box.evaluate("b => { b.scrollLeft = b.scrollWidth; b.dispatchEvent(new Event('scroll')); }")
        edges = box.evaluate("b => [b.classList.contains('lx-more-left'), b.classList.contains('lx-more-right')]")
        if edges != [True, False]:
            problems.append(f"explorer {k}: scrolled to the end, the cue shows (left, right) = {edges}")
    desktop = _open(open_page, site_url, page_name, "desktop", "light")
    for found in desktop.evaluate(EXPLORER_TEXT):
        if found["scrolls"] or found["right"] or found["left"]:
            problems.append(f"at 1280 px {found['name']} scrolls sideways or shows the cue: {found}")
    assert not problems, f"{page_name}:\n" + "\n".join(problems)
