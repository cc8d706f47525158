"""Per-trial estimands of a sweep and the contrasts between its arms, read by the declared plan.

A *comparison* sets one arm (a cell, or a model x platform x strategy pooled over
personas) against another that differs in one thing (the feed learns or not; a named
dimension). Each comparison is read on every estimand of `ESTIMANDS` and in both readings
(paired by seed, unpaired); the declared plan (`AnalysisPlan`) says which rows are
**confirmatory** (its estimand and reading, on its family of comparisons: Holm-adjusted
together) and every other row is **exploratory** (unadjusted p, labelled so).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from valuespectrum.metrics import (
    MAX_INVALID,
    ContrastResult,
    cannot_reach,
    holm,
    mean_contrast,
    session_curves,
    stratified_mean,
    trial_windows,
)
from valuespectrum.sweep.analysis import ESTIMANDS, AnalysisPlan


class TrialData:
    """One finished trial's answers and served posts, by position."""

    def __init__(self, trial_id: str, rows: list[dict[str, Any]], scrolls: int,
                 seed: int | None = None) -> None:
        self.trial_id = trial_id
        self.seed = seed  # trial i of a persona has one seed in every arm: it pairs them
        self.decisions: list[int | None] = [None] * scrolls
        self.tags: list[set[str] | None] = [None] * scrolls
        self.match: list[bool | None] = [None] * scrolls
        self.relevant: list[bool | None] = [None] * scrolls
        for r in rows:
            s = int(r["step"])
            if 0 <= s < scrolls:
                self.decisions[s] = r.get("decision")
                self.tags[s] = set(r.get("value_tags") or ())
                self.match[s] = r.get("value_match")
                self.relevant[s] = r.get("relevant")
        self.rows = rows
        self._values: dict[int, dict[str, float]] = {}

    def values(self, window: int) -> dict[str, float]:
        """The trial's value of every estimand (NaN where it has none)."""
        if window not in self._values:
            self._values[window] = trial_values(self.decisions, self.relevant, self.match,
                                                window)
        return self._values[window]


def share(flags: Sequence[bool | int | None], max_invalid: float | None = None) -> float:
    """Share of True among the non-None flags; NaN when none (or, with `max_invalid`, when
    more than that share of them is None)."""
    vals = [bool(f) for f in flags if f is not None]
    if not vals:
        return math.nan
    if max_invalid is not None and (len(flags) - len(vals)) / len(flags) > max_invalid:
        return math.nan
    return sum(vals) / len(vals)


def trial_values(decisions: Sequence[int | None], relevant: Sequence[bool | None],
                 match: Sequence[bool | None], window: int) -> dict[str, float]:
    """Every estimand of one trial (see `ESTIMANDS`). Answers are missing where invalid; a
    session or window with more than `MAX_INVALID` of its answers invalid has no value."""
    w = trial_windows(decisions, window)
    return {
        "session": share(decisions, MAX_INVALID),
        "exposure": share(relevant),
        "exposure_values": share(match),
        "last_window": share(decisions[-window:], MAX_INVALID) if len(decisions) >= window
        else math.nan,
        "delta": w.delta if w.usable else math.nan,
        "i_avg": (w.last - w.first) / w.first if w.usable and w.first > 0 else math.nan,
    }


@dataclass
class Comparison:
    """Two arms to contrast, stratified by persona (a stratum 'a | b' when personas differ).

    Attributes:
        kind: "control feed", "control feed, personas pooled" or "spec: <dimension>".
        role: "twin" or "random" for control feeds (the family the plan may name), else None.
    """

    kind: str
    treatment: str
    control: str
    role: str | None = None
    strata: dict[str, tuple[list[TrialData], list[TrialData]]] = field(default_factory=dict)
    #: The two arms as columns (persona, model, platform, strategy; persona "*": pooled);
    #: `treatment` and `control` are their keys (names).
    treatment_cell: dict[str, str] | None = None
    control_cell: dict[str, str] | None = None

    def add(self, stratum: str, treatment: list[TrialData], control: list[TrialData]) -> None:
        t, c = self.strata.setdefault(stratum, ([], []))
        t.extend(treatment)
        c.extend(control)

    def arms(self, estimand: str, window: int, paired: bool
             ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
        """Per-stratum values of both arms; when `paired`, aligned on the seeds both share."""
        t_out: dict[str, list[float]] = {}
        c_out: dict[str, list[float]] = {}
        for stratum, (ts, cs) in self.strata.items():
            if paired:
                tv = {t.seed: t.values(window)[estimand] for t in ts if t.seed is not None}
                cv = {c.seed: c.values(window)[estimand] for c in cs if c.seed is not None}
                seeds = sorted(tv.keys() & cv.keys())
                if seeds:
                    t_out[stratum] = [tv[s] for s in seeds]
                    c_out[stratum] = [cv[s] for s in seeds]
            else:
                t_out[stratum] = [t.values(window)[estimand] for t in ts]
                c_out[stratum] = [c.values(window)[estimand] for c in cs]
        return t_out, c_out

    def answers(self, paired: bool) -> tuple[list[list[int | None]], list[list[int | None]]]:
        """The arms' answer sequences, over all strata; aligned by seed when `paired`."""
        ta: list[list[int | None]] = []
        ca: list[list[int | None]] = []
        for ts, cs in self.strata.values():
            if paired:
                tv = {t.seed: t.decisions for t in ts if t.seed is not None}
                cv = {c.seed: c.decisions for c in cs if c.seed is not None}
                for s in sorted(tv.keys() & cv.keys()):
                    ta.append(tv[s])
                    ca.append(cv[s])
            else:
                ta.extend(t.decisions for t in ts)
                ca.extend(c.decisions for c in cs)
        return ta, ca


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def _row(comp: Comparison, estimand: str, reading: str, r: ContrastResult) -> dict[str, Any]:
    return {
        "kind": comp.kind, "role": comp.role, "treatment": comp.treatment,
        "control": comp.control, "treatment_cell": comp.treatment_cell,
        "control_cell": comp.control_cell, "estimand": estimand, "reading": reading,
        "diff": _num(r.diff), "ci": [_num(r.ci[0]), _num(r.ci[1])],
        "p_value": _num(r.p_value), "p_adjusted": None, "min_p": _num(r.min_p),
        "df": _num(r.df), "se": _num(r.se), "n": r.n, "n_treatment": r.n_treatment,
        "n_control": r.n_control, "pairs": r.n if reading == "paired" else None,
        "personas": r.strata, "family": "exploratory", "reason": r.reason,
        "cannot_reach": None,
    }


def is_confirmatory(comp: Comparison, plan: AnalysisPlan, several_personas: bool) -> bool:
    """Whether a comparison is in the plan's confirmatory family (before estimand/reading)."""
    pooled = comp.kind.endswith("personas pooled")
    if plan.confirmatory == "named":
        return comp.kind.startswith("spec:")
    if comp.role is None:
        return False
    if several_personas and pooled == plan.per_persona:
        return False  # the family is the pooled contrasts, or each persona's, not both
    return comp.role == "twin" or plan.confirmatory == "controls"


def contrast_rows(comparisons: list[Comparison], plan: AnalysisPlan, window: int,
                  several_personas: bool, *, declared: bool = True) -> list[dict[str, Any]]:
    """Every comparison read on every estimand in both readings, families assigned, the
    confirmatory family Holm-adjusted; confirmatory rows first, then by comparison.

    `declared` False: the plan is not the run's declared one, so every row is exploratory.
    """
    rows = []
    readings = [plan.reading] + [r for r in ("paired", "unpaired") if r != plan.reading]
    for comp in comparisons:
        primary = is_confirmatory(comp, plan, several_personas)
        for estimand in [plan.estimand, *(e for e in ESTIMANDS if e != plan.estimand)]:
            for reading in readings:
                t, c = comp.arms(estimand, window, reading == "paired")
                res = mean_contrast(t, c, paired=reading == "paired", alpha=plan.alpha,
                                    personas=plan.personas)
                if not t and reading == "paired":
                    res = _no_pairs(res)
                row = _row(comp, estimand, reading, res)
                if (declared and primary and estimand == plan.estimand
                        and reading == plan.reading):
                    row["family"] = "confirmatory"
                rows.append((row, res))
    family = [(row, res) for row, res in rows if row["family"] == "confirmatory"]
    for (row, _), p in zip(family, holm([_nan(row["p_value"]) for row, _ in family]),
                           strict=True):
        row["p_adjusted"] = _num(p)
    m = sum(1 for row, _ in family if row["p_value"] is not None)
    for row, res in rows:
        row["cannot_reach"] = cannot_reach(res, m if row["family"] == "confirmatory" else 1)
    out = [row for row, _ in rows]
    return sorted(out, key=lambda r: r["family"] != "confirmatory")


def _no_pairs(res: ContrastResult) -> ContrastResult:
    return replace(res, reason="no trials of the two arms share a seed")


def _nan(x: float | None) -> float:
    return math.nan if x is None else x


def curves_for(comparisons: list[Comparison], plan: AnalysisPlan, scrolls: int, window: int,
               seed: int) -> list[dict[str, Any]]:
    """The yes-rate curves of every control-feed comparison, with simultaneous bands: paired
    by seed when the plan reads pairs and the arms share seeds, else unpaired."""
    out = []
    for comp in comparisons:
        if comp.role is None:
            continue
        paired = plan.reading == "paired"
        t, c = comp.answers(paired)
        if paired and not t:
            paired = False
            t, c = comp.answers(False)
        if not t or not c:
            continue
        curves = session_curves(t, c, scrolls=scrolls, bins=plan.bins, window=window,
                                paired=paired, alpha=plan.alpha, seed=seed)
        out.append({"kind": comp.kind, "role": comp.role, "treatment": comp.treatment,
                    "control": comp.control, "treatment_cell": comp.treatment_cell,
                    "control_cell": comp.control_cell, **curves.to_json()})
    return out


def cell_estimate(groups: dict[str, list[float]], plan: AnalysisPlan) -> dict[str, Any]:
    """The mean of a per-trial value over a cell or group (personas as the plan says), with
    its t interval."""
    value, ci, n = stratified_mean(groups, alpha=plan.alpha, personas=plan.personas)
    if n == 0:  # fewer than 2 values: the mean alone, no interval
        vals = [x for v in groups.values() for x in v if math.isfinite(x)]
        value = float(np.mean(vals)) if vals else math.nan
        n = len(vals)
    return {"value": _num(value), "ci": [_num(ci[0]), _num(ci[1])], "n": n}
