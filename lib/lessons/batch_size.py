r"""Batch size and the loss landscape: gradient noise, slices through the loss, and the cost of an update.

**Gradient noise.** The training loss is an average over :math:`N` examples,
:math:`L(\theta) = \frac1N \sum_{i=1}^N \ell_i(\theta)`, with per-example gradients :math:`g_i = \nabla\ell_i`
(:func:`per_example_gradients`) and full gradient :math:`g = \frac1N\sum_i g_i`. A mini-batch :math:`B` of
:math:`|B| = b` examples drawn *without replacement* gives :math:`g_B = \frac1b\sum_{i\in B} g_i`, an unbiased
estimate of :math:`g` whose total variance is exactly

.. math::
    \mathbb E\,\lVert g_B - g\rVert^2 = \frac{N - b}{b\,(N - 1)}\,\sigma^2, \qquad
    \sigma^2 = \frac1N\sum_{i=1}^N \lVert g_i - g\rVert^2,

the :math:`\sigma^2/b` law of independent draws times the finite-population correction
:math:`(N-b)/(N-1)`, which makes the full batch (:math:`b = N`) noiseless (:func:`noise_variance`).
:func:`gradient_noise` measures the left-hand side by drawing mini-batches and sets it next to the formula.

**Slices through the loss.** A network has too many parameters to draw its loss, so one draws it along
lines: the segment between two solutions, :math:`L((1-\alpha)\theta_a + \alpha\theta_b)`
(:func:`interpolate`, Keskar et al. 2017), or random directions :math:`L(\theta + \alpha d)`
(:func:`loss_along`) scaled filter by filter to the weights they perturb (:func:`filter_normalized_direction`,
Li et al. 2018), so that slices of differently scaled networks can be compared. :func:`flat_width` reads the
width of a slice's valley.

**Cost of an update.** :func:`time_per_update` times updates of :func:`lib.train.train` for several batch
sizes (warm-up updates discarded, repeats in interleaved rounds, median and quartiles), and
:func:`saved_activation_bytes` measures the memory an update keeps for its backward pass.

Parameters are handled as mappings name → tensor, as ``model.named_parameters()`` gives them (or
:attr:`lib.train.StackedHistory.params` of one copy); flat vectors follow that order.

References:
    N. S. Keskar, D. Mudigere, J. Nocedal, M. Smelyanskiy and P. T. P. Tang (2017), On large-batch training
    for deep learning: generalization gap and sharp minima, ICLR.
    H. Li, Z. Xu, G. Taylor, C. Studer and T. Goldstein (2018), Visualizing the loss landscape of neural nets,
    NeurIPS.
    W. G. Cochran (1977), Sampling Techniques, 3rd ed., Wiley, §2.5 (the finite-population correction).
    S. L. Smith and Q. V. Le (2018), A Bayesian perspective on generalization and stochastic gradient descent,
    ICLR (the noise scale of SGD with the same correction).
    S. McCandlish, J. Kaplan, D. Amodei and the OpenAI Dota team (2018), An empirical model of large-batch
    training, arXiv:1812.06162 (the gradient noise scale).
    L. Dinh, R. Pascanu, S. Bengio and Y. Bengio (2017), Sharp minima can generalize for deep nets, ICML.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from scipy import sparse
from torch import nn
from torch.func import functional_call, grad, vmap

from lib import hessian as _hessian
from lib import losses
from lib import results as _results
from lib import schedules as _schedules
from lib import stats as _stats
from lib import train as _train
from lib.checks import invalid
from lib.viz import Contour, Frame, Label, Line, Markers, View, plots

__all__ = [
    "LAMBDA_MAX",
    "SCALING_SETTINGS",
    "CostModel",
    "Generalization",
    "GradientNoise",
    "Ratio",
    "Scaling",
    "Slice",
    "Timing",
    "cost_model",
    "evaluate",
    "filter_normalized_direction",
    "flat_width",
    "generalization",
    "gradient_noise",
    "interpolate",
    "linear_scaling",
    "loss_along",
    "noise_variance",
    "noisy_path_frame",
    "noisy_path_view",
    "paired_by_seed",
    "parameter_norm",
    "per_example_gradients",
    "ratio_interval",
    "saved_activation_bytes",
    "scaling_copy",
    "solution_table",
    "time_per_update",
    "top_eigenvalue",
    "train_until",
    "train_until_each",
    "updates_per_epoch",
    "valley_width",
    "warmup_updates",
]

Params = Mapping[str, torch.Tensor]
INTERPOLATION_ALPHAS = tuple(np.linspace(-0.5, 1.5, 41).tolist())  # default α of interpolate: beyond both ends
DIRECTION_ALPHAS = tuple(np.linspace(-1.0, 1.0, 41).tolist())  # default α of loss_along
LAMBDA_MAX = "λₘₐₓ"  # the column of solution_table with the top Hessian eigenvalue (Unicode subscript: a table label)


# ---------------------------------------------------------------------------------------------- helpers
# lib.losses.cross_entropy works under torch.func.vmap/grad, which per_example_gradients uses
_LOSSES: dict[str, Callable] = {"cross_entropy": losses.cross_entropy, "mse": losses.regression_mse_loss}


def _loss_fn(loss: str | Callable) -> tuple[Callable, bool]:
    """The loss function and whether accuracy is measured (classification)."""
    if callable(loss):
        return loss, False
    if loss not in _LOSSES:
        raise invalid("loss", loss, f"must be one of {sorted(_LOSSES)} or a callable")
    return _LOSSES[loss], loss == "cross_entropy"


def _params(theta: nn.Module | Params) -> dict[str, torch.Tensor]:
    if isinstance(theta, nn.Module):
        return {k: p.detach() for k, p in theta.named_parameters()}
    if not isinstance(theta, Mapping) or not theta:
        raise invalid("parameters", theta, "must be an nn.Module or a non-empty mapping name -> tensor")
    return {k: torch.as_tensor(v).detach() for k, v in theta.items()}


def _same_keys(a: Params, b: Params, what: str) -> None:
    if list(a) != list(b) or any(a[k].shape != b[k].shape for k in a):
        shapes_a = {k: tuple(v.shape) for k, v in a.items()}
        shapes_b = {k: tuple(v.shape) for k, v in b.items()}
        raise ValueError(f"{what} must have the same names and shapes, got {shapes_a} and {shapes_b}")


def _data(model: nn.Module, data) -> tuple[torch.Tensor, torch.Tensor]:
    """``(X, y)`` of ``data`` (a ``(X, y)`` pair, or the training part of a :class:`lib.data.Dataset`) on the
    model's device, ``X`` in its floating dtype."""
    if not isinstance(data, Sequence) or len(data) < 2:
        raise invalid("data", type(data).__name__, "must be (X, y) or a lib.data.Dataset")
    X, y = data[0], data[1]
    first = next(model.parameters())
    X = torch.as_tensor(X, device=first.device)
    X = X.to(first.dtype) if X.is_floating_point() else X
    y = torch.as_tensor(y, device=first.device)
    if len(X) != len(y) or len(X) == 0:
        raise ValueError(f"X and y must be non-empty and of equal length, got {len(X)} and {len(y)}")
    return X, y


def _alphas(alphas) -> np.ndarray:
    a = np.asarray(alphas, dtype=np.float64)
    if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)):
        raise invalid("alphas", alphas, "must be a non-empty 1-D sequence of finite numbers")
    return a


# ------------------------------------------------------------------------------------------ gradient noise
def per_example_gradients(model: nn.Module, data, loss: str | Callable = "cross_entropy",
                          chunk_size: int | None = None) -> torch.Tensor:
    r"""The gradients :math:`g_i = \nabla_\theta\, \ell(f_\theta(x_i), y_i)` of every example, as rows.

    Computed with ``torch.func``: ``vmap`` over the examples of ``grad`` of the loss of one example (a batch
    of one through ``functional_call``), ``chunk_size`` examples at a time. Returns an ``(N, P)`` tensor in
    the model's dtype, columns in the order of ``model.named_parameters()`` (each tensor flattened row-major),
    so that ``G.mean(0)`` is the full-batch gradient of the mean loss.

    References:
        PyTorch documentation, "Per-sample-gradients" (``torch.func.grad`` and ``vmap``).
    """
    if not isinstance(model, nn.Module):
        raise invalid("model", type(model).__name__, "must be a torch.nn.Module")
    loss_fn, classify = _loss_fn(loss)
    X, y = _data(model, data)
    if classify:
        y = y.long()
    elif y.is_floating_point():
        y = y.to(X.dtype)
    params = _params(model)

    def one(p, x, t):
        return loss_fn(functional_call(model, p, (x.unsqueeze(0),)), t.unsqueeze(0))

    grads = vmap(grad(one), in_dims=(None, 0, 0), chunk_size=chunk_size)(params, X, y)
    return torch.cat([grads[k].reshape(len(X), -1) for k in params], dim=1)


def noise_variance(sigma2, n: int, batch_size, replace: bool = False) -> np.ndarray:
    r"""The exact total variance :math:`\mathbb E\lVert g_B - g\rVert^2` of a mini-batch mean of ``batch_size``
    :math:`b` out of ``n`` :math:`N` vectors whose population variance is ``sigma2`` :math:`\sigma^2`:

    .. math::
        \frac{\sigma^2}{b}\cdot\frac{N - b}{N - 1} \quad \text{(without replacement)}, \qquad
        \frac{\sigma^2}{b} \quad \text{(with replacement)},

    with :math:`\sigma^2 = \frac1N\sum_i\lVert g_i - g\rVert^2`. Without replacement the factor
    :math:`(N-b)/(N-1)` (the finite-population correction) is 1 at :math:`b = 1` and 0 at :math:`b = N`.

    References:
        W. G. Cochran (1977), Sampling Techniques, 3rd ed., Theorem 2.2.
    """
    b = np.asarray(batch_size, dtype=np.float64)
    if not isinstance(n, int | np.integer) or n < 2:
        raise invalid("n", n, "must be an integer >= 2")
    if np.any(b < 1) or np.any(b != np.round(b)) or (not replace and np.any(b > n)):
        raise invalid("batch_size", batch_size, f"must be integers in [1, {n}] (or >= 1 with replacement)")
    sigma2 = np.asarray(sigma2, dtype=np.float64)
    if np.any(sigma2 < 0):
        raise invalid("sigma2", sigma2, "must be non-negative")
    if replace:
        return sigma2 / b
    return sigma2 / b * (n - b) / (n - 1)


class GradientNoise(NamedTuple):
    r"""What :func:`gradient_noise` measured, one entry per batch size (arrays of shape ``(K,)``).

    Attributes:
        batch_sizes: the batch sizes :math:`b`.
        measured: mean of :math:`\lVert g_B - g\rVert^2` over the drawn mini-batches.
        stderr: its standard error (standard deviation of the draws over :math:`\sqrt{\text{n\_batches}}`).
        exact: :func:`noise_variance` for the same :math:`b`.
        sigma2: :math:`\sigma^2`, the variance of a single example's gradient (``measured`` at :math:`b = 1`
            estimates it).
        signal: :math:`\lVert g\rVert^2`, the squared length of the full gradient.
        n: the number of examples :math:`N`.
        replace: whether the batches were drawn with replacement.
    """

    batch_sizes: np.ndarray
    measured: np.ndarray
    stderr: np.ndarray
    exact: np.ndarray
    sigma2: float
    signal: float
    n: int
    replace: bool

    @property
    def noise_scale(self) -> float:
        r"""The gradient noise scale :math:`B_{\text{noise}} = \sigma^2/\lVert g\rVert^2` (McCandlish et al. 2018):
        the batch size at which the noise :math:`\sigma^2/b` of independent draws equals the signal
        :math:`\lVert g\rVert^2`. Far below it a step is mostly noise, far above it a larger batch hardly
        improves the step."""
        return self.sigma2 / self.signal if self.signal > 0 else math.inf


def gradient_noise(G, batch_sizes: Sequence[int], *, n_batches: int = 256, seed: int = 0,
                   replace: bool = False) -> GradientNoise:
    r"""Measure the variance of the mini-batch gradient for each batch size, next to its exact value.

    ``G`` holds the per-example gradients as rows, ``(N, P)`` (numpy or torch, e.g. from
    :func:`per_example_gradients`). For each :math:`b` in ``batch_sizes``, ``n_batches`` mini-batches are drawn
    independently (each one :math:`b` distinct examples, or :math:`b` draws with replacement), their mean
    gradients :math:`g_B` formed as one sparse matrix product (for :math:`b > N/2` without replacement, from the
    :math:`N - b` examples left out, since :math:`\sum_{i \in B}(g_i - g) = -\sum_{i \notin B}(g_i - g)`), and

    .. math:: \widehat{\operatorname{Var}}_b = \frac{1}{K}\sum_{k=1}^{K} \lVert g_{B_k} - g\rVert^2

    returned with its standard error and with the exact :func:`noise_variance`. Computed in float64 with
    ``numpy.random.default_rng(seed)``: the same arguments give the same numbers.

    References:
        W. G. Cochran (1977), Sampling Techniques, §2.5; S. L. Smith and Q. V. Le (2018), ICLR.
    """
    G = G.detach().cpu().double().numpy() if isinstance(G, torch.Tensor) else np.asarray(G, dtype=np.float64)
    if G.ndim != 2 or G.shape[0] < 2:
        raise invalid("G", G.shape, "must have shape (N, P) with N >= 2")
    if not isinstance(n_batches, int) or n_batches < 2:
        raise invalid("n_batches", n_batches, "must be an integer >= 2")
    n = G.shape[0]
    sizes = np.asarray(batch_sizes)
    if sizes.ndim != 1 or sizes.size == 0 or not np.issubdtype(sizes.dtype, np.integer):
        raise invalid("batch_sizes", batch_sizes, "must be a non-empty sequence of integers")
    if np.any(sizes < 1) or (not replace and np.any(sizes > n)):
        raise invalid("batch_sizes", batch_sizes, f"must lie in [1, {n}]")
    g = G.mean(axis=0)
    centred = G - g
    sigma2 = float(np.mean(np.sum(centred * centred, axis=1)))
    rng = np.random.default_rng(seed)
    measured, stderr = [], []
    for b in sizes.tolist():
        if replace:
            idx, weight = rng.integers(0, n, size=(n_batches, b)), 1.0 / b
        else:
            order = rng.permuted(np.broadcast_to(np.arange(n), (n_batches, n)), axis=1)
            if 2 * b <= n:
                idx, weight = order[:, :b], 1.0 / b
            else:
                # the rest of a random permutation is a random batch of n - b; as the c_i = g_i - g sum to
                # zero, g_B - g = -(1/b) * (sum over the n - b examples not in B): the same value, fewer rows
                idx, weight = order[:, b:], -1.0 / b
        # W (K, N), sparse: row k sums batch k with weight ±1/b (a repeated index adds up), so W @ (G - g) is
        # g_B - g for all K batches at once, at a cost proportional to K * min(b, N - b) * P
        W = sparse.csr_matrix((np.full(idx.size, weight), idx.ravel(), np.arange(n_batches + 1) * idx.shape[1]),
                              shape=(n_batches, n))
        d2 = np.sum(np.asarray(W @ centred) ** 2, axis=1)
        measured.append(d2.mean())
        stderr.append(d2.std(ddof=1) / math.sqrt(n_batches))
    return GradientNoise(
        batch_sizes=sizes.astype(np.int64),
        measured=np.array(measured),
        stderr=np.array(stderr),
        exact=noise_variance(sigma2, n, sizes, replace=replace),
        sigma2=sigma2,
        signal=float(g @ g),
        n=n,
        replace=replace,
    )


# ------------------------------------------------------------------------------------------------ slices
class Slice(NamedTuple):
    r"""The loss along a line through parameter space.

    Attributes:
        alphas: ``(A,)`` positions :math:`\alpha` along the line.
        loss: ``(A,)`` for one line, ``(D, A)`` for ``D`` directions.
        accuracy: same shape; ``NaN`` unless the loss is ``"cross_entropy"``.
    """

    alphas: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray


def evaluate(model: nn.Module, theta: nn.Module | Params, data,
             loss: str | Callable = "cross_entropy") -> tuple[float, float]:
    r"""``(loss, accuracy)`` of the architecture ``model`` with parameters ``theta`` on ``data`` = ``(X, y)``.

    :math:`L(\theta) = \frac1N\sum_i \ell(f_\theta(x_i), y_i)` through ``torch.func.functional_call``, so
    ``model``'s own parameters are not touched; accuracy (``argmax`` of the outputs against the labels) is
    ``NaN`` unless ``loss="cross_entropy"``.

    References:
        PyTorch documentation, ``torch.func.functional_call``.
    """
    loss_fn, classify = _loss_fn(loss)
    X, y = _data(model, data)
    params = _params(theta)
    with torch.no_grad():
        out = functional_call(model, params, (X,))
        value = float(loss_fn(out, y.long() if classify else y))
        acc = float((out.argmax(-1) == y).double().mean()) if classify else math.nan
    return value, acc


def interpolate(model: nn.Module, theta_a: nn.Module | Params, theta_b: nn.Module | Params, data,
                alphas=INTERPOLATION_ALPHAS, loss: str | Callable = "cross_entropy") -> Slice:
    r"""The loss on the line through two solutions, :math:`L\bigl((1-\alpha)\,\theta_a + \alpha\,\theta_b\bigr)`.

    :math:`\alpha = 0` is :math:`\theta_a`, :math:`\alpha = 1` is :math:`\theta_b`; values outside
    :math:`[0, 1]` continue the line beyond them. Keskar et al. draw it between a small-batch and a
    large-batch solution: a barrier between them, and how steeply the loss rises on either side, show the
    shapes of the two minima along this one line. ``data`` is ``(X, y)``; ``model`` supplies the architecture.

    References:
        I. J. Goodfellow, O. Vinyals and A. M. Saxe (2015), Qualitatively characterizing neural network
        optimization problems, ICLR; Keskar et al. (2017), ICLR, §3 and Figure 3.
    """
    a, b = _params(theta_a), _params(theta_b)
    _same_keys(a, b, "theta_a and theta_b")
    alphas = _alphas(alphas)
    rows = [evaluate(model, {k: (1.0 - t) * a[k] + t * b[k] for k in a}, data, loss) for t in alphas.tolist()]
    values = np.array(rows, dtype=np.float64)
    return Slice(alphas, values[:, 0], values[:, 1])


def filter_normalized_direction(theta: nn.Module | Params, seed: int = 0, norm: str = "filter",
                                bias: str = "zero") -> dict[str, torch.Tensor]:
    r"""A random direction :math:`d` in parameter space, scaled to the weights it perturbs (Li et al. 2018).

    Every entry of :math:`d` is drawn from :math:`\mathcal N(0, 1)` (a private generator seeded with
    ``seed``), then rescaled:

    * ``norm="filter"``: each *filter* :math:`d_{j}` (row :math:`j` of a weight tensor: one output neuron of a
      linear layer, one output channel of a convolution) gets the norm of the matching filter of
      :math:`\theta`, :math:`d_j \leftarrow \frac{d_j}{\lVert d_j\rVert}\lVert\theta_j\rVert`;
    * ``norm="layer"``: each weight tensor as a whole, :math:`d \leftarrow \frac{d}{\lVert d\rVert}
      \lVert\theta\rVert`.

    Biases (tensors of one dimension) are set to zero with ``bias="zero"``, as in the authors' code, or to a
    copy of :math:`\theta`'s with ``bias="copy"``. A network whose weights are scaled by a constant computes
    the same classifier after a softmax ``argmax``; filter normalization scales :math:`d` with it, so that
    slices :math:`L(\theta + \alpha d)` of differently scaled solutions can be compared.

    References:
        H. Li et al. (2018), Visualizing the loss landscape of neural nets, NeurIPS, §4.
    """
    if norm not in ("filter", "layer"):
        raise invalid("norm", norm, "must be 'filter' or 'layer'")
    if bias not in ("zero", "copy"):
        raise invalid("bias", bias, "must be 'zero' or 'copy'")
    params = _params(theta)
    generator = torch.Generator().manual_seed(int(seed))
    direction = {}
    for name, w in params.items():
        d = torch.randn(w.shape, generator=generator, dtype=torch.float64).to(w)
        if w.dim() <= 1:
            d = torch.zeros_like(w) if bias == "zero" else w.clone()
        elif norm == "filter":
            rows_d, rows_w = d.reshape(len(d), -1), w.reshape(len(w), -1)
            scale = rows_w.norm(dim=1) / rows_d.norm(dim=1).clamp_min(torch.finfo(d.dtype).tiny)
            d = (rows_d * scale[:, None]).reshape(w.shape)
        else:
            d = d * (w.norm() / d.norm().clamp_min(torch.finfo(d.dtype).tiny))
        direction[name] = d
    return direction


def loss_along(model: nn.Module, theta: nn.Module | Params, directions: Params | Sequence[Params], data,
               alphas=DIRECTION_ALPHAS, loss: str | Callable = "cross_entropy") -> Slice:
    r"""The loss along directions through a point, :math:`L(\theta + \alpha\, d_k)`, ``D`` directions at once.

    ``directions`` is one mapping name → tensor (then ``loss`` has shape ``(A,)``) or a sequence of ``D`` of
    them (shape ``(D, A)``), typically :func:`filter_normalized_direction` with seeds ``0 … D-1``; with those,
    :math:`\alpha = 1` moves every filter by as much as its own norm.
    The :math:`A` points of one direction are evaluated in one ``torch.func.vmap`` call (the values of
    :func:`evaluate`, up to rounding).

    References:
        H. Li et al. (2018), NeurIPS, §4 (1-D plots along filter-normalized directions).
    """
    params = _params(theta)
    single = isinstance(directions, Mapping)
    dirs = [directions] if single else list(directions)
    if not dirs:
        raise ValueError("directions must hold at least one direction, got none")
    for d in dirs:
        _same_keys(params, _params(d), "theta and each direction")
    alphas = _alphas(alphas)
    loss_fn, classify = _loss_fn(loss)
    X, y = _data(model, data)
    target = y.long() if classify else y

    def at(point):  # loss and accuracy at one point, vmapped over the α of a direction
        out = functional_call(model, point, (X,))
        acc = (out.argmax(-1) == y).double().mean() if classify else torch.tensor(math.nan, dtype=torch.float64)
        return loss_fn(out, target), acc

    out = np.empty((len(dirs), len(alphas), 2))
    with torch.no_grad():
        for i, d in enumerate(dirs):
            d = _params(d)
            t = {k: torch.as_tensor(alphas, dtype=params[k].dtype).reshape(-1, *[1] * params[k].dim())
                 for k in params}
            points = {k: params[k] + t[k] * d[k].to(params[k]) for k in params}  # (A, *shape): one point per α
            value, acc = vmap(at)(points)
            out[i, :, 0], out[i, :, 1] = value.double().numpy(), acc.numpy()
    if single:
        out = out[0]
    return Slice(alphas, out[..., 0], out[..., 1])


def flat_width(slice_: Slice, rise: float) -> np.ndarray:
    r"""Width of the valley of a slice: the length of the :math:`\alpha`-interval around :math:`\alpha = 0`
    on which the loss stays within ``rise`` of its value at :math:`\alpha = 0`.

    The interval is grown from the sample nearest :math:`0` to both sides until the first sample with
    :math:`L(\alpha) > L(0) + \text{rise}`, and its ends are placed by linear interpolation between that
    sample and the one before (an end of the sampled range counts as the end). One width per direction:
    shape ``()`` for a single line, ``(D,)`` for ``D`` directions. A sharp minimum has a small width.

    References:
        Keskar et al. (2017), §2.2 (sharpness as the rise of the loss in a neighbourhood);
        H. Li et al. (2018), §5.
    """
    if not rise > 0:
        raise invalid("rise", rise, "must be positive")
    alphas = slice_.alphas
    losses = np.atleast_2d(slice_.loss)
    centre = int(np.argmin(np.abs(alphas)))
    widths = []
    for curve in losses:
        limit = curve[centre] + rise
        ends = []
        for step in (-1, 1):
            k = centre
            while 0 <= k + step < len(alphas) and curve[k + step] <= limit:
                k += step
            if 0 <= k + step < len(alphas):
                lo, hi = curve[k], curve[k + step]
                frac = (limit - lo) / (hi - lo) if hi != lo else 0.0
                ends.append(alphas[k] + frac * (alphas[k + step] - alphas[k]))
            else:
                ends.append(alphas[k])
        widths.append(abs(ends[1] - ends[0]))
    result = np.array(widths)
    return result[0] if np.ndim(slice_.loss) == 1 else result


# ------------------------------------------------------------------------------------------ cost of updates
class Timing(NamedTuple):
    r"""What :func:`time_per_update` measured (``K`` batch sizes, ``R`` timed updates per batch size).

    Attributes:
        batch_sizes: ``(K,)`` examples per update (capped at the number of training examples).
        times: ``(K, R)`` wall-clock seconds of each timed update (forward, backward, step), warm-up excluded.
        median, q25, q75: ``(K,)`` median and quartiles of ``times``.
        updates_per_epoch: ``(K,)`` :math:`\lceil N/b\rceil`.
        epoch: ``(K,)`` median seconds per epoch, ``median * updates_per_epoch``.
        device: where it ran (``"cpu"`` or ``"cuda"``); threads: torch's intra-op threads during the runs.
    """

    batch_sizes: np.ndarray
    times: np.ndarray
    median: np.ndarray
    q25: np.ndarray
    q75: np.ndarray
    updates_per_epoch: np.ndarray
    epoch: np.ndarray
    device: str
    threads: int


def time_per_update(model_fn: Callable[[int], nn.Module], data, batch_sizes: Sequence[int], *,
                    rule: str = "gd", hparams: Mapping | None = None, loss: str | Callable = "cross_entropy",
                    warmup: int = 3, repeats: int = 10, rounds: int = 2, device: str | torch.device = "cpu",
                    threads: int | None = None) -> Timing:
    r"""Wall-clock seconds per update of :func:`lib.train.train` against the batch size, on this machine.

    For each of ``rounds`` rounds and each batch size :math:`b` (the batch sizes interleaved, so that a
    slow spell of a shared machine hits all of them alike) a fresh ``model_fn(round)`` is moved to ``device``
    and trained for ``warmup + repeats`` updates of ``rule`` (default plain gradient descent,
    ``hparams={"eta": 1e-3}``); :attr:`lib.train.History.time` of the last ``repeats`` updates is kept (the
    warm-up pays for first-call allocations and caches). Per batch size this gives ``rounds * repeats`` times;
    their median and quartiles are returned, and the median seconds per epoch
    :math:`\lceil N/b\rceil \cdot \operatorname{median}`. On a GPU each update is synchronized before it is
    timed (``lib.train`` does this). Timings describe the machine they ran on: never assert them in tests.

    References:
        P. Goyal et al. (2017), Accurate, large minibatch SGD, arXiv:1706.02677, §1 (why larger batches use
        parallel hardware better); Python documentation, ``time.perf_counter``.
    """
    for name, value, low in (("warmup", warmup, 0), ("repeats", repeats, 1), ("rounds", rounds, 1)):
        if not isinstance(value, int) or value < low:
            raise invalid(name, value, f"must be an integer >= {low}")
    sizes = [int(b) for b in batch_sizes]
    if not sizes or any(b < 1 for b in sizes):
        raise invalid("batch_sizes", batch_sizes, "must be positive integers")
    n = len(data[0])
    hparams = {"eta": 1e-3} if hparams is None else dict(hparams)
    device = torch.device(device)
    times = np.empty((len(sizes), rounds * repeats))
    used = torch.get_num_threads() if threads is None else threads
    for r in range(rounds):
        for k, b in enumerate(sizes):
            model = model_fn(r).to(device)
            history = _train.train(model, rule, data, hparams=hparams, steps=warmup + repeats, batch_size=b,
                                   loss=loss, eval_every=warmup + repeats, seed=r, progress=False,
                                   threads=threads)
            if history.diverged:
                raise ValueError(f"the timing run diverged at batch size {b}; pass a smaller hparams['eta']")
            times[k, r * repeats:(r + 1) * repeats] = history.time[warmup:]
    capped = np.minimum(np.array(sizes), n)
    per_epoch = -(-n // capped)
    median = np.median(times, axis=1)
    q25, q75 = np.percentile(times, [25, 75], axis=1)
    return Timing(capped, times, median, q25, q75, per_epoch, median * per_epoch, device.type, used)


class CostModel(NamedTuple):
    r"""The fit :math:`t(b) \approx t_0 + c\,b` of :func:`cost_model`."""

    overhead: float  # t_0, seconds per update that do not depend on the batch size
    per_example: float  # c, seconds per additional example

    @property
    def break_even(self) -> float:
        r"""The batch size :math:`t_0/c` at which the examples cost as much as the fixed overhead."""
        return self.overhead / self.per_example if self.per_example > 0 else math.inf


def cost_model(batch_sizes, seconds) -> CostModel:
    r"""Fit the cost of one update as a fixed overhead plus a cost per example, :math:`t(b) \approx t_0 + c\,b`.

    Least squares on the *relative* error, :math:`\min_{t_0, c} \sum_k \bigl((t_0 + c\,b_k)/t_k - 1\bigr)^2`,
    so the small times of small batches weigh as much as the large ones (``seconds`` are e.g. the medians of
    :func:`time_per_update`). Below :math:`b \approx t_0/c` (:attr:`CostModel.break_even`) an update costs
    about the same whatever the batch size, and an epoch of :math:`\lceil N/b\rceil` updates gets faster in
    proportion to :math:`b`; above it the time per epoch levels off at about :math:`N c`.

    References:
        P. Goyal et al. (2017), arXiv:1706.02677, §1; S. McCandlish et al. (2018), arXiv:1812.06162, §2.3.
    """
    b = np.asarray(batch_sizes, dtype=np.float64)
    t = np.asarray(seconds, dtype=np.float64)
    if b.ndim != 1 or b.shape != t.shape or b.size < 2:
        raise ValueError(f"batch_sizes and seconds must be 1-D of one length >= 2, got shapes {b.shape}, {t.shape}")
    if np.any(t <= 0) or np.any(b < 1):
        raise ValueError(f"seconds must be positive and batch_sizes >= 1, got {seconds!r}, {batch_sizes!r}")
    A = np.stack([1.0 / t, b / t], axis=1)
    (t0, c), *_ = np.linalg.lstsq(A, np.ones_like(t), rcond=None)
    return CostModel(float(t0), float(c))


def saved_activation_bytes(model: nn.Module, data, loss: str | Callable = "cross_entropy") -> int:
    r"""Bytes of the tensors that one forward pass of ``data`` = ``(X, y)`` keeps for the backward pass.

    Backpropagation needs the intermediate values of the forward pass (the activations); autograd *saves*
    them, and that memory grows in proportion to the batch size, on top of the parameters, gradients and
    optimizer state, which do not. Measured with ``torch.autograd.graph.saved_tensors_hooks``: the bytes of
    every saved tensor, counted once per start address, tensors that live in a parameter's storage excluded.

    References:
        PyTorch documentation, "Autograd mechanics: hooks for saved tensors".
    """
    loss_fn, classify = _loss_fn(loss)
    X, y = _data(model, data)
    skip = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor):
        # keyed by where the tensor's data start, so a tensor saved twice (or a reshaped view of it) counts
        # once; its own bytes, not its storage's, so a slice of a larger tensor counts as the slice
        if t.untyped_storage().data_ptr() not in skip:
            seen[t.data_ptr()] = max(seen.get(t.data_ptr(), 0), t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss_fn(model(X), y.long() if classify else y)
    return int(sum(seen.values()))


# ------------------------------------------------------------------------------------ the chapter's experiments
def updates_per_epoch(n: int, batch_size: int) -> int:
    r""":math:`\lceil N/B\rceil`: the updates of one epoch over ``n`` examples in batches of ``batch_size``."""
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise invalid("n", n, "must be a positive integer")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise invalid("batch_size", batch_size, "must be a positive integer")
    return -(-int(n) // min(int(batch_size), int(n)))


def warmup_updates(n: int, batch_size: int, epochs: int = 2, minimum: int = 10) -> int:
    r"""Length of the linear warmup of the linear-scaling experiment: ``epochs`` epochs, but at least ``minimum``
    updates, :math:`\max(\text{epochs}\cdot\lceil N/B\rceil, \text{minimum})`.

    References:
        P. Goyal et al. (2017), Accurate, large minibatch SGD, arXiv:1706.02677, §2.2 (gradual warmup).
    """
    return max(int(epochs) * updates_per_epoch(n, batch_size), int(minimum))


def top_eigenvalue(model: nn.Module, data, loss: str | Callable = "cross_entropy", tol: float = 1e-4) -> float:
    r"""The largest eigenvalue :math:`\lambda_{\max}` of the Hessian of the loss of ``model`` on ``data`` = ``(X, y)``
    (Lanczos on Hessian-vector products, :func:`lib.hessian.top_eigenvalues`)."""
    loss_fn, classify = _loss_fn(loss)
    X, y = _data(model, data)
    target = y.long() if classify else y
    eig = _hessian.top_eigenvalues(lambda: loss_fn(model(X), target), list(model.parameters()), k=1, tol=tol)
    return float(eig.values[0])


def parameter_norm(theta: nn.Module | Params) -> float:
    r"""The Euclidean norm :math:`\lVert\theta\rVert` of all parameters together."""
    return float(torch.sqrt(sum(p.double().pow(2).sum() for p in _params(theta).values())))


def train_until(start: Callable[[], nn.Module], data, eta: float, target: float,
                max_steps: int = 100) -> tuple[nn.Module, int]:
    r"""Continue full-batch gradient descent from ``start()`` until the training loss first falls to ``target``.

    A probe run of ``max_steps`` updates (evaluated after each) finds the first update count :math:`k` with
    :math:`L \le` ``target``; a fresh ``start()`` is then trained for exactly :math:`k` updates and returned with
    :math:`k` (``max_steps`` if the target was not reached). Used to compare solutions *at equal training loss*.
    """
    if max_steps < 1:
        raise invalid("max_steps", max_steps, "must be >= 1")
    probe = _train.train(start(), "gd", data, hparams={"eta": eta}, steps=max_steps, batch_size=None,
                         eval_every=1, progress=False)
    hit = np.flatnonzero(probe.train_loss <= target)
    extra = int(probe.eval_step[hit[0]]) if hit.size else probe.steps
    model = start()
    if extra > 0:
        _train.train(model, "gd", data, hparams={"eta": eta}, steps=extra, batch_size=None, progress=False)
    return model, extra


def _stop_after(t: float, *, eta: float, updates: int) -> float:
    """The learning rate ``eta`` for the first ``updates`` updates (``t = 0, 1, …``), then 0."""
    return eta if t < updates else 0.0


def train_until_each(model_fn: Callable[[int], nn.Module], seeds: Sequence[int], data, eta: float,
                     targets: Mapping[int, float], max_steps: int = 100) -> tuple[dict[int, nn.Module], dict[int, int]]:
    r""":func:`train_until` for many seeds at once: continue full-batch gradient descent from ``model_fn(seed)``
    until the training loss first falls to ``targets[seed]``; returns ``({seed: model}, {seed: updates})``.

    Two :func:`lib.train.train_stacked` runs instead of two runs per seed: a probe of ``max_steps`` updates
    (evaluated after each) finds every copy's first update count :math:`k_s` with :math:`L \le` ``targets[s]``
    (``max_steps`` if never); the second run gives copy :math:`s` the learning rate ``eta`` for its first
    :math:`k_s` updates and 0 afterwards, so that it stops there. Full-batch gradient descent has no data order,
    so this is :func:`train_until` per seed (float32: equal up to rounding). Copies are selected by their seed
    labels (:mod:`lib.results`).
    """
    if max_steps < 1:
        raise invalid("max_steps", max_steps, "must be >= 1")
    seeds = list(seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise invalid("seeds", seeds, "must be distinct, at least one")
    missing = sorted(set(seeds) - set(targets))
    if missing:
        raise invalid("targets", missing, "needs one target per seed")
    probe = _train.train_stacked(model_fn, seeds, "gd", data, hparams={"eta": eta}, steps=max_steps,
                                 batch_size=None, eval_every=1, progress=False)
    extra = {}
    for s in seeds:
        (c,) = _results.copies(probe, seed=s)
        hit = np.flatnonzero(probe.train_loss[c] <= targets[s])
        extra[s] = int(probe.eval_step[hit[0]]) if hit.size else int(max_steps)
    longest = max(extra.values())
    if longest == 0:
        return {s: model_fn(s) for s in seeds}, extra
    stops = [functools.partial(_stop_after, eta=float(eta), updates=extra[s]) for s in seeds]
    run = _train.train_stacked(model_fn, seeds, "gd", data, schedule=stops, schedule_unit="step", steps=longest,
                               batch_size=None, eval_every=longest, progress=False)
    models = {}
    for s in seeds:
        (c,) = _results.copies(run, seed=s)
        models[s] = run.load_copy(model_fn(s), c)
    return models, extra


class Ratio(NamedTuple):
    """A ratio of two settings over seeds, with its confidence interval (see :func:`ratio_interval`)."""

    ratio: float
    low: float
    high: float
    n: int
    confidence: float

    @property
    def excludes_one(self) -> bool:
        """True if the interval lies entirely above or below 1: the ratio is detected at this level."""
        return self.low > 1 or self.high < 1

    def describe(self, fmt: str = ".2g") -> str:
        """``7.1 (95 % interval 5.1 to 9.8, 10 seeds)`` — the form the text uses."""
        return (f"{self.ratio:{fmt}} ({100 * self.confidence:g} % interval {self.low:{fmt}} to {self.high:{fmt}}, "
                f"{self.n} seeds)")


def ratio_interval(a: Mapping[int, float], b: Mapping[int, float], confidence: float = 0.95) -> Ratio:
    r"""The typical ratio :math:`a_s/b_s` over seeds :math:`s`, with a paired t-interval on the log scale.

    For positive quantities that vary over orders of magnitude (a loss gap, a plateau length) a *ratio* is the
    natural comparison: :func:`lib.stats.paired_difference` of :math:`\ln a_s` and :math:`\ln b_s`, exponentiated,
    gives the geometric mean of the per-seed ratios and its interval. ``a`` and ``b`` are ``{seed: value}`` maps.
    """
    if set(a) != set(b):
        raise invalid("seeds", sorted(set(a) ^ set(b)), "expected the same seeds in a and b")
    values = np.array([[a[s], b[s]] for s in a], dtype=np.float64)
    if not np.all(values > 0) or not np.all(np.isfinite(values)):
        raise invalid("values", values.tolist(), "expected positive, finite values (a ratio is taken of logs)")
    d = _stats.paired_difference(np.log(values[:, 0]), np.log(values[:, 1]), confidence)
    return Ratio(math.exp(d.mean), math.exp(d.low), math.exp(d.high), d.n, d.confidence)


def paired_by_seed(table: pd.DataFrame, column: str, a: str, b: str, confidence: float = 0.95):
    r"""Paired difference ``a − b`` of ``column`` between two solutions of a :func:`solution_table`-like table
    (columns ``solution``, ``seed``), selected by their labels: :func:`lib.stats.paired_difference`."""
    by_seed = table.pivot(index="seed", columns="solution", values=column)
    for name in (a, b):
        if name not in by_seed.columns:
            raise invalid("solution", name, f"expected one of {list(by_seed.columns)}")
    return _stats.paired_difference(by_seed[a].to_dict(), by_seed[b].to_dict(), confidence)


def valley_width(model: nn.Module, theta: nn.Module | Params, data, rise: float, *, directions: int = 5,
                 alphas=DIRECTION_ALPHAS) -> float:
    r"""Mean :func:`flat_width` of the loss along ``directions`` filter-normalized directions (seeds ``0 …
    directions − 1``) through ``theta``: the width, in units of :math:`\alpha`, of the interval around the
    solution on which the loss stays within ``rise`` of its value there."""
    dirs = [filter_normalized_direction(theta, seed=k) for k in range(directions)]
    return float(flat_width(loss_along(model, theta, dirs, data, alphas), rise).mean())


def solution_table(solutions: Mapping[tuple[str, int], nn.Module], train, test) -> pd.DataFrame:
    r"""One row per solution ``(name, seed) -> model``: training and test loss, test accuracy, :math:`\lambda_{\max}`
    of the training loss's Hessian (:func:`top_eigenvalue`, column :data:`LAMBDA_MAX`) and
    :math:`\lVert\theta\rVert`."""
    rows = []
    for (name, seed), model in solutions.items():
        train_loss, _ = evaluate(model, model, train)
        test_loss, test_acc = evaluate(model, model, test)
        rows.append({"solution": name, "seed": seed, "train loss": train_loss, "test loss": test_loss,
                     "test acc.": test_acc, LAMBDA_MAX: top_eigenvalue(model, train), "‖θ‖": parameter_norm(model)})
    return pd.DataFrame(rows)


class Generalization(NamedTuple):
    """What :func:`generalization` measured.

    Attributes:
        grid: one row per tuning copy: ``batch_size``, ``eta``, ``seed``, ``val_acc``, ``val_loss``, ``train_loss``,
            ``diverged`` (final values; validation = the "test" columns of the tuning data).
        tuned: batch size -> the tuned learning rate.
        runs: batch size -> the stacked run at the tuned learning rate over ``seeds``.
        final: indexed by ``(batch_size, seed)``: ``eta``, ``updates``, ``train_loss``, ``train_acc``, ``test_acc``.
    """

    grid: pd.DataFrame
    tuned: dict[int, float]
    runs: dict[int, _train.StackedHistory]
    final: pd.DataFrame


def generalization(model_fn: Callable[[int], nn.Module], data, test, batch_sizes: Sequence[int],
                   etas: Sequence[float], *, tune_seeds: Sequence[int], seeds: Sequence[int], epochs: int,
                   eval_every: int = 2) -> Generalization:
    r"""Tune :math:`\eta` per batch size on validation, then train many seeds at the tuned :math:`\eta`.

    For each batch size, plain mini-batch SGD (``"gd"``) is trained for ``epochs`` epochs over the grid ``etas``
    × ``tune_seeds`` (one :func:`lib.train.train_stacked` call); ``data`` is a :class:`lib.data.Dataset` whose
    test columns are the *validation* set. The tuned :math:`\eta` has the highest mean final validation accuracy
    (a diverged copy makes its :math:`\eta`'s mean NaN, ranked last), ties broken by the lower mean validation
    loss. Then ``seeds`` copies are trained at the tuned :math:`\eta`, and the accuracy of each on the held-out
    ``test`` = ``(X, y)`` is measured. Copies are selected by their labels (:mod:`lib.results`).
    """
    grid, tuned, runs, rows = [], {}, {}, []
    arch = model_fn(0)
    for b in batch_sizes:
        h = _train.train_stacked(model_fn, [s for _ in etas for s in tune_seeds], "gd", data,
                                 hparams={"eta": [e for e in etas for _ in tune_seeds]}, epochs=epochs,
                                 batch_size=b, eval_every=eval_every, progress=False)
        table = _results.labelled(h, "test_acc").rename(columns={"test_acc": "val_acc"})
        table["val_loss"] = _results.labelled(h, "test_loss")["test_loss"]
        table["train_loss"] = _results.labelled(h, "train_loss")["train_loss"]
        table.insert(0, "batch_size", b)
        grid.append(table.drop(columns="data_seed"))
        means = table.groupby("eta")[["val_acc", "val_loss"]].agg(lambda s: s.to_numpy().mean())  # NaN stays NaN
        ranked = means.assign(acc=means["val_acc"].fillna(-1.0), loss=means["val_loss"].fillna(np.inf))
        tuned[b] = float(ranked.sort_values(["acc", "loss"], ascending=[False, True]).index[0])
        run = _train.train_stacked(model_fn, list(seeds), "gd", data, hparams={"eta": [tuned[b]] * len(seeds)},
                                   epochs=epochs, batch_size=b, eval_every=eval_every, progress=False)
        runs[b] = run
        for s in seeds:
            (c,) = _results.copies(run, seed=s)
            rows.append({"batch_size": b, "seed": s, "eta": tuned[b], "updates": run.loss.shape[1],
                         "train_loss": run.train_loss[c, -1], "train_acc": run.train_acc[c, -1],
                         "val_acc": run.test_acc[c, -1],
                         "test_acc": evaluate(arch, {k: v[c] for k, v in run.params.items()}, test)[1]})
    final = pd.DataFrame(rows).set_index(["batch_size", "seed"]).sort_index()
    return Generalization(pd.concat(grid, ignore_index=True), tuned, runs, final)


class Scaling(NamedTuple):
    """What :func:`linear_scaling` measured: per batch size the stacked run and each copy's setting label
    (``"η₀"``, ``"kη₀"``, ``"kη₀ + warmup"``), and a table with one row per copy (``batch_size``, ``setting``,
    ``seed``, ``eta``, ``train_loss``, ``val_acc``, ``diverged``)."""

    runs: dict[int, _train.StackedHistory]
    setting: dict[int, np.ndarray]
    table: pd.DataFrame


SCALING_SETTINGS = ("η₀", "kη₀", "kη₀ + warmup")


def linear_scaling(model_fn: Callable[[int], nn.Module], data, base_batch: int, base_eta: float,
                   batch_sizes: Sequence[int], *, seeds: Sequence[int], epochs: int, warmup_epochs: int = 2,
                   min_warmup: int = 10) -> Scaling:
    r"""The linear scaling rule: at batch size :math:`B = k B_0`, train with :math:`\eta_0`, :math:`k\eta_0`, and
    :math:`k\eta_0` after a linear warmup of :func:`warmup_updates` updates (``lib.schedules.warmup``).

    References:
        P. Goyal et al. (2017), Accurate, large minibatch SGD: training ImageNet in 1 hour, arXiv:1706.02677.
    """
    n = len(data[0])
    runs, setting, rows = {}, {}, []
    for b in batch_sizes:
        k = b / base_batch
        schedules = {"η₀": _schedules.constant(base_eta), "kη₀": _schedules.constant(k * base_eta),
                     "kη₀ + warmup": _schedules.warmup(_schedules.constant(k * base_eta),
                                                        warmup_updates(n, b, warmup_epochs, min_warmup))}
        labels = np.repeat(list(schedules), len(seeds))
        h = _train.train_stacked(model_fn, [s for _ in schedules for s in seeds], "gd", data,
                                 schedule=[schedules[name] for name in labels], schedule_unit="step",
                                 epochs=epochs, batch_size=b, progress=False)
        runs[b], setting[b] = h, labels
        for c, (name, seed) in enumerate(zip(labels, h.seeds, strict=True)):
            rows.append({"batch_size": b, "setting": name, "seed": int(seed),
                         "eta": base_eta if name == "η₀" else k * base_eta,
                         "train_loss": h.train_loss[c, -1], "val_acc": h.test_acc[c, -1],
                         "diverged": bool(h.diverged[c])})
    return Scaling(runs, setting, pd.DataFrame(rows))


def scaling_copy(scaling: Scaling, batch_size: int, setting: str, seed: int) -> int:
    """The copy of ``scaling.runs[batch_size]`` with this setting label and seed."""
    h, labels = scaling.runs[batch_size], scaling.setting[batch_size]
    found = np.flatnonzero((labels == setting) & (h.seeds == seed))
    if found.size != 1:
        raise invalid("selection", (batch_size, setting, seed), f"expected one copy, found {found.size}")
    return int(found[0])


# ------------------------------------------------------------------------------------ the noisy-path explorer
def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def noisy_path_view(problem, theta_start, w_range, b_range, zoom_w, zoom_b) -> View:
    """The fixed layer of the noisy-path explorer: loss contours over the whole plane ("path") and around
    :math:`\\theta^\\star` ("zoom"), the start and the least-squares solution."""
    ws, bs = np.linspace(*w_range, 121), np.linspace(*b_range, 121)
    z = problem.loss(np.stack(np.meshgrid(ws, bs), axis=-1))
    zw, zb = np.linspace(*zoom_w, 81), np.linspace(*zoom_b, 81)
    zz = problem.loss(np.stack(np.meshgrid(zw, zb), axis=-1))
    star = dict(color="black", marker="*", size=13, edgecolor="white")
    w_star, b_star = problem.theta_star
    return View([Contour(ws, bs, z, plots.contour_levels(z, 16), panel="path"),
                 Contour(zw, zb, zz, plots.contour_levels(zz, 10), panel="zoom"),
                 Markers([theta_start[0]], [theta_start[1]], color="black", size=7, edgecolor="white",
                         label="start", panel="path"),
                 Markers([w_star], [b_star], label="least-squares solution θ*", panel="path", **star),
                 Markers([w_star], [b_star], panel="zoom", **star)])


def noisy_path_frame(problem, path, batch: int, eta: float, zoom_w, zoom_b) -> Frame:
    """One frame of the noisy-path explorer for the :func:`lib.trajectories.minibatch_path` result ``path``.

    The end point is drawn in the zoom panel only where it lies inside the zoom window; a run that has not
    arrived is said so in that panel (with its distance from :math:`\\theta^\\star`) instead of being pinned to
    the panel's corner. A diverged run is drawn up to its last iterate and reported with the update at which it
    diverged.
    """
    per_epoch = updates_per_epoch(len(problem.y), batch)
    gap = path.loss - problem.loss_star
    color = plots.PALETTE[0]
    if path.diverged_at >= 0:  # stopped by minibatch_path: theta[stop - 1] is the last iterate inside the box
        stop = path.diverged_at
        items = [Line(path.theta[:stop, 0], path.theta[:stop, 1], color=color, width=1.0, panel="path"),
                 Line(path.epoch[:stop], gap[:stop], color=color, width=1.2, panel="loss"),
                 Markers(path.theta[stop - 1:stop, 0], path.theta[stop - 1:stop, 1], color=plots.DIVERGED,
                         marker="X", size=9, clamp=True, label="diverged", panel="path")]
        return Frame(items, [f"B = {batch}, η = {eta:g}: diverged at update {stop} (epoch {stop / per_epoch:.1f}); "
                             f"η is above the stability limit of the single-example steps"])
    last = path.theta[-per_epoch:]  # the iterates of the last epoch
    tail = path.theta[-3 * per_epoch - 1:]  # the last three epochs, for the zoomed view
    end = path.theta[-1]
    inside = zoom_w[0] <= end[0] <= zoom_w[1] and zoom_b[0] <= end[1] <= zoom_b[1]
    end_style = dict(color=plots.PALETTE[3], marker="D", size=7, edgecolor="white", label="end")
    items = [
        Line(path.theta[:, 0], path.theta[:, 1], color=color, width=0.9 if batch < 8 else 1.4, alpha=0.8,
             label=f"path ({_plural(len(path.theta) - 1, 'update')})", panel="path"),
        Markers([end[0]], [end[1]], panel="path" if not inside else "zoom", **end_style),
        Line(path.epoch, np.maximum(gap, 1e-12), color=color, width=1.1, panel="loss"),
    ]
    distance = float(np.linalg.norm(end - problem.theta_star))
    if inside:
        items += [Line(tail[:, 0], tail[:, 1], color=color, width=0.8, alpha=0.6, label="path, last 3 epochs",
                       panel="zoom"),
                  Markers(last[:, 0], last[:, 1], color=plots.PALETTE[1], size=4, label="iterates of the last epoch",
                          panel="zoom")]
    else:
        # the panel is narrow: the distance goes into the text below the figure
        items.append(Label(0.5, 0.08, "not arrived", coords="axes", ha="center", va="bottom", size=8.5, panel="zoom"))
    spread = float(np.sqrt(np.mean(np.sum((last - problem.theta_star) ** 2, axis=1))))
    where = "" if inside else f"; not arrived: the end (◆, left) is {distance:.2f} from θ*, outside the zoom"
    return Frame(items, [f"B = {batch} ({_plural(per_epoch, 'update')} per epoch), η = {eta:g}: L − L* at the end "
                         f"{gap[-1]:.2e}, mean over the last epoch {gap[-per_epoch:].mean():.2e}; "
                         f"RMS distance of the last epoch's iterates from θ*: {spread:.3f}{where}"])
