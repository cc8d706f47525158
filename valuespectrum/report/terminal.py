"""The end-of-run summary in the terminal: what the feed did first, the paper's measures after.

1. The contrasts, led by the declared plan's estimand (the session yes-rate, paired by
   seed, by default) with its interval and Holm-adjusted p, then the viewer-independent
   exposure contrast and Δ.
2. Per cell (or group): each arm's session yes-rate, exposure, and the replication columns
   (first → last window, Δ, I_avg with its null value).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from valuespectrum.engine.reader import RunReader
from valuespectrum.errors import RunReadError
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
from valuespectrum.sweep.summary_model import ArmStats, ContrastRow, SweepSummary

__all__ = ["contrast_label", "fmt", "fmt_ci", "fmt_p", "print_summary"]


#: Short column names of the estimands.
SHORT = {"session": "session", "exposure": "exposure", "exposure_values": "value exposure",
         "last_window": "last window", "delta": "Δ", "i_avg": "I_avg term"}


def _est(cell: ArmStats, key: str, spec: str = ".2f") -> str:
    e: dict[str, Any] = getattr(cell, key) or {}
    return f"{fmt(e.get('value'), spec)} {fmt_ci(e.get('ci'), spec)}" if e.get("value") \
        is not None else "–"


def _with_ci(row: ContrastRow | None) -> str:
    return "–" if row is None or row.diff is None else f"{fmt(row.diff)} {fmt_ci(row.ci)}"


def contrast_table(s: SweepSummary) -> Table | None:
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
    t = Table(title=f"{s.name}: what the feed did, treatment − control{matched}")
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
        t.add_row(label, *([matched] if len(shared) > 1 else []), r.family or "–",
                  str(r.n or "–"), _with_ci(r), p_text(r), _with_ci(other),
                  p_text(other))
    return t


def cell_table(s: SweepSummary) -> Table:
    """Each arm: session yes-rate and exposure, then the paper's replication columns."""
    per_cell = len({c.persona for c in s.cells}) == 1
    rows: list[ArmStats] = [*s.cells] if per_cell else [*s.groups]
    t = Table(title=f"each arm ({'cell' if per_cell else 'group'}s); Δ and I_avg: "
                    f"first vs last {s.window} of {s.scrolls} scrolls")
    for col in ("model", "platform", "strategy", "trials", "session [95% CI]", "exposure",
                "first→last", "Δ [95% CI]", "I_avg % (null)", "excl."):
        left = col in ("model", "platform", "strategy")
        t.add_column(col, justify="left" if left else "right", no_wrap=True)
    for r in rows:
        exposure = (r.exposure or {}).get("value")
        first, last = r.yes_rate_first or {}, r.yes_rate_last or {}
        delta, i_avg = r.delta or {}, r.i_avg or {}
        t.add_row(
            r.model, r.platform, r.strategy, str(r.trials), _est(r, "session"),
            fmt(exposure, ".3f"),
            f"{fmt(first.get('value'), '.2f')}→{fmt(last.get('value'), '.2f')}",
            f"{fmt(delta.get('value'))} {fmt_ci(delta.get('ci'))}",
            f"{fmt(i_avg.get('value'), '+.1f')} ({fmt(r.i_avg_null, '+.1f')})",
            str(len(r.excluded)))
    return t


def curve_lines(s: SweepSummary) -> list[str]:
    """One line per curve: the final gap and the scroll by which half of it was closed."""
    out = []
    for c in s.curves:
        label = contrast_label(c)[0]
        gap = c.final_gap
        half = c.half_gap_scroll
        when = (f"half of it closed by scroll {half:g}" if half is not None
                else "no positive gap to close")
        out.append(f"{label}: last-window gap {fmt(gap)}, {when}")
    return out


def print_summary(console: Console, run_dir: str | Path) -> None:
    """Print the contrasts (lead estimand first), then each arm's figures."""
    reader = RunReader(run_dir, "sweep")
    if not reader.has_summary():
        console.print(f"no summary in {run_dir}", style="yellow", markup=False)
        return
    try:
        s = reader.summary(SweepSummary)
    except RunReadError as e:
        console.print(str(e), style="yellow", markup=False)
        return
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
