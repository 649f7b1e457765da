"""lib.lessons.adam: combined rules = separate rules, Adam + L2 = torch.optim.Adam(weight_decay), grids and arenas as
stacked runs = copy-by-copy runs, selection rules, the AMSGrad counterexample."""

import math

import numpy as np
import pytest
import torch

from lib import data, models, rules, surfaces, train
from lib.lessons import adam as arena


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    with train.num_threads(1):
        yield


@pytest.fixture(scope="module")
def digits64():
    d = data.digits(dtype=torch.float64)
    return data.Dataset(d.X_train[:200], d.y_train[:200], d.X_test[:80], d.y_test[:80])


def tiny(seed):
    return models.mlp([64, 6, 10], seed=seed, dtype=torch.float64)


COMMON = {"epochs": 2, "batch_size": 50, "progress": False}


# ------------------------------------------------------------------------------------------------ combine
def test_combine_equals_each_rule_on_its_block_numpy():
    rng = np.random.default_rng(0)
    theta = rng.standard_normal((5, 3))
    blocks = [("adam", {"beta1": 0.5}, 2), ("momentum", {"mu": 0.9}, 1), ("adagrad", {}, 2)]
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
    blocks = [("momentum", {"mu": 0.9}), ("adam", {}), ("adamw", {"weight_decay": 0.1})]
    rule = arena.combine([(r, hp, 2) for r, hp in blocks])
    together = train.train_stacked(tiny, seeds * 3, rule, digits64, hparams={"eta": etas * 3}, **COMMON)
    for k, (r, hp) in enumerate(blocks):
        alone = train.train_stacked(tiny, seeds, r, digits64, hparams={**hp, "eta": etas}, **COMMON)
        np.testing.assert_allclose(together.train_loss[2 * k:2 * k + 2], alone.train_loss, rtol=1e-12)
        np.testing.assert_allclose(together.loss[2 * k:2 * k + 2], alone.loss, rtol=1e-12)


@pytest.mark.parametrize("blocks, match", [
    ([], "need at least one"),
    ([("adam", {"mu": 0.9}, 1)], "Invalid hparams"),
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


# ------------------------------------------------------------------------------------------- Adam + L2
@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_l2_matches_torch_adam_with_weight_decay(amsgrad):
    torch.manual_seed(0)
    p = torch.randn(7, dtype=torch.float64, requires_grad=True)
    theta = p.detach().clone()
    opt = torch.optim.Adam([p], lr=0.01, weight_decay=0.3, amsgrad=amsgrad)
    state = rules.adam_init(theta)
    for k in range(20):
        g = torch.sin(torch.arange(7, dtype=torch.float64) * (k + 1))
        opt.zero_grad()
        p.grad = g.clone()
        opt.step()
        step, state = arena.adam_l2_update(g, state, theta, eta=0.01, weight_decay=0.3, amsgrad=amsgrad)
        theta = theta + step
    torch.testing.assert_close(theta, p.detach(), rtol=1e-12, atol=1e-14)


def test_adam_l2_is_not_adamw():
    theta = np.array([1.0, 1.0])
    g = np.array([10.0, 0.01])
    l2, _ = arena.adam_l2_update(g, rules.adam_init(theta), theta, eta=0.1, weight_decay=0.5)
    w, _ = rules.adamw_update(g, rules.adam_init(theta), theta, eta=0.1, weight_decay=0.5)
    assert not np.allclose(l2, w)
    assert arena.ADAM_L2.defaults["weight_decay"] == 1e-2


# ------------------------------------------------------------------------------------------- recorder
def test_step_recorder_records_rms_and_max_and_final_state(digits64):
    recorder = arena.StepRecorder("adam")
    h = train.train_stacked(tiny, [0, 1], recorder.rule, digits64, hparams={"eta": [0.01, 0.02]}, epochs=1,
                            batch_size=100, progress=False)
    assert recorder.rms.shape == (2, 2) == recorder.max.shape
    # Adam's first step is eta * sign(g) (up to eps) in every coordinate with a nonzero gradient
    assert recorder.max[0, 0] == pytest.approx(0.01, rel=1e-6)
    assert recorder.max[0, 1] == pytest.approx(0.02, rel=1e-6)
    assert np.all(recorder.rms <= recorder.max)
    assert recorder.state.t == 2
    # the parameters moved by the recorded steps: ||theta_T - theta_0|| <= sum of the step norms
    n_params = sum(p.numel() for p in tiny(0).parameters())
    flat = torch.cat([v.reshape(2, -1) for v in h.params.values()], 1)
    start = torch.cat([p.detach().reshape(1, -1) for p in tiny(0).parameters()], 1)
    moved = float((flat[0] - start[0]).norm())
    assert moved <= recorder.rms[:, 0].sum() * math.sqrt(n_params) * (1 + 1e-9)


def test_step_recorder_works_on_numpy():
    recorder = arena.StepRecorder("gd")
    theta = np.array([[3.0, 4.0]])
    recorder.rule.update(np.array([[3.0, 4.0]]), recorder.rule.init(theta), theta, eta=1.0)
    assert recorder.rms[0, 0] == pytest.approx(math.sqrt(12.5))
    assert recorder.max[0, 0] == 4.0


# ---------------------------------------------------------------------------------------- correction
def test_correction_factor_values():
    assert arena.correction_factor(0.9, 0.999, 1) == pytest.approx(0.1 / math.sqrt(0.001))
    t = np.arange(1, 100001)
    r = arena.correction_factor(0.9, 0.999, t)
    assert 6.5 < r.max() < 6.6 and 10 <= t[np.argmax(r)] <= 14
    assert r[-1] == pytest.approx(1.0, abs=1e-12)
    assert np.all(arena.correction_factor(0.9, 0.9, t) <= 1.0)


@pytest.mark.parametrize("args", [(1.0, 0.9, 1), (0.9, -0.1, 1), (0.9, 0.999, 0)])
def test_correction_factor_rejects(args):
    with pytest.raises(ValueError, match="Invalid"):
        arena.correction_factor(*args)


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


def test_noisy_labels(digits64):
    noisy = arena.noisy_labels(digits64, 0.5, seed=1, n=150)
    assert len(noisy.y_train) == 150 and torch.equal(noisy.y_test, digits64.y_test)
    changed = float((noisy.y_train != digits64.y_train[:150]).double().mean())
    assert 0.3 < changed < 0.6  # half drawn anew, a tenth of those keep their label
    assert torch.equal(arena.noisy_labels(digits64, 0.5, seed=1, n=150).y_train, noisy.y_train)
    assert torch.equal(arena.noisy_labels(digits64, 0.0).y_train, digits64.y_train)
    with pytest.raises(ValueError, match="Invalid fraction"):
        arena.noisy_labels(digits64, 1.5)
    with pytest.raises(ValueError, match="Invalid n"):
        arena.noisy_labels(digits64, 0.1, n=10_000)


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
              arena.Contender("Momentum", "momentum", {"mu": 0.9})]


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


def test_arena_criterion_train_loss(digits64):
    result = arena.arena(tiny, digits64, CONTENDERS[:1], [0.01, 0.3], (0,), criterion="train_loss", epochs=2,
                         batch_size=40, progress=False)
    assert result.table.eta[0] == 0.3  # more progress in two epochs


@pytest.mark.parametrize("kwargs, match", [
    ({"criterion": "test_acc"}, "Invalid criterion"),
    ({"etas": [0.1, 0.01]}, "Invalid etas"),
    ({"contenders": [("A", "gd"), ("A", "adam")]}, "distinct"),
    ({"contenders": [("A", "gd", {"mu": 0.9})]}, "not hyperparameters"),
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


# ------------------------------------------------------------------------------------ the counterexample
def test_adam_fails_and_amsgrad_converges_on_reddi_problem():
    adam = arena.online_counterexample(3000, C=3.0, eta=[0.2, 0.5])
    ams = arena.online_counterexample(3000, C=3.0, eta=[0.2, 0.5], amsgrad=True)
    assert np.all(adam.x[:, -1] > 0.99) and np.all(ams.x[:, -1] < -0.99)
    # playing +1 every round costs 2 (C - 2) / 3 per round on average
    np.testing.assert_allclose(adam.regret[:, -1], 2 / 3, atol=0.02)
    assert np.all(ams.regret[:, -1] < 0.15) and np.all(ams.regret[:, -1] < ams.regret[:, 300])
    assert np.all(np.abs(adam.x) <= 1.0) and adam.x_star == -1.0


def test_counterexample_first_round_is_one_adam_step():
    r = arena.online_counterexample(1, C=3.0, eta=0.5, x0=0.0)
    # first gradient C: Adam's first step is -eta (bias-corrected, beta1 = 0), eta_1 = eta / sqrt(1)
    assert r.x[0, 1] == pytest.approx(-0.5, rel=1e-7)
    assert r.regret[0, 0] == pytest.approx(3.0 * 0.0 - 3.0 * -1.0)


@pytest.mark.parametrize("kwargs, match", [
    ({"steps": 0}, "Invalid steps"), ({"C": 1.5}, "Invalid C"), ({"period": 1}, "Invalid period"),
    ({"x0": 2.0}, "Invalid x0"), ({"eta": -1.0}, "Invalid eta"),
])
def test_counterexample_rejects(kwargs, match):
    args = {"steps": 10}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        arena.online_counterexample(**args)
