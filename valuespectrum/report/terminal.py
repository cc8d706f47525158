"""The end-of-run summary in the terminal: Δ first, then the contrasts, then I_avg."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


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


def _label(row: dict[str, Any]) -> str:
    return row["model"] + (" (control)" if row["control"] else "")


def contrast_label(contrast: dict[str, Any]) -> tuple[str, str]:
    """("tiktok − tiktok-frozen", "pet_owner, embed-minilm, simple"): what the two cells of
    a contrast differ in, and what they share (cell keys are persona|model|platform|strategy)."""
    t, c = contrast["treatment"].split("|"), contrast["control"].split("|")
    if len(t) != len(c):
        return f"{contrast['treatment']} − {contrast['control']}", ""
    differ = [i for i in range(len(t)) if t[i] != c[i]]
    shared = ", ".join("all personas" if x == "*" else x
                       for i, x in enumerate(t) if i not in differ)
    return (" − ".join("|".join(side[i] for i in differ) for side in (t, c)), shared)


def paired_cells(contrast: dict[str, Any]) -> tuple[str, str, str]:
    """Pairs, interval and adjusted p of a contrast's paired reading ("—" when it has none:
    the arms do not share seeds, or the summary predates it)."""
    paired = contrast.get("paired")
    if not paired:
        return "—", "—", "—"
    return str(paired["pairs"]), fmt_ci(paired["ci"]), fmt_p(paired.get("p_adjusted"))


def print_summary(console: Console, run_dir: str | Path) -> None:
    """Print Δ, the contrasts with controls, the trend and I_avg (with its null value)."""
    path = Path(run_dir) / "summary.json"
    if not path.exists():
        console.print(f"[yellow]no summary in {run_dir}[/]")
        return
    s = json.loads(path.read_text())
    rows = s["cells"] if len({c["persona"] for c in s["cells"]}) == 1 else s["groups"]
    t = Table(title=f"{s['name']}: drift per {'cell' if rows is s['cells'] else 'group'} "
                    f"(first vs last {s['window']} of {s['scrolls']} scrolls)")
    for col in ("model", "platform", "strategy", "trials", "yes first→last", "Δ", "95% CI",
                "trend /100 scrolls", "p", "I_avg %", "(null %)", "excl."):
        t.add_column(col, justify="left" if col in ("model", "platform", "strategy") else "right")
    for r in rows:
        tr = r["trend"]
        t.add_row(
            _label(r), r["platform"], r["strategy"], str(r["trials"]),
            f"{fmt(r['yes_rate_first']['value'], '.2f')}→{fmt(r['yes_rate_last']['value'], '.2f')}",
            fmt(r["delta"]["value"]), fmt_ci(r["delta"]["ci"]),
            fmt(tr["slope"], "+.2f") if tr["reason"] is None else tr["reason"],
            fmt_p(tr["p_value"]), fmt(r["i_avg"]["value"], "+.1f"),
            fmt(r["i_avg_null"], "+.1f"), str(len(r["excluded"])))
    console.print(t)
    if s["contrasts"]:
        c = Table(title="contrasts: difference in Δ, treatment − control (Holm-adjusted p; "
                        "paired: trial i against trial i, which share their seed)")
        for col in ("treatment − control", "matched on", "diff", "95% CI", "p", "p adj.",
                    "pairs", "paired 95% CI", "paired p adj."):
            c.add_column(col, justify="right" if col[0] in "dp9" else "left")
        for r in s["contrasts"]:
            c.add_row(*contrast_label(r), fmt(r["diff"]), fmt_ci(r["ci"]),
                      fmt_p(r["p_value"]), fmt_p(r["p_adjusted"]), *paired_cells(r))
        console.print(c)
    console.print("Δ: change in yes-rate, 0 with no effect. I_avg: the paper's measure; "
                  "(null) is its expected value with no effect at the cell's base rate.",
                  highlight=False)
