r"""Explorers: one declaration, two renderings.

An :class:`Explorer` is declared once: its **controls** (name → a finite list of values, with a label and a
unit), its **panels** (the axes of the figure) and a **compute** function of the control values that calls
``lib`` and returns a :class:`~lib.viz.declaration.Frame` — plain data to draw (:mod:`lib.viz.declaration`).
What does not change with the controls (axis limits, scales, labels, contour fields of a surface) is the
:class:`~lib.viz.declaration.View`, a function of a few **view controls** only (often just the surface).

From that one declaration come two renderings, which share every number (:mod:`lib.viz.geometry` maps data
to axes fractions for both):

* **live** (:meth:`Explorer.live`, in a kernel): :class:`lib.viz.live.LiveExplorer`, ipywidgets controls over
  one blitted matplotlib figure;
* **static** (:meth:`Explorer.static_html`, in the book build): :mod:`lib.viz.static`, every combination
  computed at build time and embedded as compact JSON (:mod:`lib.viz.codec`) next to a small JavaScript viewer.

Which one a bare ``explorer`` at the end of a cell shows is decided by the environment variable
``LIB_BOOK_BUILD``: ``1`` (set by ``make book``) gives the static HTML, anything else the live widgets.

The modules of :mod:`lib.viz` depend one way: ``declaration`` ← ``geometry`` ← ``codec``; ``plots`` ←
``figure`` ← ``static`` ← ``live`` ← ``explorer`` (this module, which ties them together).

References:
    W3C, "ARIA Authoring Practices Guide: Slider pattern", https://www.w3.org/WAI/ARIA/apg/patterns/slider/
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import fields, replace
from typing import Any

import IPython.display
import numpy as np

from lib.viz import static
from lib.viz.declaration import NAME, PANEL_FIELDS, Contour, Control, Frame, Line, Markers, Panel, View, panel_index
from lib.viz.geometry import auto_limits
from lib.viz.live import LiveExplorer

__all__ = ["BOOK_BUILD_ENV", "Explorer"]

BOOK_BUILD_ENV = "LIB_BOOK_BUILD"


class Explorer:
    """One interactive figure, declared once, rendered live (:meth:`live`) or static (:meth:`static_html`).

    Example (gradient descent on :math:`f(\\theta) = \\theta^2/2`, whose iterates are
    :math:`\\theta_t = \\theta_0 (1 - \\eta)^t`)::

        def compute(eta):
            t = np.arange(31)
            return Frame([Line(t, 0.5 * (2.0 * (1 - eta) ** t) ** 2, label=f"η = {eta:g}")],
                         text=[f"rate |1 − η| = {abs(1 - eta):.2f}"])

        Explorer("gd-rate", {"eta": Control((0.1, 0.5, 1.5, 2.1), label="learning rate η")}, compute,
                 panels=(Panel("main", xlabel="step t", ylabel="f(θₜ)", yscale="log", ylim=(1e-12, 1e4)),))

    Args:
        name: a slug (``[a-z][a-z0-9_-]*``); the static root element carries ``data-explorer="<name>"``.
        controls: ordered mapping name → :class:`Control` (or a plain sequence of values).
        compute: ``compute(**values) -> Frame``; called once per combination in the static rendering.
        panels: the axes, side by side (:class:`Panel`).
        view: ``view(**view_values) -> View``, the fixed part; ``None`` for none.
        view_controls: names of the controls ``view`` takes (the background is drawn once per combination
            of these).
        caption: a sentence or two under the figure (plain text).
        figsize: inches; the static SVG is ``72 * figsize`` points, the live PNG ``100 * figsize`` pixels.
        width_ratios: relative widths of the panels.
        layout: ``None`` for matplotlib's constrained layout, run once per view (labels never cut off), or
            fixed ``GridSpec`` keyword arguments (``left``, ``right``, ``bottom``, ``top``, ``wspace``).
        max_points: the most points per line in the static JSON (longer lines are thinned evenly).
    """

    def __init__(
        self,
        name: str,
        controls: Mapping[str, Control | Sequence],
        compute: Callable[..., Frame],
        *,
        panels: Sequence[Panel] = (Panel("main"),),
        view: Callable[..., View] | None = None,
        view_controls: Sequence[str] = (),
        caption: str = "",
        figsize: tuple[float, float] = (8.0, 3.2),
        width_ratios: Sequence[float] | None = None,
        layout: Mapping[str, Any] | None = None,
        max_points: int = 600,
    ):
        if not isinstance(name, str) or not NAME.match(name):
            raise ValueError(f"Invalid name: {name!r} (use lowercase letters, digits, '-' and '_')")
        if not isinstance(controls, Mapping):
            raise ValueError(f"Invalid controls: {controls!r} (a mapping name -> Control)")
        self.name = name
        self.controls = {k: c if isinstance(c, Control) else Control(c) for k, c in controls.items()}
        for k in self.controls:
            if not NAME.match(k.replace("-", "_")) or not k.isidentifier():
                raise ValueError(f"Invalid control name: {k!r} (must be a Python identifier)")
        if not callable(compute):
            raise ValueError(f"Invalid compute: {compute!r} (must be callable)")
        self.compute = compute
        self.panels = tuple(panels)
        if not self.panels or not all(isinstance(p, Panel) for p in self.panels):
            raise ValueError(f"Invalid panels: {panels!r} (a non-empty sequence of Panel)")
        names = [p.name for p in self.panels]
        if len(set(names)) != len(names):
            raise ValueError(f"Invalid panels: duplicate names {names}")
        self.view = view
        self.view_controls = tuple(view_controls)
        for k in self.view_controls:
            if k not in self.controls:
                raise ValueError(f"Invalid view_controls: {k!r} is not a control ({list(self.controls)})")
        self.caption = caption
        w, h = figsize
        if not (w > 0 and h > 0):
            raise ValueError(f"Invalid figsize: {figsize!r}")
        self.figsize = (float(w), float(h))
        self.layout = None if layout is None else dict(layout)
        if width_ratios is not None and len(width_ratios) != len(self.panels):
            raise ValueError(f"Invalid width_ratios: {width_ratios!r} (one per panel)")
        self.width_ratios = None if width_ratios is None else tuple(float(r) for r in width_ratios)
        if int(max_points) < 2:
            raise ValueError(f"Invalid max_points: {max_points} (must be >= 2)")
        self.max_points = int(max_points)
        self._payload: dict | None = None

    # ---------------------------------------------------------------------------------------- combinations
    @property
    def names(self) -> list[str]:
        return [p.name for p in self.panels]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(c.values) for c in self.controls.values())

    def combinations(self) -> Iterable[tuple[int, ...]]:
        """Every combination as a tuple of value indices, the first control varying slowest."""
        return itertools.product(*(range(n) for n in self.shape))

    def values(self, indices: Sequence[int]) -> dict[str, Any]:
        return {k: c.values[i] for (k, c), i in zip(self.controls.items(), indices, strict=True)}

    def default_indices(self) -> tuple[int, ...]:
        return tuple(c.default_index for c in self.controls.values())

    def view_key(self, indices: Sequence[int]) -> tuple[int, ...]:
        """The value indices of the view controls in the combination ``indices``."""
        keys = list(self.controls)
        return tuple(indices[keys.index(k)] for k in self.view_controls)

    def frame(self, **values) -> Frame:
        """``compute(**values)``, checked."""
        for k, v in values.items():
            if k not in self.controls:
                raise ValueError(f"Invalid control: {k!r}, expected one of {list(self.controls)}")
            if v not in self.controls[k].values:
                raise ValueError(f"Invalid {k}: {v!r}, expected one of {self.controls[k].values}")
        frame = self.compute(**values)
        if not isinstance(frame, Frame):
            raise ValueError(f"compute returned {type(frame).__name__}, expected Frame")
        for item in frame.items:
            panel_index(item.panel, self.names)
        return frame

    # ----------------------------------------------------------------------------------------------- views
    def make_view(self, key: tuple[int, ...]) -> View:
        """``view(**values)`` for the view-control indices ``key``, checked."""
        if self.view is None:
            return View()
        values = {k: self.controls[k].values[i] for k, i in zip(self.view_controls, key, strict=True)}
        view = self.view(**values)
        if not isinstance(view, View):
            raise ValueError(f"view returned {type(view).__name__}, expected View")
        for name, overrides in view.panels.items():
            panel_index(name, self.names)
            for f in overrides:
                if f not in PANEL_FIELDS:
                    raise ValueError(f"Invalid panel override: {f!r}, expected one of {PANEL_FIELDS}")
        return view

    def resolve(self, view: View, frames: Callable[[], Iterable[Frame]]) -> list[dict]:
        """Panel specs with every override applied and auto limits computed from ``frames()``."""
        specs = []
        for panel in self.panels:
            panel = replace(panel, **view.panels.get(panel.name, {}))  # validates the overrides
            specs.append({f.name: getattr(panel, f.name) for f in fields(panel)})
        if any(s["xlim"] is None or s["ylim"] is None for s in specs):
            values = [([], []) for _ in specs]
            items = list(view.items)
            for frame in frames():
                items.extend(frame.items)
            for item in items:
                p = panel_index(item.panel, self.names)
                if isinstance(item, Line | Markers):
                    values[p][0].append(item.x)
                    values[p][1].append(item.y)
                elif isinstance(item, Contour):
                    values[p][0].append(np.asarray(item.x, float).ravel())
                    values[p][1].append(np.asarray(item.y, float).ravel())
                elif item.coords == "data":
                    values[p][0].append(np.array([item.x], float))
                    values[p][1].append(np.array([item.y], float))
            for spec, (xs, ys) in zip(specs, values, strict=True):
                for axis, data in (("x", xs), ("y", ys)):
                    if spec[f"{axis}lim"] is None:
                        spec[f"{axis}lim"] = auto_limits(data, spec[f"{axis}scale"])
        return specs


    # ---------------------------------------------------------------------------------------------- static
    def payload(self) -> dict:
        """Everything the static viewer needs, as JSON-ready data (see the module docstring); computed once
        per explorer (every combination of the controls), then reused."""
        if self._payload is None:
            self._payload = static.payload(self)
        return self._payload

    def static_html(self) -> str:
        """The self-contained static rendering: markup, the JSON payload, the viewer's CSS and JS."""
        return static.static_html(self)

    # ------------------------------------------------------------------------------------------------ live
    def live(self) -> LiveExplorer:
        """The ipywidgets rendering (needs ``ipywidgets``)."""
        return LiveExplorer(self)

    def _ipython_display_(self):
        if os.environ.get(BOOK_BUILD_ENV) == "1":
            IPython.display.display(IPython.display.HTML(self.static_html()))
        else:
            IPython.display.display(self.live().widget)

    def __repr__(self):
        controls = ", ".join(f"{k}={len(c.values)}" for k, c in self.controls.items())
        return f"Explorer({self.name!r}, controls: {controls}, panels: {self.names})"
