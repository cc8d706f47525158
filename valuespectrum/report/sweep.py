"""Report of a persona sweep: report.md with its figures, led by Δ and the contrasts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from valuespectrum.report.terminal import fmt, fmt_ci, fmt_p, paired_cells


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_delta(rows: list[dict[str, Any]], path: Path) -> Path:
    """Δ with its CI per model (x) and platform (bars), one panel per strategy."""
    import numpy as np

    plt = _plt()
    strategies = sorted({g["strategy"] for g in rows})
    models = sorted({g["model"] for g in rows})
    platforms = sorted({g["platform"] for g in rows})
    styles = _styles(rows)
    fig, axes = plt.subplots(1, len(strategies), squeeze=False, sharey=True,
                             figsize=(max(5, 1.6 * len(models) * len(strategies) + 2), 4.2))
    width = 0.8 / max(1, len(platforms))
    colors = plt.get_cmap("tab10")
    for ax, strategy in zip(axes[0], strategies, strict=True):
        for j, platform in enumerate(platforms):
            xs, ys, err = [], [], [[], []]
            for i, model in enumerate(models):
                g = next((g for g in rows if (g["model"], g["platform"], g["strategy"])
                          == (model, platform, strategy)), None)
                if g is None or g["delta"]["value"] is None:
                    continue
                v, (lo, hi) = g["delta"]["value"], g["delta"]["ci"]
                xs.append(i + (j - (len(platforms) - 1) / 2) * width)
                ys.append(v)
                err[0].append(v - lo if lo is not None else 0.0)
                err[1].append(hi - v if hi is not None else 0.0)
            ax.bar(xs, ys, width, yerr=err if xs else None, capsize=3, label=platform,
                   color=colors(j), hatch="//" if not _learning(styles[platform]) else None,
                   edgecolor="black", linewidth=0.5)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(np.arange(len(models)))
        ax.set_xticklabels(models, rotation=20, ha="right")
        ax.set_title(f"strategy: {strategy}")
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("Δ yes-rate, last − first window (95% CI)")
    axes[0][-1].legend(title="platform (hatched: control)", fontsize=8)
    fig.suptitle("Change in yes-rate per model and platform (0 = no drift)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _learning(style: str) -> bool:
    from valuespectrum.feed.recommenders import STYLES

    entry = STYLES.get(style)
    return bool(entry and entry.learning)


def _styles(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Platform label -> feed style (summaries written before platforms had names: itself)."""
    return {r["platform"]: r.get("style", r["platform"]) for r in rows}


def figure_value_drift(cells: list[dict[str, Any]], path: Path) -> Path | None:
    """Heatmap persona x value of the drift in the share of served posts, per platform."""
    import numpy as np

    from valuespectrum.types import SchwartzValue

    plt = _plt()
    platforms = sorted({c["platform"] for c in cells})
    styles = _styles(cells)
    personas = sorted({c["persona"] for c in cells})
    values = [v.value for v in SchwartzValue]
    if not cells:
        return None
    grids = {}
    for platform in platforms:
        grid = np.full((len(personas), len(values)), np.nan)
        for i, persona in enumerate(personas):
            mine = [c for c in cells if c["platform"] == platform and c["persona"] == persona]
            for j, v in enumerate(values):
                ds = [c["value_drift"][v]["value"] for c in mine
                      if c.get("value_drift") and c["value_drift"][v]["value"] is not None]
                if ds:
                    grid[i, j] = float(np.mean(ds))
        grids[platform] = grid
    lim = max(0.05, float(np.nanmax(np.abs(np.stack(list(grids.values()))))))
    fig, axes = plt.subplots(1, len(platforms), squeeze=False,
                             figsize=(3.6 * len(platforms) + 1.5, 0.45 * len(personas) + 2.6))
    for ax, platform in zip(axes[0], platforms, strict=True):
        im = ax.imshow(grids[platform], cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
        ax.set_xticks(range(len(values)))
        ax.set_xticklabels([SchwartzValue(v).label for v in values], rotation=60, ha="right",
                           fontsize=8)
        ax.set_yticks(range(len(personas)))
        ax.set_yticklabels(personas, fontsize=8)
        ax.set_title(platform + ("" if _learning(styles[platform]) else " (control)"), fontsize=9)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8,
                 label="Δ share of served posts (last − first window)")
    fig.suptitle("Value drift of the feed: which values the feed turned toward")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def write_sweep_report(run_dir: str | Path) -> Path:
    """Write RUN_DIR/report.md and RUN_DIR/figures/*.png from summary.json."""
    run_dir = Path(run_dir)
    s = json.loads((run_dir / "summary.json").read_text())
    figs = run_dir / "figures"
    figs.mkdir(exist_ok=True)
    groups, cells = s["groups"], s["cells"]
    lines = [f"# Sweep report: {s['name']}", "",
             f"{s['scrolls']} scrolls per trial, windows of n = {s['window']} (first and last,"
             f" by position). Trial statuses: "
             f"{', '.join(f'{k} {v}' for k, v in s['trial_statuses'].items())}.", ""]
    if groups:
        figure_delta(groups, figs / "delta.png")
        lines += ["![Δ per model and platform](figures/delta.png)", ""]
    lines += ["## Δ per model × platform × strategy (personas pooled)", "",
              "Δ = last-window yes-rate − first-window yes-rate, mean over trials; 0 with no "
              "effect at any base rate. Intervals resample personas, then trials.", "",
              "| model | platform | strategy | control | trials | yes first→last | Δ | 95% CI "
              "| trend /100 scrolls | 95% CI | p | excluded | cost $ |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for g in groups:
        tr = g["trend"]
        lines.append(
            f"| {g['model']} | {g['platform']} | {g['strategy']} | {'yes' if g['control'] else ''}"
            f" | {g['trials']} | {fmt(g['yes_rate_first']['value'], '.2f')}→"
            f"{fmt(g['yes_rate_last']['value'], '.2f')} | {fmt(g['delta']['value'])} "
            f"| {fmt_ci(g['delta']['ci'])} | {fmt(tr['slope'], '+.2f') if not tr['reason'] else tr['reason']} "
            f"| {fmt_ci(tr['ci'], '+.2f')} | {fmt_p(tr['p_value'])} | {len(g['excluded'])} "
            f"| {g['cost_usd']:.4f} |")
    lines += ["", "## Contrasts with the controls", "",
              "Difference in Δ (treatment − control) with a persona-stratified bootstrap "
              "interval and permutation p-value; p adj. is Holm over all contrasts below. "
              "The paired columns read the same contrast trial by trial: trial i of a persona "
              "has one seed in both arms, so what the seed does to Δ cancels in each pair "
              "(bootstrap over pairs, sign-flip p, Holm over the paired readings; — where the "
              "arms do not share seeds).", ""]
    if s["contrasts"]:
        lines += ["| kind | treatment | control | diff | 95% CI | p | p adj. | pairs "
                  "| paired 95% CI | paired p adj. |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['kind']} | {r['treatment']} | {r['control']} | {fmt(r['diff'])} "
                  f"| {fmt_ci(r['ci'])} | {fmt_p(r['p_value'])} | {fmt_p(r['p_adjusted'])} "
                  f"| {' | '.join(paired_cells(r))} |"
                  for r in s["contrasts"]]
    else:
        lines.append("No contrast: the sweep has no control feed shown through the same "
                     "environment and options as a learning feed (add the learning feed's "
                     "frozen twin, e.g. `tiktok-frozen`, or `random`, with the same "
                     "environment and options).")
    lines += ["", "## The paper's measures, with their values under no effect", "",
              "I_avg is biased when answers are independent: its null column is the exact "
              "expected I_avg with no effect at the cell's first-window yes-rate.", "",
              "| model | platform | strategy | I_avg % | 95% CI | null % | I_avg cum. % | null % "
              "| pooled increase % | 95% CI |", "|---|---|---|---|---|---|---|---|---|---|"]
    for g in groups:
        lines.append(
            f"| {g['model']} | {g['platform']} | {g['strategy']} | {fmt(g['i_avg']['value'], '+.1f')}"
            f" | {fmt_ci(g['i_avg']['ci'], '+.1f')} | {fmt(g['i_avg_null'], '+.1f')} "
            f"| {fmt(g['i_avg_cumulative']['value'], '+.1f')} "
            f"| {fmt(g['i_avg_cumulative_null'], '+.1f')} "
            f"| {fmt(g['increase_pooled']['value'], '+.1f')} "
            f"| {fmt_ci(g['increase_pooled']['ci'], '+.1f')} |")
    if figure_value_drift(cells, figs / "value_drift.png"):
        lines += ["", "## Value drift of the feed", "",
                  "![Value drift heatmap](figures/value_drift.png)", ""]
    lines += ["", "## Per cell", "",
              "| persona | model | platform | strategy | trials | base rate | Δ | 95% CI "
              "| persona-value share first→last | excluded (reasons) | failed |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in cells:
        reasons = "; ".join(f"{e['trial_id']}: {e['reason']}" for e in c["excluded"]) or "0"
        vs = c["value_share"]
        lines.append(
            f"| {c['persona']} | {c['model']} | {c['platform']} | {c['strategy']} "
            f"| {c['trials']} | {fmt(c['base_rate'], '.2f')} | {fmt(c['delta']['value'])} "
            f"| {fmt_ci(c['delta']['ci'])} | {fmt(vs['first'], '.2f')}→{fmt(vs['last'], '.2f')} "
            f"| {reasons} | {c['failed_trials']} |")
    lines += ["", "## Definitions", ""]
    lines += [f"- **{k}**: {v}" for k, v in s["definitions"].items()]
    out = run_dir / "report.md"
    out.write_text("\n".join(lines) + "\n")
    return out


def write_report(run_dir: str | Path) -> Path:
    """Dispatch on the run's kind: a persona sweep or a Value-Spectrum benchmark run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run directory")
    kind = None
    for name in ("summary.json", "spec.yaml"):
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
