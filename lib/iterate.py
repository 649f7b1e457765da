r"""The one iteration driver: every loop of ``lib`` that applies an update rule goes through :func:`iterate`.

.. math:: g^t = \nabla L(\theta^t) \ (\text{possibly stochastic}), \qquad
    (\text{step}, s^{t+1}) = \text{update}(g^t, s^t, \theta^t;\ \eta_t), \qquad \theta^{t+1} = \theta^t + \text{step}

for :math:`t = 0, \dots,` ``steps`` :math:`- 1`, with a rule of :mod:`lib.rules`. The 2-D trajectories
(:func:`lib.trajectories.run`), the mini-batch paths (:func:`lib.trajectories.minibatch_path`), and the lessons'
noisy and stochastic runs are all this loop with a different gradient. Three contracts are written here once:

**The learning rate** ``eta`` is one of

* a number (or an array that broadcasts against the parameters: one rate per copy),
* a per-step array: ``eta[t]`` is :math:`\eta_t`, its first axis has length ``steps`` (the rest broadcasts
  against the parameters),
* a schedule, a callable ``s(t)`` (:mod:`lib.schedules`), :math:`\eta_t = s(t)`, :math:`t = 0, 1, \dots`
  counting the updates made before this one.

:func:`learning_rates` checks it and turns it into :math:`\eta_t`.

**Divergence.** A copy diverges at step :math:`k` when :math:`\theta^k` is not finite or leaves the box
:math:`\max_i |\theta_i| \le` ``bound``. It is then *stopped*: its iterate stays at the last one inside,
:math:`\theta^{k-1}` (so every recorded quantity stays finite), and the step is *reported*:
``diverged_at = k`` (``-1`` if it never diverged; ``0`` if the start itself lies outside the box). A chapter then
says "diverged at step 12" instead of drawing garbage. numpy's overflow warnings on the way are the expected
symptom, recorded in ``diverged_at``, and are silenced.

**The rule** is a key of :data:`lib.rules.RULES` or a :class:`lib.rules.Rule`, resolved by :func:`resolve_rule`
with one error message for an unknown rule and one for an unknown hyperparameter.

References:
    H. Robbins and S. Monro (1951), A stochastic approximation method, Annals of Mathematical Statistics 22(3).
    A. Zhang, Z. C. Lipton, M. Li and A. J. Smola, *Dive into Deep Learning*, §12 (one training loop shared by
    every optimizer).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from lib.checks import check_hparams, check_int, invalid
from lib.rules import RULES, Rule

__all__ = ["Iterates", "divergence_limit", "iterate", "learning_rates", "resolve_rule"]


def resolve_rule(rule: str | Rule, hparams: Mapping[str, Any] | Sequence[str] = ()) -> Rule:
    """The :class:`~lib.rules.Rule` named ``rule`` (or ``rule`` itself), after checking that every name in
    ``hparams`` is one of its hyperparameters.

    >>> resolve_rule("newton")
    Traceback (most recent call last):
    ValueError: Invalid rule: 'newton' (expected a lib.rules.Rule or one of 'adagrad', 'adam', ...)
    """
    if not isinstance(rule, Rule):
        if not isinstance(rule, str) or rule not in RULES:
            raise invalid("rule", rule, "expected a lib.rules.Rule or one of "
                          + ", ".join(repr(name) for name in sorted(RULES)))
        rule = RULES[rule]
    check_hparams(hparams, rule.defaults, what=f"hyperparameter for rule {rule.name!r}")
    return rule


def divergence_limit(bound) -> float:
    """The largest ``|coordinate|`` of an iterate still inside the box of half-width ``bound`` (``> 0``).

    ``abs(x) <= limit`` is then the whole divergence test: it fails for NaN, and for inf even when ``bound``
    is inf (no box), because the limit is then the largest finite float.
    """
    if not (isinstance(bound, numbers.Real) and not isinstance(bound, bool) and bound > 0):
        raise invalid("bound", bound, "expected a number > 0")
    return float(bound) if math.isfinite(bound) else float(np.finfo(np.float64).max)


def learning_rates(eta, steps: int) -> Callable[[int], Any]:
    r"""``eta`` (a number, a per-step array or a schedule; see the module docstring), checked, as a function
    :math:`t \mapsto \eta_t` for :math:`t = 0, \dots,` ``steps`` :math:`- 1`.

    A number or a per-step array must be finite and :math:`\ge 0`, as in torch (``Invalid learning rate: -0.1``);
    a schedule is checked where it is evaluated (it may be expensive or only defined on integers).
    """
    if callable(eta):
        return eta
    if isinstance(eta, torch.Tensor):
        eta = eta.detach().cpu().numpy()
    if isinstance(eta, numbers.Real) and not isinstance(eta, bool):
        if not (math.isfinite(eta) and eta >= 0):
            raise invalid("learning rate", eta)
        return lambda t: eta
    values = np.asarray(eta, dtype=np.float64)
    if values.size == 0 or not (np.all(np.isfinite(values)) and np.all(values >= 0)):
        raise invalid("learning rate", eta if values.ndim == 0 else values.tolist(), "expected numbers >= 0")
    if values.ndim == 0:
        return lambda t: float(values)
    if values.shape[0] == steps and (values.ndim > 1 or steps > 1):
        return lambda t: values[t]
    return lambda t: values  # one rate per copy, the same at every step


class Iterates(NamedTuple):
    """What :func:`iterate` recorded."""

    path: Any  # (records, *theta.shape): theta after each recorded step (record 0 = the start)
    diverged_at: Any  # (copies,) int array, or an int for one copy: the step of divergence, -1 if none
    theta: Any  # the final parameters (a diverged copy's last ones inside the box)


def _inside(theta, limit: float, axis: int | None):
    """Whether each copy lies inside the box (one bool for one copy)."""
    if isinstance(theta, torch.Tensor):
        ok = theta.abs() <= limit
        if axis is None:
            return bool(ok.all())
        others = tuple(i for i in range(ok.ndim) if i != axis % ok.ndim)
        return ok.all(dim=others) if others else ok
    ok = np.abs(theta) <= limit
    if axis is None:
        return bool(ok.all())
    return ok.all(axis=tuple(i for i in range(ok.ndim) if i != axis % ok.ndim))


def iterate(
    grad: Callable[[Any, int], Any],
    theta0,
    steps: int,
    *,
    rule: str | Rule = "gd",
    eta,
    bound: float = 1e6,
    copies_axis: int | None = None,
    record: Sequence[int] | None = None,
    project: Callable[[Any], Any] | None = None,
    **hparams,
) -> Iterates:
    r"""Apply ``rule`` for ``steps`` steps from ``theta0`` with gradients ``grad(theta, t)``.

    ``theta0`` is a numpy array or a torch tensor: one run, or several independent copies stacked along
    ``copies_axis`` (the rules of :mod:`lib.rules` are elementwise, so a stack costs about one run). ``grad``
    gets the current iterate (same shape) and the step :math:`t`, and may be stochastic (it draws its own
    mini-batches or noise). ``eta`` follows the learning-rate contract, ``hparams`` are the rule's other
    hyperparameters (checked by :func:`resolve_rule`). ``record`` lists the steps :math:`0 \le t \le` ``steps``
    whose iterates are kept (default: all of them); the path is preallocated and written in place. ``project``,
    if given, maps every new iterate back onto the feasible set (projected gradient descent,
    :math:`\theta^{t+1} = \Pi(\theta^t + \text{step})`).

    Returns ``Iterates(path, diverged_at, theta)``; divergence follows the convention of the module docstring.
    """
    rule = resolve_rule(rule, hparams)
    steps = check_int("steps", steps, minimum=0)
    limit = divergence_limit(bound)
    eta_at = learning_rates(eta, steps)
    records = np.arange(steps + 1) if record is None else np.asarray(record, dtype=np.int64)
    if records.ndim != 1 or len(records) == 0 or np.any(np.diff(records) <= 0) or records[0] < 0 \
            or records[-1] > steps:
        raise invalid("record", list(np.atleast_1d(records)), f"expected increasing steps in [0, {steps}]")
    is_torch = isinstance(theta0, torch.Tensor)
    theta = theta0.clone() if is_torch else np.array(theta0, dtype=np.float64)
    if is_torch:
        path = torch.empty((len(records), *theta.shape), dtype=theta.dtype)
    else:
        path = np.empty((len(records), *theta.shape))
    alive = _inside(theta, limit, copies_axis)
    one = copies_axis is None
    if one:
        diverged_at = -1 if alive else 0
        all_alive = alive
    else:
        diverged_at = np.where(np.asarray(alive), -1, 0)
        all_alive = bool(alive.all())
    j = 0
    if records[0] == 0:
        path[0] = theta
        j = 1
    state = rule.init(theta)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for t in range(steps):
            if one and not alive:
                break
            step, state = rule.update(grad(theta, t), state, theta, eta=eta_at(t), **hparams)
            new = theta + step if project is None else project(theta + step)
            if not (all_alive and _all_inside(new, limit)):
                inside = _inside(new, limit, copies_axis)
                if one:
                    alive = inside
                    if not alive:
                        diverged_at = t + 1
                        new = theta
                else:
                    newly = alive & ~inside
                    diverged_at[np.asarray(newly)] = t + 1
                    alive = alive & inside
                    all_alive = False
                    keep = _expand(~alive, theta, copies_axis)
                    new = torch.where(keep, theta, new) if is_torch else np.where(keep, theta, new)
            theta = new
            if j < len(records) and records[j] == t + 1:
                path[j] = theta
                j += 1
    if j < len(records):  # a single run stopped early: it stays where it stopped
        path[j:] = theta
    return Iterates(path, diverged_at, theta)


def _all_inside(theta, limit: float) -> bool:
    if isinstance(theta, torch.Tensor):
        return bool((theta.abs() <= limit).all())
    return bool((np.abs(theta) <= limit).all())


def _expand(mask, theta, axis: int):
    """A per-copy mask shaped to broadcast against ``theta`` along ``axis``."""
    shape = [1] * theta.ndim
    shape[axis] = theta.shape[axis]
    return mask.reshape(shape)
