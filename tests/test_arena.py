"""lib.arena: combined rules = separate rules, grids and arenas as stacked runs = copy-by-copy runs, the held-out
split, evaluation of stacked parameters, selection rules."""

import math

import numpy as np
import pytest
import torch

from lib import arena, models, rules, surfaces, train


def tiny(seed):
    return models.mlp([64, 6, 10], seed=seed, dtype=torch.float64)


COMMON = {"epochs": 2, "batch_size": 50, "progress": False}


# ------------------------------------------------------------------------------------------------ combine
def test_combine_equals_each_rule_on_its_block_numpy():
    rng = np.random.default_rng(0)
    theta = rng.standard_normal((5, 3))
    blocks = [("adam", {"beta1": 0.5}, 2), ("momentum", {"beta": 0.9}, 1), ("adagrad", {}, 2)]
    rule = arena.combine(blocks)
    state = rule.init(theta)
    eta = np.array([0.1, 0.2, 0.3, 0.4, 0.5])[:, None]
    separate = [rules.RULES[r].init(theta[a:b]) for (r, _, _), (a, b) in zip(blocks, [(0, 2), (2, 3), (3, 5)],
                                                                               strict=True)]
    for _ in range(4):
        g = rng.standard_normal(theta.shape)
        step, state = rule.update(g, state, theta, eta=eta)
        for k, ((r, hp, _), (a, b)) in enumerate(zip(blocks, [(0, 2), (2, 3), (3, 5)], strict=True)):
            expected, separate[k] = rules.RULES[r].update(g[a:b], separate[k], theta[a:b], eta=eta[a:b], **hp)
            np.testing.assert_array_equal(step[a:b], expected)
        theta = theta + step


def test_combine_passes_free_hyperparameters_to_the_blocks_that_have_them():
    rule = arena.combine([("adam", {}, 2), ("gd", {}, 1)])
    assert "beta2" in rule.defaults and "weight_decay" not in rule.defaults
    theta = np.ones((3, 2))
    g = np.full((3, 2), 0.5)
    beta2 = np.array([0.9, 0.99, 0.5])[:, None]
    step, _ = rule.update(g, rule.init(theta), theta, eta=0.1, beta2=beta2)
    expected, _ = rules.adam_update(g[:2], rules.adam_init(theta[:2]), theta[:2], eta=0.1, beta2=beta2[:2])
    np.testing.assert_array_equal(step[:2], expected)
    np.testing.assert_array_equal(step[2], -0.1 * g[2])


def test_combined_stacked_run_equals_one_run_per_rule(digits64):
    seeds = [0, 1]
    etas = [0.05, 0.01]
    blocks = [("momentum", {"beta": 0.9}), ("adam", {}), ("adamw", {"weight_decay": 0.1})]
    rule = arena.combine([(r, hp, 2) for r, hp in blocks])
    together = train.train_stacked(tiny, seeds * 3, rule, digits64, hparams={"eta": etas * 3}, **COMMON)
    for k, (r, hp) in enumerate(blocks):
        alone = train.train_stacked(tiny, seeds, r, digits64, hparams={**hp, "eta": etas}, **COMMON)
        np.testing.assert_allclose(together.train_loss[2 * k:2 * k + 2], alone.train_loss, rtol=1e-12)
        np.testing.assert_allclose(together.loss[2 * k:2 * k + 2], alone.loss, rtol=1e-12)


@pytest.mark.parametrize("blocks, match", [
    ([], "need at least one"),
    ([("adam", {"beta": 0.9}, 1)], "Invalid hparams"),
    ([("adam", {}, 0)], "Invalid number of copies"),
    ([("nope", {}, 1)], "Invalid rule"),
])
def test_combine_rejects_bad_blocks(blocks, match):
    with pytest.raises(ValueError, match=match):
        arena.combine(blocks)


def test_combine_rejects_a_stack_of_the_wrong_size():
    rule = arena.combine([("gd", {}, 2)])
    with pytest.raises(ValueError, match="Invalid stack"):
        rule.init(np.zeros((3, 2)))


# ------------------------------------------------------------------------------------------------ data
def test_holdout_is_stratified_disjoint_and_deterministic(digits64):
    fit, test = arena.holdout(digits64, 0.25, seed=3)
    again, _ = arena.holdout(digits64, 0.25, seed=3)
    assert torch.equal(fit.X_test, again.X_test)
    assert len(fit.y_train) + len(fit.y_test) == 200
    rows = {tuple(x.tolist()) for x in fit.X_train} & {tuple(x.tolist()) for x in fit.X_test}
    assert not rows
    for c in range(10):
        n_c = int((digits64.y_train == c).sum())
        assert int((fit.y_test == c).sum()) == round(0.25 * n_c)
    assert torch.equal(test.X_train, digits64.X_test)
    with pytest.raises(ValueError, match="Invalid fraction"):
        arena.holdout(digits64, 1.0)


def test_evaluate_matches_each_model(digits64):
    h = train.train_stacked(tiny, [0, 1, 2], "gd", digits64, hparams={"eta": 0.1}, **COMMON)
    loss, acc = arena.evaluate(tiny, h.params, digits64.X_test, digits64.y_test)
    for c in range(3):
        model = h.load_copy(tiny(0), c)
        with torch.no_grad():
            out = model(digits64.X_test)
        assert loss[c] == pytest.approx(float(torch.nn.functional.cross_entropy(out, digits64.y_test)), rel=1e-12)
        assert acc[c] == pytest.approx(float((out.argmax(1) == digits64.y_test).double().mean()))
    np.testing.assert_allclose(loss, h.test_loss[:, -1], rtol=1e-12)


# ------------------------------------------------------------------------------------------------- grids
def test_grid_run_is_the_factorial_copy_by_copy(digits64):
    grid = {"eta": [0.01, 0.03], "beta1": [0.0, 0.9]}
    table, h = arena.grid_run(tiny, digits64, "adam", grid, seeds=(0, 1), hparams={"beta2": 0.99}, **COMMON)
    assert len(table) == 8 and list(table.columns[:3]) == ["eta", "beta1", "seed"]
    row = table.iloc[5]  # eta 0.03, beta1 0.0, seed 1
    assert (row.eta, row.beta1, row.seed) == (0.03, 0.0, 1)
    alone = train.train(tiny(1), "adam", digits64, hparams={"eta": 0.03, "beta1": 0.0, "beta2": 0.99}, seed=1,
                        **COMMON)
    assert row.train_loss == pytest.approx(alone.train_loss[-1], rel=1e-10)
    assert row.test_acc == pytest.approx(alone.test_acc[-1])


def test_grid_run_last_takes_the_median_of_the_last_evaluations(digits64):
    table, h = arena.grid_run(tiny, digits64, "gd", {"eta": [0.5]}, seeds=(0,), last=3, epochs=4, batch_size=50,
                              progress=False)
    assert table.train_loss[0] == pytest.approx(np.median(h.train_loss[0, -3:]))
    with pytest.raises(ValueError, match="Invalid last"):
        arena.grid_run(tiny, digits64, "gd", {"eta": [0.5]}, seeds=(0,), last=10, **COMMON)
    with pytest.raises(ValueError, match="also in the grid"):
        arena.grid_run(tiny, digits64, "gd", {"eta": [0.5]}, seeds=(0,), hparams={"eta": 0.1}, **COMMON)


# ------------------------------------------------------------------------------------------------- arena
CONTENDERS = [arena.Contender("GD", "gd"), arena.Contender("Adam", "adam"),
              arena.Contender("Momentum", "momentum", {"beta": 0.9})]


def test_arena_together_equals_separate_and_selects_by_validation(digits64):
    etas = [0.003, 0.03, 0.3, 30.0]
    kwargs = {"epochs": 2, "batch_size": 40, "max_loss": 10.0, "progress": False}
    together = arena.arena(tiny, digits64, CONTENDERS, etas, (0, 1), **kwargs)
    separate = arena.arena(tiny, digits64, CONTENDERS, etas, (0, 1), together=False, **kwargs)
    np.testing.assert_allclose(together.copies.val_loss, separate.copies.val_loss, rtol=1e-10)
    np.testing.assert_allclose(together.table.test_acc, separate.table.test_acc, rtol=1e-10)
    grid, table = together.grid, together.table.set_index("optimizer")
    assert len(together.copies) == 3 * 4 * 2 and len(grid) == 12
    for c in CONTENDERS:
        mine = grid[(grid.optimizer == c.label) & grid.eligible]
        assert table.loc[c.label, "eta"] == mine.loc[mine.val_loss.idxmin(), "eta"]
    # a learning rate of 30 diverges for everyone: never eligible, and it counts as diverged copies
    assert not grid[grid.eta == 30.0].eligible.any()
    assert (table["diverged"] >= 2).all()
    assert table.loc["Adam", "at_edge"] == (table.loc["Adam", "eta"] in (0.003, 30.0))
    epoch, curves = together.curves("Adam", "train_loss")
    assert curves.shape == (2, len(epoch))


def test_arena_at_equals_the_arena_copies_at_those_etas(digits64):
    kwargs = {"epochs": 2, "batch_size": 40, "progress": False}
    full = arena.arena(tiny, digits64, CONTENDERS, [0.01, 0.1], (0, 1, 2), **kwargs)
    etas = {"GD": 0.1, "Adam": 0.01, "Momentum": 0.01}
    at = arena.arena_at(tiny, digits64, CONTENDERS, etas, (0, 1, 2), **kwargs)
    assert len(at) == 9 and list(at.optimizer.unique()) == ["GD", "Adam", "Momentum"]
    mine = full.copies.set_index(["optimizer", "eta", "seed"])
    for row in at.itertuples():
        expected = mine.loc[(row.optimizer, etas[row.optimizer], row.seed)]
        assert row.eta == etas[row.optimizer]
        assert row.val_loss == pytest.approx(expected.val_loss, rel=1e-10)
        assert row.test_acc == pytest.approx(expected.test_acc, rel=1e-10)
    with pytest.raises(ValueError, match="no learning rate"):
        arena.arena_at(tiny, digits64, CONTENDERS, {"GD": 0.1}, (0,), **kwargs)
    with pytest.raises(ValueError, match="Invalid etas"):
        arena.arena_at(tiny, digits64, CONTENDERS, {**etas, "GD": -1.0}, (0,), **kwargs)


def test_compare_is_the_paired_t_interval_against_the_reference():
    import pandas as pd

    from lib import stats

    copies = pd.DataFrame({"optimizer": ["A"] * 4 + ["B"] * 4, "seed": [0, 1, 2, 3] * 2,
                           "test_acc": [0.90, 0.92, 0.91, 0.95, 0.93, 0.92, 0.95, 0.97]})
    table = arena.compare(copies, "A")
    expected = stats.paired_difference({0: 0.93, 1: 0.92, 2: 0.95, 3: 0.97}, {0: 0.90, 1: 0.92, 2: 0.91, 3: 0.95})
    assert table.loc["B", "diff"] == pytest.approx(expected.mean)
    assert (table.loc["B", "low"], table.loc["B", "high"]) == pytest.approx((expected.low, expected.high))
    assert table.loc["B", "detected"] == expected.excludes_zero and table.loc["B", "n"] == 4
    assert table.loc["A", "diff"] == 0.0 and table.loc["A", "mean"] == pytest.approx(0.92)
    with pytest.raises(ValueError, match="Invalid reference"):
        arena.compare(copies, "C")
    with pytest.raises(ValueError, match="no column"):
        arena.compare(copies, "A", metric="val_acc")


def test_arena_criterion_train_loss(digits64):
    result = arena.arena(tiny, digits64, CONTENDERS[:1], [0.01, 0.3], (0,), criterion="train_loss", epochs=2,
                         batch_size=40, progress=False)
    assert result.table.eta[0] == 0.3  # more progress in two epochs


@pytest.mark.parametrize("kwargs, match", [
    ({"criterion": "test_acc"}, "Invalid criterion"),
    ({"etas": [0.1, 0.01]}, "Invalid etas"),
    ({"contenders": [("A", "gd"), ("A", "adam")]}, "distinct"),
    ({"contenders": [("A", "gd", {"beta": 0.9})]}, "not hyperparameters"),
    ({"hparams": {}}, "the arena sets it"),
])
def test_arena_rejects(digits64, kwargs, match):
    args = {"contenders": CONTENDERS, "etas": [0.01, 0.1]}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        arena.arena(tiny, digits64, seeds=(0,), epochs=1, progress=False, **args)


def test_surface_arena_selects_the_best_eligible_eta():
    quadratic = surfaces.quadratic(kappa=10.0)
    table, grid = arena.surface_arena([quadratic], [arena.Contender("GD", "gd")], [0.1, 1.0, 2.5], 50)
    # gradient descent on lambda_max = 1 converges fastest at eta = 1 and diverges at 2.5 > 2
    assert table.eta[0] == 1.0 and not table.at_edge[0]
    assert grid.diverged.tolist()[-1] == 3 and math.isnan(grid.score.tolist()[-1])
    assert table.gap_min[0] <= table.gap[0] <= table.gap_max[0]
