"""Tests for lib.lessons.schedules: the moment recursion against brute-force enumeration and simulation, the noise
floor's closed forms, manual decay and RAdam's rectifier against torch, Monte Carlo checks."""

import itertools
import math

import numpy as np
import pytest
import torch

import lib.lessons.schedules as NF
from lib import schedules
from lib.data import least_squares
from lib.schedules import exponential, inverse_time, to_torch

PROBLEM = least_squares(n=60, d=4, noise=0.5, seed=1)


def brute_force_excess(problem, etas, batch_size, theta0):
    """E[L(theta_t)] - L* by enumerating every sequence of mini-batches (drawn with replacement)."""
    X, y = problem.X, problem.y
    n = len(y)
    out = [problem.loss(theta0) - problem.loss_star]
    for steps in range(1, len(etas) + 1):
        total = 0.0
        for draws in itertools.product(range(n), repeat=steps * batch_size):
            theta = np.array(theta0, dtype=np.float64)
            for k in range(steps):
                idx = list(draws[k * batch_size:(k + 1) * batch_size])
                theta = theta - etas[k] * 2.0 / batch_size * X[idx].T @ (X[idx] @ theta - y[idx])
            total += problem.loss(theta) - problem.loss_star
        out.append(total / n ** (steps * batch_size))
    return np.array(out)


@pytest.mark.parametrize("batch_size", [1, 2])
def test_expected_excess_equals_enumeration_of_all_minibatch_sequences(batch_size):
    tiny = least_squares(n=4, d=2, noise=0.7, seed=3)
    etas = [0.2, 0.1, 0.15] if batch_size == 1 else [0.2, 0.1]
    theta0 = np.array([0.5, -1.0])
    exact = brute_force_excess(tiny, etas, batch_size, theta0)
    schedule = lambda t: np.asarray(etas, dtype=np.float64)[np.asarray(t, dtype=np.int64)]  # noqa: E731
    got = NF.expected_excess(tiny, schedule, len(etas), batch_size, theta0=theta0)
    np.testing.assert_allclose(got, exact, rtol=1e-10, atol=1e-13)


def test_expected_excess_of_constant_rate_tends_to_stationary_excess():
    for eta, b in [(0.01, 1), (0.05, 4), (0.2, 16)]:
        curve = NF.expected_excess(PROBLEM, eta, 4000, b)
        assert curve[-1] == pytest.approx(NF.stationary_excess(PROBLEM, eta, b), rel=1e-6)


def test_noise_floor_is_the_first_order_term_of_the_stationary_excess():
    for b in (1, 8):
        ratios = [NF.stationary_excess(PROBLEM, eta, b) / NF.noise_floor(PROBLEM, eta, b) for eta in (1e-4, 1e-3, 1e-2)]
        assert abs(ratios[0] - 1) < 2e-3 and abs(ratios[1] - 1) < 2e-2
        assert ratios[0] < ratios[1] < ratios[2]  # the exact floor grows faster than linearly in eta
    np.testing.assert_allclose(NF.noise_floor(PROBLEM, np.array([0.01, 0.02]), np.array([1, 2])),
                               NF.noise_floor(PROBLEM, 0.01, 1), rtol=1e-15)


def test_gradient_covariance_is_the_covariance_of_the_per_example_gradients():
    X, r = PROBLEM.X, PROBLEM.X @ PROBLEM.theta_star - PROBLEM.y
    c = 2.0 * X * r[:, None]
    np.testing.assert_allclose(c.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(NF.gradient_covariance(PROBLEM), np.cov(c.T, bias=True), rtol=1e-10, atol=1e-14)
    assert NF.noise_floor(PROBLEM, 0.1, 4) == pytest.approx(0.1 * np.trace(np.cov(c.T, bias=True)) / 16, rel=1e-12)


def test_without_noise_there_is_no_floor():
    clean = least_squares(n=50, d=5, noise=0.0, seed=2)
    assert NF.noise_floor(clean, 0.05, 1) == pytest.approx(0.0, abs=1e-20)
    assert NF.stationary_excess(clean, 0.05, 1) == pytest.approx(0.0, abs=1e-20)
    runs = NF.sgd(clean, [0.05], 3000, batch_size=1, seeds=0)
    assert runs.excess[0, -1] < 1e-20


def test_unstable_rates_give_inf_and_diverge_in_simulation():
    eta = 0.5  # beyond the stability limit of batch-1 SGD here (per-example curvature 2 |x|^2 ~ 8)
    assert NF.stationary_excess(PROBLEM, eta, 1) == math.inf
    assert np.isinf(NF.expected_excess(PROBLEM, eta, 3000, 1)[-1])
    runs = NF.sgd(PROBLEM, [eta, 0.01], 3000, batch_size=1, seeds=[0, 0], every=100)
    assert runs.diverged_at[0] > 0 and runs.diverged_at[1] == -1
    assert np.all(np.isnan(runs.excess[0, runs.step > runs.diverged_at[0]]))
    assert np.all(np.isfinite(runs.theta))


def test_simulation_mean_matches_the_exact_expectation():
    schedule = inverse_time(0.05, 0.01)
    runs = NF.sgd(PROBLEM, [schedule] * 400, 600, batch_size=2, seeds=range(400), every=50)
    exact = NF.expected_excess(PROBLEM, schedule, 600, 2)[runs.step]
    mean = runs.excess.mean(axis=0)
    sem = runs.excess.std(axis=0, ddof=1) / math.sqrt(400)
    assert np.all(np.abs(mean - exact) < 5 * sem + 1e-12)


def test_sgd_is_deterministic_and_copies_are_independent():
    a = NF.sgd(PROBLEM, [0.01, exponential(0.05, 0.999), 0.03], 600, batch_size=3, seeds=[5, 6, 7], every=7)
    b = NF.sgd(PROBLEM, [exponential(0.05, 0.999)], 600, batch_size=3, seeds=[6], every=7)
    np.testing.assert_allclose(a.excess[1], b.excess[0], rtol=1e-12)  # only the summation order may differ
    np.testing.assert_array_equal(a.step, np.r_[np.arange(0, 600, 7), 600])
    np.testing.assert_allclose(a.lr[1], exponential(0.05, 0.999)(np.arange(600)), rtol=0)
    again = NF.sgd(PROBLEM, [0.01, exponential(0.05, 0.999), 0.03], 600, batch_size=3, seeds=[5, 6, 7], every=7)
    np.testing.assert_array_equal(again.excess, a.excess)
    c = NF.sgd(PROBLEM, [0.01, 0.03], 50, batch_size=3, seeds=4)
    d = NF.sgd(PROBLEM, [0.03], 50, batch_size=3, seeds=4)
    np.testing.assert_allclose(c.excess[1], d.excess[0], rtol=1e-12)


def test_sgd_first_update_by_hand():
    runs = NF.sgd(PROBLEM, [0.1], 1, batch_size=3, seeds=9)
    idx = np.random.default_rng(9).integers(0, len(PROBLEM.y), size=(1, 3))[0]
    theta = -0.1 * 2.0 / 3 * PROBLEM.X[idx].T @ (PROBLEM.X[idx] @ np.zeros(4) - PROBLEM.y[idx])
    np.testing.assert_allclose(runs.theta[0], theta, rtol=1e-14)
    assert runs.excess[0, 1] == pytest.approx(PROBLEM.loss(theta) - PROBLEM.loss_star, rel=1e-9)


@pytest.mark.parametrize(("milestones", "gamma"), [((30, 80), 0.1), ((1, 2, 3), 0.5), ((150,), 0.3)])
def test_manual_decay_matches_torch_multisteplr(milestones, gamma):
    s = schedules.manual_decay(0.2, milestones, gamma)
    ref = schedules.torch_learning_rates(
        lambda o: torch.optim.lr_scheduler.MultiStepLR(o, list(milestones), gamma), 200, 0.2)
    np.testing.assert_allclose(s(np.arange(200)), ref, rtol=1e-14)
    assert s(0) == s.lr0 == 0.2 and isinstance(s(5), float)
    assert eval(repr(s), vars(schedules)) == s
    via = schedules.torch_learning_rates(lambda o: to_torch(s, o), 200, 123.0)
    np.testing.assert_array_equal(via, [s(t) for t in range(200)])  # LambdaLR calls s(t) with an int


def test_manual_decay_rejects_bad_arguments():
    for args in [(0.0, (10,)), (0.1, (10, 5)), (0.1, (0,)), (0.1, (10, 10)), (0.1, (1.5,))]:
        with pytest.raises(ValueError):
            schedules.manual_decay(*args)
    with pytest.raises(ValueError, match="gamma"):
        schedules.manual_decay(0.1, (10,), gamma=1.5)


def test_torch_learning_rates_reads_the_rate_used_in_each_epoch():
    lrs = schedules.torch_learning_rates(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.9), 5, 0.1)
    np.testing.assert_allclose(lrs, 0.1 * 0.9 ** np.arange(5), rtol=1e-14)


def test_radam_rho_and_rectifier_limits():
    assert NF.radam_rho(1, 0.999) == pytest.approx(1.0, abs=1e-9)
    rho = NF.radam_rho(np.arange(1, 20_000), 0.999)
    assert np.all(np.diff(rho) > 0) and 1998.99 < rho[-1] < 1999
    assert NF.radam_rho(10, 0.999) == pytest.approx(10, rel=0.01)  # about t while t << 1/(1 - beta2)
    r = NF.radam_rectifier(np.arange(1, 20_000), 0.999)
    assert np.all(r[:5] == 0) and np.all(np.diff(r[6:]) > 0) and 0.99 < r[-1] <= 1
    with pytest.raises(ValueError, match="beta parameter"):
        NF.radam_rho(3, 1.0)
    with pytest.raises(ValueError, match="t"):
        NF.radam_rho(0)


def test_radam_rectifier_matches_torch_radam_steps():
    beta1, beta2, lr = 0.9, 0.99, 0.01
    grads = np.random.default_rng(0).standard_normal(40) + 0.3
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.RAdam([p], lr=lr, betas=(beta1, beta2), eps=0.0)
    m = v = 0.0
    for t, g in enumerate(grads, start=1):
        before = p.item()
        p.grad = torch.tensor([g], dtype=torch.float64)
        opt.step()
        m, v = beta1 * m + (1 - beta1) * g, beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        r = NF.radam_rectifier(t, beta2)
        expected = -lr * r * m_hat / math.sqrt(v_hat) if r > 0 else -lr * m_hat
        assert p.item() - before == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_chi2_factor_variance_against_monte_carlo_and_limits():
    rng = np.random.default_rng(1)
    for rho in (6, 20):
        psi = np.sqrt(rho / rng.chisquare(rho, size=400_000))
        assert NF.chi2_factor_variance(rho) == pytest.approx(np.var(psi), rel=0.03)
    assert NF.chi2_factor_variance(2.0) == math.inf
    assert NF.chi2_factor_variance(1e4) == pytest.approx(1 / 2e4, rel=1e-3)
    assert np.all(np.diff(NF.chi2_factor_variance(np.linspace(3, 100, 50))) < 0)


def test_adaptive_factor_first_step_is_one_over_abs_gradient():
    stats = NF.adaptive_factor(beta2=0.999, steps=60, samples=40_000, quantiles=(0.5, 0.95), seed=2)
    # psi_1 = 1/|g|: median 1/0.6745, 95th percentile 1/q where P(|g| < q) = 0.05
    assert stats.quantiles[0, 0] == pytest.approx(1 / 0.6744897501960817, rel=0.02)
    assert stats.quantiles[1, 0] == pytest.approx(1 / 0.06270677794321385, rel=0.05)
    spread = stats.quantiles[1] - stats.quantiles[0]
    assert spread[-1] < spread[9] < spread[0] and stats.variance[-1] < 0.02
    assert stats.t.tolist() == list(range(1, 61))


def test_early_spike():
    loss = np.array([[2.3, 2.0, 4.6, 1.0], [2.0, 1.5, 1.0, 0.5], [2.0, np.nan, np.nan, np.nan]])
    np.testing.assert_allclose(NF.early_spike(loss, 3), [2.0, 1.0, np.inf])
    assert NF.early_spike(loss[0], 2) == 1.0
    with pytest.raises(ValueError, match="window"):
        NF.early_spike(loss, 5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="problem"):
        NF.noise_floor("nope", 0.1, 1)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        NF.stationary_excess(PROBLEM, -0.1, 1)
    with pytest.raises(ValueError, match="batch_size"):
        NF.sgd(PROBLEM, [0.1], 10, batch_size=0, seeds=0)
    with pytest.raises(ValueError, match="seeds"):
        NF.sgd(PROBLEM, [0.1, 0.2], 10, batch_size=1, seeds=[0])
    with pytest.raises(ValueError, match="every"):
        NF.sgd(PROBLEM, [0.1], 10, batch_size=1, seeds=0, every=11)
    with pytest.raises(ValueError, match="theta0"):
        NF.expected_excess(PROBLEM, 0.1, 10, 1, theta0=np.zeros(3))
    with pytest.raises(ValueError, match="schedule"):
        NF.expected_excess(PROBLEM, lambda t: -1.0 + 0 * np.asarray(t), 10, 1)


def test_stability_criterion_agrees_with_the_spectral_radius_of_the_moment_map():
    X, H = PROBLEM.X, PROBLEM.hessian
    n, d = X.shape

    def moment_map(P, eta, b):  # one step of the second-moment recursion without noise
        M = 4.0 / n * (X * np.einsum("ni,ij,nj->n", X, P, X)[:, None]).T @ X
        return P - eta * (H @ P + P @ H) + eta**2 * ((1 - 1 / b) * H @ P @ H + M / b)

    for b in (1, 4):
        etas = np.geomspace(0.01, 1.5, 25)
        finite = np.isfinite(NF.stationary_excess(PROBLEM, etas, b))
        for eta, ok in zip(etas, finite, strict=True):
            T = np.stack([moment_map(E.reshape(d, d), eta, b).ravel() for E in np.eye(d * d)], axis=1)
            assert ok == (np.max(np.abs(np.linalg.eigvals(T))) < 1), (eta, b)
        assert finite[0] and not finite[-1]


# ------------------------------------------------------------------------------------- the chapter's experiments
def test_against_pairs_by_seed_label_and_matches_lib_stats():
    import pandas as pd

    from lib.stats import paired_difference

    index = pd.MultiIndex.from_tuples([(name, seed) for name in ("constant", "cosine") for seed in (5, 3, 4)],
                                      names=["schedule", "seed"])
    # the cosine rows are listed in another seed order: pairing must go by the seed label, not by position
    frame = pd.DataFrame({"acc": [0.90, 0.95, 0.92, 0.91, 0.96, 0.93]}, index=index).sort_index(level="seed")
    table = NF.against(frame, "constant", "acc")
    expected = paired_difference({5: 0.91, 3: 0.96, 4: 0.93}, {5: 0.90, 3: 0.95, 4: 0.92})
    assert list(table.index) == ["cosine"]
    assert table.loc["cosine", "difference"] == pytest.approx(0.01)
    assert table.loc["cosine", "low"] == pytest.approx(expected.low)
    assert table.loc["cosine", "seeds"] == 3


def test_real_schedules_start_at_eta0_and_the_decays_end_near_a_tenth():
    T, per_epoch = 440, 22
    named = NF.real_schedules(0.5, T, per_epoch)
    assert len(named) == 9
    for name in ("constant", "inverse time", "exponential", "k/√t", "staircase ×½ / 5 epochs", "cosine"):
        assert named[name](0) == pytest.approx(0.5), name
    assert named["inverse time"](T) == pytest.approx(0.05)
    assert named["exponential"](T) == pytest.approx(0.05)
    assert named["manual ÷10 at 50 %, 75 %"](T - 1) == pytest.approx(0.005)
    assert named["warmup 2 epochs + cosine"](0) < 0.5 / per_epoch * 1.01


def test_torch_comparison_agrees_with_every_torch_scheduler():
    table = NF.torch_comparison(0.2, 100)
    assert len(table) == 8
    assert table["max |lib − torch|"].max() < 1e-12
    assert table["max |lib − to_torch(lib)|"].max() == 0
    assert table["s(0) = lr0"].all()


def test_floor_frame_marks_a_divergence_at_the_last_point_inside_the_run():
    step = np.arange(0, 101, 10)
    excess = np.tile(np.linspace(1.0, 2.0, len(step)), (2, 1))
    excess[:, 6:] = np.nan
    data = {"step": step,
            (0.1, 1, "constant"): (excess, np.array([55, -1]), np.ones(101)),
            (0.1, 1, "inverse time"): (excess[:, :], np.array([-1, -1]), np.ones(101))}
    frame = NF.floor_frame(PROBLEM, data, 0.1, 1, 100)
    markers = [item for item in frame.items if type(item).__name__ == "Markers"]
    assert len(markers) == 1
    assert list(markers[0].x) == [50] and np.isfinite(markers[0].y).all()
    assert any("1 of 2 runs diverged, the first at step 55" in line for line in frame.text)


def test_warmup_setting_labels():
    assert NF.warmup_setting("adam", 0.1, 0) == "Adam, η = 0.1, no warmup"
    assert NF.warmup_setting("radam", 0.03, 21) == "RAdam, η = 0.03, warmup 21 updates"


def test_decay_demo_plateaus_and_per_seed_ratios(monkeypatch):
    monkeypatch.setattr(NF.plt, "show", lambda: None)
    eta = 0.05
    demo = {"constant": schedules.constant(eta), "manual": schedules.manual_decay(eta, (100,)),
            "inverse": inverse_time(eta, 0.01)}
    out = NF.decay_demo(PROBLEM, demo, 300, 2, 4, eta, late=100, cuts=(100,), window=50)
    assert {"demo_manual_plateau_0", "demo_manual_plateau_1"} <= set(out)
    assert "demo_manual_plateau_2" not in out
    assert out["demo_manual_plateau_1"] < out["demo_manual_plateau_0"]  # the cut lowers the plateau
    for key in ("manual", "inv"):
        assert 0 < out[f"demo_{key}_seed_min"] <= out[f"demo_{key}_seed_max"]
    assert set(NF.decay_demo(PROBLEM, demo, 300, 2, 4, eta, late=100)) >= {"demo_manual_plateau_0", "demo_gain"}
