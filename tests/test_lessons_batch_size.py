"""lib.lessons.batch_size: gradient noise against the exact finite-population law, loss slices, filter normalization."""

import itertools
import math

import numpy as np
import pytest
import torch

from lib import data, models, train
from lib.lessons import batch_size as landscape


@pytest.fixture(scope="module")
def problem():
    return data.least_squares(n=40, d=3, noise=0.5, seed=0)


def linear_model(theta) -> torch.nn.Module:
    model = models.linear_regression(len(theta))
    with torch.no_grad():
        model.weight.copy_(torch.as_tensor(theta)[None])
    return model


def ls_gradients(problem, theta) -> np.ndarray:
    # per-example gradient of (x_i θ - y_i)^2: 2 x_i (x_i θ - y_i)
    return 2.0 * problem.X * (problem.X @ theta - problem.y)[:, None]


# ------------------------------------------------------------------------------------------ gradient noise
def test_per_example_gradients_least_squares(problem):
    theta = np.array([0.3, -1.0, 2.0])
    G = landscape.per_example_gradients(linear_model(theta), (problem.X, problem.y), loss="mse")
    assert G.shape == (40, 3) and G.dtype == torch.float64
    np.testing.assert_allclose(G.numpy(), ls_gradients(problem, theta), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(G.mean(0).numpy(), problem.grad(theta), rtol=1e-12, atol=1e-12)


def test_per_example_gradients_mean_is_full_gradient():
    d = data.digits(dtype=torch.float64)
    X, y = d.X_train[:50], d.y_train[:50]
    model = models.mlp([64, 6, 10], seed=1, dtype=torch.float64)
    G = landscape.per_example_gradients(model, (X, y), chunk_size=16)
    loss = torch.nn.functional.cross_entropy(model(X), y)
    full = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(model.parameters()))])
    assert G.shape == (50, sum(p.numel() for p in model.parameters()))
    torch.testing.assert_close(G.mean(0), full, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("replace", [False, True])
def test_noise_variance_exact_by_enumeration(replace):
    # every mini-batch enumerated: the mean of |g_B - g|^2 is the formula, to rounding
    rng = np.random.default_rng(3)
    G = rng.standard_normal((8, 4)) + np.array([1.0, -2.0, 0.5, 0.0])
    g = G.mean(0)
    sigma2 = np.mean(np.sum((G - g) ** 2, axis=1))
    for b in range(1, 9 if not replace else 4):
        batches = itertools.product(range(8), repeat=b) if replace else itertools.combinations(range(8), b)
        exact = np.mean([np.sum((G[list(B)].mean(0) - g) ** 2) for B in batches])
        assert landscape.noise_variance(sigma2, 8, b, replace=replace) == pytest.approx(exact, rel=1e-12, abs=1e-14)


def test_noise_variance_limits():
    np.testing.assert_allclose(landscape.noise_variance(2.0, 10, [1, 10]), [2.0, 0.0])
    np.testing.assert_allclose(landscape.noise_variance(2.0, 10, [1, 4], replace=True), [2.0, 0.5])
    with pytest.raises(ValueError, match="batch_size"):
        landscape.noise_variance(1.0, 10, 11)
    with pytest.raises(ValueError, match="Invalid n: "):
        landscape.noise_variance(1.0, 1, 1)
    with pytest.raises(ValueError, match="sigma2"):
        landscape.noise_variance(-1.0, 10, 2)


@pytest.mark.parametrize("replace", [False, True])
def test_gradient_noise_matches_finite_population_law(problem, replace):
    theta = np.array([0.3, -1.0, 2.0])
    G = landscape.per_example_gradients(linear_model(theta), (problem.X, problem.y), loss="mse")
    sizes = [1, 2, 5, 10, 20, 39, 40]
    noise = landscape.gradient_noise(G, sizes, n_batches=3000, seed=0, replace=replace)
    Gn = ls_gradients(problem, theta)
    assert noise.n == 40 and noise.replace == replace
    assert noise.sigma2 == pytest.approx(np.mean(np.sum((Gn - Gn.mean(0)) ** 2, axis=1)), rel=1e-12)
    assert noise.signal == pytest.approx(float(problem.grad(theta) @ problem.grad(theta)), rel=1e-12)
    np.testing.assert_allclose(noise.exact, landscape.noise_variance(noise.sigma2, 40, sizes, replace=replace))
    if replace:
        np.testing.assert_allclose(noise.exact, noise.sigma2 / np.array(sizes))
    else:
        # the full batch is the full gradient: no noise at all
        assert noise.exact[-1] == 0.0 and noise.measured[-1] < 1e-20 * noise.sigma2
    live = noise.exact > 0
    z = (noise.measured[live] - noise.exact[live]) / noise.stderr[live]
    assert np.all(np.abs(z) < 4.0), z
    np.testing.assert_allclose(noise.measured[live], noise.exact[live], rtol=0.08)
    again = landscape.gradient_noise(G.numpy(), sizes, n_batches=3000, seed=0, replace=replace)
    np.testing.assert_array_equal(again.measured, noise.measured)


def test_gradient_noise_arguments(problem):
    G = ls_gradients(problem, np.zeros(3))
    with pytest.raises(ValueError, match="batch_sizes"):
        landscape.gradient_noise(G, [0, 2])
    with pytest.raises(ValueError, match="batch_sizes"):
        landscape.gradient_noise(G, [41])
    with pytest.raises(ValueError, match="Invalid G: "):
        landscape.gradient_noise(G[0], [1])
    with pytest.raises(ValueError, match="n_batches"):
        landscape.gradient_noise(G, [1], n_batches=1)


# ------------------------------------------------------------------------------------------------- slices
def test_interpolation_endpoints_and_exact_quadratic(problem):
    a, b = np.array([0.3, -1.0, 2.0]), problem.theta_star
    model = linear_model(a)
    ends = linear_model(b)
    xy = (problem.X, problem.y)
    alphas = np.linspace(-0.5, 1.5, 9)
    line = landscape.interpolate(model, model, ends, xy, alphas, loss="mse")
    assert line.loss.shape == (9,) and np.all(np.isnan(line.accuracy))
    assert line.loss[2] == landscape.evaluate(model, model, xy, "mse")[0]  # α = 0: the first solution
    assert line.loss[6] == landscape.evaluate(model, ends, xy, "mse")[0]  # α = 1: the second
    assert line.loss[2] == pytest.approx(problem.loss(a), rel=1e-12)
    assert line.loss[6] == pytest.approx(problem.loss_star, rel=1e-12)
    path = (1 - alphas)[:, None] * a + alphas[:, None] * b
    np.testing.assert_allclose(line.loss, problem.loss(path), rtol=1e-12)
    assert np.argmin(line.loss) == 6  # θ* is the minimum along any line through it


def test_interpolation_classifier_endpoints():
    d = data.digits(dtype=torch.float64)
    xy = (d.X_test[:60], d.y_test[:60])
    arch = models.mlp([64, 5, 10], seed=0, dtype=torch.float64)
    a = dict(models.mlp([64, 5, 10], seed=1, dtype=torch.float64).named_parameters())
    b = dict(models.mlp([64, 5, 10], seed=2, dtype=torch.float64).named_parameters())
    before = [p.clone() for p in arch.parameters()]
    line = landscape.interpolate(arch, a, b, xy, [0.0, 1.0])
    assert all(torch.equal(p, q) for p, q in zip(before, arch.parameters(), strict=True))  # arch is untouched
    for k, theta in enumerate((a, b)):
        loss, acc = landscape.evaluate(arch, theta, xy)
        assert (line.loss[k], line.accuracy[k]) == (loss, acc)
        model = models.mlp([64, 5, 10], seed=k + 1, dtype=torch.float64)
        with torch.no_grad():
            direct = float(torch.nn.functional.cross_entropy(model(xy[0]), xy[1]))
        assert loss == pytest.approx(direct, rel=1e-14)
    with pytest.raises(ValueError, match="same names and shapes"):
        landscape.interpolate(arch, a, {"0.weight": a["0.weight"]}, xy)


@pytest.mark.parametrize("build", [lambda: models.mlp([5, 7, 3], seed=4), lambda: models.small_cnn(seed=4)])
def test_filter_normalized_direction_norms(build):
    net = build()
    theta = dict(net.named_parameters())
    d = landscape.filter_normalized_direction(net, seed=7)
    assert list(d) == list(theta)
    for name, w in theta.items():
        assert d[name].shape == w.shape and d[name].dtype == w.dtype
        if w.dim() == 1:
            assert torch.count_nonzero(d[name]) == 0  # biases are not perturbed
        else:
            # one filter = one output neuron / output channel: the slice along dim 0
            torch.testing.assert_close(d[name].flatten(1).norm(dim=1), w.detach().flatten(1).norm(dim=1))
            assert not torch.allclose(d[name], w)
    layer = landscape.filter_normalized_direction(net, seed=7, norm="layer", bias="copy")
    for name, w in theta.items():
        if w.dim() == 1:
            torch.testing.assert_close(layer[name], w.detach())
        else:
            torch.testing.assert_close(layer[name].norm(), w.detach().norm())
    same = landscape.filter_normalized_direction(theta, seed=7)
    other = landscape.filter_normalized_direction(theta, seed=8)
    assert all(torch.equal(d[k], same[k]) for k in d)
    assert not all(torch.equal(d[k], other[k]) for k in d)
    with pytest.raises(ValueError, match="norm"):
        landscape.filter_normalized_direction(net, norm="model")
    with pytest.raises(ValueError, match="bias"):
        landscape.filter_normalized_direction(net, bias="keep")


def test_loss_along_directions(problem):
    theta = problem.theta_star
    model = linear_model(theta)
    xy = (problem.X, problem.y)
    dirs = [{"weight": torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)},
            {"weight": torch.tensor([[0.0, 0.5, 0.5]], dtype=torch.float64)}]
    alphas = np.linspace(-1, 1, 11)
    sl = landscape.loss_along(model, model, dirs, xy, alphas, loss="mse")
    assert sl.loss.shape == (2, 11)
    for k, d in enumerate(dirs):
        path = theta + alphas[:, None] * d["weight"].numpy()[0]
        np.testing.assert_allclose(sl.loss[k], problem.loss(path), rtol=1e-12)
    np.testing.assert_allclose(sl.loss[:, 5], problem.loss_star, rtol=1e-12)
    one = landscape.loss_along(model, model, dirs[0], xy, alphas, loss="mse")
    np.testing.assert_array_equal(one.loss, sl.loss[0])


def test_flat_width():
    alphas = np.linspace(-1, 1, 2001)
    sl = landscape.Slice(alphas, np.stack([alphas**2, 4 * alphas**2]), np.full((2, 2001), np.nan))
    # L = c α² stays within r of L(0) on |α| <= sqrt(r / c)
    np.testing.assert_allclose(landscape.flat_width(sl, 0.25), [2 * 0.5, 2 * 0.25], atol=1e-6)
    one = landscape.Slice(alphas, alphas**2, np.full(2001, np.nan))
    assert landscape.flat_width(one, 4.0) == pytest.approx(2.0)  # never leaves: the sampled range
    with pytest.raises(ValueError, match="rise"):
        landscape.flat_width(one, 0.0)


# ----------------------------------------------------------------------------------------- cost of updates
def test_saved_activation_bytes_grow_with_the_batch():
    d = data.digits()
    model = models.mlp([64, 32, 10], seed=0)
    sizes = [landscape.saved_activation_bytes(model, (d.X_train[:b], d.y_train[:b])) for b in (16, 32, 64)]
    # linear in the batch size (plus a few bytes that do not depend on it, e.g. a saved scalar)
    per_example = (sizes[1] - sizes[0]) / 16
    assert sizes[2] - sizes[1] == 2 * (sizes[1] - sizes[0])
    assert sizes[0] - 16 * per_example < per_example
    # at least the input and the hidden layer's 32 activations of every example, in float32
    assert per_example >= (64 + 32) * 4


def test_time_per_update_shapes():
    d = data.digits()
    small = data.Dataset(d.X_train[:100], d.y_train[:100])
    t = landscape.time_per_update(lambda s: models.mlp([64, 8, 10], seed=s), small, [10, 100, 500],
                                  warmup=1, repeats=2, rounds=2)
    assert t.times.shape == (3, 4) and np.all(t.times > 0)
    np.testing.assert_array_equal(t.batch_sizes, [10, 100, 100])
    np.testing.assert_array_equal(t.updates_per_epoch, [10, 1, 1])
    np.testing.assert_allclose(t.epoch, t.median * t.updates_per_epoch)
    assert np.all(t.q25 <= t.median) and np.all(t.median <= t.q75)
    assert t.device == "cpu" and t.threads == 1 and not math.isnan(t.median.sum())
    with pytest.raises(ValueError, match="repeats"):
        landscape.time_per_update(lambda s: models.mlp([64, 8, 10], seed=s), small, [10], repeats=0)


def test_cost_model_recovers_a_line():
    b = np.array([1, 4, 16, 64, 256, 1024])
    fit = landscape.cost_model(b, 2e-4 + 1e-6 * b)
    assert fit.overhead == pytest.approx(2e-4, rel=1e-9) and fit.per_example == pytest.approx(1e-6, rel=1e-9)
    assert fit.break_even == pytest.approx(200.0, rel=1e-9)
    with pytest.raises(ValueError, match="seconds"):
        landscape.cost_model(b, -b)


def test_noise_scale(problem):
    G = ls_gradients(problem, np.array([0.3, -1.0, 2.0]))
    noise = landscape.gradient_noise(G, [1, 4], n_batches=8)
    assert noise.noise_scale == pytest.approx(noise.sigma2 / noise.signal)


# ------------------------------------------------------------------------------------ the chapter's experiments
def test_updates_per_epoch_and_warmup():
    assert [landscape.updates_per_epoch(1347, b) for b in (1, 16, 64, 256, 1347, 5000)] == [1347, 85, 22, 6, 1, 1]
    assert [landscape.warmup_updates(1347, b) for b in (64, 256, 1347)] == [44, 12, 10]
    assert landscape.warmup_updates(100, 10, epochs=3, minimum=5) == 30
    with pytest.raises(ValueError, match="Invalid batch_size: 0"):
        landscape.updates_per_epoch(10, 0)


def test_cross_entropy_is_lib_losses_and_matches_torch():
    digits = data.digits()
    model = models.mlp([64, 8, 10], seed=0)
    X, y = digits.X_train[:50], digits.y_train[:50]
    G = landscape.per_example_gradients(model, (X, y))
    loss = torch.nn.functional.cross_entropy(model(torch.as_tensor(X)), torch.as_tensor(y).long())
    full = torch.autograd.grad(loss, list(model.parameters()))
    assert torch.allclose(G.mean(0), torch.cat([g.reshape(-1) for g in full]).to(G.dtype), atol=1e-6)
    assert landscape.evaluate(model, model, (X, y))[0] == pytest.approx(float(loss.detach()), rel=1e-6)


def test_top_eigenvalue_of_a_quadratic(problem):
    # least squares: the Hessian of mean (x θ - y)^2 is 2 XᵀX / n
    model = linear_model(np.zeros(3))
    exact = np.linalg.eigvalsh(2 * problem.X.T @ problem.X / len(problem.y))[-1]
    found = landscape.top_eigenvalue(model, (problem.X, problem.y), loss="mse", tol=1e-8)
    assert found == pytest.approx(exact, rel=1e-4)
    assert landscape.parameter_norm({"a": torch.tensor([3.0]), "b": torch.tensor([4.0])}) == pytest.approx(5.0)


def test_train_until_stops_at_the_target():
    digits = data.digits()
    tiny = data.Dataset(digits.X_train[:200], digits.y_train[:200], digits.X_test[:50], digits.y_test[:50])
    probe = train.train(models.mlp([64, 8, 10], seed=1), "gd", tiny, hparams={"eta": 0.5}, steps=30,
                        batch_size=None, eval_every=1, progress=False)
    target = float(probe.train_loss[12])
    model, extra = landscape.train_until(lambda: models.mlp([64, 8, 10], seed=1), tiny, 0.5, target, max_steps=30)
    assert extra == int(np.flatnonzero(probe.train_loss <= target)[0])
    assert landscape.evaluate(model, model, tiny)[0] <= target + 1e-6
    _, never = landscape.train_until(lambda: models.mlp([64, 8, 10], seed=1), tiny, 0.5, -1.0, max_steps=5)
    assert never == 5


def test_train_until_each_is_train_until_per_seed():
    digits = data.digits()
    tiny = data.Dataset(digits.X_train[:200], digits.y_train[:200], digits.X_test[:50], digits.y_test[:50])
    make = lambda s: models.mlp([64, 8, 10], seed=s)  # noqa: E731
    probe = {s: train.train(make(s), "gd", tiny, hparams={"eta": 0.5}, steps=30, batch_size=None, eval_every=1,
                            progress=False) for s in (1, 2, 3)}
    # a different target per seed; seed 3's is out of reach (max_steps), seed 2's is met before any update
    targets = {1: float(probe[1].train_loss[12]), 2: float(probe[2].train_loss[0]) + 1.0, 3: -1.0}
    many, extra = landscape.train_until_each(make, [1, 2, 3], tiny, 0.5, targets, max_steps=30)
    assert list(many) == [1, 2, 3] and extra == {1: 12, 2: 0, 3: 30}
    for s in (1, 2, 3):
        single, k = landscape.train_until(lambda s=s: make(s), tiny, 0.5, targets[s], max_steps=30)
        assert k == extra[s]
        for p, q in zip(single.parameters(), many[s].parameters(), strict=True):
            torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-6)  # stacked float32: equal up to rounding
    assert all(torch.equal(p, q) for p, q in zip(many[2].parameters(), make(2).parameters(), strict=True))
    with pytest.raises(ValueError, match="targets"):
        landscape.train_until_each(make, [1, 2], tiny, 0.5, {1: 0.1}, max_steps=3)
    with pytest.raises(ValueError, match="seeds"):
        landscape.train_until_each(make, [1, 1], tiny, 0.5, {1: 0.1}, max_steps=3)
    with pytest.raises(ValueError, match="max_steps"):
        landscape.train_until_each(make, [1], tiny, 0.5, {1: 0.1}, max_steps=0)


def test_ratio_interval_is_a_paired_interval_on_the_log_scale():
    from lib import stats

    b = {0: 1.0, 1: 2.0, 2: 4.0, 3: 0.5}
    a = {0: 3.0, 1: 6.6, 2: 11.0, 3: 1.6}
    r = landscape.ratio_interval(a, b)
    d = stats.paired_difference(np.log(list(a.values())), np.log(list(b.values())))
    assert (r.ratio, r.low, r.high, r.n) == pytest.approx((math.exp(d.mean), math.exp(d.low), math.exp(d.high), 4))
    assert r.low < r.ratio < r.high and r.excludes_one and r.low > 2.5
    # the same ratio on every seed: a point interval
    same = landscape.ratio_interval({s: 2 * v for s, v in b.items()}, b)
    assert same.ratio == pytest.approx(2.0) and same.high - same.low == pytest.approx(0.0, abs=1e-12)
    assert "95 % interval" in r.describe() and "4 seeds" in r.describe()
    assert not landscape.ratio_interval({0: 1.0, 1: 2.0, 2: 1.0}, {0: 2.0, 1: 1.0, 2: 1.0}).excludes_one
    with pytest.raises(ValueError, match="seeds"):
        landscape.ratio_interval({0: 1.0, 1: 2.0}, {0: 1.0, 2: 2.0})
    with pytest.raises(ValueError, match="positive"):
        landscape.ratio_interval({0: 1.0, 1: 0.0}, {0: 1.0, 1: 2.0})


def test_solution_table_labels_and_paired_by_seed():
    digits = data.digits()
    xy, test = (digits.X_train[:100], digits.y_train[:100]), (digits.X_test[:50], digits.y_test[:50])
    sols = {(name, s): models.mlp([64, 4, 10], seed=s + k) for k, name in enumerate(("a", "b")) for s in (0, 1, 2)}
    table = landscape.solution_table(sols, xy, test)
    assert landscape.LAMBDA_MAX == "λₘₐₓ" and landscape.LAMBDA_MAX in table.columns
    assert not any("_" in c for c in table.columns)  # labels a reader sees: no raw subscripts
    d = landscape.paired_by_seed(table, "test loss", "b", "a")
    by = table.set_index(["solution", "seed"])["test loss"]
    diffs = [by[("b", s)] - by[("a", s)] for s in (0, 1, 2)]
    assert d.n == 3 and d.mean == pytest.approx(np.mean(diffs))
    with pytest.raises(ValueError, match="solution"):
        landscape.paired_by_seed(table, "test loss", "c", "a")


def test_valley_width_is_the_mean_flat_width():
    d = data.digits()
    xy = (d.X_train[:80], d.y_train[:80])
    m = models.mlp([64, 4, 10], seed=0)
    dirs = [landscape.filter_normalized_direction(m, seed=k) for k in range(3)]
    alphas = np.linspace(-1, 1, 21)
    expected = landscape.flat_width(landscape.loss_along(m, m, dirs, xy, alphas), 0.05).mean()
    assert landscape.valley_width(m, m, xy, 0.05, directions=3, alphas=alphas) == pytest.approx(expected)
    # loss_along (vmapped over α) gives evaluate's numbers
    sl = landscape.loss_along(m, m, dirs[0], xy, alphas)
    params = dict(m.named_parameters())
    for j in (0, 7, 20):
        loss, acc = landscape.evaluate(m, {k: p + alphas[j] * dirs[0][k] for k, p in params.items()}, xy)
        assert sl.loss[j] == pytest.approx(loss, rel=1e-5) and sl.accuracy[j] == pytest.approx(acc)


@pytest.fixture(scope="module")
def tiny_digits():
    digits = data.digits()
    return (data.Dataset(digits.X_train[:120], digits.y_train[:120], digits.X_test[:40], digits.y_test[:40]),
            (digits.X_test[40:80], digits.y_test[40:80]))


def test_generalization_tunes_and_selects_by_label(tiny_digits):
    tune, test = tiny_digits
    g = landscape.generalization(lambda s: models.mlp([64, 8, 10], seed=s), tune, test, (30, 120), (0.01, 0.5),
                                 tune_seeds=(0, 1), seeds=(3, 4, 5), epochs=3)
    assert len(g.grid) == 2 * 2 * 2 and set(g.tuned) == {30, 120}
    for b in (30, 120):
        rows = g.grid[g.grid.batch_size == b]
        means = rows.groupby("eta").val_acc.mean()
        assert means[g.tuned[b]] == means.max()
    assert list(g.final.index.get_level_values("seed").unique()) == [3, 4, 5]
    assert g.final.loc[(30, 4), "updates"] == 3 * 4 and g.final.loc[(120, 4), "updates"] == 3
    # a copy of the tuned run is what a single run with the same seed gives
    single = train.train(models.mlp([64, 8, 10], seed=4), "gd", tune, hparams={"eta": g.tuned[30]}, epochs=3,
                         batch_size=30, seed=4, progress=False)
    assert g.final.loc[(30, 4), "train_loss"] == pytest.approx(single.train_loss[-1], rel=1e-4)
    model = models.mlp([64, 8, 10], seed=4)
    train.train(model, "gd", tune, hparams={"eta": g.tuned[30]}, epochs=3, batch_size=30, seed=4, progress=False)
    assert g.final.loc[(30, 4), "test_acc"] == pytest.approx(landscape.evaluate(model, model, test)[1], abs=1e-9)


def test_linear_scaling_labels_and_warmup(tiny_digits):
    tune, _ = tiny_digits
    s = landscape.linear_scaling(lambda k: models.mlp([64, 8, 10], seed=k), tune, 10, 0.05, (40, 120), seeds=(0, 1),
                                 epochs=2)
    assert set(s.table.setting) == set(landscape.SCALING_SETTINGS) and len(s.table) == 2 * 3 * 2
    c = landscape.scaling_copy(s, 120, "kη₀ + warmup", 1)
    h = s.runs[120]
    assert h.seeds[c] == 1 and s.setting[120][c] == "kη₀ + warmup"
    # warmup over max(2 epochs, 10) = 10 updates: the second update uses 2/10 of kη₀
    assert h.lr[c, 1] == pytest.approx(12 * 0.05 * 2 / 10, rel=1e-5)
    assert h.lr[landscape.scaling_copy(s, 120, "kη₀", 1), 1] == pytest.approx(12 * 0.05, rel=1e-6)
    assert s.table.query("batch_size == 40 and setting == 'η₀'").eta.eq(0.05).all()
    with pytest.raises(ValueError, match="Invalid selection"):
        landscape.scaling_copy(s, 120, "kη₀", 7)


# ------------------------------------------------------------------------------------ the noisy-path explorer
@pytest.mark.parametrize("batch", [1, 2, 4, 8, 16, 32, 64])  # the chapter's whole control space
@pytest.mark.parametrize("eta", [0.02, 0.05, 0.1, 0.2])
def test_noisy_path_frame_never_pins_the_end_to_a_corner(batch, eta):
    from lib import trajectories
    from lib.viz import Label, Markers

    problem = data.linear_regression_2d()
    start = np.array([-1.0, 3.0])
    w, b = problem.theta_star
    zoom_w, zoom_b = (w - 0.45, w + 0.45), (b - 0.45, b + 0.45)
    path = trajectories.minibatch_path(problem, start, batch, eta=eta, epochs=30, seed=0)
    frame = landscape.noisy_path_frame(problem, path, batch, eta, zoom_w, zoom_b)
    landscape.noisy_path_view(problem, start, (-1.5, 4.0), (-3.5, 3.5), zoom_w, zoom_b)
    per_epoch = -(-64 // batch)
    if path.diverged_at >= 0:
        assert "diverged at update" in frame.text[0]
        return
    assert f"({per_epoch} update{'s' if per_epoch > 1 else ''} per epoch)" in frame.text[0]
    zoom = [item for item in frame.items if item.panel == "zoom"]
    assert not any(isinstance(item, Markers) and item.clamp for item in zoom)  # nothing pinned to the frame
    end = path.theta[-1]
    inside = zoom_w[0] <= end[0] <= zoom_w[1] and zoom_b[0] <= end[1] <= zoom_b[1]
    (end_marker,) = [item for item in frame.items if isinstance(item, Markers) and item.label == "end"]
    assert end_marker.panel == ("zoom" if inside else "path")
    assert any(isinstance(item, Label) for item in zoom) == (not inside)
    assert ("not arrived" in frame.text[0]) == (not inside)  # with the distance, too long for the narrow panel
    if batch == 64 and eta == 0.05:  # the case of the bug report: batch GD has not arrived after 30 epochs
        assert not inside and "1 update per epoch" in frame.text[0]
