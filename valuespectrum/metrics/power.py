"""Power of a declared analysis, by seeded simulation with the project's own statistics.

A study is simulated as the sweep runs it: `trials` pairs of trials (one seed each: a trial
on the learning feed and its twin on the control), `scrolls` answers per trial. Each
trial has its own yes-rate, drawn from a Beta with the control arm's mean (`base_rate`)
and spread between trials (`between_sd`); the two trials of a pair are correlated
(`pair_corr`, a Gaussian copula: the seed's shared opening posts); answers inside a trial
follow a two-state Markov chain with lag-1 correlation `lag1` (a viewer that stays on a
run of similar posts). The treatment adds `effect` to the trial's yes-rate: at every
scroll (``shape="step"``, the feed adapts at once) or rising linearly from 0 to twice the
effect over the session (``shape="ramp"``, the same session mean). A learning feed's
trials usually spread far more than its twin's (one trial finds the viewer early, another
late): `treatment_sd` gives the learning arm's own spread (its trials' rates then come from a
Beta with mean `base_rate + effect` and that SD, at most 95 % of what a rate of that mean
can have); None keeps both arms' spread at `between_sd`. Each simulated study is
then read by `mean_contrast` on the plan's estimand and reading, with the confirmatory
family's other contrasts simulated alike and Holm applied; power is the share of studies
whose first contrast is rejected at alpha with the effect's sign (a rejection the wrong way
is not counted; under no effect every rejection counts, so the figure is the test's size). Every answer is valid (no invalid answers).

The exposure estimand is simulated as a yes-rate with the same inputs (its own base rate
may be given). Inputs come from a pilot run (`inputs_from_run`) or are stated assumptions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from valuespectrum.metrics.contrasts import mean_contrast

__all__ = ["DEFAULT_INPUTS", "PowerInputs", "lag1_correlation", "power", "trials_for"]

#: Round figures, not fitted to any result: a base yes-rate near the frozen twin's in the
#: demo of 29 Nov 2026 (0.27-0.29), and moderate spread and dependence. Use a pilot run.
DEFAULT_INPUTS = {"base_rate": 0.3, "between_sd": 0.1, "pair_corr": 0.0, "lag1": 0.3}


@dataclass(frozen=True)
class PowerInputs:
    """What a simulated study depends on (see the module doc)."""

    base_rate: float
    between_sd: float
    pair_corr: float
    lag1: float
    scrolls: int
    window: int
    source: str = "assumed"
    #: SD of the learning arm's trial yes-rates (None: `between_sd`, as the control's).
    treatment_sd: float | None = None

    def check(self) -> None:
        if not 0.0 < self.base_rate < 1.0:
            raise ValueError(f"base_rate must be in (0, 1), got {self.base_rate}")
        if not 0.0 <= self.between_sd < math.sqrt(self.base_rate * (1 - self.base_rate)):
            raise ValueError(f"between_sd must be in [0, sqrt(p(1-p))) = "
                             f"[0, {math.sqrt(self.base_rate * (1 - self.base_rate)):.3f}), "
                             f"got {self.between_sd}")
        if self.treatment_sd is not None and not 0.0 <= self.treatment_sd < 0.5:
            raise ValueError(f"treatment_sd must be in [0, 0.5), got {self.treatment_sd}")
        if not 0.0 <= self.pair_corr < 1.0 or not 0.0 <= self.lag1 < 1.0:
            raise ValueError(f"pair_corr and lag1 must be in [0, 1), got {self.pair_corr} "
                             f"and {self.lag1}")
        if self.scrolls < 2 or not 1 <= self.window <= self.scrolls // 2:
            raise ValueError("scrolls must be >= 2 and window at most half of them")


def _rates(p: float, sd: float, z: np.ndarray) -> np.ndarray:
    """Beta-distributed trial rates (mean p, SD sd) from standard normals."""
    if sd <= 0:
        return np.full(z.shape, p)
    k = p * (1 - p) / (sd * sd) - 1.0  # a + b of the Beta
    return stats.beta.ppf(stats.norm.cdf(z), p * k, (1 - p) * k)


def _arm(inputs: PowerInputs, rates: np.ndarray, lift: np.ndarray,
         rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-trial estimands of Markov-chain answers at `rates` + lift[t] (per scroll)."""
    s, w = inputs.scrolls, inputs.window
    rho = inputs.lag1
    sums = {"session": np.zeros(rates.shape), "first": np.zeros(rates.shape),
            "last": np.zeros(rates.shape)}
    cur = np.zeros(rates.shape, dtype=bool)
    for t in range(s):
        r = np.clip(rates + lift[t], 0.0, 1.0)
        if t == 0:
            p = r
        else:  # stationary at r, lag-1 correlation rho
            p = np.where(cur, r + rho * (1 - r), r * (1 - rho))
        cur = rng.random(rates.shape) < p
        sums["session"] += cur
        if t < w:
            sums["first"] += cur
        if t >= s - w:
            sums["last"] += cur
    first, last = sums["first"] / w, sums["last"] / w
    with np.errstate(divide="ignore", invalid="ignore"):
        i_avg = np.where(first > 0, (last - first) / first, np.nan)
    return {"session": sums["session"] / s, "exposure": sums["session"] / s,
            "last_window": last, "delta": last - first, "i_avg": i_avg}


def _lift(inputs: PowerInputs, effect: float, shape: str) -> np.ndarray:
    if shape == "step":
        return np.full(inputs.scrolls, effect)
    if shape == "ramp":
        return np.linspace(0.0, 2.0 * effect, inputs.scrolls)
    raise ValueError(f"shape must be 'step' or 'ramp', got {shape!r}")


def power(inputs: PowerInputs, *, trials: int, effect: float, estimand: str = "session",
          paired: bool = True, alpha: float = 0.05, family: int = 1, sims: int = 400,
          shape: str = "step", seed: int = 0) -> float:
    """The share of `sims` simulated studies whose contrast is rejected (Holm over a family
    of `family` contrasts with the same effect). Seeded: the same inputs give the same
    power, and studies of different sizes share their random draws as far as they go."""
    inputs.check()
    if trials < 2:
        return 0.0
    rng = np.random.default_rng(seed)
    shape_lift = _lift(inputs, effect, shape)
    zero = np.zeros(inputs.scrolls)
    n = trials
    shared = rng.standard_normal((sims, family, n))
    a, b = math.sqrt(inputs.pair_corr), math.sqrt(1.0 - inputs.pair_corr)  # corr(z_t, z_c)
    z_t = a * shared + b * rng.standard_normal(shared.shape)
    z_c = a * shared + b * rng.standard_normal(shared.shape)
    if inputs.treatment_sd is None:  # both arms spread alike; the lift moves every trial
        rates_t = _rates(inputs.base_rate, inputs.between_sd, z_t)
    else:  # the learning arm's own spread around base_rate + effect
        m = min(max(inputs.base_rate + effect, 1e-6), 1 - 1e-6)
        sd_t = min(inputs.treatment_sd, 0.95 * math.sqrt(m * (1 - m)))
        rates_t, shape_lift = _rates(m, sd_t, z_t), shape_lift - effect
    t = _arm(inputs, rates_t, shape_lift, rng)[estimand]
    c = _arm(inputs, _rates(inputs.base_rate, inputs.between_sd, z_c), zero, rng)[estimand]
    rs = [[mean_contrast(t[i, j], c[i, j], paired=paired, alpha=alpha) for j in range(family)]
          for i in range(sims)]
    ps = np.array([[r.p_value for r in row] for row in rs])
    first = holm_rows(ps)[:, 0]
    rejected = np.isfinite(first) & (first < alpha)
    if effect != 0:  # a rejection with the wrong sign is an error, not power
        rejected &= np.sign([row[0].diff for row in rs]) == np.sign(effect)
    return float(np.mean(rejected))


def holm_rows(p: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values of each row of `p` (one family per row, no NaNs): the same
    values as `holm` (statsmodels), vectorised over the thousands of simulated studies
    (statsmodels' `multipletests` runs a garbage collection per call, ~80 ms here)."""
    p = np.atleast_2d(np.asarray(p, dtype=float))
    m = p.shape[1]
    order = np.argsort(p, axis=1, kind="stable")
    sorted_p = np.take_along_axis(p, order, axis=1)
    adj = np.minimum(1.0, np.maximum.accumulate(sorted_p * (m - np.arange(m)), axis=1))
    out = np.empty_like(adj)
    np.put_along_axis(out, order, adj, axis=1)
    return out


def trials_for(inputs: PowerInputs, *, effect: float, target: float = 0.8,
               max_trials: int = 1000, **kwargs) -> int | None:
    """The fewest trials per arm whose simulated power reaches `target` (bisection over
    trial counts, the same seed at each); None when `max_trials` does not reach it."""
    lo, hi = 2, 4
    while power(inputs, trials=hi, effect=effect, **kwargs) < target:
        lo = hi
        if hi >= max_trials:
            return None
        hi = min(max_trials, hi * 2)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if power(inputs, trials=mid, effect=effect, **kwargs) >= target:
            hi = mid
        else:
            lo = mid
    return hi


def lag1_correlation(trials: Sequence[Sequence[int | None]]) -> float:
    """Mean over trials of the lag-1 correlation of valid consecutive answers (NaN if none)."""
    out = []
    for answers in trials:
        pairs = [(a, b) for a, b in zip(answers[:-1], answers[1:], strict=True)
                 if a is not None and b is not None]
        if len(pairs) > 2:
            x = np.array(pairs, dtype=float)
            if x[:, 0].std() > 0 and x[:, 1].std() > 0:
                out.append(float(np.corrcoef(x[:, 0], x[:, 1])[0, 1]))
    return float(np.mean(out)) if out else math.nan
