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

import numbers
from typing import NamedTuple

import numpy as np

from lib.data import LeastSquares
from lib.iterate import divergence_limit, iterate, resolve_rule
from lib.rules import Rule
from lib.surfaces import Surface, _stack

__all__ = ["MinibatchPath", "Trajectories", "divergence_limit", "minibatch_path", "run", "sweep"]


class Trajectories(NamedTuple):
    """The result of :func:`run`: one row per start."""

    path: np.ndarray  # (starts, steps + 1, 2); after divergence the last point inside is repeated
    loss: np.ndarray  # (starts, steps + 1), the surface's value along the path
    diverged_at: np.ndarray  # (starts,) int, the step at which the start diverged, -1 if it did not


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
    rule = resolve_rule(rule, hparams)
    theta = np.array(starts, dtype=np.float64)
    if theta.ndim == 1:
        theta = theta[None]
    if theta.ndim != 2 or theta.shape[1] != 2:
        raise ValueError(f"Invalid starts shape: {np.shape(starts)} (expected (starts, 2) or (2,))")
    if not np.isfinite(theta).all():
        raise ValueError("Invalid starts: every start must be finite")
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
        raise ValueError(f"Invalid steps: {steps} (must be an integer >= 0)")
    n = len(theta)
    if callable(eta):
        schedule = eta
        eta_t = lambda t: _coordinate_major("eta", schedule(t), n)  # noqa: E731
    else:
        eta_cm = _coordinate_major("eta", eta, n)
        eta_t = lambda t: eta_cm  # noqa: E731  (one rate per start, not per step)
    hparams = {name: _coordinate_major(name, v, n) for name, v in hparams.items()}

    # The stack is kept coordinate-major, shape (2, starts): the rules are elementwise, so every array
    # operation then runs on contiguous memory and the surface gets contiguous x and y. The path is
    # time-major, (steps + 1, 2, starts).
    def grad(theta, t):
        return _stack(surface.df(theta[0], theta[1]), 0, theta[0])

    it = iterate(grad, theta.T, steps, rule=rule, eta=eta_t, bound=bound, copies_axis=1, **hparams)
    buffer = it.path
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        # in blocks of about 2^18 points: the temporaries stay in cache instead of being whole-run arrays
        loss = np.empty((steps + 1, n))
        block = max(1, 2 ** 18 // max(n, 1))
        for t in range(0, steps + 1, block):
            loss[t:t + block] = surface.f(buffer[t:t + block, 0], buffer[t:t + block, 1])
    return Trajectories(buffer.transpose(2, 0, 1), loss.T, it.diverged_at)


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

    ``eta`` and any hyperparameter the rule uses elementwise (``beta``, ``beta1``, ``beta2``, ``alpha``, ...)
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


class MinibatchPath(NamedTuple):
    """The iterates of :func:`minibatch_path`: ``S`` updates, ``d`` parameters."""

    theta: np.ndarray  # (S+1, d), theta[0] is the start; after a divergence the last iterate inside is repeated
    loss: np.ndarray  # (S+1,), full-data loss at each iterate
    epoch: np.ndarray  # (S+1,), epochs completed (fractional inside an epoch)
    diverged_at: int = -1  # the update at which the run diverged, -1 if it did not (as in lib.trajectories)


def minibatch_path(
    problem: LeastSquares,
    theta0,
    batch_size: int,
    *,
    eta,
    epochs: int,
    seed: int = 0,
    rule: str = "gd",
    bound: float = 1e6,
    **hparams,
) -> MinibatchPath:
    r"""Mini-batch gradient descent on a least-squares problem, every iterate kept.

    Each epoch draws a fresh permutation of the :math:`n` examples (``numpy.random.default_rng(seed)``) and
    cuts it into consecutive batches :math:`B` of ``batch_size`` (the last one smaller when ``batch_size`` does
    not divide :math:`n`); each batch makes one update of the :mod:`lib.rules` rule ``rule`` (default plain
    gradient descent) with the mini-batch gradient

    .. math:: \theta \leftarrow \theta - \eta\,\nabla L_B(\theta), \qquad
        \nabla L_B(\theta) = \tfrac{2}{|B|} X_B^\top (X_B\theta - y_B).

    ``batch_size = n`` is batch gradient descent (one update per epoch), ``1`` stochastic gradient descent
    (:math:`n` updates per epoch). The full-data loss is recorded at every iterate.

    **Divergence**, as in :mod:`lib.trajectories`: the run diverges at update :math:`k` when
    :math:`\theta^k` is not finite or leaves the box :math:`\max_i |\theta_i| \le` ``bound``. It then stops:
    ``theta[k:]`` repeats the last iterate inside, ``theta[k - 1]`` (so ``loss`` stays finite), and
    ``diverged_at = k`` (``-1`` if it never diverged, ``0`` if ``theta0`` itself lies outside the box). The
    overflow warnings numpy raises on the way are silenced: they are the expected symptom, recorded in
    ``diverged_at``.

    References:
        Robbins & Monro (1951); Bottou, Curtis & Nocedal (2018), §3 and Algorithm 3.1.
    """
    n, d = problem.X.shape
    if not isinstance(batch_size, int | np.integer) or not 1 <= batch_size:
        raise ValueError(f"Invalid batch_size: {batch_size} (must be an integer >= 1)")
    if not isinstance(epochs, int | np.integer) or epochs < 1:
        raise ValueError(f"Invalid epochs: {epochs} (must be an integer >= 1)")
    theta = np.array(theta0, dtype=np.float64)
    if theta.shape != (d,):
        raise ValueError(f"Invalid theta0 shape: {theta.shape} (expected ({d},))")
    if not np.isfinite(theta).all():
        raise ValueError("Invalid theta0: every entry must be finite")
    batch_size = min(int(batch_size), n)
    rng = np.random.default_rng(seed)
    per_epoch = -(-n // batch_size)
    order = np.arange(n)

    def grad(theta, t):
        nonlocal order
        k = t % per_epoch
        if k == 0 and batch_size < n:  # a fresh permutation at the start of every epoch
            order = rng.permutation(n)
        return problem.grad(theta, order[k * batch_size:(k + 1) * batch_size])

    it = iterate(grad, theta, epochs * per_epoch, rule=rule, eta=eta, bound=bound, **hparams)
    with np.errstate(over="ignore", invalid="ignore"):
        loss = problem.loss(it.path)
    return MinibatchPath(it.path, loss, np.arange(len(it.path)) / per_epoch, it.diverged_at)
