"""Report of a persona sweep: report.md with the Figure-8-style I_avg chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _fmt(x: float | None, spec: str = "+.1f") -> str:
    return "–" if x is None else format(x, spec)


def _ci(ci: list[float | None]) -> str:
    lo, hi = ci
    return "–" if lo is None or hi is None else f"[{lo:+.1f}, {hi:+.1f}]"


def figure_i_avg(groups: list[dict[str, Any]], path: Path, definition: str = "count") -> Path:
    """Grouped bars: I_avg per model (x) per platform (bars), one panel per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    strategies = sorted({g["strategy"] for g in groups})
    models = sorted({g["model"] for g in groups})
    platforms = sorted({g["platform"] for g in groups})
    fig, axes = plt.subplots(
        1, len(strategies), figsize=(max(5, 1.6 * len(models) * len(strategies) + 2), 4.2),
        squeeze=False, sharey=True,
    )
    width = 0.8 / max(1, len(platforms))
    colors = plt.get_cmap("tab10")
    for ax, strategy in zip(axes[0], strategies, strict=True):
        for j, platform in enumerate(platforms):
            xs, ys, lo, hi = [], [], [], []
            for i, model in enumerate(models):
                g = next((g for g in groups if (g["model"], g["platform"], g["strategy"])
                          == (model, platform, strategy)), None)
                v = None if g is None else g.get(f"i_avg_{definition}")
                if v is None:
                    continue
                ci = g.get(f"i_avg_{definition}_ci") or [None, None]
                xs.append(i + (j - (len(platforms) - 1) / 2) * width)
                ys.append(v)
                lo.append(v - ci[0] if ci[0] is not None else 0.0)
                hi.append(ci[1] - v if ci[1] is not None else 0.0)
            ax.bar(xs, ys, width, yerr=[lo, hi] if xs else None, capsize=3, label=platform,
                   color=colors(j), hatch="//" if platform == "random" else None,
                   edgecolor="black", linewidth=0.5)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(np.arange(len(models)))
        ax.set_xticklabels(models, rotation=20, ha="right")
        ax.set_title(f"strategy: {strategy}")
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel(f"I_avg ({definition}), % (95% CI)")
    axes[0][-1].legend(title="platform", fontsize=8)
    fig.suptitle("Preference alignment change per model and platform")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_sweep_report(run_dir: str | Path) -> Path:
    """Write RUN_DIR/report.md and RUN_DIR/figures/fig8_i_avg.png from summary.json."""
    run_dir = Path(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    figs = run_dir / "figures"
    figs.mkdir(exist_ok=True)
    groups = summary["groups"]
    lines = [f"# Sweep report: {summary['name']}", ""]
    lines.append(
        f"{summary['scrolls']} scrolls per trial, window n = {summary['window']}. "
        f"Trial statuses: {', '.join(f'{k} {v}' for k, v in summary['trial_statuses'].items())}."
    )
    lines.append("")
    if groups:
        figure_i_avg(groups, figs / "fig8_i_avg.png")
        lines += ["![I_avg per model and platform](figures/fig8_i_avg.png)", ""]
    lines += [
        "## I_avg per model × platform × strategy (all personas pooled)", "",
        "| model | platform | strategy | control | trials | I_avg % | 95% CI | pooled % | 95% CI "
        "| I_avg cum. % | 95% CI | yes first→last | value share first→last | excluded | invalid "
        "| cost $ |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for g in groups:
        lines.append(
            f"| {g['model']} | {g['platform']} | {g['strategy']} | {'yes' if g['control'] else ''} "
            f"| {g['trials']} | {_fmt(g['i_avg_count'])} | {_ci(g['i_avg_count_ci'])} "
            f"| {_fmt(g.get('increase_pooled'))} | {_ci(g.get('increase_pooled_ci', [None, None]))} "
            f"| {_fmt(g['i_avg_cumulative'])} | {_ci(g['i_avg_cumulative_ci'])} "
            f"| {_fmt(g['yes_rate_first'], '.2f')}→{_fmt(g['yes_rate_last'], '.2f')} "
            f"| {_fmt(g['value_share_first'], '.2f')}→{_fmt(g['value_share_last'], '.2f')} "
            f"| {g['excluded']} | {g['invalid_answers']} | {g['cost_usd']:.4f} |"
        )
    lines += ["", "## Per persona", "",
              "| persona | model | platform | strategy | trials | I_avg % | 95% CI | failed |",
              "|---|---|---|---|---|---|---|---|"]
    for c in summary["cells"]:
        lines.append(
            f"| {c['persona']} | {c['model']} | {c['platform']} | {c['strategy']} | {c['trials']} "
            f"| {_fmt(c['i_avg_count'])} | {_ci(c['i_avg_count_ci'])} | {c['failed_trials']} |"
        )
    lines += ["", "## Definitions", ""]
    lines += [f"- **{k}**: {v}" for k, v in summary["definitions"].items()]
    lines += [
        "- Controls: a `random` feed (no learning) or a `random:`/`always:` viewer shows what "
        "\"no effect\" looks like; a real effect's CI should clear the controls'.",
        "- Trials whose first window has no \"yes\" are excluded (counted in *excluded*); invalid "
        "answers are dropped from the windows (counted in *invalid*).",
    ]
    out = run_dir / "report.md"
    out.write_text("\n".join(lines) + "\n")
    return out


def write_report(run_dir: str | Path) -> Path:
    """Dispatch on the run's kind: a persona sweep or a Value-Spectrum benchmark run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run directory")
    kind = None
    for name in ("summary.json", "spec.yaml", "spec.json"):
        path = run_dir / name
        if path.exists():
            import yaml

            data = yaml.safe_load(path.read_text())
            kind = data.get("kind") if isinstance(data, dict) else None
            if kind:
                break
    if kind == "sweep":
        return write_sweep_report(run_dir)
    if kind == "spectrum":
        from valuespectrum.report.spectrum import write_spectrum_report

        return write_spectrum_report(run_dir)
    raise FileNotFoundError(f"{run_dir}: not a sweep or spectrum run (no 'kind' in its summary or spec)")
