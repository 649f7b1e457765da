r"""One seeded training loop for every chapter, and a stacked path that trains many copies at once.

:func:`train` runs mini-batch training of one model,

.. math::
    \theta_{k+1} = \theta_k + \Delta_k, \qquad
    \Delta_k = \text{update}\bigl(\nabla L_{B_k}(\theta_k), \text{state}_k, \theta_k;\ \eta_k, \dots\bigr),

where :math:`B_k` is the :math:`k`-th mini-batch of a seeded random permutation of the training set (a new
permutation every epoch; the last batch of an epoch is smaller when the batch size does not divide the
number of examples; the full batch is used in order, unshuffled) and the update is either a
``torch.optim.Optimizer`` (``lib.optim`` or ``torch.optim``) or a pure rule of :mod:`lib.rules` named by a
string. Data are whole tensors indexed with the permutation, no ``DataLoader``.

:func:`train_stacked` trains :math:`C` independent copies together: their parameters are stacked
(``torch.func.stack_module_state``) into one ``(C, P)`` tensor. For an :func:`lib.models.mlp` (or an
``nn.Linear``) each layer of all copies is one batched matrix product and the backward pass is written out
(:class:`lib.models.StackedMLP`, the loss's gradient from :func:`lib.losses.stacked_cross_entropy_and_grad`);
any other module goes through ``torch.func.vmap`` of ``torch.func.functional_call`` and autograd. The rule's
update is applied once to the whole stack (in place, fused, for :mod:`lib.rules`' own rules), with per-copy
hyperparameters as ``(C, 1)`` tensors that broadcast. Losses and accuracy come from :mod:`lib.losses`.
Copies may differ in seed (initial parameters and data order) and in hyperparameters (η, β, …); each copy
gives the numbers :func:`train` gives for it alone (tested to float64 rounding). A learning-rate grid or a set
of seeds then costs a fraction of one run per copy (``benchmarks/stacked_training.py``).

**Divergence.** A run (or a copy) whose mini-batch loss, or training loss at an evaluation, is not finite
(or exceeds ``max_loss``) is stopped (a copy is frozen, the others go on) and reported as ``diverged`` with
``diverged_at`` = the number of updates it had completed. Nothing after that point is recorded (a single run's
arrays end there; a stacked run's entries are ``NaN``), so a plot shows where it diverged, never garbage.

**Progress bar.** ``tqdm.auto`` (a widget in Jupyter, text in a terminal). With ``progress=None`` it is shown
only when stdout is a terminal or an IPython kernel; the environment variable ``LIB_PROGRESS=0`` turns it off
whatever ``progress`` says (the book build sets it, so no bar reaches the built pages).

**Threads.** Nothing here changes torch's global thread count unless asked: ``threads=n`` (or the
:func:`num_threads` context manager) sets ``torch.set_num_threads(n)`` for the duration of the call and
restores the previous value afterwards. The book's models are so small that a second thread buys little, and
on cores shared with other processes torch's spinning worker threads can make a run many times slower
(measured while writing this: 0.6 s with two threads vs 0.03 s with one, same run), so chapters pass
``threads=1`` (or call ``torch.set_num_threads(1)`` once at the top) unless they measure parallel speed.

References:
    Robbins, H. & Monro, S. (1951). A stochastic approximation method. Ann. Math. Statist. 22(3).
    Bottou, L., Curtis, F. E. & Nocedal, J. (2018). Optimization methods for large-scale machine learning.
    SIAM Review 60(2), §3.
    PyTorch documentation, "Model ensembling" (``torch.func.stack_module_state``, ``vmap``).
"""

from __future__ import annotations

import copy
import inspect
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from tqdm.auto import tqdm

from lib import losses as _losses
from lib import rules as _rules
from lib.checks import invalid
from lib.data import LeastSquares
from lib.iterate import resolve_rule
from lib.models import StackedMLP

__all__ = [
    "History",
    "StackedHistory",
    "num_threads",
    "progress_enabled",
    "train",
    "train_stacked",
]

_OFF = {"0", "false", "no", "off"}


# --------------------------------------------------------------------------------------------- histories
@dataclass(frozen=True, eq=False)
class History:
    """What :func:`train` measured. Arrays are numpy; ``S`` updates were made, ``E`` evaluations taken.

    Attributes:
        loss: ``(S,)`` mini-batch loss at each update, evaluated *before* that update.
        lr: ``(S,)`` learning rate used by each update.
        time: ``(S,)`` wall-clock seconds of each update (forward, backward and step; evaluations excluded).
            For a copy taken out of a stacked run it is the time of the whole stacked update.
        eval_step: ``(E,)`` number of updates completed at each evaluation (0 = the initial model).
        epoch: ``(E,)`` epochs completed at each evaluation, ``eval_step / updates_per_epoch``.
        train_loss, train_acc, test_loss, test_acc: ``(E,)`` full-data loss and accuracy at each evaluation
            (accuracy is ``NaN`` unless ``loss="cross_entropy"``; test values are ``NaN`` without test data).
        diverged: whether the run was stopped by a non-finite (or above ``max_loss``) loss.
        diverged_at: updates completed when the divergence was detected; ``-1`` if it did not diverge.
        batch_size: examples per update (the number of training examples for full-batch training).
        updates_per_epoch: ``ceil(n_train / batch_size)``.
        seconds: wall-clock seconds of the whole call, evaluations included.
    """

    loss: np.ndarray
    lr: np.ndarray
    time: np.ndarray
    eval_step: np.ndarray
    epoch: np.ndarray
    train_loss: np.ndarray
    train_acc: np.ndarray
    test_loss: np.ndarray
    test_acc: np.ndarray
    diverged: bool
    diverged_at: int
    batch_size: int
    updates_per_epoch: int
    seconds: float

    @property
    def steps(self) -> int:
        """Number of updates made."""
        return len(self.loss)


@dataclass(frozen=True, eq=False)
class StackedHistory:
    """What :func:`train_stacked` measured for ``C`` copies: the :class:`History` fields with a copy axis.

    Attributes:
        loss, lr: ``(C, S)``; ``NaN`` from a copy's divergence on.
        time: ``(S,)`` wall-clock seconds of each stacked update (all copies together).
        eval_step, epoch: ``(E,)``, shared by all copies.
        train_loss, train_acc, test_loss, test_acc: ``(C, E)``; ``NaN`` from a copy's divergence on.
        diverged: ``(C,)`` bool; diverged_at: ``(C,)`` int, ``-1`` where a copy did not diverge.
        seeds, data_seeds: ``(C,)`` seeds of the initial parameters (``model_fn(seed)``) and of the data order.
        hparams: hyperparameter name → ``(C,)`` array of each copy's value (as passed; defaults not listed).
        params: parameter name → ``(C, ...)`` tensor of the final parameters (a diverged copy's are frozen at
            its divergence).
        batch_size, updates_per_epoch, seconds: as in :class:`History`.
    """

    loss: np.ndarray
    lr: np.ndarray
    time: np.ndarray
    eval_step: np.ndarray
    epoch: np.ndarray
    train_loss: np.ndarray
    train_acc: np.ndarray
    test_loss: np.ndarray
    test_acc: np.ndarray
    diverged: np.ndarray
    diverged_at: np.ndarray
    seeds: np.ndarray
    data_seeds: np.ndarray
    hparams: dict[str, np.ndarray]
    params: dict[str, torch.Tensor]
    batch_size: int
    updates_per_epoch: int
    seconds: float

    @property
    def n_copies(self) -> int:
        """Number of copies ``C``."""
        return len(self.seeds)

    def copy(self, c: int) -> History:
        """Copy ``c`` alone, as the :class:`History` that :func:`train` gives for it (arrays end at divergence)."""
        if not -self.n_copies <= c < self.n_copies:
            raise ValueError(f"c must be in [0, {self.n_copies}), got {c}")
        end = int(self.diverged_at[c]) if self.diverged[c] else self.loss.shape[1]
        kept = ~np.isnan(self.train_loss[c])
        return History(
            loss=self.loss[c, :end].copy(),
            lr=self.lr[c, :end].copy(),
            time=self.time[:end].copy(),
            eval_step=self.eval_step[kept],
            epoch=self.epoch[kept],
            train_loss=self.train_loss[c, kept],
            train_acc=self.train_acc[c, kept],
            test_loss=self.test_loss[c, kept],
            test_acc=self.test_acc[c, kept],
            diverged=bool(self.diverged[c]),
            diverged_at=int(self.diverged_at[c]),
            batch_size=self.batch_size,
            updates_per_epoch=self.updates_per_epoch,
            seconds=self.seconds,
        )

    def load_copy(self, model: nn.Module, c: int) -> nn.Module:
        """Copy the final parameters of copy ``c`` into ``model`` (built like ``model_fn``'s) and return it."""
        if not -self.n_copies <= c < self.n_copies:
            raise ValueError(f"c must be in [0, {self.n_copies}), got {c}")
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(self.params[name][c])
        return model


# ------------------------------------------------------------------------------------------ environment
def progress_enabled(progress: bool | None = None) -> bool:
    """Whether a progress bar is shown: never with ``LIB_PROGRESS=0``; else ``progress``, or auto when ``None``.

    Auto means: stdout is a terminal, or the code runs in an IPython kernel (Jupyter). The book build sets
    ``LIB_PROGRESS=0`` because the notebooks it executes also run in a kernel.
    """
    if os.environ.get("LIB_PROGRESS", "").strip().lower() in _OFF:
        return False
    if progress is not None:
        return bool(progress)
    try:
        if sys.stdout.isatty():
            return True
    except (AttributeError, ValueError):
        pass
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and hasattr(shell, "kernel")


@contextmanager
def num_threads(n: int) -> Iterator[None]:
    """Run the body with ``torch.set_num_threads(n)`` and restore the previous thread count afterwards."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be a positive integer, got {n!r}")
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# -------------------------------------------------------------------------------------------- plumbing
def _resolve_loss(loss) -> _losses.Loss:
    """The :class:`lib.losses.Loss` named ``loss``, or a custom callable wrapped as one (stacked: vmapped)."""
    if callable(loss) and not isinstance(loss, _losses.Loss):
        return _losses.Loss(getattr(loss, "__name__", "custom"), loss, vmap(loss), False)
    if not isinstance(loss, _losses.Loss) and loss not in _losses.LOSSES:
        raise ValueError(f"loss must be one of {sorted(_losses.LOSSES)} or a callable, got {loss!r}")
    return _losses.resolve(loss)


def _prepare_data(data, classify: bool, dtype: torch.dtype, device: torch.device):
    """``(X_train, y_train, X_test | None, y_test | None)`` as tensors of the model's dtype and device."""
    if isinstance(data, LeastSquares):
        data = data.dataset(dtype)
    parts = tuple(data)
    if len(parts) == 2:
        parts = (*parts, None, None)
    if len(parts) != 4:
        raise ValueError(
            f"data must be a Dataset, (X, y) or (X_train, y_train, X_test, y_test), got {len(parts)} parts"
        )

    def tensor(a, target: bool):
        if a is None:
            return None
        a = torch.as_tensor(a, device=device)
        if target and classify:
            return a.long()
        return a.to(dtype) if a.is_floating_point() else a

    X_train, y_train, X_test, y_test = (tensor(a, k % 2 == 1) for k, a in enumerate(parts))
    if len(X_train) != len(y_train) or len(X_train) == 0:
        raise ValueError(f"X_train and y_train must be non-empty and of equal length, got "
                         f"{len(X_train)} and {len(y_train)}")
    if (X_test is None) != (y_test is None):
        raise ValueError("X_test and y_test must be given together")
    return X_train, y_train, X_test, y_test


@dataclass(frozen=True)
class _Plan:
    """Which update belongs to which epoch and batch, and after which updates to evaluate."""

    n: int
    batch_size: int
    updates_per_epoch: int
    total: int
    by_epochs: bool
    eval_every: int

    @property
    def shuffled(self) -> bool:
        return self.batch_size < self.n

    def batch(self, i: int) -> slice:
        return slice(i * self.batch_size, min(self.n, (i + 1) * self.batch_size))

    def updates(self) -> Iterator[tuple[int, int, int, bool]]:
        """``(epoch, batch index in the epoch, update index, evaluate after it)`` for every update."""
        step, epoch = 0, 0
        while True:
            for i in range(self.updates_per_epoch):
                last = step + 1 == self.total
                if self.by_epochs:
                    due = i == self.updates_per_epoch - 1 and (epoch + 1) % self.eval_every == 0
                else:
                    due = (step + 1) % self.eval_every == 0
                yield epoch, i, step, due or last
                if last:
                    return
                step += 1
            epoch += 1


def _plan(n: int, batch_size, epochs, steps, eval_every) -> _Plan:
    if (epochs is None) == (steps is None):
        raise ValueError(f"give exactly one of epochs and steps, got epochs={epochs}, steps={steps}")
    for name, value in (("epochs", epochs), ("steps", steps), ("eval_every", eval_every)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None (full batch), got {batch_size!r}")
    b = n if batch_size is None else min(batch_size, n)
    per_epoch = math.ceil(n / b)
    total = epochs * per_epoch if epochs is not None else steps
    return _Plan(n, b, per_epoch, total, epochs is not None, eval_every)


def _resolve_rule(rule, hparams: Mapping | None, schedule) -> tuple[_rules.Rule, dict]:
    """The rule and its hyperparameters, checked as :func:`lib.iterate.resolve_rule` checks every driver's; the
    learning rate comes either as ``hparams['eta']`` or as a schedule, never both."""
    if not isinstance(rule, str | _rules.Rule):
        raise invalid("optimizer", rule, "expected a torch.optim.Optimizer, a lib.rules name or a lib.rules.Rule")
    hparams = dict(hparams or {})
    rule = resolve_rule(rule, [name for name in hparams if name != "eta"])
    if schedule is None and "eta" not in hparams:
        raise ValueError(f"hparams must give 'eta' for rule {rule.name!r} (or pass a schedule)")
    if schedule is not None and "eta" in hparams:
        raise ValueError("give either hparams['eta'] or a schedule, not both: a schedule s(t) is the learning rate")
    return rule, hparams


def _check_schedule(schedule, schedule_unit: str) -> None:
    if schedule_unit not in ("epoch", "step"):
        raise ValueError(f"schedule_unit must be 'epoch' or 'step', got {schedule_unit!r}")
    if schedule is not None and not callable(schedule) and not (
        isinstance(schedule, Sequence) and all(callable(s) for s in schedule)
    ):
        raise ValueError(f"schedule must be a callable s(t) -> lr (or, stacked, a sequence of them), got {schedule!r}")


def _bad(value: float, max_loss: float | None) -> bool:
    return not math.isfinite(value) or (max_loss is not None and value > max_loss)


def _sync(device: torch.device) -> None:
    # asynchronous devices would otherwise be timed at kernel launch, not completion
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _bar(progress: bool | None, total: int, desc: str):
    return tqdm(total=total, desc=desc, unit="update", mininterval=0.25, disable=not progress_enabled(progress))


# ------------------------------------------------------------------------------------------ single run
def train(
    model: nn.Module,
    optimizer: torch.optim.Optimizer | str | _rules.Rule,
    data,
    *,
    hparams: Mapping | None = None,
    epochs: int | None = None,
    steps: int | None = None,
    batch_size: int | None = None,
    loss: str | Callable = "cross_entropy",
    schedule: Callable | None = None,
    schedule_unit: str = "epoch",
    seed: int = 0,
    eval_every: int = 1,
    max_loss: float | None = None,
    progress: bool | None = None,
    threads: int | None = None,
) -> History:
    r"""Train ``model`` in place with mini-batches of ``data``; return the :class:`History`.

    Args:
        model: a ``torch.nn.Module``; the data are moved to its device and floating dtype.
        optimizer: a ``torch.optim.Optimizer`` over ``model``'s parameters (``lib.optim`` or ``torch.optim``),
            or the name of a :mod:`lib.rules` rule (``"gd"``, ``"momentum"``, ``"adam"``, …), whose pure
            update :math:`\Delta = \text{update}(g, \text{state}, \theta; \eta, \dots)`,
            :math:`\theta \leftarrow \theta + \Delta` is then applied to every parameter tensor.
        data: a :class:`lib.data.Dataset`, ``(X, y)``, ``(X_train, y_train, X_test, y_test)`` (tensors or
            arrays) or a :class:`lib.data.LeastSquares`.
        hparams: the rule's hyperparameters, e.g. ``{"eta": 1e-3, "beta1": 0.9}`` (rule names only).
        epochs, steps: length of the run, exactly one of them (``steps`` may end inside an epoch).
        batch_size: examples per update; ``None`` (or ≥ the number of examples) is full-batch training.
        loss: ``"cross_entropy"`` (logits vs integer labels; accuracy is measured), ``"mse"``, or a callable
            ``loss(output, target) -> scalar``.
        schedule: ``s(t) -> lr`` (``lib.schedules``); the learning rate of update :math:`k` is :math:`s(t)`
            with :math:`t` the epoch (``schedule_unit="epoch"``) or the update index (``"step"``). It
            replaces ``hparams["eta"]`` / the optimizer's ``lr`` (of every param group).
        seed: seed of the data order (a private ``torch.Generator``; the model's initialization is seeded
            where it is built, e.g. ``lib.models.mlp(..., seed=...)``).
        eval_every: evaluate on the full train (and test) data every ``eval_every`` epochs (with ``epochs``)
            or updates (with ``steps``), plus before the first update and after the last.
        max_loss: also treat a loss above this as divergence.
        progress: show a progress bar (``None``: auto; ``LIB_PROGRESS=0`` always hides it).
        threads: run with ``torch.set_num_threads(threads)``, restored afterwards.

    The same arguments give the same numbers, run after run.

    References:
        Robbins & Monro (1951); Bottou, Curtis & Nocedal (2018), Algorithm 3.1 (SG with mini-batches).
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    _check_schedule(schedule, schedule_unit)
    if schedule is not None and not callable(schedule):
        raise ValueError("train takes one schedule callable; a sequence of schedules is for train_stacked")
    if isinstance(optimizer, torch.optim.Optimizer):
        if hparams:
            raise ValueError("hparams are for a lib.rules name; configure the optimizer object instead")
        rule, hp = None, {}
    else:
        rule, hp = _resolve_rule(optimizer, hparams, schedule)
    loss_fn = _resolve_loss(loss)
    first = next(model.parameters())
    X_train, y_train, X_test, y_test = _prepare_data(data, loss_fn.classification, first.dtype, first.device)
    plan = _plan(len(X_train), batch_size, epochs, steps, eval_every)
    with num_threads(threads) if threads is not None else nullcontext():
        return _train_single(
            model, optimizer, rule, hp, (X_train, y_train, X_test, y_test), plan, loss_fn,
            schedule, schedule_unit, seed, max_loss, progress,
        )


def _evaluate_single(model, loss_fn: _losses.Loss, X, y) -> tuple[float, float]:
    if X is None:
        return math.nan, math.nan
    out = model(X)
    acc = _losses.accuracy(out, y).item() if loss_fn.classification else math.nan
    return loss_fn.fn(out, y).item(), acc


def _train_single(model, optimizer, rule, hp, tensors, plan, loss_fn, schedule, schedule_unit, seed,
                  max_loss, progress) -> History:
    start = time.perf_counter()
    X_train, y_train, X_test, y_test = tensors
    device = X_train.device
    params = [p for p in model.parameters() if p.requires_grad]
    states = [rule.init(p.detach()) for p in params] if rule is not None else None
    eta = hp.pop("eta", None)
    generator = torch.Generator().manual_seed(seed)
    losses, lrs, times, evals = [], [], [], []
    diverged_at = -1

    def evaluate(step: int) -> bool:
        """Record an evaluation; ``False`` if the model has diverged."""
        was_training = model.training
        model.eval()
        with torch.no_grad():
            row = (step, *_evaluate_single(model, loss_fn, X_train, y_train),
                   *_evaluate_single(model, loss_fn, X_test, y_test))
        model.train(was_training)
        if _bad(row[1], max_loss):
            return False
        evals.append(row)
        return True

    model.train()
    ok = evaluate(0)
    if not ok:
        diverged_at = 0
    order = None
    name = rule.name if rule is not None else type(optimizer).__name__
    with _bar(progress, plan.total if ok else 0, name) as bar:
        for epoch, i, step, due in plan.updates() if ok else ():
            if i == 0 and plan.shuffled:
                order = torch.randperm(plan.n, generator=generator).to(device)
            if schedule is not None:
                lr = float(schedule(epoch if schedule_unit == "epoch" else step))
            elif rule is not None:
                lr = eta
            else:
                lr = optimizer.param_groups[0]["lr"]
            t0 = time.perf_counter()
            if plan.shuffled:
                idx = order[plan.batch(i)]
                xb, yb = X_train[idx], y_train[idx]
            else:
                xb, yb = X_train, y_train
            value_t = loss_fn.fn(model(xb), yb)
            value = value_t.item()
            if _bad(value, max_loss):
                diverged_at = step
                break
            if rule is None:
                if schedule is not None:
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                optimizer.zero_grad(set_to_none=True)
                value_t.backward()
                optimizer.step()
            else:
                grads = torch.autograd.grad(value_t, params)
                with torch.no_grad():
                    for k, (p, g) in enumerate(zip(params, grads, strict=True)):
                        delta, states[k] = rule.update(g, states[k], p.detach(), eta=lr, **hp)
                        p.add_(delta)
            _sync(device)
            times.append(time.perf_counter() - t0)
            losses.append(value)
            lrs.append(float(lr))
            bar.update()
            if due:
                if not evaluate(step + 1):
                    diverged_at = step + 1
                    break
                bar.set_postfix(loss=f"{evals[-1][1]:.4g}", refresh=False)
    table = np.array(evals, dtype=np.float64).reshape(-1, 5)
    return History(
        loss=np.array(losses, dtype=np.float64),
        lr=np.array(lrs, dtype=np.float64),
        time=np.array(times, dtype=np.float64),
        eval_step=table[:, 0].astype(np.int64),
        epoch=table[:, 0] / plan.updates_per_epoch,
        train_loss=table[:, 1],
        train_acc=table[:, 2],
        test_loss=table[:, 3],
        test_acc=table[:, 4],
        diverged=diverged_at >= 0,
        diverged_at=diverged_at,
        batch_size=plan.batch_size,
        updates_per_epoch=plan.updates_per_epoch,
        seconds=time.perf_counter() - start,
    )


# ----------------------------------------------------------------------------------------- stacked runs
def _per_copy(hparams: Mapping) -> tuple[dict, dict[str, np.ndarray]]:
    """Split hyperparameters into shared scalars and per-copy 1-D arrays."""
    shared, per_copy = {}, {}
    for name, value in hparams.items():
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        if np.ndim(value) == 0:
            shared[name] = value.item() if isinstance(value, np.ndarray | np.generic) else value
            continue
        array = np.asarray(value)
        if array.ndim != 1:
            raise ValueError(f"hparams[{name!r}] must be a scalar or 1-D (one value per copy), got shape "
                             f"{array.shape}")
        if array.dtype == bool:
            raise ValueError(f"hparams[{name!r}] selects a variant of the rule and must be the same for all "
                             f"copies, got {array.tolist()}")
        per_copy[name] = array.astype(np.float64)
    return shared, per_copy


def train_stacked(
    model_fn: Callable[[int], nn.Module],
    seeds: int | Sequence[int],
    rule: str | _rules.Rule,
    data,
    *,
    hparams: Mapping | None = None,
    epochs: int | None = None,
    steps: int | None = None,
    batch_size: int | None = None,
    loss: str | Callable = "cross_entropy",
    schedule: Callable | Sequence[Callable] | None = None,
    schedule_unit: str = "epoch",
    data_seeds: int | Sequence[int] | None = None,
    eval_every: int = 1,
    max_loss: float | None = None,
    progress: bool | None = None,
    threads: int | None = None,
    backend: str = "auto",
) -> StackedHistory:
    r"""Train ``C`` independent copies of ``model_fn(seed)`` at once with the :mod:`lib.rules` rule ``rule``.

    Copy :math:`c` starts from ``model_fn(seeds[c])``, sees the data in the order of ``data_seeds[c]``
    (default ``seeds[c]``) and uses hyperparameters :math:`\eta_c, \beta_c, \dots`; it computes exactly
    what ``train(model_fn(seeds[c]), rule, data, hparams=<copy c's values>, seed=data_seeds[c], ...)`` does.
    All parameters live in one ``(C, P)`` tensor :math:`\Theta`; one stacked update is

    .. math::
        \ell_c = L_{B_{c,k}}(\Theta_c) \text{ (batched matrix products, or vmap)}, \quad
        G = \nabla_\Theta \textstyle\sum_c \ell_c, \quad
        \Theta \leftarrow \Theta + \operatorname{mask} \odot \text{update}(G, \text{state}, \Theta;
        \eta, \dots),

    where per-copy hyperparameters are ``(C, 1)`` tensors that broadcast over a copy's parameters, and the
    mask freezes copies that have diverged (the sum's gradient for copy :math:`c` depends on copy :math:`c`
    only, so a diverged copy does not affect the others).

    Args:
        model_fn: ``seed -> nn.Module`` (e.g. ``lambda s: lib.models.mlp([64, 32, 10], seed=s)``); the module
            must have no buffers that change in training (no batch norm).
        seeds: one seed per copy, or one int for all copies (their number ``C`` then comes from the
            per-copy hyperparameters or schedules).
        rule: a :mod:`lib.rules` name or ``Rule``.
        hparams: name → a scalar (shared) or a length-``C`` sequence/array/tensor (per copy), e.g.
            ``{"eta": torch.logspace(-3, -1, 8), "beta1": 0.9}``. Flags such as ``nesterov`` must be shared.
        schedule: ``s(t) -> lr`` shared by all copies (it may also return a length-``C`` array), or a
            sequence of ``C`` schedules, one per copy, e.g. ``[cosine(lr0, 50) for lr0 in grid]``.
        data_seeds: seeds of the data order (default: ``seeds``).
        backend: how the copies are computed. ``"bmm"``: :class:`lib.models.StackedMLP`, one batched matrix
            product per layer and a hand-written backward pass (an :func:`lib.models.mlp` or an ``nn.Linear``
            with a named loss); ``"vmap"``: ``torch.func.vmap`` of ``functional_call`` (any module without
            buffers, any loss); ``"autograd"``: ``StackedMLP``'s forward with autograd's backward (measured in
            ``benchmarks/stacked_training.py``); ``"auto"`` (default): ``"bmm"`` where it applies, else
            ``"vmap"``. All give the same numbers up to rounding.
        The other arguments are those of :func:`train`.

    References:
        PyTorch documentation, "Model ensembling" (``torch.func``); Robbins & Monro (1951).
    """
    if not callable(model_fn):
        raise ValueError(f"model_fn must be a callable seed -> nn.Module, got {model_fn!r}")
    _check_schedule(schedule, schedule_unit)
    rule, checked = _resolve_rule(rule, hparams, schedule)
    shared, per_copy = _per_copy(checked)
    n_schedules = len(schedule) if schedule is not None and not callable(schedule) else None
    sizes = {len(v) for v in per_copy.values()} | ({n_schedules} if n_schedules is not None else set())
    if np.ndim(seeds) == 0:
        seeds = int(seeds)
    else:
        seeds = [int(s) for s in seeds]
        sizes.add(len(seeds))
    if len(sizes) > 1:
        raise ValueError(f"seeds, per-copy hparams and schedules must have one length C, got lengths {sorted(sizes)}")
    n_copies = sizes.pop() if sizes else 1
    if n_copies < 1:
        raise ValueError("need at least one copy, got 0")
    seeds = [seeds] * n_copies if isinstance(seeds, int) else seeds
    if data_seeds is None:
        data_seeds = seeds
    elif np.ndim(data_seeds) == 0:
        data_seeds = [int(data_seeds)] * n_copies
    else:
        data_seeds = [int(s) for s in data_seeds]
        if len(data_seeds) != n_copies:
            raise ValueError(f"data_seeds must have length C={n_copies}, got {len(data_seeds)}")
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {list(_BACKENDS)}, got {backend!r}")
    loss_fn = _resolve_loss(loss)
    models = [model_fn(s) for s in seeds]
    if not all(isinstance(m, nn.Module) for m in models):
        raise ValueError("model_fn must return a torch.nn.Module")
    bmm_ok = StackedMLP.supports(models[0]) and loss_fn.name in _losses.LOSSES
    if backend == "auto":
        backend = "bmm" if bmm_ok else "vmap"
    elif backend != "vmap" and not bmm_ok:
        raise ValueError(f"backend {backend!r} needs an mlp or nn.Linear and a named loss; use 'vmap' or 'auto'")
    first = next(models[0].parameters())
    tensors = _prepare_data(data, loss_fn.classification, first.dtype, first.device)
    plan = _plan(len(tensors[0]), batch_size, epochs, steps, eval_every)
    with num_threads(threads) if threads is not None else nullcontext():
        return _train_stacked(
            models, seeds, data_seeds, rule, shared, per_copy, hparams or {}, tensors, plan, loss_fn,
            schedule, schedule_unit, max_loss, progress, backend,
        )


class _VmapEngine:
    """Any module without changing buffers: ``vmap`` of ``functional_call`` over the ``(C, P)`` leaf, autograd."""

    def __init__(self, base: nn.Module, theta: torch.Tensor, buffers, names, shapes, loss_fn: _losses.Loss):
        C = theta.shape[0]
        bounds = np.cumsum([0] + [math.prod(s) for s in shapes]).tolist()
        self.theta = theta.detach().requires_grad_(True)  # shares theta's storage
        self.buffers = buffers

        def unflatten(flat):
            return {k: flat[:, a:b].view(C, *s)
                    for k, a, b, s in zip(names, bounds[:-1], bounds[1:], shapes, strict=True)}

        def forward(p, b, x):
            return functional_call(base, (p, b), (x,))

        self.unflatten = unflatten
        self.batched = vmap(forward, in_dims=(0, 0, 0))
        self.shared = vmap(forward, in_dims=(0, 0, None))
        self.stacked_loss = loss_fn.stacked

    def forward(self, x, shared: bool):
        p = self.unflatten(self.theta if torch.is_grad_enabled() else self.theta.detach())
        return (self.shared if shared else self.batched)(p, self.buffers, x)

    def loss_and_grad(self, x, y, shared: bool):
        with torch.enable_grad():
            values = self.stacked_loss(self.forward(x, shared), y)
            (grad,) = torch.autograd.grad(values.sum(), self.theta)
        return values.detach(), grad


class _BmmEngine:
    """An mlp or ``nn.Linear``: :class:`lib.models.StackedMLP`, hand-written backward (``autograd=False``)."""

    def __init__(self, base: nn.Module, theta: torch.Tensor, loss_fn: _losses.Loss, autograd: bool):
        self.base, self.theta, self.autograd = base, theta, autograd
        self.net = StackedMLP(base, theta)
        self.stacked_loss = loss_fn.stacked
        self.cross_entropy = loss_fn.stacked is _losses.stacked_cross_entropy

    def forward(self, x, shared: bool):
        return self.net.forward(x)

    def loss_and_grad(self, x, y, shared: bool):
        if self.autograd:  # views of the leaf taken anew for every graph
            with torch.enable_grad():
                theta = self.theta.detach().requires_grad_(True)
                values = self.stacked_loss(StackedMLP(self.base, theta).forward(x), y)
                (grad,) = torch.autograd.grad(values.sum(), theta)
            return values.detach(), grad
        out, inputs = self.net.forward(x, keep=True)
        if self.cross_entropy:
            values, delta = _losses.stacked_cross_entropy_and_grad(out, y)
        else:  # the loss's own gradient by autograd on the outputs only
            with torch.enable_grad():
                out = out.requires_grad_(True)
                values = self.stacked_loss(out, y)
                (delta,) = torch.autograd.grad(values.sum(), out)
            values = values.detach()
        return values, self.net.backward(inputs, delta)


_BACKENDS = ("auto", "bmm", "vmap", "autograd")


def _fusable(rule: _rules.Rule) -> bool:
    r"""Whether ``rule.update`` declares ``inplace`` (as :mod:`lib.rules` and ``lib.arena.combine`` do).

    Such a rule can overwrite its state and add its step into :math:`\Theta` itself (``inplace=True``: no
    full-size step array); a wrapper that takes ``**hparams`` (e.g. one that records the step) gets the step.
    """
    try:
        parameter = inspect.signature(rule.update).parameters.get("inplace")
    except (TypeError, ValueError):
        return False
    return parameter is not None and parameter.kind in (inspect.Parameter.KEYWORD_ONLY,
                                                        inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _train_stacked(models, seeds, data_seeds, rule, shared, per_copy, given, tensors, plan, loss_fn, schedule,
                   schedule_unit, max_loss, progress, backend) -> StackedHistory:
    start = time.perf_counter()
    X_train, y_train, X_test, y_test = tensors
    C = len(models)
    params, buffers = stack_module_state(models)
    names = list(params)
    shapes = [params[k].shape[1:] for k in names]
    # one (C, P) tensor: the rule then runs once per update on all parameters of all copies
    theta = torch.cat([params[k].detach().reshape(C, -1) for k in names], dim=1)
    dtype, device = theta.dtype, theta.device
    base = copy.deepcopy(models[0])
    del models, params
    if backend == "vmap":
        engine = _VmapEngine(base.to("meta"), theta, buffers, names, shapes, loss_fn)
    else:
        engine = _BmmEngine(base, theta, loss_fn, autograd=backend == "autograd")
    bounds = np.cumsum([0] + [math.prod(s) for s in shapes]).tolist()

    def full_eval(X, y) -> list[torch.Tensor]:
        out = engine.forward(X, shared=True)
        acc = _losses.stacked_accuracy(out, y) if loss_fn.classification else torch.full((C,), math.nan, dtype=dtype)
        return [loss_fn.stacked(out, y.expand(C, *y.shape)), acc]

    hp = dict(shared)
    hp.update({k: torch.as_tensor(v, dtype=dtype, device=device).reshape(C, 1) for k, v in per_copy.items()})
    eta = hp.pop("eta", None)

    def lr_at(epoch: int, step: int):
        if schedule is None:
            return eta
        t = epoch if schedule_unit == "epoch" else step
        values = [s(t) for s in schedule] if not callable(schedule) else schedule(t)
        if np.ndim(values) == 0:
            return float(values)
        return torch.as_tensor(np.asarray(values, dtype=np.float64), dtype=dtype, device=device).reshape(C, 1)

    state = rule.init(theta.detach())
    fused = _fusable(rule)
    generators = [torch.Generator().manual_seed(s) for s in data_seeds]
    nan = torch.tensor(math.nan, dtype=torch.float64)
    losses, lrs, times, eval_rows = [], [], [], []
    active = torch.ones(C, dtype=torch.bool, device=device)
    diverged_at = torch.full((C,), -1, dtype=torch.int64)
    n_live = C

    def bad(values: torch.Tensor) -> torch.Tensor:
        out = ~torch.isfinite(values)
        return out | (values > max_loss) if max_loss is not None else out

    def evaluate(step: int) -> None:
        nonlocal n_live
        with torch.no_grad():
            rows = full_eval(X_train, y_train)
            rows += full_eval(X_test, y_test) if X_test is not None else [
                torch.full((C,), math.nan, dtype=dtype, device=device)] * 2
        rows = torch.stack(rows).to(torch.float64).cpu()
        newly = active.cpu() & bad(rows[0])
        diverged_at[newly] = step
        active.logical_and_(~newly.to(device))
        n_live = int(active.sum())
        eval_rows.append(torch.where(active.cpu(), rows, nan))

    evaluate(0)
    done = 0
    X_order = y_order = None
    with torch.no_grad(), _bar(progress, plan.total, f"{rule.name} ×{C}") as bar:
        for epoch, i, step, due in plan.updates():
            if n_live == 0:
                break
            if i == 0 and plan.shuffled:  # each copy's data in its order, once per epoch: batches are then views
                order = torch.stack([torch.randperm(plan.n, generator=g) for g in generators]).to(device)
                X_order, y_order = X_train[order], y_train[order]
            lr = lr_at(epoch, step)
            t0 = time.perf_counter()
            if plan.shuffled:
                batch = plan.batch(i)
                values, grad = engine.loss_and_grad(X_order[:, batch], y_order[:, batch], shared=False)
            else:
                values, grad = engine.loss_and_grad(X_train, y_train.expand(C, *y_train.shape), shared=True)
            # one reduction and one sync per update while every copy is live; per-copy checks after that
            worst = values.max().item() if n_live == C else math.nan
            if not (math.isfinite(worst) and (max_loss is None or worst <= max_loss)):
                newly = active & bad(values)
                if bool(newly.any()):
                    diverged_at[newly.cpu()] = step
                    active.logical_and_(~newly)
                    n_live = int(active.sum())
                    if n_live == 0:
                        break
            try:
                if fused and n_live == C:  # the rule overwrites its state and adds its step into theta
                    _, state = rule.update(grad, state, theta, eta=lr, inplace=True, **hp)
                else:  # a custom rule (it may look at its step), or frozen copies that must not move
                    delta, state = rule.update(grad, state, theta, eta=lr, **hp)
                    theta.add_(delta if n_live == C else torch.where(active[:, None], delta, 0.0))
            except RuntimeError as error:
                if "Boolean value of Tensor" not in str(error):
                    raise
                raise ValueError(f"rule {rule.name!r} branches on one of the per-copy hyperparameters "
                                 f"{sorted(per_copy)}; pass that one as a scalar shared by all copies") from None
            _sync(device)
            times.append(time.perf_counter() - t0)
            losses.append(values)
            lrs.append(lr)
            done = step + 1
            bar.update()
            if due:
                evaluate(step + 1)
                bar.set_postfix(live=n_live, refresh=False)
    # a copy's entries from its divergence on are NaN
    stopped = np.where(diverged_at.numpy() >= 0, diverged_at.numpy(), done)[:, None] <= np.arange(done)
    loss_log = torch.stack(losses, dim=1).to(torch.float64).cpu().numpy() if losses else np.zeros((C, 0))
    lr_log = np.stack([np.broadcast_to(lr.double().cpu().numpy().reshape(-1) if isinstance(lr, torch.Tensor)
                                       else np.float64(lr), (C,)) for lr in lrs], axis=1) if lrs else np.zeros((C, 0))
    loss_log[stopped], lr_log[stopped] = np.nan, np.nan
    # When every copy diverged the loop stopped early: the evaluations it did not reach are NaN, so the arrays keep
    # the shape (C, E) of the planned run.
    planned = [0] + [step + 1 for _, _, step, due in plan.updates() if due]
    eval_rows += [torch.full((4, C), math.nan, dtype=torch.float64)] * (len(planned) - len(eval_rows))
    table = torch.stack(eval_rows, dim=1).numpy()  # (4, E, C)
    eval_step = np.array(planned, dtype=np.int64)
    final = {k: theta[:, a:b].reshape(C, *s).clone()
             for k, a, b, s in zip(names, bounds[:-1], bounds[1:], shapes, strict=True)}
    records = {k: per_copy[k] if k in per_copy else np.full(C, shared[k]) for k in given}
    return StackedHistory(
        loss=loss_log,
        lr=lr_log,
        time=np.array(times, dtype=np.float64),
        eval_step=eval_step,
        epoch=eval_step / plan.updates_per_epoch,
        train_loss=table[0].T.copy(),
        train_acc=table[1].T.copy(),
        test_loss=table[2].T.copy(),
        test_acc=table[3].T.copy(),
        diverged=(diverged_at >= 0).numpy(),
        diverged_at=diverged_at.numpy(),
        seeds=np.array(seeds, dtype=np.int64),
        data_seeds=np.array(data_seeds, dtype=np.int64),
        hparams=records,
        params=final,
        batch_size=plan.batch_size,
        updates_per_epoch=plan.updates_per_epoch,
        seconds=time.perf_counter() - start,
    )
