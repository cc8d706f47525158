"""Contrasts between two arms of a sweep, one number per trial: the lead estimands.

A sweep runs trial i of a persona with one seed on every feed, so a learning feed and its
frozen twin form **pairs**: the same opening posts, the same exploration coins, the same
viewer draws, and the feed's learning as the one difference. The lead estimand is the
**session contrast**: the mean over pairs of (treatment session yes-rate − control session
yes-rate), where a trial's session yes-rate is its share of yes over all its valid answers.
The same machinery contrasts any per-trial value (the last window's yes-rate, the exposure
share, Δ, the trial's I_avg term).

**Test and interval** are one procedure, so they always agree: Student's t over pairs
(paired reading) or Welch's t over trials (unpaired reading), with the interval
``diff ± t_{1-α/2, df} · se``. The interval excludes 0 exactly when ``p < α``. Chosen over
the percentile bootstrap (which covered 0 in 88-92 % of simulated null runs at 10 pairs)
and the inverted sign-flip test (exact, but it cannot reject at all with 5 pairs at α 0.05,
and inverting it needs a search whose region is not always an interval): the simulations
are in docs/metrics.md and `benchmarks/bench_calibration.py`.

**Personas** are strata. By default they are *fixed* (the study's personas are the
population of interest): the estimate is the mean over personas of each persona's
contrast, its variance the sum of the personas' variances over K², with Satterthwaite's
degrees of freedom; with one persona this is exactly the one-sample (paired) or Welch
(unpaired) t-test. Declared *sampled* (personas drawn from a larger population), the
personas' own contrasts are the units: a one-sample t over K personas, K − 1 df.

`min_p` is the smallest p-value the test can give with these data's sizes: 0 for a t-test
with at least one degree of freedom, NaN without. `cannot_reach` turns it into the message
a table prints when a contrast could not pass its family's Holm correction whatever the data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy import stats

__all__ = [
    "ContrastResult", "Reading", "cannot_reach", "holm", "mean_contrast", "session_contrast",
    "session_rate", "stratified_mean",
]

Reading = Literal["paired", "unpaired"]
PersonaModel = Literal["fixed", "sampled"]
Answers = Sequence[int | bool | None]

NAN_CI = (math.nan, math.nan)


@dataclass(frozen=True)
class ContrastResult:
    """Treatment minus control, with an interval that agrees with its test.

    Attributes:
        diff: The estimate (mean over personas of the mean paired difference, or of the
            difference of arm means).
        ci: The ``1 - alpha`` t interval ``(lo, hi)``.
        p_value: Two-sided p of the t-test of ``diff = 0``.
        n: Pairs (paired) or trials of both arms (unpaired) that entered the estimate.
        n_treatment, n_control: Trials of each arm that entered it (pairs: both = pairs).
        min_p: The smallest p this test can give with these sizes (0 for a t-test).
        df: Degrees of freedom of the t reference.
        se: Standard error of `diff`.
        strata: Personas (strata) that entered it.
        reading: ``paired`` or ``unpaired``.
        alpha: The level the interval is built for.
        reason: Why the contrast is not computed (NaNs), else None.
    """

    diff: float
    ci: tuple[float, float]
    p_value: float
    n: int
    n_treatment: int
    n_control: int
    min_p: float
    df: float
    se: float
    strata: int
    reading: str
    alpha: float
    reason: str | None = None

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval leaves out 0 (the same as ``p_value < alpha``)."""
        lo, hi = self.ci
        return bool(math.isfinite(lo) and math.isfinite(hi) and (lo > 0 or hi < 0))


def session_rate(answers: Answers) -> float:
    """A trial's session yes-rate: yes over valid answers (NaN when none is valid)."""
    valid = [bool(a) for a in answers if a is not None]
    return sum(valid) / len(valid) if valid else math.nan


def _missing(reason: str, reading: str, alpha: float, n: int = 0, strata: int = 0
             ) -> ContrastResult:
    return ContrastResult(math.nan, NAN_CI, math.nan, n, n, n, math.nan, math.nan, math.nan,
                          strata, reading, alpha, reason)


def _finite(values: Sequence[float]) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    return x[np.isfinite(x)]


def _t_result(diff: float, components: list[tuple[float, float]], *, reading: str,
              alpha: float, n: int, n_t: int, n_c: int, strata: int) -> ContrastResult:
    """The t test and interval of `diff` with variance Σ v over `components` (v, df)."""
    var = sum(v for v, _ in components)
    if var <= 0.0:  # every difference the same: the estimate has no spread
        p = 1.0 if diff == 0.0 else 0.0
        df = float(sum(d for _, d in components))
        return ContrastResult(diff, (diff, diff), p, n, n_t, n_c, 0.0, df, 0.0, strata,
                              reading, alpha)
    denom = sum(v * v / d for v, d in components if d > 0)
    df = var * var / denom if denom > 0 else math.nan  # Welch-Satterthwaite
    se = math.sqrt(var)
    t = diff / se
    p = float(2.0 * stats.t.sf(abs(t), df))
    half = float(stats.t.ppf(1.0 - alpha / 2.0, df)) * se
    return ContrastResult(diff, (diff - half, diff + half), p, n, n_t, n_c, 0.0, df, se,
                          strata, reading, alpha)


def mean_contrast(treatment: Mapping[str, Sequence[float]] | Sequence[float],
                  control: Mapping[str, Sequence[float]] | Sequence[float], *,
                  paired: bool = True, alpha: float = 0.05,
                  personas: PersonaModel = "fixed") -> ContrastResult:
    """Contrast per-trial values of two arms, stratified by persona.

    Args:
        treatment, control: per-trial values (NaN: the trial has none), either one
            sequence or a mapping persona -> sequence. When `paired`, element i of a
            persona's treatment is paired with element i of its control (a pair with a
            NaN side drops out); the sequences must then have equal lengths.
        paired: Read pair by pair (the lead reading) or as two independent samples.
        alpha: The interval's level is ``1 - alpha``.
        personas: ``fixed`` strata (the default) or ``sampled`` (personas are the units).

    Returns:
        The `ContrastResult`; NaNs with a `reason` when there is too little data
        (fewer than 2 pairs, or 2 trials per arm, in every persona).
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    reading = "paired" if paired else "unpaired"
    t_map = treatment if isinstance(treatment, Mapping) else {"": treatment}
    c_map = control if isinstance(control, Mapping) else {"": control}
    keys = sorted(k for k in t_map if k in c_map)
    per: dict[str, tuple[float, list[tuple[float, float]], int, int]] = {}
    for k in keys:
        if paired:
            a, b = np.asarray(t_map[k], float), np.asarray(c_map[k], float)
            if a.shape != b.shape:
                raise ValueError(f"paired contrast: persona {k!r} has {a.size} treatment and "
                                 f"{b.size} control trials; pairs need equal lengths")
            d = (a - b)[np.isfinite(a) & np.isfinite(b)]
            if d.size >= 2:
                per[k] = (float(d.mean()), [(float(d.var(ddof=1)) / d.size, d.size - 1.0)],
                          d.size, d.size)
        else:
            a, b = _finite(t_map[k]), _finite(c_map[k])
            if a.size >= 2 and b.size >= 2:
                per[k] = (float(a.mean() - b.mean()),
                          [(float(a.var(ddof=1)) / a.size, a.size - 1.0),
                           (float(b.var(ddof=1)) / b.size, b.size - 1.0)], a.size, b.size)
    if not per:
        need = "2 pairs" if paired else "2 trials in each arm"
        return _missing(f"fewer than {need} in every persona", reading, alpha)
    n_t = sum(v[2] for v in per.values())
    n_c = sum(v[3] for v in per.values())
    n = n_t if paired else n_t + n_c
    k = len(per)
    estimates = np.array([v[0] for v in per.values()])
    diff = float(estimates.mean())
    if personas == "sampled":
        if k < 2:
            return replace(_missing("personas declared sampled need at least 2 personas",
                                    reading, alpha, n, k), n_treatment=n_t, n_control=n_c)
        return _t_result(diff, [(float(estimates.var(ddof=1)) / k, k - 1.0)],
                         reading=reading, alpha=alpha, n=n, n_t=n_t, n_c=n_c, strata=k)
    components = [(v / (k * k), d) for est in per.values() for v, d in est[1]]
    return _t_result(diff, components, reading=reading, alpha=alpha, n=n, n_t=n_t,
                     n_c=n_c, strata=k)


def stratified_mean(groups: Mapping[str, Sequence[float]], *, alpha: float = 0.05,
                    personas: PersonaModel = "fixed") -> tuple[float, tuple[float, float], int]:
    """The mean over personas of their per-trial means, with its t interval.

    Personas as fixed strata (variance Σ s²/n over K², Satterthwaite df) or, declared
    sampled, as the units (one-sample t over the persona means). Returns
    ``(value, (lo, hi), trials)``; NaNs when no persona has 2 finite values.
    """
    per = {k: v for k, v in ((k, _finite(v)) for k, v in groups.items()) if v.size >= 2}
    if not per:
        return math.nan, NAN_CI, 0
    n = sum(v.size for v in per.values())
    k = len(per)
    means = np.array([v.mean() for v in per.values()])
    value = float(means.mean())
    if personas == "sampled":
        if k < 2:
            return value, NAN_CI, n
        comps = [(float(means.var(ddof=1)) / k, k - 1.0)]
    else:
        comps = [(float(v.var(ddof=1)) / v.size / (k * k), v.size - 1.0) for v in per.values()]
    r = _t_result(value, comps, reading="", alpha=alpha, n=n, n_t=n, n_c=0, strata=k)
    return value, r.ci, n


def session_contrast(treatment: Sequence[Answers], control: Sequence[Answers], *,
                     paired: bool = True, alpha: float = 0.05, seed: int = 0
                     ) -> ContrastResult:
    """The session contrast of two arms: the lead estimand of a feed against its control.

    Args:
        treatment, control: sequences of trials, each a sequence of answers (1, 0 or
            None); when `paired`, trial i of one is paired with trial i of the other.
        paired: Read pair by pair (default) or as two independent samples (Welch).
        alpha: The interval is a ``1 - alpha`` t interval; it excludes 0 exactly when
            ``p_value < alpha``.
        seed: Accepted so every statistic of the module takes one; the t interval makes
            no random draws, so the result does not depend on it.

    Returns:
        `ContrastResult` with ``diff``, ``ci``, ``p_value``, ``n`` and ``min_p``.

    Example:
        >>> r = session_contrast([[1, 1, 0, 1], [1, 0, 1, 1], [0, 1, 1, 0]],
        ...                      [[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0]])
        >>> round(r.diff, 3), r.n, r.excludes_zero == (r.p_value < 0.05)
        (0.417, 3, True)
    """
    del seed  # see Args
    if paired and len(treatment) != len(control):
        raise ValueError(f"paired session contrast: {len(treatment)} treatment trials and "
                         f"{len(control)} control trials; trial i pairs with trial i")
    return mean_contrast([session_rate(t) for t in treatment],
                         [session_rate(c) for c in control], paired=paired, alpha=alpha)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (statsmodels); NaNs stay NaN and are left out of the family."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p_values, dtype=float)
    out = np.full(len(p), math.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="holm")[1]
    return out.tolist()


def cannot_reach(result: ContrastResult, family_size: int) -> str | None:
    """What a table says when a contrast cannot pass Holm at its level whatever the data:
    its smallest possible p times the family's size exceeds alpha (None when it can)."""
    units = "pair" if result.reading == "paired" else "trial"
    n = result.n
    if not math.isfinite(result.min_p):
        return (f"cannot reach {result.alpha:g} with {n} {units}{'s' * (n != 1)}"
                f"{'' if result.reason is None else f' ({result.reason})'}")
    if result.min_p * max(1, family_size) > result.alpha:
        return (f"cannot reach {result.alpha:g} with {n} {units}{'s' * (n != 1)} in a "
                f"family of {family_size}")
    return None
