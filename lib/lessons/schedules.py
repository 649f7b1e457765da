r"""The noise floor of SGD and what learning-rate schedules do about it.

**The noise floor.** On the least-squares problem :math:`L(\theta) = \frac1n\lVert X\theta - y\rVert^2` of
:class:`lib.data.LeastSquares` (Hessian :math:`H = \frac2n X^\top X`, minimizer :math:`\theta^\star`,
residuals :math:`r_i = x_i^\top\theta^\star - y_i`), SGD with mini-batches of :math:`b` examples drawn
uniformly *with replacement*,

.. math:: \theta_{t+1} = \theta_t - \eta_t\, g_t, \qquad
    g_t = \frac1b \sum_{j=1}^{b} 2 x_{i_j} (x_{i_j}^\top \theta_t - y_{i_j}),

is a linear recursion with random coefficients, and its first two moments are exactly computable. With
:math:`e = \theta - \theta^\star`, :math:`m = \mathbb E[e]`, :math:`P = \mathbb E[e e^\top]`,
:math:`a_i = 2 x_i x_i^\top` and :math:`c_i = 2 x_i r_i` (the per-example gradients at :math:`\theta^\star`, whose
mean is zero by the normal equations):

.. math::
    m_{t+1} = (I - \eta_t H)\, m_t, \qquad
    P_{t+1} = P_t - \eta_t (H P_t + P_t H) + \eta_t^2 \Bigl[\bigl(1 - \tfrac1b\bigr) H P_t H
    + \tfrac1b \bigl(\mathcal M(P_t) + 2\mathcal K(m_t) + \Sigma_1\bigr)\Bigr],

with :math:`\mathcal M(P) = \frac1n\sum_i a_i P a_i`, :math:`\mathcal K(m) = \frac1n \sum_i a_i m c_i^\top`
(symmetric) and :math:`\Sigma_1 = \frac1n \sum_i c_i c_i^\top`, the covariance of one example's gradient at the
minimum. The expected excess loss is :math:`\mathbb E[L(\theta_t)] - L^\star = \tfrac12 \operatorname{tr}(H P_t)`
(:func:`expected_excess`). With a constant :math:`\eta` it does not go to zero: :math:`P_t` tends to the fixed
point of the recursion (:func:`stationary_excess`, a linear system in :math:`d^2` unknowns). To first order in
:math:`\eta`, :math:`HP + PH = \frac{\eta}{b}\Sigma_1`, whose trace gives the **noise floor**

.. math:: \mathbb E[L] - L^\star \approx \frac{\eta}{4}\operatorname{tr}\Sigma_b, \qquad
    \Sigma_b = \frac{\Sigma_1}{b}

(:func:`noise_floor`): proportional to the learning rate, inversely proportional to the batch size, and
independent of the curvature :math:`H`. :func:`sgd` simulates the runs themselves, many copies at once.

The course's manual decay and the probe that reads a torch scheduler's rates are core
(:func:`lib.schedules.manual_decay`, :func:`lib.schedules.torch_learning_rates`).

**Adam's first steps.** Adam divides by :math:`\sqrt{\hat v_t}`, an average of only :math:`t` squared
gradients early on. For i.i.d. gradients :math:`g \sim \mathcal N(0, \sigma^2)` the adaptive factor
:math:`\psi_t = \sigma / \sqrt{\hat v_t}` has infinite variance for :math:`t \le 2`
(:func:`adaptive_factor`, Monte Carlo); Liu et al. approximate :math:`\hat v_t` by a scaled
:math:`\chi^2` with :math:`\rho_t` degrees of freedom (:func:`radam_rho`, :func:`chi2_factor_variance`) and
rescale the step by the rectifier :math:`r_t` (:func:`radam_rectifier`), an automatic warm-up.
:func:`early_spike` measures how far the training loss rises above its start in the first updates.

References:
    H. Robbins and S. Monro (1951), A stochastic approximation method, Ann. Math. Statist. 22(3).
    L. Bottou, F. E. Curtis and J. Nocedal (2018), Optimization methods for large-scale machine learning,
    SIAM Review 60(2), §4.
    S. Mandt, M. D. Hoffman and D. M. Blei (2017), Stochastic gradient descent as approximate Bayesian
    inference, JMLR 18 (the stationary covariance of constant-rate SGD).
    L. Liu et al. (2020), On the variance of the adaptive learning rate and beyond, ICLR (RAdam).
    A. Ng, deeplearning.ai course 2, week 2, "Learning rate decay" (manual decay).
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from scipy.special import gammaln

import lib.losses as _losses
import lib.models as _models
import lib.optim as _optim
import lib.schedules as _schedules
import lib.stats as _stats
import lib.train as _train
from lib.checks import check_int, check_positive
from lib.data import LeastSquares
from lib.iterate import iterate
from lib.viz import Frame, Line, Markers, plots

__all__ = [
    "SGDRuns",
    "WarmupRuns",
    "adaptive_factor_figure",
    "against",
    "decay_demo",
    "first_step_table",
    "floor_experiment",
    "floor_explorer_data",
    "floor_frame",
    "real_figure",
    "real_schedules",
    "schedule_grid",
    "torch_comparison",
    "torch_pairs",
    "warmup_experiment",
    "warmup_figure",
    "warmup_setting",
    "adaptive_factor",
    "chi2_factor_variance",
    "early_spike",
    "expected_excess",
    "gradient_covariance",
    "noise_floor",
    "radam_rectifier",
    "radam_rho",
    "sgd",
    "stationary_excess",
]


# --------------------------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------------------------


def _check_problem(problem) -> None:
    if not isinstance(problem, LeastSquares):
        raise ValueError(f"Invalid problem: {problem!r} (expected a lib.data.LeastSquares)")


def _learning_rates(etas, steps: int) -> np.ndarray:
    """``(C, steps)``: the learning rate of each copy at t = 0 .. steps - 1, from numbers or schedules."""
    if callable(etas) or isinstance(etas, numbers.Real):
        etas = [etas]
    rows = []
    for eta in etas:
        if callable(eta):
            t = np.arange(steps)
            row = np.asarray(eta(t), dtype=np.float64)
            if row.shape != (steps,):  # a schedule that only takes scalars
                row = np.array([float(eta(int(k))) for k in t])
        else:
            row = np.full(steps, check_positive("learning rate", eta))
        if not (np.all(np.isfinite(row)) and np.all(row >= 0)):
            raise ValueError(f"Invalid schedule: {eta!r} (gives a negative or non-finite learning rate)")
        rows.append(row)
    if not rows:
        raise ValueError("Invalid etas: empty (need at least one learning rate or schedule)")
    return np.stack(rows)


# --------------------------------------------------------------------------------------------------------------
# SGD on least squares: theory
# --------------------------------------------------------------------------------------------------------------


def _residuals(problem: LeastSquares) -> np.ndarray:
    return problem.X @ problem.theta_star - problem.y


def gradient_covariance(problem: LeastSquares) -> np.ndarray:
    r"""The covariance :math:`\Sigma_1` of one example's gradient at the minimum, shape ``(d, d)``.

    The gradient of example :math:`i`'s loss :math:`(x_i^\top\theta - y_i)^2` at :math:`\theta^\star` is
    :math:`c_i = 2 x_i r_i`; its mean over the examples is the full gradient, zero at the minimum, so

    .. math:: \Sigma_1 = \frac1n \sum_i c_i c_i^\top = \frac4n X^\top \operatorname{diag}(r^2) X.

    A mini-batch of :math:`b` examples drawn with replacement has covariance :math:`\Sigma_b = \Sigma_1 / b`.

    References:
        Bottou, Curtis & Nocedal (2018), §4 (assumption 4.3: the second moment of the stochastic gradient).
    """
    _check_problem(problem)
    X, r = problem.X, _residuals(problem)
    return 4.0 / len(r) * (X * (r * r)[:, None]).T @ X


def noise_floor(problem: LeastSquares, eta, batch_size) -> np.ndarray | float:
    r"""The first-order noise floor :math:`\eta\,\mathrm{tr}(\Sigma_1)/(4b)`.

    The fixed point of the second-moment recursion (module docstring),
    to first order in :math:`\eta`, solves
    :math:`HP + PH = (\eta/b)\Sigma_1`; its trace gives
    :math:`\mathbb E[L] - L^\star = \tfrac12\mathrm{tr}(HP)
    = \eta\,\mathrm{tr}(\Sigma_1)/(4b)`. ``eta`` and ``batch_size``
    may be arrays (they broadcast). :func:`stationary_excess` gives the
    exact value.

    References:
        Mandt, Hoffman & Blei (2017), §3;
        Bottou, Curtis & Nocedal (2018), Theorem 4.6.
    """
    eta = np.asarray(eta, dtype=np.float64)
    b = np.asarray(batch_size, dtype=np.float64)
    if not (np.all(np.isfinite(eta)) and np.all(eta > 0)):
        raise ValueError(f"Invalid learning rate: {eta}")
    if not np.all(b >= 1):
        raise ValueError(f"Invalid batch_size: {batch_size} (must be >= 1)")
    trace = float(np.trace(gradient_covariance(problem)))
    out = eta * trace / (4.0 * b)
    return float(out) if out.ndim == 0 else out


def _operators(problem: LeastSquares):
    X = problem.X
    n = len(X)
    r = _residuals(problem)
    H = problem.hessian
    return X, n, r, H


def stationary_excess(problem: LeastSquares, eta, batch_size: int) -> np.ndarray | float:
    r"""The exact stationary :math:`\mathbb E[L] - L^\star` of constant-rate SGD (with replacement), or ``inf``.

    The fixed point of the second-moment recursion (module docstring) with :math:`m = 0` solves the linear
    system, in :math:`\operatorname{vec}(P)`,

    .. math:: \Bigl[H\otimes I + I\otimes H - \eta\bigl(1-\tfrac1b\bigr) H\otimes H
        - \tfrac{\eta}{b}\,\tfrac4n \textstyle\sum_i (x_i\otimes x_i)(x_i\otimes x_i)^\top\Bigr]
        \operatorname{vec}(P) = \tfrac{\eta}{b}\operatorname{vec}(\Sigma_1),

    and the result is :math:`\tfrac12\operatorname{tr}(HP)`. ``eta`` may be an array (one result each).

    The one-step map :math:`T(P) = \mathbb E[(I - \eta A_B) P (I - \eta A_B)]` (:math:`A_B` the Hessian of a
    random mini-batch) is a sum of congruences, so it maps positive semi-definite matrices to positive
    semi-definite ones, and its spectral radius is below one exactly when :math:`P - T(P) = Q` has a positive
    definite solution for a positive definite :math:`Q` (Krein–Rutman). The same system is solved with
    :math:`Q = I`; if that solution is not positive definite the recursion is unstable (too large an
    :math:`\eta` for the batch size), the second moment grows without bound, and the result is ``inf``.

    References:
        Mandt, Hoffman & Blei (2017), §3 (the continuous-time limit of the same fixed point);
        R. A. Horn and C. R. Johnson (1991), Topics in Matrix Analysis, §6.3 (Lyapunov-type equations).
    """
    _check_problem(problem)
    etas = np.asarray(eta, dtype=np.float64)
    if not (np.all(np.isfinite(etas)) and np.all(etas > 0)):
        raise ValueError(f"Invalid learning rate: {eta}")
    b = check_int("batch_size", batch_size, minimum=1)
    X, n, r, H = _operators(problem)
    d = X.shape[1]
    eye = np.eye(d)
    Z = np.einsum("ni,nj->nij", X, X).reshape(n, d * d)
    A0 = np.kron(H, eye) + np.kron(eye, H)
    A1 = (1.0 - 1.0 / b) * np.kron(H, H) + 4.0 / (n * b) * Z.T @ Z
    rhs = np.stack([gradient_covariance(problem).reshape(-1), eye.reshape(-1)], axis=1)
    out = np.empty(etas.shape)
    for k, e in np.ndenumerate(etas):
        # (P - T(P)) / eta = (A0 - eta A1) vec(P); the noise enters as eta/b * Sigma_1
        try:
            sol = np.linalg.solve(A0 - e * A1, rhs)
        except np.linalg.LinAlgError:
            out[k] = math.inf
            continue
        probe = sol[:, 1].reshape(d, d)
        if np.linalg.eigvalsh(0.5 * (probe + probe.T))[0] <= 0:
            out[k] = math.inf
            continue
        out[k] = 0.5 * e / b * float(np.sum(H * sol[:, 0].reshape(d, d)))
    return float(out) if out.ndim == 0 else out


def expected_excess(problem: LeastSquares, etas, steps: int, batch_size: int, theta0=None) -> np.ndarray:
    r"""The exact expected excess loss :math:`\mathbb E[L(\theta_t)] - L^\star`, :math:`t = 0..` ``steps``.

    Iterates the moment recursion of the module docstring from :math:`m_0 = \theta_0 - \theta^\star`,
    :math:`P_0 = m_0 m_0^\top`, with learning rate :math:`\eta_t` = ``etas`` (a number, a schedule
    :math:`s(t)`, or a sequence of them, one per row of the result). Shape ``(steps + 1,)`` for one learning
    rate or schedule, ``(C, steps + 1)`` for a sequence of ``C``. This is what :func:`sgd` gives on average
    over infinitely many seeds; a value that overflows is ``inf``.

    References:
        Bottou, Curtis & Nocedal (2018), §4; Robbins & Monro (1951).
    """
    _check_problem(problem)
    steps = check_int("steps", steps, minimum=1)
    b = check_int("batch_size", batch_size, minimum=1)
    single = callable(etas) or isinstance(etas, numbers.Real)
    lr = _learning_rates(etas, steps)
    X, n, r, H = _operators(problem)
    d = X.shape[1]
    theta0 = np.zeros(d) if theta0 is None else np.asarray(theta0, dtype=np.float64)
    if theta0.shape != (d,):
        raise ValueError(f"Invalid theta0 shape: {theta0.shape} (expected ({d},))")
    C = len(lr)
    m = np.tile(theta0 - problem.theta_star, (C, 1))
    P = np.einsum("ci,cj->cij", m, m)
    sigma1 = gradient_covariance(problem)
    out = np.empty((C, steps + 1))
    out[:, 0] = 0.5 * np.einsum("ij,cij->c", H, P)
    with np.errstate(all="ignore"):
        for k in range(steps):
            eta = lr[:, k, None, None]
            HP = H @ P
            q = np.sum((X @ P) * X, axis=-1)  # (C, n): x_i^T P x_i
            w = 4.0 / n * (q + 2.0 * (m @ X.T) * r)  # M(P) + 2 K(m) = (4/n) X^T diag(q + 2 (X m) r) X
            MK = (X.T * w[:, None, :]) @ X
            P = (P - eta * (HP + P @ H)
                 + eta * eta * ((1.0 - 1.0 / b) * HP @ H + (MK + sigma1) / b))
            m = m - lr[:, k, None] * (m @ H)
            out[:, k + 1] = 0.5 * np.einsum("ij,cij->c", H, P)
    out[~np.isfinite(out)] = np.inf
    return out[0] if single else out


# --------------------------------------------------------------------------------------------------------------
# SGD on least squares: simulation
# --------------------------------------------------------------------------------------------------------------


class SGDRuns(NamedTuple):
    """What :func:`sgd` recorded for ``C`` copies at ``K`` record steps."""

    step: np.ndarray  # (K,) updates completed at each record: 0, every, 2 every, ..., steps
    excess: np.ndarray  # (C, K) L(theta) - L*; NaN from a copy's divergence on
    diverged_at: np.ndarray  # (C,) updates completed when the copy diverged, -1 if it did not
    lr: np.ndarray  # (C, steps) learning rate of every update
    theta: np.ndarray  # (C, d) final parameters (a diverged copy's last finite ones)


def sgd(problem: LeastSquares, etas, steps: int, *, batch_size: int, seeds, theta0=None, every: int = 1,
        bound: float = 1e6) -> SGDRuns:
    r"""Mini-batch SGD on a least-squares problem, ``C`` independent copies at once (numpy, float64).

    Copy :math:`c` runs :math:`\theta_{t+1} = \theta_t - \eta_{c,t}\, g_{c,t}` with the learning rates of
    ``etas[c]`` (a number or a schedule :math:`s(t)`, :math:`t` = updates completed) and mini-batches of
    ``batch_size`` examples drawn uniformly *with replacement* from ``numpy.random.default_rng(seeds[c])``
    (``seeds`` may be one int for all copies: the same mini-batches for every learning rate). It starts at
    ``theta0`` (default zero). The excess loss :math:`L(\theta) - L^\star = \frac1n\lVert X(\theta -
    \theta^\star)\rVert^2` is recorded every ``every`` updates. A copy whose parameters leave the ball of
    radius ``bound`` (or stop being finite) is frozen and reported in ``diverged_at``.

    References:
        Robbins & Monro (1951); Bottou, Curtis & Nocedal (2018), Algorithm 3.1.
    """
    _check_problem(problem)
    steps = check_int("steps", steps, minimum=1)
    b = check_int("batch_size", batch_size, minimum=1)
    if isinstance(every, bool) or not isinstance(every, numbers.Integral) or not 1 <= every <= steps:
        raise ValueError(f"Invalid every: {every} (must be an integer in [1, steps])")
    if not bound > 0:
        raise ValueError(f"Invalid bound: {bound} (must be > 0)")
    lr = _learning_rates(etas, steps)
    C = len(lr)
    seeds = [seeds] * C if isinstance(seeds, numbers.Integral) else [int(s) for s in seeds]
    if len(seeds) != C:
        raise ValueError(f"Invalid seeds: {len(seeds)} seeds for {C} copies")
    X, y = problem.X, problem.y
    n, d = X.shape
    theta = np.tile(np.zeros(d) if theta0 is None else np.asarray(theta0, dtype=np.float64), (C, 1))
    if theta.shape != (C, d):
        raise ValueError(f"Invalid theta0 shape: {np.shape(theta0)} (expected ({d},))")
    rngs = [np.random.default_rng(s) for s in seeds]
    record = np.arange(0, steps + 1, every)
    if record[-1] != steps:
        record = np.append(record, steps)
    chunk = min(steps, 256)  # mini-batch indices are drawn in blocks of updates, the same blocks for any C
    block = None

    def grad(theta, t):  # copy c's mini-batch gradient (2/b) X_B^T (X_B theta_c - y_B), with replacement
        nonlocal block
        if t % chunk == 0:
            block = np.stack([rng.integers(0, n, size=(min(chunk, steps - t), b)) for rng in rngs])
        idx = block[:, t % chunk]
        Xb = X[idx]  # (C, b, d)
        res = np.einsum("cbd,cd->cb", Xb, theta) - y[idx]
        return 2.0 / b * np.einsum("cbd,cb->cd", Xb, res)

    # copies along axis 0; eta[t] is the column of the copies' rates at update t
    it = iterate(grad, theta, steps, rule="gd", eta=lr.T[:, :, None], bound=bound, copies_axis=0, record=record)
    e = it.path - problem.theta_star  # (K, C, d)
    Xe = e @ X.T  # (K, C, n)
    excess = np.mean(Xe * Xe, axis=2).T  # (C, K)
    diverged = (it.diverged_at[:, None] >= 0) & (record[None, :] >= it.diverged_at[:, None])
    excess[diverged] = np.nan
    diverged_at, theta = it.diverged_at, it.theta
    return SGDRuns(record, excess, diverged_at, lr, theta)


# --------------------------------------------------------------------------------------------------------------
# Adam's first steps: the variance of the adaptive factor, RAdam's rectifier, loss spikes
# --------------------------------------------------------------------------------------------------------------


def _check_beta2(beta2) -> float:
    if not (isinstance(beta2, numbers.Real) and 0 < beta2 < 1):
        raise ValueError(f"Invalid beta parameter at index 1: {beta2}")
    return float(beta2)


def radam_rho(t, beta2: float = 0.999):
    r"""RAdam's degrees of freedom :math:`\rho_t = \rho_\infty - 2t\beta_2^t/(1-\beta_2^t)`,
    :math:`\rho_\infty = 2/(1-\beta_2) - 1`, for :math:`t = 1, 2, \dots` (``t`` a number or an array).

    :math:`\rho_t` is the length of the simple moving average that :math:`\hat v_t` behaves like:
    :math:`\rho_1 = 1`, :math:`\rho_t \approx t` while :math:`t \ll 1/(1-\beta_2)`, and
    :math:`\rho_t \to \rho_\infty`.

    References:
        L. Liu et al. (2020), On the variance of the adaptive learning rate and beyond, ICLR, §3–4.
    """
    beta2 = _check_beta2(beta2)
    t = np.asarray(t, dtype=np.float64)
    if not np.all(t >= 1):
        raise ValueError(f"Invalid t: {t} (steps count from 1)")
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    rho = rho_inf - 2.0 * t * beta2**t / (1.0 - beta2**t)
    return float(rho) if rho.ndim == 0 else rho


def radam_rectifier(t, beta2: float = 0.999, threshold: float = 5.0):
    r"""RAdam's rectifier :math:`r_t = \sqrt{\dfrac{(\rho_t-4)(\rho_t-2)\rho_\infty}
    {(\rho_\infty-4)(\rho_\infty-2)\rho_t}}` where :math:`\rho_t >` ``threshold``, else 0.

    RAdam takes the step :math:`-\eta\, r_t\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)`; while
    :math:`\rho_t \le` ``threshold`` it takes the un-adapted momentum step :math:`-\eta\,\hat m_t` instead
    (0 here: no adaptive step). ``threshold=5`` is torch's ``RAdam``; the paper uses 4.
    :math:`r_t` rises from 0 to 1 like a warm-up of the learning rate.

    References:
        L. Liu et al. (2020), ICLR, Algorithm 2; PyTorch documentation, ``torch.optim.RAdam``.
    """
    beta2 = _check_beta2(beta2)
    if not threshold >= 4:
        raise ValueError(f"Invalid threshold: {threshold} (the rectifier needs rho_t > 4)")
    rho = np.asarray(radam_rho(t, beta2), dtype=np.float64)
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    ok = rho > threshold
    safe = np.where(ok, rho, threshold + 1.0)
    r = np.where(ok, np.sqrt((safe - 4) * (safe - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * safe)), 0.0)
    return float(r) if r.ndim == 0 else r


def chi2_factor_variance(rho):
    r"""Liu et al.'s variance of the adaptive factor when :math:`\hat v` is a scaled inverse
    :math:`\chi^2` with :math:`\rho` degrees of freedom: for :math:`\psi = \sqrt{\rho / \chi^2_\rho}`,

    .. math:: \operatorname{Var}[\psi] = \frac{\rho}{\rho - 2}
        - \frac{\rho}{2}\left(\frac{\Gamma((\rho-1)/2)}{\Gamma(\rho/2)}\right)^2 \qquad (\rho > 2),

    in units of :math:`1/\sigma^2`, and ``inf`` for :math:`\rho \le 2` (the variance diverges). It decreases
    in :math:`\rho` towards :math:`1/(2\rho)`.

    References:
        L. Liu et al. (2020), ICLR, §3, eq. (5)–(6).
    """
    rho = np.asarray(rho, dtype=np.float64)
    safe = np.where(rho > 2, rho, 3.0)
    ratio = np.exp(gammaln((safe - 1) / 2) - gammaln(safe / 2))
    var = np.where(rho > 2, safe / (safe - 2) - safe / 2 * ratio**2, np.inf)
    return float(var) if var.ndim == 0 else var


class AdaptiveFactor(NamedTuple):
    """Monte Carlo statistics of Adam's adaptive factor :math:`\\psi_t = \\sigma/\\sqrt{\\hat v_t}`."""

    t: np.ndarray  # (T,) steps 1..T
    quantiles: np.ndarray  # (Q, T) the requested quantiles of psi_t over the samples
    variance: np.ndarray  # (T,) sample variance of psi_t (infinite in theory for t <= 2)


def adaptive_factor(beta2: float = 0.999, steps: int = 200, samples: int = 20_000,
                    quantiles: Sequence[float] = (0.05, 0.5, 0.95), seed: int = 0) -> AdaptiveFactor:
    r"""Adam's adaptive factor :math:`\psi_t = \sigma/\sqrt{\hat v_t}` for i.i.d. gradients
    :math:`g_t \sim \mathcal N(0, \sigma^2)`, sampled ``samples`` times for :math:`t = 1..` ``steps``.

    :math:`v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2`, :math:`v_0 = 0`, :math:`\hat v_t = v_t/(1-\beta_2^t)`
    (Adam's bias correction). :math:`\psi_1 = \sigma/|g_1|` has infinite variance, and so has
    :math:`\psi_2`; the sample variance of those is large and unstable. As :math:`t` grows,
    :math:`\psi_t \to 1`.

    References:
        L. Liu et al. (2020), ICLR, §3 (Figure 2 and the variance argument).
    """
    beta2 = _check_beta2(beta2)
    steps = check_int("steps", steps, minimum=1)
    if isinstance(samples, bool) or not isinstance(samples, numbers.Integral) or samples < 2:
        raise ValueError(f"Invalid samples: {samples} (must be an integer >= 2)")
    qs = np.asarray(quantiles, dtype=np.float64)
    if qs.ndim != 1 or not np.all((qs >= 0) & (qs <= 1)):
        raise ValueError(f"Invalid quantiles: {quantiles!r} (numbers in [0, 1])")
    rng = np.random.default_rng(seed)
    v = np.zeros(samples)
    out_q = np.empty((len(qs), steps))
    out_var = np.empty(steps)
    for t in range(1, steps + 1):
        g = rng.standard_normal(samples)
        v = beta2 * v + (1.0 - beta2) * g * g
        psi = 1.0 / np.sqrt(v / (1.0 - beta2**t))
        out_q[:, t - 1] = np.quantile(psi, qs)
        out_var[t - 1] = np.var(psi, ddof=1)
    return AdaptiveFactor(np.arange(1, steps + 1), out_q, out_var)


def early_spike(loss, window: int):
    r"""How far the loss rises in the first ``window`` updates: :math:`\max_{k < w} L_k / L_0`.

    ``loss`` has shape ``(..., S)`` (mini-batch losses in update order, as in :class:`lib.train.History`);
    1 means the loss never went above where it started. A run that diverged inside the window (a ``NaN`` or
    ``inf`` there) gives ``inf``.

    References:
        L. Liu et al. (2020), ICLR, §1 (the early instability that warm-up removes).
    """
    loss = np.asarray(loss, dtype=np.float64)
    if isinstance(window, bool) or not isinstance(window, numbers.Integral) or not 1 <= window <= loss.shape[-1]:
        raise ValueError(f"Invalid window: {window} (must be an integer in [1, {loss.shape[-1]}])")
    head = loss[..., :window]
    with np.errstate(all="ignore"):
        ratio = np.max(np.where(np.isfinite(head), head, np.inf), axis=-1) / loss[..., 0]
    return float(ratio) if ratio.ndim == 0 else ratio


# --------------------------------------------------------------------------------------------------------------
# the chapter's experiments (figures and tables of chapters/schedules.md)
# --------------------------------------------------------------------------------------------------------------


def _finish(fig, *axes) -> None:
    for ax in axes:
        ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    plt.show()
    plt.close(fig)


def decay_demo(problem: LeastSquares, demo: dict, steps: int, batch_size: int, n_seeds: int, eta: float,
               late: int, cuts=(), window: int = 100) -> dict[str, float]:
    """The first figure: SGD with each schedule of ``demo`` ({label: schedule}), ``n_seeds`` runs each, against the
    exact expectation; returns the numbers the text quotes (excess losses averaged over seeds).

    ``demo_manual_plateau_k`` is the manual decay's excess averaged over the ``window`` steps before its k-th cut
    of ``cuts`` (k = 0, 1, ...) and, for k = len(cuts), before the end; ``demo_*_seed_min/max`` are the smallest
    and largest ratio, over seeds, of a seed's constant-rate plateau to its own final excess (the seeds are shared
    by the schedules)."""
    labels = list(demo)
    runs = sgd(problem, [demo[k] for k in labels for _ in range(n_seeds)], steps, batch_size=batch_size,
               seeds=[s for _ in labels for s in range(n_seeds)], every=10)
    excess = {k: runs.excess[runs_of] for k, runs_of in zip(labels, np.split(np.arange(len(runs.excess)),
                                                                           len(labels)), strict=True)}
    pred = dict(zip(labels, expected_excess(problem, [demo[k] for k in labels], steps, batch_size), strict=True))
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(plots.FIGURE_WIDTH, 5.6), gridspec_kw={"width_ratios": (1.5, 1)})
    for i, label in enumerate(labels):
        ax.plot(runs.step, excess[label][0], color=plots.PALETTE[i], lw=0.6, alpha=0.35)
        ax.plot(runs.step, excess[label].mean(0), color=plots.PALETTE[i], lw=1.8,
                label=f"{label}: mean of {n_seeds} runs")
        ax.plot(np.arange(steps + 1), pred[label], color="black", lw=0.9, ls="--")
        ax2.plot(np.arange(steps), demo[label](np.arange(steps)), color=plots.PALETTE[i], lw=1.8)
    factors = np.array([1, 0.1, 0.01])
    for k, floor in enumerate(stationary_excess(problem, eta * factors, batch_size)):
        ax.axhline(floor, color="0.45", lw=0.9, ls=":", label=("stationary floor (exact) at η = "
                   + ", ".join(f"{e:g}" for e in eta * factors)) if k == 0 else None)
    ax.plot([], [], color="black", lw=0.9, ls="--", label="theory: exact expectation")
    ax.set(yscale="log", xlabel="steps", ylabel="L(θ) − L*  (mean squared error)", ylim=(1e-4, 30),
           title=f"SGD on noisy least squares, batch size {batch_size}")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2))
    ax2.set(yscale="log", xlabel="steps", ylabel="learning rate η (per step)", title="The three schedules")
    _finish(fig, ax, ax2)
    const, manual, inverse = labels
    plateau = float(np.mean(excess[const][:, runs.step >= late]))
    out = {"ls_start": float(pred[const][0]), "demo_floor_measured": plateau,
           "demo_floor_exact": float(stationary_excess(problem, eta, batch_size)),
           "demo_manual_end": float(excess[manual][:, -1].mean()),
           "demo_inv_end": float(excess[inverse][:, -1].mean()),
           "demo_manual_end_pred": float(pred[manual][-1]), "demo_inv_end_pred": float(pred[inverse][-1]),
           "demo_gain": plateau / float(excess[inverse][:, -1].mean())}
    for k, end in enumerate((*cuts, steps)):
        out[f"demo_manual_plateau_{k}"] = float(np.mean(excess[manual][:, (runs.step >= end - window)
                                                                          & (runs.step < end)]))
    per_seed = np.mean(excess[const][:, runs.step >= late], axis=1)
    for key, label in (("manual", manual), ("inv", inverse)):
        ratio = per_seed / excess[label][:, -1]
        out[f"demo_{key}_seed_min"], out[f"demo_{key}_seed_max"] = float(ratio.min()), float(ratio.max())
    return out


def floor_experiment(problem: LeastSquares, etas, batches, n_seeds: int, steps: int) -> pd.DataFrame:
    """The noise-floor figure: SGD started at the minimizer, second-half mean of the excess loss for every
    learning rate and batch size, against the exact stationary value and the first-order floor. Returns one row
    per (batch size, η), indexed by both."""
    etas = np.asarray(etas, dtype=float)
    rows = []
    fig, ax = plt.subplots(figsize=(7.6, 5.6))
    fine = np.geomspace(etas[0], etas[-1], 60)
    for k, b in enumerate(batches):
        runs = sgd(problem, np.repeat(etas, n_seeds), steps, batch_size=b, seeds=np.tile(np.arange(n_seeds), len(etas)),
                   theta0=problem.theta_star, every=10)
        half = runs.excess[:, runs.step >= steps // 2].mean(axis=1).reshape(len(etas), n_seeds)
        diverged = (runs.diverged_at >= 0).reshape(len(etas), n_seeds).any(axis=1)
        for eta, values, div in zip(etas, half, diverged, strict=True):
            rows.append({"batch size": b, "η": float(eta), "measured": np.nan if div else values.mean(),
                         "exact": stationary_excess(problem, float(eta), b),
                         "first order ητ/(4b)": noise_floor(problem, float(eta), b), "diverged": bool(div)})
        exact_line = stationary_excess(problem, fine, b)
        ax.plot(fine, np.where(np.isfinite(exact_line), exact_line, np.nan), color=plots.PALETTE[k], lw=1.6,
                label=f"batch size b = {b}")
        ax.plot(fine, noise_floor(problem, fine, b), color=plots.PALETTE[k], lw=1.0, ls="--")
        ax.plot(etas[~diverged], half.mean(1)[~diverged], "o", color=plots.PALETTE[k], ms=6, mec="white")
        if diverged.any():
            ax.plot(etas[diverged], np.full(diverged.sum(), 3.0), "X", color=plots.DIVERGED, ms=9, mec="white")
    ax.plot([], [], color="0.3", lw=1.6, label="exact stationary value")
    ax.plot([], [], color="0.3", lw=1.0, ls="--", label="first order η tr Σ₁/(4b)")
    ax.plot([], [], "o", color="0.3", ms=6, mec="white", label=f"measured (mean of {n_seeds} seeds)")
    ax.plot([], [], "X", color=plots.DIVERGED, ms=9, mec="white", label="measured: diverged")
    ax.set(xscale="log", yscale="log", xlabel="learning rate η", ylabel="stationary L(θ) − L*",
           title="The noise floor: measured against theory", ylim=(1e-4, 5))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    _finish(fig, ax)
    return pd.DataFrame(rows).set_index(["batch size", "η"])


def floor_explorer_data(problem: LeastSquares, etas, batches, steps: int, n_seeds: int, lam_min: float) -> dict:
    """Runs for the noise-floor explorer: {(η, b, kind): (excess (n_seeds, K), diverged_at, exact expectation)},
    kind "constant" or "inverse time" (η₀/(1 + t·η₀λₘᵢₙ/2)), plus the record steps under "step"."""
    data = {}
    for b in batches:
        cases = [(eta, kind) for eta in etas for kind in ("constant", "inverse time")]
        scheds = [_schedules.constant(eta) if kind == "constant" else _schedules.inverse_time(eta, eta * lam_min / 2)
                  for eta, kind in cases]
        runs = sgd(problem, [s for s in scheds for _ in range(n_seeds)], steps, batch_size=b,
                   seeds=[k for _ in scheds for k in range(n_seeds)], every=10)
        pred = expected_excess(problem, scheds, steps, b)
        groups = np.split(np.arange(len(runs.excess)), len(cases))
        for (eta, kind), rows, p in zip(cases, groups, pred, strict=True):
            data[(eta, b, kind)] = (runs.excess[rows], runs.diverged_at[rows], p)
        data["step"] = runs.step
    return data


def floor_frame(problem: LeastSquares, data: dict, eta: float, batch: int, steps: int) -> Frame:
    """One frame of the noise-floor explorer (constant rate against inverse-time decay at η₀ = ``eta``)."""
    items, text = [], []
    floor = noise_floor(problem, eta, batch)
    step = data["step"]
    items.append(Line([0, steps], [floor, floor], color="#737373", style=":", width=1.2,
                      label="noise floor η tr Σ₁/(4b)"))
    for k, (kind, name) in enumerate((("constant", "constant η"), ("inverse time", "inverse-time decay"))):
        excess, div_at, pred = data[(eta, batch, kind)]
        color = plots.PALETTE[k]
        if (div_at >= 0).any():
            first = int(div_at[div_at >= 0].min())
            keep = step < first
            items.append(Line(step[keep], excess[:, keep].mean(0), color=color, width=1.8, label=f"{name}: diverged"))
            items.append(Markers([step[keep][-1]], [excess[:, keep].mean(0)[-1]], color=plots.DIVERGED, marker="X",
                                 size=9, clamp=True, edgecolor="white", label="diverged (last point before)"))
            text.append(f"{name}: {int((div_at >= 0).sum())} of {len(div_at)} runs diverged, the first at step {first}")
            continue
        items.append(Line(step, excess.mean(0), color=color, width=1.8, label=f"{name}: mean of runs"))
        finite = np.isfinite(pred)
        items.append(Line(np.arange(steps + 1)[finite], pred[finite], color=color, style="--", width=1.1,
                          label=f"{name}: exact expectation"))
        last = excess[:, step >= steps // 2].mean()
        text.append(f"{name}: second-half mean {last:.2e}, at the end {excess[:, -1].mean():.2e} "
                    f"(theory {pred[-1]:.2e})")
    text.append(f"first-order floor for η = {eta:g}, b = {batch}: {floor:.2e}")
    return Frame(items, text)


def torch_pairs(lr0: float, T: int) -> dict:
    """{name: (lib schedule, torch scheduler factory, torch name)} for every schedule torch has a scheduler for."""
    lrs = torch.optim.lr_scheduler

    def seq_warmup(o, n=5):
        return lrs.SequentialLR(o, [lrs.LinearLR(o, start_factor=1 / n, total_iters=n - 1),
                                    lrs.CosineAnnealingLR(o, T - n)], milestones=[n])

    S = _schedules
    return {
        f"inverse_time({lr0:g}, 0.5)": (S.inverse_time(lr0, 0.5),
                                        lambda o: lrs.LambdaLR(o, lambda t: 1 / (1 + 0.5 * t)),
                                        "LambdaLR(1/(1 + 0.5 t))"),
        f"exponential({lr0:g}, 0.95)": (S.exponential(lr0, 0.95), lambda o: lrs.ExponentialLR(o, 0.95),
                                        "ExponentialLR"),
        f"inverse_sqrt({lr0:g})": (S.inverse_sqrt(lr0), lambda o: lrs.LambdaLR(o, lambda t: 1 / math.sqrt(t + 1)),
                                   "LambdaLR(1/√(t+1))"),
        f"step({lr0:g}, 0.5, 10)": (S.step(lr0, 0.5, 10), lambda o: lrs.StepLR(o, 10, 0.5), "StepLR"),
        f"manual_decay({lr0:g}, (30, 60, 80))": (S.manual_decay(lr0, (30, 60, 80)),
                                                 lambda o: lrs.MultiStepLR(o, [30, 60, 80], 0.1), "MultiStepLR"),
        f"cosine({lr0:g}, {T})": (S.cosine(lr0, T), lambda o: lrs.CosineAnnealingLR(o, T), "CosineAnnealingLR"),
        f"warmup(cosine({lr0:g}, {T - 5}), 5)": (S.warmup(S.cosine(lr0, T - 5), 5), seq_warmup,
                                                "SequentialLR(LinearLR, CosineAnnealingLR)"),
        f"one_cycle({lr0:g}, {T})": (S.one_cycle(lr0, T), lambda o: lrs.OneCycleLR(o, lr0, total_steps=T),
                                     "OneCycleLR"),
    }


def torch_comparison(lr0: float, T: int) -> pd.DataFrame:
    """For each of :func:`torch_pairs`: the largest difference between the ``lib`` schedule and torch's scheduler,
    and between the schedule and the rates an optimizer receives through :func:`lib.schedules.to_torch`."""
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SequentialLR passes an epoch to step(), which torch reports as deprecated
        for name, (s, make, torch_name) in torch_pairs(lr0, T).items():
            ours = s(np.arange(T))
            theirs = _schedules.torch_learning_rates(make, T, lr0)
            via = _schedules.torch_learning_rates(lambda o, s=s: _schedules.to_torch(s, o), T, 1.0)
            rows.append({"lib schedule": name, "torch scheduler": torch_name, "s(0) = lr0": bool(s(0) == s.lr0),
                         "max |lib − torch|": float(np.max(np.abs(ours - theirs))),
                         "max |lib − to_torch(lib)|": float(np.max(np.abs([s(t) for t in range(T)] - via)))})
    return pd.DataFrame(rows).set_index("lib schedule")


def first_step_table(data, sizes, etas, batch_size: int = 64, seed: int = 0) -> pd.DataFrame:
    """One update of Adam and of SGD from ``mlp(sizes, "relu", seed)`` on one mini-batch: median and largest
    :math:`|\\Delta\\theta|/\\eta`, and the full training loss before and after. Indexed by (optimizer, η)."""
    rows = []
    n = len(data.y_train)
    idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:batch_size]
    for eta in etas:
        for name, make in (("Adam", _optim.Adam), ("SGD", _optim.SGD)):
            net = _models.mlp(sizes, "relu", seed=seed)
            with torch.no_grad():
                loss0 = _losses.cross_entropy(net(data.X_train), data.y_train).item()
            before = [p.detach().clone() for p in net.parameters()]
            opt = make(net.parameters(), lr=eta)
            _losses.cross_entropy(net(data.X_train[idx]), data.y_train[idx]).backward()
            opt.step()
            moved = torch.cat([(p.detach() - q).abs().flatten() for p, q in zip(net.parameters(), before, strict=True)])
            with torch.no_grad():
                loss1 = _losses.cross_entropy(net(data.X_train), data.y_train).item()
            rows.append({"optimizer": name, "η": eta, "median |Δθ|/η": (moved.median() / eta).item(),
                         "max |Δθ|/η": (moved.max() / eta).item(), "training loss before": loss0,
                         "after one update": loss1})
    return pd.DataFrame(rows).set_index(["optimizer", "η"])


def adaptive_factor_figure(af: AdaptiveFactor, beta2: float, long_steps: int) -> None:
    """The three panels of "The variance of the adaptive factor": quantiles of ψ_t σ, its variance against the χ²
    model, and RAdam's rectifier against a linear warmup over 2/(1 − β₂) steps."""
    rho = radam_rho(af.t, beta2)
    fig, axes = plt.subplots(1, 3, figsize=(plots.FIGURE_WIDTH, 5.0))
    ax = axes[0]
    ax.fill_between(af.t, af.quantiles[0], af.quantiles[-1], color=plots.PALETTE[0], alpha=0.25, lw=0,
                    label="5 %–95 % of runs")
    ax.plot(af.t, af.quantiles[1], color=plots.PALETTE[0], lw=1.6, label="median")
    ax.axhline(1.0, color="0.4", lw=0.9, ls=":", label="1/σ (the limit)")
    ax.set(xscale="log", yscale="log", xlabel="step t", ylabel="adaptive factor ψ · σ",
           title=f"Adam's 1/√v̂, β₂ = {beta2}")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2))
    ax = axes[1]
    ok = af.t >= 3
    ax.plot(af.t[ok], af.variance[ok], color=plots.PALETTE[0], lw=1.2, label="sampled")
    ax.plot(af.t[ok], chi2_factor_variance(rho[ok]), color="black", lw=1.2, ls="--", label="χ² model with ρ d.o.f.")
    ax.set(xscale="log", yscale="log", xlabel="step t", ylabel="Var[ψ] · σ²", title="Its variance (∞ for t ≤ 2)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2))
    ax = axes[2]
    t_long = np.arange(1, long_steps + 1)
    for i, b2 in enumerate((0.99, beta2)):
        ax.plot(t_long, radam_rectifier(t_long, b2), color=plots.PALETTE[i + 2], lw=1.6, label=f"RAdam r, β₂ = {b2}")
        ax.plot(t_long, np.minimum(1.0, t_long / (2 / (1 - b2))), color=plots.PALETTE[i + 2], lw=1.0, ls=":",
                label=f"linear warmup over {2 / (1 - b2):.0f} steps")
    ax.set(xscale="log", xlabel="step t", ylabel="factor on η", title="RAdam's rectifier")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2))
    _finish(fig, *axes)


class WarmupRuns(NamedTuple):
    """The warm-up experiment. ``final``: one row per (setting, seed) with the final training loss and test
    accuracy; ``early``: {setting: (seeds, E) full training loss every 2 updates}; ``curves``: {setting: (seeds,
    epochs + 1)} training loss per epoch; ``epoch``: the epochs of ``curves``; ``seconds``: wall-clock time."""

    final: pd.DataFrame
    early: dict
    curves: dict
    epoch: np.ndarray
    seconds: float


def warmup_setting(rule: str, eta: float, warm: int) -> str:
    """The label of one setting of the warm-up experiment, e.g. ``"Adam, η = 0.1, warmup 21 updates"``."""
    name = {"adam": "Adam", "radam": "RAdam"}[rule]
    return f"{name}, η = {eta:g}, " + ("no warmup" if warm == 0 else f"warmup {warm} updates")


def warmup_experiment(data, sizes, etas, seeds, early_seeds, *, epochs: int, batch_size: int, warm: int,
                      early: int) -> WarmupRuns:
    """Adam with a cosine decay, with and without ``warm`` updates of linear warmup, at each η of ``etas``, and
    RAdam (no warmup) at the largest; ``seeds`` for the final results, ``early_seeds`` for the full training loss
    every 2 updates during the first ``early`` updates. Copies of one seed share initialization and data order."""
    updates = epochs * math.ceil(len(data.y_train) / batch_size)
    cases = [("adam", eta, w) for eta in etas for w in (0, warm)] + [("radam", max(etas), 0)]

    def model(seed):
        return _models.mlp(sizes, "relu", seed=seed)

    def schedule(eta, w):
        return _schedules.cosine(eta, updates) if w == 0 else _schedules.warmup(_schedules.cosine(eta, updates - w), w)

    rows, early_loss, curves, seconds = [], {}, {}, 0.0
    for rule in ("adam", "radam"):
        mine = [c for c in cases if c[0] == rule]
        common = {"schedule_unit": "step", "batch_size": batch_size, "threads": 1}
        full = _train.train_stacked(model, [s for _ in mine for s in seeds], rule, data, epochs=epochs,
                                    schedule=[schedule(eta, w) for _, eta, w in mine for _ in seeds], **common)
        first = _train.train_stacked(model, [s for _ in mine for s in early_seeds], rule, data, steps=early,
                                     eval_every=2, **common,
                                     schedule=[schedule(eta, w) for _, eta, w in mine for _ in early_seeds])
        seconds += full.seconds + first.seconds
        for case in mine:
            label = warmup_setting(*case)
            sel = [c for c, key in enumerate((c, s) for c in mine for s in seeds) if key[0] == case]
            sel_early = [c for c, key in enumerate((c, s) for c in mine for s in early_seeds) if key[0] == case]
            curves[label] = full.train_loss[sel]
            early_loss[label] = first.train_loss[sel_early]
            for c in sel:
                rows.append({"setting": label, "seed": int(full.seeds[c]),
                             "final train loss": float(full.train_loss[c, -1]),
                             "test accuracy": float(full.test_acc[c, -1])})
    return WarmupRuns(pd.DataFrame(rows).set_index(["setting", "seed"]), early_loss, curves, full.epoch, seconds)


def warmup_figure(runs: WarmupRuns, shown, warm: int, eta: float) -> None:
    """The first updates of the settings ``shown`` (every seed of ``runs.early``) and the whole runs at η = ``eta``."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(plots.FIGURE_WIDTH, 5.4))
    for i, label in enumerate(shown):
        curves = runs.early[label]
        x = 2 * np.arange(curves.shape[1])
        for j, row in enumerate(curves):
            ax.plot(x, row, color=plots.PALETTE[i], lw=1.2, ls="--" if f"η = {eta:g}" not in label else "-",
                    label=f"{label} ({len(curves)} seeds)" if j == 0 else None)
        if f"η = {eta:g}" in label:
            ax2.plot(runs.epoch, runs.curves[label].mean(0), color=plots.PALETTE[i], lw=1.6, marker="o", ms=3,
                     label=f"mean of {len(runs.curves[label])} seeds")
    ax.axvline(warm, color="0.5", lw=0.8, ls=":")
    ax.set(yscale="log", xlabel="updates", ylabel="training loss (cross-entropy, full set)",
           title="The first updates (dotted: end of the warmup)")
    ax2.set(yscale="log", xlabel="epochs", ylabel="training loss (cross-entropy)", title=f"The whole run, η = {eta:g}")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2))
    _finish(fig, ax, ax2)


def real_schedules(eta: float, updates: int, per_epoch: int) -> dict:
    """Every schedule of the chapter at peak/initial rate ``eta`` for a run of ``updates`` updates (per update),
    the decays set to end near η/10."""
    S = _schedules
    return {
        "constant": S.constant(eta),
        "inverse time": S.inverse_time(eta, 9.0 / updates),
        "exponential": S.exponential(eta, 0.1 ** (1.0 / updates)),
        "k/√t": S.inverse_sqrt(eta),
        "staircase ×½ / 5 epochs": S.step(eta, 0.5, 5 * per_epoch),
        "manual ÷10 at 50 %, 75 %": S.manual_decay(eta, (updates // 2, 3 * updates // 4)),
        "cosine": S.cosine(eta, updates),
        "warmup 2 epochs + cosine": S.warmup(S.cosine(eta, updates - 2 * per_epoch), 2 * per_epoch),
        "one-cycle": S.one_cycle(eta, updates),
    }


def schedule_grid(data, sizes, cases, *, epochs: int, batch_size: int, beta: float = 0.9):
    """Train ``mlp(sizes, seed)`` with SGD and momentum ``beta`` under every (schedule name, η₀, seed) of ``cases``
    in one stacked run. Returns (one row per case with the final training loss, train and test accuracy and
    divergence, indexed by schedule, η₀ and seed; the training loss per epoch as a DataFrame with the same index;
    the stacked history)."""
    per_epoch = math.ceil(len(data.y_train) / batch_size)
    updates = epochs * per_epoch
    hist = _train.train_stacked(lambda s: _models.mlp(sizes, seed=s), [seed for *_, seed in cases], "momentum", data,
                                hparams={"beta": beta}, schedule=[real_schedules(eta, updates, per_epoch)[name]
                                                                for name, eta, _ in cases],
                                schedule_unit="step", epochs=epochs, batch_size=batch_size, threads=1)
    index = pd.MultiIndex.from_tuples(cases, names=["schedule", "η₀", "seed"])
    final = pd.DataFrame({"final train loss": np.where(hist.diverged, np.inf, hist.train_loss[:, -1]),
                          "train accuracy": hist.train_acc[:, -1], "test accuracy": hist.test_acc[:, -1],
                          "diverged": hist.diverged}, index=index)
    curves = pd.DataFrame(hist.train_loss, index=index, columns=hist.epoch).sort_index()
    return final, curves, hist


def against(final: pd.DataFrame, reference: str, column: str) -> pd.DataFrame:
    """Each schedule of ``final`` (indexed by schedule and seed) minus ``reference`` in ``column``, paired by seed:
    mean difference and Student's t-interval (:func:`lib.stats.paired_difference`), one row per schedule."""
    ref = final.loc[reference, column].to_dict()
    rows = {}
    for name in final.index.unique("schedule"):
        if name == reference:
            continue
        iv = _stats.paired_difference(final.loc[name, column].to_dict(), ref)
        rows[name] = {"difference": iv.mean, "low": iv.low, "high": iv.high, "seeds": iv.n}
    return pd.DataFrame(rows).T.rename_axis("schedule")


def real_figure(curves: pd.DataFrame, best: dict, updates: int, per_epoch: int) -> None:
    """Mean training loss of each schedule at its best η₀ (``best``: {schedule: η₀}) and the rates it used."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(plots.FIGURE_WIDTH, 5.8))
    for i, (name, eta) in enumerate(best.items()):
        style = "--" if i >= len(plots.PALETTE) - 1 else "-"
        color = plots.PALETTE[i % len(plots.PALETTE)]
        mean = curves.loc[(name, eta)].mean(axis=0)
        ax.plot(mean.index, mean.to_numpy(), color=color, lw=1.5, ls=style, label=f"{name} (η₀ = {eta:g})")
        s = real_schedules(eta, updates, per_epoch)[name]
        ax2.plot(np.arange(updates) / per_epoch, s(np.arange(updates)), color=color, lw=1.5, ls=style)
    n = curves.index.get_level_values("seed").nunique()
    ax.set(yscale="log", xlabel="epochs", ylabel="training loss (cross-entropy)",
           title=f"Each schedule at its best η₀ (mean of {n} seeds)")
    ax2.set(yscale="log", xlabel="epochs", ylabel="learning rate η (per update)", title="The learning rates used",
            ylim=(1e-3, 5))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    _finish(fig, ax, ax2)
