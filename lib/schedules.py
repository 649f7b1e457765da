r"""Learning-rate schedules (学习率衰减 learning-rate decay): callables :math:`s(t) \to \eta_t`.

A schedule is a small frozen dataclass: call it with the step (or epoch) count :math:`t = 0, 1, 2, \dots`
to get the learning rate, ``s(0) == s.lr0``. It is vectorized, ``s(np.arange(T))`` gives the whole curve as
an array (a scalar ``t`` gives a Python ``float``), its ``repr`` is the call that builds it, and two schedules
with the same arguments compare equal. :func:`to_torch` drives a ``torch.optim`` optimizer with any of them.

=================================  ====================================================================
``constant(lr0)``                  :math:`\eta_t = \eta_0`
``inverse_time(lr0, decay_rate)``  :math:`\eta_t = \eta_0 / (1 + \text{decay\_rate}\cdot t)`
``exponential(lr0, gamma)``        :math:`\eta_t = \eta_0\,\gamma^t`
``inverse_sqrt(lr0)``              :math:`\eta_t = \eta_0 / \sqrt{t + 1}`
``step(lr0, gamma, step_size)``    :math:`\eta_t = \eta_0\,\gamma^{\lfloor t / \text{step\_size} \rfloor}`
``cosine(lr0, total, lr_min)``     half a cosine from :math:`\eta_0` to ``lr_min`` at ``total``, then flat
``warmup(schedule, steps)``        linear ramp over ``steps`` steps, then ``schedule`` delayed by ``steps``
``one_cycle(lr_max, total, ...)``  torch's ``OneCycleLR``: up to ``lr_max``, then down to almost zero
=================================  ====================================================================

References:
    A. Ng, Improving Deep Neural Networks, deeplearning.ai course 2, week 2, "Learning rate decay".
    I. Loshchilov and F. Hutter (2017), SGDR: stochastic gradient descent with warm restarts, ICLR.
    P. Goyal et al. (2017), Accurate, large minibatch SGD: training ImageNet in 1 hour, arXiv:1706.02677.
    L. N. Smith and N. Topin (2019), Super-convergence: very fast training of neural networks using large
    learning rates, SPIE 11006.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch

from lib.checks import check_int

__all__ = ["Schedule", "constant", "inverse_time", "exponential", "inverse_sqrt", "step", "cosine", "warmup",
           "one_cycle", "to_torch", "Constant", "InverseTime", "Exponential", "InverseSqrt", "Step", "Cosine",
           "Warmup", "OneCycle", "ManualDecay", "manual_decay", "torch_learning_rates"]


def _check_positive(name, value):
    if not (isinstance(value, numbers.Real) and math.isfinite(value) and value > 0):
        raise ValueError(f"Invalid {name}: {value} (must be > 0)")


def _check_count(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"Invalid {name}: {value} (must be an integer >= 1)")


def _check_gamma(gamma):
    if not (isinstance(gamma, numbers.Real) and 0 < gamma <= 1):
        raise ValueError(f"Invalid gamma: {gamma} (must be in (0, 1])")


class Schedule:
    """``s(t)`` for ``t >= 0`` a number or an array; subclasses define ``_lr(t)`` on float arrays."""

    _factory = ""

    def __call__(self, t):
        t_arr = np.asarray(t, dtype=np.float64)
        if not np.all(t_arr >= 0):
            raise ValueError(f"Invalid step t: {t} (must be >= 0)")
        lr = self._lr(t_arr)
        return float(lr) if np.ndim(lr) == 0 else lr

    def _lr(self, t):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self))
        return f"{self._factory}({args})"


@dataclass(frozen=True, repr=False)
class Constant(Schedule):
    r""":math:`\eta_t = \eta_0`."""

    lr0: float
    _factory = "constant"

    def __post_init__(self):
        _check_positive("lr0", self.lr0)

    def _lr(self, t):
        return np.full(t.shape, float(self.lr0))


@dataclass(frozen=True, repr=False)
class InverseTime(Schedule):
    r""":math:`\eta_t = \eta_0 / (1 + \text{decay\_rate}\cdot t)`."""

    lr0: float
    decay_rate: float
    _factory = "inverse_time"

    def __post_init__(self):
        _check_positive("lr0", self.lr0)
        if not (isinstance(self.decay_rate, numbers.Real) and 0 <= self.decay_rate < math.inf):
            raise ValueError(f"Invalid decay_rate: {self.decay_rate} (must be >= 0)")

    def _lr(self, t):
        return self.lr0 / (1.0 + self.decay_rate * t)


@dataclass(frozen=True, repr=False)
class Exponential(Schedule):
    r""":math:`\eta_t = \eta_0\,\gamma^t`."""

    lr0: float
    gamma: float
    _factory = "exponential"

    def __post_init__(self):
        _check_positive("lr0", self.lr0)
        _check_gamma(self.gamma)

    def _lr(self, t):
        return self.lr0 * self.gamma ** t


@dataclass(frozen=True, repr=False)
class InverseSqrt(Schedule):
    r""":math:`\eta_t = \eta_0 / \sqrt{t + 1}`."""

    lr0: float
    _factory = "inverse_sqrt"

    def __post_init__(self):
        _check_positive("lr0", self.lr0)

    def _lr(self, t):
        return self.lr0 / np.sqrt(t + 1.0)


@dataclass(frozen=True, repr=False)
class Step(Schedule):
    r""":math:`\eta_t = \eta_0\,\gamma^{\lfloor t / \text{step\_size} \rfloor}`."""

    lr0: float
    gamma: float
    step_size: int
    _factory = "step"

    def __post_init__(self):
        _check_positive("lr0", self.lr0)
        _check_gamma(self.gamma)
        _check_count("step_size", self.step_size)

    def _lr(self, t):
        return self.lr0 * self.gamma ** np.floor(t / self.step_size)


@dataclass(frozen=True, repr=False)
class Cosine(Schedule):
    r""":math:`\eta_t = \eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})(1 + \cos(\pi t / T))` up to
    :math:`t = T`, :math:`\eta_{\min}` after."""

    lr0: float
    total: int
    lr_min: float = 0.0
    _factory = "cosine"

    def __post_init__(self):
        _check_positive("lr0", self.lr0)
        _check_count("total", self.total)
        if not (isinstance(self.lr_min, numbers.Real) and 0 <= self.lr_min <= self.lr0):
            raise ValueError(f"Invalid lr_min: {self.lr_min} (must be in [0, lr0])")

    def _lr(self, t):
        t = np.minimum(t, self.total)
        return self.lr_min + (self.lr0 - self.lr_min) * (1.0 + np.cos(t * math.pi / self.total)) / 2.0


@dataclass(frozen=True, repr=False)
class Warmup(Schedule):
    r""":math:`\eta_t = s(0)\,(t + 1)/n` for :math:`t < n`, then :math:`s(t - n)`."""

    schedule: Callable
    steps: int
    _factory = "warmup"

    def __post_init__(self):
        if not callable(self.schedule):
            raise ValueError(f"Invalid schedule: {self.schedule!r} (must be callable)")
        _check_count("steps", self.steps)

    @property
    def lr0(self) -> float:
        """:math:`s(0)/n`, the first learning rate of the ramp."""
        return self(0)

    def _lr(self, t):
        ramp = self.schedule(0) * ((t + 1.0) / self.steps)
        return np.where(t < self.steps, ramp, self.schedule(np.maximum(t - self.steps, 0.0)))


@dataclass(frozen=True, repr=False)
class OneCycle(Schedule):
    r"""torch's ``OneCycleLR`` learning rates; see :func:`one_cycle`."""

    lr_max: float
    total: int
    pct_start: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    anneal: str = "cos"
    three_phase: bool = False
    _factory = "one_cycle"

    def __post_init__(self):
        _check_positive("lr_max", self.lr_max)
        if isinstance(self.total, bool) or not isinstance(self.total, numbers.Integral) or self.total <= 0:
            raise ValueError(f"Expected positive integer total, but got {self.total}")
        if not (isinstance(self.pct_start, numbers.Real) and 0 <= self.pct_start <= 1):
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {self.pct_start}")
        if self.pct_start * self.total == 1:
            # torch would divide by the zero length of the warm-up phase
            raise ValueError(f"Invalid pct_start: {self.pct_start} (pct_start * total == 1 leaves the "
                             "warm-up phase no length)")
        _check_positive("div_factor", self.div_factor)
        _check_positive("final_div_factor", self.final_div_factor)
        if self.anneal not in ("cos", "linear"):
            raise ValueError(f"anneal must be one of 'cos' or 'linear', instead got {self.anneal}")

    @property
    def lr0(self) -> float:
        """The first learning rate, ``lr_max / div_factor`` unless the warm-up is shorter than one step."""
        return self(0)

    def _phases(self):
        """(end_step, start_lr, end_lr) of each phase, as torch computes them."""
        initial = self.lr_max / self.div_factor
        final = initial / self.final_div_factor
        up = float(self.pct_start * self.total) - 1
        if self.three_phase:
            down = float(2 * self.pct_start * self.total) - 2
            return (up, initial, self.lr_max), (down, self.lr_max, initial), (self.total - 1, initial, final)
        return (up, initial, self.lr_max), (self.total - 1, self.lr_max, final)

    def _lr(self, t):
        t = np.minimum(t, self.total - 1)
        phases = self._phases()
        lr = np.empty(t.shape)
        # torch takes the first phase whose end_step >= t (else the last): fill from the last phase backwards
        starts = (0.0, *(end for end, _, _ in phases[:-1]))
        for i in reversed(range(len(phases))):
            end, lr_start, lr_end = phases[i]
            in_phase = t <= end if i < len(phases) - 1 else np.ones(t.shape, dtype=bool)
            # with pct_start == 1 the last phase has zero length, and t (<= total - 1) never falls in it
            with np.errstate(divide="ignore", invalid="ignore"):
                pct = (t - starts[i]) / (end - starts[i])
                if self.anneal == "cos":
                    value = lr_end + (lr_start - lr_end) / 2.0 * (np.cos(math.pi * pct) + 1)
                else:
                    value = (lr_end - lr_start) * pct + lr_start
            lr = np.where(in_phase, value, lr)
        return lr


def constant(lr0: float) -> Constant:
    r"""The same learning rate at every step, :math:`\eta_t = \eta_0`.

    References:
        H. Robbins and S. Monro (1951), A stochastic approximation method, Ann. Math. Statist. 22(3).
    """
    return Constant(lr0)


def inverse_time(lr0: float, decay_rate: float) -> InverseTime:
    r"""Inverse-time decay :math:`\eta_t = \dfrac{\eta_0}{1 + \text{decay\_rate}\cdot t}`, decay_rate >= 0.

    References:
        A. Ng, deeplearning.ai course 2, week 2, "Learning rate decay": :math:`\alpha = \frac{1}{1 +
        \text{decay\_rate}\cdot\text{epoch\_num}}\,\alpha_0`.
    """
    return InverseTime(lr0, decay_rate)


def exponential(lr0: float, gamma: float) -> Exponential:
    r"""Exponential decay :math:`\eta_t = \eta_0\,\gamma^t`, :math:`0 < \gamma \le 1` (the course's
    :math:`0.95^t`); torch's ``ExponentialLR``.

    References:
        A. Ng, deeplearning.ai course 2, week 2, "Learning rate decay".
    """
    return Exponential(lr0, gamma)


def inverse_sqrt(lr0: float) -> InverseSqrt:
    r"""Inverse square-root decay :math:`\eta_t = \eta_0 / \sqrt{t + 1}`.

    References:
        A. Ng, deeplearning.ai course 2, week 2, "Learning rate decay" (:math:`k/\sqrt{t}\,\alpha_0`);
        J. Duchi, E. Hazan and Y. Singer (2011), Adaptive subgradient methods, JMLR 12.
    """
    return InverseSqrt(lr0)


def step(lr0: float, gamma: float, step_size: int) -> Step:
    r"""Staircase decay :math:`\eta_t = \eta_0\,\gamma^{\lfloor t / \text{step\_size} \rfloor}`: multiply by
    :math:`\gamma` every ``step_size`` steps; torch's ``StepLR``.

    References:
        A. Ng, deeplearning.ai course 2, week 2, "Learning rate decay" (discrete staircase).
    """
    return Step(lr0, gamma, step_size)


def cosine(lr0: float, total: int, lr_min: float = 0.0) -> Cosine:
    r"""Cosine annealing from :math:`\eta_0` to :math:`\eta_{\min}` over :math:`T` = ``total`` steps:

    .. math:: \eta_t = \eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})\bigl(1 + \cos(\pi\,\min(t, T)/T)\bigr).

    Equal to torch's ``CosineAnnealingLR(T_max=total, eta_min=lr_min)`` for :math:`t \le T`. After
    :math:`T` it stays at :math:`\eta_{\min}` (torch's formula would rise again, a restart nobody asked for).

    References:
        I. Loshchilov and F. Hutter (2017), SGDR: stochastic gradient descent with warm restarts, ICLR.
    """
    return Cosine(lr0, total, lr_min)


def warmup(schedule: Callable, steps: int) -> Warmup:
    r"""Linear warm-up over ``steps`` = :math:`n` steps into ``schedule`` = :math:`s`, then run delayed:

    .. math:: \eta_t = \begin{cases} s(0)\,\dfrac{t + 1}{n} & t < n \\ s(t - n) & t \ge n \end{cases}

    so :math:`\eta_0 = s(0)/n`, the ramp reaches :math:`s(0)` at :math:`t = n - 1` and the schedule starts
    from its own beginning at :math:`t = n` (``warmup(cosine(lr0, T), n)`` lasts :math:`n + T` steps). This is
    torch's ``SequentialLR([LinearLR(start_factor=1/n, total_iters=n - 1), ...], milestones=[n])``.
    ``.lr0`` is :math:`s(0)/n`. ``schedule`` must accept arrays for the warm-up to accept them.

    References:
        P. Goyal et al. (2017), Accurate, large minibatch SGD: training ImageNet in 1 hour, arXiv:1706.02677.
    """
    return Warmup(schedule, steps)


def one_cycle(lr_max: float, total: int, pct_start: float = 0.3, div_factor: float = 25.0,
              final_div_factor: float = 1e4, anneal: str = "cos", three_phase: bool = False) -> OneCycle:
    r"""The 1cycle policy: the learning rates of torch's ``OneCycleLR(max_lr=lr_max, total_steps=total)``.

    From :math:`\eta_{\max}/\text{div\_factor}` up to :math:`\eta_{\max}` during the first ``pct_start`` of
    the ``total`` steps, then down to
    :math:`\eta_{\max}/(\text{div\_factor}\cdot\text{final\_div\_factor})` at step ``total - 1``
    (``three_phase``: back to the start value first, then down). Each phase goes from :math:`a` to :math:`b`
    by ``anneal`` ``"cos"``, :math:`b + \tfrac12(a - b)(1 + \cos\pi p)`, or ``"linear"``,
    :math:`a + (b - a)p`, where :math:`p` is the fraction of the phase done. After step ``total - 1`` the
    rate stays at its value there (torch raises past ``total``).

    References:
        L. N. Smith and N. Topin (2019), Super-convergence: very fast training of neural networks using large
        learning rates, SPIE 11006.
    """
    return OneCycle(lr_max, total, pct_start, div_factor, final_div_factor, anneal, three_phase)


def to_torch(schedule: Callable | Sequence[Callable],
             optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LambdaLR:
    r"""A torch ``LambdaLR`` that sets the learning rate of ``optimizer`` to exactly ``schedule(t)`` at epoch
    :math:`t` (one schedule for all parameter groups, or a sequence with one per group).

    ``LambdaLR`` sets ``lr = initial_lr * lambda(t)``; this sets every group's ``initial_lr`` to ``1.0`` so
    the product is ``schedule(t)`` itself, bit for bit, whatever ``lr`` the optimizer was built with.

    References:
        PyTorch documentation, ``torch.optim.lr_scheduler.LambdaLR``.
    """
    schedules = list(schedule) if isinstance(schedule, Sequence) else [schedule] * len(optimizer.param_groups)
    if len(schedules) != len(optimizer.param_groups):
        raise ValueError(f"Expected {len(optimizer.param_groups)} schedules, but got {len(schedules)}")
    for s in schedules:
        if not callable(s):
            raise ValueError(f"Invalid schedule: {s!r} (must be callable)")
    for group in optimizer.param_groups:
        group["initial_lr"] = 1.0
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedules)


# --------------------------------------------------------------------------------------------------------------
# the course's manual decay
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class ManualDecay(Schedule):
    r""":math:`\eta_t = \eta_0\,\gamma^{\#\{m \in \text{milestones}:\ m \le t\}}`; see :func:`manual_decay`."""

    lr0: float
    milestones: tuple
    gamma: float = 0.1
    _factory = "manual_decay"

    def __post_init__(self):
        if not (isinstance(self.lr0, numbers.Real) and math.isfinite(self.lr0) and self.lr0 > 0):
            raise ValueError(f"Invalid lr0: {self.lr0} (must be > 0)")
        if not (isinstance(self.gamma, numbers.Real) and 0 < self.gamma <= 1):
            raise ValueError(f"Invalid gamma: {self.gamma} (must be in (0, 1])")
        milestones = tuple(self.milestones)
        if not all(isinstance(m, numbers.Integral) and not isinstance(m, bool) and m >= 1 for m in milestones):
            raise ValueError(f"Invalid milestones: {self.milestones!r} (must be integers >= 1)")
        if list(milestones) != sorted(set(milestones)):
            raise ValueError(f"Invalid milestones: {self.milestones!r} (must be strictly increasing)")
        object.__setattr__(self, "milestones", tuple(int(m) for m in milestones))

    def _lr(self, t):
        # k(t) = how many milestones m <= t
        k = np.searchsorted(self.milestones, np.floor(t), side="right")
        return self.lr0 * self.gamma ** k.astype(np.float64)


def manual_decay(lr0: float, milestones: Sequence[int],
                 gamma: float = 0.1) -> ManualDecay:
    r"""Manual decay: the learning rate times ``gamma`` at each milestone.

    .. math:: \eta_t = \eta_0\,\gamma^{k(t)}, \qquad
        k(t) = \#\{m \in \text{milestones} : m \le t\}

    Andrew Ng's "manual decay" is a person watching the loss curve and
    cutting :math:`\eta` when it stops improving; once the cuts are decided
    they are this schedule, torch's ``MultiStepLR(milestones, gamma)`` (the
    ResNet recipe: ÷10 at two points of the run). ``s(0) == lr0``.

    References:
        A. Ng, deeplearning.ai course 2, week 2, "Learning rate decay";
        K. He, X. Zhang, S. Ren and J. Sun (2016), Deep residual learning
        for image recognition, CVPR, §3.4.
    """
    return ManualDecay(lr0, tuple(milestones), gamma)


def torch_learning_rates(make_scheduler: Callable, steps: int, lr0: float) -> np.ndarray:
    r"""The learning rates a torch scheduler gives at :math:`t = 0, \dots,` ``steps`` :math:`- 1`.

    Builds ``torch.optim.SGD`` on one parameter with ``lr=lr0``, then ``make_scheduler(optimizer)``, and
    reads ``param_groups[0]["lr"]`` before each of ``steps`` epochs, calling ``optimizer.step()`` and then
    ``scheduler.step()`` at the end of each, the loop order torch documents. So entry :math:`t` is the rate
    used during epoch :math:`t` (counted from 0), the same indexing as :mod:`lib.schedules`.

    References:
        PyTorch documentation, "How to adjust learning rate" (``torch.optim.lr_scheduler``).
    """
    steps = check_int("steps", steps, minimum=1)
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([p], lr=lr0)
    scheduler = make_scheduler(optimizer)
    out = []
    for _ in range(steps):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return np.array(out, dtype=np.float64)
