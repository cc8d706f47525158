"""The end-of-run summary table in the terminal."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table


def print_summary(console: Console, run_dir: str | Path) -> None:
    """Print I_avg (with CI) per model x platform x strategy from RUN_DIR/summary.json."""
    path = Path(run_dir) / "summary.json"
    if not path.exists():
        console.print(f"[yellow]no summary in {run_dir}[/]")
        return
    summary = json.loads(path.read_text())
    t = Table(title=f"I_avg — {summary['name']} (window n={summary['window']})")
    for col in ("model", "platform", "strategy", "trials", "I_avg %", "95% CI", "pooled %",
                "I_avg cum. %", "yes first→last", "value share first→last", "excl."):
        t.add_column(col)
    for g in summary["groups"]:
        def f(x, spec="+.1f"):
            return "–" if x is None else format(x, spec)
        lo, hi = g["i_avg_count_ci"]
        t.add_row(
            g["model"] + (" (control)" if g["control"] else ""), g["platform"], g["strategy"],
            str(g["trials"]), f(g["i_avg_count"]),
            "–" if lo is None else f"[{lo:+.1f}, {hi:+.1f}]", f(g.get("increase_pooled")),
            f(g["i_avg_cumulative"]),
            f"{f(g['yes_rate_first'], '.2f')}→{f(g['yes_rate_last'], '.2f')}",
            f"{f(g['value_share_first'], '.2f')}→{f(g['value_share_last'], '.2f')}",
            str(g["excluded"]),
        )
    console.print(t)
