r"""Matplotlib helpers shared by the chapters and the explorers: one look for every figure of the book.

* :func:`surface_grid` and :func:`contour_levels`: a surface sampled on a grid, and contour levels that
  follow its shape (quantiles of the sampled values, denser near the bottom, so basins get rings whatever the
  scale of :math:`f`);
* :func:`draw_contours`: filled light bands plus thin grey lines (the explorers' backgrounds use it too);
* :func:`plot_surface`: contours of a :class:`~lib.surfaces.Surface` with its critical points marked by kind;
* :func:`plot_trajectories` and :func:`plot_loss`: the paths of :func:`lib.trajectories.run` and their loss,
  a divergence shown as a cross on the edge of the axes and said in the legend, never as a blank plot;
* :func:`plot_curves`: labelled curves, e.g. learning-rate schedules.

References:
    J. D. Hunter (2007), Matplotlib: a 2D graphics environment, Computing in Science & Engineering 9(3).
    S. Ruder (2016), An overview of gradient descent optimization algorithms, arXiv:1609.04747.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import contourpy
import numpy as np
from matplotlib.colors import LinearSegmentedColormap, to_hex

__all__ = [
    "CRITICAL_STYLE",
    "PALETTE",
    "contour_levels",
    "critical_point_items",
    "draw_contours",
    "loss_gap",
    "plot_curves",
    "plot_loss",
    "plot_surface",
    "plot_trajectories",
    "surface_grid",
]

# matplotlib's tab10, as hex: the colors of starts, optimizers and curves in every figure and explorer;
# red is kept for divergence
PALETTE = tuple(to_hex(f"C{i}") for i in (0, 1, 2, 4, 5, 6, 8, 9, 7))
CONTOUR_CMAP = LinearSegmentedColormap.from_list("lib_contours", ["#c6d3e1", "#fbfbf7"])
CONTOUR_LINE = "#8a8f99"
DIVERGED = to_hex("C3")
# marker, color, size (points) of each kind of critical point
CRITICAL_STYLE = {
    "global minimum": ("*", "#222222", 11.0),
    "local minimum": ("*", "#7f7f7f", 10.0),
    "local maximum": ("^", "#222222", 7.0),
    "saddle point": ("X", "#222222", 7.5),
    "degenerate": ("D", "#222222", 5.5),
}


def surface_grid(surface, n: int = 161, bounds=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x, y, z)``: the surface's values ``z[j, i] = f(x[i], y[j])`` on an ``n`` × ``n`` grid over ``bounds``
    (default: the surface's plotting window)."""
    if int(n) < 2:
        raise ValueError(f"Invalid n: {n} (must be >= 2)")
    (x0, x1), (y0, y1) = surface.bounds if bounds is None else bounds
    x, y = np.linspace(x0, x1, int(n)), np.linspace(y0, y1, int(n))
    xy = np.stack(np.meshgrid(x, y), axis=-1)
    return x, y, np.asarray(surface.value(xy), dtype=np.float64)


def contour_levels(z, n: int = 14) -> np.ndarray:
    r"""``n`` increasing contour levels for the sampled values ``z``: the quantiles
    :math:`q_k = Q_z\bigl((k / (n + 1))^2\bigr)`, :math:`k = 1..n`, so half of them lie in the lowest quarter
    of the values (where the minima are)."""
    z = np.asarray(z, dtype=np.float64)
    z = z[np.isfinite(z)]
    if z.size == 0:
        raise ValueError("Invalid z: no finite value")
    p = (np.arange(1, int(n) + 1) / (int(n) + 1)) ** 2
    levels = np.unique(np.quantile(z, p))
    if levels.size < 2:
        lo, hi = float(z.min()), float(z.max())
        levels = np.linspace(lo, hi if hi > lo else lo + 1.0, int(n) + 2)[1:-1]
    return levels


def draw_contours(ax, x, y, z, levels, *, filled: bool = True):
    """Light filled bands between ``levels`` (rasterized, so an SVG stays small) and thin grey lines."""
    artists = []
    if filled:
        artists.append(ax.contourf(x, y, z, levels=levels, cmap=CONTOUR_CMAP, extend="both", rasterized=True,
                                   zorder=0))
    # the lines as Line2D rather than a ContourSet: matplotlib then simplifies them when it writes an SVG
    # (path.simplify), which halves the size of an explorer's background
    generator = contourpy.contour_generator(np.asarray(x, float), np.asarray(y, float), np.asarray(z, float))
    gap = np.full((1, 2), np.nan)
    for level in levels:
        segments = generator.lines(float(level))
        if segments:
            xy = np.concatenate([part for segment in segments for part in (segment, gap)][:-1])
            artists += ax.plot(xy[:, 0], xy[:, 1], color=CONTOUR_LINE, linewidth=0.5, zorder=0.5)
    return artists


def critical_point_items(surface, panel: str | None = None) -> list:
    """The surface's critical points as explorer :class:`~lib.viz.explorer.Markers`, one item per kind."""
    from lib.viz.explorer import Markers

    items = []
    for kind, (marker, color, size) in CRITICAL_STYLE.items():
        points = [p.xy for p in surface.critical_points if p.kind == kind]
        if points:
            xy = np.array(points)
            items.append(Markers(xy[:, 0], xy[:, 1], color=color, marker=marker, size=size, edgecolor="white",
                                 edgewidth=0.6, label=kind, panel=panel))
    return items


def plot_surface(ax, surface, *, n: int = 161, levels=None, filled: bool = True, critical_points: bool = True,
                 legend: bool = False):
    """Contours of ``surface`` over its window on ``ax``, equal aspect, critical points marked by kind."""
    x, y, z = surface_grid(surface, n)
    draw_contours(ax, x, y, z, contour_levels(z) if levels is None else levels, filled=filled)
    if critical_points:
        for kind, (marker, color, size) in CRITICAL_STYLE.items():
            xy = np.array([p.xy for p in surface.critical_points if p.kind == kind]).reshape(-1, 2)
            if len(xy):
                ax.plot(xy[:, 0], xy[:, 1], linestyle="none", marker=marker, ms=size, color=color, mec="white",
                        mew=0.6, label=kind, zorder=3)
    (x0, x1), (y0, y1) = surface.bounds
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("θ₁")
    ax.set_ylabel("θ₂")
    ax.set_title(surface.label)
    if legend:
        ax.legend(loc="upper right", fontsize="small")
    return ax


def _clamped(ax, x: float, y: float) -> tuple[float, float]:
    (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
    return min(max(x, x0), x1), min(max(y, y0), y1)


def plot_trajectories(ax, traj, *, colors: Sequence | None = None, labels: Sequence[str] | None = None,
                      marker_every: int | None = None):
    """The paths of a :class:`~lib.trajectories.Trajectories`, a dot at each start and, for a start that
    diverged, a red cross at its last point inside the window (on the edge of the axes if it left it).
    Call after the limits are set (e.g. after :func:`plot_surface`)."""
    colors = PALETTE if colors is None else colors
    for i, (path, k) in enumerate(zip(traj.path, traj.diverged_at, strict=True)):
        color = colors[i % len(colors)]
        label = labels[i] if labels is not None else None
        end = len(path) if k < 0 else max(int(k), 1)
        ax.plot(path[:end, 0], path[:end, 1], color=color, lw=1.4, label=label,
                marker="o" if marker_every else None, ms=2.5, markevery=marker_every, zorder=2)
        ax.plot(*path[0], marker="o", ms=6, color=color, mec="white", mew=1.0, zorder=4)
        if k >= 0:
            ax.plot(*_clamped(ax, *path[end - 1]), marker="X", ms=8, color=DIVERGED, mec="white", mew=0.6,
                    clip_on=False, zorder=5)
    return ax


def loss_gap(traj, loss_min: float | None) -> np.ndarray:
    """``loss - loss_min`` per start and step (``loss`` itself when ``loss_min`` is None)."""
    return traj.loss if loss_min is None else traj.loss - loss_min


def plot_loss(ax, traj, *, loss_min: float | None = 0.0, colors: Sequence | None = None,
              labels: Sequence[str] | None = None, log: bool = True):
    r"""Loss (minus ``loss_min``, the optimum, so a log axis shows the rate) against the step, one curve per
    start; a diverged start ends with a red cross at the top of the axes."""
    colors = PALETTE if colors is None else colors
    gap = loss_gap(traj, loss_min)
    steps = np.arange(gap.shape[1])
    for i, (curve, k) in enumerate(zip(gap, traj.diverged_at, strict=True)):
        end = len(curve) if k < 0 else max(int(k), 1)
        ax.plot(steps[:end], curve[:end], color=colors[i % len(colors)], lw=1.4,
                label=labels[i] if labels is not None else None)
    if log:
        ax.set_yscale("log")
    for k in traj.diverged_at:
        if k >= 0:
            ax.plot(*_clamped(ax, float(k), float(ax.get_ylim()[1])), marker="X", ms=8, color=DIVERGED,
                    mec="white", mew=0.6, clip_on=False, zorder=5)
    ax.set_xlabel("step t")
    ax.set_ylabel("L(θ) − L*" if loss_min is not None else "L(θ)")
    return ax


def plot_curves(ax, curves: Mapping[str, tuple], *, xlabel: str = "", ylabel: str = "", log: bool = False,
                colors: Sequence | None = None):
    """Labelled curves ``{label: (x, y)}`` in the palette's order, with a legend."""
    colors = PALETTE if colors is None else colors
    for i, (label, (x, y)) in enumerate(curves.items()):
        ax.plot(x, y, color=colors[i % len(colors)], lw=1.6, label=label)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small")
    return ax
