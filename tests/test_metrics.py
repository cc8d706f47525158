"""valuespectrum.metrics: hand-computed cases, exact null values, and behaviour under no effect."""

import math

import numpy as np
import pytest

from valuespectrum.metrics import (
    bootstrap_ci,
    delta,
    holm,
    i_avg,
    i_avg_ci,
    mean_contrast,
    null_i_avg,
    null_i_avg_cumulative,
    pooled_increase,
    trend,
    trial_increase,
    trial_windows,
    value_share_drift,
)


def test_count_definition_matches_hand_computation():
    t1 = [1, 0, 1, 0, 1, 1, 0, 1]  # first window 2 of 4, last 3 of 4: +50 %
    t2 = [0, 0, 0, 1, 1, 1, 1, 0]  # first 1, last 3: +200 %
    res = i_avg([t1, t2], n=4)
    assert res.per_trial == pytest.approx([0.5, 2.0])
    assert res.value == pytest.approx(125.0) and res.excluded == 0


def test_cumulative_definition_weighs_early_yes():
    # window [1,0,0,0]: running counts 1,1,1,1 -> 4; window [0,0,0,1]: 0,0,0,1 -> 1
    seq = [1, 0, 0, 0, 0, 0, 0, 1]
    assert i_avg([seq], n=4, definition="count").value == pytest.approx(0.0)
    assert i_avg([seq], n=4, definition="cumulative").value == pytest.approx((1 - 4) / 4 * 100)


def test_windows_are_cut_by_position_and_invalid_answers_stay_missing():
    # 10 scrolls, n = 5: [0, 5) and [5, 10); the invalid answer at step 2 stays in the first
    w = trial_windows([1, 0, None, 1, 1, 0, 0, 1, 1, 1], n=5)
    assert (w.first_yes, w.first_valid, w.last_yes, w.last_valid) == (3, 4, 3, 5)
    assert w.first == pytest.approx(3 / 4) and w.last == pytest.approx(3 / 5) and w.usable
    # dropping invalid answers first (the old rule) would have shifted both windows
    too_many = trial_windows([None, None, 1, 1, 1, 0, 0, 1, 1, 1], n=5)
    assert too_many.reason == "2 of 5 answers invalid in the first window"
    assert trial_increase([1, None, 1, 1], n=2).reason.startswith("1 of 2 answers invalid")
    assert trial_windows([1, 1, 1], n=2).reason == "3 scrolls < two windows of 2"


def test_delta_and_pooled_increase_match_hand_computation():
    ws = [trial_windows(d, n=2) for d in ([1, 0, 1, 1], [0, 0, 1, 1], [1, 1, 0, 0])]
    # first rates 0.5, 0, 1; last rates 1, 1, 0
    d = delta(ws)
    assert d.value == pytest.approx((0.5 + 1 - 1) / 3) and d.n == 3
    p = pooled_increase(ws)
    assert p.value == pytest.approx((2 / 1.5 - 1) * 100)
    assert p.ci[0] <= p.value <= p.ci[1]
    # I_avg had to drop the trial with no early yes; neither Δ nor the pooled ratio did
    assert i_avg([[1, 0, 1, 1], [0, 0, 1, 1], [1, 1, 0, 0]], n=2).excluded == 1


def test_trial_without_yes_in_first_window_is_excluded_not_infinite():
    res = i_avg([[0, 0, 1, 1], [1, 0, 1, 1]], n=2)
    assert res.excluded == 1 and res.per_trial[0] is None
    assert res.value == pytest.approx(100.0) and not math.isinf(res.value)
    assert math.isnan(i_avg([[0, 0, 0, 0]], n=2).value)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError):
        i_avg([[1]], n=0)
    with pytest.raises(ValueError):
        i_avg([[1]], n=1, definition="median")


def test_bootstrap_ci_brackets_the_mean_and_is_seeded():
    xs = [0.1, 0.2, 0.3, 0.25, 0.15, 0.2]
    lo, hi = bootstrap_ci(xs, seed=1)
    assert lo < sum(xs) / len(xs) < hi
    assert (lo, hi) == bootstrap_ci(xs, seed=1)
    assert all(math.isnan(v) for v in bootstrap_ci([0.3]))
    assert bootstrap_ci([0.2, 0.2, 0.2]) == pytest.approx((0.2, 0.2))
    # few samples, two of them equal up to rounding: a bounded interval, not 1e14
    lo, hi = bootstrap_ci([3 / 5, 0.6 + 1e-16, 0.2])
    assert 0.2 <= lo <= hi <= 0.6 + 1e-9
    lo, hi = bootstrap_ci([0.1 * 3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.5, 0.1])
    assert 0.0 < lo < hi < 0.6
    res = i_avg([[1, 0, 0, 1], [0, 1, 1, 0], [1, 1, 0, 1], [1, 0, 1, 1]], n=2)
    lo, hi = i_avg_ci(res)
    assert lo <= 0 <= hi


def test_null_i_avg_equals_the_exact_binomial_sum():
    def exact(p, n):
        pmf = [math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)]
        conditional = sum(pmf[k] / k for k in range(1, n + 1)) / (1 - pmf[0])
        return (n * p * conditional - 1) * 100

    for p, n in [(0.02, 50), (0.05, 50), (0.1, 50), (0.27, 50), (0.5, 10), (0.9, 50)]:
        assert null_i_avg(p, n) == pytest.approx(exact(p, n), rel=1e-9)
    # the figures the review quoted, for n = 50
    assert [round(null_i_avg(p, 50)) for p in (0.05, 0.10, 0.27, 0.02)] == [24, 26, 6, -23]
    assert 50 < null_i_avg_cumulative(0.10, 50) < 70  # "about +60 %"
    assert math.isnan(null_i_avg(0.0, 50))


def test_holm_matches_a_hand_computation():
    # sorted 0.01, 0.03, 0.04 -> 0.03, 0.06, 0.04 -> monotone: 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    out = holm([0.01, float("nan")])
    assert out[0] == pytest.approx(0.01) and math.isnan(out[1])


def test_trend_finds_a_rising_yes_rate_and_not_a_flat_one():
    rng = np.random.default_rng(1)
    ids = [f"t{i}" for i in range(20) for _ in range(100)]
    steps = [s for _ in range(20) for s in range(100)]
    rising = (rng.random(2000) < np.tile(np.linspace(0.1, 0.6, 100), 20)).astype(int)
    flat = (rng.random(2000) < 0.3).astype(int)
    up, level = trend(ids, steps, list(rising)), trend(ids, steps, list(flat))
    assert up.ci[0] > 0 and up.p_value < 0.001 and up.odds_ratio > 3
    assert level.ci[0] < 0 < level.ci[1]
    assert trend(ids, steps, [1] * 2000).reason == "every answer is the same"


def test_value_share_drift():
    d = value_share_drift([False, False, True, True], n=2)
    assert (d.first_share, d.last_share, d.delta) == (0.0, 1.0, 1.0)


def test_the_trend_test_holds_its_level_with_ten_trials():
    """No drift, 10 trials x 100 scrolls, each trial at its own base rate: p < 0.05 in about
    5 % of 1,000 cells. (With the normal reference instead of t(9) this seed gave 8.8 %.)"""
    rng = np.random.default_rng(7)
    trials, n, cells = 10, 100, 1000
    ids = [f"t{i}" for i in range(trials) for _ in range(n)]
    steps = [s for _ in range(trials) for s in range(n)]
    small = 0
    for _ in range(cells):
        rates = np.repeat(rng.beta(3, 7, trials), n)
        small += trend(ids, steps, (rng.random(trials * n) < rates).tolist()).p_value < 0.05
    assert 0.035 <= small / cells <= 0.065, small / cells


@pytest.mark.slow
def test_under_no_effect_delta_is_calibrated_and_i_avg_drifts_to_its_null():
    """Independent answers, no drift: Δ's 95 % CI covers 0 about 95 % of the time, contrast
    p-values are uniform, and I_avg settles at null_i_avg, not at 0."""
    rng = np.random.default_rng(2024)
    p, n, trials, runs = 0.1, 50, 20, 400
    covered, small_p, i_avgs = 0, 0, []
    for _ in range(runs):
        answers = (rng.random((2 * trials, 2 * n)) < p).astype(int)
        ws = [trial_windows(a, n) for a in answers[:trials]]
        est = delta(ws, n_boot=2000, seed=int(rng.integers(1 << 31)))
        covered += est.ci[0] <= 0 <= est.ci[1]
        other = [trial_windows(a, n).delta for a in answers[trials:]]
        c = mean_contrast([w.delta for w in ws], other, paired=False)
        small_p += c.p_value < 0.05
        i_avgs.append(i_avg(answers[:trials].tolist(), n).value)
    assert 0.92 <= covered / runs <= 0.98, covered / runs
    assert 0.02 <= small_p / runs <= 0.09, small_p / runs
    assert np.mean(i_avgs) == pytest.approx(null_i_avg(p, n), abs=4.0)  # +26 %, not 0


def test_the_cluster_bootstrap_keeps_each_units_values_together():
    from valuespectrum.metrics.resample import cluster_resample

    first = np.array([1.0, 2.0, 3.0, 4.0])
    last = first * 10  # a unit's pair: last = 10 x first in every resample, or it was split
    f, la = cluster_resample(first, last, n_boot=500, seed=3)
    assert f.shape == la.shape == (500, 4)
    assert np.array_equal(la, f * 10)
    assert set(np.unique(f)) <= set(first) and len(np.unique(f)) == 4
    again, _ = cluster_resample(first, last, n_boot=500, seed=3)
    assert np.array_equal(again, f)  # the seed fixes the draws
    with pytest.raises(ValueError, match="one value per unit"):
        cluster_resample(first, last[:3], n_boot=10)
