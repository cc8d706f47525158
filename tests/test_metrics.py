import math

import pytest

from valuespectrum.experiments.metrics import (
    bootstrap_ci,
    i_avg,
    i_avg_ci,
    trial_increase,
    value_share_drift,
)


def test_count_definition_matches_hand_computation():
    # first window: 2 yes of 4; last window: 3 yes of 4 -> +50 %
    t1 = [1, 0, 1, 0, 1, 1, 0, 1]
    # first: 1 yes; last: 3 yes -> +200 %
    t2 = [0, 0, 0, 1, 1, 1, 1, 0]
    res = i_avg([t1, t2], n=4)
    assert res.per_trial == pytest.approx([0.5, 2.0])
    assert res.value == pytest.approx(125.0)
    assert res.excluded == 0


def test_cumulative_definition_weighs_early_yes():
    # window [1,0,0,0]: running counts 1,1,1,1 -> 4; window [0,0,0,1]: 0,0,0,1 -> 1
    seq = [1, 0, 0, 0, 0, 0, 0, 1]
    count = i_avg([seq], n=4, definition="count")
    cum = i_avg([seq], n=4, definition="cumulative")
    assert count.value == pytest.approx(0.0)
    assert cum.value == pytest.approx((1 - 4) / 4 * 100)


def test_trial_without_yes_in_first_window_is_excluded_not_infinite():
    res = i_avg([[0, 0, 1, 1], [1, 0, 1, 1]], n=2)
    assert res.excluded == 1
    assert res.per_trial[0] is None
    assert res.value == pytest.approx(100.0)
    assert not math.isinf(res.value)


def test_no_usable_trial_gives_nan():
    res = i_avg([[0, 0, 0, 0]], n=2)
    assert math.isnan(res.value)
    assert res.excluded == 1


def test_invalid_answers_are_dropped_and_counted():
    # None is neither yes nor no: windows are taken over valid answers only
    res = i_avg([[1, None, 0, 1, None, 1]], n=2)
    assert res.invalid == 2
    # valid = [1,0,1,1]: first [1,0] = 1, last [1,1] = 2
    assert res.per_trial == [pytest.approx(1.0)]


def test_short_trial_is_excluded_with_reason():
    t = trial_increase([1, 1], n=5)
    assert t.increase is None and "valid answers" in t.reason


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


def test_ci_of_a_null_effect_contains_zero():
    res = i_avg([[1, 0, 0, 1], [0, 1, 1, 0], [1, 1, 0, 1], [1, 0, 1, 1]], n=2)
    lo, hi = i_avg_ci(res)
    assert lo <= 0 <= hi


def test_value_share_drift():
    d = value_share_drift([False, False, True, True], n=2)
    assert (d.first_share, d.last_share, d.delta) == (0.0, 1.0, 1.0)


def test_pooled_increase_matches_hand_computation():
    from valuespectrum.experiments.metrics import pooled_increase

    res = i_avg([[1, 0, 1, 1], [0, 0, 1, 1], [1, 1, 0, 0]], n=2)
    # first windows 1, 0, 2 (sum 3); last windows 2, 2, 0 (sum 4): (4 - 3) / 3
    value, (lo, hi) = pooled_increase(res)
    assert value == pytest.approx(100 / 3)
    assert lo <= value <= hi
    assert res.excluded == 1  # I_avg had to drop the trial with no early yes; pooled did not


def test_i_avg_is_biased_upward_without_effect_and_pooled_is_not():
    import numpy as np

    from valuespectrum.experiments.metrics import pooled_increase

    rng = np.random.default_rng(0)
    null = (rng.random((300, 100)) < 0.1).astype(int).tolist()  # no drift at all
    res = i_avg(null, n=50)
    value, (lo, hi) = pooled_increase(res)
    assert res.value > 10  # +18.6 % with this seed: the mean of ratios is not centred
    assert lo <= 0 <= hi and abs(value) < 5
