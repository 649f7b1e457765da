r"""Convergence rates of gradient descent and heavy-ball momentum on quadratics, theory and measurement.

On a quadratic :math:`L(\theta) = \tfrac12 (\theta-\theta^\star)^\top A (\theta-\theta^\star)` the gradient is
linear, so every update rule with a constant step is a linear recurrence. In the eigenbasis of :math:`A` the
directions decouple: along an eigenvector with curvature (eigenvalue) :math:`\lambda` the coordinate
:math:`x = \theta_i - \theta^\star_i` sees the gradient :math:`g = \lambda x`, and heavy-ball momentum in
torch's convention (:func:`lib.rules.momentum_update`, no dampening),

.. math:: b^t = \beta\, b^{t-1} + g^t, \qquad \theta^{t+1} = \theta^t - \eta\, b^t,

becomes the :math:`2\times2` recurrence

.. math::
    \begin{pmatrix} x^{t+1} \\ b^{t} \end{pmatrix} = R \begin{pmatrix} x^{t} \\ b^{t-1} \end{pmatrix},
    \qquad R = \begin{pmatrix} 1-\eta\lambda & -\eta\beta \\ \lambda & \beta \end{pmatrix},
    \qquad b^{-1} = 0,

whose characteristic polynomial is :math:`\sigma^2 - (1+\beta-\eta\lambda)\,\sigma + \beta`. The error then
shrinks like :math:`\rho(R)^t`, with :math:`\rho` the spectral radius (the largest eigenvalue modulus), and
the whole quadratic converges at the rate of its worst direction, :math:`\max_i \rho(R_{\lambda_i})`.
Gradient descent is :math:`\beta = 0`. The functions here give these rates in closed form (vectorized over
grids of :math:`\eta, \beta, \lambda`), the optimal hyperparameters, and estimators that read the rate and the
steps to a tolerance off a measured error history. The exponentially weighted average that momentum is built
from lives with its lesson (:mod:`lib.lessons.momentum`). Used by the gradient-descent and momentum chapters.

References:
    B. T. Polyak, "Some methods of speeding up the convergence of iteration methods", USSR Computational
    Mathematics and Mathematical Physics 4(5), 1964.
    G. Goh, "Why Momentum Really Works", Distill, 2017, https://doi.org/10.23915/distill.00006
    J. Nocedal and S. J. Wright, *Numerical Optimization*, 2nd ed., Springer, 2006, §3.3.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

__all__ = [
    "Optimum",
    "complex_regime",
    "critical_beta",
    "gd_optimal",
    "gd_rate",
    "measured_rate",
    "momentum_matrix",
    "momentum_optimal",
    "predicted_steps",
    "rate",
    "rate_map",
    "spectral_radius",
    "stability_limit",
    "steps_to_tolerance",
]


class Optimum(NamedTuple):
    """Best constant hyperparameters for a quadratic and the rate they give."""

    eta: float  # learning rate
    beta: float  # momentum (0 for gradient descent)
    rate: float  # the spectral radius at (eta, beta): the error shrinks like rate**t


# --------------------------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------------------------


def check_beta(beta) -> np.ndarray:
    beta = np.asarray(beta, dtype=np.float64)
    if np.any(~(beta >= 0.0) | ~(beta < 1.0)):
        raise ValueError(f"Invalid beta value: {beta} (momentum must be in [0, 1))")
    return beta


def _check_eta(eta) -> np.ndarray:
    eta = np.asarray(eta, dtype=np.float64)
    if np.any(~(eta >= 0.0) | ~np.isfinite(eta)):
        raise ValueError(f"Invalid learning rate: {eta}")
    return eta


def _check_spectrum(lam_min: float, lam_max: float) -> None:
    if not (0.0 < lam_min <= lam_max < math.inf):
        raise ValueError(f"Invalid spectrum: lam_min={lam_min}, lam_max={lam_max} (need 0 < lam_min <= lam_max)")


# --------------------------------------------------------------------------------------------------------------
# the 2x2 recurrence and its spectral radius
# --------------------------------------------------------------------------------------------------------------


def momentum_matrix(lam, eta, beta, nesterov: bool = False) -> np.ndarray:
    r"""The matrix :math:`R` of one momentum step along a direction of curvature :math:`\lambda`.

    State :math:`(x^t, b^{t-1})`: the coordinate (error) and torch's momentum buffer before the step.
    Heavy ball (:func:`lib.rules.momentum_update`) and Nesterov (:func:`lib.rules.nesterov_update`):

    .. math::
        R_\text{heavy} = \begin{pmatrix} 1-\eta\lambda & -\eta\beta \\ \lambda & \beta \end{pmatrix},
        \qquad
        R_\text{Nesterov} = \begin{pmatrix} 1-\eta\lambda(1+\beta) & -\eta\beta^2 \\ \lambda & \beta
        \end{pmatrix}.

    Starting from :math:`b^{-1} = 0` the powers of :math:`R` reproduce the rules exactly (torch's first step
    :math:`b^0 = g^0` is the same as :math:`\beta\cdot 0 + g^0`). :math:`\beta = 0` is gradient descent.
    The arguments broadcast; the result has shape ``broadcast_shape + (2, 2)``.

    References:
        B. T. Polyak (1964); G. Goh, "Why Momentum Really Works", Distill 2017.
    """
    lam = np.asarray(lam, dtype=np.float64)
    eta, beta = _check_eta(eta), check_beta(beta)
    lam, eta, beta = np.broadcast_arrays(lam, eta, beta)
    top_left = 1.0 - eta * lam * (1.0 + beta) if nesterov else 1.0 - eta * lam
    top_right = -eta * beta * beta if nesterov else -eta * beta
    return np.stack([np.stack([top_left, top_right], -1), np.stack([lam, beta], -1)], -2)


def _root_radius(p, q):
    # largest |sigma| over the roots of sigma^2 - p sigma + q = 0 (real p, q)
    disc = p * p - 4.0 * q
    real = (np.abs(p) + np.sqrt(np.maximum(disc, 0.0))) / 2.0
    return np.where(disc < 0.0, np.sqrt(np.abs(q)), real)


def spectral_radius(lam, eta, beta=0.0, nesterov: bool = False) -> np.ndarray:
    r"""Spectral radius :math:`\rho(R)` of :func:`momentum_matrix`, in closed form; broadcasts its arguments.

    The eigenvalues of :math:`R` are the roots of :math:`\sigma^2 - p\,\sigma + q`, with
    :math:`p = 1+\beta-\eta\lambda,\ q = \beta` (heavy ball) or
    :math:`p = (1+\beta)(1-\eta\lambda),\ q = \beta(1-\eta\lambda)` (Nesterov). With
    :math:`\Delta = p^2 - 4q`,

    .. math::
        \rho = \begin{cases} \sqrt{|q|} & \Delta < 0 \text{ (complex roots: heavy ball } \rho = \sqrt\beta) \\
        \tfrac12\bigl(|p| + \sqrt{\Delta}\bigr) & \Delta \ge 0 \text{ (real roots).} \end{cases}

    For :math:`\beta = 0` this is gradient descent's :math:`|1-\eta\lambda|`. A negative :math:`\lambda`
    (a direction of negative curvature, as at a saddle point) gives :math:`\rho > 1`: the rate of escape.

    References:
        G. Goh, "Why Momentum Really Works", Distill 2017, section "The dynamics of momentum".
    """
    lam = np.asarray(lam, dtype=np.float64)
    eta, beta = _check_eta(eta), check_beta(beta)
    h = eta * lam
    if nesterov:
        return _root_radius((1.0 + beta) * (1.0 - h), beta * (1.0 - h))
    return _root_radius(1.0 + beta - h, beta)


def rate(eta, beta, lams, nesterov: bool = False) -> np.ndarray:
    r"""Convergence rate on a quadratic with curvatures ``lams``: :math:`\max_i \rho(R_{\lambda_i})`.

    ``eta`` and ``beta`` broadcast against each other; ``lams`` is a sequence of eigenvalues (the worst one
    sets the rate). For :math:`\lambda \in [\lambda_{\min}, \lambda_{\max}]` the maximum is attained at one of
    the two ends (heavy ball: :math:`\rho` falls, stays at :math:`\sqrt\beta`, then rises as :math:`\eta\lambda`
    grows; Nesterov: checked numerically in the tests), so passing ``(lam_min, lam_max)`` gives the rate of any
    quadratic with that spectrum. A rate :math:`\ge 1`
    means no convergence (:math:`> 1`: divergence).

    References:
        G. Goh, "Why Momentum Really Works", Distill 2017.
    """
    lams = np.asarray(lams, dtype=np.float64)
    if lams.ndim != 1 or lams.size == 0:
        raise ValueError(f"Invalid lams: {lams} (need a non-empty 1-D sequence of curvatures)")
    eta, beta = np.broadcast_arrays(_check_eta(eta), check_beta(beta))
    return spectral_radius(lams, eta[..., None], beta[..., None], nesterov=nesterov).max(axis=-1)


def rate_map(etas, betas, lams, nesterov: bool = False) -> np.ndarray:
    r"""The rate of :func:`rate` on the grid ``betas × etas``: shape ``(len(betas), len(etas))``.

    Row :math:`i`, column :math:`j` is the rate at :math:`(\eta_j, \beta_i)`, the layout of a heat map with
    :math:`\eta` on the horizontal axis.

    References:
        G. Goh, "Why Momentum Really Works", Distill 2017 (the figure of convergence rate over
        :math:`(\alpha, \beta)`).
    """
    etas, betas = np.asarray(etas, dtype=np.float64), np.asarray(betas, dtype=np.float64)
    if etas.ndim != 1 or betas.ndim != 1:
        raise ValueError(f"Invalid grid: etas and betas must be 1-D, got shapes {etas.shape} and {betas.shape}")
    return rate(etas[None, :], betas[:, None], lams, nesterov=nesterov)


def gd_rate(eta, lam_min: float, lam_max: float) -> np.ndarray:
    r"""Gradient descent's rate on a quadratic: :math:`\max(|1-\eta\lambda_{\min}|, |1-\eta\lambda_{\max}|)`.

    References:
        J. Nocedal and S. J. Wright, *Numerical Optimization* (2006), §3.3.
    """
    _check_spectrum(lam_min, lam_max)
    eta = _check_eta(eta)
    return np.maximum(np.abs(1.0 - eta * lam_min), np.abs(1.0 - eta * lam_max))


def gd_optimal(lam_min: float, lam_max: float) -> Optimum:
    r"""Gradient descent's best constant step and rate, :math:`\kappa = \lambda_{\max}/\lambda_{\min}`:

    .. math:: \eta^\star = \frac{2}{\lambda_{\min}+\lambda_{\max}}, \qquad
        \rho^\star = \frac{\kappa-1}{\kappa+1}.

    At :math:`\eta^\star` the two extreme directions shrink equally fast, :math:`1-\eta\lambda_{\min} =
    -(1-\eta\lambda_{\max})`; any other step makes one of them slower.

    References:
        J. Nocedal and S. J. Wright, *Numerical Optimization* (2006), §3.3;
        G. Goh, "Why Momentum Really Works", Distill 2017.
    """
    _check_spectrum(lam_min, lam_max)
    kappa = lam_max / lam_min
    return Optimum(2.0 / (lam_min + lam_max), 0.0, (kappa - 1.0) / (kappa + 1.0))


def momentum_optimal(lam_min: float, lam_max: float) -> Optimum:
    r"""Heavy-ball momentum's best constant :math:`(\eta, \beta)` and rate:

    .. math:: \eta^\star = \Bigl(\frac{2}{\sqrt{\lambda_{\max}}+\sqrt{\lambda_{\min}}}\Bigr)^2, \qquad
        \beta^\star = \Bigl(\frac{\sqrt\kappa-1}{\sqrt\kappa+1}\Bigr)^2, \qquad
        \rho^\star = \sqrt{\beta^\star} = \frac{\sqrt\kappa-1}{\sqrt\kappa+1}.

    This choice puts both extreme curvatures exactly on the edge of the complex regime
    (:func:`complex_regime`), where every direction in between converges at :math:`\sqrt\beta`. The edge is a
    double root of the characteristic polynomial, so the error of the extreme directions behaves like
    :math:`t\,\rho^t`: slightly slower than :math:`\rho^t` over the first steps.

    References:
        B. T. Polyak (1964); G. Goh, "Why Momentum Really Works", Distill 2017.
    """
    _check_spectrum(lam_min, lam_max)
    s_min, s_max = math.sqrt(lam_min), math.sqrt(lam_max)
    r = (s_max - s_min) / (s_max + s_min)
    return Optimum((2.0 / (s_max + s_min)) ** 2, r * r, r)


def critical_beta(lam, eta) -> np.ndarray:
    r"""The smallest :math:`\beta` for which the heavy-ball roots along curvature :math:`\lambda` are complex.

    The discriminant :math:`(1+\beta-\eta\lambda)^2 - 4\beta` vanishes at :math:`\eta\lambda =
    (1\pm\sqrt\beta)^2`, so :math:`\beta_c = (1-\sqrt{\eta\lambda})^2`. For :math:`\beta > \beta_c` the
    direction oscillates and converges at :math:`\sqrt\beta` (when :math:`\beta_c < 1`, i.e.
    :math:`0 < \eta\lambda < 4`); below it the two roots are real and the larger one sets the rate.

    References:
        G. Goh, "Why Momentum Really Works", Distill 2017.
    """
    h = _check_eta(eta) * np.asarray(lam, dtype=np.float64)
    if np.any(h < 0.0):
        raise ValueError(f"Invalid lam: {lam} (critical_beta needs a curvature >= 0)")
    return (1.0 - np.sqrt(h)) ** 2


def complex_regime(lam, beta) -> tuple[np.ndarray, np.ndarray]:
    r"""The learning rates :math:`(\eta_\text{lo}, \eta_\text{hi})` for which heavy ball has complex roots.

    .. math:: \frac{(1-\sqrt\beta)^2}{\lambda} < \eta < \frac{(1+\sqrt\beta)^2}{\lambda}

    Inside, the rate is :math:`\sqrt\beta` whatever :math:`\eta`: the iterate spirals in (oscillates) with
    amplitude shrinking by :math:`\sqrt\beta` per step.

    References:
        G. Goh, "Why Momentum Really Works", Distill 2017.
    """
    lam = np.asarray(lam, dtype=np.float64)
    if np.any(~(lam > 0.0)):
        raise ValueError(f"Invalid lam: {lam} (need a curvature > 0)")
    s = np.sqrt(check_beta(beta))
    return (1.0 - s) ** 2 / lam, (1.0 + s) ** 2 / lam


def stability_limit(lam, beta=0.0, nesterov: bool = False) -> np.ndarray:
    r"""The largest stable learning rate along curvature :math:`\lambda > 0` (the rate is < 1 below it).

    .. math:: \eta < \frac{2(1+\beta)}{\lambda} \ \text{(heavy ball; } 2/\lambda \text{ for GD)}, \qquad
        \eta < \frac{2(1+\beta)}{(1+2\beta)\,\lambda} \ \text{(Nesterov)},

    the point where a root of the characteristic polynomial reaches :math:`\sigma = -1`.

    References:
        B. T. Polyak (1964); Y. Nesterov, *Introductory Lectures on Convex Optimization*, 2004.
    """
    lam = np.asarray(lam, dtype=np.float64)
    if np.any(~(lam > 0.0)):
        raise ValueError(f"Invalid lam: {lam} (need a curvature > 0)")
    beta = check_beta(beta)
    limit = 2.0 * (1.0 + beta) / lam
    return limit / (1.0 + 2.0 * beta) if nesterov else limit


# --------------------------------------------------------------------------------------------------------------
# reading rates off measured error histories
# --------------------------------------------------------------------------------------------------------------


def _envelope(errors: np.ndarray) -> np.ndarray:
    # the suffix maximum sup_{s >= t} e_s: monotone, and it bridges the dips of an oscillating error
    return np.maximum.accumulate(errors[..., ::-1], axis=-1)[..., ::-1]


def _log_slope(values: np.ndarray, t: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    # least-squares slope of log(values) against t over the entries above the floor, and how many there were
    keep = np.isfinite(values) & (values > floor)
    w = keep.astype(np.float64)
    y = np.log(np.where(keep, values, 1.0))
    count = w.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        t_mean = (w * t).sum(-1) / count
        y_mean = (w * y).sum(-1) / count
        dt = t - t_mean[..., None]
        slope = (w * dt * (y - y_mean[..., None])).sum(-1) / (w * dt * dt).sum(-1)
    return slope, count


def _errors(errors) -> np.ndarray:
    errors = np.asarray(errors, dtype=np.float64)
    if errors.ndim == 0 or errors.shape[-1] < 2:
        raise ValueError(f"Invalid errors: shape {errors.shape} (need a history of at least 2 steps)")
    if np.any(errors < 0.0):
        raise ValueError("Invalid errors: distances must be >= 0")
    return errors


def measured_rate(errors, start: int | None = None, stop: int | None = None, floor: float = 1e-250):
    r"""The convergence rate read off an error history :math:`e_t = \lVert\theta^t - \theta^\star\rVert`.

    Fits :math:`\log \bar e_t \approx a + t \log\rho` by least squares over the steps ``start <= t < stop``
    (default: the second half of the history) and returns :math:`\rho`. :math:`\bar e_t = \max_{s \ge t}
    e_s` is the upper envelope of the error: a momentum run in the complex regime spirals in and its distance
    to the minimum dips towards zero twice per turn; the envelope bridges those dips and decays at the same
    rate. For a monotone error :math:`\bar e = e` and the fit is the geometric mean of the ratios
    :math:`e_{t+1}/e_t` (exactly, when the decay is geometric). A growing error (a diverging run) has a flat
    suffix maximum; then the running maximum :math:`\max_{s \le t} e_s` is fitted instead, which gives a rate
    above 1. Steps where the envelope is :math:`\le` ``floor`` (or is not finite) are left out; with fewer
    than two steps left the rate is ``NaN``.

    ``errors`` has shape ``(..., T)``; the result has shape ``(...)``. A run that diverged and was stopped
    (its error then repeats) is measured only up to where it stopped if ``stop`` says so: check
    ``diverged_at``.

    References:
        J. Nocedal and S. J. Wright, *Numerical Optimization* (2006), §2.2 (rates of convergence).
    """
    errors = _errors(errors)
    n = errors.shape[-1]
    start = n // 2 if start is None else start
    stop = n if stop is None else stop
    if not 0 <= start < stop <= n:
        raise ValueError(f"Invalid window: start={start}, stop={stop} for a history of {n} steps")
    t = np.arange(start, stop, dtype=np.float64)
    down, count = _log_slope(_envelope(errors[..., :stop])[..., start:], t, floor)
    up, _ = _log_slope(np.maximum.accumulate(errors[..., start:stop], axis=-1), t, floor)
    slope = np.where(down < 0.0, down, up)
    return np.where(count >= 2, np.exp(slope), np.nan)


def steps_to_tolerance(errors, tol: float, relative: bool = True) -> np.ndarray:
    r"""The first step :math:`t` from which the error stays at or below ``tol`` (relative to :math:`e_0`).

    .. math:: t_\text{tol} = \min\{t : e_s \le \text{tol}\cdot e_0 \ \text{for all } s \ge t\}

    (without ``relative``, :math:`e_s \le \text{tol}`). "Stays" matters for momentum: its error oscillates
    and may dip below the tolerance before it is there for good. ``errors`` has shape ``(..., T)``; the
    result is an int array of shape ``(...)``, ``-1`` where the history never gets there for good.

    References:
        G. Goh, "Why Momentum Really Works", Distill 2017.
    """
    errors = _errors(errors)
    if not tol > 0.0:
        raise ValueError(f"Invalid tol: {tol} (need tol > 0)")
    threshold = tol * errors[..., :1] if relative else tol
    below = np.nan_to_num(_envelope(errors), nan=np.inf) <= threshold
    first = np.argmax(below, axis=-1)
    return np.where(below.any(axis=-1), first, -1).astype(np.int64)


def predicted_steps(rate, tol: float) -> np.ndarray:
    r"""Steps for an error shrinking like :math:`\rho^t` to reach ``tol``: :math:`\lceil \log\text{tol} /
    \log\rho \rceil` (``-1`` where :math:`\rho \ge 1`).

    References:
        J. Nocedal and S. J. Wright, *Numerical Optimization* (2006), §2.2.
    """
    if not 0.0 < tol < 1.0:
        raise ValueError(f"Invalid tol: {tol} (need 0 < tol < 1)")
    rate = np.asarray(rate, dtype=np.float64)
    if np.any(~(rate >= 0.0)):
        raise ValueError(f"Invalid rate: {rate} (need rate >= 0)")
    with np.errstate(divide="ignore", invalid="ignore"):
        steps = np.ceil(math.log(tol) / np.log(np.where(rate < 1.0, rate, 0.5)))
    return np.where(rate == 0.0, 1, np.where(rate < 1.0, steps, -1)).astype(np.int64)
