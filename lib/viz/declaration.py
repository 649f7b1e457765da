r"""The declaration of an explorer: its controls, the items it draws and the panels they sit in.

Everything here is plain, validated data with no rendering in it. A :class:`Control` is a finite list of
values the reader chooses from; a compute function turns one combination of control values into a
:class:`Frame` of :class:`Line`, :class:`Markers` and :class:`Label` items in data coordinates (plus lines of
text such as "diverged at step 12"); a :class:`View` is what does not change with most controls (contour
fields, fixed lines, per-panel overrides of a :class:`Panel`). :class:`lib.viz.explorer.Explorer` ties a
declaration to its two renderings (:mod:`lib.viz.static`, :mod:`lib.viz.live`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib import colors as mcolors

__all__ = ["Contour", "Control", "Frame", "Item", "Label", "Line", "Markers", "Panel", "View", "panel_index"]

SCALES = ("linear", "log")
LINESTYLES = {"-": "-", "--": "--", ":": ":", "-.": "-.", "solid": "-", "dashed": "--", "dotted": ":",
              "dashdot": "-."}
MARKERS = ("o", "s", "^", "v", "D", "x", "+", "*", "P", "X")
HA = ("left", "center", "right")
VA = ("baseline", "bottom", "center", "top")
NAME = re.compile(r"^[a-z][a-z0-9_-]*$")  # explorer and control names
PANEL_FIELDS = ("xlabel", "ylabel", "title", "xscale", "yscale", "xlim", "ylim", "aspect", "grid")


def _is_number(v) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool | np.bool_)


@dataclass(frozen=True, eq=False)
class Control:
    """One control: a finite list of ``values`` the reader chooses from.

    Numbers give a slider (``<input type=range>`` over the value indices; ``SelectionSlider`` live), anything
    else (strings, booleans) a menu (``<select>``; ``Dropdown`` live). ``label`` is the accessible name
    (default: the control's name), ``unit`` follows the value in the readout, ``format`` turns a value into
    its readout: a format spec (``".3g"``), a mapping value → text or a callable. ``default`` is the value
    shown first (default: the first value).
    """

    values: Sequence
    label: str = ""
    unit: str = ""
    format: str | Mapping | Callable | None = None
    default: Any = None

    def __post_init__(self):
        values = tuple(self.values.tolist() if isinstance(self.values, np.ndarray) else self.values)
        if not values:
            raise ValueError(f"Invalid values: {self.values!r} (a control needs at least one value)")
        try:
            distinct = len(set(values)) == len(values)
        except TypeError as error:
            raise ValueError(f"Invalid values: {values!r} (values must be hashable)") from error
        if not distinct:
            raise ValueError(f"Invalid values: {values!r} (values must be distinct)")
        if any(_is_number(v) for v in values) and not all(_is_number(v) for v in values):
            raise ValueError(f"Invalid values: {values!r} (numbers and non-numbers cannot be mixed)")
        if any(_is_number(v) and not math.isfinite(v) for v in values):
            raise ValueError(f"Invalid values: {values!r} (numbers must be finite)")
        object.__setattr__(self, "values", values)
        if self.default is not None and self.default not in values:
            raise ValueError(f"Invalid default: {self.default!r} (not one of {values!r})")

    @property
    def numeric(self) -> bool:
        return _is_number(self.values[0])

    @property
    def default_index(self) -> int:
        return 0 if self.default is None else self.values.index(self.default)

    def text(self, value) -> str:
        """The readout of ``value``: formatted, followed by the unit."""
        fmt = self.format
        if callable(fmt):
            s = str(fmt(value))
        elif isinstance(fmt, Mapping):
            s = str(fmt[value])
        elif isinstance(fmt, str):
            s = format(value, fmt)
        elif self.numeric:
            s = f"{value:g}"
        else:
            s = str(value)
        if self.numeric:
            s = s.replace("-", "−")
        return f"{s} {self.unit}" if self.unit else s


def _floats(a) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim > 1:
        arr = arr.reshape(-1)
    return np.atleast_1d(arr)


def check_color(color) -> str:
    try:
        return mcolors.to_hex(color)
    except ValueError as error:
        raise ValueError(f"Invalid color: {color!r}") from error


def _set_xy(item) -> None:
    """Turn a drawn item's ``x`` and ``y`` into float arrays of one shape (the item is frozen)."""
    x, y = _floats(item.x), _floats(item.y)
    if x.shape != y.shape:
        raise ValueError(f"Invalid x, y: shapes {x.shape} and {y.shape} differ")
    object.__setattr__(item, "x", x)
    object.__setattr__(item, "y", y)


@dataclass(frozen=True, eq=False)
class Line:
    """A polyline ``(x, y)`` in data coordinates; NaN or inf cuts it. ``style`` is a matplotlib line style
    (``"-"``, ``"--"``, ``":"``, ``"-."``), ``marker`` an optional marker at every vertex."""

    x: Any
    y: Any
    color: Any = "C0"
    label: str | None = None
    style: str = "-"
    width: float = 1.5
    marker: str | None = None
    markersize: float = 4.0
    alpha: float = 1.0
    panel: str | None = None

    def __post_init__(self):
        _set_xy(self)
        if self.style not in LINESTYLES:
            raise ValueError(f"Invalid style: {self.style!r}, expected one of {sorted(LINESTYLES)}")
        if self.marker is not None and self.marker not in MARKERS:
            raise ValueError(f"Invalid marker: {self.marker!r}, expected one of {MARKERS}")
        if not self.width > 0:
            raise ValueError(f"Invalid width: {self.width} (must be > 0)")
        check_color(self.color)


@dataclass(frozen=True, eq=False)
class Markers:
    """Markers at points ``(x, y)``. With ``clamp=True`` a point outside the panel is drawn on its edge
    (for "diverged here" markers); otherwise it is clipped like a line."""

    x: Any
    y: Any
    color: Any = "C0"
    label: str | None = None
    marker: str = "o"
    size: float = 6.0
    edgecolor: Any = None
    edgewidth: float = 1.0
    alpha: float = 1.0
    clamp: bool = False
    panel: str | None = None

    def __post_init__(self):
        _set_xy(self)
        if self.marker not in MARKERS:
            raise ValueError(f"Invalid marker: {self.marker!r}, expected one of {MARKERS}")
        check_color(self.color)
        if self.edgecolor is not None:
            check_color(self.edgecolor)


@dataclass(frozen=True, eq=False)
class Label:
    """Text at ``(x, y)``: data coordinates, or axes fractions with ``coords="axes"``. ``size`` in points; by
    default the explorer's smallest text size (:func:`lib.viz.figure.min_text_pt`: as large as the page's figure
    captions)."""

    x: float
    y: float
    text: str
    color: Any = "black"
    size: float | None = None
    ha: str = "left"
    va: str = "baseline"
    coords: str = "data"
    panel: str | None = None

    def __post_init__(self):
        if self.ha not in HA:
            raise ValueError(f"Invalid ha: {self.ha!r}, expected one of {HA}")
        if self.va not in VA:
            raise ValueError(f"Invalid va: {self.va!r}, expected one of {VA}")
        if self.coords not in ("data", "axes"):
            raise ValueError(f"Invalid coords: {self.coords!r}, expected 'data' or 'axes'")
        check_color(self.color)


@dataclass(frozen=True, eq=False)
class Contour:
    """A contour field ``z`` on the grid ``x`` × ``y`` (1-D or meshgrid arrays), drawn by matplotlib into the
    fixed background of a :class:`View` (see :func:`lib.viz.plots.draw_contours`)."""

    x: Any
    y: Any
    z: Any
    levels: Any
    filled: bool = True
    panel: str | None = None

    def __post_init__(self):
        levels = np.asarray(self.levels, dtype=np.float64)
        if levels.ndim != 1 or levels.size < 1 or np.any(np.diff(levels) <= 0):
            raise ValueError(f"Invalid levels: {self.levels!r} (must be increasing)")


Item = Line | Markers | Label


@dataclass(frozen=True, eq=False)
class Frame:
    """What one combination of control values draws: ``items`` over the view's fixed background, and
    ``text``: short lines shown under the figure (what diverged, the measured numbers)."""

    items: Sequence[Item] = ()
    text: Sequence[str] | str = ()

    def __post_init__(self):
        items = tuple(self.items)
        for item in items:
            if not isinstance(item, Line | Markers | Label):
                raise ValueError(f"Invalid item: {item!r} (a Frame holds Line, Markers and Label items)")
        object.__setattr__(self, "items", items)
        text = (self.text,) if isinstance(self.text, str) else tuple(str(t) for t in self.text)
        object.__setattr__(self, "text", text)


@dataclass(frozen=True)
class Panel:
    """One axes of the figure (panels sit side by side). ``xlim``/``ylim`` ``None`` means *auto*: the range
    of everything drawn in that panel over all frames of the view, with a 5 % margin. Any field can be
    overridden per view (:attr:`View.panels`)."""

    name: str
    xlabel: str = ""
    ylabel: str = ""
    title: str = ""
    xscale: str = "linear"
    yscale: str = "linear"
    xlim: tuple[float, float] | None = None
    ylim: tuple[float, float] | None = None
    aspect: str = "auto"
    grid: bool = False

    def __post_init__(self):
        for axis in ("xscale", "yscale"):
            if getattr(self, axis) not in SCALES:
                raise ValueError(f"Invalid {axis}: {getattr(self, axis)!r}, expected one of {SCALES}")
        if self.aspect not in ("auto", "equal"):
            raise ValueError(f"Invalid aspect: {self.aspect!r}, expected 'auto' or 'equal'")
        for axis in ("xlim", "ylim"):
            lim = getattr(self, axis)
            if lim is not None:
                lo, hi = map(float, lim)
                if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                    raise ValueError(f"Invalid {axis}: {lim!r} (need finite lo < hi)")
                scale = self.xscale if axis == "xlim" else self.yscale
                if scale == "log" and lo <= 0:
                    raise ValueError(f"Invalid {axis}: {lim!r} (a log axis needs lo > 0)")
                object.__setattr__(self, axis, (lo, hi))


@dataclass(frozen=True, eq=False)
class View:
    """The fixed part of the figure for one combination of the view controls: ``items`` (:class:`Contour`,
    :class:`Line`, :class:`Markers`, :class:`Label`) drawn once by matplotlib, per-panel overrides of
    :class:`Panel` fields (``{"loss": {"ylim": (1e-8, 10.0), "ylabel": "L − L*"}}``), and ``draw``: an
    optional ``draw(axes)`` for anything else matplotlib can draw (``axes`` maps panel names to Axes)."""

    items: Sequence = ()
    panels: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    draw: Callable[[Mapping[str, Any]], None] | None = None


def panel_index(panel: str | None, names: Sequence[str]) -> int:
    if panel is None:
        return 0
    try:
        return names.index(panel)
    except ValueError:
        raise ValueError(f"Invalid panel: {panel!r}, expected one of {list(names)}") from None
