"""Tests for lib.lessons.gradient_descent (stability limits against closed forms and measured runs, basins) and
lib.trajectories.minibatch_path."""

import numpy as np
import pytest

from lib import convergence as rates
from lib import trajectories
from lib.data import least_squares, linear_regression_2d
from lib.lessons import gradient_descent as descent
from lib.surfaces import get, quadratic


def gd_errors(A, theta0, eta, steps):
    """Plain gradient descent on 0.5 θᵀAθ by matrix powers: the oracle, independent of lib.rules."""
    M = np.eye(len(A)) - eta * A
    thetas = [np.asarray(theta0, dtype=np.float64)]
    for _ in range(steps):
        thetas.append(M @ thetas[-1])
    return np.stack(thetas)


@pytest.mark.parametrize("kappa, angle, lam_max", [(1.0, 0.0, 1.0), (10.0, 0.3, 2.0), (100.0, -1.1, 0.5)])
def test_curvatures_and_stability_limit_of_a_quadratic(kappa, angle, lam_max):
    surface = quadratic(kappa=kappa, angle=angle, lam_max=lam_max)
    lam = descent.curvatures(surface, np.array([0.3, -0.7]))
    np.testing.assert_allclose(lam, [lam_max / kappa, lam_max], rtol=1e-12)
    assert descent.stability_limit_at(surface, (0.0, 0.0)) == pytest.approx(2.0 / lam_max, rel=1e-12)


def test_stability_limit_is_vectorized_and_infinite_where_curvature_is_not_positive():
    saddle = get("saddle")  # H = diag(2, -2): λ_max = 2 everywhere
    limits = descent.stability_limit_at(saddle, np.zeros((3, 4, 2)))
    assert limits.shape == (3, 4)
    np.testing.assert_allclose(limits, 1.0)
    camel = get("six_hump_camel")
    maxima = [p.xy for p in camel.critical_points if p.kind == "local maximum"]
    assert np.all(np.isinf(descent.stability_limit_at(camel, np.array(maxima))))


@pytest.mark.parametrize("kappa, angle, lam_max", [(5.0, 0.8, 3.0), (50.0, -0.3, 0.7)])
def test_stability_limit_separates_convergent_from_divergent_runs(kappa, angle, lam_max):
    surface = quadratic(kappa=kappa, angle=angle, lam_max=lam_max)
    A = surface.hessian(np.zeros(2))
    limit = descent.stability_limit_at(surface, (0.0, 0.0))
    below = np.linalg.norm(gd_errors(A, [1.0, 1.0], 0.99 * limit, 3000)[-1])
    above = np.linalg.norm(gd_errors(A, [1.0, 1.0], 1.01 * limit, 3000)[-1])
    assert below < 1e-6 < 1e6 < above
    runs = trajectories.sweep("gd", surface, (1.0, 1.0), 3000, eta=[0.99 * limit, 1.01 * limit])
    assert runs.diverged_at[0] == -1 and runs.diverged_at[1] > 0


def test_stability_limit_at_a_minimum_of_a_non_convex_surface_predicts_local_divergence():
    camel = get("six_hump_camel")
    xy = np.array(next(p.xy for p in camel.critical_points if p.kind == "global minimum"))
    limit = descent.stability_limit_at(camel, xy)
    errors = []
    for eta in (0.98 * limit, 1.02 * limit):
        run = trajectories.run("gd", camel, xy + 1e-6, 1500, eta=eta)
        errors.append(np.linalg.norm(run.path[0] - xy, axis=-1))
    assert errors[0][-1] < 1e-12  # below the limit: pulled into the minimum
    assert errors[1][-1] > 1e-3  # above it: pushed out, even from a millionth away
    assert rates.measured_rate(errors[0], start=0, stop=400) < 1.0 < rates.measured_rate(errors[1], start=0, stop=200)


def test_nearest_critical_point_labels_the_end_points_of_runs():
    camel = get("six_hump_camel")
    points = np.array([p.xy for p in camel.critical_points])
    assert list(descent.nearest_critical_point(camel, points)) == list(range(len(points)))
    assert descent.nearest_critical_point(camel, points[3] + 5e-4) == 3
    assert descent.nearest_critical_point(camel, (1.9, 1.0)) == -1
    assert descent.nearest_critical_point(camel, np.zeros((2, 5, 2))).shape == (2, 5)


def test_minibatch_path_full_batch_is_gradient_descent_and_batches_cover_each_epoch():
    problem = linear_regression_2d(n=20, seed=1)
    theta0 = np.array([0.0, 0.0])
    full = trajectories.minibatch_path(problem, theta0, 20, eta=0.1, epochs=5)
    expected = [theta0]
    for _ in range(5):
        expected.append(expected[-1] - 0.1 * problem.grad(expected[-1]))
    np.testing.assert_allclose(full.theta, np.stack(expected), rtol=1e-13)
    np.testing.assert_allclose(full.loss, problem.loss(np.stack(expected)), rtol=1e-13)
    np.testing.assert_allclose(full.epoch, np.arange(6))
    mini = trajectories.minibatch_path(problem, theta0, 6, eta=0.05, epochs=3, seed=4)
    assert mini.theta.shape == (3 * 4 + 1, 2)  # 20 examples in batches of 6, 6, 6, 2
    np.testing.assert_allclose(mini.epoch[[0, 4, 8, 12]], [0, 1, 2, 3])
    again = trajectories.minibatch_path(problem, theta0, 6, eta=0.05, epochs=3, seed=4)
    np.testing.assert_array_equal(mini.theta, again.theta)


def test_minibatch_path_with_every_example_once_sums_to_one_full_step_for_small_eta():
    # With batch size 1 and a tiny η, one epoch of SGD moves by ≈ η n ∇L (the mean of per-example gradients).
    problem = least_squares(n=30, d=3, seed=2)
    theta0 = np.zeros(3)
    eta = 1e-7
    sgd = trajectories.minibatch_path(problem, theta0, 1, eta=eta, epochs=1, seed=0)
    np.testing.assert_allclose(sgd.theta[-1], -eta * 30 * problem.grad(theta0), rtol=1e-5)


def test_minibatch_path_runs_other_rules():
    problem = linear_regression_2d(n=16, seed=0)
    path = trajectories.minibatch_path(problem, [0.0, 0.0], 4, eta=0.05, epochs=30, rule="momentum", beta=0.5)
    assert path.loss[-1] < 0.05 * path.loss[0]


def test_minibatch_path_detects_divergence_like_lib_trajectories():
    # Full-batch GD above 2/λ_max: the oracle loop (no bound) says at which step |θ| first leaves the box.
    problem = linear_regression_2d(n=20, seed=1)
    lam_max = np.linalg.eigvalsh(problem.hessian)[-1]
    eta, bound, epochs = 1.2 * 2.0 / lam_max, 1e3, 200
    expected = [np.array([0.0, 0.0])]
    for _ in range(epochs):
        expected.append(expected[-1] - eta * problem.grad(expected[-1]))
    expected = np.stack(expected)
    k = int(np.argmax(np.abs(expected).max(axis=1) > bound))
    assert k > 1
    path = trajectories.minibatch_path(problem, [0.0, 0.0], 20, eta=eta, epochs=epochs, bound=bound)
    assert path.diverged_at == k
    np.testing.assert_allclose(path.theta[:k], expected[:k], rtol=1e-12)
    np.testing.assert_array_equal(path.theta[k:], np.broadcast_to(path.theta[k - 1], path.theta[k:].shape))
    assert path.theta.shape == (epochs + 1, 2) and path.epoch.shape == (epochs + 1,)
    assert np.abs(path.theta).max() <= bound and np.all(np.isfinite(path.loss))
    np.testing.assert_allclose(path.loss, problem.loss(path.theta), rtol=1e-13)
    # below the limit: the same run converges and says so
    below = trajectories.minibatch_path(problem, [0.0, 0.0], 20, eta=0.9 * 2.0 / lam_max, epochs=epochs)
    assert below.diverged_at == -1


@pytest.mark.filterwarnings("error")
def test_minibatch_path_overflow_is_recorded_not_warned():
    # With no bound the iterates grow until they overflow to inf: that is a divergence, not a RuntimeWarning.
    problem = linear_regression_2d(n=16, seed=0)
    path = trajectories.minibatch_path(problem, [0.0, 0.0], 1, eta=5.0, epochs=100, seed=3, bound=float("inf"))
    assert path.diverged_at > 0
    assert np.all(np.isfinite(path.theta))
    np.testing.assert_array_equal(path.theta[-1], path.theta[path.diverged_at - 1])
    # the default box stops it long before, at the same update or earlier
    boxed = trajectories.minibatch_path(problem, [0.0, 0.0], 1, eta=5.0, epochs=100, seed=3)
    assert 0 < boxed.diverged_at <= path.diverged_at
    np.testing.assert_array_equal(boxed.theta[:boxed.diverged_at], path.theta[:boxed.diverged_at])


def test_minibatch_path_start_outside_the_box_diverges_at_zero():
    path = trajectories.minibatch_path(linear_regression_2d(n=8), [2e6, 0.0], 4, eta=0.1, epochs=2)
    assert path.diverged_at == 0
    np.testing.assert_array_equal(path.theta, np.broadcast_to([2e6, 0.0], (5, 2)))


def test_minibatch_path_result_without_divergence_field_still_builds():
    # the field is new: code that builds a MinibatchPath from three arrays keeps working
    built = trajectories.MinibatchPath(np.zeros((2, 2)), np.zeros(2), np.arange(2.0))
    assert built.diverged_at == -1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 0}, "Invalid batch_size: 0"),
        ({"epochs": 0}, "Invalid epochs: 0"),
        ({"eta": -0.1}, "Invalid learning rate: -0.1"),
        ({"rule": "newton"}, "Invalid rule: 'newton'"),
        ({"theta0": [0.0]}, "Invalid theta0 shape"),
        ({"theta0": [np.nan, 0.0]}, "Invalid theta0: every entry must be finite"),
        ({"bound": 0.0}, "Invalid bound: 0.0"),
    ],
)
def test_minibatch_path_rejects_bad_arguments(kwargs, message):
    args = {"theta0": [0.0, 0.0], "batch_size": 4, "eta": 0.1, "epochs": 1} | kwargs
    with pytest.raises(ValueError, match=message):
        trajectories.minibatch_path(linear_regression_2d(n=8), args.pop("theta0"), args.pop("batch_size"), **args)


def test_bad_arguments_raise_value_errors():
    surface = quadratic()
    with pytest.raises(ValueError, match="Invalid xy shape"):
        descent.stability_limit_at(surface, np.zeros(3))
    with pytest.raises(ValueError, match="Invalid tol"):
        descent.nearest_critical_point(surface, (0.0, 0.0), tol=0.0)


def test_regime_names_come_from_the_runs():
    """Issue 16 (9): the parabola figure names each learning rate by what its run did."""
    parabola = quadratic(kappa=10.0, angle=0.0, lam_max=1.0)
    etas = np.array([0.1, 0.6, 1.0, 1.7, 2.5])
    runs = trajectories.sweep("gd", parabola, (1.8, 0.0), 200, eta=etas)
    x = runs.path[:, :, 0]
    steps = rates.steps_to_tolerance(np.abs(x), 1e-6)
    names = descent.regime_names(x, runs.diverged_at, steps)
    assert names == ["too small", "too small", "best: lands in one step", "too large: oscillates",
                     "far too large: diverges"]
    # without the one-step learning rate the fastest monotone run is named for what it is
    keep = [0, 1, 3]
    assert descent.regime_names(x[keep], runs.diverged_at[keep], steps[keep]) == [
        "too small", "fastest of these", "too large: oscillates"]
    with pytest.raises(ValueError, match="Invalid shapes"):
        descent.regime_names(x, runs.diverged_at[:2], steps)
