r"""Adaptive learning rates, measured: effective learning rates, stability limits, step spikes.

Adagrad and RMSProp divide the learning rate of every coordinate :math:`i` by its own :math:`\sigma_i`, a root
of past squared gradients (:mod:`lib.rules`: :func:`~lib.rules.adagrad_update`,
:func:`~lib.rules.rmsprop_update`, :func:`~lib.rules.lee_rmsprop_update`):

.. math:: \theta_i^{t+1} = \theta_i^t - \frac{\eta}{\sigma_i^t + \epsilon}\, g_i^t .

This module holds what the chapter on adaptive learning rates measures about them, written once:

* :func:`effective_learning_rates` — the factor :math:`\eta_i^t = -\Delta\theta_i^t / g_i^t` that multiplied each
  coordinate's gradient along a run of :func:`lib.trajectories.run` (for these rules, :math:`\eta/(\sigma_i^t +
  \epsilon)`), and :func:`optimizer_effective_lr`, the same for every parameter of a network trained with
  :mod:`lib.optim`;
* :func:`largest_stable_eta` — the largest learning rate with which a rule still makes progress on a problem
  (no divergence and a lower loss at the end than at the start), found by repeatedly subdividing a bracket of
  runs; :func:`surface_stability` and :func:`network_stability` make the test for a 2-D surface and for a
  network (one stacked run per round, :func:`eta_grid`);
* :func:`step_spike` — how much the step suddenly grows after a quiet stretch, and
  :func:`rmsprop_step_bound`, the ceiling :math:`1/\sqrt{1-\alpha}` that RMSProp's step cannot exceed (in units
  of :math:`\eta`);
* :func:`gorge` — a surface whose curvature changes along the path: a steep gorge opening onto a flat plain.

References:
    J. Duchi, E. Hazan and Y. Singer (2011), Adaptive subgradient methods for online learning and stochastic
    optimization, JMLR 12.
    T. Tieleman and G. Hinton (2012), Neural Networks for Machine Learning, Coursera, lecture 6.5.
    Hung-yi Lee, Machine Learning 2021/2022, lecture "類神經網路訓練不起來怎麼辦 (三): 自動調整學習速率".
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from lib import optim
from lib.surfaces import CriticalPoint, Surface
from lib.train import train_stacked
from lib.trajectories import Trajectories, run

__all__ = [
    "EtaGrid",
    "StableEta",
    "StepSpike",
    "effective_learning_rates",
    "eta_grid",
    "gorge",
    "largest_stable_eta",
    "network_stability",
    "optimizer_effective_lr",
    "rmsprop_step_bound",
    "step_lengths",
    "step_spike",
    "surface_stability",
]


# --------------------------------------------------------------------------------------------------- surface


def gorge(a: float = 1.0, s: float = 0.05, X: float = 3.0) -> Surface:
    r"""A steep gorge that opens onto a flat plain: :math:`f(x, y) = \tfrac12 a\,x^2 y^2 + \tfrac12 s\,\bigl((x -
    X)^2 + y^2\bigr)`.

    The floor is L-shaped. Along the :math:`y`-axis (the gorge) the curvature across it, in :math:`x`, is
    :math:`a y^2 + s`: steep high up. Along the :math:`x`-axis (the plain) the curvature in :math:`x` is only
    :math:`s`, and the walls, in :math:`y`, steepen as :math:`a x^2 + s`. A run started in the gorge sees large
    :math:`x`-gradients first and must then travel a distance :math:`X` along :math:`x` with small ones: the
    curvature of the same coordinate changes along the path. The only critical point is the global minimum
    :math:`(X, 0)`, where :math:`f = 0` (:math:`\partial_y f = y\,(a x^2 + s) = 0` forces :math:`y = 0`).
    """
    for name, value in (("a", a), ("s", s), ("X", X)):
        if not (isinstance(value, numbers.Real) and math.isfinite(value) and value > 0):
            raise ValueError(f"Invalid {name}: {value} (must be > 0)")
    return Surface(
        name="gorge",
        label="Gorge and plain",
        bounds=((-1.0, X + 1.0), (-1.0, 4.0)),
        starts=((0.5, 3.0), (0.0, 0.3)),
        critical_points=(CriticalPoint((X, 0.0), "global minimum"),),
        f=lambda x, y: 0.5 * a * x * x * y * y + 0.5 * s * ((x - X) ** 2 + y * y),
        df=lambda x, y: (a * x * y * y + s * (x - X), a * x * x * y + s * y),
        d2f=lambda x, y: ((a * y * y + s, 2.0 * a * x * y), (2.0 * a * x * y, a * x * x + s)),
        formula=rf"\tfrac12\,{a:g}\,x^2y^2 + \tfrac12\,{s:g}\,\bigl((x - {X:g})^2 + y^2\bigr)",
    )


# ----------------------------------------------------------------------------------- effective learning rates


def effective_learning_rates(traj: Trajectories, surface: Surface) -> np.ndarray:
    r"""The factor that multiplied each coordinate's gradient at each step of a run, shape ``(starts, steps, 2)``.

    .. math:: \eta_i^t = -\frac{\theta_i^{t+1} - \theta_i^t}{g_i^t}, \qquad g^t = \nabla f(\theta^t)

    For gradient descent it is :math:`\eta`; for Adagrad and RMSProp without momentum it is
    :math:`\eta/(\sigma_i^t + \epsilon)`, the per-coordinate learning rate the rule chose. (For rules with
    momentum the step is not a multiple of the current gradient and the ratio has no such meaning.) It is
    ``NaN`` where :math:`g_i^t = 0` and from the step on which a start diverged (``traj.diverged_at``).
    """
    path = np.asarray(traj.path, dtype=np.float64)
    if path.ndim != 3 or path.shape[-1] != 2:
        raise ValueError(f"Invalid traj.path shape: {path.shape} (expected (starts, steps + 1, 2))")
    g = np.asarray(surface.grad(path[:, :-1]), dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = -np.diff(path, axis=1) / g
    eta[g == 0] = np.nan
    for i, k in enumerate(np.asarray(traj.diverged_at)):
        if k >= 0:
            eta[i, max(int(k) - 1, 0):] = np.nan  # the step that left the box was replaced by a repeat
    return eta


def optimizer_effective_lr(optimizer, model) -> dict:
    r"""The per-parameter learning rate :math:`\eta/(\sigma + \epsilon)` of the last update of a
    :mod:`lib.optim` ``Adagrad``, ``RMSprop`` or ``LeeRMSProp``, as a dict parameter name → tensor.

    :math:`\sigma` is read from the optimizer's state: :math:`\sqrt{s}` for Adagrad (with its decayed
    :math:`\eta^t = \eta/(1 + (t-1)\,\text{lr\_decay})`), :math:`\sqrt{v}` for RMSProp (:math:`\sqrt{v - \bar
    g^2}` when centered), :math:`\sigma` for the :math:`\sigma` form. Parameters that have not been updated yet
    are left out.
    """
    kinds = (optim.Adagrad, optim.RMSprop, optim.LeeRMSProp)
    if not isinstance(optimizer, kinds):
        raise ValueError(f"Invalid optimizer: {type(optimizer).__name__} (expected lib.optim Adagrad, RMSprop "
                         "or LeeRMSProp)")
    group_of = {id(p): group for group in optimizer.param_groups for p in group["params"]}
    out = {}
    for name, p in model.named_parameters():
        state = optimizer.state.get(p)
        if id(p) not in group_of or not state:
            continue
        group = group_of[id(p)]
        eta, eps = group["lr"], group["eps"]
        if isinstance(optimizer, optim.Adagrad):
            eta = eta / (1 + (state["t"] - 1) * group["lr_decay"])
            sigma = state["sum_sq"].sqrt()
        elif isinstance(optimizer, optim.RMSprop):
            v = state["v"] - state["g_avg"] ** 2 if group["centered"] else state["v"]
            sigma = v.sqrt()
        else:
            sigma = state["sigma"]
        out[name] = (eta / (sigma + eps)).detach()
    return out


# ------------------------------------------------------------------------------------------------ step spikes


def rmsprop_step_bound(alpha) -> np.ndarray | float:
    r"""The largest step of RMSProp in one coordinate, in units of :math:`\eta`: :math:`1/\sqrt{1-\alpha}`.

    In torch's form :math:`v^t = \alpha v^{t-1} + (1-\alpha)(g^t)^2 \ge (1-\alpha)(g^t)^2`, so
    :math:`|g^t|/\sqrt{v^t} \le 1/\sqrt{1-\alpha}`; the same holds for :math:`\sigma^t` in the :math:`\sigma`
    form (whose first step is exactly :math:`\eta`). The bound is reached when a gradient arrives that is
    much larger than all recent ones: on torch's first step (:math:`v^0 = 0`), or after a quiet stretch. For
    Adagrad the sum includes the current gradient and the bound is 1.
    """
    alpha = np.asarray(alpha, dtype=np.float64)
    if np.any(~((alpha >= 0) & (alpha < 1))):
        raise ValueError(f"Invalid alpha: {alpha} (must be in [0, 1))")
    out = 1.0 / np.sqrt(1.0 - alpha)
    return float(out) if out.ndim == 0 else out


def step_lengths(path) -> np.ndarray:
    r"""The length :math:`\lVert\theta^{t+1} - \theta^t\rVert` of every step of ``path`` (shape ``(..., T + 1,
    d)``), shape ``(..., T)``."""
    path = np.asarray(path, dtype=np.float64)
    if path.ndim < 2:
        raise ValueError(f"Invalid path shape: {path.shape} (expected (..., steps + 1, d))")
    return np.linalg.norm(np.diff(path, axis=-2), axis=-1)


class StepSpike(NamedTuple):
    """The result of :func:`step_spike`, one value per run."""

    ratio: np.ndarray | float  # the largest step divided by the smallest step before it
    at: np.ndarray | int  # index of that largest step
    flat: np.ndarray | int  # index of the smallest step before it (the quietest point of the stretch)


def step_spike(path, start: int = 0) -> StepSpike:
    r"""How much the step suddenly grows after a quiet stretch: :math:`\max_t s_t / \min_{k<t} s_k`.

    With :math:`s_t = \lVert\theta^{t+1} - \theta^t\rVert` (:func:`step_lengths`) counted from step ``start``,
    the ratio is at most about 1 for a run whose steps shrink as it converges, and large when a step jumps after
    a stretch of small ones. ``0/0`` counts as 1 (a run that stopped moving), a positive step after a zero one
    as ``inf``. ``path`` has shape ``(..., T + 1, d)``; the result has the leading shape.
    """
    s = step_lengths(path)
    if isinstance(start, bool) or not isinstance(start, numbers.Integral) or not 0 <= start < s.shape[-1] - 1:
        raise ValueError(f"Invalid start: {start} (must be an integer in [0, {s.shape[-1] - 1}))")
    s = s[..., start:]
    before = np.minimum.accumulate(s, axis=-1)[..., :-1]  # min_{k < t} s_k for t = 1, 2, ...
    after = s[..., 1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(before > 0, after / np.where(before > 0, before, 1.0), np.where(after > 0, np.inf, 1.0))
    at = np.argmax(ratio, axis=-1) + 1
    best = np.take_along_axis(ratio, (at - 1)[..., None], axis=-1)[..., 0]
    head = np.where(np.arange(s.shape[-1]) < at[..., None], s, np.inf)
    flat = np.argmin(head, axis=-1)
    if best.ndim == 0:
        return StepSpike(float(best), int(at) + start, int(flat) + start)
    return StepSpike(best, at + start, flat + start)


# ---------------------------------------------------------------------------------------- stability limits


class StableEta(NamedTuple):
    """The result of :func:`largest_stable_eta`."""

    eta: float  # the largest η found stable below the smallest unstable one (NaN: the smallest η tried failed)
    unstable: float  # the smallest η found unstable (inf: none was)
    etas: np.ndarray  # every η tried, increasing
    stable: np.ndarray  # the outcome of each
    monotone: bool  # False if some tried η above an unstable one was stable again


def _bracket(etas: np.ndarray, stable: np.ndarray) -> tuple[float, float]:
    bad = np.flatnonzero(~stable)
    if bad.size == 0:
        return float(etas[-1]), math.inf
    first = int(bad[0])
    return (float(etas[first - 1]) if first > 0 else math.nan), float(etas[first])


def largest_stable_eta(is_stable: Callable[[np.ndarray], np.ndarray], etas, *, rounds: int = 3, points: int = 4,
                       stable=None) -> StableEta:
    r"""The largest stable learning rate, by subdividing a bracket of runs.

    ``is_stable(etas) -> bool array`` runs the rule once per learning rate (all at once, e.g. stacked) and says
    which ones were stable. First every η of the increasing grid ``etas`` is tried (or, when ``stable`` is
    given, its outcome is taken as already measured); the bracket is then the last stable η below the first
    unstable one and that unstable η. Each of ``rounds`` rounds tries ``points`` learning rates spaced
    geometrically inside the bracket and shrinks it, by a factor ``points + 1`` in :math:`\log\eta` per round:
    with ``points = 1`` this is bisection. Stability need not be monotone in η; ``monotone`` says whether it was
    among the learning rates tried.
    """
    etas = np.asarray(etas, dtype=np.float64)
    if etas.ndim != 1 or etas.size < 1 or np.any(~(etas > 0)) or np.any(np.diff(etas) <= 0):
        raise ValueError(f"Invalid etas: {etas} (must be positive and increasing)")
    for name, value, least in (("rounds", rounds, 0), ("points", points, 1)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
            raise ValueError(f"Invalid {name}: {value} (must be an integer >= {least})")
    outcome = np.asarray(is_stable(etas) if stable is None else stable, dtype=bool)
    if outcome.shape != etas.shape:
        raise ValueError(f"Invalid stable shape: {outcome.shape} (expected {etas.shape})")
    for _ in range(rounds):
        lo, hi = _bracket(etas, outcome)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            break
        new = lo * (hi / lo) ** (np.arange(1, points + 1) / (points + 1))
        result = np.asarray(is_stable(new), dtype=bool)
        if result.shape != new.shape:
            raise ValueError(f"is_stable returned shape {result.shape} for {new.shape} learning rates")
        order = np.argsort(np.concatenate([etas, new]))
        etas, outcome = np.concatenate([etas, new])[order], np.concatenate([outcome, result])[order]
    lo, hi = _bracket(etas, outcome)
    first_bad = np.flatnonzero(~outcome)
    monotone = first_bad.size == 0 or not outcome[first_bad[0]:].any()
    return StableEta(lo, hi, etas, outcome, bool(monotone))


def _made_progress(loss: np.ndarray) -> np.ndarray:
    """Whether a loss curve (shape (..., T + 1)) never rose above its start and ended below it."""
    # a run stopped before its second evaluation (every copy of a stacked run diverged) has no progress
    with np.errstate(invalid="ignore"):
        return (np.max(loss[..., 1:], axis=-1, initial=-np.inf) <= loss[..., 0]) & (loss[..., -1] < loss[..., 0])


def surface_stability(rule: str, surface: Surface, starts, steps: int, *, bound: float = 1e6,
                      **hparams) -> Callable[[np.ndarray], np.ndarray]:
    r"""``is_stable(etas)`` for :func:`largest_stable_eta` on a 2-D surface: one vectorized
    :func:`lib.trajectories.run` of ``rule`` from every start with every η. An η is stable when, from every
    start, the run did not diverge, its loss never rose above the loss it started with, and it ended lower:
    progress without a detour through worse places (a loss that is low at the last step by chance, between
    two spikes, does not count)."""
    starts = np.atleast_2d(np.asarray(starts, dtype=np.float64))
    if starts.ndim != 2 or starts.shape[1] != 2:
        raise ValueError(f"Invalid starts shape: {np.shape(starts)} (expected (starts, 2) or (2,))")

    def is_stable(etas):
        etas = np.atleast_1d(np.asarray(etas, dtype=np.float64))
        k, n = etas.size, len(starts)
        traj = run(rule, surface, np.tile(starts, (k, 1)), steps, eta=np.repeat(etas, n)[:, None], bound=bound,
                   **hparams)
        ok = (traj.diverged_at < 0) & _made_progress(traj.loss)
        return ok.reshape(k, n).all(axis=1)

    return is_stable


# ------------------------------------------------------------------------------------------------- networks


@dataclass(frozen=True, eq=False)
class EtaGrid:
    """A learning-rate grid trained as one stacked run (:func:`eta_grid`); copy ``k * S + j`` is η ``etas[k]``
    with seed ``seeds[j]``. Arrays of shape ``(K, S)`` are ``NaN`` where a copy diverged."""

    etas: np.ndarray
    seeds: tuple
    history: object  # lib.train.StackedHistory

    def _grid(self, values) -> np.ndarray:
        return np.asarray(values).reshape(len(self.etas), len(self.seeds), *np.shape(values)[1:])

    @property
    def final_loss(self) -> np.ndarray:
        """``(K, S)`` training loss (full training set) after the last update."""
        return self._grid(self.history.train_loss[:, -1])

    @property
    def test_acc(self) -> np.ndarray:
        """``(K, S)`` test accuracy after the last update."""
        return self._grid(self.history.test_acc[:, -1])

    @property
    def diverged(self) -> np.ndarray:
        """``(K, S)`` whether the copy diverged."""
        return self._grid(self.history.diverged)

    @property
    def stable(self) -> np.ndarray:
        """``(K,)``: no seed diverged and, for every seed, the training loss at every evaluation after the start
        was at most the initial one and the last was lower."""
        return (~self.diverged & _made_progress(self._grid(self.history.train_loss))).all(axis=1)

    def best(self) -> int:
        """Index of the η with the lowest mean final training loss over the seeds, among those where no seed
        diverged."""
        mean = np.where(self.diverged, np.inf, self.final_loss).mean(axis=1)
        if not np.isfinite(mean).any():
            raise ValueError("Every learning rate of the grid diverged for some seed")
        return int(np.argmin(mean))


def eta_grid(model_fn: Callable, seeds: Sequence[int], rule: str, data, etas, *,
             hparams: Mapping | None = None, **train_kwargs) -> EtaGrid:
    r"""Train ``rule`` with every learning rate of ``etas`` from every seed of ``seeds`` as one stacked run
    (:func:`lib.train.train_stacked`, which takes ``train_kwargs``: ``epochs``, ``batch_size``, ``max_loss``,
    ``threads``, …). ``hparams`` are the rule's other hyperparameters, shared by all copies."""
    etas = np.atleast_1d(np.asarray(etas, dtype=np.float64))
    if etas.ndim != 1 or etas.size < 1 or np.any(~(etas > 0)):
        raise ValueError(f"Invalid etas: {etas} (must be positive)")
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ValueError("Invalid seeds: need at least one")
    hp = dict(hparams or {})
    if "eta" in hp:
        raise ValueError("Invalid hparams: 'eta' is given by etas")
    hp["eta"] = np.repeat(etas, len(seeds)).tolist()
    history = train_stacked(model_fn, list(seeds) * etas.size, rule, data, hparams=hp, **train_kwargs)
    return EtaGrid(etas, seeds, history)


def network_stability(model_fn: Callable, seeds: Sequence[int], rule: str, data, *,
                      hparams: Mapping | None = None, **train_kwargs) -> Callable[[np.ndarray], np.ndarray]:
    r"""``is_stable(etas)`` for :func:`largest_stable_eta` on a network: one :func:`eta_grid` run per call; an
    η is stable when no seed diverged (a loss above ``max_loss`` counts) and the training loss of every seed
    never rose above its initial value and ended lower (:attr:`EtaGrid.stable`)."""

    def is_stable(etas):
        return eta_grid(model_fn, seeds, rule, data, etas, hparams=hparams, **train_kwargs).stable

    return is_stable
