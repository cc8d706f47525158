"""Report of a persona sweep: report.md with its figures, led by the declared plan's contrasts
and the yes-rate curves with their simultaneous bands; the paper's measures after."""

from __future__ import annotations

from pathlib import Path

from valuespectrum.engine.reader import RunReader
from valuespectrum.feed.recommenders import STYLES
from valuespectrum.report.contrast_rows import (
    ESTIMAND_LABELS,
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
from valuespectrum.sweep.summary_model import ArmStats, CellRow, CurveRow, SweepSummary
from valuespectrum.types import SchwartzValue


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_curves(curves: list[CurveRow], path: Path, exploratory: bool = False
                  ) -> Path | None:
    """Per comparison: both arms' yes-rate by scroll bin (left) and their difference
    (right), each with its simultaneous 95 % band; the dotted line marks half the gap."""
    if not curves:
        return None
    plt = _plt()
    fig, axes = plt.subplots(len(curves), 2, squeeze=False, figsize=(11, 3.4 * len(curves)))
    for (left, right), c in zip(axes, curves, strict=True):
        edges = c.edges
        x = [(edges[i] + edges[i + 1] - 1) / 2 for i in range(len(edges) - 1)]
        label, _ = contrast_label(c)
        t_name, c_name = label.split(" − ", 1) if " − " in label else ("treatment", "control")
        for key, name, color in (("treatment_rate", t_name, "tab:red"),
                                 ("control_rate", c_name, "tab:blue")):
            band = getattr(c, key)
            left.plot(x, _nan(band["mean"]), color=color, label=name)
            left.fill_between(x, _nan(band["lo"]), _nan(band["hi"]), color=color, alpha=0.2)
        left.set_ylim(0, 1)
        left.set_ylabel("yes-rate")
        left.set_title(f"{label}: each arm", fontsize=9)
        left.legend(fontsize=8)
        d = c.difference
        right.plot(x, _nan(d["mean"]), color="black")
        right.fill_between(x, _nan(d["lo"]), _nan(d["hi"]), color="grey", alpha=0.3,
                           label="simultaneous 95% band")
        right.axhline(0, color="black", linewidth=0.8)
        if c.half_gap_scroll is not None:
            right.axvline(c.half_gap_scroll, color="tab:green", linestyle=":",
                          label=f"half the gap: scroll {c.half_gap_scroll:g}")
        right.set_title(f"difference ({'paired by seed' if c.paired else 'unpaired'})",
                        fontsize=9)
        right.legend(fontsize=8)
        for ax in (left, right):
            ax.set_xlabel("scroll")
            ax.grid(alpha=0.3)
    fig.suptitle("Yes-rate over the session" + (" (EXPLORATORY reading)" if exploratory else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _nan(values: list[float | None]) -> list[float]:
    return [float("nan") if v is None else v for v in values]


def figure_delta(rows: list[ArmStats], path: Path) -> Path:
    """Δ with its CI per model (x) and platform (bars), one panel per strategy."""
    import numpy as np

    plt = _plt()
    strategies = sorted({g.strategy for g in rows})
    models = sorted({g.model for g in rows})
    platforms = sorted({g.platform for g in rows})
    styles = _styles(rows)
    fig, axes = plt.subplots(1, len(strategies), squeeze=False, sharey=True,
                             figsize=(max(5, 1.6 * len(models) * len(strategies) + 2), 4.2))
    width = 0.8 / max(1, len(platforms))
    colors = plt.get_cmap("tab10")
    for ax, strategy in zip(axes[0], strategies, strict=True):
        for j, platform in enumerate(platforms):
            xs, ys, err = [], [], [[], []]
            for i, model in enumerate(models):
                g = next((g for g in rows if (g.model, g.platform, g.strategy)
                          == (model, platform, strategy)), None)
                if g is None or g.delta is None or g.delta["value"] is None:
                    continue
                v, (lo, hi) = g.delta["value"], g.delta["ci"]
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
    entry = STYLES.get(style)
    return bool(entry and entry.learning)


def _styles(rows: list[ArmStats] | list[CellRow]) -> dict[str, str]:
    """Platform label -> feed style (summaries written before platforms had names: itself)."""
    return {r.platform: r.style or r.platform for r in rows}


def figure_value_drift(cells: list[CellRow], path: Path) -> Path | None:
    """Heatmap persona x value of the drift in the share of served posts, per platform."""
    import numpy as np


    plt = _plt()
    platforms = sorted({c.platform for c in cells})
    styles = _styles(cells)
    personas = sorted({c.persona for c in cells})
    values = [v.value for v in SchwartzValue]
    if not cells:
        return None
    grids = {}
    for platform in platforms:
        grid = np.full((len(personas), len(values)), np.nan)
        for i, persona in enumerate(personas):
            mine = [c for c in cells if c.platform == platform and c.persona == persona]
            for j, v in enumerate(values):
                ds = [c.value_drift[v]["value"] for c in mine
                      if c.value_drift and c.value_drift[v]["value"] is not None]
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


def write_sweep_report(run_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write report.md and figures/*.png from summary.json (into `out_dir`, default the
    run directory: an exploratory re-reading writes elsewhere, see `vspec report`)."""
    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir else run_dir
    s = RunReader(out_dir, "sweep").summary(SweepSummary)
    figs = out_dir / "figures"
    figs.mkdir(parents=True, exist_ok=True)
    groups, cells = s.groups, s.cells
    plan = plan_of(s)
    exploratory = not plan.get("declared", True)
    lines = [f"# Sweep report: {s.name}" + (" (EXPLORATORY re-reading)" if exploratory
                                              else ""), "",
             f"{s.scrolls} scrolls per trial. Trial statuses: "
             f"{', '.join(f'{k} {v}' for k, v in s.trial_statuses.items())}.", "",
             f"**{plan_text(s)}.**", ""]
    leads = comparisons(s)
    lead = plan["estimand"]
    lines += [f"## What the feed did: {ESTIMAND_LABELS.get(lead, lead)}, treatment − control",
              "", "The lead estimand, then the exposure of the same sessions to posts relevant "
              "to the persona (ground truth: it does not depend on the viewer's answers), then "
              "Δ. p adj.: Holm over the confirmatory family; expl.: exploratory, unadjusted.",
              ""]
    if leads:
        second = "exposure" if lead != "exposure" else "session"
        lines += [f"| treatment − control | matched on | family | n | {lead} diff | 95% CI "
                  f"| p | {second} diff | 95% CI | p | Δ diff | 95% CI |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in leads:
            o, d = row_for(s, r, second), row_for(s, r, "delta")
            label, matched = contrast_label(r)
            lines.append(
                f"| {label} | {matched} | {r.family} | {r.n} | {fmt(r.diff)} "
                f"| {fmt_ci(r.ci)} | {p_text(r)} | {fmt(o and o.diff)} "
                f"| {fmt_ci(o and o.ci)} | {p_text(o)} | {fmt(d and d.diff)} "
                f"| {fmt_ci(d and d.ci)} |")
        lines += [""] + [f"- {n}" for n in reach_notes(s)]
    else:
        lines.append("No contrast: the sweep has no control feed shown through the same "
                     "environment and options as a learning feed (add the learning feed's "
                     "frozen twin, e.g. `tiktok-frozen`, or `random`, with the same "
                     "environment and options).")
    if figure_curves(s.curves, figs / "curves.png", exploratory):
        lines += ["", "## Yes-rate over the session", "",
                  "Each arm's yes-rate per scroll bin and their difference, with simultaneous "
                  "95 % bands (sup-t over the bins, bootstrap over pairs): the whole band "
                  "holds at once. The dotted line marks the scroll by which half of the "
                  "last-window gap was closed.", "", "![Yes-rate curves](figures/curves.png)",
                  ""]
        lines += [f"- {contrast_label(c)[0]}: last-window gap {fmt(c.final_gap)}, half of "
                  f"it closed by scroll {c.half_gap_scroll}" for c in s.curves
                  if c.half_gap_scroll is not None]
    lines += ["", "## Each arm", "",
              "Session yes-rate and exposure with t intervals over trials (personas as fixed "
              "strata when pooled).", "",
              "| model | platform | strategy | control | trials | session | 95% CI | exposure "
              "| value exposure | cost $ |", "|---|---|---|---|---|---|---|---|---|---|"]
    for g in groups:
        session, exposure = g.session or {}, g.exposure or {}
        lines.append(
            f"| {g.model} | {g.platform} | {g.strategy} | {'yes' if g.control else ''}"
            f" | {g.trials} | {fmt(session.get('value'), '.3f')} "
            f"| {fmt_ci(session.get('ci'), '.3f')} | {fmt(exposure.get('value'), '.3f')} "
            f"| {fmt((g.exposure_values or {}).get('value'), '.3f')} | {g.cost_usd:.4f} |")
    if groups:
        figure_delta(groups, figs / "delta.png")
        lines += ["", "## The paper's replication measures: Δ per model × platform × strategy",
                  "", f"Δ = yes-rate in the last {s.window} scrolls − in the first "
                  f"{s.window}, mean over trials; 0 with no effect at any base rate. The "
                  "trend (a logistic slope per 100 scrolls) is exploratory.", "",
                  "![Δ per model and platform](figures/delta.png)", "",
                  "| model | platform | strategy | trials | yes first→last | Δ | 95% CI "
                  "| trend /100 scrolls (expl.) | 95% CI | p | excluded |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
    for g in groups:
        tr, delta = g.trend or {}, g.delta or {}
        lines.append(
            f"| {g.model} | {g.platform} | {g.strategy} "
            f"| {g.trials} | {fmt((g.yes_rate_first or {}).get('value'), '.2f')}→"
            f"{fmt((g.yes_rate_last or {}).get('value'), '.2f')} | {fmt(delta.get('value'))} "
            f"| {fmt_ci(delta.get('ci'))} "
            f"| {fmt(tr.get('slope'), '+.2f') if not tr.get('reason') else tr['reason']} "
            f"| {fmt_ci(tr.get('ci'), '+.2f')} | {fmt_p(tr.get('p_value'))} | {len(g.excluded)} |")
    lines += ["", "## Every contrast", "",
              "Each comparison on every estimand, paired by seed and unpaired (t intervals "
              "that agree with their tests; `cannot reach` marks a contrast whose smallest "
              "possible p times its family's size exceeds alpha).", ""]
    if s.contrasts:
        lines += ["| kind | treatment | control | estimand | reading | family | n | diff "
                  "| 95% CI | p | p adj. | note |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r.kind} | {r.treatment} | {r.control} | {r.estimand} "
                  f"| {r.reading} | {r.family} | {r.n} | {fmt(r.diff)} "
                  f"| {fmt_ci(r.ci)} | {fmt_p(r.p_value)} | {fmt_p(r.p_adjusted)} "
                  f"| {r.cannot_reach or r.reason or ''} |"
                  for r in s.contrasts]
    lines += ["", "## The paper's measures, with their values under no effect", "",
              "I_avg is biased when answers are independent: its null column is the exact "
              "expected I_avg with no effect at the cell's first-window yes-rate.", "",
              "| model | platform | strategy | I_avg % | 95% CI | null % | I_avg cum. % | null % "
              "| pooled increase % | 95% CI |", "|---|---|---|---|---|---|---|---|---|---|"]
    for g in groups:
        i_avg, cum, inc = g.i_avg or {}, g.i_avg_cumulative or {}, g.increase_pooled or {}
        lines.append(
            f"| {g.model} | {g.platform} | {g.strategy} | {fmt(i_avg.get('value'), '+.1f')}"
            f" | {fmt_ci(i_avg.get('ci'), '+.1f')} | {fmt(g.i_avg_null, '+.1f')} "
            f"| {fmt(cum.get('value'), '+.1f')} "
            f"| {fmt(g.i_avg_cumulative_null, '+.1f')} "
            f"| {fmt(inc.get('value'), '+.1f')} "
            f"| {fmt_ci(inc.get('ci'), '+.1f')} |")
    if figure_value_drift(cells, figs / "value_drift.png"):
        lines += ["", "## Value drift of the feed", "",
                  "![Value drift heatmap](figures/value_drift.png)", ""]
    lines += ["", "## Per cell", "",
              "| persona | model | platform | strategy | trials | base rate | Δ | 95% CI "
              "| persona-value share first→last | excluded (reasons) | failed |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in cells:
        reasons = "; ".join(f"{e['trial_id']}: {e['reason']}" for e in c.excluded) or "0"
        vs, delta = c.value_share or {}, c.delta or {}
        lines.append(
            f"| {c.persona} | {c.model} | {c.platform} | {c.strategy} "
            f"| {c.trials} | {fmt(c.base_rate, '.2f')} | {fmt(delta.get('value'))} "
            f"| {fmt_ci(delta.get('ci'))} | {fmt(vs.get('first'), '.2f')}→"
            f"{fmt(vs.get('last'), '.2f')} | {reasons} | {c.failed_trials} |")
    lines += ["", "## Definitions", ""]
    lines += [f"- **{k}**: {v}" for k, v in s.definitions.items()]
    out = out_dir / "report.md"
    out.write_text("\n".join(lines) + "\n")
    return out
