"""Tests for lib.trajectories: vectorized runs vs a per-start loop and vs lib.optim on torch; divergence."""

import math
import warnings

import numpy as np
import pytest
import torch

import lib.optim
from lib.rules import RULES
from lib.schedules import cosine, exponential, to_torch, warmup
from lib.surfaces import SURFACES, quadratic
from lib.trajectories import Trajectories, run, sweep


def random_starts(surface, n, seed=0):
    rng = np.random.default_rng(seed)
    (x0, x1), (y0, y1) = surface.bounds
    return np.stack([rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)], axis=-1)


def loop(rule, surface, start, steps, eta, bound=1e6, **hparams):
    """The reference: one start at a time, a plain Python loop over the steps."""
    theta = np.array(start, dtype=np.float64)
    state, path, diverged_at = rule.init(theta), [theta], -1
    with np.errstate(all="ignore"):
        for t in range(steps):
            if diverged_at < 0:
                step, state = rule.update(surface.grad(theta), state, theta,
                                          eta=eta(t) if callable(eta) else eta, **hparams)
                new = theta + step
                if np.isfinite(new).all() and (np.abs(new) <= bound).all():
                    theta = new
                else:
                    diverged_at = t + 1
            path.append(theta)
    return np.array(path), diverged_at


LOOP_CASES = [
    ("gd", "rosenbrock", 1e-3, {}),
    ("gd", "rosenbrock", 4e-3, {}),  # some starts diverge
    ("momentum", "six_hump_camel", 0.01, {"beta": 0.8, "dampening": 0.1}),
    ("momentum", "himmelblau", 0.01, {"nesterov": True}),
    ("nesterov", "two_minima", 0.05, {}),
    ("lee_momentum", "monkey_saddle", 0.02, {}),
    ("ewma_momentum", "lee_network", 0.1, {"bias_correction": True}),
    ("adagrad", "himmelblau", 0.5, {"lr_decay": 0.01, "initial_accumulator_value": 0.1}),
    ("rmsprop", "saddle", 0.01, {"centered": True, "momentum": 0.5}),
    ("lee_rmsprop", "six_hump_camel", 0.01, {}),
    ("adam", "rosenbrock", 0.05, {}),
    ("adam", "monkey_saddle", 0.05, {"amsgrad": True, "bias_correction": False}),
    ("adamw", "quadratic", 0.1, {"weight_decay": 0.1}),
    ("unified", "two_minima", 0.05, {}),
]


@pytest.mark.parametrize(("rule", "surface", "eta", "hparams"), LOOP_CASES,
                         ids=[f"{r}-{s}-{e}" for r, s, e, _ in LOOP_CASES])
def test_equals_a_per_start_python_loop(rule, surface, eta, hparams):
    s = SURFACES[surface]
    starts = np.concatenate([np.array(s.starts), random_starts(s, 9)])
    steps = 150
    result = run(rule, s, starts, steps, eta=eta, **hparams)
    assert isinstance(result, Trajectories)
    assert result.path.shape == (len(starts), steps + 1, 2) and result.loss.shape == (len(starts), steps + 1)
    assert result.diverged_at.shape == (len(starts),) and result.diverged_at.dtype.kind == "i"
    for i, start in enumerate(starts):
        path, diverged_at = loop(RULES[rule], s, start, steps, eta, **hparams)
        np.testing.assert_array_equal(result.path[i], path)
        assert result.diverged_at[i] == diverged_at
    np.testing.assert_array_equal(result.loss, s.value(result.path))
    assert np.isfinite(result.path).all()


def test_schedule_as_eta_equals_the_loop():
    s = SURFACES["himmelblau"]
    schedule = warmup(cosine(0.1, 80), 10)
    starts = random_starts(s, 6, seed=4)
    result = run("adam", s, starts, 100, eta=schedule)
    for i, start in enumerate(starts):
        np.testing.assert_array_equal(result.path[i], loop(RULES["adam"], s, start, 100, schedule)[0])


# lib.optim class and arguments  <->  lib.rules rule and hyperparameters, and the number of steps compared.
# torch's EWMA is a lerp, numpy's is beta * avg + (1 - beta) * x: they differ by rounding. RMSProp bouncing
# around a minimum with a fixed eta is chaotic and amplifies that 1e-16 to 1e-1 within ~100 steps (measured),
# so the RMSProp forms are compared over their first 25 steps, before any start reaches a minimum.
OPTIM_CASES = [
    (lib.optim.Adam, {}, "adam", {}, 200),
    (lib.optim.Adam, {"betas": (0.8, 0.99), "amsgrad": True}, "adam", {"beta1": 0.8, "beta2": 0.99, "amsgrad": True},
     200),
    (lib.optim.AdamW, {"weight_decay": 0.05}, "adamw", {"weight_decay": 0.05}, 200),
    (lib.optim.SGD, {}, "gd", {}, 200),
    (lib.optim.SGD, {"momentum": 0.9}, "momentum", {"beta": 0.9}, 200),
    (lib.optim.SGD, {"momentum": 0.8, "dampening": 0.2}, "momentum", {"beta": 0.8, "dampening": 0.2}, 200),
    (lib.optim.SGD, {"momentum": 0.9, "nesterov": True}, "nesterov", {"beta": 0.9}, 200),
    (lib.optim.Adagrad, {"lr_decay": 0.01}, "adagrad", {"lr_decay": 0.01}, 200),
    (lib.optim.RMSprop, {"alpha": 0.9, "centered": True}, "rmsprop", {"alpha": 0.9, "centered": True}, 25),
    (lib.optim.EWMAMomentum, {"beta": 0.9, "bias_correction": True}, "ewma_momentum", {"bias_correction": True},
     200),
    (lib.optim.LeeMomentum, {"lam": 0.8}, "lee_momentum", {"lam": 0.8}, 200),
    (lib.optim.LeeRMSProp, {"alpha": 0.9}, "lee_rmsprop", {"alpha": 0.9}, 25),
]
# (surface, eta) pairs on which these runs are not chaotic, so rounding differences stay at rounding level
SURFACE_ETAS = [("rosenbrock", 3e-4), ("two_minima", 0.02), (quadratic(10.0, 0.5), 0.05)]


def torch_path(optimizer, surface, starts, steps, eta, schedule=None, **kwargs):
    """lib.optim driving one torch parameter holding every start, loss = sum of the surface's values."""
    p = torch.tensor(starts, dtype=torch.float64, requires_grad=True)
    opt = optimizer([p], lr=eta, **kwargs)
    sched = to_torch(schedule, opt) if schedule else None
    path = [p.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        surface.value(p).sum().backward()
        opt.step()
        if sched:
            sched.step()
        path.append(p.detach().clone())
    return torch.stack(path, dim=1).numpy()


@pytest.mark.parametrize(("optimizer", "kwargs", "rule", "hparams", "steps"), OPTIM_CASES,
                         ids=[f"{o.__name__}-{r}-{i}" for i, (o, _, r, _, _) in enumerate(OPTIM_CASES)])
@pytest.mark.parametrize(("surface", "eta"), SURFACE_ETAS, ids=["rosenbrock", "two_minima", "quadratic"])
def test_equals_lib_optim_driving_a_torch_parameter(optimizer, kwargs, rule, hparams, steps, surface, eta):
    s = SURFACES[surface] if isinstance(surface, str) else surface
    starts = np.concatenate([np.array(s.starts), random_starts(s, 8, seed=5)])
    result = run(rule, s, starts, steps, eta=eta, **hparams)
    assert (result.diverged_at == -1).all()
    reference = torch_path(optimizer, s, starts, steps, eta, **kwargs)
    np.testing.assert_allclose(result.path, reference, rtol=1e-12, atol=1e-12)


def test_equals_lib_optim_with_a_schedule():
    s = SURFACES["rosenbrock"]
    starts = random_starts(s, 12, seed=6)
    for schedule, optimizer, rule in [(warmup(cosine(0.02, 150), 20), lib.optim.Adam, "adam"),
                                      (exponential(3e-4, 0.99), lib.optim.SGD, "gd")]:
        result = run(rule, s, starts, 200, eta=schedule)
        assert (result.diverged_at == -1).all()
        reference = torch_path(optimizer, s, starts, 200, 1.0, schedule=schedule)
        np.testing.assert_allclose(result.path, reference, rtol=1e-12, atol=1e-12)


def test_gradient_descent_diverges_at_the_predicted_step():
    """On f = x²/2 + y²/20, GD multiplies x by (1 - eta) each step: with eta = 2.5 that is -1.5, so x leaves
    the bound at the first k with 1.5^k |x0| > bound; y shrinks by 1 - eta/10 = 0.75."""
    s = quadratic(kappa=10.0, angle=0.0, lam_max=1.0)
    starts = np.array([[1.0, 1.0], [1e-3, -2.0], [0.0, 1.5]])
    result = run("gd", s, starts, 100, eta=2.5)
    predicted = [math.ceil(math.log(1e6 / abs(x0)) / math.log(1.5)) for x0 in starts[:2, 0]]
    assert predicted == [35, 52]
    assert result.diverged_at.tolist() == [*predicted, -1]
    for i, k in enumerate(predicted):
        assert abs(result.path[i, k - 1, 0]) <= 1e6 < 1.5 * abs(result.path[i, k - 1, 0])
        np.testing.assert_array_equal(result.path[i, k:], np.broadcast_to(result.path[i, k - 1], (101 - k, 2)))
        np.testing.assert_array_equal(result.loss[i, k:], result.loss[i, k - 1])
    np.testing.assert_allclose(result.path[2, :, 1], 1.5 * 0.75 ** np.arange(101), rtol=1e-12)
    # a stable eta below 2 / lam_max = 2 converges instead
    assert (run("gd", s, starts, 100, eta=1.9).diverged_at == -1).all()


def test_non_finite_iterates_are_caught_without_a_bound():
    s = SURFACES["rosenbrock"]
    result = run("gd", s, [[-1.2, 1.0], [0.5, 0.5]], 20, eta=1e150, bound=math.inf)
    assert (result.diverged_at > 0).all()
    assert np.isfinite(result.path).all()
    tiny = run("gd", quadratic(), [3.0, 0.0], 5, eta=1e200, bound=math.inf)
    assert tiny.diverged_at.tolist() == [2]  # x1 = -3e200 is finite, x2 overflows
    assert tiny.path[0, 1:, 0].tolist() == [3.0 - 1e200 * 3.0] * 5


def test_no_warning_leaks_out():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        old = np.geterr()
        for rule in RULES:
            run(rule, SURFACES["rosenbrock"], [[-1.2, 1.0], [2.0, 2.0]], 30, eta=1e150, bound=math.inf)
            run(rule, SURFACES["monkey_saddle"], [[1.0, 0.1]], 30, eta=1e3)
        assert np.geterr() == old


def test_start_outside_the_bound_is_diverged_at_step_zero():
    result = run("adam", SURFACES["saddle"], [[2.0, 0.0], [0.5, 0.5]], 10, eta=0.1, bound=1.0)
    assert result.diverged_at[0] == 0
    np.testing.assert_array_equal(result.path[0], np.broadcast_to([2.0, 0.0], (11, 2)))


def test_diverging_starts_leave_the_others_alone():
    s = SURFACES["rosenbrock"]
    starts = random_starts(s, 20, seed=7)
    together = run("momentum", s, starts, 100, eta=2e-3)
    assert 0 < (together.diverged_at >= 0).sum() < len(starts)
    ok = together.diverged_at < 0
    alone = run("momentum", s, starts[ok], 100, eta=2e-3)
    np.testing.assert_array_equal(together.path[ok], alone.path)


def test_steps_zero_and_single_start():
    s = SURFACES["himmelblau"]
    result = run("gd", s, [1.0, 2.0], 0, eta=0.1)
    assert result.path.shape == (1, 1, 2) and result.loss.tolist() == [[s.value(np.array([1.0, 2.0]))]]
    assert run("gd", s, (1.0, 2.0), 3, eta=0.1).path.shape == (1, 4, 2)
    assert run(RULES["gd"], s, (1.0, 2.0), 3, eta=0.1).path.shape == (1, 4, 2)
    empty = run("adam", s, np.zeros((0, 2)), 3, eta=0.1)
    assert empty.path.shape == (0, 4, 2) and empty.loss.shape == (0, 4) and empty.diverged_at.shape == (0,)


def test_sweep_over_eta_is_one_run_per_value():
    s = quadratic(kappa=10.0)
    etas = np.array([0.1, 1.0, 1.9, 2.1, 3.0])
    result = sweep("gd", s, (1.0, 1.0), 160, eta=etas)
    assert result.path.shape == (5, 161, 2)
    for k, eta in enumerate(etas):
        single = run("gd", s, (1.0, 1.0), 160, eta=eta)
        np.testing.assert_array_equal(result.path[k], single.path[0])
        assert result.diverged_at[k] == single.diverged_at[0]
    assert (result.diverged_at[:3] == -1).all() and result.diverged_at[3] > result.diverged_at[4] > 0
    np.testing.assert_array_equal(run("gd", s, np.ones((5, 2)), 160, eta=etas[:, None]).path, result.path)


def test_sweep_zips_several_hyperparameters():
    s = SURFACES["rosenbrock"]
    eta, beta1 = np.meshgrid([0.01, 0.05], [0.0, 0.5, 0.9])
    result = sweep("adam", s, (-1.2, 1.0), 80, eta=eta.ravel(), beta1=beta1.ravel(), amsgrad=True)
    for k, (e, b) in enumerate(zip(eta.ravel(), beta1.ravel(), strict=True)):
        single = run("adam", s, (-1.2, 1.0), 80, eta=e, beta1=b, amsgrad=True)
        np.testing.assert_array_equal(result.path[k], single.path[0])
    assert sweep("adam", s, (-1.2, 1.0), 5, eta=[0.1], beta1=[0.5, 0.9]).path.shape == (2, 6, 2)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: run("nope", SURFACES["saddle"], [0.0, 1.0], 5, eta=0.1), "Invalid rule: 'nope'"),
    (lambda: run("gd", SURFACES["saddle"], [0.0, 1.0], 5, eta=0.1, beta=0.9), "Invalid hyperparameter for rule 'gd'"),
    (lambda: run("gd", SURFACES["saddle"], np.zeros((2, 3)), 5, eta=0.1), r"Invalid starts shape: \(2, 3\)"),
    (lambda: run("gd", SURFACES["saddle"], [np.nan, 1.0], 5, eta=0.1), "Invalid starts: every start must be finite"),
    (lambda: run("gd", SURFACES["saddle"], [0.0, 1.0], -1, eta=0.1), "Invalid steps: -1"),
    (lambda: run("gd", SURFACES["saddle"], [0.0, 1.0], 2.5, eta=0.1), "Invalid steps: 2.5"),
    (lambda: run("gd", SURFACES["saddle"], [0.0, 1.0], 5, eta=0.1, bound=0.0), "Invalid bound: 0.0"),
    (lambda: run("gd", SURFACES["saddle"], np.zeros((4, 2)), 5, eta=np.ones(3)), r"Invalid eta shape: \(3,\)"),
    (lambda: sweep("gd", SURFACES["saddle"], [0.0, 1.0, 2.0], 5, eta=[0.1]), r"Invalid start shape: \(3,\)"),
    (lambda: sweep("adam", SURFACES["saddle"], [0.0, 1.0], 5, eta=[0.1, 0.2], beta1=[0.5, 0.6, 0.7]),
     "Swept hyperparameters differ in length"),
    (lambda: sweep("gd", SURFACES["saddle"], [0.0, 1.0], 5, eta=np.ones((2, 2))), r"Invalid eta shape: \(2, 2\)"),
])
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()
