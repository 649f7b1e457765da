r"""The optimizer arena: hyperparameter grids and several optimizers as one stacked run, tuned on held-out data.

A fair comparison of optimizers tunes each one's learning rate on the same grid, repeats every setting over
several seeds and picks the learning rate on data the optimizer did not train on:

.. math::
    \eta^\star_o = \arg\min_{\eta \in \mathcal G}\ \frac1{|S|} \sum_{s \in S}
    L_\text{val}\bigl(\theta_{o,\eta,s}^{T}\bigr),

where :math:`\theta_{o,\eta,s}^{T}` are the parameters after :math:`T` updates of optimizer :math:`o` with
learning rate :math:`\eta` from seed :math:`s`. An :math:`\eta` for which any seed diverged is not eligible.
The arena then reports, at :math:`\eta^\star_o`, the mean and the spread over the seeds of the final training
loss, validation loss and test accuracy (:func:`arena`), or on 2-D surfaces the loss gap reached from every
start (:func:`surface_arena`).

Every grid of a network is **one stacked run** of :func:`lib.train.train_stacked`: a copy per (optimizer,
:math:`\eta`, seed). Different optimizers share one run through :func:`combine`, a :class:`lib.rules.Rule`
that applies each optimizer's rule to its own block of copies; each copy still computes exactly what it would
alone. :func:`grid_run` trains the full factorial of any hyperparameters of one rule the same way;
:func:`holdout` splits off the validation data and :func:`evaluate` scores stacked parameters on any data.

Used by the chapters "Adam" (:mod:`lib.lessons.adam`) and "After Adam" (:mod:`lib.lessons.after_adam`).

References:
    R. M. Schmidt, F. Schneider and P. Hennig, "Descending through a crowded valley: benchmarking deep learning
    optimizers", ICML 2021 (tuning protocol: a fixed budget, a grid per optimizer, several seeds).
    PyTorch documentation, "Model ensembling" (``torch.func.stack_module_state``, ``vmap``).
"""

from __future__ import annotations

import itertools
import math
import numbers
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from torch.func import functional_call, vmap

from lib import losses, stats
from lib import rules as _rules
from lib import surfaces as lib_surfaces
from lib.data import Dataset
from lib.iterate import resolve_rule
from lib.train import train_stacked
from lib.trajectories import run

__all__ = [
    "ArenaResult",
    "Contender",
    "arena",
    "arena_at",
    "combine",
    "compare",
    "evaluate",
    "grid_run",
    "holdout",
    "surface_arena",
]

# ------------------------------------------------------------------------------------------------ contenders


class Contender(NamedTuple):
    """One optimizer of an arena: a label, a rule of :data:`lib.rules.RULES` (or a ``Rule``) and its fixed
    hyperparameters (everything but ``eta``, which the arena tunes)."""

    label: str
    rule: str | _rules.Rule
    hparams: Mapping = {}


def _rule(rule) -> _rules.Rule:
    return resolve_rule(rule)


def _contenders(contenders) -> list[Contender]:
    out = [c if isinstance(c, Contender) else Contender(*c) for c in contenders]
    if not out:
        raise ValueError("Invalid contenders: need at least one")
    labels = [c.label for c in out]
    if len(set(labels)) != len(labels):
        raise ValueError(f"Invalid contenders: labels must be distinct, got {labels}")
    for c in out:
        rule = _rule(c.rule)
        unknown = sorted(set(c.hparams) - set(rule.defaults))
        if unknown:
            raise ValueError(f"Invalid hparams of {c.label!r}: {unknown} are not hyperparameters of rule "
                             f"{rule.name!r} (expected some of {sorted(rule.defaults)}; eta is tuned)")
    return out


# ------------------------------------------------------------------------------------- several rules, one stack


def _concat(parts):
    if _rules._is_tensor(parts[0]):
        return sys.modules["torch"].cat(parts)
    return np.concatenate(parts)


def combine(blocks: Sequence[tuple[str | _rules.Rule, Mapping, int]], name: str = "combined") -> _rules.Rule:
    r"""One :class:`lib.rules.Rule` that applies several rules to consecutive blocks of stacked copies.

    ``blocks`` is a sequence of ``(rule, fixed hyperparameters, number of copies)``. Block :math:`k` is the rows
    :math:`[a_k, a_{k+1})` of the stacked parameters (shape ``(C, P)``, one row per copy, as in
    :func:`lib.train.train_stacked`); its update is

    .. math:: \Delta_{[a_k, a_{k+1})} = \text{update}_k\bigl(g_{[a_k, a_{k+1})}, s_k, \theta_{[a_k, a_{k+1})};
        \eta_{[a_k, a_{k+1})}, \text{hparams}_k\bigr),

    so every copy computes exactly what its own rule computes, and a whole arena trains as one stacked run
    (one forward and backward pass per update for all optimizers). ``eta`` and any continuous hyperparameter
    that is not fixed by a block may be passed at update time, as a scalar or one value per copy (shape
    ``(C, 1)``); a block receives its rows of it if its rule has that hyperparameter and ignores it otherwise.
    Not for :func:`lib.trajectories.run`, whose stack is coordinate-major (rows are coordinates, not copies).

    References:
        PyTorch documentation, "Model ensembling" (``torch.func.stack_module_state``, ``vmap``).
    """
    parts = []
    for rule, hparams, size in blocks:
        rule = _rule(rule)
        hparams = dict(hparams)
        unknown = sorted(set(hparams) - set(rule.defaults))
        if unknown:
            raise ValueError(f"Invalid hparams for rule {rule.name!r}: {unknown}")
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise ValueError(f"Invalid number of copies for rule {rule.name!r}: {size!r} (must be >= 1)")
        parts.append((rule, hparams, int(size)))
    if not parts:
        raise ValueError("Invalid blocks: need at least one")
    bounds = np.cumsum([0] + [size for *_, size in parts]).tolist()
    # what may still vary per copy: the hyperparameters some block's rule has and does not fix
    free = {k: v for rule, hparams, _ in parts for k, v in rule.defaults.items() if k not in hparams}

    def _check(theta):
        if len(theta) != bounds[-1]:
            raise ValueError(f"Invalid stack: {len(theta)} copies, the blocks have {bounds[-1]}")

    def init(theta):
        _check(theta)
        return tuple(rule.init(theta[a:b]) for (rule, *_), a, b in zip(parts, bounds[:-1], bounds[1:], strict=True))

    def update(g, state, theta, *, eta, inplace=False, **given):
        _check(theta)
        steps, states = [], []
        for (rule, hparams, _), a, b, s in zip(parts, bounds[:-1], bounds[1:], state, strict=True):
            mine = {k: v[a:b] if np.ndim(v) > 0 else v for k, v in given.items()
                    if k in rule.defaults and k not in hparams}
            step, s = rule.update(g[a:b], s, theta[a:b], eta=eta[a:b] if np.ndim(eta) > 0 else eta,
                                  inplace=inplace, **hparams, **mine)
            steps.append(step)
            states.append(s)
        return (None if inplace else _concat(steps)), tuple(states)  # inplace: each block stepped its view of theta

    label = " | ".join(rule.label for rule, *_ in parts)
    return _rules.Rule(name, label, init, update, free)


# --------------------------------------------------------------------------------------------------- data


def holdout(data, fraction: float = 0.2, seed: int = 0):
    r"""Split off a validation set from the training part of a :class:`lib.data.Dataset`.

    Returns ``(fit, test)``: ``fit`` is a ``Dataset`` whose ``X_train, y_train`` are the remaining training
    examples and whose ``X_test, y_test`` are the validation examples (so :func:`lib.train.train_stacked`
    reports validation loss and accuracy as its "test" values), and ``test`` the untouched test part. The split
    is stratified by label when the targets are integers (a fixed share of every class), seeded, and the same
    for every copy of a run.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"Invalid fraction: {fraction} (must be in (0, 1))")
    X, y = data.X_train, data.y_train
    rng = np.random.default_rng(seed)
    labels = y.numpy() if not y.is_floating_point() else np.zeros(len(y), dtype=np.int64)
    val = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        val.extend(rng.choice(idx, size=round(fraction * len(idx)), replace=False).tolist())
    val = np.sort(np.array(val, dtype=np.int64))
    if len(val) == 0 or len(val) == len(y):
        raise ValueError(f"Invalid fraction: {fraction} leaves an empty part of {len(y)} examples")
    fit = np.setdiff1d(np.arange(len(y)), val)
    val_t, fit_t = torch.as_tensor(val), torch.as_tensor(fit)
    test = Dataset(data.X_test, data.y_test) if data.X_test is not None else None
    return Dataset(X[fit_t], y[fit_t], X[val_t], y[val_t]), test


def evaluate(model_fn: Callable, params: Mapping, X, y, loss: str = "cross_entropy") -> tuple[np.ndarray, np.ndarray]:
    r"""Loss and accuracy ``(C,)`` of each copy of stacked parameters (``StackedHistory.params``) on ``(X, y)``.

    The copies are evaluated together: ``vmap`` of ``functional_call`` over the copy axis of ``params``, the
    losses by :mod:`lib.losses` (``stacked_cross_entropy``, ``stacked_mse_loss``, ``stacked_accuracy``).
    Accuracy is ``NaN`` unless ``loss="cross_entropy"``.
    """
    base = model_fn(0)
    dtype = next(base.parameters()).dtype
    X = torch.as_tensor(X).to(dtype)
    y = torch.as_tensor(y)
    with torch.no_grad():
        out = vmap(lambda p, x: functional_call(base, p, (x,)), in_dims=(0, None))(dict(params), X)
        C = out.shape[0]
        if loss == "cross_entropy":
            values = losses.stacked_cross_entropy(out, y.long())
            acc = losses.stacked_accuracy(out.double(), y.long())
        elif loss == "mse":
            values = losses.stacked_mse_loss(out, y)
            acc = torch.full((C,), math.nan, dtype=torch.float64)
        else:
            raise ValueError(f"Invalid loss: {loss!r} (expected 'cross_entropy' or 'mse')")
    return values.double().numpy(), acc.double().numpy()


# ------------------------------------------------------------------------------------------------- grids


def _factorial(grid: Mapping[str, Sequence]) -> list[dict]:
    names = list(grid)
    for name, values in grid.items():
        if np.ndim(values) != 1 or len(values) == 0:
            raise ValueError(f"Invalid grid[{name!r}]: {values!r} (must be a non-empty 1-D sequence)")
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(grid[n] for n in names))]


def _seeds(seeds) -> list[int]:
    seeds = [int(s) for s in np.atleast_1d(seeds)]
    if not seeds:
        raise ValueError("Invalid seeds: need at least one")
    return seeds


def _spread(values: np.ndarray) -> tuple[float, float, float, float]:
    """Mean, standard deviation, min and max over the seeds (NaN-free input)."""
    if values.size == 0:
        return (math.nan,) * 4
    return float(values.mean()), float(values.std()), float(values.min()), float(values.max())


def grid_run(model_fn: Callable, data, rule: str | _rules.Rule, grid: Mapping[str, Sequence], seeds, *,
             hparams: Mapping | None = None, last: int = 1, **train_kwargs) -> tuple[pd.DataFrame, object]:
    r"""Train the full factorial of ``grid`` (hyperparameter name → values) × ``seeds`` as one stacked run.

    Copy order: the settings of ``itertools.product`` over ``grid`` in its order, each repeated for every
    seed (seeds vary fastest). ``hparams`` are fixed hyperparameters shared by all copies; ``train_kwargs`` go
    to :func:`lib.train.train_stacked` (``epochs``, ``batch_size``, ``eval_every``, ``max_loss``,
    ``threads``, …). Returns a tidy ``DataFrame`` with one row per copy (the grid's columns, ``seed``,
    ``train_loss``, ``train_acc``, ``test_loss``, ``test_acc``, ``diverged``) and the
    :class:`lib.train.StackedHistory`. The four measurements are the median over the ``last`` evaluations (the
    last one alone by default): at a large learning rate the loss of one evaluation can sit on a spike, and
    the median of a few is a steadier summary of where the run ended. They are ``NaN`` for a diverged copy.
    """
    if isinstance(last, bool) or not isinstance(last, numbers.Integral) or last < 1:
        raise ValueError(f"Invalid last: {last!r} (must be an integer >= 1)")
    settings = _factorial(grid)
    seeds = _seeds(seeds)
    fixed = dict(hparams or {})
    overlap = sorted(set(fixed) & set(grid))
    if overlap:
        raise ValueError(f"Invalid hparams: {overlap} are also in the grid")
    copies = [(setting, s) for setting in settings for s in seeds]
    per_copy = {name: [setting[name] for setting, _ in copies] for name in grid}
    history = train_stacked(model_fn, [s for _, s in copies], rule, data, hparams={**fixed, **per_copy},
                            **train_kwargs)
    if last > len(history.eval_step):
        raise ValueError(f"Invalid last: {last} (the run made {len(history.eval_step)} evaluations)")
    rows = []
    for c, (setting, s) in enumerate(copies):
        diverged = bool(history.diverged[c])
        row = {**setting, "seed": s}
        for name in ("train_loss", "train_acc", "test_loss", "test_acc"):
            row[name] = math.nan if diverged else float(np.median(getattr(history, name)[c, -last:]))
        rows.append({**row, "diverged": diverged})
    return pd.DataFrame(rows), history


# ------------------------------------------------------------------------------------------------- arena


@dataclass(frozen=True, eq=False)
class ArenaResult:
    """What :func:`arena` measured.

    Attributes:
        table: one row per contender at its selected η: ``optimizer``, ``eta``, ``at_edge`` (the selected η is
            the smallest or largest of the grid: the grid may not contain the optimum), then for ``train_loss``,
            ``val_loss``, ``val_acc``, ``test_loss``, ``test_acc`` the mean over seeds and ``<name>_std``,
            ``<name>_min``, ``<name>_max``; ``diverged`` (copies of the grid that diverged, all η).
        grid: one row per (contender, η): the mean over seeds of the same quantities, ``diverged`` (seeds that
            diverged at this η) and ``eligible``.
        copies: one row per copy (contender, η, seed) with its final values.
        histories: contender label → its :class:`lib.train.StackedHistory` (the same object for all
            contenders when they were trained together) and ``rows``, contender label → its copies' indices.
        seconds: wall-clock seconds of the training runs.
    """

    table: pd.DataFrame
    grid: pd.DataFrame
    copies: pd.DataFrame
    histories: dict
    rows: dict
    seconds: float

    def curves(self, label: str, field: str = "train_loss") -> tuple[np.ndarray, np.ndarray]:
        """``(epoch (E,), values (S, E))``: ``field`` of every seed at the selected η of ``label``."""
        history = self.histories[label]
        eta = float(self.table.loc[self.table["optimizer"] == label, "eta"].iloc[0])
        idx = self.copies.index[(self.copies["optimizer"] == label) & (self.copies["eta"] == eta)]
        return history.epoch, getattr(history, field)[self.copies.loc[idx, "row"].to_numpy()]


_CRITERIA = {"val_loss": "val_loss", "train_loss": "train_loss", "val_acc": "val_acc"}
_METRICS = ("train_loss", "val_loss", "val_acc", "test_loss", "test_acc")


def arena(
    model_fn: Callable,
    data,
    contenders: Sequence[Contender | tuple],
    etas: Sequence[float],
    seeds: Sequence[int] = (0, 1, 2),
    *,
    criterion: str = "val_loss",
    val_fraction: float = 0.2,
    split_seed: int = 0,
    together: bool = True,
    loss: str = "cross_entropy",
    **train_kwargs,
) -> ArenaResult:
    r"""Tune every contender's learning rate on the grid ``etas`` and compare them at their best.

    The training part of ``data`` (a :class:`lib.data.Dataset`) is split by :func:`holdout` into a part to fit
    and a validation part (``val_fraction`` of it). Every (contender, :math:`\eta`, seed) is one copy of
    :func:`lib.train.train_stacked` (``train_kwargs``: ``epochs`` or ``steps``, ``batch_size``, ``max_loss``,
    ``eval_every``, ``threads``, …): with ``together=True`` all contenders in one stacked run through
    :func:`combine`, else one stacked run per contender. The selected :math:`\eta` minimizes the mean over
    seeds of ``criterion`` after the last update (``"val_loss"``, ``"train_loss"``, or ``"val_acc"``,
    maximized) among the :math:`\eta` for which no seed diverged; the untouched test part is evaluated at the
    end (:func:`evaluate`). Ties go to the smaller :math:`\eta`.

    Returns an :class:`ArenaResult`.
    """
    if criterion not in _CRITERIA:
        raise ValueError(f"Invalid criterion: {criterion!r} (expected one of {sorted(_CRITERIA)})")
    contenders = _contenders(contenders)
    etas = np.asarray(etas, dtype=np.float64)
    if etas.ndim != 1 or etas.size == 0 or np.any(~(etas > 0)) or np.any(np.diff(etas) <= 0):
        raise ValueError(f"Invalid etas: {etas} (must be positive and increasing)")
    seeds = _seeds(seeds)
    fit, test = holdout(data, val_fraction, split_seed)
    for key in ("hparams", "seeds", "rule"):
        if key in train_kwargs:
            raise ValueError(f"Invalid argument {key!r}: the arena sets it")
    per = len(etas) * len(seeds)
    copy_eta = np.repeat(etas, len(seeds)).tolist()
    copy_seed = seeds * len(etas)
    start = time.perf_counter()
    histories, rows = {}, {}
    if together:
        rule = combine([(c.rule, c.hparams, per) for c in contenders], name="arena")
        history = train_stacked(model_fn, copy_seed * len(contenders), rule, fit,
                                hparams={"eta": copy_eta * len(contenders)}, loss=loss, **train_kwargs)
        for k, c in enumerate(contenders):
            histories[c.label], rows[c.label] = history, np.arange(k * per, (k + 1) * per)
    else:
        for c in contenders:
            histories[c.label] = train_stacked(model_fn, copy_seed, c.rule, fit,
                                               hparams={**c.hparams, "eta": copy_eta}, loss=loss, **train_kwargs)
            rows[c.label] = np.arange(per)
    seconds = time.perf_counter() - start

    records = []
    for c in contenders:
        h, idx = histories[c.label], rows[c.label]
        if test is not None:
            test_loss, test_acc = evaluate(model_fn, {k: v[idx] for k, v in h.params.items()}, test.X_train,
                                           test.y_train, loss)
        else:
            test_loss = test_acc = np.full(len(idx), math.nan)
        for j, r in enumerate(idx):
            diverged = bool(h.diverged[r])
            records.append({
                "optimizer": c.label, "eta": copy_eta[j], "seed": copy_seed[j], "row": int(r),
                "train_loss": h.train_loss[r, -1], "val_loss": h.test_loss[r, -1], "val_acc": h.test_acc[r, -1],
                "test_loss": math.nan if diverged else test_loss[j], "test_acc": math.nan if diverged else test_acc[j],
                "diverged": diverged,
            })
    copies = pd.DataFrame(records)

    grid_rows, table_rows = [], []
    sign = -1.0 if criterion == "val_acc" else 1.0
    for c in contenders:
        mine = copies[copies["optimizer"] == c.label]
        best, best_score = None, math.inf
        for eta in etas:
            at = mine[mine["eta"] == eta]
            n_div = int(at["diverged"].sum())
            row = {"optimizer": c.label, "eta": eta, "diverged": n_div, "eligible": n_div == 0}
            for m in _METRICS:
                row[m] = float(at[m].mean()) if n_div == 0 else math.nan
            grid_rows.append(row)
            score = sign * row[_CRITERIA[criterion]]
            if n_div == 0 and math.isfinite(score) and score < best_score:
                best, best_score = eta, score
        row = {"optimizer": c.label, "eta": best if best is not None else math.nan,
               "at_edge": best is not None and best in (etas[0], etas[-1])}
        chosen = mine[mine["eta"] == best] if best is not None else mine.iloc[:0]
        for m in _METRICS:
            mean, std, lo, hi = _spread(chosen[m].to_numpy(dtype=np.float64))
            row.update({m: mean, f"{m}_std": std, f"{m}_min": lo, f"{m}_max": hi})
        row["diverged"] = int(mine["diverged"].sum())
        table_rows.append(row)
    return ArenaResult(pd.DataFrame(table_rows), pd.DataFrame(grid_rows), copies, histories, rows, seconds)


def arena_at(
    model_fn: Callable,
    data,
    contenders: Sequence[Contender | tuple],
    etas: Mapping[str, float],
    seeds: Sequence[int],
    *,
    val_fraction: float = 0.2,
    split_seed: int = 0,
    loss: str = "cross_entropy",
    **train_kwargs,
) -> pd.DataFrame:
    r"""Every contender at one learning rate of its own (``etas``: label → :math:`\eta`, e.g. the ones
    :func:`arena` selected) over many ``seeds``, as one stacked run through :func:`combine`.

    This is the second half of a fair comparison: tune :math:`\eta` on the grid with a few seeds, then measure
    the tuned optimizers on more seeds, enough for an interval (:func:`compare`). The data are split as in
    :func:`arena` (same ``val_fraction`` and ``split_seed``), so the runs train on the same examples; seed
    :math:`s` gives every contender the same initial weights and the same order of mini-batches (paired runs).
    Returns one row per copy: ``optimizer``, ``eta``, ``seed``, ``train_loss``, ``val_loss``, ``val_acc``,
    ``test_loss``, ``test_acc`` (``NaN`` when diverged), ``diverged``.
    """
    contenders = _contenders(contenders)
    missing = sorted({c.label for c in contenders} - set(etas))
    if missing:
        raise ValueError(f"Invalid etas: no learning rate for {missing}")
    for label in etas:
        if not float(etas[label]) > 0:
            raise ValueError(f"Invalid etas: {etas[label]} for {label!r} (must be positive)")
    for key in ("hparams", "seeds", "rule"):
        if key in train_kwargs:
            raise ValueError(f"Invalid argument {key!r}: the arena sets it")
    seeds = _seeds(seeds)
    fit, test = holdout(data, val_fraction, split_seed)
    per = len(seeds)
    rule = combine([(c.rule, c.hparams, per) for c in contenders], name="arena")
    copy_eta = [float(etas[c.label]) for c in contenders for _ in seeds]
    h = train_stacked(model_fn, seeds * len(contenders), rule, fit, hparams={"eta": copy_eta}, loss=loss,
                      **train_kwargs)
    if test is not None:
        test_loss, test_acc = evaluate(model_fn, h.params, test.X_train, test.y_train, loss)
    else:
        test_loss = test_acc = np.full(len(copy_eta), math.nan)
    rows = []
    for k, c in enumerate(contenders):
        for j, s in enumerate(seeds):
            r = k * per + j
            diverged = bool(h.diverged[r])
            rows.append({"optimizer": c.label, "eta": copy_eta[r], "seed": s, "train_loss": h.train_loss[r, -1],
                         "val_loss": h.test_loss[r, -1], "val_acc": h.test_acc[r, -1],
                         "test_loss": math.nan if diverged else float(test_loss[r]),
                         "test_acc": math.nan if diverged else float(test_acc[r]), "diverged": diverged})
    return pd.DataFrame(rows)


def compare(copies: pd.DataFrame, reference: str, metric: str = "test_acc", *, by: str = "optimizer",
            confidence: float = 0.95) -> pd.DataFrame:
    r"""Each setting against ``reference``: the mean of ``metric`` and the paired difference to the reference.

    ``copies`` has one row per (setting, seed) with columns ``by``, ``seed`` and ``metric`` (as returned by
    :func:`arena_at` or ``ArenaResult.copies`` at one :math:`\eta`). The difference
    :math:`\bar d = \frac1n \sum_s (a_s - r_s)` over the seeds both have is given with Student's
    t-interval (:func:`lib.stats.paired_difference`; paired because seed :math:`s` shares the initialization and
    the data order); a seed whose value is ``NaN`` (a diverged copy) is left out of that pair. Returns one row
    per setting, indexed by it: ``mean``, ``diff``, ``low``, ``high``, ``n``,
    ``detected`` (the interval excludes zero); the reference's row has ``diff = 0`` and no interval.
    """
    for column in (by, "seed", metric):
        if column not in copies:
            raise ValueError(f"Invalid copies: no column {column!r}")
    values = {name: dict(zip(g["seed"], g[metric], strict=True)) for name, g in copies.groupby(by, sort=False)}
    if reference not in values:
        raise ValueError(f"Invalid reference: {reference!r} (expected one of {sorted(values)})")
    ref = values[reference]
    rows = []
    for name, vals in values.items():
        row = {by: name, "mean": float(np.nanmean(list(vals.values())))}
        if name == reference:
            row.update({"diff": 0.0, "low": math.nan, "high": math.nan, "n": len(vals), "detected": False})
        else:
            seeds = [s for s in vals if s in ref and math.isfinite(vals[s]) and math.isfinite(ref[s])]
            if len(seeds) < 2:
                raise ValueError(f"Invalid copies: {name!r} and {reference!r} share {len(seeds)} finite seeds "
                                 "(need at least 2 for an interval)")
            d = stats.paired_difference({s: vals[s] for s in seeds}, {s: ref[s] for s in seeds}, confidence)
            row.update({"diff": d.mean, "low": d.low, "high": d.high, "n": d.n, "detected": d.excludes_zero})
        rows.append(row)
    return pd.DataFrame(rows).set_index(by)


def surface_arena(
    surfaces: Sequence,
    contenders: Sequence[Contender | tuple],
    etas: Sequence[float],
    steps: int,
    *,
    starts: Sequence | None = None,
    bound: float = 1e6,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    r"""The arena on 2-D surfaces: every contender, every :math:`\eta` of the grid, from every start.

    On each surface (a name of :data:`lib.surfaces.SURFACES` or a ``Surface``) every contender runs
    :func:`lib.trajectories.run` from the surface's starts (or ``starts``) with every :math:`\eta` at once (one
    vectorized run per contender and surface). The score of an :math:`\eta` is the mean over starts of
    :math:`\log_{10}` of the final gap :math:`L(\theta^T) - L^\star` to the global minimum (floored at
    :math:`10^{-16}`; without a known minimum, :math:`L(\theta^T)` itself); an :math:`\eta` from which a start
    diverged is not eligible. Returns ``(table, grid)``: ``table`` one row per (surface, contender) at the
    selected :math:`\eta` with the gap's geometric mean, min and max over starts and ``at_edge``; ``grid`` one
    row per (surface, contender, :math:`\eta`) with the score and the number of diverged starts.
    """
    contenders = _contenders(contenders)
    etas = np.asarray(etas, dtype=np.float64)
    if etas.ndim != 1 or etas.size == 0 or np.any(~(etas > 0)):
        raise ValueError(f"Invalid etas: {etas} (must be positive)")
    table, grid = [], []
    for surface in surfaces:
        s = lib_surfaces.get(surface) if isinstance(surface, str) else surface
        minima = [float(s.value(np.array(p.xy))) for p in s.critical_points if p.kind == "global minimum"]
        floor = min(minima) if minima else None
        theta0 = np.asarray(s.starts if starts is None else starts, dtype=np.float64)
        n = len(theta0)
        for c in contenders:
            traj = run(c.rule, s, np.tile(theta0, (len(etas), 1)), steps, eta=np.repeat(etas, n)[:, None],
                       bound=bound, **c.hparams)
            final = traj.loss[:, -1] - (floor if floor is not None else 0.0)
            gap = np.maximum(final, 1e-16).reshape(len(etas), n) if floor is not None else final.reshape(-1, n)
            diverged = (traj.diverged_at >= 0).reshape(len(etas), n)
            best, best_score = None, math.inf
            for k, eta in enumerate(etas):
                ok = not diverged[k].any()
                score = float(np.mean(np.log10(gap[k]))) if floor is not None and ok else (
                    float(np.mean(gap[k])) if ok else math.nan)
                grid.append({"surface": s.label, "optimizer": c.label, "eta": eta, "score": score,
                             "diverged": int(diverged[k].sum())})
                if ok and score < best_score:
                    best, best_score = k, score
            row = {"surface": s.label, "optimizer": c.label}
            if best is None:
                row.update({"eta": math.nan, "at_edge": False, "gap": math.nan, "gap_min": math.nan,
                            "gap_max": math.nan})
            else:
                g = gap[best]
                row.update({"eta": float(etas[best]), "at_edge": best in (0, len(etas) - 1),
                            "gap": float(10 ** np.mean(np.log10(g))) if floor is not None else float(np.mean(g)),
                            "gap_min": float(g.min()), "gap_max": float(g.max())})
            row["diverged"] = int(diverged.sum())
            table.append(row)
    return pd.DataFrame(table), pd.DataFrame(grid)
