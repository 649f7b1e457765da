"""Every static explorer on every built page, in Chromium: every control moved to its first and last value by
keyboard and by pointer, and after each move the drawing is checked against the page's own JSON.

What is drawn must be exactly what ``lib.viz.codec.decode`` reads from the embedded payload for the
combination the controls show: every vertex of every line, every marker outline, every label, the text lines,
the legend and the readouts. Every combination of every explorer, read from the page without a browser, also
draws something inside each of its panels, no text of the drawing lies outside its box (where the card cuts
it off) or runs into another text, and no "diverged" mark sits on a corner of its panel unless its path
goes there (clamped marks once landed on a corner their runs never visited). Redraw times are collected
(``performance.now()`` around each redraw, see ``lib/static/explorer.js``) and printed, never asserted:
``benchmarks/explorer_latency.py`` reports them.
"""

from __future__ import annotations

import html
import itertools
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from lib.viz.codec import decode
from lib.viz.plots import DIVERGED

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html")).resolve()
EXPLORER_ROOT = re.compile(r'<figure[^>]*\bdata-explorer="([^"]+)"')


def built_explorers() -> dict[str, list[str]]:
    """Page (relative to the site) -> names of the static explorers on it."""
    pages = sorted(HTML.rglob("*.html")) if HTML.is_dir() else []
    found = {}
    for path in pages:
        names = EXPLORER_ROOT.findall(path.read_text(encoding="utf-8"))
        if names:
            found[path.relative_to(HTML).as_posix()] = list(dict.fromkeys(names))
    return found


EXPLORERS_BY_PAGE = built_explorers()
PAGE_EXPLORERS = [(page, name) for page, names in EXPLORERS_BY_PAGE.items() for name in names]
PAYLOAD = re.compile(r'<script[^>]*class="lx-data"[^>]*>(.*?)</script>', re.S)
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")

STATE = """root => {
  const ex = root.libExplorer;
  return {
    combo: +root.dataset.combo,
    frame: +root.dataset.frame,
    idx: ex.idx.slice(),
    inputs: Array.from(root.querySelectorAll("[data-control]")).map(e => [+e.dataset.control, +e.value]),
    items: Array.from(ex.items.children).map(e => ({
      tag: e.tagName, i: +e.dataset.i, markers: e.dataset.markers === "1", d: e.getAttribute("d"),
      x: e.getAttribute("x"), y: e.getAttribute("y"), text: e.textContent})),
    svg: ex.items.innerHTML,
    text: Array.from(ex.text.children).map(p => p.textContent),
    legend: ex.legend.textContent,
    readouts: Array.from(root.querySelectorAll("[data-readout]")).map(o => [+o.dataset.readout, o.textContent]),
    valuetexts: Array.from(root.querySelectorAll("input[type=range]")).map(
      e => [+e.dataset.control, e.getAttribute("aria-valuetext")]),
    background: ex.bg.firstElementChild ? ex.bg.firstElementChild.outerHTML.length : 0,
    clips: Array.from(ex.defs.querySelectorAll("rect")).map(
      r => ["x", "y", "width", "height"].map(a => +r.getAttribute(a))),
    timings: ex.timings.length,
  };
}"""


def _payloads(page_name: str) -> list[dict]:
    text = (HTML / page_name).read_text(encoding="utf-8")
    return [json.loads(data) for data in PAYLOAD.findall(text)]


def _panel_problems(payload: dict, indices) -> list[str]:
    """An empty panel, or a diverged mark on a corner of its panel that no line of that panel reaches (other
    markers may sit on a corner: a reader can put the Taylor explorer's expansion point there)."""
    view = 0
    for ci in payload["viewControls"]:
        view = view * payload["shape"][ci] + indices[ci]
    q = payload["q"]
    shown, vertices, corner_markers = set(), {}, []
    for item in decode(payload, indices):
        if item["kind"] == "t":
            shown.add(item["panel"])
            continue
        for run in item["runs"]:
            if ((run >= 0) & (run <= q)).all(axis=1).any():
                shown.add(item["panel"])
            if item["kind"] == "l":
                vertices.setdefault(item["panel"], []).append(run)
            elif item["style"].get("c") == DIVERGED:
                at_corner = ((run[:, 0] <= 0) | (run[:, 0] >= q)) & ((run[:, 1] <= 0) | (run[:, 1] >= q))
                corner_markers += [(item["panel"], point) for point in run[at_corner]]
    problems = [f"panel {p} draws nothing inside its box"
                for p in sorted(set(range(len(payload["views"][view]["boxes"]))) - shown)]
    for panel, point in corner_markers:
        lines = np.concatenate(vertices.get(panel, [np.empty((0, 2))]))
        if not (np.abs(lines - point).max(axis=1, initial=np.inf) <= 0.005 * q).any():
            problems.append(f"a diverged mark sits on a corner of panel {panel} that its path never reaches")
    return problems


@pytest.mark.parametrize(("page_name", "name"), PAGE_EXPLORERS)
def test_every_combination_draws_in_every_panel_and_no_diverged_mark_on_an_unvisited_corner(page_name, name):
    payload = next(p for p in _payloads(page_name) if p.get("name") == name)
    problems = {}
    for indices in itertools.product(*(range(n) for n in payload["shape"])):
        found = _panel_problems(payload, list(indices))
        if found:
            texts = [c["texts"][i] for c, i in zip(payload["controls"], indices, strict=True)]
            problems[" / ".join(texts)] = found
    assert not problems, f"{name}: {len(problems)} combination(s), e.g. {list(problems.items())[:3]}"


def _open(page, site_url, page_name: str):
    page.goto(site_url + page_name, wait_until="load")
    count = len(EXPLORERS_BY_PAGE[page_name])
    page.wait_for_function(
        f"() => window.libExplorer && {count} <= Object.keys(window.libExplorer.instances).length")
    return page


def test_every_page_that_declares_explorers_shows_them():
    toc = (HTML.parents[1] / "_toc.yml").read_text()
    for page_name in re.findall(r"file:\s*(\S+)", toc):
        source = HTML.parents[1] / f"{page_name}.md"
        if source.is_file() and "_explorer(" in source.read_text(encoding="utf-8"):
            assert f"{page_name}.html" in EXPLORERS_BY_PAGE, f"{page_name} builds explorers but none is on its page"


# The text of an explorer's drawing (titles, axis and tick labels, a frame's labels) as the browser renders it:
# what lies outside the drawing's own box, where the card cuts it off ("what (left, right, top, bottom in px)"),
# and two texts that run into each other ("what / what (overlap in px)"), by more than 2 px.
TEXT_OUT_OR_OVERLAPPING = """r => {
  const box = r.querySelector('.lx-plot').getBoundingClientRect();
  const name = t => `"${t.textContent.replace(/\\s+/g, '').slice(0, 40)}"`;
  const texts = [...r.querySelectorAll('.lx-plot svg text')].map(t => [t, t.getBoundingClientRect()])
    .filter(([t, b]) => b.width > 0 && t.textContent.trim() && getComputedStyle(t).visibility !== 'hidden');
  const out = [];
  for (const [t, b] of texts) {
    const past = [box.left - b.left, b.right - box.right, box.top - b.top, b.bottom - box.bottom];
    if (Math.max(...past) > 2) out.push(`${name(t)} outside (${past.map(Math.round)})`);
  }
  texts.forEach(([t, a], i) => texts.slice(i + 1).forEach(([u, b]) => {
    const x = Math.min(a.right, b.right) - Math.max(a.left, b.left);
    const y = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
    if (x > 2 && y > 2) out.push(`${name(t)} / ${name(u)} overlap (${Math.round(x)}×${Math.round(y)})`);
  }));
  return out;
}"""


def _payload(root) -> dict:
    return json.loads(root.locator("script.lx-data").text_content())


def _expected(payload: dict, indices) -> dict[int, dict]:
    """What explorer.js must draw for ``indices``, in the SVG's coordinates, item by item."""
    view = 0
    for ci in payload["viewControls"]:
        view = view * payload["shape"][ci] + indices[ci]
    boxes = payload["views"][view]["boxes"]
    q = payload["q"]
    out = {}
    for n, item in enumerate(decode(payload, indices)):
        x0, y0, w, h = boxes[item["panel"]]

        def X(u, x0=x0, w=w):
            return x0 + np.asarray(u, dtype=float) / q * w

        def Y(v, y0=y0, h=h):
            return y0 + h - np.asarray(v, dtype=float) / q * h

        style = item["style"]
        if item["kind"] == "t":
            out[n] = {"text": item["text"], "at": (float(X(item["at"][0])), float(Y(item["at"][1])))}
            continue
        points = np.concatenate(item["runs"]) if item["runs"] else np.empty((0, 2))
        px = np.column_stack((X(points[:, 0]), Y(points[:, 1])))
        expected = {"line": px.ravel() if item["kind"] == "l" and len(points) else None}
        marker = style.get("m")
        if marker and len(points):
            shape = payload["markers"][marker]["d"]
            numbers = []
            for cx, cy in px:
                for command in shape:
                    coords = command[1:]
                    for k in range(0, len(coords), 2):
                        numbers += [cx + coords[k] * style["ms"], cy - coords[k + 1] * style["ms"]]
            expected["markers"] = np.array(numbers)
        out[n] = expected
    return out


def _check_drawing(state: dict, payload: dict) -> None:
    indices = [0] * len(payload["shape"])
    for ci, value in state["inputs"]:
        indices[ci] = value
    assert state["idx"] == indices, "the viewer's state differs from its controls"
    combo = 0
    for i, n in zip(indices, payload["shape"], strict=True):
        combo = combo * n + i
    assert state["combo"] == combo and state["frame"] == payload["index"][combo]
    frame = payload["frames"][state["frame"]]
    expected = _expected(payload, indices)
    drawn: dict[int, dict] = {}
    for element in state["items"]:
        entry = drawn.setdefault(element["i"], {})
        if element["tag"] == "text":
            entry["text"] = element["text"]
            entry["at"] = (float(element["x"]), float(element["y"]))
        else:
            entry["markers" if element["markers"] else "line"] = np.array(NUMBER.findall(element["d"]), dtype=float)
    assert set(drawn) <= set(expected)
    for n, want in expected.items():
        got = drawn.get(n, {})
        if "text" in want:
            assert got.get("text") == want["text"]
            assert np.allclose(got["at"], want["at"], atol=0.011)
            continue
        for part in ("line", "markers"):
            if want.get(part) is None:
                assert part not in got, f"item {n}: unexpected {part}"
            else:
                assert got[part].shape == want[part].shape, f"item {n} {part}: {got[part].shape} vs {want[part].shape}"
                assert np.allclose(got[part], want[part], atol=0.011), f"item {n}: drawn {part} differs from the JSON"
    assert state["text"] == frame["t"]
    legend = html.unescape(re.sub(r"<[^>]+>", "", payload["legends"][frame["g"]]))
    assert state["legend"] == legend
    for ci, text in state["readouts"]:
        assert text == payload["controls"][ci]["texts"][indices[ci]]
    for ci, text in state["valuetexts"]:
        assert text == payload["controls"][ci]["texts"][indices[ci]]
    view = 0
    for ci in payload["viewControls"]:
        view = view * payload["shape"][ci] + indices[ci]
    assert np.allclose(state["clips"], payload["views"][view]["boxes"])


def _move(page, control, how: str, last: bool) -> None:
    tag = control.evaluate("e => e.tagName")
    n = int(control.evaluate("e => e.tagName === 'SELECT' ? e.options.length : +e.max + 1"))
    if how == "keyboard":
        control.focus()
        if tag == "SELECT":
            current = int(control.evaluate("e => +e.value"))
            key = "ArrowDown" if last else "ArrowUp"
            for _ in range((n - 1 - current) if last else current):
                page.keyboard.press(key)
        else:
            page.keyboard.press("End" if last else "Home")
    elif tag == "SELECT":
        # playwright chooses an option as a pointer would and fires the same input/change events
        control.select_option(index=n - 1 if last else 0)
    else:
        box = control.bounding_box()
        page.mouse.click(box["x"] + (box["width"] - 1 if last else 1), box["y"] + box["height"] / 2)
    want = n - 1 if last else 0
    assert int(control.evaluate("e => +e.value")) == want, f"{how} did not reach value index {want}"


@pytest.mark.parametrize(("page_name", "name"), PAGE_EXPLORERS)
def test_every_control_by_keyboard_and_pointer_draws_exactly_the_embedded_data(page, site_url, page_name, name):
    _open(page, site_url, page_name)
    root = page.locator(f'figure[data-explorer="{name}"]')
    root.scroll_into_view_if_needed()
    payload = _payload(root)
    state = root.evaluate(STATE)
    _check_drawing(state, payload)
    assert root.evaluate(TEXT_OUT_OR_OVERLAPPING) == [], "text cut off by the explorer's box or run together"
    controls = root.locator("[data-control]")
    assert controls.count() == sum(len(c["texts"]) > 1 for c in payload["controls"])
    for k in range(controls.count()):
        control = controls.nth(k)
        ci = int(control.get_attribute("data-control"))
        label = payload["controls"][ci]["label"]
        assert page.get_by_label(label, exact=True).count() >= 1, f"{label!r} is not the control's accessible name"
        changed = False
        for how in ("keyboard", "pointer"):
            for last in (True, False):
                before = state
                _move(page, control, how, last)
                state = root.evaluate(STATE)
                _check_drawing(state, payload)
                assert root.evaluate(TEXT_OUT_OR_OVERLAPPING) == [], f"{label}: text cut off or run together"
                assert state["timings"] > before["timings"] or state["combo"] == before["combo"]
                if state["frame"] != before["frame"]:
                    assert state["svg"] != before["svg"], f"{label}: the frame changed but the drawing did not"
                    changed = True
        assert changed, f"moving {label!r} from first to last never changed the drawing"
    timings = page.evaluate(f"() => window.libExplorer.instances[{name!r}].timings")
    print(f"{name}: {len(timings)} redraws, median {np.median(timings):.2f} ms, "
          f"p95 {np.percentile(timings, 95):.2f} ms (performance.now() around each redraw)")


@pytest.mark.skipif("chapters/explorers.html" not in EXPLORERS_BY_PAGE, reason="the explorers page is not built")
def test_a_view_control_swaps_the_matplotlib_background(page, site_url):
    root = _open(page, site_url, "chapters/explorers.html").locator('figure[data-explorer="explorers-taylor"]')
    payload = _payload(root)
    surface = root.locator("select[data-control]")
    backgrounds = set()
    for index in range(len(payload["controls"][0]["texts"])):
        surface.select_option(index=index)
        state = root.evaluate(STATE)
        _check_drawing(state, payload)
        backgrounds.add(root.evaluate("r => r.querySelector('.lx-bg svg').outerHTML"))
    assert len(backgrounds) == len(payload["views"])
