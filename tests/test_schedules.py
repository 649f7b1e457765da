"""Tests for lib.schedules: closed forms, torch's schedulers as oracles, to_torch exactness, bad arguments."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import lib.schedules as S
from lib.schedules import (
    constant,
    cosine,
    exponential,
    inverse_sqrt,
    inverse_time,
    one_cycle,
    step,
    to_torch,
    warmup,
)

T = 400

EXAMPLES = [
    constant(0.1),
    inverse_time(0.2, 0.05),
    exponential(0.1, 0.95),
    exponential(0.3, 1.0),
    inverse_sqrt(0.5),
    step(0.1, 0.5, 30),
    step(1.0, 0.9, 1),
    cosine(0.1, 300),
    cosine(0.1, 300, lr_min=1e-3),
    warmup(cosine(0.1, 300), 10),
    warmup(exponential(0.1, 0.99), 1),
    warmup(warmup(step(0.2, 0.5, 50), 5), 3),
    one_cycle(0.1, 300),
    one_cycle(1.0, 250, pct_start=0.25, div_factor=10.0, final_div_factor=100.0, anneal="linear"),
    one_cycle(0.5, 300, three_phase=True),
]


def torch_lrs(make_scheduler, steps, lr=0.1):
    """The learning rates a torch scheduler gives at t = 0 .. steps - 1 (float64 Python floats)."""
    opt = torch.optim.SGD([torch.zeros(1, dtype=torch.float64, requires_grad=True)], lr=lr, momentum=0.9)
    sched = make_scheduler(opt)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(steps - 1):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    return np.array(lrs)


@pytest.mark.parametrize("s", EXAMPLES, ids=repr)
def test_first_rate_is_lr0_and_vectorized_equals_scalar(s):
    assert s(0) == s.lr0 and isinstance(s(0), float)
    t = np.arange(T)
    curve = s(t)
    assert curve.shape == (T,) and curve.dtype == np.float64
    np.testing.assert_allclose(curve, [s(int(i)) for i in t], rtol=2e-16, atol=0)
    assert s(t.reshape(20, 20)).shape == (20, 20)
    assert np.all(curve >= 0) and np.all(np.isfinite(curve))


@pytest.mark.parametrize("s", EXAMPLES, ids=repr)
def test_repr_rebuilds_an_equal_schedule(s):
    rebuilt = eval(repr(s), vars(S))
    assert rebuilt == s and hash(rebuilt) == hash(s) and repr(rebuilt) == repr(s)


def test_closed_forms():
    t = range(T)
    check = np.testing.assert_allclose
    check(inverse_time(0.2, 0.05)(np.arange(T)), [0.2 / (1 + 0.05 * i) for i in t], rtol=1e-15)
    check(exponential(0.1, 0.95)(np.arange(T)), [0.1 * 0.95 ** i for i in t], rtol=1e-14)
    check(inverse_sqrt(0.5)(np.arange(T)), [0.5 / math.sqrt(i + 1) for i in t], rtol=1e-15)
    check(step(0.1, 0.5, 30)(np.arange(T)), [0.1 * 0.5 ** (i // 30) for i in t], rtol=1e-15)
    check(cosine(0.1, 300, 1e-3)(np.arange(301)),
          [1e-3 + (0.1 - 1e-3) * (1 + math.cos(math.pi * i / 300)) / 2 for i in range(301)], rtol=1e-14)
    assert constant(0.1)(10 ** 9) == 0.1


def test_course_numbers():
    """Andrew Ng's decay examples: alpha0 = 0.2, decay_rate = 1 gives 0.1, 0.067, 0.05, 0.04 at epochs 1..4."""
    np.testing.assert_allclose(inverse_time(0.2, 1.0)(np.arange(1, 5)), [0.1, 0.2 / 3, 0.05, 0.04], rtol=1e-15)
    assert exponential(0.2, 0.95)(2) == pytest.approx(0.2 * 0.9025, rel=1e-15)
    assert step(0.1, 0.5, 10)(np.array([0, 9, 10, 19, 20])).tolist() == [0.1, 0.1, 0.05, 0.05, 0.025]


def test_step_matches_torch_steplr():
    for lr0, gamma, size in [(0.1, 0.5, 30), (1.0, 0.9, 1), (0.3, 1.0, 7), (0.05, 0.1, 100)]:
        ref = torch_lrs(lambda o, g=gamma, k=size: torch.optim.lr_scheduler.StepLR(o, k, g), T, lr0)
        np.testing.assert_allclose(step(lr0, gamma, size)(np.arange(T)), ref, rtol=1e-13)


def test_exponential_matches_torch_exponentiallr():
    for lr0, gamma in [(0.1, 0.95), (1.0, 0.99), (0.3, 1.0)]:
        ref = torch_lrs(lambda o, g=gamma: torch.optim.lr_scheduler.ExponentialLR(o, g), T, lr0)
        np.testing.assert_allclose(exponential(lr0, gamma)(np.arange(T)), ref, rtol=1e-13)


@pytest.mark.parametrize(("total", "lr_min"), [(300, 0.0), (399, 1e-3), (50, 0.05), (1, 0.0)])
def test_cosine_matches_torch_cosineannealinglr_up_to_total(total, lr_min):
    ref = torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, total, lr_min), total + 1)
    # torch updates lr recursively, so its rounding errors add up: compare on the scale of lr0
    np.testing.assert_allclose(cosine(0.1, total, lr_min)(np.arange(total + 1)), ref, rtol=0, atol=1e-14)


def test_cosine_stays_at_lr_min_after_total():
    s = cosine(0.1, 100, lr_min=1e-3)
    assert s(100) == 1e-3
    np.testing.assert_array_equal(s(np.arange(100, 400)), 1e-3)
    assert cosine(0.1, 100)(250) == 0.0


@pytest.mark.parametrize("kwargs", [
    {},
    {"pct_start": 0.25, "div_factor": 10.0, "final_div_factor": 100.0, "anneal": "linear"},
    {"three_phase": True},
    {"three_phase": True, "anneal": "linear", "pct_start": 0.4},
    {"pct_start": 0.0},
    {"pct_start": 1.0},
    {"pct_start": 0.001},
])
@pytest.mark.parametrize("total", [300, 7])
def test_one_cycle_matches_torch_onecyclelr(kwargs, total):
    def make(o):
        torch_kwargs = {("anneal_strategy" if k == "anneal" else k): v for k, v in kwargs.items()}
        return torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=total, **torch_kwargs)

    s = one_cycle(0.5, total, **kwargs)
    np.testing.assert_allclose(s(np.arange(total)), torch_lrs(make, total), rtol=1e-13, atol=1e-17)
    if s.pct_start < 1:  # else the whole run is the climb
        assert s(total - 1) == pytest.approx(0.5 / s.div_factor / s.final_div_factor, rel=1e-15)
    np.testing.assert_array_equal(s(np.arange(total - 1, total + 50)), s(total - 1))


@pytest.mark.parametrize(("main", "inner"), [
    (lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.99), exponential(0.1, 0.99)),
    (lambda o: torch.optim.lr_scheduler.StepLR(o, 40, 0.5), step(0.1, 0.5, 40)),
    (lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 300), cosine(0.1, 300)),
], ids=["exponential", "step", "cosine"])
@pytest.mark.parametrize("steps", [2, 10, 37])
def test_warmup_matches_torch_linearlr_then_sequentiallr(main, inner, steps):
    def make(o):
        ramp = torch.optim.lr_scheduler.LinearLR(o, start_factor=1 / steps, end_factor=1.0, total_iters=steps - 1)
        return torch.optim.lr_scheduler.SequentialLR(o, [ramp, main(o)], milestones=[steps])

    n = steps + 301  # up to the end of the cosine
    np.testing.assert_allclose(warmup(inner, steps)(np.arange(n)), torch_lrs(make, n), rtol=1e-13, atol=1e-16)


def test_warmup_convention():
    inner = exponential(0.1, 0.9)
    s = warmup(inner, 4)
    np.testing.assert_allclose(s(np.arange(4)), [0.025, 0.05, 0.075, 0.1], rtol=1e-15)
    assert s.lr0 == 0.1 / 4
    t = np.arange(4, 300)
    np.testing.assert_array_equal(s(t), inner(t - 4))
    assert warmup(inner, 1)(np.arange(1, 50)).tolist() == inner(np.arange(49)).tolist()


SCHEDULED = [s for s in EXAMPLES if not isinstance(s, S.Constant)] + [constant(0.1)]


@pytest.mark.parametrize("s", SCHEDULED, ids=repr)
def test_to_torch_gives_exactly_s_of_t(s):
    opt = torch.optim.SGD([torch.zeros(2, dtype=torch.float64, requires_grad=True)], lr=0.123)
    sched = to_torch(s, opt)
    for t in range(T):
        lr = opt.param_groups[0]["lr"]
        assert lr == s(t) and abs(lr - s(t)) <= 1e-15 * s(t)
        assert sched.get_last_lr() == [lr]
        opt.step()
        sched.step()


def test_to_torch_one_schedule_per_group_and_state_dict_round_trip():
    a, b = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    schedules = [cosine(0.1, 50), warmup(exponential(0.2, 0.9), 5)]
    opt = torch.optim.SGD([{"params": [a]}, {"params": [b], "lr": 7.0}], lr=1.0)
    sched = to_torch(schedules, opt)
    for _ in range(20):
        opt.step()
        sched.step()
    assert [g["lr"] for g in opt.param_groups] == [s(20) for s in schedules]
    opt2 = torch.optim.SGD([{"params": [a]}, {"params": [b]}], lr=1.0)
    sched2 = to_torch(schedules, opt2)
    sched2.load_state_dict(sched.state_dict())
    opt2.step()
    sched2.step()
    assert [g["lr"] for g in opt2.param_groups] == [s(21) for s in schedules]
    with pytest.raises(ValueError, match="Expected 2 schedules, but got 1"):
        to_torch([schedules[0]], opt)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: constant(0.0), "Invalid lr0: 0.0"),
    (lambda: constant(-0.1), "Invalid lr0: -0.1"),
    (lambda: constant(math.inf), "Invalid lr0: inf"),
    (lambda: exponential(0.1, 1.5), "Invalid gamma: 1.5"),
    (lambda: exponential(0.1, 0.0), "Invalid gamma: 0.0"),
    (lambda: exponential(-1.0, 0.9), "Invalid lr0: -1.0"),
    (lambda: step(0.1, 0.5, 0), "Invalid step_size: 0"),
    (lambda: step(0.1, 0.5, 2.5), "Invalid step_size: 2.5"),
    (lambda: step(0.1, -0.5, 2), "Invalid gamma: -0.5"),
    (lambda: inverse_time(0.1, -1.0), "Invalid decay_rate: -1.0"),
    (lambda: inverse_time(0.1, math.nan), "Invalid decay_rate: nan"),
    (lambda: inverse_sqrt(0), "Invalid lr0: 0"),
    (lambda: cosine(0.1, 0), "Invalid total: 0"),
    (lambda: cosine(0.1, 10, lr_min=0.2), "Invalid lr_min: 0.2"),
    (lambda: cosine(0.1, 10, lr_min=-1e-3), "Invalid lr_min: -0.001"),
    (lambda: warmup(constant(0.1), 0), "Invalid steps: 0"),
    (lambda: warmup(0.1, 5), "Invalid schedule: 0.1"),
    (lambda: one_cycle(0.0, 100), "Invalid lr_max: 0.0"),
    (lambda: one_cycle(0.1, 0), "Expected positive integer total, but got 0"),
    (lambda: one_cycle(0.1, 100, pct_start=1.5), "Expected float between 0 and 1 pct_start, but got 1.5"),
    (lambda: one_cycle(0.1, 10, pct_start=0.1), r"Invalid pct_start: 0.1 \(pct_start \* total == 1"),
    (lambda: one_cycle(0.1, 100, anneal="exp"), "anneal must be one of 'cos' or 'linear', instead got exp"),
    (lambda: one_cycle(0.1, 100, div_factor=-1.0), "Invalid div_factor: -1.0"),
    (lambda: one_cycle(0.1, 100, final_div_factor=0.0), "Invalid final_div_factor: 0.0"),
    (lambda: exponential(0.1, 0.9)(-1), "Invalid step t: -1"),
    (lambda: to_torch("nope", torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)),
     "Expected 1 schedules, but got 4"),
])
def test_bad_arguments_raise_valueerror_naming_them(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@settings(max_examples=50, deadline=None)
@given(lr0=st.floats(1e-6, 10.0), gamma=st.floats(0.01, 1.0), size=st.integers(1, 50),
       steps=st.integers(1, 50), total=st.integers(1, 500))
def test_properties(lr0, gamma, size, steps, total):
    t = np.arange(600)
    staircase = step(lr0, gamma, size)(t)
    # the staircase agrees with exponential decay at every multiple of step_size and never increases
    np.testing.assert_allclose(staircase[::size], exponential(lr0, gamma)(t[::size] // size), rtol=1e-12)
    for s in (staircase, exponential(lr0, gamma)(t), cosine(lr0, total)(t), inverse_time(lr0, gamma)(t)):
        assert np.all(np.diff(s) <= 0)
    ramp = warmup(constant(lr0), steps)(t)
    assert np.all(np.diff(ramp) >= 0) and ramp[steps - 1] == pytest.approx(lr0, rel=1e-15)
    np.testing.assert_allclose(np.diff(ramp[:steps]), lr0 / steps, rtol=1e-9)
