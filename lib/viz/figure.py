r"""The matplotlib side of an explorer, shared by both renderings: one figure style, the figure and its axes,
and the fixed background of a :class:`~lib.viz.declaration.View` (axes, labels, contour fields).

The static rendering saves that background once per view as SVG; the live rendering draws it once per view
and caches the pixels. Both use :data:`RC`, the explorers' figure style.

Type sizes. The static rendering's SVG is ``72 * figsize`` points wide and is scaled to the width of the page's
column, so its text shows at ``size * SHOWN_WIDTH_PX / (72 * width)`` CSS pixels: an explorer's text size in points
depends on its width in inches. :func:`text_rc` gives the sizes that make the smallest text (tick labels)
:data:`MIN_TEXT_PX` at a 1280-px viewport, as large as the page's figure captions; :func:`new_figure` and
:func:`draw_view` apply them (ticks, axis labels, titles, labels and whatever a view's ``draw`` adds).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from lib.viz.declaration import LINESTYLES, Contour, Label, Line, Markers, View, panel_index
from lib.viz.plots import draw_contours

if TYPE_CHECKING:  # only for annotations: lib.viz.explorer imports this module
    from lib.viz.explorer import Explorer

__all__ = ["DPI", "MIN_TEXT_PX", "RC", "SHOWN_WIDTH_PX", "draw_view", "min_text_pt", "new_figure", "text_rc"]

DPI = 100
# The page's figure captions are 14 px (0.875rem, ``_assets/book.css``); an explorer's smallest text is as large.
MIN_TEXT_PX = 14.0
# Width in CSS pixels of an explorer's plot at a 1280-px viewport: the theme's 688-px article column less the
# explorer card's padding (0.5em of 0.9rem each side, ``lib/static/explorer.css``). The 136 % widening of
# ``_assets/book.css`` is for images only; explorers stay in the column. Measured in Chromium: 673.6 px.
SHOWN_WIDTH_PX = 688.0 - 2 * 0.5 * 0.9 * 16
# Sizes relative to the smallest text (tick labels): body text, axis labels and titles a little larger.
_TEXT_STEPS = {"xtick.labelsize": 1.0, "ytick.labelsize": 1.0, "legend.fontsize": 1.0, "font.size": 1.0,
               "axes.labelsize": 1.06, "axes.titlesize": 1.06, "figure.titlesize": 1.06}


def min_text_pt(width: float) -> float:
    """The smallest type size in points that an explorer ``width`` inches wide may draw: :data:`MIN_TEXT_PX` on
    the page at a 1280-px viewport (rounded up to a tenth of a point)."""
    return math.ceil(MIN_TEXT_PX * 72 * width / SHOWN_WIDTH_PX * 10 - 1e-9) / 10


def text_rc(width: float) -> dict[str, float]:
    """The type sizes (``rcParams``) of an explorer ``width`` inches wide, the smallest :func:`min_text_pt`."""
    smallest = min_text_pt(width)
    return {key: round(smallest * step, 1) for key, step in _TEXT_STEPS.items()}


RC = {
    "font.family": "DejaVu Sans",
    **text_rc(8.0),  # the default width; each explorer's figure uses text_rc(its own width)
    "axes.linewidth": 0.8,
    "svg.fonttype": "none",  # text stays text in the SVG: small, selectable, scalable
}


def new_figure(explorer: Explorer) -> tuple[Figure, dict[str, Any]]:
    """An Agg figure with one axes per panel of ``explorer``, side by side: ``(figure, {panel name: axes})``."""
    sizes = text_rc(explorer.figsize[0])
    with mpl.rc_context(sizes):
        fig = Figure(figsize=explorer.figsize, dpi=DPI, layout="constrained" if explorer.layout is None else None)
        FigureCanvasAgg(fig)
        if explorer.layout is None:
            fig.get_layout_engine().set(w_pad=0.04, h_pad=0.04, wspace=0.04)
        grid = fig.add_gridspec(1, len(explorer.panels), width_ratios=explorer.width_ratios,
                                **(explorer.layout or {}))
        axes = {p.name: fig.add_subplot(grid[0, i]) for i, p in enumerate(explorer.panels)}
    for ax in axes.values():  # ticks are made when the figure is drawn, outside this context: fix their size now
        ax.tick_params(which="both", labelsize=sizes["xtick.labelsize"])
    return fig, axes


def draw_view(axes: Mapping[str, Any], view: View, specs: Sequence[dict]) -> list:
    """Draw the fixed part of a view on the resolved panel ``specs``; returns the artists it added (the live
    rendering removes them later)."""
    before = {id(a) for ax in axes.values() for a in ax.get_children()}
    width = next(iter(axes.values())).figure.get_figwidth()
    with mpl.rc_context(text_rc(width)):  # set_title and a view's draw read the sizes from rcParams
        _draw_view(axes, view, specs, min_text_pt(width))
    return [a for ax in axes.values() for a in ax.get_children() if id(a) not in before]


def _draw_view(axes: Mapping[str, Any], view: View, specs: Sequence[dict], smallest: float) -> None:
    for ax, spec in zip(axes.values(), specs, strict=True):
        ax.set_xscale(spec["xscale"])
        ax.set_yscale(spec["yscale"])
        ax.set_xlim(*spec["xlim"])
        ax.set_ylim(*spec["ylim"])
        ax.set_autoscale_on(False)
        ax.set_xlabel(spec["xlabel"])
        ax.set_ylabel(spec["ylabel"])
        ax.set_title(spec["title"])
        ax.set_aspect("equal" if spec["aspect"] == "equal" else "auto", adjustable="box")
        if spec["grid"]:
            ax.grid(True, color="0.9", linewidth=0.6)
        else:
            ax.grid(False)
        ax.set_axisbelow(True)
    names = list(axes)
    for item in view.items:
        ax = axes[names[panel_index(item.panel, names)]]
        if isinstance(item, Contour):
            draw_contours(ax, item.x, item.y, item.z, item.levels, filled=item.filled)
        elif isinstance(item, Line):
            ax.plot(item.x, item.y, color=item.color, linestyle=LINESTYLES[item.style], lw=item.width,
                    marker=item.marker, ms=item.markersize, alpha=item.alpha)
        elif isinstance(item, Markers):
            ax.plot(item.x, item.y, linestyle="none", marker=item.marker, ms=item.size, color=item.color,
                    mec=item.color if item.edgecolor is None else item.edgecolor, mew=item.edgewidth,
                    alpha=item.alpha, clip_on=not item.clamp)
        elif isinstance(item, Label):
            ax.text(item.x, item.y, item.text, color=item.color, fontsize=max(item.size or 0.0, smallest), ha=item.ha,
                    va=item.va,
                    transform=ax.transAxes if item.coords == "axes" else ax.transData)
        else:
            raise ValueError(f"Invalid view item: {item!r}")
    if view.draw is not None:
        view.draw(dict(axes))

