"""lib.rules: the update rules, their helpers, and the identities between conventions."""

import inspect

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lib import rules
from lib.rules import RULES

SETTINGS = settings(max_examples=40, deadline=None)

# every rule with its default hyperparameters, and with each branch switched the other way
VARIANTS = [(name, {}) for name in RULES] + [
    ("momentum", {"nesterov": True}),
    ("momentum", {"dampening": 0.5}),
    ("ewma_momentum", {"bias_correction": True}),
    ("adagrad", {"lr_decay": 0.1, "initial_accumulator_value": 0.5}),
    ("rmsprop", {"centered": True}),
    ("rmsprop", {"momentum": 0.9}),
    ("rmsprop", {"centered": True, "momentum": 0.9}),
    ("adam", {"amsgrad": True}),
    ("adam", {"bias_correction": False}),
    ("adamw", {"amsgrad": True, "weight_decay": 0.1}),
]
VARIANT_IDS = [name + "".join(f"-{k}={v}" for k, v in hp.items()) for name, hp in VARIANTS]


A = np.array([[3.0, 1.0], [1.0, 0.5]])


def quadratic_grad(theta, t, xp=np):
    """Gradient of a rotated ill-conditioned quadratic plus a deterministic wobble, for (starts, 2) arrays.

    Elementwise (no BLAS), so a start's gradient does not depend on which other starts are stacked with it.
    """
    noise = np.array([np.sin(1.3 * t + 0.2), np.cos(0.7 * t)]) * 0.3
    rows = (
        (A[0], A[1], noise) if xp is np else (torch.from_numpy(A[0]), torch.from_numpy(A[1]), torch.from_numpy(noise))
    )
    return theta[..., 0:1] * rows[0] + theta[..., 1:2] * rows[1] + rows[2]


def run(rule, theta, steps, *, eta, xp=np, inplace=False, **hparams):
    """Iterate a rule; returns the path (steps+1, *theta.shape) and the final state."""
    state = rule.init(theta)
    path = [theta]
    for t in range(steps):
        g = quadratic_grad(theta, t, xp)
        if inplace:  # the rule steps a copy of theta, ours to give up
            theta = theta.clone() if xp is torch else theta.copy()
            step, state = rule.update(g, state, theta, eta=eta, inplace=True, **hparams)
            assert step is None
        else:
            step, state = rule.update(g, state, theta, eta=eta, **hparams)
            theta = theta + step
        path.append(theta)
    return (np.stack(path) if xp is np else torch.stack(path)), state


STARTS = np.array([[1.0, -1.0], [-0.5, 2.0], [0.3, 0.1], [2.0, 2.0]])


# ---------------------------------------------------------------------------------------------------- helpers


@SETTINGS
@given(
    c=st.floats(-1e3, 1e3),
    beta=st.floats(0.0, 0.99),
    n=st.integers(1, 200),
)
def test_debiased_ewma_of_a_constant_is_the_constant(c, beta, n):
    for avg, x in (
        (np.zeros(3), np.full(3, c)),
        (torch.zeros(3, dtype=torch.float64), torch.full((3,), c, dtype=torch.float64)),
    ):
        for t in range(1, n + 1):
            avg = rules.ewma(avg, x, beta)
            np.testing.assert_allclose(np.asarray(rules.debias(avg, beta, t)), c, rtol=1e-9, atol=1e-300)


def test_ewma_and_accumulate_formulas():
    avg, x = np.array([1.0, -2.0]), np.array([3.0, 5.0])
    np.testing.assert_allclose(rules.ewma(avg, x, 0.9), 0.9 * avg + 0.1 * x)
    np.testing.assert_allclose(rules.accumulate(avg, x, 0.5, -2.0), 0.5 * avg - 2.0 * x)
    np.testing.assert_allclose(rules.debias(np.array([0.1]), 0.9, 1), [1.0])
    at, xt = torch.tensor(avg), torch.tensor(x)
    torch.testing.assert_close(rules.ewma(at, xt, 0.9), torch.tensor(0.9 * avg + 0.1 * x), rtol=1e-15, atol=0)
    torch.testing.assert_close(rules.accumulate(at, xt, 1, 2.0), torch.tensor(avg + 2 * x), rtol=0, atol=0)


def _fresh(xp, a):
    """A new array of ``xp`` holding ``a``; a Python number stays a number."""
    if not isinstance(a, np.ndarray):
        return a
    return torch.tensor(a) if xp is torch else a.copy()


@pytest.mark.parametrize("xp", [np, torch], ids=["numpy", "torch"])
@pytest.mark.parametrize("inplace", [False, True], ids=["new", "inplace"])
@pytest.mark.parametrize("decay", [1.0, 0.5, "array"])
@pytest.mark.parametrize("scale", [-2.0, "array"])
def test_accumulate_of_squares_and_quotients(xp, inplace, decay, scale):
    acc, x, q = np.array([1.0, -2.0, 0.5]), np.array([3.0, 5.0, -1.5]), np.array([2.0, 0.25, 4.0])
    decay = np.array([0.9, 0.5, 0.1]) if decay == "array" else decay
    scale = np.array([-2.0, 3.0, 0.5]) if scale == "array" else scale
    for kwargs, u in (({}, x), ({"square": True}, x * x), ({"denom": _fresh(xp, q)}, x / q)):
        a = _fresh(xp, acc)
        out = rules.accumulate(a, _fresh(xp, x), _fresh(xp, decay), _fresh(xp, scale), inplace, **kwargs)
        np.testing.assert_allclose(np.asarray(out), decay * acc + scale * u, rtol=1e-15)
        assert (out is a) == inplace and np.array_equal(np.asarray(a), decay * acc + scale * u if inplace else acc)


@pytest.mark.parametrize("xp", [np, torch], ids=["numpy", "torch"])
@pytest.mark.parametrize("scale", [-0.3, "array"])
@pytest.mark.parametrize("with_denom", [False, True])
def test_apply_step_returns_the_step_or_adds_it_in_place(xp, scale, with_denom):
    theta, d, q = np.array([[1.0, -2.0], [0.5, 4.0]]), np.array([[3.0, 5.0], [-1.0, 2.0]]), np.array([[2.0, 0.5]])
    scale = np.array([[-0.3], [0.2]]) if scale == "array" else scale
    s = _fresh(xp, scale)
    expected = scale * d / (q if with_denom else 1.0)
    t = _fresh(xp, theta)
    step = rules.apply_step(t, _fresh(xp, d), s, _fresh(xp, q) if with_denom else None)
    np.testing.assert_allclose(np.asarray(step), expected, rtol=1e-15)
    assert np.array_equal(np.asarray(t), theta)  # the pure call changes nothing
    assert rules.apply_step(t, _fresh(xp, d), s, _fresh(xp, q) if with_denom else None, inplace=True) is None
    np.testing.assert_allclose(np.asarray(t), theta + expected, rtol=1e-15)


# ------------------------------------------------------------------------------------------- the rule contract


@pytest.mark.parametrize("name", RULES)
def test_registry_entry(name):
    rule = RULES[name]
    assert rule.name == name and rule.label
    params = inspect.signature(rule.update).parameters
    assert list(params)[:3] == ["g", "state", "theta"]
    assert params["eta"].kind is inspect.Parameter.KEYWORD_ONLY and params["eta"].default is inspect.Parameter.empty
    assert params["inplace"].default is False
    for key, value in rule.defaults.items():
        assert params[key].kind is inspect.Parameter.KEYWORD_ONLY and params[key].default == value, key
    assert set(params) == {"g", "state", "theta", "eta", "inplace", *rule.defaults}
    state = rule.init(np.zeros((3, 2)))
    assert isinstance(state, tuple) and hasattr(state, "_fields")
    doc = inspect.getdoc(rule.update)
    assert ".. math::" in doc and "References:" in doc


@pytest.mark.parametrize(("name", "hparams"), VARIANTS, ids=VARIANT_IDS)
def test_numpy_and_torch_give_the_same_path(name, hparams):
    path_np, _ = run(RULES[name], STARTS, 40, eta=0.05, **hparams)
    path_torch, _ = run(RULES[name], torch.tensor(STARTS), 40, eta=0.05, xp=torch, **hparams)
    # lerp and fused multiply-adds round differently from numpy's separate operations: agreement to rounding
    np.testing.assert_allclose(path_torch.numpy(), path_np, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize(("name", "hparams"), VARIANTS, ids=VARIANT_IDS)
def test_eta_array_runs_stacked_copies(name, hparams):
    etas = np.array([0.01, 0.05, 0.1, 0.2])
    stacked, _ = run(RULES[name], STARTS, 30, eta=etas[:, None], **hparams)
    for i, eta in enumerate(etas):
        alone, _ = run(RULES[name], STARTS[i : i + 1], 30, eta=float(eta), **hparams)
        np.testing.assert_allclose(stacked[:, i], alone[:, 0], rtol=1e-14, atol=0)
    stacked_torch, _ = run(RULES[name], torch.tensor(STARTS), 30, eta=torch.tensor(etas[:, None]), xp=torch, **hparams)
    np.testing.assert_allclose(stacked_torch.numpy(), stacked, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("xp", [np, torch], ids=["numpy", "torch"])
@pytest.mark.parametrize(("name", "hparams"), VARIANTS, ids=VARIANT_IDS)
def test_update_is_pure_and_inplace_gives_the_same_numbers(name, hparams, xp):
    rule = RULES[name]
    theta = xp.asarray(STARTS.copy())
    pure, _ = run(rule, theta, 12, eta=0.05, xp=xp, **hparams)
    assert np.array_equal(np.asarray(theta), STARTS)
    in_place, _ = run(rule, theta, 12, eta=0.05, xp=xp, inplace=True, **hparams)
    # in place, torch fuses the step into theta (theta.add_(b, alpha=-eta)): the same numbers up to rounding
    np.testing.assert_allclose(np.asarray(in_place), np.asarray(pure), rtol=1e-14, atol=1e-15)

    # one more step from a non-trivial state: no argument may change
    _, state = run(rule, theta, 3, eta=0.05, xp=xp, **hparams)
    g = quadratic_grad(theta, 3, xp)
    before = [a.clone() if torch.is_tensor(a) else np.array(a, copy=True) for a in (g, theta, *state)]
    rule.update(g, state, theta, eta=0.05, **hparams)
    for a, b in zip(before, (g, theta, *state), strict=True):
        np.testing.assert_array_equal(np.asarray(b), np.asarray(a))


# ----------------------------------------------------------------------------------- momentum: three conventions


@SETTINGS
@given(
    beta=st.floats(0.0, 0.95),
    eta=st.floats(1e-3, 0.2),
    start=st.tuples(st.floats(-3, 3), st.floats(-3, 3)),
)
def test_three_momentum_conventions_coincide(beta, eta, start):
    theta = np.array([start])
    torch_path, b = run(RULES["momentum"], theta, 60, eta=eta, beta=beta, dampening=0.0)
    # Hung-yi Lee: m = -eta * b with lambda = beta
    lee_path, m = run(RULES["lee_momentum"], theta, 60, eta=eta, lam=beta)
    # Andrew Ng: v = (1 - beta) * b with the same beta and eta_ng = eta / (1 - beta)
    ng_path, v = run(RULES["ewma_momentum"], theta, 60, eta=eta / (1 - beta), beta=beta)
    scale = 1 + np.abs(torch_path).max()
    np.testing.assert_allclose(lee_path, torch_path, rtol=1e-9, atol=1e-9 * scale)
    np.testing.assert_allclose(ng_path, torch_path, rtol=1e-9, atol=1e-9 * scale)
    np.testing.assert_allclose(m.m, -eta * b.b, rtol=1e-9, atol=1e-9 * scale)
    np.testing.assert_allclose(v.v, (1 - beta) * b.b, rtol=1e-9, atol=1e-9 * scale)


def test_lee_momentum_differs_from_torch_when_eta_changes():
    """Torch rescales the whole buffer by the new eta; Lee's m keeps each gradient's own eta."""
    beta, eta1, eta2 = 0.9, 0.1, 0.01
    path, b = run(RULES["momentum"], STARTS, 10, eta=eta1, beta=beta)
    lee_path, m = run(RULES["lee_momentum"], STARTS, 10, eta=eta1, lam=beta)
    np.testing.assert_allclose(lee_path, path, rtol=1e-12)  # the same path while eta is constant
    theta = path[-1]
    g = quadratic_grad(theta, 10)
    torch_step, _ = rules.momentum_update(g, b, theta, eta=eta2, beta=beta)
    lee_step, _ = rules.lee_momentum_update(g, m, theta, eta=eta2, lam=beta)
    np.testing.assert_allclose(lee_step, beta * m.m - eta2 * g, rtol=1e-12)
    np.testing.assert_allclose(torch_step, -eta2 * (beta * b.b + g), rtol=1e-12)
    # with m = -eta1 * b, torch's step is (eta2 / eta1) * beta * m - eta2 * g: the old velocity shrinks with eta
    np.testing.assert_allclose(torch_step, (eta2 / eta1) * beta * m.m - eta2 * g, rtol=1e-9)
    assert np.abs(lee_step - torch_step).max() > 1e-2 * np.abs(torch_step).max()

    def schedule_run(name, **hp):
        state, theta = RULES[name].init(STARTS), STARTS
        for t in range(40):
            step, state = RULES[name].update(quadratic_grad(theta, t), state, theta, eta=eta1 if t < 10 else eta2, **hp)
            theta = theta + step
        return theta

    assert np.abs(schedule_run("lee_momentum", lam=beta) - schedule_run("momentum", beta=beta)).max() > 1e-3


def test_torch_momentum_first_step_is_undamped():
    g = np.array([[2.0, -4.0]])
    step, state = rules.momentum_update(g, rules.momentum_init(g), g, eta=0.1, beta=0.9, dampening=0.5)
    np.testing.assert_array_equal(state.b, g)
    np.testing.assert_allclose(step, -0.1 * g)
    _, state = rules.momentum_update(g, state, g, eta=0.1, beta=0.9, dampening=0.5)
    np.testing.assert_allclose(state.b, 0.9 * g + 0.5 * g)


def test_nesterov_rule_is_momentum_with_nesterov():
    a, _ = run(RULES["nesterov"], STARTS, 30, eta=0.05, beta=0.8)
    b, _ = run(RULES["momentum"], STARTS, 30, eta=0.05, beta=0.8, nesterov=True)
    np.testing.assert_array_equal(a, b)


def test_ewma_momentum_bias_correction_first_step_is_gradient_descent():
    g = np.array([[2.0, -4.0]])
    step, _ = rules.ewma_momentum_update(g, rules.ewma_momentum_init(g), g, eta=0.1, beta=0.9, bias_correction=True)
    np.testing.assert_allclose(step, -0.1 * g)


# ---------------------------------------------------------------------------------------- adaptive learning rates


def test_adagrad_accumulates_squares_from_the_initial_value():
    g1, g2 = np.array([1.0, -2.0]), np.array([3.0, 0.5])
    s = rules.adagrad_init(g1)
    step1, s = rules.adagrad_update(g1, s, g1, eta=0.1, initial_accumulator_value=0.25, lr_decay=0.5)
    np.testing.assert_allclose(s.sum_sq, 0.25 + g1**2)
    np.testing.assert_allclose(step1, -0.1 * g1 / (np.sqrt(0.25 + g1**2) + 1e-10))
    step2, s = rules.adagrad_update(g2, s, g1, eta=0.1, initial_accumulator_value=0.25, lr_decay=0.5)
    np.testing.assert_allclose(s.sum_sq, 0.25 + g1**2 + g2**2)
    np.testing.assert_allclose(step2, -(0.1 / 1.5) * g2 / (np.sqrt(s.sum_sq) + 1e-10))


def test_lee_rmsprop_sigma_form():
    g0, g1 = np.array([4.0, -0.01]), np.array([1.0, 1.0])
    s = rules.lee_rmsprop_init(g0)
    step0, s = rules.lee_rmsprop_update(g0, s, g0, eta=0.1, alpha=0.9, eps=0.0)
    np.testing.assert_allclose(s.sigma, np.abs(g0))
    np.testing.assert_allclose(step0, -0.1 * np.sign(g0))  # sigma^0 = |g^0|: whatever the scale, length eta
    step1, s = rules.lee_rmsprop_update(g1, s, g0, eta=0.1, alpha=0.9, eps=0.0)
    np.testing.assert_allclose(s.sigma, np.sqrt(0.9 * g0**2 + 0.1 * g1**2))
    np.testing.assert_allclose(step1, -0.1 * g1 / s.sigma)


def test_unified_with_beta1_zero_is_lee_rmsprop():
    a, _ = run(RULES["unified"], STARTS, 30, eta=0.05, beta1=0.0, alpha=0.8)
    b, _ = run(RULES["lee_rmsprop"], STARTS, 30, eta=0.05, alpha=0.8)
    np.testing.assert_array_equal(a, b)


def test_adam_first_step():
    g = np.array([3.0, -1e-3])
    step, state = rules.adam_update(g, rules.adam_init(g), g, eta=0.1)
    np.testing.assert_allclose(step, -0.1 * np.sign(g), rtol=1e-4)  # bias-corrected: m_hat = g, v_hat = g^2
    raw, _ = rules.adam_update(g, rules.adam_init(g), g, eta=0.1, bias_correction=False)
    np.testing.assert_allclose(raw, -0.1 * 0.1 * g / (np.sqrt(0.001) * np.abs(g) + 1e-8))
    assert state.t == 1


def test_adamw_is_adam_plus_decoupled_decay():
    theta = np.array([1.0, -2.0])
    g = np.array([0.3, 0.4])
    adam_step, _ = rules.adam_update(g, rules.adam_init(theta), theta, eta=0.1)
    adamw_step, _ = rules.adamw_update(g, rules.adam_init(theta), theta, eta=0.1, weight_decay=0.5)
    np.testing.assert_allclose(adamw_step, adam_step - 0.1 * 0.5 * theta)


def test_amsgrad_keeps_the_largest_second_moment():
    s = rules.adam_init(np.zeros(1))
    for g in (10.0, 0.0, 0.0):
        _, s = rules.adam_update(np.array([g]), s, np.zeros(1), eta=0.1, amsgrad=True)
    assert s.v_max[0] == pytest.approx(0.001 * 100) and s.v[0] < s.v_max[0]
