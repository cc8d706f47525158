"""The public statistics of ValueSpectrum.

- `contrasts`: the lead estimands, contrasts of per-trial values between two arms
  (`session_contrast`, `mean_contrast`), paired by seed or not, with t intervals that agree
  with their tests; `holm` and `cannot_reach` for a family of contrasts.
- `curves`: yes-rate curves over a session with simultaneous (sup-t) bands, and the time
  to close half the gap.
- `drift`: the paper's replication measures (Δ, I_avg with its null value, the pooled
  increase), windows by position, bootstrap intervals, the trend, value-share drift.
- `power`: the power of a declared analysis, by seeded simulation.
"""

from valuespectrum.metrics.contrasts import (
    ContrastResult,
    Reading,
    cannot_reach,
    holm,
    mean_contrast,
    session_contrast,
    session_rate,
    stratified_mean,
)
from valuespectrum.metrics.curves import (
    Band,
    SessionCurves,
    bin_edges,
    binned_rates,
    half_gap_scroll,
    session_curves,
    simultaneous_band,
)
from valuespectrum.metrics.drift import (
    MAX_INVALID,
    N_BOOT,
    Estimate,
    IAvgResult,
    Trend,
    TrialIncrease,
    TrialWindows,
    ValueShareDrift,
    bootstrap_ci,
    bootstrap_mean,
    delta,
    i_avg,
    i_avg_ci,
    null_i_avg,
    null_i_avg_cumulative,
    pooled_increase,
    trend,
    trial_increase,
    trial_windows,
    value_share_drift,
)

__all__ = [
    "MAX_INVALID", "N_BOOT", "Band", "ContrastResult", "Estimate", "IAvgResult", "Reading",
    "SessionCurves", "Trend", "TrialIncrease", "TrialWindows", "ValueShareDrift",
    "bin_edges", "binned_rates", "bootstrap_ci", "bootstrap_mean", "cannot_reach", "delta",
    "half_gap_scroll", "holm", "i_avg", "i_avg_ci", "mean_contrast", "null_i_avg",
    "null_i_avg_cumulative", "pooled_increase", "session_contrast", "session_curves",
    "session_rate", "simultaneous_band", "stratified_mean", "trend", "trial_increase",
    "trial_windows", "value_share_drift",
]
