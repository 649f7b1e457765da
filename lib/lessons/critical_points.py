r"""Where training stalls: critical points of small networks, and escaping saddle points.

The experiments of the chapter "Local minima and saddle points" (Hung-yi Lee's lecture on critical points,
LeeDL §3.1), written once and tested:

- **Finding critical points of a real network.** :class:`NetworkLoss` is a small network's training loss
  :math:`L(\theta) = \mathrm{CE}(\theta) + \tfrac{\lambda_\text{wd}}{2}\lVert\theta\rVert^2` as a function of
  one flat parameter vector. :func:`survey` trains many copies (:func:`lib.train.train_stacked`), then switches the
  objective to the squared gradient norm, LeeDL's trick,

  .. math:: \min_\theta\ \tfrac12 \lVert g(\theta)\rVert^2, \qquad g = \nabla L(\theta),

  minimized by :func:`minimize_grad_norm` (Levenberg-Marquardt: Gauss-Newton steps on the residual
  :math:`g`, whose Jacobian is the Hessian :math:`H`), and reads each end point's full Hessian spectrum
  (:func:`lib.hessian.hessian`, ``eigh``): minimum ratio, kind, and whether a critical point was reached at
  all (the squared gradient norm also has minima where :math:`g \ne 0` and :math:`Hg = 0`: *gradient-flat*
  points, Frye et al. 2021).
- **Escaping saddles.** :func:`perturbed_gd` runs gradient descent, with optional Gaussian noise on the
  gradient, from many starts on a 2-D surface; :func:`escape_time` reads when each run got away from a point;
  :func:`escape_step` steps along the escape direction (:func:`lib.hessian.escape_direction`);
  :func:`escape_experiment` measures the time to escape against the distance of the start from the saddle for
  the three; :func:`network_escape` does the same on a network's saddle.
- :func:`hidden_saddle`: a surface whose origin is a minimum along each axis but a saddle in the plane.

References:
    H.-y. Lee, Machine Learning 2021, lecture "When gradient is small: local minimum and saddle point";
    LeeDL tutorial §3.1.
    Y. N. Dauphin et al. (2014). Identifying and attacking the saddle point problem in high-dimensional
    non-convex optimization. NeurIPS 2014.
    C. G. Frye, J. Simon, N. S. Wadia, A. Ligeralde, M. R. DeWeese & K. E. Bouchard (2021). Critical
    point-finding methods reveal gradient-flat regions of deep network losses. Neural Computation 33(6).
    R. Ge, F. Huang, C. Jin & Y. Yuan (2015). Escaping from saddle points: online stochastic gradient for
    tensor decomposition. COLT 2015.
    C. Jin, R. Ge, P. Netrapalli, S. M. Kakade & M. I. Jordan (2017). How to escape saddle points
    efficiently. ICML 2017.
    J. Nocedal & S. J. Wright (2006). Numerical Optimization, 2nd ed., §10.3 (Levenberg-Marquardt).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from lib import data as _data
from lib import hessian as _hessian
from lib import losses as _losses
from lib import models as _models
from lib import rules as _rules
from lib import train as _train
from lib.checks import check_int, check_nonnegative, check_positive, invalid
from lib.iterate import iterate
from lib.surfaces import CriticalPoint, Surface
from lib.trajectories import Trajectories
from lib.viz import plots

__all__ = [
    "ADAM_L2",
    "EndPoint",
    "EscapeTable",
    "GradNormRun",
    "NetworkLoss",
    "digits_problem",
    "escape_experiment",
    "escape_step",
    "escape_time",
    "gradient_flatness",
    "hidden_saddle",
    "minimize_grad_norm",
    "network_escape",
    "perturbed_gd",
    "plot_end_points",
    "survey",
]


# ------------------------------------------------------------------------------------------------ surfaces


def hidden_saddle() -> Surface:
    r""":math:`f(x, y) = x^2 + 4xy + y^2 + \tfrac18 (x - y)^4`: a minimum along each axis, a saddle in 2-D.

    Along either axis the origin is a minimum (:math:`f(x, 0) = x^2 + x^4/8`), but the Hessian there is
    :math:`\begin{pmatrix}2 & 4\\ 4 & 2\end{pmatrix}` with eigenvalues :math:`6` (along :math:`(1, 1)`) and
    :math:`-2` (along :math:`(1, -1)`): a saddle point. Along :math:`s = (x - y)/\sqrt2` the function is
    :math:`-s^2 + s^4/2`, with the two global minima :math:`\pm(1, -1)/\sqrt2` (:math:`f = -\tfrac12`,
    Hessian eigenvalues 6 and 4).

    References:
        H.-y. Lee, Machine Learning 2021, lecture "When gradient is small" (a local minimum in a
        low-dimensional view can be a saddle point in a higher-dimensional one).
    """
    a = 1.0 / math.sqrt(2.0)
    return Surface(
        name="hidden_saddle",
        label="Hidden saddle",
        bounds=((-1.5, 1.5), (-1.5, 1.5)),
        starts=((0.6, 0.6), (0.05, 0.0), (-1.2, 0.3)),
        critical_points=(
            CriticalPoint((0.0, 0.0), "saddle point"),
            CriticalPoint((a, -a), "global minimum"),
            CriticalPoint((-a, a), "global minimum"),
        ),
        f=lambda x, y: x * x + 4.0 * x * y + y * y + (x - y) ** 4 / 8.0,
        df=lambda x, y: (2.0 * x + 4.0 * y + (x - y) ** 3 / 2.0, 4.0 * x + 2.0 * y - (x - y) ** 3 / 2.0),
        d2f=lambda x, y: ((2.0 + 1.5 * (x - y) ** 2, 4.0 - 1.5 * (x - y) ** 2),
                          (4.0 - 1.5 * (x - y) ** 2, 2.0 + 1.5 * (x - y) ** 2)),
        formula=r"x^2 + 4xy + y^2 + \tfrac18 (x - y)^4",
    )


# ---------------------------------------------------------------------------------------- escaping saddles


def _starts(starts) -> np.ndarray:
    xy = np.asarray(starts, dtype=np.float64)
    if xy.ndim == 1:
        xy = xy[None]
    if xy.ndim != 2 or xy.shape[1] != 2 or not np.all(np.isfinite(xy)):
        raise ValueError(f"starts must be finite points of shape (S, 2), got shape {np.shape(starts)}")
    return xy


def perturbed_gd(
    surface: Surface, starts, steps: int, *, eta, sigma: float = 0.0, seed: int = 0, bound: float = 1e6
) -> Trajectories:
    r"""Gradient descent on a 2-D surface with Gaussian noise on the gradient, from many starts at once.

    .. math::
       \theta_{t+1} = \theta_t - \eta_t\,\big(\nabla f(\theta_t) + \sigma\,\xi_t\big), \qquad
       \xi_t \sim \mathcal N(0, I),

    the step of :func:`lib.rules.gd_update` applied to a noisy gradient, through the one driver
    :func:`lib.iterate.iterate` (``eta``: a number, a per-step array or a schedule): with ``sigma = 0`` plain
    gradient descent, with ``sigma > 0`` a model of the noise of stochastic gradients (perturbed gradient descent,
    Ge et al. 2015). Each start draws its own noise from one generator seeded with ``seed``.

    Returns:
        :class:`lib.trajectories.Trajectories`: ``path`` of shape ``(S, steps + 1, 2)``, ``loss`` and
        ``diverged_at`` (a start that leaves the box of half-width ``bound`` is stopped there and reported).

    References:
        R. Ge, F. Huang, C. Jin & Y. Yuan (2015). Escaping from saddle points: online stochastic gradient for
        tensor decomposition. COLT 2015.
    """
    check_int("steps", steps, minimum=1)
    if isinstance(eta, numbers.Real):
        check_positive("learning rate", eta)
    check_nonnegative("sigma", sigma)
    theta = _starts(starts)
    rng = np.random.default_rng(seed)

    def grad(theta, t):
        g = surface.grad(theta)
        return g + sigma * rng.standard_normal(theta.shape) if sigma > 0 else g

    it = iterate(grad, theta, steps, rule="gd", eta=eta, bound=bound, copies_axis=0)
    path = it.path.transpose(1, 0, 2)
    return Trajectories(path, surface.f(path[..., 0], path[..., 1]), it.diverged_at)


def escape_time(path, center, radius: float) -> np.ndarray:
    r"""First step at which each run is at least ``radius`` away from ``center``; ``-1`` if it never is.

    ``path`` has shape ``(S, T + 1, d)`` (or ``(T + 1, d)`` for one run); the distance is Euclidean.
    """
    check_positive("radius", radius)
    p = np.asarray(path, dtype=np.float64)
    single = p.ndim == 2
    if single:
        p = p[None]
    if p.ndim != 3:
        raise invalid("path", np.shape(path), "must have shape (S, T+1, d) or (T+1, d)")
    dist = np.linalg.norm(p - np.asarray(center, dtype=np.float64), axis=-1)
    away = dist >= radius
    t = np.where(away.any(axis=1), away.argmax(axis=1), -1)
    return t[0] if single else t


def escape_step(surface: Surface, xy, *, rho: float) -> np.ndarray:
    r"""A step of length ``rho`` along the escape direction at each point ``xy``: :math:`\theta + \rho u`.

    :math:`u` is the unit eigenvector of the most negative eigenvalue of the Hessian at :math:`\theta`
    (:func:`lib.hessian.escape_direction` on the surface's torch value, signed so that
    :math:`g^\top u \le 0`). Where there is no negative curvature the point is returned unchanged.

    Near a saddle with :math:`H u = \lambda u`, :math:`\lambda < 0`:
    :math:`f(\theta + \rho u) \approx f(\theta) + \rho\, g^\top u + \tfrac12 \lambda \rho^2 < f(\theta)`.

    References:
        Y. N. Dauphin et al. (2014), NeurIPS; H.-y. Lee, lecture "When gradient is small".
    """
    check_positive("rho", rho)
    out = _starts(xy).copy()
    for i, point in enumerate(out):
        p = torch.tensor(point, dtype=torch.float64, requires_grad=True)
        esc = _hessian.escape_direction(lambda p=p: surface.value(p), [p])
        if esc is not None:
            out[i] = point + rho * esc.direction.numpy()
    return out


class EscapeTable(NamedTuple):
    """Steps to escape, one row per start distance (``-1``: not within the steps run).

    ``gd`` plain gradient descent; ``noisy`` the median over ``n_noise`` noise seeds of perturbed gradient
    descent, ``noisy_all`` ``(distances, n_noise)`` every seed; ``escape_step`` one step of length ``rho``
    along the escape direction, then gradient descent (the step counts as one).
    """

    distance: np.ndarray
    gd: np.ndarray
    noisy: np.ndarray
    noisy_all: np.ndarray
    escape_step: np.ndarray


def escape_experiment(
    surface: Surface,
    saddle,
    distances: Sequence[float],
    *,
    eta: float,
    steps: int,
    radius: float = 1.0,
    angle: float = math.pi / 6,
    sigma: float = 0.01,
    n_noise: int = 32,
    rho: float = 0.1,
    seed: int = 0,
) -> EscapeTable:
    r"""Time to escape a saddle against the distance of the start from it, for three ways of moving.

    Each start is :math:`\theta_0 = \theta^\ast + \delta\,(\cos\alpha, \sin\alpha)` (``saddle`` =
    :math:`\theta^\ast`, ``angle`` = :math:`\alpha`, ``distances`` = the :math:`\delta`); a run has escaped
    when it is ``radius`` away from :math:`\theta^\ast` (:func:`escape_time`). Near a saddle the component
    along the eigenvector of :math:`\lambda < 0` grows by :math:`(1 + \eta|\lambda|)` per step of gradient
    descent, so plain GD needs about

    .. math:: t \approx \frac{\ln(r / (\delta\,|\sin\text{-component}|))}{\ln(1 + \eta |\lambda|)}

    steps: linear in :math:`\ln(1/\delta)`, and never from exactly :math:`\delta = 0`. Noise of size
    :math:`\eta\sigma` per step puts a floor under the distance, and a step of length :math:`\rho` along the
    escape direction makes the start irrelevant.

    References:
        S. S. Du, C. Jin, J. D. Lee, M. I. Jordan, B. Poczos & A. Singh (2017). Gradient descent can take
        exponential time to escape saddle points. NeurIPS 2017.
        C. Jin et al. (2017). How to escape saddle points efficiently. ICML 2017.
    """
    check_int("n_noise", n_noise, minimum=1)
    delta = np.asarray(distances, dtype=np.float64).reshape(-1)
    if delta.size == 0 or np.any(delta < 0) or not np.all(np.isfinite(delta)):
        raise invalid("distances", distances, "must be a non-empty list of finite numbers >= 0")
    center = np.asarray(saddle, dtype=np.float64)
    starts = center + delta[:, None] * np.array([math.cos(angle), math.sin(angle)])
    gd = escape_time(perturbed_gd(surface, starts, steps, eta=eta).path, center, radius)
    noisy_starts = np.repeat(starts, n_noise, axis=0)
    noisy_path = perturbed_gd(surface, noisy_starts, steps, eta=eta, sigma=sigma, seed=seed).path
    noisy_all = escape_time(noisy_path, center, radius).reshape(len(delta), n_noise)
    reached = np.where(noisy_all >= 0, noisy_all, np.iinfo(np.int64).max)
    median = np.median(reached, axis=1)
    noisy = np.where(median < np.iinfo(np.int64).max, median, -1).astype(np.int64)
    pushed = escape_step(surface, starts, rho=rho)
    after = escape_time(perturbed_gd(surface, pushed, steps - 1, eta=eta).path, center, radius)
    return EscapeTable(delta, gd, noisy, noisy_all, np.where(after >= 0, after + 1, -1))


# ---------------------------------------------------------------------------------------------- networks


class NetworkLoss:
    r"""A small network's regularized training loss as a function of one flat parameter vector.

    .. math::
       L(\theta) = \frac1N \sum_{i=1}^N \ell\big(f_\theta(x_i), y_i\big)
       + \frac{\lambda_\text{wd}}{2}\lVert\theta\rVert^2,

    with :math:`\ell` the cross-entropy (``loss="cross_entropy"``) or the squared error (``"mse"``) and
    :math:`\lambda_\text{wd}` = ``weight_decay`` on every parameter, biases included. The L2 term keeps the
    critical points at finite :math:`\theta`: without it a network that separates its training data lowers the
    cross-entropy forever by growing its weights, and the squared gradient norm has no minimum to land on.

    :math:`\theta` is the parameters of ``model_fn(seed)`` flattened in the order of ``named_parameters()``
    (the order :func:`lib.train.train_stacked` stacks them in), float64.
    """

    def __init__(
        self,
        model_fn: Callable[[int], nn.Module],
        X: torch.Tensor,
        y: torch.Tensor,
        *,
        weight_decay: float = 0.0,
        loss: str = "cross_entropy",
    ):
        if loss not in ("cross_entropy", "mse"):
            raise invalid("loss", loss, "must be 'cross_entropy' or 'mse'")
        check_nonnegative("weight_decay", weight_decay)
        model = model_fn(0)
        if not isinstance(model, nn.Module):
            raise ValueError(f"model_fn must return a torch.nn.Module, got {type(model).__name__}")
        self.model_fn = model_fn
        self.X = torch.as_tensor(X, dtype=torch.float64)
        self.y = torch.as_tensor(y)
        if len(self.X) != len(self.y) or len(self.X) == 0:
            raise ValueError(
                f"X and y must be non-empty and of equal length, got {len(self.X)} and {len(self.y)}"
            )
        self.weight_decay = float(weight_decay)
        self.loss = loss
        self.names = [k for k, _ in model.named_parameters()]
        self.shapes = [p.shape for _, p in model.named_parameters()]
        self.sizes = [p.numel() for _, p in model.named_parameters()]
        self.n = sum(self.sizes)
        self._base = model.to(torch.float64).to("meta")

    def unflatten(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        """The parameter dict of a flat vector (views into ``theta``)."""
        parts = torch.split(theta, self.sizes)
        return {k: p.view(s) for k, p, s in zip(self.names, parts, self.shapes, strict=True)}

    def flatten(self, params) -> torch.Tensor:
        """Flat float64 vector of a module's parameters, or of a ``{name: tensor}`` dict (a
        :class:`lib.train.StackedHistory`'s ``params`` gives ``(C, n)``, one row per copy)."""
        if isinstance(params, nn.Module):
            params = dict(params.named_parameters())
        lead = params[self.names[0]].shape[: params[self.names[0]].dim() - len(self.shapes[0])]
        flat = [params[k].detach().reshape(*lead, -1) for k in self.names]
        return torch.cat(flat, dim=-1).to(torch.float64)

    def init(self, seed: int) -> torch.Tensor:
        """The flat initial parameters of ``model_fn(seed)``."""
        return self.flatten(self.model_fn(seed))

    def __call__(self, theta: torch.Tensor) -> torch.Tensor:
        """:math:`L(\\theta)`, a differentiable scalar tensor."""
        out = functional_call(self._base, self.unflatten(theta), (self.X,))
        if self.loss == "cross_entropy":
            data_loss = _losses.cross_entropy(out, self.y)
        else:
            data_loss = _losses.mse_loss(out.reshape(self.y.shape), self.y.to(out.dtype))
        return data_loss + 0.5 * self.weight_decay * (theta * theta).sum()

    def value_and_grad(self, theta: torch.Tensor) -> tuple[float, torch.Tensor]:
        """:math:`(L(\\theta), \\nabla L(\\theta))`, detached."""
        theta = theta.detach().clone().requires_grad_(True)
        value = self(theta)
        (g,) = torch.autograd.grad(value, theta)
        return float(value.detach()), g

    def hessian(self, theta: torch.Tensor) -> torch.Tensor:
        """Dense :math:`\\nabla^2 L(\\theta)`, ``(n, n)``, by :func:`lib.hessian.hessian`, symmetrized."""
        theta = theta.detach().clone().requires_grad_(True)
        H = _hessian.hessian(lambda: self(theta), [theta])
        return (H + H.T) / 2


def digits_problem(hidden: int = 4, *, weight_decay: float = 1e-2, test_size: float = 0.8) -> NetworkLoss:
    r"""The chapter's network: a ``64 → hidden → 10`` tanh MLP on scikit-learn's digits, cross-entropy, L2.

    The training part of ``lib.data.digits(test_size)`` (359 images with the default 0.8, stratified); with
    ``hidden=4`` the network has :math:`64\cdot4 + 4 + 4\cdot10 + 10 = 310` parameters, small enough for a
    dense Hessian.
    """
    check_int("hidden", hidden, minimum=1)
    d = _data.digits(test_size=test_size, dtype=torch.float64)

    def model_fn(seed: int) -> nn.Module:
        return _models.mlp([64, hidden, 10], seed=seed, dtype=torch.float64)

    return NetworkLoss(model_fn, d.X_train, d.y_train, weight_decay=weight_decay)


ADAM_L2 = _rules.RULES["adam_l2"]
"""Adam on :math:`L + \\tfrac{\\lambda_\\text{wd}}{2}\\lVert\\theta\\rVert^2`: the L2 gradient
:math:`\\lambda_\\text{wd}\\theta` is added before the moments (torch's coupled ``weight_decay``), so its fixed
points are the critical points of :class:`NetworkLoss` with the same ``weight_decay``. (AdamW's decoupled decay
has other fixed points.)"""


class GradNormRun(NamedTuple):
    r"""What :func:`minimize_grad_norm` did: the end point ``theta``, its ``loss``, ``grad_norms``
    :math:`\lVert g\rVert` after each iteration (entry 0 = the start), ``eigenvalues`` (ascending) and
    ``H`` of the Hessian at the end point, ``n_hessians`` dense Hessians computed, and ``converged``
    (:math:`\lVert g\rVert \le` ``gtol``)."""

    theta: torch.Tensor
    loss: float
    grad_norms: np.ndarray
    eigenvalues: np.ndarray
    H: torch.Tensor
    n_hessians: int
    converged: bool


def minimize_grad_norm(
    problem: NetworkLoss,
    theta: torch.Tensor,
    *,
    max_iter: int = 10,
    gtol: float = 1e-9,
    stall: float = 0.5,
    mu0: float = 1e-4,
    reuse: int = 5,
) -> GradNormRun:
    r"""LeeDL's trick: minimize :math:`\tfrac12\lVert g(\theta)\rVert^2` to land on a critical point.

    The residual is :math:`g(\theta)` and its Jacobian the Hessian :math:`H`, so this is a least-squares
    problem; each iteration takes the Levenberg-Marquardt step

    .. math::
       \delta = -(H^2 + \mu I)^{-1} H g = -\sum_i \frac{\lambda_i}{\lambda_i^2 + \mu}\,(v_i^\top g)\, v_i,
       \qquad H = \sum_i \lambda_i v_i v_i^\top,

    accepted if it lowers :math:`\lVert g\rVert` (then :math:`\mu \leftarrow \mu/10`), else retried with
    :math:`\mu \leftarrow 10\mu` (a gradient evaluation per try). Small :math:`\mu` is Newton's step
    :math:`-H^{-1}g`, which converges fast to *any* nearby critical point, minimum or saddle; large
    :math:`\mu` is a short gradient-descent step on :math:`\tfrac12\lVert g\rVert^2`
    (:math:`\nabla \tfrac12\lVert g\rVert^2 = Hg`). Starts with :math:`\mu = \mu_0 \lambda_{\max}^2`.

    Stops when :math:`\lVert g\rVert \le` ``gtol`` (converged), after ``max_iter`` iterations, or when three
    iterations shrank :math:`\lVert g\rVert` by less than the factor ``stall``: then the run sits near a
    minimum of :math:`\lVert g\rVert^2` that is not a critical point (see :func:`gradient_flatness`).
    One dense Hessian per iteration, plus one at the end point (whose eigenvalues are returned).

    References:
        J. Nocedal & S. J. Wright (2006). Numerical Optimization, §10.3.
        C. G. Frye et al. (2021). Critical point-finding methods reveal gradient-flat regions of deep network
        losses. Neural Computation 33(6).
    """
    check_int("max_iter", max_iter, minimum=1)
    check_positive("gtol", gtol)
    check_positive("mu0", mu0)
    if not 0 < stall < 1:
        raise invalid("stall", stall, "must be in (0, 1)")
    theta = torch.as_tensor(theta, dtype=torch.float64).detach().reshape(-1)
    if theta.numel() != problem.n:
        raise invalid("theta", theta.numel(), f"must have n = {problem.n} elements")
    loss, g = problem.value_and_grad(theta)
    norms = [float(g.norm())]
    H = problem.hessian(theta)
    lam, V = torch.linalg.eigh(H)
    n_hessians, mu = 1, mu0 * float(lam.abs().max()) ** 2
    for it in range(max_iter):
        if norms[-1] <= gtol or (it >= 3 and norms[-1] > stall * norms[-4]):
            break
        c = V.T @ g
        for _ in range(40):
            delta = -V @ (lam / (lam * lam + mu) * c)
            new_loss, new_g = problem.value_and_grad(theta + delta)
            if float(new_g.norm()) < norms[-1]:
                mu /= 10
                break
            mu *= 10
        else:
            break
        theta, loss, g = theta + delta, new_loss, new_g
        norms.append(float(g.norm()))
        # the same factorization, reused while it keeps halving ||g||: a gradient costs far less than H
        for _ in range(reuse):
            delta = -V @ (lam / (lam * lam + mu) * (V.T @ g))
            new_loss, new_g = problem.value_and_grad(theta + delta)
            if not float(new_g.norm()) < 0.5 * norms[-1]:
                break
            theta, loss, g = theta + delta, new_loss, new_g
            norms[-1] = float(g.norm())
        H = problem.hessian(theta)
        lam, V = torch.linalg.eigh(H)
        n_hessians += 1
    return GradNormRun(theta, loss, np.array(norms), lam.numpy(), H, n_hessians, norms[-1] <= gtol)


def gradient_flatness(H: torch.Tensor, g: torch.Tensor) -> float:
    r"""How flat the curvature is along the gradient: :math:`\lVert Hg\rVert/(\lVert H\rVert_2\lVert g\rVert)`.

    0 when :math:`g` lies in the null space of :math:`H`, where :math:`\nabla\tfrac12\lVert g\rVert^2 = Hg`
    vanishes although :math:`g \ne 0` (a gradient-flat point, Frye et al. 2021); of order 1 for a generic
    gradient. ``nan`` when :math:`g = 0`.

    References:
        C. G. Frye et al. (2021), Neural Computation 33(6).
    """
    g = torch.as_tensor(g, dtype=torch.float64).reshape(-1)
    H = torch.as_tensor(H, dtype=torch.float64)
    gn = float(g.norm())
    if gn == 0.0:
        return math.nan
    return float((H @ g).norm()) / (float(torch.linalg.matrix_norm(H, ord=2)) * gn)


class EndPoint(NamedTuple):
    r"""One copy of :func:`survey`: where normal training left it and where the gradient-norm phase ended.

    ``kind``: :func:`lib.hessian.classify` of the end point's eigenvalues when the gradient-norm phase
    converged to a critical point (:math:`\lVert g\rVert \le` ``gtol``), else ``"not critical"`` (it
    stalled at :math:`g \ne 0`; ``flatness`` = :func:`gradient_flatness` there says how nearly :math:`g` lies
    in the Hessian's null space; ``nan`` at a critical point). ``eigenvalues`` ascending; ``minimum_ratio`` by
    :func:`lib.hessian.minimum_ratio`.
    """

    seed: int
    eta: float
    loss_trained: float
    grad_norm_trained: float
    loss: float
    grad_norm: float
    grad_norms: np.ndarray
    eigenvalues: np.ndarray
    minimum_ratio: float
    kind: str
    flatness: float
    n_hessians: int
    theta: torch.Tensor


def survey(
    problem: NetworkLoss,
    seeds: Sequence[int],
    etas: Sequence[float],
    *,
    steps: int,
    max_iter: int = 10,
    gtol: float = 1e-9,
    tol: float = 1e-6,
) -> list[EndPoint]:
    r"""LeeDL's minimum-ratio experiment: train copies, minimize :math:`\lVert g\rVert^2`, read the Hessian.

    1. Copy :math:`c` starts from ``model_fn(seeds[c])`` and takes ``steps`` full-batch steps of
       :data:`ADAM_L2` with learning rate ``etas[c]`` on the problem's loss (:func:`lib.train.train_stacked`,
       all copies at once): normal training, stopped where it happened to be.
    2. From there :func:`minimize_grad_norm` looks for a critical point.
    3. At the end point the dense Hessian's eigenvalues give the minimum ratio (share of positive
       eigenvalues, :func:`lib.hessian.minimum_ratio` with relative tolerance ``tol``) and the kind.

    References:
        H.-y. Lee, lecture "When gradient is small" and LeeDL §3.1 (the minimum-ratio plot);
        Y. N. Dauphin et al. (2014), NeurIPS; C. G. Frye et al. (2021), Neural Computation 33(6).
    """
    seeds, etas = [int(s) for s in seeds], [float(e) for e in etas]
    if len(seeds) != len(etas) or not seeds:
        raise ValueError(
            f"seeds and etas must be non-empty and of equal length, got {len(seeds)} and {len(etas)}"
        )
    check_int("steps", steps, minimum=1)
    if problem.loss != "cross_entropy":
        raise ValueError(f"survey trains with cross-entropy; the problem's loss is {problem.loss!r}")
    history = _train.train_stacked(
        problem.model_fn, seeds, ADAM_L2, (problem.X, problem.y),
        hparams={"eta": np.array(etas), "weight_decay": problem.weight_decay},
        steps=steps, eval_every=steps, progress=False,
    )
    thetas = problem.flatten(history.params)
    out = []
    for c, (seed, eta) in enumerate(zip(seeds, etas, strict=True)):
        loss0, g0 = problem.value_and_grad(thetas[c])
        run = minimize_grad_norm(problem, thetas[c], max_iter=max_iter, gtol=gtol)
        _, g = problem.value_and_grad(run.theta)
        flat = math.nan if run.converged else gradient_flatness(run.H, g)
        kind = _hessian.classify(run.eigenvalues, tol=tol) if run.converged else "not critical"
        out.append(EndPoint(
            seed=seed, eta=eta, loss_trained=loss0, grad_norm_trained=float(g0.norm()), loss=run.loss,
            grad_norm=float(run.grad_norms[-1]), grad_norms=run.grad_norms, eigenvalues=run.eigenvalues,
            minimum_ratio=_hessian.minimum_ratio(run.eigenvalues, tol=tol), kind=kind, flatness=flat,
            n_hessians=run.n_hessians, theta=run.theta,
        ))
    return out


def network_escape(
    problem: NetworkLoss,
    theta: torch.Tensor,
    steps: int,
    *,
    eta: float,
    sigma: float = 0.0,
    rho: float = 0.0,
    seed: int = 0,
    bound: float = 1e6,
) -> np.ndarray:
    r"""Loss curve of (perturbed) gradient descent on a network from ``theta``, optionally pushed first.

    With ``rho > 0`` the first move is :math:`\theta \leftarrow \theta + \rho u`, :math:`u` the escape
    direction at ``theta`` (:func:`lib.hessian.escape_direction`; no push without negative curvature); then
    ``steps`` steps :math:`\theta \leftarrow \theta - \eta(g + \sigma\xi)` as in :func:`perturbed_gd`.

    Returns:
        ``(steps + 1,)`` losses, entry 0 at ``theta`` (before the push); a run that diverges (leaves the box of
        half-width ``bound``, :func:`lib.iterate.iterate`) is stopped, and its losses from that step on are NaN.

    References:
        Y. N. Dauphin et al. (2014), NeurIPS; R. Ge et al. (2015), COLT; C. Jin et al. (2017), ICML.
    """
    check_int("steps", steps, minimum=1)
    if isinstance(eta, numbers.Real):
        check_positive("learning rate", eta)
    check_nonnegative("sigma", sigma)
    check_nonnegative("rho", rho)
    theta = torch.as_tensor(theta, dtype=torch.float64).detach().reshape(-1).clone()
    losses = [float(problem(theta))]
    if rho > 0:
        p = theta.clone().requires_grad_(True)
        esc = _hessian.escape_direction(lambda: problem(p), [p])
        if esc is not None:
            theta = theta + rho * esc.direction
    gen = torch.Generator().manual_seed(seed)

    def grad(theta, t):
        _, g = problem.value_and_grad(theta)
        return g + sigma * torch.randn(theta.shape, generator=gen, dtype=theta.dtype) if sigma > 0 else g

    it = iterate(grad, theta, steps, rule="gd", eta=eta, bound=bound)
    losses += [float(problem(p)) for p in it.path[1:]]
    if it.diverged_at >= 0:  # stopped there (lib.iterate): no loss afterwards
        losses[it.diverged_at:] = [math.nan] * (len(losses) - it.diverged_at)
    return np.array(losses)


# ------------------------------------------------------------------------------------------------ figures


def plot_end_points(points: Sequence[EndPoint], styles: dict[str, tuple[str, str]], n_params: int):
    r"""The survey's figure: each end point's training loss against its minimum ratio (left, with a zoom on the
    low-loss points) and the gradient norm :math:`\lVert g\rVert` over the gradient-norm phase (right).

    ``styles`` maps each kind (``"local minimum"``, ``"saddle point"``, ``"not critical"``, ...) to a
    ``(marker, color)`` pair; every kind in ``points`` must have one. Returns the figure (the caller shows it).

    References:
        Y. Dauphin et al. (2014), Identifying and attacking the saddle point problem in high-dimensional
        non-convex optimization, NeurIPS (the loss-against-index figure).
    """
    if not points:
        raise ValueError("Invalid points: expected at least one end point of survey()")
    missing = sorted({p.kind for p in points} - set(styles))
    if missing:
        raise ValueError(f"Invalid styles: no (marker, color) for the kinds {missing}")
    kinds = [p.kind for p in points]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(plots.FIGURE_WIDTH, 5.6), gridspec_kw={"width_ratios": (1.1, 1)})
    for kind, (marker, color) in styles.items():
        pts = [p for p in points if p.kind == kind]
        if pts:
            name = kind if kind != "not critical" else "no critical point reached"
            ax.scatter([p.minimum_ratio for p in pts], [p.loss for p in pts], marker=marker,
                       s=150 if marker == "*" else 55, color=color, edgecolor="black" if marker == "*" else "white",
                       linewidth=0.6, zorder=4 if marker == "*" else 3, label=f"{name} ({len(pts)})")
    ax.axvspan(0.5, 0.6, color="0.85", zorder=0, label="course's figure: ratio ≈ 0.5–0.6")
    # the low-loss end points crowd near ratio 1: a magnified inset keeps the minima visible
    low = [p for p in points if p.loss < 0.8]
    if low:
        zoom = ax.inset_axes([0.42, 0.38, 0.36, 0.42])
        for p in low:
            marker, color = styles[p.kind]
            zoom.scatter(p.minimum_ratio, p.loss, marker=marker, s=110 if marker == "*" else 40, color=color,
                         edgecolor="black" if marker == "*" else "white", linewidth=0.6,
                         zorder=4 if marker == "*" else 3)
        zoom.set_xlim(min(p.minimum_ratio for p in low) - 0.002, 1.002)
        zoom.set_title("zoom: loss < 0.8")
        zoom.grid(True, alpha=0.3)
        ax.indicate_inset_zoom(zoom, edgecolor="0.4")
    ax.set(xlabel="minimum ratio (share of positive Hessian eigenvalues)", ylabel="training loss at the end point",
           title=f"{len(points)} end points, {n_params}-parameter digits MLP")
    ax.set_xlim(0.45, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=1)
    for p in points:
        marker, color = styles[p.kind]
        ax2.semilogy(np.arange(len(p.grad_norms)), p.grad_norms, color=color, lw=1.3, marker=".", ms=5)
    for kind, (_marker, color) in styles.items():
        if kind in kinds:
            ax2.plot([], [], color=color, lw=1.3,
                     label=kind if kind != "not critical" else "no critical point reached")
    ax2.axhline(1e-9, color="0.4", lw=0.9, ls=":", label="tolerance 10⁻⁹")
    ax2.set(xlabel="Levenberg–Marquardt iteration (one dense Hessian each)", ylabel="gradient norm ‖g‖",
            title="The squared-gradient-norm phase")
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=1)
    fig.tight_layout()
    return fig
