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

__all__ = ["curvatures", "nearest_critical_point", "stability_limit_at"]


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
