r"""The live rendering of an explorer (in a kernel): ipywidgets controls over one blitted Agg figure.

The fixed parts of each view are drawn once and cached as a pixel buffer; a control change restores that
buffer, updates the existing artists with ``set_data`` and redraws only them (blitting), and sends the PNG to an
``ipywidgets.Image``. Never a new figure per change.

References:
    Matplotlib documentation, "Faster rendering by using blitting",
    https://matplotlib.org/stable/users/explain/animations/blitting.html
    Jupyter Widgets documentation, "Widget List" (``SelectionSlider``, ``Dropdown``, ``Image``),
    https://ipywidgets.readthedocs.io/en/stable/examples/Widget%20List.html
    W3C, "PNG (Portable Network Graphics) Specification", 2nd ed. (2003), §11.2 and §12.8 (palette images).
"""

from __future__ import annotations

import html
import io
import itertools
import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import IPython.display
import ipywidgets as widgets
import matplotlib as mpl
import numpy as np
import PIL.Image
from matplotlib.lines import Line2D

from lib.viz.declaration import Frame, View
from lib.viz.figure import DPI, RC, draw_view, min_text_pt, new_figure
from lib.viz.geometry import Prepared, marker_filled, prepare
from lib.viz.static import legend_entries, legend_html, text_html

if TYPE_CHECKING:  # only for annotations: lib.viz.explorer imports this module
    from lib.viz.explorer import Explorer

__all__ = ["LiveExplorer", "apply_prepared"]

PRERENDER = 24  # the live rendering draws up to this many view backgrounds when it starts, the rest on demand


class LiveExplorer:
    """The live rendering of an :class:`Explorer`: ipywidgets controls over one blitted Agg figure.

    ``controls`` maps control names to their widgets (set ``.value`` to drive it from code), ``image`` is the
    ``ipywidgets.Image`` showing the figure, ``legend`` and ``text`` are ``ipywidgets.HTML``, ``widget`` the
    whole box. ``timings`` collects the seconds each redraw took (compute + draw + PNG encoding).
    """

    def __init__(self, explorer: Explorer):
        self.explorer = explorer
        self.timings: list[float] = []
        with mpl.rc_context(RC):
            self.figure, self.axes = new_figure(explorer)
        self.canvas = self.figure.canvas
        self._frames: dict[tuple[int, ...], Frame] = {}
        self._views: dict[tuple[int, ...], tuple[View, list[dict], Any, dict]] = {}
        self._static_artists: list = []
        self._current_view: tuple[int, ...] | None = None
        self._pools: dict[tuple[int, str], list] = {}
        self.controls = {}
        for k, c in explorer.controls.items():
            options = [(c.text(v), v) for v in c.values]
            common = {"description": c.label or k, "value": c.values[c.default_index],
                      "style": {"description_width": "initial"}, "disabled": len(c.values) == 1}
            if c.numeric:
                self.controls[k] = widgets.SelectionSlider(options=options, continuous_update=True, **common)
            else:
                self.controls[k] = widgets.Dropdown(options=options, **common)
        self.image = widgets.Image(format="png", layout=widgets.Layout(width="100%",
                                   max_width=f"{int(explorer.figsize[0] * DPI)}px"))
        self.legend = widgets.HTML()
        self.text = widgets.HTML()
        box = widgets.Layout(display="flex", flex_flow="row wrap")
        parts = [widgets.Box(list(self.controls.values()), layout=box), self.image, self.legend, self.text]
        if explorer.caption:
            parts.append(widgets.HTML(f"<em>{html.escape(explorer.caption)}</em>"))
        self.widget = widgets.VBox(parts)
        for w in self.controls.values():
            w.observe(self._on_change, names="value")
        self._legends: dict[str, str] = {}
        # every background up front (a full draw each, ~0.1-0.3 s), so that no control change pays for one
        keys = list(itertools.product(*(range(len(explorer.controls[k].values)) for k in explorer.view_controls)))
        if len(keys) <= PRERENDER:
            for key in keys:
                self._enter_view(key)
        self.update()

    def _on_change(self, change):
        self.update()

    def indices(self) -> tuple[int, ...]:
        return tuple(c.values.index(self.controls[k].value) for k, c in self.explorer.controls.items())

    def set(self, **values):
        """Set several controls (each change redraws, as a reader's would)."""
        for k, v in values.items():
            if k not in self.controls:
                raise ValueError(f"Invalid control: {k!r}, expected one of {list(self.controls)}")
            self.controls[k].value = v

    def _frame(self, indices: tuple[int, ...]) -> Frame:
        if indices not in self._frames:
            self._frames[indices] = self.explorer.frame(**self.explorer.values(indices))
        return self._frames[indices]

    def _enter_view(self, key: tuple[int, ...]):
        ex = self.explorer
        if key not in self._views:
            view = ex.make_view(key)
            members = [c for c in ex.combinations() if ex.view_key(c) == key]
            specs = ex.resolve(view, lambda: (self._frame(c) for c in members))
            for artist in self._static_artists:
                artist.remove()
            for pool in self._pools.values():
                for artist in pool:
                    artist.set_visible(False)
            with mpl.rc_context(RC):
                self._static_artists = draw_view(self.axes, view, specs)
                self.canvas.draw()
            positions = {name: ax.get_position(original=False) for name, ax in self.axes.items()}
            self._views[key] = (view, specs, self.canvas.copy_from_bbox(self.figure.bbox), positions)
        else:
            for name, ax in self.axes.items():
                ax.set_position(self._views[key][3][name], which="active")
        self._current_view = key

    def _artist(self, panel: int, kind: str, n: int):
        pool = self._pools.setdefault((panel, kind), [])
        while len(pool) <= n:
            ax = list(self.axes.values())[panel]
            with mpl.rc_context(RC):
                if kind == "t":
                    artist = ax.text(0, 0, "", transform=ax.transAxes)
                else:
                    artist = Line2D([], [], transform=ax.transAxes)
                    ax.add_line(artist)
            artist.set_visible(False)
            artist.set_in_layout(False)
            pool.append(artist)
        return pool[n]

    def update(self):
        """Redraw for the widgets' current values: restore the view's cached background, update the pooled
        artists in place, draw only them, encode the PNG."""
        start = time.perf_counter()
        indices = self.indices()
        key = self.explorer.view_key(indices)
        if key != self._current_view:
            self._enter_view(key)
        view, specs, background, _ = self._views[key]
        frame = self._frame(indices)
        prepared = prepare(frame, specs, self.explorer.names, min_text_pt(self.explorer.figsize[0]))
        used: dict[tuple[int, str], int] = {}
        drawn = []
        for item in prepared:
            n = used.get((item.panel, item.kind), 0)
            used[(item.panel, item.kind)] = n + 1
            artist = self._artist(item.panel, item.kind, n)
            apply_prepared(artist, item)
            drawn.append(artist)
        for (panel, kind), pool in self._pools.items():
            for artist in pool[used.get((panel, kind), 0):]:
                artist.set_visible(False)
        self.canvas.restore_region(background)
        axes = list(self.axes.values())
        for artist, item in zip(drawn, prepared, strict=True):
            axes[item.panel].draw_artist(artist)
        self.image.value = _png(self.canvas)
        entries = legend_entries(view.items, prepared)
        key = json.dumps(entries, sort_keys=True)
        if key not in self._legends:
            self._legends[key] = legend_html(entries)
        self.legend.value = self._legends[key]
        self.text.value = text_html(frame.text)
        self.timings.append(time.perf_counter() - start)

    def _ipython_display_(self):
        IPython.display.display(self.widget)


def _joined(runs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    if not runs:
        return np.empty(0), np.empty(0)
    gap = np.full((1, 2), np.nan)
    points = np.concatenate([part for run in runs for part in (run, gap)][:-1])
    return points[:, 0], points[:, 1]


def apply_prepared(artist, item: Prepared):
    s = item.style
    artist.set_visible(True)
    if item.kind == "t":
        (u, v), = item.runs
        artist.set_position((u, v))
        artist.set_text(item.text)
        artist.set_color(s["c"])
        artist.set_fontsize(s["fs"])
        artist.set_horizontalalignment(s["ha"])
        artist.set_verticalalignment(s["va"])
        return
    x, y = _joined(item.runs)
    artist.set_data(x, y)
    artist.set_color(s["c"])
    artist.set_alpha(s["a"])
    if item.kind == "l":
        artist.set_linestyle(s["ls"])
        artist.set_linewidth(s["w"])
        artist.set_marker(s["m"] or "None")
        artist.set_markersize(s["ms"])
        artist.set_clip_on(True)
    else:
        artist.set_linestyle("None")
        artist.set_marker(s["m"])
        artist.set_markersize(s["ms"])
        artist.set_markeredgecolor(s["e"] if marker_filled(s["m"]) else s["c"])
        artist.set_markeredgewidth(s["ew"])
        artist.set_clip_on(s["clip"])


def _png(canvas) -> bytes:
    """The canvas as an 8-bit palette PNG: Pillow's fast octree quantizer to at most 256 colors, no dithering.

    What a reader on Binder waits for is the bytes of each move: for an 800 × 340 surface explorer this is about
    30 kB instead of about 95 kB as an RGB PNG (``benchmarks/live_payload.py``), for about 6 ms more CPU per move.
    Plot colors are flat, so only the shades of antialiased edges are merged; text and lines stay as drawn.
    """
    rgba = np.asarray(canvas.buffer_rgba())
    image = PIL.Image.fromarray(np.ascontiguousarray(rgba[..., :3])).quantize(
        256, method=PIL.Image.Quantize.FASTOCTREE, dither=PIL.Image.Dither.NONE)
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=6)
    return out.getvalue()
