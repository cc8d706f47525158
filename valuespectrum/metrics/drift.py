"""Feed-drift statistics: what a sweep reports, each with its uncertainty and its null value.

A trial's answers are per-scroll decisions in order: 1 (yes, stayed), 0 (no) or None (the
model's answer was invalid). Windows are cut **by position**: the first window is scrolls
``[0, n)``, the last ``[S - n, S)``; they never overlap (``2n <= S``), and an invalid
answer stays a missing value at its step. A trial with more than `max_invalid` of a window
missing is excluded, with that reason.

Per trial, with ``F`` and ``L`` the yes-rates of the first and last window (over valid
answers; ``yes/n`` when none is missing):

- **Δ = L − F** (the primary measure). Under no effect its expectation is exactly 0 at any
  base rate, and it has no ceiling. Reported as the mean over trials.
- **pooled increase** ``ΣL/ΣF − 1`` over trials: a ratio estimator, nearly unbiased.
- **I_avg** (the paper's equation 1): the mean over trials of ``(L − F)/F``, trials with
  ``F = 0`` excluded. Biased under no effect: `null_i_avg(p, n)` gives its exact expected
  value for independent answers at yes-rate p, and every report shows it beside I_avg.
  The "cumulative" reading replaces counts by sums of running counts Y(i), as the formula
  reads literally; its null value is simulated (`null_i_avg_cumulative`).

These are the paper's replication measures: they compare two windows of one trial, so an
adaptation that is over before the first window closes is invisible to them (the lead
estimand, the session contrast against a matched control, is in `contrasts`).

Intervals are 95 % bootstrap intervals over trials (studentized for means, percentile for
the pooled ratio). `trend` fits a logistic regression of yes on scroll index with
trial-clustered standard errors (statsmodels), so drift is also measured from every
scroll; its p-value is exploratory (it rejects 5.7-6.6 % of null cells of 10 trials with
dependent answers, docs/metrics.md).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import numpy as np

from valuespectrum.metrics.resample import cluster_resample

__all__ = [
    "Estimate", "IAvgResult", "Trend", "TrialIncrease", "TrialWindows", "ValueShareDrift",
    "bootstrap_ci", "bootstrap_mean", "delta", "i_avg", "i_avg_ci", "null_i_avg",
    "null_i_avg_cumulative", "pooled_increase", "trend", "trial_increase", "trial_windows",
    "value_share_drift",
]

Definition = Literal["count", "cumulative"]
Decisions = Sequence[int | bool | None]

#: A window may miss at most this share of its answers (chosen before any result: a trial
#: whose window is mostly unreadable says little about that window).
MAX_INVALID = 0.2
N_BOOT = 10_000


# --------------------------------------------------------------------------- windows


@dataclass(frozen=True)
class TrialWindows:
    """A trial's two windows, cut by position; `reason` is set when the trial is excluded."""

    first: float
    last: float
    first_yes: int
    last_yes: int
    first_valid: int
    last_valid: int
    first_cum: float = math.nan
    last_cum: float = math.nan
    reason: str | None = None

    @property
    def usable(self) -> bool:
        return self.reason is None

    @property
    def delta(self) -> float:
        return self.last - self.first


def _cumulative(window: np.ndarray) -> float:
    """Σ_i Y(i) over the window's valid answers (Y = running count of yes)."""
    valid = window[~np.isnan(window)]
    return float(np.cumsum(valid).sum())


def trial_windows(decisions: Decisions, n: int = 50, max_invalid: float = MAX_INVALID
                  ) -> TrialWindows:
    """The first and last window of one trial (see the module doc)."""
    if n < 1:
        raise ValueError(f"window n must be >= 1, got {n}")
    x = np.array([np.nan if d is None else float(bool(d)) for d in decisions])
    if len(x) < 2 * n:
        return TrialWindows(math.nan, math.nan, 0, 0, 0, 0,
                            reason=f"{len(x)} scrolls < two windows of {n}")
    first, last = x[:n], x[-n:]
    fv, lv = int((~np.isnan(first)).sum()), int((~np.isnan(last)).sum())
    fy, ly = int(np.nansum(first)), int(np.nansum(last))
    reason = None
    for name, valid in (("first", fv), ("last", lv)):
        missing = n - valid
        if valid == 0 or missing / n > max_invalid:
            reason = f"{missing} of {n} answers invalid in the {name} window"
            break
    return TrialWindows(
        first=fy / fv if fv else math.nan, last=ly / lv if lv else math.nan,
        first_yes=fy, last_yes=ly, first_valid=fv, last_valid=lv,
        first_cum=_cumulative(first), last_cum=_cumulative(last), reason=reason)


# --------------------------------------------------------------------------- estimates


@dataclass(frozen=True)
class Estimate:
    """A statistic with its 95 % interval (NaN when it cannot be computed)."""

    value: float
    ci: tuple[float, float] = (math.nan, math.nan)
    n: int = 0


def _finite(samples: Sequence[float | None]) -> np.ndarray:
    x = np.asarray([s for s in samples if s is not None], dtype=float)
    return x[np.isfinite(x)]


#: Below this many samples the studentized interval is unstable (a resample's standard
#: error can be ~0); the percentile interval is used instead.
MIN_STUDENTIZED = 8


def bootstrap_ci(samples: Sequence[float | None], *, level: float = 0.95,
                 n_boot: int = N_BOOT, seed: int = 0) -> tuple[float, float]:
    """Bootstrap interval of the mean of one sample: studentized (bootstrap-t) from
    `MIN_STUDENTIZED` samples on, percentile below.

    The studentized interval keeps its coverage with the 10 to 30 trials of a cell: in 400
    simulated cells of independent answers (p = 0.1, 20 trials) the 95 % intervals of Δ
    covered 0 in 94 % of cells, against 92 % for BCa. NaNs when fewer than 2 finite
    samples; a sample of equal values gives a point.
    """
    x = _finite(samples)
    if len(x) < 2:
        return (math.nan, math.nan)
    mean = float(x.mean())
    if np.ptp(x) == 0:
        return (mean, mean)
    n = len(x)
    alpha = (1.0 - level) / 2.0
    (resamples,) = cluster_resample(x, n_boot=n_boot, seed=seed)
    means = resamples.mean(axis=1)
    if n < MIN_STUDENTIZED:
        lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
        return (float(lo), float(hi))
    se = float(x.std(ddof=1)) / math.sqrt(n)
    se_b = resamples.std(axis=1, ddof=1) / math.sqrt(n)
    ok = se_b > 1e-9 * max(se, 1e-12)  # a resample of (numerically) equal values has no t
    t = (means[ok] - mean) / se_b[ok]
    q_lo, q_hi = np.quantile(t, [alpha, 1.0 - alpha])
    return (mean - float(q_hi) * se, mean - float(q_lo) * se)


def bootstrap_mean(samples: Sequence[float | None], *, seed: int = 0,
                   n_boot: int = N_BOOT) -> Estimate:
    """The mean of the finite samples with its bootstrap interval."""
    x = _finite(samples)
    value = float(x.mean()) if len(x) else math.nan
    return Estimate(value, bootstrap_ci(x, seed=seed, n_boot=n_boot), len(x))


def delta(windows: Sequence[TrialWindows], *, seed: int = 0, n_boot: int = N_BOOT) -> Estimate:
    """Mean Δ = L − F over the usable trials, with its bootstrap interval."""
    return bootstrap_mean([w.delta for w in windows if w.usable], seed=seed, n_boot=n_boot)


def pooled_increase(windows: Sequence[TrialWindows], *, seed: int = 0,
                    n_boot: int = N_BOOT) -> Estimate:
    """ΣL / ΣF − 1 over usable trials (percent), with a paired percentile bootstrap interval.

    Resamples with ΣF = 0 have no ratio and are left out of the interval.
    """
    rows = [(w.first, w.last) for w in windows if w.usable]
    if not rows:
        return Estimate(math.nan)
    f = np.array([r[0] for r in rows])
    la = np.array([r[1] for r in rows])
    value = (la.sum() / f.sum() - 1.0) * 100.0 if f.sum() > 0 else math.nan
    if len(rows) < 2 or f.sum() == 0:
        return Estimate(value, n=len(rows))
    fr, lr = cluster_resample(f, la, n_boot=n_boot, seed=seed)  # a trial's F and L together
    fb, lb = fr.sum(axis=1), lr.sum(axis=1)
    ok = fb > 0
    lo, hi = np.quantile((lb[ok] / fb[ok] - 1.0) * 100.0, [0.025, 0.975])
    return Estimate(float(value), (float(lo), float(hi)), len(rows))


# --------------------------------------------------------------------------- I_avg


@dataclass(frozen=True)
class TrialIncrease:
    """One trial's first/last window totals; `increase` is None when excluded."""

    first: float
    last: float
    increase: float | None
    reason: str | None = None


@dataclass(frozen=True)
class IAvgResult:
    """I_avg over trials: `value` in percent (NaN when no trial is usable)."""

    value: float
    per_trial: list[float | None]
    excluded: int
    definition: Definition
    n: int
    invalid: int = 0
    details: list[TrialIncrease] = field(default_factory=list)

    @property
    def usable(self) -> list[float]:
        """Per-trial increases (fractions, not percent) of the trials that count."""
        return [x for x in self.per_trial if x is not None]


def trial_increase(decisions: Decisions, n: int = 50, definition: Definition = "count",
                   max_invalid: float = MAX_INVALID) -> TrialIncrease:
    """(L − F)/F for one trial, windows by position (see the module doc)."""
    w = trial_windows(decisions, n, max_invalid)
    if not w.usable:
        return TrialIncrease(math.nan, math.nan, None, w.reason)
    first, last = (w.first, w.last) if definition == "count" else (w.first_cum, w.last_cum)
    if first == 0:
        return TrialIncrease(first, last, None, "no 'yes' in the first window")
    return TrialIncrease(first, last, (last - first) / first)


def i_avg(decisions_per_trial: Sequence[Decisions], n: int = 50,
          definition: Definition = "count", max_invalid: float = MAX_INVALID) -> IAvgResult:
    """The paper's averaged percentage increase of "yes" answers (equation 1).

    Args:
        decisions_per_trial: for each trial, its answers in scroll order (1/0/None).
        n: window length (the paper uses 50 of 100 scrolls).
        definition: "count" compares the yes-rates of the windows; "cumulative" compares
            the sums of running counts Y(i), as the paper's formula reads literally.
        max_invalid: largest share of a window that may be invalid.

    Returns:
        IAvgResult; trials whose first window has no "yes" (or that are excluded by their
        windows) are counted in `excluded` instead of producing a division error.
    """
    if n < 1:
        raise ValueError(f"window n must be >= 1, got {n}")
    if definition not in ("count", "cumulative"):
        raise ValueError(f"definition must be 'count' or 'cumulative', got {definition!r}")
    details = [trial_increase(d, n, definition, max_invalid) for d in decisions_per_trial]
    per_trial = [t.increase for t in details]
    usable = [x for x in per_trial if x is not None]
    return IAvgResult(
        value=float(np.mean(usable) * 100.0) if usable else math.nan, per_trial=per_trial,
        excluded=len(per_trial) - len(usable), definition=definition, n=n,
        invalid=sum(1 for d in decisions_per_trial for x in d if x is None), details=details)


def i_avg_ci(result: IAvgResult, *, seed: int = 0) -> tuple[float, float]:
    """Bootstrap interval over trials for an I_avg result, in percent."""
    lo, hi = bootstrap_ci(result.usable, seed=seed)
    return lo * 100.0, hi * 100.0


@lru_cache(maxsize=4096)
def null_i_avg(p: float, n: int) -> float:
    """Expected I_avg (count reading, percent) with no effect at all.

    With independent answers at yes-rate `p` in both windows of `n` scrolls and trials with
    F = 0 excluded, E[(L − F)/F | F > 0] = n·p·E[1/F | F > 0] − 1, an exact binomial sum.
    """
    from scipy.stats import binom

    if not 0.0 < p <= 1.0 or n < 1:
        return math.nan
    k = np.arange(1, n + 1)
    pmf = binom.pmf(k, n, p)
    positive = pmf.sum()
    if positive <= 0:
        return math.nan
    return float((n * p * (pmf / k).sum() / positive - 1.0) * 100.0)


@lru_cache(maxsize=1024)
def null_i_avg_cumulative(p: float, n: int, draws: int = 20_000, seed: int = 0) -> float:
    """Expected I_avg (cumulative reading, percent) with no effect, by seeded simulation."""
    if not 0.0 < p <= 1.0 or n < 1:
        return math.nan
    rng = np.random.default_rng(seed)
    weights = np.arange(n, 0, -1)  # Σ_i Y(i) = Σ_j (n - j + 1) x_j
    f = (rng.random((draws, n)) < p) @ weights
    la = (rng.random((draws, n)) < p) @ weights
    ok = f > 0
    return float(np.mean((la[ok] - f[ok]) / f[ok]) * 100.0) if ok.any() else math.nan


# --------------------------------------------------------------------------- trend


@dataclass(frozen=True)
class Trend:
    """Logistic regression of yes on scroll index, standard errors clustered by trial.

    `slope` is the change in log-odds of "yes" per 100 scrolls; `odds_ratio` is exp(slope).
    """

    slope: float
    ci: tuple[float, float]
    p_value: float
    odds_ratio: float
    steps: int
    trials: int
    reason: str | None = None


def trend(trial_ids: Sequence[str], steps: Sequence[int], decisions: Decisions) -> Trend:
    """Drift measured from every scroll: yes ~ 1 + step/100, trial-clustered SEs.

    The p-value and interval use Student's t with (trials - 1) degrees of freedom, as
    statsmodels does for cluster-robust covariances with `use_t`; the normal reference
    is too liberal with the few clusters (trials) of a cell.
    """
    import statsmodels.api as sm

    rows = [(t, s, d) for t, s, d in zip(trial_ids, steps, decisions, strict=True)
            if d is not None]
    n_trials = len({r[0] for r in rows})
    nan = Trend(math.nan, (math.nan, math.nan), math.nan, math.nan, len(rows), n_trials)
    if n_trials < 2:
        return Trend(**{**nan.__dict__, "reason": "fewer than 2 trials"})
    y = np.array([float(bool(r[2])) for r in rows])
    if y.min() == y.max():
        return Trend(**{**nan.__dict__, "reason": "every answer is the same"})
    x = sm.add_constant(np.array([r[1] for r in rows], dtype=float) / 100.0)
    groups = np.unique([r[0] for r in rows], return_inverse=True)[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            # t with (trials - 1) df, not z: with 10 trials z-based p-values rejected
            # 7.4-7.9 % of null cells at 5 % (docs/metrics.md, tests/test_metrics.py)
            fit = sm.GLM(y, x, family=sm.families.Binomial()).fit(
                cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
        except Exception as e:  # noqa: BLE001 - separation, singular fits: reported, not raised
            return Trend(**{**nan.__dict__, "reason": f"fit failed: {type(e).__name__}"})
    slope = float(fit.params[1])
    lo, hi = (float(v) for v in fit.conf_int()[1])
    if not all(map(math.isfinite, (slope, lo, hi))):
        return Trend(**{**nan.__dict__, "reason": "fit did not converge"})
    return Trend(slope, (lo, hi), float(fit.pvalues[1]), math.exp(slope), len(rows), n_trials)


# --------------------------------------------------------------------------- value drift


@dataclass(frozen=True)
class ValueShareDrift:
    """Share of posts matching a value (or the persona's values) in the first vs last window."""

    first_share: float
    last_share: float

    @property
    def delta(self) -> float:
        return self.last_share - self.first_share


def value_share_drift(matches: Sequence[bool | None], n: int = 50) -> ValueShareDrift:
    """Feed drift of one trial: matches[i] says whether the i-th post carries the value."""
    m = np.array([np.nan if x is None else float(bool(x)) for x in matches])
    if len(m) == 0:
        return ValueShareDrift(math.nan, math.nan)
    w = min(n, len(m))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ValueShareDrift(float(np.nanmean(m[:w])), float(np.nanmean(m[-w:])))
