"""lib.lessons.after_adam: memory against the formula, Muon's geometry, the contenders, the explorer's sweep."""

import warnings

import numpy as np
import pytest
import torch

import lib.lessons.after_adam as aa
from lib.rules import RULES


def test_memory_table_matches_the_formula_and_torch():
    table = aa.memory_table([(64, 32), (32,)])
    exact = ["SGD", "SGD + momentum", "NAdam", "RAdam", "Adafactor", "Muon", "Lion", "Schedule-free AdamW"]
    for name in exact:
        assert table.loc[name, "lib.optim"] == table.loc[name, "predicted"], name
    for name in ("Adagrad", "RMSprop", "Adam", "AdamW", "NAdam", "RAdam", "Adafactor", "Muon"):
        # torch's state: the formula plus its step counters (one 4- or 8-byte tensor per parameter, two for NAdam)
        assert 0 <= table.loc[name, "torch.optim"] - table.loc[name, "predicted"] <= 2 * 2 * 8, name
    assert table.loc["Adafactor", "predicted"] == (64 + 32 + 32) * 4
    assert table.loc["Muon", "parameters"] == 64 * 32


def test_step_time_ratios_are_positive():
    times = aa.step_time_ratios(["Adam", "Muon"], [(16, 8), (8,)], steps=2, repeats=1)
    assert (times["ratio"] > 0).all() and set(times.index) == {"Adam", "Muon"}


def test_muon_geometry_equalizes_and_converges():
    geo = aa.muon_geometry((0.1, 1.0), steps=150, tol=1e-2, n=60, d=8, k=4, kappa=100.0)
    assert geo["kappa"] == pytest.approx(100.0)
    assert geo["before"].max() / geo["before"].min() > 10 * geo["after"].max() / geo["after"].min()
    assert set(geo["best"]) <= {"gd", "adam", "muon"} and "muon" in geo["best"]


def test_contenders_cover_every_optimizer():
    labels = [c.label for c in aa.contenders([(3, 4), (3,)])]
    assert {"Adam", "NAdam", "RAdam", "Lion", "Schedule-free AdamW", "Adafactor", "Muon"} <= set(labels)
    assert [c.label for c in aa.contenders(points=True)] == labels
    assert len(aa.contenders()) == 6


def test_arena_contenders_train_in_one_stacked_run():
    from lib import data, models
    from lib.arena import arena

    digits = data.digits()
    small = data.Dataset(digits.X_train[:200], digits.y_train[:200], digits.X_test[:100], digits.y_test[:100])
    shapes = [tuple(p.shape) for p in models.mlp([64, 8, 10]).parameters()]
    res = arena(lambda s: models.mlp([64, 8, 10], seed=s), small, aa.contenders(shapes), (0.003, 0.03), seeds=(0,),
                epochs=1, batch_size=50, threads=1, progress=False)
    assert len(res.table) == 8 and res.table["val_acc"].notna().all()


def test_schedule_free_vs_cosine_rows():
    from lib import data, models

    digits = data.digits()
    small = data.Dataset(digits.X_train[:128], digits.y_train[:128], digits.X_test[:64], digits.y_test[:64])
    sf = aa.schedule_free_vs_cosine(lambda s: models.mlp([64, 8, 10], seed=s), small, (0.01,), (0, 1), epochs=1)
    assert len(sf) == 4 and set(sf["method"]) == {"AdamW + cosine", "Schedule-free AdamW"}
    assert np.isfinite(sf["train_loss"]).all()


def test_explorer_sweeps_its_whole_control_space_without_warnings():
    ex = aa.explorer()
    assert set(ex.controls["rule"].values) == set(aa.EXPLORER_RULES) and all(r in RULES for r in aa.EXPLORER_RULES)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for indices in ex.combinations():
            frame = ex.frame(**ex.values(indices))
            assert frame.items and frame.text


def test_state_bytes_counts_tensors():
    w = torch.zeros(10, 3, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
    w.grad = torch.ones_like(w)
    opt.step()
    assert aa.state_bytes(opt) == 10 * 3 * 4
