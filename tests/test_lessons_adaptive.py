"""lib.lessons.adaptive, and the two forms of RMSProp in lib.rules compared: torch's (v₀ = 0) and the course's σ form.

tests/test_rules.py checks each form on its own (formulas, numpy = torch, purity) and tests/test_optim.py checks
lib.optim against torch.optim. Here: how the two forms differ (first step, ε, v₀ = 0), when they coincide, the
bound on RMSProp's step, and the measurement helpers of the adaptive-learning-rate chapter.
"""

import dataclasses
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lib import data, models, optim, rules, stats, train, trajectories
from lib.lessons import adaptive
from lib.surfaces import quadratic

SETTINGS = settings(max_examples=40, deadline=None)


def gradients(steps, seed=0, scale=1.0):
    """A deterministic sequence of 2-D gradients with varied sizes and signs, shape (steps, 2)."""
    t = np.arange(steps)[:, None]
    return scale * np.hstack([np.sin(1.3 * t + 0.2) * 3.0, np.cos(0.7 * t + seed) * 0.05 + 0.01])


def steps_of(update, gs, state, **hparams):
    """The steps of a rule fed the gradient sequence ``gs`` (theta is not used by these rules)."""
    out = []
    for g in gs:
        step, state = update(g, state, g, **hparams)
        out.append(step)
    return np.array(out), state


# --------------------------------------------------------------------------- σ form vs torch form: the first step


@pytest.mark.parametrize("alpha", [0.9, 0.99, 0.999])
def test_torch_first_step_is_one_over_sqrt_one_minus_alpha_times_eta(alpha):
    g = torch.tensor([3.0, -1e-3, 0.5], dtype=torch.float64)
    p = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.RMSprop([p], lr=0.01, alpha=alpha)
    p.grad = g.clone()
    opt.step()
    torch_step = p.detach().numpy()
    bound = adaptive.rmsprop_step_bound(alpha)
    # v^1 = (1 - alpha) g^2: the first step is eta / sqrt(1 - alpha) long in every coordinate
    np.testing.assert_allclose(torch_step, -0.01 * bound * np.sign(g.numpy()), rtol=1e-3)
    lib_step, _ = rules.rmsprop_update(g.numpy(), rules.rmsprop_init(g.numpy()), g.numpy(), eta=0.01, alpha=alpha)
    np.testing.assert_allclose(lib_step, torch_step, rtol=1e-12)
    sigma_step, _ = rules.lee_rmsprop_update(g.numpy(), rules.lee_rmsprop_init(g.numpy()), g.numpy(), eta=0.01,
                                             alpha=alpha)
    np.testing.assert_allclose(sigma_step, -0.01 * np.sign(g.numpy()), rtol=1e-4)  # sigma^0 = |g^0|
    np.testing.assert_allclose(lib_step / sigma_step, bound, rtol=1e-3)


def test_step_bound_values():
    assert adaptive.rmsprop_step_bound(0.99) == pytest.approx(10.0)
    assert adaptive.rmsprop_step_bound(0.0) == 1.0
    np.testing.assert_allclose(adaptive.rmsprop_step_bound([0.75, 0.96]), [2.0, 5.0])
    for bad in (1.0, -0.1, [0.5, 1.5]):
        with pytest.raises(ValueError, match="Invalid alpha"):
            adaptive.rmsprop_step_bound(bad)


# ------------------------------------------------------------------------ σ form vs torch form: v₀ = 0, coincidence


@pytest.mark.parametrize("alpha", [0.5, 0.9, 0.99])
def test_sigma_form_is_torch_form_started_at_the_first_squared_gradient(alpha):
    """σ⁰ = |g⁰| is torch's recursion with v₋₁ = (g⁰)² instead of 0: then the two give the same steps."""
    gs = gradients(80)
    sigma_steps, _ = steps_of(rules.lee_rmsprop_update, gs, rules.lee_rmsprop_init(gs[0]), eta=0.05, alpha=alpha)
    z = np.zeros(2)
    started = rules.RMSpropState(0, gs[0] ** 2, z, z)
    torch_steps, _ = steps_of(rules.rmsprop_update, gs, started, eta=0.05, alpha=alpha)
    np.testing.assert_allclose(torch_steps, sigma_steps, rtol=1e-12)


@pytest.mark.parametrize("alpha", [0.5, 0.9, 0.99])
def test_sigma_squared_is_v_plus_the_decayed_first_gradient(alpha):
    """From the default starts, (σᵗ)² = vᵗ + α^(t+1) (g⁰)²: the forms differ by a term that decays like αᵗ."""
    gs = gradients(60)
    s, v = rules.lee_rmsprop_init(gs[0]), rules.rmsprop_init(gs[0])
    for t, g in enumerate(gs):
        _, s = rules.lee_rmsprop_update(g, s, g, eta=0.1, alpha=alpha)
        _, v = rules.rmsprop_update(g, v, g, eta=0.1, alpha=alpha)
        np.testing.assert_allclose(s.sigma**2, v.v + alpha ** (t + 1) * gs[0] ** 2, rtol=1e-12)


def test_forms_coincide_for_alpha_zero():
    gs = gradients(30)
    a, _ = steps_of(rules.lee_rmsprop_update, gs, rules.lee_rmsprop_init(gs[0]), eta=0.1, alpha=0.0)
    b, _ = steps_of(rules.rmsprop_update, gs, rules.rmsprop_init(gs[0]), eta=0.1, alpha=0.0)
    np.testing.assert_allclose(a, b, rtol=1e-15)
    np.testing.assert_allclose(np.abs(a), 0.1, rtol=1e-6)  # |g| / |g|: sign descent


@pytest.mark.parametrize("alpha", [0.9, 0.99])
def test_constant_gradient_sigma_form_steps_eta_torch_form_decays_to_it(alpha):
    g = np.array([2.0, -0.3])
    gs = np.tile(g, (300, 1))
    kw = {"eta": 0.1, "alpha": alpha, "eps": 0.0}
    sigma_steps, _ = steps_of(rules.lee_rmsprop_update, gs, rules.lee_rmsprop_init(g), **kw)
    torch_steps, _ = steps_of(rules.rmsprop_update, gs, rules.rmsprop_init(g), **kw)
    t = np.arange(1, 301)[:, None]
    np.testing.assert_allclose(sigma_steps, -0.1 * np.sign(g) * np.ones_like(t), rtol=1e-12)
    # v^t = (1 - alpha^t) g^2: the weights of an EWMA started at 0 sum to 1 - alpha^t
    np.testing.assert_allclose(torch_steps, -0.1 * np.sign(g) / np.sqrt(1 - alpha**t), rtol=1e-12)


def test_bias_corrected_torch_form_starts_like_the_sigma_form_then_differs():
    """Adam with β₁ = 0 is torch's RMSProp with bias correction: its first step is η, as the σ form's."""
    gs = gradients(5)
    adam, _ = steps_of(rules.adam_update, gs, rules.adam_init(gs[0]), eta=0.1, beta1=0.0, beta2=0.9)
    sigma, _ = steps_of(rules.lee_rmsprop_update, gs, rules.lee_rmsprop_init(gs[0]), eta=0.1, alpha=0.9)
    np.testing.assert_allclose(adam[0], sigma[0], rtol=1e-6)
    assert np.abs(adam[2] - sigma[2]).max() > 1e-3  # g⁰ weighs αᵗ in σ, (1 − α)αᵗ/(1 − α^(t+1)) in Adam


# ------------------------------------------------------------------------------------------ σ form vs torch form: ε


@pytest.mark.parametrize("name", ["rmsprop", "lee_rmsprop", "adagrad"])
def test_eps_keeps_a_zero_gradient_from_dividing_zero_by_zero(name):
    rule = rules.RULES[name]
    g = np.array([0.0, 1.0])
    step, _ = rule.update(g, rule.init(g), g, eta=0.1)
    assert step[0] == 0.0 and np.isfinite(step).all()
    with np.errstate(invalid="ignore"):
        bare, _ = rule.update(g, rule.init(g), g, eta=0.1, eps=0.0)
    assert np.isnan(bare[0])


@pytest.mark.parametrize("name", ["rmsprop", "lee_rmsprop"])
def test_gradients_far_below_eps_make_rmsprop_gradient_descent_with_eta_over_eps(name):
    rule = rules.RULES[name]
    gs = gradients(20, scale=1e-13)
    steps, _ = steps_of(rule.update, gs, rule.init(gs[0]), eta=0.1, eps=1e-8)
    np.testing.assert_allclose(steps, -0.1 / 1e-8 * gs, rtol=1e-4)


@SETTINGS
@given(c=st.floats(1e-3, 1e3), alpha=st.floats(0.0, 0.999))
def test_without_eps_both_forms_ignore_the_scale_of_the_gradients(c, alpha):
    gs = gradients(25)
    for name in ("rmsprop", "lee_rmsprop"):
        rule = rules.RULES[name]
        a, _ = steps_of(rule.update, gs, rule.init(gs[0]), eta=0.1, alpha=alpha, eps=0.0)
        b, _ = steps_of(rule.update, c * gs, rule.init(gs[0]), eta=0.1, alpha=alpha, eps=0.0)
        np.testing.assert_allclose(b, a, rtol=1e-9)


def test_eps_caps_the_effective_learning_rate():
    """η/(σ + ε) ≤ η/ε: after a long quiet stretch, a gradient far below ε moves by η g/ε."""
    gs = np.vstack([np.ones((200, 2)), np.zeros((5000, 2)), np.full((1, 2), 1e-10)])
    for eps in (1e-8, 1e-3):
        steps, _ = steps_of(rules.rmsprop_update, gs, rules.rmsprop_init(gs[0]), eta=0.1, eps=eps)
        assert np.all(np.abs(steps) <= 0.1 * np.abs(gs) / eps * (1 + 1e-12))
        np.testing.assert_allclose(np.abs(steps[-1]), 0.1 * 1e-10 / eps, rtol=2e-3)


# ----------------------------------------------------------------------------------------- the step bound, spikes


@SETTINGS
@given(
    quiet=st.integers(0, 300),
    big=st.floats(1e-3, 1e3),
    alpha=st.floats(0.0, 0.999),
    seed=st.integers(0, 10),
)
def test_steps_never_exceed_the_bound_and_reach_it_after_a_quiet_stretch(quiet, big, alpha, seed):
    gs = np.vstack([gradients(20, seed), np.full((quiet, 2), 1e-9), np.full((1, 2), big)])
    bound = adaptive.rmsprop_step_bound(alpha)
    for name in ("rmsprop", "lee_rmsprop"):
        rule = rules.RULES[name]
        steps, _ = steps_of(rule.update, gs, rule.init(gs[0]), eta=0.1, alpha=alpha)
        assert np.abs(steps).max() <= 0.1 * bound * (1 + 1e-12)
    steps, _ = steps_of(rules.adagrad_update, gs, rules.adagrad_init(gs[0]), eta=0.1)
    assert np.abs(steps).max() <= 0.1 * (1 + 1e-12)
    # the last gradient dwarfs what the average remembers: torch's step is close to the bound
    steps, _ = steps_of(rules.rmsprop_update, gs, rules.rmsprop_init(gs[0]), eta=0.1, alpha=alpha)
    remembered = 9.0 * alpha ** (quiet + 1)  # at most: the early gradients are below 3 in size
    if remembered < 1e-4 * (1 - alpha) * big**2:
        np.testing.assert_allclose(np.abs(steps[-1]), 0.1 * bound, rtol=1e-3)


def test_centered_rmsprop_divides_by_a_vanishing_deviation_on_a_constant_gradient():
    g = np.array([1.0, -2.0])
    gs = np.tile(g, (400, 1))
    plain, _ = steps_of(rules.rmsprop_update, gs, rules.rmsprop_init(g), eta=0.01, alpha=0.9)
    centered, _ = steps_of(rules.rmsprop_update, gs, rules.rmsprop_init(g), eta=0.01, alpha=0.9, centered=True)
    t = np.arange(1, 401)[:, None]
    # v - ḡ² = (1 - αᵗ) αᵗ g²: the deviation of a constant is 0, estimated as a vanishing number
    expected = -0.01 * g / (np.abs(g) * np.sqrt((1 - 0.9**t) * 0.9**t) + 1e-8)
    np.testing.assert_allclose(centered[:100], expected[:100], rtol=1e-6)
    assert np.abs(centered[-1]).max() > 1e4 * np.abs(plain[-1]).max()


def test_step_lengths_and_spike():
    lengths = np.array([1.0, 0.5, 0.25, 0.125, 4.0, 0.1])
    path = np.vstack([[0.0, 0.0], np.cumsum(np.stack([lengths, np.zeros(6)], axis=1), axis=0)])
    np.testing.assert_allclose(adaptive.step_lengths(path), lengths)
    spike = adaptive.step_spike(path)
    assert spike.ratio == pytest.approx(32.0) and spike.at == 4 and spike.flat == 3
    assert adaptive.step_spike(path, start=4).ratio == pytest.approx(0.1 / 4.0)
    shrinking = np.vstack([[0.0, 0.0], np.cumsum(np.full((10, 2), 0.5) ** np.arange(1, 11)[:, None], axis=0)])
    assert adaptive.step_spike(shrinking).ratio <= 1.0
    stopped = np.vstack([np.zeros((5, 2)), [[1.0, 0.0]]])
    assert adaptive.step_spike(stopped).ratio == math.inf
    assert adaptive.step_spike(np.zeros((6, 2))).ratio == 1.0
    both = adaptive.step_spike(np.stack([path, path]))
    np.testing.assert_allclose(both.ratio, [32.0, 32.0])
    np.testing.assert_array_equal(both.at, [4, 4])
    for bad in (-1, 5, 1.5, True):
        with pytest.raises(ValueError, match="Invalid start"):
            adaptive.step_spike(path, start=bad)


def test_rmsprop_converges_then_spikes_on_an_axis_aligned_ravine():
    """The ravine of the chapter: σ shrinks with the gradient until η/σ is too large for the curvature."""
    ravine = quadratic(kappa=100.0, angle=math.pi / 2)
    r = trajectories.run("rmsprop", ravine, (-1.8, 0.9), 600, eta=0.1)
    low = int(np.argmin(r.loss[0]))
    assert r.loss[0, low] < 1e-40 and r.loss[0, low:].max() > 1e-3
    spike = adaptive.step_spike(r.path[0])
    assert spike.ratio > 1e20 and spike.flat < spike.at
    calm = trajectories.run("adagrad", ravine, (-1.8, 0.9), 600, eta=1.0)
    assert adaptive.step_spike(calm.path[0]).ratio <= 1.0 + 1e-9


# ------------------------------------------------------------------------------------------ effective learning rates


def test_effective_learning_rates_are_what_each_rule_divides_by():
    surface = adaptive.gorge()
    start = np.array(surface.starts)
    gd = trajectories.run("gd", surface, start, 50, eta=0.1)
    np.testing.assert_allclose(adaptive.effective_learning_rates(gd, surface), 0.1, rtol=1e-8)

    r = trajectories.run("adagrad", surface, start, 50, eta=0.5)
    g = surface.grad(r.path[:, :-1])
    expected = 0.5 / (np.sqrt(np.cumsum(g * g, axis=1)) + 1e-10)
    np.testing.assert_allclose(adaptive.effective_learning_rates(r, surface), expected, rtol=1e-8)

    r = trajectories.run("lee_rmsprop", surface, start, 50, eta=0.05, alpha=0.8)
    g = surface.grad(r.path[:, :-1])
    sigma, s = [], rules.lee_rmsprop_init(g[:, 0])
    for t in range(50):
        _, s = rules.lee_rmsprop_update(g[:, t], s, g[:, t], eta=0.05, alpha=0.8)
        sigma.append(s.sigma)
    expected = 0.05 / (np.stack(sigma, axis=1) + 1e-8)
    np.testing.assert_allclose(adaptive.effective_learning_rates(r, surface), expected, rtol=1e-8)


def test_effective_learning_rates_are_nan_without_gradient_or_after_divergence():
    surface = quadratic(kappa=4.0)  # axis-aligned: starting on the x-axis, the y-gradient stays exactly 0
    r = trajectories.run("gd", surface, [(1.0, 0.0), (1.0, 1.0)], 40, eta=2.5)
    eta = adaptive.effective_learning_rates(r, surface)
    assert r.diverged_at[0] > 0
    assert np.isnan(eta[0, :, 1]).all()
    k = r.diverged_at[0]
    np.testing.assert_allclose(eta[0, : k - 1, 0], 2.5)
    assert np.isnan(eta[0, k - 1 :]).all()
    with pytest.raises(ValueError, match="Invalid traj.path shape"):
        adaptive.effective_learning_rates(r._replace(path=r.path[0]), surface)


def test_adagrad_effective_learning_rate_only_decays_rmsprop_recovers():
    surface = adaptive.gorge()
    start = np.array(surface.starts[:1])
    ada = adaptive.effective_learning_rates(trajectories.run("adagrad", surface, start, 400, eta=0.5), surface)
    assert np.all(np.diff(ada[0], axis=0) <= 1e-6 * ada[0, 1:])  # to the rounding of θ + step − θ
    rms = adaptive.effective_learning_rates(trajectories.run("rmsprop", surface, start, 400, eta=0.03), surface)
    x = rms[0, :, 0]
    assert np.nanmax(x[np.nanargmin(x):]) > 5 * np.nanmin(x)  # it forgets the gorge


def test_optimizer_effective_lr_matches_torch_state():
    torch.manual_seed(0)
    X, y = torch.randn(32, 5, dtype=torch.float64), torch.randn(32, dtype=torch.float64)

    def trained(make):
        model = models.linear_regression(5, bias=True, seed=0)
        opt = make(model.parameters())
        for _ in range(7):
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(X)[:, 0], y).backward()
            opt.step()
        return model, opt

    for ours, theirs, key in (
        (lambda p: optim.RMSprop(p, lr=0.01, alpha=0.9), lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9),
         "square_avg"),
        (lambda p: optim.Adagrad(p, lr=0.1), lambda p: torch.optim.Adagrad(p, lr=0.1), "sum"),
    ):
        model, opt = trained(ours)
        eff = adaptive.optimizer_effective_lr(opt, model)
        model_t, opt_t = trained(theirs)
        eps = opt_t.param_groups[0]["eps"]
        for name, q in model_t.named_parameters():
            expected = opt_t.param_groups[0]["lr"] / (opt_t.state[q][key].sqrt() + eps)
            torch.testing.assert_close(eff[name], expected, rtol=1e-10, atol=0)
    model, opt = trained(lambda p: optim.LeeRMSProp(p, lr=0.01))
    eff = adaptive.optimizer_effective_lr(opt, model)
    assert set(eff) == {"weight", "bias"}
    torch.testing.assert_close(eff["bias"], 0.01 / (opt.state[model.bias]["sigma"] + 1e-8))
    with pytest.raises(ValueError, match="Invalid optimizer"):
        adaptive.optimizer_effective_lr(optim.SGD(model.parameters(), lr=0.1), model)


# --------------------------------------------------------------------------------------------------- the gorge


def test_gorge_derivatives_and_minimum():
    surface = adaptive.gorge(a=1.5, s=0.1, X=2.0)
    rng = np.random.default_rng(0)
    xy = torch.tensor(rng.uniform(-1, 3, size=(20, 2)), requires_grad=True)
    value = surface.value(xy)
    (grad,) = torch.autograd.grad(value.sum(), xy, create_graph=True)
    torch.testing.assert_close(surface.grad(xy), grad)
    hess = torch.stack([torch.autograd.grad(grad[:, i].sum(), xy, retain_graph=True)[0] for i in range(2)], dim=1)
    torch.testing.assert_close(surface.hessian(xy), hess)
    np.testing.assert_allclose(surface.grad(xy.detach().numpy()), grad.detach().numpy(), rtol=1e-12)
    (point,) = surface.critical_points
    assert point.xy == (2.0, 0.0) and point.kind == "global minimum"
    np.testing.assert_array_equal(surface.grad(np.array(point.xy)), [0.0, 0.0])
    assert np.all(np.linalg.eigvalsh(surface.hessian(np.array(point.xy))) > 0)
    for kwargs in ({"a": 0.0}, {"s": -1.0}, {"X": math.inf}):
        with pytest.raises(ValueError, match="Invalid"):
            adaptive.gorge(**kwargs)


# --------------------------------------------------------------------------------------------------- stability


def test_largest_stable_eta_brackets_a_threshold():
    calls = []

    def is_stable(etas):
        calls.append(len(etas))
        return np.asarray(etas) < 0.37

    grid = np.geomspace(0.01, 10.0, 7)
    r = adaptive.largest_stable_eta(is_stable, grid, rounds=3, points=3)
    assert r.eta < 0.37 <= r.unstable and r.monotone
    assert r.unstable / r.eta <= (grid[1] / grid[0]) ** (1 / 4**3) * (1 + 1e-12)
    assert calls == [7, 3, 3, 3]
    assert np.all(np.diff(r.etas) > 0) and len(r.etas) == 16
    one = adaptive.largest_stable_eta(is_stable, grid, rounds=4, points=1)  # bisection in log eta
    assert one.eta < 0.37 <= one.unstable
    again = adaptive.largest_stable_eta(is_stable, grid, rounds=0, stable=grid < 0.37)
    assert again.eta == grid[3] and calls[-1] == 1


def test_largest_stable_eta_edge_cases():
    grid = np.geomspace(0.1, 1.0, 4)
    all_ok = adaptive.largest_stable_eta(lambda e: np.ones(len(e), bool), grid)
    assert all_ok.eta == 1.0 and all_ok.unstable == math.inf
    none_ok = adaptive.largest_stable_eta(lambda e: np.zeros(len(e), bool), grid)
    assert math.isnan(none_ok.eta) and none_ok.unstable == grid[0]
    holes = adaptive.largest_stable_eta(lambda e: (np.asarray(e) < 0.2) | (np.asarray(e) > 0.6), grid, rounds=1)
    assert not holes.monotone and holes.eta < 0.2
    with pytest.raises(ValueError, match="Invalid etas"):
        adaptive.largest_stable_eta(lambda e: e > 0, [1.0, 0.5])
    with pytest.raises(ValueError, match="Invalid points"):
        adaptive.largest_stable_eta(lambda e: e > 0, grid, points=0)
    with pytest.raises(ValueError, match="Invalid stable shape"):
        adaptive.largest_stable_eta(lambda e: e > 0, grid, stable=[True])


@pytest.mark.parametrize("lam_max", [0.5, 1.0, 4.0])
def test_gradient_descent_is_stable_up_to_two_over_lambda_max(lam_max):
    surface = quadratic(kappa=10.0, angle=0.3, lam_max=lam_max)
    is_stable = adaptive.surface_stability("gd", surface, [(1.0, 1.0), (-1.5, 0.5)], 100)
    r = adaptive.largest_stable_eta(is_stable, np.geomspace(0.01, 100.0, 9), rounds=4, points=3)
    # a learning rate a hair above 2/λ grows the steep direction too slowly to show in 100 steps
    assert r.eta <= 2 / lam_max * 1.001 and r.unstable > 2 / lam_max * (1 - 1e-9)
    assert r.unstable / r.eta < 1.02


def test_rmsprop_stability_does_not_depend_on_the_scale_of_the_curvature():
    etas = np.geomspace(0.01, 3.0, 15)
    outcomes = [adaptive.surface_stability("rmsprop", quadratic(kappa=50.0, angle=0.2, lam_max=lam), (1.0, -1.0),
                                           150)(etas) for lam in (0.1, 1.0, 100.0)]
    np.testing.assert_array_equal(outcomes[0], outcomes[1])
    np.testing.assert_array_equal(outcomes[0], outcomes[2])
    assert outcomes[0].any() and not outcomes[0].all()


def test_eta_grid_orders_copies_eta_major_and_finds_the_best():
    problem = data.least_squares(n=48, d=3, seed=0)
    etas = np.array([0.01, 0.1, 0.4, 3.0])
    grid = adaptive.eta_grid(lambda s: models.linear_regression(3, seed=s), (0, 1), "gd", problem, etas,
                             steps=30, batch_size=16, loss="mse", max_loss=1e6, progress=False, threads=1)
    assert grid.final_loss.shape == (4, 2) and grid.test_acc.shape == (4, 2)
    alone = train.train(models.linear_regression(3, seed=1), "gd", problem, hparams={"eta": 0.1}, steps=30,
                        batch_size=16, loss="mse", seed=1, progress=False)
    np.testing.assert_allclose(grid.final_loss[1, 1], alone.train_loss[-1], rtol=1e-10)
    assert grid.diverged[3].all() and not grid.diverged[:3].any()
    np.testing.assert_array_equal(grid.stable, [True, True, True, False])
    assert grid.best() == int(np.argmin(grid.final_loss[:3].mean(axis=1)))
    is_stable = adaptive.network_stability(lambda s: models.linear_regression(3, seed=s), (0,), "gd", problem,
                                           steps=30, batch_size=16, loss="mse", max_loss=1e6, progress=False)
    np.testing.assert_array_equal(is_stable(etas[2:]), [True, False])
    hopeless = adaptive.eta_grid(lambda s: models.linear_regression(3, seed=s), (0, 1), "gd", problem, [50.0],
                                 steps=30, batch_size=16, loss="mse", max_loss=10.0, progress=False)
    assert hopeless.diverged.all() and not hopeless.stable.any()  # every copy diverged
    with pytest.raises(ValueError, match="Every learning rate"):
        hopeless.best()
    with pytest.raises(ValueError, match="Invalid hparams"):
        adaptive.eta_grid(lambda s: models.linear_regression(3, seed=s), (0,), "gd", problem, etas,
                          hparams={"eta": 1.0}, steps=1, loss="mse")


# ------------------------------------------------------------------ the chapter's experiments, selected by label


def test_sweep_table_is_indexed_by_eta_and_marks_divergence_and_success():
    bowl = quadratic(kappa=1.0, angle=0.0, lam_max=1.0)
    etas = np.array([0.01, 1.0, 3.5])
    table = adaptive.sweep_table(trajectories.sweep("gd", bowl, (1.0, 1.0), 20, eta=etas), etas, near=1e-2)
    assert list(table.index) == [0.01, 1.0, 3.5]
    assert table.loc[3.5, "diverged"] and not table.loc[3.5, "solved"]  # |1 - 3.5|^20 > 1e6
    assert table.loc[1.0, "solved"] and table.loc[1.0, "|W|"] < 1e-12  # one step of 1/λ to the minimum
    assert not table.loc[0.01, "solved"] and table.loc[0.01, "|b|"] == pytest.approx(0.99**20, rel=1e-9)
    with pytest.raises(ValueError, match="Invalid etas shape"):
        adaptive.sweep_table(trajectories.sweep("gd", bowl, (1.0, 1.0), 5, eta=etas), etas[:2])


def test_plain_crossing_counts_steps_from_the_plain_to_the_arrival():
    path = np.zeros((2, 10, 2))
    path[0, :, 1] = [3, 2, 1, 0.2, 0.1, 0, 0, 0, 0, 0]
    path[0, :, 0] = [0, 0, 0, 0, 1, 2, 2.8, 3, 3, 3]
    path[1, :, 1] = 0.1  # on the plain from the start, never arrives
    np.testing.assert_array_equal(adaptive.plain_crossing(path), [6 - 3, -1])


def test_gorge_race_adagrad_remembers_the_gorge_gradient_descent_does_not():
    gorge = adaptive.gorge()
    contenders = {"gd": ("gd", {}), "adagrad": ("adagrad", {}), "rmsprop": ("rmsprop", {"alpha": 0.9})}
    table, runs = adaptive.gorge_race(gorge, contenders, 800, grid=np.geomspace(1e-3, 1e2, 11))
    assert list(table.index) == ["gd", "adagrad", "rmsprop"] and set(runs) == set(contenders)
    assert abs(table.loc["gd", "ratio"] - 1) < 0.25
    assert table.loc["adagrad", "ratio"] > 3 * table.loc["rmsprop", "ratio"]
    np.testing.assert_allclose(table["ratio"], table["steps on the plain, from the gorge"] / table["from the corner"])
    for label, (traj, eta) in runs.items():
        assert eta == table.loc[label, "η"] and traj.path.shape == (2, 801, 2)


def test_first_step_table_agrees_with_torch_and_the_bound():
    table = adaptive.first_step_table(np.array([2.0, -1e-3]), (0.9, 0.99))
    for alpha in (0.9, 0.99):
        bound = adaptive.rmsprop_step_bound(alpha)
        np.testing.assert_allclose(table.loc[alpha, "torch.optim.RMSprop: |step|/η"], [bound, bound], rtol=1e-3)
        np.testing.assert_allclose(table.loc[alpha, "torch form: |step|/η"], [bound, bound], rtol=1e-3)
        np.testing.assert_allclose(table.loc[alpha, "σ form: |step|/η"], [1.0, 1.0], rtol=1e-3)
        np.testing.assert_allclose(table.loc[alpha, "bias-corrected (Adam, β₁ = 0)"], [1.0, 1.0], rtol=1e-3)


def test_constant_gradient_steps_follow_the_formulas():
    steps = adaptive.constant_gradient_steps(np.array([2.0, 1.0]), (0.9, 0.99), 300)
    t = steps.index.to_numpy()
    assert t[0] == 1 and len(t) == 300
    for alpha in (0.9, 0.99):
        np.testing.assert_allclose(steps[alpha], 1 / np.sqrt(1 - alpha**t), rtol=1e-6)
    np.testing.assert_allclose(steps["σ form"], 1.0, rtol=1e-6)


def test_centered_constant_steps_divide_by_a_vanishing_deviation():
    table = adaptive.centered_constant_steps(60, alpha=0.9)
    t = table.index.to_numpy()
    np.testing.assert_allclose(table["plain: |step|/η"], 1 / np.sqrt(1 - 0.9**t), rtol=1e-6)
    np.testing.assert_allclose(table["centered: |step|/η"], 1 / np.sqrt(0.9**t * (1 - 0.9**t)), rtol=1e-4)


def test_epsilon_scaling_is_blind_to_scale_until_eps():
    table = adaptive.epsilon_scaling((1.0, 1e-4, 1e-12), steps=50, compare=10, eta=0.05, alpha=0.9)
    deviation = table["max |θ − θ(λₘₐₓ = 1)|, first 10 steps"]
    assert deviation.loc[1.0] == 0 and deviation.loc[1e-4] < 1e-3 and deviation.loc[1e-12] > 0.1
    np.testing.assert_allclose(table["|g| at the start"].loc[1e-4] / table["|g| at the start"].loc[1.0], 1e-4)


def test_stability_table_finds_two_over_lambda_for_gradient_descent():
    problems = {"bowl": (quadratic(kappa=10.0, angle=0.3, lam_max=4.0), [(1.0, 1.0)], 4.0)}
    table, non_monotone = adaptive.stability_table(problems, {"gd": ("gd", {})}, np.geomspace(1e-3, 10, 9))
    assert table.loc["bowl", "2/λₘₐₓ"] == 0.5
    assert table.loc["bowl", "gd"] == pytest.approx(0.5, rel=0.01) and non_monotone == []


def test_spike_table_rmsprop_spikes_gradient_descent_does_not():
    ravine = quadratic(kappa=100.0, angle=np.pi / 2)
    runs = {"gd": ("gd", 1.0, {}), "rmsprop": ("rmsprop", 0.1, {})}
    table, trajs = adaptive.spike_table(runs, ravine, (-1.8, 0.9), 1000, eta0=0.1)
    assert table.loc["gd", "step spike"] < 2 < 100 < table.loc["rmsprop", "step spike"]
    assert table.loc["rmsprop", "first step / η₀ (per coordinate)"] == pytest.approx(10.0, rel=1e-3)
    assert table.loc["rmsprop", "highest loss after it"] > 1e6 * table.loc["rmsprop", "loss at the quiet step"]
    assert set(trajs) == {"gd", "rmsprop"}


def _tiny_runs(seeds=(3, 4, 5)):
    problem = data.least_squares(n=48, d=3, seed=0)
    methods = {"gd": ("gd", {}, 0.1), "slow": ("gd", {}, 0.01)}
    return adaptive.tuned_runs(lambda s: models.linear_regression(3, seed=s), seeds, methods, problem, steps=20,
                               batch_size=16, loss="mse", progress=False, threads=1)


def test_tuned_runs_are_paired_by_seed_and_compared_with_a_t_interval():
    runs = _tiny_runs()
    fast, slow = adaptive.final_by_seed(runs["gd"], "train_loss"), adaptive.final_by_seed(runs["slow"], "train_loss")
    assert set(fast) == {3, 4, 5}
    alone = train.train(models.linear_regression(3, seed=4), "gd", data.least_squares(n=48, d=3, seed=0),
                        hparams={"eta": 0.01}, steps=20, batch_size=16, loss="mse", seed=4, progress=False)
    assert slow[4] == pytest.approx(alone.train_loss[-1], rel=1e-10)
    table = adaptive.compare_to(runs, "gd", fields=("train_loss",))
    expected = stats.paired_difference({s: np.log10(v) for s, v in slow.items()},
                                       {s: np.log10(v) for s, v in fast.items()})
    row = table.loc["slow"]
    np.testing.assert_allclose([row["train_loss: difference"], row["train_loss: low"], row["train_loss: high"]],
                               [expected.mean, expected.low, expected.high])
    assert row["seeds"] == 3 and row["train_loss: low"] > 0  # the smaller η ends higher on every seed
    assert np.isnan(table.loc["gd", "train_loss: difference"])


def test_final_by_seed_refuses_a_diverged_copy():
    problem = data.least_squares(n=48, d=3, seed=0)
    runs = adaptive.tuned_runs(lambda s: models.linear_regression(3, seed=s), (0, 1), {"bad": ("gd", {}, 50.0)},
                               problem, steps=20, batch_size=16, loss="mse", max_loss=10.0, progress=False)
    with pytest.raises(ValueError, match="diverged"):
        adaptive.final_by_seed(runs["bad"], "train_loss")


def test_per_parameter_and_pixel_tables():
    eff = {"opt": {"w": torch.tensor([[1.0, 10.0], [100.0, 1000.0]]), "b": torch.tensor([5.0])}}
    table = adaptive.per_parameter_table(eff, {"w": "weights", "b": "biases"})
    assert table.loc[("opt", "weights"), "parameters"] == 4
    assert table.loc[("opt", "weights"), "median η/(σ+ε)"] == pytest.approx(55.0)
    X = np.array([[0.0, 1.0, 5.0], [0.0, 2.0, 0.0], [0.0, 3.0, 0.0], [0.0, 4.0, 0.0]])
    w1 = np.array([[9.0, 1.0, 10.0], [9.0, 100.0, 1000.0]])
    pixels = adaptive.pixel_learning_rates(w1, X)
    assert list(pixels.index) == [1, 2]  # pixel 0 is blank
    np.testing.assert_allclose(pixels["median η/(σ+ε)"], [10.0, 100.0])
    assert pixels.loc[2, "skewness"] > 0 and abs(pixels.loc[1, "skewness"]) < 1e-12


def test_effective_lr_frames_over_the_whole_control_space(recwarn):
    ravine = quadratic(kappa=100.0, angle=np.pi / 2)
    gorge = adaptive.gorge()
    frame = adaptive.effective_lr_frames({"ravine": (ravine, np.array([-1.8, 0.9])),
                                          "gorge": (gorge, np.array([0.5, 3.0]))}, 60)
    for surface in ("ravine", "gorge"):
        for rule in ("rmsprop", "lee_rmsprop", "adagrad"):
            for alpha in (0.9, 0.99, 0.999):
                for eta in (0.01, 0.03, 0.1):
                    out = frame(surface, rule, alpha, eta)
                    assert len(out.items) == 3 and "loss after 60 steps" in out.text[0]
    assert not [w for w in recwarn if issubclass(w.category, (RuntimeWarning, UserWarning))]
    # each coordinate is named as its surface names it (Surface.axis_labels), with θᵢ beside a name of its own
    wb = dataclasses.replace(ravine, axis_labels=("W", "b"))
    frame = adaptive.effective_lr_frames({"ravine": (ravine, np.array([-1.8, 0.9])), "wb": (wb, np.array([-1.8, 0.9])),
                                          "gorge": (gorge, np.array([0.5, 3.0]))}, 10)
    names = {k: [i.label for i in frame(k, "rmsprop", 0.9, 0.01).items[:2]] for k in ("ravine", "wb", "gorge")}
    assert names == {"ravine": ["θ₁", "θ₂"], "wb": ["W (θ₁)", "b (θ₂)"], "gorge": ["x (θ₁)", "y (θ₂)"]}


def test_eta_grid_best_eta_is_the_tuned_value():
    problem = data.least_squares(n=48, d=3, seed=0)
    grid = adaptive.eta_grid(lambda s: models.linear_regression(3, seed=s), (0, 1), "gd", problem, [0.01, 0.1],
                             steps=30, batch_size=16, loss="mse", progress=False, threads=1)
    assert grid.best_eta == grid.etas[grid.best()] == 0.1
