"""lib.stats: intervals over seeds, against scipy and by coverage."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from lib import stats


def test_paired_difference_matches_scipy_ttest_rel():
    rng = np.random.default_rng(0)
    a = rng.normal(0.97, 0.01, 12)
    b = a - rng.normal(0.002, 0.003, 12)
    ours = stats.paired_difference(a, b, confidence=0.9)
    ci = scipy_stats.ttest_rel(a, b).confidence_interval(confidence_level=0.9)
    np.testing.assert_allclose([ours.low, ours.high], [ci.low, ci.high], rtol=1e-12)
    assert ours.n == 12 and ours.confidence == 0.9
    np.testing.assert_allclose(ours.mean, np.mean(a - b), rtol=1e-12)


def test_welch_difference_matches_scipy():
    rng = np.random.default_rng(1)
    a, b = rng.normal(1.0, 0.5, 10), rng.normal(0.5, 1.5, 14)
    ours = stats.welch_difference(a, b)
    ci = scipy_stats.ttest_ind(a, b, equal_var=False).confidence_interval()
    np.testing.assert_allclose([ours.low, ours.high], [ci.low, ci.high], rtol=1e-10)


def test_mean_interval_matches_scipy():
    x = np.array([0.1, 0.4, 0.35, 0.2, 0.3])
    ours = stats.mean_interval(x)
    ci = scipy_stats.ttest_1samp(x, 0.0).confidence_interval()
    np.testing.assert_allclose([ours.low, ours.high], [ci.low, ci.high], rtol=1e-12)


def test_pairing_is_by_seed_label_not_position():
    a = {0: 1.0, 1: 2.0, 2: 4.0}
    b = {2: 3.0, 0: 0.0, 1: 1.0}
    assert stats.paired_difference(a, b).mean == pytest.approx(1.0)
    assert stats.paired_difference(a, b).half_width == pytest.approx(0.0)
    with pytest.raises(ValueError, match=r"Invalid seeds: \[3\]"):
        stats.paired_difference(a, {0: 1.0, 1: 1.0, 2: 1.0, 3: 1.0})
    with pytest.raises(ValueError, match="both as"):
        stats.paired_difference(a, [1.0, 2.0, 3.0])


def test_paired_t_interval_covers_the_true_difference_at_its_level():
    rng = np.random.default_rng(2)
    covered = 0
    trials = 2000
    for _ in range(trials):
        shared = rng.normal(0, 1.0, 10)
        a = shared + rng.normal(0.3, 0.2, 10)
        b = shared + rng.normal(0.0, 0.2, 10)
        interval = stats.paired_difference(a, b)
        covered += interval.low <= 0.3 <= interval.high
    assert abs(covered / trials - 0.95) < 0.015


def test_excludes_zero_and_describe():
    detected = stats.Interval(0.01, 0.004, 0.016, 10, 0.95)
    assert detected.excludes_zero
    assert not stats.Interval(0.01, -0.001, 0.021, 10, 0.95).excludes_zero
    assert detected.describe() == "0.010 ± 0.006 (95 % interval, 10 seeds)"
    assert detected.describe(".1f", " %") == "0.0 % ± 0.0 % (95 % interval, 10 seeds)"


@pytest.mark.parametrize(
    "a, b, match",
    [
        ([1.0], [1.0], "at least 2 seeds"),
        ([1.0, np.nan], [1.0, 2.0], "finite"),
        ([1.0, 2.0], [1.0, 2.0, 3.0], "Invalid b"),
    ],
)
def test_bad_samples(a, b, match):
    with pytest.raises(ValueError, match=match):
        stats.paired_difference(a, b)


def test_bad_confidence():
    with pytest.raises(ValueError, match=r"Invalid confidence: 1.0"):
        stats.mean_interval([1.0, 2.0], confidence=1.0)
