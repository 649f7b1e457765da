"""The problem on which lib.optim is compared with torch.optim (tests/test_optim*.py): a noisy quadratic per
parameter, L = sum_i h_i (theta_i - c_i(t))^2 / 2 with curvatures h in [0.5, 2] and targets c(t) that jitter from
step to step (so that second-moment estimates such as RMSprop's centered variance never collapse to 0).
Gradients are written directly into ``.grad``: cheap, and the same sequence for torch and lib."""

from __future__ import annotations

import itertools
from typing import NamedTuple

import torch


class NoisyQuadratic(NamedTuple):
    H: list[torch.Tensor]
    X0: list[torch.Tensor]
    targets: list[list[torch.Tensor]]


def noisy_quadratic(shapes, steps: int, seed: int) -> NoisyQuadratic:
    gen = torch.Generator().manual_seed(seed)
    H = [torch.rand(s, generator=gen, dtype=torch.float64) * 1.5 + 0.5 for s in shapes]
    X0 = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    centre = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    targets = [[c + 0.3 * torch.randn(c.shape, generator=gen, dtype=torch.float64) for c in centre]
               for _ in range(steps)]
    return NoisyQuadratic(H, X0, targets)


def make(cls, kwargs, problem: NoisyQuadratic):
    """Fresh parameters (the first in one param group, the others in a second with twice the lr), an optimizer."""
    params = [x.clone().requires_grad_() for x in problem.X0]
    lr = kwargs.get("lr", 1e-3)
    return params, cls([{"params": params[:1]}, {"params": params[1:], "lr": lr * 2}], **kwargs)


def drive(params, opt, steps, problem: NoisyQuadratic, *, maximize=False, change_lr_at=None):
    """Set the gradients and step; at ``change_lr_at`` halve every group's lr (a schedule, via param_groups)."""
    for t in steps:
        if t == change_lr_at:
            for group in opt.param_groups:
                group["lr"] *= 0.5
        with torch.no_grad():
            for p, h, c in zip(params, problem.H, problem.targets[t], strict=True):
                # maximizing -L follows the same (stable) path as minimizing L
                p.grad = h * (c - p) if maximize else h * (p - c)
        opt.step()


def relative_error(ours, reference):
    return max(((a - b).abs().max() / b.abs().max()).item() for a, b in zip(ours, reference, strict=True))


def combos(**flags):
    """Every combination of the flags' values, as keyword dicts."""
    keys = list(flags)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*flags.values())]
