r"""The momentum chapter's own helpers: the exponentially weighted average (EWMA) of a series.

Andrew Ng introduces momentum through the EWMA of a year of daily temperatures,
:math:`v_t = \beta v_{t-1} + (1-\beta)\,\theta_t`. These helpers run that average over a series with
:func:`lib.rules.ewma` (the same function the momentum rules use), and measure what the chapter says about it:
the window it averages over (:func:`effective_window`, :func:`mean_age`) and how far it lags a seasonal
signal (:func:`seasonal_lag`, :func:`ewma_lag`), tabulated by :func:`ewma_table`. The convergence rates of
momentum are core (:mod:`lib.convergence`), shared with the gradient-descent chapter.

The chapter's experiments live here too, each returning a table indexed by its labels (the setting, the
method, :math:`\kappa`, the seed), so that the chapter selects results by label: the three conventions on a
schedule (:func:`three_conventions`), rules on the ravine (:func:`compare_on_ravine`), measured against
predicted rates (:func:`rate_line`, :func:`measured_rate_map`, :func:`steps_to_reach`), basins and saddles on
a non-convex surface (:func:`basins`, :func:`saddle_escape`) and momentum on the digits network
(:func:`train_digits`, :func:`network_runs`, :func:`paired_accuracy`).

References:
    A. Ng, *Improving Deep Neural Networks*, deeplearning.ai course 2, week 2 ("Exponentially weighted
    averages", "Bias correction in exponentially weighted averages").
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from lib import convergence, results, rules, stats, surfaces, train, trajectories
from lib.convergence import check_beta

__all__ = ["basins", "compare_on_ravine", "effective_window", "ewma_lag", "ewma_series", "ewma_table", "mean_age",
           "measured_rate_map", "nearest_start", "network_runs", "network_summary", "paired_accuracy", "rate_line",
           "saddle_escape", "seasonal_lag", "steps_to_reach", "three_conventions", "train_digits"]


# --------------------------------------------------------------------------------------------------------------
# exponentially weighted averages of a series
# --------------------------------------------------------------------------------------------------------------


def ewma_series(x, beta, bias_correction: bool = False) -> np.ndarray:
    r"""The exponentially weighted average of a series, every day, with :func:`lib.rules.ewma`.

    .. math:: v_0 = 0, \qquad v_t = \beta v_{t-1} + (1-\beta)\,x_t, \qquad
        \hat v_t = \frac{v_t}{1-\beta^t} \ \text{(with bias correction, } t = 1, 2, \dots)

    ``x`` has shape ``(T,)``; ``beta`` is a float or a 1-D array of :math:`K` values, computed together. The
    result has shape ``(T,)`` or ``(K, T)``: entry :math:`t-1` is :math:`v_t` (or :math:`\hat v_t`).

    References:
        A. Ng, *Improving Deep Neural Networks*, course 2, week 2, "Exponentially weighted averages" and
        "Bias correction in exponentially weighted averages".
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"Invalid x: shape {x.shape} (need a 1-D series)")
    beta = check_beta(beta)
    if beta.ndim > 1:
        raise ValueError(f"Invalid beta: shape {beta.shape} (need a float or a 1-D array)")
    v = np.zeros(beta.shape)
    out = np.empty(beta.shape + x.shape)
    for t, x_t in enumerate(x, start=1):
        v = rules.ewma(v, x_t, beta)
        out[..., t - 1] = rules.debias(v, beta, t) if bias_correction else v
    return out


def effective_window(beta) -> np.ndarray:
    r"""Andrew Ng's "averages over about :math:`1/(1-\beta)` days": the weight :math:`\beta^k` of the value
    :math:`k` days back has fallen to about :math:`1/e` at :math:`k = 1/(1-\beta)`, since
    :math:`\beta^{1/(1-\beta)} \to 1/e` as :math:`\beta \to 1`.

    References:
        A. Ng, *Improving Deep Neural Networks*, course 2, week 2, "Understanding exponentially weighted
        averages".
    """
    return 1.0 / (1.0 - check_beta(beta))


def mean_age(beta) -> np.ndarray:
    r"""The mean age of the values in an EWMA, :math:`\sum_{k\ge0} k\,(1-\beta)\beta^k = \beta/(1-\beta)`:
    on a straight-line trend the average lags behind the series by this many steps.

    References:
        R. G. Brown, *Smoothing, Forecasting and Prediction of Discrete Time Series*, Prentice-Hall, 1963.
    """
    beta = check_beta(beta)
    return beta / (1.0 - beta)


def _phase(series: np.ndarray, omega: float) -> float:
    # least-squares fit series_t ~ a + b cos(omega t) + c sin(omega t); the phase of (b, c)
    t = np.arange(series.size, dtype=np.float64)
    design = np.stack([np.ones_like(t), np.cos(omega * t), np.sin(omega * t)], axis=1)
    _, b, c = np.linalg.lstsq(design, series, rcond=None)[0]
    return math.atan2(c, b)


def seasonal_lag(series, smoothed, period: float) -> float:
    r"""How many steps ``smoothed`` lags behind ``series`` in its cycle of length ``period`` (measured).

    Both are fitted by least squares with :math:`a + b\cos\omega t + c\sin\omega t`,
    :math:`\omega = 2\pi/\text{period}`; the lag is the difference of the phases
    :math:`\operatorname{atan2}(c, b)`, divided by :math:`\omega`, wrapped into
    :math:`(-\text{period}/2, \text{period}/2]`. For daily temperatures and ``period=365.25`` it is how many
    days later the average reaches the peak of summer. Compare :func:`ewma_lag`.

    References:
        G. E. P. Box, G. M. Jenkins and G. C. Reinsel, *Time Series Analysis*, 4th ed., Wiley, 2008, §3.2
        (harmonic regression).
    """
    series, smoothed = np.asarray(series, dtype=np.float64), np.asarray(smoothed, dtype=np.float64)
    if series.ndim != 1 or series.shape != smoothed.shape or series.size < 4:
        raise ValueError(f"Invalid series: shapes {series.shape} and {smoothed.shape} (need equal 1-D shapes, "
                         "at least 4 steps)")
    if not period > 2.0:
        raise ValueError(f"Invalid period: {period} (need a period > 2 steps)")
    omega = 2.0 * math.pi / period
    shift = (_phase(smoothed, omega) - _phase(series, omega)) / omega
    return float((shift + period / 2.0) % period - period / 2.0)


def ewma_lag(beta, period: float) -> np.ndarray:
    r"""The lag of an EWMA behind a cycle of length ``period``, from its frequency response.

    The EWMA multiplies :math:`e^{i\omega t}` by :math:`H(\omega) = (1-\beta)/(1-\beta e^{-i\omega})`, so it
    delays the cycle by

    .. math:: \frac{-\arg H(\omega)}{\omega} = \frac{1}{\omega}\operatorname{atan2}(\beta\sin\omega,\
        1-\beta\cos\omega), \qquad \omega = \frac{2\pi}{\text{period}},

    which tends to the mean age :math:`\beta/(1-\beta)` (:func:`mean_age`) for slow cycles,
    :math:`\omega/(1-\beta) \to 0`, and stays below it otherwise.

    References:
        A. V. Oppenheim and R. W. Schafer, *Discrete-Time Signal Processing*, 3rd ed., Pearson, 2010, §5.1
        (frequency response, phase delay).
    """
    if not period > 2.0:
        raise ValueError(f"Invalid period: {period} (need a period > 2 steps)")
    beta = check_beta(beta)
    omega = 2.0 * math.pi / period
    return np.arctan2(beta * math.sin(omega), 1.0 - beta * math.cos(omega)) / omega


def ewma_table(series, betas, period: float = 365.25) -> pd.DataFrame:
    r"""What the chapter measures about the EWMA of ``series`` for each :math:`\beta`, one row per
    :math:`\beta` (the index): the window :math:`1/(1-\beta)`, the weight :math:`\beta^{1/(1-\beta)}` of the
    value that far back, the mean day-to-day change of the bias-corrected average, its seasonal lag measured
    (:func:`seasonal_lag`) and predicted (:func:`ewma_lag`), and the mean age :math:`\beta/(1-\beta)`.
    """
    series = np.asarray(series, dtype=np.float64)
    betas = np.atleast_1d(check_beta(betas))
    smoothed = np.atleast_2d(ewma_series(series, betas, bias_correction=True))
    rows = []
    for beta, v_hat in zip(betas, smoothed, strict=True):
        window = float(effective_window(beta))
        rows.append({"β": float(beta), "1/(1−β) (days)": window, "β^(1/(1−β))": float(beta) ** window,
                     "mean |day-to-day change| (°C)": float(np.abs(np.diff(v_hat)).mean()),
                     "seasonal lag, measured (days)": seasonal_lag(series, v_hat, period),
                     "seasonal lag, theory (days)": float(ewma_lag(beta, period)),
                     "mean age β/(1−β) (days)": float(mean_age(beta))})
    return pd.DataFrame(rows).set_index("β")


# --------------------------------------------------------------------------------------------------------------
# the three conventions and the ravine (2-D runs with lib.trajectories)
# --------------------------------------------------------------------------------------------------------------


def three_conventions(surface, start, steps: int, eta, beta: float) -> dict[str, np.ndarray]:
    r"""The paths ``(steps + 1, 2)`` of torch's, Lee's and Ng's momentum (keys ``"torch"``, ``"Lee"``, ``"Ng"``)
    with the hyperparameters that make them equal under a constant learning rate,
    :math:`\eta_\text{torch} = \eta_\text{Lee} = (1-\beta)\alpha_\text{Ng}`, :math:`\lambda = \beta`.
    ``eta`` is torch's learning rate: a number or a schedule ``eta(t)``; Ng's is ``eta(t) / (1 - beta)``.
    """
    alpha = (lambda t: eta(t) / (1 - beta)) if callable(eta) else eta / (1 - beta)
    run = trajectories.run
    return {"torch": run("momentum", surface, start, steps, eta=eta, beta=beta).path[0],
            "Lee": run("lee_momentum", surface, start, steps, eta=eta, lam=beta).path[0],
            "Ng": run("ewma_momentum", surface, start, steps, eta=alpha, beta=beta).path[0]}


def compare_on_ravine(surface, start, settings, steps: int, lams, *, window: int = 100, along_at: int = 50,
                      tol: float = 1e-6):
    r"""Run each setting on a ravine whose minimum is the origin, steep coordinate :math:`\theta_2`.

    ``settings`` maps a key to ``(label, rule, eta, beta)`` (``eta`` in torch's units; ``beta`` ignored by
    ``"gd"``). Returns ``(table, runs)``: the table is indexed by key, with the label (``setting``), the sign
    flips of :math:`\theta_2` in the first ``window`` steps (``flips``), the distance travelled across in those
    steps, :math:`\sum_t |\theta_{2,t+1}-\theta_{2,t}|` (``across``), :math:`|\theta_1|` after ``along_at`` steps,
    the steps until :math:`\|\theta_t\|` stays below ``tol`` of its start, the measured and the predicted rate
    (:func:`lib.convergence.rate` with curvatures ``lams``) and the step of divergence (``-1``: none).
    """
    rows, runs = [], {}
    for key, (label, rule, eta, beta) in settings.items():
        hp = {} if rule == "gd" else {"beta": beta}
        r = trajectories.run(rule, surface, start, steps, eta=eta, **hp)
        runs[key] = r
        path = r.path[0]
        err, across = np.linalg.norm(path, axis=1), path[:, 1]
        converged = r.diverged_at[0] < 0
        rows.append({"key": key, "setting": label,
                     "flips": int(np.sum(np.sign(across[1:window + 1]) != np.sign(across[:window]))),
                     "across": float(np.abs(np.diff(across[:window + 1])).sum()),
                     "|θ₁(50)|": float(abs(path[along_at, 0])),
                     "steps to 10⁻⁶": int(convergence.steps_to_tolerance(err, tol)) if converged else -1,
                     "rate": float(convergence.measured_rate(err)) if converged else math.nan,
                     "theory": float(convergence.rate(eta, beta, lams, nesterov=rule == "nesterov")),
                     "diverged at": int(r.diverged_at[0])})
    return pd.DataFrame(rows).set_index("key"), runs


# --------------------------------------------------------------------------------------------------------------
# theory against measurement on quadratics
# --------------------------------------------------------------------------------------------------------------


def rate_line(surface, start, steps: int, etas, beta: float, lams) -> pd.DataFrame:
    r"""Heavy ball at each learning rate of ``etas`` (one vectorized sweep): one row per :math:`\eta` (the
    index), with the measured rate (:func:`lib.convergence.measured_rate` of :math:`\|\theta_t\|`), the
    predicted one (:func:`lib.convergence.rate`) and whether the run converged (did not diverge)."""
    etas = np.asarray(etas, dtype=np.float64)
    runs = trajectories.sweep("momentum", surface, start, steps, eta=etas, beta=beta)
    return pd.DataFrame({"η": etas,
                         "measured": convergence.measured_rate(np.linalg.norm(runs.path, axis=-1)),
                         "theory": convergence.rate(etas, beta, lams),
                         "converged": runs.diverged_at < 0}).set_index("η")


def measured_rate_map(surface, start, steps: int, etas, betas) -> tuple[np.ndarray, np.ndarray]:
    r"""The measured rate of heavy ball on the grid ``betas`` × ``etas`` (rows :math:`\beta`, columns
    :math:`\eta`, as :func:`lib.convergence.rate_map`), all runs in one sweep, and which runs diverged."""
    eta_grid, beta_grid = np.meshgrid(np.asarray(etas, dtype=np.float64), np.asarray(betas, dtype=np.float64))
    runs = trajectories.sweep("momentum", surface, start, steps, eta=eta_grid.ravel(), beta=beta_grid.ravel())
    measured = convergence.measured_rate(np.linalg.norm(runs.path, axis=-1)).reshape(eta_grid.shape)
    return measured, (runs.diverged_at >= 0).reshape(eta_grid.shape)


def steps_to_reach(kappas, start, tol: float = 1e-6, angle: float = 0.4):
    r"""Gradient descent and heavy ball, each at its optimum (:func:`lib.convergence.gd_optimal`,
    :func:`lib.convergence.momentum_optimal`), on quadratics with :math:`\lambda_{\max} = 1` and each
    condition number of ``kappas``: the steps until :math:`\|\theta_t - \theta^\star\|` stays below ``tol``
    of its start, measured and predicted (:func:`lib.convergence.predicted_steps`).

    Returns ``(table, curves)``: the table is indexed by :math:`\kappa` (``"κ"``); ``curves[(kappa, name)]`` is
    ``(relative error per step, optimal rate)`` for ``name`` in ``("GD", "momentum")``.
    """
    rows, curves = [], {}
    for kappa in kappas:
        lams = (1.0 / kappa, 1.0)
        surface = _quadratic(kappa, angle)
        row = {"κ": float(kappa)}
        for name, rule, opt in (("GD", "gd", convergence.gd_optimal(*lams)),
                                ("momentum", "momentum", convergence.momentum_optimal(*lams))):
            predicted = int(convergence.predicted_steps(opt.rate, tol))
            hp = {"beta": opt.beta} if rule == "momentum" else {}
            run = trajectories.run(rule, surface, start, 2 * predicted + 100, eta=opt.eta, **hp)
            err = np.linalg.norm(run.path[0], axis=1)
            row[f"{name} ρ*"] = opt.rate
            row[f"{name} steps, theory"] = predicted
            row[f"{name} steps, measured"] = int(convergence.steps_to_tolerance(err, tol))
            curves[(float(kappa), name)] = (err / err[0], opt.rate)
        row["speed-up"] = row["GD steps, measured"] / row["momentum steps, measured"]
        row["√κ"] = math.sqrt(kappa)
        rows.append(row)
    return pd.DataFrame(rows).set_index("κ"), curves


def _quadratic(kappa, angle):
    return surfaces.quadratic(kappa=kappa, angle=angle)


# --------------------------------------------------------------------------------------------------------------
# beyond quadratics: basins and saddles
# --------------------------------------------------------------------------------------------------------------


def basins(surface, starts, methods, eta, steps: int, minima, *, radius: float = 1e-3):
    r"""Where each start ends: run each method of ``methods`` (name → ``(rule, hparams)``) from every row of
    ``starts`` and test whether the end lies within ``radius`` of each point of ``minima`` (name → point).

    Returns ``(ends, diverged)``: ``ends[method][minimum]`` is a boolean array over the starts, and
    ``diverged[method]`` the number of runs that diverged.
    """
    ends, diverged = {}, {}
    for name, (rule, hp) in methods.items():
        r = trajectories.run(rule, surface, starts, steps, eta=eta, **hp)
        end = r.path[:, -1]
        ends[name] = {m: np.linalg.norm(end - np.asarray(point), axis=1) < radius for m, point in minima.items()}
        diverged[name] = int(np.sum(r.diverged_at >= 0))
    return ends, diverged


def nearest_start(starts, mask, target) -> np.ndarray:
    """The start among ``starts[mask]`` nearest to ``target`` (a point), e.g. an example path for a figure."""
    chosen = np.asarray(starts)[np.asarray(mask, dtype=bool)]
    if chosen.size == 0:
        raise ValueError("Invalid mask: no start is selected")
    return chosen[np.argmin(np.linalg.norm(chosen - np.asarray(target), axis=1))]


def saddle_escape(surface, start, methods, eta, lam: float, *, steps: int = 400, threshold: float = 0.5):
    r"""Steps until :math:`|\theta_1|` exceeds ``threshold`` from ``start`` near a saddle whose escape
    direction :math:`\theta_1` has curvature ``lam < 0``, for each method (name → ``(rule, beta)``): measured,
    and predicted from the growth factor per step (the spectral radius of the momentum matrix at ``lam``),
    :math:`\ln(\text{threshold}/|\theta_{1,0}|)/\ln\rho`. One row per method (the index).
    """
    rows = []
    for name, (rule, beta) in methods.items():
        hp = {} if rule == "gd" else {"beta": beta}
        r = trajectories.run(rule, surface, start, steps, eta=eta, **hp)
        growth = float(convergence.spectral_radius(lam, eta, beta, nesterov=rule == "nesterov"))
        out = np.abs(r.path[0, :, 0]) > threshold
        rows.append({"method": name, "growth factor per step (theory)": growth,
                     "steps, theory": math.log(threshold / abs(start[0])) / math.log(growth),
                     "steps, measured": int(np.argmax(out)) if out.any() else -1})
    return pd.DataFrame(rows).set_index("method")


# --------------------------------------------------------------------------------------------------------------
# momentum on the digits network
# --------------------------------------------------------------------------------------------------------------


def train_digits(model_fn, data, settings, seeds, *, epochs: int, batch_size: int, threads: int | None = 1):
    r"""Train every setting of ``settings`` (label → ``(rule, eta, beta)``, rule ``"momentum"`` or
    ``"nesterov"``) from every seed of ``seeds``, one :func:`lib.train.train_stacked` run per rule.

    Seed :math:`s` draws the same initial weights (``model_fn(s)``) and the same order of mini-batches for
    every setting, so results can be compared paired by seed. Returns ``{rule: StackedHistory}``, whose copies
    are labelled ``eta``, ``beta`` and ``seed`` (select them with :func:`network_runs`).
    """
    seeds = [int(s) for s in seeds]
    histories = {}
    for rule in dict.fromkeys(rule for rule, _, _ in settings.values()):
        chosen = [(eta, beta) for r, eta, beta in settings.values() if r == rule]
        histories[rule] = train.train_stacked(
            model_fn, [s for _ in chosen for s in seeds], rule, data,
            hparams={"eta": [eta for eta, _ in chosen for _ in seeds], "beta": [b for _, b in chosen for _ in seeds]},
            epochs=epochs, batch_size=batch_size, progress=False, threads=threads)
    return histories


def network_runs(histories, settings) -> pd.DataFrame:
    r"""One row per (setting, seed), selected by label from the histories of :func:`train_digits`: the
    setting's rule, :math:`\eta`, :math:`\beta` and effective learning rate :math:`\eta/(1-\beta)`, the final
    training loss and test accuracy, the number of epochs in which the training loss went up (``rises``) and
    whether the copy diverged."""
    frames = []
    for label, (rule, eta, beta) in settings.items():
        h = histories[rule]
        idx = results.copies(h, eta=eta, beta=beta)
        loss = np.asarray(h.train_loss)[idx]
        frames.append(pd.DataFrame({
            "setting": label, "rule": rule, "η": eta, "β": beta, "η/(1−β)": eta / (1 - beta),
            "seed": np.asarray(h.seeds)[idx], "train loss": loss[:, -1],
            "test accuracy": np.asarray(h.test_acc)[idx, -1],
            "rises": np.sum(np.diff(loss, axis=1) > 0, axis=1), "diverged": np.asarray(h.diverged)[idx]}))
    return pd.concat(frames, ignore_index=True)


def paired_accuracy(runs: pd.DataFrame, a: str, b: str, field: str = "test accuracy",
                    confidence: float = 0.95) -> stats.Interval:
    r"""``field`` of setting ``a`` minus that of setting ``b``, paired by seed (:func:`lib.stats.paired_difference`:
    the seeds share initial weights and data order across settings), with its t-interval."""
    by_seed = runs.pivot(index="seed", columns="setting", values=field)
    for name in (a, b):
        if name not in by_seed.columns:
            raise ValueError(f"Invalid setting: {name!r} (the settings are {list(by_seed.columns)})")
    return stats.paired_difference(by_seed[a].to_dict(), by_seed[b].to_dict(), confidence)


def network_summary(runs: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    r"""One row per setting of :func:`network_runs` (in their order): the effective learning rate, the mean
    final training loss, the mean test accuracy with the half-width of its t-interval over seeds
    (:func:`lib.stats.mean_interval`), the mean number of epochs in which the loss rose, the number of seeds
    and of diverged copies."""
    grouped = runs.groupby("setting", sort=False)
    return pd.DataFrame({
        "η/(1−β)": grouped["η/(1−β)"].first(),
        "train loss": grouped["train loss"].mean(),
        "test accuracy": grouped["test accuracy"].mean(),
        "± (interval)": grouped["test accuracy"].agg(lambda x: stats.mean_interval(x, confidence).half_width),
        "rising epochs": grouped["rises"].mean(),
        "seeds": grouped["seed"].nunique(),
        "diverged": grouped["diverged"].sum().astype(int),
    })
