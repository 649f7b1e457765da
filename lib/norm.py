r"""Batch normalization, written once: the functional form and a drop-in ``BatchNorm1d``.

For an input :math:`z` of shape ``(N, C)`` or ``(N, C, L)`` (``N`` examples, ``C`` channels or features, ``L``
positions), every channel :math:`c` is normalized with statistics taken over the :math:`n = N L` values it has in
the batch,

.. math::
    \mu_c = \frac1n \sum_i z_{ic}, \qquad \sigma_c^2 = \frac1n \sum_i (z_{ic} - \mu_c)^2, \qquad
    \tilde z_{ic} = \frac{z_{ic} - \mu_c}{\sqrt{\sigma_c^2 + \epsilon}}, \qquad
    \hat z_{ic} = \gamma_c \tilde z_{ic} + \beta_c ,

with a learned scale :math:`\gamma` (``weight``) and shift :math:`\beta` (``bias``). In training mode the batch
statistics are used and the running statistics are updated in place,

.. math::
    \bar\mu \leftarrow (1 - m)\,\bar\mu + m\,\mu, \qquad
    \bar\sigma^2 \leftarrow (1 - m)\,\bar\sigma^2 + m\,\frac{n}{n-1}\,\sigma^2 ,

where :math:`m` is torch's ``momentum`` (default 0.1). Hung-yi Lee's course writes the same average with the
weight of the *old* value, :math:`\bar\mu \leftarrow p\,\bar\mu + (1-p)\,\mu`: so :math:`p = 1 - m`, and
torch's default is :math:`p = 0.9`. The running variance averages the *unbiased* batch variance (divided by
:math:`n - 1`), while the normalization itself divides by :math:`n`. In evaluation mode the running statistics
replace the batch statistics: :math:`\tilde z = (z - \bar\mu)/\sqrt{\bar\sigma^2 + \epsilon}`, the same
function for every example, whatever else is in the batch.

``momentum=None`` (the module only): the running statistics are the plain *cumulative* average of all batch
statistics seen so far, :math:`m_k = 1/k` at the :math:`k`-th training batch (``num_batches_tracked``).
``torch.nn.functional.batch_norm`` has no such mode (it raises a ``TypeError`` for ``momentum=None``);
``torch.nn.BatchNorm1d`` implements it by passing ``1/num_batches_tracked`` as the momentum, and so does
:class:`BatchNorm1d` here.

References:
    S. Ioffe and C. Szegedy (2015), Batch normalization: accelerating deep network training by reducing
    internal covariate shift, ICML, Algorithms 1 and 2.
    PyTorch documentation, ``torch.nn.functional.batch_norm`` and ``torch.nn.BatchNorm1d`` (torch 2.13).
    Hung-yi Lee, Machine Learning 2021/2022, lecture on batch normalization (the running average with p).
"""

from __future__ import annotations

import torch
from torch import nn

from lib import checks

__all__ = ["BatchNorm1d", "batch_norm", "batch_statistics"]


def _verify_batch_size(size: torch.Size) -> None:
    """torch's check: training needs more than one value per channel (N·L > 1), with torch's exact message."""
    values = size[0]
    for extent in size[2:]:
        values *= extent
    if values == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {size}")


def _check_channels(name: str, tensor: torch.Tensor | None, channels: int) -> None:
    if tensor is not None and tensor.numel() != channels:
        raise ValueError(f"{name} should contain {channels} elements not {tensor.numel()}")


def batch_statistics(input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    r"""Per-channel mean :math:`\mu_c`, biased variance :math:`\sigma_c^2` and count :math:`n = N L` of a batch.

    ``input`` has shape ``(N, C, ...)``; the statistics have shape ``(C,)``.

    References:
        Ioffe & Szegedy (2015), Algorithm 1.
    """
    dims = [0, *range(2, input.dim())]
    n = input.numel() // input.shape[1]
    mean = input.mean(dim=dims)
    var = input.var(dim=dims, unbiased=False)
    return mean, var, n


def batch_norm(
    input: torch.Tensor,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> torch.Tensor:
    r"""Batch normalization with the semantics of ``torch.nn.functional.batch_norm``.

    .. math::
        \hat z = \gamma\,\frac{z - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta, \qquad
        (\mu, \sigma^2) = \begin{cases} \text{batch mean and biased variance} & \text{training} \\
        (\bar\mu, \bar\sigma^2) = (\texttt{running\_mean}, \texttt{running\_var}) & \text{evaluation}
        \end{cases}

    per channel (dimension 1; the statistics are taken over dimension 0 and every dimension after 1). In
    training mode, when ``running_mean``/``running_var`` are given they are updated **in place**,
    :math:`\bar\mu \leftarrow (1-m)\bar\mu + m\mu`, :math:`\bar\sigma^2 \leftarrow (1-m)\bar\sigma^2 +
    m\,\tfrac{n}{n-1}\sigma^2` with :math:`m` = ``momentum`` (the course's :math:`p = 1 - m`); the update is
    not part of the autograd graph. In evaluation mode they are required (torch's ``RuntimeError`` otherwise).

    Args:
        input: ``(N, C)``, ``(N, C, L)`` (or more trailing dimensions), floating point.
        running_mean, running_var: ``(C,)`` buffers, or both ``None`` (training mode only).
        weight, bias: the learned scale :math:`\gamma` and shift :math:`\beta`, ``(C,)``, or ``None``
            (:math:`\gamma = 1`, :math:`\beta = 0`).
        training: use (and track) batch statistics instead of the running ones.
        momentum: the weight :math:`m` of the new batch statistic; a float, as in torch's functional form
            (``None`` raises torch's ``TypeError``: the cumulative average is :class:`BatchNorm1d`'s).
        eps: :math:`\epsilon` added to the variance; ``> 0`` in training, ``>= 0`` in evaluation.

    Errors follow torch: one value per channel in training mode is a ``ValueError`` ("Expected more than 1 value
    per channel when training, ..."), so is a bad ``eps`` or only one of the two running buffers.

    References:
        Ioffe & Szegedy (2015), Algorithms 1 and 2; PyTorch, ``torch.nn.functional.batch_norm``.
    """
    if not isinstance(input, torch.Tensor):
        raise checks.invalid("input", type(input).__name__, "expected a torch.Tensor")
    if input.dim() < 2:
        raise ValueError(f"expected 2D or 3D input (got {input.dim()}D input)")
    if momentum is None or isinstance(momentum, bool) or not isinstance(momentum, int | float):
        raise TypeError(f"batch_norm(): argument 'momentum' (position 7) must be float, not "
                        f"{type(momentum).__name__}")
    if training:
        _verify_batch_size(input.size())
    if training and eps <= 0.0:
        raise ValueError(f"batch_norm eps must be positive during training, but got {eps}")
    elif eps < 0.0:
        raise ValueError(f"batch_norm eps must be non-negative, but got {eps}")
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must either both be None or neither be None")
    channels = input.shape[1]
    for name, tensor in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                         ("bias", bias)):
        _check_channels(name, tensor, channels)
    shape = (1, channels) + (1,) * (input.dim() - 2)  # broadcasts a (C,) vector over (N, C, L, ...)
    if training:
        mean, var, n = batch_statistics(input)
        if running_mean is not None:
            with torch.no_grad():
                running_mean.mul_(1.0 - momentum).add_(momentum * mean.detach())
                running_var.mul_(1.0 - momentum).add_(momentum * var.detach() * (n / (n - 1)))
    else:
        if running_mean is None:
            raise RuntimeError("running_mean must be defined in evaluation mode")
        mean, var = running_mean, running_var
    z_tilde = (input - mean.reshape(shape)) * torch.rsqrt(var.reshape(shape) + eps)
    if weight is not None:
        z_tilde = z_tilde * weight.reshape(shape)
    if bias is not None:
        z_tilde = z_tilde + bias.reshape(shape)
    return z_tilde


class BatchNorm1d(nn.Module):
    r"""A drop-in for ``torch.nn.BatchNorm1d``: same arguments, parameters, buffers, ``state_dict`` keys, modes.

    Training mode (``model.train()``): normalize with the batch statistics and, with ``track_running_stats``,
    update the running ones in place, with weight :math:`m` = ``momentum`` on the new batch,

    .. math::
        \hat z = \gamma\,\frac{z - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}} + \beta, \qquad
        \bar\mu \leftarrow (1-m)\,\bar\mu + m\,\mu_B, \qquad
        \bar\sigma^2 \leftarrow (1-m)\,\bar\sigma^2 + m\,\tfrac{n}{n-1}\,\sigma_B^2 ;

    the course writes :math:`\bar\mu \leftarrow p\,\bar\mu + (1-p)\,\mu_B`, so :math:`p = 1 - m` (default
    :math:`m = 0.1`, :math:`p = 0.9`). With ``momentum=None`` the weight is :math:`m_k = 1/k` at the
    :math:`k`-th training batch (``num_batches_tracked`` counts them): the running statistics are then the
    plain average of all batch statistics seen so far.

    Evaluation mode (``model.eval()``): :math:`\hat z = \gamma (z - \bar\mu)/\sqrt{\bar\sigma^2 + \epsilon} +
    \beta`, nothing updated. Without running statistics (``track_running_stats=False``) the batch statistics
    are used in both modes, as in torch.

    Args:
        num_features: :math:`C`, for inputs ``(N, C)`` or ``(N, C, L)``.
        eps: :math:`\epsilon`. momentum: :math:`m`, or ``None`` for the cumulative average.
        affine: learn :math:`\gamma` (``weight``, initialized to 1) and :math:`\beta` (``bias``, initialized
            to 0). bias: with ``affine``, whether :math:`\beta` is learned (keyword only, as in torch 2.13).
        track_running_stats: keep ``running_mean`` (0), ``running_var`` (1) and ``num_batches_tracked`` (0).

    References:
        Ioffe & Szegedy (2015), Algorithm 2; PyTorch, ``torch.nn.BatchNorm1d`` (torch 2.13).
    """

    _version = 2

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.num_features = checks.check_int("num_features", num_features, minimum=0)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = nn.Parameter(torch.empty(num_features, **factory))
            if bias:
                self.bias = nn.Parameter(torch.empty(num_features, **factory))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))
            self.register_buffer("running_var", torch.ones(num_features, **factory))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batch tracked."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1.0)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        r"""Reset the running statistics and set :math:`\gamma = 1`, :math:`\beta = 0`."""
        self.reset_running_stats()
        if self.affine:
            with torch.no_grad():
                self.weight.fill_(1.0)
                if self.bias is not None:
                    self.bias.zero_()

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        # a state_dict saved before num_batches_tracked existed (version < 2) loads with the count at 0, as in torch
        version = local_metadata.get("version", None)
        key = prefix + "num_batches_tracked"
        if (version is None or version < 2) and self.track_running_stats and key not in state_dict:
            state_dict[key] = torch.tensor(0, dtype=torch.long)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Normalize ``input`` (``(N, C)`` or ``(N, C, L)``) as the docstring of the class says."""
        if input.dim() not in (2, 3):
            raise ValueError(f"expected 2D or 3D input (got {input.dim()}D input)")
        m = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative average: the k-th batch gets weight 1/k
                m = 1.0 / float(self.num_batches_tracked)
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return batch_norm(input, self.running_mean if track else None, self.running_var if track else None,
                          self.weight, self.bias, use_batch, m, self.eps)
