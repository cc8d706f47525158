"""The end-of-run summary in the terminal: what the feed did first, the paper's measures after.

1. The contrasts, led by the declared plan's estimand (the session yes-rate, paired by
   seed, by default) with its interval and Holm-adjusted p, then the viewer-independent
   exposure contrast and Δ.
2. Per cell (or group): each arm's session yes-rate, exposure, and the replication columns
   (first → last window, Δ, I_avg with its null value).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from valuespectrum.report.contrast_rows import (
    comparisons,
    contrast_label,
    fmt,
    fmt_ci,
    fmt_p,
    p_text,
    plan_of,
    plan_text,
    reach_notes,
    row_for,
)

__all__ = ["contrast_label", "fmt", "fmt_ci", "fmt_p", "print_summary"]


#: Short column names of the estimands.
SHORT = {"session": "session", "exposure": "exposure", "exposure_values": "value exposure",
         "last_window": "last window", "delta": "Δ", "i_avg": "I_avg term"}


def _with_ci(row: dict[str, Any] | None) -> str:
    return "–" if row is None or row.get("diff") is None else \
        f"{fmt(row['diff'])} {fmt_ci(row['ci'])}"


def _est(cell: dict[str, Any], key: str, spec: str = ".2f") -> str:
    e = cell.get(key) or {}
    return f"{fmt(e.get('value'), spec)} {fmt_ci(e.get('ci'), spec)}" if e.get("value") \
        is not None else "–"


def _with_ci(row: dict[str, Any] | None) -> str:
    return "–" if row is None or row.get("diff") is None else \
        f"{fmt(row['diff'])} {fmt_ci(row['ci'])}"


def contrast_table(s: dict[str, Any]) -> Table | None:
    """The lead table: every comparison on the plan's estimand, then exposure (Δ and I_avg
    follow per arm, in `cell_table`)."""
    leads = comparisons(s)
    if not leads:
        return None
    plan = plan_of(s)
    lead = plan["estimand"]
    second = "exposure" if lead != "exposure" else "session"
    shared = {contrast_label(r)[1] for r in leads}
    matched = f" (matched on {next(iter(shared))})" if len(shared) == 1 else ""
    t = Table(title=f"{s['name']}: what the feed did, treatment − control{matched}")
    columns = ["treatment − control", *(["matched on"] if len(shared) > 1 else []), "family",
               "pairs" if plan["reading"] == "paired" else "trials",
               f"{SHORT.get(lead, lead)} [95% CI]", "p", f"{SHORT.get(second, second)} [95% CI]",
               "p "]
    for col in columns:
        left = col in ("treatment − control", "matched on", "family")
        t.add_column(col, justify="left" if left else "right", no_wrap=col != "matched on")
    for r in leads:
        other = row_for(s, r, second)
        label, matched = contrast_label(r)
        t.add_row(label, *([matched] if len(shared) > 1 else []), r.get("family", "–"),
                  str(r.get("n") or "–"), _with_ci(r), p_text(r), _with_ci(other),
                  p_text(other))
    return t


def cell_table(s: dict[str, Any]) -> Table:
    """Each arm: session yes-rate and exposure, then the paper's replication columns."""
    rows = s["cells"] if len({c["persona"] for c in s["cells"]}) == 1 else s["groups"]
    t = Table(title=f"each arm ({'cell' if rows is s['cells'] else 'group'}s); Δ and I_avg: "
                    f"first vs last {s['window']} of {s['scrolls']} scrolls")
    for col in ("model", "platform", "strategy", "trials", "session [95% CI]", "exposure",
                "first→last", "Δ [95% CI]", "I_avg % (null)", "excl."):
        left = col in ("model", "platform", "strategy")
        t.add_column(col, justify="left" if left else "right", no_wrap=True)
    for r in rows:
        exposure = (r.get("exposure") or {}).get("value")
        t.add_row(
            r["model"], r["platform"], r["strategy"], str(r["trials"]), _est(r, "session"),
            fmt(exposure, ".3f"),
            f"{fmt(r['yes_rate_first']['value'], '.2f')}→{fmt(r['yes_rate_last']['value'], '.2f')}",
            f"{fmt(r['delta']['value'])} {fmt_ci(r['delta']['ci'])}",
            f"{fmt(r['i_avg']['value'], '+.1f')} ({fmt(r['i_avg_null'], '+.1f')})",
            str(len(r["excluded"])))
    return t


def curve_lines(s: dict[str, Any]) -> list[str]:
    """One line per curve: the final gap and the scroll by which half of it was closed."""
    out = []
    for c in s.get("curves", []):
        label = contrast_label(c)[0]
        gap = c.get("final_gap")
        half = c.get("half_gap_scroll")
        when = (f"half of it closed by scroll {half:g}" if half is not None
                else "no positive gap to close")
        out.append(f"{label}: last-window gap {fmt(gap)}, {when}")
    return out


def print_summary(console: Console, run_dir: str | Path) -> None:
    """Print the contrasts (lead estimand first), then each arm's figures."""
    path = Path(run_dir) / "summary.json"
    if not path.exists():
        console.print(f"no summary in {run_dir}", style="yellow", markup=False)
        return
    s = json.loads(path.read_text())
    table = contrast_table(s)
    lines = []
    if table is not None:
        console.print(plan_text(s), highlight=False, markup=False)
        console.print(table)
        lines += reach_notes(s)
    else:
        lines.append("No contrast: the sweep has no control feed shown through the same "
                     "environment and options as a learning feed.")
    for line in lines:
        console.print(line, highlight=False, markup=False)
    console.print(cell_table(s))
    for line in [*curve_lines(s), *LEGEND]:
        console.print(line, highlight=False, markup=False)


#: What the tables' words mean, a line each (short enough for a 150-column terminal).
LEGEND = (
    "session: share of yes over a whole trial; exposure: share of served posts relevant to "
    "the persona (ground truth, not the viewer's answers).",
    "p adj.: Holm over the confirmatory family; expl.: exploratory, unadjusted. Δ and I_avg: "
    "the paper's window measures; (null): I_avg with no effect.",
)
