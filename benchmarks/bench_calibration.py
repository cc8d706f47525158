"""Calibration of the sweep statistics by seeded simulation: the tables of docs/metrics.md.

    python benchmarks/bench_calibration.py            # ~10 min on 2 cores
    python benchmarks/bench_calibration.py --runs 300 # quicker, noisier

Every study is simulated as a sweep runs it: pairs of trials (trial i on a learning feed and
on its control share one seed), each trial with its own yes-rate from a Beta, its answers a
two-state Markov chain with lag-1 correlation (a viewer who stays on runs of similar posts).
The figures are ratios (coverage, rejection rates, power), not times.

1. The lead contrast's interval: Student's t over pairs (what `session_contrast` uses),
   the inverted exact sign-flip test, and the percentile bootstrap the project used before.
2. Persona-pooled intervals: personas as fixed strata (now) against resampling personas.
3. The simultaneous band of the curves: the t-corrected Gaussian multiplier (now) against
   a percentile bootstrap of the same sup statistic.
4. The trend test (logistic slope, trial-clustered, t with trials − 1 df) under no drift.
5. Flags in fully null three-arm runs: the old headline against the declared plan's.
6. Power against a demo-like learning feed: session contrast, Δ over windows of 50 and 10.
"""

from __future__ import annotations

import argparse
import itertools
import math
import time

import numpy as np

from valuespectrum.metrics import (
    bin_edges,
    binned_rates,
    holm,
    mean_contrast,
    session_contrast,
    session_curves,
    trend,
)

S = 100


def answers(rng, rates, scrolls=S, lag1=0.3, lift=None):
    """Trials x scrolls Markov-chain answers at per-trial `rates` (+ lift per scroll)."""
    rates = np.asarray(rates, dtype=float)
    out = np.empty((rates.size, scrolls), dtype=int)
    cur = np.zeros(rates.size, dtype=bool)
    for t in range(scrolls):
        r = np.clip(rates + (0.0 if lift is None else lift[t]), 0, 1)
        p = r if t == 0 else np.where(cur, r + lag1 * (1 - r), r * (1 - lag1))
        cur = rng.random(rates.size) < p
        out[:, t] = cur
    return out


def pair_rates(rng, n, a=3.0, b=7.0, shared=0.5):
    base = rng.beta(a, b, n)
    pick = lambda: np.where(rng.random(n) < shared, base, rng.beta(a, b, n))  # noqa: E731
    return pick(), pick()


# ------------------------------------------------------------------ 1. the lead interval
SIGNS: dict[int, np.ndarray] = {}


def signflip_p(d: np.ndarray, delta: float = 0.0) -> float:
    x = d - delta
    if len(x) not in SIGNS:
        SIGNS[len(x)] = np.array(list(itertools.product([-1.0, 1.0], repeat=len(x))))
    stat = (SIGNS[len(x)] * x).mean(axis=1)
    return float(np.mean(np.abs(stat) >= abs(x.mean()) - 1e-12))


def signflip_ci(d: np.ndarray, alpha=0.05) -> tuple[float, float]:
    """The set of shifts the exact sign-flip test does not reject (bisection per side)."""
    m, span = d.mean(), np.ptp(d) + abs(d.mean()) + 1e-9
    if signflip_p(d, m - 3 * span) >= alpha:
        return (-math.inf, math.inf)
    ends = []
    for far in (m - 3 * span, m + 3 * span):
        inside, outside = m, far
        for _ in range(40):
            mid = (inside + outside) / 2
            inside, outside = (mid, outside) if signflip_p(d, mid) >= alpha else (inside, mid)
        ends.append(inside)
    return ends[0], ends[1]


def percentile_ci(d: np.ndarray, rng, n_boot=2000) -> tuple[float, float]:
    means = d[rng.integers(0, len(d), (n_boot, len(d)))].mean(axis=1)
    lo, hi = np.quantile(means, [0.025, 0.975])
    return float(lo), float(hi)


def lead_interval(rng, runs: int) -> None:
    print("\n1. The lead contrast under no effect (paired by seed): share of studies whose "
          "95 % interval covers 0 / p < 0.05 / interval and p agree; power at +0.10")
    print(f"{'scenario':<44} {'pairs':>5}  {'t (now)':>20}  {'sign-flip':>20}  "
          f"{'percentile':>11}  power t / sign-flip")
    scenarios = [("Beta(3,7), lag-1 0.3, half the pairs share", dict()),
                 ("rare yes: Beta(1,9), lag-1 0.3", dict(a=1.0, b=9.0)),
                 ("common yes: Beta(7,3), lag-1 0.6", dict(a=7.0, b=3.0, lag1=0.6))]
    for name, kw in scenarios:
        lag1 = kw.pop("lag1", 0.3)
        for n in (5, 10, 20):
            t_cov = t_rej = t_agree = s_cov = s_rej = s_agree = b_cov = 0
            t_pow = s_pow = 0
            for _ in range(runs):
                rt, rc = pair_rates(rng, n, **kw)
                d = answers(rng, rt, lag1=lag1).mean(1) - answers(rng, rc, lag1=lag1).mean(1)
                r = mean_contrast(d, np.zeros(n))
                t_cov += r.ci[0] <= 0 <= r.ci[1]
                t_rej += r.p_value < 0.05
                t_agree += r.excludes_zero == (r.p_value < 0.05)
                if n <= 10:  # exact enumeration of 2^n sign patterns
                    p, (lo, hi) = signflip_p(d), signflip_ci(d)
                    s_cov += lo <= 0 <= hi
                    s_rej += p < 0.05
                    s_agree += (lo > 0 or hi < 0) == (p < 0.05)
                    s_pow += signflip_p(d + 0.10) < 0.05
                lo, hi = percentile_ci(d, rng)
                b_cov += lo <= 0 <= hi
                dd = d + 0.10
                t_pow += mean_contrast(dd, np.zeros(n)).p_value < 0.05
            f = lambda x: f"{100 * x / runs:.1f}"  # noqa: E731
            exact = (f"{f(s_cov):>6}/{f(s_rej):>5}/{f(s_agree):>6}" if n <= 10
                     else f"{'(2^n too many)':>20}")
            print(f"{name:<44} {n:>5}  {f(t_cov):>6}/{f(t_rej):>5}/{f(t_agree):>6}  "
                  f"{exact}  {f(b_cov):>11}  {f(t_pow)} / {f(s_pow) if n <= 10 else '–'}")
            name = ""
    rej = sum(session_contrast(answers(rng, pair_rates(rng, 10, shared=0.0)[0]).tolist(),
                               answers(rng, pair_rates(rng, 10, shared=0.0)[1]).tolist(),
                               paired=False).p_value < 0.05 for _ in range(runs))
    print(f"unpaired (Welch) reading, independent arms, 10 + 10 trials: p < 0.05 in "
          f"{100 * rej / runs:.1f} %")


# ------------------------------------------------------------------ 2. pooled personas
def pooled(rng, runs: int) -> None:
    print("\n2. Personas pooled: coverage of the mean of three fixed personas' effects "
          "(0, 0.1, 0.3), 10 trials each, unpaired")
    effects = {"a": 0.0, "b": 0.1, "c": 0.3}
    truth = np.mean(list(effects.values()))
    fixed = resampled = 0
    width_f = width_r = 0.0
    for _ in range(runs):
        t = {k: rng.normal(0.3 + e, 0.1, 10) for k, e in effects.items()}
        c = {k: rng.normal(0.3, 0.1, 10) for k in effects}
        r = mean_contrast(t, c, paired=False)
        fixed += r.ci[0] <= truth <= r.ci[1]
        width_f += r.ci[1] - r.ci[0]
        # before: resample personas, then trials in each arm (percentile)
        boot = np.stack([t[k][rng.integers(0, 10, (2000, 10))].mean(1)
                         - c[k][rng.integers(0, 10, (2000, 10))].mean(1) for k in effects])
        pick = rng.integers(0, 3, (2000, 3))
        stat = boot[pick, np.arange(2000)[:, None]].mean(axis=1)
        lo, hi = np.quantile(stat, [0.025, 0.975])
        resampled += lo <= truth <= hi
        width_r += hi - lo
    print(f"fixed strata (now): {100 * fixed / runs:.1f} % covered, mean width "
          f"{width_f / runs:.3f}; personas resampled (before): {100 * resampled / runs:.1f} %, "
          f"width {width_r / runs:.3f} ({width_r / width_f:.2f}x)")


# ------------------------------------------------------------------ 3. curve bands
def bands(rng, runs: int) -> None:
    print("\n3. Curves: share of null studies whose band holds 0 in all 20 bins at once")
    edges = bin_edges(S, 20)
    for n in (10, 30):
        now = before = 0
        for i in range(runs):
            rt, rc = pair_rates(rng, n)
            t, c = answers(rng, rt), answers(rng, rc)
            band = session_curves(t.tolist(), c.tolist(), scrolls=S, bins=20, window=50,
                                  n_boot=1000, seed=i).difference
            now += all(lo <= 0 <= hi for lo, hi in zip(band.lo, band.hi, strict=True)
                       if lo is not None)
            d = binned_rates(t.tolist(), edges) - binned_rates(c.tolist(), edges)
            m = d.mean(0)
            bm = d[rng.integers(0, n, (1000, n))].mean(1)
            se = bm.std(0, ddof=1)
            ok = se > 0
            crit = np.quantile(np.max(np.abs(bm[:, ok] - m[ok]) / se[ok], axis=1), 0.95)
            before += bool(np.all(np.abs(m[ok]) <= crit * se[ok]))
        print(f"{n} pairs: t-corrected multiplier (now) {100 * now / runs:.1f} %, percentile "
              f"bootstrap of the sup {100 * before / runs:.1f} %")


# ------------------------------------------------------------------ 4. trend
def trend_level(rng, runs: int) -> None:
    trials = 10
    ids = [f"t{i}" for i in range(trials) for _ in range(S)]
    steps = [s for _ in range(trials) for s in range(S)]
    small = sum(trend(ids, steps, answers(rng, rng.beta(3, 7, trials)).ravel().tolist())
                .p_value < 0.05 for _ in range(runs))
    print(f"\n4. Trend test, no drift, 10 trials x 100 scrolls, lag-1 0.3: p < 0.05 in "
          f"{100 * small / runs:.1f} % (exploratory: it left the headline)")


# ------------------------------------------------------------------ 5. flags
def flags(rng, runs: int) -> None:
    """Three null arms (learning feed, twin, random) of 10 trials: any flag a reader sees."""
    from valuespectrum.metrics import bootstrap_mean, trial_windows

    old = new = 0
    trials = 10
    ids = [f"t{i}" for i in range(trials) for _ in range(S)]
    steps = [s for _ in range(trials) for s in range(S)]
    for _ in range(runs):
        base = rng.beta(3, 7, trials)
        arms = [answers(rng, np.where(rng.random(trials) < 0.5, base, rng.beta(3, 7, trials)))
                for _ in range(3)]
        deltas = [[trial_windows(a, 50).delta for a in arm] for arm in arms]
        cis = [bootstrap_mean(d, n_boot=1000).ci for d in deltas]
        trends = [trend(ids, steps, arm.ravel().tolist()).p_value for arm in arms]
        contrasts = [mean_contrast(deltas[0], deltas[k], paired=False).p_value for k in (1, 2)]
        flag = any(lo > 0 or hi < 0 for lo, hi in cis) or any(p < 0.05 for p in trends) or \
            any(p < 0.05 for p in holm(contrasts))
        old += flag
        lead = session_contrast(arms[0].tolist(), arms[1].tolist())
        new += lead.p_value < 0.05  # the one confirmatory contrast (Holm over one)
    print(f"\n5. Fully null three-arm runs: a flag in the old headline (a Δ interval off 0, "
          f"an unadjusted trend p, an adjusted contrast) in {100 * old / runs:.1f} %; in the "
          f"declared plan's confirmatory family in {100 * new / runs:.1f} %")


# ------------------------------------------------------------------ 6. power
def demo_power(rng, runs: int) -> None:
    """The issue's demo-like feed: twin flat at 0.28, learning 0.28 + 0.48(1 − e^(−t/6))."""
    from valuespectrum.metrics import trial_windows

    lift = 0.48 * (1 - np.exp(-np.arange(S) / 6))
    hits = {"session, paired": 0, "session, unpaired": 0, "Δ (window 50), paired": 0,
            "Δ (window 10), paired": 0}
    for _ in range(runs):
        base_t, base_c = np.full(10, 0.28), np.full(10, 0.28)
        t, c = answers(rng, base_t, lift=lift), answers(rng, base_c)
        hits["session, paired"] += session_contrast(t.tolist(), c.tolist()).p_value < 0.05
        hits["session, unpaired"] += session_contrast(t.tolist(), c.tolist(),
                                                      paired=False).p_value < 0.05
        for w in (50, 10):
            dt = [trial_windows(a, w).delta for a in t]
            dc = [trial_windows(a, w).delta for a in c]
            hits[f"Δ (window {w}), paired"] += mean_contrast(dt, dc).p_value < 0.05
    print("\n6. Power against a demo-like learning feed (10 pairs, alpha 0.05): " + "; ".join(
        f"{k} {100 * v / runs:.0f} %" for k, v in hits.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000, help="simulated studies per figure")
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    print(f"seed {args.seed}, {args.runs} studies per figure")
    for part in (lead_interval, pooled, bands, trend_level, flags, demo_power):
        part(rng, args.runs)
    print(f"\n({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
