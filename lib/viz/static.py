r"""The static rendering of an explorer (the book build): every combination computed once, embedded as JSON.

Every combination of control values is computed at build time and embedded as compact JSON
(:mod:`lib.viz.codec`) next to a small dependency-free JavaScript viewer (``lib/static/explorer.js``, inlined)
that draws SVG. Matplotlib renders each view once as SVG (axes, ticks, labels, contours) and exports where its
panels are; the viewer overlays what changes, in the same coordinates. No kernel and no second implementation
of the math. The legend and the text under the figure are HTML strings shared with the live rendering.
"""

from __future__ import annotations

import html
import io
import itertools
import json
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

import matplotlib as mpl

from lib.viz.codec import Q, encode_item
from lib.viz.declaration import Line, Markers, View
from lib.viz.figure import DPI, RC, draw_view, min_text_pt, new_figure
from lib.viz.geometry import Prepared, item_style, marker_commands, marker_filled, prepare

if TYPE_CHECKING:  # only for annotations: lib.viz.explorer imports this module
    from lib.viz.explorer import Explorer

__all__ = ["compact_svg", "legend_entries", "legend_html", "payload", "static_html", "text_html"]


def _marker_d(marker: str, size: float, cx: float, cy: float) -> str:
    parts = []
    for cmd in marker_commands(marker):
        coords = cmd[1:]
        xy = " ".join(f"{cx + coords[i] * size:.2f} {cy - coords[i + 1] * size:.2f}"
                      for i in range(0, len(coords), 2))
        parts.append(f"{cmd[0]}{xy}")
    return "".join(parts)


def _swatch(style: dict) -> str:
    w, h = 26, 12
    parts = []
    if style["k"] == "l":
        dash = f' stroke-dasharray="{",".join(map(str, style["d"]))}"' if style["d"] else ""
        parts.append(f'<line x1="1" y1="{h / 2}" x2="{w - 1}" y2="{h / 2}" stroke="{style["c"]}" '
                     f'stroke-width="{style["w"]}" stroke-opacity="{style["a"]}"{dash}/>')
        if style["m"]:
            fill = style["c"] if marker_filled(style["m"]) else "none"
            parts.append(f'<path d="{_marker_d(style["m"], style["ms"], w / 2, h / 2)}" fill="{fill}" '
                         f'stroke="{style["c"]}"/>')
    elif style["k"] == "m":
        fill = style["c"] if marker_filled(style["m"]) else "none"
        stroke = style["e"] if marker_filled(style["m"]) else style["c"]
        parts.append(f'<path d="{_marker_d(style["m"], min(style["ms"], 10), w / 2, h / 2)}" fill="{fill}" '
                     f'stroke="{stroke}" stroke-width="{style["ew"]}" opacity="{style["a"]}"/>')
    return (f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" aria-hidden="true" '
            f'style="vertical-align:middle;margin-right:4px;overflow:visible">{"".join(parts)}</svg>')


def legend_html(entries: Sequence[tuple[str, dict]]) -> str:
    if not entries:
        return ""
    spans = "".join(f'<span class="lx-entry" role="listitem" style="display:inline-block;margin:0 14px 2px 0;'
                    f'white-space:nowrap">{_swatch(style)}{html.escape(label)}</span>' for label, style in entries)
    return f'<div class="lx-legend-list" role="list" aria-label="legend" style="font-size:0.875rem">{spans}</div>'


def text_html(lines: Sequence[str]) -> str:
    return "".join(f'<p style="margin:0.1em 0">{html.escape(line)}</p>' for line in lines)


def legend_entries(view_items: Sequence, prepared: Sequence[Prepared]) -> list[tuple[str, dict]]:
    entries, seen = [], set()
    fixed = [(item.label, item_style(item)) for item in view_items if isinstance(item, Line | Markers) and item.label]
    for label, style in fixed + [(p.label, p.style) for p in prepared if p.label]:
        if label not in seen:
            seen.add(label)
            entries.append((label, style))
    return entries



def payload(explorer: Explorer) -> dict:
    """Everything the static viewer needs, as JSON-ready data: every combination of the controls."""
    combos = list(explorer.combinations())
    frames = {c: explorer.frame(**explorer.values(c)) for c in combos}
    keys = list(itertools.product(*(range(len(explorer.controls[k].values)) for k in explorer.view_controls)))
    views, resolved = [], {}
    for n, key in enumerate(keys):
        view = explorer.make_view(key)
        members = [frames[c] for c in combos if explorer.view_key(c) == key]
        specs = explorer.resolve(view, lambda members=members: members)
        resolved[key] = (view, specs)
        svg, boxes = _background_svg(explorer, view, specs, salt=f"{explorer.name}-{n}")
        views.append({"svg": svg, "boxes": boxes})
    styles, style_ids = [], {}
    legends, legend_ids = [], {}
    encoded, frame_ids, index = [], {}, []
    done: dict[tuple[int, tuple], int] = {}  # a compute that returns one Frame for several settings: encode it once
    for c in combos:
        shared = (id(frames[c]), explorer.view_key(c))
        if shared in done:
            index.append(done[shared])
            continue
        view, specs = resolved[explorer.view_key(c)]
        prepared = prepare(frames[c], specs, explorer.names, min_text_pt(explorer.figsize[0]))
        items = []
        for item in prepared:
            key = json.dumps(item.style, sort_keys=True)
            if key not in style_ids:
                style_ids[key] = len(styles)
                styles.append(item.style)
            items.append(encode_item(item, style_ids[key], explorer.max_points))
        legend = legend_html(legend_entries(view.items, prepared))
        if legend not in legend_ids:
            legend_ids[legend] = len(legends)
            legends.append(legend)
        record = {"g": legend_ids[legend], "i": items, "t": list(frames[c].text)}
        key = json.dumps(record, separators=(",", ":"))
        if key not in frame_ids:
            frame_ids[key] = len(encoded)
            encoded.append(record)
        done[shared] = frame_ids[key]
        index.append(frame_ids[key])
    markers = sorted({s["m"] for s in styles if s.get("m")})
    return {
        "version": 1,
        "name": explorer.name,
        "q": Q,
        "size": [round(explorer.figsize[0] * 72, 3), round(explorer.figsize[1] * 72, 3)],
        "controls": [{"name": k, "label": c.label or k, "unit": c.unit, "texts": [c.text(v) for v in c.values],
                      "default": c.default_index} for k, c in explorer.controls.items()],
        "shape": list(explorer.shape),
        "viewControls": [list(explorer.controls).index(k) for k in explorer.view_controls],
        "views": views,
        "styles": styles,
        "markers": {m: {"d": marker_commands(m), "filled": marker_filled(m)} for m in markers},
        "legends": legends,
        "frames": encoded,
        "index": index,
    }


def _background_svg(explorer: Explorer, view: View, specs: Sequence[dict], salt: str) -> tuple[str, list[list[float]]]:
    with mpl.rc_context({**RC, "svg.hashsalt": salt}):
        fig, axes = new_figure(explorer)
        draw_view(axes, view, specs)
        fig.canvas.draw()  # runs the layout and applies the aspect ratios, then the layout is frozen, so
        fig.set_layout_engine("none")  # the exported boxes are where the SVG's panels are
        w, h = explorer.figsize[0] * 72, explorer.figsize[1] * 72
        boxes = []
        for ax in axes.values():
            pos = ax.get_position(original=False)
            boxes.append([round(pos.x0 * w, 3), round((1 - pos.y1) * h, 3),
                          round(pos.width * w, 3), round(pos.height * h, 3)])
        buf = io.StringIO()
        fig.savefig(buf, format="svg", dpi=DPI, metadata={"Date": None, "Creator": None, "Format": None,
                                                           "Type": None})
    return compact_svg(buf.getvalue()), boxes


def static_html(explorer: Explorer) -> str:
    """The self-contained static rendering: markup, the JSON payload, the viewer's CSS and JS."""
    payload = explorer.payload()
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).replace("</", "<\\/")
    uid = f"lx-{explorer.name}-{next(_counter)}"
    controls = []
    for n, (k, c) in enumerate(explorer.controls.items()):
        label = html.escape(c.label or k)
        cid = f"{uid}-{k}"
        d = c.default_index
        texts = [c.text(v) for v in c.values]
        if len(c.values) == 1:
            controls.append(f'<div class="lx-control lx-fixed"><span class="lx-label">{label}</span> '
                            f'<output data-readout="{n}">{html.escape(texts[0])}</output></div>')
        elif c.numeric:
            controls.append(
                f'<div class="lx-control"><label for="{cid}">{label}</label>'
                f'<input type="range" id="{cid}" min="0" max="{len(c.values) - 1}" step="1" value="{d}" '
                f'data-control="{n}" aria-valuetext="{html.escape(texts[d])}">'
                f'<output for="{cid}" data-readout="{n}">{html.escape(texts[d])}</output></div>')
        else:
            options = "".join(f'<option value="{i}"{" selected" if i == d else ""}>{html.escape(t)}</option>'
                              for i, t in enumerate(texts))
            controls.append(f'<div class="lx-control"><label for="{cid}">{label}</label>'
                            f'<select id="{cid}" data-control="{n}">{options}</select></div>')
    w, h = payload["size"]
    caption = html.escape(explorer.caption)
    return (
        f'<figure class="lx tex2jax_ignore mathjax_ignore" id="{uid}" data-explorer="{explorer.name}">'
        f'<div class="lx-controls" role="group" aria-label="controls">{"".join(controls)}</div>'
        f'<div class="lx-scroll" tabindex="0">'
        f'<div class="lx-plot" role="img" aria-label="{caption or html.escape(explorer.name)}">'
        f'<div class="lx-bg"></div><svg class="lx-fg" viewBox="0 0 {w} {h}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-hidden="true"></svg></div></div>'
        f'<div class="lx-legend"></div><div class="lx-text" aria-live="polite"></div>'
        f'{f"<figcaption>{caption}</figcaption>" if caption else ""}'
        f'<script type="application/json" class="lx-data">{data}</script>'
        f"<style>{_asset('explorer.css')}</style><script>{_asset('explorer.js')}</script></figure>"
    )



_counter = itertools.count()


def compact_svg(svg: str) -> str:
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)
    svg = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r"<svg\1", svg, count=1)
    # A tenth of a point is below a pixel, so coordinates inside tags keep one decimal (base64 image data has
    # no '.'); the text between tags (tick labels such as "0.05") is left exactly as matplotlib wrote it.
    svg = re.sub(r"<[^>]*>", lambda tag: re.sub(r"(\d\.\d)\d+", r"\1", tag.group(0)), svg)
    return re.sub(r"\n\s*", "\n", svg).strip()


@cache
def _asset(name: str) -> str:
    return resources.files("lib").joinpath("static", name).read_text(encoding="utf-8")

