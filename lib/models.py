r"""Small torch models with deterministic initialization from a seed.

Every constructor builds its layers on the ``meta`` device (so torch's default initialization does not draw
from, and does not advance, the global random generator), then initializes the parameters from a private
``torch.Generator`` seeded with ``seed``, using torch's default rule for ``Linear`` and ``Conv2d``:
:math:`W_{ij}, b_i \sim \mathcal U(-1/\sqrt{\text{fan\_in}}, 1/\sqrt{\text{fan\_in}})` (Kaiming-uniform with
:math:`a=\sqrt5`). Same seed, same parameters, whatever ran before; different seeds are the independent
copies :func:`lib.train.train_stacked` trains together.

The models contain no batch normalization or dropout, so they have no buffers and behave the same in
``train()`` and ``eval()`` mode, which is what the stacked (``torch.func``) training path needs.

References:
    He, K., Zhang, X., Ren, S. & Sun, J. (2015). Delving deep into rectifiers. ICCV.
    PyTorch documentation, ``torch.nn.Linear`` and ``torch.nn.Conv2d`` (default initialization).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["StackedMLP", "linear_regression", "logistic_regression", "mlp", "small_cnn"]

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


def _check_dtype(dtype: torch.dtype) -> None:
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")


def _materialize(model: nn.Module, seed: int) -> nn.Module:
    """Allocate a meta-device model on the CPU and initialize it from a generator seeded with ``seed``."""
    model = model.to_empty(device="cpu")
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear | nn.Conv2d):
                bound = 1.0 / math.sqrt(module.weight[0].numel())
                nn.init.uniform_(module.weight, -bound, bound, generator=generator)
                if module.bias is not None:
                    nn.init.uniform_(module.bias, -bound, bound, generator=generator)
    return model


def mlp(
    sizes: Sequence[int],
    activation: str = "tanh",
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> nn.Sequential:
    r"""A multilayer perceptron ``sizes[0] → sizes[1] → … → sizes[-1]``, activation between layers.

    :math:`h_0 = x,\ h_{k} = \phi(W_k h_{k-1} + b_k)` for the hidden layers and a linear output layer
    (logits for ``loss="cross_entropy"``); ``activation`` :math:`\phi` is ``"tanh"`` or ``"relu"``.
    ``mlp([64, 32, 10])`` is the digits network of the book.

    References:
        Goodfellow, Bengio & Courville, *Deep Learning* (2016), ch. 6.
    """
    sizes = list(sizes)
    if len(sizes) < 2 or any(not isinstance(s, int) or s < 1 for s in sizes):
        raise ValueError(f"sizes must be at least two positive integers, got {sizes}")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    _check_dtype(dtype)
    layers: list[nn.Module] = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        if k > 0:
            layers.append(_ACTIVATIONS[activation]())
        layers.append(nn.Linear(n_in, n_out, device="meta", dtype=dtype))
    return _materialize(nn.Sequential(*layers), seed)


def small_cnn(
    *,
    channels: tuple[int, int] = (8, 16),
    n_classes: int = 10,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> nn.Sequential:
    r"""A small all-convolutional net for ``(N, 1, 8, 8)`` digit images (``lib.data.digits().images()``).

    conv 3×3, stride 2 (``channels[0]``, 8×8 → 4×4) → ReLU → conv 3×3, stride 2 (``channels[1]``, 4×4 → 2×2)
    → ReLU → flatten (``channels[1]·2·2``) → linear → ``n_classes`` logits; padding 1 throughout. With the
    defaults it has 1 898 parameters (the ``mlp([64, 32, 10])`` has 2 410).

    Strided convolutions downsample instead of max-pooling (Springenberg et al.): on these tiny images
    torch's CPU ``max_pool2d`` costs more than the convolutions, under ``torch.func.vmap`` too, and the
    strided net reaches the same test accuracy on digits (about 97 %) in less than half the time (measured
    while writing this, torch 2.13, one thread).

    References:
        LeCun, Bottou, Bengio & Haffner (1998). Gradient-based learning applied to document recognition.
        Proc. IEEE 86(11).
        Springenberg, Dosovitskiy, Brox & Riedmiller (2015). Striving for simplicity: the all convolutional
        net. ICLR workshop.
    """
    c1, c2 = channels
    if c1 < 1 or c2 < 1 or n_classes < 1:
        raise ValueError(
            f"channels and n_classes must be positive, got channels={channels}, n_classes={n_classes}"
        )
    _check_dtype(dtype)
    model = nn.Sequential(
        nn.Conv2d(1, c1, 3, stride=2, padding=1, device="meta", dtype=dtype),
        nn.ReLU(),
        nn.Conv2d(c1, c2, 3, stride=2, padding=1, device="meta", dtype=dtype),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(c2 * 2 * 2, n_classes, device="meta", dtype=dtype),
    )
    return _materialize(model, seed)


def logistic_regression(
    n_features: int, n_classes: int = 10, *, seed: int = 0, dtype: torch.dtype = torch.float32
) -> nn.Linear:
    r"""Multinomial logistic regression: logits :math:`z = Wx + b`, trained with ``loss="cross_entropy"``.

    The loss is the negative log-likelihood of :math:`p = \operatorname{softmax}(z)`; it is convex in
    :math:`(W, b)`, the contrast to the non-convex :func:`mlp`.

    References:
        Bishop, *Pattern Recognition and Machine Learning* (2006), §4.3.4.
    """
    if n_features < 1 or n_classes < 2:
        raise ValueError(f"need n_features >= 1 and n_classes >= 2, got {n_features}, {n_classes}")
    _check_dtype(dtype)
    return _materialize(nn.Linear(n_features, n_classes, device="meta", dtype=dtype), seed)


def linear_regression(
    n_features: int, *, bias: bool = False, seed: int = 0, dtype: torch.dtype = torch.float64
) -> nn.Linear:
    r"""A linear model :math:`\hat y = \theta^\top x` with one output, for ``loss="mse"``.

    Bias-free by default, so its weight is exactly the ``theta`` of :class:`lib.data.LeastSquares` (whose
    design matrix carries its own column of ones where an intercept is wanted).

    References:
        Golub & Van Loan, *Matrix Computations* (4th ed., 2013), §5.3.
    """
    if n_features < 1:
        raise ValueError(f"n_features must be positive, got {n_features}")
    _check_dtype(dtype)
    return _materialize(nn.Linear(n_features, 1, bias=bias, device="meta", dtype=dtype), seed)


# ------------------------------------------------------------------------------------------- stacked copies
class StackedMLP:
    r"""``C`` copies of an :func:`mlp` (or one ``nn.Linear``) computed together on a ``(C, P)`` parameter tensor.

    Row :math:`c` of :math:`\Theta` holds copy :math:`c`'s parameters flattened in ``named_parameters`` order
    (the layout of :func:`lib.train.train_stacked`). Layer :math:`k` of every copy at once is one batched
    matrix product (``torch.baddbmm``), and the backward pass is written out, no autograd:

    .. math::
        a_k = h_{k-1} W_k^\top + b_k, \quad h_k = \phi(a_k), \qquad
        \frac{\partial L}{\partial W_k} = \delta_k^\top h_{k-1}, \quad
        \frac{\partial L}{\partial b_k} = \textstyle\sum_n \delta_{k,n}, \quad
        \delta_{k-1} = (\delta_k W_k) \odot \phi'(a_{k-1}),

    with :math:`\delta_K = \partial L / \partial a_K` given by the loss. :math:`\phi'` comes from the saved
    output (:math:`1 - h^2` for tanh, :math:`[h > 0]` for ReLU), through the same ATen kernels autograd uses.
    Copy :math:`c`'s numbers are those of the module alone up to rounding (equal order of operations per
    layer; tested in float64 by ``tests/test_train.py``).

    References:
        Rumelhart, Hinton & Williams (1986). Learning representations by back-propagating errors. Nature 323.
        Goodfellow, Bengio & Courville, *Deep Learning* (2016), §6.5.
    """

    def __init__(self, module: nn.Module, theta: torch.Tensor):
        layers = list(module) if isinstance(module, nn.Sequential) else [module]
        if not StackedMLP.supports(module):
            raise ValueError(f"StackedMLP takes an mlp or an nn.Linear, got {type(module).__name__}")
        C = theta.shape[0]
        self.theta = theta
        self.layers = []  # (W (C, out, in), b (C, 1, out) or None, activation after it or None)
        offset = 0
        for k, layer in enumerate(layers):
            if not isinstance(layer, nn.Linear):
                continue
            n_out, n_in = layer.weight.shape
            W = theta[:, offset:offset + n_out * n_in].view(C, n_out, n_in)
            offset += n_out * n_in
            b = None
            if layer.bias is not None:
                b = theta[:, offset:offset + n_out].view(C, 1, n_out)
                offset += n_out
            after = layers[k + 1] if k + 1 < len(layers) else None
            self.layers.append((W, b, type(after) if after is not None else None))
        if offset != theta.shape[1]:
            raise ValueError(f"theta has {theta.shape[1]} parameters per copy, the module {offset}")

    @staticmethod
    def supports(module: nn.Module) -> bool:
        """Whether ``module`` is an ``nn.Linear`` or a ``Sequential`` of ``Linear`` layers with tanh/ReLU between."""
        if isinstance(module, nn.Linear):
            return True
        if not isinstance(module, nn.Sequential) or len(module) == 0:
            return False
        kinds = [type(m) for m in module]
        return (all(k is nn.Linear for k in kinds[::2]) and all(k in (nn.Tanh, nn.ReLU) for k in kinds[1::2])
                and kinds[-1] is nn.Linear)

    def forward(self, x: torch.Tensor, keep: bool = False):
        """Outputs ``(C, B, out)`` of inputs ``(C, B, in)`` or shared ``(B, in)``; ``keep``: also each layer's input."""
        if x.dim() == 2:
            x = x.expand(self.theta.shape[0], *x.shape)
        inputs = []
        for W, b, act in self.layers:
            inputs.append(x)
            x = torch.baddbmm(b, x, W.transpose(1, 2)) if b is not None else torch.bmm(x, W.transpose(1, 2))
            if act is nn.Tanh:
                x = torch.tanh(x)
            elif act is nn.ReLU:
                x = torch.relu(x)
        return (x, inputs) if keep else x

    def backward(self, inputs: list[torch.Tensor], delta: torch.Tensor) -> torch.Tensor:
        """The ``(C, P)`` gradient of :math:`\\sum_c L_c` from ``delta`` :math:`= \\partial L/\\partial a_K`."""
        parts = []
        for k in range(len(self.layers) - 1, -1, -1):
            W, b, _ = self.layers[k]
            if b is not None:
                parts.append(delta.sum(1))
            parts.append(torch.bmm(delta.transpose(1, 2), inputs[k]).flatten(1))
            if k > 0:
                h = inputs[k]  # phi(a_{k-1}), the output of the activation before layer k
                d = torch.bmm(delta, W)
                act = self.layers[k - 1][2]
                delta = (torch.ops.aten.tanh_backward(d, h) if act is nn.Tanh
                         else torch.ops.aten.threshold_backward(d, h, 0))
        return torch.cat(parts[::-1], dim=1)
