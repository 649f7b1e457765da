r"""The experiments of the Adam chapter: Adam + L2 against AdamW, recorded step sizes, bias correction, AMSGrad.

The arena itself (several optimizers in one stacked run, each tuned on held-out data) is core, in
:mod:`lib.arena`, because the chapter "After Adam" uses it too. Here: :data:`ADAM_L2` (the rule
:func:`lib.rules.adam_l2_update`: Adam with an L2 penalty in the gradient, ``torch.optim.Adam(weight_decay=λ)``,
against the decoupled :func:`lib.rules.adamw_update`), :class:`StepRecorder` (the size of every update a rule
makes inside a stacked run), :class:`StateKeeper` (a rule's last state, e.g. Adam's :math:`\hat v`),
:func:`correction_factor` (how much larger Adam's early steps are without bias correction), :func:`noisy_labels`
(a problem on which weight decay matters) and :func:`online_counterexample`, the online problem on which Adam
fails to converge and AMSGrad does not.

References:
    D. P. Kingma and J. Ba, "Adam: A method for stochastic optimization", ICLR 2015.
    S. J. Reddi, S. Kale and S. Kumar, "On the convergence of Adam and beyond", ICLR 2018.
    I. Loshchilov and F. Hutter, "Decoupled weight decay regularization", ICLR 2019.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from lib import rules as _rules
from lib import schedules
from lib.iterate import iterate, resolve_rule

__all__ = [
    "ADAM_L2",
    "Counterexample",
    "StateKeeper",
    "StepRecorder",
    "adam_l2_update",
    "correction_factor",
    "noisy_labels",
    "online_counterexample",
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
