"""Tests for lib.convergence and lib.lessons.momentum:
closed-form rates vs eigenvalues, vs the rules, and vs measured runs on quadratics."""

import math

import numpy as np
import pytest

from lib import convergence as rates
from lib import trajectories
from lib.lessons import momentum
from lib.surfaces import quadratic

# a grid of learning rates, momenta and curvatures that crosses every regime: real roots, complex roots,
# the edges between them, divergence, and negative curvature (a saddle's escape direction)
ETA = np.linspace(0.0, 4.5, 37)
BETA = np.array([0.0, 0.1, 0.25, 0.5, 0.81, 0.9, 0.99])
LAM = np.array([-0.5, 0.01, 0.1, 0.5, 1.0, 2.0])

# The stated tolerance for measured vs predicted rates: 300 steps, fitted over the second half.
RATE_TOL = 0.01


def grid():
    return np.meshgrid(LAM, ETA, BETA, indexing="ij")


@pytest.mark.parametrize("nesterov", [False, True])
def test_spectral_radius_matches_eigenvalues(nesterov):
    lam, eta, beta = grid()
    eig = np.abs(np.linalg.eigvals(rates.momentum_matrix(lam, eta, beta, nesterov=nesterov))).max(-1)
    closed = rates.spectral_radius(lam, eta, beta, nesterov=nesterov)
    # at a double root eigvals loses half the digits: sqrt(machine epsilon)
    np.testing.assert_allclose(closed, eig, rtol=0, atol=3e-8)


def test_gradient_descent_is_beta_zero():
    lam, eta, _ = np.meshgrid(LAM, ETA, [0.0], indexing="ij")
    np.testing.assert_allclose(rates.spectral_radius(lam, eta), np.abs(1 - eta * lam), rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(rates.rate(ETA, 0.0, [0.1, 2.0]), rates.gd_rate(ETA, 0.1, 2.0), rtol=1e-15)


@pytest.mark.parametrize("nesterov", [False, True])
def test_matrix_reproduces_the_rules(nesterov):
    # diagonal quadratic: x, y are eigen-coordinates with curvatures lam_max = 1 and 1 / kappa
    lam, eta, beta, steps = np.array([1.0, 0.04]), 0.7, 0.8, 60
    surface = quadratic(kappa=25.0)
    name = "nesterov" if nesterov else "momentum"
    path = trajectories.run(name, surface, (1.0, -2.0), steps, eta=eta, beta=beta).path[0]
    R = rates.momentum_matrix(lam, eta, beta, nesterov=nesterov)  # (2, 2, 2): one matrix per direction
    state = np.stack([np.array([1.0, -2.0]), np.zeros(2)], -1)  # (direction, (x, b))
    for t in range(steps):
        state = (R @ state[..., None])[..., 0]
        np.testing.assert_allclose(path[t + 1], state[:, 0], rtol=1e-12, atol=1e-14)


def test_complex_regime_rate_is_sqrt_beta():
    lam = np.array([0.3, 1.0, 5.0])[:, None, None]
    beta = np.array([0.2, 0.5, 0.9, 0.99])[None, :, None]
    lo, hi = rates.complex_regime(lam, beta)
    eta = lo + (hi - lo) * np.linspace(0.01, 0.99, 25)[None, None, :]
    np.testing.assert_allclose(rates.spectral_radius(lam, eta, beta), np.sqrt(beta) + 0 * eta, rtol=1e-14)
    # critical beta: the discriminant vanishes there, and just above it the rate is sqrt(beta)
    eta = np.linspace(0.05, 3.0, 30)
    beta_c = rates.critical_beta(1.0, eta)
    np.testing.assert_allclose((1 + beta_c - eta) ** 2 - 4 * beta_c, 0.0, atol=1e-14)
    above = np.minimum(beta_c + 1e-3, 0.999)
    np.testing.assert_allclose(rates.spectral_radius(1.0, eta, above), np.sqrt(above), rtol=1e-14)


@pytest.mark.parametrize("kappa", [2.0, 10.0, 100.0, 1000.0])
def test_optimal_hyperparameters(kappa):
    lam_min, lam_max = 0.5 / kappa, 0.5
    gd = rates.gd_optimal(lam_min, lam_max)
    assert gd.rate == pytest.approx((kappa - 1) / (kappa + 1), rel=1e-14)
    assert gd.eta == pytest.approx(2 / (lam_min + lam_max), rel=1e-14)
    assert rates.gd_rate(gd.eta, lam_min, lam_max) == pytest.approx(gd.rate, rel=1e-12)
    etas = np.linspace(0.0, 4.0 / lam_max, 4001)
    assert rates.gd_rate(etas, lam_min, lam_max).min() >= gd.rate - 1e-12

    hb = rates.momentum_optimal(lam_min, lam_max)
    s = math.sqrt(kappa)
    assert hb.rate == pytest.approx((s - 1) / (s + 1), rel=1e-14)
    assert hb.beta == pytest.approx(hb.rate**2, rel=1e-14)
    assert hb.eta == pytest.approx((2 / (math.sqrt(lam_max) + math.sqrt(lam_min))) ** 2, rel=1e-14)
    assert rates.rate(hb.eta, hb.beta, [lam_min, lam_max]) == pytest.approx(hb.rate, rel=1e-7)
    # no point of a fine grid does better, and the grid's best is close to the optimum
    grid_rates = rates.rate_map(np.linspace(0.0, 2 * hb.eta, 801), np.linspace(0.0, 0.999, 1000),
                                [lam_min, lam_max])
    assert grid_rates.min() >= hb.rate - 1e-9
    assert grid_rates.min() <= hb.rate + 0.02 * (1 - hb.rate)
    # curvatures in between never do worse than the two ends
    inside = np.linspace(lam_min, lam_max, 101)
    assert rates.spectral_radius(inside, hb.eta, hb.beta).max() <= hb.rate + 1e-7


@pytest.mark.parametrize("nesterov", [False, True])
def test_rate_of_a_spectrum_is_set_by_its_ends(nesterov):
    rng = np.random.default_rng(1)
    lam_min = rng.uniform(1e-3, 1.0, 300)
    lam_max = lam_min * rng.uniform(1.0, 1e3, 300)
    eta = rng.uniform(0.0, 3.0, 300) / lam_max
    beta = rng.uniform(0.0, 0.99, 300)
    inside = np.linspace(0.0, 1.0, 201)[:, None] * (lam_max - lam_min) + lam_min  # (201, 300)
    full = rates.spectral_radius(inside, eta, beta, nesterov=nesterov).max(axis=0)
    ends = np.array([rates.rate(e, b, [lo, hi], nesterov=nesterov)
                     for e, b, lo, hi in zip(eta, beta, lam_min, lam_max, strict=True)])
    np.testing.assert_allclose(full, ends, rtol=0, atol=1e-12)


def test_stability_limit():
    lam, beta = np.array([0.1, 1.0, 7.0])[:, None], np.array([0.0, 0.5, 0.9, 0.99])[None, :]
    for nesterov in (False, True):
        limit = rates.stability_limit(lam, beta, nesterov=nesterov)
        assert np.all(rates.spectral_radius(lam, limit * 0.999, beta, nesterov=nesterov) < 1)
        assert np.all(rates.spectral_radius(lam, limit * 1.001, beta, nesterov=nesterov) > 1)
    np.testing.assert_allclose(rates.stability_limit(2.0), 1.0)


def test_rate_map_layout():
    etas, betas = np.array([0.1, 0.5, 1.0]), np.array([0.0, 0.9])
    out = rates.rate_map(etas, betas, [0.1, 1.0])
    assert out.shape == (2, 3)
    assert out[1, 2] == pytest.approx(rates.rate(1.0, 0.9, [0.1, 1.0]))


@pytest.mark.parametrize("nesterov", [False, True])
def test_measured_rate_matches_theory_on_quadratic(nesterov):
    """lib.trajectories runs on a rotated κ = 10 quadratic agree with the formula to RATE_TOL."""
    kappa, steps = 10.0, 300
    surface = quadratic(kappa=kappa, angle=0.4)
    etas, betas = np.linspace(0.05, 4.0, 24), np.linspace(0.0, 0.95, 20)
    E, B = np.meshgrid(etas, betas)
    name = "nesterov" if nesterov else "momentum"
    runs = trajectories.sweep(name, surface, (1.0, 1.0), steps, eta=E.ravel(), beta=B.ravel())
    errors = np.linalg.norm(runs.path, axis=-1)
    predicted = rates.rate_map(etas, betas, [1 / kappa, 1.0], nesterov=nesterov).ravel()
    measured = rates.measured_rate(errors)
    converged = predicted < 0.99
    diverged = runs.diverged_at >= 0
    assert converged.sum() > 150
    np.testing.assert_allclose(measured[converged], predicted[converged], rtol=0, atol=RATE_TOL)
    assert not diverged[converged].any()
    # a run that left the box had a rate above 1, and every fast-diverging setting left it
    assert np.all(predicted[diverged] > 1)
    assert np.all(diverged[predicted > 1.1])


@pytest.mark.parametrize("kappa", [10.0, 100.0, 1000.0])
def test_steps_to_tolerance_at_the_optimum(kappa):
    surface = quadratic(kappa=kappa, angle=0.3)
    lam_min, lam_max = 1 / kappa, 1.0
    gd, hb = rates.gd_optimal(lam_min, lam_max), rates.momentum_optimal(lam_min, lam_max)
    tol = 1e-6
    for rule, opt, hp, slack in (("gd", gd, {}, 1.0), ("momentum", hb, {"beta": hb.beta}, 1.6)):
        predicted = int(rates.predicted_steps(opt.rate, tol))
        steps = 4 * predicted + 50
        path = trajectories.run(rule, surface, (1.0, 1.0), steps, eta=opt.eta, **hp).path
        errors = np.linalg.norm(path[0], axis=-1)
        measured = int(rates.steps_to_tolerance(errors, tol))
        # GD's error is a sum of two geometric terms at the same rate: within a step of the prediction.
        # Momentum at the optimum sits on a double root (error ~ t rho^t): later, but by a bounded factor,
        # and its measured rate approaches rho only as the factor t matters less (late window).
        assert predicted - 2 <= measured <= slack * predicted + 2, (rule, kappa, predicted, measured)
        assert rates.measured_rate(errors) == pytest.approx(opt.rate, abs=RATE_TOL)


def test_measured_rate_estimator():
    t = np.arange(200)
    assert rates.measured_rate(0.9**t) == pytest.approx(0.9, rel=1e-12)
    assert rates.measured_rate(1.05**t) == pytest.approx(1.05, rel=1e-12)
    # an oscillating error: the envelope still decays at 0.95 (a spiral, as in the complex regime)
    spiral = 0.95**t * np.abs(np.cos(0.3 * t + 0.2))
    assert rates.measured_rate(spiral) == pytest.approx(0.95, abs=2e-3)
    # vectorized over leading axes, with windows
    both = np.stack([0.9**t, 0.5**t])
    np.testing.assert_allclose(rates.measured_rate(both, 10, 50), [0.9, 0.5], rtol=1e-12)
    # an exactly converged run: the zeros are left out of the fit
    assert rates.measured_rate(np.array([1.0, 0.5, 0.25, 0.0, 0.0]), 0) == pytest.approx(0.5)
    assert math.isnan(rates.measured_rate(np.zeros(10)))


def test_steps_to_tolerance_and_prediction():
    e = np.array([1.0, 0.5, 1e-7, 2e-6, 5e-7, 1e-8])
    assert rates.steps_to_tolerance(e, 1e-6) == 4  # the dip at step 2 does not count: it comes back up
    assert rates.steps_to_tolerance(e, 1e-9) == -1
    assert rates.steps_to_tolerance(10 * e, 1e-5, relative=False) == 4
    np.testing.assert_array_equal(rates.steps_to_tolerance(np.stack([e, e]), 1e-6), [4, 4])
    assert rates.predicted_steps(0.5, 1e-3) == 10
    np.testing.assert_array_equal(rates.predicted_steps([0.0, 0.9, 1.0, 1.2], 1e-6), [1, 132, -1, -1])


def test_ewma_series():
    rng = np.random.default_rng(0)
    x = rng.normal(10.0, 3.0, 120)
    betas = np.array([0.5, 0.9, 0.98])
    v = momentum.ewma_series(x, betas)
    t = np.arange(1, x.size + 1)
    # closed form: v_t = sum_k (1 - beta) beta^(t - k) x_k
    for beta, row in zip(betas, v, strict=True):
        weights = (1 - beta) * beta ** (t[-1] - t)
        assert row[-1] == pytest.approx(np.sum(weights * x), rel=1e-12)
    v_hat = momentum.ewma_series(x, betas, bias_correction=True)
    np.testing.assert_allclose(v_hat, v / (1 - betas[:, None] ** t), rtol=1e-12)
    assert v_hat[:, 0] == pytest.approx(np.full(3, x[0]))
    np.testing.assert_allclose(momentum.ewma_series(np.full(50, 7.0), 0.98, bias_correction=True), 7.0, rtol=1e-12)
    assert momentum.ewma_series(x, 0.9).shape == x.shape
    np.testing.assert_allclose(momentum.effective_window([0.5, 0.9, 0.98]), [2, 10, 50])
    np.testing.assert_allclose(momentum.mean_age([0.5, 0.9]), [1, 9])


def test_seasonal_lag():
    t = np.arange(2000)
    period = 365.25
    series = 10 + 5 * np.sin(2 * np.pi * t / period)
    assert momentum.seasonal_lag(series[30:], series[:-30], period) == pytest.approx(30, abs=1e-9)
    assert momentum.seasonal_lag(series[:-30], series[30:], period) == pytest.approx(-30, abs=1e-9)
    for beta in (0.5, 0.9, 0.98):
        smoothed = momentum.ewma_series(series, beta, bias_correction=True)
        # the start-up transient decays like beta^t; the rest is the frequency response
        measured = momentum.seasonal_lag(series[400:], smoothed[400:], period)
        assert measured == pytest.approx(momentum.ewma_lag(beta, period), abs=1e-3)
    # slow cycles: the lag tends to the mean age beta / (1 - beta)
    assert momentum.ewma_lag(0.9, 1e5) == pytest.approx(9.0, rel=1e-3)
    assert momentum.ewma_lag(0.98, period) < momentum.mean_age(0.98)


def test_bad_arguments():
    with pytest.raises(ValueError, match="Invalid beta value: 1.0"):
        rates.spectral_radius(1.0, 0.1, 1.0)
    with pytest.raises(ValueError, match="Invalid learning rate: -0.1"):
        rates.spectral_radius(1.0, -0.1, 0.5)
    with pytest.raises(ValueError, match="Invalid spectrum"):
        rates.gd_optimal(1.0, 0.5)
    with pytest.raises(ValueError, match="Invalid spectrum"):
        rates.momentum_optimal(0.0, 1.0)
    with pytest.raises(ValueError, match="Invalid lams"):
        rates.rate(0.1, 0.5, [])
    with pytest.raises(ValueError, match="Invalid window"):
        rates.measured_rate(np.ones(10), 5, 3)
    with pytest.raises(ValueError, match="Invalid errors"):
        rates.measured_rate(np.ones(1))
    with pytest.raises(ValueError, match="Invalid tol"):
        rates.steps_to_tolerance(np.ones(5), 0.0)
    with pytest.raises(ValueError, match="Invalid lam"):
        rates.complex_regime(-1.0, 0.5)
    with pytest.raises(ValueError, match="Invalid period"):
        momentum.seasonal_lag(np.ones(50), np.ones(50), 1.0)
    with pytest.raises(ValueError, match="Invalid series"):
        momentum.seasonal_lag(np.ones(50), np.ones(40), 10.0)
    with pytest.raises(ValueError, match="Invalid x"):
        momentum.ewma_series(np.ones((2, 2)), 0.5)


# --------------------------------------------------------------------------------------------------------------
# the chapter's experiments: tables indexed by label
# --------------------------------------------------------------------------------------------------------------


def test_ewma_table_is_indexed_by_beta():
    t = np.arange(8 * 365.0)
    series = 10 + 8 * np.sin(2 * math.pi * t / 365.25)
    table = momentum.ewma_table(series, [0.98, 0.5, 0.9])
    assert list(table.index) == [0.98, 0.5, 0.9]  # the order given, selected by label
    assert table.loc[0.9, "1/(1−β) (days)"] == pytest.approx(10.0)
    assert table.loc[0.9, "β^(1/(1−β))"] == pytest.approx(0.9**10)
    assert table.loc[0.98, "mean age β/(1−β) (days)"] == pytest.approx(49.0)
    # a pure sine: the measured lag is the frequency-response lag, up to the start-up transient of the
    # bias-corrected average (which biases the fitted phase a little, most for beta = 0.98)
    for beta in (0.5, 0.9, 0.98):
        assert table.loc[beta, "seasonal lag, measured (days)"] == pytest.approx(
            table.loc[beta, "seasonal lag, theory (days)"], rel=0.05)
    changes = table["mean |day-to-day change| (°C)"]
    assert changes[0.98] < changes[0.9] < changes[0.5]


def test_three_conventions_agree_until_the_learning_rate_moves():
    from lib.schedules import step

    bowl = quadratic(kappa=10.0, angle=0.5)
    constant = momentum.three_conventions(bowl, (1.5, -1.0), 60, 0.3, 0.9)
    np.testing.assert_allclose(constant["Lee"], constant["torch"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(constant["Ng"], constant["torch"], rtol=0, atol=1e-12)
    decayed = momentum.three_conventions(bowl, (1.5, -1.0), 60, step(0.3, 0.1, 20), 0.9)
    np.testing.assert_allclose(decayed["Ng"], decayed["torch"], rtol=0, atol=1e-12)
    assert np.abs(decayed["Lee"] - decayed["torch"]).max() > 0.01


def test_compare_on_ravine_labels_and_counts():
    ravine = quadratic(kappa=50.0, angle=math.pi / 2)
    settings = {"gd": ("GD", "gd", 1.8, 0.0), "hb": ("momentum", "momentum", 0.18, 0.9),
                "bad": ("too large", "gd", 2.5, 0.0)}
    table, runs = momentum.compare_on_ravine(ravine, (-1.8, 0.9), settings, 400, [0.02, 1.0])
    assert list(table.index) == ["gd", "hb", "bad"] and set(runs) == set(settings)
    assert table.loc["gd", "setting"] == "GD"
    assert table.loc["gd", "flips"] == 100  # 1 - 1.8 * 1 < 0: the steep coordinate flips at every step
    assert table.loc["hb", "flips"] < 100
    # GD's steep coordinate shrinks by 0.8 per step: the distance across is 0.9 * 1.8 * sum 0.8^k
    assert table.loc["gd", "across"] == pytest.approx(0.9 * 1.8 * (1 - 0.8**100) / 0.2, rel=1e-9)
    assert table.loc["bad", "diverged at"] >= 0 and table.loc["bad", "steps to 10⁻⁶"] == -1
    assert table.loc["gd", "diverged at"] == -1
    assert table.loc["gd", "rate"] == pytest.approx(table.loc["gd", "theory"], abs=RATE_TOL)


def test_rate_line_and_map_match_theory():
    bowl = quadratic(kappa=10.0, angle=0.4)
    etas = np.linspace(0.2, 2.0, 7)
    line = momentum.rate_line(bowl, (1.0, 1.0), 300, etas, 0.5, [0.1, 1.0])
    np.testing.assert_allclose(line.index, etas)
    settled = line[line["converged"] & (line["theory"] < 0.99)]
    assert len(settled) == len(line)
    np.testing.assert_allclose(settled["measured"], settled["theory"], atol=RATE_TOL)
    betas = np.array([0.0, 0.5, 0.9])
    measured, diverged = momentum.measured_rate_map(bowl, (1.0, 1.0), 300, np.array([0.5, 1.0, 5.0]), betas)
    assert measured.shape == diverged.shape == (3, 3)  # rows beta, columns eta, as convergence.rate_map
    assert diverged[:, 2].all() and not diverged[:, :2].any()  # eta = 5 > 2(1 + beta) / lambda_max
    np.testing.assert_allclose(measured[:, :2], rates.rate_map(np.array([0.5, 1.0]), betas, [0.1, 1.0]),
                               atol=RATE_TOL)


def test_steps_to_reach_is_indexed_by_kappa():
    table, curves = momentum.steps_to_reach((100.0, 10.0), (1.0, 1.0))
    assert list(table.index) == [100.0, 10.0]
    for kappa in (10.0, 100.0):
        row = table.loc[kappa]
        assert row["GD steps, measured"] == row["GD steps, theory"]
        assert row["momentum steps, measured"] >= row["momentum steps, theory"]
        assert row["√κ"] == pytest.approx(math.sqrt(kappa))
        err, rho = curves[(kappa, "momentum")]
        assert err[0] == 1.0 and rho == pytest.approx(rates.momentum_optimal(1 / kappa, 1.0).rate)
    assert table.loc[100.0, "speed-up"] > table.loc[10.0, "speed-up"] > 1


def test_basins_nearest_start_and_saddle_escape():
    from lib.surfaces import get

    two_minima = get("two_minima")
    starts = np.array([[-1.2, 0.3], [1.3, -0.2], [-0.05, 0.0]])
    methods = {"gd": ("gd", {})}
    ends, diverged = momentum.basins(two_minima, starts, methods, 0.1, 600, {"local": (-1.0, 0.0),
                                                                            "global": (1.5, 0.0)})
    assert diverged == {"gd": 0}
    np.testing.assert_array_equal(ends["gd"]["local"], [True, False, True])
    np.testing.assert_array_equal(ends["gd"]["global"], [False, True, False])
    np.testing.assert_array_equal(momentum.nearest_start(starts, [True, False, True], (0.0, 0.0)), [-0.05, 0.0])
    with pytest.raises(ValueError, match="no start"):
        momentum.nearest_start(starts, [False, False, False], (0.0, 0.0))
    table = momentum.saddle_escape(two_minima, np.array([1e-4, 1.0]), {"GD": ("gd", 0.0), "HB": ("momentum", 0.9)},
                                   0.1, -1.5)
    assert list(table.index) == ["GD", "HB"]
    assert table.loc["GD", "growth factor per step (theory)"] == pytest.approx(1.15)
    assert 0 < table.loc["HB", "steps, measured"] < table.loc["GD", "steps, measured"]
    assert (table["steps, measured"] >= table["steps, theory"]).all()


@pytest.fixture(scope="module")
def digits_runs():
    from lib.data import digits
    from lib.models import mlp

    settings = {"sgd": ("momentum", 0.1, 0.0), "hb": ("momentum", 0.05, 0.5), "nag": ("nesterov", 0.05, 0.5)}
    histories = momentum.train_digits(lambda s: mlp([64, 8, 10], seed=s), digits(), settings, [3, 1, 2],
                                      epochs=2, batch_size=128)
    return settings, histories


def test_network_runs_select_by_label(digits_runs):
    from lib.results import select

    settings, histories = digits_runs
    assert set(histories) == {"momentum", "nesterov"}
    runs = momentum.network_runs(histories, settings)
    assert len(runs) == 9 and sorted(runs["seed"].unique()) == [1, 2, 3]
    # the rows do not depend on the order of the settings: they are selected by (eta, beta), not by position
    swapped = momentum.network_runs(histories, dict(reversed(settings.items())))
    for label, (rule, eta, beta) in settings.items():
        rows = runs[runs["setting"] == label].set_index("seed")
        other = swapped[swapped["setting"] == label].set_index("seed")
        np.testing.assert_array_equal(rows["train loss"], other["train loss"])
        h = histories[rule]
        for seed in (1, 2, 3):
            expected = select(h, "test_acc", eta=eta, beta=beta, seed=seed)[0, -1]
            assert rows.loc[seed, "test accuracy"] == expected
        assert (rows["η/(1−β)"] == eta / (1 - beta)).all()
    summary = momentum.network_summary(runs)
    assert list(summary.index) == list(settings)
    assert (summary["seeds"] == 3).all() and (summary["diverged"] == 0).all()
    assert summary.loc["hb", "test accuracy"] == pytest.approx(runs[runs["setting"] == "hb"]["test accuracy"].mean())


def test_paired_accuracy_pairs_by_seed(digits_runs):
    from lib.stats import paired_difference

    settings, histories = digits_runs
    runs = momentum.network_runs(histories, settings)
    d = momentum.paired_accuracy(runs, "hb", "sgd", "train loss")
    a = runs[runs["setting"] == "hb"].set_index("seed")["train loss"]
    b = runs[runs["setting"] == "sgd"].set_index("seed")["train loss"]
    expected = paired_difference(a.to_dict(), b.to_dict())
    assert d.n == 3 and d.mean == pytest.approx(expected.mean) and d.low == pytest.approx(expected.low)
    assert d.mean == pytest.approx(float((a - b.loc[a.index]).mean()))
    with pytest.raises(ValueError, match="Invalid setting"):
        momentum.paired_accuracy(runs, "hb", "adam")
