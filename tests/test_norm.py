"""Oracle tests of lib.norm against torch.nn.functional.batch_norm and torch.nn.BatchNorm1d, in float64."""

from __future__ import annotations

import itertools
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F

from lib import norm

DT = torch.float64
TOL = {"rtol": 1e-12, "atol": 1e-12}


def _inputs(seed: int, shape, scale: float = 3.0, shift: float = 2.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return shift + scale * torch.randn(*shape, generator=g, dtype=DT)


SHAPES = [(8, 3), (5, 4, 6), (2, 3), (1, 3, 4), (16, 1)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("momentum", [0.1, 0.0, 0.5, 1.0])
@pytest.mark.parametrize("eps", [1e-5, 1e-1])
def test_functional_training_many_steps(shape, affine, momentum, eps):
    """Outputs, running statistics (in place) and gradients agree with torch over 200 training steps."""
    C = shape[1]
    ours = [torch.zeros(C, dtype=DT), torch.ones(C, dtype=DT)]
    theirs = [t.clone() for t in ours]
    g = torch.Generator().manual_seed(1)
    weight = (1.0 + 0.3 * torch.randn(C, generator=g, dtype=DT)) if affine else None
    bias = 0.2 * torch.randn(C, generator=g, dtype=DT) if affine else None
    for step in range(200):
        x = _inputs(step, shape)
        x1 = x.clone().requires_grad_(True)
        x2 = x.clone().requires_grad_(True)
        w1 = weight.clone().requires_grad_(True) if affine else None
        w2 = weight.clone().requires_grad_(True) if affine else None
        b1 = bias.clone().requires_grad_(True) if affine else None
        b2 = bias.clone().requires_grad_(True) if affine else None
        y1 = norm.batch_norm(x1, *ours, w1, b1, training=True, momentum=momentum, eps=eps)
        y2 = F.batch_norm(x2, *theirs, w2, b2, training=True, momentum=momentum, eps=eps)
        torch.testing.assert_close(y1, y2, **TOL)
        upstream = torch.randn(y1.shape, generator=g, dtype=DT)
        (y1 * upstream).sum().backward()
        (y2 * upstream).sum().backward()
        torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-10, atol=1e-10)
        if affine:
            torch.testing.assert_close(w1.grad, w2.grad, rtol=1e-10, atol=1e-10)
            torch.testing.assert_close(b1.grad, b2.grad, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(ours[0], theirs[0], **TOL)
        torch.testing.assert_close(ours[1], theirs[1], **TOL)
    # evaluation mode with the tracked statistics, and its gradient
    x = _inputs(999, shape).requires_grad_(True)
    x2 = x.detach().clone().requires_grad_(True)
    before = [t.clone() for t in ours]
    y1 = norm.batch_norm(x, *ours, weight, bias, training=False, momentum=momentum, eps=eps)
    y2 = F.batch_norm(x2, *theirs, weight, bias, training=False, momentum=momentum, eps=eps)
    torch.testing.assert_close(y1, y2, **TOL)
    y1.pow(2).sum().backward()
    y2.pow(2).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-10, atol=1e-10)
    for a, b in zip(ours, before, strict=True):
        assert torch.equal(a, b), "evaluation mode must not change the running statistics"


def test_running_variance_is_unbiased():
    x = _inputs(0, (4, 2))
    rm, rv = torch.zeros(2, dtype=DT), torch.zeros(2, dtype=DT)
    norm.batch_norm(x, rm, rv, training=True, momentum=1.0)
    torch.testing.assert_close(rm, x.mean(0), **TOL)
    torch.testing.assert_close(rv, x.var(0, unbiased=True), **TOL)
    # the normalization itself uses the biased variance
    y = norm.batch_norm(x, None, None, training=True, eps=0.5)
    torch.testing.assert_close(y, (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + 0.5), **TOL)


def test_course_p_is_one_minus_momentum():
    """mu_bar <- p mu_bar + (1 - p) mu (Hung-yi Lee) is torch's update with momentum = 1 - p."""
    p = 0.8
    rm, rv = torch.full((3,), 2.0, dtype=DT), torch.ones(3, dtype=DT)
    x = _inputs(3, (10, 3))
    norm.batch_norm(x, rm, rv, training=True, momentum=1 - p)
    torch.testing.assert_close(rm, p * 2.0 + (1 - p) * x.mean(0), **TOL)


def test_no_running_stats_in_training_mode():
    x = _inputs(4, (6, 5, 3))
    torch.testing.assert_close(norm.batch_norm(x, None, None, training=True),
                               F.batch_norm(x, None, None, training=True), **TOL)


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1), (1, 1)])
def test_one_value_per_channel_in_training_mode(shape):
    x = torch.zeros(shape, dtype=DT)
    with pytest.raises(ValueError) as theirs:
        F.batch_norm(x, None, None, training=True)
    with pytest.raises(ValueError) as ours:
        norm.batch_norm(x, None, None, training=True)
    assert str(ours.value) == str(theirs.value)
    # evaluation mode accepts a single example
    rm, rv = torch.zeros(shape[1], dtype=DT), torch.ones(shape[1], dtype=DT)
    torch.testing.assert_close(norm.batch_norm(x, rm, rv), F.batch_norm(x, rm, rv), **TOL)


@pytest.mark.parametrize("case", ["eval_without_stats", "one_buffer", "eps_train", "eps_eval", "momentum_none",
                                  "wrong_channels", "wrong_weight"])
def test_errors_match_torch(case):
    x = _inputs(0, (4, 3))
    z, o = torch.zeros(3, dtype=DT), torch.ones(3, dtype=DT)
    args = {
        "eval_without_stats": ((x, None, None), {"training": False}),
        "one_buffer": ((x, z, None), {"training": True}),
        "eps_train": ((x, None, None), {"training": True, "eps": -1.0}),
        "eps_eval": ((x, z, o), {"training": False, "eps": -1.0}),
        "momentum_none": ((x, z, o), {"training": True, "momentum": None}),
        "wrong_channels": ((x, torch.zeros(4, dtype=DT), torch.ones(4, dtype=DT)), {"training": True}),
        "wrong_weight": ((x, None, None, torch.ones(4, dtype=DT)), {"training": True}),
    }[case]
    with pytest.raises(Exception) as theirs:
        F.batch_norm(*args[0], **args[1])
    with pytest.raises(Exception) as ours:
        norm.batch_norm(*args[0], **args[1])
    if case in ("wrong_channels", "wrong_weight"):  # torch: RuntimeError from C++; ours: a ValueError, same text
        assert isinstance(ours.value, ValueError)
        assert str(ours.value) in str(theirs.value)
    else:
        assert type(ours.value) is type(theirs.value)
        assert str(ours.value).split(" (position")[0] == str(theirs.value).split(" (position")[0]


MODULE_CASES = list(itertools.product([0.1, 0.3, None], [True, False], [True, False], [True, False]))


@pytest.mark.parametrize(("momentum", "affine", "track", "bias"), MODULE_CASES)
@pytest.mark.parametrize("shape", [(8, 4), (3, 4, 5)])
def test_module_drop_in(momentum, affine, track, bias, shape):
    """Train/eval switches, optimizer steps on gamma/beta, buffers and state_dict agree with torch.nn.BatchNorm1d."""
    C = shape[1]
    ours = norm.BatchNorm1d(C, momentum=momentum, affine=affine, track_running_stats=track, bias=bias, dtype=DT)
    theirs = torch.nn.BatchNorm1d(C, momentum=momentum, affine=affine, track_running_stats=track, bias=bias,
                                  dtype=DT)
    assert repr(ours).replace("BatchNorm1d", "") == repr(theirs).replace("BatchNorm1d", "")
    assert list(ours.state_dict()) == list(theirs.state_dict())
    opt = [torch.optim.SGD(m.parameters(), lr=0.05) for m in (ours, theirs)] if affine else None
    for step in range(150):
        mode = step % 7 != 6  # an evaluation every seventh step
        ours.train(mode)
        theirs.train(mode)
        x = _inputs(step, shape)
        y = [m(x) for m in (ours, theirs)]
        torch.testing.assert_close(y[0], y[1], **TOL)
        if affine and mode:
            target = torch.sin(x)
            for o, out in zip(opt, y, strict=True):
                o.zero_grad()
                (out - target).pow(2).mean().backward()
                o.step()
        for (k1, v1), (k2, v2) in zip(ours.state_dict().items(), theirs.state_dict().items(), strict=True):
            assert k1 == k2
            assert v1.dtype == v2.dtype
            torch.testing.assert_close(v1, v2, **TOL)
    if track:
        assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) > 0


def test_momentum_none_is_the_cumulative_average():
    bn = norm.BatchNorm1d(3, momentum=None, dtype=DT)
    batches = [_inputs(k, (5, 3)) for k in range(12)]
    for x in batches:
        bn(x)
    torch.testing.assert_close(bn.running_mean, torch.stack([x.mean(0) for x in batches]).mean(0), **TOL)
    torch.testing.assert_close(bn.running_var, torch.stack([x.var(0) for x in batches]).mean(0), **TOL)


def test_state_dict_round_trip_and_old_version():
    theirs = torch.nn.BatchNorm1d(4, dtype=DT)
    theirs(_inputs(0, (6, 4)))
    ours = norm.BatchNorm1d(4, dtype=DT)
    ours.load_state_dict(theirs.state_dict())
    ours.eval()
    theirs.eval()
    x = _inputs(1, (3, 4))
    torch.testing.assert_close(ours(x), theirs(x), **TOL)
    old = OrderedDict((k, v) for k, v in theirs.state_dict().items() if k != "num_batches_tracked")
    old._metadata = {"": {"version": 1}}  # a state_dict saved before torch added num_batches_tracked
    fresh = norm.BatchNorm1d(4, dtype=DT)
    fresh.load_state_dict(old)
    assert int(fresh.num_batches_tracked) == 0


def test_module_input_checks():
    bn, ref = norm.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    for x in (torch.zeros(2, 3, 4, 5), torch.zeros(3)):
        with pytest.raises(ValueError) as theirs:
            ref(x)
        with pytest.raises(ValueError) as ours:
            bn(x)
        assert str(ours.value) == str(theirs.value)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        bn(torch.zeros(1, 3))
    bn.eval()
    assert bn(torch.zeros(1, 3)).shape == (1, 3)


def test_works_under_vmap_without_running_stats():
    """The stacked training path (torch.func.vmap) sees one normalization per copy."""
    x = _inputs(0, (4, 6, 3))  # 4 copies of a batch (6, 3)
    stacked = torch.func.vmap(lambda xb: norm.batch_norm(xb, None, None, training=True))(x)
    for c in range(4):
        torch.testing.assert_close(stacked[c], F.batch_norm(x[c], None, None, training=True), **TOL)
