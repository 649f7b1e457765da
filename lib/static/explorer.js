/* Static viewer of lib.viz explorers: draws each <figure data-explorer> from its embedded JSON.

   Python (lib/viz/explorer.py) did everything else: it computed every combination of control values, mapped
   what to draw to axes fractions (quantized to 1/q of the axis, delta-encoded), rendered the fixed parts of
   each view with matplotlib as SVG and exported where its panels are. This file only maps fractions to the
   SVG's coordinates (points of the matplotlib figure) and writes SVG. No dependencies, no math of the book.

   window.libExplorer.instances[name] gives tests and benchmarks the state of each explorer, with `timings`:
   the milliseconds each redraw took (performance.now() around it). */
(function () {
  "use strict";
  if (window.libExplorer) {
    window.libExplorer.mountAll();
    return;
  }
  const ANCHOR = { left: "start", center: "middle", right: "end" };
  const BASELINE = { baseline: "alphabetic", bottom: "text-after-edge", center: "central", top: "text-before-edge" };
  const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" };
  const instances = {};
  let counter = 0;

  function esc(s) {
    return String(s).replace(/[&<>"]/g, (c) => ESCAPES[c]);
  }

  // two decimals of a point: far below a pixel
  function f2(v) {
    return String(Math.round(v * 100) / 100);
  }

  function undelta(d) {
    const out = new Array(d.length);
    let acc = 0;
    for (let i = 0; i < d.length; i++) {
      acc += d[i];
      out[i] = acc;
    }
    return out;
  }

  // a run is [xs, ys]: ys delta-encoded; xs delta-encoded too, or {a, d} for evenly spaced x = a + d * i
  function runPoints(run) {
    const ys = undelta(run[1]);
    let xs;
    if (Array.isArray(run[0])) {
      xs = undelta(run[0]);
    } else {
      xs = new Array(ys.length);
      for (let i = 0; i < ys.length; i++) xs[i] = run[0].a + run[0].d * i;
    }
    return [xs, ys];
  }

  // matplotlib's marker outline (size 1, y up) at (px, py), scaled to `size` points
  function markerPath(shape, size, px, py) {
    let d = "";
    for (const c of shape) {
      d += c[0];
      for (let i = 1; i < c.length; i += 2) d += f2(px + c[i] * size) + " " + f2(py - c[i + 1] * size) + " ";
    }
    return d;
  }

  function itemSVG(ex, it, n, boxes) {
    const data = ex.data;
    const st = data.styles[it.s];
    const b = boxes[it.p];
    const q = data.q;
    const X = (u) => b[0] + (u / q) * b[2];
    const Y = (v) => b[1] + b[3] - (v / q) * b[3];
    const clip = ` clip-path="url(#${ex.uid}-c${it.p})"`;
    if (it.k === "t") {
      return (
        `<text data-i="${n}" x="${f2(X(it.x))}" y="${f2(Y(it.y))}" fill="${st.c}" font-size="${st.fs}" ` +
        `font-family="DejaVu Sans, sans-serif" text-anchor="${ANCHOR[st.ha]}" ` +
        `dominant-baseline="${BASELINE[st.va]}">${esc(it.v)}</text>`
      );
    }
    const withMarkers = it.k === "m" || Boolean(st.m);
    const pts = [];
    let d = "";
    for (const run of it.r) {
      const [xs, ys] = runPoints(run);
      for (let i = 0; i < xs.length; i++) {
        const px = X(xs[i]);
        const py = Y(ys[i]);
        if (it.k === "l") d += (i ? "L" : "M") + f2(px) + " " + f2(py);
        if (withMarkers) pts.push(px, py);
      }
    }
    let out = "";
    if (it.k === "l" && d) {
      const dash = st.d ? ` stroke-dasharray="${st.d.join(",")}"` : "";
      out +=
        `<path data-i="${n}" d="${d}" fill="none" stroke="${st.c}" stroke-width="${st.w}" ` +
        `stroke-opacity="${st.a}" stroke-linejoin="round" stroke-linecap="${st.d ? "butt" : "square"}"` +
        `${dash}${clip}/>`;
    }
    if (withMarkers && pts.length) {
      const shape = data.markers[st.m];
      let md = "";
      for (let i = 0; i < pts.length; i += 2) md += markerPath(shape.d, st.ms, pts[i], pts[i + 1]);
      const isMarkers = it.k === "m";
      const stroke = isMarkers && shape.filled ? st.e : st.c;
      out +=
        `<path data-i="${n}" data-markers="1" d="${md}" fill="${shape.filled ? st.c : "none"}" ` +
        `stroke="${stroke}" stroke-width="${isMarkers ? st.ew : 1}" opacity="${st.a}"` +
        `${!isMarkers || st.clip ? clip : ""}/>`;
    }
    return out;
  }

  function setClips(ex, boxes) {
    ex.defs.innerHTML = boxes
      .map((b, i) => `<clipPath id="${ex.uid}-c${i}"><rect x="${b[0]}" y="${b[1]}" width="${b[2]}" height="${b[3]}"/></clipPath>`)
      .join("");
  }

  function draw(ex) {
    const t0 = performance.now();
    const data = ex.data;
    let combo = 0;
    let view = 0;
    for (let i = 0; i < data.shape.length; i++) combo = combo * data.shape[i] + ex.idx[i];
    for (const ci of data.viewControls) view = view * data.shape[ci] + ex.idx[ci];
    const boxes = data.views[view].boxes;
    if (view !== ex.view) {
      ex.bg.innerHTML = data.views[view].svg;
      setClips(ex, boxes);
      ex.view = view;
    }
    const fi = data.index[combo];
    const frame = data.frames[fi];
    const key = fi + ":" + view;
    let svg = ex.cache.get(key);
    if (svg === undefined) {
      svg = frame.i.map((it, n) => itemSVG(ex, it, n, boxes)).join("");
      ex.cache.set(key, svg);
    }
    ex.items.innerHTML = svg;
    if (ex.legendIndex !== frame.g) {
      ex.legend.innerHTML = data.legends[frame.g];
      ex.legendIndex = frame.g;
    }
    ex.text.replaceChildren(
      ...frame.t.map((t) => {
        const p = document.createElement("p");
        p.textContent = t;
        return p;
      }),
    );
    for (const o of ex.readouts) o.textContent = data.controls[+o.dataset.readout].texts[ex.idx[+o.dataset.readout]];
    for (const el of ex.inputs) {
      const ci = +el.dataset.control;
      if (el.type === "range") el.setAttribute("aria-valuetext", data.controls[ci].texts[ex.idx[ci]]);
    }
    ex.root.dataset.combo = String(combo);
    ex.root.dataset.frame = String(fi);
    ex.timings.push(performance.now() - t0);
  }

  function mount(root) {
    if (root.dataset.mounted) return;
    const script = root.querySelector("script.lx-data");
    if (!script) return;
    const data = JSON.parse(script.textContent);
    const ex = {
      root,
      data,
      uid: "lxv" + counter++,
      idx: data.controls.map((c) => c.default),
      view: -1,
      legendIndex: -1,
      cache: new Map(),
      timings: [],
      bg: root.querySelector(".lx-bg"),
      fg: root.querySelector(".lx-fg"),
      legend: root.querySelector(".lx-legend"),
      text: root.querySelector(".lx-text"),
      readouts: Array.from(root.querySelectorAll("[data-readout]")),
      inputs: Array.from(root.querySelectorAll("[data-control]")),
    };
    ex.fg.innerHTML = '<defs></defs><g class="lx-items"></g>';
    ex.defs = ex.fg.firstChild;
    ex.items = ex.fg.lastChild;
    for (const el of ex.inputs) {
      const ci = +el.dataset.control;
      ex.idx[ci] = +el.value; // keeps a value the browser restored on going back to the page
      el.addEventListener("input", () => {
        ex.idx[ci] = +el.value;
        draw(ex);
      });
    }
    const scroller = root.querySelector(".lx-scroll");
    const cue = () => {
      const more = scroller.scrollWidth - scroller.clientWidth - scroller.scrollLeft;
      scroller.classList.toggle("lx-more-left", scroller.scrollLeft > 1);
      scroller.classList.toggle("lx-more-right", more > 1);
    };
    scroller.addEventListener("scroll", cue, { passive: true });
    new ResizeObserver(cue).observe(scroller); // also once laid out, and when the drawing or the window changes
    root.dataset.mounted = "1";
    root.libExplorer = ex;
    instances[data.name] = ex;
    draw(ex);
  }

  function mountAll() {
    document.querySelectorAll("figure[data-explorer]").forEach(mount);
  }

  window.libExplorer = { mount, mountAll, draw, instances, version: 1 };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mountAll);
  mountAll();
})();
