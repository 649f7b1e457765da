r"""The experiments of the Adam chapter: Adam + L2 against AdamW, recorded step sizes, bias correction, AMSGrad.

The arena itself (several optimizers in one stacked run, each tuned on held-out data) is core, in
:mod:`lib.arena`, because the chapter "After Adam" uses it too. Here: :data:`ADAM_L2` (the rule
:func:`lib.rules.adam_l2_update`: Adam with an L2 penalty in the gradient, ``torch.optim.Adam(weight_decay=λ)``,
against the decoupled :func:`lib.rules.adamw_update`), :class:`StepRecorder` (the size of every update a rule
makes inside a stacked run), :class:`StateKeeper` (a rule's last state, e.g. Adam's :math:`\hat v`),
:func:`correction_factor` (how much larger Adam's early steps are without bias correction), :func:`one_at_a_time`,
:func:`sweep` and :func:`knob_effects` (the default setting and each one-knob change from it, over many seeds, as
one stacked run, compared with the default seed by seed),
:func:`noisy_labels` (a problem on which weight decay matters) and :func:`online_counterexample`, the online
problem on which Adam fails to converge and AMSGrad does not.

References:
    D. P. Kingma and J. Ba, "Adam: A method for stochastic optimization", ICLR 2015.
    S. J. Reddi, S. Kale and S. Kumar, "On the convergence of Adam and beyond", ICLR 2018.
    I. Loshchilov and F. Hutter, "Decoupled weight decay regularization", ICLR 2019.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from lib import arena as _arena
from lib import rules as _rules
from lib import schedules
from lib.iterate import iterate, resolve_rule
from lib.train import StackedHistory, train_stacked

__all__ = [
    "ADAM_L2",
    "Counterexample",
    "KNOB_NAMES",
    "StateKeeper",
    "StepRecorder",
    "adam_l2_update",
    "correction_factor",
    "knob_effects",
    "noisy_labels",
    "one_at_a_time",
    "online_counterexample",
    "surface_explorer",
    "sweep",
]


# ------------------------------------------------------------------------------------------- the Adam + L2 rule


adam_l2_update = _rules.adam_l2_update
ADAM_L2 = _rules.RULES["adam_l2"]


# ------------------------------------------------------------------------------------------ recording steps


class StepRecorder:
    r"""Wraps a rule so that it records the size of every update it makes, per stacked copy.

    ``recorder = StepRecorder("adam")`` is passed to :func:`lib.train.train_stacked` as ``recorder.rule`` with
    the hyperparameters of the wrapped rule; after the run ``recorder.rms`` is an array ``(updates, C)`` of the
    root-mean-square step of each copy,

    .. math:: s_c^t = \sqrt{\tfrac1P \textstyle\sum_i (\theta_{c,i}^{t+1} - \theta_{c,i}^t)^2},

    ``recorder.max`` the largest :math:`|\theta_{c,i}^{t+1} - \theta_{c,i}^t|` and ``recorder.state`` the rule's
    state after the last update (e.g. Adam's :math:`m, v` of every copy). The steps are those the
    rule returns; a copy that :func:`~lib.train.train_stacked` has frozen after a divergence keeps being
    recorded (its steps are then not applied).
    """

    def __init__(self, rule: str | _rules.Rule):
        base = resolve_rule(rule)
        self._rms: list = []
        self._max: list = []
        self.state = None

        def update(g, state, theta, **hparams):
            step, state = base.update(g, state, theta, **hparams)
            a = abs(step.detach()) if _rules._is_tensor(step) else np.abs(step)
            flat = a.reshape(len(a), -1)
            self._rms.append(_numpy((flat * flat).mean(1) ** 0.5))
            self._max.append(_numpy(flat.amax(1) if _rules._is_tensor(flat) else flat.max(1)))
            self.state = state
            return step, state

        self.rule = base._replace(update=update)

    @property
    def rms(self) -> np.ndarray:
        """``(updates, C)`` root-mean-square step of each copy at each update."""
        return np.array(self._rms)

    @property
    def max(self) -> np.ndarray:
        """``(updates, C)`` largest step of one coordinate of each copy at each update."""
        return np.array(self._max)


class StateKeeper:
    r"""Wraps a rule so that it keeps its last state (e.g. Adam's :math:`m, v` of every copy) and nothing else.

    Unlike :class:`StepRecorder` it does not need the step, so the wrapped rule keeps its in-place update
    (``inplace=True``, as :func:`lib.train.train_stacked` and :func:`lib.arena.combine` ask for) and costs nothing:
    ``keeper = StateKeeper(lib.lessons.adam.ADAM_L2)`` can be one contender of an arena, and after the run
    ``keeper.state`` is the state of that contender's copies, in the order of its block.
    """

    def __init__(self, rule: str | _rules.Rule):
        base = resolve_rule(rule)
        self.state = None

        def update(g, state, theta, *, eta, inplace=False, **hparams):
            step, state = base.update(g, state, theta, eta=eta, inplace=inplace, **hparams)
            self.state = state
            return step, state

        self.rule = base._replace(update=update)


def _numpy(x) -> np.ndarray:
    if _rules._is_tensor(x):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def correction_factor(beta1, beta2, t) -> np.ndarray:
    r"""How much larger Adam's step is without bias correction, for gradients of constant size:

    .. math:: \frac{m^t / \sqrt{v^t}}{\hat m^t / \sqrt{\hat v^t}} = \frac{1-\beta_1^t}{\sqrt{1-\beta_2^t}}
        \qquad (\epsilon \to 0).

    It is :math:`(1-\beta_1)/\sqrt{1-\beta_2}` at :math:`t = 1` (3.16 for the defaults 0.9, 0.999), peaks
    near :math:`t \approx 1/(1-\beta_1)` and tends to 1 on the time scale :math:`1/(1-\beta_2)`.

    References:
        D. P. Kingma and J. Ba, "Adam: A method for stochastic optimization", ICLR 2015, section 3.
    """
    beta1, beta2, t = (np.asarray(x, dtype=np.float64) for x in (beta1, beta2, t))
    if np.any((beta1 < 0) | (beta1 >= 1)) or np.any((beta2 < 0) | (beta2 >= 1)):
        raise ValueError(f"Invalid betas: {beta1}, {beta2} (must be in [0, 1))")
    if np.any(t < 1):
        raise ValueError(f"Invalid t: {t} (steps are counted from 1)")
    return (1 - beta1**t) / np.sqrt(1 - beta2**t)


# ------------------------------------------------------------------------------------- one knob at a time


def one_at_a_time(default: Mapping[str, float], values: Mapping[str, Sequence[float]]) -> list[dict]:
    """The setting ``default`` first, then for each hyperparameter of ``values`` (in its order) every setting that
    moves that one hyperparameter to another of its values and keeps all the others at ``default``.

    >>> one_at_a_time({"eta": 0.01, "beta1": 0.9}, {"beta1": [0.0, 0.9, 0.99]})
    [{'eta': 0.01, 'beta1': 0.9}, {'eta': 0.01, 'beta1': 0.0}, {'eta': 0.01, 'beta1': 0.99}]
    """
    default = dict(default)
    unknown = sorted(set(values) - set(default))
    if unknown:
        raise ValueError(f"Invalid values: {unknown} have no default value")
    settings = [default]
    for name, options in values.items():
        if np.ndim(options) != 1:
            raise ValueError(f"Invalid values[{name!r}]: {options!r} (must be a 1-D sequence)")
        settings += [{**default, name: v} for v in options if v != default[name]]
    return settings


def sweep(model_fn: Callable, data, rule: str | _rules.Rule, settings: Sequence[Mapping], seeds: Sequence[int], *,
          last: int = 1, **train_kwargs) -> tuple[pd.DataFrame, StackedHistory]:
    r"""Train every setting of ``settings`` from every seed of ``seeds`` as one stacked run.

    A setting is a dict of per-copy hyperparameters of ``rule`` (all settings name the same ones), e.g. the list
    :func:`one_at_a_time` makes; unlike :func:`lib.arena.grid_run` the settings need not form a full factorial.
    ``train_kwargs`` go to :func:`lib.train.train_stacked` (``epochs``, ``batch_size``, ``max_loss``,
    ``threads``, …). Seed :math:`s` gives every setting the same initial weights and the same order of
    mini-batches, so the runs are paired by seed (:func:`lib.arena.compare` with ``by="setting"``).

    Returns a ``DataFrame`` with one row per copy, settings in their order and seeds fastest: ``setting`` (the
    index into ``settings``), the hyperparameters, ``seed``, ``train_loss``, ``train_acc``, ``test_loss``,
    ``test_acc`` (the median over the ``last`` evaluations, as in :func:`lib.arena.grid_run`; ``NaN`` for a
    diverged copy) and ``diverged``; and the :class:`lib.train.StackedHistory`.
    """
    if isinstance(last, bool) or not isinstance(last, numbers.Integral) or last < 1:
        raise ValueError(f"Invalid last: {last!r} (must be an integer >= 1)")
    settings = [dict(s) for s in settings]
    if not settings:
        raise ValueError("Invalid settings: need at least one")
    names = list(settings[0])
    for s in settings:
        if set(s) != set(names):
            raise ValueError(f"Invalid settings: {sorted(s)} and {sorted(names)} name different hyperparameters")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("Invalid seeds: need at least one")
    for key in ("hparams", "seeds", "rule"):
        if key in train_kwargs:
            raise ValueError(f"Invalid argument {key!r}: sweep sets it")
    copies = [(k, s) for k in range(len(settings)) for s in seeds]
    hparams = {name: [settings[k][name] for k, _ in copies] for name in names}
    history = train_stacked(model_fn, [s for _, s in copies], rule, data, hparams=hparams, **train_kwargs)
    if last > len(history.eval_step):
        raise ValueError(f"Invalid last: {last} (the run made {len(history.eval_step)} evaluations)")
    rows = []
    for c, (k, s) in enumerate(copies):
        diverged = bool(history.diverged[c])
        row = {"setting": k, **settings[k], "seed": s}
        for name in ("train_loss", "train_acc", "test_loss", "test_acc"):
            row[name] = math.nan if diverged else float(np.median(getattr(history, name)[c, -last:]))
        rows.append({**row, "diverged": diverged})
    return pd.DataFrame(rows), history


KNOB_NAMES = {"eta": "η", "beta1": "β₁", "beta2": "β₂", "eps": "ε"}


def knob_effects(runs: pd.DataFrame, settings: Sequence[Mapping], reference: int = 0,
                 confidence: float = 0.95) -> pd.DataFrame:
    r"""Each setting of a :func:`sweep` against the setting ``reference`` (the default), paired by seed.

    For the final training loss the comparison is a factor: the mean over seeds of
    :math:`\log_{10}(L_s / L_{\text{ref},s})` with Student's t-interval (:func:`lib.stats.paired_difference`),
    shown as :math:`10^{\bar d}` with the interval's ends as factors too; for the test accuracy it is the difference
    with its t-interval. A diverged copy (``NaN``) leaves its seed out of that pair (:func:`lib.arena.compare`).

    Returns one row per setting, indexed by ``setting``: ``label`` (the moved hyperparameters, e.g. ``"β₁ = 0.99"``,
    ``"default"`` for the reference), ``moved`` (their names joined by ``"+"``, ``""`` for the reference),
    ``loss_factor``, ``loss_low``, ``loss_high``, ``loss_detected``, ``loss_near`` and ``loss_far`` (the ends of
    the interval nearest to and farthest from no change, as factors :math:`\ge 1` in either direction;
    ``loss_near`` is 1 when the interval contains no change), ``acc`` (mean test accuracy), ``acc_diff``,
    ``acc_low``, ``acc_high``, ``acc_detected`` and ``n`` (the seeds paired). The reference's row has factor 1,
    difference 0 and no interval.
    """
    settings = [dict(s) for s in settings]
    if not 0 <= reference < len(settings):
        raise ValueError(f"Invalid reference: {reference} (expected a setting index below {len(settings)})")
    if set(runs["setting"]) != set(range(len(settings))):
        raise ValueError("Invalid runs: their settings are not those given (expected the table of sweep)")
    base = settings[reference]
    runs = runs.assign(log_loss=np.log10(runs["train_loss"]))
    loss = _arena.compare(runs, reference, "log_loss", by="setting", confidence=confidence)
    acc = _arena.compare(runs, reference, "test_acc", by="setting", confidence=confidence)
    rows = []
    for k, setting in enumerate(settings):
        moved = [name for name in setting if setting[name] != base[name]]
        low, high = loss.loc[k, "low"], loss.loc[k, "high"]
        detected = bool(loss.loc[k, "detected"])
        rows.append({
            "setting": k,
            "label": ", ".join(f"{KNOB_NAMES.get(n, n)} = {setting[n]:g}" for n in moved) or "default",
            "moved": "+".join(moved),
            "loss_factor": 10 ** loss.loc[k, "diff"], "loss_low": 10**low, "loss_high": 10**high,
            "loss_detected": detected,
            "loss_near": 10 ** min(abs(low), abs(high)) if detected else 1.0,
            "loss_far": 10 ** max(abs(low), abs(high)) if k != reference else 1.0,
            "acc": acc.loc[k, "mean"], "acc_diff": acc.loc[k, "diff"], "acc_low": acc.loc[k, "low"],
            "acc_high": acc.loc[k, "high"], "acc_detected": bool(acc.loc[k, "detected"]), "n": int(acc.loc[k, "n"]),
        })
    return pd.DataFrame(rows).set_index("setting")


# --------------------------------------------------------------------------------------------------- data


def noisy_labels(data, fraction: float, seed: int = 0, n: int | None = None):
    r"""The first ``n`` training examples of a :class:`lib.data.Dataset` (all when ``None``) with a
    ``fraction`` of their labels replaced by labels drawn uniformly from the classes (a drawn label may equal
    the true one); the test part is kept clean.

    Memorizing the wrong labels hurts the test accuracy, so this is a problem on which regularization
    (weight decay) visibly matters.

    References:
        C. Zhang, S. Bengio, M. Hardt, B. Recht and O. Vinyals, "Understanding deep learning requires
        rethinking generalization", ICLR 2017 (random labels).
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"Invalid fraction: {fraction} (must be in [0, 1])")
    X, y = data.X_train, data.y_train
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 1 <= n <= len(y):
            raise ValueError(f"Invalid n: {n!r} (must be an integer in [1, {len(y)}])")
        X, y = X[:n], y[:n]
    if y.is_floating_point():
        raise ValueError("Invalid data: noisy_labels needs integer class labels")
    rng = np.random.default_rng(seed)
    flip = rng.random(len(y)) < fraction
    y = y.clone()
    y[torch.as_tensor(flip)] = torch.as_tensor(rng.integers(0, data.n_classes, int(flip.sum())), dtype=y.dtype)
    return data._replace(X_train=X, y_train=y)


# ---------------------------------------------------------------------------- the AMSGrad counterexample


class Counterexample(NamedTuple):
    """The result of :func:`online_counterexample`, one row per run (``eta`` and ``beta2`` may be grids)."""

    x: np.ndarray  # (runs, T + 1) iterates x^0, ..., x^T
    regret: np.ndarray  # (runs, T) average regret R_t / t after t rounds
    x_star: float  # the best fixed point in hindsight, -1


def online_counterexample(
    steps: int,
    *,
    C: float = 3.0,
    period: int = 3,
    amsgrad: bool = False,
    eta: float | Sequence[float] = 0.5,
    beta1: float = 0.0,
    beta2: float | Sequence[float] | None = None,
    eps: float = 1e-8,
    x0: float = 1.0,
) -> Counterexample:
    r"""Adam (or AMSGrad) on the online problem of Reddi, Kale & Kumar (2018), projected onto :math:`[-1, 1]`.

    .. math::
        f_t(x) = \begin{cases} C x & t \bmod \text{period} = 1 \\ -x & \text{otherwise,} \end{cases}
        \qquad x \in [-1, 1], \quad C > \text{period} - 1,

    so over a period the sum :math:`(C - \text{period} + 1)\,x` is smallest at :math:`x^\star = -1`. At round
    :math:`t = 1, 2, \dots` the learner plays :math:`x^t`, receives :math:`g^t = f_t'(x^t)`, takes the step of
    :func:`lib.rules.adam_update` with :math:`\eta_t = \eta/\sqrt t` (:func:`lib.schedules.inverse_sqrt`) and
    projects the result onto :math:`[-1, 1]` (:func:`lib.iterate.iterate` with ``project``).
    The average regret is :math:`R_T/T = \frac1T\sum_{t \le T} \bigl(f_t(x^t) - f_t(x^\star)\bigr)`.
    With :math:`\beta_1 = 0` and :math:`\beta_2 = 1/(1+C^2)` (the default when ``beta2``
    is ``None``) Adam's large gradient :math:`C` is divided by a large :math:`\sqrt{\hat v}` and the small
    :math:`-1` by a small one: the net drift is towards :math:`x = +1`, the worst point, and
    :math:`R_T/T \not\to 0`. AMSGrad's :math:`\hat v_{\max}` remembers :math:`C^2` and it converges to
    :math:`-1`.

    ``eta`` and ``beta2`` may each be one value or one value per run; they broadcast against each other, and
    all runs play the game at once (one stacked iteration, about the cost of one run). Row :math:`k` of the
    result is what a call with the :math:`k`-th values alone gives.

    References:
        S. J. Reddi, S. Kale and S. Kumar, "On the convergence of Adam and beyond", ICLR 2018, Theorem 1 and
        section 5 (synthetic experiments).
    """
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise ValueError(f"Invalid steps: {steps} (must be an integer >= 1)")
    if isinstance(period, bool) or not isinstance(period, numbers.Integral) or period < 2:
        raise ValueError(f"Invalid period: {period} (must be an integer >= 2)")
    if not C > period - 1:
        raise ValueError(f"Invalid C: {C} (must be > period - 1 = {period - 1}, so that x* = -1)")
    if not -1.0 <= x0 <= 1.0:
        raise ValueError(f"Invalid x0: {x0} (must be in [-1, 1])")
    beta2 = 1.0 / (1.0 + C * C) if beta2 is None else beta2
    etas = np.atleast_1d(np.asarray(eta, dtype=np.float64))
    if etas.ndim != 1 or np.any(~(etas > 0)):
        raise ValueError(f"Invalid eta: {eta} (must be positive)")
    beta2s = np.atleast_1d(np.asarray(beta2, dtype=np.float64))
    if beta2s.ndim != 1 or np.any(~((beta2s >= 0) & (beta2s < 1))):
        raise ValueError(f"Invalid beta2: {beta2} (must be in [0, 1))")
    if len(etas) != len(beta2s) and 1 not in (len(etas), len(beta2s)):
        raise ValueError(f"Invalid grids: {len(etas)} values of eta, {len(beta2s)} of beta2 (must be 1 or equal)")
    etas, beta2s = np.broadcast_arrays(etas, beta2s)
    # one beta2 for all runs is passed as a number, as before: the same arithmetic as a single run
    beta2_arg = float(beta2s[0]) if np.all(beta2s == beta2s[0]) else beta2s.copy()
    slopes = np.where(np.arange(1, steps + 1) % period == 1, float(C), -1.0)  # f_t'(x) at rounds t = 1 .. T
    # eta_t = eta / sqrt(t) at round t = 1, 2, ...: lib.schedules.inverse_sqrt counts from 0
    eta_t = np.stack([schedules.inverse_sqrt(float(e))(np.arange(steps)) for e in etas], axis=1)  # (T, runs)
    it = iterate(lambda x, t: np.full_like(x, slopes[t]), np.full(len(etas), float(x0)), steps, rule="adam",
                 eta=eta_t, copies_axis=0, project=lambda x: np.clip(x, -1.0, 1.0), beta1=beta1, beta2=beta2_arg,
                 eps=eps, amsgrad=amsgrad)
    xs = it.path.T  # (runs, T + 1)
    loss = slopes * xs[:, :-1]
    best = -slopes
    rounds = np.arange(1, steps + 1)
    regret = np.cumsum(loss - best, axis=1) / rounds
    return Counterexample(xs, regret, -1.0)


# ------------------------------------------------------------------------------------------------ the explorer


def surface_explorer(name: str = "adam-surfaces"):
    """Adam, gradient descent, heavy ball and RMSProp from the start points of three surfaces, with η, β (β₁ for
    Adam) and Adam's β₂ as controls. It opens at η = 0.1: at 0.01 Adam, whose steps are about η long, covered a
    fifth of the quadratic in its 100 steps and the first frame showed nothing."""
    from lib import viz

    return viz.optimizer_explorer(
        name,
        surfaces=("quadratic", "rosenbrock", "himmelblau"),
        rules=("adam", "gd", "momentum", "rmsprop"),
        etas=viz.Control((0.001, 0.003, 0.01, 0.03, 0.1), label="learning rate η", format=".3g", default=0.1),
        hparams={"beta": viz.Control((0.0, 0.5, 0.9), label="momentum β (β₁ for Adam)", format=".3g", default=0.9),
                 "beta2": viz.Control((0.9, 0.99, 0.999), label="β₂ (Adam)", format=".3g", default=0.999)},
        steps=100,
    )
