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
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextToPath
from matplotlib.ticker import Formatter, MaxNLocator

from lib.viz.declaration import LINESTYLES, Contour, Label, Line, Markers, View, panel_index
from lib.viz.plots import draw_contours

if TYPE_CHECKING:  # only for annotations: lib.viz.explorer imports this module
    from lib.viz.explorer import Explorer

__all__ = ["DPI", "MIN_TEXT_PX", "RC", "SHOWN_WIDTH_PX", "SameStepLocator", "SpacedLocator", "draw_view", "min_text_pt",
           "new_figure", "text_rc", "text_width_pt", "wrap_to_width"]

DPI = 100
# The page's figure captions are 14 px (0.875rem, ``_assets/book.css``); an explorer's smallest text is as large.
MIN_TEXT_PX = 14.0
# Width in CSS pixels of an explorer's plot at a 1280-px viewport: the theme's 688-px article column less the
# explorer card's padding (0.5em of 0.9rem each side, ``lib/static/explorer.css``). The 136 % widening of
# ``_assets/book.css`` is for images only; explorers stay in the column. Measured in Chromium: 673.6 px.
SHOWN_WIDTH_PX = 688.0 - 2 * 0.5 * 0.9 * 16
# Room between the figure's edge and its outermost text, in font sizes of the smallest text (see new_figure).
EDGE_PAD_EM = 0.9
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


_TEXT = TextToPath()


def text_width_pt(text: str, size: float) -> float:
    """The width in points of ``text`` set at ``size`` points in the explorers' font (any backend)."""
    return _TEXT.get_text_width_height_descent(text, FontProperties(family=RC["font.family"], size=size),
                                               ismath=False)[0]


class SpacedLocator(MaxNLocator):
    """Matplotlib's automatic ticks for a horizontal axis, but never so many that the labels run together
    ("−1.00−0.75−0.50"): matplotlib spaces them by three font sizes whatever their width, and five-character
    labels are nearly that wide. Fewer ticks until the widest label, plus :attr:`GAP` font sizes, fits between
    two of them."""

    GAP = 0.8  # font sizes between two labels, at least

    def __init__(self):
        super().__init__(nbins="auto", steps=[1, 2, 2.5, 5, 10])

    def __call__(self):
        lo, hi = sorted(self.axis.get_view_interval())
        size = FontProperties(size=self.axis.get_tick_params().get("labelsize", mpl.rcParams["xtick.labelsize"]))
        size = size.get_size_in_points()
        length = self.axis.axes.get_window_extent().width * 72 / self.axis.figure.dpi  # points
        formatter = self.axis.get_major_formatter()
        n = max(min(self.axis.get_tick_space(), 9), 1)  # what MaxNLocator(nbins="auto") starts from
        while True:
            self.set_params(nbins=n)
            ticks = self.tick_values(lo, hi)
            shown = ticks[(ticks >= lo - 1e-12 * abs(hi - lo)) & (ticks <= hi + 1e-12 * abs(hi - lo))]
            if n == 1 or len(shown) < 2:
                return self.raise_if_exceeds(ticks)
            formatter.set_locs(shown)
            widest = max(text_width_pt(label, size) for label in formatter.format_ticks(shown))
            spacing = length * float(np.min(np.diff(shown))) / (hi - lo)
            if widest + self.GAP * size <= spacing:
                return self.raise_if_exceeds(ticks)
            n -= 1


class SameStepLocator(MaxNLocator):
    """The y ticks of a map (an equal-aspect panel: two coordinates of one space) at the x axis's step, so that
    both axes read alike ("−10, −5, 0" on both, not "−10.0, −7.5, −5.0" on one of them)."""

    def __call__(self):
        lo, hi = sorted(self.axis.get_view_interval())
        x = np.asarray(self.axis.axes.xaxis.get_majorticklocs(), dtype=float)
        if len(x) < 2 or not hi > lo:
            return super().__call__()
        step = float(np.min(np.diff(x)))
        if (hi - lo) / step > 12:  # a much taller map: matplotlib's own choice
            return super().__call__()
        first = np.ceil(lo / step - 1e-9) * step
        return self.raise_if_exceeds(np.round(np.arange(first, hi + 1e-9 * step, step), 12))


def new_figure(explorer: Explorer) -> tuple[Figure, dict[str, Any]]:
    """An Agg figure with one axes per panel of ``explorer``, side by side: ``(figure, {panel name: axes})``."""
    sizes = text_rc(explorer.figsize[0])
    with mpl.rc_context(sizes):
        fig = Figure(figsize=explorer.figsize, dpi=DPI, layout="constrained" if explorer.layout is None else None)
        FigureCanvasAgg(fig)
        if explorer.layout is None:
            # Constrained layout fits the ink of the text (Agg's extents); a browser's box of the same SVG text is
            # the font's line box, taller by about half a font size (a superscript's more): "10¹⁹" at the top of
            # the initialization explorer's axis reached 7 px above the figure. The pad leaves that room.
            pad = EDGE_PAD_EM * sizes["xtick.labelsize"] / 72
            fig.get_layout_engine().set(w_pad=pad, h_pad=pad, wspace=0.04)
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
    _fit_titles(axes)
    _drop_colliding_tick_labels(axes)
    return [a for ax in axes.values() for a in ax.get_children() if id(a) not in before]


def _fit_titles(axes: Mapping[str, Any]) -> None:
    """Break a panel's title onto more lines where it is wider than its panel. Constrained layout centres a title
    over its axes and does not keep a wider one inside the figure: batch size's "Path over the contours of
    L(w, b)" began 11 px left of the figure's edge and was cut off on the page. Wrapping makes the title taller,
    the layout then shrinks an equal-aspect panel, so the check repeats on the new layout."""
    figure = next(iter(axes.values())).figure
    for _ in range(4):
        figure.canvas.draw()  # the layout and the aspect ratios decide each panel's width
        renderer = figure.canvas.get_renderer()
        wrapped = False
        for ax in axes.values():
            title = ax.title
            room = ax.get_window_extent(renderer).width * 72 / figure.dpi  # points
            if not title.get_text() or title.get_window_extent(renderer).width * 72 / figure.dpi <= room:
                continue
            lines = wrap_to_width(title.get_text().replace("\n", " "), room, title.get_fontsize())
            if lines != title.get_text():
                title.set_text(lines)
                wrapped = True
        if not wrapped:
            return


# How far around its ink a tick label's box reaches in a browser (the font's line box), in font sizes: the
# margin that keeps two labels apart on the page when Agg sees them just clear of each other.
_BROWSER_BOX_EM = (0.1, 0.25)  # horizontal, vertical


class _WithoutLabels(Formatter):
    """An axis's own tick formatter, except that the labels at ``omit`` are blank."""

    def __init__(self, base: Formatter, omit: Sequence[float]):
        self.base, self.omit = base, tuple(omit)

    def set_axis(self, axis):
        super().set_axis(axis)
        self.base.set_axis(axis)

    def set_locs(self, locs):
        super().set_locs(locs)
        self.base.set_locs(locs)

    def get_offset(self):
        return self.base.get_offset()

    def __call__(self, x, pos=None):
        if any(math.isclose(x, v, rel_tol=1e-9, abs_tol=1e-12) for v in self.omit):
            return ""
        return self.base(x, pos)


def _shown_tick_labels(axis, renderer) -> list[tuple[float, Any]]:
    """``(value, window box)`` of the tick labels that ``axis`` draws (a tick outside the view is not drawn)."""
    lo, hi = sorted(axis.get_view_interval())
    out = []
    for tick in axis.get_major_ticks():
        value = tick.get_loc()
        inside = lo - 1e-9 * (hi - lo) <= value <= hi + 1e-9 * (hi - lo)
        if inside and tick.label1.get_visible() and tick.label1.get_text():
            out.append((value, tick.label1.get_window_extent(renderer)))
    return out


def _drop_colliding_tick_labels(axes: Mapping[str, Any]) -> None:
    """Blank the y tick labels that a figure's x tick labels run into: on a map whose axes both start at −2 the two
    "−2" labels meet at the corner, and a panel's last x label can reach the next panel's lowest y label. The x
    labels stay (they are spaced by :class:`SpacedLocator`); the y axis loses the label, not the tick."""
    figure = next(iter(axes.values())).figure
    renderer = figure.canvas.get_renderer()
    x_boxes = [box for ax in axes.values() for _, box in _shown_tick_labels(ax.xaxis, renderer)]
    for ax in axes.values():
        em = ax.yaxis.get_major_ticks()[0].label1.get_fontsize() * figure.dpi / 72
        dx, dy = (k * em for k in _BROWSER_BOX_EM)
        omit = [value for value, box in _shown_tick_labels(ax.yaxis, renderer)
                if any(min(box.x1, b.x1) - max(box.x0, b.x0) > -2 * dx
                       and min(box.y1, b.y1) - max(box.y0, b.y0) > -2 * dy for b in x_boxes)]
        if omit:
            ax.yaxis.set_major_formatter(_WithoutLabels(ax.yaxis.get_major_formatter(), omit))


def wrap_to_width(text: str, width: float, size: float) -> str:
    """``text`` broken at spaces (never inside ``$…$`` mathtext) into the fewest lines of at most ``width`` points
    at ``size`` points; a word wider than that stays whole on its own line."""
    words = re.findall(r"(?:[^\s$]|\$[^$]*\$)+", text)
    lines: list[str] = []
    for word in words:
        if lines and text_width_pt(f"{lines[-1]} {word}", size) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return "\n".join(lines)


def _draw_view(axes: Mapping[str, Any], view: View, specs: Sequence[dict], smallest: float) -> None:
    for ax, spec in zip(axes.values(), specs, strict=True):
        ax.set_xscale(spec["xscale"])
        ax.set_yscale(spec["yscale"])
        ax.set_xlim(*spec["xlim"])
        ax.set_ylim(*spec["ylim"])
        if spec["xscale"] == "linear":
            ax.xaxis.set_major_locator(SpacedLocator())
            if spec["aspect"] == "equal" and spec["yscale"] == "linear":
                ax.yaxis.set_major_locator(SameStepLocator())
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

