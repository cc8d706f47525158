"""Per-cell statistics of a sweep run: I_avg (both definitions) with bootstrap CIs, drift."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from valuespectrum.metrics import i_avg, i_avg_ci, pooled_increase, value_share_drift
from valuespectrum.runs import RunDirectory, write_json
from valuespectrum.sweep.results import SweepResults


def _nan_to_none(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 6)


def _stats(trial_steps: list[list[dict[str, Any]]], window: int, seed: int) -> dict[str, Any]:
    """I_avg and drift over the given trials (each a list of step rows in order)."""
    decisions = [[r["decision"] for r in steps] for steps in trial_steps]
    out: dict[str, Any] = {"trials": len(trial_steps)}
    for definition in ("count", "cumulative"):
        res = i_avg(decisions, n=window, definition=definition)
        lo, hi = i_avg_ci(res, seed=seed)
        out[f"i_avg_{definition}"] = _nan_to_none(res.value)
        out[f"i_avg_{definition}_ci"] = [_nan_to_none(lo), _nan_to_none(hi)]
        out["excluded"] = res.excluded
        out["invalid_answers"] = res.invalid
        if definition == "count":
            out["per_trial_increase"] = [_nan_to_none(x) if x is not None else None for x in res.per_trial]
            pooled, (plo, phi) = pooled_increase(res, seed=seed)
            out["increase_pooled"] = _nan_to_none(pooled)
            out["increase_pooled_ci"] = [_nan_to_none(plo), _nan_to_none(phi)]
    firsts, lasts, d_first, d_last = [], [], [], []
    for steps in trial_steps:
        valid = [r["decision"] for r in steps if r["decision"] is not None]
        if valid:
            w = min(window, len(valid))
            firsts.append(np.mean(valid[:w]))
            lasts.append(np.mean(valid[-w:]))
        matches = [bool(r.get("value_match")) for r in steps if r.get("value_match") is not None]
        if matches:
            drift = value_share_drift(matches, window)
            d_first.append(drift.first_share)
            d_last.append(drift.last_share)
    out["yes_rate_first"] = _nan_to_none(float(np.mean(firsts))) if firsts else None
    out["yes_rate_last"] = _nan_to_none(float(np.mean(lasts))) if lasts else None
    out["value_share_first"] = _nan_to_none(float(np.mean(d_first))) if d_first else None
    out["value_share_last"] = _nan_to_none(float(np.mean(d_last))) if d_last else None
    all_steps = [r for steps in trial_steps for r in steps]
    out["steps"] = len(all_steps)
    out["cost_usd"] = round(sum(r.get("cost_usd") or 0.0 for r in all_steps), 6)
    out["input_tokens"] = sum(r.get("input_tokens") or 0 for r in all_steps)
    out["output_tokens"] = sum(r.get("output_tokens") or 0 for r in all_steps)
    out["cached_share"] = (
        _nan_to_none(float(np.mean([bool(r.get("cached")) for r in all_steps]))) if all_steps else None
    )
    return out


def summarize(run_dir: str | Path, spec: Any, trial_ids: list[str] | None = None) -> dict[str, Any]:
    """Summary of a run directory: per cell and per model x platform x strategy group.

    Only the trials of the current plan (`trial_ids`, default all recorded) are counted.
    """
    rd = SweepResults(RunDirectory(run_dir, "sweep"))
    trials = rd.trial_records()
    if trial_ids is not None:
        planned = set(trial_ids)
        trials = {t: r for t, r in trials.items() if t in planned}
    done = {t for t, r in trials.items() if r.status == "done"}
    by_trial: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rd.step_rows(sorted(done)):
        by_trial[row["trial_id"]].append(row)
    window, seed = spec.window, spec.seed

    cells: dict[str, list[str]] = defaultdict(list)
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    cell_meta: dict[str, tuple[str, str, str, str]] = {}
    for rec in trials.values():
        cell_meta[rec.cell] = (rec.persona, rec.model, rec.platform, rec.strategy)
        if rec.trial_id in done:
            cells[rec.cell].append(rec.trial_id)
            groups[(rec.model, rec.platform, rec.strategy)].append(rec.trial_id)

    from valuespectrum.feed.recommenders import STYLES

    kinds = {m.label: m.kind for m in spec.models}

    def control(model: str, platform: str) -> bool:
        """A feed that does not learn, or a viewer that does not look (registry-driven)."""
        style = STYLES.get(platform)
        return (style is not None and not style.learning) or kinds.get(model) == "control"

    cell_rows = []
    for cell, (persona, model, platform, strategy) in sorted(cell_meta.items()):
        tids = sorted(cells.get(cell, []))
        row = {"cell": cell, "persona": persona, "model": model, "platform": platform,
               "strategy": strategy, "control": control(model, platform)}
        row.update(_stats([by_trial[t] for t in tids], window, seed))
        row["failed_trials"] = sum(
            1 for r in trials.values() if r.cell == cell and r.status != "done"
        )
        cell_rows.append(row)
    group_rows = []
    for (model, platform, strategy), tids in sorted(groups.items()):
        row = {"model": model, "platform": platform, "strategy": strategy,
               "control": control(model, platform)}
        row.update(_stats([by_trial[t] for t in sorted(tids)], window, seed))
        group_rows.append(row)
    statuses: dict[str, int] = defaultdict(int)
    for r in trials.values():
        statuses[r.status] += 1
    return {
        "kind": "sweep",
        "name": spec.name,
        "window": window,
        "scrolls": spec.scrolls,
        "trial_statuses": dict(statuses),
        "definitions": {
            "i_avg_count": "mean over trials of (yes in last n - yes in first n) / yes in first n, %",
            "i_avg_cumulative": "the same with Y(i) = running yes count, summed over the window, %",
            "increase_pooled": "(sum over trials of yes in last n - same for first n) / sum of first, %;"
                               " unlike I_avg not biased upward when first windows hold few yes answers",
            "ci": "95% percentile bootstrap over trials",
        },
        "cells": cell_rows,
        "groups": group_rows,
    }


def write_summary(run_dir: str | Path, spec: Any, trial_ids: list[str] | None = None) -> Path:
    return write_json(Path(run_dir) / "summary.json", summarize(run_dir, spec, trial_ids))
