r"""The matplotlib side of an explorer, shared by both renderings: one figure style, the figure and its axes,
and the fixed background of a :class:`~lib.viz.declaration.View` (axes, labels, contour fields).

The static rendering saves that background once per view as SVG; the live rendering draws it once per view
and caches the pixels. Both use :data:`RC`, the explorers' type sizes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from lib.viz.declaration import LINESTYLES, Contour, Label, Line, Markers, View, panel_index
from lib.viz.plots import draw_contours

if TYPE_CHECKING:  # only for annotations: lib.viz.explorer imports this module
    from lib.viz.explorer import Explorer

__all__ = ["DPI", "RC", "draw_view", "new_figure"]

DPI = 100
RC = {
    "font.family": "DejaVu Sans",
    "font.size": 8.5,
    "axes.titlesize": 9.0,
    "axes.labelsize": 9.0,
    "xtick.labelsize": 8.0,
    "ytick.labelsize": 8.0,
    "axes.linewidth": 0.8,
    "svg.fonttype": "none",  # text stays text in the SVG: small, selectable, scalable
}


def new_figure(explorer: Explorer) -> tuple[Figure, dict[str, Any]]:
    """An Agg figure with one axes per panel of ``explorer``, side by side: ``(figure, {panel name: axes})``."""
    fig = Figure(figsize=explorer.figsize, dpi=DPI, layout="constrained" if explorer.layout is None else None)
    FigureCanvasAgg(fig)
    if explorer.layout is None:
        fig.get_layout_engine().set(w_pad=0.04, h_pad=0.04, wspace=0.04)
    grid = fig.add_gridspec(1, len(explorer.panels), width_ratios=explorer.width_ratios, **(explorer.layout or {}))
    axes = {p.name: fig.add_subplot(grid[0, i]) for i, p in enumerate(explorer.panels)}
    return fig, axes


def draw_view(axes: Mapping[str, Any], view: View, specs: Sequence[dict]) -> list:
    """Draw the fixed part of a view on the resolved panel ``specs``; returns the artists it added (the live
    rendering removes them later)."""
    before = {id(a) for ax in axes.values() for a in ax.get_children()}
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
            ax.text(item.x, item.y, item.text, color=item.color, fontsize=item.size, ha=item.ha, va=item.va,
                    transform=ax.transAxes if item.coords == "axes" else ax.transData)
        else:
            raise ValueError(f"Invalid view item: {item!r}")
    if view.draw is not None:
        view.draw(dict(axes))
    return [a for ax in axes.values() for a in ax.get_children() if id(a) not in before]

