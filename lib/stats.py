"""Intervals over seeds: how the book states a comparison between two settings.

A difference between two settings (batch sizes, optimizers, schedules) is reported as a mean difference with a
confidence interval over seeds, never as two means and a spread. The book's runs share their seeds across settings:
seed s draws the same initial weights and the same order of mini-batches for every setting, so the runs are
*paired*, and the interval is Student's t-interval of the per-seed differences,

.. math::

    \\bar d \\pm t_{n-1,\\,1-\\alpha/2}\\; s_d / \\sqrt{n}, \\qquad d_s = a_s - b_s .

Pairing removes the part of the seed-to-seed variation that both settings share (a lucky initialization helps
both), so it detects smaller effects than comparing two independent samples. The t-interval assumes the
differences are roughly normal; with the book's 10 or more seeds and differences that are averages over a test
set, that is a fair assumption, and unlike a bootstrap it is exact for normal data and stays honest (wide) when n
is small. When the runs do not share seeds, :func:`welch_difference` gives Welch's interval instead.

References:
    Student (1908), *The probable error of a mean*. Welch (1947), *The generalization of "Student's" problem when
    several different population variances are involved*.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
from scipy import stats as _scipy_stats

from lib.checks import check_in_range, invalid

__all__ = ["Interval", "mean_interval", "paired_difference", "welch_difference"]

Sample = Sequence[float] | np.ndarray | Mapping[object, float]


class Interval(NamedTuple):
    """A mean (or a mean difference) with its two-sided confidence interval over `n` seeds."""

    mean: float
    low: float
    high: float
    n: int
    confidence: float

    @property
    def half_width(self) -> float:
        """Half the width of the interval (the "±" of ``mean ± half_width``)."""
        return (self.high - self.low) / 2

    @property
    def excludes_zero(self) -> bool:
        """True if the interval lies entirely above or below zero: the difference is detected at this level."""
        return self.low > 0 or self.high < 0

    def describe(self, fmt: str = ".3f", unit: str = "") -> str:
        """``0.004 ± 0.003 (95 % interval, 12 seeds)`` — the form the text uses."""
        return (
            f"{self.mean:{fmt}}{unit} ± {self.half_width:{fmt}}{unit} "
            f"({100 * self.confidence:g} % interval, {self.n} seeds)"
        )


def _values(name: str, sample: Sample) -> np.ndarray:
    values = np.asarray(list(sample.values()) if isinstance(sample, Mapping) else sample, dtype=float)
    if values.ndim != 1 or values.size < 2:
        raise invalid(name, f"{values.size} value(s) of shape {values.shape}", "expected at least 2 seeds, 1-D")
    if not np.all(np.isfinite(values)):
        raise invalid(name, values.tolist(), "expected finite values (a diverged run has no accuracy to average)")
    return values


def _t_interval(values: np.ndarray, confidence: float) -> Interval:
    n = values.size
    mean = float(values.mean())
    half = float(_scipy_stats.t.ppf(0.5 + confidence / 2, n - 1) * values.std(ddof=1) / math.sqrt(n))
    return Interval(mean, mean - half, mean + half, n, confidence)


def mean_interval(sample: Sample, confidence: float = 0.95) -> Interval:
    """Student's t-interval for the mean of `sample` (one value per seed; a sequence or a {seed: value} map)."""
    check_in_range("confidence", confidence, 0.0, 1.0, low_open=True, high_open=True)
    return _t_interval(_values("sample", sample), confidence)


def paired_difference(a: Sample, b: Sample, confidence: float = 0.95) -> Interval:
    """The mean of ``a_s - b_s`` over seeds s, with Student's t-interval.

    `a` and `b` are {seed: value} maps (paired by seed label, the book's way) or equal-length sequences in the
    same seed order.

    >>> paired_difference({0: 0.97, 1: 0.96, 2: 0.98}, {0: 0.96, 1: 0.955, 2: 0.975}).describe()
    '0.007 ± 0.007 (95 % interval, 3 seeds)'
    """
    check_in_range("confidence", confidence, 0.0, 1.0, low_open=True, high_open=True)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        if set(a) != set(b):
            raise invalid("seeds", sorted(set(a) ^ set(b), key=str), "expected the same seeds in a and b")
        seeds = list(a)
        a, b = [a[s] for s in seeds], [b[s] for s in seeds]
    elif isinstance(a, Mapping) or isinstance(b, Mapping):
        raise ValueError("Invalid samples: pass both as {seed: value} maps or both as sequences")
    first, second = _values("a", a), _values("b", b)
    if first.shape != second.shape:
        raise invalid("b", f"{second.size} values", f"expected {first.size}, one per seed of a")
    return _t_interval(first - second, confidence)


def welch_difference(a: Sample, b: Sample, confidence: float = 0.95) -> Interval:
    """Welch's interval for ``mean(a) - mean(b)`` when the runs of `a` and `b` do not share seeds."""
    check_in_range("confidence", confidence, 0.0, 1.0, low_open=True, high_open=True)
    first, second = _values("a", a), _values("b", b)
    va, vb = first.var(ddof=1) / first.size, second.var(ddof=1) / second.size
    mean = float(first.mean() - second.mean())
    if va + vb == 0:
        return Interval(mean, mean, mean, min(first.size, second.size), confidence)
    dof = (va + vb) ** 2 / (va**2 / (first.size - 1) + vb**2 / (second.size - 1))
    half = float(_scipy_stats.t.ppf(0.5 + confidence / 2, dof) * math.sqrt(va + vb))
    return Interval(mean, mean - half, mean + half, min(first.size, second.size), confidence)
