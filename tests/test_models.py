"""lib.models: shapes, deterministic seeded initialization that leaves the global generator alone, dtypes."""

import math

import pytest
import torch
from torch import nn

from lib import models


def params(model):
    return [p.detach() for p in model.parameters()]


def test_mlp_shapes_activation_and_parameter_count():
    m = models.mlp([64, 32, 10])
    assert m(torch.zeros(5, 64)).shape == (5, 10)
    assert sum(p.numel() for p in m.parameters()) == 64 * 32 + 32 + 32 * 10 + 10
    assert isinstance(m[1], nn.Tanh) and len(m) == 3
    assert isinstance(models.mlp([4, 3, 3, 2], activation="relu")[1], nn.ReLU)
    assert len(models.mlp([4, 3, 3, 2])) == 5  # no activation after the output layer


def test_same_seed_same_parameters_and_global_generator_untouched():
    state = torch.random.get_rng_state()
    a, b, c = models.mlp([8, 6, 3], seed=1), models.mlp([8, 6, 3], seed=1), models.mlp([8, 6, 3], seed=2)
    cnn = models.small_cnn(seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(x, y) for x, y in zip(params(a), params(b), strict=True))
    assert not torch.equal(params(a)[0], params(c)[0])
    assert all(torch.equal(x, y) for x, y in zip(params(cnn), params(models.small_cnn(seed=1)), strict=True))


def test_torch_default_initialization_bounds():
    m = models.mlp([100, 50, 10], seed=0)
    for layer in (m[0], m[2]):
        bound = 1 / math.sqrt(layer.in_features)
        assert layer.bias.abs().max() <= bound
        assert 0.95 * bound < layer.weight.abs().max() <= bound  # uniform on the whole interval
    conv = models.small_cnn(seed=0)[2]
    assert conv.weight.abs().max() <= 1 / math.sqrt(8 * 9)


def test_dtypes():
    assert all(p.dtype == torch.float64 for p in models.mlp([3, 2], dtype=torch.float64).parameters())
    assert models.small_cnn(dtype=torch.float64)[0].weight.dtype == torch.float64
    assert models.linear_regression(3).weight.dtype == torch.float64
    with pytest.raises(ValueError, match="dtype"):
        models.mlp([3, 2], dtype=torch.int64)


def test_small_cnn_on_digit_images():
    m = models.small_cnn()
    assert m(torch.zeros(7, 1, 8, 8)).shape == (7, 10)
    assert sum(p.numel() for p in m.parameters()) == 1898
    assert len(list(m.buffers())) == 0  # nothing the stacked training path would have to carry


def test_regression_models():
    lr = models.logistic_regression(64, 10, seed=0)
    assert lr(torch.zeros(2, 64)).shape == (2, 10)
    lin = models.linear_regression(2)
    assert lin.bias is None and lin.weight.shape == (1, 2)
    assert models.linear_regression(2, bias=True).bias.shape == (1,)


def test_copies_from_different_seeds_stack():
    stacked, buffers = torch.func.stack_module_state([models.mlp([4, 3, 2], seed=s) for s in range(3)])
    assert stacked["0.weight"].shape == (3, 3, 4) and buffers == {}


def test_stacked_mlp_is_the_module_and_its_autograd():
    ms = [models.mlp([5, 4, 3, 2], activation=a, seed=s, dtype=torch.float64)
          for s, a in ((0, "tanh"), (1, "tanh"))]
    theta = torch.stack([torch.cat([p.detach().reshape(-1) for p in m.parameters()]) for m in ms])
    net = models.StackedMLP(ms[0], theta)
    x = torch.randn(2, 7, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out, inputs = net.forward(x, keep=True)
    delta = torch.randn(2, 7, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    grad = net.backward(inputs, delta)
    for c, m in enumerate(ms):
        torch.testing.assert_close(out[c], m(x[c]), rtol=1e-13, atol=1e-14)
        want = torch.autograd.grad((m(x[c]) * delta[c]).sum(), list(m.parameters()))
        torch.testing.assert_close(grad[c], torch.cat([g.reshape(-1) for g in want]), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(net.forward(x[0]), torch.stack([m(x[0]) for m in ms]), rtol=1e-13, atol=1e-14)
    assert models.StackedMLP.supports(ms[0]) and models.StackedMLP.supports(models.logistic_regression(3))
    assert not models.StackedMLP.supports(models.small_cnn())
    with pytest.raises(ValueError, match="StackedMLP takes"):
        models.StackedMLP(models.small_cnn(), theta)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: models.mlp([3]), "sizes"),
        (lambda: models.mlp([3, 0]), "sizes"),
        (lambda: models.mlp([3, 2], activation="gelu"), "activation"),
        (lambda: models.small_cnn(channels=(0, 4)), "channels"),
        (lambda: models.logistic_regression(0), "n_features"),
        (lambda: models.linear_regression(0), "n_features"),
    ],
)
def test_bad_arguments(build, match):
    with pytest.raises(ValueError, match=match):
        build()
