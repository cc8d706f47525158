"""The statistics of a sweep run (summary.json): per cell, per group, and contrasts.

A *cell* is persona x model x platform x strategy; a *group* pools a model x platform x
strategy over personas (intervals then resample personas, then trials). Every statistic
comes with its 95 % interval; I_avg comes with its value under no effect. Every cell on a
learning feed is contrasted with the same persona, model and strategy on its control feed
(the frozen twin if the sweep has it, else `random`), and so is every group when there are
several personas; pairs the spec names (``contrasts:``) are added; the p-values of all
contrasts of the run are Holm-adjusted together. See `valuespectrum.metrics`.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from valuespectrum.metrics import (
    MAX_INVALID,
    Contrast,
    Estimate,
    bootstrap_mean,
    contrast,
    hierarchical_mean,
    holm,
    i_avg,
    i_avg_ci,
    null_i_avg,
    null_i_avg_cumulative,
    paired_contrast,
    pooled_increase,
    trend,
    trial_windows,
)
from valuespectrum.runs import RunDirectory, write_json
from valuespectrum.sweep.results import SweepResults
from valuespectrum.types import SchwartzValue

DIMENSIONS = ("persona", "model", "platform", "strategy")

DEFINITIONS = {
    "delta": "mean over trials of (yes-rate in the last window - yes-rate in the first "
             "window); windows by position, invalid answers missing; 0 under no effect",
    "increase_pooled": "(sum over trials of last-window yes-rates / same for the first) - 1, %",
    "i_avg": "the paper's I_avg: mean over trials of (L - F) / F, %, trials with F = 0 excluded;"
             " biased under no effect, see i_avg_null",
    "i_avg_null": "expected I_avg with no effect at the cell's first-window yes-rate (exact "
                  "binomial sum); the cumulative reading's null is simulated",
    "trend": "logistic regression of yes on scroll index, standard errors clustered by trial;"
             " slope = change in log-odds per 100 scrolls",
    "value_drift": "share of served posts carrying each Schwartz value, first vs last window",
    "contrast": "difference in mean delta, treatment - control, matched on the other "
                "dimensions; persona-stratified bootstrap CI and permutation p; p_adjusted is "
                "Holm over all contrasts of the run",
    "paired": "the same contrast trial by trial, over the trials of the two arms that share "
              "a seed (trial i of a persona has one seed in every arm); mean of the pairs' "
              "differences, bootstrap over pairs (personas first), sign-flip p; p_adjusted "
              "is Holm over the run's paired contrasts; None when no trials share a seed",
    "ci": "95% bootstrap interval over trials (studentized for means, percentile for ratios;"
          " personas then trials when pooled)",
    "excluded": f"trials with more than {MAX_INVALID:.0%} of a window invalid",
}


def _nan(x: float | None) -> float:
    return math.nan if x is None else x


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def _est(e: Estimate, k: float = 1.0) -> dict[str, Any]:
    return {"value": _num(e.value * k), "ci": [_num(e.ci[0] * k), _num(e.ci[1] * k)]}


class _Trial:
    """One finished trial's answers and served posts, by position."""

    def __init__(self, trial_id: str, rows: list[dict[str, Any]], scrolls: int,
                 seed: int | None = None) -> None:
        self.trial_id = trial_id
        self.seed = seed  # trial i of a persona has one seed in every arm: it pairs them
        self.decisions: list[int | None] = [None] * scrolls
        self.tags: list[set[str] | None] = [None] * scrolls
        self.match: list[bool | None] = [None] * scrolls
        for r in rows:
            s = int(r["step"])
            if 0 <= s < scrolls:
                self.decisions[s] = r.get("decision")
                self.tags[s] = set(r.get("value_tags") or ())
                self.match[s] = r.get("value_match")
        self.rows = rows


def _share(flags: list[bool | None]) -> float:
    vals = [f for f in flags if f is not None]
    return float(np.mean(vals)) if vals else math.nan


def _mean(xs: Iterable[float]) -> float | None:
    vals = [x for x in xs if math.isfinite(x)]
    return _num(float(np.mean(vals))) if vals else None


def _value_drift(trials: list[_Trial], window: int, seed: int) -> dict[str, Any]:
    out = {}
    for v in SchwartzValue:
        deltas, firsts, lasts = [], [], []
        for t in trials:
            flags = [None if tg is None else v.value in tg for tg in t.tags]
            f, la = _share(flags[:window]), _share(flags[-window:])
            firsts.append(f)
            lasts.append(la)
            deltas.append(la - f)
        est = bootstrap_mean(deltas, seed=seed, n_boot=2000)
        out[v.value] = {"first": _mean(firsts), "last": _mean(lasts), **_est(est)}
    return out


def cell_stats(trials: list[_Trial], window: int, seed: int) -> dict[str, Any]:
    """Every per-cell statistic of summary.json (see DEFINITIONS)."""
    windows = [trial_windows(t.decisions, window) for t in trials]
    usable = [w for w in windows if w.usable]
    out: dict[str, Any] = {
        "trials": len(trials),
        "excluded": [{"trial_id": t.trial_id, "reason": w.reason}
                     for t, w in zip(trials, windows, strict=True) if not w.usable],
    }
    base = (sum(w.first_yes for w in usable) / sum(w.first_valid for w in usable)
            if usable else math.nan)
    out["base_rate"] = _num(base)
    out["yes_rate_first"] = _est(bootstrap_mean([w.first for w in usable], seed=seed))
    out["yes_rate_last"] = _est(bootstrap_mean([w.last for w in usable], seed=seed))
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
                    "steps": tr.steps, "reason": tr.reason}
    shares = [(_share(t.match[:window]), _share(t.match[-window:])) for t in trials]
    out["value_share"] = {"first": _mean(s[0] for s in shares),
                          "last": _mean(s[1] for s in shares),
                          **_est(bootstrap_mean([s[1] - s[0] for s in shares], seed=seed))}
    out["value_drift"] = _value_drift(trials, window, seed)
    rows = [r for t in trials for r in t.rows]
    out["invalid_answers"] = sum(1 for r in rows if r.get("decision") is None)
    out["steps"] = len(rows)
    out["cost_usd"] = round(sum(r.get("cost_usd") or 0.0 for r in rows), 6)
    out["input_tokens"] = sum(r.get("input_tokens") or 0 for r in rows)
    out["output_tokens"] = sum(r.get("output_tokens") or 0 for r in rows)
    out["cached_share"] = _num(float(np.mean([bool(r.get("cached")) for r in rows]))) if rows else None
    return out


def _usable_deltas(trials: Iterable[_Trial], window: int) -> list[tuple[int | None, float]]:
    """(seed, Δ) of each usable trial, in order."""
    return [(t.seed, w.delta) for t in trials
            if (w := trial_windows(t.decisions, window)).usable]


def _deltas(trials: Iterable[_Trial], window: int) -> list[float]:
    return [d for _, d in _usable_deltas(trials, window)]


def _contrast_row(label: str, treatment: str, control: str, c: Contrast,
                  paired: Contrast | None) -> dict[str, Any]:
    row = {"kind": label, "treatment": treatment, "control": control, "diff": _num(c.diff),
           "ci": [_num(c.ci[0]), _num(c.ci[1])], "p_value": _num(c.p_value),
           "n_treatment": c.n_treatment, "n_control": c.n_control, "personas": c.strata}
    row["paired"] = None if paired is None else {
        "diff": _num(paired.diff), "ci": [_num(paired.ci[0]), _num(paired.ci[1])],
        "p_value": _num(paired.p_value), "pairs": paired.n_treatment}
    return row


def summarize(run_dir: str | Path, spec: Any, trial_ids: list[str] | None = None) -> dict[str, Any]:
    """Summary of a run directory (only the trials of the current plan count)."""
    from valuespectrum.feed.recommenders import STYLES, controls_of

    results = SweepResults(RunDirectory(run_dir, "sweep"))
    records = results.trial_records()
    if trial_ids is not None:
        planned = set(trial_ids)
        records = {t: r for t, r in records.items() if t in planned}
    done = sorted(t for t, r in records.items() if r.status == "done")
    by_trial: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in results.step_rows(done):
        by_trial[row["trial_id"]].append(row)
    window, seed, scrolls = spec.window, spec.seed, spec.scrolls
    trials = {t: _Trial(t, by_trial[t], scrolls, records[t].seed if t in records else None)
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

    def control_feeds(platform: str, available: set[str]) -> list[str]:
        """The control feeds of a learning platform among `available`: the platforms of its
        style's frozen twin (the matched control, first), then of `random`, that match it
        in environment kind and options, so the two differ only in whether the feed learns."""
        mine = by_label.get(platform)
        out = []
        for style in controls_of(style_of(platform), {style_of(a) for a in available}):
            for other in sorted(available):
                theirs = by_label.get(other)
                if style_of(other) == style and (mine is None or theirs is None
                                                 or mine.matches(theirs)):
                    out.append(other)
        return out

    cells, cell_trials = [], {}
    for cell, (persona, model, platform, strategy) in sorted(meta.items()):
        ts = [trials[t] for t in sorted(members.get(cell, []))]
        cell_trials[cell] = ts
        row = {"cell": cell, "persona": persona, "model": model, "platform": platform,
               "style": style_of(platform), "strategy": strategy,
               "control": control(model, platform),
               **cell_stats(ts, window, seed)}
        row["failed_trials"] = sum(1 for r in records.values()
                                   if r.cell == cell and r.status != "done")
        cells.append(row)

    index = {tuple(c[d] for d in DIMENSIONS): c["cell"] for c in cells}
    personas = sorted({c["persona"] for c in cells})
    platforms = {c["platform"] for c in cells}

    def persona_deltas(keys: Iterable[tuple[str, ...]]) -> dict[str, list[float]]:
        out: dict[str, list[float]] = defaultdict(list)
        for key in keys:
            cell = index.get(key)
            if cell is not None:
                out[key[0]].extend(_deltas(cell_trials[cell], window))
        return out

    def compare(kind: str, treatment: str, control: str, t_keys: list[tuple[str, ...]],
                c_keys: list[tuple[str, ...]]) -> dict[str, Any]:
        """A contrast row: t_keys[i] against c_keys[i], stratified by their persona (one
        stratum per pair of keys when the personas are what differs); read pair by pair
        over the trials of the two sides that share a seed (`paired` None when none do:
        two personas' trials, or runs planned under the earlier seed rule)."""
        t: dict[str, list[float]] = defaultdict(list)
        c: dict[str, list[float]] = defaultdict(list)
        pairs: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for tk, ck in zip(t_keys, c_keys, strict=True):
            if tk not in index or ck not in index:
                continue
            stratum = tk[0] if tk[0] == ck[0] else f"{tk[0]} | {ck[0]}"
            ut = _usable_deltas(cell_trials[index[tk]], window)
            uc = _usable_deltas(cell_trials[index[ck]], window)
            t[stratum].extend(d for _, d in ut)
            c[stratum].extend(d for _, d in uc)
            dt = {k: d for k, d in ut if k is not None}  # by seed: the pairs
            dc = {k: d for k, d in uc if k is not None}
            pairs[stratum].extend((dt[k], dc[k]) for k in sorted(dt.keys() & dc.keys()))
        paired = paired_contrast(pairs, seed=seed) if any(pairs.values()) else None
        return _contrast_row(kind, treatment, control, contrast(t, c, seed=seed), paired)

    groups = []
    for model, platform, strategy in sorted({(c["model"], c["platform"], c["strategy"])
                                            for c in cells}):
        keys = [(p, model, platform, strategy) for p in personas]
        ts = [t for k in keys if k in index for t in cell_trials[index[k]]]
        row = {"model": model, "platform": platform, "style": style_of(platform),
               "strategy": strategy, "control": control(model, platform), "personas": len(
                   [k for k in keys if k in index]), **cell_stats(ts, window, seed)}
        row["delta"] = _est(hierarchical_mean(persona_deltas(keys), seed=seed))
        row.pop("value_drift")
        groups.append(row)

    contrasts = []
    for c in cells:  # each cell against its control feeds
        for ctrl in control_feeds(c["platform"], platforms):
            key = (c["persona"], c["model"], c["platform"], c["strategy"])
            ckey = (c["persona"], c["model"], ctrl, c["strategy"])
            if ckey in index:
                contrasts.append(compare("control feed", c["cell"], index[ckey], [key], [ckey]))
    if len(personas) > 1:  # each group against its control feeds, personas pooled
        for g in groups:
            for ctrl in control_feeds(g["platform"], platforms):
                t_keys = [(p, g["model"], g["platform"], g["strategy"]) for p in personas]
                c_keys = [(p, g["model"], ctrl, g["strategy"]) for p in personas]
                label = f"*|{g['model']}|{{}}|{g['strategy']}"
                contrasts.append(compare("control feed, personas pooled",
                                         label.format(g["platform"]), label.format(ctrl),
                                         t_keys, c_keys))
    for named in getattr(spec, "contrasts", []):  # pairs the spec names
        d = DIMENSIONS.index(named.dimension)
        others = [sorted({k[i] for k in index}) for i in range(4) if i != d]
        for combo in itertools.product(*others):
            def key(value: str, combo=combo, d=d) -> tuple[str, ...]:
                k = list(combo)
                k.insert(d, value)
                return tuple(k)
            if key(named.treatment) in index and key(named.control) in index:
                contrasts.append(compare(f"spec: {named.dimension}",
                                         index[key(named.treatment)],
                                         index[key(named.control)],
                                         [key(named.treatment)], [key(named.control)]))
    for row, p in zip(contrasts, holm([_nan(r["p_value"]) for r in contrasts]), strict=True):
        row["p_adjusted"] = _num(p)
    with_pairs = [r["paired"] for r in contrasts if r["paired"] is not None]
    for paired, p in zip(with_pairs, holm([_nan(r["p_value"]) for r in with_pairs]),
                         strict=True):  # the paired reading: a family of its own
        paired["p_adjusted"] = _num(p)

    statuses: dict[str, int] = defaultdict(int)
    for r in records.values():
        statuses[r.status] += 1
    return {"kind": "sweep", "name": spec.name, "window": window, "scrolls": scrolls,
            "trial_statuses": dict(statuses), "definitions": DEFINITIONS,
            "cells": cells, "groups": groups, "contrasts": contrasts}


def write_summary(run_dir: str | Path, spec: Any, trial_ids: list[str] | None = None) -> Path:
    return write_json(Path(run_dir) / "summary.json", summarize(run_dir, spec, trial_ids))
