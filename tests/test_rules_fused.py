"""The readable rules the chapters show (Adam, RMSprop) and the fused paths lib.optim and lib.train run give the same
numbers."""

import itertools

import numpy as np
import pytest
import torch

from lib import rules


def _run(update, theta, grads, init=rules.adam_init, **hparams):
    state = init(theta)
    path = []
    for g in grads:
        step, state = update(g, state, theta, **hparams)
        theta = theta + step
        path.append(theta)
    return path


@pytest.mark.parametrize(("amsgrad", "bias_correction"), list(itertools.product((False, True), repeat=2)))
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_readable_adam_equals_the_fused_path(amsgrad, bias_correction, backend):
    rng = np.random.default_rng(0)
    grads = rng.standard_normal((300, 7)) * np.geomspace(1e-4, 1e2, 7)
    theta = rng.standard_normal(7)
    if backend == "torch":
        grads, theta = torch.as_tensor(grads), torch.as_tensor(theta)
    hp = {"eta": 0.01, "beta1": 0.9, "beta2": 0.99, "eps": 1e-8, "amsgrad": amsgrad, "bias_correction": bias_correction}
    readable = _run(rules.adam_update, theta, grads, **hp)
    fused = _run(rules._adam_update_fused, theta, grads, **hp)
    for a, b in zip(readable, fused, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-15)
    assert not np.allclose(np.asarray(readable[-1]), np.asarray(theta))  # the runs moved


def test_inplace_adam_goes_through_the_fused_path():
    theta = torch.linspace(-1.0, 1.0, 5, dtype=torch.float64)
    g = torch.linspace(0.5, -0.5, 5, dtype=torch.float64)
    expected, _ = rules.adam_update(g, rules.adam_init(theta), theta, eta=0.1)
    moved = theta.clone()
    out, state = rules.adam_update(g, rules.adam_init(moved), moved, eta=0.1, inplace=True)
    assert out is None and state.t == 1
    torch.testing.assert_close(moved - theta, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("centered", "momentum"), list(itertools.product((False, True), (0.0, 0.9))))
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_readable_rmsprop_equals_the_fused_path(centered, momentum, backend):
    rng = np.random.default_rng(1)
    grads = rng.standard_normal((300, 7)) * np.geomspace(1e-4, 1e2, 7) + 0.3
    theta = rng.standard_normal(7)
    if backend == "torch":
        grads, theta = torch.as_tensor(grads), torch.as_tensor(theta)
    hp = {"eta": 0.01, "alpha": 0.9, "eps": 1e-8, "centered": centered, "momentum": momentum}
    readable = _run(rules.rmsprop_update, theta, grads, init=rules.rmsprop_init, **hp)
    fused = _run(rules._rmsprop_update_fused, theta, grads, init=rules.rmsprop_init, **hp)
    for a, b in zip(readable, fused, strict=True):
        # centered: v - g_avg² cancels where the gradient's mean dominates, so a rounding apart becomes ~1e-12
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-15)
    assert not np.allclose(np.asarray(readable[-1]), np.asarray(theta))  # the runs moved
