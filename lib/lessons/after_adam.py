r"""Experiments of the chapter "After Adam": memory of the optimizers' state, Muon's geometry, the arena.

* :func:`state_bytes` / :func:`memory_table` — bytes of optimizer state per parameter, measured on a model
  after one step, next to the formula;
* :func:`step_time_ratios` — time per step of :mod:`lib.optim` relative to ``torch.optim``, measured in turns;
* :func:`muon_geometry` — a matrix least-squares problem with an ill-conditioned design: the singular values
  of the gradient before and after Newton–Schulz, and the steps each method needs to converge;
* :func:`contenders` — every optimizer of the book as an arena contender (Adafactor and Muon through
  :func:`lib.rules.by_parameter` on networks and :func:`lib.rules.on_points` on 2-D surfaces);
* :func:`cnn_arena` — the arena on :func:`lib.models.small_cnn` (Muon on the convolution kernels flattened to
  matrices); :func:`against` and :func:`plot_against` — each contender at its tuned η minus a reference, paired by
  seed, with its interval;
* :func:`schedule_free_vs_cosine` — schedule-free AdamW against AdamW with a tuned cosine schedule.

References:
    T. Dozat (2016); L. Liu et al. (2020); N. Shazeer and M. Stern (2018); K. Jordan et al. (2024);
    X. Chen et al. (2023); A. Defazio et al. (2024) — see :mod:`lib.rules`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch

import lib.optim
from lib import models, rules
from lib.arena import ArenaResult, Contender, arena, arena_at, compare

__all__ = ["MEMORY_FORMULAS", "against", "cnn_arena", "contenders", "memory_table", "muon_geometry",
           "plot_against", "schedule_free_vs_cosine", "state_bytes", "step_time_ratios"]

# optimizer -> (constructor, keyword arguments, state numbers of an n x m matrix as a formula and as a function)
MEMORY_FORMULAS: dict[str, tuple[Callable, dict, str, Callable]] = {
    "SGD": (lib.optim.SGD, {"lr": 0.1}, "0", lambda n, m: 0),
    "SGD + momentum": (lib.optim.SGD, {"lr": 0.1, "momentum": 0.9}, "nm", lambda n, m: n * m),
    "Adagrad": (lib.optim.Adagrad, {}, "nm", lambda n, m: n * m),
    "RMSprop": (lib.optim.RMSprop, {}, "nm", lambda n, m: n * m),
    "Adam": (lib.optim.Adam, {}, "2nm", lambda n, m: 2 * n * m),
    "AdamW": (lib.optim.AdamW, {}, "2nm", lambda n, m: 2 * n * m),
    "NAdam": (lib.optim.NAdam, {}, "2nm", lambda n, m: 2 * n * m),
    "RAdam": (lib.optim.RAdam, {}, "2nm", lambda n, m: 2 * n * m),
    "Adafactor": (lib.optim.Adafactor, {}, "n + m", lambda n, m: n + m),
    "Muon": (lib.optim.Muon, {}, "nm", lambda n, m: n * m),
    "Lion": (lib.optim.Lion, {}, "nm", lambda n, m: n * m),
    "Schedule-free AdamW": (lib.optim.ScheduleFreeAdamW, {}, "3nm", lambda n, m: 3 * n * m),
}
_TORCH = {"SGD": (torch.optim.SGD, {"foreach": False}), "SGD + momentum": (torch.optim.SGD, {"foreach": False}),
          "Adagrad": (torch.optim.Adagrad, {"foreach": False}), "RMSprop": (torch.optim.RMSprop, {"foreach": False}),
          "Adam": (torch.optim.Adam, {"foreach": False}), "AdamW": (torch.optim.AdamW, {"foreach": False}),
          "NAdam": (torch.optim.NAdam, {"foreach": False}), "RAdam": (torch.optim.RAdam, {"foreach": False}),
          "Adafactor": (torch.optim.Adafactor, {"foreach": False}), "Muon": (torch.optim.Muon, {})}


def state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of the tensors in ``optimizer.state`` (the per-parameter state; step counters that are tensors
    of one element count too, Python numbers do not)."""
    return sum(v.numel() * v.element_size() for s in optimizer.state.values() for v in s.values()
               if torch.is_tensor(v))


def _one_step(cls, kwargs, shapes, dtype=torch.float32):
    params = [torch.zeros(s, dtype=dtype, requires_grad=True) for s in shapes]
    opt = cls(params, **kwargs)
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()
    return opt


def _predicted(name, count, shapes):
    total = 0
    for s in shapes:
        if len(s) == 2:
            total += count(*s)
        elif name == "Adafactor":
            total += s[0]  # a vector keeps its full second moment
        else:
            total += count(1, s[0])
    return total


def memory_table(shapes, dtype=torch.float32) -> pd.DataFrame:
    """State of every optimizer for parameters of ``shapes`` (matrices and vectors; Muon gets the matrices
    only, as torch's Muon does): measured bytes of lib.optim and torch.optim after one step, the formula for an
    ``n x m`` matrix and the bytes it predicts (step counters excluded), and bytes per parameter."""
    shapes = [tuple(s) for s in shapes]
    size = torch.tensor([], dtype=dtype).element_size()
    rows = []
    for name, (cls, kwargs, formula, count) in MEMORY_FORMULAS.items():
        mine = [s for s in shapes if len(s) == 2] if name == "Muon" else shapes
        row = {"optimizer": name, "formula": formula, "parameters": sum(int(np.prod(s)) for s in mine),
               "predicted": _predicted(name, count, mine) * size,
               "lib.optim": state_bytes(_one_step(cls, kwargs, mine, dtype))}
        if name in _TORCH:
            tcls, extra = _TORCH[name]
            row["torch.optim"] = state_bytes(_one_step(tcls, {**kwargs, **extra}, mine, dtype))
        rows.append(row)
    table = pd.DataFrame(rows).set_index("optimizer")
    table["bytes per parameter (lib)"] = table["lib.optim"] / table["parameters"]
    table["bytes per parameter (torch)"] = table["torch.optim"] / table["parameters"]
    return table


def step_time_ratios(names: Sequence[str], shapes, steps: int = 50, repeats: int = 5) -> pd.DataFrame:
    """Seconds per ``step()`` of lib.optim and torch.optim (single-tensor loops), interleaved so that both see
    the same load; the ratio is the median over ``repeats`` of (lib / torch)."""
    rows = []
    for name in names:
        cls, kwargs, *_ = MEMORY_FORMULAS[name]
        tcls, extra = _TORCH[name]
        ratios, times = [], {"lib": [], "torch": []}
        mine = [s for s in shapes if len(s) == 2] if name == "Muon" else shapes  # Muon: matrices only
        for _ in range(repeats):
            for key, (c, kw) in (("lib", (cls, kwargs)), ("torch", (tcls, {**kwargs, **extra}))):
                opt = _one_step(c, kw, mine)
                start = time.perf_counter()
                for _ in range(steps):
                    opt.step()
                times[key].append((time.perf_counter() - start) / steps)
            ratios.append(times["lib"][-1] / times["torch"][-1])
        rows.append({"optimizer": name, "lib s/step": float(np.median(times["lib"])),
                     "torch s/step": float(np.median(times["torch"])), "ratio": float(np.median(ratios))})
    return pd.DataFrame(rows).set_index("optimizer")


# ------------------------------------------------------------------------------------------ Muon's geometry


def ill_conditioned_least_squares(n: int = 200, d: int = 20, k: int = 10, kappa: float = 100.0, seed: int = 0):
    r"""Design :math:`X \in \mathbb R^{n\times d}` whose Gram matrix :math:`X^\top X/n` has eigenvalues spread
    log-uniformly over :math:`[1/\kappa, 1]`, a target :math:`Y = X W^\star` with :math:`W^\star \in
    \mathbb R^{d\times k}`; loss :math:`L(W) = \lVert XW - Y\rVert_F^2 / (2n)`, minimum 0."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(n, d)))
    V, _ = np.linalg.qr(rng.normal(size=(d, d)))
    s = np.sqrt(n * np.logspace(0, -np.log10(kappa), d))
    X = Q * s @ V.T
    W_star = rng.normal(size=(d, k))
    return X, X @ W_star


def _ls_loss_grad(X, Y, W):
    R = X @ W - Y
    return 0.5 * (R * R).sum() / len(X), X.T @ R / len(X)


def muon_geometry(etas: Sequence[float], steps: int = 300, tol: float = 1e-3, **problem) -> dict:
    """Singular values of the first gradient before and after Newton–Schulz, and for gradient descent, Adam and
    Muon (no momentum, no weight decay) on the least-squares problem: for every η of the grid the loss curve and
    the steps to reach ``tol`` times the initial loss (``-1``: never); each method at its fastest η."""
    X, Y = ill_conditioned_least_squares(**problem)
    W0 = np.zeros((X.shape[1], Y.shape[1]))
    L0, G0 = _ls_loss_grad(X, Y, W0)
    before = np.linalg.svd(G0, compute_uv=False)
    after = np.linalg.svd(rules.newton_schulz(G0), compute_uv=False)
    methods = {"gd": (rules.RULES["gd"], {}), "adam": (rules.RULES["adam"], {}),
               "muon": (rules.MUON, {"beta": 0.0, "weight_decay": 0.0})}
    curves, best = {}, {}
    for name, (rule, hp) in methods.items():
        for eta in etas:
            W, state, losses = W0.copy(), rule.init(W0), [L0]
            for _ in range(steps):
                _, G = _ls_loss_grad(X, Y, W)
                step, state = rule.update(G, state, W, eta=eta, **hp)
                W = W + step
                loss, _ = _ls_loss_grad(X, Y, W)
                losses.append(loss if np.isfinite(loss) else np.inf)
            losses = np.array(losses)
            hit = np.flatnonzero(losses <= tol * L0)
            curves[name, eta] = losses
            t = int(hit[0]) if hit.size else -1
            if t >= 0 and (name not in best or t < best[name][1]):
                best[name] = (eta, t)
    return {"before": before, "after": after, "curves": curves, "best": best, "L0": L0, "tol": tol,
            "kappa": np.linalg.cond(X) ** 2}


# --------------------------------------------------------------------------------------------- the arena


def contenders(shapes=None, *, points: bool = False, bias_eta: float = 0.01) -> list[Contender]:
    """Every optimizer of the book as an arena contender, with the defaults of its paper or torch, except no
    weight decay anywhere (the arena compares update rules). ``shapes``: the model's parameter shapes (for
    Adafactor and Muon on a network, through :func:`lib.rules.by_parameter`; Muon's biases take Adam at
    ``bias_eta``); ``points=True``: on 2-D surfaces (:func:`lib.rules.on_points`)."""
    out = [Contender("SGD + momentum", "momentum", {"beta": 0.9}), Contender("Adam", "adam", {}),
           Contender("NAdam", "nadam", {}), Contender("RAdam", "radam", {}), Contender("Lion", "lion", {}),
           Contender("Schedule-free AdamW", "schedule_free_adamw", {})]
    if points:
        out += [Contender("Adafactor", rules.on_points(rules.ADAFACTOR), {}),
                Contender("Muon", rules.on_points(rules.MUON), {"weight_decay": 0.0})]
    elif shapes is not None:
        out += [Contender("Adafactor", rules.by_parameter(rules.ADAFACTOR, shapes), {}),
                Contender("Muon", rules.by_parameter(rules.MUON, shapes, vectors=rules.RULES["adam"],
                                                     vector_hparams={"eta": bias_eta}),
                          {"weight_decay": 0.0})]
    return out


def cnn_arena(data, etas: Sequence[float], seeds: Sequence[int], epochs: int, *,
              tune_seeds: Sequence[int] = (100, 101), labels: Sequence[str] | None = None, batch_size: int = 64,
              **train_kwargs) -> tuple[ArenaResult, pd.DataFrame]:
    """The arena on :func:`lib.models.small_cnn`, in the two halves of :mod:`lib.arena`: every contender's η
    tuned on the grid ``etas`` with ``tune_seeds`` (:func:`lib.arena.arena`, all contenders in one stacked run),
    then every contender at its tuned η over the fresh ``seeds`` (:func:`lib.arena.arena_at`, one stacked run).

    ``data``: a :class:`lib.data.Dataset` of flat 8×8 digits or of ``(N, 1, 8, 8)`` images; ``labels``: a subset
    of :func:`contenders` (default all). Adafactor and Muon see each convolution kernel ``(o, i, k, k)`` as an
    ``o × ik²`` matrix (:func:`lib.rules.by_parameter`), as Jordan's Muon does (``torch.optim.Muon`` accepts 2-D
    parameters only); Muon's biases take Adam. The networks are evaluated only at the start and the end of each
    run (``eval_every=epochs``): both halves use the final values alone, and evaluating a convolutional net on
    the whole training set every epoch costs about a third of a short run. Returns the tuning's
    :class:`lib.arena.ArenaResult` and :func:`lib.arena.arena_at`'s rows (one per contender and seed).
    """
    if data.X_train.ndim == 2:
        data = data.images()
    shapes = [tuple(p.shape) for p in models.small_cnn().parameters()]
    chosen = [c for c in contenders(shapes) if labels is None or c.label in labels]
    if labels is not None and len(chosen) != len(set(labels)):
        raise ValueError(f"Invalid labels: {sorted(set(labels) - {c.label for c in chosen})} are not contenders")
    kwargs = {"epochs": epochs, "batch_size": batch_size, "threads": 1, "progress": False, "eval_every": epochs,
              **train_kwargs}
    tuned = arena(lambda s: models.small_cnn(seed=s), data, chosen, etas, seeds=tune_seeds, **kwargs)
    eta = dict(zip(tuned.table["optimizer"], tuned.table["eta"], strict=True))
    if any(not np.isfinite(v) for v in eta.values()):
        raise ValueError(f"Invalid etas: every η of the grid diverged for some contender ({eta})")
    return tuned, arena_at(lambda s: models.small_cnn(seed=s), data, chosen, eta, seeds, **kwargs)


def against(result: ArenaResult | pd.DataFrame, reference: str, metric: str = "test_acc") -> pd.DataFrame:
    """Every contender against ``reference``, each at its own η: :func:`lib.arena.compare` (mean, paired
    difference over the seeds with its 95 % t-interval, ``detected``), one row per optimizer. ``result``: the
    rows of :func:`lib.arena.arena_at`, or an :class:`lib.arena.ArenaResult` (its copies at the selected η)."""
    if isinstance(result, ArenaResult):
        result = result.copies.merge(result.table[["optimizer", "eta"]], on=["optimizer", "eta"])
    return compare(result, reference, metric)


def plot_against(ax, tables: dict[str, pd.DataFrame], *, title: str,
                 xlabel: str = "test accuracy minus the reference's (fraction, paired by seed)"):
    """The differences of :func:`against` as points with their intervals, one row per optimizer and one
    series per reference (``tables``: legend label → table); a dotted line at 0."""
    names = list(dict.fromkeys(n for t in tables.values() for n in t.index))
    offsets = np.linspace(-0.15, 0.15, len(tables)) if len(tables) > 1 else [0.0]
    for (label, t), dy in zip(tables.items(), offsets, strict=True):
        rows = [n for n in names if n in t.index and np.isfinite(t.loc[n, "low"])]
        y = [names.index(n) + dy for n in rows]
        d = t.loc[rows]
        ax.errorbar(d["diff"], y, xerr=[d["diff"] - d["low"], d["high"] - d["diff"]], fmt="o", capsize=3,
                    label=label)
    ax.axvline(0, color="0.5", ls=":")
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set(xlabel=xlabel, title=title)
    if len(tables) > 1:  # below the axes, where it hides no interval
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=len(tables))
    return ax


# ------------------------------------------------------------------------------ schedule-free vs a schedule


def schedule_free_vs_cosine(model_fn: Callable, data, etas: Sequence[float], seeds: Sequence[int], epochs: int,
                            batch_size: int = 64) -> pd.DataFrame:
    """AdamW with a cosine schedule to 0 over the run and schedule-free AdamW (evaluated at its average
    :math:`x`), each η of the grid and seed a copy of one stacked run per method (:func:`lib.train.train_stacked`:
    each copy computes what :func:`lib.train.train` with ``lib.optim.AdamW`` and a per-step cosine schedule, or
    with ``lib.optim.ScheduleFreeAdamW`` and ``optimizer.eval()``, computes for it alone). One row per (method,
    η, seed) with the final training loss and test accuracy."""
    from lib import schedules
    from lib.arena import evaluate
    from lib.train import train_stacked

    copies = [(eta, seed) for eta in etas for seed in seeds]
    total = epochs * -(-len(data.X_train) // batch_size)
    kwargs = {"epochs": epochs, "batch_size": batch_size, "eval_every": epochs, "threads": 1, "progress": False}
    cosine = train_stacked(model_fn, [s for _, s in copies], "adamw", data, hparams={"weight_decay": 0.0},
                           schedule=[schedules.cosine(eta, total) for eta, _ in copies], schedule_unit="step",
                           **kwargs)
    base, last = rules.RULES["schedule_free_adamw"], {}

    def update(g, state, theta, *, eta, inplace=False, **hparams):  # the rule, keeping its last state (x)
        step, last["state"] = base.update(g, state, theta, eta=eta, inplace=inplace, **hparams)
        return step, last["state"]

    free = train_stacked(model_fn, [s for _, s in copies], rules.Rule(base.name, base.label, base.init, update,
                         base.defaults), data, hparams={"eta": [eta for eta, _ in copies]}, **kwargs)
    names = list(cosine.params)
    bounds = np.cumsum([0] + [int(np.prod(cosine.params[k].shape[1:])) for k in names])
    x = last["state"].x
    averaged = {k: x[:, a:b].reshape(cosine.params[k].shape) for k, a, b in zip(names, bounds[:-1], bounds[1:],
                                                                                 strict=True)}
    rows = []
    for method, h, params in (("AdamW + cosine", cosine, cosine.params), ("Schedule-free AdamW", free, averaged)):
        loss, _ = evaluate(model_fn, params, data.X_train, data.y_train)
        _, acc = evaluate(model_fn, params, data.X_test, data.y_test)
        for c, (eta, seed) in enumerate(copies):
            diverged = bool(h.diverged[c])
            rows.append({"method": method, "eta": eta, "seed": seed,
                         "train_loss": np.nan if diverged else float(loss[c]),
                         "test_acc": np.nan if diverged else float(acc[c]), "diverged": diverged})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------- the explorer


EXPLORER_RULES = ("adam", "nadam", "radam", "lion", "schedule_free_adamw", "momentum")


def explorer(name: str = "after-adam-surfaces"):
    """The Adam chapter's 2-D comparison with the elementwise newcomers (:data:`EXPLORER_RULES`)."""
    from lib import viz

    return viz.optimizer_explorer(
        name,
        surfaces=("quadratic", "rosenbrock", "himmelblau"),
        rules=EXPLORER_RULES,
        etas=viz.Control((0.001, 0.003, 0.01, 0.03, 0.1), label="learning rate η", format=".3g", default=0.1),
        hparams={"beta": viz.Control((0.0, 0.5, 0.9), label="momentum β (β₁)", format=".3g", default=0.9)},
        steps=100,
    )
