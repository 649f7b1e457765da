r"""The book's standard explorers, parameterized so that each chapter declares its own in one call.

* :func:`optimizer_explorer` — an update rule of :data:`lib.rules.RULES` on a surface of
  :mod:`lib.surfaces`, run by :func:`lib.trajectories.run` from several starts: contours and paths, and the
  loss gap :math:`L(\theta^t) - L^*` against the step on a log axis; controls for the surface, the rule,
  :math:`\eta`, momentum :math:`\beta` (or any hyperparameter), the number of steps.
* :func:`curve_explorer` — curves as functions of the controls (schedules, EWMA of a series, rates).
* :func:`quadratic_explorer` — the second-order Taylor model
  :math:`q(\theta) = L(\theta') + (\theta - \theta')^\top g + \tfrac12 (\theta - \theta')^\top H
  (\theta - \theta')` at a chosen point :math:`\theta'` of a surface: its contours over the surface's, the
  Hessian's eigenvectors, the slices of :math:`L` and :math:`q` along them, and the second-derivative test.

References:
    G. Goh (2017), Why momentum really works, Distill, https://distill.pub/2017/momentum/
    J. Nocedal and S. J. Wright (2006), Numerical Optimization, 2nd ed., Springer, §2.1 (Taylor's theorem).
    H.-y. Lee, ML 2021 lecture "When gradient is small: local minimum and saddle point".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import contourpy
import matplotlib as mpl
import numpy as np

from lib import surfaces as lib_surfaces
from lib.hessian import classify
from lib.iterate import resolve_rule
from lib.rules import RULES
from lib.trajectories import run
from lib.viz.declaration import Contour, Control, Frame, Label, Line, Markers, Panel, View
from lib.viz.explorer import Explorer
from lib.viz.figure import text_width_pt
from lib.viz.plots import DIVERGED, PALETTE, contour_levels, critical_point_items, surface_grid

__all__ = ["BETA", "curve_explorer", "optimizer_explorer", "quadratic_explorer"]

# the explorer's one "momentum β" control, mapped onto each rule's own name for it
BETA = {"momentum": "beta", "nesterov": "beta", "lee_momentum": "lam", "ewma_momentum": "beta", "adam": "beta1",
        "adamw": "beta1", "unified": "beta1"}
MODEL_LEVELS = 8  # contours of the Taylor model drawn at most (they cost most of the explorer's page weight)
# The Taylor explorer's slices panel: its curves differ by orders of magnitude from point to point, so each frame
# draws them divided by its own scale (:func:`_slice_scale`) inside ±SLICE_LIM, with its own tick labels, TICK_GAP
# (axes fraction) left of the axis, at the fixed ticks SLICE_TICKS (in units of the scale).
SLICE_TICKS = (-1.0, -0.5, 0.0, 0.5, 1.0)
SLICE_LIM = 1.08
TICK_GAP = 0.02
_HPARAM_LABELS = {"beta": "momentum β", "alpha": "α", "eps": "ε", "beta2": "β₂", "lam": "λ",
                  "weight_decay": "weight decay"}


def _surfaces(surfaces) -> dict:
    if isinstance(surfaces, str):
        surfaces = (surfaces,)
    if isinstance(surfaces, Mapping):
        out = dict(surfaces)
    else:
        out = {}
        for s in surfaces:
            surface = lib_surfaces.get(s) if isinstance(s, str) else s
            if surface.name in out:
                raise ValueError(f"Invalid surfaces: {surface.name!r} twice (pass a mapping key -> Surface)")
            out[surface.name] = surface
    if not out:
        raise ValueError(f"Invalid surfaces: {surfaces!r} (need at least one)")
    for key, s in out.items():
        if not (hasattr(s, "value") and hasattr(s, "bounds")):
            raise ValueError(f"Invalid surfaces[{key!r}]: {s!r} is not a Surface")
    return out


def _control(values, label: str, **kwargs) -> Control:
    """A control from a Control, one number (fixed) or a sequence (starting at its middle value)."""
    if isinstance(values, Control):
        return values
    if isinstance(values, int | float) and not isinstance(values, bool):
        values = (values,)
    values = tuple(values)
    return Control(values, label=label, default=values[len(values) // 2] if values else None, **kwargs)


def _gap_floor(lowest: float, top: float) -> float:
    """The bottom of the loss panel: ``top`` × 10⁻⁸ (at most 10⁻⁸), lowered to the decade of ``lowest`` (the
    smallest gap of the default setting) when that run goes further, but never more than 20 decades below
    ``top``: a fast default run stays on the panel for more than a few steps instead of leaving it at once."""
    floor = min(1e-8, top * 1e-8)
    if math.isfinite(lowest) and lowest < floor:
        floor = max(10.0 ** math.floor(math.log10(lowest)), top * 1e-20)
    return floor


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    return f"{v:.2e}".replace("e-0", "e−").replace("e+0", "e").replace("e-", "e−").replace("-", "−")


def _loss_floor(surface) -> float | None:
    values = [surface.value(np.array(p.xy)) for p in surface.critical_points if p.kind == "global minimum"]
    return float(min(values)) if values else None


def _axis_labels(surface) -> dict[str, str]:
    """The surface panel's axis labels: the surface's own names of its two parameters."""
    x, y = getattr(surface, "axis_labels", ("θ₁", "θ₂"))
    return {"xlabel": x, "ylabel": y}


def _surface_view(surface, levels_n: int = 14) -> tuple[list, tuple]:
    x, y, z = surface_grid(surface, 161)
    levels = contour_levels(z, levels_n)
    return [Contour(x, y, z, levels, panel="surface"), *critical_point_items(surface, "surface")], levels


def optimizer_explorer(
    name: str = "optimizer",
    *,
    surfaces: Sequence | Mapping = ("quadratic", "rosenbrock", "himmelblau"),
    rules: Sequence[str] = ("gd", "momentum", "adam"),
    etas: Sequence[float] | Control = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0),
    hparams: Mapping[str, Sequence | Control] | None = None,
    steps: int | Sequence[int] | Control = 60,
    starts: Sequence[tuple[float, float]] | None = None,
    bound: float = 1e6,
    surface_label: str = "surface",
    caption: str | None = None,
) -> Explorer:
    r"""Optimizer on a surface: paths of ``rules`` from the surface's ``starts`` and their loss gap.

    ``surfaces`` are names of :data:`lib.surfaces.SURFACES`, :class:`~lib.surfaces.Surface` objects, or a
    mapping key → Surface (e.g. ``{"κ=10": quadratic(10), "κ=100": quadratic(100)}`` with
    ``surface_label="condition number"``). ``hparams`` maps hyperparameter names to their values: ``"beta"``
    is the momentum coefficient under each rule's own name (:data:`BETA`: ``beta`` of torch's heavy ball,
    ``beta1`` of Adam, …); any other name goes to the rules that have it (``{"alpha": (0.9, 0.99)}``). Default
    ``{"beta": (0.0, 0.5, 0.9)}``. A rule without a hyperparameter ignores it, and the text says so.
    ``steps`` may be one number (fixed) or several (a control). The loss panel shows
    :math:`L(\theta^t) - L^*` on a log axis when the surface has a global minimum :math:`L^*` (down to where
    the default setting gets on the surface, :func:`_gap_floor`), else :math:`L(\theta^t)`; a start that
    diverges (:func:`lib.trajectories.run`) gets a red cross where its path leaves the frame
    (:func:`_exit_point`), a legend entry saying so, and its step in the text.
    """
    surfaces = _surfaces(surfaces)
    for r in rules:
        resolve_rule(r)  # the one message for an unknown rule
    hparams = {"beta": (0.0, 0.5, 0.9)} if hparams is None else dict(hparams)
    for h in hparams:
        if h != "beta" and not any(h in RULES[r].defaults for r in rules):
            raise ValueError(f"Invalid hparams: {h!r} is a hyperparameter of none of {list(rules)}")
        if h in ("surface", "rule", "eta", "steps"):
            raise ValueError(f"Invalid hparams: {h!r} is taken by another control")
    controls = {
        "surface": Control(tuple(surfaces), label=surface_label, format={k: s.label for k, s in surfaces.items()}),
        "rule": Control(tuple(rules), label="optimizer", format={r: RULES[r].label for r in rules}),
        "eta": _control(etas, "learning rate η", format=".3g"),
    }
    for h, values in hparams.items():
        controls[h] = _control(values, _HPARAM_LABELS.get(h, h), format=".3g")
    controls["steps"] = _control(steps, "steps", format="d")
    for v in controls["steps"].values:
        if not (isinstance(v, int | np.integer) and v >= 1):
            raise ValueError(f"Invalid steps: {v!r} (must be integers >= 1)")
    max_steps = max(controls["steps"].values)
    floors = {k: _loss_floor(s) for k, s in surfaces.items()}
    starts_of = {k: np.array(s.starts if starts is None else starts, dtype=np.float64) for k, s in surfaces.items()}

    def view(surface):
        s = surfaces[surface]
        items, _ = _surface_view(s)
        (x0, x1), (y0, y1) = s.bounds
        floor = floors[surface]
        if floor is None:
            _, _, z = surface_grid(s, 81)
            pad = 0.05 * (z.max() - z.min())
            loss = {"yscale": "linear", "ylim": (float(z.min() - pad), float(z.max() + pad)), "ylabel": "L(θ)"}
        else:
            top = float(np.max(s.value(starts_of[surface]) - floor))
            top = 10.0 ** (math.ceil(math.log10(max(top, 1e-12))) + 1)
            loss = {"yscale": "log", "ylim": (_gap_floor(lowest_gap(surface), top), top), "ylabel": "L(θ) − L*"}
        return View(items, panels={"surface": {"xlim": (x0, x1), "ylim": (y0, y1), "title": s.label,
                                               **_axis_labels(s)},
                                   "loss": loss})

    frames: dict[tuple, Frame] = {}

    def lowest_gap(surface) -> float:
        """The smallest positive loss gap that the default setting draws on ``surface``: the first frame a reader
        sees there (both renderings compute it anyway, and :func:`compute` keeps it)."""
        defaults = {k: c.values[c.default_index] for k, c in controls.items() if k != "surface"}
        lowest = math.inf
        for item in compute(surface, **defaults).items:
            if isinstance(item, Line) and item.panel == "loss":
                positive = item.y[np.isfinite(item.y) & (item.y > 0)]
                lowest = min(lowest, float(positive.min())) if positive.size else lowest
        return lowest

    def compute(surface, rule, eta, steps, **values):
        # Settings that differ only in hyperparameters the rule does not have draw the same frame: compute it
        # once (e.g. GD under every β and β₂ of an Adam explorer).
        used = tuple((h, v) for h, v in values.items() if hparam_name(rule, h) in RULES[rule].defaults)
        key = (surface, rule, eta, steps, used)
        if key not in frames:
            frames[key] = draw(surface, rule, eta, steps, dict(used), values)
        return frames[key]

    def hparam_name(rule, h):
        return BETA.get(rule) if h == "beta" else h

    def draw(surface, rule, eta, steps, used, values):
        s, r = surfaces[surface], RULES[rule]
        kwargs = {hparam_name(rule, h): v for h, v in used.items()}
        unused = [controls[h].label or h for h in values if h not in used]
        theta0 = starts_of[surface]
        traj = run(rule, s, theta0, steps, eta=eta, bound=bound, **kwargs)
        floor = floors[surface]
        gap = traj.loss - floor if floor is not None else traj.loss
        t = np.arange(steps + 1)
        items, diverged, finals = [], [], []
        for i, (path, k) in enumerate(zip(traj.path, traj.diverged_at, strict=True)):
            color = PALETTE[i % len(PALETTE)]
            end = steps + 1 if k < 0 else max(int(k), 1)
            label = f"start ({theta0[i, 0]:g}, {theta0[i, 1]:g})"
            items.append(Line(path[:end, 0], path[:end, 1], color=color, width=1.4, panel="surface"))
            items.append(Markers(path[:1, 0], path[:1, 1], color=color, size=6.5, edgecolor="white",
                                 label=label, panel="surface"))
            items.append(Line(t[:end], gap[i, :end], color=color, width=1.4, panel="loss"))
            if k >= 0:
                ex, ey = _exit_point(path[:end], s.bounds)
                diverged.append(Markers([ex], [ey], color=DIVERGED, marker="X", size=8, edgecolor="white",
                                        edgewidth=0.6, clamp=True, label="diverged (✕ where it leaves the frame)",
                                        panel="surface"))
                diverged.append(Markers([end - 1], [gap[i, end - 1]], color=DIVERGED, marker="X", size=8,
                                        edgecolor="white", edgewidth=0.6, clamp=True, panel="loss"))
                finals.append(f"start {i + 1}: diverged at step {int(k)}")
            else:
                finals.append(f"start {i + 1}: {_fmt(float(gap[i, -1]))}")
        setting = ", ".join([f"η = {controls['eta'].text(eta)}"]
                            + [f"{controls[h].label} = {controls[h].text(v)}" for h, v in used.items()])
        items += diverged  # on top of the paths, and last in the legend
        what = "L − L*" if floor is not None else "L"
        text = [f"{r.label} ({setting}), {what} after {steps} steps — " + " · ".join(finals)]
        if unused:
            text.append(f"({', '.join(unused)} not used by {r.label})")
        return Frame(items, text)

    panels = (
        Panel("surface", xlabel="θ₁", ylabel="θ₂", aspect="equal"),
        Panel("loss", xlabel="step t", ylabel="L(θ) − L*", yscale="log", xlim=(0.0, float(max_steps)), grid=True),
    )
    caption = caption if caption is not None else (
        "Left: paths of the optimizer from several starts (dots) over the contours of the surface; ★ minima, "
        "✕ saddle points. Right: the loss gap to the minimum against the step, on a log axis. A red cross "
        "marks a start that diverged.")
    return Explorer(name, controls, compute, panels=panels, view=view, view_controls=("surface",),
                    caption=caption, figsize=(8.0, 3.4), width_ratios=(1.0, 1.25))


def _exit_point(path: np.ndarray, bounds) -> tuple[float, float]:
    """Where ``path`` (points, (n, 2)) first leaves the box ``bounds`` ((x0, x1), (y0, y1)), on the box's edge;
    its last point when it never leaves."""
    (x0, x1), (y0, y1) = bounds
    finite = np.isfinite(path).all(axis=1)
    inside = finite & (path[:, 0] >= x0) & (path[:, 0] <= x1) & (path[:, 1] >= y0) & (path[:, 1] <= y1)
    outside = np.flatnonzero(~inside)
    if not len(outside):
        return float(path[-1, 0]), float(path[-1, 1])
    j = int(outside[0])
    if j == 0 or not finite[j]:
        p = path[max(j - 1, 0)]
        return float(np.clip(p[0], x0, x1)), float(np.clip(p[1], y0, y1))
    a, b = path[j - 1], path[j]
    d = b - a
    t = 1.0
    for axis, (lo, hi) in enumerate(((x0, x1), (y0, y1))):
        if d[axis] > 0:
            t = min(t, (hi - a[axis]) / d[axis])
        elif d[axis] < 0:
            t = min(t, (lo - a[axis]) / d[axis])
    q = a + max(t, 0.0) * d
    return float(q[0]), float(q[1])


def curve_explorer(
    name: str,
    controls: Mapping[str, Control | Sequence],
    curves: Callable[..., Frame | Mapping | Sequence],
    *,
    xlabel: str = "",
    ylabel: str = "",
    xscale: str = "linear",
    yscale: str = "linear",
    xlim: tuple[float, float] | None = None,
    ylim: tuple[float, float] | None = None,
    title: str = "",
    caption: str = "",
    figsize: tuple[float, float] = (6.4, 3.0),
) -> Explorer:
    """Curves as functions of the controls, on one panel.

    ``curves(**values)`` returns a mapping ``{label: (x, y)}``, a sequence of ``(label, x, y)`` or of
    :class:`~lib.viz.explorer.Line`, or a whole :class:`~lib.viz.explorer.Frame` (items on panel ``"main"``,
    and text). Curves given as pairs get the palette's colors in order, so a curve keeps its color as the
    controls move. Limits left ``None`` cover every curve of every combination.
    """
    if not callable(curves):
        raise ValueError(f"Invalid curves: {curves!r} (must be callable)")

    def compute(**values):
        out = curves(**values)
        if isinstance(out, Frame):
            return out
        if isinstance(out, Mapping):
            out = [(label, *xy) for label, xy in out.items()]
        items = []
        for i, c in enumerate(out):
            if isinstance(c, Line):
                items.append(c)
            else:
                label, x, y = c
                items.append(Line(x, y, color=PALETTE[i % len(PALETTE)], label=label, width=1.6))
        return Frame(items)

    panel = Panel("main", xlabel=xlabel, ylabel=ylabel, title=title, xscale=xscale, yscale=yscale, xlim=xlim,
                  ylim=ylim, grid=True)
    return Explorer(name, controls, compute, panels=(panel,), caption=caption, figsize=figsize)


def _grid(surfaces: Mapping, points) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(points, int):
        if points < 2:
            raise ValueError(f"Invalid points: {points} (need >= 2 per axis)")
        x0 = max(s.bounds[0][0] for s in surfaces.values())
        x1 = min(s.bounds[0][1] for s in surfaces.values())
        y0 = max(s.bounds[1][0] for s in surfaces.values())
        y1 = min(s.bounds[1][1] for s in surfaces.values())
        if not (x0 < x1 and y0 < y1):
            raise ValueError("Invalid surfaces: their windows do not overlap; pass points=(xs, ys)")
        return np.round(np.linspace(x0, x1, points), 6), np.round(np.linspace(y0, y1, points), 6)
    xs, ys = points
    return np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)


def quadratic_explorer(
    name: str = "taylor",
    *,
    surfaces: Sequence | Mapping = ("saddle", "lee_network", "two_minima", "monkey_saddle"),
    points: int | tuple[Sequence[float], Sequence[float]] = 7,
    radius: float = 0.3,
    tol: float = 1e-9,
    caption: str | None = None,
) -> Explorer:
    r"""The second-order Taylor model at a point :math:`\theta'` chosen on a grid.

    Left: the surface's contours, the point, the contours of
    :math:`q(\theta) = L(\theta') + (\theta-\theta')^\top g + \tfrac12(\theta-\theta')^\top H(\theta-\theta')`
    (dashed, at the same levels as the surface's, within ``radius`` × the window around the point) and the
    eigenvectors :math:`v_1, v_2` of :math:`H` (:math:`\lambda_1 \le \lambda_2`). Right: the slices
    :math:`L(\theta' + t v_i) - L(\theta')` (solid) and :math:`q` along the same lines (dashed), on a vertical
    scale of the point's own (:func:`_slice_scale`; the tick labels change with the point), so that the curves
    fill the panel at a critical point as well as far from one. The text gives
    :math:`L`, :math:`\|g\|`, the eigenvalues and, where :math:`\|g\| \le` ``tol``, the second-derivative test
    (:func:`lib.hessian.classify`); elsewhere the shape of the curvature only.

    ``points``: per-axis count of a grid over the intersection of the surfaces' windows, or ``(xs, ys)``.
    """
    surfaces = _surfaces(surfaces)
    xs, ys = _grid(surfaces, points)
    if not 0 < radius <= 1:
        raise ValueError(f"Invalid radius: {radius} (a fraction of the window, in (0, 1])")
    backgrounds = {k: _surface_view(s) for k, s in surfaces.items()}
    colors = ("#ff7f0e", "#9467bd")  # v1, v2: not the palette's first colors, which the paths use elsewhere
    model_color = "#d62728"

    def slices(s, theta):
        """The half-width of the model's window, t, and per eigenvector (v, λ, slice of L, slice of q)."""
        L0 = float(s.value(theta))
        g = np.asarray(s.grad(theta), dtype=np.float64)
        lam, V = np.linalg.eigh(np.asarray(s.hessian(theta), dtype=np.float64))
        (x0, x1), (y0, y1) = s.bounds
        half = radius * min(x1 - x0, y1 - y0)
        t = np.linspace(-half, half, 41)
        return half, t, [(V[:, i], lam[i], s.value(theta + np.outer(t, V[:, i])) - L0,
                          t * float(g @ V[:, i]) + 0.5 * lam[i] * t * t) for i in range(2)]

    def scale_of(s, theta) -> float:
        _, _, curves = slices(s, theta)
        return _slice_scale(max(float(np.max(np.abs(c))) for *_, a, b in curves for c in (a, b)))

    def view(surface):
        s = surfaces[surface]
        (x0, x1), (y0, y1) = s.bounds
        # the slices' tick labels are the frame's (each point has its own scale): reserve room for the widest
        texts = {_num(f * scale_of(s, np.array([x, y]))) for x in xs for y in ys for f in SLICE_TICKS}

        def draw(axes):
            ax = axes["slices"]
            width = max(text_width_pt(text, mpl.rcParams["ytick.labelsize"]) for text in texts)
            gap = TICK_GAP * ax.get_position().width * ax.figure.get_figwidth() * 72  # points, as laid out now
            ax.set_yticks(SLICE_TICKS, labels=[""] * len(SLICE_TICKS))
            # from the tick marks: past the frame's labels (``gap`` + their width) and a few points more
            ax.yaxis.labelpad = width + gap + 4.0

        return View(backgrounds[surface][0], draw=draw,
                    panels={"surface": {"xlim": (x0, x1), "ylim": (y0, y1), "title": s.label, **_axis_labels(s)}})

    def compute(surface, x, y):
        s = surfaces[surface]
        levels = backgrounds[surface][1]
        theta = np.array([x, y], dtype=np.float64)
        L0 = float(s.value(theta))
        g = np.asarray(s.grad(theta), dtype=np.float64)
        H = np.asarray(s.hessian(theta), dtype=np.float64)
        lam = np.linalg.eigvalsh(H)
        half, t, curves = slices(s, theta)
        scale = scale_of(s, theta)
        u = np.linspace(-half, half, 31)
        dx, dy = np.meshgrid(u, u)
        q = L0 + g[0] * dx + g[1] * dy + 0.5 * (H[0, 0] * dx * dx + 2 * H[0, 1] * dx * dy + H[1, 1] * dy * dy)
        inside = levels[(levels > q.min()) & (levels < q.max())]
        inside = np.sort(inside[np.argsort(np.abs(inside - L0))[:MODEL_LEVELS]])  # the levels nearest L(θ′)
        items = []
        if inside.size:
            gen = contourpy.contour_generator(u + x, u + y, q)
            runs = [line for level in inside for line in gen.lines(float(level))]
            if runs:
                gap = np.full((1, 2), np.nan)
                xy = np.concatenate([part for line in runs for part in (line, gap)][:-1])
                items.append(Line(xy[:, 0], xy[:, 1], color=model_color, style="--", width=1.1,
                                  label="Taylor model q (dashed)", panel="surface"))
        for i, (v, _, along, model) in enumerate(curves):
            seg = theta + np.outer([-0.9 * half, 0.9 * half], v)
            items.append(Line(seg[:, 0], seg[:, 1], color=colors[i], width=2.0,
                              label=f"eigenvector v{'₁₂'[i]} ({'smaller' if i == 0 else 'larger'} λ)",
                              panel="surface"))
            items.append(Line(t, along / scale, color=colors[i], width=1.6, panel="slices"))
            items.append(Line(t, model / scale, color=colors[i], style="--", width=1.4, panel="slices"))
        for f in SLICE_TICKS:  # the slices panel's tick labels, in units of this point's scale
            items.append(Label(-TICK_GAP, (f + SLICE_LIM) / (2 * SLICE_LIM), _num(f * scale), coords="axes",
                               ha="right", va="center", color="#262626", panel="slices"))
        items.append(Markers([x], [y], color="black", size=6.5, edgecolor="white", label="point θ′",
                             panel="surface"))
        gnorm = float(np.linalg.norm(g))
        kind = classify(lam, tol=1e-6)
        shape = {"local minimum": "positive definite (curves up in every direction)",
                 "local maximum": "negative definite (curves down in every direction)",
                 "saddle point": "indefinite (up along one eigenvector, down along the other)",
                 "degenerate": "singular (a zero eigenvalue: the second-order test cannot decide)"}[kind]
        text = [f"θ′ = ({_num(x)}, {_num(y)}): L = {_num(L0)}, ‖∇L‖ = {_num(gnorm)}; "
                f"eigenvalues of H: λ₁ = {_num(lam[0])}, λ₂ = {_num(lam[1])}"]
        if gnorm <= tol:
            text.append(f"∇L = 0: a critical point; H is {shape} → {kind}.")
        else:
            text.append(f"∇L ≠ 0: not a critical point, the linear term dominates near θ′; H is {shape}.")
        return Frame(items, text)

    fmt = ".3g"
    controls = {
        "surface": Control(tuple(surfaces), label="surface", format={k: s.label for k, s in surfaces.items()}),
        "x": Control(tuple(float(v) for v in xs), label="θ′₁", format=fmt, default=_middle(xs)),
        "y": Control(tuple(float(v) for v in ys), label="θ′₂", format=fmt, default=_middle(ys)),
    }
    panels = (
        Panel("surface", xlabel="θ₁", ylabel="θ₂", aspect="equal"),
        Panel("slices", xlabel="t (distance along vᵢ)", ylabel="L(θ′ + t vᵢ) − L(θ′)", grid=True,
              ylim=(-SLICE_LIM, SLICE_LIM)),
    )
    caption = caption if caption is not None else (
        "The second-order Taylor model at θ′ (dashed) against the surface: left, its contours at the surface's "
        "levels and the Hessian's eigenvectors; right, the surface (solid) and the model (dashed) along each "
        "eigenvector. Near θ′ they agree; the signs of the eigenvalues decide the kind of a critical point.")
    return Explorer(name, controls, compute, panels=panels, view=view, view_controls=("surface",),
                    caption=caption, figsize=(8.0, 3.4), width_ratios=(1.0, 1.2))


def _slice_scale(top: float) -> float:
    """The smallest of 1, 1.5, 2, 3, 4, 5, 6, 8 × 10ᵏ that is at least ``top`` (1 for a flat slice): the slices
    panel spans ± this, so its curves fill at least half of it."""
    if not top > 1e-12:
        return 1.0
    k = math.floor(math.log10(top))
    for m in (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        if m * 10.0 ** k >= top * (1 - 1e-9):
            return float(f"{m * 10.0 ** k:.3g}")
    return 10.0 ** (k + 1)


def _middle(values) -> float:
    values = list(values)
    return float(values[len(values) // 2])


def _num(v: float) -> str:
    v = float(v)
    if v == 0 or abs(v) < 5e-13:
        return "0"
    return f"{v:.3g}".replace("-", "−")
