r"""The gradient-descent chapter's helpers: local stability limits and basins of attraction on surfaces.

Near a minimum :math:`\theta^\star` a smooth loss is a quadratic,
:math:`L(\theta) \approx L(\theta^\star) + \tfrac12 (\theta-\theta^\star)^\top H (\theta-\theta^\star)`, and one
step of gradient descent :math:`\theta \leftarrow \theta - \eta\nabla L(\theta)` multiplies the error along the
Hessian eigenvector :math:`u_i` by :math:`1 - \eta\lambda_i`:

.. math::
    \theta^{t+1} - \theta^\star = (I - \eta H)(\theta^t - \theta^\star).

The iteration is stable near :math:`\theta^\star` if and only if every :math:`|1-\eta\lambda_i| < 1`, that is
:math:`0 < \eta < 2/\lambda_{\max}`: :func:`stability_limit_at` reads :math:`\lambda_{\max}` off a
:class:`lib.surfaces.Surface`'s Hessian at a point (:func:`curvatures`). The rate formulas of that linear
recurrence (:math:`\rho = \max_i|1-\eta\lambda_i|`, the best step :math:`2/(\lambda_{\min}+\lambda_{\max})`) and
their measurement from a run live in :mod:`lib.convergence`.

Beyond the quadratic, :func:`nearest_critical_point` tells which critical point of a surface each run ended at
(the basins of attraction of a non-convex surface). Mini-batch paths on a least-squares problem are core
(:func:`lib.trajectories.minibatch_path`, shared with the batch-size chapter).

References:
    J. Nocedal and S. J. Wright (2006), Numerical Optimization, 2nd ed., Springer, §2.1 and §3.3.
    L. Bottou, F. E. Curtis and J. Nocedal (2018), Optimization methods for large-scale machine learning,
    SIAM Review 60(2), §3.
"""

from __future__ import annotations

import numpy as np

from lib import convergence
from lib.surfaces import Surface

__all__ = ["curvatures", "nearest_critical_point", "regime_names", "stability_limit_at"]


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


def stability_limit_at(surface: Surface, xy) -> np.ndarray | float:
    r"""The largest stable learning rate of gradient descent near ``xy``: :math:`2/\lambda_{\max}(H(xy))`.

    For :math:`\eta < 2/\lambda_{\max}` every eigen-component of the error contracts,
    :math:`|1-\eta\lambda_i| < 1`; above it the steepest component grows by :math:`|1-\eta\lambda_{\max}| > 1`
    per step. Where :math:`\lambda_{\max} \le 0` (a maximum, or flat) no step size is unstable in this sense:
    the result is ``inf``. A float for one point, an array of shape ``(...)`` for ``xy`` of shape ``(..., 2)``.

    References:
        Nocedal & Wright (2006), §3.3; :func:`lib.convergence.stability_limit` (the same limit for a curvature).
    """
    lam_max = curvatures(surface, xy)[..., -1]
    positive = lam_max > 0.0
    limit = np.where(positive, convergence.stability_limit(np.where(positive, lam_max, 1.0)), np.inf)
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


def regime_names(path, diverged_at, steps_to_converge) -> list[str]:
    r"""Name the regime of each 1-D gradient-descent run from what it did, not from its learning rate.

    ``path`` has shape ``(R, T)`` (the iterates :math:`\theta_t - \theta^\star` of ``R`` runs),
    ``diverged_at`` and ``steps_to_converge`` shape ``(R,)`` (``-1``: never). A run that diverged is "far too
    large: diverges"; one whose iterate changes sign (it jumps over the minimum) is "too large: oscillates";
    among the others, the one that converged in the fewest steps is "best: lands in one step" when that is one
    step (:math:`\eta = 1/\lambda` on a parabola) and "fastest of these" otherwise; the rest are "too small".

    References:
        Nocedal & Wright (2006), §3.3 (the factor :math:`1-\eta\lambda` per step).
    """
    path = np.asarray(path, dtype=np.float64)
    diverged_at = np.asarray(diverged_at)
    steps = np.asarray(steps_to_converge)
    if path.ndim != 2 or diverged_at.shape != (len(path),) or steps.shape != (len(path),):
        raise ValueError(
            f"Invalid shapes: path {path.shape}, diverged_at {diverged_at.shape}, steps_to_converge {steps.shape} "
            "(expected (R, T), (R,), (R,))"
        )
    finite = np.where(np.isfinite(path), path, 0.0)
    oscillates = np.any(finite[:, 1:] * finite[:, :-1] < 0, axis=1)
    monotone = (diverged_at < 0) & ~oscillates & (steps >= 0)
    fastest = steps[monotone].min() if monotone.any() else -1
    names = []
    for k in range(len(path)):
        if diverged_at[k] >= 0:
            names.append("far too large: diverges")
        elif oscillates[k]:
            names.append("too large: oscillates")
        elif monotone[k] and steps[k] == fastest:
            names.append("best: lands in one step" if fastest == 1 else "fastest of these")
        else:
            names.append("too small")
    return names
