r"""Losses for classification and regression, written once: softmax, log-softmax, cross-entropy, MSE, accuracy.

The four ★ functions have ``torch.nn.functional``'s signatures and semantics (same arguments, same defaults,
same reductions, same numbers to rounding; oracle-tested in float64 against torch for values and gradients):

* :func:`softmax` :math:`\sigma(y)_i = e^{y_i} / \sum_j e^{y_j}` and :func:`log_softmax`
  :math:`\log\sigma(y)_i = y_i - \operatorname{logsumexp}(y)`, computed after subtracting the row maximum
  (no overflow, no ``NaN`` for logits of any finite size, e.g. :math:`\pm 10^4`);
* :func:`cross_entropy` :math:`\ell(y, c) = -\log\sigma(y)_c` with class-index targets (``weight``,
  ``ignore_index``, ``label_smoothing``) or with class-probability targets :math:`\ell = -\sum_i p_i
  \log\sigma(y)_i`;
* :func:`mse_loss` :math:`(x - t)^2`, reduced.

Around them: :func:`accuracy`, :func:`softmax_mse_loss` (the course's "mean squared error between the softmax
output and the one-hot target"), the stacked variants :func:`stacked_cross_entropy`, :func:`stacked_mse_loss`,
:func:`stacked_softmax_mse_loss` and :func:`stacked_accuracy` that take ``C`` stacked copies' outputs
``(C, B, ...)`` and return one value per copy ``(C,)`` (what ``lib.train.train_stacked`` needs), and the table
:data:`LOSSES` of the named losses a trainer accepts (:func:`resolve`).

**Errors.** Bad input raises ``ValueError`` (the house style) with torch's message where torch has one, e.g.
``"bad is not a valid value for reduction"``, ``"label_smoothing must be between 0.0 and 1.0. Got: 1.5"``,
``"Target 5 is out of bounds."``, ``"Expected input batch_size (4) to match target batch_size (3)."``
(torch raises ``RuntimeError``/``IndexError`` for some of these). One deliberate difference: a negative
``label_smoothing`` is an error here, while torch silently treats it as ``0``.

References:
    Bridle, J. S. (1990). Probabilistic interpretation of feedforward classification network outputs, with
    relationships to statistical pattern recognition. In *Neurocomputing*, Springer (the softmax).
    Goodfellow, I., Bengio, Y. & Courville, A. (2016). *Deep Learning*, MIT Press, §6.2.2 (softmax units,
    cross-entropy as maximum likelihood) and §4.1 (the stable softmax).
    Szegedy, C., Vanhoucke, V., Ioffe, S., Shlens, J. & Wojna, Z. (2016). Rethinking the Inception
    architecture for computer vision. CVPR, §7 (label smoothing).
    PyTorch documentation, ``torch.nn.functional.cross_entropy`` and ``aten/src/ATen/native/LossNLL.cpp``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import NamedTuple

import torch

__all__ = [
    "LOSSES",
    "Loss",
    "accuracy",
    "cross_entropy",
    "log_softmax",
    "mse_loss",
    "one_hot",
    "regression_mse_loss",
    "resolve",
    "softmax",
    "softmax_mse_loss",
    "stacked_accuracy",
    "stacked_cross_entropy",
    "stacked_cross_entropy_and_grad",
    "stacked_mse_loss",
    "stacked_softmax_mse_loss",
]

_REDUCTIONS = ("none", "mean", "sum")

# torch's short names of dtypes, as its C++ error messages print them
_DTYPE_NAMES = {
    torch.float64: "Double", torch.float32: "Float", torch.float16: "Half", torch.bfloat16: "BFloat16",
    torch.int64: "Long", torch.int32: "Int", torch.int16: "Short", torch.int8: "Char", torch.uint8: "Byte",
    torch.bool: "Bool",
}


# ------------------------------------------------------------------------------------------------- checks
def _reduction(reduction: str, size_average: bool | None = None, reduce: bool | None = None) -> str:
    """The reduction, torch's way: legacy ``size_average``/``reduce`` win (with torch's warning)."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
        warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{reduction}' "
                      "instead.", stacklevel=3)
    if reduction == "elementwise_mean":
        warnings.warn("reduction='elementwise_mean' is deprecated. Please use reduction='mean' instead.",
                      stacklevel=3)
        return "mean"
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return values
    return values.sum() if reduction == "sum" else values.mean()


def _dim(name: str, input: torch.Tensor, dim: int | None, stacklevel: int) -> int:
    """torch's implicit softmax dimension (with its deprecation warning) when ``dim`` is ``None``."""
    if dim is None:
        warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
                      "dim=X as an argument.", stacklevel=stacklevel)
        return 0 if input.dim() in (0, 1, 3) else 1
    return dim


# ------------------------------------------------------------------------------------------ softmax family
def log_softmax(input: torch.Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype: torch.dtype | None = None) -> torch.Tensor:
    r"""Log of the softmax along ``dim``, computed stably.

    .. math::
        \log\sigma(y)_i = y_i - \log\sum_j e^{y_j}
        = (y_i - m) - \log\sum_j e^{y_j - m}, \qquad m = \max_j y_j .

    Subtracting the maximum changes nothing mathematically (numerator and denominator of the softmax are both
    multiplied by :math:`e^{-m}`) but keeps every exponent :math:`\le 0`: no overflow, and the largest term of
    the sum is exactly 1, so its log is finite. Logits of :math:`\pm 10^4` give finite values and gradients.
    The shift is treated as a constant by autograd (``detach``): the result does not depend on it.

    Args are those of ``torch.nn.functional.log_softmax``: ``dim=None`` picks torch's implicit dimension (0
    for 0-, 1- and 3-D input, else 1) with torch's deprecation warning; ``dtype`` casts the input first.

    References:
        Goodfellow, Bengio & Courville (2016), *Deep Learning*, §4.1 and §6.2.2.3.
    """
    dim = _dim("log_softmax", input, dim, _stacklevel)
    if dtype is not None:
        input = input.to(dtype)
    m = input.detach().amax(dim, keepdim=True)
    m = torch.where(m == -torch.inf, torch.zeros_like(m), m)  # an all −inf row: torch's NaN, via 0/0 not inf−inf
    shifted = input - m
    return shifted - shifted.exp().sum(dim, keepdim=True).log()


def softmax(input: torch.Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype: torch.dtype | None = None) -> torch.Tensor:
    r"""Softmax along ``dim``: non-negative outputs that sum to one, the same order as the logits.

    .. math::
        \sigma(y)_i = \frac{e^{y_i}}{\sum_j e^{y_j}} = \frac{e^{y_i - m}}{\sum_j e^{y_j - m}},
        \qquad m = \max_j y_j,

    with the maximum subtracted for stability (see :func:`log_softmax`). Its Jacobian is
    :math:`\partial\sigma_i/\partial y_j = \sigma_i(\delta_{ij} - \sigma_j)`, which vanishes when one
    :math:`\sigma_i` is near 1: the reason a squared error *after* the softmax can stop learning.

    Args are those of ``torch.nn.functional.softmax``.

    References:
        Bridle (1990); Goodfellow, Bengio & Courville (2016), §6.2.2.3.
    """
    dim = _dim("softmax", input, dim, _stacklevel)
    if dtype is not None:
        input = input.to(dtype)
    m = input.detach().amax(dim, keepdim=True)
    m = torch.where(m == -torch.inf, torch.zeros_like(m), m)
    e = (input - m).exp()
    return e / e.sum(dim, keepdim=True)


def one_hot(target: torch.Tensor, num_classes: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    r"""One-hot encoding (独热编码): :math:`\hat y_{n,i} = [\,i = c_n\,]`, as a float tensor ``(*target.shape, K)``."""
    if num_classes < 1:
        raise ValueError(f"Invalid num_classes: {num_classes} (must be a positive integer)")
    _check_targets(target, num_classes, ignore_index=None)
    return (target.unsqueeze(-1) == torch.arange(num_classes, device=target.device)).to(dtype)


# ------------------------------------------------------------------------------------------ cross-entropy
def _check_targets(target: torch.Tensor, n_classes: int, ignore_index: int | None) -> None:
    if target.dtype not in (torch.int64, torch.uint8):
        raise ValueError(f"expected target dtype to be Long or Byte, but got "
                         f"{_DTYPE_NAMES.get(target.dtype, str(target.dtype))}")
    if torch._C._functorch.is_functorch_wrapped_tensor(target):
        # Under torch.func transforms (vmap) a data-dependent `if` cannot run; an out-of-range target then fails in
        # `gather`'s own index check.
        return
    valid = target != ignore_index if ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
    bad = valid & ((target < 0) | (target >= n_classes))
    if bool(bad.any()):
        raise ValueError(f"Target {int(target[bad].flatten()[0])} is out of bounds.")


def _check_weight(weight: torch.Tensor | None, n_classes: int, prefix: str = "") -> None:
    if weight is not None and (weight.dim() != 1 or weight.numel() != n_classes):
        raise ValueError(f"{prefix}weight tensor should be defined either for all {n_classes} classes or no "
                         f"classes but got weight tensor of shape: {list(weight.shape)}")


def _class_view(weight: torch.Tensor, input: torch.Tensor, class_dim: int) -> torch.Tensor:
    """``weight`` ``(K,)`` shaped to broadcast along ``class_dim`` of ``input``."""
    shape = [1] * input.dim()
    shape[class_dim] = -1
    return weight.view(shape)


def cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    r"""Cross-entropy (交叉熵) between the softmax of the logits ``input`` and the targets, as torch's.

    The classes are along dimension 1 of ``input`` ``(N, K, d_1, ...)`` (dimension 0 for a single ``(K,)``).
    With :math:`\log p_{n,i} = \log\sigma(y_n)_i` (:func:`log_softmax`) and class weights :math:`w_i`
    (all 1 without ``weight``):

    **Class-index targets** ``target`` ``(N, d_1, ...)`` of integers :math:`c_n` (``ignore_index`` entries
    contribute nothing). Per example

    .. math::
        \ell_n = -w_{c_n}\log p_{n,c_n},

    and with label smoothing :math:`\varepsilon` (标签平滑), the target :math:`(1-\varepsilon)\,\text{onehot}
    (c_n) + \varepsilon/K`:

    .. math::
        \ell_n = (1-\varepsilon)\bigl(-w_{c_n}\log p_{n,c_n}\bigr)
        + \frac{\varepsilon}{K}\Bigl(-\sum_i w_i \log p_{n,i}\Bigr).

    ``"mean"`` divides the sum by :math:`\sum_n w_{c_n}` over the examples not ignored (by their number
    without weights), ``"sum"`` sums, ``"none"`` returns :math:`\ell_n` (0 where ignored).

    **Class-probability targets** ``target`` of ``input``'s shape (floating point, e.g. a one-hot or soft
    label :math:`t_{n,i}`, smoothed as :math:`(1-\varepsilon)t_{n,i} + \varepsilon/K`):

    .. math::
        \ell_n = -\sum_i w_i\, t_{n,i} \log p_{n,i},

    and ``"mean"`` divides the sum by the number of examples :math:`N\,d_1\cdots` (not by the weights).

    With a one-hot target :math:`\ell_n = -\log p_{n,c_n}` is the negative log-likelihood of the label under
    the model :math:`p(c \mid x) = \sigma(y(x))_c`: minimizing the mean cross-entropy is maximum likelihood
    (最大似然).

    Args, defaults and the legacy ``size_average``/``reduce`` are those of
    ``torch.nn.functional.cross_entropy``.

    Raises:
        ValueError: torch's message for a bad ``reduction``, ``label_smoothing`` outside :math:`[0, 1]`, a
            target of the wrong dtype, shape or range, a ``weight`` of the wrong shape, or ``ignore_index``
            with probability targets.

    References:
        Goodfellow, Bengio & Courville (2016), §5.5 and §6.2.2.3; Szegedy et al. (2016), §7;
        PyTorch, ``aten/src/ATen/native/LossNLL.cpp`` (``cross_entropy_loss``).
    """
    reduction = _reduction(reduction, size_average, reduce)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if input.dim() == 0:
        raise ValueError("Dimension specified as 1 but tensor has no dimensions")
    class_dim = 0 if input.dim() == 1 else 1
    n_classes = input.shape[class_dim]
    if target.shape == input.shape:
        return _cross_entropy_probabilities(input, target, weight, reduction, label_smoothing, ignore_index,
                                            class_dim, n_classes)
    _check_weight(weight, n_classes)
    if input.dim() == 1:  # one example: (K,) against a 0-d target
        if target.dim() != 0:
            raise ValueError("0D or 1D target tensor expected, multi-target not supported")
        out = cross_entropy(input[None], target[None], weight, None, ignore_index, None, reduction, label_smoothing)
        return out[0] if reduction == "none" else out
    if target.dim() >= 1 and input.shape[0] != target.shape[0]:
        raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target batch_size "
                         f"({target.shape[0]}).")
    if input.dim() == 2 and target.dim() != 1:
        raise ValueError("0D or 1D target tensor expected, multi-target not supported")
    expected = [input.shape[0], *input.shape[2:]]
    if list(target.shape) != expected:
        raise ValueError(f"Expected target size {expected}, got {list(target.shape)}")
    _check_targets(target, n_classes, ignore_index)

    logp = log_softmax(input, class_dim)
    kept = target != ignore_index
    safe = torch.where(kept, target, torch.zeros_like(target)).long()
    w = weight[safe] if weight is not None else torch.ones(target.shape, dtype=logp.dtype, device=logp.device)
    w = w * kept
    nll = -logp.gather(class_dim, safe.unsqueeze(class_dim)).squeeze(class_dim) * w
    if label_smoothing > 0.0:
        weighted = logp * _class_view(weight, logp, class_dim) if weight is not None else logp
        smooth = -weighted.sum(class_dim) * kept
        eps = label_smoothing
        per_example = (1 - eps) * nll + (eps / n_classes) * smooth
    else:
        per_example = nll
    if reduction == "none":
        return per_example
    if reduction == "sum":
        return per_example.sum()
    return per_example.sum() / w.sum()


def _cross_entropy_probabilities(input, target, weight, reduction, label_smoothing, ignore_index, class_dim,
                                 n_classes) -> torch.Tensor:
    if not target.is_floating_point():
        raise ValueError("Expected floating point type for target with class probabilities, got "
                         f"{_DTYPE_NAMES.get(target.dtype, str(target.dtype))}")
    if ignore_index >= 0:
        raise ValueError("ignore_index is not supported for floating point target")
    _check_weight(weight, n_classes, prefix="cross_entropy: ")
    logp = log_softmax(input, class_dim)
    if label_smoothing > 0.0:
        target = target * (1 - label_smoothing) + label_smoothing / n_classes
    terms = logp * target
    if weight is not None:
        terms = terms * _class_view(weight, logp, class_dim)
    if reduction == "none":
        return -terms.sum(class_dim)
    if reduction == "sum":
        return -terms.sum()
    if input.numel() == 0:
        return -terms.sum() * float("nan")
    return -terms.sum() / (input.numel() / n_classes)


# ---------------------------------------------------------------------------------------------------- MSE
def mse_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Mean squared error (均方误差), as ``torch.nn.functional.mse_loss``.

    .. math::
        \ell_j = w_j\,(x_j - t_j)^2, \qquad
        \text{mean} = \frac{\sum_j \ell_j}{\sum_j w_j} \ (= \text{the average without weights}),

    over all elements :math:`j` of ``input`` and ``target`` broadcast together (with torch's warning when
    their sizes differ); ``"sum"`` sums, ``"none"`` returns :math:`\ell`.

    References:
        PyTorch documentation, ``torch.nn.functional.mse_loss``.
    """
    if target.shape != input.shape:
        warnings.warn(f"Using a target size ({target.size()}) that is different to the input size "
                      f"({input.size()}). This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", stacklevel=2)
    if weight is not None:
        if size_average is not None or reduce is not None:
            reduction = _reduction(reduction, size_average, reduce)
        x, t = torch.broadcast_tensors(input, target)
        if weight.shape != input.shape:
            raise ValueError("Weights and input must have the same size.")
        terms = (x - t) ** 2 * weight
        if reduction not in _REDUCTIONS:
            raise ValueError(f"Invalid reduction mode: {reduction}. Expected one of 'none', 'mean', 'sum'.")
        if reduction == "mean":
            return terms.sum() / weight.sum()
        return _reduce(terms, reduction)
    reduction = _reduction(reduction, size_average, reduce)
    x, t = torch.broadcast_tensors(input, target)
    return _reduce((x - t) ** 2, reduction)


def softmax_mse_loss(input: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    r"""The course's squared error for classification: MSE between :math:`\sigma(y)` and the one-hot target.

    .. math::
        \ell_n = \frac{1}{K}\sum_{i=1}^{K} \bigl(\sigma(y_n)_i - \hat y_{n,i}\bigr)^2,
        \qquad \hat y_n = \text{onehot}(c_n),

    i.e. ``mse_loss(softmax(input, class_dim), one_hot(target))`` with the classes along dimension 1 of
    ``input`` (0 for a single ``(K,)``) as in :func:`cross_entropy`. ``target`` holds class indices
    ``(N, ...)``, or probabilities of ``input``'s shape. ``"mean"`` averages over the :math:`N K` entries
    (torch's ``mse_loss``), ``"sum"`` sums them (LeeDL's :math:`e = \sum_i (\hat y_i - y'_i)^2` for one
    example), ``"none"`` gives :math:`\ell_n` per example (the mean over the classes).

    References:
        LeeDL (Hung-yi Lee), *Classification* (mean squared error vs cross-entropy); Golik, Doetsch & Ney (2013).
    """
    reduction = _reduction(reduction)
    class_dim = 0 if input.dim() == 1 else 1
    n_classes = input.shape[class_dim]
    if target.shape != input.shape:
        target = one_hot(target, n_classes, input.dtype).movedim(-1, class_dim)
    squared = (softmax(input, class_dim) - target.to(input.dtype)) ** 2
    if reduction == "none":
        return squared.mean(class_dim)
    return _reduce(squared, reduction)


def accuracy(input: torch.Tensor, target: torch.Tensor, dim: int = -1) -> torch.Tensor:
    r"""Fraction of examples whose largest logit is the target: :math:`\frac1N\sum_n [\arg\max_i y_{n,i} = c_n]`.

    ``target`` holds class indices (shape of ``input`` without ``dim``) or, with ``input``'s shape, class
    probabilities (compared through their argmax). Returned as a 0-d tensor of ``input``'s floating dtype.
    The classes are along the *last* dimension by default (a network's output ``(N, K)``).
    """
    if target.shape == input.shape:
        target = target.argmax(dim)
    dtype = input.dtype if input.is_floating_point() else torch.float64
    return (input.argmax(dim) == target).to(dtype).mean()


# --------------------------------------------------------------------------------------- stacked copies
def _stack_targets(out: torch.Tensor, target: torch.Tensor, event_dims: int) -> torch.Tensor:
    """``target`` ``(C, B, ...)``, also when one set of targets ``(B, ...)`` is shared by all copies."""
    if target.dim() == out.dim() - event_dims - 1:
        target = target.expand(out.shape[0], *target.shape)
    return target


def stacked_cross_entropy(input: torch.Tensor, target: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    r"""Each copy's mean cross-entropy: logits ``(C, B, K)``, labels ``(C, B)`` (or shared ``(B,)``) → ``(C,)``.

    .. math:: L_c = \frac1B \sum_n -\log\sigma(y_{c,n})_{t_{c,n}}

    One :func:`cross_entropy` over the flattened ``(C B, K)`` stack, then a mean per copy: exactly what
    :func:`cross_entropy` gives for each copy alone, with one kernel instead of ``C`` (or a ``vmap``).
    """
    target = _stack_targets(input, target, 1)
    per_example = cross_entropy(input.reshape(-1, input.shape[-1]), target.reshape(-1), reduction="none",
                                label_smoothing=label_smoothing)
    return per_example.view(input.shape[0], -1).mean(1)


def stacked_softmax_mse_loss(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Each copy's :func:`softmax_mse_loss` (mean over examples and classes): ``(C, B, K)``, ``(C, B)`` → ``(C,)``."""
    target = _stack_targets(input, target, 1)
    per_example = softmax_mse_loss(input.reshape(-1, input.shape[-1]), target.reshape(-1), reduction="none")
    return per_example.view(input.shape[0], -1).mean(1)


def _squeeze_one_output(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # a one-output model gives (..., B, 1) against targets (..., B)
    if out.dim() == target.dim() + 1 and out.shape[-1] == 1:
        return out.squeeze(-1)
    return out


def regression_mse_loss(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Mean squared error of a regression model, :func:`mse_loss` after squeezing a one-output ``(B, 1)``
    against targets ``(B,)`` (so the two are not broadcast to ``(B, B)``)."""
    return mse_loss(_squeeze_one_output(input, target), target.to(input.dtype))


def stacked_mse_loss(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Each copy's mean squared error: outputs ``(C, B, ...)`` vs targets ``(C, B, ...)`` (or shared) → ``(C,)``.

    A one-output model's ``(C, B, 1)`` is compared with targets ``(C, B)`` or shared ``(B,)`` (squeezed, not
    broadcast); shared targets ``(B, ...)`` of a copy's output shape are expanded over the copies.
    """
    C = input.shape[0]
    if input.shape[-1] == 1 and target.shape == input.shape[1:-1]:
        target = target.expand(C, *target.shape)  # shared (B,) against (C, B, 1)
    elif target.shape == input.shape[1:]:
        target = target.expand(C, *target.shape)  # shared (B, ...) against (C, B, ...)
    out = _squeeze_one_output(input, target)
    squared = mse_loss(out, target.to(out.dtype), reduction="none")
    return squared.reshape(C, -1).mean(1)


def stacked_accuracy(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Each copy's accuracy: logits ``(C, B, K)``, labels ``(C, B)`` (or shared ``(B,)``) → ``(C,)``."""
    target = _stack_targets(input, target, 1)
    dtype = input.dtype if input.is_floating_point() else torch.float64
    return (input.argmax(-1) == target).to(dtype).reshape(input.shape[0], -1).mean(1)


# -------------------------------------------------------------------------------------------- the table
class Loss(NamedTuple):
    """A named loss a trainer accepts.

    Attributes:
        name: its name (``"cross_entropy"``, ``"softmax_mse"``, ``"mse"``).
        fn: ``(output (B, ...), target (B, ...)) -> 0-d mean loss``.
        stacked: ``(outputs (C, B, ...), targets (C, B, ...) or (B, ...)) -> (C,)``, each copy's ``fn``.
        classification: whether targets are class indices (cast to ``long``) and accuracy is measured
            (:func:`accuracy` / :func:`stacked_accuracy` on the outputs taken as logits).
    """

    name: str
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    stacked: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    classification: bool


def _cross_entropy_mean(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return cross_entropy(input, target)


def _softmax_mse_mean(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return softmax_mse_loss(input, target)


LOSSES: dict[str, Loss] = {
    "cross_entropy": Loss("cross_entropy", _cross_entropy_mean, stacked_cross_entropy, True),
    "softmax_mse": Loss("softmax_mse", _softmax_mse_mean, stacked_softmax_mse_loss, True),
    "mse": Loss("mse", regression_mse_loss, stacked_mse_loss, False),
}


def resolve(loss: str | Loss) -> Loss:
    """The :class:`Loss` named ``loss`` (one of :data:`LOSSES`); a :class:`Loss` is returned as is."""
    if isinstance(loss, Loss):
        return loss
    if loss not in LOSSES:
        raise ValueError(f"Invalid loss: {loss!r} (expected one of {sorted(LOSSES)})")
    return LOSSES[loss]


def stacked_cross_entropy_and_grad(input: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r""":func:`stacked_cross_entropy` and its gradient with respect to the logits, without autograd.

    Logits ``(C, B, K)``, labels ``(C, B)`` → ``(L (C,), G (C, B, K))`` with

    .. math:: L_c = -\frac1B \sum_n \log\sigma(y_{c,n})_{t_{c,n}}, \qquad
        G_{c,n,i} = \frac{\partial \sum_c L_c}{\partial y_{c,n,i}} = \frac{\sigma(y_{c,n})_i - [i = t_{c,n}]}{B}.

    For a hand-written backward pass (``lib.models.StackedMLP``): one :func:`log_softmax` serves both.

    References:
        Goodfellow, Bengio & Courville (2016), §6.2.2.3.
    """
    target = _stack_targets(input, target, 1)
    logp = log_softmax(input, -1)
    index = target.unsqueeze(-1)
    values = logp.gather(-1, index).mean((1, 2)).neg_()
    grad = logp.exp_().scatter_add_(-1, index, torch.full(index.shape, -1.0, dtype=logp.dtype, device=logp.device))
    return values, grad.div_(input.shape[1])
