"""lib.optim's optimizers after Adam: NAdam, RAdam, Adafactor and Muon against torch.optim (same numbers, same
errors); Lion and schedule-free AdamW against their papers' pseudo-code and closed forms."""

import inspect
import io
import itertools
import math

import pytest
import torch
from optim_oracle import combos, noisy_quadratic, relative_error
from optim_oracle import drive as drive_on
from optim_oracle import make as make_on

import lib.optim
from lib import rules

# The problem of tests/test_optim.py, with matrices for Muon and a matrix, a stack of matrices and a vector for
# Adafactor.
STEPS = 300
SHAPES = {"vector": [(4, 3), (5,)], "matrices": [(4, 3), (3, 6)], "stacked": [(4, 3), (2, 3, 5), (5,)]}
PROBLEMS = {name: noisy_quadratic(shapes, STEPS, seed=1 + i) for i, (name, shapes) in enumerate(SHAPES.items())}


def make(cls, kwargs, problem="vector"):
    return make_on(cls, kwargs, PROBLEMS[problem])


def drive(params, opt, steps, *, problem="vector", **kwargs):
    drive_on(params, opt, steps, PROBLEMS[problem], **kwargs)


CASES = (
    [("NAdam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, **c), "vector")
     for c in combos(weight_decay=[0, 0.1], decoupled_weight_decay=[False, True], momentum_decay=[4e-3, 0.05],
                     maximize=[False, True])]
    + [("RAdam", dict(lr=0.01, betas=(0.8, b2), eps=1e-6, **c), "vector")
       for b2 in (0.99, 0.999)
       for c in combos(weight_decay=[0, 0.1], decoupled_weight_decay=[False, True], maximize=[False, True])]
    + [("Adafactor", dict(lr=0.05, **c), problem)  # each argument switched alone, and all of them together
       for problem in ("vector", "stacked")
       for c in [{}, {"beta2_decay": -0.5}, {"eps": (1e-6, 1e-2)}, {"d": 1.5}, {"weight_decay": 0.1},
                 {"maximize": True},
                 {"beta2_decay": -0.5, "eps": (1e-6, 1e-2), "d": 1.5, "weight_decay": 0.1, "maximize": True}]]
    + [("Muon", dict(lr=0.02, **c), "matrices")
       for c in combos(momentum=[0.95, 0.5], nesterov=[True, False], weight_decay=[0.1, 0.0],
                       adjust_lr_fn=[None, "match_rms_adamw"])]
    + [("Muon", dict(lr=0.02, ns_steps=3, ns_coefficients=(2.0, -1.5, 0.5)), "matrices")]
)


def case_id(case):
    name, kwargs, problem = case
    skip = ("lr", "eps", "betas") if name != "Adafactor" else ("lr",)
    return f"{name}[{problem}]-" + ",".join(f"{k}={v}" for k, v in kwargs.items() if k not in skip)


@pytest.fixture
def float64_default():
    # torch keeps NAdam's product of momenta as a tensor of the default dtype: float64 makes it exact
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_same_numbers_as_torch(case, float64_default):
    name, kwargs, problem = case
    maximize = kwargs.get("maximize", False)
    runs = []
    for cls, extra in ((getattr(torch.optim, name), {"foreach": False} if name != "Muon" else {}),
                       (getattr(lib.optim, name), {})):
        params, opt = make(cls, kwargs | extra, problem)
        drive(params, opt, range(STEPS), problem=problem, maximize=maximize, change_lr_at=STEPS // 2)
        runs.append([p.detach() for p in params])
    reference, ours = runs
    assert relative_error(reference, PROBLEMS[problem][1]) > 0.1  # it went somewhere
    assert relative_error(ours, reference) <= 1e-10


def test_nadam_with_a_float32_default_dtype_agrees_to_float32_rounding():
    runs = []
    for cls, extra in ((torch.optim.NAdam, {"foreach": False}), (lib.optim.NAdam, {})):
        params, opt = make(cls, {"lr": 0.01} | extra)
        drive(params, opt, range(200))
        runs.append([p.detach() for p in params])
    assert relative_error(runs[1], runs[0]) <= 1e-6


def test_muon_in_float32_as_torch():
    runs = []
    X0 = [x.float() for x in PROBLEMS["matrices"][1]]
    for cls in (torch.optim.Muon, lib.optim.Muon):
        params = [x.clone().requires_grad_() for x in X0]
        opt = cls(params, lr=0.02)
        for t in range(200):
            for p, h, c in zip(params, PROBLEMS["matrices"][0], PROBLEMS["matrices"][2][t], strict=True):
                p.grad = (h * (p.detach().double() - c)).float()
            opt.step()
        runs.append([p.detach() for p in params])
    assert relative_error(runs[1], runs[0]) <= 1e-6


def test_muon_fused_and_readable_newton_schulz_agree_in_float64():
    g = torch.Generator().manual_seed(5)
    for shape in [(4, 7), (7, 4), (3, 4, 7), (2, 3, 6, 5)]:
        G = torch.randn(shape, generator=g, dtype=torch.float64)
        fused = rules._newton_schulz_fused(G)
        torch.testing.assert_close(fused, rules.newton_schulz(G), rtol=1e-12, atol=1e-12)
        if G.dim() == 2:  # torch's own function, in float64 instead of bfloat16
            G16 = G.clone()
            torch.testing.assert_close(fused, _torch_newton_schulz_in(G16, torch.float64), rtol=1e-12, atol=1e-13)
        else:  # a stack is the stack of its matrices
            for idx in itertools.product(*map(range, shape[:-2])):
                torch.testing.assert_close(fused[idx], rules._newton_schulz_fused(G[idx]), rtol=1e-12, atol=1e-13)


def _torch_newton_schulz_in(G, dtype):
    import torch.optim._muon as muon

    original = torch.Tensor.bfloat16
    try:
        torch.Tensor.bfloat16 = lambda self: self.to(dtype)
        return muon._zeropower_via_newtonschulz(G, rules.NS_COEFFICIENTS, 5, 1e-7)
    finally:
        torch.Tensor.bfloat16 = original


def test_newton_schulz_numpy_and_torch_agree():
    import numpy as np

    G = np.random.default_rng(0).normal(size=(3, 5, 4))
    np.testing.assert_allclose(rules.newton_schulz(G), rules.newton_schulz(torch.tensor(G)).numpy(), rtol=1e-12,
                               atol=1e-13)


def test_muon_refuses_a_vector_as_torch():
    messages = []
    for module in (torch.optim, lib.optim):
        with pytest.raises(ValueError) as error:
            module.Muon([torch.zeros(3, 2, requires_grad=True), torch.zeros(3, requires_grad=True)])
        messages.append(str(error.value))
    assert messages[1] == messages[0]


@pytest.mark.parametrize("name", ["NAdam", "RAdam", "Adafactor", "Muon"])
def test_same_constructor_signature_and_defaults_as_torch(name):
    def described(cls):
        return [(p.name, p.kind, p.default) for p in inspect.signature(cls.__init__).parameters.values()]

    assert described(getattr(lib.optim, name)) == described(getattr(torch.optim, name))
    params = [torch.zeros(2, 2, requires_grad=True)]
    assert getattr(lib.optim, name)(params).defaults == getattr(torch.optim, name)(params).defaults


BAD_ARGUMENTS = [
    ("NAdam", {"lr": -0.1}),
    ("NAdam", {"lr": torch.tensor([0.1, 0.2])}),
    ("NAdam", {"eps": -1e-8}),
    ("NAdam", {"betas": (1.0, 0.999)}),
    ("NAdam", {"betas": (0.9, -0.1)}),
    ("NAdam", {"weight_decay": -0.1}),
    ("NAdam", {"momentum_decay": -4e-3}),
    ("RAdam", {"lr": -0.1}),
    ("RAdam", {"lr": torch.tensor([0.1, 0.2])}),
    ("RAdam", {"eps": -1.0}),
    ("RAdam", {"betas": (-0.5, 0.999)}),
    ("RAdam", {"betas": (0.9, 1.0)}),
    ("RAdam", {"weight_decay": -0.1}),
    ("Adafactor", {"lr": -0.01}),
    ("Adafactor", {"lr": torch.tensor([0.1, 0.2])}),
    ("Adafactor", {"beta2_decay": 0.5}),
    ("Adafactor", {"eps": (-1e-3, 1e-3)}),
    ("Adafactor", {"eps": (None, -1.0)}),
    ("Adafactor", {"d": 0.5}),
    ("Adafactor", {"weight_decay": -0.1}),
    ("Muon", {"lr": -1e-3}),
    ("Muon", {"lr": torch.tensor([0.1, 0.2])}),
    ("Muon", {"momentum": -0.9}),
    ("Muon", {"weight_decay": -0.1}),
    ("Muon", {"adjust_lr_fn": "spectral"}),
]


@pytest.mark.parametrize("case", BAD_ARGUMENTS, ids=lambda c: c[0] + "-" + ",".join(map(str, c[1])))
def test_same_value_error_as_torch(case):
    name, kwargs = case
    messages = []
    for module in (torch.optim, lib.optim):
        with pytest.raises(ValueError) as error:
            getattr(module, name)([torch.zeros(2, 2, requires_grad=True)], **kwargs)
        messages.append(str(error.value))
    assert messages[1] == messages[0]


def test_muon_step_time_errors_as_torch():
    for kwargs in ({"ns_steps": 100}, {"ns_coefficients": (1.0, 2.0)}):
        messages = []
        for module in (torch.optim, lib.optim):
            w = torch.zeros(2, 2, requires_grad=True)
            w.grad = torch.ones(2, 2)
            with pytest.raises(ValueError) as error:
                module.Muon([w], **kwargs).step()
            messages.append(str(error.value))
        assert messages[1] == messages[0]


@pytest.mark.parametrize(("name", "kwargs", "message"), [
    ("Lion", {"lr": -0.1}, "Invalid learning rate: -0.1"),
    ("Lion", {"betas": (1.0, 0.99)}, "Invalid beta parameter at index 0: 1.0"),
    ("Lion", {"betas": (0.9, 1.5)}, "Invalid beta parameter at index 1: 1.5"),
    ("Lion", {"weight_decay": -1.0}, "Invalid weight_decay value: -1.0"),
    ("ScheduleFreeAdamW", {"lr": -0.1}, "Invalid learning rate: -0.1"),
    ("ScheduleFreeAdamW", {"eps": -0.1}, "Invalid epsilon value: -0.1"),
    ("ScheduleFreeAdamW", {"betas": (0.9, 1.0)}, "Invalid beta parameter at index 1: 1.0"),
    ("ScheduleFreeAdamW", {"warmup_steps": -5}, "Invalid warmup_steps value: -5"),
    ("NAdam", {"capturable": True}, "lib.optim.NAdam does not support capturable=True"),
    ("RAdam", {"differentiable": True}, "lib.optim.RAdam does not support differentiable=True"),
])
def test_own_value_errors(name, kwargs, message):
    with pytest.raises(ValueError, match="^" + message.replace(".", r"\.").replace("(", r"\(")):
        getattr(lib.optim, name)([torch.zeros(2, requires_grad=True)], **kwargs)


# ------------------------------------------------------------------------------------------------ the state


ROUND_TRIP = [
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}, "vector"),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1}, "vector"),
    ("Adafactor", {"lr": 0.05, "weight_decay": 0.1}, "stacked"),
    ("Muon", {"lr": 0.02}, "matrices"),
    ("Lion", {"lr": 0.01, "weight_decay": 0.1}, "vector"),
    ("ScheduleFreeAdamW", {"lr": 0.01, "warmup_steps": 20}, "vector"),
]


@pytest.mark.parametrize("case", ROUND_TRIP, ids=lambda c: c[0])
def test_state_dict_round_trip_resumes_bit_identically(case):
    name, kwargs, problem = case
    cls = getattr(lib.optim, name)
    straight_params, straight = make(cls, kwargs, problem)
    drive(straight_params, straight, range(120), problem=problem, change_lr_at=50)
    first_params, first = make(cls, kwargs, problem)
    drive(first_params, first, range(60), problem=problem, change_lr_at=50)
    buffer = io.BytesIO()
    torch.save({"params": [p.detach() for p in first_params], "optimizer": first.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    params = [p.clone().requires_grad_() for p in saved["params"]]
    resumed = cls([{"params": params[:1]}, {"params": params[1:]}], **kwargs)
    resumed.load_state_dict(saved["optimizer"])
    drive(params, resumed, range(60, 120), problem=problem)
    for a, b in zip(params, straight_params, strict=True):
        assert torch.equal(a.detach(), b.detach())


@pytest.mark.parametrize(("name", "kwargs"), [
    ("NAdam", {}), ("RAdam", {}), ("Adafactor", {}), ("Muon", {"weight_decay": 0.0}), ("Lion", {}),
    ("ScheduleFreeAdamW", {}),
])
def test_gradients_are_not_modified_and_maximize_follows_the_negated_gradient(name, kwargs):
    cls = getattr(lib.optim, name)
    g = torch.randn(4, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    a, b = torch.ones(4, 3, dtype=torch.float64, requires_grad=True), torch.ones(4, 3, dtype=torch.float64,
                                                                                  requires_grad=True)
    opt_a = cls([a], lr=0.01, **kwargs)
    opt_b = cls([b], lr=0.01, maximize=True, **kwargs) if name != "Muon" else None
    for _ in range(3):
        a.grad = g.clone()
        opt_a.step()
        assert torch.equal(a.grad, g)
        if opt_b is not None:
            b.grad = -g
            opt_b.step()
    if opt_b is not None:
        torch.testing.assert_close(a.detach(), b.detach(), rtol=0, atol=0)


# ------------------------------------------------------------------------------ Lion: the paper's pseudo-code


def lion_reference(theta, grads, lr, beta1, beta2, wd):
    """Chen et al. (2023), Algorithm 2 (Lion), line by line."""
    m = torch.zeros_like(theta)
    for g in grads:
        update = beta1 * m + (1 - beta1) * g  # interp(g, m, beta1)
        update = torch.sign(update)
        m = beta2 * m + (1 - beta2) * g
        update = update + wd * theta
        theta = theta - lr * update
    return theta


@pytest.mark.parametrize(("beta1", "beta2", "wd"), [(0.9, 0.99, 0.0), (0.95, 0.98, 0.1), (0.0, 0.5, 0.01)])
def test_lion_follows_the_papers_pseudo_code(beta1, beta2, wd):
    H, X0, targets = PROBLEMS["vector"]
    w = X0[0].clone().requires_grad_()
    opt = lib.optim.Lion([w], lr=0.003, betas=(beta1, beta2), weight_decay=wd)
    grads = []
    for t in range(STEPS):
        with torch.no_grad():
            w.grad = H[0] * (w - targets[t][0])
        grads.append(w.grad.clone())
        opt.step()
    torch.testing.assert_close(w.detach(), lion_reference(X0[0].clone(), grads, 0.003, beta1, beta2, wd),
                               rtol=1e-12, atol=1e-14)
    assert relative_error([w.detach()], [X0[0]]) > 0.1


def test_lion_moves_every_coordinate_by_exactly_eta():
    w = torch.randn(50, dtype=torch.float64, generator=torch.Generator().manual_seed(3)).requires_grad_()
    opt = lib.optim.Lion([w], lr=0.01)
    gen = torch.Generator().manual_seed(4)
    for _ in range(100):
        before = w.detach().clone()
        w.grad = torch.randn(50, dtype=torch.float64, generator=gen) + 0.1
        opt.step()
        torch.testing.assert_close((w.detach() - before).abs(), torch.full((50,), 0.01, dtype=torch.float64),
                                   rtol=1e-12, atol=0)


def test_lion_with_a_constant_gradient_walks_eta_per_step():
    g = torch.tensor([3.0, -0.001, 1e6], dtype=torch.float64)
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = lib.optim.Lion([w], lr=0.02, betas=(0.9, 0.99))
    for _ in range(25):
        w.grad = g.clone()
        opt.step()
    torch.testing.assert_close(w.detach(), -25 * 0.02 * torch.sign(g), rtol=1e-12, atol=0)


# --------------------------------------------------------------------- schedule-free AdamW: the paper's loop


def schedule_free_reference(x1, grad, T, lr, beta1, beta2, eps, wd, warmup):
    """Defazio et al. (2024), Algorithm 1 (schedule-free AdamW), line by line; returns (y, x) of every step."""
    z, x, v, sum_sq = x1.clone(), x1.clone(), torch.zeros_like(x1), 0.0
    ys, xs = [], []
    for t in range(1, T + 1):
        y = (1 - beta1) * z + beta1 * x
        g = grad(y, t - 1)
        v = beta2 * v + (1 - beta2) * g * g
        gamma = lr * math.sqrt(1 - beta2**t) * (min(1.0, t / warmup) if warmup else 1.0)
        z = z - gamma * g / (torch.sqrt(v) + eps) - gamma * wd * y
        sum_sq += gamma**2
        c = gamma**2 / sum_sq
        x = (1 - c) * x + c * z
        ys.append((1 - beta1) * z + beta1 * x)
        xs.append(x)
    return ys, xs


@pytest.mark.parametrize(("beta1", "wd", "warmup"), [(0.9, 0.0, 0), (0.5, 0.1, 50), (0.0, 0.0, 10)])
def test_schedule_free_follows_the_papers_pseudo_code(beta1, wd, warmup):
    H, X0, targets = PROBLEMS["vector"]

    def grad(y, t):
        return H[0] * (y - targets[t][0])

    w = X0[0].clone().requires_grad_()
    opt = lib.optim.ScheduleFreeAdamW([w], lr=0.05, betas=(beta1, 0.99), eps=1e-6, weight_decay=wd,
                                      warmup_steps=warmup)
    ys, xs = schedule_free_reference(X0[0], grad, STEPS, 0.05, beta1, 0.99, 1e-6, wd, warmup)
    for t in range(STEPS):
        w.grad = grad(w.detach(), t)
        opt.step()
        if t % 100 == 99:
            torch.testing.assert_close(w.detach(), ys[t], rtol=1e-10, atol=1e-12)
    opt.eval()
    torch.testing.assert_close(w.detach(), xs[-1], rtol=1e-10, atol=1e-12)
    opt.train()
    torch.testing.assert_close(w.detach(), ys[-1], rtol=1e-12, atol=1e-14)
    with pytest.raises(RuntimeError, match="eval mode"):
        opt.eval()
        opt.step()


def test_schedule_free_with_a_constant_gradient_is_the_average_of_sign_steps():
    # beta2 = 0, eps = 0: every z-step is -lr sign(g), c_{t+1} = 1/t, so x is the uniform average of
    # z_2, ..., z_{T+1}: x_{T+1} = x_1 - lr sign(g) (T + 1) / 2, and y = (1 - beta1) z + beta1 x.
    g = torch.tensor([2.0, -0.5, 1e-3], dtype=torch.float64)
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    T, lr, beta1 = 40, 0.1, 0.9
    opt = lib.optim.ScheduleFreeAdamW([w], lr=lr, betas=(beta1, 0.0), eps=0.0)
    for _ in range(T):
        w.grad = g.clone()
        opt.step()
    z, x = -lr * T * torch.sign(g), -lr * (T + 1) / 2 * torch.sign(g)
    torch.testing.assert_close(w.detach(), (1 - beta1) * z + beta1 * x, rtol=1e-12, atol=0)
    opt.eval()
    torch.testing.assert_close(w.detach(), x, rtol=1e-12, atol=0)
