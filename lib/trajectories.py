r"""Run an update rule on a 2-D surface from many starts at once.

All starts move together as one numpy array: each step evaluates the surface's gradient at every start,
applies the rule of :mod:`lib.rules` once to the whole stack,

.. math:: g^t = \nabla f(\theta^t), \qquad (\text{step}, s^{t+1}) = \text{update}(g^t, s^t, \theta^t;\ \eta_t),
    \qquad \theta^{t+1} = \theta^t + \text{step},

and checks every start for divergence. Ten thousand starts cost about as much as ten would in a Python loop
over starts: 200 steps of Adam on Rosenbrock take about 0.05 s (``benchmarks/trajectories.py``).

**Divergence.** Start ``i`` diverges at step ``k`` when :math:`\theta^k_i` is not finite or leaves the box
:math:`|x|, |y| \le` ``bound``. It is then frozen: ``path[i, k:]`` repeats its last point inside,
``path[i, k - 1]``, and ``diverged_at[i] = k`` (``-1`` if it never diverged; ``0`` if the start itself lies
outside the box). A chapter can then say "diverged at step 12" instead of drawing garbage. The overflow and
invalid-value warnings numpy raises on the way are silenced: they are the expected symptom, recorded in
``diverged_at``.

References:
    S. Ruder (2016), An overview of gradient descent optimization algorithms, arXiv:1609.04747 (the
    trajectory figures on 2-D surfaces).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from lib.rules import RULES, Rule
from lib.surfaces import Surface, _stack

__all__ = ["Trajectories", "run", "sweep"]


class Trajectories(NamedTuple):
    """The result of :func:`run`: one row per start."""

    path: np.ndarray  # (starts, steps + 1, 2); after divergence the last point inside is repeated
    loss: np.ndarray  # (starts, steps + 1), the surface's value along the path
    diverged_at: np.ndarray  # (starts,) int, the step at which the start diverged, -1 if it did not


def _resolve(rule: str | Rule, hparams: dict) -> Rule:
    if isinstance(rule, str):
        if rule not in RULES:
            raise ValueError(f"Unknown rule: {rule!r}, expected one of {sorted(RULES)}")
        rule = RULES[rule]
    unknown = sorted(set(hparams) - set(rule.defaults))
    if unknown:
        raise ValueError(f"Unknown hyperparameter(s) {unknown} for rule {rule.name!r}, "
                         f"expected some of {sorted(rule.defaults)}")
    return rule


def run(rule: str | Rule, surface: Surface, starts, steps: int, *, eta, bound: float = 1e6,
        **hparams) -> Trajectories:
    r"""Run ``rule`` (a key of :data:`lib.rules.RULES` or a :class:`~lib.rules.Rule`) on ``surface`` for
    ``steps`` steps from every row of ``starts`` (shape ``(starts, 2)``, or ``(2,)`` for one start).

    ``eta`` is a float, an array broadcasting against ``(starts, 2)`` (e.g. shape ``(starts, 1)``: one learning
    rate per start, see :func:`sweep`), or a schedule ``eta(t) -> float`` (:mod:`lib.schedules`) giving
    :math:`\eta_t` for the update from :math:`\theta^t` to :math:`\theta^{t+1}`, :math:`t = 0, 1, \dots`.
    ``hparams`` are the rule's other hyperparameters (defaults in ``rule.defaults``). Computed in float64.
    Returns ``Trajectories(path, loss, diverged_at)``; see the module docstring for divergence.

    The rule must be elementwise, as every rule of :mod:`lib.rules` is: it is handed the stack of starts as
    arrays of shape ``(2, starts)``, one row per coordinate.
    """
    rule = _resolve(rule, hparams)
    theta = np.array(starts, dtype=np.float64)
    if theta.ndim == 1:
        theta = theta[None]
    if theta.ndim != 2 or theta.shape[1] != 2:
        raise ValueError(f"Invalid starts shape: {np.shape(starts)} (expected (starts, 2) or (2,))")
    if not np.isfinite(theta).all():
        raise ValueError("Invalid starts: every start must be finite")
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
        raise ValueError(f"Invalid steps: {steps} (must be an integer >= 0)")
    limit = divergence_limit(bound)
    n = len(theta)
    schedule: Callable | None = eta if callable(eta) else None
    if schedule is None:
        eta = _coordinate_major("eta", eta, n)
    hparams = {name: _coordinate_major(name, v, n) for name, v in hparams.items()}

    # The stack is kept coordinate-major, shape (2, starts): the rules are elementwise, so every array
    # operation then runs on contiguous memory and the surface gets contiguous x and y. The buffer is
    # time-major, (steps + 1, 2, starts): each step writes one contiguous block, in place.
    buffer = np.empty((steps + 1, 2, n))
    buffer[0] = theta.T
    theta = buffer[0]
    alive = (np.abs(theta) <= limit).all(axis=0)
    diverged_at = np.where(alive, -1, 0)
    all_alive = bool(alive.all())
    state = rule.init(theta)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for t in range(steps):
            g = _stack(surface.df(theta[0], theta[1]), 0, theta[0])
            eta_t = _coordinate_major("eta", schedule(t), n) if schedule else eta
            step, state = rule.update(g, state, theta, eta=eta_t, **hparams)
            new = np.add(theta, step, out=buffer[t + 1])
            inside = np.abs(new) <= limit
            if not (all_alive and inside.all()):
                inside = inside[0] & inside[1]
                diverged_at[alive & ~inside] = t + 1
                alive &= inside
                all_alive = False
                np.copyto(new, theta, where=~alive)
            theta = new
        # in blocks of about 2^18 points: the temporaries stay in cache instead of being whole-run arrays
        loss = np.empty((steps + 1, n))
        block = max(1, 2 ** 18 // max(n, 1))
        for t in range(0, steps + 1, block):
            loss[t:t + block] = surface.f(buffer[t:t + block, 0], buffer[t:t + block, 1])
    return Trajectories(buffer.transpose(2, 0, 1), loss.T, diverged_at)


def divergence_limit(bound) -> float:
    """The largest ``|coordinate|`` of an iterate still inside the box of half-width ``bound`` (``> 0``).

    ``abs(x) <= limit`` is then the whole divergence test: it fails for NaN, and for inf even when ``bound``
    is inf (no box), because the limit is then the largest finite float.
    """
    if not (isinstance(bound, numbers.Real) and bound > 0):
        raise ValueError(f"Invalid bound: {bound} (must be > 0)")
    return bound if math.isfinite(bound) else np.finfo(np.float64).max


def _coordinate_major(name, value, n):
    """A scalar as it is; an array that broadcasts against (starts, 2) as a (2, starts) view."""
    if np.ndim(value) == 0:
        return value
    try:
        return np.broadcast_to(np.asarray(value, dtype=np.float64), (n, 2)).T
    except ValueError:
        raise ValueError(f"Invalid {name} shape: {np.shape(value)} (must broadcast against ({n}, 2))") from None


def sweep(rule: str | Rule, surface: Surface, start, steps: int, *, eta, bound: float = 1e6,
          **hparams) -> Trajectories:
    r"""One run per hyperparameter value, all from the same ``start``, as one vectorized :func:`run`.

    ``eta`` and any hyperparameter the rule uses elementwise (``mu``, ``beta1``, ``beta2``, ``alpha``, ...)
    may be 1-D sequences of one common length :math:`K` (or scalars); copy :math:`k` runs with the
    :math:`k`-th value of each, so ``path`` has shape ``(K, steps + 1, 2)``. For a grid over two
    hyperparameters pass the raveled ``np.meshgrid`` of their values. Hyperparameters that select a branch
    (``nesterov``, ``centered``, ``amsgrad``, ``bias_correction``, RMSProp's ``momentum``) must stay scalars.

    ``sweep("gd", s, (1.0, 1.0), 50, eta=np.geomspace(1e-3, 2.0, 64))`` costs about one run of 64 starts.
    """
    start = np.asarray(start, dtype=np.float64)
    if start.shape != (2,):
        raise ValueError(f"Invalid start shape: {start.shape} (expected (2,))")
    values = {"eta": eta, **hparams}
    swept = {name: np.asarray(v, dtype=np.float64) for name, v in values.items()
             if not callable(v) and np.ndim(v) > 0}
    for name, v in swept.items():
        if v.ndim != 1:
            raise ValueError(f"Invalid {name} shape: {v.shape} (expected a scalar or a 1-D sequence)")
    lengths = {len(v) for v in swept.values()} - {1}
    if len(lengths) > 1:
        raise ValueError(f"Swept hyperparameters differ in length: { {k: len(v) for k, v in swept.items()} }")
    k = lengths.pop() if lengths else 1
    values.update({name: np.broadcast_to(v, (k,))[:, None].copy() for name, v in swept.items()})
    eta = values.pop("eta")
    return run(rule, surface, np.broadcast_to(start, (k, 2)), steps, eta=eta, bound=bound, **values)
