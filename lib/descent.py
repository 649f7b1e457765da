r"""Gradient descent on the book's surfaces and data: local stability limits, basins, mini-batch paths.

Near a minimum :math:`\theta^\star` a smooth loss is a quadratic,
:math:`L(\theta) \approx L(\theta^\star) + \tfrac12 (\theta-\theta^\star)^\top H (\theta-\theta^\star)`, and one
step of gradient descent :math:`\theta \leftarrow \theta - \eta\nabla L(\theta)` multiplies the error along the
Hessian eigenvector :math:`u_i` by :math:`1 - \eta\lambda_i`:

.. math::
    \theta^{t+1} - \theta^\star = (I - \eta H)(\theta^t - \theta^\star).

The iteration is stable near :math:`\theta^\star` if and only if every :math:`|1-\eta\lambda_i| < 1`, that is
:math:`0 < \eta < 2/\lambda_{\max}`: :func:`stability_limit` reads :math:`\lambda_{\max}` off a
:class:`lib.surfaces.Surface`'s Hessian at a point (:func:`curvatures`). The rate formulas of that linear
recurrence (:math:`\rho = \max_i|1-\eta\lambda_i|`, the best step :math:`2/(\lambda_{\min}+\lambda_{\max})`) and
their measurement from a run live in :mod:`lib.rates`.

Beyond the quadratic, :func:`nearest_critical_point` tells which critical point of a surface each run ended at
(the basins of attraction of a non-convex surface), and :func:`minibatch_path` follows batch, stochastic and
mini-batch gradient descent on a :class:`lib.data.LeastSquares` problem update by update, for pictures of their
paths.

References:
    J. Nocedal and S. J. Wright (2006), Numerical Optimization, 2nd ed., Springer, §2.1 and §3.3.
    L. Bottou, F. E. Curtis and J. Nocedal (2018), Optimization methods for large-scale machine learning,
    SIAM Review 60(2), §3.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lib import rates as _rates
from lib import rules as _rules
from lib import trajectories as _trajectories
from lib.data import LeastSquares
from lib.surfaces import Surface

__all__ = ["MinibatchPath", "curvatures", "minibatch_path", "nearest_critical_point", "stability_limit"]


def curvatures(surface: Surface, xy) -> np.ndarray:
    r"""The Hessian eigenvalues :math:`\lambda_{\min} \le \lambda_{\max}` of ``surface`` at ``xy``.

    ``xy`` has shape ``(..., 2)``; the result has shape ``(..., 2)``, ascending along the last axis.

    References:
        Nocedal & Wright (2006), §2.1 (second-order conditions).
    """
    xy = np.asarray(xy, dtype=np.float64)
    if xy.shape[-1:] != (2,):
        raise ValueError(f"Invalid xy shape: {xy.shape} (expected (..., 2))")
    return np.linalg.eigvalsh(surface.hessian(xy))


def stability_limit(surface: Surface, xy) -> np.ndarray | float:
    r"""The largest stable learning rate of gradient descent near ``xy``: :math:`2/\lambda_{\max}(H(xy))`.

    For :math:`\eta < 2/\lambda_{\max}` every eigen-component of the error contracts,
    :math:`|1-\eta\lambda_i| < 1`; above it the steepest component grows by :math:`|1-\eta\lambda_{\max}| > 1`
    per step. Where :math:`\lambda_{\max} \le 0` (a maximum, or flat) no step size is unstable in this sense:
    the result is ``inf``. A float for one point, an array of shape ``(...)`` for ``xy`` of shape ``(..., 2)``.

    References:
        Nocedal & Wright (2006), §3.3; :func:`lib.rates.stability_limit` (the same limit for a curvature).
    """
    lam_max = curvatures(surface, xy)[..., -1]
    positive = lam_max > 0.0
    limit = np.where(positive, _rates.stability_limit(np.where(positive, lam_max, 1.0)), np.inf)
    return float(limit) if limit.ndim == 0 else limit


def nearest_critical_point(surface: Surface, xy, tol: float = 1e-3) -> np.ndarray | int:
    r"""Index into ``surface.critical_points`` of the one within ``tol`` of each point ``xy``, else ``-1``.

    Used on the end points of many runs, it tells which minimum (or saddle) each start ended at: the basins
    of attraction of gradient descent. ``xy`` has shape ``(..., 2)``; the result shape ``(...)``, an int for
    one point.

    References:
        Nocedal & Wright (2006), §2.1.
    """
    if not tol > 0.0:
        raise ValueError(f"Invalid tol: {tol} (must be > 0)")
    xy = np.asarray(xy, dtype=np.float64)
    if xy.shape[-1:] != (2,):
        raise ValueError(f"Invalid xy shape: {xy.shape} (expected (..., 2))")
    points = np.array([p.xy for p in surface.critical_points], dtype=np.float64)
    distance = np.linalg.norm(xy[..., None, :] - points, axis=-1)
    index = np.argmin(distance, axis=-1)
    index = np.where(np.take_along_axis(distance, index[..., None], axis=-1)[..., 0] <= tol, index, -1)
    return int(index) if index.ndim == 0 else index


class MinibatchPath(NamedTuple):
    """The iterates of :func:`minibatch_path`: ``S`` updates, ``d`` parameters."""

    theta: np.ndarray  # (S+1, d), theta[0] is the start; after a divergence the last iterate inside is repeated
    loss: np.ndarray  # (S+1,), full-data loss at each iterate
    epoch: np.ndarray  # (S+1,), epochs completed (fractional inside an epoch)
    diverged_at: int = -1  # the update at which the run diverged, -1 if it did not (as in lib.trajectories)


def minibatch_path(
    problem: LeastSquares,
    theta0,
    batch_size: int,
    *,
    eta: float,
    epochs: int,
    seed: int = 0,
    rule: str = "gd",
    bound: float = 1e6,
    **hparams,
) -> MinibatchPath:
    r"""Mini-batch gradient descent on a least-squares problem, every iterate kept.

    Each epoch draws a fresh permutation of the :math:`n` examples (``numpy.random.default_rng(seed)``) and
    cuts it into consecutive batches :math:`B` of ``batch_size`` (the last one smaller when ``batch_size`` does
    not divide :math:`n`); each batch makes one update of the :mod:`lib.rules` rule ``rule`` (default plain
    gradient descent) with the mini-batch gradient

    .. math:: \theta \leftarrow \theta - \eta\,\nabla L_B(\theta), \qquad
        \nabla L_B(\theta) = \tfrac{2}{|B|} X_B^\top (X_B\theta - y_B).

    ``batch_size = n`` is batch gradient descent (one update per epoch), ``1`` stochastic gradient descent
    (:math:`n` updates per epoch). The full-data loss is recorded at every iterate.

    **Divergence**, as in :mod:`lib.trajectories`: the run diverges at update :math:`k` when
    :math:`\theta^k` is not finite or leaves the box :math:`\max_i |\theta_i| \le` ``bound``. It then stops:
    ``theta[k:]`` repeats the last iterate inside, ``theta[k - 1]`` (so ``loss`` stays finite), and
    ``diverged_at = k`` (``-1`` if it never diverged, ``0`` if ``theta0`` itself lies outside the box). The
    overflow warnings numpy raises on the way are silenced: they are the expected symptom, recorded in
    ``diverged_at``.

    References:
        Robbins & Monro (1951); Bottou, Curtis & Nocedal (2018), §3 and Algorithm 3.1.
    """
    n, d = problem.X.shape
    if not isinstance(batch_size, int | np.integer) or not 1 <= batch_size:
        raise ValueError(f"Invalid batch_size: {batch_size} (must be an integer >= 1)")
    if not isinstance(epochs, int | np.integer) or epochs < 1:
        raise ValueError(f"Invalid epochs: {epochs} (must be an integer >= 1)")
    if not eta > 0.0:
        raise ValueError(f"Invalid learning rate: {eta}")
    if rule not in _rules.RULES:
        raise ValueError(f"Unknown rule: {rule!r}, expected one of {sorted(_rules.RULES)}")
    theta = np.array(theta0, dtype=np.float64)
    if theta.shape != (d,):
        raise ValueError(f"Invalid theta0 shape: {theta.shape} (expected ({d},))")
    if not np.isfinite(theta).all():
        raise ValueError("Invalid theta0: every entry must be finite")
    limit = _trajectories.divergence_limit(bound)
    batch_size = min(int(batch_size), n)
    init, update = _rules.RULES[rule].init, _rules.RULES[rule].update
    state = init(theta)
    rng = np.random.default_rng(seed)
    per_epoch = -(-n // batch_size)
    theta_path = np.empty((epochs * per_epoch + 1, d))
    theta_path[0] = theta
    diverged_at = -1 if np.abs(theta).max() <= limit else 0
    t = 0  # updates made
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for _ in range(epochs):
            if diverged_at >= 0:
                break
            order = rng.permutation(n) if batch_size < n else np.arange(n)
            for k in range(per_epoch):
                idx = order[k * batch_size:(k + 1) * batch_size]
                step, state = update(problem.grad(theta, idx), state, theta, eta=eta, **hparams)
                theta = theta + step
                t += 1
                if not np.abs(theta).max() <= limit:
                    diverged_at = t
                    break
                theta_path[t] = theta
        if diverged_at >= 0:  # frozen at the last iterate inside (the start, if it lies outside)
            theta_path[diverged_at:] = theta_path[max(diverged_at - 1, 0)]
        loss = problem.loss(theta_path)
    return MinibatchPath(theta_path, loss, np.arange(len(theta_path)) / per_epoch, diverged_at)
