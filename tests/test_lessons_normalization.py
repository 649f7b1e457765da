"""Tests of lib.lessons.normalization: the scaled least squares, the BN network, the probes and the explorers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lib import convergence, data, models, norm
from lib.lessons import normalization as N


def test_standardizing_removes_the_scale():
    raw = [N.scaling_row(N.scaled_problem(s)) for s in (1.0, 10.0)]
    std = [N.scaling_row(N.standardized(N.scaled_problem(s))) for s in (1.0, 10.0)]
    assert raw[1].kappa > 50 * raw[0].kappa  # kappa grows like s^2
    np.testing.assert_allclose(std[0].kappa, std[1].kappa, rtol=1e-12)  # after standardizing, s is gone
    for row in raw + std:
        assert row.steps_measured == row.steps_theory  # GD at eta* follows rho* = (kappa-1)/(kappa+1)
        assert row.diverged_above > 0  # 1.05 * 2/lam_max diverges
        assert row.eta_star < row.eta_max


def test_surface_matches_the_problem():
    problem = N.scaled_problem(3.0)
    surface = N.least_squares_surface(problem)
    w = np.array([[0.3, -0.2], [1.0, 0.5]])
    np.testing.assert_allclose(surface.value(w), problem.loss(w), rtol=1e-10)
    np.testing.assert_allclose(surface.grad(w), problem.grad(w), rtol=1e-10, atol=1e-12)


def test_standardized_weights_map_back():
    problem = N.scaled_problem(10.0)
    std = N.standardized(problem)
    # equal up to the centring (the raw features have a small sample mean and the model no intercept)
    np.testing.assert_allclose(std.theta_star / problem.X.std(axis=0), problem.theta_star, rtol=1e-3)
    assert not np.allclose(std.theta_star, problem.theta_star, rtol=0.1)


@pytest.mark.parametrize("bad", [{"s": 0.0}, {"s": -1.0}, {"s": 1.0, "rho": 1.0}])
def test_scaled_problem_rejects_bad_arguments(bad):
    with pytest.raises(ValueError, match="Invalid"):
        N.scaled_problem(**bad)


def test_bn_mlp_shares_the_initial_weights():
    plain, with_bn = N.bn_mlp([64, 16, 16, 10], seed=3, bn=False), N.bn_mlp([64, 16, 16, 10], seed=3)
    reference = models.mlp([64, 16, 16, 10], activation="relu", seed=3)
    lin = [m for m in with_bn if isinstance(m, torch.nn.Linear)]
    ref = [m for m in reference if isinstance(m, torch.nn.Linear)]
    assert sum(isinstance(m, norm.BatchNorm1d) for m in with_bn) == 2
    for a, b in zip(lin, ref, strict=True):
        assert torch.equal(a.weight, b.weight)
    assert len(list(plain.parameters())) == len(list(reference.parameters()))


def _small():
    d = data.digits()
    return d._replace(X_train=d.X_train[:256], y_train=d.y_train[:256])


def test_landscape_probe_records_and_trains():
    d = _small()
    model = N.bn_mlp([64, 16, 10], seed=0)
    h = N.landscape_probe(model, d, eta=0.1, epochs=2, hessian_every=4)
    assert h.loss.shape == h.loss_range.shape == h.grad_change.shape == (8,)
    assert np.all(h.loss_range >= 0) and np.all(h.grad_change > 0) and np.all(np.isfinite(h.beta_smooth))
    assert h.sharpness_step[0] == 0 and h.sharpness_step[-1] == 8 and np.all(h.sharpness > 0)
    assert h.loss[-1] < h.loss[0]
    assert int(model[1].num_batches_tracked) == 8  # the probes did not touch the running statistics
    assert 0.0 <= h.test_acc <= 1.0


def test_eval_in_modes_leaves_buffers():
    model = N.bn_mlp([64, 16, 10], seed=0)
    d = _small()
    model.train()
    model(d.X_train[:64])
    before = [b.clone() for b in model.buffers()]
    out = N.eval_in_modes(model, d, 2)
    assert set(out) == {"eval", "train, batches of B", "train, whole test set"}
    for a, b in zip(before, model.buffers(), strict=True):
        assert torch.equal(a, b)


def test_running_average_is_the_course_formula():
    x = torch.arange(40, dtype=torch.float64).reshape(20, 2)
    means, running = N.running_average(x, 0.8, 4, 7)
    expected, mu = [], np.zeros(2)
    for m in means:
        mu = 0.8 * mu + 0.2 * m
        expected.append(mu.copy())
    np.testing.assert_allclose(running, expected, rtol=1e-12)
    means, cumulative = N.running_average(x, 0.8, 4, 7, momentum_none=True)
    np.testing.assert_allclose(cumulative[-1], means.mean(0), rtol=1e-12)


@pytest.mark.filterwarnings("error")
def test_scaling_explorer_whole_control_space():
    explorer = N.scaling_explorer()
    payload = explorer.payload()  # computes every combination of the controls
    assert len(payload["frames"]) >= 1
    assert explorer.static_html()


@pytest.mark.filterwarnings("error")
def test_running_average_explorer_whole_control_space():
    explorer = N.running_average_explorer(data.digits().X_train.double())
    assert explorer.payload()["frames"]
    assert explorer.static_html()


def test_theory_helper_is_the_shared_one():
    # the chapter's step counts come from lib.convergence, not a copy of it
    assert N.convergence is convergence
