r"""Results selected by label: the copies of a stacked run picked by hyperparameter value and seed, never by position.

:func:`lib.train.train_stacked` trains ``C`` copies at once and returns one
:class:`~lib.train.StackedHistory` whose arrays have a copy axis, with each copy's labels beside them
(``hparams[name][c]``, ``seeds[c]``, ``data_seeds[c]``). Picking copies by their position
(``h.train_loss[3 * i:3 * i + 3]``, a seed used as an index) silently breaks when the grid changes order;
these helpers pick them by what they are::

    h = train_stacked(model_fn, data, "sgd", seeds=[0, 1, 2] * 4, hparams={"eta": np.repeat(etas, 3)}, ...)
    select(h, "train_loss", eta=0.1)          # (3, E): the three seeds at eta = 0.1, in seed order
    select(h, "test_acc", eta=0.1, seed=2)    # (1, E)
    labelled(h, "test_acc")                   # DataFrame: one row per copy, columns eta, seed, test_acc (final)

A float label matches with a relative tolerance of ``1e-12`` (so ``eta=0.1`` finds a copy trained with
``np.float32(0.1)`` cast back to a float).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lib.checks import check_choice, check_hparams, invalid

__all__ = ["copies", "labelled", "labels", "select"]


def labels(history) -> dict[str, np.ndarray]:
    """Every label of the copies of ``history``: its hyperparameters, ``seed`` and ``data_seed``, each ``(C,)``."""
    out = {name: np.asarray(values) for name, values in history.hparams.items()}
    out["seed"] = np.asarray(history.seeds)
    out["data_seed"] = np.asarray(history.data_seeds)
    return out


def _matches(values: np.ndarray, wanted: Any) -> np.ndarray:
    if np.issubdtype(values.dtype, np.floating):
        return np.isclose(values, float(wanted), rtol=1e-12, atol=0.0)
    return values == wanted


def copies(history, **wanted) -> np.ndarray:
    """The indices of the copies whose labels equal ``wanted`` (e.g. ``eta=0.1, seed=2``), in copy order.

    An unknown label is a ``ValueError`` naming it and listing the labels; no match at all is one too (a typo in
    a value must not give an empty selection that a mean turns into NaN).
    """
    table = labels(history)
    check_hparams(wanted, table, what="label")
    keep = np.ones(len(history.seeds), dtype=bool)
    for name, value in wanted.items():
        keep &= _matches(table[name], value)
    if not keep.any():
        shown = {name: sorted(set(np.asarray(table[name]).tolist())) for name in wanted}
        raise invalid("selection", wanted, f"no copy has these labels; the values are {shown}")
    return np.flatnonzero(keep)


def select(history, field: str, **wanted) -> np.ndarray:
    """``getattr(history, field)`` restricted to the copies labelled ``wanted`` (copy axis first)."""
    check_choice("field", field, ("loss", "lr", "train_loss", "train_acc", "test_loss", "test_acc", "diverged",
                                  "diverged_at"))
    return np.asarray(getattr(history, field))[copies(history, **wanted)]


def labelled(history, field: str = "train_loss", at: int = -1) -> pd.DataFrame:
    """One row per copy: its labels and ``field`` at evaluation ``at`` (default the last), plus ``diverged``.

    Group and pivot this table by label (``table.groupby("eta")[field].mean()``) instead of reshaping arrays by
    position.
    """
    values = np.asarray(getattr(history, check_choice("field", field, ("loss", "lr", "train_loss", "train_acc",
                                                                         "test_loss", "test_acc"))))
    columns = {name: value for name, value in labels(history).items()}
    columns[field] = values[:, at]
    columns["diverged"] = np.asarray(history.diverged)
    return pd.DataFrame(columns)
