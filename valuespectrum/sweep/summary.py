"""The statistics of a sweep run (summary.json): contrasts first, then cells and groups.

A *cell* is persona x model x platform x strategy; a *group* pools a model x platform x
strategy over personas (personas as fixed strata unless the plan declares them sampled).
Every cell on a learning feed is compared with the same persona, model and strategy on
its control feeds (its frozen twin, the matched control, and `random`), and so is every
group when there are several personas; pairs the spec names (``contrasts:``) are added.
Each comparison is read on every estimand, paired by seed and unpaired; the declared
analysis plan (`analysis:`, see `valuespectrum.sweep.analysis`) says which rows form the
confirmatory family (Holm-adjusted) and which are exploratory. See `valuespectrum.metrics`.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from valuespectrum.engine.reader import RunReader
from valuespectrum.feed.recommenders import STYLES, controls_of
from valuespectrum.metrics import (
    MAX_INVALID,
    Estimate,
    bootstrap_mean,
    i_avg,
    i_avg_ci,
    null_i_avg,
    null_i_avg_cumulative,
    pooled_increase,
    trend,
    trial_windows,
)
from valuespectrum.runs import write_json
from valuespectrum.sweep.analysis import ESTIMANDS, AnalysisPlan
from valuespectrum.sweep.estimands import (
    Comparison,
    TrialData,
    cell_estimate,
    contrast_rows,
    curves_for,
    share,
)
from valuespectrum.sweep.summary_model import SweepSummary
from valuespectrum.types import SchwartzValue

DIMENSIONS = ("persona", "model", "platform", "strategy")

DEFINITIONS = {
    **{f"estimand {k}": v for k, v in ESTIMANDS.items()},
    "contrast": "treatment − control of an estimand's per-trial values, matched on the other "
                "dimensions, personas as strata; paired: trial i against trial i (one seed), "
                "mean of the pairs' differences, t-test over pairs; unpaired: Welch's t; the "
                "interval is the t interval of the same test, so it excludes 0 exactly when "
                "p < alpha",
    "family": "confirmatory: the declared plan's estimand and reading on its family of "
              "comparisons, Holm-adjusted together (p_adjusted); exploratory: every other "
              "row, unadjusted p",
    "min_p": "the smallest p the test can give with these sizes (0 for a t-test); "
             "cannot_reach says when min_p times the family's size exceeds alpha",
    "curves": "per scroll bin, each arm's mean yes-rate and their (paired) difference with "
              "simultaneous sup-t bands; half_gap_scroll: the first scroll at which the "
              "difference reaches half its last-window value",
    "delta": "mean over trials of (yes-rate in the last window - yes-rate in the first "
             "window); windows by position, invalid answers missing; 0 under no effect",
    "increase_pooled": "(sum over trials of last-window yes-rates / same for the first) - 1, %",
    "i_avg": "the paper's I_avg: mean over trials of (L - F) / F, %, trials with F = 0 excluded;"
             " biased under no effect, see i_avg_null",
    "i_avg_null": "expected I_avg with no effect at the cell's first-window yes-rate (exact "
                  "binomial sum); the cumulative reading's null is simulated",
    "trend": "exploratory: logistic regression of yes on scroll index, standard errors "
             "clustered by trial; slope = change in log-odds per 100 scrolls (rejects "
             "5.7-6.6 % of null cells at 10 trials with dependent answers)",
    "value_drift": "share of served posts carrying each Schwartz value, first vs last window",
    "ci": "cell estimates of the estimands: t intervals over trials (personas as strata when "
          "pooled); Δ, I_avg and value shares: 95% bootstrap intervals over trials",
    "excluded": f"trials with more than {MAX_INVALID:.0%} of a window invalid",
}


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def _est(e: Estimate, k: float = 1.0) -> dict[str, Any]:
    return {"value": _num(e.value * k), "ci": [_num(e.ci[0] * k), _num(e.ci[1] * k)]}


def _mean(xs: Iterable[float]) -> float | None:
    vals = [x for x in xs if math.isfinite(x)]
    return _num(float(np.mean(vals))) if vals else None


def _value_drift(trials: list[TrialData], window: int, seed: int) -> dict[str, Any]:
    out = {}
    for v in SchwartzValue:
        deltas, firsts, lasts = [], [], []
        for t in trials:
            flags = [None if tg is None else v.value in tg for tg in t.tags]
            f, la = share(flags[:window]), share(flags[-window:])
            firsts.append(f)
            lasts.append(la)
            deltas.append(la - f)
        est = bootstrap_mean(deltas, seed=seed, n_boot=2000)
        out[v.value] = {"first": _mean(firsts), "last": _mean(lasts), **_est(est)}
    return out


def cell_stats(strata: dict[str, list[TrialData]], window: int, seed: int,
               plan: AnalysisPlan) -> dict[str, Any]:
    """Every per-cell (or, with several strata, per-group) statistic of summary.json."""
    trials = [t for ts in strata.values() for t in ts]
    windows = [trial_windows(t.decisions, window) for t in trials]
    usable = [w for w in windows if w.usable]
    out: dict[str, Any] = {
        "trials": len(trials),
        "excluded": [{"trial_id": t.trial_id, "reason": w.reason}
                     for t, w in zip(trials, windows, strict=True) if not w.usable],
    }
    for estimand in ("session", "exposure", "exposure_values", "last_window"):
        out[estimand] = cell_estimate(
            {k: [t.values(window)[estimand] for t in ts] for k, ts in strata.items()}, plan)
    base = (sum(w.first_yes for w in usable) / sum(w.first_valid for w in usable)
            if usable else math.nan)
    out["base_rate"] = _num(base)
    out["yes_rate_first"] = _est(bootstrap_mean([w.first for w in usable], seed=seed))
    out["yes_rate_last"] = _est(bootstrap_mean([w.last for w in usable], seed=seed))
    if len(strata) > 1:  # personas as strata, not one sample
        out["delta"] = cell_estimate({k: [t.values(window)["delta"] for t in ts]
                                      for k, ts in strata.items()}, plan)
    else:
        out["delta"] = _est(bootstrap_mean([w.delta for w in usable], seed=seed))
    out["increase_pooled"] = _est(pooled_increase(usable, seed=seed))
    decisions = [t.decisions for t in trials]
    for definition, null in (("count", null_i_avg), ("cumulative", null_i_avg_cumulative)):
        res = i_avg(decisions, n=window, definition=definition)
        lo, hi = i_avg_ci(res, seed=seed)
        key = "i_avg" if definition == "count" else "i_avg_cumulative"
        out[key] = {"value": _num(res.value), "ci": [_num(lo), _num(hi)],
                    "excluded": res.excluded}
        out[f"{key}_null"] = _num(null(round(base, 4), window)) if usable else None
    tr = trend([t.trial_id for t in trials for _ in t.decisions],
               [s for t in trials for s in range(len(t.decisions))],
               [d for t in trials for d in t.decisions])
    out["trend"] = {"slope": _num(tr.slope), "ci": [_num(tr.ci[0]), _num(tr.ci[1])],
                    "p_value": _num(tr.p_value), "odds_ratio": _num(tr.odds_ratio),
                    "steps": tr.steps, "reason": tr.reason, "family": "exploratory"}
    shares = [(share(t.match[:window]), share(t.match[-window:])) for t in trials]
    out["value_share"] = {"first": _mean(s[0] for s in shares),
                          "last": _mean(s[1] for s in shares),
                          **_est(bootstrap_mean([s[1] - s[0] for s in shares], seed=seed))}
    if len(strata) == 1:
        out["value_drift"] = _value_drift(trials, window, seed)
    rows = [r for t in trials for r in t.rows]
    out["invalid_answers"] = sum(1 for r in rows if r.get("decision") is None)
    out["steps"] = len(rows)
    out["cost_usd"] = round(sum(r.get("cost_usd") or 0.0 for r in rows), 6)
    out["input_tokens"] = sum(r.get("input_tokens") or 0 for r in rows)
    out["output_tokens"] = sum(r.get("output_tokens") or 0 for r in rows)
    out["cached_share"] = _num(float(np.mean([bool(r.get("cached")) for r in rows]))) if rows else None
    return out


def summarize(run_dir: str | Path, spec: Any, trial_ids: list[str] | None = None, *,
              analysis: AnalysisPlan | None = None, window: int | None = None
              ) -> dict[str, Any]:
    """Summary of a run directory (only the trials of the current plan count).

    Args:
        run_dir: The run directory.
        spec: The sweep's spec (its declared `analysis` and `window`).
        trial_ids: The planned trials (None: every recorded one).
        analysis, window: Read the run under another plan than the declared one: every
            row is then exploratory, and `analysis.departs` says how the reading differs.
    """
    declared: AnalysisPlan = getattr(spec, "analysis", None) or AnalysisPlan()
    plan = analysis or declared
    window = spec.window if window is None else window
    departs = plan.differences(declared, window, spec.window)
    reader = RunReader(run_dir, "sweep")
    records = reader.trial_records(trial_ids)
    done = sorted(t for t, r in records.items() if r.status == "done")
    by_trial: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in reader.step_rows(done):
        by_trial[row["trial_id"]].append(row)
    seed, scrolls = spec.seed, spec.scrolls
    trials = {t: TrialData(t, by_trial[t], scrolls, records[t].seed if t in records else None)
              for t in done}

    meta: dict[str, tuple[str, str, str, str]] = {}
    members: dict[str, list[str]] = defaultdict(list)
    for rec in records.values():
        meta[rec.cell] = (rec.persona, rec.model, rec.platform, rec.strategy)
        if rec.trial_id in trials:
            members[rec.cell].append(rec.trial_id)
    kinds = {m.label: m.kind for m in spec.models}
    by_label = {p.label: p for p in getattr(spec, "platforms", [])}

    def style_of(platform: str) -> str:
        p = by_label.get(platform)
        return p.style if p is not None else platform

    def control(model: str, platform: str) -> bool:
        """A feed that does not learn, or a viewer that does not look (registry-driven)."""
        style = STYLES.get(style_of(platform))
        return (style is not None and not style.learning) or kinds.get(model) == "control"

    def control_feeds(platform: str, available: set[str]) -> list[tuple[str, str]]:
        """(platform, role) of the control feeds of a learning platform among `available`:
        its style's frozen twin (role "twin", the matched control, first), then `random`,
        that match it in environment kind and options, so the two differ only in whether
        the feed learns."""
        mine = by_label.get(platform)
        out = []
        for style in controls_of(style_of(platform), {style_of(a) for a in available}):
            role = "random" if style == "random" else "twin"
            for other in sorted(available):
                theirs = by_label.get(other)
                if style_of(other) == style and (mine is None or theirs is None
                                                 or mine.matches(theirs)):
                    out.append((other, role))
        return out

    cells, cell_trials = [], {}
    for cell, (persona, model, platform, strategy) in sorted(meta.items()):
        ts = [trials[t] for t in sorted(members.get(cell, []))]
        cell_trials[cell] = ts
        row = {"cell": cell, "persona": persona, "model": model, "platform": platform,
               "style": style_of(platform), "strategy": strategy,
               "control": control(model, platform),
               **cell_stats({persona: ts}, window, seed, plan)}
        row["failed_trials"] = sum(1 for r in records.values()
                                   if r.cell == cell and r.status != "done")
        cells.append(row)

    index = {tuple(c[d] for d in DIMENSIONS): c["cell"] for c in cells}
    personas = sorted({c["persona"] for c in cells})
    platforms = {c["platform"] for c in cells}

    def comparison(kind: str, treatment: str, control: str, role: str | None,
                   t_keys: list[tuple[str, ...]], c_keys: list[tuple[str, ...]],
                   pooled: bool = False) -> Comparison:
        """t_keys[i] against c_keys[i], stratified by their persona (one stratum per pair
        of keys when the personas are what differs); the arms' columns are the first keys'
        (persona ``*`` when `pooled`)."""
        def columns(k: tuple[str, ...]) -> dict[str, str]:
            return dict(zip(DIMENSIONS, ("*", *k[1:]) if pooled else k, strict=True))

        comp = Comparison(kind, treatment, control, role, treatment_cell=columns(t_keys[0]),
                          control_cell=columns(c_keys[0]))
        for tk, ck in zip(t_keys, c_keys, strict=True):
            if tk in index and ck in index:
                stratum = tk[0] if tk[0] == ck[0] else f"{tk[0]} | {ck[0]}"
                comp.add(stratum, cell_trials[index[tk]], cell_trials[index[ck]])
        return comp

    groups = []
    for model, platform, strategy in sorted({(c["model"], c["platform"], c["strategy"])
                                            for c in cells}):
        keys = [(p, model, platform, strategy) for p in personas if
                (p, model, platform, strategy) in index]
        row = {"model": model, "platform": platform, "style": style_of(platform),
               "strategy": strategy, "control": control(model, platform),
               "personas": len(keys),
               **cell_stats({k[0]: cell_trials[index[k]] for k in keys}, window, seed, plan)}
        row.pop("value_drift", None)
        groups.append(row)

    comparisons: list[Comparison] = []
    for c in cells:  # each cell against its control feeds
        for ctrl, role in control_feeds(c["platform"], platforms):
            key = (c["persona"], c["model"], c["platform"], c["strategy"])
            ckey = (c["persona"], c["model"], ctrl, c["strategy"])
            if ckey in index:
                comparisons.append(comparison("control feed", c["cell"], index[ckey], role,
                                              [key], [ckey]))
    if len(personas) > 1:  # each group against its control feeds, personas pooled
        for g in groups:
            for ctrl, role in control_feeds(g["platform"], platforms):
                t_keys = [(p, g["model"], g["platform"], g["strategy"]) for p in personas]
                c_keys = [(p, g["model"], ctrl, g["strategy"]) for p in personas]
                label = f"*|{g['model']}|{{}}|{g['strategy']}"
                comparisons.append(comparison("control feed, personas pooled",
                                              label.format(g["platform"]), label.format(ctrl),
                                              role, t_keys, c_keys, pooled=True))
    for named in getattr(spec, "contrasts", []):  # pairs the spec names
        d = DIMENSIONS.index(named.dimension)
        others = [sorted({k[i] for k in index}) for i in range(4) if i != d]
        for combo in itertools.product(*others):
            def key(value: str, combo=combo, d=d) -> tuple[str, ...]:
                k = list(combo)
                k.insert(d, value)
                return tuple(k)
            if key(named.treatment) in index and key(named.control) in index:
                comparisons.append(comparison(
                    f"spec: {named.dimension}", index[key(named.treatment)],
                    index[key(named.control)], None, [key(named.treatment)],
                    [key(named.control)]))
    # another reading than the declared plan: nothing is confirmatory
    contrasts = contrast_rows(comparisons, plan, window, len(personas) > 1,
                              declared=not departs)

    statuses: dict[str, int] = defaultdict(int)
    for r in records.values():
        statuses[r.status] += 1
    return {"kind": "sweep", "name": spec.name, "window": window, "scrolls": scrolls,
            "analysis": {**plan.fingerprint_data(window), "declared": not departs,
                         "departs": departs},
            "trial_statuses": dict(statuses), "definitions": DEFINITIONS,
            "contrasts": contrasts,
            "curves": curves_for(comparisons, plan, scrolls, window, seed),
            "cells": cells, "groups": groups}


def write_summary(run_dir: str | Path, spec: Any, trial_ids: list[str] | None = None) -> Path:
    """Write summary.json, checked first against the model its readers read it with."""
    summary = summarize(run_dir, spec, trial_ids)
    SweepSummary.model_validate(summary)
    return write_json(Path(run_dir) / "summary.json", summary)
