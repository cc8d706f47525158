"""Reading the contrast rows of a sweep's summary.json (`SweepSummary`, read by
`engine.reader.RunReader`): one row per comparison x estimand x reading. The terminal,
report.md and the run viewer all show them through these helpers."""

from __future__ import annotations

from typing import Any

from valuespectrum.engine.reader import CELL_FIELDS
from valuespectrum.sweep.summary_model import ContrastRow, CurveRow, SweepSummary

#: How tables name the estimands.
ESTIMAND_LABELS = {
    "session": "session yes-rate", "exposure": "exposure (relevant posts)",
    "exposure_values": "exposure (persona's values)", "last_window": "last-window yes-rate",
    "delta": "Δ", "i_avg": "I_avg term",
}


def fmt(x: float | None, spec: str = "+.3f") -> str:
    return "–" if x is None else format(x, spec)


def fmt_ci(ci: list[float | None] | None, spec: str = "+.3f") -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return "–"
    return f"[{format(ci[0], spec)}, {format(ci[1], spec)}]"


def fmt_p(p: float | None) -> str:
    if p is None:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def plan_of(summary: SweepSummary) -> dict[str, Any]:
    """The analysis plan a summary was read under (the defaults for older summaries)."""
    return summary.plan


def comparisons(summary: SweepSummary) -> list[ContrastRow]:
    """The summary's comparisons in order, each as its lead row (the plan's estimand and
    reading), confirmatory ones first."""
    plan = plan_of(summary)
    return [r for r in summary.contrasts
            if (r.estimand or plan["estimand"]) == plan["estimand"]
            and (r.reading or plan["reading"]) == plan["reading"]]


def row_for(summary: SweepSummary, lead: ContrastRow, estimand: str,
            reading: str | None = None) -> ContrastRow | None:
    """The row of `lead`'s comparison read on `estimand` (in the plan's reading)."""
    reading = reading or plan_of(summary)["reading"]
    return next((r for r in summary.contrasts if r.same_comparison(lead)
                 and r.estimand == estimand and r.reading == reading), None)


def p_text(row: ContrastRow | None) -> str:
    """A row's p as a table prints it: Holm-adjusted in the confirmatory family, else the
    unadjusted p labelled exploratory."""
    if row is None:
        return "–"
    if row.family == "confirmatory":
        return f"{fmt_p(row.p_adjusted)} adj."
    return f"{fmt_p(row.p_value)} expl."


def contrast_label(contrast: ContrastRow | CurveRow) -> tuple[str, str]:
    """("tiktok − tiktok-frozen", "pet_owner, embed-minilm, simple"): what the two cells of
    a contrast differ in, and what they share (read from the arms' columns)."""
    t, c = contrast.treatment_cell, contrast.control_cell
    differ = t.differs_from(c)
    if not differ:
        return f"{contrast.treatment} − {contrast.control}", ""
    shared = ", ".join("all personas" if getattr(t, f) == "*" else getattr(t, f)
                       for f in CELL_FIELDS if f not in differ)
    return (" − ".join("|".join(getattr(side, f) for f in differ) for side in (t, c)), shared)


def plan_text(summary: SweepSummary) -> str:
    """One line: the plan the tables were read under, and whether it is the declared one."""
    p = plan_of(summary)
    reading = "paired by seed" if p["reading"] == "paired" else "unpaired"
    family = {"twins": "each learning feed against its frozen twin",
              "controls": "each learning feed against every control feed",
              "named": "the spec's named contrasts"}.get(p.get("confirmatory", "twins"), "")
    head = (f"{ESTIMAND_LABELS.get(p['estimand'], p['estimand'])}, {reading}, "
            f"α {p['alpha']:g}; confirmatory: {family} (Holm)")
    if p.get("declared", True):
        return f"declared plan: {head}"
    return (f"EXPLORATORY reading ({'; '.join(p.get('departs', []))}): {head}; every p is "
            "unadjusted")


def reach_notes(summary: SweepSummary) -> list[str]:
    """'tiktok − tiktok-frozen: cannot reach 0.05 with 1 pair' for the lead rows that say so."""
    return [f"{contrast_label(r)[0]}: {r.cannot_reach}" for r in comparisons(summary)
            if r.cannot_reach]
