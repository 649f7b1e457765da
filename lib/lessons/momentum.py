r"""The momentum chapter's own helpers: the exponentially weighted average (EWMA) of a series.

Andrew Ng introduces momentum through the EWMA of a year of daily temperatures,
:math:`v_t = \beta v_{t-1} + (1-\beta)\,\theta_t`. These helpers run that average over a series with
:func:`lib.rules.ewma` (the same function the momentum rules use), and measure what the chapter says about it:
the window it averages over (:func:`effective_window`, :func:`mean_age`) and how far it lags a seasonal
signal (:func:`seasonal_lag`, :func:`ewma_lag`). The convergence rates of momentum are core
(:mod:`lib.convergence`), shared with the gradient-descent chapter.

References:
    A. Ng, *Improving Deep Neural Networks*, deeplearning.ai course 2, week 2 ("Exponentially weighted
    averages", "Bias correction in exponentially weighted averages").
"""

from __future__ import annotations

import math

import numpy as np

from lib import rules
from lib.convergence import check_beta

__all__ = ["effective_window", "ewma_lag", "ewma_series", "mean_age", "seasonal_lag"]


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
