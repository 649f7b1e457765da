r"""The experiments of the chapter "Feature scaling and batch normalization".

1. **Feature scaling** on a 2-D least-squares problem :math:`L(w) = \frac1n\lVert Xw - y\rVert^2` whose second
   feature is multiplied by :math:`s`: the Hessian :math:`H = \frac2n X^\top X`, its condition number
   :math:`\kappa`, the largest stable learning rate :math:`2/\lambda_{\max}` and the steps gradient descent needs,
   before and after standardizing the features (:func:`scaled_problem`, :func:`standardized`,
   :func:`scaling_row`). The runs use :mod:`lib.trajectories`, the theory :mod:`lib.convergence`.
2. **Batch normalization in a network**: the digits MLP with a :class:`lib.norm.BatchNorm1d` after every hidden
   linear layer (:func:`bn_mlp`), trained with plain SGD while the loss and the gradient are probed along the
   gradient direction at every step (:func:`landscape_probe`, Santurkar et al.'s "loss landscape" and
   "gradient predictiveness"), with the top Hessian eigenvalue at a few points of training (:mod:`lib.hessian`).

References:
    Y. LeCun, L. Bottou, G. B. Orr and K.-R. Müller (1998), Efficient BackProp, in Neural Networks: Tricks of
    the Trade, Springer (§4.3, normalizing the inputs).
    S. Ioffe and C. Szegedy (2015), Batch normalization, ICML.
    S. Santurkar, D. Tsipras, A. Ilyas and A. Madry (2018), How does batch normalization help optimization?,
    NeurIPS (§3.1, Figure 4).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad_and_value, vmap

from lib import checks, convergence, hessian, losses, models, norm, trajectories, viz
from lib.data import Dataset, LeastSquares
from lib.surfaces import CriticalPoint, Surface

__all__ = [
    "ProbeHistory",
    "ScalingRow",
    "bn_mlp",
    "eval_in_modes",
    "landscape_probe",
    "least_squares_surface",
    "running_average",
    "running_average_explorer",
    "scaling_explorer",
    "scaled_problem",
    "scaling_row",
    "standardized",
]


# ------------------------------------------------------------------------------------------- feature scaling
def _least_squares(X: np.ndarray, y: np.ndarray, theta_true: np.ndarray) -> LeastSquares:
    theta_star = np.linalg.lstsq(X, y, rcond=None)[0]
    r = X @ theta_star - y
    return LeastSquares(X, y, theta_true, theta_star, float(np.mean(r * r)))


def scaled_problem(s: float, n: int = 200, rho: float = 0.3, noise: float = 0.1, seed: int = 0) -> LeastSquares:
    r"""Two correlated features, the second multiplied by ``s``: :math:`x = (z_1, s z_2)`,
    :math:`y = x^\top w + \sigma\varepsilon`.

    :math:`z` is standard normal with correlation ``rho``, centred; the true weights are :math:`(1, 1/s)`, so the
    second feature contributes as much to :math:`y` whatever :math:`s`. The Hessian of the mean squared error is
    :math:`H = \frac2n X^\top X \approx 2\begin{pmatrix}1 & \rho s\\ \rho s & s^2\end{pmatrix}`.

    References:
        LeCun et al. (1998), Efficient BackProp, §4.3.
    """
    s = checks.check_positive("s", s)
    rho = checks.check_in_range("rho", rho, -1.0, 1.0, low_open=True, high_open=True)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 2))
    z[:, 1] = rho * z[:, 0] + math.sqrt(1 - rho * rho) * z[:, 1]
    X = z * np.array([1.0, s])
    theta_true = np.array([1.0, 1.0 / s])
    y = X @ theta_true + noise * rng.standard_normal(n)
    return _least_squares(X, y, theta_true)


def standardized(problem: LeastSquares) -> LeastSquares:
    r"""The same problem on standardized features :math:`\tilde x_j = (x_j - \mu_j)/\sigma_j` (feature normalization).

    A weight :math:`\tilde w_j` on the standardized feature is :math:`w_j \sigma_j` on the raw one.

    References:
        LeCun et al. (1998), §4.3; Ng, *Improving Deep Neural Networks*, "Normalizing inputs".
    """
    X = problem.X
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return _least_squares(X, problem.y, problem.theta_true * problem.X.std(axis=0))


def least_squares_surface(problem: LeastSquares, label: str = "", span: float = 1.5) -> Surface:
    r"""The loss of a 2-feature :class:`~lib.data.LeastSquares` as a :class:`~lib.surfaces.Surface`,
    :math:`L(w) = L^\star + (w - w^\star)^\top \tfrac{H}{2} (w - w^\star)`, for :mod:`lib.trajectories`.

    The plotting box is the square :math:`w^\star \pm` ``span``: with equal axes the contours then show their
    true elongation (a valley about :math:`s` times narrower than long on raw features).
    """
    if problem.X.shape[1] != 2:
        raise checks.invalid("problem", f"{problem.X.shape[1]} features", "expected 2")
    H = problem.hessian
    a, b, d = (float(v) for v in (H[0, 0], H[0, 1], H[1, 1]))
    w1, w2 = (float(v) for v in problem.theta_star)
    c = problem.loss_star
    span2 = span
    return Surface(
        name="least_squares",
        label=label or "least squares",
        bounds=((w1 - span, w1 + span), (w2 - span2, w2 + span2)),
        starts=((w1 - 0.9 * span, w2 + 0.8 * span2),),
        critical_points=(CriticalPoint((w1, w2), "global minimum"),),
        f=lambda x, y: c + 0.5 * (a * (x - w1) * (x - w1) + 2.0 * b * (x - w1) * (y - w2) + d * (y - w2) * (y - w2)),
        df=lambda x, y: (a * (x - w1) + b * (y - w2), b * (x - w1) + d * (y - w2)),
        d2f=lambda x, y: ((a, b), (b, d)),
        formula=r"L^\star + \tfrac12 (w - w^\star)^\top H (w - w^\star)",
    )


class ScalingRow(NamedTuple):
    """Curvature, stability limit and steps of gradient descent on one problem."""

    kappa: float  # condition number of H
    lam_max: float
    eta_max: float  # 2 / lam_max: the largest stable learning rate
    eta_star: float  # 2 / (lam_min + lam_max): the best constant learning rate
    steps_theory: int  # ceil(ln tol / ln rho*), rho* = (kappa - 1)/(kappa + 1)
    steps_measured: int  # steps of GD at eta_star until |w - w*| stays below tol of its start
    diverged_above: int  # the step at which GD with 1.05 eta_max diverged (-1: it did not within `steps`)


def scaling_row(problem: LeastSquares, tol: float = 1e-6, steps: int = 20000) -> ScalingRow:
    r"""Measure gradient descent on ``problem`` against the :math:`\kappa` theory of :mod:`lib.convergence`.

    With :math:`\eta^\star = 2/(\lambda_{\min}+\lambda_{\max})` the error shrinks by
    :math:`\rho^\star = (\kappa-1)/(\kappa+1)` per step; above :math:`2/\lambda_{\max}` it grows.
    """
    lam_min, lam_max = (float(v) for v in np.linalg.eigvalsh(problem.hessian))
    best = convergence.gd_optimal(lam_min, lam_max)
    surface = least_squares_surface(problem)
    start = np.array(surface.starts[0])
    predicted = int(convergence.predicted_steps(best.rate, tol))
    run = trajectories.run("gd", surface, start, min(steps, 3 * predicted + 50), eta=best.eta)
    err = np.linalg.norm(run.path[0] - problem.theta_star, axis=1)
    measured = int(convergence.steps_to_tolerance(err, tol))
    unstable = trajectories.run("gd", surface, start, 2000, eta=1.05 * 2.0 / lam_max, bound=1e3)
    return ScalingRow(lam_max / lam_min, lam_max, 2.0 / lam_max, best.eta, predicted, measured,
                      int(unstable.diverged_at[0]))


# ----------------------------------------------------------------------------------------------- networks
def bn_mlp(sizes, seed: int = 0, bn: bool = True, activation: str = "relu", track_running_stats: bool = True,
           momentum: float | None = 0.1, dtype: torch.dtype = torch.float32) -> nn.Sequential:
    r""":func:`lib.models.mlp` with a :class:`lib.norm.BatchNorm1d` after every hidden linear layer (``bn``).

    :math:`h_k = \phi(\mathrm{BN}(W_k h_{k-1} + b_k))`. The linear layers get the same initial weights as
    ``lib.models.mlp(sizes, seed=seed)``, so a network with and without batch normalization start from the same
    point (``bn=False`` returns that MLP itself). ``track_running_stats=False`` keeps no running statistics:
    every forward pass normalizes with the statistics of its own batch (what the stacked trainer needs).

    References:
        Ioffe & Szegedy (2015), §3.2 (the normalization before the nonlinearity).
    """
    base = models.mlp(sizes, activation=activation, seed=seed, dtype=dtype)
    if not bn:
        return base
    layers: list[nn.Module] = []
    linear = [m for m in base if isinstance(m, nn.Linear)]
    for layer in base:
        layers.append(layer)
        if isinstance(layer, nn.Linear) and layer is not linear[-1]:
            layers.append(norm.BatchNorm1d(layer.out_features, momentum=momentum,
                                           track_running_stats=track_running_stats, dtype=dtype))
    return nn.Sequential(*layers)


class ProbeHistory(NamedTuple):
    """What :func:`landscape_probe` measured, one row per update ``(steps,)`` unless said otherwise."""

    loss: np.ndarray  # mini-batch loss before the update
    loss_range: np.ndarray  # max - min of the loss at the probe points along -g (Santurkar's "loss landscape")
    grad_change: np.ndarray  # max over the probes of |g(w - a g) - g(w)| ("gradient predictiveness", lower = better)
    beta_smooth: np.ndarray  # max over the probes of |g(w - a g) - g(w)| / |a g| ("effective beta-smoothness")
    sharpness_step: np.ndarray  # (E,) updates at which the top Hessian eigenvalue was measured
    sharpness: np.ndarray  # (E,) top eigenvalue of the Hessian of the full training loss there
    test_acc: float  # final test accuracy (evaluation mode)


def _loss(model, params, x, y):
    return losses.cross_entropy(functional_call(model, params, (x,)), y)


def landscape_probe(model: nn.Module, data: Dataset, *, eta: float, epochs: int, batch_size: int = 64,
                    probes=(0.25, 0.5, 1.0, 2.0, 4.0), hessian_every: int = 0, seed: int = 0) -> ProbeHistory:
    r"""Train ``model`` with SGD, :math:`w \leftarrow w - \eta g`, and probe the landscape at every update.

    At each update, with :math:`g = \nabla L_B(w)` on the current mini-batch :math:`B`, the loss and gradient are
    evaluated (same batch, batch statistics) at :math:`w - a\eta g` for every :math:`a` in ``probes``:

    .. math::
        \text{loss range} = \max_a L_B(w - a\eta g) - \min_a L_B(w - a\eta g), \qquad
        \text{gradient change} = \max_a \lVert \nabla L_B(w - a\eta g) - g \rVert,

    and the effective smoothness :math:`\max_a \lVert \nabla L_B(w - a\eta g) - g\rVert / \lVert a\eta g\rVert`.
    Every ``hessian_every`` updates (and at the start and the end) the top Hessian eigenvalue of the full training
    loss is measured by :func:`lib.hessian.top_eigenvalues` (batch normalization then uses the statistics of the
    whole training set). The model is trained in place, in training mode; the test accuracy at the end is taken
    in evaluation mode.

    References:
        Santurkar et al. (2018), §3.1 and Figure 4 (the same probes, on VGG and CIFAR-10).
    """
    eta = checks.check_positive("learning rate", eta)
    epochs = checks.check_int("epochs", epochs, minimum=1)
    batch_size = checks.check_int("batch_size", batch_size, minimum=2)
    a = torch.as_tensor(np.asarray(probes, dtype=np.float64), dtype=next(model.parameters()).dtype)
    names = [k for k, _ in model.named_parameters()]
    params = {k: p.detach().clone() for k, p in model.named_parameters()}
    buffers = {k: b for k, b in model.named_buffers()}
    layers = [m for m in model.modules() if isinstance(m, norm.BatchNorm1d)]
    tracking = [m.track_running_stats for m in layers]
    model.train()

    def pure_loss(p, x, y):
        # batch statistics only: the probes must not update the running statistics (nor could they under vmap)
        for m in layers:
            m.track_running_stats = False
        try:
            return _loss(model, p, x, y)
        finally:
            for m, t in zip(layers, tracking, strict=True):
                m.track_running_stats = t

    step_grad = grad_and_value(pure_loss)
    probe_grad = vmap(grad_and_value(pure_loss), in_dims=(0, None, None))
    X, Y = data.X_train, data.y_train
    n = len(X)
    gen = torch.Generator().manual_seed(seed)
    rows, sharp_steps, sharp = [], [], []

    def top_eigenvalue() -> float:
        leaves = [params[k].clone().requires_grad_(True) for k in names]
        value = hessian.top_eigenvalues(lambda: pure_loss(dict(zip(names, leaves, strict=True)), X, Y), leaves,
                                        k=1, tol=1e-3)
        return float(value.values[0])

    step = 0
    total = epochs * math.ceil(n / batch_size)
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            if len(idx) < 2:
                continue
            x, y = X[idx], Y[idx]
            if hessian_every and step % hessian_every == 0:
                sharp_steps.append(step)
                sharp.append(top_eigenvalue())
            g, value = step_grad(params, x, y)
            flat = torch.cat([g[k].reshape(-1) for k in names])
            moved = {k: params[k][None] - (a * eta).reshape(-1, *([1] * params[k].dim())) * g[k][None]
                     for k in names}
            gp, lp = probe_grad(moved, x, y)
            gflat = torch.cat([gp[k].reshape(len(a), -1) for k in names], dim=1)
            change = torch.linalg.vector_norm(gflat - flat, dim=1)
            dist = a * eta * torch.linalg.vector_norm(flat)
            all_losses = torch.cat([value.reshape(1), lp])
            rows.append((float(value), float(all_losses.max() - all_losses.min()), float(change.max()),
                         float((change / dist).max())))
            # the real step, in training mode: the running statistics see this batch once
            with torch.no_grad():
                for k in names:
                    params[k] = params[k] - eta * g[k]
                functional_call(model, {**params, **buffers}, (x,))
            step += 1
    if hessian_every:
        sharp_steps.append(total)
        sharp.append(top_eigenvalue())
    with torch.no_grad():
        for k, p in model.named_parameters():
            p.copy_(params[k])
    model.eval()
    with torch.no_grad():
        acc = float((model(data.X_test).argmax(-1) == data.y_test).double().mean())
    model.train()
    table = np.array(rows, dtype=np.float64)
    return ProbeHistory(table[:, 0], table[:, 1], table[:, 2], table[:, 3], np.array(sharp_steps),
                        np.array(sharp, dtype=np.float64), acc)


def eval_in_modes(model: nn.Module, data: Dataset, batch_size: int) -> dict[str, float]:
    r"""Test accuracy of a trained batch-normalized ``model`` three ways.

    ``"eval"``: evaluation mode (running statistics, each example on its own); ``"train, batches of B"``:
    training mode on consecutive test batches of ``batch_size`` (each batch normalized by its own statistics;
    a last batch of one example is dropped, as training mode cannot normalize it); ``"train, whole test set"``:
    training mode on all test examples at once. The running statistics are left as they were.
    """
    batch_size = checks.check_int("batch_size", batch_size, minimum=2)
    saved = {k: b.clone() for k, b in model.named_buffers()}
    X, Y = data.X_test, data.y_test
    out = {}
    with torch.no_grad():
        model.eval()
        out["eval"] = float((model(X).argmax(-1) == Y).double().mean())
        model.train()
        right, count = 0, 0
        for i in range(0, len(X), batch_size):
            xb, yb = X[i:i + batch_size], Y[i:i + batch_size]
            if len(xb) < 2:
                continue
            right += int((model(xb).argmax(-1) == yb).sum())
            count += len(xb)
        out["train, batches of B"] = right / count
        out["train, whole test set"] = float((model(X).argmax(-1) == Y).double().mean())
        for k, b in model.named_buffers():
            b.copy_(saved[k])
    model.eval()
    return out


def running_average(x: torch.Tensor, p: float, batch_size: int, steps: int, seed: int = 0,
                    momentum_none: bool = False) -> tuple[np.ndarray, np.ndarray]:
    r"""Batch means of the columns of ``x`` and the running mean :class:`lib.norm.BatchNorm1d` keeps of them.

    :math:`\bar\mu \leftarrow p\,\bar\mu + (1-p)\,\mu_B` is ``BatchNorm1d(momentum=1 - p)``; with
    ``momentum_none`` the cumulative average (``momentum=None``). Returns ``(batch means, running means)``, each
    ``(steps, C)``; mini-batches are drawn without replacement from a seeded permutation, a new one per pass.
    """
    p = checks.check_in_range("p", p, 0.0, 1.0, high_open=True)
    batch_size = checks.check_int("batch_size", batch_size, minimum=2)
    bn = norm.BatchNorm1d(x.shape[1], momentum=None if momentum_none else 1.0 - p, affine=False, dtype=x.dtype)
    gen = torch.Generator().manual_seed(seed)
    means, running = [], []
    order, pos = torch.randperm(len(x), generator=gen), 0
    with torch.no_grad():
        for _ in range(steps):
            if pos + batch_size > len(x):
                order, pos = torch.randperm(len(x), generator=gen), 0
            xb = x[order[pos:pos + batch_size]]
            pos += batch_size
            bn(xb)
            means.append(xb.mean(0).numpy().copy())
            running.append(bn.running_mean.numpy().copy())
    return np.array(means), np.array(running)


# ---------------------------------------------------------------------------------------------------- explorers
SCALES = (1.0, 3.0, 10.0, 30.0)
ETAS = (0.0005, 0.002, 0.01, 0.1, 0.5, 0.7)


def scaling_surfaces(scales=SCALES) -> dict[str, Surface]:
    """The problems of the scaling explorer: every ``s`` of ``scales``, raw and standardized."""
    out = {}
    for s in scales:
        problem = scaled_problem(s)
        out[f"s{s:g}-raw"] = least_squares_surface(problem, f"s = {s:g}, raw features")
        out[f"s{s:g}-std"] = least_squares_surface(standardized(problem), f"s = {s:g}, standardized")
    return out


def scaling_explorer(name: str = "normalization-scaling", steps: int = 300) -> viz.Explorer:
    """Gradient descent on the 2-D least squares of :func:`scaled_problem`: feature scale and normalization
    (one menu), learning rate η; paths over the contours and the loss gap (:func:`lib.viz.optimizer_explorer`)."""
    return viz.optimizer_explorer(
        name,
        surfaces=scaling_surfaces(),
        surface_label="feature scale s, normalization",
        rules=("gd",),
        etas=viz.Control(ETAS, label="learning rate η", format=".4g", default=0.01),
        hparams={},
        steps=steps,
        caption=("Gradient descent on least squares with the second feature scaled by s, on the raw and on the "
                 "standardized features. Left: the path over the loss contours (the axes follow the scale of "
                 "each weight); right: the loss gap L − L* on a log axis. A red cross marks a divergence."),
    )


def running_average_explorer(x: torch.Tensor, name: str = "normalization-running", steps: int = 100,
                             column: int = 0, unit: str = "") -> viz.Explorer:
    """Batch means of one column of ``x`` and the running mean with the course's ``p`` (:func:`running_average`)."""
    t = np.arange(1, steps + 1)
    full = float(x[:, column].mean())

    def curves(p, batch_size):
        means, running = running_average(x[:, column:column + 1], p, batch_size, steps)
        gap = float(np.abs(running[steps // 2:, 0] - full).mean())
        return viz.Frame(
            [viz.Line(t, means[:, 0], color="#9a9a9a", width=0.8, label=f"mean of each batch (B = {batch_size})"),
             viz.Line(t, running[:, 0], color="#1f77b4", width=1.8, label=f"running mean μ̄, p = {p:g}"),
             viz.Line(t, np.full(steps, full), color="#2ca02c", width=1.0, style="--", label="mean of all data")],
            text=[f"p = {p:g} (torch momentum = {1 - p:.2g}), B = {batch_size}: mean |μ̄ − mean| over the last "
                  f"{steps - steps // 2} steps = {gap:.3f}{unit}"],
        )

    return viz.curve_explorer(
        name,
        {"p": viz.Control((0.0, 0.5, 0.9, 0.99), label="p (weight of the old μ̄)", format="g", default=0.9),
         "batch_size": viz.Control((2, 8, 64), label="batch size B", format="d", default=8)},
        curves,
        xlabel="training step",
        ylabel="mean of the feature",
        caption=("The running mean μ̄ ← p μ̄ + (1 − p) × (batch mean) that batch normalization keeps for evaluation "
                 "(lib.norm.BatchNorm1d with momentum = 1 − p), starting from 0, against the batch means it "
                 "averages."),
        figsize=(7.5, 3.2),
    )
