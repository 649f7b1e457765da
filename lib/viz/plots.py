r"""Matplotlib helpers shared by the chapters and the explorers: one look for every figure of the book.

* :func:`surface_grid` and :func:`contour_levels`: a surface sampled on a grid, and contour levels that
  follow its shape (quantiles of the sampled values, denser near the bottom, so basins get rings whatever the
  scale of :math:`f`);
* :func:`draw_contours`: filled light bands plus thin grey lines (the explorers' backgrounds use it too);
* :func:`plot_surface`: contours of a :class:`~lib.surfaces.Surface` with its critical points marked by kind;
* :func:`plot_trajectories` and :func:`plot_loss`: the paths of :func:`lib.trajectories.run` and their loss,
  a divergence shown as a cross on the edge of the axes and said in the legend, never as a blank plot;
* :func:`plot_curves`: labelled curves, e.g. learning-rate schedules;
* :func:`plot_band` (and :func:`band_bounds`): the centre of repeated runs (mean or median over seeds) with a
  shaded band (min–max, ± one standard deviation, or between two percentiles);
* :func:`plot_heatmap`: a quantity over a 2-D grid of settings, e.g. the rate over :math:`(\eta, \beta)`, the cells
  that did not converge greyed out, with a labelled colorbar and an optional optimum marker;
* :func:`plot_gradient_field`: arrows of :math:`-\nabla f` over a surface's contours, the way water runs;
* :func:`plot_basins`: a grid of starts coloured by where each run ended (the basins of attraction).

References:
    J. D. Hunter (2007), Matplotlib: a 2D graphics environment, Computing in Science & Engineering 9(3).
    S. Ruder (2016), An overview of gradient descent optimization algorithms, arXiv:1609.04747.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import contourpy
import matplotlib
import numpy as np
from matplotlib import cbook
from matplotlib.colors import LinearSegmentedColormap, to_hex
from matplotlib.lines import Line2D

from lib.viz.declaration import Markers
from lib.viz.legibility import record_text_size

__all__ = [
    "CRITICAL_STYLE",
    "FIGURE_WIDTH",
    "MIN_TEXT_PT",
    "NOT_CONVERGED",
    "PALETTE",
    "STYLE",
    "Band",
    "Heatmap",
    "band_bounds",
    "contour_levels",
    "critical_point_items",
    "draw_contours",
    "loss_gap",
    "plot_band",
    "plot_basins",
    "plot_curves",
    "plot_gradient_field",
    "plot_heatmap",
    "plot_loss",
    "plot_surface",
    "plot_trajectories",
    "surface_grid",
    "use_style",
]

# the book's one figure style, set by importing lib.viz (chapters do not touch rcParams); the explorers' own
# figures use lib.viz.figure.RC on top of it
# Text sizes: a figure is at most FIGURE_WIDTH wide, so that it is shown at its natural size in the page's column at
# 1280 px, where MIN_TEXT_PT = 10.5 pt at 100 dpi are 14.6 px, above the 14-px captions (``_assets/book.css``); the
# site's test ``test_reader.py`` checks every figure against its page's caption text. A figure that sets a size
# itself (a smaller title, the numbers of a heat map's cells) uses MIN_TEXT_PT, never a smaller literal.
FIGURE_WIDTH = 9.2
MIN_TEXT_PT = 10.5
STYLE = {"figure.dpi": 100, "font.size": 11, "axes.titlesize": 11.5, "axes.labelsize": 11,
         "xtick.labelsize": MIN_TEXT_PT, "ytick.labelsize": MIN_TEXT_PT, "legend.fontsize": MIN_TEXT_PT,
         "legend.title_fontsize": MIN_TEXT_PT, "figure.titlesize": 11.5}


def use_style() -> None:
    """Set :data:`STYLE` in matplotlib's ``rcParams`` (done once when :mod:`lib.viz` is imported), and in a
    notebook make each figure's PNG carry the size of its smallest text (:mod:`lib.viz.legibility`)."""
    matplotlib.rcParams.update(STYLE)
    record_text_size()


# matplotlib's tab10, as hex: the colors of starts, optimizers and curves in every figure and explorer;
# red is kept for divergence
PALETTE = tuple(to_hex(f"C{i}") for i in (0, 1, 2, 4, 5, 6, 8, 9, 7))
CONTOUR_CMAP = LinearSegmentedColormap.from_list("lib_contours", ["#c6d3e1", "#fbfbf7"])
CONTOUR_LINE = "#8a8f99"
DIVERGED = to_hex("C3")
# the cells of a heat map where a run did not converge (diverged, or a rate >= 1)
NOT_CONVERGED = "#bdbdbd"
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
    """The surface's critical points as explorer :class:`~lib.viz.declaration.Markers`, one item per kind."""
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
        ax.legend(loc="upper right")
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
    ax.legend()
    return ax


def _line_kw(kw: Mapping[str, Any] | None, **defaults) -> dict:
    """``defaults`` updated by ``kw``, aliases (``lw``, ``ms``, ``mec``, ...) resolved, so either spelling wins."""
    return {**cbook.normalize_kwargs(defaults, Line2D), **cbook.normalize_kwargs(dict(kw or {}), Line2D)}


# ------------------------------------------------------------------------------------------- repeated runs


class Band(NamedTuple):
    """What :func:`plot_band` drew."""

    line: Any  # matplotlib Line2D: the centre curve (carries the legend label)
    fill: Any  # matplotlib PolyCollection: the band between the lower and the upper edge


def band_bounds(samples, *, axis: int = 0, center="mean", spread="minmax",
                skipna: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""``(center, lo, hi)`` of repeated runs: ``samples`` holds the repeats (e.g. seeds) along ``axis``.

    ``center`` is ``"mean"``, ``"median"`` or an array (a centre computed elsewhere, e.g. a median a
    :mod:`lib` function reports). ``spread`` is

    * ``"minmax"``: :math:`[\min_s x_s, \max_s x_s]`, every repeat inside the band;
    * ``"std"``: :math:`c \pm \sigma` with :math:`\sigma^2 = \frac1S\sum_s (x_s - \bar x)^2`;
    * a pair ``(p_lo, p_hi)`` of percentiles in :math:`[0, 100]`, e.g. ``(25, 75)``, the interquartile range.

    With ``skipna`` NaN repeats (diverged seeds) are left out; where every repeat is NaN all three are NaN,
    without a warning. Without it a NaN repeat makes that position NaN (a gap in the curve and the band).

    References:
        J. W. Tukey (1977), Exploratory Data Analysis, Addison-Wesley (quartiles and the box plot).
    """
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim == 0:
        raise ValueError("Invalid samples: expected an array with the repeats along `axis`")
    stats = {"mean": np.nanmean if skipna else np.mean, "median": np.nanmedian if skipna else np.median,
             "min": np.nanmin if skipna else np.min, "max": np.nanmax if skipna else np.max,
             "std": np.nanstd if skipna else np.std, "percentile": np.nanpercentile if skipna else np.percentile}
    if isinstance(center, str) and center not in ("mean", "median"):
        raise ValueError(f"Invalid center: {center!r} (expected 'mean', 'median' or an array)")
    if isinstance(spread, str):
        if spread not in ("minmax", "std"):
            raise ValueError(f"Invalid spread: {spread!r} (expected 'minmax', 'std' or a pair of percentiles)")
    elif not (np.shape(spread) == (2,) and 0.0 <= spread[0] <= spread[1] <= 100.0):
        raise ValueError(f"Invalid spread: {spread!r} (expected 'minmax', 'std' or a pair of percentiles "
                         "0 <= lo <= hi <= 100)")
    with warnings.catch_warnings():
        # an all-NaN position (every seed diverged) is reported as NaN, which is what the plot should show
        warnings.simplefilter("ignore", RuntimeWarning)
        if isinstance(center, str):
            c = stats[center](samples, axis=axis)
        else:
            c = np.asarray(center, dtype=np.float64)
            expected = np.delete(samples.shape, axis % samples.ndim)
            if c.shape != tuple(expected):
                raise ValueError(f"Invalid center shape: {c.shape} (expected {tuple(expected)})")
        if isinstance(spread, str) and spread == "minmax":
            lo, hi = stats["min"](samples, axis=axis), stats["max"](samples, axis=axis)
        elif isinstance(spread, str):
            sigma = stats["std"](samples, axis=axis)
            lo, hi = c - sigma, c + sigma
        else:
            lo, hi = stats["percentile"](samples, [spread[0], spread[1]], axis=axis)
    return c, lo, hi


def plot_band(ax, x, samples, *, axis: int = 0, center="mean", spread="minmax", skipna: bool = False,
              color=None, label: str | None = None, alpha: float = 0.15, **line_kw) -> Band:
    """The centre of repeated runs as a curve and their spread as a shaded band of the same colour.

    ``samples`` holds the repeats along ``axis`` (one row per seed: ``axis=0``); ``center``, ``spread`` and
    ``skipna`` as in :func:`band_bounds`. ``line_kw`` style the curve (``lw``, ``ls``, ``marker``, ...); only
    the curve carries ``label``, so a legend shows one entry per band. Say in the title or the legend what the
    band is ("band: min–max of 3 seeds").
    """
    c, lo, hi = band_bounds(samples, axis=axis, center=center, spread=spread, skipna=skipna)
    color = PALETTE[0] if color is None else color
    (line,) = ax.plot(x, c, **_line_kw(line_kw, color=color, label=label, linewidth=1.6))
    fill = ax.fill_between(x, lo, hi, color=color, alpha=alpha, linewidth=0)
    return Band(line, fill)


# ------------------------------------------------------------------------------------ grids of settings


class Heatmap(NamedTuple):
    """What :func:`plot_heatmap` drew."""

    mesh: Any  # matplotlib QuadMesh
    colorbar: Any  # matplotlib Colorbar, or None
    optimum: Any  # matplotlib Line2D of the optimum marker, or None


def plot_heatmap(ax, x, y, values, *, mask=None, cmap="magma", vmin: float | None = None,
                 vmax: float | None = None, bad_color=NOT_CONVERGED, colorbar: bool = True,
                 colorbar_label: str = "", colorbar_kw: Mapping[str, Any] | None = None, optimum=None,
                 optimum_label: str | None = None, optimum_kw: Mapping[str, Any] | None = None,
                 xlabel: str | None = None, ylabel: str | None = None, title: str | None = None) -> Heatmap:
    r"""A quantity over a 2-D grid of settings, one cell per setting: ``values[j, i]`` at ``(x[i], y[j])``
    (the layout of :func:`numpy.meshgrid` and :func:`surface_grid`), e.g. the measured rate over the
    learning rate :math:`\eta` (``x``) and the momentum :math:`\beta` (``y``).

    Cells where ``mask`` is true (e.g. ``~(rate < 1)``: no convergence) and non-finite cells (NaN, inf: diverged)
    are drawn in ``bad_color``, grey, never in a colour of the scale; say so in ``colorbar_label``. The colorbar
    goes beside ``ax`` (``colorbar_kw`` go to :meth:`~matplotlib.figure.Figure.colorbar`; ``{"ax": axes}`` makes
    one colorbar for several heat maps that share ``vmin``/``vmax``). ``optimum = (x*, y*)`` marks the best
    setting with a green star (``optimum_kw`` restyle it), labelled ``optimum_label`` for the legend.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1 or values.shape != (len(y), len(x)):
        raise ValueError(f"Invalid values shape: {values.shape} (expected (len(y), len(x)) = ({len(y)}, {len(x)}))")
    bad = ~np.isfinite(values)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != values.shape:
            raise ValueError(f"Invalid mask shape: {mask.shape} (expected {values.shape})")
        bad |= mask
    colormap = (matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap).with_extremes(bad=bad_color)
    mesh = ax.pcolormesh(x, y, np.ma.masked_where(bad, values), cmap=colormap, vmin=vmin, vmax=vmax,
                         shading="nearest")
    bar = None
    if colorbar:
        kw = dict(colorbar_kw or {})
        bar = ax.figure.colorbar(mesh, ax=kw.pop("ax", ax), label=colorbar_label, **kw)
    star = None
    if optimum is not None:
        (star,) = ax.plot(*optimum, **_line_kw(optimum_kw, linestyle="none", marker="*", markersize=15,
                                               color=PALETTE[2], markeredgecolor="white", zorder=3,
                                               label=optimum_label))
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    return Heatmap(mesh, bar, star)


# ------------------------------------------------------------------------------------------------ surfaces


def plot_gradient_field(ax, surface, *, n=(21, 13), inset: float = 0.0, bounds=None, normalize: bool = True,
                        length: float | None = None, color="0.35", width: float = 0.0028, zorder: float = 1,
                        **quiver_kw):
    r"""Arrows of :math:`-\nabla f`, the direction gradient descent moves in, on an ``n`` = ``(nx, ny)`` grid
    over the surface's window (or ``bounds``) shrunk by ``inset`` (data units) on every side. Draw it over
    :func:`plot_surface`: the arrows cross the contour lines at right angles.

    With ``normalize`` every arrow has the same ``length`` (data units; default 0.8 of the smaller grid
    spacing), so the flat regions show their direction too; without it the longest arrow has ``length`` and
    the others scale with :math:`\lVert\nabla f\rVert`. At a critical point (zero gradient) there is no arrow.
    Returns the :class:`~matplotlib.quiver.Quiver`.
    """
    nx, ny = (int(n), int(n)) if np.ndim(n) == 0 else (int(n[0]), int(n[1]))
    if nx < 2 or ny < 2:
        raise ValueError(f"Invalid n: {n} (must be >= 2 in each direction)")
    (x0, x1), (y0, y1) = surface.bounds if bounds is None else bounds
    gx, gy = np.meshgrid(np.linspace(x0 + inset, x1 - inset, nx), np.linspace(y0 + inset, y1 - inset, ny))
    if length is None:
        length = 0.8 * min(abs(gx[0, 1] - gx[0, 0]), abs(gy[1, 0] - gy[0, 0]))
    if not length > 0:
        raise ValueError(f"Invalid length: {length} (must be > 0)")
    d = -np.asarray(surface.grad(np.stack([gx, gy], axis=-1)), dtype=np.float64)
    norm = np.linalg.norm(d, axis=-1, keepdims=True)
    scale = norm if normalize else np.full_like(norm, norm.max())
    d = np.divide(d, scale, out=np.zeros_like(d), where=scale > 0)
    return ax.quiver(gx, gy, length * d[..., 0], length * d[..., 1], color=color, angles="xy", scale_units="xy",
                     scale=1.0, width=width, zorder=zorder, **quiver_kw)


def plot_basins(ax, starts, groups: Mapping[str, Any], *, colors: Sequence | None = None, marker: str = "o",
                size: float = 3.6, alpha: float = 0.9, **marker_kw) -> list:
    """A grid of starts coloured by where their runs ended: ``groups`` maps a legend label (e.g.
    ``"global minimum: 212 starts"``) to a boolean mask over the rows of ``starts`` (shape ``(k, 2)``). One
    marker per start, one colour per group (``colors``, default the palette); every group gets its legend entry,
    an empty one too. ``marker_kw`` go to :meth:`~matplotlib.axes.Axes.plot` (e.g. ``zorder``). Returns the
    Line2D of each group.
    """
    starts = np.asarray(starts, dtype=np.float64)
    if starts.ndim != 2 or starts.shape[1] != 2:
        raise ValueError(f"Invalid starts shape: {starts.shape} (expected (k, 2))")
    colors = PALETTE if colors is None else colors
    lines = []
    for i, (label, hit) in enumerate(groups.items()):
        hit = np.asarray(hit, dtype=bool)
        if hit.shape != starts.shape[:1]:
            raise ValueError(f"Invalid mask shape for {label!r}: {hit.shape} (expected {starts.shape[:1]})")
        lines += ax.plot(starts[hit, 0], starts[hit, 1],
                         **_line_kw(marker_kw, linestyle="none", marker=marker, markersize=size,
                                    color=colors[i % len(colors)], alpha=alpha, label=label))
    return lines
