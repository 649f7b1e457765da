r"""The classification chapter's experiments: why the squared error after a softmax gets stuck.

Three classes, logits :math:`y = (y_1, y_2, y_3)` with :math:`y_3` fixed, target class 1 (one-hot
:math:`\hat y = (1, 0, 0)`), and two losses of the prediction :math:`y' = \sigma(y)` (:func:`lib.losses.softmax`):

.. math::
    e_{\text{MSE}} = \sum_{i=1}^{3} (y'_i - \hat y_i)^2, \qquad e_{\text{CE}} = -\sum_i \hat y_i \log y'_i
    = -\log y'_1 ,

as LeeDL draws them over the plane :math:`(y_1, y_2)`. :func:`loss_surface` makes each a
:class:`lib.surfaces.Surface` (values and gradients from :mod:`lib.losses` through autograd), so gradient
descent on it is :func:`lib.trajectories.run`; :func:`ray_gradients` measures the flat region;
:func:`digits_runs` trains the digits network with each loss (:func:`lib.train.train_stacked`);
:func:`stuck_fraction` counts the training examples still misclassified with a near-zero gradient;
:func:`path_explorer` is the chapter's explorer.

References:
    Lee, H.-y. (2021-2024), ML course, "Classification" / LeeDL ch. 3.8 (mean squared error vs cross-entropy);
    Golik, P., Doetsch, P. & Ney, H. (2013). Cross-entropy vs. squared error training: a theoretical and
    experimental comparison. Interspeech; Goodfellow, Bengio & Courville (2016), §6.2.2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.func import functional_call, vmap

from lib import losses, models, trajectories
from lib.checks import check_choice
from lib.data import Dataset
from lib.surfaces import Surface
from lib.train import train_stacked
from lib.viz import Contour, Control, Explorer, Frame, Line, Markers, Panel, View
from lib.viz.plots import PALETTE

__all__ = [
    "LOSS_NAMES", "Y3", "DigitsRuns", "digits_runs", "first_correct", "gradient_norm", "loss_surface",
    "nll_check", "path_explorer", "ray_gradients", "slope", "stuck_fraction", "surface_grid",
]

Y3 = 0.0  # the third logit, fixed
K = 3
LOSS_NAMES = {"mse": "mean squared error", "cross_entropy": "cross-entropy"}
BOX = (-10.0, 10.0)  # the plane LeeDL draws


# ------------------------------------------------------------------------------------------ the two surfaces
def _per_point(loss: str, y1: torch.Tensor, y2: torch.Tensor) -> torch.Tensor:
    """Each point's loss for target class 1: logits ``(y1, y2, Y3)``, shape of ``y1``."""
    z = torch.stack(torch.broadcast_tensors(y1, y2, torch.full_like(y1, Y3)), -1).reshape(-1, K)
    target = torch.zeros(len(z), dtype=torch.long)
    if loss == "cross_entropy":
        e = losses.cross_entropy(z, target, reduction="none")
    else:  # LeeDL's sum over the classes = K times torch's mean
        e = K * losses.softmax_mse_loss(z, target, reduction="none")
    return e.reshape(y1.shape)


def _value(loss: str):
    def f(y1, y2):
        y1, y2 = np.broadcast_arrays(np.asarray(y1, dtype=np.float64), np.asarray(y2, dtype=np.float64))
        with torch.no_grad():
            return _per_point(loss, torch.from_numpy(y1.copy()), torch.from_numpy(y2.copy())).numpy()
    return f


def _gradient(loss: str):
    def df(y1, y2):
        y1, y2 = np.broadcast_arrays(np.asarray(y1, dtype=np.float64), np.asarray(y2, dtype=np.float64))
        t1 = torch.tensor(y1, requires_grad=True)
        t2 = torch.tensor(y2, requires_grad=True)
        g1, g2 = torch.autograd.grad(_per_point(loss, t1, t2).sum(), (t1, t2))
        return g1.numpy(), g2.numpy()
    return df


def _no_hessian(y1, y2):
    raise NotImplementedError("the classification surfaces give values and gradients only")


def loss_surface(loss: str) -> Surface:
    r"""The loss ``"mse"`` or ``"cross_entropy"`` over the logits :math:`(y_1, y_2)` (:math:`y_3 = 0`, target
    class 1) as a :class:`~lib.surfaces.Surface`: ``f`` and ``df`` computed by :mod:`lib.losses` (autograd)."""
    check_choice("loss", loss, LOSS_NAMES)
    formula = (r"\sum_i (\sigma(y)_i - \hat y_i)^2" if loss == "mse" else r"-\log \sigma(y)_1")
    return Surface(f"classification-{loss}", LOSS_NAMES[loss], (BOX, BOX), ((-4.0, 4.0),), (),
                   _value(loss), _gradient(loss), _no_hessian, formula)


def gradient_norm(loss: str, y1, y2) -> np.ndarray:
    r""":math:`\lVert \nabla_{(y_1, y_2)} e \rVert` at the points ``(y1, y2)``."""
    g1, g2 = loss_surface(loss).df(y1, y2)
    return np.hypot(g1, g2)


def surface_grid(loss: str, n: int = 161) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(y1, y2, e, ‖∇e‖)`` on an ``n × n`` grid of LeeDL's box ``[-10, 10]²`` (meshgrid arrays)."""
    axis = np.linspace(*BOX, n)
    Y1, Y2 = np.meshgrid(axis, axis)
    s = loss_surface(loss)
    return Y1, Y2, s.f(Y1, Y2), gradient_norm(loss, Y1, Y2)


def ray_gradients(s: Sequence[float]) -> pd.DataFrame:
    r"""Both gradient norms along the confidently wrong ray :math:`(y_1, y_2) = (-s, s)`: class 2 wins by the
    margin :math:`2s`. Columns ``s, mse, cross_entropy, p1`` (``p1`` = the predicted probability of the truth)."""
    s = np.asarray(s, dtype=np.float64)
    with torch.no_grad():
        z = torch.stack([torch.from_numpy(-s), torch.from_numpy(s), torch.full((len(s),), Y3, dtype=torch.float64)], 1)
        p1 = losses.softmax(z, 1)[:, 0].numpy()
    return pd.DataFrame({"s": s, "mse": gradient_norm("mse", -s, s),
                         "cross_entropy": gradient_norm("cross_entropy", -s, s), "p1": p1})


def slope(x, y) -> float:
    r"""Least-squares slope of :math:`\log y` against :math:`x`: the rate :math:`a` in :math:`y \approx C e^{a x}`."""
    return float(np.polyfit(np.asarray(x, dtype=np.float64), np.log(np.asarray(y, dtype=np.float64)), 1)[0])


# -------------------------------------------------------------------------------------- gradient descent
def first_correct(path: np.ndarray) -> np.ndarray:
    r"""For paths ``(starts, steps + 1, 2)`` over :math:`(y_1, y_2)`: the first step :math:`t` at which class 1
    wins, :math:`y_1 > \max(y_2, y_3)`; ``-1`` where it never does."""
    ok = path[..., 0] > np.maximum(path[..., 1], Y3)
    return np.where(ok.any(axis=1), ok.argmax(axis=1), -1)


def descend(loss: str, starts, eta, steps: int) -> trajectories.Trajectories:
    """Gradient descent on :func:`loss_surface` with the book's driver, :func:`lib.trajectories.run`."""
    return trajectories.run("gd", loss_surface(loss), starts, steps, eta=eta)


# ------------------------------------------------------------------------------------------------ the NLL
def nll_check(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    r"""The summed cross-entropy of a softmax classifier, and the negative log-likelihood of the labels
    computed the long way, :math:`-\log \prod_n p(c_n \mid x_n)` (as a sum of logs, to avoid underflow)."""
    with torch.no_grad():
        out = model(X).to(torch.float64)
        ce = losses.cross_entropy(out, y, reduction="sum").item()
        p = losses.softmax(out, 1)
        likelihood_terms = p[torch.arange(len(y)), y]
        nll = -torch.log(likelihood_terms).sum().item()
    return ce, nll


# ----------------------------------------------------------------------------------------- the digits runs
def scaled_mlp(seed: int, logit_scale: float = 1.0) -> nn.Module:
    """The book's digits network ``mlp([64, 32, 10])`` with its output layer multiplied by ``logit_scale``
    (a large scale makes the initial predictions confident, right or wrong)."""
    model = models.mlp([64, 32, 10], seed=seed)
    with torch.no_grad():
        last = model[-1]
        last.weight.mul_(logit_scale)
        last.bias.mul_(logit_scale)
    return model


class DigitsRuns(NamedTuple):
    tuning: pd.DataFrame  # loss, eta, seed, train_acc
    eta: dict[str, float]  # the tuned η of each loss
    runs: pd.DataFrame  # loss, logit_scale, seed, train_acc, test_acc, stuck
    curves: pd.DataFrame  # loss, logit_scale, seed, epoch, train_acc


def _loss_name(loss: str) -> str:
    return "softmax_mse" if loss == "mse" else loss


def stuck_fraction(model_fn, params, X: torch.Tensor, y: torch.Tensor, loss: str, tau: float) -> np.ndarray:
    r"""Per copy: the fraction of examples misclassified **and** with a per-example gradient
    :math:`\lVert \partial \ell_n / \partial y_n \rVert < \tau` with respect to the logits (``(C,)``)."""
    base = model_fn(0)
    with torch.no_grad():
        out = vmap(lambda p, x: functional_call(base, p, (x,)), in_dims=(0, None))(dict(params), X)
    out = out.detach().to(torch.float64).requires_grad_(True)
    C, B, _ = out.shape
    flat = out.reshape(-1, out.shape[-1])
    target = y.repeat(C)
    if loss == "mse":
        e = losses.softmax_mse_loss(flat, target, reduction="none") * flat.shape[-1]
    else:
        e = losses.cross_entropy(flat, target, reduction="none")
    (g,) = torch.autograd.grad(e.sum(), out)
    wrong = out.argmax(-1) != y
    flat_grad = g.norm(dim=-1) < tau
    return (wrong & flat_grad).to(torch.float64).mean(1).detach().numpy()


def digits_runs(data: Dataset, *, etas: dict[str, Sequence[float]], tune_seeds: Sequence[int],
                seeds: Sequence[int], logit_scales: Sequence[float], epochs: int, batch_size: int,
                tau: float) -> DigitsRuns:
    r"""Train the digits network with each loss (``"mse"``: squared error after softmax, ``"cross_entropy"``).

    1. **Tuning**: for each loss, every η of ``etas[loss]`` on the ``tune_seeds`` at ``logit_scale = 1``; the
       tuned η has the highest mean final *training* accuracy (the test set is not looked at).
    2. **Runs**: the tuned η on ``seeds`` for every ``logit_scale``; final train/test accuracy and the
       :func:`stuck_fraction` of the training examples (threshold ``tau``), and accuracy curves.
    """
    tuning, runs, curves, best = [], [], [], {}
    for loss in LOSS_NAMES:
        grid = [(eta, s) for eta in etas[loss] for s in tune_seeds]
        h = train_stacked(lambda s: scaled_mlp(s), [s for _, s in grid], "gd", data,
                          hparams={"eta": [e for e, _ in grid]}, epochs=epochs, batch_size=batch_size,
                          loss=_loss_name(loss), threads=1)
        for c, (eta, s) in enumerate(grid):
            tuning.append({"loss": loss, "eta": eta, "seed": s, "train_acc": h.train_acc[c, -1]})
        table = pd.DataFrame(tuning)
        means = table[table["loss"] == loss].groupby("eta")["train_acc"].mean()
        best[loss] = float(means.idxmax())
        copies = [(scale, s) for scale in logit_scales for s in seeds]

        def model_fn(code: int, copies=copies) -> nn.Module:
            scale, s = copies[code]
            return scaled_mlp(s, scale)

        h = train_stacked(model_fn, list(range(len(copies))), "gd", data, hparams={"eta": best[loss]},
                          data_seeds=[s for _, s in copies], epochs=epochs, batch_size=batch_size,
                          loss=_loss_name(loss), threads=1)
        stuck = stuck_fraction(model_fn, h.params, data.X_train, data.y_train, loss, tau)
        for c, (scale, s) in enumerate(copies):
            runs.append({"loss": loss, "logit_scale": scale, "seed": s, "train_acc": h.train_acc[c, -1],
                         "test_acc": h.test_acc[c, -1], "stuck": stuck[c], "diverged": bool(h.diverged[c])})
            curves += [{"loss": loss, "logit_scale": scale, "seed": s, "epoch": ep, "train_acc": a,
                        "train_loss": lo}
                       for ep, a, lo in zip(h.epoch, h.train_acc[c], h.train_loss[c], strict=True)]
    return DigitsRuns(pd.DataFrame(tuning), best, pd.DataFrame(runs), pd.DataFrame(curves))


# --------------------------------------------------------------------------------------------- explorer
STARTS = {"confidently wrong (−4, 4)": (-4.0, 4.0), "wrong (−1, 2)": (-1.0, 2.0),
          "very wrong (−6, 6)": (-6.0, 6.0), "undecided (0, 0)": (0.0, 0.0)}


def path_explorer(*, name: str = "classification-paths", etas: Sequence[float] = (0.1, 0.3, 1.0, 3.0, 10.0),
                  steps: int = 200, grid: int = 121) -> Explorer:
    r"""Loss, start and η → the gradient-descent path over the :math:`(y_1, y_2)` surface and its loss curve.

    All paths of one loss are computed at once by :func:`lib.trajectories.run` (one start per
    (start, η) pair) and looked up per frame."""
    etas = tuple(float(e) for e in etas)
    paths = {}
    for loss in LOSS_NAMES:
        pairs = [(s, e) for s in STARTS for e in etas]
        result = descend(loss, np.array([STARTS[s] for s, _ in pairs]), np.array([[e] for _, e in pairs]), steps)
        fixed = first_correct(result.path)
        for c, pair in enumerate(pairs):
            paths[(loss, *pair)] = (result.path[c], result.loss[c], int(fixed[c]), int(result.diverged_at[c]))
    surfaces = {loss: surface_grid(loss, grid) for loss in LOSS_NAMES}
    t = np.arange(steps + 1)

    def view(loss: str) -> View:
        Y1, Y2, E, _ = surfaces[loss]
        levels = np.linspace(0.0, 2.0, 21) if loss == "mse" else np.linspace(0.0, 20.0, 21)
        return View([Contour(Y1[0], Y2[:, 0], E, levels, panel="surface"),
                     Line([Y3, Y3, BOX[1]], [BOX[0], Y3, BOX[1]], color="0.3", style=":", panel="surface")],
                    panels={"curve": {"ylim": (1e-4, 30.0)}})

    def compute(loss: str, start: str, eta: float) -> Frame:
        path, e, fixed, diverged = paths[(loss, start, eta)]
        items = [Line(path[:, 0], path[:, 1], color=PALETTE[1], width=1.8, panel="surface"),
                 Markers([path[0, 0]], [path[0, 1]], color=PALETTE[1], marker="o", panel="surface"),
                 Markers([path[-1, 0]], [path[-1, 1]], color=PALETTE[3], marker="X", size=8, clamp=True,
                         panel="surface"),
                 Line(t, np.maximum(e, 1e-4), color=PALETTE[1], width=1.6, panel="curve")]
        if fixed >= 0:
            items.append(Markers([fixed], [max(e[fixed], 1e-4)], color=PALETTE[2], marker="D", panel="curve"))
            text = f"class 1 wins from step {fixed} on; loss after {steps} steps: {e[-1]:.3g}"
        else:
            norm = gradient_norm(loss, *path[-1])
            text = f"still wrong after {steps} steps: loss {e[-1]:.3g}, gradient norm {norm:.2e}"
        if diverged >= 0:
            text = f"left the box at step {diverged}"
        return Frame(items, [text])

    controls = {
        "loss": Control(tuple(LOSS_NAMES), label="loss", format=LOSS_NAMES, default="mse"),
        "start": Control(tuple(STARTS), label="start (y₁, y₂)", default="confidently wrong (−4, 4)"),
        "eta": Control(etas, label="learning rate η", format=".3g", default=1.0 if 1.0 in etas else etas[0]),
    }
    return Explorer(
        name, controls, compute,
        panels=(Panel("surface", xlabel="logit y₁ (true class)", ylabel="logit y₂", title="error surface, y₃ = 0",
                      xlim=BOX, ylim=BOX, aspect="equal"),
                Panel("curve", xlabel="step t", ylabel="loss e", title="loss along the path", yscale="log",
                      xlim=(0.0, float(steps)), grid=True)),
        view=view, view_controls=("loss",),
        caption=("Gradient descent on the loss of a 3-class prediction σ(y₁, y₂, 0) with target class 1. "
                 "Circle: start; cross: after the last step; diamond: the first step at which class 1 wins "
                 "(y₁ above y₂ and y₃: right of the dotted boundary)."),
        figsize=(8.0, 3.6), width_ratios=(1.0, 1.2),
    )
