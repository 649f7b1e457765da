"""lib.lessons.adam: Adam + L2 = torch.optim.Adam(weight_decay), step recorder, bias-correction factor, one knob at a
time, noisy labels, the AMSGrad counterexample."""

import math

import numpy as np
import pytest
import torch

from lib import arena, models, rules, train
from lib.lessons import adam as lesson


def tiny(seed):
    return models.mlp([64, 6, 10], seed=seed, dtype=torch.float64)


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
        step, state = lesson.adam_l2_update(g, state, theta, eta=0.01, weight_decay=0.3, amsgrad=amsgrad)
        theta = theta + step
    torch.testing.assert_close(theta, p.detach(), rtol=1e-12, atol=1e-14)


def test_adam_l2_is_not_adamw():
    theta = np.array([1.0, 1.0])
    g = np.array([10.0, 0.01])
    l2, _ = lesson.adam_l2_update(g, rules.adam_init(theta), theta, eta=0.1, weight_decay=0.5)
    w, _ = rules.adamw_update(g, rules.adam_init(theta), theta, eta=0.1, weight_decay=0.5)
    assert not np.allclose(l2, w)
    assert lesson.ADAM_L2.defaults["weight_decay"] == 1e-2


# ------------------------------------------------------------------------------------------- recorder
def test_step_recorder_records_rms_and_max_and_final_state(digits64):
    recorder = lesson.StepRecorder("adam")
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


def test_state_keeper_keeps_the_state_of_its_block_in_a_combined_run(digits64):
    keeper = lesson.StateKeeper(lesson.ADAM_L2)
    rule = arena.combine([("adam", {}, 1), (keeper.rule, {"weight_decay": 0.03}, 2)])
    h = train.train_stacked(tiny, [0, 1, 2], rule, digits64, hparams={"eta": 0.01}, epochs=1, batch_size=100,
                            progress=False)
    assert keeper.state.t == 2 and keeper.state.v.shape[0] == 2  # the block's two copies
    # the same as the plain rule trained alone (the keeper changes nothing), up to rounding
    alone = lesson.StepRecorder(lesson.ADAM_L2)
    h2 = train.train_stacked(tiny, [1, 2], alone.rule, digits64, hparams={"eta": 0.01, "weight_decay": 0.03},
                             epochs=1, batch_size=100, progress=False)
    torch.testing.assert_close(keeper.state.v, alone.state.v, rtol=1e-5, atol=1e-10)
    for name in h.params:
        torch.testing.assert_close(h.params[name][1:], h2.params[name], rtol=1e-5, atol=1e-7)


def test_step_recorder_works_on_numpy():
    recorder = lesson.StepRecorder("gd")
    theta = np.array([[3.0, 4.0]])
    recorder.rule.update(np.array([[3.0, 4.0]]), recorder.rule.init(theta), theta, eta=1.0)
    assert recorder.rms[0, 0] == pytest.approx(math.sqrt(12.5))
    assert recorder.max[0, 0] == 4.0


# ---------------------------------------------------------------------------------------- correction
def test_correction_factor_values():
    assert lesson.correction_factor(0.9, 0.999, 1) == pytest.approx(0.1 / math.sqrt(0.001))
    t = np.arange(1, 100001)
    r = lesson.correction_factor(0.9, 0.999, t)
    assert 6.5 < r.max() < 6.6 and 10 <= t[np.argmax(r)] <= 14
    assert r[-1] == pytest.approx(1.0, abs=1e-12)
    assert np.all(lesson.correction_factor(0.9, 0.9, t) <= 1.0)


@pytest.mark.parametrize("args", [(1.0, 0.9, 1), (0.9, -0.1, 1), (0.9, 0.999, 0)])
def test_correction_factor_rejects(args):
    with pytest.raises(ValueError, match="Invalid"):
        lesson.correction_factor(*args)


# --------------------------------------------------------------------------------------- one knob at a time
def test_one_at_a_time_lists_the_default_then_each_one_knob_change():
    settings = lesson.one_at_a_time({"eta": 0.03, "beta1": 0.9, "eps": 1e-8},
                                    {"eta": [0.01, 0.03, 0.1], "beta1": [0.0, 0.9]})
    assert settings == [{"eta": 0.03, "beta1": 0.9, "eps": 1e-8},
                        {"eta": 0.01, "beta1": 0.9, "eps": 1e-8}, {"eta": 0.1, "beta1": 0.9, "eps": 1e-8},
                        {"eta": 0.03, "beta1": 0.0, "eps": 1e-8}]
    assert lesson.one_at_a_time({"eta": 0.1}, {}) == [{"eta": 0.1}]
    with pytest.raises(ValueError, match="no default"):
        lesson.one_at_a_time({"eta": 0.1}, {"beta1": [0.5]})
    with pytest.raises(ValueError, match="1-D"):
        lesson.one_at_a_time({"eta": 0.1}, {"eta": 0.5})


def test_sweep_equals_grid_run_on_a_factorial_and_pairs_by_seed(digits64):
    kwargs = {"epochs": 2, "batch_size": 50, "progress": False}
    settings = [{"eta": 0.01, "beta1": 0.9}, {"eta": 0.03, "beta1": 0.9}, {"eta": 0.01, "beta1": 0.5},
                {"eta": 0.03, "beta1": 0.5}]
    table, history = lesson.sweep(tiny, digits64, "adam", settings, [3, 4], last=2, **kwargs)
    assert len(table) == 8 and history.n_copies == 8
    assert table["setting"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3] and table["seed"].tolist() == [3, 4] * 4
    assert table.loc[5, "eta"] == 0.01 and table.loc[5, "beta1"] == 0.5
    # the same factorial through lib.arena.grid_run (β₁ slowest there): the same numbers, copy for copy
    grid, _ = arena.grid_run(tiny, digits64, "adam", {"beta1": [0.9, 0.5], "eta": [0.01, 0.03]}, [3, 4], last=2,
                             **kwargs)
    columns = ["beta1", "eta", "seed", "train_loss", "train_acc", "test_loss", "test_acc", "diverged"]
    np.testing.assert_allclose(table[columns].to_numpy(float), grid[columns].to_numpy(float), rtol=1e-12)
    # paired by seed: lib.arena.compare reads it by setting
    diff = arena.compare(table, 0, "train_loss", by="setting")
    assert diff.loc[1, "n"] == 2 and np.isfinite(diff.loc[3, "low"])


def test_knob_effects_are_paired_by_seed_against_the_default():
    import pandas as pd

    settings = [{"eta": 0.03, "beta1": 0.9}, {"eta": 0.01, "beta1": 0.9}, {"eta": 0.03, "beta1": 0.5},
                {"eta": 0.01, "beta1": 0.5}]
    seeds = [0, 1, 2, 3]
    loss = {0: [1.0, 2.0, 4.0, 1.0], 1: [10.0, 20.0, 40.0, 10.0], 2: [1.1, 1.9, 4.4, 0.9], 3: [3.0, 6.0, 12.0, 3.0]}
    acc = {0: [0.90, 0.92, 0.91, 0.93], 1: [0.80, 0.83, 0.81, 0.82], 2: [0.90, 0.93, 0.90, 0.93],
           3: [0.85, 0.87, 0.86, 0.88]}
    runs = pd.DataFrame([{"setting": k, **settings[k], "seed": s, "train_loss": loss[k][j], "test_acc": acc[k][j]}
                         for k in range(4) for j, s in enumerate(seeds)])
    effects = lesson.knob_effects(runs, settings)
    assert effects["label"].tolist() == ["default", "η = 0.01", "β₁ = 0.5", "η = 0.01, β₁ = 0.5"]
    assert effects["moved"].tolist() == ["", "eta", "beta1", "eta+beta1"]
    # a loss ten times the default's for every seed: the factor is 10, with a zero-width interval
    assert effects.loc[1, "loss_factor"] == pytest.approx(10.0)
    assert effects.loc[1, "loss_near"] == pytest.approx(10.0) and effects.loc[1, "loss_far"] == pytest.approx(10.0)
    assert effects.loc[3, "loss_factor"] == pytest.approx(3.0) and effects.loc[3, "loss_detected"]
    # setting 2 scatters around the default: the interval contains no change, so the near end is 1
    assert not effects.loc[2, "loss_detected"] and effects.loc[2, "loss_near"] == 1.0
    assert effects.loc[2, "loss_low"] < 1 < effects.loc[2, "loss_high"] and effects.loc[2, "loss_far"] > 1
    # the accuracy difference is lib.stats.paired_difference of the per-seed values
    from lib import stats

    d = stats.paired_difference(acc[1], acc[0])
    assert effects.loc[1, "acc_diff"] == pytest.approx(d.mean) and effects.loc[1, "acc_low"] == pytest.approx(d.low)
    assert effects.loc[1, "acc_detected"] and effects.loc[1, "n"] == 4
    assert effects.loc[0, "loss_factor"] == 1.0 and effects.loc[0, "acc_diff"] == 0.0
    assert effects.loc[0, "acc"] == pytest.approx(np.mean(acc[0]))
    # another reference
    other = lesson.knob_effects(runs, settings, reference=1)
    assert other.loc[0, "loss_factor"] == pytest.approx(0.1) and other.loc[0, "label"] == "η = 0.03"
    with pytest.raises(ValueError, match="Invalid reference"):
        lesson.knob_effects(runs, settings, reference=4)
    with pytest.raises(ValueError, match="Invalid runs"):
        lesson.knob_effects(runs, settings[:3])


def test_sweep_marks_diverged_copies_and_rejects_bad_input(digits64):
    table, _ = lesson.sweep(tiny, digits64, "gd", [{"eta": 0.1}, {"eta": 1e4}], [0], epochs=1, batch_size=50,
                            max_loss=10.0, progress=False)
    assert table["diverged"].tolist() == [False, True] and np.isnan(table.loc[1, "test_acc"])
    with pytest.raises(ValueError, match="different hyperparameters"):
        lesson.sweep(tiny, digits64, "adam", [{"eta": 0.1}, {"beta1": 0.5}], [0], epochs=1, progress=False)
    with pytest.raises(ValueError, match="Invalid last"):
        lesson.sweep(tiny, digits64, "adam", [{"eta": 0.1}], [0], last=0, epochs=1, progress=False)
    with pytest.raises(ValueError, match="sweep sets it"):
        lesson.sweep(tiny, digits64, "adam", [{"eta": 0.1}], [0], hparams={}, epochs=1, progress=False)
    with pytest.raises(ValueError, match="Invalid settings"):
        lesson.sweep(tiny, digits64, "adam", [], [0], epochs=1, progress=False)


# ------------------------------------------------------------------------------------------------ data
def test_noisy_labels(digits64):
    noisy = lesson.noisy_labels(digits64, 0.5, seed=1, n=150)
    assert len(noisy.y_train) == 150 and torch.equal(noisy.y_test, digits64.y_test)
    changed = float((noisy.y_train != digits64.y_train[:150]).double().mean())
    assert 0.3 < changed < 0.6  # half drawn anew, a tenth of those keep their label
    assert torch.equal(lesson.noisy_labels(digits64, 0.5, seed=1, n=150).y_train, noisy.y_train)
    assert torch.equal(lesson.noisy_labels(digits64, 0.0).y_train, digits64.y_train)
    with pytest.raises(ValueError, match="Invalid fraction"):
        lesson.noisy_labels(digits64, 1.5)
    with pytest.raises(ValueError, match="Invalid n"):
        lesson.noisy_labels(digits64, 0.1, n=10_000)


# ------------------------------------------------------------------------------------ the counterexample
def test_adam_fails_and_amsgrad_converges_on_reddi_problem():
    adam = lesson.online_counterexample(3000, C=3.0, eta=[0.2, 0.5])
    ams = lesson.online_counterexample(3000, C=3.0, eta=[0.2, 0.5], amsgrad=True)
    assert np.all(adam.x[:, -1] > 0.99) and np.all(ams.x[:, -1] < -0.99)
    # playing +1 every round costs 2 (C - 2) / 3 per round on average
    np.testing.assert_allclose(adam.regret[:, -1], 2 / 3, atol=0.02)
    assert np.all(ams.regret[:, -1] < 0.15) and np.all(ams.regret[:, -1] < ams.regret[:, 300])
    assert np.all(np.abs(adam.x) <= 1.0) and adam.x_star == -1.0


def test_counterexample_first_round_is_one_adam_step():
    r = lesson.online_counterexample(1, C=3.0, eta=0.5, x0=0.0)
    # first gradient C: Adam's first step is -eta (bias-corrected, beta1 = 0), eta_1 = eta / sqrt(1)
    assert r.x[0, 1] == pytest.approx(-0.5, rel=1e-7)
    assert r.regret[0, 0] == pytest.approx(3.0 * 0.0 - 3.0 * -1.0)


def test_counterexample_beta2_grid_equals_separate_runs():
    grid = lesson.online_counterexample(400, C=3.0, beta2=[0.1, 0.9, 0.999], eta=0.5)
    assert grid.x.shape == (3, 401) and grid.regret.shape == (3, 400)
    for k, beta2 in enumerate((0.1, 0.9, 0.999)):
        alone = lesson.online_counterexample(400, C=3.0, beta2=beta2, eta=0.5)
        np.testing.assert_allclose(grid.x[k], alone.x[0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(grid.regret[k], alone.regret[0], rtol=0, atol=1e-12)
    # a short memory fails, a long one converges (the chapter's exercise)
    assert grid.x[0, -1] > 0.9 and grid.x[2, -1] < -0.9
    # eta and beta2 grids of the same length pair up
    paired = lesson.online_counterexample(50, C=3.0, beta2=[0.1, 0.999], eta=[0.2, 0.5])
    np.testing.assert_allclose(paired.x[1], lesson.online_counterexample(50, C=3.0, beta2=0.999, eta=0.5).x[0])


@pytest.mark.parametrize("kwargs, match", [
    ({"steps": 0}, "Invalid steps"), ({"C": 1.5}, "Invalid C"), ({"period": 1}, "Invalid period"),
    ({"x0": 2.0}, "Invalid x0"), ({"eta": -1.0}, "Invalid eta"), ({"beta2": 1.0}, "Invalid beta2"),
    ({"beta2": [0.1, 0.5], "eta": [0.1, 0.2, 0.3]}, "Invalid grids"),
])
def test_counterexample_rejects(kwargs, match):
    args = {"steps": 10}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        lesson.online_counterexample(**args)


def test_surface_explorer_opens_where_adam_arrives():
    """At the old default η = 0.01 Adam covered a fifth of the quadratic in 100 steps (loss 0.29 from 1.6): its
    first frame showed nothing of the chapter's point."""
    from lib.lessons.adam import surface_explorer
    from lib.viz.declaration import Line

    ex = surface_explorer()
    defaults = ex.values(ex.default_indices())
    assert defaults["rule"] == "adam"
    frame = ex.frame(**defaults)
    curves = [np.asarray(item.y, float) for item in frame.items if isinstance(item, Line) and item.panel == "loss"]
    assert curves and all(y[-1] < 1e-3 * y[0] for y in curves)


def test_surface_explorer_sweeps_its_whole_control_space_without_warnings():
    import warnings

    from lib.lessons.adam import surface_explorer

    ex = surface_explorer()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for indices in ex.combinations():
            frame = ex.frame(**ex.values(indices))
            assert frame.items and frame.text
