"""lib.results: copies of a stacked run selected by label (hyperparameter, seed), never by position."""

from types import SimpleNamespace

import numpy as np
import pytest

from lib import results


def _history():
    etas = np.repeat([0.1, 0.3], 3)
    seeds = np.tile([0, 1, 2], 2)
    train_loss = np.arange(12.0).reshape(6, 2)  # copy c has losses 2c, 2c + 1
    return SimpleNamespace(hparams={"eta": etas}, seeds=seeds, data_seeds=seeds + 10, train_loss=train_loss,
                           diverged=np.array([False] * 5 + [True]), test_acc=train_loss / 100)


def test_select_by_hyperparameter_and_seed():
    h = _history()
    np.testing.assert_array_equal(results.copies(h, eta=0.3), [3, 4, 5])
    np.testing.assert_array_equal(results.select(h, "train_loss", eta=0.3, seed=1), [[8.0, 9.0]])
    np.testing.assert_array_equal(results.copies(h, seed=2, data_seed=12), [2, 5])
    assert results.copies(h, eta=0.1 + 1e-17).tolist() == [0, 1, 2]  # a float label matches to rounding


def test_labelled_table_groups_by_label():
    table = results.labelled(_history(), "train_loss")
    assert list(table.columns) == ["eta", "seed", "data_seed", "train_loss", "diverged"]
    assert table.groupby("eta")["train_loss"].mean().to_dict() == {0.1: 3.0, 0.3: 9.0}


@pytest.mark.parametrize(("kwargs", "match"), [({"beta": 0.9}, "Invalid label: 'beta'"),
                                               ({"eta": 0.2}, "Invalid selection"),
                                               ({"seed": 7}, "no copy has these labels")])
def test_bad_selections_are_errors_not_empty_arrays(kwargs, match):
    with pytest.raises(ValueError, match=match):
        results.copies(_history(), **kwargs)
    with pytest.raises(ValueError, match="Invalid field"):
        results.select(_history(), "accuracy", eta=0.1)
