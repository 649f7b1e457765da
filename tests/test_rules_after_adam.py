"""lib.rules after Adam: the structured rules (Adafactor, Muon), their adapters to stacks, and closed forms."""

import math

import numpy as np
import pytest
import torch

from lib import rules
from lib.rules import ADAFACTOR, MUON, RULES

RNG = np.random.default_rng(0)


def quadratic_grads(theta, t):
    wobble = np.sin(0.3 * t + np.arange(theta.shape[-1]))
    return 1.5 * theta - (torch.from_numpy(wobble) if torch.is_tensor(theta) else wobble)


def iterate(rule, theta, steps, *, inplace=False, **hparams):
    state = rule.init(theta)
    for t in range(steps):
        g = quadratic_grads(theta, t)
        if inplace:
            theta = theta.clone() if torch.is_tensor(theta) else theta.copy()
            step, state = rule.update(g, state, theta, inplace=True, **hparams)
            assert step is None
        else:
            step, state = rule.update(g, state, theta, **hparams)
            theta = theta + step
    return theta, state


@pytest.mark.parametrize("name", ["nadam", "radam", "lion", "schedule_free_adamw"])
def test_elementwise_newcomers_are_registered(name):
    assert RULES[name].name == name


@pytest.mark.parametrize(("rule", "hparams"), [
    (ADAFACTOR, {"eta": 0.05}), (ADAFACTOR, {"eta": 0.05, "weight_decay": 0.1, "d": 1.5}),
    (ADAFACTOR, {"eta": 0.05, "batch_dims": 1}), (MUON, {"eta": 0.02}), (MUON, {"eta": 0.02, "nesterov": False}),
])
@pytest.mark.parametrize("shape", [(4, 6), (3, 4, 6)])
def test_structured_rules_numpy_torch_pure_and_inplace_agree(rule, hparams, shape):
    theta = RNG.normal(size=shape)
    ours, _ = iterate(rule, theta, 30, **hparams)
    assert not np.allclose(ours, theta)
    theirs, _ = iterate(rule, torch.tensor(theta), 30, **hparams)
    np.testing.assert_allclose(theirs.numpy(), ours, rtol=1e-10, atol=1e-12)
    in_place, _ = iterate(rule, torch.tensor(theta), 30, inplace=True, **hparams)
    np.testing.assert_allclose(in_place.numpy(), ours, rtol=1e-10, atol=1e-12)
    state = rule.init(theta)
    _, state = rule.update(quadratic_grads(theta, 0), state, theta, **hparams)
    before = [np.array(a, copy=True) if a is not None and not isinstance(a, int | float) else a for a in state]
    g = quadratic_grads(theta, 1)
    g0, theta0 = g.copy(), theta.copy()
    rule.update(g, state, theta, **hparams)
    assert np.array_equal(g, g0) and np.array_equal(theta, theta0)
    for a, b in zip(before, state, strict=True):
        assert (a is None and b is None) or np.array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("rule", [ADAFACTOR, MUON])
def test_a_stack_of_matrices_is_the_stack_of_its_matrices(rule):
    extra = {"batch_dims": 1} if rule is ADAFACTOR else {}
    theta = RNG.normal(size=(3, 4, 5))
    etas = np.array([0.01, 0.03, 0.1])
    stacked, _ = iterate(rule, theta, 20, eta=etas[:, None, None], **extra)
    for k, eta in enumerate(etas):
        alone, _ = iterate(rule, theta[k], 20, eta=float(eta))
        np.testing.assert_allclose(stacked[k], alone, rtol=1e-12, atol=1e-14)


def test_adafactor_state_is_a_row_and_a_column():
    theta = RNG.normal(size=(2, 7, 5))
    _, state = iterate(ADAFACTOR, theta, 3, eta=0.01)
    assert state.r.shape == (2, 7, 1) and state.c.shape == (2, 1, 5) and state.v is None
    _, state = iterate(ADAFACTOR, theta[0, 0], 3, eta=0.01)
    assert state.v.shape == (5,) and state.r is None


def test_adafactor_first_step_is_relative_and_clipped():
    # t = 1: V_hat = (row mean)(col mean)/mean for a rank-one G = a b^T it is exactly G*G, so U = sign(G), RMS(U) =
    # 1 = d: the step is -max(eps2, RMS(theta)) min(eta, 1) sign(G)
    a, b = np.array([1.0, -2.0, 0.5]), np.array([3.0, 0.2])
    G = np.outer(a, b)
    theta = np.full((3, 2), 2.0)
    step, _ = ADAFACTOR.update(G, ADAFACTOR.init(theta), theta, eta=0.01)
    np.testing.assert_allclose(step, -2.0 * 0.01 * np.sign(G), rtol=1e-12)


def test_newton_schulz_keeps_singular_vectors_and_equalizes_singular_values():
    U, _ = np.linalg.qr(RNG.normal(size=(8, 5)))
    V, _ = np.linalg.qr(RNG.normal(size=(5, 5)))
    s = np.array([1.0, 0.5, 0.2, 0.1, 0.05])
    O = rules.newton_schulz(U * s @ V.T)
    sv = np.linalg.svd(O, compute_uv=False)
    assert sv.min() > 0.6 and sv.max() < 1.25
    # the polynomial acts on each singular value: O = U p(s) V^T
    a, b, c = rules.NS_COEFFICIENTS
    x = s / np.linalg.norm(s)
    for _ in range(5):
        x = a * x + b * x**3 + c * x**5
    np.testing.assert_allclose(O, U * x @ V.T, rtol=1e-10, atol=1e-12)


def test_muon_on_a_row_is_normalized_momentum():
    g = np.array([[3.0, -4.0]])
    step, _ = MUON.update(g, MUON.init(g), np.zeros((1, 2)), eta=0.1, beta=0.0, weight_decay=0.0, ns_steps=30,
                          ns_coefficients=(1.5, -0.5, 0.0))  # the cubic Newton–Schulz converges to U V^T
    np.testing.assert_allclose(step, -0.1 * g / 5.0, rtol=1e-10)


def test_muon_lr_scale_as_torch():
    from torch.optim._muon import _adjust_lr

    for shape in [(4, 6), (6, 4), (128, 32)]:
        for fn in (None, "original", "match_rms_adamw"):
            assert 1.0 * rules.muon_lr_scale(shape, fn) == _adjust_lr(1.0, fn, torch.Size(shape))


def test_radam_rectifier_closed_forms():
    assert rules.radam_rho(1, 0.999) == pytest.approx(1.0)
    assert rules.radam_rectifier(5, 0.999) is None  # rho_5 < 5
    r = [rules.radam_rectifier(t, 0.999) for t in range(6, 5000)]
    assert all(0 < a < b < 1 for a, b in zip(r, r[1:], strict=False))
    assert rules.radam_rho(10**6, 0.999) == pytest.approx(2 / 0.001 - 1)


def test_nadam_momentum_schedule():
    assert rules.nadam_momentum(0, 0.9, 4e-3) == pytest.approx(0.45)
    assert rules.nadam_momentum(10**6, 0.9, 4e-3) == pytest.approx(0.9)
    assert rules.nadam_momentum(1, 0.9, 0.0) == pytest.approx(0.45)


def test_lion_first_step_is_sign_of_gradient():
    g = np.array([[0.3, -1e-9, 7.0]])
    step, _ = RULES["lion"].update(g, RULES["lion"].init(g), np.zeros_like(g), eta=0.01)
    np.testing.assert_array_equal(step, -0.01 * np.sign(g))


def test_schedule_free_x_is_the_uniform_average_of_z_without_beta2():
    theta = np.array([[1.0, -1.0]])
    rule = RULES["schedule_free_adamw"]
    state, zs = rule.init(theta), []
    for t in range(10):
        g = quadratic_grads(theta, t)
        step, state = rule.update(g, state, theta, eta=0.1, beta2=0.0, eps=0.0)
        theta = theta + step
        zs.append(state.z)
    np.testing.assert_allclose(state.x, np.mean(zs, axis=0), rtol=1e-12)
    np.testing.assert_allclose(theta, 0.1 * state.z + 0.9 * state.x, rtol=1e-12)


def test_on_points_runs_muon_on_each_start():
    from lib import surfaces
    from lib.trajectories import run

    s = surfaces.get("quadratic")
    starts = np.array(s.starts, dtype=float)
    etas = np.array([0.01, 0.1])[np.arange(len(starts)) % 2]
    together = run(rules.on_points(MUON), s, starts, 20, eta=etas[:, None], weight_decay=0.0)
    for i, x0 in enumerate(starts):
        alone = run(rules.on_points(MUON), s, x0, 20, eta=float(etas[i]), weight_decay=0.0)
        np.testing.assert_allclose(together.path[i], alone.path[0], rtol=1e-12, atol=1e-14)
    steps = np.linalg.norm(np.diff(together.path, axis=1), axis=-1)  # each step: eta * NS(b) of a 1x2 matrix
    assert np.all(steps[:, 1:] < 1.3 * etas[:, None]) and np.all(steps[:, 1:] > 0.6 * etas[:, None])


@pytest.mark.parametrize("inplace", [False, True])
def test_by_parameter_is_each_copy_alone(inplace):
    shapes = [(3, 4), (3,), (2, 2, 3)]
    C = 4
    P = sum(math.prod(s) for s in shapes)
    theta = torch.tensor(RNG.normal(size=(C, P)))
    rule = rules.by_parameter(MUON, shapes, vectors=RULES["adam"], vector_hparams={"eta": 0.01})
    etas = torch.tensor([[0.01], [0.02], [0.05], [0.1]], dtype=torch.float64)
    state, th = rule.init(theta), theta.clone()
    for t in range(10):
        g = torch.sin(th * (t + 1))
        step, state = rule.update(g, state, th, eta=etas, weight_decay=0.0, inplace=inplace)
        th = th if inplace else th + step
    # the rule on the stack equals the rule on copy c alone (a stack of one)
    for c in range(C):
        single = rules.by_parameter(MUON, shapes, vectors=RULES["adam"], vector_hparams={"eta": 0.01})
        one = theta[c:c + 1].clone()
        st = single.init(one)
        for t in range(10):
            g = torch.sin(one * (t + 1))
            step, st = single.update(g, st, one, eta=float(etas[c]), weight_decay=0.0)
            one = one + step
        torch.testing.assert_close(th[c:c + 1], one, rtol=1e-12, atol=1e-14)
