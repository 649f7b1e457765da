"""Explorer latency and page weight: live redraw in Python, static redraw in Chromium, bytes per page.

Budgets (issue 5): a control change redrawn within 50 ms at the 95th percentile live (2-D explorers, this
2-core machine), within 16 ms in Chromium, and no page of the book above 3 MB.

* **Live**: a seeded random walk over the controls of each standard explorer, driving the ipywidgets exactly
  as a reader would (``widget.value = ...``); each change is timed from the assignment to the new PNG in the
  ``ipywidgets.Image`` (compute + blitted redraw + PNG encoding; the transfer to the browser is not included).
  Reference, measured in the same run: the naive redraw, a new matplotlib figure drawn from scratch per change.
* **Static**: the same explorers' static HTML in Chromium; a seeded random walk that sets a control and fires
  its ``input`` event, timed by the viewer itself (``performance.now()`` around each redraw), and also up to
  the next painted frame (a task queued from the next ``requestAnimationFrame`` callback; this includes the
  wait for the display's next frame, up to one frame interval, whatever the redraw costs). Reference,
  measured in the same run: the browser's frame interval (one frame of the display, the 16 ms budget's
  meaning).
* **Weight**: the size of that standalone page, and of the built pages in ``_build/html`` if there are any.

Run: ``.venv/bin/python benchmarks/explorer_latency.py`` (about a minute).
"""

from __future__ import annotations

import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lib import schedules  # noqa: E402
from lib.viz import Control, Frame, Line, curve_explorer, optimizer_explorer, quadratic_explorer  # noqa: E402
from lib.viz.figure import RC, draw_view, new_figure  # noqa: E402
from lib.viz.geometry import prepare  # noqa: E402
from lib.viz.live import apply_prepared  # noqa: E402
from lib.viz.plots import PALETTE  # noqa: E402

SEED = 0
LIVE_CHANGES = 150
STATIC_CHANGES = 300


def decay_explorer():
    def curves(k, lr0):
        t = np.arange(0, 101)
        return Frame([Line(t, schedules.inverse_time(lr0, k)(t), color=PALETTE[0], label="inverse time"),
                      Line(t, schedules.exponential(lr0, 1 / (1 + k))(t), color=PALETTE[1], label="exponential")])

    return curve_explorer("bench-decay", {"k": Control((0.01, 0.03, 0.1, 0.3, 1.0)), "lr0": (0.1, 0.5, 1.0)},
                          curves, xlabel="epoch t", ylabel="η_t", ylim=(0.0, 1.05))


EXPLORERS = {
    "optimizer (2-D)": lambda: optimizer_explorer("bench-optimizer"),
    "taylor (2-D)": lambda: quadratic_explorer("bench-taylor"),
    "decay curves": decay_explorer,
}


def walk(explorer, n: int, rng: np.random.Generator) -> list[tuple[str, int]]:
    """``n`` random control changes, each to a value different from the current one."""
    movable = [k for k, c in explorer.controls.items() if len(c.values) > 1]
    current = dict(zip(explorer.controls, explorer.default_indices(), strict=True))
    steps = []
    for _ in range(n):
        k = movable[rng.integers(len(movable))]
        choices = [i for i in range(len(explorer.controls[k].values)) if i != current[k]]
        current[k] = int(rng.choice(choices))
        steps.append((k, current[k]))
    return steps


def stats(ms) -> str:
    ms = np.asarray(ms, dtype=float)
    return f"median {np.median(ms):6.2f} ms   p95 {np.percentile(ms, 95):6.2f} ms   max {ms.max():7.2f} ms"


def naive_redraw_ms(explorer, steps) -> list[float]:
    """The reference: a fresh figure per change, fixed parts and frame drawn from scratch, saved as PNG."""
    import matplotlib as mpl


    out = []
    indices = list(explorer.default_indices())
    names = list(explorer.controls)
    for k, i in steps:
        indices[names.index(k)] = i
        start = time.perf_counter()
        with mpl.rc_context(RC):
            fig, axes = new_figure(explorer)
            key = explorer.view_key(indices)
            view = explorer.make_view(key)
            frame = explorer.frame(**explorer.values(indices))
            specs = explorer.resolve(view, lambda frame=frame: [frame])
            draw_view(axes, view, specs)
            for item in prepare(frame, specs, explorer.names):
                ax = list(axes.values())[item.panel]
                artist = ax.text(0, 0, "", transform=ax.transAxes) if item.kind == "t" else ax.plot(
                    [], [], transform=ax.transAxes)[0]
                apply_prepared(artist, item)
            fig.savefig(io.BytesIO(), format="png")
        out.append((time.perf_counter() - start) * 1e3)
    return out


def live(rng) -> dict[str, float]:
    print("== live (ipywidgets, in this process)")
    p95 = {}
    for name, make in EXPLORERS.items():
        explorer = make()
        start = time.perf_counter()
        view = explorer.live()
        startup = time.perf_counter() - start
        steps = walk(explorer, LIVE_CHANGES, rng)
        view.timings.clear()
        for k, i in steps:
            view.controls[k].value = explorer.controls[k].values[i]
        ms = np.array(view.timings) * 1e3
        naive = naive_redraw_ms(explorer, steps[:15])
        p95[name] = float(np.percentile(ms, 95))
        print(f"{name:16s} {len(ms)} changes: {stats(ms)}   (start-up {startup:.2f} s)")
        print(f"{'':16s} reference, new figure per change: median {np.median(naive):6.1f} ms"
              f"  -> in-place redraw is {np.median(naive) / np.median(ms):.1f}x faster at the median")
    return p95


def static(rng, page: Path) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    print("== static (Chromium, the embedded viewer)")
    executable = shutil.which("chromium")
    if executable is None:
        print("chromium is not installed: skipped")
        return {}
    p95 = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        tab = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = []
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.goto(page.as_uri(), wait_until="load")
        frame_ms = tab.evaluate("""() => new Promise(done => { const t = [];
            const tick = now => { t.push(now); if (t.length < 61) requestAnimationFrame(tick);
              else done(t.slice(1).map((v, i) => v - t[i])); };
            requestAnimationFrame(tick); })""")
        frame_interval = float(np.median(frame_ms))
        print(f"reference: the display's frame interval in this run, median {frame_interval:.2f} ms")
        for name, make in EXPLORERS.items():
            explorer = make()
            steps = walk(explorer, STATIC_CHANGES, rng)
            names = list(explorer.controls)
            moves = [[names.index(k), i] for k, i in steps]
            result = tab.evaluate("""([name, moves]) => new Promise(done => {
                const ex = window.libExplorer.instances[name];
                const inputs = {};
                ex.inputs.forEach(e => { inputs[+e.dataset.control] = e; });
                ex.timings.length = 0;
                const painted = [];
                let n = 0;
                const next = () => {
                  if (n === moves.length) { done({redraw: ex.timings.slice(), painted}); return; }
                  const [ci, value] = moves[n++];
                  const start = performance.now();
                  inputs[ci].value = String(value);
                  inputs[ci].dispatchEvent(new Event("input", {bubbles: true}));
                  // the rAF callback runs just before the frame with the change is painted; a task queued
                  // from it runs after that paint
                  requestAnimationFrame(() => setTimeout(() => { painted.push(performance.now() - start); next(); }));
                };
                ex.root.scrollIntoView();
                next();
            })""", [explorer.name, moves])
            redraw = np.array(result["redraw"])
            p95[name] = float(np.percentile(redraw, 95))
            print(f"{name:16s} {len(redraw)} changes: {stats(redraw)}   "
                  f"p95/frame interval {p95[name] / frame_interval:.2f}")
            print(f"{'':16s} up to the next painted frame: {stats(result['painted'])}")
        browser.close()
    if errors:
        print("page errors:", errors)
    return p95


def weight(page: Path) -> None:
    print("== page weight")
    print(f"standalone page with the three explorers: {page.stat().st_size / 1e6:.2f} MB")
    built = ROOT / "_build" / "html"
    pages = sorted(built.rglob("*.html"), key=lambda p: p.stat().st_size, reverse=True) if built.is_dir() else []
    explorers = built / "chapters" / "explorers.html"
    if explorers.is_file():
        print(f"_build/html/chapters/explorers.html: {explorers.stat().st_size / 1e6:.2f} MB")
    for p in pages[:3]:
        print(f"built page {p.relative_to(built)}: {p.stat().st_size / 1e6:.2f} MB (budget 3 MB, "
              f"{p.stat().st_size / 3e6:.0%} of it)")


def main() -> None:
    rng = np.random.default_rng(SEED)
    live_p95 = live(rng)
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "explorers.html"
        body = "".join(make().static_html() for make in EXPLORERS.values())
        page.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>explorers</title></head>"
                        f"<body style='max-width:840px;font-family:sans-serif'>{body}</body></html>",
                        encoding="utf-8")
        static_p95 = static(rng, page)
        weight(page)
    print("== summary against the budgets")
    for name, v in live_p95.items():
        print(f"live   {name:16s} p95 {v:6.2f} ms  (budget 50 ms, ratio {v / 50:.2f})")
    for name, v in static_p95.items():
        print(f"static {name:16s} p95 {v:6.2f} ms  (budget 16 ms, ratio {v / 16:.2f})")


if __name__ == "__main__":
    main()
