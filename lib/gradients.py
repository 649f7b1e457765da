r"""Gradient norms: measuring them per layer, and clipping them (``torch.nn.utils.clip_grad_norm_``).

The **total norm** of the gradients :math:`g_1, \dots, g_K` of several tensors is the :math:`p`-norm of the
vector of their norms, which is the :math:`p`-norm of all entries at once,

.. math::
    \lVert g \rVert_p = \Bigl\lVert \bigl(\lVert g_1\rVert_p, \dots, \lVert g_K\rVert_p\bigr) \Bigr\rVert_p,
    \qquad \lVert g \rVert_\infty = \max_k \lVert g_k \rVert_\infty .

**Clipping by the global norm** rescales every gradient by one factor,

.. math::
    g_k \leftarrow g_k \cdot \min\Bigl(1, \frac{c}{\lVert g \rVert_p + 10^{-6}}\Bigr),

so that the update direction is kept and its length is capped at (about) the threshold :math:`c`
(``max_norm``). A gradient step :math:`\theta \leftarrow \theta - \eta g` can then move at most
:math:`\eta c`, however steep the loss is where it stands: the cure for exploding gradients of Pascanu et al.

References:
    Pascanu, R., Mikolov, T. & Bengio, Y. (2013). On the difficulty of training recurrent neural networks. ICML.
    PyTorch documentation, ``torch.nn.utils.clip_grad_norm_`` and ``torch.nn.utils.get_total_norm``.
"""

from __future__ import annotations

import types
import warnings
from collections.abc import Iterable

import torch
from torch import Tensor

__all__ = ["clip_by_total_norm", "clip_grad_norm_", "grad_norms", "total_norm"]


def total_norm(tensors: Tensor | Iterable[Tensor], norm_type: float = 2.0,
               error_if_nonfinite: bool = False) -> Tensor:
    r"""The :math:`p`-norm of several tensors viewed as one vector (``torch.nn.utils.get_total_norm``).

    ``norm_type`` may be ``float("inf")`` (or ``"inf"``): the largest absolute entry. No tensors: ``tensor(0.)``.

    Raises:
        RuntimeError: with ``error_if_nonfinite=True``, when the norm is NaN or infinite (torch's message).

    References:
        PyTorch ``torch.nn.utils.get_total_norm``.
    """
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return torch.tensor(0.0)
    with torch.no_grad():
        device = tensors[0].device
        norms = [torch.linalg.vector_norm(t, norm_type).to(device) for t in tensors]
        norm = torch.linalg.vector_norm(torch.stack(norms), norm_type)
    if error_if_nonfinite and torch.logical_or(norm.isnan(), norm.isinf()):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from "
            "`parameters` is non-finite, so it cannot be clipped. To disable "
            "this error and scale the gradients by the non-finite norm anyway, "
            "set `error_if_nonfinite=False`"
        )
    return norm


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    r"""Clip the gradients of ``parameters`` in place to a total norm of at most ``max_norm``; return the norm
    *before* clipping. Same signature, numbers and errors as ``torch.nn.utils.clip_grad_norm_``:

    .. math::
        N = \bigl\lVert (\lVert p.\text{grad}\rVert_p)_{p} \bigr\rVert_p, \qquad
        p.\text{grad} \leftarrow p.\text{grad}\cdot\min\Bigl(1, \frac{\texttt{max\_norm}}{N + 10^{-6}}\Bigr).

    Parameters without a gradient are skipped. ``foreach`` (torch's fused kernel choice) is accepted and
    ignored: the result is the same. An empty generator gives torch's warning and clips nothing.

    References:
        Pascanu, Mikolov & Bengio (2013), Algorithm 1; PyTorch ``torch.nn.utils.clip_grad_norm_``.
    """
    del foreach  # a speed option of torch's; the numbers do not depend on it
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if is_generator and not parameters:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.", stacklevel=2)
    grads = [p.grad for p in parameters if p.grad is not None]
    norm = total_norm(grads, norm_type, error_if_nonfinite)
    if grads:
        coef = torch.clamp(float(max_norm) / (norm + 1e-6), max=1.0)
        with torch.no_grad():
            for g in grads:
                g.mul_(coef.to(g.device))
    return norm


def grad_norms(parameters: Iterable[Tensor], norm_type: float = 2.0) -> Tensor:
    r"""The norm :math:`\lVert \partial L/\partial W_l \rVert_p` of each parameter's gradient, as a 1-D tensor
    (``NaN`` where a parameter has no gradient): the layer-wise picture of vanishing and exploding gradients.

    References:
        Glorot & Bengio (2010), §4.2 (back-propagated gradients per layer).
    """
    nan = torch.tensor(float("nan"), dtype=torch.float64)
    with torch.no_grad():
        return torch.stack([nan if p.grad is None else torch.linalg.vector_norm(p.grad, float(norm_type))
                            .to(torch.float64).cpu() for p in parameters])


def clip_by_total_norm(g: Tensor, max_norm, norm_type: float = 2.0, dim: int = -1) -> tuple[Tensor, Tensor]:
    r"""Clip each slice of ``g`` along ``dim`` to a ``norm_type``-norm of at most ``max_norm``, out of place;
    return ``(clipped, norms)``. The factor is :func:`clip_grad_norm_`'s,
    :math:`\min(1, c/(\lVert g\rVert_p + 10^{-6}))`, so on a stacked gradient of shape ``(C, P)`` (one row
    per copy, :func:`lib.train.train_stacked`) it clips every copy exactly as ``clip_grad_norm_`` clips that
    copy's parameters. ``max_norm`` may be a tensor that broadcasts against the norms (one threshold per copy).

    References:
        Pascanu, Mikolov & Bengio (2013), Algorithm 1.
    """
    norms = torch.linalg.vector_norm(g, float(norm_type), dim=dim, keepdim=True)
    coef = torch.clamp(max_norm / (norms + 1e-6), max=1.0)
    return g * coef, norms
