"""Feed-drift metrics: the paper's I_avg (equation 1), bootstrap intervals, value share drift.

Decisions are per-scroll answers in order: 1 (yes, stayed), 0 (no, skipped) or None (the
model's answer was invalid). Invalid answers are dropped from the sequence before the windows
are taken (they are neither "yes" nor "no") and counted in `IAvgResult.invalid`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

__all__ = [
    "IAvgResult", "TrialIncrease", "ValueShareDrift", "bootstrap_ci", "i_avg", "i_avg_ci",
    "pooled_increase", "trial_increase", "value_share_drift",
]

Definition = Literal["count", "cumulative"]


@dataclass(frozen=True)
class TrialIncrease:
    """One trial's first/last window statistics; `increase` is None when excluded."""

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


def _window_total(window: np.ndarray, definition: Definition) -> float:
    if definition == "count":
        return float(window.sum())
    # The paper's Y(i): yes responses up to the i-th video of the window, summed over i.
    return float(np.cumsum(window).sum())


def trial_increase(
    decisions: Sequence[int | bool | None], n: int = 50, definition: Definition = "count"
) -> TrialIncrease:
    """(sum L - sum F) / sum F for one trial, with F the first n and L the last n answers."""
    valid = np.array([int(bool(d)) for d in decisions if d is not None], dtype=np.int64)
    if len(valid) < n:
        return TrialIncrease(math.nan, math.nan, None, f"only {len(valid)} valid answers < n={n}")
    first = _window_total(valid[:n], definition)
    last = _window_total(valid[-n:], definition)
    if first == 0:
        return TrialIncrease(first, last, None, "no 'yes' in the first window")
    return TrialIncrease(first, last, (last - first) / first)


def i_avg(
    decisions_per_trial: Sequence[Sequence[int | bool | None]],
    n: int = 50,
    definition: Definition = "count",
) -> IAvgResult:
    """The paper's averaged percentage increase of "yes" answers (equation 1).

    Args:
        decisions_per_trial: for each trial, its answers in scroll order (1/0/None).
        n: window length (the paper uses 50 of 100 scrolls).
        definition: "count" compares the number of yes answers in the windows;
            "cumulative" compares the sums of running counts Y(i), as the paper's
            formula reads literally, which weighs early yes answers in a window more.

    Returns:
        IAvgResult; trials whose first window has no "yes" (or that are shorter than n)
        are excluded and counted instead of producing a division error or infinity.
    """
    if n < 1:
        raise ValueError(f"window n must be >= 1, got {n}")
    if definition not in ("count", "cumulative"):
        raise ValueError(f"definition must be 'count' or 'cumulative', got {definition!r}")
    details = [trial_increase(d, n, definition) for d in decisions_per_trial]
    per_trial = [t.increase for t in details]
    usable = [x for x in per_trial if x is not None]
    value = float(np.mean(usable) * 100.0) if usable else math.nan
    invalid = sum(1 for d in decisions_per_trial for x in d if x is None)
    return IAvgResult(
        value=value,
        per_trial=per_trial,
        excluded=len(per_trial) - len(usable),
        definition=definition,
        n=n,
        invalid=invalid,
        details=details,
    )


def bootstrap_ci(
    samples: Sequence[float], *, level: float = 0.95, n_boot: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (NaNs when fewer than 2 samples)."""
    x = np.asarray([s for s in samples if s is not None and not math.isnan(s)], dtype=float)
    if len(x) < 2:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(n_boot, len(x)))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def i_avg_ci(result: IAvgResult, *, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Bootstrap interval over trials for an I_avg result, in percent."""
    lo, hi = bootstrap_ci(result.usable, level=level, seed=seed)
    return lo * 100.0, hi * 100.0


def _pooled(first: np.ndarray, last: np.ndarray) -> float:
    total = first.sum()
    return float((last.sum() - total) / total * 100.0) if total > 0 else math.nan


def pooled_increase(
    result: IAvgResult, *, level: float = 0.95, n_boot: int = 10_000, seed: int = 0
) -> tuple[float, tuple[float, float]]:
    """(sum L - sum F) / sum F over all trials long enough, in percent, with a bootstrap CI.

    The mean of per-trial ratios (I_avg) is biased upward when first windows hold few "yes"
    answers (the mean of 1/F exceeds 1/mean F), so with no effect at all it is positive.
    The pooled ratio has no such bias and needs no exclusions: report it beside I_avg.
    """
    rows = [(t.first, t.last) for t in result.details if not math.isnan(t.first)]
    if not rows:
        return math.nan, (math.nan, math.nan)
    first = np.array([r[0] for r in rows])
    last = np.array([r[1] for r in rows])
    value = _pooled(first, last)
    if len(rows) < 2:
        return value, (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(rows), size=(n_boot, len(rows)))
    f, la = first[idx].sum(axis=1), last[idx].sum(axis=1)
    ok = f > 0
    boots = (la[ok] - f[ok]) / f[ok] * 100.0
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(boots, [alpha, 1.0 - alpha]) if boots.size else (math.nan, math.nan)
    return value, (float(lo), float(hi))


@dataclass(frozen=True)
class ValueShareDrift:
    """Share of posts matching the persona's values in the first vs the last window."""

    first_share: float
    last_share: float

    @property
    def delta(self) -> float:
        return self.last_share - self.first_share


def value_share_drift(matches: Sequence[bool], n: int = 50) -> ValueShareDrift:
    """Feed drift of one trial: matches[i] says whether the i-th post carries a persona value."""
    m = np.asarray(matches, dtype=float)
    if len(m) == 0:
        return ValueShareDrift(math.nan, math.nan)
    w = min(n, len(m))
    return ValueShareDrift(float(m[:w].mean()), float(m[-w:].mean()))
