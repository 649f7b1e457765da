r"""``torch.optim.Optimizer`` subclasses that are thin loops over the update rules of :mod:`lib.rules`.

:class:`SGD`, :class:`Adagrad`, :class:`RMSprop`, :class:`Adam` and :class:`AdamW` take ``torch.optim``'s
constructor arguments with its defaults, raise its ``ValueError`` messages for bad values and give its numbers
(to rounding: in float64 the relative difference stays far below 1e-10 over thousands of steps).
:class:`EWMAMomentum`, :class:`LeeMomentum` and :class:`LeeRMSProp` are the course's conventions, which torch
does not have.

Each optimizer applies, for every parameter :math:`\theta` with a gradient,

.. math:: g \leftarrow \pm\nabla_\theta L\; (+\, \lambda\theta), \qquad
    (\text{step}, s) \leftarrow \text{update}(g, s, \theta; \eta, \ldots), \qquad \theta \leftarrow \theta + \text{step}

where the sign is ``-`` for ``maximize=True`` and :math:`\lambda\theta` is torch's L2 ``weight_decay`` (the
decoupled decay of AdamW is part of its rule). The loop calls the rule with ``inplace=True``: the state arrays
and the parameter are updated where they are, and the step's last multiply or divide is fused into the
parameter update (``p.add_(b, alpha=-lr)``, ``p.addcdiv_(m, denom, value=-step_size)``), as ``torch.optim``
does (:func:`lib.rules.apply_step`); ``benchmarks/optim_step.py`` compares the step times.

Per-parameter state lives in ``self.state[p]`` as the rule's named-tuple fields stored by name (``t`` as a
Python int, the others as tensors shaped like ``p``), created lazily at the first step, so ``state_dict()`` and
``load_state_dict()`` work as for any torch optimizer and resume bit-identically. The field names are the
rules' (``m``, ``v``, ...), not torch's (``exp_avg``, ...), so a ``torch.optim`` state dict does not load
here, nor the reverse.

Options of ``torch.optim`` about *how* to run rather than *what* to compute: ``foreach`` and ``fused`` are
accepted and ignored (there is one per-tensor loop; torch's ``RuntimeError`` when both are true is kept);
``capturable`` (CUDA graphs) and ``differentiable`` (autograd through the step) are accepted when false and
rejected with a ``ValueError`` when true. Sparse gradients raise a ``RuntimeError``. Complex
parameters are updated as real views ``(..., 2)``, as torch's Adagrad, RMSprop and Adam do.

References:
    PyTorch documentation, ``torch.optim`` (torch 2.13), https://pytorch.org/docs/stable/optim.html
"""

from collections.abc import Callable

import torch
from torch import Tensor
from torch.optim import Optimizer

from lib import rules

__all__ = ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "EWMAMomentum", "LeeMomentum", "LeeRMSProp"]


def _to_scalar(x):
    # torch's convention: a 1-element tensor hyperparameter is used as a 0-d tensor
    return x.squeeze() if isinstance(x, Tensor) and x.dim() != 0 else x


def _check_flags(name, *, fused=None, foreach=None, **unsupported):
    # torch's own checks of fused, then what this per-tensor loop cannot do (autograd through the step, CUDA graphs)
    if fused and foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    for flag, value in unsupported.items():
        if value:
            raise ValueError(f"lib.optim.{name} does not support {flag}={value}: it runs one per-tensor loop")


def _check_nonnegative(**values):
    # torch's checks and messages, in torch's order: "Invalid learning rate: -0.1", "Invalid eps…" -> "epsilon"
    for name, value in values.items():
        if not 0.0 <= value:
            described = {"lr": "learning rate", "eps": "epsilon value"}.get(name, f"{name} value")
            raise ValueError(f"Invalid {described}: {value}")


def _check_one_element(lr):
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")


class _RuleOptimizer(Optimizer):
    """The loop shared by every optimizer here: per-group rule, per-parameter state, the rule steps ``theta``."""

    def _rule(self, group) -> tuple[Callable, Callable, type, dict]:
        """``(init, update, State, hparams)`` of the rule that this param group runs."""
        raise NotImplementedError

    def _l2(self, group):
        """The L2 coefficient added to the gradient (torch's coupled ``weight_decay``)."""
        return group.get("weight_decay", 0)

    def _unused_state(self, group) -> tuple[str, ...]:
        """State fields that this group's settings never read (AMSGrad's maximum without ``amsgrad``): stored as
        ``None``, so the optimizer holds the memory torch's does; the rule passes them through unchanged."""
        return ()


    @torch.no_grad()
    def step(self, closure=None):
        """Perform a single optimization step.

        Args:
            closure (Callable, optional): A closure that reevaluates the model and returns the loss.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            init, update, State, hparams = self._rule(group)
            fields = State._fields
            eta = _to_scalar(group["lr"])
            maximize, weight_decay = group.get("maximize", False), self._l2(group)
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError(f"lib.optim.{type(self).__name__} does not support sparse gradients")
                g = -p.grad if maximize else p.grad
                if weight_decay != 0:
                    g = g.add(p, alpha=weight_decay)
                theta = p
                if torch.is_complex(p):
                    theta, g = torch.view_as_real(p), torch.view_as_real(g)
                state = self.state[p]
                if any(f not in state for f in fields):
                    state.update(init(theta)._asdict())
                    state.update(dict.fromkeys(self._unused_state(group)))
                _, new = update(g, State._make(state[f] for f in fields), theta, eta=eta, inplace=True, **hparams)
                state.update(zip(fields, new, strict=True))
        return loss


class _AdamFamily(_RuleOptimizer):
    """Adam, NAdam and RAdam: ``betas`` and ``eps``, and a ``weight_decay`` that is coupled (L2, added to the
    gradient) or, with ``decoupled_weight_decay``, applied by the rule to the weights (AdamW's)."""

    def _hparams(self, group, **extra) -> dict:
        beta1, beta2 = group["betas"]
        hparams = {"beta1": beta1, "beta2": beta2, "eps": group["eps"], **extra}
        if group["decoupled_weight_decay"]:
            hparams["weight_decay"] = group["weight_decay"]
        return hparams

    def _l2(self, group):
        return 0 if group["decoupled_weight_decay"] else group["weight_decay"]


class SGD(_RuleOptimizer):
    r"""Stochastic gradient descent with optional heavy-ball or Nesterov momentum, as ``torch.optim.SGD``.

    .. math::
        b^1 = g^1, \quad b^t = \beta b^{t-1} + (1-\tau) g^t, \qquad
        \theta^{t+1} = \theta^t - \eta\, (g^t + \beta b^t \text{ if Nesterov else } b^t)

    and :math:`\theta^{t+1} = \theta^t - \eta g^t` without momentum (:func:`lib.rules.momentum_update`,
    :func:`lib.rules.gd_update`). ``momentum`` is :math:`\beta`, ``dampening`` :math:`\tau`.

    References:
        B. T. Polyak, "Some methods of speeding up the convergence of iteration methods", 1964.
        I. Sutskever et al., "On the importance of initialization and momentum in deep learning", ICML 2013.
        PyTorch documentation, ``torch.optim.SGD``.
    """

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float | Tensor = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        _check_one_element(lr)
        if lr < 0.0:  # torch's SGD lets a NaN learning rate through; so does this check
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        _check_flags("SGD", fused=fused, foreach=foreach, differentiable=differentiable)
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": differentiable,
            "fused": fused,
        }
        super().__init__(params, defaults)

    def _rule(self, group):
        if group["momentum"] == 0:
            return rules.gd_init, rules.gd_update, rules.GDState, {}
        hparams = {"beta": group["momentum"], "dampening": group["dampening"], "nesterov": group["nesterov"]}
        return rules.momentum_init, rules.momentum_update, rules.MomentumState, hparams


class Adagrad(_RuleOptimizer):
    r"""Adagrad, as ``torch.optim.Adagrad`` (:func:`lib.rules.adagrad_update`).

    .. math::
        s^t = s_0 + \sum_{k \le t} (g^k)^2, \qquad
        \theta^{t+1} = \theta^t - \frac{\eta}{1 + (t-1)\,\text{lr\_decay}}\; \frac{g^t}{\sqrt{s^t} + \epsilon}

    with :math:`s_0` = ``initial_accumulator_value``. Unlike torch, the state is created at the first step, not
    in the constructor.

    References:
        J. Duchi, E. Hazan and Y. Singer, "Adaptive subgradient methods for online learning and stochastic
        optimization", JMLR 12, 2011.
        PyTorch documentation, ``torch.optim.Adagrad``.
    """

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        _check_one_element(lr)
        _check_nonnegative(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
        )
        _check_flags("Adagrad", fused=fused, foreach=foreach, differentiable=differentiable)
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "fused": fused,
        }
        super().__init__(params, defaults)

    def _rule(self, group):
        hparams = {
            "lr_decay": group["lr_decay"],
            "initial_accumulator_value": group["initial_accumulator_value"],
            "eps": group["eps"],
        }
        return rules.adagrad_init, rules.adagrad_update, rules.AdagradState, hparams


class RMSprop(_RuleOptimizer):
    r"""RMSProp, as ``torch.optim.RMSprop`` (:func:`lib.rules.rmsprop_update`).

    .. math::
        v^t = \alpha v^{t-1} + (1-\alpha)(g^t)^2, \qquad
        \sigma^t = \sqrt{v^t \,(-\, (\bar g^t)^2 \text{ if centered})} + \epsilon, \qquad
        \theta^{t+1} = \theta^t - \eta\, g^t / \sigma^t

    with, for ``momentum`` :math:`\beta > 0`, :math:`b^t = \beta b^{t-1} + g^t/\sigma^t` and
    :math:`\theta^{t+1} = \theta^t - \eta\, b^t`.

    References:
        T. Tieleman and G. Hinton, *Neural Networks for Machine Learning*, Coursera, lecture 6.5, 2012.
        A. Graves, "Generating sequences with recurrent neural networks", arXiv:1308.0850, 2013 (centered).
        PyTorch documentation, ``torch.optim.RMSprop``.
    """

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_one_element(lr)
        _check_nonnegative(lr=lr, eps=eps, momentum=momentum, weight_decay=weight_decay, alpha=alpha)
        _check_flags("RMSprop", capturable=capturable, differentiable=differentiable)
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "capturable": capturable,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def _rule(self, group):
        hparams = {
            "alpha": group["alpha"],
            "eps": group["eps"],
            "centered": group["centered"],
            "momentum": group["momentum"],
        }
        return rules.rmsprop_init, rules.rmsprop_update, rules.RMSpropState, hparams

    def _unused_state(self, group):
        return (() if group["centered"] else ("g_avg",)) + (() if group["momentum"] > 0 else ("b",))


class Adam(_AdamFamily):
    r"""Adam (optionally AMSGrad, or AdamW's decoupled weight decay), as ``torch.optim.Adam``.

    .. math::
        m^t = \beta_1 m^{t-1} + (1-\beta_1) g^t, \quad v^t = \beta_2 v^{t-1} + (1-\beta_2)(g^t)^2, \quad
        \theta^{t+1} = \theta^t - \eta\, \frac{m^t / (1-\beta_1^t)}{\sqrt{v^t / (1-\beta_2^t)} + \epsilon}

    (:func:`lib.rules.adam_update`; with ``decoupled_weight_decay=True``, :func:`lib.rules.adamw_update`).

    References:
        D. P. Kingma and J. Ba, "Adam: A method for stochastic optimization", ICLR 2015.
        S. J. Reddi, S. Kale and S. Kumar, "On the convergence of Adam and beyond", ICLR 2018 (AMSGrad).
        PyTorch documentation, ``torch.optim.Adam``.
    """

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        if isinstance(lr, Tensor):
            if foreach and not capturable:
                raise ValueError("lr as a Tensor is not supported for capturable=False and foreach=True")
            if lr.numel() != 1:
                raise ValueError("Tensor lr must be 1-element")
        _check_nonnegative(lr=lr, eps=eps)
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not (
            (isinstance(betas[0], float) and isinstance(betas[1], float))
            or (isinstance(betas[0], Tensor) and isinstance(betas[1], Tensor))
        ):
            raise ValueError("betas must be either both floats or both Tensors")
        for i, beta in enumerate(betas):
            if isinstance(beta, Tensor):
                if not capturable and foreach:
                    raise ValueError(f"betas[{i}] as a Tensor is not supported for capturable=False and foreach=True")
                if beta.numel() != 1:
                    raise ValueError(f"Tensor betas[{i}] must be 1-element")
        _check_flags(
            type(self).__name__, fused=fused, foreach=foreach, capturable=capturable, differentiable=differentiable
        )
        defaults = {
            "lr": lr,
            "betas": tuple(map(_to_scalar, betas)),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def _rule(self, group):
        update = rules.adamw_update if group["decoupled_weight_decay"] else rules.adam_update
        return rules.adam_init, update, rules.AdamState, self._hparams(group, amsgrad=group["amsgrad"])

    def _unused_state(self, group):
        return () if group["amsgrad"] else ("v_max",)


class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay, as ``torch.optim.AdamW`` (:func:`lib.rules.adamw_update`).

    .. math::
        \theta^{t+1} = \theta^t - \eta\lambda\theta^t - \eta\, \frac{\hat m^t}{\sqrt{\hat v^t} + \epsilon}

    References:
        I. Loshchilov and F. Hutter, "Decoupled weight decay regularization", ICLR 2019.
        PyTorch documentation, ``torch.optim.AdamW``.
    """

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )


def _check_unit(name, value):
    if not 0.0 <= value < 1.0:
        raise ValueError(f"Invalid {name} value: {value}")


class EWMAMomentum(_RuleOptimizer):
    r"""Momentum in Andrew Ng's convention (:func:`lib.rules.ewma_momentum_update`).

    .. math::
        v^t = \beta v^{t-1} + (1-\beta)\, g^t, \qquad
        \theta^{t+1} = \theta^t - \eta\, v^t \quad\text{or, with bias correction,}\quad
        \theta^{t+1} = \theta^t - \eta\, \frac{v^t}{1-\beta^t}

    ``EWMAMomentum(params, lr, beta)`` follows the same path as ``torch.optim.SGD(params, lr * (1 - beta),
    momentum=beta)``.

    References:
        A. Ng, *Improving Deep Neural Networks*, deeplearning.ai course 2, week 2, "Gradient descent with
        momentum".
    """

    def __init__(self, params, lr: float, beta: float = 0.9, bias_correction: bool = False) -> None:
        _check_nonnegative(lr=lr)
        _check_unit("beta", beta)
        super().__init__(params, {"lr": lr, "beta": beta, "bias_correction": bias_correction})

    def _rule(self, group):
        hparams = {"beta": group["beta"], "bias_correction": group["bias_correction"]}
        return rules.ewma_momentum_init, rules.ewma_momentum_update, rules.EWMAMomentumState, hparams


class LeeMomentum(_RuleOptimizer):
    r"""Momentum in Hung-yi Lee's convention (:func:`lib.rules.lee_momentum_update`).

    .. math:: m^0 = 0, \qquad m^{t+1} = \lambda m^t - \eta\, g^t, \qquad \theta^{t+1} = \theta^t + m^{t+1}

    With a constant learning rate it follows the same path as ``torch.optim.SGD(params, lr, momentum=lam)``;
    after a change of ``lr`` (a schedule) it does not: the buffer keeps each past gradient scaled by the
    learning rate it arrived with.

    References:
        Hung-yi Lee, *Machine Learning 2021/2022*, lecture "類神經網路訓練不起來怎麼辦 (二): 批次與動量".
    """

    def __init__(self, params, lr: float, lam: float = 0.9) -> None:
        _check_nonnegative(lr=lr)
        _check_unit("lam", lam)
        super().__init__(params, {"lr": lr, "lam": lam})

    def _rule(self, group):
        return rules.lee_momentum_init, rules.lee_momentum_update, rules.LeeMomentumState, {"lam": group["lam"]}


class LeeRMSProp(_RuleOptimizer):
    r"""RMSProp in Hung-yi Lee's :math:`\sigma` form (:func:`lib.rules.lee_rmsprop_update`).

    .. math::
        \sigma^0 = |g^0|, \qquad \sigma^t = \sqrt{\alpha (\sigma^{t-1})^2 + (1-\alpha)(g^t)^2}, \qquad
        \theta^{t+1} = \theta^t - \frac{\eta}{\sigma^t + \epsilon}\, g^t

    References:
        Hung-yi Lee, *Machine Learning 2021/2022*, lecture "類神經網路訓練不起來怎麼辦 (三): 自動調整學習速率".
        T. Tieleman and G. Hinton, *Neural Networks for Machine Learning*, lecture 6.5, 2012.
    """

    def __init__(self, params, lr: float, alpha: float = 0.9, eps: float = 1e-8) -> None:
        _check_nonnegative(lr=lr)
        _check_unit("alpha", alpha)
        _check_nonnegative(eps=eps)
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps})

    def _rule(self, group):
        hparams = {"alpha": group["alpha"], "eps": group["eps"]}
        return rules.lee_rmsprop_init, rules.lee_rmsprop_update, rules.LeeRMSPropState, hparams


# ------------------------------------------------------------------------------------------------- after Adam


def _check_betas(betas):
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")


class NAdam(_AdamFamily):
    r"""NAdam: Adam with Nesterov momentum and torch's momentum schedule, as ``torch.optim.NAdam``.

    .. math::
        \mu_t = \beta_1\bigl(1 - \tfrac12\, 0.96^{t\psi}\bigr), \qquad
        \theta^{t+1} = \theta^t - \eta\, \frac{\mu_{t+1} m^t / (1-\prod_{i\le t+1}\mu_i)
        + (1-\mu_t)\, g^t / (1-\prod_{i\le t}\mu_i)}{\sqrt{v^t/(1-\beta_2^t)} + \epsilon}

    (:func:`lib.rules.nadam_update`; ``decoupled_weight_decay=True`` shrinks :math:`\theta` by
    :math:`\eta\lambda` instead of adding :math:`\lambda\theta` to the gradient). The product of the
    :math:`\mu_i` is kept in float64 as a Python number; torch keeps it as a tensor of the default dtype (float32
    unless changed), so the two agree to float32 rounding in their first steps, to float64 rounding when the
    default dtype is float64.

    References:
        T. Dozat, "Incorporating Nesterov momentum into Adam", ICLR 2016 workshop.
        PyTorch documentation, ``torch.optim.NAdam``.
    """

    def __init__(
        self,
        params,
        lr: float | Tensor = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_one_element(lr)
        _check_nonnegative(lr=lr, eps=eps)
        _check_betas(betas)
        _check_nonnegative(weight_decay=weight_decay, momentum_decay=momentum_decay)
        _check_flags("NAdam", capturable=capturable, differentiable=differentiable)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum_decay": momentum_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def _rule(self, group):
        hparams = self._hparams(group, momentum_decay=group["momentum_decay"])
        return rules.nadam_init, rules.nadam_update, rules.NAdamState, hparams


class RAdam(_AdamFamily):
    r"""RAdam: Adam with the variance rectifier, as ``torch.optim.RAdam`` (:func:`lib.rules.radam_update`).

    .. math::
        \theta^{t+1} = \theta^t - \eta\, \frac{m^t}{1-\beta_1^t} \cdot
        \begin{cases} r_t \big/ \bigl(\sqrt{v^t/(1-\beta_2^t)} + \epsilon'\bigr) & \rho_t > 5 \\
        1 & \rho_t \le 5 \end{cases}

    with :math:`\rho_t, r_t` from :func:`lib.rules.radam_rho` and :func:`lib.rules.radam_rectifier`
    (torch adds :math:`\epsilon` to :math:`\sqrt{v^t}` before the bias correction, as the rule does).

    References:
        L. Liu et al., "On the variance of the adaptive learning rate and beyond", ICLR 2020.
        PyTorch documentation, ``torch.optim.RAdam``.
    """

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_one_element(lr)
        _check_nonnegative(lr=lr, eps=eps)
        _check_betas(betas)
        _check_nonnegative(weight_decay=weight_decay)
        _check_flags("RAdam", capturable=capturable, differentiable=differentiable)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "decoupled_weight_decay": decoupled_weight_decay,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def _rule(self, group):
        hparams = self._hparams(group)
        hparams["beta2"] = float(hparams["beta2"])
        return rules.radam_init, rules.radam_update, rules.RAdamState, hparams


class Adafactor(_RuleOptimizer):
    r"""Adafactor with torch's use of ``lr`` and :math:`\epsilon_1`, as ``torch.optim.Adafactor``.

    .. math::
        \hat V^t = \frac{R^t C^t}{\max(\tfrac1n 1^\top R^t, \epsilon_1)}, \qquad
        \theta^{t+1} = \theta^t - \eta\lambda\theta^t
        - \max(\epsilon_2, \mathrm{RMS}(\theta^t))\,\min(\eta, t^{-1/2})\;
        \frac{U^t}{\max(1, \mathrm{RMS}(U^t)/d)}, \qquad U^t = \frac{G^t}{\max(\sqrt{\hat V^t}, \epsilon_1)}

    (:func:`lib.rules.adafactor_update`): a matrix (the last two axes of a parameter with two or more) keeps a
    row and a column factor, :math:`n + m` numbers; a vector keeps its full second moment. ``eps`` is
    :math:`(\epsilon_1, \epsilon_2)`, ``beta2_decay`` is :math:`\tau` in :math:`\hat\beta_{2,t} = 1 - t^\tau`.

    References:
        N. Shazeer and M. Stern, "Adafactor: adaptive learning rates with sublinear memory cost", ICML 2018.
        PyTorch documentation, ``torch.optim.Adafactor``.
    """

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-2,
        beta2_decay: float = -0.8,
        eps: tuple[float | None, float] = (None, 1e-3),
        d: float = 1.0,
        weight_decay: float = 0.0,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
    ) -> None:
        _check_one_element(lr)
        if not 0.0 <= lr:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 >= beta2_decay:
            raise ValueError(f"beta2_decay should be <= 0 but is: {beta2_decay}")
        if eps[0] is not None and not 0.0 <= eps[0]:
            raise ValueError(f"epsilon1 should be >= 0 but is: {eps[0]}")
        if not 0.0 <= eps[1]:
            raise ValueError(f"epsilon2 should be >= 0 but is: {eps[1]}")
        if not 1.0 <= d:
            raise ValueError(f"Clipping threshold d should be >= 1 but is: {d}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight_decay should be >= 0 but is: {weight_decay}")
        defaults = {
            "lr": lr,
            "beta2_decay": beta2_decay,
            "eps": eps,
            "d": d,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _rule(self, group):
        eps1, eps2 = group["eps"]
        hparams = {"beta2_decay": group["beta2_decay"], "eps1": eps1, "eps2": eps2, "d": group["d"],
                   "weight_decay": group["weight_decay"]}
        return rules.adafactor_init, rules.adafactor_update, rules.AdafactorState, hparams

    def _l2(self, group):
        return 0  # Adafactor's weight decay is decoupled: part of the rule


class Muon(_RuleOptimizer):
    r"""Muon for 2-D parameters, as ``torch.optim.Muon`` (:func:`lib.rules.muon_update`).

    .. math::
        B^t = \beta B^{t-1} + (1-\beta) G^t, \qquad
        \theta^{t+1} = \theta^t - \eta\lambda\theta^t - \eta\, s(A,B)\,
        \mathrm{NS}_k\bigl((1-\beta) G^t + \beta B^t \text{ if Nesterov else } B^t\bigr)

    with the Newton–Schulz iteration :func:`lib.rules.newton_schulz` run in bfloat16, as torch runs it (so
    the two give the same numbers); :math:`s(A, B)` = :func:`lib.rules.muon_lr_scale`. Biases, embeddings and
    other non-matrix parameters belong to another optimizer (AdamW), as with torch.

    References:
        K. Jordan et al., "Muon: an optimizer for hidden layers in neural networks", 2024.
        PyTorch documentation, ``torch.optim.Muon``.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = rules.NS_COEFFICIENTS,
        eps: float = 1e-7,
        ns_steps: int = 5,
        adjust_lr_fn: str | None = None,
    ) -> None:
        _check_one_element(lr)
        if not 0.0 <= lr:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 <= momentum:
            raise ValueError(f"momentum should be >= 0 but is: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight decay should be >= 0 but is: {weight_decay}")
        if adjust_lr_fn is not None and adjust_lr_fn not in ["original", "match_rms_adamw"]:
            raise ValueError(f"Adjust learning rate function {adjust_lr_fn} is not supported")
        defaults = {
            "lr": lr,
            "weight_decay": weight_decay,
            "momentum": momentum,
            "nesterov": nesterov,
            "ns_coefficients": ns_coefficients,
            "eps": eps,
            "ns_steps": ns_steps,
            "adjust_lr_fn": adjust_lr_fn,
        }
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim != 2:
                    raise ValueError(
                        f"Muon only supports 2D parameters whereas we found a parameter with size: {p.size()}"
                    )

    def _rule(self, group):
        if group["ns_steps"] >= 100:
            raise ValueError("Number of steps must be less than 100 for computational efficiency")
        if len(group["ns_coefficients"]) != 3:
            raise ValueError("Coefficients must be a tuple of exactly 3 values")
        for p in group["params"]:
            if torch.is_complex(p):
                raise RuntimeError("Muon does not support complex parameters")
        hparams = {"beta": group["momentum"], "nesterov": group["nesterov"], "weight_decay": group["weight_decay"],
                   "ns_coefficients": tuple(group["ns_coefficients"]), "ns_steps": group["ns_steps"],
                   "eps": group["eps"], "adjust_lr_fn": group["adjust_lr_fn"], "ns_dtype": torch.bfloat16}
        return rules.muon_init, rules.muon_update, rules.MuonState, hparams

    def _l2(self, group):
        return 0  # Muon's weight decay is decoupled: part of the rule


class Lion(_RuleOptimizer):
    r"""Lion, the sign of an interpolated momentum (:func:`lib.rules.lion_update`); torch has none.

    .. math::
        \theta^{t+1} = \theta^t - \eta\,\bigl(\mathrm{sign}(\beta_1 m^{t-1} + (1-\beta_1) g^t) + \lambda\theta^t\bigr),
        \qquad m^t = \beta_2 m^{t-1} + (1-\beta_2) g^t

    Arguments and defaults of the authors' code (``lr=1e-4``, ``betas=(0.9, 0.99)``, ``weight_decay=0``,
    decoupled), checked with torch's messages.

    References:
        X. Chen et al., "Symbolic discovery of optimization algorithms", NeurIPS 2023, Algorithm 2.
    """

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
    ) -> None:
        _check_one_element(lr)
        _check_nonnegative(lr=lr)
        _check_betas(betas)
        _check_nonnegative(weight_decay=weight_decay)
        super().__init__(params, {"lr": lr, "betas": betas, "weight_decay": weight_decay, "maximize": maximize})

    def _rule(self, group):
        beta1, beta2 = group["betas"]
        hparams = {"beta1": beta1, "beta2": beta2, "weight_decay": group["weight_decay"]}
        return rules.lion_init, rules.lion_update, rules.LionState, hparams

    def _l2(self, group):
        return 0


class ScheduleFreeAdamW(_RuleOptimizer):
    r"""Schedule-free AdamW (:func:`lib.rules.schedule_free_adamw_update`); torch has none.

    .. math::
        z^{t+1} = z^t - \gamma_t\Bigl(\frac{g^t}{\sqrt{v^t}+\epsilon} + \lambda y^t\Bigr), \qquad
        x^{t+1} = (1-c_{t+1})\, x^t + c_{t+1} z^{t+1}, \qquad
        y^{t+1} = (1-\beta_1) z^{t+1} + \beta_1 x^{t+1}

    with :math:`g^t = \nabla L(y^t)`, :math:`\gamma_t = \eta\sqrt{1-\beta_2^t}\min(1, t/T_\text{warmup})` and
    :math:`c_{t+1} = \gamma_t^2/\sum_{i\le t}\gamma_i^2`. While training, the parameters hold :math:`y`; call
    :meth:`eval` before evaluating (the parameters then hold the average :math:`x`) and :meth:`train` before
    the next step, as with the authors' ``AdamWScheduleFree``. Defaults are the authors' (``lr=0.0025``).

    References:
        A. Defazio et al., "The road less scheduled", NeurIPS 2024, Algorithm 1.
    """

    def __init__(
        self,
        params,
        lr: float | Tensor = 0.0025,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        warmup_steps: int = 0,
        *,
        maximize: bool = False,
    ) -> None:
        _check_one_element(lr)
        _check_nonnegative(lr=lr, eps=eps)
        _check_betas(betas)
        _check_nonnegative(weight_decay=weight_decay, warmup_steps=warmup_steps)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "warmup_steps": warmup_steps, "maximize": maximize, "train_mode": True}
        super().__init__(params, defaults)

    def _rule(self, group):
        if not group["train_mode"]:
            raise RuntimeError("ScheduleFreeAdamW.step() in eval mode: call optimizer.train() first")
        beta1, beta2 = group["betas"]
        hparams = {"beta1": beta1, "beta2": beta2, "eps": group["eps"], "weight_decay": group["weight_decay"],
                   "warmup_steps": group["warmup_steps"]}
        return rules.schedule_free_init, rules.schedule_free_adamw_update, rules.ScheduleFreeState, hparams

    def _l2(self, group):
        return 0

    @torch.no_grad()
    def eval(self):
        """Put the averaged point :math:`x` into the parameters (to evaluate or save the model)."""
        for group in self.param_groups:
            if group["train_mode"]:
                for p in group["params"]:
                    if "x" in self.state[p]:
                        p.copy_(self.state[p]["x"])
                group["train_mode"] = False

    @torch.no_grad()
    def train(self):
        r"""Put :math:`y = (1-\beta_1) z + \beta_1 x` back into the parameters (to go on training)."""
        for group in self.param_groups:
            if not group["train_mode"]:
                for p in group["params"]:
                    if "x" in self.state[p]:
                        p.copy_(self.state[p]["z"].lerp(self.state[p]["x"], group["betas"][0]))
                group["train_mode"] = True


__all__ += ["NAdam", "RAdam", "Adafactor", "Muon", "Lion", "ScheduleFreeAdamW"]
