r"""Two-dimensional test functions: value, gradient, Hessian and known critical points.

Every surface is written once, as three functions of the coordinates ``x`` and ``y`` that use arithmetic
operators only, so the same code evaluates numpy arrays and torch tensors (autograd included). A
:class:`Surface` takes points ``xy`` of shape ``(..., 2)`` and returns the value with shape ``(...)``, the
gradient with shape ``(..., 2)`` and the Hessian with shape ``(..., 2, 2)``, of the same array type.

Each surface lists its critical points (:math:`\nabla f = 0`) with their *kind*, the nature of the point:

- ``"global minimum"`` / ``"local minimum"`` / ``"local maximum"``: the point is one; the Hessian there is
  positive (negative) semidefinite, and may be singular (``lee_network``: the minima form a curve, so the
  Hessian has a zero eigenvalue along it);
- ``"saddle point"``: the Hessian has eigenvalues of both signs;
- ``"degenerate"``: the Hessian is singular and the point is neither a minimum nor a maximum, so the
  second-derivative test cannot tell what it is (the monkey saddle's origin, where the Hessian is zero).

References:
    H. H. Rosenbrock (1960), An automatic method for finding the greatest or least value of a function,
    The Computer Journal 3(3).
    D. M. Himmelblau (1972), Applied Nonlinear Programming, McGraw-Hill.
    L. C. W. Dixon and G. P. Szegö (1978), The global optimisation problem: an introduction, in Towards
    Global Optimisation 2 (six-hump camel).
    Hung-yi Lee, Machine Learning 2021/2022, lecture "When gradient is small" (the two-weight network).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch

__all__ = ["CriticalPoint", "Surface", "SURFACES", "quadratic", "lee_network", "get"]

KINDS = ("local minimum", "global minimum", "local maximum", "saddle point", "degenerate")


class CriticalPoint(NamedTuple):
    """A point where the gradient vanishes, with its kind (one of ``KINDS``)."""

    xy: tuple[float, float]
    kind: str


def _stack(parts, axis, like):
    """Stack arrays or tensors of the type of ``like``, constants broadcast to its shape; the one place that
    dispatches on the array type (the formulas themselves use operators only)."""
    if isinstance(like, torch.Tensor):
        parts = [torch.as_tensor(p, dtype=like.dtype, device=like.device) for p in parts]
        return torch.stack(torch.broadcast_tensors(like, *parts)[1:], dim=axis)
    like = np.asarray(like)
    parts = [np.asarray(p, dtype=like.dtype) if np.ndim(p) == 0 else p for p in parts]
    return np.stack(np.broadcast_arrays(like, *parts)[1:], axis=axis)


@dataclass(frozen=True)
class Surface:
    r"""A smooth function :math:`f:\mathbb{R}^2 \to \mathbb{R}` with its derivatives and critical points.

    ``f(x, y)``, ``df(x, y) -> (f_x, f_y)`` and ``d2f(x, y) -> ((f_xx, f_xy), (f_yx, f_yy))`` take the two
    coordinates as same-shaped arrays or tensors; :meth:`value`, :meth:`grad` and :meth:`hessian` apply them
    to points of shape ``(..., 2)``. ``axis_labels`` name the two coordinates in figures (the parameters the
    surface is a loss of, such as ``("w₁", "w₂")``; ``("θ₁", "θ₂")`` by default).
    """

    name: str
    label: str
    bounds: tuple[tuple[float, float], tuple[float, float]]
    starts: tuple[tuple[float, float], ...]
    critical_points: tuple[CriticalPoint, ...]
    f: Callable = field(repr=False)
    df: Callable = field(repr=False)
    d2f: Callable = field(repr=False)
    formula: str = ""
    axis_labels: tuple[str, str] = ("θ₁", "θ₂")

    def __post_init__(self):
        for p in self.critical_points:
            if p.kind not in KINDS:
                raise ValueError(f"Invalid critical point kind: {p.kind!r}, expected one of {KINDS}")
        if len(self.axis_labels) != 2 or not all(isinstance(a, str) for a in self.axis_labels):
            raise ValueError(f"Invalid axis_labels: {self.axis_labels!r} (two strings)")

    def value(self, xy):
        """:math:`f(x, y)` at points ``xy`` of shape ``(..., 2)``, shape ``(...)``."""
        return self.f(xy[..., 0], xy[..., 1])

    def grad(self, xy):
        r""":math:`\nabla f = (\partial_x f, \partial_y f)` at ``xy``, shape ``(..., 2)``."""
        x, y = xy[..., 0], xy[..., 1]
        return _stack(self.df(x, y), -1, x)

    def hessian(self, xy):
        r""":math:`\nabla^2 f` at ``xy``, shape ``(..., 2, 2)``."""
        x, y = xy[..., 0], xy[..., 1]
        rows = [_stack(row, -1, x) for row in self.d2f(x, y)]
        return _stack(rows, -2, rows[0])


def quadratic(kappa: float = 10.0, angle: float = 0.0, lam_max: float = 1.0) -> Surface:
    r"""Convex quadratic :math:`f(\theta) = \tfrac12 \theta^\top A \theta` with condition number ``kappa``.

    :math:`A = R\,\mathrm{diag}(\lambda_{\max}, \lambda_{\max}/\kappa)\,R^\top` where :math:`R` rotates by
    ``angle`` radians, so the steep direction is :math:`(\cos\alpha, \sin\alpha)`. Gradient descent is stable
    for :math:`\eta < 2/\lambda_{\max}` and converges at a rate set by :math:`\kappa`.

    References:
        J. Nocedal and S. J. Wright (2006), Numerical Optimization, 2nd ed., Springer, §3.3.
    """
    if not kappa >= 1.0 or not math.isfinite(kappa):
        raise ValueError(f"Invalid kappa: {kappa} (the condition number must be >= 1)")
    if not lam_max > 0.0 or not math.isfinite(lam_max):
        raise ValueError(f"Invalid lam_max: {lam_max} (must be > 0)")
    lam_min = lam_max / kappa
    c, s = math.cos(angle), math.sin(angle)
    a = lam_max * c * c + lam_min * s * s
    b = (lam_max - lam_min) * c * s
    d = lam_max * s * s + lam_min * c * c
    return Surface(
        name="quadratic",
        label=_quadratic_label(kappa, angle, lam_max),
        bounds=((-2.0, 2.0), (-2.0, 2.0)),
        starts=((-1.8, 0.9), (1.6, 1.6), (0.4, -1.8)),
        critical_points=(CriticalPoint((0.0, 0.0), "global minimum"),),
        f=lambda x, y: 0.5 * (a * x * x + 2.0 * b * x * y + d * y * y),
        df=lambda x, y: (a * x + b * y, b * x + d * y),
        d2f=lambda x, y: ((a, b), (b, d)),
        formula=(rf"\tfrac12\theta^\top A\theta,\ A = R_{{{angle:g}}}\,"
                 rf"\mathrm{{diag}}({lam_max:g}, {lam_min:g})\,R_{{{angle:g}}}^\top"),
    )


def _quadratic_label(kappa: float, angle: float, lam_max: float) -> str:
    """"Quadratic (κ = 10)", with the turn and the scale where they differ from the default: two quadratics with
    the same label are the same surface."""
    parts = [f"κ = {kappa:g}"]
    turn = math.degrees(angle) % 180.0
    if abs(turn) > 1e-9 and abs(turn - 180.0) > 1e-9:
        parts.append(f"turned {turn:.3g}°")
    if lam_max != 1.0:
        parts.append(f"λₘₐₓ = {lam_max:g}")
    return f"Quadratic ({', '.join(parts)})"


def lee_network(x: float = 1.0, y_hat: float = 1.0) -> Surface:
    r"""Hung-yi Lee's two-weight network :math:`L(w_1, w_2) = (\hat y - w_1 w_2 x)^2` on one example.

    The origin is a saddle point, :math:`H = \begin{pmatrix}0 & -2\hat y x\\ -2\hat y x & 0\end{pmatrix}`
    (``[[0, -2], [-2, 0]]`` for the default :math:`x = \hat y = 1`). Every point of the hyperbola
    :math:`w_1 w_2 = \hat y / x` is a global minimum (:math:`L = 0`); there the Hessian is singular (one zero
    eigenvalue, along the curve). Two of them are listed, with kind ``"global minimum"``.

    References:
        Hung-yi Lee, Machine Learning 2021, lecture "When gradient is small: local minimum and saddle point".
    """
    if x == 0.0 or not math.isfinite(x):
        raise ValueError(f"Invalid x: {x} (must be finite and non-zero)")
    if not math.isfinite(y_hat):
        raise ValueError(f"Invalid y_hat: {y_hat} (must be finite)")
    r = y_hat / x
    w = math.sqrt(abs(r))
    sign = 1.0 if r >= 0 else -1.0
    minima = () if r == 0 else (CriticalPoint((w, sign * w), "global minimum"),
                                CriticalPoint((-w, -sign * w), "global minimum"))
    # with y_hat = 0 the minima are the two axes, the origin among them
    origin = "saddle point" if r != 0 else "global minimum"
    return Surface(
        name="lee_network",
        label="Two-weight network",
        bounds=((-2.0, 2.0), (-2.0, 2.0)),
        starts=((-1.5, -0.05), (0.02, -0.03), (1.8, -1.2), (-0.4, 1.9)),
        critical_points=(CriticalPoint((0.0, 0.0), origin), *minima),
        f=lambda w1, w2: (y_hat - w1 * w2 * x) ** 2,
        df=lambda w1, w2: (-2.0 * x * w2 * (y_hat - x * w1 * w2), -2.0 * x * w1 * (y_hat - x * w1 * w2)),
        d2f=lambda w1, w2: ((2.0 * x * x * w2 * w2, 4.0 * x * x * w1 * w2 - 2.0 * x * y_hat),
                            (4.0 * x * x * w1 * w2 - 2.0 * x * y_hat, 2.0 * x * x * w1 * w1)),
        formula=rf"L(w_1, w_2) = ({y_hat:g} - {x:g}\,w_1 w_2)^2",
        axis_labels=("w₁", "w₂"),
    )


def _saddle() -> Surface:
    return Surface(
        name="saddle",
        label="Saddle x² − y²",
        bounds=((-2.0, 2.0), (-2.0, 2.0)),
        starts=((-1.8, 0.01), (1.6, -0.3), (-1.5, 1e-6)),
        critical_points=(CriticalPoint((0.0, 0.0), "saddle point"),),
        f=lambda x, y: x * x - y * y,
        df=lambda x, y: (2.0 * x, -2.0 * y),
        d2f=lambda x, y: ((2.0, 0.0), (0.0, -2.0)),
        formula=r"x^2 - y^2",
    )


def _monkey_saddle() -> Surface:
    return Surface(
        name="monkey_saddle",
        label="Monkey saddle x³ − 3xy²",
        bounds=((-1.5, 1.5), (-1.5, 1.5)),
        starts=((1.2, 0.05), (1.0, -0.6), (0.5, 1.2)),
        critical_points=(CriticalPoint((0.0, 0.0), "degenerate"),),
        f=lambda x, y: x ** 3 - 3.0 * x * y * y,
        df=lambda x, y: (3.0 * x * x - 3.0 * y * y, -6.0 * x * y),
        d2f=lambda x, y: ((6.0 * x, -6.0 * y), (-6.0 * y, -6.0 * x)),
        formula=r"x^3 - 3xy^2",
    )


def _rosenbrock() -> Surface:
    return Surface(
        name="rosenbrock",
        label="Rosenbrock",
        bounds=((-2.0, 2.0), (-1.0, 3.0)),
        starts=((-1.2, 1.0), (-1.5, 2.5), (1.5, -0.5), (0.0, 2.5)),
        critical_points=(CriticalPoint((1.0, 1.0), "global minimum"),),
        f=lambda x, y: (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2,
        df=lambda x, y: (-2.0 * (1.0 - x) - 400.0 * x * (y - x * x), 200.0 * (y - x * x)),
        d2f=lambda x, y: ((2.0 - 400.0 * y + 1200.0 * x * x, -400.0 * x), (-400.0 * x, 200.0)),
        formula=r"(1 - x)^2 + 100\,(y - x^2)^2",
    )


def _himmelblau() -> Surface:
    return Surface(
        name="himmelblau",
        label="Himmelblau",
        bounds=((-5.0, 5.0), (-5.0, 5.0)),
        starts=((0.0, 0.0), (-1.0, -4.5), (-4.5, 0.5), (1.0, 4.5), (4.5, -4.5)),
        critical_points=(
            CriticalPoint((3.0, 2.0), "global minimum"),
            CriticalPoint((-2.8051180869527449, 3.131312518250573), "global minimum"),
            CriticalPoint((-3.7793102533777469, -3.2831859912861694), "global minimum"),
            CriticalPoint((3.5844283403304917, -1.8481265269644036), "global minimum"),
            CriticalPoint((-0.27084459066734761, -0.92303855647998146), "local maximum"),
            CriticalPoint((-3.0730257507643896, -0.081353044287967512), "saddle point"),
            CriticalPoint((-0.12796134673068007, -1.9537149802445764), "saddle point"),
            CriticalPoint((0.086677504555396352, 2.8842547011747761), "saddle point"),
            CriticalPoint((3.3851541836070209, 0.073851879837749288), "saddle point"),
        ),
        f=lambda x, y: (x * x + y - 11.0) ** 2 + (x + y * y - 7.0) ** 2,
        df=lambda x, y: (4.0 * x * (x * x + y - 11.0) + 2.0 * (x + y * y - 7.0),
                         2.0 * (x * x + y - 11.0) + 4.0 * y * (x + y * y - 7.0)),
        d2f=lambda x, y: ((12.0 * x * x + 4.0 * y - 42.0, 4.0 * x + 4.0 * y),
                          (4.0 * x + 4.0 * y, 4.0 * x + 12.0 * y * y - 26.0)),
        formula=r"(x^2 + y - 11)^2 + (x + y^2 - 7)^2",
    )


def _six_hump_camel() -> Surface:
    # the 15 critical points come in pairs symmetric through the origin: f(-x, -y) = f(x, y)
    half = (
        ((0.089842013100318062, -0.71265640302073963), "global minimum"),
        ((1.7036067149699808, -0.79608356867262512), "local minimum"),
        ((1.6071047529201972, 0.56865145488413137), "local minimum"),
        ((1.2302298765166526, 0.16233458445899497), "local maximum"),
        ((1.1092053368047864, -0.76826809250953984), "saddle point"),
        ((1.2960702671671092, 0.6050843880386585), "saddle point"),
        ((1.6380679841897786, 0.22867406904439407), "saddle point"),
    )
    points = [CriticalPoint(xy, kind) for xy, kind in half]
    points += [CriticalPoint((-x, -y), kind) for (x, y), kind in half]
    return Surface(
        name="six_hump_camel",
        label="Six-hump camel",
        bounds=((-2.0, 2.0), (-1.1, 1.1)),
        starts=((-1.9, 1.0), (1.9, -1.0), (-0.5, -1.0), (0.6, 0.2), (-1.2, -0.3)),
        critical_points=(CriticalPoint((0.0, 0.0), "saddle point"), *points),
        f=lambda x, y: (4.0 - 2.1 * x * x + x ** 4 / 3.0) * x * x + x * y + (-4.0 + 4.0 * y * y) * y * y,
        df=lambda x, y: (8.0 * x - 8.4 * x ** 3 + 2.0 * x ** 5 + y, x - 8.0 * y + 16.0 * y ** 3),
        d2f=lambda x, y: ((8.0 - 25.2 * x * x + 10.0 * x ** 4, 1.0),
                          (1.0, -8.0 + 48.0 * y * y)),
        formula=r"\left(4 - 2.1x^2 + \tfrac{x^4}{3}\right)x^2 + xy + (-4 + 4y^2)\,y^2",
    )


def _two_minima() -> Surface:
    r"""A tilted double well: :math:`f'(x) = (x + 1)\,x\,(x - 1.5)` in :math:`x`, a parabola in :math:`y`.

    Shallow local minimum at :math:`(-1, 0)` (:math:`f = -1/3`), saddle at the origin (:math:`f = 0`), deep
    global minimum at :math:`(1.5, 0)` (:math:`f = -63/64`): gradient descent started on the left settles
    in the shallow well, momentum can roll over the barrier into the deep one.
    """
    return Surface(
        name="two_minima",
        label="Two minima",
        bounds=((-2.5, 2.5), (-1.5, 1.5)),
        starts=((-2.2, 1.0), (-2.0, -0.8), (-0.3, 1.2), (2.3, 1.0)),
        critical_points=(
            CriticalPoint((-1.0, 0.0), "local minimum"),
            CriticalPoint((0.0, 0.0), "saddle point"),
            CriticalPoint((1.5, 0.0), "global minimum"),
        ),
        f=lambda x, y: x ** 4 / 4.0 - x ** 3 / 6.0 - 0.75 * x * x + y * y,
        df=lambda x, y: (x ** 3 - 0.5 * x * x - 1.5 * x, 2.0 * y),
        d2f=lambda x, y: ((3.0 * x * x - x - 1.5, 0.0), (0.0, 2.0)),
        formula=r"\tfrac{x^4}{4} - \tfrac{x^3}{6} - \tfrac34 x^2 + y^2",
    )


_FACTORIES: dict[str, Callable[..., Surface]] = {
    "quadratic": quadratic,
    "saddle": _saddle,
    "monkey_saddle": _monkey_saddle,
    "rosenbrock": _rosenbrock,
    "himmelblau": _himmelblau,
    "six_hump_camel": _six_hump_camel,
    "two_minima": _two_minima,
    "lee_network": lee_network,
}

SURFACES: dict[str, Surface] = {name: make() for name, make in _FACTORIES.items()}


def get(name: str, **kwargs) -> Surface:
    """The surface ``name`` from :data:`SURFACES`; ``quadratic`` and ``lee_network`` take their factory's
    keyword arguments (``get("quadratic", kappa=100, angle=0.5)``)."""
    if name not in _FACTORIES:
        raise ValueError(f"Unknown surface: {name!r}, expected one of {sorted(_FACTORIES)}")
    if not kwargs:
        return SURFACES[name]
    if name not in ("quadratic", "lee_network"):
        raise ValueError(f"Surface {name!r} takes no arguments, got {sorted(kwargs)}")
    return _FACTORIES[name](**kwargs)
