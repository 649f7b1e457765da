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
* :func:`gorge` — a surface whose curvature changes along the path: a steep gorge opening onto a flat plain;
* the chapter's experiments, each returning a table indexed by its labels (learning rate, method, problem, run)
  so that the chapter selects results by label: :func:`sweep_table`, :func:`gorge_race`, :func:`first_step_table`,
  :func:`constant_gradient_steps`, :func:`centered_constant_steps`, :func:`epsilon_scaling`,
  :func:`stability_table`, :func:`tuned_table`, :func:`per_parameter_table`, :func:`pixel_learning_rates`,
  :func:`spike_table`, and their figures (:func:`plot_ravine_sweeps`, :func:`plot_gorge_race`,
  :func:`effective_lr_frames`);
* :func:`tuned_runs` and :func:`compare_to` — tuned optimizers trained from fresh seeds, paired by seed, and each
  compared with a reference through the t-interval of the per-seed differences (:func:`lib.stats.paired_difference`).

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

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scipy.stats
import torch

from lib import optim, results, rules, stats, surfaces
from lib.surfaces import CriticalPoint, Surface
from lib.train import train_stacked
from lib.trajectories import Trajectories, run
from lib.viz import Frame, Line, plots

__all__ = [
    "EtaGrid",
    "StableEta",
    "StepSpike",
    "centered_constant_steps",
    "compare_to",
    "constant_gradient_steps",
    "effective_learning_rates",
    "effective_lr_frames",
    "epsilon_scaling",
    "eta_grid",
    "final_by_seed",
    "first_step_table",
    "gorge",
    "gorge_race",
    "largest_stable_eta",
    "network_stability",
    "optimizer_effective_lr",
    "per_parameter_table",
    "pixel_learning_rates",
    "plain_crossing",
    "plot_gorge_race",
    "plot_ravine_sweeps",
    "rmsprop_step_bound",
    "spike_table",
    "stability_table",
    "step_lengths",
    "step_spike",
    "surface_stability",
    "sweep_table",
    "tuned_runs",
    "tuned_table",
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
        axis_labels=("x", "y"),
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

    @property
    def best_eta(self) -> float:
        """The tuned learning rate: :meth:`best`'s η."""
        return float(self.etas[self.best()])

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


# ----------------------------------------------------------------------------- the chapter's experiments, by label


def sweep_table(traj: Trajectories, etas, near: float = 1e-2) -> pd.DataFrame:
    """One row per learning rate of a :func:`lib.trajectories.sweep` on a 2-D surface whose minimum is the origin,
    indexed by ``eta``: ``|W|`` and ``|b|`` (the two coordinates' distances to the minimum after the last step),
    ``loss``, ``diverged``, and ``solved`` (did not diverge and both coordinates are within ``near``)."""
    etas = np.asarray(etas, dtype=np.float64)
    if etas.shape != (len(traj.path),):
        raise ValueError(f"Invalid etas shape: {etas.shape} (expected ({len(traj.path)},), one per run)")
    end = np.abs(np.asarray(traj.path)[:, -1])
    diverged = np.asarray(traj.diverged_at) >= 0
    return pd.DataFrame({"eta": etas, "|W|": end[:, 0], "|b|": end[:, 1], "loss": np.asarray(traj.loss)[:, -1],
                         "diverged": diverged,
                         "solved": ~diverged & (end[:, 0] < near) & (end[:, 1] < near)}).set_index("eta")


def plot_ravine_sweeps(tables: Mapping[str, pd.DataFrame], *, limit: float, near: float = 1e-2,
                       floor: float = 1e-12, steps: int = 100):
    """Where each coordinate is after ``steps`` steps, against η, one panel per :func:`sweep_table`; diverged
    runs are red crosses, ``limit`` (gradient descent's :math:`2/\\lambda_b`) a dotted line."""
    fig, axes = plt.subplots(1, len(tables), figsize=(8.5, 3.5), sharey=True, squeeze=False)
    for ax, (name, table) in zip(axes[0], tables.items(), strict=True):
        ok = table[~table["diverged"]]
        for column, what, color in (("|W|", "flat", plots.PALETTE[0]), ("|b|", "steep", plots.PALETTE[1])):
            ax.loglog(ok.index, np.maximum(ok[column], floor), "o-", ms=2.8, lw=1.2, color=color,
                      label=f"{column} after {steps} steps ({what})")
        bad = table.index[table["diverged"]]
        if len(bad):
            ax.plot(bad, np.full(len(bad), 3.0), "X", ms=7, color=plots.DIVERGED, mec="white", mew=0.5,
                    label="diverged")
        ax.axhspan(floor / 2, near, color=plots.PALETTE[2], alpha=0.1, lw=0, label=f"within {near:g} of the minimum")
        ax.axvline(limit, color="0.35", ls=":", lw=1.0)
        ax.text(limit * 0.92, 2e-11, r"$2/\lambda_b$", ha="right", color="0.3")
        ax.set(xlabel="learning rate η", title=name, ylim=(floor / 2, 10))
        ax.grid(alpha=0.3, which="major")
    axes[0, 0].set_ylabel("distance to the minimum (log)")
    axes[0, -1].legend(loc="upper center", bbox_to_anchor=(-0.05, -0.2), ncol=2)
    fig.suptitle(f"W–b ravine: where each coordinate is after {steps} steps (below {floor:.0e} drawn at the "
                 "bottom)")
    fig.tight_layout()
    return fig


def plain_crossing(path, plain_y: float = 0.3, arrive_x: float = 2.7) -> np.ndarray:
    """Steps from the first point with ``y < plain_y`` (on the plain of :func:`gorge`) to the first with
    ``x > arrive_x``, per start (``path`` of shape ``(starts, T + 1, 2)``); ``-1`` where it never arrived."""
    path = np.asarray(path, dtype=np.float64)
    on_plain = np.argmax(path[..., 1] < plain_y, axis=-1)
    arrived = path[..., 0] > arrive_x
    return np.where(arrived.any(axis=-1), np.argmax(arrived, axis=-1) - on_plain, -1)


def gorge_race(surface: Surface, contenders: Mapping[str, tuple[str, Mapping]], steps: int, *, grid,
               stability_steps: int = 300, fraction: float = 0.5) -> tuple[pd.DataFrame, dict]:
    """Each contender (label → (rule, hyperparameters)) runs from both starts of ``surface`` (:func:`gorge`) with
    ``fraction`` of its own largest stable η from the first start. Returns a table indexed by ``method`` (η, steps
    on the plain from each start and their ratio, steps to the arrival from the first start) and the runs,
    label → (trajectories, η)."""
    starts = np.asarray(surface.starts, dtype=np.float64)
    rows, runs = [], {}
    for label, (rule, hp) in contenders.items():
        is_stable = surface_stability(rule, surface, starts[:1], stability_steps, **hp)
        eta = fraction * largest_stable_eta(is_stable, grid, rounds=2, points=3).eta
        traj = run(rule, surface, starts, steps, eta=eta, **hp)
        runs[label] = (traj, eta)
        crossing = plain_crossing(traj.path)
        rows.append({"method": label, "η": eta, "steps on the plain, from the gorge": int(crossing[0]),
                     "from the corner": int(crossing[1]), "ratio": crossing[0] / crossing[1],
                     "steps to x > 2.7 from the gorge": int(np.argmax(traj.path[0, :, 0] > 2.7))})
    return pd.DataFrame(rows).set_index("method"), runs


def plot_gorge_race(surface: Surface, runs: Mapping[str, tuple], shown: Sequence[str], steps: int):
    """Two paths over the contours (the labels ``shown``) and every contender's effective learning rate in x."""
    fig, axes = plt.subplots(1, 3, figsize=(8.5, 4.2), gridspec_kw={"width_ratios": (1, 1, 1.25)})
    for ax, label in zip(axes[:2], shown, strict=True):
        traj, eta = runs[label]
        plots.plot_surface(ax, surface)
        plots.plot_trajectories(ax, traj._replace(path=traj.path[:, :401]), colors=["#1f1f1f", "#9a9a9a"],
                                labels=["path from the top of the gorge", "path from the corner"], marker_every=10)
        ax.set(title=f"{label}, η = {eta:.2g}\n400 steps, a dot every 10", xlabel="x (θ₁)")
        ax.title.set_fontsize(10.5)
    axes[0].set_ylabel("y (θ₂)")
    ax = axes[2]
    for i, (label, (traj, eta)) in enumerate(runs.items()):
        ax.semilogy(effective_learning_rates(traj, surface)[0, :, 0] / eta, color=plots.PALETTE[i], lw=1.3,
                    label=label)
    ax.set(xlabel="step t (start at the top of the gorge)", ylabel=r"$\eta_x/\eta$ (log)", xlim=(0, steps),
           title="x's effective learning rate, relative to η")
    ax.title.set_fontsize(10.5)
    ax.grid(alpha=0.3, which="both")
    handles, labels = axes[0].get_legend_handles_labels()
    more_handles, more_labels = ax.get_legend_handles_labels()
    fig.legend(handles + more_handles, labels + [rf"$\eta_x/\eta$: {label}" for label in more_labels],
               loc="lower center", ncol=2)
    fig.tight_layout(rect=(0, 0.3, 1, 1))
    return fig


def first_step_table(g0, alphas: Sequence[float]) -> pd.DataFrame:
    """The first step, in units of η, of torch's form (:mod:`lib.rules` and ``torch.optim.RMSprop``), the σ
    form and the bias-corrected form (Adam with β₁ = 0), for the gradient ``g0``; indexed by ``α``."""
    g0 = np.asarray(g0, dtype=np.float64)
    rows = []
    for alpha in alphas:
        torch_form, _ = rules.rmsprop_update(g0, rules.rmsprop_init(g0), g0, eta=1.0, alpha=alpha)
        sigma_form, _ = rules.lee_rmsprop_update(g0, rules.lee_rmsprop_init(g0), g0, eta=1.0, alpha=alpha)
        corrected, _ = rules.adam_update(g0, rules.adam_init(g0), g0, eta=1.0, beta1=0.0, beta2=alpha)
        p = torch.zeros(g0.size, dtype=torch.float64, requires_grad=True)
        reference = torch.optim.RMSprop([p], lr=1.0, alpha=alpha)
        p.grad = torch.tensor(g0)
        reference.step()
        rows.append({"α": alpha, "torch form: |step|/η": np.abs(torch_form).round(4).tolist(),
                     "torch.optim.RMSprop: |step|/η": np.abs(p.detach().numpy()).round(4).tolist(),
                     "σ form: |step|/η": np.abs(sigma_form).round(4).tolist(),
                     "bias-corrected (Adam, β₁ = 0)": np.abs(corrected).round(4).tolist(),
                     "1/√(1−α)": rmsprop_step_bound(alpha)})
    return pd.DataFrame(rows).set_index("α")


def constant_gradient_steps(g, alphas: Sequence[float], steps: int, *, sigma_alpha: float = 0.99) -> pd.DataFrame:
    """|step|/η of the first coordinate under the constant gradient ``g``, indexed by step ``t`` = 1, 2, …: one
    column per α of torch's form (named by α) and one, ``"σ form"``, for the σ form."""
    g = np.asarray(g, dtype=np.float64)
    out = {}
    for alpha in alphas:
        state, lengths = rules.rmsprop_init(g), []
        for _ in range(steps):
            step, state = rules.rmsprop_update(g, state, g, eta=1.0, alpha=alpha)
            lengths.append(abs(step[0]))
        out[alpha] = lengths
    state, lengths = rules.lee_rmsprop_init(g), []
    for _ in range(steps):
        step, state = rules.lee_rmsprop_update(g, state, g, eta=1.0, alpha=sigma_alpha)
        lengths.append(abs(step[0]))
    out["σ form"] = lengths
    return pd.DataFrame(out, index=pd.RangeIndex(1, steps + 1, name="t"))


def centered_constant_steps(steps: int, *, alpha: float = 0.9) -> pd.DataFrame:
    """|step|/η of plain and centered RMSProp under a constant gradient, indexed by step ``t`` = 1, 2, …"""
    g = np.ones(2)
    plain, centered, rows = rules.rmsprop_init(g), rules.rmsprop_init(g), []
    for _ in range(steps):
        plain_step, plain = rules.rmsprop_update(g, plain, g, eta=1.0, alpha=alpha)
        centered_step, centered = rules.rmsprop_update(g, centered, g, eta=1.0, alpha=alpha, centered=True)
        rows.append((abs(plain_step[0]), abs(centered_step[0])))
    return pd.DataFrame(rows, columns=["plain: |step|/η", "centered: |step|/η"],
                        index=pd.RangeIndex(1, steps + 1, name="step t"))


def epsilon_scaling(scales: Sequence[float], *, start=(1.6, 1.6), steps: int = 200, compare: int = 30,
                    **hparams) -> pd.DataFrame:
    """RMSProp (``hparams``: ``eta``, ``alpha``, …) on a tilted bowl (κ = 10) scaled to ``lam_max`` = each of
    ``scales``; indexed by ``λₘₐₓ``: the gradient norm at the start, the largest deviation from the path at the
    first scale over the first ``compare`` steps, and the distance to the minimum at the end."""
    rows, reference = [], None
    for scale in scales:
        bowl = surfaces.quadratic(kappa=10.0, angle=0.5, lam_max=scale)
        path = run("rmsprop", bowl, start, steps, **hparams).path[0]
        reference = path if reference is None else reference
        rows.append({"λₘₐₓ": scale, "|g| at the start": float(np.linalg.norm(bowl.grad(np.asarray(start)))),
                     f"max |θ − θ(λₘₐₓ = {scales[0]:g})|, first {compare} steps":
                         float(np.abs(path[:compare + 1] - reference[:compare + 1]).max()),
                     f"distance to the minimum after {steps} steps": float(np.linalg.norm(path[-1]))})
    return pd.DataFrame(rows).set_index("λₘₐₓ")


def stability_table(problems: Mapping[str, tuple], methods: Mapping[str, tuple[str, Mapping]], grid, *,
                    steps: int = 200, rounds: int = 3, points: int = 3) -> tuple[pd.DataFrame, list[str]]:
    """The largest stable η (:func:`largest_stable_eta` with :func:`surface_stability`) of every rule on every
    problem (label → (surface, starts, λ_max or None)), indexed by ``problem``, with a column ``2/λₘₐₓ``; and
    the list of "rule on problem" where stability was not monotone in η."""
    rows, non_monotone = [], []
    for label, (surface, starts, lam) in problems.items():
        row = {"problem": label, "2/λₘₐₓ": 2 / lam if lam else math.nan}
        for name, (rule, hp) in methods.items():
            res = largest_stable_eta(surface_stability(rule, surface, starts, steps, **hp), grid, rounds=rounds,
                                     points=points)
            row[name] = res.eta
            if not res.monotone:
                non_monotone.append(f"{name} on {label}")
        rows.append(row)
    return pd.DataFrame(rows).set_index("problem"), non_monotone


def tuned_table(grids: Mapping[str, EtaGrid]) -> pd.DataFrame:
    """One row per optimizer (label → :class:`EtaGrid`): its grid, tuned η, mean final training loss and test
    accuracy over the tuning seeds at that η, and the number of diverged copies in the grid."""
    rows = []
    for label, grid in grids.items():
        b = grid.best()
        loss, acc = grid.final_loss[b], grid.test_acc[b]
        rows.append({"optimizer": label, "grid of η": f"{grid.etas[0]:.3g} … {grid.etas[-1]:.3g}",
                     "tuned η": grid.best_eta, "train loss": loss.mean(), "test accuracy": acc.mean(),
                     "diverged copies in the grid": int(grid.diverged.sum())})
    return pd.DataFrame(rows).set_index("optimizer")


def tuned_runs(model_fn: Callable, seeds: Sequence[int], methods: Mapping[str, tuple[str, Mapping, float]], data,
               **train_kwargs) -> dict:
    """Train every optimizer (label → (rule, hyperparameters, η)) from every seed of ``seeds``, one stacked run
    each; seed ``s`` gives every optimizer the same initial weights and mini-batch order, so the runs are paired
    by seed. Returns label → :class:`lib.train.StackedHistory`."""
    return {label: train_stacked(model_fn, list(seeds), rule, data, hparams={**hp, "eta": float(eta)},
                                 **train_kwargs)
            for label, (rule, hp, eta) in methods.items()}


def final_by_seed(history, field: str) -> dict:
    """``{seed: final value of field}`` of a stacked run (a diverged copy raises: it has no final value)."""
    table = results.labelled(history, field)
    if table["diverged"].any():
        raise ValueError(f"Invalid history: seeds {table.loc[table['diverged'], 'seed'].tolist()} diverged")
    return dict(zip(table["seed"].tolist(), table[field].tolist(), strict=True))


def compare_to(runs: Mapping[str, object], reference: str, fields=("test_acc", "train_loss"),
               confidence: float = 0.95) -> pd.DataFrame:
    """Every optimizer of ``runs`` (label → stacked history, paired by seed) against ``reference``: per field
    the mean over seeds and the paired difference (optimizer − reference) with its t-interval
    (:func:`lib.stats.paired_difference`); indexed by ``optimizer``. Training losses are compared as
    :math:`\\log_{10}` (their ratio), since they span orders of magnitude."""
    rows = []
    for label, history in runs.items():
        row = {"optimizer": label}
        for field in fields:
            ours, theirs = final_by_seed(history, field), final_by_seed(runs[reference], field)
            if "loss" in field:
                ours = {s: math.log10(v) for s, v in ours.items()}
                theirs = {s: math.log10(v) for s, v in theirs.items()}
            row[f"{field}: mean"] = float(np.mean(list(ours.values())))
            if label != reference:
                d = stats.paired_difference(ours, theirs, confidence=confidence)
                row[f"{field}: difference"], row[f"{field}: low"], row[f"{field}: high"] = d.mean, d.low, d.high
                row["seeds"] = d.n
        rows.append(row)
    return pd.DataFrame(rows).set_index("optimizer")


def per_parameter_table(per_param: Mapping[str, Mapping], names: Mapping[str, str]) -> pd.DataFrame:
    """Median and 10th/90th percentiles of the effective learning rates (:func:`optimizer_effective_lr`) of each
    tensor (``names``: parameter name → readable name), indexed by (``optimizer``, ``tensor``)."""
    rows = []
    for label, eff in per_param.items():
        for name, nice in names.items():
            values = eff[name].flatten().numpy()
            rows.append({"optimizer": label, "tensor": nice, "parameters": values.size,
                         "median η/(σ+ε)": float(np.median(values)), "10th percentile": np.percentile(values, 10),
                         "90th percentile": np.percentile(values, 90)})
    return pd.DataFrame(rows).set_index(["optimizer", "tensor"])


def pixel_learning_rates(w1_eff, X) -> pd.DataFrame:
    """For the first layer's effective learning rates ``w1_eff`` (hidden units × pixels) and the training inputs
    ``X``: one row per non-blank pixel (indexed by its ``pixel`` number) with the median over its weights
    (geometric, through the median of the logs) and the skewness of the pixel's values."""
    w1 = np.asarray(w1_eff, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    live = np.flatnonzero(X.std(axis=0) > 0)
    return pd.DataFrame({"pixel": live, "median η/(σ+ε)": 10 ** np.median(np.log10(w1[:, live]), axis=0),
                         "skewness": scipy.stats.skew(X[:, live], axis=0)}).set_index("pixel")


def spike_table(runs: Mapping[str, tuple], surface: Surface, start, steps: int, eta0: float) -> tuple[pd.DataFrame,
                                                                                                       dict]:
    """Each run (label → (rule, η or schedule, hyperparameters)) on ``surface``; indexed by ``run``: the first
    step in units of the nominal η ``eta0``, the :func:`step_spike`, where it happened, and the losses at the quiet
    step, after it and at the end. Returns the table and label → trajectories."""
    rows, trajs = [], {}
    for label, (rule, eta, hp) in runs.items():
        traj = run(rule, surface, start, steps, eta=eta, **hp)
        trajs[label] = traj
        loss, spike = traj.loss[0], step_spike(traj.path[0])
        rows.append({"run": label, "first step / η₀ (per coordinate)":
                         float(np.abs(traj.path[0, 1] - traj.path[0, 0]).max() / eta0),
                     "step spike": spike.ratio, "quiet step": spike.flat, "spike at step": spike.at,
                     "loss at the quiet step": loss[spike.flat], "highest loss after it": loss[spike.flat:].max(),
                     "final loss": loss[-1]})
    return pd.DataFrame(rows).set_index("run"), trajs


def effective_lr_frames(surfaces_: Mapping[str, tuple[Surface, np.ndarray]], steps: int) -> Callable:
    """The frame function of the chapter's curve explorer: ``frame(surface, rule, alpha, eta)`` runs ``rule``
    for ``steps`` steps on ``surfaces_[surface]`` (a surface and its start) and draws each coordinate's
    effective learning rate (:func:`effective_learning_rates`), with η for reference."""

    def frame(surface, rule, alpha, eta):
        s, theta0 = surfaces_[surface]
        hp = {} if rule == "adagrad" else {"alpha": alpha}
        traj = run(rule, s, theta0, steps, eta=eta, **hp)
        eff = effective_learning_rates(traj, s)[0]
        t = np.arange(steps)
        names = [n if n == theta else f"{n} ({theta})" for n, theta in zip(s.axis_labels, ("θ₁", "θ₂"), strict=True)]
        items = [Line(t, eff[:, 0], color=plots.PALETTE[0], width=1.7, label=names[0]),
                 Line(t, eff[:, 1], color=plots.PALETTE[1], width=1.7, label=names[1]),
                 Line([0, steps], [eta, eta], color="#555555", style="--", width=1.0, label="η (gradient descent)")]
        tail = eff[-20:]
        seen = np.isfinite(tail).any(axis=0)  # a coordinate that converged exactly has no gradient to divide by
        last = [f"{np.nanmean(tail[:, j]):.3g}" if seen[j] else "n/a (zero gradient)" for j in range(2)]
        text = (f"mean over the last 20 steps: {names[0]} {last[0]}, {names[1]} {last[1]}; "
                f"loss after {steps} steps {traj.loss[0, -1]:.2e}")
        if rule == "adagrad":
            text += " (α is not used by Adagrad)"
        return Frame(items, text=[text])

    return frame
