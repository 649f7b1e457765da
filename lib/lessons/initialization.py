r"""Experiments of the chapter "Vanishing and exploding gradients, and initialization".

The networks are deep multilayer perceptrons with ``depth`` weight layers,

.. math::
    z_1 = W_1 x + b_1, \qquad z_l = W_l\,\phi(z_{l-1}) + b_l \ (l = 2, \dots, L),

with logits :math:`z_L` and cross-entropy loss :math:`\ell`. The backpropagated gradient
:math:`\delta_l = \partial \ell / \partial z_l` obeys :math:`\delta_{l} = \phi'(z_l) \odot W_{l+1}^\top
\delta_{l+1}`: a product of one Jacobian per layer. With weights :math:`W_{ij} \sim \mathcal N(0,
\sigma_w^2/n)` (``scheme="scaled"``, width :math:`n`), each layer multiplies the expected squared norm by

.. math::
    \chi(q) = \sigma_w^2\, \mathbb E_{h \sim \mathcal N(0, q)}\bigl[\phi'(h)^2\bigr], \qquad
    q_l = \sigma_w^2\, \mathbb E_{h \sim \mathcal N(0, q_{l-1})}\bigl[\phi(h)^2\bigr] \ (+\sigma_b^2),

where :math:`q_l` is the variance of the pre-activations (the mean-field recursion): gradients vanish
(:math:`\chi < 1`) or explode (:math:`\chi > 1`) exponentially with depth. Expectations are computed by
Gauss–Hermite quadrature.

References:
    Glorot, X. & Bengio, Y. (2010). Understanding the difficulty of training deep feedforward neural networks.
    He, K., Zhang, X., Ren, S. & Sun, J. (2015). Delving deep into rectifiers. ICCV.
    Saxe, A. M., McClelland, J. L. & Ganguli, S. (2014). Exact solutions to the nonlinear dynamics of learning
    in deep linear neural networks. ICLR.
    Poole, B., Lahiri, S., Raghu, M., Sohl-Dickstein, J. & Ganguli, S. (2016). Exponential expressivity in deep
    neural networks through transient chaos. NeurIPS.
    Schoenholz, S. S., Gilmer, J., Ganguli, S. & Sohl-Dickstein, J. (2017). Deep information propagation. ICLR.
    Pascanu, R., Mikolov, T. & Bengio, Y. (2013). On the difficulty of training recurrent neural networks. ICML.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from torch import nn

from lib import init as lib_init
from lib import losses, rules, train
from lib.checks import check_choice, check_int, check_positive
from lib.data import Dataset
from lib.gradients import clip_by_total_norm, clip_grad_norm_, grad_norms
from lib.viz import Control, Explorer, Frame, Label, Line, Panel
from lib.viz.figure import min_text_pt
from lib.viz.plots import PALETTE

__all__ = [
    "ACTIVATIONS",
    "SCHEMES",
    "GradientProfile",
    "chi",
    "clipping_runs",
    "deep_mlp",
    "gradient_explorer",
    "gradient_profile",
    "initialize_",
    "predicted_profile",
    "q_sequence",
    "saturation_table",
    "scale_runs",
    "scheme_runs",
    "symmetry_runs",
]

# φ and φ' of each activation
ACTIVATIONS = {
    "sigmoid": (torch.sigmoid, lambda h: torch.sigmoid(h) * (1 - torch.sigmoid(h))),
    "tanh": (torch.tanh, lambda h: 1 - torch.tanh(h) ** 2),
    "relu": (torch.relu, lambda h: (h > 0).to(h.dtype)),
}
_MODULES = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}

# the initialization schemes of the chapter: name -> how a weight of shape (fan_out, fan_in) is filled
SCHEMES = ("normal 1", "normal 0.01", "xavier uniform", "xavier normal", "kaiming fan_in", "kaiming fan_out",
           "orthogonal")
SCHEME_LABELS = {"normal 1": "N(0, 1)", "normal 0.01": "N(0, 0.01²)", "xavier uniform": "Xavier uniform",
                 "xavier normal": "Xavier normal", "kaiming fan_in": "He (fan-in)", "kaiming fan_out": "He (fan-out)",
                 "orthogonal": "orthogonal", "scaled": "N(0, σ²/n)", "normal": "N(0, s²)",
                 "constant": "all equal"}

_GH_X, _GH_W = np.polynomial.hermite.hermgauss(101)


def _np_sigmoid(h):
    return 0.5 * (1.0 + np.tanh(0.5 * h))  # overflow-free


# the same φ and φ' on numpy arrays, for the mean-field expectations
_NUMPY = {
    "sigmoid": (_np_sigmoid, lambda h: _np_sigmoid(h) * (1.0 - _np_sigmoid(h))),
    "tanh": (np.tanh, lambda h: 1.0 - np.tanh(h) ** 2),
    "relu": (lambda h: np.maximum(h, 0.0), lambda h: (h > 0).astype(np.float64)),
}


def _gain(activation: str) -> float:
    return lib_init.calculate_gain(activation)


def initialize_(weight: torch.Tensor, scheme: str, activation: str, *, sigma_w: float = 1.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Fill ``weight`` (shape ``(fan_out, fan_in)``) in place by ``scheme``; returns it.

    ``"normal 1"``: :math:`\mathcal N(0, 1)`; ``"normal 0.01"``: :math:`\mathcal N(0, 0.01^2)` (the course's
    ``np.random.randn(...) * 0.01``); ``"normal"``: :math:`\mathcal N(0, \sigma_w^2)` (an absolute scale);
    ``"scaled"``: :math:`\mathcal N(0, \sigma_w^2/\text{fan\_in})` (the mean-field scale); ``"constant"``: every
    entry :math:`\sigma_w`; the others are :mod:`lib.init`'s schemes: Xavier with torch's default gain 1
    (Glorot and Bengio's derivation, for an activation that is linear near 0), He with
    ``nonlinearity=activation`` and orthogonal with ``gain=calculate_gain(activation)``.
    """
    scheme = check_choice("scheme", scheme, SCHEMES + ("scaled", "normal", "constant"))
    check_choice("activation", activation, tuple(ACTIVATIONS))
    with torch.no_grad():
        if scheme == "normal 1":
            return weight.normal_(0.0, 1.0, generator=generator)
        if scheme == "normal 0.01":
            return weight.normal_(0.0, 0.01, generator=generator)
        if scheme == "normal":
            return weight.normal_(0.0, sigma_w, generator=generator)
        if scheme == "scaled":
            return weight.normal_(0.0, sigma_w / math.sqrt(weight.shape[1]), generator=generator)
        if scheme == "constant":
            return weight.fill_(sigma_w)
    if scheme == "xavier uniform":
        return lib_init.xavier_uniform_(weight, generator=generator)  # gain 1, as in Glorot & Bengio
    if scheme == "xavier normal":
        return lib_init.xavier_normal_(weight, generator=generator)
    if scheme.startswith("kaiming"):
        mode = scheme.split()[1]
        return lib_init.kaiming_normal_(weight, mode=mode, nonlinearity=activation, generator=generator)
    return lib_init.orthogonal_(weight, gain=_gain(activation), generator=generator)


def deep_mlp(depth: int, width: int = 64, activation: str = "tanh", scheme: str = "scaled", *,
             sigma_w: float = 1.0, n_in: int = 64, n_out: int = 10, seed: int = 0,
             dtype: torch.dtype = torch.float32) -> nn.Sequential:
    r"""An MLP ``n_in → width → … → width → n_out`` with ``depth`` weight layers, weights by ``scheme``
    (:func:`initialize_`, one generator seeded with ``seed`` for all layers in order) and zero biases."""
    depth = check_int("depth", depth, minimum=1)
    width = check_int("width", width, minimum=1)
    check_choice("activation", activation, tuple(ACTIVATIONS))
    sizes = [n_in] + [width] * (depth - 1) + [n_out]
    layers: list[nn.Module] = []
    for k in range(depth):
        if k > 0:
            layers.append(_MODULES[activation]())
        layers.append(nn.Linear(sizes[k], sizes[k + 1], device="meta", dtype=dtype))
    model = nn.Sequential(*layers).to_empty(device="cpu")
    generator = torch.Generator().manual_seed(seed)
    for module in model:
        if isinstance(module, nn.Linear):
            initialize_(module.weight, scheme, activation, sigma_w=sigma_w, generator=generator)
            with torch.no_grad():
                module.bias.zero_()
    return model


# ------------------------------------------------------------------------------------------- the mean field
def _gauss(f, q: float) -> float:
    """:math:`\\mathbb E[f(h)]`, :math:`h \\sim \\mathcal N(0, q)`, by Gauss–Hermite quadrature."""
    return float(np.dot(_GH_W, f(math.sqrt(2.0 * q) * _GH_X)) / math.sqrt(math.pi))


def q_sequence(activation: str, sigma_w: float, q1: float, layers: int) -> np.ndarray:
    r"""The pre-activation variances :math:`q_1, \dots, q_{\text{layers}}` of the mean-field recursion
    :math:`q_{l+1} = \sigma_w^2\, \mathbb E_{\mathcal N(0, q_l)}[\phi(h)^2]`, from :math:`q_1`."""
    phi, _ = _NUMPY[activation]
    q = [float(q1)]
    for _ in range(layers - 1):
        q.append(sigma_w**2 * _gauss(lambda h: phi(h) ** 2, q[-1]))
    return np.array(q)


def q_fixed_point(activation: str, sigma_w: float, q1: float = 1.0, tol: float = 1e-10,
                  max_layers: int = 10_000) -> float:
    r"""The fixed point :math:`q^*` reached by :func:`q_sequence` from :math:`q_1` (``nan`` for ReLU, whose
    :math:`q` only grows or shrinks by :math:`\sigma_w^2/2` per layer; ``0`` where it decays to zero)."""
    if activation == "relu":
        return math.nan
    phi, _ = _NUMPY[activation]
    q = float(q1)
    for _ in range(max_layers):
        new = sigma_w**2 * _gauss(lambda h: phi(h) ** 2, q)
        if abs(new - q) <= tol * max(q, 1e-300):
            return new
        q = new
    return q


def chi(activation: str, sigma_w: float, q: float | None = None) -> float:
    r""":math:`\chi = \sigma_w^2\,\mathbb E_{h \sim \mathcal N(0, q)}[\phi'(h)^2]`, the factor by which one layer
    multiplies the expected squared gradient norm; at the fixed point :math:`q^*` of :func:`q_sequence` when
    ``q`` is ``None`` (for ReLU :math:`\chi = \sigma_w^2/2` whatever :math:`q`).

    References:
        Poole et al. (2016), eq. (6); Schoenholz et al. (2017), eq. (5).
    """
    check_positive("sigma_w", sigma_w)
    _, dphi = _NUMPY[check_choice("activation", activation, tuple(ACTIVATIONS))]
    if activation == "relu":
        return sigma_w**2 / 2  # E[1{h > 0}] = 1/2 for any q > 0
    if q is None:
        q = q_fixed_point(activation, sigma_w)
    return sigma_w**2 * _gauss(lambda h: dphi(h) ** 2, q)


# ----------------------------------------------------------------------------------- measuring gradients
class GradientProfile(NamedTuple):
    """Per-layer measurements of one network on one batch.

    ``delta[l]`` is the root mean square over examples of :math:`\\lVert \\delta_{l+1} \\rVert` (the gradient
    of the per-example loss with respect to the pre-activations of weight layer :math:`l + 1`), ``q[l]`` the
    mean squared pre-activation, ``weight_grad[l]`` the norm of :math:`\\partial L/\\partial W_{l+1}` for the
    batch-mean loss, ``saturated[l]`` the fraction of units with :math:`\\phi'(z) < 0.1` (the output layer,
    which has no activation, counts 0)."""

    delta: np.ndarray
    q: np.ndarray
    weight_grad: np.ndarray
    saturated: np.ndarray


def gradient_profile(model: nn.Sequential, X: torch.Tensor, y: torch.Tensor, activation: str) -> GradientProfile:
    r"""Forward and backward pass of ``model`` (a :func:`deep_mlp`) on ``(X, y)``; the per-layer profile."""
    _, dphi = ACTIVATIONS[activation]
    linears = [m for m in model if isinstance(m, nn.Linear)]
    dtype = linears[0].weight.dtype
    X = X.to(dtype)
    zs = []
    h = X
    for module in model:
        h = module(h)
        if isinstance(module, nn.Linear):
            h.retain_grad()
            zs.append(h)
    for p in model.parameters():
        p.grad = None
    per_example = losses.cross_entropy(h, y, reduction="sum")
    per_example.backward()
    n = len(X)
    delta = np.array([float(z.grad.pow(2).sum(1).mean().sqrt()) for z in zs])
    q = np.array([float(z.detach().pow(2).mean()) for z in zs])
    with torch.no_grad():
        saturated = np.array([float((dphi(z) < 0.1).to(dtype).mean()) for z in zs[:-1]] + [0.0])
    weight_grad = grad_norms([m.weight for m in linears]).numpy() / n  # of the mean loss
    return GradientProfile(delta, q, weight_grad, saturated)


def predicted_profile(activation: str, sigma_w: float, q: np.ndarray, delta_out: float) -> np.ndarray:
    r"""The mean-field prediction of the per-layer gradient norms: :math:`\lVert\delta_l\rVert^2 =
    \lVert\delta_L\rVert^2 \prod_{k=l}^{L-1} \chi(q_k)` with the measured output gradient ``delta_out`` and the
    variances ``q`` of the hidden pre-activations (``q[l]`` for layer ``l + 1``; the last entry, the output,
    is not used)."""
    factors = np.array([chi(activation, sigma_w, float(qk)) for qk in q[:-1]])
    tail = np.cumprod(factors[::-1])[::-1]  # prod_{k=l}^{L-1}
    return delta_out * np.sqrt(np.append(tail, 1.0))


def measured_factor(delta: np.ndarray, skip: int = 2) -> float:
    r"""The per-layer factor of the squared gradient norm, :math:`\exp(-\text{slope})` of a least-squares line
    through :math:`\log \lVert\delta_l\rVert^2` against :math:`l`, leaving out ``skip`` layers at each end."""
    layers = np.arange(len(delta))[skip:len(delta) - skip]
    logs = 2 * np.log(delta[skip:len(delta) - skip])
    if len(layers) < 2 or not np.all(np.isfinite(logs)):
        return math.nan
    slope = np.polyfit(layers, logs, 1)[0]
    return float(np.exp(-slope))


# ------------------------------------------------------------------------------ 1. the product of Jacobians
def gradient_table(X: torch.Tensor, y: torch.Tensor, activations: Sequence[str], sigma_ws: Sequence[float], *,
                   depth: int = 50, width: int = 64, seeds: Sequence[int] = (0, 1, 2)) -> pd.DataFrame:
    r"""Measured per-layer factor of :math:`\lVert\delta_l\rVert^2` (:func:`measured_factor`) against the
    mean-field :math:`\chi` at the fixed point, for every activation × :math:`\sigma_w` × seed, in float64.

    Columns: ``activation, sigma_w, seed, measured, chi, first, last`` (``first``/``last``: the gradient norm
    at the first and the last weight layer)."""
    rows = []
    for activation in activations:
        for sigma_w in sigma_ws:
            for seed in seeds:
                model = deep_mlp(depth, width, activation, "scaled", sigma_w=sigma_w, seed=seed,
                                 dtype=torch.float64)
                p = gradient_profile(model, X, y, activation)
                rows.append({"activation": activation, "sigma_w": sigma_w, "seed": seed,
                             "measured": measured_factor(p.delta), "chi": chi(activation, sigma_w),
                             "first": p.delta[0], "last": p.delta[-1]})
    return pd.DataFrame(rows)


def _frame(depth: int, activation: str, sigma_w: float, X, y, seed: int = 0) -> Frame:
    model = deep_mlp(depth, 64, activation, "scaled", sigma_w=sigma_w, seed=seed, dtype=torch.float64)
    p = gradient_profile(model, X, y, activation)
    layers = np.arange(1, depth + 1)
    predicted = predicted_profile(activation, sigma_w, p.q, p.delta[-1])
    star = chi(activation, sigma_w)
    ratio = p.delta[0] / p.delta[-1]
    items = [Line(layers, p.delta, color=PALETTE[0], width=1.8, marker="o", markersize=3,
                  label="measured ‖δₗ‖", panel="main"),
             Line(layers, predicted, color=PALETTE[1], width=1.6, style="--",
                  label="mean-field prediction ∏ₖ χ(qₖ)", panel="main")]
    if not GRAD_YLIM[0] <= p.delta[0] <= GRAD_YLIM[1]:
        items.append(Label(0.02, 0.04 if p.delta[0] < GRAD_YLIM[0] else 0.92,
                           f"layer 1 off the axis: {p.delta[0]:.1e}", coords="axes", panel="main",
                           size=min_text_pt(GRADIENT_FIGSIZE[0])))
    regime = "vanishing" if star < 0.99 else "exploding" if star > 1.01 else "at the edge"
    text = [f"χ* = {star:.3g} per layer ({regime}); measured factor {measured_factor(p.delta):.3g}; "
            f"‖δ₁‖/‖δ{str(depth).translate(_SUBSCRIPT)}‖ = {ratio:.2e} over {depth} layers"]
    return Frame(items, text)


GRAD_YLIM = (1e-30, 1e20)
GRADIENT_FIGSIZE = (7.5, 3.4)
_SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def gradient_explorer(X: torch.Tensor, y: torch.Tensor, *, name: str = "initialization-gradients",
                      depths: Sequence[int] = (5, 10, 20, 50),
                      sigma_ws: Sequence[float] = (0.5, 0.8, 1.0, 1.2, 1.5, 2.0, 3.0)) -> Explorer:
    r"""Depth, activation and :math:`\sigma_w` → the per-layer gradient norm :math:`\lVert\delta_l\rVert` of a
    width-64 MLP with :math:`W \sim \mathcal N(0, \sigma_w^2/n)` on the batch ``(X, y)`` (log axis), and the
    mean-field prediction :math:`\lVert\delta_L\rVert \prod_k \chi(q_k)^{1/2}`."""
    X = X.to(torch.float64)
    controls = {
        "depth": Control(tuple(depths), label="depth L (weight layers)", default=depths[-1]),
        "activation": Control(tuple(ACTIVATIONS), label="activation φ", default="tanh"),
        "sigma_w": Control(tuple(sigma_ws), label="weight scale", format=".2g",
                           default=1.0 if 1.0 in sigma_ws else sigma_ws[0]),
    }
    return Explorer(
        name, controls, lambda depth, activation, sigma_w: _frame(depth, activation, sigma_w, X, y),
        panels=(Panel("main", xlabel=r"weight layer $l$ (input side → output side)",
                      ylabel=r"gradient norm $\|\partial\ell/\partial z_l\|$", yscale="log",
                      xlim=(0.0, max(depths) + 1.0), ylim=GRAD_YLIM, grid=True),),
        caption=("Per-layer norm of the gradient of the loss with respect to each layer's pre-activations, "
                 "root mean square over 128 digits, at initialization with weights drawn from a normal "
                 "distribution of variance (weight scale)²/64. The dashed line "
                 "multiplies the output layer's gradient by the mean-field factor χ(q) of every layer in between."),
        figsize=GRADIENT_FIGSIZE,
    )


# ------------------------------------------------------------------------------------ 3. symmetry breaking
def _accuracy_rows(h, setting: str, seeds: Sequence[int], **extra) -> list[dict]:
    rows = []
    for c, seed in enumerate(seeds):
        rows.append({"setting": setting, "seed": seed, "train_loss": h.train_loss[c, -1],
                     "test_acc": h.test_acc[c, -1], "diverged": bool(h.diverged[c]),
                     **{k: (v[c] if isinstance(v, np.ndarray) else v) for k, v in extra.items()}})
    return rows


class SymmetryRuns(NamedTuple):
    """``table``: one row per setting and seed (``setting, seed, train_loss, test_acc, diverged, spread,
    ratio``); ``spread``: for the all-equal net, ``(segments + 1, seeds)`` unit spreads after each segment of
    updates (``steps`` holds the update counts), ``ratio`` the same for :math:`s_2/s_1`."""

    table: pd.DataFrame
    steps: np.ndarray
    spread: np.ndarray
    ratio: np.ndarray


def _spread_and_ratio(W1: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    r"""Per copy: :math:`\max_i \lVert w_i - w_1\rVert` and :math:`s_2/s_1` of ``W1`` ``(C, units, inputs)``."""
    spread = (W1 - W1[:, :1]).norm(dim=2).amax(dim=1).double().numpy()
    s = torch.linalg.svdvals(W1.double())
    ratio = (s[:, 1] / s[:, 0]).numpy() if s.shape[1] > 1 else np.zeros(len(W1))
    return spread, ratio


def symmetry_runs(data: Dataset, seeds: Sequence[int], *, hidden: int = 16, value: float = 0.1, steps: int = 400,
                  segments: int = 8, eta: float = 0.1, batch_size: int = 32) -> SymmetryRuns:
    r"""Train a one-hidden-layer tanh MLP ``64 → hidden → 10`` in float64 from all-equal weights (every weight
    ``value``, zero biases), from Xavier-normal weights, and a one-unit net ``64 → 1 → 10`` (Xavier normal),
    with plain mini-batch gradient descent; one copy per seed (the seed draws the weights and the batch order).

    The all-equal net is trained in ``segments`` pieces (each continuing from the last, with a fresh batch
    order) so that the spread between its hidden units, :math:`\max_i \lVert w_i - w_1 \rVert` over the units'
    incoming weight vectors, and the ratio :math:`s_2/s_1` of the two largest singular values of the first
    weight matrix (0 for a matrix of rank one) can be followed during training."""
    seeds = list(seeds)

    def net(width, scheme, s):
        return deep_mlp(2, width, "tanh", scheme, sigma_w=value, seed=s, dtype=torch.float64)

    rows: list[dict] = []
    spreads, ratios, done = [], [], [0]
    params = None
    per = steps // segments
    for k in range(segments + 1):
        if params is not None:
            W1 = params["0.weight"]
        else:
            W1 = torch.stack([net(hidden, "constant", s)[0].weight.detach() for s in seeds])
        sp, ra = _spread_and_ratio(W1)
        spreads.append(sp)
        ratios.append(ra)
        if k == segments:
            break

        def model_fn(c, previous=params):
            model = net(hidden, "constant", seeds[c])
            if previous is not None:
                with torch.no_grad():
                    for name, p in model.named_parameters():
                        p.copy_(previous[name][c])
            return model

        h = train.train_stacked(model_fn, list(range(len(seeds))), "gd", data, hparams={"eta": eta}, steps=per,
                                batch_size=batch_size, data_seeds=[1000 * s + k for s in seeds], eval_every=per,
                                progress=False)
        params = h.params
        done.append(done[-1] + per)
    rows += _accuracy_rows(h, "all equal", seeds, spread=spreads[-1], ratio=ratios[-1])
    for setting, width in (("random", hidden), ("one unit", 1)):
        h = train.train_stacked(lambda s, width=width: net(width, "xavier normal", s), seeds, "gd", data,
                                hparams={"eta": eta}, steps=per * segments, batch_size=batch_size,
                                eval_every=per * segments, progress=False)
        sp, ra = _spread_and_ratio(h.params["0.weight"])
        rows += _accuracy_rows(h, setting, seeds, spread=sp, ratio=ra)
    return SymmetryRuns(pd.DataFrame(rows), np.array(done), np.array(spreads), np.array(ratios))


# ---------------------------------------------------------------------------------- 4. saturation and scale
def saturation_table(X: torch.Tensor, y: torch.Tensor, scales: Sequence[float], *, activation: str = "tanh",
                     depth: int = 5, width: int = 64, seeds: Sequence[int] = (0, 1, 2)) -> pd.DataFrame:
    r"""At initialization with :math:`W_{ij} \sim \mathcal N(0, s^2)`: the fraction of saturated hidden units
    (:math:`\phi'(z) < 0.1`), the mean squared pre-activation of the first layer and the norm of the first
    layer's weight gradient, for every scale :math:`s` and seed. Columns ``scale, seed, saturated, q1,
    grad_first, grad_last``."""
    rows = []
    for scale in scales:
        for seed in seeds:
            model = deep_mlp(depth, width, activation, "normal", sigma_w=scale, seed=seed, dtype=torch.float64)
            p = gradient_profile(model, X, y, activation)
            rows.append({"scale": scale, "seed": seed, "saturated": float(p.saturated[:-1].mean()),
                         "q1": p.q[0], "grad_first": p.weight_grad[0], "grad_last": p.weight_grad[-1]})
    return pd.DataFrame(rows)


def escape_step(loss: np.ndarray, threshold: float, window: int = 20) -> int:
    """First update at which the mean of the last ``window`` mini-batch losses is below ``threshold``; ``-1`` if
    never (or if the run diverged first)."""
    finite = np.where(np.isfinite(loss), loss, np.inf)
    if len(finite) < window:
        return -1
    mean = np.convolve(finite, np.ones(window) / window, mode="valid")
    below = np.flatnonzero(mean < threshold)
    return int(below[0] + window) if below.size else -1


class ScaleRuns(NamedTuple):
    """Training from :math:`\\mathcal N(0, s^2)` at several scales: ``table`` (one row per scale and seed:
    ``scale, seed, escape, acc_early, acc_final, loss_final``) and the ``history`` of the stacked run (copy
    ``c`` has ``scale = scales[c]``)."""

    table: pd.DataFrame
    history: train.StackedHistory
    scales: np.ndarray


def scale_runs(data: Dataset, scales: Sequence[float], seeds: Sequence[int], *, activation: str = "tanh",
               depth: int = 5, width: int = 32, steps: int = 800, eta: float = 0.1, batch_size: int = 32,
               threshold: float = 2.0, early: int = 100) -> ScaleRuns:
    r"""Train the depth-``depth`` MLP from :math:`W_{ij} \sim \mathcal N(0, s^2)` for every scale :math:`s` and
    seed, stacked, with mini-batch gradient descent; measure the plateau (the :func:`escape_step` at which the
    loss falls below ``threshold``; :math:`\ln 10 \approx 2.30` is the loss of a uniform guess) and the test
    accuracy after ``early`` updates and at the end."""
    copies = [(s, seed) for s in scales for seed in seeds]
    h = train.train_stacked(
        lambda k: deep_mlp(depth, width, activation, "normal", sigma_w=copies[k][0], seed=copies[k][1]),
        list(range(len(copies))), "gd", data, hparams={"eta": eta}, steps=steps, batch_size=batch_size,
        data_seeds=[seed for _, seed in copies], eval_every=early, progress=False)
    at_early = int(np.flatnonzero(h.eval_step == early)[0])
    rows = [{"scale": s, "seed": seed, "escape": escape_step(h.loss[c], threshold),
             "acc_early": h.test_acc[c, at_early], "acc_final": h.test_acc[c, -1],
             "loss_final": h.train_loss[c, -1]}
            for c, (s, seed) in enumerate(copies)]
    return ScaleRuns(pd.DataFrame(rows), h, np.array([s for s, _ in copies]))


# -------------------------------------------------------------------------------- 5. schemes on the digits
class SchemeRuns(NamedTuple):
    """One stacked run per initialization scheme: ``table`` (``scheme, seed, train_loss, test_acc, diverged,
    diverged_at``), the ``history`` and the ``scheme`` of every copy."""

    table: pd.DataFrame
    history: train.StackedHistory
    scheme: np.ndarray


def scheme_runs(data: Dataset, seeds: Sequence[int], *, schemes: Sequence[str] = SCHEMES, activation: str = "relu",
                depth: int = 8, width: int = 32, steps: int = 300, eta: float = 0.05, batch_size: int = 32,
                eval_every: int = 50, max_loss: float = 1e3) -> SchemeRuns:
    r"""Train the same deep MLP from every scheme of :data:`SCHEMES` and seed, stacked, with mini-batch gradient
    descent; a copy whose loss exceeds ``max_loss`` or is not finite is stopped and reported as diverged."""
    copies = [(scheme, seed) for scheme in schemes for seed in seeds]
    h = train.train_stacked(
        lambda k: deep_mlp(depth, width, activation, copies[k][0], seed=copies[k][1]),
        list(range(len(copies))), "gd", data, hparams={"eta": eta}, steps=steps, batch_size=batch_size,
        data_seeds=[seed for _, seed in copies], eval_every=eval_every, max_loss=max_loss, progress=False)
    rows = [{"scheme": scheme, "seed": seed, "train_loss": h.train_loss[c, -1], "test_acc": h.test_acc[c, -1],
             "diverged": bool(h.diverged[c]), "diverged_at": int(h.diverged_at[c])}
            for c, (scheme, seed) in enumerate(copies)]
    return SchemeRuns(pd.DataFrame(rows), h, np.array([s for s, _ in copies]))


def scheme_gradients(X: torch.Tensor, y: torch.Tensor, *, schemes: Sequence[str] = SCHEMES,
                     activation: str = "relu", depth: int = 8, width: int = 32, seed: int = 0) -> pd.DataFrame:
    r"""The norm of :math:`\partial L/\partial W_l` for every layer at initialization, per scheme (float64).
    Columns ``scheme, layer, weight_grad, saturated``."""
    rows = []
    for scheme in schemes:
        model = deep_mlp(depth, width, activation, scheme, seed=seed, dtype=torch.float64)
        p = gradient_profile(model, X, y, activation)
        rows += [{"scheme": scheme, "layer": l + 1, "weight_grad": g} for l, g in enumerate(p.weight_grad)]
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------- 6. clipping
def _clipped_gd_init(theta):
    return ()


def _clipped_gd_update(g, state, theta, *, eta, max_norm=math.inf):
    r""":math:`\theta \leftarrow \theta - \eta\, g \min(1, c/(\lVert g\rVert + 10^{-6}))` on the stacked
    ``(C, P)`` gradient: every row is one copy's whole gradient, so this is ``clip_grad_norm_`` per copy."""
    clipped, _ = clip_by_total_norm(g, max_norm)
    return -eta * clipped, state


# A rule for train_stacked only: there the gradient is one (C, P) tensor, a row per copy. (train() applies a
# rule tensor by tensor, which would clip every layer separately.)
CLIPPED_GD = rules.Rule("clipped_gd", "Gradient descent with norm clipping", _clipped_gd_init,
                               _clipped_gd_update, {"max_norm": math.inf})


class ClipRuns(NamedTuple):
    """``table``: ``eta, max_norm, seed, diverged, diverged_at, train_loss, test_acc, grad_norm0`` (the
    full-batch gradient norm at initialization), ``over_cap`` (at the final weights, the fraction of the
    mini-batches of one pass over the training set whose gradient norm exceeds ``max_norm``: how often the cap
    still binds at the end; NaN for a diverged copy); ``history``; ``setting`` of every copy (its index in
    ``settings``)."""

    table: pd.DataFrame
    history: train.StackedHistory
    setting: np.ndarray


def clipping_runs(data: Dataset, settings: Sequence[tuple[float, float]], seeds: Sequence[int], *,
                  activation: str = "relu", depth: int = 8, width: int = 32, sigma_w: float = 2.0, steps: int = 300,
                  batch_size: int = 32, eval_every: int = 25, max_loss: float = 1e3) -> ClipRuns:
    r"""Mini-batch gradient descent with learning rate :math:`\eta` and norm clipping at :math:`c`
    (``settings``: pairs ``(eta, max_norm)``; ``max_norm = inf``: no clipping) on a deep ReLU MLP initialized in
    the exploding regime, :math:`W \sim \mathcal N(0, \sigma_w^2/n)` with :math:`\chi = \sigma_w^2/2 > 1`;
    stacked over settings × seeds (the seed draws the weights and the batch order)."""
    copies = [(k, seed) for k in range(len(settings)) for seed in seeds]
    h = train.train_stacked(
        lambda i: deep_mlp(depth, width, activation, "scaled", sigma_w=sigma_w, seed=copies[i][1]),
        list(range(len(copies))), CLIPPED_GD, data,
        hparams={"eta": [settings[k][0] for k, _ in copies], "max_norm": [settings[k][1] for k, _ in copies]},
        steps=steps, batch_size=batch_size, data_seeds=[seed for _, seed in copies], eval_every=eval_every,
        max_loss=max_loss, progress=False)
    X, y = data.X_train, data.y_train
    g0 = {}
    for seed in seeds:
        model = deep_mlp(depth, width, activation, "scaled", sigma_w=sigma_w, seed=seed)
        losses.cross_entropy(model(X.to(model[0].weight.dtype)), y).backward()
        g0[seed] = float(clip_grad_norm_(model.parameters(), math.inf))  # the norm, nothing clipped
    final = _final_batch_norms(h, data, lambda: deep_mlp(depth, width, activation, "scaled", sigma_w=sigma_w),
                               batch_size)
    rows = [{"eta": settings[k][0], "max_norm": settings[k][1], "seed": seed, "diverged": bool(h.diverged[i]),
             "diverged_at": int(h.diverged_at[i]), "train_loss": h.train_loss[i, -1], "test_acc": h.test_acc[i, -1],
             "grad_norm0": g0[seed], "over_cap": float(np.mean(final[i] > settings[k][1])) if not h.diverged[i]
             else math.nan} for i, (k, seed) in enumerate(copies)]
    return ClipRuns(pd.DataFrame(rows), h, np.array([k for k, _ in copies]))


def _final_batch_norms(h: train.StackedHistory, data: Dataset, make_model, batch_size: int,
                       seed: int = 0) -> np.ndarray:
    """``(C, B)``: the gradient norm of every copy at its final parameters on each of the ``B`` full mini-batches
    of one shuffled pass over the training set (the same batches for every copy; NaN rows for diverged copies).
    Vectorized with ``torch.func.vmap`` over copies and batches: one call instead of ``C × B`` backward passes."""
    model = make_model()
    X, y = data.X_train.to(model[0].weight.dtype), data.y_train
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))
    batches = order[: len(X) // batch_size * batch_size].reshape(-1, batch_size)
    norms = np.full((h.n_copies, len(batches)), math.nan)
    kept = torch.as_tensor(np.flatnonzero(~np.asarray(h.diverged)))
    if len(kept) == 0:
        return norms

    def loss(params, xb, yb):
        return losses.cross_entropy(torch.func.functional_call(model, params, (xb,)), yb)

    per_batch = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0, 0))
    params = {name: h.params[name][kept].detach() for name, _ in model.named_parameters()}
    grads = torch.func.vmap(per_batch, in_dims=(0, None, None))(params, X[batches], y[batches])
    norms[kept.numpy()] = torch.sqrt(sum(g.pow(2).flatten(2).sum(2) for g in grads.values())).double().numpy()
    return norms


# ------------------------------------------------------------------------------------------------ figures
def plot_profiles(axes, X: torch.Tensor, y: torch.Tensor, sigma_ws: Sequence[float], *, depth: int = 50,
                  seed: int = 0) -> None:
    """One panel per activation (``axes`` in the order of :data:`ACTIVATIONS`, on a figure made with
    ``layout="constrained"``): measured per-layer gradient norms (solid) and the mean-field prediction (dashed)
    for every :math:`\\sigma_w`, log axis, and one legend under the panels."""
    X = X.to(torch.float64)
    layers = np.arange(1, depth + 1)
    for ax, activation in zip(axes, ACTIVATIONS, strict=True):
        for i, sigma_w in enumerate(sigma_ws):
            model = deep_mlp(depth, 64, activation, "scaled", sigma_w=sigma_w, seed=seed, dtype=torch.float64)
            p = gradient_profile(model, X, y, activation)
            color = PALETTE[i % len(PALETTE)]
            ax.semilogy(layers, p.delta, color=color, lw=1.6, label=f"$\\sigma_w = {sigma_w:g}$")
            ax.semilogy(layers, predicted_profile(activation, sigma_w, p.q, p.delta[-1]), color=color, lw=1.2,
                        ls="--")
        ax.set(title=activation, xlabel=r"weight layer $l$", ylim=GRAD_YLIM)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(r"$\|\partial\ell/\partial z_l\|$ (RMS over examples)")
    # one legend for the figure, under the panels (wider than one panel, it would squeeze the panel holding it);
    # "outside" needs a figure made with layout="constrained"
    axes[0].figure.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=4,
                          title=r"solid: measured, dashed: $\prod_k\,\chi(q_k)$")


def plot_factors(ax, table: pd.DataFrame) -> None:
    """Measured per-layer factor against the mean-field :math:`\\chi^*` (log–log), one marker per run."""
    markers = {"sigmoid": "s", "tanh": "o", "relu": "^"}
    for i, (activation, group) in enumerate(table.groupby("activation", sort=False)):
        ax.loglog(group["chi"], group["measured"], markers[activation], color=PALETTE[i], ms=5, alpha=0.8,
                  label=activation)
    lo = min(table["chi"].min(), table["measured"].min()) / 1.5
    hi = max(table["chi"].max(), table["measured"].max()) * 1.5
    ax.loglog([lo, hi], [lo, hi], color="0.5", lw=1, ls=":", label=r"measured = $\chi^*$")
    ax.axhline(1.0, color="0.7", lw=0.8)
    ax.set(xlabel=r"mean-field $\chi^* = \sigma_w^2\,\mathbb{E}[\phi^{\prime}(h)^2]$ at $q^*$",
           ylabel="measured factor per layer",
           title=r"Per-layer factor of $\|\delta\|^2$, measured vs predicted")
    ax.legend()
    ax.grid(alpha=0.3, which="both")


def smoothed(loss: np.ndarray, window: int = 20) -> np.ndarray:
    """Running mean of the last ``window`` mini-batch losses (``NaN`` until ``window`` of them exist)."""
    out = np.full(loss.shape, np.nan)
    kernel = np.ones(window) / window
    for c in range(loss.shape[0]):
        out[c, window - 1:] = np.convolve(loss[c], kernel, mode="valid")
    return out


def plot_band_by(ax, x: np.ndarray, curves: np.ndarray, groups: np.ndarray, labels: Mapping, *, log: bool = False):
    """Mean (line) and min–max over copies (band) of ``curves (C, T)`` for each group value, in the order of
    ``labels`` (group → legend text)."""
    for i, (key, text) in enumerate(labels.items()):
        rows = curves[groups == key]
        color = PALETTE[i % len(PALETTE)]
        with warnings.catch_warnings():  # a column where every copy has diverged is all-NaN: no line there
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, lo, hi = np.nanmean(rows, 0), np.nanmin(rows, 0), np.nanmax(rows, 0)
        ax.plot(x, mean, color=color, lw=1.6, label=text)
        ax.fill_between(x, lo, hi, color=color, alpha=0.15, lw=0)
    if log:
        ax.set_yscale("log")
