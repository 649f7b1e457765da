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
hyperparameters (``beta``, ``beta1``, ...). Hyperparameters that choose a branch of the algorithm (``nesterov``,
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


def momentum_update(g, state: MomentumState, theta, *, eta, beta=0.9, dampening=0.0, nesterov=False, inplace=False):
    r"""Heavy-ball momentum as ``torch.optim.SGD`` computes it (momentum :math:`\beta`, dampening :math:`\tau`).

    .. math::
        b^1 = g^1, \qquad b^t = \beta\, b^{t-1} + (1-\tau)\, g^t \quad (t > 1), \\
        \theta^{t+1} = \theta^t - \eta\, d^t, \qquad
        d^t = \begin{cases} g^t + \beta\, b^t & \text{Nesterov} \\ b^t & \text{otherwise.} \end{cases}

    The first step takes the gradient into the buffer without dampening, as torch does. The learning rate
    multiplies the whole buffer at each step, so changing :math:`\eta` rescales past gradients too; compare
    :func:`lee_momentum_update`, where :math:`\eta` is baked into the buffer when each gradient arrives.

    References:
        B. T. Polyak, "Some methods of speeding up the convergence of iteration methods", 1964.
        I. Sutskever, J. Martens, G. Dahl and G. Hinton, "On the importance of initialization and momentum in
        deep learning", ICML 2013.
        PyTorch documentation, ``torch.optim.SGD``.
    """
    # b starts at 0, so the undamped first step beta * 0 + 1 * g is torch's b = g
    b = accumulate(state.b, g, beta, 1 - dampening if state.t > 0 else 1, inplace)
    direction = accumulate(g, b, 1, beta) if nesterov else b  # g + beta * b, a new array
    return apply_step(theta, direction, -eta, inplace=inplace), MomentumState(state.t + 1, b)


def nesterov_update(g, state: MomentumState, theta, *, eta, beta=0.9, inplace=False):
    r"""Nesterov momentum, in the form that needs the gradient at the current iterate only.

    Nesterov's look-ahead method evaluates the gradient at :math:`\theta + \beta v`:

    .. math:: v^{t+1} = \beta v^t - \eta \nabla L(\theta^t + \beta v^t), \qquad \theta^{t+1} = \theta^t + v^{t+1}.

    In the shifted variable :math:`\tilde\theta = \theta + \beta v` and with :math:`v = -\eta b` (constant
    :math:`\eta`) this becomes, with :math:`g^t = \nabla L(\tilde\theta^t)`,

    .. math:: b^t = \beta b^{t-1} + g^t, \qquad \tilde\theta^{t+1} = \tilde\theta^t - \eta\,(g^t + \beta b^t),

    which is :func:`momentum_update` with ``nesterov=True`` and no dampening (``torch.optim.SGD(...,
    nesterov=True)``).

    References:
        Y. Nesterov, "A method of solving a convex programming problem with convergence rate O(1/k^2)", 1983.
        Y. Bengio, N. Boulanger-Lewandowski and R. Pascanu, "Advances in optimizing recurrent networks",
        ICASSP 2013.
        I. Sutskever et al., "On the importance of initialization and momentum in deep learning", ICML 2013.
    """
    return momentum_update(g, state, theta, eta=eta, beta=beta, dampening=0.0, nesterov=True, inplace=inplace)


class LeeMomentumState(NamedTuple):
    m: Array  # the movement: the last step taken


def lee_momentum_init(theta) -> LeeMomentumState:
    return LeeMomentumState(zeros_like(theta))


def lee_momentum_update(g, state: LeeMomentumState, theta, *, eta, lam=0.9, inplace=False):
    r"""Momentum in Hung-yi Lee's convention: the movement is the last movement minus the gradient step.

    .. math:: m^0 = 0, \qquad m^{t+1} = \lambda\, m^t - \eta\, g^t, \qquad \theta^{t+1} = \theta^t + m^{t+1}

    So :math:`m^t` is a weighted sum of all past gradient steps :math:`-\eta g^k`. With a constant
    :math:`\eta` it equals torch's heavy ball (:func:`momentum_update`) under :math:`m = -\eta b`,
    :math:`\lambda = \beta`, :math:`\tau = 0`; when :math:`\eta` changes, the two differ: here each past
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
    :math:`v = (1-\beta)\, b`, the same :math:`\beta` and :math:`\eta_\text{Ng} = \eta / (1-\beta)`.

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
        b^t = \beta b^{t-1} + g^t / \sigma^t, \qquad
        \theta^{t+1} = \theta^t - \eta\, b^t \quad (\beta > 0), \qquad
        \theta^{t+1} = \theta^t - \eta\, g^t / \sigma^t \quad (\beta = 0),

    all started at 0, with :math:`\beta` = ``momentum``. The centered variant divides by an estimate of the
    gradient's standard deviation instead of its root mean square.

    References:
        T. Tieleman and G. Hinton, *Neural Networks for Machine Learning*, Coursera, lecture 6.5, 2012.
        A. Graves, "Generating sequences with recurrent neural networks", arXiv:1308.0850, 2013 (centered).
        PyTorch documentation, ``torch.optim.RMSprop``.

    This is the readable rule, line by line the formulas above. With ``inplace=True`` (what :mod:`lib.optim` and
    :mod:`lib.train` ask for) the fused path :func:`_rmsprop_update_fused` computes the same numbers in torch's
    order, updating the state arrays in place (``tests/test_rules_fused.py`` checks that the two agree).
    """
    if inplace:
        return _rmsprop_update_fused(g, state, theta, eta=eta, alpha=alpha, eps=eps, centered=centered,
                                     momentum=momentum, inplace=True)
    v = ewma(state.v, g, alpha, square=True)
    if centered:
        g_avg = ewma(state.g_avg, g, alpha)
        sigma = sqrt(v - g_avg * g_avg) + eps
    else:
        g_avg = state.g_avg
        sigma = sqrt(v) + eps
    if momentum > 0:
        b = momentum * state.b + g / sigma
        return -eta * b, RMSpropState(state.t + 1, v, g_avg, b)
    return -eta * g / sigma, RMSpropState(state.t + 1, v, g_avg, state.b)


def _rmsprop_update_fused(g, state: RMSpropState, theta, *, eta, alpha=0.99, eps=1e-8, centered=False, momentum=0.0,
                          inplace=False):
    """The fused path of :func:`rmsprop_update`, in torch's order (as ``torch.optim.rmsprop._single_tensor_rmsprop``):
    the averages and the buffer are updated in place, and with ``inplace=True`` the step goes straight into θ.
    Private: the chapters show :func:`rmsprop_update`.

    References:
        PyTorch source, ``torch/optim/rmsprop.py``, ``_single_tensor_rmsprop``.
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

    This is the readable rule, line by line the formulas above. With ``inplace=True`` (what :mod:`lib.optim` and
    :mod:`lib.train` ask for) the fused path :func:`_adam_update_fused` computes the same numbers in torch's
    order, with fewer temporaries (``tests/test_rules_fused.py`` checks that the two agree).

    References:
        D. P. Kingma and J. Ba, "Adam: A method for stochastic optimization", ICLR 2015.
        S. J. Reddi, S. Kale and S. Kumar, "On the convergence of Adam and beyond", ICLR 2018 (AMSGrad).
        PyTorch documentation, ``torch.optim.Adam``.
    """
    if inplace:
        return _adam_update_fused(g, state, theta, eta=eta, beta1=beta1, beta2=beta2, eps=eps,
                                  bias_correction=bias_correction, amsgrad=amsgrad, inplace=True)
    t = state.t + 1
    m = ewma(state.m, g, beta1)
    v = ewma(state.v, g, beta2, square=True)
    v_max = maximum(state.v_max, v) if amsgrad else state.v_max
    v_used = v_max if amsgrad else v
    if bias_correction:
        m_hat, v_hat = debias(m, beta1, t), debias(v_used, beta2, t)
    else:
        m_hat, v_hat = m, v_used
    return -eta * m_hat / (sqrt(v_hat) + eps), AdamState(t, m, v, v_max)


def _adam_update_fused(g, state: AdamState, theta, *, eta, beta1=0.9, beta2=0.999, eps=1e-8, bias_correction=True,
                       amsgrad=False, inplace=False):
    r"""The fused path of :func:`adam_update`, in torch's order (as ``torch.optim.adam._single_tensor_adam``).

    Both corrections are folded into scalars,
    :math:`\frac{\eta}{1-\beta_1^t}\, m^t / (\sqrt{v^t} / \sqrt{1-\beta_2^t} + \epsilon)`: the same number
    with two full-size temporaries instead of five (one with ``inplace=True``: the step goes straight into θ,
    and the state arrays are updated in place). Private: the chapters show :func:`adam_update`.

    References:
        PyTorch source, ``torch/optim/adam.py``, ``_single_tensor_adam``.
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
            {"beta": 0.9, "dampening": 0.0, "nesterov": False},
        ),
        Rule("lee_momentum", "Momentum (Hung-yi Lee)", lee_momentum_init, lee_momentum_update, {"lam": 0.9}),
        Rule(
            "ewma_momentum",
            "Momentum (EWMA, Andrew Ng)",
            ewma_momentum_init,
            ewma_momentum_update,
            {"beta": 0.9, "bias_correction": False},
        ),
        Rule("nesterov", "Nesterov momentum", momentum_init, nesterov_update, {"beta": 0.9}),
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


# --------------------------------------------------------------------------------------------------------------
# after Adam: NAdam, RAdam, Adafactor, Muon, Lion, schedule-free AdamW
# --------------------------------------------------------------------------------------------------------------
# NAdam, RAdam, Lion and schedule-free AdamW are elementwise, like every rule above, and are registered in RULES.
# Adafactor and Muon are not: Adafactor factors the second moment of a matrix over its rows and columns, Muon
# orthogonalizes a matrix. They work on arrays of shape (..., n, m), a stack of matrices whose leading axes
# index independent copies; on_points() and by_parameter() below adapt them to the stacks of
# lib.trajectories (one row per coordinate) and lib.train.train_stacked (one row per copy, parameters flat).


def lerp(a, b, weight):
    r"""Linear interpolation :math:`a + w\,(b - a) = (1-w)\,a + w\,b`, torch's ``a.lerp(b, w)`` on tensors."""
    if _is_tensor(a):
        return a.lerp(b, weight)
    return a + weight * (b - a)


def sign(x):
    """Elementwise sign (-1, 0 or 1) of a numpy array or a torch tensor."""
    return x.sign() if _is_tensor(x) else np.sign(x)


def _copy(x):
    return x.clone() if _is_tensor(x) else np.array(x, dtype=np.result_type(x, 0.0), copy=True)


def _astype(x, dtype):
    if dtype is None:
        return x
    return x.to(dtype) if _is_tensor(x) else x.astype(dtype)


def _mean(x, axis):
    """Mean over ``axis`` (an int or a tuple), keeping the reduced axes with size 1."""
    return x.mean(dim=axis, keepdim=True) if _is_tensor(x) else x.mean(axis=axis, keepdims=True)


def _clamp(x, lo=None, hi=None):
    """Elementwise ``min(max(x, lo), hi)`` for an array ``x`` and numbers ``lo``, ``hi``; numbers stay numbers."""
    if _is_tensor(x):
        return x.clamp(min=lo, max=hi)
    if _is_number(x):
        return min(max(x, lo if lo is not None else x), hi if hi is not None else x)
    return np.clip(x, lo, hi)


def _mT(x):
    """The transpose of every matrix of a stack ``(..., n, m) -> (..., m, n)``."""
    return x.transpose(-2, -1) if _is_tensor(x) else np.swapaxes(x, -2, -1)


def frobenius(X):
    r"""Frobenius norm :math:`\lVert X\rVert_F = \sqrt{\sum_{ij} X_{ij}^2}` of every matrix of ``(..., n, m)``."""
    s = (X * X).sum(dim=(-2, -1), keepdim=True) if _is_tensor(X) else (X * X).sum(axis=(-2, -1), keepdims=True)
    return sqrt(s)


def rms(x, batch_dims=0):
    r"""Root mean square over all axes but the first ``batch_dims``: :math:`\sqrt{\tfrac1k \sum_i x_i^2}`."""
    return sqrt(_mean(x * x, tuple(range(batch_dims, np.ndim(x)))))


class NAdamState(NamedTuple):
    t: int  # steps taken
    mu_product: Any  # product of the momentum coefficients mu_1 ... mu_t (a number, an array if beta1 is one)
    m: Array  # EWMA of the gradients (first moment)
    v: Array  # EWMA of the squared gradients (second moment)


def nadam_init(theta) -> NAdamState:
    return NAdamState(0, 1.0, zeros_like(theta), zeros_like(theta))


def nadam_momentum(t, beta1=0.9, momentum_decay=4e-3):
    r"""NAdam's momentum schedule (torch's, after Dozat 2016): :math:`\mu_t = \beta_1(1 - \tfrac12\, 0.96^{t\psi})`.

    It starts near :math:`\beta_1/2` and rises towards :math:`\beta_1`; :math:`\psi` = ``momentum_decay`` sets how
    slowly (with the default :math:`\psi = 0.004`, :math:`\mu_t` is halfway at :math:`t \approx 4\,250`).
    """
    return beta1 * (1.0 - 0.5 * 0.96 ** (t * momentum_decay))


def nadam_update(
    g,
    state: NAdamState,
    theta,
    *,
    eta,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    momentum_decay=4e-3,
    weight_decay=0.0,
    inplace=False,
):
    r"""NAdam: Adam with Nesterov's look-ahead, as ``torch.optim.NAdam`` computes it.

    .. math::
        \mu_t = \beta_1\bigl(1 - \tfrac12\, 0.96^{t\psi}\bigr), \qquad
        m^t = \beta_1 m^{t-1} + (1-\beta_1) g^t, \qquad v^t = \beta_2 v^{t-1} + (1-\beta_2)(g^t)^2, \\
        \hat m^t = \frac{\mu_{t+1}\, m^t}{1 - \prod_{i=1}^{t+1}\mu_i} + \frac{(1-\mu_t)\, g^t}{1-\prod_{i=1}^{t}\mu_i},
        \qquad
        \theta^{t+1} = \theta^t - \eta\lambda\theta^t - \eta\, \frac{\hat m^t}{\sqrt{v^t/(1-\beta_2^t)} + \epsilon}

    Adam steps along :math:`\hat m^t`, the momentum as it stands; Nesterov's method steps along where the momentum
    is about to be, :math:`\mu_{t+1} m^t + (1-\mu_t) g^t`: the *next* step's share of the momentum plus the
    fresh gradient (each bias-corrected by its own product of :math:`\mu`'s). :math:`\psi` = ``momentum_decay``,
    :math:`\lambda` = ``weight_decay`` (decoupled, torch's ``decoupled_weight_decay=True``, "NAdamW"; the L2
    form adds :math:`\lambda\theta` to :math:`g` before the call).

    References:
        T. Dozat, "Incorporating Nesterov momentum into Adam", ICLR 2016 workshop.
        PyTorch documentation, ``torch.optim.NAdam``.
    """
    t = state.t + 1
    mu, mu_next = nadam_momentum(t, beta1, momentum_decay), nadam_momentum(t + 1, beta1, momentum_decay)
    mu_product = state.mu_product * mu
    m = ewma(state.m, g, beta1, inplace)
    v = ewma(state.v, g, beta2, inplace, square=True)
    denom = sqrt(v / (1 - beta2**t), inplace=True)  # sqrt(v_hat) + eps
    denom += eps
    scale_g = -eta * (1.0 - mu) / (1.0 - mu_product)  # torch's order of operations, for the same rounding
    scale_m = (-eta * mu_next) / (1.0 - mu_product * mu_next)
    decay = not (_is_number(weight_decay) and weight_decay == 0)
    new = NAdamState(t, mu_product, m, v)
    if inplace:
        if decay:
            theta *= 1 - eta * weight_decay
        apply_step(theta, g, scale_g, denom, inplace=True)
        apply_step(theta, m, scale_m, denom, inplace=True)
        return None, new
    step = apply_step(theta, g, scale_g, denom)
    step += apply_step(theta, m, scale_m, denom)
    if decay:
        step -= eta * weight_decay * theta
    return step, new


class RAdamState(NamedTuple):
    t: int  # steps taken
    m: Array  # EWMA of the gradients
    v: Array  # EWMA of the squared gradients


def radam_init(theta) -> RAdamState:
    return RAdamState(0, zeros_like(theta), zeros_like(theta))


def radam_rho(t, beta2=0.999):
    r"""Length of RAdam's approximated simple moving average after ``t`` steps.

    .. math:: \rho_\infty = \frac{2}{1-\beta_2} - 1, \qquad \rho_t = \rho_\infty - \frac{2t\beta_2^t}{1-\beta_2^t}

    :math:`\rho_t` grows from 1 (:math:`t = 1`) to :math:`\rho_\infty` (1 999 for :math:`\beta_2 = 0.999`): it
    says how many squared gradients the EWMA :math:`v^t` effectively averages.
    """
    return 2 / (1 - beta2) - 1 - 2 * t * beta2**t / (1 - beta2**t)


def radam_rectifier(t, beta2=0.999):
    r"""RAdam's variance rectifier :math:`r_t`, or ``None`` while :math:`\rho_t \le 5` (no adaptive step yet).

    .. math:: r_t = \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\,\rho_\infty}{(\rho_\infty - 4)(\rho_\infty - 2)\,\rho_t}}

    the ratio of the standard deviation of :math:`1/\sqrt{v}` after infinitely many steps to the one after
    :math:`t` steps (to first order, for normally distributed gradients); it rises from 0 towards 1, a
    warm-up derived from the variance of the adaptive factor.
    """
    rho_inf, rho_t = 2 / (1 - beta2) - 1, radam_rho(t, beta2)
    if rho_t <= 5.0:
        return None
    return ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5


def radam_update(
    g, state: RAdamState, theta, *, eta, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, inplace=False
):
    r"""RAdam: Adam whose adaptive step is switched on gradually, by a variance rectifier, as ``torch.optim.RAdam``.

    .. math::
        \hat m^t = \frac{m^t}{1-\beta_1^t}, \qquad
        \theta^{t+1} = \theta^t - \eta\lambda\theta^t - \begin{cases}
            \eta\, r_t\, \hat m^t \big/ \bigl(\sqrt{v^t}/\sqrt{1-\beta_2^t} + \epsilon\bigr) & \rho_t > 5 \\
            \eta\, \hat m^t & \rho_t \le 5 \end{cases}

    with :math:`m^t, v^t` Adam's moments, :math:`\rho_t` from :func:`radam_rho` and :math:`r_t` from
    :func:`radam_rectifier`. While :math:`\rho_t \le 5` (the first 5 steps for :math:`\beta_2 = 0.999`) the
    variance of :math:`1/\sqrt{\hat v}` is unbounded and RAdam takes momentum SGD steps; afterwards it scales the
    adaptive step by :math:`r_t < 1`, which rises to 1 like a learning-rate warm-up of a few thousand steps.
    ``beta2`` must be a number (it chooses the branch); :math:`\lambda` = ``weight_decay`` is decoupled.

    References:
        L. Liu, H. Jiang, P. He, W. Chen, X. Liu, J. Gao and J. Han, "On the variance of the adaptive learning
        rate and beyond", ICLR 2020.
        PyTorch documentation, ``torch.optim.RAdam``.
    """
    t = state.t + 1
    if not (_is_number(weight_decay) and weight_decay == 0):
        if inplace:
            theta *= 1 - eta * weight_decay
        else:
            decay = -eta * weight_decay * theta
    m = ewma(state.m, g, beta1, inplace)
    v = ewma(state.v, g, beta2, inplace, square=True)
    r = radam_rectifier(t, beta2)
    if r is None:
        step = apply_step(theta, m, -eta / (1 - beta1**t), inplace=inplace)
    else:
        denom = sqrt(v)
        denom += eps
        step = apply_step(theta, m, -eta * r * (1 - beta2**t) ** 0.5 / (1 - beta1**t), denom, inplace)
    if not inplace and not (_is_number(weight_decay) and weight_decay == 0):
        step += decay
    return step, RAdamState(t, m, v)


class AdafactorState(NamedTuple):
    t: int  # steps taken
    r: Array | None  # row factor of the second moment, shape (..., n, 1), for a matrix (else None)
    c: Array | None  # column factor, shape (..., 1, m), for a matrix (else None)
    v: Array | None  # the second moment itself, for a vector (else None)


def adafactor_init(theta) -> AdafactorState:
    # the first update creates the factors: their shapes depend on batch_dims, which init cannot see
    return AdafactorState(0, None, None, None)


def adafactor_update(
    g,
    state: AdafactorState,
    theta,
    *,
    eta,
    beta2_decay=-0.8,
    eps1=None,
    eps2=1e-3,
    d=1.0,
    weight_decay=0.0,
    batch_dims=0,
    inplace=False,
):
    r"""Adafactor, torch's variant: a second moment stored as a row and a column factor.

    For a matrix gradient :math:`G^t \in \mathbb R^{n\times m}` (the last two axes of the parameter),

    .. math::
        \hat\beta_{2,t} = 1 - t^{\tau}, \qquad
        R^t = \hat\beta_{2,t} R^{t-1} + (1-\hat\beta_{2,t})\, \tfrac1m (G^t\odot G^t)\,1_m, \qquad
        C^t = \hat\beta_{2,t} C^{t-1} + (1-\hat\beta_{2,t})\, \tfrac1n 1_n^\top (G^t\odot G^t), \\
        \hat V^t = \frac{R^t C^t}{\max(\tfrac1n 1_n^\top R^t,\ \epsilon_1)}, \qquad
        U^t = \frac{G^t}{\max(\sqrt{\hat V^t}, \epsilon_1)}, \qquad
        \hat U^t = \frac{U^t}{\max(1, \mathrm{RMS}(U^t)/d)}, \\
        \rho_t = \min(\eta, 1/\sqrt t), \qquad
        \alpha_t = \max(\epsilon_2, \mathrm{RMS}(\theta^t))\,\rho_t, \qquad
        \theta^{t+1} = \theta^t - \eta\lambda\theta^t - \alpha_t\, \hat U^t

    :math:`R^t C^t` is the rank-one matrix closest (in the generalized KL sense) to the EWMA of
    :math:`G\odot G`, so :math:`n + m` numbers replace Adam's :math:`nm`. A vector parameter keeps the full
    :math:`V^t = \hat\beta_{2,t} V^{t-1} + (1-\hat\beta_{2,t})\, g\odot g` (:math:`n` numbers). The step is
    *relative*: :math:`\alpha_t` is proportional to the parameter's own RMS, and the update is clipped to an RMS
    of at most :math:`d`. :math:`\hat\beta_{2,1} = 0`, so no bias correction is needed. ``eps1=None`` is the
    machine epsilon of the dtype; :math:`\tau` = ``beta2_decay``; :math:`\lambda` = ``weight_decay``
    (decoupled, multiplied by :math:`\eta`, as torch does).

    The first ``batch_dims`` axes index independent copies (RMS and means are per copy); the rest are one
    parameter: a vector when one axis remains, else factored over the last two axes. Not elementwise, so not in
    :data:`RULES`; see :func:`on_points` and :func:`by_parameter`.

    References:
        N. Shazeer and M. Stern, "Adafactor: adaptive learning rates with sublinear memory cost", ICML 2018.
        PyTorch documentation, ``torch.optim.Adafactor`` (its use of :math:`\eta` and :math:`\epsilon_1`).
    """
    t = state.t + 1
    if eps1 is None:
        eps1 = float((sys.modules["torch"] if _is_tensor(theta) else np).finfo(theta.dtype).eps)
    weight = t**beta2_decay  # 1 - beta2_hat
    rho = _clamp(eta, hi=1 / t**0.5)
    alpha = _clamp(rms(theta, batch_dims), lo=eps2) * rho
    factored = np.ndim(theta) - batch_dims >= 2
    gg = g * g
    if factored:
        r = state.r if state.r is not None else zeros_like(theta[..., :1])
        c = state.c if state.c is not None else zeros_like(theta[..., :1, :])
        r = r.lerp_(_mean(gg, -1), weight) if inplace and _is_tensor(r) else lerp(r, _mean(gg, -1), weight)
        c = c.lerp_(_mean(gg, -2), weight) if inplace and _is_tensor(c) else lerp(c, _mean(gg, -2), weight)
        v = None
        v_hat = (r @ c) / _clamp(_mean(r, -2), lo=eps1)
    else:
        v = state.v if state.v is not None else zeros_like(theta)
        v = v.lerp_(gg, weight) if inplace and _is_tensor(v) else lerp(v, gg, weight)
        r = c = None
        v_hat = v
    u = g / sqrt(_clamp(v_hat, lo=eps1 * eps1))
    clip = _clamp(rms(u, batch_dims) / d, lo=1.0)
    new = AdafactorState(t, r, c, v)
    if not (_is_number(weight_decay) and weight_decay == 0):
        if inplace:
            theta *= 1 - eta * weight_decay
        else:
            return apply_step(theta, u, -alpha / clip) - eta * weight_decay * theta, new
    return apply_step(theta, u, -alpha / clip, inplace=inplace), new


class MuonState(NamedTuple):
    t: int  # steps taken
    b: Array  # momentum buffer


def muon_init(theta) -> MuonState:
    return MuonState(0, zeros_like(theta))


NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)  # Keller Jordan's quintic, torch.optim.Muon's default


def newton_schulz(G, steps=5, coefficients=NS_COEFFICIENTS, eps=1e-7):
    r"""Approximately orthogonalize every matrix of a stack ``(..., n, m)``: :math:`G = U\Sigma V^\top \mapsto
    \approx U V^\top`.

    .. math::
        X_0 = \frac{G}{\max(\lVert G\rVert_F, \epsilon)}, \qquad
        X_{k+1} = a X_k + \bigl(b\, X_k X_k^\top + c\, (X_k X_k^\top)^2\bigr) X_k

    (on :math:`G^\top` when :math:`n > m`, so that :math:`X X^\top` is the smaller Gram matrix). In the singular
    value decomposition each step maps every singular value :math:`\sigma` of :math:`X_k` to
    :math:`p(\sigma) = a\sigma + b\sigma^3 + c\sigma^5` and leaves the singular vectors alone. Dividing by the
    Frobenius norm puts all :math:`\sigma \in (0, 1]`; Jordan's coefficients make :math:`p` steep at 0, so five
    steps take every :math:`\sigma` that is not tiny into roughly :math:`[0.7, 1.2]`: the result is
    :math:`U S' V^\top`, :math:`S' \approx I`, an orthogonalization without an SVD, in matrix products only.

    References:
        K. Jordan, Y. Jin, V. Boza, J. You, F. Cesista, L. Newhouse and J. Bernstein, "Muon: an optimizer for
        hidden layers in neural networks", 2024, https://kellerjordan.github.io/posts/muon/
        N. J. Higham, *Functions of Matrices*, SIAM 2008, ch. 8 (Newton–Schulz iterations for the polar factor).
    """
    a, b, c = coefficients
    tall = G.shape[-2] > G.shape[-1]
    X = _mT(G) if tall else G
    X = X / _clamp(frobenius(X), lo=eps)
    for _ in range(steps):
        A = X @ _mT(X)
        B = b * A + c * (A @ A)
        X = a * X + B @ X
    return _mT(X) if tall else X


def _newton_schulz_fused(G, steps=5, coefficients=NS_COEFFICIENTS, eps=1e-7):
    # newton_schulz with torch.optim.Muon's own operations (addmm on a 2-D tensor, baddbmm on a stack): in
    # bfloat16 a different order of roundings gives visibly different numbers, so lib.optim.Muon uses this.
    torch = sys.modules["torch"]
    a, b, c = coefficients
    tall = G.size(-2) > G.size(-1)
    X = G.mT if tall else G
    if X.dim() == 2:
        X = X / X.norm().clamp(min=eps)
        for _ in range(steps):
            A = X @ X.T
            B = torch.addmm(A, A, A, beta=b, alpha=c)
            X = torch.addmm(X, B, X, beta=a)
    else:
        shape = X.shape
        X = X.reshape(-1, *shape[-2:])
        X = X / torch.linalg.vector_norm(X, dim=(-2, -1), keepdim=True).clamp(min=eps)
        for _ in range(steps):
            A = X @ X.mT
            B = torch.baddbmm(A, A, A, beta=b, alpha=c)
            X = torch.baddbmm(X, B, X, beta=a)
        X = X.reshape(shape)
    return X.mT if tall else X


def muon_lr_scale(shape, adjust_lr_fn=None):
    r"""Muon's learning-rate factor for an :math:`A\times B` matrix (the last two entries of ``shape``).

    ``None`` or ``"original"`` (Jordan): :math:`\sqrt{\max(1, A/B)}`; ``"match_rms_adamw"`` (Moonshot):
    :math:`0.2\sqrt{\max(A, B)}`, which gives the update the RMS of a typical AdamW update.
    """
    A, B = shape[-2], shape[-1]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return (max(1, A / B)) ** 0.5
    if adjust_lr_fn == "match_rms_adamw":
        return 0.2 * max(A, B) ** 0.5
    return 1.0


def muon_update(
    g,
    state: MuonState,
    theta,
    *,
    eta,
    beta=0.95,
    nesterov=True,
    weight_decay=0.1,
    ns_coefficients=NS_COEFFICIENTS,
    ns_steps=5,
    eps=1e-7,
    adjust_lr_fn=None,
    ns_dtype=None,
    inplace=False,
):
    r"""Muon: momentum on a matrix, orthogonalized before it is applied, as ``torch.optim.Muon`` computes it.

    .. math::
        B^t = \beta B^{t-1} + (1-\beta)\, G^t, \qquad
        \tilde B^t = \begin{cases} (1-\beta)\, G^t + \beta B^t & \text{Nesterov} \\ B^t & \text{otherwise} \end{cases},
        \qquad O^t = \mathrm{NS}_k(\tilde B^t) \approx U V^\top, \\
        \theta^{t+1} = \theta^t - \eta\lambda\theta^t - \eta\, s(A, B)\, O^t

    where :math:`\tilde B^t = U\Sigma V^\top` and :math:`\mathrm{NS}_k` is :func:`newton_schulz` (``ns_steps``
    = :math:`k` steps): the update keeps the directions of the momentum and sets all its singular values to
    about 1, so directions the gradient barely excites move as far as the dominant ones. :math:`s(A, B)` is
    :func:`muon_lr_scale`. ``theta`` is a matrix or a stack ``(..., A, B)`` of independent matrices (the leading
    axes: copies). ``ns_dtype`` is the dtype of the iteration (``None``: that of ``g``; ``torch.optim.Muon``
    runs it in ``torch.bfloat16``). For 2-D parameters only: not in :data:`RULES`; see :func:`on_points` and
    :func:`by_parameter`.

    References:
        K. Jordan et al., "Muon: an optimizer for hidden layers in neural networks", 2024,
        https://kellerjordan.github.io/posts/muon/
        J. Liu et al., "Muon is scalable for LLM training", arXiv:2502.16982, 2025 (``match_rms_adamw``).
        PyTorch documentation, ``torch.optim.Muon``.
    """
    b = ewma(state.b, g, beta, inplace)
    direction = lerp(g, b, beta) if nesterov else b
    orthogonalize = _newton_schulz_fused if inplace and _is_tensor(g) else newton_schulz
    O = _astype(orthogonalize(_astype(direction, ns_dtype), ns_steps, ns_coefficients, eps), g.dtype)  # noqa: E741
    scale = eta * muon_lr_scale(np.shape(theta), adjust_lr_fn)
    if inplace:
        theta *= 1 - eta * weight_decay
        return apply_step(theta, O, -scale, inplace=True), MuonState(state.t + 1, b)
    step = apply_step(theta, O, -scale)
    if not (_is_number(weight_decay) and weight_decay == 0):
        step -= eta * weight_decay * theta
    return step, MuonState(state.t + 1, b)


class LionState(NamedTuple):
    m: Array  # EWMA of the gradients (with beta2)


def lion_init(theta) -> LionState:
    return LionState(zeros_like(theta))


def lion_update(g, state: LionState, theta, *, eta, beta1=0.9, beta2=0.99, weight_decay=0.0, inplace=False):
    r"""Lion (evolved sign momentum): step along the sign of an interpolation of momentum and gradient.

    .. math::
        c^t = \beta_1 m^{t-1} + (1-\beta_1)\, g^t, \qquad
        \theta^{t+1} = \theta^t - \eta\,\bigl(\mathrm{sign}(c^t) + \lambda\theta^t\bigr), \qquad
        m^t = \beta_2 m^{t-1} + (1-\beta_2)\, g^t

    Every coordinate moves by exactly :math:`\eta` (without weight decay, where :math:`c^t \ne 0`): the
    gradient's size is forgotten, only its sign's history counts. Two coefficients: :math:`\beta_1` mixes the
    fresh gradient into the *step*, :math:`\beta_2 > \beta_1` keeps a longer memory in the *state*. One buffer,
    like heavy-ball momentum; the sign makes each step as large as Adam's largest, so the learning rate must be
    3 to 10 times smaller than AdamW's.

    References:
        X. Chen, C. Liang, D. Huang, E. Real, K. Wang, Y. Liu, H. Pham, X. Dong, T. Luong, C.-J. Hsieh, Y. Lu
        and Q. V. Le, "Symbolic discovery of optimization algorithms", NeurIPS 2023, Algorithm 2.
    """
    direction = sign(accumulate(state.m, g, beta1, 1 - beta1))  # a new array: m is not touched yet
    m = ewma(state.m, g, beta2, inplace)
    if not (_is_number(weight_decay) and weight_decay == 0):
        direction = direction + weight_decay * theta
    return apply_step(theta, direction, -eta, inplace=inplace), LionState(m)


class ScheduleFreeState(NamedTuple):
    t: int  # steps taken
    z: Array  # the base sequence: Adam-like steps from the gradients
    x: Array  # the average of the z's, the point to evaluate and to return
    v: Array  # EWMA of the squared gradients
    weight_sum: Any  # sum of the squared step sizes gamma_1^2 + ... + gamma_t^2


def schedule_free_init(theta) -> ScheduleFreeState:
    return ScheduleFreeState(0, _copy(theta), _copy(theta), zeros_like(theta), 0.0)


def schedule_free_adamw_update(
    g,
    state: ScheduleFreeState,
    theta,
    *,
    eta,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    weight_decay=0.0,
    warmup_steps=0,
    inplace=False,
):
    r"""Schedule-free AdamW: average the iterates instead of decaying the learning rate.

    The parameter :math:`\theta = y` is where the gradient is evaluated; the state carries two more sequences,

    .. math::
        v^t = \beta_2 v^{t-1} + (1-\beta_2)(g^t)^2, \qquad
        \gamma_t = \eta\,\sqrt{1-\beta_2^t}\,\min(1, t/T_\text{warmup}), \\
        z^{t+1} = z^t - \gamma_t\, \frac{g^t}{\sqrt{v^t} + \epsilon} - \gamma_t\lambda\, y^t, \qquad
        c_{t+1} = \frac{\gamma_t^2}{\sum_{i=1}^t \gamma_i^2}, \qquad
        x^{t+1} = (1 - c_{t+1})\, x^t + c_{t+1}\, z^{t+1}, \\
        y^{t+1} = (1-\beta_1)\, z^{t+1} + \beta_1\, x^{t+1}

    from :math:`z^1 = x^1 = y^1 = \theta^1`, with :math:`g^t = \nabla L(y^t)`. :math:`z` takes plain (Adam-scaled)
    gradient steps at a constant learning rate; :math:`x` is their running average, weighted by
    :math:`\gamma_t^2` (uniform after warm-up): Polyak–Ruppert averaging, which removes the noise a decaying
    schedule would otherwise have to remove; :math:`y` interpolates between the two, and :math:`\beta_1` plays
    the part of momentum. The model to evaluate is :math:`x` (``state.x``), not :math:`\theta = y`.
    ``warmup_steps=0``: no warm-up; :math:`\lambda` = ``weight_decay``, evaluated at :math:`y`.

    References:
        A. Defazio, X. Yang, H. Mehta, K. Mishchenko, A. Khaled and A. Cutkosky, "The road less scheduled",
        NeurIPS 2024, Algorithm 1.
    """
    t = state.t + 1
    v = ewma(state.v, g, beta2, inplace, square=True)
    gamma = eta * (1 - beta2**t) ** 0.5 * (min(1.0, t / warmup_steps) if warmup_steps else 1.0)
    denom = sqrt(v)
    denom += eps
    direction = g / denom
    if not (_is_number(weight_decay) and weight_decay == 0):
        direction += weight_decay * theta
    z = accumulate(state.z, direction, 1, -gamma, inplace)
    weight_sum = state.weight_sum + gamma**2
    c = gamma**2 / weight_sum if not (_is_number(weight_sum) and weight_sum == 0) else 0.0  # eta = 0: x stays
    x = state.x.lerp_(z, c) if inplace and _is_tensor(state.x) else lerp(state.x, z, c)
    if inplace and not _is_tensor(state.x):
        state.x[...] = x
        x = state.x
    y = lerp(z, x, beta1)
    return apply_step(theta, y - theta, inplace=inplace), ScheduleFreeState(t, z, x, v, weight_sum)


# ------------------------------------------------------------------------------- structured rules on stacks


def _per_copy(value, from_rows):
    # a hyperparameter as lib.trajectories passes it (a number or shape (d, starts): from_rows) or lib.train
    # (a number or shape (C, 1)), reshaped to (copies, 1, 1) to broadcast against a stack of matrices
    if np.ndim(value) == 0 or isinstance(value, tuple):
        return value
    return (value[0] if from_rows else value).reshape(-1, 1, 1)


def on_points(rule: Rule, name: str | None = None, label: str | None = None) -> Rule:
    r"""``rule`` (for stacks of matrices ``(..., n, m)``) on the stack of :func:`lib.trajectories.run`.

    :func:`lib.trajectories.run` hands a rule the points of all starts coordinate-major, shape ``(d, starts)``.
    Here every start's :math:`\theta \in \mathbb R^d` becomes a :math:`1\times d` matrix (a stack
    ``(starts, 1, d)``) for ``rule``, with per-start hyperparameters alongside, and the step goes back to
    ``(d, starts)``. For Muon the orthogonalization of a :math:`1\times d` matrix is its normalization,
    :math:`\theta \mapsto \theta / \lVert\theta\rVert`; for Adafactor the column factor of a single row is the
    full second moment.
    """
    extra = {"batch_dims": 1} if "batch_dims" in rule.defaults else {}

    def to_points(a):
        return _mT(a)[:, None, :]  # (d, S) -> (S, 1, d)

    def update(g, state, theta, *, eta, inplace=False, **hparams):
        hparams = {k: _per_copy(v, True) for k, v in hparams.items()}
        step, state = rule.update(to_points(g), state, to_points(theta), eta=_per_copy(eta, True), **hparams,
                                  **extra)
        step = _mT(step[:, 0, :])
        if inplace:
            theta += step
            return None, state
        return step, state

    def init(theta):
        return rule.init(to_points(theta))

    defaults = {k: v for k, v in rule.defaults.items() if k not in extra}
    return Rule(name or rule.name, label or rule.label, init, update, defaults)


def by_parameter(rule: Rule, shapes, *, vectors: Rule | None = None, vector_hparams=None, name=None,
                 label=None) -> Rule:
    r"""``rule`` (for stacks of matrices) on the ``(C, P)`` stack of :func:`lib.train.train_stacked`.

    The ``P`` columns of copy :math:`c` are its parameters, flattened in the order of ``shapes`` (the model's
    ``parameters()``). A parameter with two or more axes is handed to ``rule`` as a stack of matrices
    ``(C, n, m)`` (a convolution kernel ``(o, i, k, k)`` as ``(o, ik^2)``, as Muon is used for them); a vector
    ``(n,)`` as ``(C, 1, n)`` to ``rule``, or as ``(C, n)`` to ``vectors`` with ``vector_hparams`` (torch's
    advice for Muon: biases with AdamW), its ``eta`` then included. Per-copy hyperparameters (shape ``(C, 1)``)
    are reshaped to broadcast. Each copy computes what ``rule`` computes for it alone.
    """
    sizes = [int(np.prod(s)) for s in shapes]
    bounds = np.cumsum([0] + sizes).tolist()
    vector_hparams = dict(vector_hparams or {})
    extra = {"batch_dims": 1} if "batch_dims" in rule.defaults else {}

    def blocks(a):
        C = a.shape[0]
        for k, (lo, hi, s) in enumerate(zip(bounds[:-1], bounds[1:], shapes, strict=True)):
            flat = a[:, lo:hi]
            if len(s) >= 2:
                yield k, flat.reshape(C, s[0], -1), rule
            elif vectors is None:
                yield k, flat.reshape(C, 1, -1), rule
            else:
                yield k, flat, vectors

    def init(theta):
        return tuple(r.init(b) for _, b, r in blocks(theta))

    def update(g, state, theta, *, eta, inplace=False, **hparams):
        steps, states = [], []
        for (_, gb, r), (_, tb, _), s in zip(blocks(g), blocks(theta), state, strict=True):
            if r is rule:
                hp = {k: _per_copy(v, False) for k, v in hparams.items()}
                step, s = r.update(gb, s, tb, eta=_per_copy(eta, False), inplace=inplace, **hp, **extra)
            else:
                hp = {"eta": eta, **vector_hparams}
                step, s = r.update(gb, s, tb, inplace=inplace, **hp)
            steps.append(None if step is None else step.reshape(step.shape[0], -1))
            states.append(s)
        if inplace:  # each block stepped its view of theta (theta is contiguous, so every block is a view)
            return None, tuple(states)
        torch = sys.modules.get("torch")
        return (torch.cat(steps, 1) if _is_tensor(steps[0]) else np.concatenate(steps, 1)), tuple(states)

    defaults = {k: v for k, v in rule.defaults.items() if k not in extra}
    return Rule(name or rule.name, label or rule.label, init, update, defaults)


# Adafactor and Muon act on whole matrices and are left out of RULES (its rules are elementwise)
RULES.update({rule.name: rule for rule in (
    Rule("nadam", "NAdam", nadam_init, nadam_update,
         {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "momentum_decay": 4e-3, "weight_decay": 0.0}),
    Rule("radam", "RAdam", radam_init, radam_update, {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0}),
    Rule("lion", "Lion", lion_init, lion_update, {"beta1": 0.9, "beta2": 0.99, "weight_decay": 0.0}),
    Rule("schedule_free_adamw", "Schedule-free AdamW", schedule_free_init, schedule_free_adamw_update,
         {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0, "warmup_steps": 0}),
)})

ADAFACTOR = Rule("adafactor", "Adafactor", adafactor_init, adafactor_update,
                 {"beta2_decay": -0.8, "eps1": None, "eps2": 1e-3, "d": 1.0, "weight_decay": 0.0, "batch_dims": 0})
MUON = Rule("muon", "Muon", muon_init, muon_update,
            {"beta": 0.95, "nesterov": True, "weight_decay": 0.1, "ns_coefficients": NS_COEFFICIENTS, "ns_steps": 5,
             "eps": 1e-7, "adjust_lr_fn": None, "ns_dtype": None})
