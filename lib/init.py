r"""Weight initialization with ``torch.nn.init``'s signatures: same generator, same numbers.

Every function fills ``tensor`` **in place** (under ``torch.no_grad()``, so a parameter that requires gradients
can be filled) and returns it. The shape conventions are torch's: a weight of shape
``(fan_out, fan_in, *kernel)`` (``nn.Linear`` stores ``(out_features, in_features)``, ``nn.Conv2d``
``(out_channels, in_channels, kh, kw)``), so

.. math::
    \text{fan\_in} = \texttt{size(1)} \cdot r, \qquad \text{fan\_out} = \texttt{size(0)} \cdot r, \qquad
    r = \textstyle\prod_{k \ge 2} \texttt{size(k)} \ \text{(the receptive field)} .

The schemes keep the variance of a signal constant from layer to layer. A layer :math:`h' = W\phi(h)` with
independent weights of variance :math:`\sigma^2` multiplies the second moment of the forward signal by
:math:`\text{fan\_in}\,\sigma^2\,\mathbb E[\phi(h)^2]/\mathbb E[h^2]` and that of the backward signal by
:math:`\text{fan\_out}\,\sigma^2\,\mathbb E[\phi'(h)^2]`; the ``gain`` of :func:`calculate_gain` corrects for the
activation, so :math:`\sigma = \text{gain}/\sqrt{\text{fan}}` keeps one of the two (He) or a compromise of both
(Glorot) at one.

References:
    Glorot, X. & Bengio, Y. (2010). Understanding the difficulty of training deep feedforward neural networks.
    AISTATS.
    He, K., Zhang, X., Ren, S. & Sun, J. (2015). Delving deep into rectifiers: surpassing human-level
    performance on ImageNet classification. ICCV.
    Saxe, A. M., McClelland, J. L. & Ganguli, S. (2014). Exact solutions to the nonlinear dynamics of learning
    in deep linear neural networks. ICLR.
    Mezzadri, F. (2007). How to generate random matrices from the classical compact groups. Notices of the AMS.
    PyTorch documentation, ``torch.nn.init``.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor

__all__ = [
    "calculate_gain",
    "fan_in_and_fan_out",
    "kaiming_normal_",
    "kaiming_uniform_",
    "orthogonal_",
    "xavier_normal_",
    "xavier_uniform_",
]

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


def calculate_gain(nonlinearity: str, param: int | float | None = None) -> float:
    r"""The recommended gain for an activation, as ``torch.nn.init.calculate_gain``.

    ============================ ==============================================================
    nonlinearity                 gain
    ============================ ==============================================================
    linear, conv*, sigmoid       :math:`1`
    tanh                         :math:`5/3`
    relu                         :math:`\sqrt 2`
    leaky_relu (slope ``param``)  :math:`\sqrt{2/(1 + \text{param}^2)}`, ``param`` default 0.01
    selu                         :math:`3/4`
    ============================ ==============================================================

    For ReLU the gain follows from :math:`\mathbb E[\mathrm{relu}(h)^2] = \tfrac12 \mathbb E[h^2]` for a
    symmetric :math:`h` (He et al.); the tanh and SELU values are torch's conventions (tanh's 5/3 is a
    rule of thumb, not a derivation; the sigmoid's 1 ignores that :math:`\sigma'(0) = 1/4`).

    Raises:
        ValueError: ``"Unsupported nonlinearity <name>"`` or ``"negative_slope <param> not a valid number"``.

    References:
        He et al. (2015), §2.2; PyTorch documentation, ``torch.nn.init.calculate_gain``.
    """
    if nonlinearity in _LINEAR or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif (not isinstance(param, bool) and isinstance(param, int)) or isinstance(param, float):
            negative_slope = param  # True/False are ints: rejected above
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    r"""``(fan_in, fan_out)`` of a weight of shape ``(fan_out, fan_in, *kernel)``: ``size(1)·r`` and ``size(0)·r``
    with :math:`r` the product of the trailing (kernel) sizes.

    Raises:
        ValueError: for a tensor with fewer than 2 dimensions (torch's message).

    References:
        PyTorch ``torch.nn.init._calculate_fan_in_and_fan_out``.
    """
    if tensor.dim() < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive_field = math.prod(tensor.shape[2:])
    return tensor.size(1) * receptive_field, tensor.size(0) * receptive_field


def _fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower()
    valid_modes = ["fan_in", "fan_out"]
    if mode not in valid_modes:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid_modes}")
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
    r"""Glorot/Xavier uniform: :math:`W_{ij} \sim \mathcal U(-a, a)` in place, with

    .. math::
        a = \text{gain}\cdot\sqrt{\frac{6}{\text{fan\_in} + \text{fan\_out}}}, \qquad
        \operatorname{Var} W_{ij} = \frac{a^2}{3} = \text{gain}^2\,\frac{2}{\text{fan\_in} + \text{fan\_out}} .

    The variance is the harmonic compromise between :math:`1/\text{fan\_in}` (forward signal preserved) and
    :math:`1/\text{fan\_out}` (backward signal preserved) for an activation that is linear near 0 (tanh).

    References:
        Glorot & Bengio (2010), eq. (16); PyTorch ``torch.nn.init.xavier_uniform_``.
    """
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std  # the uniform bound with this standard deviation
    with torch.no_grad():
        return tensor.uniform_(-a, a, generator=generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
    r"""Glorot/Xavier normal: :math:`W_{ij} \sim \mathcal N(0, \sigma^2)` in place, with

    .. math::
        \sigma = \text{gain}\cdot\sqrt{\frac{2}{\text{fan\_in} + \text{fan\_out}}} .

    References:
        Glorot & Bengio (2010); PyTorch ``torch.nn.init.xavier_normal_``.
    """
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    with torch.no_grad():
        return tensor.normal_(0.0, std, generator=generator)


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""He/Kaiming uniform: :math:`W_{ij} \sim \mathcal U(-b, b)` in place, with

    .. math::
        b = \text{gain}\cdot\sqrt{\frac{3}{\text{fan\_mode}}}, \qquad
        \operatorname{Var} W_{ij} = \frac{\text{gain}^2}{\text{fan\_mode}},

    ``gain = calculate_gain(nonlinearity, a)`` (``a``: the negative slope of a leaky ReLU; the defaults give
    :math:`\sqrt{2/(1 + 0^2)} = \sqrt 2`, the ReLU gain). ``mode="fan_in"`` keeps the forward signal's second
    moment constant through ReLU layers, ``"fan_out"`` the backward one's. A tensor with a zero-size dimension
    is left as it is, with torch's warning. ``torch.nn.Linear``'s own default is this with ``a = √5``.

    References:
        He et al. (2015), eqs. (10) and (14); PyTorch ``torch.nn.init.kaiming_uniform_``.
    """
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    fan = _fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    std = gain / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    with torch.no_grad():
        return tensor.uniform_(-bound, bound, generator=generator)


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""He/Kaiming normal: :math:`W_{ij} \sim \mathcal N(0, \sigma^2)` in place, with

    .. math::
        \sigma = \frac{\text{gain}}{\sqrt{\text{fan\_mode}}}, \qquad
        \text{gain} = \texttt{calculate\_gain(nonlinearity, a)} .

    For ReLU (:math:`\text{gain}^2 = 2`) a layer then multiplies :math:`\mathbb E[h^2]` by exactly
    :math:`\text{fan\_in}\cdot\frac{2}{\text{fan\_in}}\cdot\frac12 = 1`.

    References:
        He et al. (2015), eq. (10); PyTorch ``torch.nn.init.kaiming_normal_``.
    """
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    fan = _fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    std = gain / math.sqrt(fan)
    with torch.no_grad():
        return tensor.normal_(0, std, generator=generator)


def orthogonal_(tensor: Tensor, gain: float = 1, generator: torch.Generator | None = None) -> Tensor:
    r"""A (semi-)orthogonal matrix times ``gain``, in place; trailing dimensions are flattened.

    With ``rows = size(0)`` and ``cols = numel/rows``, draw :math:`A \in \mathbb R^{\max \times \min}` with
    i.i.d. :math:`\mathcal N(0, 1)` entries, factor :math:`A = QR`, and fix the signs,
    :math:`Q \leftarrow Q\,\operatorname{diag}(\operatorname{sign} R_{ii})`, so that :math:`Q` is uniformly
    (Haar) distributed (Mezzadri 2007); transpose back if ``rows < cols``. Then :math:`W = \text{gain}\cdot Q`
    has :math:`W W^\top = \text{gain}^2 I` (rows ≤ cols) or :math:`W^\top W = \text{gain}^2 I`: every singular
    value equals ``gain``, so a deep *linear* network of such layers preserves the norm of every signal and
    every gradient exactly (dynamical isometry, Saxe et al. 2014).

    Raises:
        ValueError: ``"Only tensors with 2 or more dimensions are supported"``.

    References:
        Saxe, McClelland & Ganguli (2014); Mezzadri (2007); PyTorch ``torch.nn.init.orthogonal_``.
    """
    if tensor.ndimension() < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0 or tensor.is_meta:
        return tensor
    rows = tensor.size(0)
    cols = tensor.numel() // rows
    flattened = tensor.new_empty((rows, cols)).normal_(0, 1, generator=generator)
    if rows < cols:
        flattened.t_()
    q, r = torch.linalg.qr(flattened)
    q *= torch.diag(r, 0).sign()
    if rows < cols:
        q.t_()
    with torch.no_grad():
        tensor.view_as(q).copy_(q)
        tensor.mul_(gain)
    return tensor
