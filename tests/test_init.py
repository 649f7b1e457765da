"""Oracle tests of lib.init against torch.nn.init: same generator -> same numbers, same errors, in place."""

from __future__ import annotations

import itertools
import math
import re
import warnings

import pytest
import torch
from torch.nn import init as torch_init

from lib import init

SHAPES = [(7, 5), (5, 7), (6, 6), (1, 9), (4, 3, 5), (8, 3, 3, 3), (2, 16, 1, 1), (3, 2, 2, 2, 2)]
NONLINEARITIES = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                  "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]


def _pair(fill_lib, fill_torch, shape, seed, **kwargs):
    """Fill two float64 tensors from generators with the same seed; return both and lib's return value."""
    a = torch.empty(shape, dtype=torch.float64)
    b = torch.empty(shape, dtype=torch.float64)
    returned = fill_lib(a, generator=torch.Generator().manual_seed(seed), **kwargs)
    fill_torch(b, generator=torch.Generator().manual_seed(seed), **kwargs)
    return a, b, returned


@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
@pytest.mark.parametrize("param", [None, 0, 0.2, 1, 3.5])
def test_calculate_gain_matches_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == torch_init.calculate_gain(nonlinearity, param)


def test_calculate_gain_values_and_errors():
    assert init.calculate_gain("relu") == math.sqrt(2.0)
    assert init.calculate_gain("tanh") == 5.0 / 3
    assert init.calculate_gain("leaky_relu") == math.sqrt(2.0 / (1 + 0.01**2))
    for bad, param in (("softmax", None), ("ReLU", None), ("gelu", None)):
        with pytest.raises(ValueError) as theirs:
            torch_init.calculate_gain(bad, param)
        with pytest.raises(ValueError, match=f"^{re.escape(str(theirs.value))}$"):
            init.calculate_gain(bad, param)
    for param in (True, False, "0.1", [0.1]):
        with pytest.raises(ValueError) as theirs:
            torch_init.calculate_gain("leaky_relu", param)
        with pytest.raises(ValueError, match=f"^{re.escape(str(theirs.value))}$"):
            init.calculate_gain("leaky_relu", param)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ["xavier_uniform_", "xavier_normal_"])
@pytest.mark.parametrize("gain", [1.0, 0.5, 5.0 / 3, math.sqrt(2.0)])
def test_xavier_matches_torch_bit_for_bit(shape, name, gain):
    for seed in (0, 1, 12345):
        a, b, returned = _pair(getattr(init, name), getattr(torch_init, name), shape, seed, gain=gain)
        assert returned is a  # in place, returns its argument
        assert torch.equal(a, b)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ["kaiming_uniform_", "kaiming_normal_"])
def test_kaiming_matches_torch_for_every_argument_combination(shape, name):
    combos = itertools.product([0, 0.1, math.sqrt(5.0)], ["fan_in", "fan_out", "FAN_IN"],
                               ["leaky_relu", "relu", "tanh", "linear", "sigmoid", "selu", "conv2d"])
    for seed, (a, mode, nonlinearity) in enumerate(combos):
        x, y, returned = _pair(getattr(init, name), getattr(torch_init, name), shape, seed, a=a, mode=mode,
                               nonlinearity=nonlinearity)
        assert returned is x
        assert torch.equal(x, y), (a, mode, nonlinearity)


@pytest.mark.parametrize("shape", SHAPES + [(64, 64), (10, 64), (64, 10)])
@pytest.mark.parametrize("gain", [1, 0.5, math.sqrt(2.0)])
def test_orthogonal_matches_torch_and_is_orthogonal(shape, gain):
    for seed in (0, 7):
        a, b, returned = _pair(init.orthogonal_, torch_init.orthogonal_, shape, seed, gain=gain)
        assert returned is a
        assert torch.equal(a, b)
        w = a.reshape(shape[0], -1)
        small = min(w.shape)
        gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
        torch.testing.assert_close(gram, gain**2 * torch.eye(small, dtype=torch.float64), rtol=0, atol=1e-12)


def test_default_arguments_and_global_generator_match_torch():
    for name in ("xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_"):
        a, b = torch.empty(9, 4, dtype=torch.float64), torch.empty(9, 4, dtype=torch.float64)
        torch.manual_seed(3)
        getattr(init, name)(a)
        torch.manual_seed(3)
        getattr(torch_init, name)(b)
        assert torch.equal(a, b), name


def test_float32_and_parameters_that_require_grad_are_filled_in_place():
    p = torch.nn.Parameter(torch.zeros(32, 16))
    q = torch.nn.Parameter(torch.zeros(32, 16))
    init.kaiming_normal_(p, nonlinearity="relu", generator=torch.Generator().manual_seed(0))
    torch_init.kaiming_normal_(q, nonlinearity="relu", generator=torch.Generator().manual_seed(0))
    assert p.requires_grad and p.grad_fn is None and torch.equal(p, q)
    view = torch.zeros(10, 6)[:, :4]  # a non-contiguous view: filled through the view
    init.xavier_uniform_(view, generator=torch.Generator().manual_seed(0))
    assert view.abs().min() > 0


def test_statistics_follow_the_formulas():
    g = torch.Generator().manual_seed(0)
    w = torch.empty(400, 600, dtype=torch.float64)
    init.xavier_uniform_(w, generator=g)
    assert w.abs().max() <= math.sqrt(6.0 / 1000) and abs(w.var().item() / (2.0 / 1000) - 1) < 0.02
    init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu", generator=g)
    assert abs(w.var().item() / (2.0 / 400) - 1) < 0.02
    init.kaiming_uniform_(w, nonlinearity="tanh", generator=g)
    assert abs(w.var().item() / ((5 / 3) ** 2 / 600) - 1) < 0.02


@pytest.mark.parametrize("name", ["xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_"])
def test_one_dimensional_tensors_get_torchs_error(name):
    with pytest.raises(ValueError) as theirs:
        getattr(torch_init, name)(torch.empty(5))
    with pytest.raises(ValueError, match=f"^{re.escape(str(theirs.value))}$"):
        getattr(init, name)(torch.empty(5))


def test_orthogonal_errors_and_no_ops_match_torch():
    with pytest.raises(ValueError, match="^Only tensors with 2 or more dimensions are supported$"):
        init.orthogonal_(torch.empty(5))
    with pytest.raises(ValueError, match="^Only tensors with 2 or more dimensions are supported$"):
        torch_init.orthogonal_(torch.empty(5))
    empty = torch.empty(0, 3)
    assert init.orthogonal_(empty) is empty


@pytest.mark.parametrize("name", ["kaiming_uniform_", "kaiming_normal_"])
def test_kaiming_bad_mode_and_nonlinearity_and_zero_elements(name):
    for kwargs in ({"mode": "fan_avg"}, {"nonlinearity": "softmax"}, {"nonlinearity": "leaky_relu", "a": True}):
        with pytest.raises(ValueError) as theirs:
            getattr(torch_init, name)(torch.empty(3, 4), **kwargs)
        with pytest.raises(ValueError, match=f"^{re.escape(str(theirs.value))}$"):
            getattr(init, name)(torch.empty(3, 4), **kwargs)
    empty = torch.empty(0, 4)
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        assert getattr(init, name)(empty) is empty
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        getattr(init, name)(torch.empty(2, 4))  # no warning for an ordinary tensor


def test_fan_in_and_fan_out_follow_torchs_convention():
    assert init.fan_in_and_fan_out(torch.empty(32, 64)) == (64, 32)  # nn.Linear(64, 32).weight
    assert init.fan_in_and_fan_out(torch.empty(16, 8, 3, 3)) == (72, 144)  # nn.Conv2d(8, 16, 3).weight
    assert init.fan_in_and_fan_out(torch.empty(16, 8, 3, 3)) == torch_init._calculate_fan_in_and_fan_out(
        torch.empty(16, 8, 3, 3))
