"""lib.lessons.after_adam: memory against the formula, Muon's geometry, the contenders, the explorer's sweep."""

import warnings

import numpy as np
import pytest
import torch

import lib.lessons.after_adam as aa
import lib.optim
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


def test_explorer_opens_where_the_optimizer_arrives():
    """At the old default η = 0.01 Adam covered a fifth of the quadratic in 100 steps and its loss curves were
    nearly flat: the first frame showed nothing of the chapter's point."""
    from lib.viz.declaration import Line

    ex = aa.explorer()
    frame = ex.frame(**ex.values(ex.default_indices()))
    curves = [np.asarray(item.y, float) for item in frame.items if isinstance(item, Line) and item.panel == "loss"]
    assert curves and all(y[-1] < 1e-3 * y[0] for y in curves)


def test_state_bytes_counts_tensors():
    w = torch.zeros(10, 3, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
    w.grad = torch.ones_like(w)
    opt.step()
    assert aa.state_bytes(opt) == 10 * 3 * 4


def _small_digits(n_train=200, n_test=100):
    from lib import data

    digits = data.digits()
    return data.Dataset(digits.X_train[:n_train], digits.y_train[:n_train], digits.X_test[:n_test],
                        digits.y_test[:n_test])


def test_cnn_arena_tunes_then_runs_every_contender_on_fresh_seeds():
    tuned, copies = aa.cnn_arena(_small_digits(), (0.003, 0.03), (0, 1), 1, tune_seeds=(5, 6), batch_size=50)
    labels = [c.label for c in aa.contenders([(3, 4), (3,)])]
    assert list(tuned.table["optimizer"]) == labels and len(tuned.copies) == len(labels) * 4
    assert tuned.table["eta"].isin((0.003, 0.03)).all()
    assert len(copies) == len(labels) * 2 and set(copies["seed"]) == {0, 1} and copies["test_acc"].notna().all()
    chosen = dict(zip(tuned.table["optimizer"], tuned.table["eta"], strict=True))
    assert all(chosen[o] == e for o, e in zip(copies["optimizer"], copies["eta"], strict=True))
    vs = aa.against(copies, "Adam")
    assert set(vs.index) == set(labels) and vs.loc["Adam", "diff"] == 0
    assert np.isfinite(vs.drop("Adam")[["low", "high"]].to_numpy()).all()
    assert set(aa.against(tuned, "Adam").index) == set(labels)


def test_cnn_arena_muon_steps_flattened_kernels():
    # Muon's step on a kernel (o, i, k, k) is the orthogonalized (o, ik^2) matrix: its singular values near 1
    from lib import models, rules

    shapes = [tuple(p.shape) for p in models.small_cnn().parameters()]
    muon = next(c for c in aa.contenders(shapes) if c.label == "Muon")
    theta = torch.cat([p.detach().reshape(1, -1) for p in models.small_cnn().parameters()], 1).double()
    g = torch.randn_like(theta, generator=torch.Generator().manual_seed(0))
    rule = muon.rule
    step, _ = rule.update(g, rule.init(theta), theta, eta=1.0, beta=0.0, nesterov=False, **muon.hparams)
    o, i, k, _ = shapes[2]
    start = sum(int(np.prod(s)) for s in shapes[:2])
    kernel_step = step[0, start:start + o * i * k * k].reshape(o, i * k * k)
    singular = torch.linalg.svdvals(kernel_step) / np.sqrt(max(1, o / (i * k * k)))
    assert torch.all((singular > 0.5) & (singular < 1.5))
    with pytest.raises(ValueError, match="Invalid labels"):
        aa.cnn_arena(_small_digits(), (0.01,), (0, 1), 1, labels=("Adam", "Newton"))
    assert rules.MUON.name == muon.rule.name


def test_schedule_free_vs_cosine_matches_single_runs():
    # the stacked runs compute what lib.train.train computes for each copy alone (and evaluate schedule-free at x)
    from lib import models, schedules
    from lib.losses import cross_entropy
    from lib.train import train

    small = _small_digits(128, 64)
    sf = aa.schedule_free_vs_cosine(lambda s: models.mlp([64, 8, 10], seed=s), small, (0.01,), (3,), epochs=2,
                                    batch_size=32)
    for method in ("AdamW + cosine", "Schedule-free AdamW"):
        net = models.mlp([64, 8, 10], seed=3)
        if method == "AdamW + cosine":
            opt = lib.optim.AdamW(net.parameters(), lr=0.01, weight_decay=0.0)
            train(net, opt, small, epochs=2, batch_size=32, seed=3, schedule=schedules.cosine(0.01, 8),
                  schedule_unit="step", progress=False, threads=1)
        else:
            opt = lib.optim.ScheduleFreeAdamW(net.parameters(), lr=0.01)
            train(net, opt, small, epochs=2, batch_size=32, seed=3, progress=False, threads=1)
            opt.eval()
        with torch.no_grad():
            loss = float(cross_entropy(net(small.X_train), small.y_train))
        row = sf[sf["method"] == method]
        assert row["train_loss"].item() == pytest.approx(loss, rel=1e-5), method


def test_plot_against_draws_one_series_per_reference():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    t = pd.DataFrame({"diff": [0.0, 0.01, -0.02], "low": [np.nan, 0.0, -0.03], "high": [np.nan, 0.02, -0.01]},
                     index=pd.Index(["Adam", "Lion", "Muon"], name="optimizer"))
    fig, ax = plt.subplots()
    aa.plot_against(ax, {"minus Adam": t, "minus Lion": t.rename(index={"Lion": "Adam", "Adam": "Lion"})}, title="t")
    assert [tick.get_text() for tick in ax.get_yticklabels()] == ["Adam", "Lion", "Muon"]
    assert len(ax.containers) == 2 and ax.get_title() == "t" and ax.get_xlabel()
    plt.close(fig)


def test_least_squares_design_has_the_stated_spectrum():
    # the chapter's stability limit 2 / λ_max and condition number κ of X^T X / n
    X, Y = aa.ill_conditioned_least_squares(n=50, d=6, k=3, kappa=100.0)
    eigenvalues = np.linalg.eigvalsh(X.T @ X / len(X))
    assert eigenvalues.max() == pytest.approx(1.0) and eigenvalues.min() == pytest.approx(0.01)
    assert Y.shape == (50, 3)
