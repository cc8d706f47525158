"""Reading the contrast rows of a sweep's summary.json: one row per comparison x estimand x
reading. The terminal, report.md and the run viewer all show them through these helpers."""

from __future__ import annotations

from typing import Any

from valuespectrum.trial import Cell

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


def plan_of(summary: dict[str, Any]) -> dict[str, Any]:
    """The analysis plan a summary was read under (the defaults for older summaries)."""
    return summary.get("analysis") or {"estimand": "delta", "reading": "unpaired",
                                       "alpha": 0.05, "declared": True, "departs": []}


def comparisons(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The summary's comparisons in order, each as its lead row (the plan's estimand and
    reading), confirmatory ones first."""
    plan = plan_of(summary)
    return [r for r in summary.get("contrasts", [])
            if r.get("estimand", plan["estimand"]) == plan["estimand"]
            and r.get("reading", plan["reading"]) == plan["reading"]]


def row_for(summary: dict[str, Any], lead: dict[str, Any], estimand: str,
            reading: str | None = None) -> dict[str, Any] | None:
    """The row of `lead`'s comparison read on `estimand` (in the plan's reading)."""
    reading = reading or plan_of(summary)["reading"]
    for r in summary.get("contrasts", []):
        if (r["treatment"], r["control"], r["kind"]) == (lead["treatment"], lead["control"],
                                                        lead["kind"]) \
                and r.get("estimand") == estimand and r.get("reading") == reading:
            return r
    return None


def p_text(row: dict[str, Any] | None) -> str:
    """A row's p as a table prints it: Holm-adjusted in the confirmatory family, else the
    unadjusted p labelled exploratory."""
    if row is None:
        return "–"
    if row.get("family") == "confirmatory":
        return f"{fmt_p(row.get('p_adjusted'))} adj."
    return f"{fmt_p(row.get('p_value'))} expl."


def contrast_label(contrast: dict[str, Any]) -> tuple[str, str]:
    """("tiktok − tiktok-frozen", "pet_owner, embed-minilm, simple"): what the two cells of
    a contrast differ in, and what they share (cell keys are persona|model|platform|strategy)."""
    t, c = Cell.parse(contrast["treatment"]), Cell.parse(contrast["control"])
    if t is None or c is None:
        return f"{contrast['treatment']} − {contrast['control']}", ""
    differ = t.differs_from(c)
    shared = ", ".join("all personas" if x == "*" else x
                       for f, x in zip(Cell._fields, t, strict=True) if f not in differ)
    return (" − ".join("|".join(getattr(side, f) for f in differ) for side in (t, c)), shared)


def plan_text(summary: dict[str, Any]) -> str:
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


def reach_notes(summary: dict[str, Any]) -> list[str]:
    """'tiktok − tiktok-frozen: cannot reach 0.05 with 1 pair' for the lead rows that say so."""
    return [f"{contrast_label(r)[0]}: {r['cannot_reach']}" for r in comparisons(summary)
            if r.get("cannot_reach")]
