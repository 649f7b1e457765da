"""Oracle tests of lib.gradients.clip_grad_norm_ against torch.nn.utils.clip_grad_norm_ (float64)."""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch.nn.utils import clip_grad_norm_ as torch_clip

from lib import gradients
from lib.optim import SGD


def _net(seed: int) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()


def _twins(seed: int, scale: float = 1.0):
    a, b = _net(seed), _net(seed)
    x = torch.randn(16, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    for net in (a, b):
        (scale * net(x).pow(2).sum()).backward()
    return a, b


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, 0.5, math.inf, "inf"])
@pytest.mark.parametrize("max_norm", [1e-3, 0.5, 1.0, 1e6])
@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_clip_matches_torch_on_every_argument_combination(norm_type, max_norm, scale):
    a, b = _twins(0, scale)
    ours = gradients.clip_grad_norm_(a.parameters(), max_norm, norm_type=norm_type)
    theirs = torch_clip(b.parameters(), max_norm, norm_type=norm_type)
    torch.testing.assert_close(ours, theirs, rtol=1e-13, atol=0)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-13, atol=0)
    after = gradients.total_norm([p.grad for p in a.parameters()], norm_type)
    assert after <= max_norm * (1 + 1e-9)


def test_clipped_training_matches_torch_over_hundreds_of_steps():
    a, b = _net(1), _net(1)
    x = torch.randn(64, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    y = torch.randn(64, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    opt_a, opt_b = SGD(a.parameters(), lr=0.5), torch.optim.SGD(b.parameters(), lr=0.5)
    for step in range(300):
        for net, opt, clip in ((a, opt_a, gradients.clip_grad_norm_), (b, opt_b, torch_clip)):
            opt.zero_grad()
            (net(x) - y).pow(2).mean().backward()
            clip(net.parameters(), max_norm=0.05 if step % 2 else 2.0, norm_type=2.0)
            opt.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-14)


def test_single_tensor_missing_grads_foreach_and_empty():
    p = torch.tensor([3.0, 4.0], dtype=torch.float64, requires_grad=True)
    p.grad = torch.tensor([3.0, 4.0], dtype=torch.float64)
    norm = gradients.clip_grad_norm_(p, 1.0, foreach=True)
    assert norm.item() == 5.0
    torch.testing.assert_close(p.grad, torch.tensor([3.0, 4.0], dtype=torch.float64) / (5.0 + 1e-6))
    q = torch.zeros(3, requires_grad=True)  # no .grad: skipped, as by torch
    assert gradients.clip_grad_norm_([q], 1.0).item() == 0.0 and q.grad is None
    assert gradients.clip_grad_norm_([], 1.0).item() == torch_clip([], 1.0).item() == 0.0
    with pytest.warns(UserWarning, match="`parameters` is an empty generator"):
        gradients.clip_grad_norm_((t for t in ()), 1.0)


def test_nonfinite_norm_gets_torchs_error_or_is_scaled_like_torchs():
    for fill in (math.inf, math.nan):
        a, b = _twins(4)
        for net in (a, b):
            next(net.parameters()).grad[0, 0] = fill
        with pytest.raises(RuntimeError) as theirs:
            torch_clip(b.parameters(), 1.0, error_if_nonfinite=True)
        with pytest.raises(RuntimeError, match=f"^{re.escape(str(theirs.value))}$"):
            gradients.clip_grad_norm_(a.parameters(), 1.0, error_if_nonfinite=True)
        ours = gradients.clip_grad_norm_(a.parameters(), 1.0)
        theirs_norm = torch_clip(b.parameters(), 1.0)
        assert ours.isnan() == theirs_norm.isnan() and ours.isinf() == theirs_norm.isinf()
        for p, q in zip(a.parameters(), b.parameters(), strict=True):
            torch.testing.assert_close(p.grad, q.grad, equal_nan=True)


def test_grad_norms_per_parameter():
    a, _ = _twins(5)
    norms = gradients.grad_norms(a.parameters())
    expected = [p.grad.norm().item() for p in a.parameters()]
    torch.testing.assert_close(norms, torch.tensor(expected, dtype=torch.float64))
    torch.testing.assert_close(gradients.total_norm([p.grad for p in a.parameters()]),
                               torch.tensor(expected).double().norm())
    fresh = torch.nn.Linear(2, 2)
    assert gradients.grad_norms(fresh.parameters()).isnan().all()
