"""Tests of lib.lessons.critical_points: the escape experiments against closed forms, the gradient-norm phase on a
tiny network, and the network loss against torch's own autograd."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lib import hessian, models, rules, surfaces, trajectories
from lib.lessons import critical_points as cp

F64 = torch.float64


@pytest.fixture(scope="module")
def tiny():
    """A 2 → 3 → 3 tanh net (21 parameters) on 30 points of 3 balanced classes, cross-entropy + L2."""
    rng = np.random.default_rng(0)
    X = torch.tensor(rng.standard_normal((30, 2)))
    y = torch.arange(30) % 3
    def model_fn(seed):
        return models.mlp([2, 3, 3], seed=seed, dtype=torch.float64)

    return cp.NetworkLoss(model_fn, X, y, weight_decay=1e-2)


# ------------------------------------------------------------------------------------------- hidden saddle


def test_hidden_saddle_derivatives_match_autograd():
    s = cp.hidden_saddle()
    xy = torch.tensor([[0.3, -0.7], [1.1, 0.4], [-0.2, 0.9]], dtype=F64, requires_grad=True)
    g = torch.autograd.grad(s.value(xy).sum(), xy)[0]
    np.testing.assert_allclose(s.grad(xy.detach()).numpy(), g.numpy(), atol=1e-12)
    for p in xy.detach():
        H = torch.autograd.functional.hessian(lambda q: s.value(q), p)
        np.testing.assert_allclose(s.hessian(p).numpy(), H.numpy(), atol=1e-12)


def test_hidden_saddle_is_a_minimum_along_each_axis_but_a_saddle():
    s = cp.hidden_saddle()
    t = np.linspace(-1.0, 1.0, 201)
    for axis in (np.c_[t, 0 * t], np.c_[0 * t, t]):
        values = s.value(axis)
        assert values.argmin() == 100 and np.all(values[t != 0] > 0)
    for point in s.critical_points:
        xy = np.array(point.xy)
        np.testing.assert_allclose(s.grad(xy), 0.0, atol=1e-12)
        kind = hessian.classify(np.linalg.eigvalsh(s.hessian(xy)))
        assert kind == ("saddle point" if point.kind == "saddle point" else "local minimum")
    np.testing.assert_allclose(np.linalg.eigvalsh(s.hessian(np.zeros(2))), [-2.0, 6.0])
    np.testing.assert_allclose(s.value(np.array(s.critical_points[1].xy)), -0.5)


# -------------------------------------------------------------------------------------------- escaping


def test_perturbed_gd_without_noise_is_gradient_descent():
    s = surfaces.get("rosenbrock")
    starts = np.array([[-1.2, 1.0], [0.5, -0.5]])
    path = cp.perturbed_gd(s, starts, 50, eta=1e-3).path
    np.testing.assert_allclose(path, trajectories.run("gd", s, starts, 50, eta=1e-3).path, rtol=0, atol=1e-14)


def test_escape_time_of_gd_grows_like_log_one_over_distance():
    """x^2 - y^2: y_t = (1 + 2 eta)^t y_0, x_t -> 0; escape (|theta| >= 1) at
    t = ceil(ln(1/y_0) / ln(1 + 2 eta)) once x has died out."""
    s, eta = surfaces.get("saddle"), 0.1
    delta = np.logspace(-2, -12, 11)
    table = cp.escape_experiment(s, (0.0, 0.0), delta, eta=eta, steps=400, n_noise=4)
    y0 = delta * math.sin(math.pi / 6)
    expected = np.ceil(np.log(1.0 / y0) / math.log(1.0 + 2.0 * eta))
    assert np.all(np.abs(table.gd - expected) <= 1)
    slope = np.polyfit(np.log(1.0 / delta), table.gd, 1)[0]
    assert slope == pytest.approx(1.0 / math.log(1.0 + 2.0 * eta), rel=0.02)


def test_gd_never_escapes_from_the_stable_manifold_but_noise_and_the_escape_step_do():
    s = surfaces.get("saddle")
    path = cp.perturbed_gd(s, [[0.5, 0.0]], 300, eta=0.1).path
    assert cp.escape_time(path, (0.0, 0.0), 1.0)[0] == -1  # converges to the saddle
    assert np.linalg.norm(path[0, -1]) < 1e-20
    table = cp.escape_experiment(s, (0.0, 0.0), [0.0, 1e-3, 1e-9], eta=0.1, steps=300, sigma=0.01, n_noise=16,
                                 rho=0.1, angle=0.0)
    assert np.all(table.gd == -1)  # angle 0: every start lies on the stable manifold y = 0
    assert np.all(table.noisy > 0) and np.all(table.noisy_all > 0)
    # after one step of length rho along (0, ±1), |y| = 0.1 grows by 1.2 per step: 13 more steps to reach 1
    assert np.all(table.escape_step == 1 + math.ceil(math.log(10) / math.log(1.2)))
    # noise dominates for tiny distances: the same time whatever the start
    assert abs(int(table.noisy[1]) - int(table.noisy[2])) <= 3


def test_escape_step_moves_along_the_negative_curvature_direction():
    s = surfaces.get("lee_network")
    out = cp.escape_step(s, [[0.0, 0.0]], rho=0.2)[0]
    np.testing.assert_allclose(np.abs(out), [0.2 / math.sqrt(2)] * 2, atol=1e-8)
    assert out[0] * out[1] > 0  # along ±(1, 1)/sqrt(2): the loss goes down
    assert s.value(out) < s.value(np.zeros(2))
    q = surfaces.quadratic(kappa=4.0)  # no negative curvature: unchanged
    np.testing.assert_array_equal(cp.escape_step(q, [[0.3, 0.2]], rho=0.5), [[0.3, 0.2]])


def test_escape_time_reads_paths():
    path = np.zeros((2, 5, 2))
    path[0, 3:] = [2.0, 0.0]
    assert cp.escape_time(path, (0.0, 0.0), 1.0).tolist() == [3, -1]
    assert cp.escape_time(path[0], (0.0, 0.0), 1.0) == 3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"eta": 0.0}, "learning rate"), ({"eta": 0.1, "sigma": -1.0}, "sigma"), ({"eta": 0.1, "steps": 0}, "steps")],
)
def test_perturbed_gd_rejects_bad_arguments(kwargs, match):
    args = {"steps": 10, **kwargs}
    steps = args.pop("steps")
    with pytest.raises(ValueError, match=match):
        cp.perturbed_gd(surfaces.get("saddle"), [[0.1, 0.1]], steps, **args)


def test_escape_experiment_rejects_negative_distances():
    with pytest.raises(ValueError, match="distances"):
        cp.escape_experiment(surfaces.get("saddle"), (0, 0), [-1.0], eta=0.1, steps=10)
    with pytest.raises(ValueError, match="starts"):
        cp.perturbed_gd(surfaces.get("saddle"), [[0.1, 0.1, 0.1]], 10, eta=0.1)


# -------------------------------------------------------------------------------------------- networks


def test_network_loss_matches_the_module_and_torch_hessian(tiny):
    theta = tiny.init(3)
    model = tiny.model_fn(3)
    expected = torch.nn.functional.cross_entropy(model(tiny.X), tiny.y) + 0.5e-2 * sum(
        (p * p).sum() for p in model.parameters())
    assert float(tiny(theta).detach()) == pytest.approx(float(expected.detach()), rel=1e-13)
    assert tiny.n == 21 and torch.equal(tiny.flatten(model), theta)
    H = tiny.hessian(theta)
    H_ref = torch.autograd.functional.hessian(tiny, theta)
    torch.testing.assert_close(H, H_ref, rtol=1e-10, atol=1e-12)
    assert torch.equal(H, H.T)


def test_adam_l2_is_adam_on_the_regularized_gradient():
    theta, g = torch.tensor([1.0, -2.0], dtype=F64), torch.tensor([0.3, 0.1], dtype=F64)
    state = cp.ADAM_L2.init(theta)
    step, _ = cp.ADAM_L2.update(g, state, theta, eta=0.1, weight_decay=0.5)
    ref, _ = rules.adam_update(g + 0.5 * theta, rules.adam_init(theta), theta, eta=0.1)
    torch.testing.assert_close(step, ref)


def test_gradient_norm_phase_lands_on_critical_points(tiny):
    """From where normal training stopped, the gradient norm drops by orders of magnitude, to a critical point
    whose Hessian the second-order test reads."""
    points = cp.survey(tiny, [0, 2, 4, 5], [1e-3, 1e-1, 1e-2, 1e-1], steps=200, max_iter=15)
    converged = [p for p in points if p.kind != "not critical"]
    assert len(converged) == 4
    for p in converged:
        assert p.grad_norm <= 1e-9 and p.grad_norm < 1e-5 * p.grad_norm_trained
        assert p.grad_norms[0] == pytest.approx(p.grad_norm_trained)
        assert p.eigenvalues.shape == (21,) and np.all(np.diff(p.eigenvalues) >= 0)
        _, g = tiny.value_and_grad(p.theta)
        assert float(g.norm()) == pytest.approx(p.grad_norm)
    kinds = {p.seed: p.kind for p in points}
    assert kinds == {0: "saddle point", 2: "local minimum", 4: "saddle point", 5: "local minimum"}
    for p in points:
        assert p.minimum_ratio == hessian.minimum_ratio(p.eigenvalues)
        assert (p.minimum_ratio == 1.0) == (p.kind == "local minimum")


def test_gradient_norm_phase_can_stall_where_the_gradient_is_not_zero(tiny):
    """||g||^2 has minima that are not critical points (Frye et al. 2021): the run reports them as such."""
    (p,) = cp.survey(tiny, [1], [1e-2], steps=200, max_iter=15)
    assert p.kind == "not critical" and p.grad_norm > 1e-4
    assert p.grad_norm < p.grad_norm_trained and p.flatness < 0.05


def test_the_origin_of_a_balanced_network_is_a_saddle_and_escaping_it_lowers_the_loss(tiny):
    zero = torch.zeros(tiny.n, dtype=F64)
    run = cp.minimize_grad_norm(tiny, zero)
    assert run.converged and run.n_hessians == 1 and torch.equal(run.theta, zero)
    assert hessian.classify(run.eigenvalues) == "saddle point"
    flat = cp.network_escape(tiny, zero, 200, eta=0.5)
    pushed = cp.network_escape(tiny, zero, 200, eta=0.5, rho=0.1)
    noisy = cp.network_escape(tiny, zero, 200, eta=0.5, sigma=1e-3)
    assert flat[0] == pushed[0] == noisy[0] == pytest.approx(math.log(3))
    assert np.ptp(flat) < 1e-12  # the gradient is exactly zero there: gradient descent never moves
    assert pushed[1] < pushed[0] and pushed[-1] < flat[-1] - 0.05
    assert noisy[-1] < flat[-1] - 0.05


def test_gradient_flatness():
    H = torch.diag(torch.tensor([2.0, 1.0, 0.0], dtype=F64))
    assert cp.gradient_flatness(H, torch.tensor([0.0, 0.0, 3.0], dtype=F64)) == 0.0
    assert cp.gradient_flatness(H, torch.tensor([1.0, 0.0, 0.0], dtype=F64)) == pytest.approx(1.0)
    assert math.isnan(cp.gradient_flatness(H, torch.zeros(3, dtype=F64)))


def test_digits_problem_has_the_stated_size():
    prob = cp.digits_problem()
    assert prob.n == 310 and len(prob.X) == 359 and prob.weight_decay == 1e-2


def test_network_functions_reject_bad_arguments(tiny):
    with pytest.raises(ValueError, match="theta"):
        cp.minimize_grad_norm(tiny, torch.zeros(5, dtype=F64))
    with pytest.raises(ValueError, match="stall"):
        cp.minimize_grad_norm(tiny, torch.zeros(tiny.n, dtype=F64), stall=1.5)
    with pytest.raises(ValueError, match="seeds and etas"):
        cp.survey(tiny, [0, 1], [0.1], steps=10)
    with pytest.raises(ValueError, match="loss"):
        cp.NetworkLoss(tiny.model_fn, tiny.X, tiny.y, loss="hinge")
    with pytest.raises(ValueError, match="weight_decay"):
        cp.NetworkLoss(tiny.model_fn, tiny.X, tiny.y, weight_decay=-1.0)
    with pytest.raises(ValueError, match="rho"):
        cp.network_escape(tiny, torch.zeros(tiny.n, dtype=F64), 5, eta=0.1, rho=-0.1)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_network_loss_uses_lib_losses_with_torch_numbers_and_works_under_vmap(tiny, loss):
    """Issue 21: NetworkLoss computes its data term with lib.losses; the values equal torch's, also per example."""
    y = tiny.y if loss == "cross_entropy" else tiny.y.to(torch.float64).reshape(-1, 1).expand(-1, 3).contiguous()
    problem = cp.NetworkLoss(tiny.model_fn, tiny.X, y, weight_decay=1e-2, loss=loss)
    theta = problem.init(5)
    model = tiny.model_fn(5).double()
    out = model(tiny.X.double())
    ref = (torch.nn.functional.cross_entropy(out, y) if loss == "cross_entropy"
           else torch.nn.functional.mse_loss(out, y))
    ref = ref + 0.5e-2 * (theta * theta).sum()
    assert float(problem(theta).detach()) == pytest.approx(float(ref.detach()), rel=1e-13)
    thetas = torch.stack([problem.init(s) for s in (1, 2, 3)])
    batched = torch.func.vmap(problem)(thetas)
    looped = torch.stack([problem(t) for t in thetas])
    torch.testing.assert_close(batched, looped, rtol=1e-13, atol=0)
    grads = torch.func.vmap(torch.func.grad(problem))(thetas)
    torch.testing.assert_close(grads[0], problem.value_and_grad(thetas[0])[1], rtol=1e-12, atol=1e-14)


def test_plot_end_points_draws_every_kind_and_rejects_a_missing_style():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def point(kind, loss, ratio):
        return cp.EndPoint(seed=0, eta=1e-2, loss_trained=loss, grad_norm_trained=1e-2, loss=loss, grad_norm=1e-10,
                           grad_norms=np.array([1e-2, 1e-6, 1e-10]), eigenvalues=np.array([-1.0, 2.0]),
                           minimum_ratio=ratio, kind=kind, flatness=math.nan, n_hessians=3, theta=torch.zeros(2))

    styles = {"local minimum": ("*", "C0"), "saddle point": ("X", "C1"), "not critical": ("o", "C2")}
    points = [point("local minimum", 0.1, 1.0), point("saddle point", 2.3, 0.9), point("not critical", 1.0, 0.95)]
    fig = cp.plot_end_points(points, styles, 21)
    left, right = fig.axes[0], fig.axes[1]
    assert left.get_title() == "3 end points, 21-parameter digits MLP"
    assert len(right.get_lines()) >= 3 + 3  # one curve per point, one legend entry per kind
    labels = [t.get_text() for t in left.get_legend().get_texts()]
    assert "local minimum (1)" in labels and "no critical point reached (1)" in labels
    plt.close(fig)
    with pytest.raises(ValueError, match="no \\(marker, color\\)"):
        cp.plot_end_points(points, {"local minimum": ("*", "C0")}, 21)
    with pytest.raises(ValueError, match="Invalid points"):
        cp.plot_end_points([], styles, 21)
