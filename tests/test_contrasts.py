"""The lead estimands: session contrasts, their calibration under no effect, curves, power."""

import math

import numpy as np
import pytest
from scipy import stats

from valuespectrum.metrics import (
    bin_edges,
    cannot_reach,
    half_gap_scroll,
    holm,
    mean_contrast,
    session_contrast,
    session_curves,
    stratified_mean,
)
from valuespectrum.metrics.power import PowerInputs, holm_rows, power, trials_for


def markov_answers(rng, rates, scrolls=100, lag1=0.3):
    """Trials x scrolls answers: each trial a two-state Markov chain stationary at its rate,
    with lag-1 correlation `lag1` (a viewer who stays on runs of similar posts)."""
    rates = np.asarray(rates, dtype=float)
    out = np.empty((rates.size, scrolls), dtype=int)
    cur = rng.random(rates.size) < rates
    out[:, 0] = cur
    for t in range(1, scrolls):
        p = np.where(cur, rates + lag1 * (1 - rates), rates * (1 - lag1))
        cur = rng.random(rates.size) < p
        out[:, t] = cur
    return out


def null_study(rng, pairs=10, a=3.0, b=7.0, shared=0.5):
    """Two arms with no effect: per-trial rates from Beta(a, b); a pair's two trials share
    their rate with probability `shared` (the seed's common opening posts)."""
    base = rng.beta(a, b, pairs)
    rt = np.where(rng.random(pairs) < shared, base, rng.beta(a, b, pairs))
    rc = np.where(rng.random(pairs) < shared, base, rng.beta(a, b, pairs))
    return markov_answers(rng, rt).tolist(), markov_answers(rng, rc).tolist()


def test_the_paired_reading_is_scipys_paired_t_test_and_its_interval():
    rng = np.random.default_rng(11)
    t, c = null_study(rng)
    r = session_contrast(t, c, paired=True)
    rt, rc = np.mean(t, axis=1), np.mean(c, axis=1)
    ref = stats.ttest_rel(rt, rc)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert r.ci == pytest.approx(tuple(ref.confidence_interval(0.95)), rel=1e-9)
    assert r.diff == pytest.approx(float(np.mean(rt - rc))) and r.n == 10 and r.df == 9


def test_the_unpaired_reading_is_welchs_t_test_and_its_interval():
    rng = np.random.default_rng(12)
    t, c = null_study(rng)
    r = session_contrast(t, c[:7], paired=False, alpha=0.1)
    ref = stats.ttest_ind(np.mean(t, axis=1), np.mean(c[:7], axis=1), equal_var=False)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert r.ci == pytest.approx(tuple(ref.confidence_interval(0.90)), rel=1e-9)
    assert (r.n_treatment, r.n_control, r.reading) == (10, 7, "unpaired")


@pytest.mark.parametrize("paired, shared", [(True, 0.5), (True, 0.0), (False, 0.0)])
def test_under_no_effect_the_interval_covers_zero_95_percent_and_agrees_with_its_p(
        paired, shared):
    """1,000 seeded null studies of 10 pairs, per-trial rates from a Beta, lag-1 dependence
    inside trials: the 95 % interval covers 0 in 93-97 % of them, p < 0.05 in 3-7 %, and the
    interval leaves out 0 exactly when p < 0.05. (1,000 rather than 400: the standard error
    of a coverage at 400 runs is 1.1 points, so a calibrated method would leave 93-97 % one
    time in ten; at 1,000 it is 0.7 points. The unpaired reading of pairs that share their
    seed's draws is conservative, as it should be: next test.)"""
    rng = np.random.default_rng(2026)
    runs, covered, rejected = 1000, 0, 0
    for _ in range(runs):
        t, c = null_study(rng, shared=shared)
        r = session_contrast(t, c, paired=paired)
        covered += r.ci[0] <= 0 <= r.ci[1]
        rejected += r.p_value < 0.05
        assert r.excludes_zero == (r.p_value < 0.05)
    assert 0.93 <= covered / runs <= 0.97, covered / runs
    assert 0.03 <= rejected / runs <= 0.07, rejected / runs


def test_the_unpaired_reading_of_pairs_that_share_draws_is_conservative_not_liberal():
    rng = np.random.default_rng(2027)
    rejected = sum(session_contrast(*null_study(rng, shared=0.7), paired=False).p_value < 0.05
                   for _ in range(300))
    assert rejected / 300 <= 0.03


def test_a_real_difference_is_found_and_missing_answers_are_left_out():
    rng = np.random.default_rng(3)
    t = markov_answers(rng, np.full(10, 0.7)).tolist()
    c = markov_answers(rng, np.full(10, 0.3)).tolist()
    t[0][:5] = [None] * 5  # invalid answers are not "no"
    r = session_contrast(t, c)
    assert r.ci[0] > 0.2 and r.p_value < 1e-3 and r.excludes_zero


def test_too_few_pairs_give_nans_with_a_reason_and_pairs_must_line_up():
    r = session_contrast([[1, 0]], [[0, 0]])
    assert math.isnan(r.diff) and r.reason == "fewer than 2 pairs in every persona"
    assert cannot_reach(r, 1).startswith("cannot reach 0.05 with 0 pairs")
    with pytest.raises(ValueError, match="trial i pairs with trial i"):
        session_contrast([[1], [0]], [[1]])
    same = mean_contrast([0.2, 0.1, math.nan], [0.2, 0.1, 0.3])
    assert (same.diff, same.ci, same.p_value, same.n) == (0.0, (0.0, 0.0), 1.0, 2)


def test_min_p_and_what_a_family_can_reach():
    r = mean_contrast([0.5, 0.6, 0.7], [0.1, 0.1, 0.2])
    assert r.min_p == 0.0 and cannot_reach(r, 5) is None  # a t-test can reach any level
    from dataclasses import replace

    exact = replace(r, min_p=0.0625, n=5)  # e.g. an exact sign-flip test over 5 pairs
    assert cannot_reach(exact, 2) == "cannot reach 0.05 with 5 pairs in a family of 2"
    assert cannot_reach(replace(exact, min_p=0.02), 2) is None


def test_fixed_personas_weigh_equally_and_reduce_to_one_stratum_t():
    a = {"p1": [0.5, 0.6, 0.7, 0.6], "p2": [0.2, 0.3, 0.25]}
    b = {"p1": [0.1, 0.2, 0.15, 0.2], "p2": [0.2, 0.1, 0.2]}
    r = mean_contrast(a, b, paired=False)
    assert r.diff == pytest.approx(((0.6 - 0.1625) + (0.25 - 0.1667)) / 2, abs=1e-3)
    assert r.strata == 2
    one = mean_contrast({"p1": a["p1"]}, {"p1": b["p1"]}, paired=False)
    ref = stats.ttest_ind(a["p1"], b["p1"], equal_var=False)
    assert one.p_value == pytest.approx(ref.pvalue)
    sampled = mean_contrast(a, b, paired=False, personas="sampled")
    assert sampled.df == 1 and sampled.diff == pytest.approx(r.diff)
    assert stratified_mean({"p1": [1.0, 1.0, 1.0, 1.0], "p2": [0.0, 0.0]})[0] == 0.5


def test_persona_pooled_intervals_cover_the_fixed_personas_contrast_95_percent():
    """Three fixed personas with very different effects (0, 0.1, 0.3): the pooled estimand
    is their mean; intervals that resampled personas were 1.4x too wide (98-100 %)."""
    rng = np.random.default_rng(8)
    effects = {"a": 0.0, "b": 0.1, "c": 0.3}
    truth = np.mean(list(effects.values()))
    runs, covered = 400, 0
    for _ in range(runs):
        t = {k: rng.normal(0.3 + e, 0.1, 10) for k, e in effects.items()}
        c = {k: rng.normal(0.3, 0.1, 10) for k in effects}
        r = mean_contrast(t, c, paired=False)
        covered += r.ci[0] <= truth <= r.ci[1]
    assert 0.93 <= covered / runs <= 0.97, covered / runs


def test_holm_is_statsmodels_and_the_vectorised_one_agrees():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    p = np.random.default_rng(1).random((20, 4))
    assert holm_rows(p) == pytest.approx(np.array([holm(list(row)) for row in p]))


def test_the_curve_band_is_simultaneous_under_no_effect():
    """No effect: the difference curve's band holds 0 in every one of its 20 bins at once in
    about 93-94 % of null studies of 10 pairs (measured over 2,800 studies; a percentile
    bootstrap of the same sup statistic held in 60 %, a pointwise band far less)."""
    rng = np.random.default_rng(21)
    runs, whole = 600, 0
    for i in range(runs):
        t, c = null_study(rng, pairs=10)
        band = session_curves(t, c, scrolls=100, bins=20, window=50, n_boot=1000,
                              seed=i).difference
        whole += all(lo <= 0 <= hi for lo, hi in zip(band.lo, band.hi, strict=True)
                     if lo is not None)
    assert 0.91 <= whole / runs <= 0.98, whole / runs


def test_half_the_gap_is_read_off_the_mean_difference_curve():
    edges = bin_edges(100, 20)
    assert edges[:3] == [0, 5, 10] and edges[-1] == 100
    diff = [0.0, 0.2, 0.4, 0.4] + [0.4] * 16
    assert half_gap_scroll(diff, edges, 0.4) == pytest.approx(7.0)  # between 2 and 7
    assert half_gap_scroll([0.3] + [0.4] * 19, edges, 0.4) == 2.0  # already in the first bin
    assert half_gap_scroll(diff, edges, -0.1) is None
    rng = np.random.default_rng(5)
    scrolls = 100
    t = markov_answers(rng, np.full(30, 0.3))  # learning: 0.3 -> 0.7 with tau 6
    lift = 0.4 * (1 - np.exp(-np.arange(scrolls) / 6))
    t = (rng.random((30, scrolls)) < 0.3 + lift).astype(int)
    c = (rng.random((30, scrolls)) < 0.3).astype(int)
    curves = session_curves(t.tolist(), c.tolist(), scrolls=scrolls, bins=20, window=50)
    assert 2 <= curves.half_gap_scroll <= 8  # 6 ln 2 = 4.2 at 5-scroll resolution
    assert curves.final_gap == pytest.approx(0.4, abs=0.06)


def test_power_holds_alpha_under_no_effect_and_grows_with_effect_and_trials():
    inputs = PowerInputs(0.3, 0.1, 0.0, 0.3, scrolls=100, window=50)
    assert power(inputs, trials=10, effect=0.0, sims=600) == pytest.approx(0.05, abs=0.025)
    small, large = (power(inputs, trials=10, effect=e) for e in (0.05, 0.2))
    assert small < large and large > 0.8
    assert power(inputs, trials=30, effect=0.05) > small
    n = trials_for(inputs, effect=0.2)
    assert power(inputs, trials=n, effect=0.2) >= 0.8 > power(inputs, trials=n - 1, effect=0.2)
    with pytest.raises(ValueError, match="between_sd"):
        PowerInputs(0.3, 0.6, 0.0, 0.3, scrolls=100, window=50).check()


def test_power_counts_a_learning_arm_that_spreads_more_than_its_twin():
    """A learning feed finds one viewer early and another late: its trials spread far more
    than its twin's (the demo: SD 0.20 against 0.013). Power read off the twin alone would
    promise a +0.05 effect in 6 pairs; with the learning arm's spread it is much lower, and
    under no effect the test still holds alpha."""
    twin_only = PowerInputs(0.03, 0.015, 0.3, 0.0, scrolls=100, window=50)
    spread = PowerInputs(0.03, 0.015, 0.3, 0.0, scrolls=100, window=50, treatment_sd=0.2)
    assert power(twin_only, trials=10, effect=0.05) > 0.9
    assert power(spread, trials=10, effect=0.05) < 0.4
    # no effect, the learning arm spread three times as much as the twin: still alpha
    null = PowerInputs(0.3, 0.05, 0.3, 0.3, scrolls=100, window=50, treatment_sd=0.15)
    assert power(null, trials=10, effect=0.0, sims=600) == pytest.approx(0.05, abs=0.025)
    same = PowerInputs(0.3, 0.1, 0.0, 0.3, scrolls=100, window=50, treatment_sd=0.1)
    assert abs(power(same, trials=10, effect=0.1) - power(
        PowerInputs(0.3, 0.1, 0.0, 0.3, scrolls=100, window=50), trials=10, effect=0.1)) < 0.1
    with pytest.raises(ValueError, match="treatment_sd"):
        PowerInputs(0.3, 0.1, 0.0, 0.3, scrolls=100, window=50, treatment_sd=0.7).check()
