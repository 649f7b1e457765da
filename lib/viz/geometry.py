r"""Geometry shared by both renderings: data coordinates to axes fractions, clipping, styles, marker shapes.

The drawing layer does no math. Both renderings go through :func:`prepare`, which maps every item to
*axes fractions* :math:`u = (x - x_{\min}) / (x_{\max} - x_{\min})` (of :math:`\log_{10} x` on a log axis),
cuts lines at non-finite values, clips them to the box :math:`[-1, 2]^2` (so a diverging path ends at the
edge instead of at :math:`10^{300}`), and clamps :class:`~lib.viz.declaration.Markers` with ``clamp=True``
onto the panel's edge (a divergence marker stays visible). :func:`auto_limits` gives a panel's range when the
declaration leaves it open.

References:
    Y.-D. Liang and B. A. Barsky (1984), A new concept and method for line clipping, ACM Transactions on
    Graphics 3(1), 1-22.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.markers import MarkerStyle

from lib.viz.declaration import LINESTYLES, Frame, Item, Label, Line, Markers, check_color, panel_index

__all__ = ["CLIP", "Prepared", "auto_limits", "item_style", "marker_commands", "marker_filled", "prepare"]

CLIP = 1.0  # lines are clipped to [-CLIP, 1 + CLIP] in axes fractions: far enough to leave the panel


@dataclass(frozen=True, eq=False)
class Prepared:
    """An item in axes fractions: ``runs`` (lists of ``(n, 2)`` arrays) for lines and markers, ``at`` for
    a label; ``panel`` is the panel's index and ``style`` a JSON-ready dict."""

    kind: str  # "l" line, "m" markers, "t" text
    panel: int
    style: dict
    runs: tuple = ()
    text: str = ""
    label: str | None = None


def _unit(v: np.ndarray, lim: tuple[float, float], scale: str) -> np.ndarray:
    lo, hi = lim
    if scale == "log":
        positive = v > 0
        lv = np.log10(np.where(positive, v, 1.0))
        return np.where(positive, (lv - math.log10(lo)) / (math.log10(hi) - math.log10(lo)), np.nan)
    return (v - lo) / (hi - lo)


def _runs(points: np.ndarray) -> list[np.ndarray]:
    """Split ``(n, 2)`` points at non-finite rows."""
    finite = np.isfinite(points).all(axis=1)
    if finite.all():
        return [points] if len(points) else []
    edges = np.flatnonzero(np.diff(np.concatenate(([0], finite.view(np.int8), [0]))))
    return [points[a:b] for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _clip_segment(p, q, lo, hi):
    """Liang–Barsky: the parameters ``(t0, t1)`` of the part of segment ``p → q`` inside the box, or None."""
    t0, t1 = 0.0, 1.0
    d = q - p
    for k in range(2):
        for num, den in ((p[k] - lo, -d[k]), (hi - p[k], d[k])):
            if den == 0.0:
                if num < 0:
                    return None
                continue
            t = num / den
            if den < 0:
                t0 = max(t0, t)
            else:
                t1 = min(t1, t)
            if t0 > t1:
                return None
    return t0, t1


def _clip(run: np.ndarray, lo: float = -CLIP, hi: float = 1.0 + CLIP) -> list[np.ndarray]:
    inside = ((run >= lo) & (run <= hi)).all(axis=1)
    if inside.all():
        return [run]
    if len(run) == 1:
        return []
    out, current = [], []
    for p, q in itertools.pairwise(run):
        span = _clip_segment(p, q, lo, hi)
        if span is None:
            if current:
                out.append(np.array(current))
                current = []
            continue
        t0, t1 = span
        if not current or t0 > 0.0:
            if current:
                out.append(np.array(current))
            current = [p + t0 * (q - p)]
        current.append(p + t1 * (q - p))
        if t1 < 1.0:
            out.append(np.array(current))
            current = []
    if current:
        out.append(np.array(current))
    return [r for r in out if len(r) > 1]


def _dash(style: str, width: float) -> list[float] | None:
    # matplotlib scales its dash patterns with the line width (lines.scale_dashes)
    name = {"--": "dashed", ":": "dotted", "-.": "dashdot"}.get(LINESTYLES[style])
    if name is None:
        return None
    pattern = mpl.rcParams[f"lines.{name}_pattern"]
    scale = width if mpl.rcParams["lines.scale_dashes"] else 1.0
    return [round(v * scale, 3) for v in pattern]


def item_style(item: Item, text_pt: float | None = None) -> dict:
    """The drawing style of ``item``; a :class:`Label` is drawn at ``text_pt`` points at least."""
    if isinstance(item, Line):
        return {"k": "l", "c": check_color(item.color), "a": item.alpha, "w": item.width,
                "d": _dash(item.style, item.width), "ls": LINESTYLES[item.style], "m": item.marker,
                "ms": item.markersize}
    if isinstance(item, Markers):
        edge = item.color if item.edgecolor is None else item.edgecolor
        return {"k": "m", "c": check_color(item.color), "e": check_color(edge), "ew": item.edgewidth,
                "m": item.marker, "ms": item.size, "a": item.alpha, "clip": not item.clamp}
    sizes = [size for size in (item.size, text_pt) if size is not None]
    if not sizes:
        raise ValueError(f"Invalid text_pt: None for a Label without a size ({item.text!r})")
    return {"k": "t", "c": check_color(item.color), "fs": max(sizes), "ha": item.ha, "va": item.va}


def prepare(frame: Frame, panels: Sequence[Mapping[str, Any]], names: Sequence[str],
            text_pt: float | None = None) -> list[Prepared]:
    """Map a frame's items to axes fractions of the resolved ``panels`` (dicts with ``xlim``, ``ylim``,
    ``xscale``, ``yscale``), cut lines at non-finite values, clip them, clamp markers that ask for it. Labels
    are drawn at ``text_pt`` points at least (their own size if larger)."""
    out = []
    for item in frame.items:
        p = panel_index(item.panel, names)
        spec = panels[p]
        style = item_style(item, text_pt)
        if isinstance(item, Label):
            if item.coords == "axes":
                u, v = float(item.x), float(item.y)
            else:
                u = float(_unit(np.array([item.x], float), spec["xlim"], spec["xscale"])[0])
                v = float(_unit(np.array([item.y], float), spec["ylim"], spec["yscale"])[0])
            if math.isfinite(u) and math.isfinite(v):
                out.append(Prepared("t", p, style, ((u, v),), item.text))
            continue
        with np.errstate(over="ignore", invalid="ignore"):
            points = np.column_stack((_unit(item.x, spec["xlim"], spec["xscale"]),
                                      _unit(item.y, spec["ylim"], spec["yscale"])))
        if isinstance(item, Markers):
            points = points[np.isfinite(points).all(axis=1)]
            if item.clamp:
                points = np.clip(points, 0.0, 1.0)
            else:
                # beyond this a marker (a few points wide) is entirely outside the panel
                points = points[((points >= -0.05) & (points <= 1.05)).all(axis=1)]
            runs = (points,) if len(points) else ()
            out.append(Prepared("m", p, style, runs, label=item.label))
        else:
            runs = tuple(clipped for run in _runs(points) for clipped in _clip(run))
            if item.marker is None:
                runs = tuple(run for run in runs if len(run) > 1)
            out.append(Prepared("l", p, style, runs, label=item.label))
    return out



def auto_limits(data: list[np.ndarray], scale: str) -> tuple[float, float]:
    v = np.concatenate(data) if data else np.empty(0)
    v = v[np.isfinite(v)]
    if scale == "log":
        v = v[v > 0]
        if not v.size:
            return (1.0, 10.0)
        lo, hi = math.log10(v.min()), math.log10(v.max())
        if hi - lo < 1e-12:
            lo, hi = lo - 1.0, hi + 1.0
        pad = 0.05 * (hi - lo)
        return (10 ** (lo - pad), 10 ** (hi + pad))
    if not v.size:
        return (0.0, 1.0)
    lo, hi = float(v.min()), float(v.max())
    if hi - lo <= 1e-12 * max(1.0, abs(lo)):
        lo, hi = lo - 1.0, hi + 1.0
    pad = 0.05 * (hi - lo)
    return (lo - pad, hi + pad)


@cache
def marker_commands(marker: str) -> list:
    """matplotlib's own marker outline, size 1, y up: ``[[letter, x, y, ...], ...]`` (M, L, C, Z)."""
    style = MarkerStyle(marker)
    path = style.get_path().transformed(style.get_transform())
    out = []
    for vertices, code in path.iter_segments(simplify=False, curves=True):
        letter = {1: "M", 2: "L", 3: "Q", 4: "C", 79: "Z"}[int(code)]
        out.append([letter, *(round(float(v), 4) for v in vertices)] if letter != "Z" else ["Z"])
    return out


def marker_filled(marker: str) -> bool:
    return MarkerStyle(marker).is_filled()
