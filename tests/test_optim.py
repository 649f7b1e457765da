"""lib.optim against torch.optim: same numbers, same errors, same machinery (param groups, closures, state)."""

import inspect
import io

import pytest
import torch
from optim_oracle import combos, noisy_quadratic, relative_error
from optim_oracle import drive as drive_on
from optim_oracle import make as make_on

import lib.optim
from lib import rules

STEPS = 1000
SHAPES = [(4, 3), (5,)]
PROBLEM = noisy_quadratic(SHAPES, STEPS, seed=0)
H, X0, TARGETS = PROBLEM


def make(cls, kwargs):
    return make_on(cls, kwargs, PROBLEM)


def drive(params, opt, steps, **kwargs):
    drive_on(params, opt, steps, PROBLEM, **kwargs)


CASES = (
    [
        ("SGD", dict(lr=0.05, **c))
        for c in combos(
            momentum=[0, 0.9], dampening=[0, 0.5], nesterov=[False, True], weight_decay=[0, 0.1], maximize=[False, True]
        )
        if not (c["nesterov"] and (c["momentum"] == 0 or c["dampening"] != 0))
    ]
    + [
        ("Adagrad", dict(lr=0.1, eps=1e-8, **c))
        for c in combos(
            lr_decay=[0, 0.01], initial_accumulator_value=[0, 0.1], weight_decay=[0, 0.1], maximize=[False, True]
        )
    ]
    + [
        ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6, **c))
        for c in combos(centered=[False, True], momentum=[0, 0.9], weight_decay=[0, 0.1], maximize=[False, True])
    ]
    + [
        ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, **c))
        for c in combos(amsgrad=[False, True], weight_decay=[0, 0.1], maximize=[False, True])
    ]
    + [("Adam", dict(lr=0.01, decoupled_weight_decay=True, weight_decay=0.1, amsgrad=a)) for a in (False, True)]
    + [
        ("AdamW", dict(lr=0.01, betas=(0.8, 0.99), **c))
        for c in combos(amsgrad=[False, True], weight_decay=[0, 0.1], maximize=[False, True])
    ]
)


def case_id(case):
    name, kwargs = case
    return name + "-" + ",".join(f"{k}={v}" for k, v in kwargs.items() if k not in ("lr", "eps", "alpha", "betas"))


# --------------------------------------------------------------------------------------------- same numbers


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_same_numbers_as_torch(case):
    name, kwargs = case
    maximize = kwargs.get("maximize", False)
    runs = []
    for cls, extra in ((getattr(torch.optim, name), {"foreach": False}), (getattr(lib.optim, name), {})):
        params, opt = make(cls, kwargs | extra)
        drive(params, opt, range(STEPS), maximize=maximize, change_lr_at=STEPS // 2)
        runs.append([p.detach() for p in params])
    reference, ours = runs
    assert relative_error(reference, X0) > 0.1  # it went somewhere
    assert relative_error(ours, reference) <= 1e-10


def test_param_groups_with_their_own_hyperparameters():
    runs = []
    for cls in (torch.optim.SGD, lib.optim.SGD):
        params = [x.clone().requires_grad_() for x in X0]
        groups = [
            {"params": [params[0]], "momentum": 0.5, "nesterov": True},
            {"params": [params[1]], "lr": 0.02, "dampening": 0.3, "weight_decay": 0.05},
        ]
        opt = cls(groups, lr=0.05, momentum=0.9)
        drive(params, opt, range(200))
        runs.append([p.detach() for p in params])
    assert relative_error(runs[1], runs[0]) <= 1e-12


def test_closure_is_called_and_its_loss_returned():
    X = torch.randn(16, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    y = X @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) + 0.1
    results = []
    for cls in (torch.optim.Adam, lib.optim.Adam):
        w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
        opt = cls([w], lr=0.05)

        def closure(w=w, opt=opt):
            opt.zero_grad()
            loss = ((X @ w - y) ** 2).mean()
            loss.backward()
            return loss

        losses = [opt.step(closure).item() for _ in range(50)]
        results.append((losses, w.detach()))
    (losses_torch, w_torch), (losses_lib, w_lib) = results
    assert losses_lib == pytest.approx(losses_torch, rel=1e-12)
    assert losses_lib[-1] < 0.5 * losses_lib[0]
    torch.testing.assert_close(w_lib, w_torch, rtol=1e-12, atol=0)
    assert lib.optim.Adam([w_lib.clone().requires_grad_()]).step() is None


def test_lr_scheduler_drives_it_as_it_drives_torch():
    runs = []
    for cls in (torch.optim.SGD, lib.optim.SGD):
        params, opt = make(cls, {"lr": 0.05, "momentum": 0.9})
        scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=20, gamma=0.5)
        for t in range(100):
            drive(params, opt, [t])
            scheduler.step()
        runs.append([p.detach() for p in params])
    assert relative_error(runs[1], runs[0]) <= 1e-12


@pytest.mark.parametrize("flag", ["foreach", "fused"])
def test_tensor_lr_foreach_and_fused_are_accepted(flag):
    runs = []
    for cls, extra in ((torch.optim.SGD, {"foreach": False}), (lib.optim.SGD, {flag: True})):
        params = [x.clone().requires_grad_() for x in X0]
        opt = cls(params, lr=torch.tensor(0.05, dtype=torch.float64), momentum=0.9, **extra)
        drive(params, opt, range(100))
        runs.append([p.detach() for p in params])
    assert relative_error(runs[1], runs[0]) <= 1e-12


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "Adam", "AdamW"])
def test_fused_with_foreach_is_torch_runtime_error(name):
    messages = []
    for module in (torch.optim, lib.optim):
        with pytest.raises(RuntimeError) as error:
            getattr(module, name)([torch.zeros(2, requires_grad=True)], fused=True, foreach=True)
        messages.append(str(error.value))
    assert messages[1] == messages[0]


def test_complex_parameters_as_real_pairs():
    z0 = torch.tensor([1 + 2j, -0.5 + 0.1j, 3 - 1j], dtype=torch.complex128)
    target = torch.tensor([0.2 - 1j, 1 + 1j, 0j], dtype=torch.complex128)
    runs = []
    for cls in (torch.optim.Adam, lib.optim.Adam):
        z = z0.clone().requires_grad_()
        opt = (
            cls([z], lr=0.05, amsgrad=True, foreach=False)
            if cls is torch.optim.Adam
            else cls([z], lr=0.05, amsgrad=True)
        )
        for _ in range(100):
            with torch.no_grad():
                z.grad = z - target
            opt.step()
        runs.append(z.detach())
    torch.testing.assert_close(runs[1], runs[0], rtol=1e-12, atol=0)


def test_parameters_without_gradient_are_left_alone():
    a, b = (x.clone().requires_grad_() for x in X0)
    opt = lib.optim.Adam([a, b], lr=0.1)
    a.grad = torch.ones_like(a)
    opt.step()
    assert torch.equal(b.detach(), X0[1]) and b not in opt.state
    assert not torch.equal(a.detach(), X0[0]) and a in opt.state


@pytest.mark.parametrize("case", [c for c in CASES if c[1].get("maximize") and c[1].get("weight_decay")], ids=case_id)
def test_gradients_are_not_modified(case):
    name, kwargs = case
    params, opt = make(getattr(lib.optim, name), kwargs)
    for _ in range(3):
        grads = [torch.randn_like(p) for p in params]
        for p, g in zip(params, grads, strict=True):
            p.grad = g.clone()
        opt.step()
        assert all(torch.equal(p.grad, g) for p, g in zip(params, grads, strict=True))


def test_sparse_gradients_are_refused():
    w = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    w.grad = torch.eye(4, dtype=torch.float64)[0].to_sparse()
    with pytest.raises(RuntimeError, match="sparse"):
        lib.optim.SGD([w], lr=0.1).step()


# ------------------------------------------------------------------------------------------------ the state


ROUND_TRIP = [
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.5, "maximize": True}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.9}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01, "amsgrad": True}),
    ("EWMAMomentum", {"lr": 0.1, "beta": 0.9, "bias_correction": True}),
    ("LeeMomentum", {"lr": 0.05, "lam": 0.8}),
    ("LeeRMSProp", {"lr": 0.01, "alpha": 0.9}),
]


@pytest.mark.parametrize("case", ROUND_TRIP, ids=case_id)
def test_state_dict_round_trip_resumes_bit_identically(case):
    name, kwargs = case
    cls = getattr(lib.optim, name)
    maximize = kwargs.get("maximize", False)
    straight_params, straight = make(cls, kwargs)
    drive(straight_params, straight, range(200), maximize=maximize, change_lr_at=50)

    first_params, first = make(cls, kwargs)
    drive(first_params, first, range(100), maximize=maximize, change_lr_at=50)
    buffer = io.BytesIO()
    torch.save({"params": [p.detach() for p in first_params], "optimizer": first.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    params = [p.clone().requires_grad_() for p in saved["params"]]
    resumed = cls([{"params": [params[0]]}, {"params": [params[1]]}], **kwargs)
    resumed.load_state_dict(saved["optimizer"])
    drive(params, resumed, range(100, 200), maximize=maximize)

    for a, b in zip(params, straight_params, strict=True):
        assert torch.equal(a.detach(), b.detach())
    state = saved["optimizer"]["state"][0]
    assert isinstance(state.get("t", 0), int)
    assert all(torch.is_tensor(v) for k, v in state.items() if k != "t")


def test_state_holds_the_rule_fields_by_name():
    params, opt = make(lib.optim.Adam, {"lr": 0.01})
    drive(params, opt, range(3))
    state = opt.state[params[0]]
    assert set(state) == set(rules.AdamState._fields) and state["t"] == 3
    assert state["m"].shape == params[0].shape


# ------------------------------------------------------------------------------------------ same arguments


CLASSES = ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"]


@pytest.mark.parametrize("name", CLASSES)
def test_same_constructor_signature_and_defaults_as_torch(name):
    def described(cls):
        return [(p.name, p.kind, p.default) for p in inspect.signature(cls.__init__).parameters.values()]

    assert described(getattr(lib.optim, name)) == described(getattr(torch.optim, name))
    params = [torch.zeros(2, requires_grad=True)]
    ours, reference = getattr(lib.optim, name)(params), getattr(torch.optim, name)(params)
    assert ours.defaults == reference.defaults


BAD_ARGUMENTS = [
    ("SGD", {"lr": -0.1}),
    ("SGD", {"lr": torch.tensor([0.1, 0.2])}),
    ("SGD", {"momentum": -0.5}),
    ("SGD", {"weight_decay": -1e-4}),
    ("SGD", {"nesterov": True}),
    ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}),
    ("Adagrad", {"lr": -0.01}),
    ("Adagrad", {"lr_decay": -0.1}),
    ("Adagrad", {"weight_decay": -0.1}),
    ("Adagrad", {"initial_accumulator_value": -0.1}),
    ("Adagrad", {"eps": -1e-10}),
    ("RMSprop", {"lr": -0.01}),
    ("RMSprop", {"eps": -1e-8}),
    ("RMSprop", {"momentum": -0.9}),
    ("RMSprop", {"weight_decay": -0.1}),
    ("RMSprop", {"alpha": -0.99}),
    ("Adam", {"lr": -0.1}),
    ("Adam", {"lr": torch.tensor([0.1, 0.2])}),
    ("Adam", {"lr": torch.tensor(0.1), "foreach": True}),
    ("Adam", {"eps": -1e-8}),
    ("Adam", {"betas": (1.0, 0.999)}),
    ("Adam", {"betas": (-0.1, 0.999)}),
    ("Adam", {"betas": (0.9, 1.0)}),
    ("Adam", {"weight_decay": -0.1}),
    ("Adam", {"betas": (0, 0.999)}),
    ("Adam", {"betas": (torch.tensor(0.9), 0.999)}),
    ("Adam", {"betas": (torch.tensor(0.9), torch.tensor(0.999)), "foreach": True}),
    ("AdamW", {"lr": -0.1}),
    ("AdamW", {"betas": (0.9, 1.5)}),
    ("AdamW", {"weight_decay": -0.01}),
]


@pytest.mark.parametrize("case", BAD_ARGUMENTS, ids=lambda case: case_id(case).replace("tensor", "T"))
def test_same_value_error_as_torch(case):
    name, kwargs = case
    messages = []
    for module in (torch.optim, lib.optim):
        with pytest.raises(ValueError) as error:
            getattr(module, name)([torch.zeros(2, requires_grad=True)], **kwargs)
        messages.append(str(error.value))
    assert messages[1] == messages[0]


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("EWMAMomentum", {"lr": -0.1}, "Invalid learning rate: -0.1"),
        ("EWMAMomentum", {"lr": 0.1, "beta": 1.0}, "Invalid beta value: 1.0"),
        ("EWMAMomentum", {"lr": 0.1, "beta": -0.5}, "Invalid beta value: -0.5"),
        ("LeeMomentum", {"lr": -1.0}, "Invalid learning rate: -1.0"),
        ("LeeMomentum", {"lr": 0.1, "lam": 1.2}, "Invalid lam value: 1.2"),
        ("LeeRMSProp", {"lr": -1e-3}, "Invalid learning rate: -0.001"),
        ("LeeRMSProp", {"lr": 0.1, "alpha": 1.0}, "Invalid alpha value: 1.0"),
        ("LeeRMSProp", {"lr": 0.1, "eps": -1.0}, "Invalid epsilon value: -1.0"),
        ("SGD", {"differentiable": True}, "lib.optim.SGD does not support differentiable=True"),
        ("Adagrad", {"differentiable": True}, "lib.optim.Adagrad does not support differentiable=True"),
        ("RMSprop", {"capturable": True}, "lib.optim.RMSprop does not support capturable=True"),
        ("Adam", {"differentiable": True}, "lib.optim.Adam does not support differentiable=True"),
        ("AdamW", {"capturable": True}, "lib.optim.AdamW does not support capturable=True"),
    ],
)
def test_own_value_errors(name, kwargs, message):
    with pytest.raises(ValueError, match="^" + message.replace(".", r"\.")):
        getattr(lib.optim, name)([torch.zeros(2, requires_grad=True)], **kwargs)


# ------------------------------------------------------------------------------------- the course conventions


def run_both(ours_cls, ours_kwargs, ref_cls, ref_kwargs, steps, change_lr_at=None):
    runs = []
    for cls, kwargs in ((ref_cls, ref_kwargs), (ours_cls, ours_kwargs)):
        params = [x.clone().requires_grad_() for x in X0]
        opt = cls(params, **kwargs)
        drive(params, opt, range(steps), change_lr_at=change_lr_at)
        runs.append([p.detach() for p in params])
    return runs


def test_ewma_momentum_is_torch_sgd_with_scaled_lr():
    beta, lr = 0.9, 0.2
    reference, ours = run_both(
        lib.optim.EWMAMomentum,
        {"lr": lr, "beta": beta},
        torch.optim.SGD,
        {"lr": lr * (1 - beta), "momentum": beta},
        300,
    )
    assert relative_error(ours, reference) <= 1e-10


def test_lee_momentum_is_torch_sgd_until_the_lr_changes():
    lee, sgd = (lib.optim.LeeMomentum, {"lr": 0.05, "lam": 0.9}), (torch.optim.SGD, {"lr": 0.05, "momentum": 0.9})
    reference, ours = run_both(*lee, *sgd, 300)
    assert relative_error(ours, reference) <= 1e-10
    # ten steps after the lr is halved: torch halved the velocity at once, Lee's m still carries the old lr
    reference, ours = run_both(*lee, *sgd, 30, change_lr_at=20)
    assert relative_error(ours, reference) > 1e-2


@pytest.mark.parametrize(
    ("name", "kwargs", "rule", "hparams"),
    [
        ("LeeRMSProp", {"lr": 0.01, "alpha": 0.8, "eps": 1e-6}, "lee_rmsprop", {"alpha": 0.8, "eps": 1e-6}),
        (
            "EWMAMomentum",
            {"lr": 0.1, "beta": 0.8, "bias_correction": True},
            "ewma_momentum",
            {"beta": 0.8, "bias_correction": True},
        ),
        ("LeeMomentum", {"lr": 0.05, "lam": 0.7}, "lee_momentum", {"lam": 0.7}),
    ],
)
def test_course_optimizers_follow_their_rule(name, kwargs, rule, hparams):
    params = [x.clone().requires_grad_() for x in X0]
    opt = getattr(lib.optim, name)(params, **kwargs)
    drive(params, opt, range(50))
    for i, x in enumerate(X0):
        theta, state = x.clone(), rules.RULES[rule].init(x)
        for t in range(50):
            step, state = rules.RULES[rule].update(
                H[i] * (theta - TARGETS[t][i]), state, theta, eta=kwargs["lr"], **hparams
            )
            theta = theta + step
        # the optimizer fuses the step into the parameter update (lib.rules.apply_step): equal up to rounding
        torch.testing.assert_close(params[i].detach(), theta, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(
    ("name", "kwargs", "buffers"),
    [("Adam", {}, 2), ("Adam", {"amsgrad": True}, 3), ("AdamW", {}, 2), ("RMSprop", {}, 1),
     ("RMSprop", {"centered": True}, 2), ("RMSprop", {"momentum": 0.9}, 2),
     ("RMSprop", {"centered": True, "momentum": 0.9}, 3)],
)
def test_state_holds_only_the_buffers_its_settings_read(name, kwargs, buffers):
    """As torch.optim: no AMSGrad maximum without amsgrad, no mean or momentum buffer for plain RMSprop."""
    params, opt = make(getattr(lib.optim, name), {"lr": 0.01, **kwargs})
    drive(params, opt, range(3))
    reference_params, reference = make(getattr(torch.optim, name), {"lr": 0.01, **kwargs})
    drive(reference_params, reference, range(3))
    for p, q in zip(params, reference_params, strict=True):
        arrays = [v for v in opt.state[p].values() if isinstance(v, torch.Tensor) and v.shape == p.shape]
        assert len(arrays) == buffers
        torchs = [v for v in reference.state[q].values() if isinstance(v, torch.Tensor) and v.shape == q.shape]
        assert len(arrays) == len(torchs)
