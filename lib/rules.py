r"""Every update rule of the book, written once.

Each rule is a pair of functions

* ``<name>_init(theta) -> <Name>State`` — a small :class:`~typing.NamedTuple` of arrays shaped like ``theta``
  (plus an integer step counter ``t`` where the rule needs one);
* ``<name>_update(g, state, theta, *, eta, **hparams, inplace=False) -> (step, new_state)`` with
  :math:`\theta^{t+1} = \theta^t + \text{step}`.

The update is pure: nothing is mutated and nothing is hidden, the whole history a rule needs is in its state.
``theta`` and ``g`` are numpy arrays of any shape (for example ``(starts, 2)``: many starts on a 2-D surface at
once) or torch tensors (a network's parameters); ``eta`` is a float or an array that broadcasts against
``theta`` (one learning rate per stacked copy, e.g. shape ``(starts, 1)``), and so may the continuous
hyperparameters (``mu``, ``beta1``, ...). Hyperparameters that choose a branch of the algorithm (``nesterov``,
``centered``, ``amsgrad``, ``bias_correction``, and ``momentum`` of the torch RMSProp) must be Python scalars.

The formulas use Python operators only; the few operations that need a library call go through the tiny
helpers below, which dispatch on the array type. Full-size temporaries that a function creates itself are
sometimes updated in place (``denom += eps``) to save an allocation; arguments never are, except with
``inplace=True``: the caller gives up the old state and the old ``theta``, the update overwrites the arrays of
``state`` with the new state, adds the step into ``theta`` itself and returns ``(None, new_state)``. On torch
tensors with a number ``eta`` the step is then never materialized: its last multiply or divide is fused into
the parameter update, ``theta.add_(b, alpha=-eta)`` or ``theta.addcdiv_(m, denom, value=-eta_hat)``, exactly as
``torch.optim`` does (:func:`apply_step`). :mod:`lib.optim`, which owns its parameters and state, does that to
run as fast as ``torch.optim``; the numbers are the same up to rounding.

:mod:`lib.optim` wraps these functions as ``torch.optim.Optimizer`` subclasses; :mod:`lib.trajectories` runs
them on 2-D surfaces; :mod:`lib.train` on stacked copies of a network.

References:
    PyTorch documentation, ``torch.optim`` (algorithms as implemented in torch 2.13),
    https://pytorch.org/docs/stable/optim.html
"""

import sys
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

Array = Any  # numpy.ndarray or torch.Tensor


# --------------------------------------------------------------------------------------------------------------
# helpers that dispatch on the array type
# --------------------------------------------------------------------------------------------------------------


def _is_tensor(x) -> bool:
    # Looking torch up instead of importing it keeps numpy-only users (2-D surfaces) free of torch's import time.
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _is_number(x) -> bool:
    return isinstance(x, int | float)


def sqrt(x, inplace=False):
    """Elementwise square root of a numpy array or a torch tensor; ``inplace=True`` overwrites ``x``."""
    if _is_tensor(x):
        return x.sqrt_() if inplace else x.sqrt()
    return np.sqrt(x, out=x) if inplace else np.sqrt(x)


def maximum(a, b, inplace=False):
    """Elementwise maximum of two numpy arrays or two torch tensors; ``inplace=True`` writes it into ``a``."""
    if _is_tensor(a):
        torch = sys.modules["torch"]
        return torch.maximum(a, b, out=a) if inplace else torch.maximum(a, b)
    return np.maximum(a, b, out=a) if inplace else np.maximum(a, b)


def zeros_like(theta):
    """Zeros shaped like ``theta``, floating point, same array type (and device) as ``theta``."""
    if _is_tensor(theta):
        return sys.modules["torch"].zeros_like(theta)
    return np.zeros(np.shape(theta), dtype=np.result_type(theta, 0.0))


def accumulate(acc, x, decay=1.0, scale=1.0, inplace=False, *, square=False, denom=None):
    r"""A decaying running sum: the buffers of momentum, Adagrad, RMSProp and Adam.

    .. math:: a \leftarrow \text{decay}\cdot a + \text{scale}\cdot u, \qquad
        u = x, \quad x^2 \ (\texttt{square=True}) \quad\text{or}\quad x / \texttt{denom}

    ``inplace=True`` overwrites ``acc``. On torch tensors with a number ``scale`` this is torch's own
    ``acc.mul_(decay).add_(x, alpha=scale)`` (``addcmul_(x, x, value=scale)``, ``addcdiv_(x, denom,
    value=scale)``): :math:`u` is never stored.
    """
    if _is_tensor(acc) and _is_number(scale):
        if not (_is_number(decay) and decay == 1):
            acc = acc.mul_(decay) if inplace else acc * decay
            inplace = True  # acc is now a new tensor of ours
        suffix = "_" if inplace else ""
        if square:
            return getattr(acc, "addcmul" + suffix)(x, x, value=scale)
        if denom is not None:
            return getattr(acc, "addcdiv" + suffix)(x, denom, value=scale)
        return getattr(acc, "add" + suffix)(x, alpha=scale)
    u = x * x if square else x if denom is None else x / denom
    if inplace:
        acc *= decay
        acc += scale * u
        return acc
    return decay * acc + scale * u


def ewma(avg, x, beta, inplace=False, *, square=False):
    r"""One step of an exponentially weighted moving average (EWMA) of :math:`x` (or of :math:`x^2`).

    .. math:: \bar x^t = \beta\,\bar x^{t-1} + (1-\beta)\,x^t

    Started at :math:`\bar x^0 = 0`, :math:`\bar x^t` is biased towards 0 for small :math:`t`: its weights sum
    to :math:`1-\beta^t`; see :func:`debias`. ``inplace=True`` overwrites ``avg``; ``square=True`` averages
    :math:`(x^t)^2` (the second moment of RMSProp and Adam) without storing the square.

    On torch tensors this is ``avg.lerp(x, 1 - beta)``, the single fused operation ``torch.optim.Adam`` uses
    for the first moment, and ``avg.mul_(beta).addcmul_(x, x, value=1 - beta)``, its second moment.

    References:
        A. Ng, *Improving Deep Neural Networks*, deeplearning.ai course 2, week 2, "Exponentially weighted
        averages".
    """
    if _is_tensor(avg) and not square:
        return avg.lerp_(x, 1 - beta) if inplace else avg.lerp(x, 1 - beta)
    return accumulate(avg, x, beta, 1 - beta, inplace, square=square)


def apply_step(theta, direction, scale=1.0, denom=None, inplace=False):
    r"""The last line of every rule: the step :math:`s \cdot d / q` (``scale``, ``direction``, ``denom``).

    .. math:: \text{step} = \text{scale} \cdot \frac{d}{q}, \qquad \theta^{t+1} = \theta^t + \text{step}

    Returns the step as a new array (``denom=None``: no division). With ``inplace=True`` the step is instead
    added into ``theta`` and ``None`` is returned; on torch tensors with a number ``scale`` that is one fused
    pass, ``theta.add_(d, alpha=s)`` or ``theta.addcdiv_(d, q, value=s)``, the last line of ``torch.optim.SGD``,
    ``Adam``, ..., so no full-size step is ever allocated.
    """
    if inplace and _is_tensor(theta) and _is_number(scale):
        if denom is None:
            theta.add_(direction, alpha=scale)
        else:
            theta.addcdiv_(direction, denom, value=scale)
        return None
    step = direction * scale
    if denom is not None:
        step /= denom
    if inplace:
        theta += step
        return None
    return step


def debias(avg, beta, t):
    r"""Bias correction of an EWMA started at zero, after ``t`` steps.

    .. math:: \hat x^t = \frac{\bar x^t}{1-\beta^t}

    The weights :math:`(1-\beta)\beta^{t-k}` of :math:`\bar x^t` sum to :math:`1-\beta^t`; dividing by that sum
    makes them a weighted average, so the corrected EWMA of a constant sequence is that constant.

    References:
        D. P. Kingma and J. Ba, "Adam: A method for stochastic optimization", ICLR 2015, section 3.
        A. Ng, *Improving Deep Neural Networks*, course 2, week 2, "Bias correction in exponentially weighted
        averages".
    """
    return avg / (1 - beta**t)


# --------------------------------------------------------------------------------------------------------------
# gradient descent
# --------------------------------------------------------------------------------------------------------------


class GDState(NamedTuple):
    """Gradient descent keeps no state."""


def gd_init(theta) -> GDState:
    return GDState()


def gd_update(g, state: GDState, theta, *, eta, inplace=False):
    r"""Gradient descent.

    .. math:: \theta^{t+1} = \theta^t - \eta\, g^t

    References:
        A. Cauchy, "Méthode générale pour la résolution des systèmes d'équations simultanées", 1847.
        H. Robbins and S. Monro, "A stochastic approximation method", 1951.
    """
    return apply_step(theta, g, -eta, inplace=inplace), state


# --------------------------------------------------------------------------------------------------------------
# momentum, three conventions
# --------------------------------------------------------------------------------------------------------------


class MomentumState(NamedTuple):
    t: int  # steps taken
    b: Array  # momentum buffer


def momentum_init(theta) -> MomentumState:
    return MomentumState(0, zeros_like(theta))


def momentum_update(g, state: MomentumState, theta, *, eta, mu=0.9, dampening=0.0, nesterov=False, inplace=False):
    r"""Heavy-ball momentum as ``torch.optim.SGD`` computes it (momentum :math:`\mu`, dampening :math:`\tau`).

    .. math::
        b^1 = g^1, \qquad b^t = \mu\, b^{t-1} + (1-\tau)\, g^t \quad (t > 1), \\
        \theta^{t+1} = \theta^t - \eta\, d^t, \qquad
        d^t = \begin{cases} g^t + \mu\, b^t & \text{Nesterov} \\ b^t & \text{otherwise.} \end{cases}

    The first step takes the gradient into the buffer without dampening, as torch does. The learning rate
    multiplies the whole buffer at each step, so changing :math:`\eta` rescales past gradients too; compare
    :func:`lee_momentum_update`, where :math:`\eta` is baked into the buffer when each gradient arrives.

    References:
        B. T. Polyak, "Some methods of speeding up the convergence of iteration methods", 1964.
        I. Sutskever, J. Martens, G. Dahl and G. Hinton, "On the importance of initialization and momentum in
        deep learning", ICML 2013.
        PyTorch documentation, ``torch.optim.SGD``.
    """
    # b starts at 0, so the undamped first step mu * 0 + 1 * g is torch's b = g
    b = accumulate(state.b, g, mu, 1 - dampening if state.t > 0 else 1, inplace)
    direction = accumulate(g, b, 1, mu) if nesterov else b  # g + mu * b, a new array
    return apply_step(theta, direction, -eta, inplace=inplace), MomentumState(state.t + 1, b)


def nesterov_update(g, state: MomentumState, theta, *, eta, mu=0.9, inplace=False):
    r"""Nesterov momentum, in the form that needs the gradient at the current iterate only.

    Nesterov's look-ahead method evaluates the gradient at :math:`\theta + \mu v`:

    .. math:: v^{t+1} = \mu v^t - \eta \nabla L(\theta^t + \mu v^t), \qquad \theta^{t+1} = \theta^t + v^{t+1}.

    In the shifted variable :math:`\tilde\theta = \theta + \mu v` and with :math:`v = -\eta b` (constant
    :math:`\eta`) this becomes, with :math:`g^t = \nabla L(\tilde\theta^t)`,

    .. math:: b^t = \mu b^{t-1} + g^t, \qquad \tilde\theta^{t+1} = \tilde\theta^t - \eta\,(g^t + \mu b^t),

    which is :func:`momentum_update` with ``nesterov=True`` and no dampening (``torch.optim.SGD(...,
    nesterov=True)``).

    References:
        Y. Nesterov, "A method of solving a convex programming problem with convergence rate O(1/k^2)", 1983.
        Y. Bengio, N. Boulanger-Lewandowski and R. Pascanu, "Advances in optimizing recurrent networks",
        ICASSP 2013.
        I. Sutskever et al., "On the importance of initialization and momentum in deep learning", ICML 2013.
    """
    return momentum_update(g, state, theta, eta=eta, mu=mu, dampening=0.0, nesterov=True, inplace=inplace)


class LeeMomentumState(NamedTuple):
    m: Array  # the movement: the last step taken


def lee_momentum_init(theta) -> LeeMomentumState:
    return LeeMomentumState(zeros_like(theta))


def lee_momentum_update(g, state: LeeMomentumState, theta, *, eta, lam=0.9, inplace=False):
    r"""Momentum in Hung-yi Lee's convention: the movement is the last movement minus the gradient step.

    .. math:: m^0 = 0, \qquad m^{t+1} = \lambda\, m^t - \eta\, g^t, \qquad \theta^{t+1} = \theta^t + m^{t+1}

    So :math:`m^t` is a weighted sum of all past gradient steps :math:`-\eta g^k`. With a constant
    :math:`\eta` it equals torch's heavy ball (:func:`momentum_update`) under :math:`m = -\eta b`,
    :math:`\lambda = \mu`, :math:`\tau = 0`; when :math:`\eta` changes, the two differ: here each past
    gradient keeps the learning rate it arrived with.

    References:
        Hung-yi Lee, *Machine Learning 2021/2022*, lecture "類神經網路訓練不起來怎麼辦 (二): 批次與動量"
        (batch and momentum).
        Wang Qi, Yang Yiyuan, Jiang Ji, *LeeDL Tutorial* (《深度学习详解》), ch. 3.
    """
    m = accumulate(state.m, g, lam, -eta, inplace)
    return apply_step(theta, m, inplace=inplace), LeeMomentumState(m)


class EWMAMomentumState(NamedTuple):
    t: int  # steps taken
    v: Array  # EWMA of the gradients


def ewma_momentum_init(theta) -> EWMAMomentumState:
    return EWMAMomentumState(0, zeros_like(theta))


def ewma_momentum_update(g, state: EWMAMomentumState, theta, *, eta, beta=0.9, bias_correction=False, inplace=False):
    r"""Momentum in Andrew Ng's convention: step along the EWMA of the gradients.

    .. math::
        v^t = \beta v^{t-1} + (1-\beta)\, g^t, \qquad
        \hat v^t = \frac{v^t}{1-\beta^t}\ \text{(optional)}, \qquad
        \theta^{t+1} = \theta^t - \eta\, v^t\ (\text{or } \hat v^t).

    Without bias correction it equals torch's heavy ball (:func:`momentum_update`, :math:`\tau = 0`) under
    :math:`v = (1-\beta)\, b`, :math:`\mu = \beta` and :math:`\eta_\text{Ng} = \eta / (1-\beta)`.

    References:
        A. Ng, *Improving Deep Neural Networks*, deeplearning.ai course 2, week 2, "Gradient descent with
        momentum".
    """
    t = state.t + 1
    v = ewma(state.v, g, beta, inplace)
    eta_hat = debias(eta, beta, t) if bias_correction else eta  # eta * v_hat = eta_hat * v
    return apply_step(theta, v, -eta_hat, inplace=inplace), EWMAMomentumState(t, v)


# --------------------------------------------------------------------------------------------------------------
# adaptive learning rates
# --------------------------------------------------------------------------------------------------------------


class AdagradState(NamedTuple):
    t: int  # steps taken
    sum_sq: Array  # sum of the squared gradients (plus the initial accumulator value)


def adagrad_init(theta) -> AdagradState:
    return AdagradState(0, zeros_like(theta))


def adagrad_update(
    g, state: AdagradState, theta, *, eta, lr_decay=0.0, initial_accumulator_value=0.0, eps=1e-10, inplace=False
):
    r"""Adagrad: divide by the root of the sum of all squared gradients, as ``torch.optim.Adagrad``.

    .. math::
        s^t = s_0 + \sum_{k=1}^{t} (g^k)^2, \qquad \sigma^t = \sqrt{s^t}, \qquad
        \eta^t = \frac{\eta}{1 + (t-1)\,\text{lr\_decay}}, \qquad
        \theta^{t+1} = \theta^t - \frac{\eta^t}{\sigma^t + \epsilon}\, g^t

    with :math:`s_0` = ``initial_accumulator_value``. Torch fills the accumulator with :math:`s_0` when it
    creates the state; ``adagrad_init(theta)`` cannot see the hyperparameter, so the first update adds it.

    References:
        J. Duchi, E. Hazan and Y. Singer, "Adaptive subgradient methods for online learning and stochastic
        optimization", JMLR 12, 2011.
        PyTorch documentation, ``torch.optim.Adagrad``.
    """
    t = state.t + 1
    s0 = state.sum_sq + initial_accumulator_value if state.t == 0 else state.sum_sq
    sum_sq = accumulate(s0, g, inplace=inplace, square=True)
    eta_t = eta / (1 + (t - 1) * lr_decay)
    sigma = sqrt(sum_sq)
    sigma += eps
    return apply_step(theta, g, -eta_t, sigma, inplace), AdagradState(t, sum_sq)


class RMSpropState(NamedTuple):
    t: int  # steps taken
    v: Array  # EWMA of the squared gradients
    g_avg: Array  # EWMA of the gradients (used when centered)
    b: Array  # momentum buffer (used when momentum > 0)


def rmsprop_init(theta) -> RMSpropState:
    return RMSpropState(0, zeros_like(theta), zeros_like(theta), zeros_like(theta))


def rmsprop_update(
    g, state: RMSpropState, theta, *, eta, alpha=0.99, eps=1e-8, centered=False, momentum=0.0, inplace=False
):
    r"""RMSProp as ``torch.optim.RMSprop`` computes it.

    .. math::
        v^t = \alpha v^{t-1} + (1-\alpha) (g^t)^2, \qquad
        \bar g^t = \alpha \bar g^{t-1} + (1-\alpha) g^t, \\
        \sigma^t = \sqrt{v^t} + \epsilon \quad\text{or, centered,}\quad
        \sigma^t = \sqrt{v^t - (\bar g^t)^2} + \epsilon, \\
        b^t = \mu b^{t-1} + g^t / \sigma^t, \qquad
        \theta^{t+1} = \theta^t - \eta\, b^t \quad (\mu > 0), \qquad
        \theta^{t+1} = \theta^t - \eta\, g^t / \sigma^t \quad (\mu = 0),

    all started at 0, with :math:`\mu` = ``momentum``. The centered variant divides by an estimate of the
    gradient's standard deviation instead of its root mean square.

    References:
        T. Tieleman and G. Hinton, *Neural Networks for Machine Learning*, Coursera, lecture 6.5, 2012.
        A. Graves, "Generating sequences with recurrent neural networks", arXiv:1308.0850, 2013 (centered).
        PyTorch documentation, ``torch.optim.RMSprop``.
    """
    v = ewma(state.v, g, alpha, inplace, square=True)
    if centered:
        g_avg = ewma(state.g_avg, g, alpha, inplace)
        sigma = sqrt(accumulate(v, g_avg, 1, -1, square=True), inplace=True)  # v - g_avg², a new array
    else:
        g_avg = state.g_avg
        sigma = sqrt(v)
    sigma += eps
    if momentum > 0:
        b = accumulate(state.b, g, momentum, 1, inplace, denom=sigma)
        step = apply_step(theta, b, -eta, inplace=inplace)
    else:
        b = state.b
        step = apply_step(theta, g, -eta, sigma, inplace)
    return step, RMSpropState(state.t + 1, v, g_avg, b)


def _lee_sigma(sigma, g, t, alpha):
    # sigma^0 = |g^0|: the first step has length eta whatever the gradient's scale
    return abs(g) if t == 0 else sqrt(ewma(sigma * sigma, g * g, alpha))


class LeeRMSPropState(NamedTuple):
    t: int  # steps taken
    sigma: Array  # root of the EWMA of the squared gradients


def lee_rmsprop_init(theta) -> LeeRMSPropState:
    return LeeRMSPropState(0, zeros_like(theta))


def lee_rmsprop_update(g, state: LeeRMSPropState, theta, *, eta, alpha=0.9, eps=1e-8, inplace=False):
    r"""RMSProp in Hung-yi Lee's :math:`\sigma` form.

    .. math::
        \sigma^0 = |g^0|, \qquad \sigma^t = \sqrt{\alpha (\sigma^{t-1})^2 + (1-\alpha) (g^t)^2}, \qquad
        \theta^{t+1} = \theta^t - \frac{\eta}{\sigma^t + \epsilon}\, g^t

    Unlike torch's form (:func:`rmsprop_update`) there is no zero start to be biased by: the first step is
    :math:`-\eta\,\mathrm{sign}(g^0)` (up to :math:`\epsilon`). ``inplace`` is accepted for a uniform
    signature; the new :math:`\sigma` is always a new array.

    References:
        Hung-yi Lee, *Machine Learning 2021/2022*, lecture "類神經網路訓練不起來怎麼辦 (三): 自動調整學習速率"
        (adaptive learning rate).
        T. Tieleman and G. Hinton, *Neural Networks for Machine Learning*, lecture 6.5, 2012.
    """
    sigma = _lee_sigma(state.sigma, g, state.t, alpha)
    return apply_step(theta, g, -eta, sigma + eps, inplace), LeeRMSPropState(state.t + 1, sigma)


class AdamState(NamedTuple):
    t: int  # steps taken
    m: Array  # EWMA of the gradients (first moment)
    v: Array  # EWMA of the squared gradients (second moment)
    v_max: Array  # running maximum of v (used by AMSGrad)


def adam_init(theta) -> AdamState:
    return AdamState(0, zeros_like(theta), zeros_like(theta), zeros_like(theta))


def adam_update(
    g,
    state: AdamState,
    theta,
    *,
    eta,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    bias_correction=True,
    amsgrad=False,
    inplace=False,
):
    r"""Adam: momentum (first moment) over RMSProp (second moment), both bias-corrected.

    .. math::
        m^t = \beta_1 m^{t-1} + (1-\beta_1) g^t, \qquad v^t = \beta_2 v^{t-1} + (1-\beta_2) (g^t)^2, \\
        \hat m^t = \frac{m^t}{1-\beta_1^t}, \qquad \hat v^t = \frac{v^t}{1-\beta_2^t}, \qquad
        \theta^{t+1} = \theta^t - \eta\, \frac{\hat m^t}{\sqrt{\hat v^t} + \epsilon}

    with :math:`m^0 = v^0 = 0`. ``bias_correction=False`` uses :math:`m^t, v^t` in place of
    :math:`\hat m^t, \hat v^t` (the ablation of the book's Adam chapter). AMSGrad replaces :math:`v^t` in the
    denominator by :math:`v_{\max}^t = \max(v_{\max}^{t-1}, v^t)`, corrected by the same :math:`1-\beta_2^t`, as
    ``torch.optim.Adam(amsgrad=True)`` does.

    The step is computed in torch's order, which folds both corrections into scalars,
    :math:`\frac{\eta}{1-\beta_1^t}\, m^t / (\sqrt{v^t} / \sqrt{1-\beta_2^t} + \epsilon)`: the same number
    with two full-size temporaries instead of five (one with ``inplace=True``: the step goes straight into θ).

    References:
        D. P. Kingma and J. Ba, "Adam: A method for stochastic optimization", ICLR 2015.
        S. J. Reddi, S. Kale and S. Kumar, "On the convergence of Adam and beyond", ICLR 2018 (AMSGrad).
        PyTorch documentation, ``torch.optim.Adam``.
    """
    t = state.t + 1
    m = ewma(state.m, g, beta1, inplace)
    v = ewma(state.v, g, beta2, inplace, square=True)
    v_max = maximum(state.v_max, v, inplace) if amsgrad else state.v_max
    eta_hat, c2 = (debias(eta, beta1, t), 1 - beta2**t) if bias_correction else (eta, 1)
    denom = sqrt(v_max if amsgrad else v)  # sqrt(v_hat) + eps
    denom /= c2**0.5
    denom += eps
    return apply_step(theta, m, -eta_hat, denom, inplace), AdamState(t, m, v, v_max)


def adamw_update(
    g,
    state: AdamState,
    theta,
    *,
    eta,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    bias_correction=True,
    amsgrad=False,
    weight_decay=1e-2,
    inplace=False,
):
    r"""AdamW: Adam with weight decay decoupled from the gradient.

    .. math::
        \theta^{t+1} = \theta^t - \eta\, \lambda\, \theta^t - \eta\, \frac{\hat m^t}{\sqrt{\hat v^t} + \epsilon}

    with :math:`\lambda` = ``weight_decay`` and :math:`\hat m^t, \hat v^t` as in :func:`adam_update`. The decay
    never enters :math:`m` and :math:`v`, so it is not rescaled by :math:`\sqrt{\hat v}` as an L2 penalty
    added to the gradient would be.

    References:
        I. Loshchilov and F. Hutter, "Decoupled weight decay regularization", ICLR 2019.
        PyTorch documentation, ``torch.optim.AdamW``.
    """
    adam = {"eta": eta, "beta1": beta1, "beta2": beta2, "eps": eps, "bias_correction": bias_correction,
            "amsgrad": amsgrad}
    if inplace:  # torch's order: shrink theta where it is, then add Adam's step into it
        theta *= 1 - eta * weight_decay
        return adam_update(g, state, theta, inplace=True, **adam)
    step, state = adam_update(g, state, theta, **adam)
    step -= eta * weight_decay * theta
    return step, state


def adam_l2_update(
    g,
    state: AdamState,
    theta,
    *,
    eta,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    bias_correction=True,
    amsgrad=False,
    weight_decay=1e-2,
    inplace=False,
):
    r"""Adam on the L2-penalized loss :math:`L(\theta) + \tfrac{\lambda}{2}\lVert\theta\rVert^2`.

    .. math::
        \tilde g^t = g^t + \lambda\,\theta^t, \qquad
        \theta^{t+1} = \theta^t - \eta\, \frac{\hat m^t}{\sqrt{\hat v^t} + \epsilon}
        \quad\text{with } \hat m^t, \hat v^t \text{ the moments of } \tilde g

    (:func:`lib.rules.adam_update` applied to :math:`\tilde g`): what ``torch.optim.Adam(weight_decay=λ)``
    does. The decay :math:`\lambda\theta` goes through the division by :math:`\sqrt{\hat v}`, so a weight whose
    gradients have been large is decayed less than one whose gradients have been small; AdamW
    (:func:`adamw_update`) subtracts :math:`\eta\lambda\theta` outside the division instead.

    References:
        I. Loshchilov and F. Hutter, "Decoupled weight decay regularization", ICLR 2019, Algorithm 2 (line 6).
        PyTorch documentation, ``torch.optim.Adam`` (``weight_decay``).
    """
    return adam_update(g + weight_decay * theta, state, theta, eta=eta, beta1=beta1, beta2=beta2, eps=eps,
                              bias_correction=bias_correction, amsgrad=amsgrad, inplace=inplace)


class UnifiedState(NamedTuple):
    t: int  # steps taken
    m: Array  # momentum: EWMA of the gradients (direction)
    sigma: Array  # root mean square of the gradients (magnitude)


def unified_init(theta) -> UnifiedState:
    return UnifiedState(0, zeros_like(theta), zeros_like(theta))


def unified_update(g, state: UnifiedState, theta, *, eta, beta1=0.9, alpha=0.9, eps=1e-8, inplace=False):
    r"""The course's summary of optimizers: a scheduled learning rate, over a root mean square, times momentum.

    .. math::
        \theta^{t+1} = \theta^t - \frac{\eta^t}{\sigma^t + \epsilon}\, m^t, \qquad
        m^t = \beta_1 m^{t-1} + (1-\beta_1)\, g^t, \qquad
        \sigma^0 = |g^0|, \quad \sigma^t = \sqrt{\alpha (\sigma^{t-1})^2 + (1-\alpha) (g^t)^2}

    :math:`m^t` (momentum) carries the direction of past gradients, :math:`\sigma^t` (as in
    :func:`lee_rmsprop_update`) only their size, and :math:`\eta^t` is whatever schedule the caller passes as
    ``eta`` at each step. With ``beta1=0`` it is :func:`lee_rmsprop_update`; it is Adam without bias
    correction, with :math:`\sigma` started at :math:`|g^0|` instead of 0.

    References:
        Hung-yi Lee, *Machine Learning 2021/2022*, lecture "類神經網路訓練不起來怎麼辦 (三): 自動調整學習速率",
        slide "Summary of optimization".
        Wang Qi, Yang Yiyuan, Jiang Ji, *LeeDL Tutorial* (《深度学习详解》), ch. 3.
    """
    m = ewma(state.m, g, beta1, inplace)
    sigma = _lee_sigma(state.sigma, g, state.t, alpha)
    return apply_step(theta, m, -eta, sigma + eps, inplace), UnifiedState(state.t + 1, m, sigma)


# --------------------------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------------------------


class Rule(NamedTuple):
    name: str  # registry key
    label: str  # human label for legends and menus
    init: Callable  # init(theta) -> state
    update: Callable  # update(g, state, theta, *, eta, **hparams) -> (step, new_state)
    defaults: dict  # hyperparameters and their defaults, excluding eta


RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule("gd", "Gradient descent", gd_init, gd_update, {}),
        Rule(
            "momentum",
            "Momentum (torch heavy ball)",
            momentum_init,
            momentum_update,
            {"mu": 0.9, "dampening": 0.0, "nesterov": False},
        ),
        Rule("lee_momentum", "Momentum (Hung-yi Lee)", lee_momentum_init, lee_momentum_update, {"lam": 0.9}),
        Rule(
            "ewma_momentum",
            "Momentum (EWMA, Andrew Ng)",
            ewma_momentum_init,
            ewma_momentum_update,
            {"beta": 0.9, "bias_correction": False},
        ),
        Rule("nesterov", "Nesterov momentum", momentum_init, nesterov_update, {"mu": 0.9}),
        Rule(
            "adagrad",
            "Adagrad",
            adagrad_init,
            adagrad_update,
            {"lr_decay": 0.0, "initial_accumulator_value": 0.0, "eps": 1e-10},
        ),
        Rule(
            "rmsprop",
            "RMSProp (torch)",
            rmsprop_init,
            rmsprop_update,
            {"alpha": 0.99, "eps": 1e-8, "centered": False, "momentum": 0.0},
        ),
        Rule("lee_rmsprop", "RMSProp (σ form)", lee_rmsprop_init, lee_rmsprop_update, {"alpha": 0.9, "eps": 1e-8}),
        Rule(
            "adam",
            "Adam",
            adam_init,
            adam_update,
            {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "bias_correction": True, "amsgrad": False},
        ),
        Rule(
            "adamw",
            "AdamW",
            adam_init,
            adamw_update,
            {
                "beta1": 0.9,
                "beta2": 0.999,
                "eps": 1e-8,
                "bias_correction": True,
                "amsgrad": False,
                "weight_decay": 1e-2,
            },
        ),
        Rule(
            "adam_l2",
            "Adam + L2",
            adam_init,
            adam_l2_update,
            {
                "beta1": 0.9,
                "beta2": 0.999,
                "eps": 1e-8,
                "bias_correction": True,
                "amsgrad": False,
                "weight_decay": 1e-2,
            },
        ),
        Rule(
            "unified",
            "Unified (course form)",
            unified_init,
            unified_update,
            {"beta1": 0.9, "alpha": 0.9, "eps": 1e-8},
        ),
    )
}
